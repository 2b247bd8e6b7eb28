/*
 * ratelimit.c - the group's API budget, shared out as wall-clock slots;
 * see ratelimit.h.
 *
 * The numbers: with `per_slot` calls allowed at the start of a slot and
 * `q` = floor(rate / per_slot) slots per second, used slots start at
 * least gap_ms = ceil(1000 / q) apart, so any second holds at most q
 * slot starts, that is at most per_slot * q <= rate calls. A slot lasts
 * gap_ms plus a grace of 5% in which its call may start; the grace is
 * what a caller that wakes up a little late still gets, and it is paid
 * for by making the slot longer, not by bringing two slots closer.
 *
 * A slot of several calls (above 20 calls/s) is made long enough that a
 * second can touch no more than q of them, S >= 1000 / (q - 1) ms: then
 * its calls may start anywhere in it, and a caller that has only a few
 * calls in flight at once still gets through the slot's whole allowance
 * instead of what fits into its first few milliseconds.
 *
 * With one call per slot the real invariant is that any two calls of the
 * group start at least gap_ms apart. A replica that owns the next slot as
 * well may therefore start late in its slot, as long as its own calls
 * keep that gap: the slot after is its own, so nobody else is near. This
 * keeps a lone replica at its full rate even when it wakes up late.
 */
#include "ratelimit.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    RATELIMIT_SLOTS_PER_S = 20, /* above this, slots carry several calls */
    RATELIMIT_GRACE_DIV = 20,   /* grace = gap / 20, i.e. 5% */
};

struct ratelimit {
    int64_t gap_ms;   /* least distance between two used slot starts */
    int64_t grace_ms; /* a call may start this late into its slot */
    int64_t slot_ms;  /* gap_ms + grace_ms */
    int per_slot;     /* calls that may start in one slot */
    int total;        /* slots in one round: partitions of the topic */
    int count;        /* distinct partitions owned */
    /* `total` flags: slot k is ours when owned[k % total] is set */
    unsigned char *owned;
    int64_t last_slot; /* the slot the last call started in */
    int64_t last_call; /* when it started */
    int used;          /* calls started in last_slot */
    int64_t paused_until;
};

static int64_t ratelimit_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int ratelimit_owns(const struct ratelimit *r, int64_t slot)
{
    int64_t i = slot % r->total;

    return r->owned[i < 0 ? i + r->total : i];
}

/* Derives the slot geometry from the group's rate. */
static void ratelimit_geometry(struct ratelimit *r, double rate)
{
    r->per_slot = 1;
    if (rate >= 2.0 * RATELIMIT_SLOTS_PER_S)
        r->per_slot = (int)floor(rate / RATELIMIT_SLOTS_PER_S);

    double slots_per_s = floor(rate / r->per_slot);
    if (slots_per_s < 1.0)
        slots_per_s = rate; /* below 1/s: one slot per longer gap */
    r->gap_ms = (int64_t)ceil(1000.0 / slots_per_s);

    r->grace_ms = (r->gap_ms + RATELIMIT_GRACE_DIV - 1) / RATELIMIT_GRACE_DIV;
    r->slot_ms = r->gap_ms + r->grace_ms;

    /* Several calls per slot means at least 20 slots a second. */
    if (r->per_slot > 1) {
        int64_t touch = (int64_t)ceil(1000.0 / (slots_per_s - 1.0));
        if (r->slot_ms < touch)
            r->slot_ms = touch;
    }
}

struct ratelimit *ratelimit_new(double group_rate)
{
    assert(group_rate > 0 && isfinite(group_rate));

    struct ratelimit *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;

