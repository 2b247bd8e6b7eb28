/*
 * pipeline.c - the enricher's loop; see pipeline.h.
 *
 * One notification's path: consumer_poll() hands the raw record to
 * pipeline_take(), which enters its offset in the ledger and folds it
 * under its key. When the key is due, pipeline_schedule() starts a fetch
 * (or, for a delete, answers at once) within the API budget;
 * pipeline_fetched() reads the API's answer and publishes the object, a
 * tombstone or a DLQ record, or schedules a retry. When the record is
 * acknowledged, pipeline_delivered() marks the offsets done, and
 * pipeline_commit() commits what the ledger allows.
 *
 * Each raw partition has an epoch, bumped whenever the partition is
 * revoked, assigned or rewound; fetches and records started under an
 * older epoch are abandoned when they come back, because another replica
 * (or this one, from the committed offset) redoes that work.
 */
#include "pipeline.h"

#include <assert.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commit.h"
#include "consume.h"
#include "fetch.h"
#include "fold.h"
#include "kafka.h"
#include "log.h"
#include "object.h"
#include "publish.h"
#include "ratelimit.h"
#include "retry.h"
#include "state.h"

enum {
    PIPE_POLL_BATCH = 1000,     /* raw records taken per loop turn */
    PIPE_IDLE_MS = 10,          /* longest wait of one loop turn */
    PIPE_COMMIT_MS = 500,       /* at-least-once commit interval */
    PIPE_TXN_MS = 200,          /* exactly-once transaction interval */
    PIPE_TICK_MS = 1000,        /* gauges and reachability */
    PIPE_STATE_LOAD_MS = 30000, /* reading a state partition */
    PIPE_FLUSH_MS = 10000,      /* waiting for acknowledgements */
    PIPE_BACKOFF_CAP_MS = 30000,
    /* The API times a Retry-After on its own clock, from when it
     * answered; waiting exactly that long on ours can reach it a
     * millisecond early by its count. */
    PIPE_RETRY_AFTER_MARGIN_MS = 20,
    PIPE_URL_MAX = 2048,
    PIPE_TYPE_MAX = 128,
    PIPE_TIME_MAX = 64,
    PIPE_REASON_MAX = 512,
    PIPE_BODY_MAX = 8 << 20,
};

static const long pipe_statuses[] = {0,   200, 401, 403, 404,
                                     429, 500, 502, 503, 504};
enum { PIPE_NSTATUS = sizeof(pipe_statuses) / sizeof(pipe_statuses[0]) };

struct pipeline_metrics {
    struct metric *consumed, *folded, *published, *tombstones, *suppressed;
    struct metric *dlq, *rate_waits, *auth_pauses;
    struct metric *fetches[PIPE_NSTATUS + 1]; /* last: any other status */
    struct metric *batch_seconds, *lag, *pending, *auth_paused, *assigned;
};

/* What an answer says about the newest notification it covers. */
struct answer {
    int64_t since_ms;
    int64_t newest_offset;
    char event_type[PIPE_TYPE_MAX];
    char time[PIPE_TIME_MAX];
};

struct fetch_job {
    struct pipeline *p;
    uint32_t epoch;
    int32_t partition;
    int64_t started_ms;
    struct answer a;
    char key[];
};

struct pipeline {
    const struct enricher_settings *s;
    const struct catalog *cat;
    struct fold *fold;
    struct ledger *ledger;
    struct state *state;
    struct consumer *consumer;
    struct publisher *pub;
    struct fetcher *fetcher;
    struct ratelimit *rate;
    struct pipeline_metrics m;

    uint32_t *epochs; /* per raw partition */
    int32_t nepochs;
    struct publish_ticket **acked; /* state records to write */
    size_t nacked, capacked;

    volatile sig_atomic_t stop;
    int closing;
    int failed;
    atomic_int ready_kafka;
    atomic_int ready_auth;
    int auth_paused;
    int64_t auth_probe_ms;
    int backlog_paused;
    int rate_blocked;
    int64_t rate_next_ms; /* when a blocked fetch may try again */
    int64_t last_call_ms; /* wall clock of this replica's last call */
    int64_t min_gap_ms;   /* between two of its calls, see may_fetch */
    uint64_t rng;
    int64_t last_commit_ms, last_tick_ms;
};

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* The rate limiter's slots line up across replicas only on the wall
 * clock (ratelimit.h). */
static int64_t wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

/* ---- epochs ---- */

static uint32_t *epoch_slot(struct pipeline *p, int32_t partition)
{
    if (partition >= p->nepochs) {
        int32_t n = partition + 1;
        uint32_t *e = realloc(p->epochs, (size_t)n * sizeof(*e));
        if (e == NULL)
            abort(); /* a few bytes per partition at assignment time */
        memset(e + p->nepochs, 0, (size_t)(n - p->nepochs) * sizeof(*e));
        p->epochs = e;
        p->nepochs = n;
    }
    return &p->epochs[partition];
}

