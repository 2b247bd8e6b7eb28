/*
 * calls.c - the call record of the test API; see calls.h.
 *
 * The ring grows by doubling until it reaches its ceiling and only then
 * wraps, so a short test run costs little memory and a long benchmark
 * cannot exhaust it. Times come from testapi_now_ms(), which never goes
 * backwards, so the record is in time order and the sliding-window
 * summary is a single pass with two cursors.
 */
#include "calls.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { CALLS_MIN_CAP = 1024, CALLS_STATUS_MAX = 600 };

struct call {
    int64_t t_ms;
    char *resource; /* one allocation: "resource\0id\0" */
    int status;
    bool apikey_ok;
};

struct calls {
    struct call *items;
    size_t cap;   /* allocated slots */
    size_t max;   /* ceiling of cap */
    size_t start; /* oldest call, once the ring has wrapped */
    size_t count;
    uint64_t dropped;
};

static void *calls_alloc(size_t n)
{
    void *p = calloc(1, n);
    if (p == NULL)
        abort();
    return p;
}

struct calls *calls_new(size_t max)
{
    assert(max >= 1 && max <= CALLS_MAX);

    struct calls *c = calls_alloc(sizeof(*c));
    c->max = max;
    return c;
}

void calls_clear(struct calls *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->items[(c->start + i) % c->cap].resource);
    c->start = 0;
    c->count = 0;
    c->dropped = 0;
}

void calls_free(struct calls *c)
{
    if (c == NULL)
        return;
    calls_clear(c);
    free(c->items);
    free(c);
}

static const char *call_id(const struct call *k)
{
    return k->resource + strlen(k->resource) + 1;
}

/* The slot for the next call: a new one, or the oldest when full. */
static struct call *calls_slot(struct calls *c)
{
    if (c->count == c->cap && c->cap < c->max) {
        size_t cap = c->cap ? c->cap * 2 : CALLS_MIN_CAP;
        if (cap > c->max)
            cap = c->max;
        struct call *items = realloc(c->items, cap * sizeof(*items));
        if (items == NULL)
            abort();
        c->items = items;
        c->cap = cap;
    }

    if (c->count < c->cap)
        return &c->items[c->count++];

    struct call *oldest = &c->items[c->start];
    free(oldest->resource);
    c->start = (c->start + 1) % c->cap;
    c->dropped++;
    return oldest;
}

void calls_add(struct calls *c, int64_t t_ms, const char *resource,
               const char *id, int status, bool apikey_ok)
{
    size_t rlen = strlen(resource), ilen = strlen(id);
    struct call *k = calls_slot(c);

    k->resource = calls_alloc(rlen + ilen + 2);
    memcpy(k->resource, resource, rlen);
    memcpy(k->resource + rlen + 1, id, ilen);
    k->t_ms = t_ms;
    k->status = status;
    k->apikey_ok = apikey_ok;
}

static const struct call *calls_at(const struct calls *c, size_t i)
{
    return &c->items[(c->start + i) % c->cap];
}

static bool calls_match(const struct call *k, const struct calls_filter *f)
{
    return k->t_ms >= f->since_ms &&
           (f->resource == NULL || strcmp(k->resource, f->resource) == 0) &&
           (f->id == NULL || strcmp(call_id(k), f->id) == 0);
}

/* Appends `s` as a JSON string literal, quotes included. */
static int calls_put_string(struct buf *out, const char *s)
{
    int rc = buf_append(out, "\"", 1);

    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        if (*p == '"' || *p == '\\')
            rc = buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            rc = buf_printf(out, "\\u%04x", *p);
        else
            rc = buf_append(out, p, 1);
    }
    return rc ? rc : buf_append(out, "\"", 1);
}

static int calls_put_call(struct buf *out, const struct call *k, bool first)
{
    if (buf_printf(out, "%s{\"t_ms\":%lld,\"resource\":", first ? "" : ",",
                   (long long)k->t_ms) ||
        calls_put_string(out, k->resource) || buf_append(out, ",\"id\":", 6) ||
        calls_put_string(out, call_id(k)))
        return -1;
    return buf_printf(out, ",\"status\":%d,\"apikey_ok\":%s}", k->status,
                      k->apikey_ok ? "true" : "false");
}

int calls_render(const struct calls *c, const struct calls_filter *f,
                 struct buf *out)
{
    size_t total = 0;

    for (size_t i = 0; i < c->count; i++)
        total += calls_match(calls_at(c, i), f);
    if (buf_printf(out, "{\"total\":%zu,\"dropped\":%llu,\"calls\":[", total,
                   (unsigned long long)c->dropped))
        return -1;

    bool first = true;
    for (size_t i = 0; i < c->count; i++) {
        const struct call *k = calls_at(c, i);
        if (!calls_match(k, f))
            continue;
        if (calls_put_call(out, k, first))
            return -1;
        first = false;
    }
    return buf_append(out, "]}", 2);
}

/* The most calls in one calendar second and in any 1000 ms window. */
static void calls_peaks(const int64_t *t, size_t n, size_t *per_second,
                        size_t *window)
{
    size_t run = 0, lo = 0;

    *per_second = 0;
    *window = 0;
    for (size_t i = 0; i < n; i++) {
        run = i > 0 && t[i] / 1000 == t[i - 1] / 1000 ? run + 1 : 1;
        if (run > *per_second)
            *per_second = run;

        while (t[i] - t[lo] >= 1000)
            lo++;
        if (i - lo + 1 > *window)
            *window = i - lo + 1;
    }
}

static int calls_put_statuses(struct buf *out, const size_t *by_status)
{
    bool first = true;

    for (int s = 0; s < CALLS_STATUS_MAX; s++) {
        if (by_status[s] == 0)
            continue;
        if (buf_printf(out, "%s\"%d\":%zu", first ? "" : ",", s, by_status[s]))
            return -1;
        first = false;
    }
    return 0;
}

int calls_summary(const struct calls *c, const struct calls_filter *f,
                  struct buf *out)
{
    size_t *by_status = calls_alloc(CALLS_STATUS_MAX * sizeof(size_t));
    int64_t *times = calls_alloc((c->count + 1) * sizeof(int64_t));
    size_t n = 0, per_second, window;
    int rc;

    for (size_t i = 0; i < c->count; i++) {
        const struct call *k = calls_at(c, i);
        if (!calls_match(k, f))
            continue;
        times[n++] = k->t_ms;
        by_status[k->status >= 0 && k->status < CALLS_STATUS_MAX ? k->status
                                                                 : 0]++;
    }
    calls_peaks(times, n, &per_second, &window);

    rc = buf_printf(out, "{\"total\":%zu,\"by_status\":{", n) ||
         calls_put_statuses(out, by_status) ||
         buf_printf(out,
                    "},\"max_per_second\":%zu,\"max_in_any_1s_window\":%zu}",
                    per_second, window);

    free(times);
    free(by_status);
    return rc ? -1 : 0;
}