    ratelimit_geometry(r, group_rate);
    r->last_slot = INT64_MIN;
    r->last_call = INT64_MIN / 2; /* far past, and gap_ms cannot overflow */
    r->paused_until = INT64_MIN;
    if (ratelimit_set_partitions(r, NULL, 1, 0) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void ratelimit_free(struct ratelimit *r)
{
    if (r == NULL)
        return;
    free(r->owned);
    free(r);
}

int ratelimit_set_partitions(struct ratelimit *r, const int32_t *ids, int count,
                             int total)
{
    assert(r != NULL && count >= 0 && total >= 0);
    assert(ids != NULL || count == 0 || total == 0);

    int slots = total > 0 ? total : 1;
    unsigned char *owned = calloc((size_t)slots, 1);
    if (owned == NULL)
        return -1;

    int distinct = 0;
    for (int i = 0; i < count && total > 0; i++) {
        int32_t k = ids[i] % total;

        k = k < 0 ? k + total : k;
        distinct += !owned[k];
        owned[k] = 1;
    }
    if (count > 0 && total == 0) {
        owned[0] = 1;
        distinct = 1;
    }

    free(r->owned);
    r->owned = owned;
    r->total = slots;
    r->count = distinct;
    return 0;
}

void ratelimit_set_share(struct ratelimit *r, int assigned, int total)
{
    int32_t *ids = NULL;

    assert(r != NULL && assigned >= 0 && total >= 0);
    if (assigned > 0 && total > 0) {
        ids = malloc(sizeof(*ids) * (size_t)assigned);
        if (ids == NULL)
            return; /* the previous share stays, as documented for -1 */
        for (int i = 0; i < assigned; i++)
            ids[i] = i;
    }
    ratelimit_set_partitions(r, ids, assigned, total);
    free(ids);
}

/* The first slot after `slot` that is ours; there is one within a round. */
static int64_t ratelimit_next_slot(const struct ratelimit *r, int64_t slot)
{
    for (int64_t k = slot + 1; k <= slot + r->total; k++) {
        if (ratelimit_owns(r, k))
            return k;
    }
    assert(!"a replica with partitions owns a slot in every round");
    return slot + r->total;
}

/*
 * May a call start `into` ms into `slot`? A slot of several calls takes
 * them anywhere in it (see the top of the file). A slot of one takes it
 * late only when this replica also owns the next one: then no other
 * replica's call follows closely, and the gap to our own next call is
 * kept by last_call.
 */
static int ratelimit_may_start(const struct ratelimit *r, int64_t slot,
                               int64_t into)
{
    if (!ratelimit_owns(r, slot))
        return 0;
    if (slot == r->last_slot && r->used >= r->per_slot)
        return 0;
    return r->per_slot > 1 || into <= r->grace_ms ||
           ratelimit_owns(r, slot + 1);
}

/* The earliest time from `t` on at which a call may start. */
static int64_t ratelimit_earliest(const struct ratelimit *r, int64_t t)
{
    /* Each turn moves to the gap's end or to a slot start of ours; the
     * third turn at the latest satisfies both. */
    for (int turn = 0; turn < 4; turn++) {
        if (r->per_slot == 1 && t < r->last_call + r->gap_ms)
            t = r->last_call + r->gap_ms;

        int64_t slot = ratelimit_floor_div(t, r->slot_ms);
        if (ratelimit_may_start(r, slot, t - slot * r->slot_ms))
            return t;
        t = ratelimit_next_slot(r, slot) * r->slot_ms;
    }
    assert(!"a slot start of ours after the gap always qualifies");
    return t;
}

int64_t ratelimit_acquire(struct ratelimit *r, int64_t now_ms)
{
    assert(r != NULL);

    if (now_ms < r->paused_until)
        return r->paused_until - now_ms;
    if (r->count == 0)
        return r->slot_ms * r->total; /* ask again later; nothing is ours */

    int64_t at = ratelimit_earliest(r, now_ms);
    if (at > now_ms)
        return at - now_ms;

    int64_t slot = ratelimit_floor_div(now_ms, r->slot_ms);
    r->used = slot == r->last_slot ? r->used + 1 : 1;
    r->last_slot = slot;
    r->last_call = now_ms;
    return 0;
}

void ratelimit_pause_until(struct ratelimit *r, int64_t until_ms)
{
    assert(r != NULL);
    if (until_ms > r->paused_until)
        r->paused_until = until_ms;
}

void ratelimit_describe(const struct ratelimit *r, int *calls,
                        int64_t *window_ms)
{
    assert(r != NULL && calls != NULL && window_ms != NULL);
    *calls = r->count * r->per_slot;
    *window_ms = r->slot_ms * r->total;
}
