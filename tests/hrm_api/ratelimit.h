/*
 * ratelimit.h - the request budget of the test API.
 *
 * HR Manager limits how often its API may be called; the test server
 * does the same so that tests can see a client that asks too fast. The
 * limit is a sliding window: a call is admitted when fewer than `rate`
 * calls were admitted in the 1000 ms before it, so no 1000 ms window ever
 * holds more than `rate` admitted calls.
 *
 * Not thread-safe: the caller holds the server lock (testapi.h).
 */
#ifndef HOOKBRIDGE_TESTAPI_RATELIMIT_H
#define HOOKBRIDGE_TESTAPI_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

enum { RATELIMIT_MAX = 100000 };

struct ratelimit;

/* A limiter admitting `rate` calls per second (0: unlimited). */
struct ratelimit *ratelimit_new(long rate);

void ratelimit_free(struct ratelimit *r);

/* Changes the rate (0..RATELIMIT_MAX) and forgets past calls. */
void ratelimit_set(struct ratelimit *r, long rate);

long ratelimit_rate(const struct ratelimit *r);

/*
 * Returns true, counting the call, when a call at `now_ms` fits the
 * budget. `now_ms` must not go backwards between calls.
 */
bool ratelimit_admit(struct ratelimit *r, int64_t now_ms);

#endif
