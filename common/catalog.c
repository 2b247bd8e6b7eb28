/*
 * catalog.c - loads and checks the event catalog; see catalog.h.
 *
 * A catalog is checked completely before anything runs, because a typo in
 * it would otherwise surface only when the first event of that type
 * arrives, possibly weeks later. Every error names the entry as a dotted
 * path so the user can find it in the file. Unknown fields are refused for
 * the same reason: "topc" must not silently mean "no topic".
 */
#include "catalog.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

enum { CATALOG_FILE_MAX = 1024 * 1024, CATALOG_TOPIC_MAX = 249 };

static const char catalog_id_marker[] = "{id}";

/* Returns NULL when `v` is acceptable, else why it is not. */
typedef const char *(*catalog_check_fn)(const char *v);

struct catalog_field {
    const char *name;
    size_t offset;
    int may_be_empty;
    catalog_check_fn check;
};

static const char *check_fetch_path(const char *v)
{
    const char *first = strstr(v, catalog_id_marker);

    if (first == NULL || strstr(first + 1, catalog_id_marker) != NULL)
        return "must contain {id} exactly once";
    return NULL;
}

static const char *check_pointer(const char *v)
{
    if (*v != '\0' && *v != '/')
        return "must be \"\" or a JSON Pointer starting with '/'";
    return NULL;
}

/* Kafka's own rule for topic names, checked here rather than at publish. */
static const char *check_topic(const char *v)
{
    size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    if (v[n] != '\0' || n > CATALOG_TOPIC_MAX || strcmp(v, ".") == 0 ||
        strcmp(v, "..") == 0)
        return "must be at most 249 of the characters a-z A-Z 0-9 . _ -";
    return NULL;
}

static const struct catalog_field catalog_kind_fields[] = {
    {"id_field", offsetof(struct catalog_kind, id_field), 0, NULL},
    {"fetch_path", offsetof(struct catalog_kind, fetch_path), 0,
     check_fetch_path},
    {"object_pointer", offsetof(struct catalog_kind, object_pointer), 1,
     check_pointer},
    {"topic", offsetof(struct catalog_kind, topic), 0, check_topic},
};

static const char *const catalog_event_fields[] = {"kind", "action"};

static const char *const catalog_top_fields[] = {
    "event_type_field", "user_data_field", "kinds", "events"};

static const char *const catalog_action_names[] = {
    [CATALOG_UPSERT] = "upsert",
    [CATALOG_DELETE] = "delete",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void catalog_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void catalog_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *catalog_strdup(const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL)
        abort();
    return copy;
}

/* Refuses members not in `names` and members that appear twice. */
static int catalog_check_members(const cJSON *obj, const char *where,
                                 const char *const *names, size_t nnames,
                                 char *err, size_t errlen)
{
    for (const cJSON *m = obj->child; m != NULL; m = m->next) {
        size_t i = 0;

        while (names != NULL && i < nnames && strcmp(names[i], m->string))
            i++;
        if (names != NULL && i == nnames) {
            catalog_error(err, errlen, "%s%s: unknown field", where, m->string);
            return -1;
        }
        for (const cJSON *o = obj->child; o != m; o = o->next) {
            if (strcmp(o->string, m->string) == 0) {
                catalog_error(err, errlen, "%s%s: appears twice", where,
                              m->string);
                return -1;
            }
        }
    }
    return 0;
}

/* Stores a heap copy of obj.name in *slot, or `def` when absent. */
static int catalog_string(const cJSON *obj, const char *name, const char *where,
                          const char *def, int may_be_empty, char **slot,
                          char *err, size_t errlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL && def != NULL) {
        *slot = catalog_strdup(def);
        return 0;
    }
    if (item == NULL) {
        catalog_error(err, errlen, "%s%s: missing", where, name);
        return -1;
    }
    if (!cJSON_IsString(item)) {
        catalog_error(err, errlen, "%s%s: must be a string", where, name);
        return -1;
    }
    if (!may_be_empty && item->valuestring[0] == '\0') {
        catalog_error(err, errlen, "%s%s: must not be empty", where, name);
        return -1;
    }
    *slot = catalog_strdup(item->valuestring);
    return 0;
}

static int catalog_check_name(const char *section, const char *name, char *err,
                              size_t errlen)
{
    if (name[0] == '\0') {
        catalog_error(err, errlen, "%s: an entry has an empty name", section);
        return -1;
    }
    /* Raw records are keyed "kind:id", so a kind may not contain ':'. */
    if (strcmp(section, "kinds") == 0 && strchr(name, ':') != NULL) {
        catalog_error(err, errlen, "kinds.%s: name must not contain ':'", name);
        return -1;
    }
    return 0;
}