static int epoch_current(struct pipeline *p, int32_t partition, uint32_t e)
{
    return *epoch_slot(p, partition) == e;
}

/* Forgets everything in flight for `partition`. */
static void pipeline_abandon(struct pipeline *p, int32_t partition)
{
    (*epoch_slot(p, partition))++;
    fold_drop_partition(p->fold, partition);
    ledger_drop(p->ledger, partition);
}

/* ---- metrics ---- */

static void pipeline_metrics_init(struct pipeline_metrics *m,
                                  struct metrics *reg)
{
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1,  2,
                                    5,    10,  30,   60,  120};
    char label[32];

    m->consumed = metrics_counter(reg, "events_consumed_total", NULL,
                                  "Raw notifications consumed");
    m->folded = metrics_counter(reg, "events_folded_total", NULL,
                                "Notifications folded into one already "
                                "pending for the same key");
    m->published = metrics_counter(reg, "records_published_total", NULL,
                                   "Enriched objects acknowledged");
    m->tombstones = metrics_counter(reg, "tombstones_total", NULL,
                                    "Tombstones acknowledged");
    m->suppressed = metrics_counter(reg, "republish_suppressed_total", NULL,
                                    "Answers not published because the "
                                    "content was unchanged");
    m->dlq = metrics_counter(reg, "dlq_records_total", NULL,
                             "Records sent to the DLQ topic");
    m->rate_waits = metrics_counter(reg, "ratelimit_waits_total", NULL,
                                    "Times a due fetch waited for the API "
                                    "budget");
    m->auth_pauses = metrics_counter(reg, "auth_pauses_total", NULL,
                                     "Times the API key was refused");
    for (size_t i = 0; i <= PIPE_NSTATUS; i++) {
        if (i < PIPE_NSTATUS)
            snprintf(label, sizeof(label), "status=\"%ld\"", pipe_statuses[i]);
        else
            snprintf(label, sizeof(label), "status=\"other\"");
        m->fetches[i] = metrics_counter(reg, "api_fetches_total", label,
                                        "API calls by HTTP status (0: no "
                                        "reply)");
    }
    m->batch_seconds = metrics_histogram(
        reg, "batch_duration_seconds", NULL,
        "From a key's first pending notification to its record's "
        "acknowledgement",
        bounds, sizeof(bounds) / sizeof(bounds[0]));
    m->lag = metrics_gauge(reg, "consumer_lag", NULL,
                           "Raw records not yet consumed, over the assigned "
                           "partitions");
    m->assigned = metrics_gauge(reg, "assigned_partitions", NULL,
                                "Raw topic partitions this replica owns");
    m->pending = metrics_gauge(reg, "pending_keys", NULL,
                               "Keys held waiting for an answer");
    m->auth_paused = metrics_gauge(reg, "auth_paused", NULL,
                                   "1 while the API key is refused");
}

static void metrics_count_status(struct pipeline_metrics *m, long status)
{
    for (size_t i = 0; i < PIPE_NSTATUS; i++) {
        if (pipe_statuses[i] == status) {
            metric_inc(m->fetches[i]);
            return;
        }
    }
    metric_inc(m->fetches[PIPE_NSTATUS]);
}

/* ---- answers ---- */

static void format_time(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms % 1000));
}

static void answer_snapshot(const struct fold_entry *e, struct answer *a)
{
    a->since_ms = e->pending_since_ms;
    a->newest_offset = e->offsets[e->noffsets - 1];
    snprintf(a->event_type, sizeof(a->event_type), "%s", e->event->type);
    if (fold_raw_header_str(e->raw, "received-at", a->time, sizeof(a->time)) !=
        0)
        format_time(fold_raw_timestamp(e->raw), a->time, sizeof(a->time));
}

/* Marks a finished answer's offsets done at once (suppressed, or
 * exactly-once where the transaction is the acknowledgement). */
static void offsets_done(struct pipeline *p, int32_t partition,
                         const int64_t *offsets, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ledger_done(p->ledger, partition, offsets[i]);
}

static int pipeline_produce_ready(struct pipeline *p)
{
    if (p->s->exactly_once && publisher_txn_begin(p->pub) != 0) {
        p->failed = 1;
        return -1;
    }
    return 0;
}

/* A new ticket for the answer `e` is finishing, its offsets copied in. */
static struct publish_ticket *ticket_for(struct pipeline *p,
                                         const struct fold_entry *e, int what,
                                         const struct answer *a)
{
    struct publish_ticket *t =
        publish_ticket_new(what, e->key, e->partition, e->nanswering);

    if (t == NULL) {
        log_error("out of memory key=%s; stopping", e->key);
        p->failed = 1;
        return NULL;
    }
    t->epoch = *epoch_slot(p, e->partition);
    t->since_ms = a->since_ms;
    memcpy(t->offsets, e->offsets, e->nanswering * sizeof(*t->offsets));
    return t;
}

