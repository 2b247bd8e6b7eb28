/*
 * publish.c - the idempotent producer and per-request delivery waits;
 * see publish.h.
 *
 * A waiter is shared by the request thread and the delivery report. The
 * request thread may give up first (ack timeout) while librdkafka still
 * holds the record, so the waiter is reference-counted and freed by
 * whichever side lets go last.
 */
#include "publish.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "log.h"

struct publish {
    rd_kafka_t *rk;
    int ack_timeout_ms;
    pthread_t poller;
    atomic_bool stopping;
    atomic_bool fatal;
    atomic_int_fast64_t acked_ms; /* last acknowledgement; -1 for none */
    atomic_bool last_stored;      /* the latest record's verdict */
    struct metric *latency;
    struct metric *errors;
};

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
    atomic_int refs;
};

/* Settings a user may override with --rdkafka. */
static const char *const publish_defaults[][2] = {
    {"linger.ms", "0"},
    {"partitioner", "murmur2_random"},
    {"allow.auto.create.topics", "false"},
};

/* How long purged records at exit get to report, freeing their waiters. */
enum { PUBLISH_PURGE_WAIT_MS = 1000 };

static const double latency_bounds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double elapsed_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) +
           (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static struct waiter *waiter_new(void)
{
    struct waiter *w = calloc(1, sizeof(*w));
    pthread_condattr_t attr;

    if (w == NULL)
        abort();
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&w->lock, NULL);
    atomic_init(&w->refs, 2);
    return w;
}

static void waiter_release(struct waiter *w)
{
    if (atomic_fetch_sub(&w->refs, 1) != 1)
        return;
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    struct publish *p = opaque;
    struct waiter *w = m->_private;

    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        metric_inc(p->errors);
    else
        atomic_store(&p->acked_ms, monotonic_ms());
    atomic_store(&p->last_stored, m->err == RD_KAFKA_RESP_ERR_NO_ERROR);

    pthread_mutex_lock(&w->lock);
    w->err = m->err;
    w->partition = m->partition;
    w->offset = m->offset;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);

    waiter_release(w);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct publish *p = opaque;

    metric_inc(p->errors);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        atomic_store(&p->fatal, true);
        log_error("producer failed for good, hooks and /readyz answer 503 "
                  "until a restart "
                  "error=\"%s\"",
                  why);
        return;
    }
    log_debug("kafka error error=\"%s\"", reason);
}

