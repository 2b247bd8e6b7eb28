/*
 * faults.c - fault rules of the test API; see faults.h.
 *
 * A rule's fields are read through a table, so the accepted names, their
 * types and their ranges are in one place and an unknown field (a typo in
 * a test) is an error rather than a rule that silently matches too much.
 */
#include "faults.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any fixed value will do: it only has to be the same on every run. */
static const uint64_t faults_default_seed = 20261203;

struct fault_rule {
    char *resource; /* NULL: any */
    char *id;       /* NULL: any */
    long status;    /* 0: none */
    long retry_after;
    long delay_ms;
    long count; /* -1: forever */
    double probability;
    long applied;
};

struct faults {
    struct fault_rule rules[FAULTS_MAX];
    size_t count;
    uint64_t seed;
    uint64_t state;
};

enum field_type { FIELD_NAME, FIELD_LONG, FIELD_PROBABILITY };

static const struct fault_field {
    const char *name;
    enum field_type type;
    size_t offset;
    long min, max;
} fault_fields[] = {
    {"resource", FIELD_NAME, offsetof(struct fault_rule, resource), 0, 0},
    {"id", FIELD_NAME, offsetof(struct fault_rule, id), 0, 0},
    {"status", FIELD_LONG, offsetof(struct fault_rule, status), 400, 599},
    {"retry_after", FIELD_LONG, offsetof(struct fault_rule, retry_after), 0,
     86400},
    {"delay_ms", FIELD_LONG, offsetof(struct fault_rule, delay_ms), 0,
     FAULTS_DELAY_MAX_MS},
    {"count", FIELD_LONG, offsetof(struct fault_rule, count), 1, 1000000000},
    {"probability", FIELD_PROBABILITY, offsetof(struct fault_rule, probability),
     0, 1},
};

static const size_t fault_nfields =
    sizeof(fault_fields) / sizeof(*fault_fields);

struct faults *faults_new(void)
{
    struct faults *f = calloc(1, sizeof(*f));

    if (f == NULL)
        abort();
    f->seed = f->state = faults_default_seed;
    return f;
}

static void rule_free(struct fault_rule *r)
{
    free(r->resource);
    free(r->id);
}

void faults_clear(struct faults *f)
{
    for (size_t i = 0; i < f->count; i++)
        rule_free(&f->rules[i]);
    f->count = 0;
    f->seed = f->state = faults_default_seed;
}

void faults_free(struct faults *f)
{
    if (f == NULL)
        return;
    faults_clear(f);
    free(f);
}

/* Ids may be written as numbers; they are matched as their decimal text. */
static int field_name(const cJSON *v, char **out)
{
    char text[32];

    if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
        *out = strdup(v->valuestring);
    } else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
               fabs(v->valuedouble) < 1e15) {
        snprintf(text, sizeof(text), "%.0f", v->valuedouble);
        *out = strdup(text);
    } else {
        return -1;
    }
    if (*out == NULL)
        abort();
    return 0;
}

static int field_set(const struct fault_field *fd, const cJSON *v, void *rule)
{
    void *slot = (char *)rule + fd->offset;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;

    switch (fd->type) {
    case FIELD_NAME:
        return field_name(v, slot);
    case FIELD_LONG:
        if (!(d >= (double)fd->min && d <= (double)fd->max) || d != floor(d))
            return -1;
        *(long *)slot = (long)d;
        return 0;
    case FIELD_PROBABILITY:
        if (!(d >= 0.0 && d <= 1.0))
            return -1;
        *(double *)slot = d;
        return 0;
    }
    return -1;
}

static const char *field_expect(const struct fault_field *fd, char *buf,
                                size_t len)
{
    if (fd->type == FIELD_NAME)
        return "must be a non-empty string or a whole number";
    if (fd->type == FIELD_PROBABILITY)
        return "must be a number from 0 to 1";
    snprintf(buf, len, "must be a whole number from %ld to %ld", fd->min,
             fd->max);
    return buf;
}

static const struct fault_field *field_find(const char *name)
{
    for (size_t i = 0; i < fault_nfields; i++)
        if (strcmp(fault_fields[i].name, name) == 0)
            return &fault_fields[i];
    return NULL;
}

/* Reads rules[index]; on error the rule's strings are freed. */
static int rule_parse(const cJSON *obj, size_t index, struct fault_rule *r,
                      char *err, size_t errlen)
{
    const cJSON *v;
    char why[64];

    *r =
        (struct fault_rule){.retry_after = -1, .count = -1, .probability = 1.0};
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "rules[%zu]: must be an object", index);
        return -1;
    }
    cJSON_ArrayForEach(v, obj)
    {
        const struct fault_field *fd = field_find(v->string);
        if (fd == NULL || field_set(fd, v, r) != 0) {
            snprintf(err, errlen, "rules[%zu].%s: %s", index, v->string,
                     fd ? field_expect(fd, why, sizeof(why)) : "unknown field");
            rule_free(r);
            return -1;
        }
    }
    if (r->status == 0 && r->delay_ms == 0) {
        snprintf(err, errlen, "rules[%zu]: needs a status or a delay_ms",
                 index);
        rule_free(r);
        return -1;
    }
    return 0;
}

