/*
 * state.c - the last published hash per key; see state.h.
 *
 * A chained hash table of small entries (hash, partition, key inline);
 * the loader is a consumer of its own that assigns partitions directly
 * and never joins a group or commits.
 */
#include "state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume.h"
#include "kafka.h"
#include "log.h"
#include "pipeline.h"

enum { STATE_BUCKETS_MIN = 1024, STATE_KEY_MAX = 512 };

struct state_entry {
    struct state_entry *next;
    uint64_t hash;
    int32_t partition;
    char key[];
};

struct state {
    struct state_entry **buckets;
    size_t nbuckets, count;
    rd_kafka_t *reader;
    const char *topic;
};

static uint64_t state_key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *key != '\0'; key++) {
        h ^= (unsigned char)*key;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct state_entry **state_slot(const struct state *st, const char *key)
{
    struct state_entry **slot =
        &st->buckets[state_key_hash(key) & (st->nbuckets - 1)];

    while (*slot != NULL && strcmp((*slot)->key, key) != 0)
        slot = &(*slot)->next;
    return slot;
}

static rd_kafka_t *state_reader_new(const struct enricher_settings *s,
                                    const struct config_props *props, char *err,
                                    size_t errlen)
{
    char group[512], why[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;

    /* librdkafka wants a group id for its consumer queue; this one is
     * never joined or committed to. */
    snprintf(group, sizeof(group), "%s.state-reader", s->group_id);
    const char *const pairs[] = {
        "group.id",
        group,
        "enable.auto.commit",
        "false",
        "isolation.level",
        "read_committed",
        "enable.partition.eof",
        "true",
        NULL,
    };
    conf = kafka_conf_new(s->brokers, "hookbridge-enricher-state", props, err,
                          errlen);
    if (conf == NULL)
        return NULL;
    if (consume_conf_defaults(conf, pairs, props, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (rk == NULL) {
        snprintf(err, errlen, "cannot create the state reader: %s", why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

struct state *state_new(const struct enricher_settings *s,
                        const struct config_props *props, char *err,
                        size_t errlen)
{
    struct state *st = calloc(1, sizeof(*st));

    if (st == NULL)
        goto fail;
    st->nbuckets = STATE_BUCKETS_MIN;
    st->buckets = calloc(st->nbuckets, sizeof(*st->buckets));
    st->topic = s->state_topic;
    if (st->buckets == NULL)
        goto fail;
    st->reader = state_reader_new(s, props, err, errlen);
    if (st->reader == NULL)
        goto fail;
    return st;

fail:
    if (st == NULL || st->buckets == NULL)
        snprintf(err, errlen, "out of memory");
    state_free(st);
    return NULL;
}

static void state_clear(struct state *st, int32_t partition, int all)
{
    for (size_t i = 0; i < st->nbuckets; i++) {
        struct state_entry **slot = &st->buckets[i];
        while (*slot != NULL) {
            struct state_entry *e = *slot;
            if (all || e->partition == partition) {
                *slot = e->next;
                free(e);
                st->count--;
            } else {
                slot = &e->next;
            }
        }
    }
}

void state_free(struct state *st)
{
    if (st == NULL)
        return;
    if (st->buckets != NULL)
        state_clear(st, 0, 1);
    if (st->reader != NULL) {
        rd_kafka_consumer_close(st->reader);
        rd_kafka_destroy(st->reader);
    }
    free(st->buckets);
    free(st);
}

int state_get(const struct state *st, const char *key, uint64_t *hash)
{
    const struct state_entry *e = *state_slot(st, key);

    if (e == NULL)
        return -1;
    *hash = e->hash;
    return 0;
}

static void state_grow(struct state *st)
{
    size_t n = st->nbuckets * 2;
    struct state_entry **b = calloc(n, sizeof(*b));

    if (b == NULL)
        return; /* longer chains: slower, still right */
    for (size_t i = 0; i < st->nbuckets; i++) {
        struct state_entry *e = st->buckets[i];
        while (e != NULL) {
            struct state_entry *next = e->next;
            size_t j = state_key_hash(e->key) & (n - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = n;
}

int state_set(struct state *st, const char *key, int32_t partition,
              uint64_t hash)
{
    struct state_entry **slot = state_slot(st, key);

    if (*slot == NULL) {
        size_t len = strlen(key);
        struct state_entry *e = malloc(sizeof(*e) + len + 1);
        if (e == NULL)
            return -1;
        memcpy(e->key, key, len + 1);
        e->next = NULL;
        *slot = e;
        st->count++;
    }
    (*slot)->hash = hash;
    (*slot)->partition = partition;
    if (st->count > st->nbuckets)
        state_grow(st);
    return 0;
}

void state_drop_partition(struct state *st, int32_t partition)
{
    state_clear(st, partition, 0);
}

size_t state_count(const struct state *st)
{
    return st->count;
}

void state_hash_hex(uint64_t hash, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, hash);
}

/* Applies one state record: a hash, or a null value (forgotten). */
static void state_apply(struct state *st, const rd_kafka_message_t *m)
{
    char key[STATE_KEY_MAX], hex[17];
    char *end;

    if (m->key == NULL || m->key_len == 0 || m->key_len >= sizeof(key))
        return;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (m->payload == NULL || m->len != 16) {
        struct state_entry **slot = state_slot(st, key);
        if (*slot != NULL) {
            struct state_entry *e = *slot;
            *slot = e->next;
            free(e);
            st->count--;
        }
        return;
    }
    memcpy(hex, m->payload, 16);
    hex[16] = '\0';
    uint64_t hash = strtoull(hex, &end, 16);
    if (*end == '\0')
        state_set(st, key, m->partition, hash);
}

/* Reads until every partition reported its end or the time is up. */
static long state_read(struct state *st, int want, int timeout_ms)
{
    rd_kafka_message_t *m;
    int64_t left = timeout_ms;
    long n = 0;
    int ended = 0;

    while (ended < want && left > 0) {
        m = rd_kafka_consumer_poll(st->reader, 100);
        left -= m == NULL ? 100 : 0;
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            ended++;
        else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            state_apply(st, m);
            n++;
        } else
            log_warn("state topic read error topic=%s error=%s", st->topic,
                     rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    return ended < want ? -1 : n;
}

long state_load(struct state *st, const rd_kafka_topic_partition_list_t *ps,
                int timeout_ms)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new(ps->cnt > 0 ? ps->cnt : 1);
    long n;

    for (int i = 0; i < ps->cnt; i++) {
        state_drop_partition(st, ps->elems[i].partition);
        rd_kafka_topic_partition_list_add(list, st->topic,
                                          ps->elems[i].partition)
            ->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(st->reader, list);
    n = state_read(st, list->cnt, timeout_ms);
    rd_kafka_assign(st->reader, NULL);
    rd_kafka_topic_partition_list_destroy(list);
    return n;
}
