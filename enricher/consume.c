/*
 * consume.c - the raw topic consumer; see consume.h.
 */
#include "consume.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kafka.h"
#include "log.h"
#include "pipeline.h"

enum {
    CONSUME_KEY_MAX = 512,    /* kind:id longer than this is not ours */
    CONSUME_HEADERS_MAX = 64, /* headers kept for the DLQ */
    CONSUME_TYPE_MAX = 128,   /* an event type name */
    CONSUME_META_TIMEOUT_MS = 10000,
};

struct consumer {
    rd_kafka_t *rk;
    const char *topic;
    struct consume_hooks hooks;
    int assigned;
    int total;
    int paused;
    int down;     /* all brokers unreachable, per librdkafka */
    int32_t *ids; /* the assigned partitions, `assigned` of them */
    int capids;
};

int consume_conf_defaults(rd_kafka_conf_t *conf, const char *const *pairs,
                          const struct config_props *props, char *err,
                          size_t errlen)
{
    for (size_t i = 0; pairs[i] != NULL; i += 2) {
        int given = 0;
        for (size_t k = 0; props != NULL && k < props->count; k++)
            given |= strcmp(props->name[k], pairs[i]) == 0;
        if (!given && kafka_conf_set(conf, pairs[i], pairs[i + 1], err, errlen))
            return -1;
    }
    return 0;
}