/* The answer cannot be enriched: its newest raw record goes to the DLQ. */
static void answer_dlq(struct pipeline *p, struct fold_entry *e,
                       const struct answer *a, const char *why)
{
    struct publish_ticket *t = ticket_for(p, e, PUBLISH_DLQ, a);
    int freed;

    if (t == NULL || pipeline_produce_ready(p) != 0) {
        free(t);
        return;
    }
    log_warn("dead-lettered key=%s attempts=%d reason=%s", e->key,
             (int)e->attempts, why);
    metric_inc(p->m.dlq);
    if (publish_dlq(p->pub, e->key, e->raw, why, e->attempts, t) != 0) {
        p->failed = 1;
        return;
    }
    if (p->s->exactly_once)
        offsets_done(p, t->partition, t->offsets, t->noffsets);
    fold_finish(p->fold, e, NULL, 0, &freed);
}

static uint64_t tombstone_hash(void)
{
    return object_hash("", 0);
}

/* Publishes the object (value NULL: tombstone) unless it is unchanged. */
static void answer_publish(struct pipeline *p, struct fold_entry *e,
                           const struct answer *a, const char *value,
                           size_t len)
{
    uint64_t hash = value ? object_hash(value, len) : tombstone_hash();
    uint64_t last;
    const struct catalog_kind *kind = e->event->kind;
    struct publish_ce ce = {e->partition, a->newest_offset, a->event_type,
                            a->time};
    struct publish_ticket *t =
        ticket_for(p, e, value ? PUBLISH_OBJECT : PUBLISH_TOMBSTONE, a);
    int freed;

    if (t == NULL)
        return;
    t->hash = hash;
    if (state_get(p->state, e->key, &last) == 0 && last == hash) {
        log_debug("unchanged, not published key=%s", e->key);
        metric_inc(p->m.suppressed);
        offsets_done(p, t->partition, t->offsets, t->noffsets);
        fold_finish(p->fold, e, NULL, 0, &freed);
        free(t);
        return;
    }

    /* The ticket's copy of the key: finishing may free the entry. */
    const char *id = strchr(t->key, ':') + 1;
    fold_finish(p->fold, e, NULL, 0, &freed);
    if (pipeline_produce_ready(p) != 0 ||
        publish_object(p->pub, kind, id, value, len, &ce, t) != 0) {
        p->failed = 1;
        return;
    }
    state_set(p->state, t->key, t->partition, hash);
    if (p->s->exactly_once) {
        offsets_done(p, t->partition, t->offsets, t->noffsets);
        if (publish_state(p->pub, t->key, t->partition, hash) != 0)
            p->failed = 1;
    }
}

/* ---- fetch results ---- */

static void pipeline_auth_pause(struct pipeline *p, int64_t now)
{
    p->auth_probe_ms = now + p->s->auth_retry_ms;
    if (p->auth_paused)
        return;
    p->auth_paused = 1;
    atomic_store(&p->ready_auth, 0);
    metric_inc(p->m.auth_pauses);
    metric_set(p->m.auth_paused, 1);
    consumer_pause(p->consumer, 1);
    log_warn("API key refused; pausing consumption and fetches, probing "
             "every %ld ms",
             p->s->auth_retry_ms);
}

static void pipeline_auth_resume(struct pipeline *p)
{
    if (!p->auth_paused)
        return;
    p->auth_paused = 0;
    atomic_store(&p->ready_auth, 1);
    metric_set(p->m.auth_paused, 0);
    consumer_pause(p->consumer, p->backlog_paused);
    log_info("API key accepted again; resuming");
}

/* A failed attempt: retry at `due`, or DLQ after the last attempt. */
static void answer_retry(struct pipeline *p, struct fold_entry *e,
                         const struct fetch_job *j, int64_t due,
                         const char *what)
{
    char why[PIPE_REASON_MAX + 64];

    if (e->attempts < p->s->api_max_attempts) {
        fold_retry(p->fold, e, due);
        return;
    }
    snprintf(why, sizeof(why), "%s after %d attempts", what, (int)e->attempts);
    answer_dlq(p, e, &j->a, why);
}

