/*
 * calls.h - the record of every API call the test server answered.
 *
 * Tests check the enricher from outside by what it asked for: how often,
 * which ids, how fast. Each call is kept with the time it arrived, what
 * it asked for and the status it got. The record is a ring with a fixed
 * ceiling (at most 1,000,000 calls); the oldest calls fall out first and
 * are counted as dropped.
 *
 * Not thread-safe: the caller holds the server lock (testapi.h).
 */
#ifndef HOOKBRIDGE_TESTAPI_CALLS_H
#define HOOKBRIDGE_TESTAPI_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum { CALLS_MAX = 1000000 };

struct calls;

/* An empty record keeping at most `max` calls (1..CALLS_MAX). */
struct calls *calls_new(size_t max);

void calls_free(struct calls *c);

/*
 * Records one call; `resource` and `id` are copied ("" when the request
 * named none). Aborts on OOM: the ceiling bounds the memory.
 */
void calls_add(struct calls *c, int64_t t_ms, const char *resource,
               const char *id, int status, bool apikey_ok);

/* Which calls a listing or summary covers; NULL fields match anything. */
struct calls_filter {
    const char *resource;
    const char *id;
    int64_t since_ms; /* calls at or after this time; INT64_MIN for all */
};

/*
 * Appends {"total":N,"dropped":D,"calls":[{"t_ms":..,"resource":..,
 * "id":..,"status":..,"apikey_ok":..},...]} for the calls that match, in
 * arrival order. Returns 0, or -1 when `out` is full.
 */
int calls_render(const struct calls *c, const struct calls_filter *f,
                 struct buf *out);

/*
 * Appends {"total":N,"by_status":{"200":n,...},"max_per_second":M,
 * "max_in_any_1s_window":W} over the matching calls: M counts per
 * calendar second, W over any 1000 ms sliding window. Returns 0 or -1.
 */
int calls_summary(const struct calls *c, const struct calls_filter *f,
                  struct buf *out);

/* Forgets every call, the dropped count included. */
void calls_clear(struct calls *c);

#endif
