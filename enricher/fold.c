/*
 * fold.c - per-key state and the fold window; see fold.h.
 *
 * Entries live in a chained hash table keyed by kind:id; the pending ones
 * also sit in a binary min-heap ordered by due time, so finding the next
 * due key is O(1) and scheduling O(log n) however many keys are held.
 */
#include "fold.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { FOLD_BUCKETS_MIN = 1024, FOLD_OFFSETS_MIN = 4 };

struct fold {
    int64_t window_ms;
    struct fold_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    struct fold_entry **heap;
    size_t heaplen, heapcap;
};

/* FNV-1a: short keys, no adversary that could choose them. */
static uint64_t fold_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct fold_entry **fold_slot(struct fold *f, const char *key,
                                     size_t len)
{
    struct fold_entry **slot =
        &f->buckets[fold_hash(key, len) & (f->nbuckets - 1)];

    while (*slot != NULL &&
           (strncmp((*slot)->key, key, len) != 0 || (*slot)->key[len] != '\0'))
        slot = &(*slot)->next;
    return slot;
}

struct fold *fold_new(int64_t window_ms)
{
    struct fold *f = calloc(1, sizeof(*f));

    assert(window_ms >= 0);
    if (f == NULL)
        return NULL;
    f->window_ms = window_ms;
    f->nbuckets = FOLD_BUCKETS_MIN;
    f->buckets = calloc(f->nbuckets, sizeof(*f->buckets));
    if (f->buckets == NULL) {
        free(f);
        return NULL;
    }
    return f;
}

static void fold_entry_free(struct fold_entry *e)
{
    free(e->raw);
    if (e->offsets != &e->offset0)
        free(e->offsets);
    free(e);
}

void fold_free(struct fold *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->nbuckets; i++) {
        struct fold_entry *e = f->buckets[i];
        while (e != NULL) {
            struct fold_entry *next = e->next;
            fold_entry_free(e);
            e = next;
        }
    }
    free(f->buckets);
    free(f->heap);
    free(f);
}

/* ---- the due-time heap ---- */

static void heap_place(struct fold *f, size_t i, struct fold_entry *e)
{
    f->heap[i] = e;
    e->heap_index = (int32_t)i;
}

static void heap_up(struct fold *f, size_t i)
{
    struct fold_entry *e = f->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (f->heap[parent]->due_ms <= e->due_ms)
            break;
        heap_place(f, i, f->heap[parent]);
        i = parent;
    }
    heap_place(f, i, e);
}

static void heap_down(struct fold *f, size_t i)
{
    struct fold_entry *e = f->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= f->heaplen)
            break;
        if (child + 1 < f->heaplen &&
            f->heap[child + 1]->due_ms < f->heap[child]->due_ms)
            child++;
        if (e->due_ms <= f->heap[child]->due_ms)
            break;
        heap_place(f, i, f->heap[child]);
        i = child;
    }
    heap_place(f, i, e);
}

/* The heap always has room for every entry (see fold_insert), so putting
 * a key back on the schedule cannot fail and strand its offsets. */
static int heap_reserve(struct fold *f, size_t n)
{
    if (n <= f->heapcap)
        return 0;

    size_t cap = f->heapcap ? f->heapcap * 2 : FOLD_BUCKETS_MIN;
    struct fold_entry **heap = realloc(f->heap, cap * sizeof(*heap));
    if (heap == NULL)
        return -1;
    f->heap = heap;
    f->heapcap = cap;
    return 0;
}

static void heap_push(struct fold *f, struct fold_entry *e)
{
    assert(f->heaplen < f->heapcap);
    heap_place(f, f->heaplen++, e);
    heap_up(f, f->heaplen - 1);
}

static void heap_remove(struct fold *f, struct fold_entry *e)
{
    size_t i = (size_t)e->heap_index;

    assert(e->heap_index >= 0 && f->heap[i] == e);
    e->heap_index = -1;
    f->heaplen--;
    if (i == f->heaplen)
        return;
    heap_place(f, i, f->heap[f->heaplen]);
    heap_down(f, i);
    heap_up(f, (size_t)f->heap[i]->heap_index);
}

/* ---- the table ---- */

