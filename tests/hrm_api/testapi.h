/*
 * testapi.h - the shared state of hookbridge-test-api.
 *
 * hookbridge-test-api stands in for the HR Manager REST API: it serves
 * objects that tests put in, records every call, and misbehaves on
 * request (rate limit, error statuses, delays, a revoked key). This
 * header is what its parts share: the settings, the state behind one
 * lock, and the two route families (api.c, control.c).
 *
 * One mutex guards the whole state. Every step under it is short (a hash
 * lookup, a ring append), except listing a long call record, which tests
 * do rarely. A single lock also makes the rate decision and the call
 * record one step, so the record shows exactly what the limiter saw.
 */
#ifndef HOOKBRIDGE_TESTAPI_H
#define HOOKBRIDGE_TESTAPI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <civetweb.h>

#include "calls.h"
#include "faults.h"
#include "ratelimit.h"
#include "store.h"

enum {
    TESTAPI_OBJECTS_MAX = 1000000,
    TESTAPI_SEED_MAX = 64 * 1024 * 1024,
    TESTAPI_NAME_MAX = 128, /* a resource name or a customer alias */
    TESTAPI_ID_MAX = 256,
    TESTAPI_KEY_MAX = 1024,
};

struct testapi_settings {
    char *listen;
    char *customer;
    char *apikey;
    long rate;
    char *seed_path;
    long max_calls;
    int log_level;
};

struct testapi {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* broadcast when stopping; monotonic clock */
    bool stopping;
    const struct testapi_settings *settings;
    char *apikey; /* the key accepted now */
    struct store *store;
    struct calls *calls;
    struct faults *faults;
    struct ratelimit *limit;
    char *seed; /* the seed file's text, reloaded on reset; or NULL */
    size_t seed_len;
    int64_t wall0_ms;
    struct timespec mono0;
};

/*
 * Builds the state from `s` (which must outlive it) and loads the seed
 * file, if any. Returns 0, or -1 with one line in `err`; either way
 * testapi_destroy() frees it. From main().
 */
int testapi_init(struct testapi *t, const struct testapi_settings *s, char *err,
                 size_t errlen);

/* Frees the state; no request may be running. From main(). */
void testapi_destroy(struct testapi *t);

/*
 * Wall-clock milliseconds that never go backwards: the wall clock read at
 * start plus the monotonic time since. Any thread.
 */
int64_t testapi_now_ms(const struct testapi *t);

/*
 * Back to the start: seed objects only, no calls, no faults, the
 * configured rate and key. The caller holds t->lock.
 */
void testapi_reset(struct testapi *t);

/*
 * Replaces the accepted key with a copy of `key`. The caller holds
 * t->lock.
 */
void testapi_set_apikey(struct testapi *t, const char *key);

/* Sleeps `ms` or until testapi_stop(); takes t->lock itself. */
void testapi_sleep(struct testapi *t, long ms);

/* Wakes every sleeper for shutdown. Any thread. */
void testapi_stop(struct testapi *t);

/* Serves /restful.svc/v2/{customer}/{Resource}/?{param}={id}. */
void api_mount(struct mg_context *ctx, struct testapi *t);

/* Serves /_control/...: objects, calls, faults, apikey, rate, reset. */
void control_mount(struct mg_context *ctx, struct testapi *t);

#endif