static void answer_object(struct pipeline *p, struct fold_entry *e,
                          const struct fetch_job *j,
                          const struct fetch_result *r)
{
    char why[PIPE_REASON_MAX], reason[PIPE_REASON_MAX + 32];
    char *out = NULL;
    size_t outlen = 0;
    const struct buf *b = r->body;
    enum object_verdict v = object_extract(b->data ? b->data : "", b->len,
                                           e->event->kind->object_pointer, &out,
                                           &outlen, why, sizeof(why));

    if (v == OBJECT_FOUND)
        answer_publish(p, e, &j->a, out, outlen);
    else if (v == OBJECT_GONE)
        answer_publish(p, e, &j->a, NULL, 0);
    else {
        snprintf(reason, sizeof(reason), "invalid reply: %s", why);
        answer_dlq(p, e, &j->a, reason);
    }
    free(out);
}

static void answer_result(struct pipeline *p, struct fold_entry *e,
                          const struct fetch_job *j,
                          const struct fetch_result *r, int64_t now)
{
    enum retry_outcome o = retry_classify(r->status, r->retry_after_ms >= 0);
    char what[PIPE_REASON_MAX];

    if (o != RETRY_AUTH)
        pipeline_auth_resume(p);
    if (r->status != 0)
        snprintf(what, sizeof(what), "HTTP %ld", r->status);
    else
        snprintf(what, sizeof(what), "no reply (%s)",
                 r->error ? r->error : "unknown");

    switch (o) {
    case RETRY_OBJECT:
        answer_object(p, e, j, r);
        break;
    case RETRY_GONE:
        answer_publish(p, e, &j->a, NULL, 0);
        break;
    case RETRY_THROTTLED: {
        int64_t wait = r->retry_after_ms >= 0
                           ? r->retry_after_ms + PIPE_RETRY_AFTER_MARGIN_MS
                           : retry_backoff_ms(e->attempts, p->s->api_backoff_ms,
                                              PIPE_BACKOFF_CAP_MS, &p->rng);
        ratelimit_pause_until(p->rate, wall_ms() + wait);
        answer_retry(p, e, j, now + wait, what);
        break;
    }
    case RETRY_TRANSIENT:
        answer_retry(p, e, j,
                     now + retry_backoff_ms(e->attempts, p->s->api_backoff_ms,
                                            PIPE_BACKOFF_CAP_MS, &p->rng),
                     what);
        break;
    case RETRY_AUTH:
        /* Not this object's failure: the attempt does not count. */
        if (e->attempts > 0)
            e->attempts--;
        pipeline_auth_pause(p, now);
        fold_retry(p->fold, e, p->auth_probe_ms);
        break;
    case RETRY_FATAL:
        answer_dlq(p, e, &j->a, what);
        break;
    }
}

static void pipeline_fetched(void *arg, const struct fetch_result *r)
{
    struct fetch_job *j = arg;
    struct pipeline *p = j->p;
    int64_t now = now_ms();
    struct fold_entry *e = NULL;

    log_debug("fetched key=%s status=%ld ms=%.0f%s%s", j->key, r->status,
              r->seconds * 1000, r->error ? " error=" : "",
              r->error ? r->error : "");
    if (!p->closing)
        metrics_count_status(&p->m, r->status);
    if (!p->closing && epoch_current(p, j->partition, j->epoch))
        e = fold_find(p->fold, j->key);
    if (e != NULL && e->state == FOLD_ANSWERING)
        answer_result(p, e, j, r, now);
    else if (e != NULL)
        log_debug("stale fetch result ignored key=%s", j->key);
    free(j);
}

/* ---- scheduling ---- */

static int pipeline_fetch(struct pipeline *p, struct fold_entry *e, int64_t now)
{
    size_t keylen = strlen(e->key);
    struct fetch_job *j = malloc(sizeof(*j) + keylen + 1);
    char path[PIPE_URL_MAX], url[PIPE_URL_MAX];
    const char *id = strchr(e->key, ':') + 1;

    if (j == NULL)
        return -1;
    j->p = p;
    j->epoch = *epoch_slot(p, e->partition);
    j->partition = e->partition;
    j->started_ms = now;
    answer_snapshot(e, &j->a);
    memcpy(j->key, e->key, keylen + 1);
    if (catalog_fetch_path(e->event->kind, id, path, sizeof(path)) < 0 ||
        snprintf(url, sizeof(url), "%s%s/%s", p->s->api_base,
                 p->s->api_customer, path) >= (int)sizeof(url)) {
        fold_begin(p->fold, e, 0, now);
        e->attempts = 1;
        answer_dlq(p, e, &j->a, "invalid key: the fetch URL is too long");
        free(j);
        return 0;
    }

    fold_begin(p->fold, e, 1, now);
    e->attempts++;
    if (fetcher_start(p->fetcher, url, pipeline_fetched, j) != 0) {
        e->attempts--;
        fold_retry(p->fold, e, now);
        free(j);
        return -1;
    }
    return 0;
}

