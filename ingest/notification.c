/*
 * notification.c - the verdict on one webhook body; see notification.h.
 *
 * The checks run in the order the HTTP contract lists them: the body must
 * be a JSON object, then carry the shared key, then an event type, and,
 * for an event type the catalog knows, a usable id.
 */
#include "notification.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "json_scan.h"

/* Doubles hold every integer below 2^53 exactly; from there on, two ids
 * written differently could parse to one number and share a key. */
static const double id_number_max = 9007199254740992.0;

/* Sets an error verdict: "<subject> <problem>", e.g. "CandidateId is
 * missing". Returns the status so callers can return it directly. */
static int verdict_error(struct notification *n, int status,
                         const char *subject, const char *problem)
{
    n->status = status;
    snprintf(n->error, sizeof(n->error), "%s %s", subject, problem);
    return status;
}

/*
 * JSON allows no raw control character but tab, LF and CR, and those only
 * between tokens. cJSON takes any of them as white space (and cuts strings
 * at a NUL), while the scanner that cuts out the user data does not: if
 * the two read one body differently, the published value could lose
 * members or stop being JSON.
 */
static bool body_has_raw_control(const char *body, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];

        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return true;
    }
    return false;
}

static cJSON *body_parse(const char *body, size_t len, struct notification *n)
{
    const char *end = NULL;
    cJSON *root;

    if (body_has_raw_control(body, len)) {
        verdict_error(n, 400, "body", "is not valid JSON");
        return NULL;
    }
    if (!json_utf8_ok(body, len)) {
        verdict_error(n, 400, "body", "is not valid UTF-8");
        return NULL;
    }
    if (!json_depth_ok(body, len, NOTIFICATION_DEPTH_MAX)) {
        verdict_error(n, 400, "body", "nests deeper than 64 levels");
        return NULL;
    }

    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    while (root != NULL && end < body + len && strchr(" \t\r\n", *end) != NULL)
        end++;
    if (root == NULL || end != body + len) {
        cJSON_Delete(root);
        verdict_error(n, 400, "body", "is not valid JSON");
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        verdict_error(n, 400, "body", "is not a JSON object");
        return NULL;
    }
    return root;
}

static int check_user_data(const struct notification_rules *rules,
                           const cJSON *root, struct notification *n)
{
    const char *field = rules->catalog->user_data_field;
    const cJSON *ud = cJSON_GetObjectItemCaseSensitive(root, field);

    if (rules->keys == NULL)
        return 0;
    if (ud == NULL)
        return verdict_error(n, 401, field, "is missing");
    if (!cJSON_IsString(ud) ||
        !secret_matches(rules->keys, ud->valuestring, strlen(ud->valuestring)))
        return verdict_error(n, 401, field, "is wrong");
    return 0;
}

static bool id_string_ok(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > NOTIFICATION_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Writes the id as it goes into the key, or returns 400. */
static int id_text(const cJSON *id, const char *field, char *out, size_t outlen,
                   struct notification *n)
{
    if (id == NULL)
        return verdict_error(n, 400, field, "is missing");

    if (cJSON_IsString(id)) {
        if (!id_string_ok(id->valuestring))
            return verdict_error(n, 400, field,
                                 "must be 1 to 256 bytes without control "
                                 "characters");
        snprintf(out, outlen, "%s", id->valuestring);
        return 0;
    }

    double v = cJSON_IsNumber(id) ? id->valuedouble : NAN;
    if (!isfinite(v) || v != floor(v) || fabs(v) >= id_number_max)
        return verdict_error(n, 400, field,
                             "must be a non-empty string or a whole "
                             "number");
    snprintf(out, outlen, "%.0f", v == 0 ? 0.0 : v);
    return 0;
}

/* kind:id for a routed event; the bare event type for an unrouted one. */
static int set_key(struct notification *n, const char *kind, const char *id)
{
    size_t len = (kind ? strlen(kind) + 1 : 0) + strlen(id) + 1;

    n->key = malloc(len);
    if (n->key == NULL)
        abort();
    snprintf(n->key, len, "%s%s%s", kind ? kind : "", kind ? ":" : "", id);
    return 0;
}

static int route(const struct notification_rules *rules, const cJSON *root,
                 struct notification *n)
{
    const char *type_field = rules->catalog->event_type_field;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, type_field);
    char id[NOTIFICATION_ID_MAX + 1];

    if (type == NULL)
        return verdict_error(n, 400, type_field, "is missing");
    if (!cJSON_IsString(type))
        return verdict_error(n, 400, type_field, "is not a string");

    n->event = catalog_lookup(rules->catalog, type->valuestring);
    if (n->event == NULL) {
        n->topic = rules->unrouted_topic;
        return set_key(n, NULL, type->valuestring);
    }

    const struct catalog_kind *kind = n->event->kind;
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(root, kind->id_field);
    if (id_text(idv, kind->id_field, id, sizeof(id), n))
        return n->status;
    n->topic = rules->raw_topic;
    return set_key(n, kind->name, id);
}

static int strip_user_data(const struct notification_rules *rules,
                           const char *body, size_t len, struct notification *n)
{
    buf_init(&n->value, len + 1);
    if (json_remove_member(body, len, rules->catalog->user_data_field,
                           &n->value) < 0)
        return verdict_error(n, 400, "body", "is not valid JSON");
    return 0;
}

int notification_judge(const struct notification_rules *rules, const char *body,
                       size_t len, struct notification *n)
{
    cJSON *root;

    memset(n, 0, sizeof(*n));
    buf_init(&n->value, 0);
    root = body_parse(body, len, n);
    if (root == NULL)
        return n->status;

    /* Cutting out the user data is also the last syntax check, so it
     * comes before the checks that read fields. */
    if (strip_user_data(rules, body, len, n) ||
        check_user_data(rules, root, n) || route(rules, root, n))
        goto done;

    n->event_type = strdup(
        cJSON_GetObjectItemCaseSensitive(root, rules->catalog->event_type_field)
            ->valuestring);
    if (n->event_type == NULL)
        abort();
    n->status = 200;

done:
    if (n->status != 200) {
        notification_free(n);
        n->topic = NULL;
        n->event = NULL;
    }
    cJSON_Delete(root);
    return n->status;
}

void notification_free(struct notification *n)
{
    free(n->key);
    free(n->event_type);
    buf_free(&n->value);
    n->key = NULL;
    n->event_type = NULL;
}

bool notification_content_type_ok(const char *content_type)
{
    static const char suffix[] = "+json";
    const char *p = content_type;
    const char *end;
    size_t len;

    if (content_type == NULL)
        return true;

    while (*p == ' ' || *p == '\t')
        p++;
    end = p + strcspn(p, ";");
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    len = (size_t)(end - p);

    if (len == 16 && strncasecmp(p, "application/json", 16) == 0)
        return true;
    const char *slash = memchr(p, '/', len);
    return slash != NULL && slash > p &&
           (size_t)(end - slash - 1) > sizeof(suffix) - 1 &&
           strncasecmp(end - (sizeof(suffix) - 1), suffix,
                       sizeof(suffix) - 1) == 0;
}

size_t notification_format_time(const struct timespec *ts, char *out)
{
    struct tm tm;
    size_t n;

    gmtime_r(&ts->tv_sec, &tm);
    n = strftime(out, NOTIFICATION_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(out + n, NOTIFICATION_TIME_MAX - n, ".%03ldZ",
                          ts->tv_nsec / 1000000L);
    return n;
}
