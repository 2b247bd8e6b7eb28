/*
 * publish.c - downstream, DLQ and state records; see publish.h.
 */
#include "publish.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "consume.h"
#include "fold.h"
#include "kafka.h"
#include "log.h"
#include "pipeline.h"
#include "state.h"

enum {
    PUBLISH_TOPIC_TIMEOUT_MS = 15000,
    PUBLISH_TXN_TIMEOUT_MS = 30000,
    PUBLISH_QUEUE_WAIT_MS = 100,
};

struct publisher {
    rd_kafka_t *rk;
    const struct enricher_settings *s;
    publish_done_fn done;
    void *arg;
    int transactional;
    int txn_open;
    volatile int failed;
    char source[256];
};

struct publish_ticket *publish_ticket_new(int what, const char *key,
                                          int32_t partition, uint32_t noffsets)
{
    size_t keylen = strlen(key);
    /* Offsets go after the key, aligned for int64_t. */
    size_t at = (sizeof(struct publish_ticket) + keylen + 1 + 7) & ~(size_t)7;
    struct publish_ticket *t = malloc(at + noffsets * sizeof(int64_t));

    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof(*t));
    t->what = (uint8_t)what;
    t->partition = partition;
    t->noffsets = noffsets;
    t->offsets = (int64_t *)(void *)((char *)t + at);
    memcpy(t->key, key, keylen + 1);
    return t;
}