static void pipeline_delete(struct pipeline *p, struct fold_entry *e,
                            int64_t now)
{
    struct answer a;

    answer_snapshot(e, &a);
    fold_begin(p->fold, e, 0, now);
    answer_publish(p, e, &a, NULL, 0);
}

/* May a fetch start now? Counts a budget wait once per stretch. */
static int pipeline_may_fetch(struct pipeline *p, int64_t now)
{
    if (fetcher_active(p->fetcher) >= p->s->api_concurrency)
        return 0;
    if (p->auth_paused &&
        (now < p->auth_probe_ms || fetcher_active(p->fetcher) > 0))
        return 0;
    /* The limiter lets one replica's calls start exactly 1/rate apart;
     * the API sees them with a few ms of network jitter, which can put
     * rate + 1 calls inside one second. Below 40 calls/s a slot carries
     * one call, and a 5% margin between this replica's own calls
     * prevents it; above, a slot carries several and is made long
     * enough for that (ratelimit.h). */
    int64_t wall = wall_ms();
    int64_t wait = 0;
    if (p->s->api_rate < 40 && wall < p->last_call_ms + p->min_gap_ms)
        wait = p->last_call_ms + p->min_gap_ms - wall;
    if (wait == 0)
        wait = ratelimit_acquire(p->rate, wall);
    if (wait == 0)
        p->last_call_ms = wall;
    if (wait > 0) {
        if (!p->rate_blocked)
            metric_inc(p->m.rate_waits);
        p->rate_blocked = 1;
        /* Waking right at the slot start keeps calls a full slot apart. */
        p->rate_next_ms = now + wait;
        return 0;
    }
    p->rate_blocked = 0;
    return 1;
}

static void pipeline_schedule(struct pipeline *p, int64_t now)
{
    struct fold_entry *e;

    while (!p->failed && (e = fold_due(p->fold, now)) != NULL) {
        if (e->event->action == CATALOG_DELETE) {
            pipeline_delete(p, e, now);
            continue;
        }
        if (!pipeline_may_fetch(p, now) || pipeline_fetch(p, e, now) != 0)
            break;
        if (p->auth_paused) {
            /* One probe at a time while the key is refused. */
            p->auth_probe_ms = now + p->s->auth_retry_ms;
            break;
        }
    }
}

/* ---- consuming ---- */

static void pipeline_dlq_bad(struct pipeline *p, const rd_kafka_message_t *m,
                             const char *why)
{
    char key[512] = "";
    unsigned char *raw = consume_pack(m, NULL);
    struct publish_ticket *t;

    if (m->key != NULL)
        snprintf(key, sizeof(key), "%.*s", (int)m->key_len,
                 (const char *)m->key);
    if (raw == NULL)
        raw = fold_raw_pack(m->payload, m->len, m->payload != NULL, NULL, 0, 0);
    t = publish_ticket_new(PUBLISH_DLQ, key, m->partition, 1);
    if (raw == NULL || t == NULL || pipeline_produce_ready(p) != 0) {
        log_error(
            "out of memory for the DLQ record partition=%d offset=%" PRId64
            "; stopping",
            (int)m->partition, m->offset);
        p->failed = 1;
        free(raw);
        free(t);
        return;
    }
    t->epoch = *epoch_slot(p, m->partition);
    t->offsets[0] = m->offset;
    log_warn("dead-lettered key=%s partition=%d offset=%" PRId64 " reason=%s",
             key, (int)m->partition, m->offset, why);
    metric_inc(p->m.dlq);
    if (publish_dlq(p->pub, key, raw, why, 0, t) != 0)
        p->failed = 1;
    else if (p->s->exactly_once)
        ledger_done(p->ledger, m->partition, m->offset);
    free(raw);
}

static void pipeline_take(void *arg, const rd_kafka_message_t *m)
{
    struct pipeline *p = arg;
    struct fold_input in;
    char why[PIPE_REASON_MAX];
    int rc = ledger_add(p->ledger, m->partition, m->offset);

    if (rc == -2)
        return;
    metric_inc(p->m.consumed);
    atomic_store(&p->ready_kafka, 1);
    if (rc != 0 ||
        (rc = consume_to_input(p->cat, m, &in, why, sizeof(why))) == -2) {
        log_error("out of memory partition=%d; stopping", (int)m->partition);
        p->failed = 1;
        return;
    }
    if (rc != 0) {
        pipeline_dlq_bad(p, m, why);
        return;
    }

    rc = fold_add(p->fold, &in, now_ms());
    if (rc < 0) {
        free(in.raw);
        log_error("out of memory partition=%d offset=%" PRId64 "; stopping",
                  (int)m->partition, m->offset);
        p->failed = 1;
    } else if (rc == FOLD_ADDED_FOLDED) {
        metric_inc(p->m.folded);
    }
}

