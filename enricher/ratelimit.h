/*
 * ratelimit.h - keeps this replica inside its share of the API budget.
 *
 * HR Manager limits API calls per customer, so HOOKBRIDGE_API_RATE is a
 * budget for the whole consumer group. Each replica takes the share that
 * its assigned partitions are of all partitions, rounded down so the
 * shares never add up to more than the budget, and enforces it over a
 * sliding window: at most `n` calls in any `window` milliseconds. A share
 * below one call per second becomes one call per a longer window. A
 * Retry-After from the API pauses every call until it has passed. Pure
 * and single-threaded; the caller passes the time in.
 */
#ifndef HOOKBRIDGE_RATELIMIT_H
#define HOOKBRIDGE_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

/* `group_rate` calls per second for the whole group (> 0). */
struct ratelimit *ratelimit_new(double group_rate);
void ratelimit_free(struct ratelimit *r);

/*
 * Sets this replica's share after an assignment change. With
 * assigned == 0 no call is allowed; with total == 0 the share is whole.
 */
void ratelimit_set_share(struct ratelimit *r, int assigned, int total);

/*
 * Asks to start one call at `now_ms`. Returns 0 and counts the call when
 * it may start now; otherwise returns how many ms to wait (> 0) and
 * counts nothing.
 */
int64_t ratelimit_acquire(struct ratelimit *r, int64_t now_ms);

/* No call may start before `until_ms` (keeps the later of two pauses). */
void ratelimit_pause_until(struct ratelimit *r, int64_t until_ms);

/* Calls allowed per window and the window in ms, for logs and tests. */
void ratelimit_describe(const struct ratelimit *r, int *calls,
                        int64_t *window_ms);

#endif
