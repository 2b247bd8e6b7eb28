/*
 * ratelimit.c - the sliding-window limiter; see ratelimit.h.
 *
 * The limiter remembers the times of the last `rate` admitted calls in a
 * ring. A new call fits when the oldest of them is at least 1000 ms old:
 * then at most rate - 1 admitted calls lie within the window before it.
 */
#include "ratelimit.h"

#include <assert.h>
#include <stdlib.h>

struct ratelimit {
    int64_t *times; /* `rate` slots */
    long rate;
    long next;  /* the slot of the oldest admitted call once full */
    long count; /* admitted calls remembered, up to rate */
};

struct ratelimit *ratelimit_new(long rate)
{
    struct ratelimit *r = calloc(1, sizeof(*r));

    if (r == NULL)
        abort();
    ratelimit_set(r, rate);
    return r;
}

void ratelimit_free(struct ratelimit *r)
{
    if (r == NULL)
        return;
    free(r->times);
    free(r);
}

void ratelimit_set(struct ratelimit *r, long rate)
{
    assert(rate >= 0 && rate <= RATELIMIT_MAX);

    free(r->times);
    r->times = NULL;
    if (rate > 0) {
        r->times = calloc((size_t)rate, sizeof(*r->times));
        if (r->times == NULL)
            abort();
    }
    r->rate = rate;
    r->next = 0;
    r->count = 0;
}

long ratelimit_rate(const struct ratelimit *r)
{
    return r->rate;
}

bool ratelimit_admit(struct ratelimit *r, int64_t now_ms)
{
    if (r->rate == 0)
        return true;
    if (r->count == r->rate && now_ms - r->times[r->next] < 1000)
        return false;

    r->times[r->next] = now_ms;
    r->next = (r->next + 1) % r->rate;
    if (r->count < r->rate)
        r->count++;
    return true;
}