static int catalog_parse_kind(const cJSON *item, struct catalog_kind *k,
                              char *err, size_t errlen)
{
    char where[160];

    snprintf(where, sizeof(where), "kinds.%.120s.", item->string);
    k->name = catalog_strdup(item->string);
    if (!cJSON_IsObject(item)) {
        catalog_error(err, errlen, "kinds.%s: must be an object", item->string);
        return -1;
    }

    const char *names[COUNT(catalog_kind_fields)];
    for (size_t i = 0; i < COUNT(catalog_kind_fields); i++)
        names[i] = catalog_kind_fields[i].name;
    if (catalog_check_members(item, where, names, COUNT(names), err, errlen))
        return -1;

    for (size_t i = 0; i < COUNT(catalog_kind_fields); i++) {
        const struct catalog_field *f = &catalog_kind_fields[i];
        char **slot = (char **)((char *)k + f->offset);
        const char *why;

        if (catalog_string(item, f->name, where, NULL, f->may_be_empty, slot,
                           err, errlen))
            return -1;
        if (f->check != NULL && (why = f->check(*slot)) != NULL) {
            catalog_error(err, errlen, "%s%s: %s", where, f->name, why);
            return -1;
        }
    }
    return 0;
}

static int catalog_parse_action(const cJSON *item, const char *type,
                                enum catalog_action *out, char *err,
                                size_t errlen)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, "action");

    if (a == NULL) {
        catalog_error(err, errlen, "events.%s.action: missing", type);
        return -1;
    }
    for (size_t i = 0; cJSON_IsString(a) && i < COUNT(catalog_action_names);
         i++) {
        if (strcmp(a->valuestring, catalog_action_names[i]) == 0) {
            *out = (enum catalog_action)i;
            return 0;
        }
    }
    catalog_error(err, errlen,
                  "events.%s.action: must be \"upsert\" or \"delete\"", type);
    return -1;
}

static int catalog_parse_event(const struct catalog *c, const cJSON *item,
                               struct catalog_event *e, char *err,
                               size_t errlen)
{
    char where[160];
    const cJSON *kind;

    snprintf(where, sizeof(where), "events.%.120s.", item->string);
    e->type = catalog_strdup(item->string);
    if (!cJSON_IsObject(item)) {
        catalog_error(err, errlen, "events.%s: must be an object",
                      item->string);
        return -1;
    }
    if (catalog_check_members(item, where, catalog_event_fields,
                              COUNT(catalog_event_fields), err, errlen))
        return -1;

    kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
    if (kind == NULL || !cJSON_IsString(kind)) {
        catalog_error(err, errlen, "%skind: %s", where,
                      kind ? "must be a string" : "missing");
        return -1;
    }
    e->kind = catalog_kind_find(c, kind->valuestring);
    if (e->kind == NULL) {
        catalog_error(err, errlen, "%skind: unknown kind '%s'", where,
                      kind->valuestring);
        return -1;
    }

    return catalog_parse_action(item, e->type, &e->action, err, errlen);
}

/* The "kinds" or "events" object, checked for shape; NULL on error. */
static const cJSON *catalog_section(const cJSON *root, const char *name,
                                    size_t *count, char *err, size_t errlen)
{
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, name);

    if (sec == NULL || !cJSON_IsObject(sec) || sec->child == NULL) {
        catalog_error(err, errlen, "%s: %s", name,
                      sec == NULL ? "missing"
                                  : "must be an object with at least one "
                                    "entry");
        return NULL;
    }
    *count = 0;
    for (const cJSON *m = sec->child; m != NULL; m = m->next) {
        if (catalog_check_name(name, m->string, err, errlen))
            return NULL;
        (*count)++;
    }
    return sec;
}

/* Prefixes the duplicate-name error with the section it came from. */
static int catalog_check_section_dups(const cJSON *sec, const char *name,
                                      char *err, size_t errlen)
{
    char where[32];

    snprintf(where, sizeof(where), "%s.", name);
    return catalog_check_members(sec, where, NULL, 0, err, errlen);
}

static int catalog_fill(struct catalog *c, const cJSON *root, char *err,
                        size_t errlen)
{
    const cJSON *kinds, *events;
    size_t nkinds, nevents;

    if (catalog_check_members(root, "", catalog_top_fields,
                              COUNT(catalog_top_fields), err, errlen) ||
        catalog_string(root, "event_type_field", "", "EventType", 0,
                       &c->event_type_field, err, errlen) ||
        catalog_string(root, "user_data_field", "", "UserData", 0,
                       &c->user_data_field, err, errlen))
        return -1;

    kinds = catalog_section(root, "kinds", &nkinds, err, errlen);
    if (kinds == NULL ||
        catalog_check_section_dups(kinds, "kinds", err, errlen))
        return -1;
    c->kinds = calloc(nkinds, sizeof(*c->kinds));
    if (c->kinds == NULL)
        abort();
    for (const cJSON *m = kinds->child; m != NULL; m = m->next) {
        if (catalog_parse_kind(m, &c->kinds[c->nkinds++], err, errlen))
            return -1;
    }

    events = catalog_section(root, "events", &nevents, err, errlen);
    if (events == NULL ||
        catalog_check_section_dups(events, "events", err, errlen))
        return -1;
    c->events = calloc(nevents, sizeof(*c->events));
    if (c->events == NULL)
        abort();
    for (const cJSON *m = events->child; m != NULL; m = m->next) {
        if (catalog_parse_event(c, m, &c->events[c->nevents++], err, errlen))
            return -1;
    }
    return 0;
}