static void pipeline_backlog(struct pipeline *p)
{
    size_t n = fold_count(p->fold);
    size_t max = (size_t)p->s->max_pending_keys;

    if (!p->backlog_paused && n >= max) {
        p->backlog_paused = 1;
        log_info("pending keys at the limit, pausing consumption keys=%zu", n);
    } else if (p->backlog_paused && n < max - max / 10) {
        p->backlog_paused = 0;
        log_info("pending keys below the limit, resuming keys=%zu", n);
    } else {
        return;
    }
    consumer_pause(p->consumer, p->backlog_paused || p->auth_paused);
}

/* ---- acknowledgements and commits ---- */

static void pipeline_delivered(void *arg, struct publish_ticket *t,
                               rd_kafka_resp_err_t err)
{
    struct pipeline *p = arg;
    int current = epoch_current(p, t->partition, t->epoch);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (!p->s->exactly_once && current) {
            log_error("record not stored key=%s error=%s; stopping, the "
                      "uncommitted offsets are redone on restart",
                      t->key, rd_kafka_err2str(err));
            p->failed = 1;
        }
        free(t);
        return;
    }

    if (t->what == PUBLISH_OBJECT)
        metric_inc(p->m.published);
    else if (t->what == PUBLISH_TOMBSTONE)
        metric_inc(p->m.tombstones);
    if (t->what != PUBLISH_DLQ)
        metric_observe(p->m.batch_seconds,
                       (double)(now_ms() - t->since_ms) / 1000.0);
    if (p->s->exactly_once || !current) {
        free(t);
        return;
    }

    offsets_done(p, t->partition, t->offsets, t->noffsets);
    if (t->what == PUBLISH_DLQ || p->nacked == p->capacked) {
        free(t); /* no state to write (or no room: it is only an
                    optimisation, the next answer writes it) */
        return;
    }
    p->acked[p->nacked++] = t;
}

/* Writes the state records of acknowledged answers (at-least-once mode:
 * only after the downstream record is safe, or a crash could suppress
 * content nobody received). */
static void pipeline_write_state(struct pipeline *p)
{
    for (size_t i = 0; i < p->nacked; i++) {
        struct publish_ticket *t = p->acked[i];
        if (epoch_current(p, t->partition, t->epoch) &&
            publish_state(p->pub, t->key, t->partition, t->hash) != 0)
            p->failed = 1;
        free(t);
    }
    p->nacked = 0;
}

