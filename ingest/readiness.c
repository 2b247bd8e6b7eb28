/*
 * readiness.c - topic creation and the Kafka probe; see readiness.h.
 */
#include "readiness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "log.h"

enum {
    PROBE_INTERVAL_MS = 2000,
    PROBE_TIMEOUT_MS = 2000,
    ENSURE_TIMEOUT_MS = 3000,
    /* A probe older than this no longer counts, so a stuck thread cannot
     * leave the ingest ready. */
    FRESH_MS = 10000,
    /* An acknowledgement this recent proves Kafka is storing records,
     * whatever the probe of the same round said. */
    ACKED_FRESH_MS = PROBE_INTERVAL_MS + 2 * PROBE_TIMEOUT_MS,
    SETTLE_TRIES = 10,
    SETTLE_PAUSE_MS = 200,
};

enum readiness_state { STATE_UNKNOWN, STATE_READY, STATE_NOT_READY };

struct readiness {
    struct readiness_options opt;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    bool topics_ok;
    enum readiness_state state; /* only the thread touches it */
    atomic_bool ok;
    atomic_int_fast64_t ok_at_ms;
    rd_kafka_topic_t *topics[2];
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool readiness_acked_lately(struct readiness *r, int64_t now)
{
    int64_t acked = publish_acked_ms(r->opt.publish);

    return acked >= 0 && now - acked < ACKED_FRESH_MS;
}

bool readiness_ok(struct readiness *r)
{
    int64_t now = now_ms();

    if (atomic_load(&r->ok) && now - atomic_load(&r->ok_at_ms) < FRESH_MS)
        return true;
    return readiness_acked_lately(r, now);
}

bool readiness_refuse(struct readiness *r)
{
    return !readiness_ok(r) && !publish_last_stored(r->opt.publish);
}

static double readiness_gauge(void *r)
{
    return readiness_ok(r) ? 1.0 : 0.0;
}

static int readiness_ensure(struct readiness *r, char *err, size_t errlen)
{
    const struct readiness_options *o = &r->opt;

    if (kafka_topic_ensure(o->rk, o->raw_topic, o->raw_partitions, NULL,
                           ENSURE_TIMEOUT_MS, err, errlen) ||
        kafka_topic_ensure(o->rk, o->unrouted_topic, 1, NULL, ENSURE_TIMEOUT_MS,
                           err, errlen))
        return -1;
    log_info("topics ready raw=%s unrouted=%s", o->raw_topic,
             o->unrouted_topic);
    return 0;
}

/* One metadata request per topic: it must exist and have partitions. */
static int readiness_probe_topic(struct readiness *r, rd_kafka_topic_t *t,
                                 char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    int rc = -1;

    e = rd_kafka_metadata(r->opt.rk, 0, t, &md, PROBE_TIMEOUT_MS);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "%s", rd_kafka_err2str(e));
        return -1;
    }

    if (md->topic_cnt != 1 || md->topics[0].err != 0 ||
        md->topics[0].partition_cnt == 0)
        snprintf(err, errlen, "topic %s is missing", rd_kafka_topic_name(t));
    else
        rc = 0;
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int readiness_probe(struct readiness *r, char *err, size_t errlen)
{
    for (int i = 0; i < 2; i++)
        if (readiness_probe_topic(r, r->topics[i], err, errlen))
            return -1;
    return 0;
}

static bool readiness_round(struct readiness *r, char *err, size_t errlen)
{
    if (!r->topics_ok) {
        if (readiness_ensure(r, err, errlen))
            return false;
        r->topics_ok = true;

        /* A new topic reaches every broker's metadata a moment after
         * it is created. */
        for (int i = 0; i < SETTLE_TRIES; i++) {
            if (readiness_probe(r, err, errlen) == 0)
                return true;
            nanosleep(&(struct timespec){0, SETTLE_PAUSE_MS * 1000000L}, NULL);
        }
    }

    if (readiness_probe(r, err, errlen) == 0)
        return true;
    /* Deleted behind our back: create it again next round. */
    if (strstr(err, "missing") != NULL)
        r->topics_ok = false;
    return false;
}

static void readiness_note(struct readiness *r, bool ok, const char *err)
{
    enum readiness_state now = ok ? STATE_READY : STATE_NOT_READY;

    if (ok)
        atomic_store(&r->ok_at_ms, now_ms());
    atomic_store(&r->ok, ok);
    if (r->state == now)
        return;

    r->state = now;
    if (ok)
        log_info("kafka ready, accepting hooks raw_topic=%s", r->opt.raw_topic);
    else if (readiness_acked_lately(r, now_ms()))
        log_warn("kafka probe failed, but records are still acknowledged; "
                 "accepting hooks while they are error=\"%s\"",
                 err);
    else
        log_warn("kafka not ready; hooks answer 503 at once after the "
                 "first record Kafka fails error=\"%s\"",
                 err);
}

static void *readiness_run(void *arg)
{
    struct readiness *r = arg;
    char err[256];

    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        pthread_mutex_unlock(&r->lock);
        err[0] = '\0';
        bool ok = readiness_round(r, err, sizeof(err));
        readiness_note(r, ok, err);
        pthread_mutex_lock(&r->lock);

        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += PROBE_INTERVAL_MS / 1000;
        while (!r->stopping &&
               pthread_cond_timedwait(&r->cond, &r->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void readiness_free(struct readiness *r)
{
    for (int i = 0; i < 2; i++)
        if (r->topics[i] != NULL)
            rd_kafka_topic_destroy(r->topics[i]);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct readiness *readiness_start(const struct readiness_options *opt)
{
    struct readiness *r = calloc(1, sizeof(*r));
    pthread_condattr_t attr;

    if (r == NULL)
        abort();
    r->opt = *opt;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &attr);
    pthread_condattr_destroy(&attr);

    metrics_gauge_fn(opt->metrics, "ingest_kafka_ready", NULL,
                     "1 while Kafka answers probes and the topics exist",
                     readiness_gauge, r);
    r->topics[0] = rd_kafka_topic_new(opt->rk, opt->raw_topic, NULL);
    r->topics[1] = rd_kafka_topic_new(opt->rk, opt->unrouted_topic, NULL);
    if (r->topics[0] == NULL || r->topics[1] == NULL ||
        pthread_create(&r->thread, NULL, readiness_run, r) != 0) {
        readiness_free(r);
        return NULL;
    }
    return r;
}

void readiness_stop(struct readiness *r)
{
    if (r == NULL)
        return;

    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);

    pthread_join(r->thread, NULL);
    readiness_free(r);
}
