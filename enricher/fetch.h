/*
 * fetch.h - GETs against the HR Manager REST API, many at once, over
 * reused connections.
 *
 * A thin layer over the libcurl multi interface: the pipeline hands it a
 * URL and a callback; it sends the apikey header, bounds the reply size
 * and the time, and reports the outcome. It decides nothing about
 * retries or rate: that is ratelimit.h's and retry.h's job. One thread
 * owns a fetcher and drives it with fetcher_run().
 */
#ifndef HOOKBRIDGE_FETCH_H
#define HOOKBRIDGE_FETCH_H

#include <stddef.h>

#include "buf.h"

struct fetcher;

struct fetch_result {
    long status;            /* HTTP status; 0 when no whole reply came */
    const char *error;      /* why not (timeout, refused, too large);
                               else NULL. With an error the body is empty */
    int timed_out;          /* non-zero when the transfer hit its timeout */
    const struct buf *body; /* the reply body (valid during the callback) */
    long retry_after_ms;    /* from Retry-After (seconds or HTTP date);
                               -1 when absent or unreadable */
    double seconds;         /* total transfer time */
};

/*
 * Called from fetcher_run() once per started fetch, in its thread. It may
 * start new fetches (the finished one's slot is free again) but must not
 * call fetcher_run() or fetcher_free().
 */
typedef void (*fetch_done_fn)(void *arg, const struct fetch_result *r);

struct fetch_options {
    const char *apikey; /* sent as the "apikey" header; never logged */
    int max_parallel;   /* transfers at once (1..64) */
    long timeout_ms;    /* whole-transfer limit */
    size_t max_body;    /* replies larger than this fail the fetch */
};

/*
 * Returns a fetcher, or NULL with `err` set. The apikey is copied. Call
 * curl_global_init() once in main() before the first fetcher.
 */
struct fetcher *fetcher_new(const struct fetch_options *o, char *err,
                            size_t errlen);

/*
 * Starts GET `url`; `done(arg, result)` is called exactly once later from
 * fetcher_run() (or from fetcher_free() with status 0 and error
 * "cancelled"). Returns 0, or -1 when max_parallel transfers are already
 * running, the fetcher is being freed or libcurl refuses (nothing
 * started).
 */
int fetcher_start(struct fetcher *f, const char *url, fetch_done_fn done,
                  void *arg);

/* Transfers running now. */
int fetcher_active(const struct fetcher *f);

/*
 * Moves transfers along: waits at most `timeout_ms` for network activity
 * (0 = do not wait), then calls `done` for each finished transfer.
 * Returns the number of callbacks made.
 */
int fetcher_run(struct fetcher *f, int timeout_ms);

/* Cancels what is running (callbacks fire with "cancelled") and frees. */
void fetcher_free(struct fetcher *f);

#endif