static void *publish_poll(void *arg)
{
    struct publish *p = arg;

    while (!atomic_load(&p->stopping))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

static double publish_queue_depth(void *arg)
{
    struct publish *p = arg;

    return (double)rd_kafka_outq_len(p->rk);
}

static bool props_has(const struct config_props *props, const char *name)
{
    for (size_t i = 0; props != NULL && i < props->count; i++)
        if (strcmp(props->name[i], name) == 0)
            return true;
    return false;
}

static rd_kafka_conf_t *publish_conf(const struct publish_options *opt,
                                     struct publish *p, char *err,
                                     size_t errlen)
{
    rd_kafka_conf_t *conf;
    char timeout[32];

    conf = kafka_conf_new(opt->brokers, "hookbridge-ingest", opt->props, err,
                          errlen);
    if (conf == NULL)
        return NULL;

    for (size_t i = 0; i < sizeof(publish_defaults) / sizeof(*publish_defaults);
         i++) {
        const char *name = publish_defaults[i][0];
        if (!props_has(opt->props, name) &&
            kafka_conf_set(conf, name, publish_defaults[i][1], err, errlen))
            goto fail;
    }

    /* Durability is the point of the ingest: these are not negotiable. */
    snprintf(timeout, sizeof(timeout), "%d", opt->ack_timeout_ms);
    if (kafka_conf_set(conf, "acks", "all", err, errlen) ||
        kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        kafka_conf_set(conf, "message.timeout.ms", timeout, err, errlen))
        goto fail;

    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, p);
    return conf;

fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void publish_metrics(struct publish *p, struct metrics *m)
{
    p->latency = metrics_histogram(
        m, "ingest_publish_seconds", NULL,
        "Time from producing a record to its delivery report or timeout",
        latency_bounds, sizeof(latency_bounds) / sizeof(*latency_bounds));
    p->errors = metrics_counter(
        m, "ingest_kafka_errors_total", NULL,
        "Failed deliveries and errors reported by the Kafka client");
    metrics_gauge_fn(m, "ingest_producer_queue_depth", NULL,
                     "Records and requests waiting in the producer",
                     publish_queue_depth, p);
}

struct publish *publish_new(const struct publish_options *opt, char *err,
                            size_t errlen)
{
    struct publish *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;

    if (p == NULL)
        abort();
    p->ack_timeout_ms = opt->ack_timeout_ms;
    atomic_init(&p->stopping, false);
    atomic_init(&p->fatal, false);
    atomic_init(&p->acked_ms, -1);
    atomic_init(&p->last_stored, false);

    conf = publish_conf(opt, p, err, errlen);
    if (conf == NULL)
        goto fail;

    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (p->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }

    publish_metrics(p, opt->metrics);
    if (pthread_create(&p->poller, NULL, publish_poll, p) != 0) {
        snprintf(err, errlen, "cannot start the delivery-report thread");
        rd_kafka_destroy(p->rk);
        goto fail;
    }
    return p;

fail:
    free(p);
    return NULL;
}

bool publish_usable(struct publish *p)
{
    return !atomic_load(&p->fatal);
}

int64_t publish_acked_ms(struct publish *p)
{
    return atomic_load(&p->acked_ms);
}

bool publish_last_stored(struct publish *p)
{
    return atomic_load(&p->last_stored);
}

rd_kafka_t *publish_handle(struct publish *p)
{
    return p->rk;
}

static enum publish_result publish_wait(struct publish *p, struct waiter *w,
                                        struct publish_outcome *out)
{
    struct timespec deadline;
    enum publish_result result = PUBLISH_TIMEOUT;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += p->ack_timeout_ms / 1000;
    deadline.tv_nsec += (long)(p->ack_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&w->lock);
    while (!w->done &&
           pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != ETIMEDOUT)
        ;
    if (w->done && w->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        result = PUBLISH_STORED;
        out->partition = w->partition;
        out->offset = w->offset;
    } else if (w->done && w->err != RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) {
        result = PUBLISH_FAILED;
        snprintf(out->error, sizeof(out->error), "%s",
                 rd_kafka_err2str(w->err));
    }
    pthread_mutex_unlock(&w->lock);

    if (result == PUBLISH_TIMEOUT)
        snprintf(out->error, sizeof(out->error),
                 "no acknowledgement within %d ms", p->ack_timeout_ms);
    return result;
}

enum publish_result publish_send(struct publish *p,
                                 const struct publish_record *r,
                                 struct publish_outcome *out)
{
    struct waiter *w = waiter_new();
    struct timespec start;
    enum publish_result result;
    rd_kafka_resp_err_t err;

    memset(out, 0, sizeof(*out));
    out->partition = -1;
    out->offset = -1;
    clock_gettime(CLOCK_MONOTONIC, &start);

    err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(r->topic),
                            RD_KAFKA_V_KEY(r->key, strlen(r->key)),
                            RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_HEADER("event-type", r->event_type,
                                              (ssize_t)strlen(r->event_type)),
                            RD_KAFKA_V_HEADER("received-at", r->received_at,
                                              (ssize_t)strlen(r->received_at)),
                            RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* No delivery report will come: both references are ours. */
        waiter_release(w);
        waiter_release(w);
        metric_inc(p->errors);
        atomic_store(&p->last_stored, false);
        snprintf(out->error, sizeof(out->error), "%s", rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PUBLISH_QUEUE_FULL
                                                    : PUBLISH_FAILED;
    }

    result = publish_wait(p, w, out);
    /* A wait that ran out counts at once: the report comes later. */
    if (result != PUBLISH_STORED)
        atomic_store(&p->last_stored, false);
    waiter_release(w);
    metric_observe(p->latency, elapsed_since(&start));
    return result;
}

void publish_free(struct publish *p)
{
    rd_kafka_resp_err_t err;

    if (p == NULL)
        return;

    err = rd_kafka_flush(p->rk, p->ack_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Every such hook was already answered 503. Purged records still
         * get their delivery reports, which free their waiters. */
        log_warn("records still unacknowledged at exit count=%d; dropped, "
                 "their hooks were answered 503",
                 rd_kafka_outq_len(p->rk));
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, PUBLISH_PURGE_WAIT_MS);
    }

    atomic_store(&p->stopping, true);
    pthread_join(p->poller, NULL);
    rd_kafka_destroy(p->rk);
    free(p);
}