static void publish_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m,
                              void *opaque)
{
    struct publisher *p = opaque;

    (void)rk;
    if (m->_private != NULL)
        p->done(p->arg, m->_private, m->err);
    else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_warn("state record not stored topic=%s error=%s",
                 rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
}

static void publish_error(rd_kafka_t *rk, int err, const char *reason,
                          void *opaque)
{
    struct publisher *p = opaque;
    char why[256];

    if (err != RD_KAFKA_RESP_ERR__FATAL) {
        log_warn("producer error error=%s reason=%s",
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
        return;
    }
    rd_kafka_fatal_error(rk, why, sizeof(why));
    log_error("producer failed for good error=%s; stopping", why);
    p->failed = 1;
}

static rd_kafka_conf_t *publish_conf(const struct enricher_settings *s,
                                     const struct config_props *props,
                                     char *err, size_t errlen)
{
    char txn_id[512];
    const char *const pairs[] = {
        "acks",      "all",         "enable.idempotence",
        "true",      "partitioner", "murmur2_random",
        "linger.ms", "5",           NULL,
    };
    /* A crashed process's open transaction blocks read_committed readers
     * until the broker times it out; a short timeout bounds that. */
    const char *const txn_pairs[] = {
        "transactional.id", txn_id, "transaction.timeout.ms", "10000", NULL,
    };
    rd_kafka_conf_t *conf =
        kafka_conf_new(s->brokers, "hookbridge-enricher", props, err, errlen);

    snprintf(txn_id, sizeof(txn_id), "%s-%ld-%ld", s->group_id, (long)getpid(),
             (long)time(NULL));
    if (conf == NULL)
        return NULL;
    if (consume_conf_defaults(conf, pairs, props, err, errlen) != 0 ||
        (s->exactly_once &&
         consume_conf_defaults(conf, txn_pairs, props, err, errlen) != 0)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static int publish_init_txn(struct publisher *p, char *err, size_t errlen)
{
    rd_kafka_error_t *e =
        rd_kafka_init_transactions(p->rk, PUBLISH_TXN_TIMEOUT_MS);

    if (e == NULL)
        return 0;
    snprintf(err, errlen, "cannot start transactions: %s",
             rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
}

struct publisher *publisher_new(const struct enricher_settings *s,
                                const struct config_props *props,
                                publish_done_fn done, void *arg, char *err,
                                size_t errlen)
{
    struct publisher *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;
    char why[512];

    if (p == NULL || (conf = publish_conf(s, props, err, errlen)) == NULL)
        goto fail;
    p->s = s;
    p->done = done;
    p->arg = arg;
    p->transactional = s->exactly_once;
    snprintf(p->source, sizeof(p->source), "hookbridge/%s", s->api_customer);
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, publish_delivered);
    rd_kafka_conf_set_error_cb(conf, publish_error);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (p->rk == NULL) {
        snprintf(err, errlen, "cannot create the producer: %s", why);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (p->transactional && publish_init_txn(p, err, errlen) != 0)
        goto fail;
    return p;

fail:
    publisher_free(p);
    return NULL;
}

rd_kafka_t *publisher_handle(struct publisher *p)
{
    return p->rk;
}

int publisher_ensure_topics(struct publisher *p, const struct catalog *cat,
                            int raw_partitions, char *err, size_t errlen)
{
    const char *const compact[] = {"cleanup.policy", "compact", NULL};
    int parts = (int)p->s->topic_partitions;

    for (size_t i = 0; i < cat->nkinds; i++)
        if (kafka_topic_ensure(p->rk, cat->kinds[i].topic, parts, compact,
                               PUBLISH_TOPIC_TIMEOUT_MS, err, errlen) != 0)
            return -1;
    if (kafka_topic_ensure(p->rk, p->s->dlq_topic, parts, NULL,
                           PUBLISH_TOPIC_TIMEOUT_MS, err, errlen) != 0)
        return -1;
    return kafka_topic_ensure(p->rk, p->s->state_topic, raw_partitions, compact,
                              PUBLISH_TOPIC_TIMEOUT_MS, err, errlen);
}

/* Produces, waiting while the local queue is full. Takes `hdrs` over. */
static int publish_produce(struct publisher *p, const char *topic,
                           int32_t partition, const void *key, size_t keylen,
                           const void *value, size_t len,
                           rd_kafka_headers_t *hdrs, void *opaque)
{
    rd_kafka_resp_err_t e;

    for (;;) {
        e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(p->rk, PUBLISH_QUEUE_WAIT_MS);
    }
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    log_error("cannot produce topic=%s error=%s", topic, rd_kafka_err2str(e));
    if (hdrs != NULL)
        rd_kafka_headers_destroy(hdrs);
    return -1;
}

static void header_add(rd_kafka_headers_t *h, const char *name,
                       const char *value)
{
    rd_kafka_header_add(h, name, -1, value, -1);
}

static rd_kafka_headers_t *publish_ce_headers(struct publisher *p,
                                              const struct catalog_kind *kind,
                                              const char *id,
                                              const struct publish_ce *ce)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    char text[1024];

    header_add(h, "ce_specversion", "1.0");
    snprintf(text, sizeof(text), "%s:%" PRId32 ":%" PRId64, p->s->raw_topic,
             ce->partition, ce->offset);
    header_add(h, "ce_id", text);
    header_add(h, "ce_source", p->source);
    snprintf(text, sizeof(text), "hrm.%s", ce->event_type);
    header_add(h, "ce_type", text);
    snprintf(text, sizeof(text), "%s/%s", kind->name, id);
    header_add(h, "ce_subject", text);
    if (ce->time != NULL && ce->time[0] != '\0')
        header_add(h, "ce_time", ce->time);
    header_add(h, "content-type", "application/json");
    return h;
}

int publish_object(struct publisher *p, const struct catalog_kind *kind,
                   const char *id, const char *value, size_t len,
                   const struct publish_ce *ce, struct publish_ticket *t)
{
    rd_kafka_headers_t *h = publish_ce_headers(p, kind, id, ce);

    if (publish_produce(p, kind->topic, RD_KAFKA_PARTITION_UA, id, strlen(id),
                        value, value ? len : 0, h, t) == 0)
        return 0;
    free(t);
    return -1;
}

int publish_dlq(struct publisher *p, const char *key, const unsigned char *raw,
                const char *error, int attempts, struct publish_ticket *t)
{
    size_t n = fold_raw_nheaders(raw), len;
    rd_kafka_headers_t *h = rd_kafka_headers_new(n + 2);
    struct fold_header fh;
    int has_value;
    char num[16];

    for (size_t i = 0; i < n; i++) {
        fold_raw_header(raw, i, &fh);
        rd_kafka_header_add(h, fh.name, -1, fh.value, (ssize_t)fh.len);
    }
    header_add(h, "error", error);
    snprintf(num, sizeof(num), "%d", attempts);
    header_add(h, "attempts", num);

    const void *value = fold_raw_value(raw, &len, &has_value);
    if (publish_produce(p, p->s->dlq_topic, RD_KAFKA_PARTITION_UA, key,
                        strlen(key), has_value ? value : NULL, len, h, t) == 0)
        return 0;
    free(t);
    return -1;
}

int publish_state(struct publisher *p, const char *key, int32_t partition,
                  uint64_t hash)
{
    char hex[17];

    state_hash_hex(hash, hex);
    return publish_produce(p, p->s->state_topic, partition, key, strlen(key),
                           hex, 16, NULL, NULL);
}

int publisher_poll(struct publisher *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

int publisher_queued(struct publisher *p)
{
    return rd_kafka_outq_len(p->rk);
}

int publisher_flush(struct publisher *p, int timeout_ms)
{
    return rd_kafka_flush(p->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0
                                                                           : -1;
}

int publisher_failed(const struct publisher *p)
{
    return p->failed;
}

int publisher_txn_begin(struct publisher *p)
{
    rd_kafka_error_t *e;

    if (!p->transactional || p->txn_open)
        return 0;
    e = rd_kafka_begin_transaction(p->rk);
    if (e != NULL) {
        log_error("cannot begin a transaction error=%s",
                  rd_kafka_error_string(e));
        if (rd_kafka_error_is_fatal(e))
            p->failed = 1;
        rd_kafka_error_destroy(e);
        return -1;
    }
    p->txn_open = 1;
    return 0;
}

int publisher_txn_open(const struct publisher *p)
{
    return p->txn_open;
}

/* Aborts after a failed step; returns what the caller must do. */
static int publish_txn_fail(struct publisher *p, rd_kafka_error_t *e,
                            const char *step)
{
    int fatal = rd_kafka_error_is_fatal(e);

    log_error("transaction %s failed error=%s; %s", step,
              rd_kafka_error_string(e),
              fatal ? "stopping" : "aborting and rewinding");
    rd_kafka_error_destroy(e);
    p->txn_open = 0;
    if (fatal) {
        p->failed = 1;
        return PUBLISH_TXN_FATAL;
    }
    e = rd_kafka_abort_transaction(p->rk, PUBLISH_TXN_TIMEOUT_MS);
    if (e != NULL) {
        log_error("transaction abort failed error=%s; stopping",
                  rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        p->failed = 1;
        return PUBLISH_TXN_FATAL;
    }
    return PUBLISH_TXN_ABORTED;
}

int publisher_txn_commit(struct publisher *p, rd_kafka_t *consumer,
                         const rd_kafka_topic_partition_list_t *offsets)
{
    rd_kafka_error_t *e = NULL;

    if (!p->txn_open)
        return PUBLISH_TXN_OK;
    if (offsets != NULL && offsets->cnt > 0) {
        rd_kafka_consumer_group_metadata_t *meta =
            rd_kafka_consumer_group_metadata(consumer);
        e = rd_kafka_send_offsets_to_transaction(p->rk, offsets, meta,
                                                 PUBLISH_TXN_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(meta);
        if (e != NULL)
            return publish_txn_fail(p, e, "send offsets");
    }
    e = rd_kafka_commit_transaction(p->rk, PUBLISH_TXN_TIMEOUT_MS);
    if (e != NULL)
        return publish_txn_fail(p, e, "commit");
    p->txn_open = 0;
    return PUBLISH_TXN_OK;
}

void publisher_free(struct publisher *p)
{
    if (p == NULL)
        return;
    if (p->rk != NULL)
        rd_kafka_destroy(p->rk);
    free(p);
}