static void fold_grow(struct fold *f)
{
    size_t n = f->nbuckets * 2;
    struct fold_entry **b = calloc(n, sizeof(*b));

    if (b == NULL)
        return; /* a longer chain is slower, not wrong */
    for (size_t i = 0; i < f->nbuckets; i++) {
        struct fold_entry *e = f->buckets[i];
        while (e != NULL) {
            struct fold_entry *next = e->next;
            size_t j = fold_hash(e->key, strlen(e->key)) & (n - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(f->buckets);
    f->buckets = b;
    f->nbuckets = n;
}

static struct fold_entry *fold_entry_new(const struct fold_input *in)
{
    struct fold_entry *e = calloc(1, sizeof(*e) + in->keylen + 1);

    if (e == NULL)
        return NULL;
    /* Most keys hold one offset: it lives in the entry itself. */
    e->offsets = &e->offset0;
    e->capoffsets = 1;
    e->heap_index = -1;
    e->last_begin_ms = -1;
    e->partition = in->partition;
    e->state = FOLD_PENDING;
    memcpy(e->key, in->key, in->keylen);
    return e;
}

static int fold_offsets_push(struct fold_entry *e, int64_t offset)
{
    if (e->noffsets == e->capoffsets) {
        uint32_t cap = e->capoffsets < FOLD_OFFSETS_MIN ? FOLD_OFFSETS_MIN
                                                        : e->capoffsets * 2;
        int inline_now = e->offsets == &e->offset0;
        int64_t *o = realloc(inline_now ? NULL : e->offsets, cap * sizeof(*o));
        if (o == NULL)
            return -1;
        if (inline_now)
            o[0] = e->offset0;
        e->offsets = o;
        e->capoffsets = cap;
    }
    e->offsets[e->noffsets++] = offset;
    return 0;
}

/* The due time of a new pending answer, within the one-fetch-per-window
 * rule. */
static int64_t fold_due_time(const struct fold *f, const struct fold_entry *e)
{
    int64_t due = e->pending_since_ms + f->window_ms;

    if (e->last_begin_ms >= 0 && e->last_begin_ms + f->window_ms > due)
        due = e->last_begin_ms + f->window_ms;
    return due;
}

static struct fold_entry *fold_insert(struct fold *f,
                                      const struct fold_input *in)
{
    struct fold_entry *e;

    if (heap_reserve(f, f->count + 1) != 0)
        return NULL;
    e = fold_entry_new(in);
    if (e == NULL)
        return NULL;
    if (f->count >= f->nbuckets)
        fold_grow(f);
    struct fold_entry **slot = fold_slot(f, in->key, in->keylen);
    e->next = *slot;
    *slot = e;
    f->count++;
    return e;
}

static void fold_unlink(struct fold *f, struct fold_entry *e)
{
    struct fold_entry **slot = fold_slot(f, e->key, strlen(e->key));

    assert(*slot == e);
    *slot = e->next;
    if (e->heap_index >= 0)
        heap_remove(f, e);
    f->count--;
    fold_entry_free(e);
}

int fold_add(struct fold *f, const struct fold_input *in, int64_t now_ms)
{
    struct fold_entry *e = *fold_slot(f, in->key, in->keylen);
    int created = e == NULL;

    if (created && (e = fold_insert(f, in)) == NULL)
        return -1;
    if (fold_offsets_push(e, in->offset) != 0) {
        if (created)
            fold_unlink(f, e);
        return -1;
    }

    uint32_t unanswered = e->noffsets - e->nanswering;
    if (unanswered == 1)
        e->pending_since_ms = now_ms;
    if (e->state == FOLD_PENDING && e->heap_index < 0) {
        e->due_ms = fold_due_time(f, e);
        heap_push(f, e);
    }
    free(e->raw);
    e->raw = in->raw;
    e->event = in->event;
    return unanswered == 1 ? FOLD_ADDED_NEW : FOLD_ADDED_FOLDED;
}

struct fold_entry *fold_find(struct fold *f, const char *key)
{
    return *fold_slot(f, key, strlen(key));
}

struct fold_entry *fold_due(struct fold *f, int64_t now_ms)
{
    if (f->heaplen == 0 || f->heap[0]->due_ms > now_ms)
        return NULL;
    return f->heap[0];
}

int64_t fold_next_due_ms(const struct fold *f)
{
    return f->heaplen ? f->heap[0]->due_ms : INT64_MAX;
}

void fold_begin(struct fold *f, struct fold_entry *e, int fetch, int64_t now_ms)
{
    assert(e->state == FOLD_PENDING && e->heap_index >= 0);
    heap_remove(f, e);
    e->state = FOLD_ANSWERING;
    e->nanswering = e->noffsets;
    if (fetch)
        e->last_begin_ms = now_ms;
}

void fold_retry(struct fold *f, struct fold_entry *e, int64_t due_ms)
{
    assert(e->state == FOLD_ANSWERING);
    e->state = FOLD_PENDING;
    e->nanswering = 0;
    e->due_ms = due_ms;
    heap_push(f, e);
}

uint32_t fold_finish(struct fold *f, struct fold_entry *e, int64_t *out,
                     uint32_t cap, int *freed)
{
    uint32_t n = e->nanswering;

    (void)cap; /* only asserted */
    assert(e->state == FOLD_ANSWERING && (out == NULL || cap >= n));
    if (out != NULL)
        memcpy(out, e->offsets, n * sizeof(*out));
    *freed = 0;
    if (e->noffsets == n) {
        fold_unlink(f, e);
        *freed = 1;
        return n;
    }

    memmove(e->offsets, e->offsets + n,
            (e->noffsets - n) * sizeof(*e->offsets));
    e->noffsets -= n;
    e->nanswering = 0;
    e->attempts = 0;
    e->state = FOLD_PENDING;
    e->due_ms = fold_due_time(f, e);
    heap_push(f, e);
    return n;
}

size_t fold_drop_partition(struct fold *f, int32_t partition)
{
    size_t dropped = 0;

    for (size_t i = 0; i < f->nbuckets; i++) {
        struct fold_entry *e = f->buckets[i];
        while (e != NULL) {
            struct fold_entry *next = e->next;
            if (e->partition == partition) {
                fold_unlink(f, e);
                dropped++;
            }
            e = next;
        }
    }
    return dropped;
}

size_t fold_count(const struct fold *f)
{
    return f->count;
}

/* ---- the compact raw record ----
 *
 * Layout: timestamp (8), has_value (1), value length (4), value, header
 * count (2), then per header: name length (2), name, NUL, has_value (1),
 * value length (4), value. Integers are copied with memcpy in host order:
 * the block never leaves the process.
 */

static unsigned char *raw_put(unsigned char *p, const void *data, size_t len)
{
    if (len > 0)
        memcpy(p, data, len);
    return p + len;
}

static size_t raw_size(size_t len, const struct fold_header *h, size_t nh)
{
    size_t size = 8 + 1 + 4 + len + 2;

    for (size_t i = 0; i < nh; i++)
        size += 2 + strlen(h[i].name) + 1 + 1 + 4 + (h[i].value ? h[i].len : 0);
    return size;
}

unsigned char *fold_raw_pack(const void *value, size_t len, int has_value,
                             const struct fold_header *headers, size_t nheaders,
                             int64_t timestamp_ms)
{
    if (!has_value)
        len = 0;
    if (len > UINT32_MAX || nheaders > UINT16_MAX)
        return NULL;
    for (size_t i = 0; i < nheaders; i++)
        if (strlen(headers[i].name) > UINT16_MAX || headers[i].len > UINT32_MAX)
            return NULL;

    unsigned char *raw = malloc(raw_size(len, headers, nheaders));
    if (raw == NULL)
        return NULL;

    unsigned char *p = raw_put(raw, &timestamp_ms, 8);
    uint8_t flag = has_value != 0;
    uint32_t n32 = (uint32_t)len;
    uint16_t n16 = (uint16_t)nheaders;
    p = raw_put(p, &flag, 1);
    p = raw_put(p, &n32, 4);
    p = raw_put(p, value, len);
    p = raw_put(p, &n16, 2);
    for (size_t i = 0; i < nheaders; i++) {
        const struct fold_header *h = &headers[i];
        n16 = (uint16_t)strlen(h->name);
        flag = h->value != NULL;
        n32 = flag ? (uint32_t)h->len : 0;
        p = raw_put(p, &n16, 2);
        p = raw_put(p, h->name, (size_t)n16 + 1);
        p = raw_put(p, &flag, 1);
        p = raw_put(p, &n32, 4);
        p = raw_put(p, h->value, n32);
    }
    return raw;
}

int64_t fold_raw_timestamp(const unsigned char *raw)
{
    int64_t ts;

    memcpy(&ts, raw, 8);
    return ts;
}

const void *fold_raw_value(const unsigned char *raw, size_t *len,
                           int *has_value)
{
    uint32_t n;

    memcpy(&n, raw + 9, 4);
    *len = n;
    *has_value = raw[8];
    return raw + 13;
}

/* Where the header count sits. */
static const unsigned char *raw_headers(const unsigned char *raw)
{
    uint32_t n;

    memcpy(&n, raw + 9, 4);
    return raw + 13 + n;
}

size_t fold_raw_nheaders(const unsigned char *raw)
{
    uint16_t n;

    memcpy(&n, raw_headers(raw), 2);
    return n;
}

/* Reads the header at p into out; returns where the next one starts. */
static const unsigned char *raw_header_at(const unsigned char *p,
                                          struct fold_header *out)
{
    uint16_t namelen;
    uint32_t len;

    memcpy(&namelen, p, 2);
    out->name = (const char *)p + 2;
    p += 2 + namelen + 1;
    memcpy(&len, p + 1, 4);
    out->value = p[0] ? p + 5 : NULL;
    out->len = len;
    return p + 5 + len;
}

void fold_raw_header(const unsigned char *raw, size_t i,
                     struct fold_header *out)
{
    const unsigned char *p = raw_headers(raw) + 2;

    assert(i < fold_raw_nheaders(raw));
    for (size_t k = 0; k <= i; k++)
        p = raw_header_at(p, out);
}

int fold_raw_header_str(const unsigned char *raw, const char *name, char *buf,
                        size_t len)
{
    const unsigned char *p = raw_headers(raw) + 2;
    size_t n = fold_raw_nheaders(raw);
    struct fold_header h, found = {0};

    for (size_t i = 0; i < n; i++) {
        p = raw_header_at(p, &h);
        if (strcmp(h.name, name) == 0)
            found = h;
    }
    if (found.value == NULL || len == 0)
        return -1;

    size_t copy = found.len < len - 1 ? found.len : len - 1;
    memcpy(buf, found.value, copy);
    buf[copy] = '\0';
    return 0;
}