struct catalog *catalog_parse(const char *json, size_t len, char *err,
                              size_t errlen)
{
    struct catalog *c = NULL;
    const char *end = NULL;
    cJSON *root = NULL;

    assert(json != NULL);
    if (len > CATALOG_FILE_MAX) {
        catalog_error(err, errlen, "larger than 1 MiB");
        goto fail;
    }
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL) {
        catalog_error(err, errlen, "not valid JSON near byte %zu",
                      end != NULL ? (size_t)(end - json) : (size_t)0);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        catalog_error(err, errlen, "must be a JSON object");
        goto fail;
    }

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    if (catalog_fill(c, root, err, errlen))
        goto fail;

    cJSON_Delete(root);
    return c;

fail:
    catalog_free(c);
    cJSON_Delete(root);
    return NULL;
}

/* Reads a whole file of at most CATALOG_FILE_MAX bytes into the heap. */
static char *catalog_read_file(const char *path, size_t *len, char *err,
                               size_t errlen)
{
    char *text = NULL;
    struct stat st;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        catalog_error(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        catalog_error(err, errlen, "not a regular file");
        goto out;
    }
    if (st.st_size > CATALOG_FILE_MAX) {
        catalog_error(err, errlen, "larger than 1 MiB");
        goto out;
    }

    text = malloc((size_t)st.st_size + 1);
    if (text == NULL)
        abort();
    *len = fread(text, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        catalog_error(err, errlen, "read error");
        free(text);
        text = NULL;
    }

out:
    fclose(f);
    return text;
}

struct catalog *catalog_load(const char *path, char *err, size_t errlen)
{
    char why[256] = "";
    struct catalog *c = NULL;
    size_t len = 0;

    if (path == NULL) {
        c = catalog_parse(catalog_default_json, strlen(catalog_default_json),
                          why, sizeof(why));
        if (c == NULL)
            catalog_error(err, errlen, "built-in catalog: %s", why);
        return c;
    }

    char *text = catalog_read_file(path, &len, why, sizeof(why));
    if (text != NULL)
        c = catalog_parse(text, len, why, sizeof(why));
    if (c == NULL)
        catalog_error(err, errlen, "%s: %s", path, why);
    free(text);
    return c;
}

const struct catalog_event *catalog_lookup(const struct catalog *c,
                                           const char *type)
{
    assert(c != NULL && type != NULL);
    for (size_t i = 0; i < c->nevents; i++) {
        if (strcmp(c->events[i].type, type) == 0)
            return &c->events[i];
    }
    return NULL;
}

const struct catalog_kind *catalog_kind_find(const struct catalog *c,
                                             const char *name)
{
    assert(c != NULL && name != NULL);
    for (size_t i = 0; i < c->nkinds; i++) {
        if (c->kinds[i].name != NULL && strcmp(c->kinds[i].name, name) == 0)
            return &c->kinds[i];
    }
    return NULL;
}

/* RFC 3986 unreserved characters go into a URL as they are. */
static int catalog_unreserved(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
           ch == '~';
}

/* Appends `id` percent-encoded at buf[*n]; -1 when it does not fit. */
static int catalog_escape(const char *id, char *buf, size_t len, size_t *n)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if (catalog_unreserved(*p)) {
            if (*n + 1 >= len)
                return -1;
            buf[(*n)++] = (char)*p;
            continue;
        }
        if (*n + 3 >= len)
            return -1;
        buf[(*n)++] = '%';
        buf[(*n)++] = hex[*p >> 4];
        buf[(*n)++] = hex[*p & 0x0f];
    }
    return 0;
}

int catalog_fetch_path(const struct catalog_kind *kind, const char *id,
                       char *buf, size_t len)
{
    const char *at;
    size_t head, tail, n;

    assert(kind != NULL && id != NULL && buf != NULL);
    at = strstr(kind->fetch_path, catalog_id_marker);
    assert(at != NULL);
    head = (size_t)(at - kind->fetch_path);
    tail = strlen(at + sizeof(catalog_id_marker) - 1);
    if (head >= len)
        return -1;
    memcpy(buf, kind->fetch_path, head);
    n = head;

    if (catalog_escape(id, buf, len, &n) != 0 || n + tail >= len ||
        n + tail > (size_t)INT_MAX)
        return -1;
    memcpy(buf + n, at + sizeof(catalog_id_marker) - 1, tail + 1);
    return (int)(n + tail);
}

void catalog_free(struct catalog *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nkinds; i++) {
        for (size_t f = 0; f < COUNT(catalog_kind_fields); f++)
            free(*(char **)((char *)&c->kinds[i] +
                            catalog_kind_fields[f].offset));
        free(c->kinds[i].name);
    }
    for (size_t i = 0; i < c->nevents; i++)
        free(c->events[i].type);
    free(c->kinds);
    free(c->events);
    free(c->event_type_field);
    free(c->user_data_field);
    free(c);
}
