/*
 * ratelimit.h - keeps this replica inside its share of the API budget.
 *
 * HR Manager limits API calls per customer, so HOOKBRIDGE_API_RATE is a
 * budget for the whole consumer group. Replicas do not talk to each
 * other, so a share computed alone (rate * assigned / total, rounded
 * down) is not enough: two replicas with half a call per second each may
 * both call in the same second. Instead time itself is shared out. The
 * wall clock is cut into slots about 1/rate seconds long (plus a 5%
 * margin), slot k belongs to partition k mod total, and a replica may
 * start a call only at the very beginning of a slot that belongs to one
 * of its partitions, or later in it when the next slot is its own too.
 * Above 20 calls/s a slot carries rate/20 calls, so that slots stay
 * about 50 ms long, and those may start anywhere in the slot, which is
 * made long enough for no second to touch more slots than the budget
 * has room for. Since a partition has
 * one owner, no two replicas ever use the same slot, and the whole group never
 * starts more than `rate` calls in any second; each replica gets exactly the
 * share of the budget that its partitions are of all partitions.
 *
 * The slots line up across replicas only when every replica passes the
 * same clock: `now_ms` is Unix wall-clock time in milliseconds
 * (CLOCK_REALTIME). Clock skew between hosts larger than the margin (5%
 * of a slot) can let two calls come closer than 1/rate seconds.
 *
 * A Retry-After from the API pauses every call until it has passed. Pure
 * and single-threaded; the caller passes the time in.
 */
#ifndef HOOKBRIDGE_RATELIMIT_H
#define HOOKBRIDGE_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

/*
 * `group_rate` calls per second for the whole group (> 0). Starts as if
 * alone, owning every slot. Returns NULL when out of memory.
 */
struct ratelimit *ratelimit_new(double group_rate);
void ratelimit_free(struct ratelimit *r);

/*
 * Sets this replica's partitions after an assignment change: `count` ids
 * out of `total` partitions of the raw topic (ids are taken modulo
 * total; the array is copied). With count == 0 no call is allowed; with
 * total == 0 every slot is this replica's. Returns 0, -1 when out of
 * memory (the previous assignment stays).
 */
int ratelimit_set_partitions(struct ratelimit *r, const int32_t *ids, int count,
                             int total);

/*
 * Like ratelimit_set_partitions() with the ids 0 .. assigned - 1. Only
 * right for a replica that is alone in its group (or for tests): members
 * of a group must pass their real partition ids, or two of them may use
 * the same slots.
 */
void ratelimit_set_share(struct ratelimit *r, int assigned, int total);

/*
 * Asks to start one call at `now_ms`. Returns 0 and counts the call when
 * it may start now; otherwise returns how many ms to wait (> 0) and
 * counts nothing. A caller that wakes up late may find the slot gone and
 * be told to wait for the next one.
 */
int64_t ratelimit_acquire(struct ratelimit *r, int64_t now_ms);

/* No call may start before `until_ms` (keeps the later of two pauses). */
void ratelimit_pause_until(struct ratelimit *r, int64_t until_ms);

/*
 * Calls allowed per window and the window in ms (one round of the slots
 * of all partitions), for logs and tests.
 */
void ratelimit_describe(const struct ratelimit *r, int *calls,
                        int64_t *window_ms);

#endif
