/*
 * store.c - the object store of the test API; see store.h.
 *
 * A chained hash table keyed by resource and id. It doubles when it holds
 * as many entries as buckets, so lookups stay a step or two however many
 * objects a benchmark loads.
 */
#include "store.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

enum { STORE_MIN_BUCKETS = 64 };

struct entry {
    struct entry *next;
    uint64_t hash;
    char *resource; /* one allocation: "resource\0id\0" */
    const char *id;
    char *json; /* NULL for a gone mark */
    size_t len;
};

struct store {
    struct entry **buckets;
    size_t nbuckets;
    size_t count;
    size_t max;
};

static void *store_alloc(size_t n)
{
    void *p = calloc(1, n);
    if (p == NULL)
        abort();
    return p;
}

/* FNV-1a over resource, a separator that no name contains, then id. */
static uint64_t store_hash(const char *resource, const char *id)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *p = resource; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xffU) * 1099511628211ULL;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

struct store *store_new(size_t max_objects)
{
    struct store *s = store_alloc(sizeof(*s));

    s->nbuckets = STORE_MIN_BUCKETS;
    s->buckets = store_alloc(s->nbuckets * sizeof(*s->buckets));
    s->max = max_objects;
    return s;
}

static void entry_free(struct entry *e)
{
    free(e->resource);
    free(e->json);
    free(e);
}

void store_clear(struct store *s)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct entry *e = s->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            entry_free(e);
            e = next;
        }
        s->buckets[i] = NULL;
    }
    s->count = 0;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    store_clear(s);
    free(s->buckets);
    free(s);
}

static struct entry **store_slot(const struct store *s, const char *resource,
                                 const char *id, uint64_t hash)
{
    struct entry **slot = &s->buckets[hash & (s->nbuckets - 1)];

    for (; *slot != NULL; slot = &(*slot)->next) {
        const struct entry *e = *slot;
        if (e->hash == hash && strcmp(e->resource, resource) == 0 &&
            strcmp(e->id, id) == 0)
            break;
    }
    return slot;
}

static void store_grow(struct store *s)
{
    size_t n = s->nbuckets * 2;
    struct entry **buckets = store_alloc(n * sizeof(*buckets));

    for (size_t i = 0; i < s->nbuckets; i++) {
        struct entry *e = s->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            e->next = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = buckets;
    s->nbuckets = n;
}

/* The entry for (resource, id), made empty when it did not exist. */
static struct entry *store_upsert(struct store *s, const char *resource,
                                  const char *id)
{
    uint64_t hash = store_hash(resource, id);
    struct entry **slot = store_slot(s, resource, id, hash);

    if (*slot != NULL)
        return *slot;
    if (s->count >= s->max)
        return NULL;

    size_t rlen = strlen(resource), ilen = strlen(id);
    struct entry *e = store_alloc(sizeof(*e));
    e->hash = hash;
    e->resource = store_alloc(rlen + ilen + 2);
    memcpy(e->resource, resource, rlen);
    memcpy(e->resource + rlen + 1, id, ilen);
    e->id = e->resource + rlen + 1;
    *slot = e;
    s->count++;

    if (s->count > s->nbuckets)
        store_grow(s);
    return e;
}

int store_put(struct store *s, const char *resource, const char *id,
              const char *json, size_t len)
{
    assert(s != NULL && resource != NULL && id != NULL && json != NULL);

    struct entry *e = store_upsert(s, resource, id);
    if (e == NULL)
        return -1;

    char *copy = store_alloc(len + 1);
    memcpy(copy, json, len);
    free(e->json);
    e->json = copy;
    e->len = len;
    return 0;
}

int store_delete(struct store *s, const char *resource, const char *id,
                 bool gone)
{
    uint64_t hash = store_hash(resource, id);
    struct entry **slot = store_slot(s, resource, id, hash);
    struct entry *e = *slot;
    int before = e == NULL         ? STORE_ABSENT
                 : e->json == NULL ? STORE_GONE
                                   : STORE_PRESENT;

    if (!gone) {
        if (e != NULL) {
            *slot = e->next;
            entry_free(e);
            s->count--;
        }
        return before;
    }

    e = store_upsert(s, resource, id);
    if (e == NULL)
        return -1;
    free(e->json);
    e->json = NULL;
    e->len = 0;
    return before;
}

int store_get(const struct store *s, const char *resource, const char *id,
              struct buf *out)
{
    const struct entry *e =
        *store_slot(s, resource, id, store_hash(resource, id));

    if (e == NULL)
        return STORE_ABSENT;
    if (e->json == NULL)
        return STORE_GONE;
    if (buf_append(out, e->json, e->len) != 0)
        return -1;
    return STORE_PRESENT;
}

/* Stores every member of one resource's {"id": {...}} map. */
static long store_seed_resource(struct store *s, const cJSON *res, char *err,
                                size_t errlen)
{
    long added = 0;
    const cJSON *obj;

    if (!cJSON_IsObject(res)) {
        snprintf(err, errlen, "%s: must be an object of id: object",
                 res->string);
        return -1;
    }
    cJSON_ArrayForEach(obj, res)
    {
        bool is_object = cJSON_IsObject(obj);
        char *text = is_object ? cJSON_PrintUnformatted(obj) : NULL;
        int rc =
            text ? store_put(s, res->string, obj->string, text, strlen(text))
                 : -1;

        free(text);
        if (rc != 0) {
            snprintf(err, errlen, "%s.%s: %s", res->string, obj->string,
                     is_object ? "store is full" : "must be a JSON object");
            return -1;
        }
        added++;
    }
    return added;
}

long store_load_seed(struct store *s, const char *json, size_t len, char *err,
                     size_t errlen)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    const cJSON *res;
    long added = 0;

    if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "not a JSON object of resource: {id: object}");
        added = -1;
        goto out;
    }
    cJSON_ArrayForEach(res, doc)
    {
        long n = store_seed_resource(s, res, err, errlen);
        if (n < 0) {
            added = -1;
            goto out;
        }
        added += n;
    }

out:
    cJSON_Delete(doc);
    return added;
}