static int faults_parse_seed(struct faults *f, const cJSON *seed, char *err,
                             size_t errlen)
{
    if (seed == NULL)
        return 0;
    if (!cJSON_IsNumber(seed) || seed->valuedouble < 0 ||
        seed->valuedouble > 9007199254740992.0 ||
        seed->valuedouble != floor(seed->valuedouble)) {
        snprintf(err, errlen, "seed: must be a whole number from 0 to 2^53");
        return -1;
    }
    f->seed = f->state = (uint64_t)seed->valuedouble;
    return 0;
}

int faults_add(struct faults *f, const cJSON *doc, char *err, size_t errlen)
{
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(doc, "rules");
    size_t n = (size_t)cJSON_GetArraySize(rules), added = 0;
    int rc = -1;

    if (!cJSON_IsObject(doc) || !cJSON_IsArray(rules)) {
        snprintf(err, errlen, "expected {\"rules\": [{...}, ...]}");
        goto out;
    }
    if (n > FAULTS_MAX - f->count) {
        snprintf(err, errlen, "at most %d rules in all", FAULTS_MAX);
        goto out;
    }
    for (; added < n; added++) {
        if (rule_parse(cJSON_GetArrayItem(rules, (int)added), added,
                       &f->rules[f->count + added], err, errlen))
            goto out;
    }
    if (faults_parse_seed(f, cJSON_GetObjectItemCaseSensitive(doc, "seed"), err,
                          errlen))
        goto out;

    f->count += n;
    rc = (int)n;

out:
    if (rc < 0) {
        for (size_t i = 0; i < added; i++)
            rule_free(&f->rules[f->count + i]);
    }
    return rc;
}

/* splitmix64: small, fast and the same everywhere. */
static double faults_draw(struct faults *f)
{
    uint64_t z = (f->state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static bool rule_matches(const struct fault_rule *r, const char *resource,
                         const char *id)
{
    return (r->count < 0 || r->applied < r->count) &&
           (r->resource == NULL || strcmp(r->resource, resource) == 0) &&
           (r->id == NULL || strcmp(r->id, id) == 0);
}

bool faults_match(struct faults *f, const char *resource, const char *id,
                  struct fault_hit *hit)
{
    for (size_t i = 0; i < f->count; i++) {
        struct fault_rule *r = &f->rules[i];

        if (!rule_matches(r, resource, id))
            continue;
        if (r->probability < 1.0 && faults_draw(f) >= r->probability)
            continue;

        r->applied++;
        hit->status = (int)r->status;
        hit->retry_after = (int)r->retry_after;
        hit->delay_ms = r->delay_ms;
        return true;
    }
    return false;
}

static cJSON *rule_render(const struct fault_rule *r)
{
    cJSON *o = cJSON_CreateObject();

    if (r->resource)
        cJSON_AddStringToObject(o, "resource", r->resource);
    if (r->id)
        cJSON_AddStringToObject(o, "id", r->id);
    if (r->status)
        cJSON_AddNumberToObject(o, "status", (double)r->status);
    if (r->retry_after >= 0)
        cJSON_AddNumberToObject(o, "retry_after", (double)r->retry_after);
    cJSON_AddNumberToObject(o, "delay_ms", (double)r->delay_ms);
    cJSON_AddNumberToObject(o, "probability", r->probability);
    cJSON_AddNumberToObject(o, "applied", (double)r->applied);
    if (r->count < 0) {
        cJSON_AddNullToObject(o, "count");
        cJSON_AddNullToObject(o, "remaining");
    } else {
        cJSON_AddNumberToObject(o, "count", (double)r->count);
        cJSON_AddNumberToObject(o, "remaining",
                                (double)(r->count - r->applied));
    }
    return o;
}

int faults_render(const struct faults *f, struct buf *out)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *rules = cJSON_AddArrayToObject(doc, "rules");
    int rc;

    cJSON_AddNumberToObject(doc, "seed", (double)f->seed);
    for (size_t i = 0; i < f->count; i++)
        cJSON_AddItemToArray(rules, rule_render(&f->rules[i]));

    char *text = cJSON_PrintUnformatted(doc);
    rc = text ? buf_append(out, text, strlen(text)) : -1;
    free(text);
    cJSON_Delete(doc);
    return rc;
}