/* The raw topic's partition count from the broker, or -1. */
static int consume_partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;

    if (t == NULL)
        return -1;
    if (rd_kafka_metadata(rk, 0, t, &md, CONSUME_META_TIMEOUT_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}

/* Keeps the id list in step with the assignment. */
static void consume_ids_add(struct consumer *c,
                            const rd_kafka_topic_partition_list_t *ps)
{
    int need = c->assigned + ps->cnt;

    if (need > c->capids) {
        int32_t *ids = realloc(c->ids, (size_t)need * sizeof(*ids));
        if (ids == NULL)
            abort(); /* a few bytes per partition, at assignment time */
        c->ids = ids;
        c->capids = need;
    }
    for (int i = 0; i < ps->cnt; i++)
        c->ids[c->assigned++] = ps->elems[i].partition;
}

static void consume_ids_remove(struct consumer *c,
                               const rd_kafka_topic_partition_list_t *ps)
{
    int kept = 0;

    for (int i = 0; i < c->assigned; i++) {
        int gone = 0;
        for (int k = 0; k < ps->cnt; k++)
            gone |= ps->elems[k].partition == c->ids[i];
        if (!gone)
            c->ids[kept++] = c->ids[i];
    }
    c->assigned = kept;
}

static void consume_assign(struct consumer *c,
                           rd_kafka_topic_partition_list_t *ps)
{
    int total = consume_partition_count(c->rk, c->topic);
    rd_kafka_error_t *error;

    if (total > 0)
        c->total = total;
    consume_ids_add(c, ps);
    c->hooks.assigned(c->hooks.arg, ps);
    error = rd_kafka_incremental_assign(c->rk, ps);
    if (error != NULL) {
        log_error("cannot take assigned partitions error=%s",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (c->paused)
        rd_kafka_pause_partitions(c->rk, ps);
}

static void consume_revoke(struct consumer *c,
                           rd_kafka_topic_partition_list_t *ps)
{
    int lost = rd_kafka_assignment_lost(c->rk);
    rd_kafka_error_t *error;

    consume_ids_remove(c, ps);
    c->hooks.revoked(c->hooks.arg, ps, lost);
    error = rd_kafka_incremental_unassign(c->rk, ps);
    if (error != NULL) {
        log_error("cannot give up revoked partitions error=%s",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

static void consume_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t *ps, void *opaque)
{
    struct consumer *c = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        consume_assign(c, ps);
    else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        consume_revoke(c, ps);
    else
        log_error("rebalance failed error=%s", rd_kafka_err2str(err));
}

static void consume_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t *offsets,
                              void *opaque)
{
    (void)rk;
    (void)opaque;
    (void)offsets;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
        err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("offset commit failed error=%s; the next commit retries",
                 rd_kafka_err2str(err));
}

static void consume_error(rd_kafka_t *rk, int err, const char *reason,
                          void *opaque)
{
    struct consumer *c = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        c->down = 1;
    log_warn("consumer error error=%s reason=%s",
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static rd_kafka_conf_t *consume_conf(const struct enricher_settings *s,
                                     const struct config_props *props,
                                     char *err, size_t errlen)
{
    const char *const pairs[] = {
        "group.id",
        s->group_id,
        "enable.auto.commit",
        "false",
        "enable.auto.offset.store",
        "false",
        "auto.offset.reset",
        "earliest",
        "partition.assignment.strategy",
        "cooperative-sticky",
        "isolation.level",
        "read_committed",
        /* The prefetch queue and the fetch responses would otherwise be
         * the largest memory users; notifications wait in the fold, not
         * in the queue. */
        "queued.max.messages.kbytes",
        "2048",
        "fetch.max.bytes",
        "4194304",
        NULL,
    };
    rd_kafka_conf_t *conf =
        kafka_conf_new(s->brokers, "hookbridge-enricher", props, err, errlen);

    if (conf == NULL)
        return NULL;
    if (consume_conf_defaults(conf, pairs, props, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

struct consumer *consumer_new(const struct enricher_settings *s,
                              const struct config_props *props,
                              const struct consume_hooks *hooks, char *err,
                              size_t errlen)
{
    struct consumer *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    char why[512];

    if (c == NULL || (conf = consume_conf(s, props, err, errlen)) == NULL)
        goto fail;
    c->topic = s->raw_topic;
    c->hooks = *hooks;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, consume_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, consume_committed);
    rd_kafka_conf_set_error_cb(conf, consume_error);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (c->rk == NULL) {
        snprintf(err, errlen, "cannot create the consumer: %s", why);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->total = consume_partition_count(c->rk, c->topic);

    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, s->raw_topic,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "cannot subscribe to %s: %s", s->raw_topic,
                 rd_kafka_err2str(e));
        goto fail;
    }
    return c;

fail:
    if (c != NULL && c->rk != NULL)
        rd_kafka_destroy(c->rk);
    free(c);
    return NULL;
}

rd_kafka_t *consumer_handle(struct consumer *c)
{
    return c->rk;
}

int consumer_poll(struct consumer *c, int timeout_ms, int max,
                  void (*fn)(void *arg, const rd_kafka_message_t *m), void *arg)
{
    int taken = 0;

    while (taken < max) {
        rd_kafka_message_t *m =
            rd_kafka_consumer_poll(c->rk, taken == 0 ? timeout_ms : 0);
        if (m == NULL)
            break;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            fn(arg, m);
            taken++;
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            log_warn("consume error partition=%d error=%s", (int)m->partition,
                     rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    return taken;
}

void consumer_pause(struct consumer *c, int paused)
{
    rd_kafka_topic_partition_list_t *ps = NULL;

    if (c->paused == paused)
        return;
    c->paused = paused;
    if (rd_kafka_assignment(c->rk, &ps) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (paused)
        rd_kafka_pause_partitions(c->rk, ps);
    else
        rd_kafka_resume_partitions(c->rk, ps);
    rd_kafka_topic_partition_list_destroy(ps);
}

int consumer_reachable(struct consumer *c, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;

    if (!c->down)
        return 1;
    if (rd_kafka_metadata(c->rk, 0, NULL, &md, timeout_ms) ==
        RD_KAFKA_RESP_ERR_NO_ERROR)
        c->down = 0;
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    return !c->down;
}

int consumer_assigned(const struct consumer *c)
{
    return c->assigned;
}

int consumer_partitions(const struct consumer *c, const int32_t **ids)
{
    *ids = c->ids;
    return c->assigned;
}

int consumer_total_partitions(const struct consumer *c)
{
    return c->total > 0 ? c->total : 0;
}

static int consume_in(const rd_kafka_topic_partition_list_t *only,
                      const rd_kafka_topic_partition_t *p)
{
    return only == NULL ||
           rd_kafka_topic_partition_list_find(only, p->topic, p->partition);
}

int consumer_commit(struct consumer *c, struct ledger *l,
                    const rd_kafka_topic_partition_list_t *only, int sync)
{
    rd_kafka_topic_partition_list_t *ps = NULL, *out = NULL;
    int rc = 0;

    if (rd_kafka_assignment(c->rk, &ps) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    out = rd_kafka_topic_partition_list_new(ps->cnt > 0 ? ps->cnt : 1);
    for (int i = 0; i < ps->cnt; i++) {
        int32_t part = ps->elems[i].partition;
        int64_t off = ledger_committable(l, part);
        if (off >= 0 && off > ledger_committed(l, part) &&
            consume_in(only, &ps->elems[i]))
            rd_kafka_topic_partition_list_add(out, c->topic, part)->offset =
                off;
    }

    if (out->cnt > 0) {
        rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, out, !sync);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("offset commit failed error=%s", rd_kafka_err2str(e));
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < out->cnt; i++)
            ledger_set_committed(l, out->elems[i].partition,
                                 out->elems[i].offset);
    }
    rd_kafka_topic_partition_list_destroy(out);
    rd_kafka_topic_partition_list_destroy(ps);
    return rc;
}

int64_t consumer_lag(struct consumer *c)
{
    rd_kafka_topic_partition_list_t *ps = NULL;
    int64_t lag = 0;

    if (rd_kafka_assignment(c->rk, &ps) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    rd_kafka_position(c->rk, ps);
    for (int i = 0; i < ps->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(c->rk, c->topic,
                                           ps->elems[i].partition, &lo,
                                           &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        int64_t pos = ps->elems[i].offset >= 0 ? ps->elems[i].offset : lo;
        if (pos >= 0 && hi > pos)
            lag += hi - pos;
    }
    rd_kafka_topic_partition_list_destroy(ps);
    return lag;
}

int consumer_rewind(struct consumer *c, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *ps = NULL;
    rd_kafka_error_t *error;
    int rc = -1;

    if (rd_kafka_assignment(c->rk, &ps) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (rd_kafka_committed(c->rk, ps, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        goto out;
    for (int i = 0; i < ps->cnt; i++)
        if (ps->elems[i].offset < 0)
            ps->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    error = rd_kafka_seek_partitions(c->rk, ps, timeout_ms);
    if (error != NULL) {
        log_error("cannot rewind to the committed offsets error=%s",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        goto out;
    }
    rc = 0;

out:
    rd_kafka_topic_partition_list_destroy(ps);
    return rc;
}

void consumer_close(struct consumer *c)
{
    if (c == NULL)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c->ids);
    free(c);
}

/* ---- raw record to fold input ---- */

/*
 * fold_raw keeps a header name's length in 16 bits. Any Kafka client can
 * write a longer name; no header hookbridge reads or writes has one.
 */
static int consume_header_fits(const char *name)
{
    return strlen(name) <= UINT16_MAX;
}

unsigned char *consume_pack(const rd_kafka_message_t *m, size_t *dropped)
{
    struct fold_header hs[CONSUME_HEADERS_MAX];
    rd_kafka_headers_t *hdrs = NULL;
    size_t n = 0, skipped = 0;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);

    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0;
             n < CONSUME_HEADERS_MAX &&
             rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
                 RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            if (consume_header_fits(name))
                hs[n++] = (struct fold_header){name, val, size};
            else
                skipped++;
        }
    }
    if (dropped != NULL)
        *dropped = skipped;
    return fold_raw_pack(m->payload, m->len, m->payload != NULL, hs, n, ts);
}

/* The event type: header event-type, else the JSON field. */
static int consume_event_type(const struct catalog *cat,
                              const rd_kafka_message_t *m,
                              const unsigned char *raw, char *buf, size_t len)
{
    cJSON *doc, *field;
    int rc = -1;

    if (fold_raw_header_str(raw, "event-type", buf, len) == 0)
        return 0;
    if (m->payload == NULL)
        return -1;
    doc = cJSON_ParseWithLength(m->payload, m->len);
    field = cJSON_GetObjectItemCaseSensitive(doc, cat->event_type_field);
    if (cJSON_IsString(field) && strlen(field->valuestring) < len) {
        strcpy(buf, field->valuestring);
        rc = 0;
    }
    cJSON_Delete(doc);
    return rc;
}

/* Checks key and event type against the catalog; fills in->event. */
static int consume_check(const struct catalog *cat, const rd_kafka_message_t *m,
                         struct fold_input *in, char *why, size_t whylen)
{
    char kind[CONSUME_KEY_MAX], type[CONSUME_TYPE_MAX];
    const char *colon = m->key ? memchr(m->key, ':', m->key_len) : NULL;

    if (m->key == NULL || m->key_len >= CONSUME_KEY_MAX || colon == NULL ||
        colon == m->key ||
        (size_t)(colon - (const char *)m->key) + 1 == m->key_len ||
        memchr(m->key, '\0', m->key_len) != NULL) {
        snprintf(why, whylen, "invalid raw record: key is not kind:id");
        return -1;
    }
    memcpy(kind, m->key, (size_t)(colon - (const char *)m->key));
    kind[colon - (const char *)m->key] = '\0';
    if (consume_event_type(cat, m, in->raw, type, sizeof(type)) != 0) {
        snprintf(why, whylen, "invalid raw record: no event type");
        return -1;
    }

    in->event = catalog_lookup(cat, type);
    if (in->event == NULL || strcmp(in->event->kind->name, kind) != 0) {
        snprintf(why, whylen,
                 "invalid raw record: event type %s does not fit key kind %s",
                 type, kind);
        return -1;
    }
    return 0;
}

int consume_to_input(const struct catalog *cat, const rd_kafka_message_t *m,
                     struct fold_input *in, char *why, size_t whylen)
{
    size_t dropped;

    memset(in, 0, sizeof(*in));
    in->raw = consume_pack(m, &dropped);
    if (in->raw == NULL) {
        snprintf(why, whylen, "out of memory");
        return -2;
    }
    /* Such a record did not come from the ingest; stopping on it would
     * stop the enricher again on every restart. */
    if (dropped > 0) {
        free(in->raw);
        in->raw = NULL;
        snprintf(why, whylen,
                 "invalid raw record: a header name is over %d bytes",
                 UINT16_MAX);
        return -1;
    }
    if (consume_check(cat, m, in, why, whylen) != 0) {
        free(in->raw);
        in->raw = NULL;
        return -1;
    }
    in->key = m->key;
    in->keylen = m->key_len;
    in->partition = m->partition;
    in->offset = m->offset;
    return 0;
}
