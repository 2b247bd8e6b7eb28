/*
 * testapi.c - state, clock and reset of the test API; see testapi.h.
 */
#include "testapi.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

static char *testapi_strdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    return copy;
}

/* Reads the whole seed file into t->seed, up to TESTAPI_SEED_MAX. */
static int testapi_read_seed(struct testapi *t, const char *path, char *err,
                             size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct buf text;
    char chunk[4096];
    size_t n;
    int rc = 0;

    if (f == NULL) {
        snprintf(err, errlen, "HOOKBRIDGE_TEST_API_SEED: cannot open '%s': %s",
                 path, strerror(errno));
        return -1;
    }
    buf_init(&text, TESTAPI_SEED_MAX);
    rc = buf_append(&text, "", 0);
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(&text, chunk, n);
    if (rc != 0 || ferror(f)) {
        snprintf(err, errlen, "HOOKBRIDGE_TEST_API_SEED: '%s': %s", path,
                 rc ? "larger than 64 MiB" : "read error");
        buf_free(&text);
        rc = -1;
    } else {
        t->seed = text.data;
        t->seed_len = text.len;
    }
    fclose(f);
    return rc;
}

static int testapi_load_seed(struct testapi *t, char *err, size_t errlen)
{
    char why[256];
    long n;

    if (t->seed == NULL)
        return 0;
    n = store_load_seed(t->store, t->seed, t->seed_len, why, sizeof(why));
    if (n < 0) {
        /* Bounded so the line fits the caller's 256 bytes whole. */
        snprintf(err, errlen, "HOOKBRIDGE_TEST_API_SEED: '%.100s': %.120s",
                 t->settings->seed_path, why);
        return -1;
    }
    log_info("seed loaded path=%s objects=%ld", t->settings->seed_path, n);
    return 0;
}

int testapi_init(struct testapi *t, const struct testapi_settings *s, char *err,
                 size_t errlen)
{
    pthread_condattr_t attr;

    memset(t, 0, sizeof(*t));
    t->settings = s;
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);

    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &t->mono0);
    t->wall0_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;

    t->apikey = testapi_strdup(s->apikey);
    t->store = store_new(TESTAPI_OBJECTS_MAX);
    t->calls = calls_new((size_t)s->max_calls);
    t->faults = faults_new();
    t->limit = ratelimit_new(s->rate);

    if (s->seed_path != NULL &&
        testapi_read_seed(t, s->seed_path, err, errlen) != 0)
        return -1;
    return testapi_load_seed(t, err, errlen);
}

void testapi_destroy(struct testapi *t)
{
    ratelimit_free(t->limit);
    faults_free(t->faults);
    calls_free(t->calls);
    store_free(t->store);
    free(t->apikey);
    free(t->seed);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
}

int64_t testapi_now_ms(const struct testapi *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns = (int64_t)(now.tv_sec - t->mono0.tv_sec) * 1000000000 +
                 (now.tv_nsec - t->mono0.tv_nsec);
    return t->wall0_ms + ns / 1000000;
}

void testapi_set_apikey(struct testapi *t, const char *key)
{
    char *copy = testapi_strdup(key);

    free(t->apikey);
    t->apikey = copy;
}

void testapi_reset(struct testapi *t)
{
    char err[256];

    store_clear(t->store);
    calls_clear(t->calls);
    faults_clear(t->faults);
    ratelimit_set(t->limit, t->settings->rate);
    testapi_set_apikey(t, t->settings->apikey);

    /* The seed loaded at start, so it loads again. */
    if (testapi_load_seed(t, err, sizeof(err)) != 0)
        log_error("seed reload failed: %s", err);
}

void testapi_sleep(struct testapi *t, long ms)
{
    struct timespec until;

    assert(ms >= 0);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }

    pthread_mutex_lock(&t->lock);
    while (!t->stopping &&
           pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&t->lock);
}

void testapi_stop(struct testapi *t)
{
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
}