static rd_kafka_topic_partition_list_t *pipeline_offsets(struct pipeline *p)
{
    rd_kafka_topic_partition_list_t *ps = NULL, *out;

    if (rd_kafka_assignment(consumer_handle(p->consumer), &ps) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    out = rd_kafka_topic_partition_list_new(ps->cnt > 0 ? ps->cnt : 1);
    for (int i = 0; i < ps->cnt; i++) {
        int32_t part = ps->elems[i].partition;
        int64_t off = ledger_committable(p->ledger, part);
        if (off >= 0 && off > ledger_committed(p->ledger, part))
            rd_kafka_topic_partition_list_add(out, p->s->raw_topic, part)
                ->offset = off;
    }
    rd_kafka_topic_partition_list_destroy(ps);
    return out;
}

static void pipeline_rewind(struct pipeline *p)
{
    rd_kafka_topic_partition_list_t *ps = NULL;

    if (rd_kafka_assignment(consumer_handle(p->consumer), &ps) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    for (int i = 0; i < ps->cnt; i++)
        pipeline_abandon(p, ps->elems[i].partition);
    if (state_load(p->state, ps, PIPE_STATE_LOAD_MS) < 0)
        log_warn("state not fully reloaded after the rewind");
    if (consumer_rewind(p->consumer, PIPE_FLUSH_MS) != 0)
        p->failed = 1;
    rd_kafka_topic_partition_list_destroy(ps);
}

/* Exactly-once: commits the open transaction with the done offsets. */
static void pipeline_txn_commit(struct pipeline *p)
{
    rd_kafka_topic_partition_list_t *offs = pipeline_offsets(p);
    int rc;

    if (offs == NULL)
        return;
    if (offs->cnt == 0 && !publisher_txn_open(p->pub)) {
        rd_kafka_topic_partition_list_destroy(offs);
        return;
    }
    rc = publisher_txn_begin(p->pub);
    if (rc == 0)
        rc = publisher_txn_commit(p->pub, consumer_handle(p->consumer), offs);
    if (rc == PUBLISH_TXN_OK) {
        for (int i = 0; i < offs->cnt; i++)
            ledger_set_committed(p->ledger, offs->elems[i].partition,
                                 offs->elems[i].offset);
    } else if (rc == PUBLISH_TXN_ABORTED) {
        pipeline_rewind(p);
    } else {
        p->failed = 1;
    }
    rd_kafka_topic_partition_list_destroy(offs);
}

static void pipeline_commit(struct pipeline *p, int64_t now, int force)
{
    int64_t every = p->s->exactly_once ? PIPE_TXN_MS : PIPE_COMMIT_MS;

    if (!force && now - p->last_commit_ms < every)
        return;
    p->last_commit_ms = now;
    if (p->s->exactly_once)
        pipeline_txn_commit(p);
    else
        consumer_commit(p->consumer, p->ledger, NULL, force);
}

/* ---- assignment changes ---- */

static void pipeline_share(struct pipeline *p, const char *what,
                           const rd_kafka_topic_partition_list_t *ps)
{
    int assigned = consumer_assigned(p->consumer);
    int total = consumer_total_partitions(p->consumer);
    char list[256] = "";
    size_t used = 0;
    int calls;
    int64_t window;

    const int32_t *ids;
    int n = consumer_partitions(p->consumer, &ids);

    metric_set(p->m.assigned, assigned);
    if (ratelimit_set_partitions(p->rate, ids, n, total) != 0)
        log_warn("out of memory for the rate share; keeping the last one");
    ratelimit_describe(p->rate, &calls, &window);
    for (int i = 0; i < ps->cnt && used + 12 < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d",
                                 i ? "," : "", (int)ps->elems[i].partition);
    log_info("partitions %s partitions=%s assigned=%d total=%d "
             "api_calls=%d per_ms=%" PRId64,
             what, list, assigned, total, calls, window);
}

static void pipeline_assigned(void *arg,
                              const rd_kafka_topic_partition_list_t *ps)
{
    struct pipeline *p = arg;
    long n;

    for (int i = 0; i < ps->cnt; i++)
        pipeline_abandon(p, ps->elems[i].partition);
    n = state_load(p->state, ps, PIPE_STATE_LOAD_MS);
    if (n < 0)
        log_warn("state topic not read to its end within %d ms; unchanged "
                 "objects may be published again",
                 PIPE_STATE_LOAD_MS);
    else
        log_info("state loaded records=%ld keys=%zu", n, state_count(p->state));
    atomic_store(&p->ready_kafka, 1);
    pipeline_share(p, "assigned", ps);
}

static void
pipeline_revoked(void *arg, const rd_kafka_topic_partition_list_t *ps, int lost)
{
    struct pipeline *p = arg;

    if (!lost) {
        /* What is already acknowledged is committed, so whoever takes
         * the partitions over redoes as little as possible. */
        publisher_flush(p->pub, PIPE_FLUSH_MS);
        if (p->s->exactly_once) {
            pipeline_txn_commit(p);
        } else {
            pipeline_write_state(p);
            consumer_commit(p->consumer, p->ledger, ps, 1);
        }
    }
    for (int i = 0; i < ps->cnt; i++) {
        pipeline_abandon(p, ps->elems[i].partition);
        state_drop_partition(p->state, ps->elems[i].partition);
    }
    pipeline_share(p, lost ? "lost" : "revoked", ps);
}

/* ---- the loop ---- */

static void pipeline_tick(struct pipeline *p, int64_t now)
{
    if (now - p->last_tick_ms < PIPE_TICK_MS)
        return;
    p->last_tick_ms = now;
    metric_set(p->m.pending, (int64_t)fold_count(p->fold));
    metric_set(p->m.lag, consumer_lag(p->consumer));
    atomic_store(&p->ready_kafka, consumer_reachable(p->consumer, 500));
}

/* One turn: take records (unless draining), start what is due, move the
 * fetches, serve acknowledgements, commit. */
static void pipeline_turn(struct pipeline *p, int consume)
{
    int64_t now = now_ms();
    int64_t next = fold_next_due_ms(p->fold);
    int wait =
        fetcher_active(p->fetcher) > 0 || next <= now
            ? 0
            : (int)(next - now < PIPE_IDLE_MS ? next - now : PIPE_IDLE_MS);

    if (consume) {
        consumer_poll(p->consumer, wait, PIPE_POLL_BATCH, pipeline_take, p);
        pipeline_backlog(p);
    }
    now = now_ms();
    pipeline_schedule(p, now);
    fetcher_run(p->fetcher, fetcher_active(p->fetcher) > 0 ? PIPE_IDLE_MS : 0);
    publisher_poll(p->pub, 0);
    pipeline_write_state(p);
    now = now_ms();
    pipeline_commit(p, now, 0);
    pipeline_tick(p, now);
    if (publisher_failed(p->pub))
        p->failed = 1;
}

/* Finishes the window in hand: no new records, due keys answered. */
static void pipeline_drain(struct pipeline *p)
{
    int64_t deadline = now_ms() + p->s->window_ms + p->s->api_timeout_ms + 1000;

    log_info("stopping: answering pending keys keys=%zu within_ms=%" PRId64,
             fold_count(p->fold), deadline - now_ms());
    consumer_pause(p->consumer, 1);
    while (!p->failed && now_ms() < deadline &&
           (fold_count(p->fold) > 0 || fetcher_active(p->fetcher) > 0))
        pipeline_turn(p, 0);
    if (fold_count(p->fold) > 0)
        log_warn("stopping with unanswered keys keys=%zu; their offsets stay "
                 "uncommitted and are redone",
                 fold_count(p->fold));
    p->closing = 1;
    publisher_flush(p->pub, PIPE_FLUSH_MS);
    pipeline_write_state(p);
    publisher_flush(p->pub, PIPE_FLUSH_MS);
    pipeline_commit(p, now_ms(), 1);
}

int pipeline_run(struct pipeline *p)
{
    while (!p->stop && !p->failed)
        pipeline_turn(p, 1);
    if (!p->failed)
        pipeline_drain(p);
    consumer_close(p->consumer);
    p->consumer = NULL;
    publisher_flush(p->pub, PIPE_FLUSH_MS);
    log_info("stopped");
    return p->failed ? -1 : 0;
}

void pipeline_stop(struct pipeline *p)
{
    p->stop = 1;
}

int pipeline_ready(void *arg)
{
    struct pipeline *p = arg;

    return atomic_load(&p->ready_kafka) && atomic_load(&p->ready_auth);
}

/* ---- start and end ---- */

static int pipeline_parts(struct pipeline *p, const struct config_props *props,
                          char *err, size_t errlen)
{
    struct fetch_options fo = {p->s->api_key, (int)p->s->api_concurrency,
                               p->s->api_timeout_ms, PIPE_BODY_MAX};
    struct consume_hooks hooks = {pipeline_assigned, pipeline_revoked, p};

    p->fold = fold_new(p->s->window_ms);
    p->ledger = ledger_new();
    p->rate = ratelimit_new((double)p->s->api_rate);
    p->capacked = 4096;
    p->acked = calloc(p->capacked, sizeof(*p->acked));
    if (!p->fold || !p->ledger || !p->rate || !p->acked) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->fetcher = fetcher_new(&fo, err, errlen);
    if (p->fetcher == NULL)
        return -1;
    p->pub = publisher_new(p->s, props, pipeline_delivered, p, err, errlen);
    if (p->pub == NULL)
        return -1;
    p->state = state_new(p->s, props, err, errlen);
    if (p->state == NULL)
        return -1;
    /* The enricher may start before the first webhook arrived; the raw
     * topic then does not exist yet (an existing one is left alone). */
    if (kafka_topic_ensure(publisher_handle(p->pub), p->s->raw_topic,
                           (int)p->s->topic_partitions, NULL, PIPE_FLUSH_MS,
                           err, errlen) != 0)
        return -1;
    p->consumer = consumer_new(p->s, props, &hooks, err, errlen);
    return p->consumer ? 0 : -1;
}

struct pipeline *pipeline_new(const struct enricher_settings *s,
                              const struct config_props *props,
                              const struct catalog *cat, struct metrics *m,
                              char *err, size_t errlen)
{
    struct pipeline *p = calloc(1, sizeof(*p));
    int raw_parts;

    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->s = s;
    p->cat = cat;
    p->rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)p << 16) ^ 1;
    atomic_init(&p->ready_kafka, 0);
    atomic_init(&p->ready_auth, 1);
    p->min_gap_ms = (1050 + s->api_rate - 1) / s->api_rate;
    pipeline_metrics_init(&p->m, m);
    if (pipeline_parts(p, props, err, errlen) != 0)
        goto fail;

    raw_parts = consumer_total_partitions(p->consumer);
    if (raw_parts <= 0) {
        snprintf(err, errlen, "raw topic %s has no partitions at %s",
                 s->raw_topic, s->brokers);
        goto fail;
    }
    if (publisher_ensure_topics(p->pub, cat, raw_parts, err, errlen) != 0)
        goto fail;
    ratelimit_set_share(p->rate, 0, raw_parts);
    atomic_store(&p->ready_kafka, 1);
    return p;

fail:
    pipeline_free(p);
    return NULL;
}

void pipeline_free(struct pipeline *p)
{
    if (p == NULL)
        return;
    p->closing = 1;
    /* Fetch callbacks still reach the fold: the fetcher goes first. */
    fetcher_free(p->fetcher);
    consumer_close(p->consumer);
    state_free(p->state);
    publisher_free(p->pub);
    for (size_t i = 0; i < p->nacked; i++)
        free(p->acked[i]);
    free(p->acked);
    ratelimit_free(p->rate);
    ledger_free(p->ledger);
    fold_free(p->fold);
    free(p->epochs);
    free(p);
}
