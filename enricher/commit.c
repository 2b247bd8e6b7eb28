/*
 * commit.c - the offset ledger; see commit.h.
 *
 * Each partition keeps its not-yet-committable offsets in a ring in
 * consumption (ascending) order with a done flag each: marking one done is
 * a binary search, and the done ones at the front are dropped at once, so
 * the front of the ring is always the committable offset.
 */
#include "commit.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { LEDGER_RING_MIN = 64 };

struct ledger_part {
    int64_t *offsets;
    unsigned char *done;
    uint32_t head, count, cap; /* cap is a power of two, or 0 */
    int64_t next;              /* one past the last consumed; -1 for none */
    int64_t committed;         /* last committed; -1 for none */
};

struct ledger {
    struct ledger_part *parts;
    int32_t nparts;
};

struct ledger *ledger_new(void)
{
    return calloc(1, sizeof(struct ledger));
}

static void ledger_part_clear(struct ledger_part *p)
{
    free(p->offsets);
    free(p->done);
    memset(p, 0, sizeof(*p));
    p->next = -1;
    p->committed = -1;
}

void ledger_free(struct ledger *l)
{
    if (l == NULL)
        return;
    for (int32_t i = 0; i < l->nparts; i++)
        ledger_part_clear(&l->parts[i]);
    free(l->parts);
    free(l);
}

/* The partition's slot, created (empty) when `create`; NULL otherwise. */
static struct ledger_part *ledger_part(struct ledger *l, int32_t partition,
                                       int create)
{
    assert(partition >= 0);
    if (partition < l->nparts)
        return &l->parts[partition];
    if (!create)
        return NULL;

    int32_t n = partition + 1;
    struct ledger_part *parts = realloc(l->parts, (size_t)n * sizeof(*parts));
    if (parts == NULL)
        return NULL;
    for (int32_t i = l->nparts; i < n; i++) {
        memset(&parts[i], 0, sizeof(parts[i]));
        parts[i].next = -1;
        parts[i].committed = -1;
    }
    l->parts = parts;
    l->nparts = n;
    return &l->parts[partition];
}

static const struct ledger_part *ledger_part_const(const struct ledger *l,
                                                   int32_t partition)
{
    return partition >= 0 && partition < l->nparts ? &l->parts[partition]
                                                   : NULL;
}

static uint32_t ring_at(const struct ledger_part *p, uint32_t i)
{
    return (p->head + i) & (p->cap - 1);
}

static int ring_grow(struct ledger_part *p)
{
    uint32_t cap = p->cap ? p->cap * 2 : LEDGER_RING_MIN;
    int64_t *offsets = malloc(cap * sizeof(*offsets));
    unsigned char *done = malloc(cap);

    if (offsets == NULL || done == NULL) {
        free(offsets);
        free(done);
        return -1;
    }
    for (uint32_t i = 0; i < p->count; i++) {
        offsets[i] = p->offsets[ring_at(p, i)];
        done[i] = p->done[ring_at(p, i)];
    }
    free(p->offsets);
    free(p->done);
    p->offsets = offsets;
    p->done = done;
    p->head = 0;
    p->cap = cap;
    return 0;
}

int ledger_add(struct ledger *l, int32_t partition, int64_t offset)
{
    struct ledger_part *p = ledger_part(l, partition, 1);

    if (p == NULL)
        return -1;
    if (offset < p->next)
        return -2;
    if (p->count == p->cap && ring_grow(p) != 0)
        return -1;

    uint32_t slot = ring_at(p, p->count++);
    p->offsets[slot] = offset;
    p->done[slot] = 0;
    p->next = offset + 1;
    return 0;
}

/* Index (0..count) of `offset` in the ring, or -1. */
static int64_t ring_find(const struct ledger_part *p, int64_t offset)
{
    uint32_t lo = 0, hi = p->count;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t v = p->offsets[ring_at(p, mid)];
        if (v == offset)
            return mid;
        if (v < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int ledger_done(struct ledger *l, int32_t partition, int64_t offset)
{
    struct ledger_part *p = ledger_part(l, partition, 0);
    int64_t i = p ? ring_find(p, offset) : -1;

    if (i < 0 || p->done[ring_at(p, (uint32_t)i)])
        return -1;
    p->done[ring_at(p, (uint32_t)i)] = 1;

    while (p->count > 0 && p->done[p->head]) {
        p->head = (p->head + 1) & (p->cap - 1);
        p->count--;
    }
    return 0;
}

int64_t ledger_committable(const struct ledger *l, int32_t partition)
{
    const struct ledger_part *p = ledger_part_const(l, partition);

    if (p == NULL || p->next < 0)
        return -1;
    return p->count > 0 ? p->offsets[p->head] : p->next;
}

int64_t ledger_outstanding(const struct ledger *l, int32_t partition)
{
    const struct ledger_part *p = ledger_part_const(l, partition);

    return p ? p->count : 0;
}

void ledger_drop(struct ledger *l, int32_t partition)
{
    struct ledger_part *p = ledger_part(l, partition, 0);

    if (p != NULL)
        ledger_part_clear(p);
}

int64_t ledger_committed(const struct ledger *l, int32_t partition)
{
    const struct ledger_part *p = ledger_part_const(l, partition);

    return p ? p->committed : -1;
}

void ledger_set_committed(struct ledger *l, int32_t partition, int64_t off)
{
    struct ledger_part *p = ledger_part(l, partition, 1);

    if (p != NULL)
        p->committed = off;
}
