/*
 * publish.h - the records the enricher writes: enriched objects,
 * tombstones, DLQ records and state records.
 *
 * Downstream records follow the CloudEvents Kafka binding in binary
 * mode: the object JSON is the value, the id the key, and the event's
 * attributes are ce_* headers. ce_id is <raw topic>:<partition>:<offset>
 * of the newest notification the record answers, so reprocessing the same
 * input yields the same id; ce_source is "hookbridge/<customer>".
 *
 * The producer is idempotent with acks=all, and keys are placed with
 * murmur2 like the Java client, so any consumer finds them where it
 * expects. In the exactly-once mode it is transactional and each
 * transaction carries the raw offsets it answers.
 *
 * Each record may carry a ticket the pipeline allocates; it comes back
 * through the delivery callback, which runs inside publisher_poll() or
 * publisher_flush() on the pipeline thread, and the pipeline frees it.
 * All functions: the pipeline thread only.
 */
#ifndef HOOKBRIDGE_PUBLISH_H
#define HOOKBRIDGE_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "catalog.h"
#include "config.h"

struct enricher_settings;

enum publish_what { PUBLISH_OBJECT, PUBLISH_TOMBSTONE, PUBLISH_DLQ };

/* What a record answers; travels with it to its delivery report. */
struct publish_ticket {
    uint8_t what;      /* enum publish_what */
    uint32_t epoch;    /* the raw partition's epoch when produced */
    int32_t partition; /* raw partition */
    uint64_t hash;     /* content hash, for the state topic */
    int64_t since_ms;  /* first notification answered, for latency */
    uint32_t noffsets; /* raw offsets answered */
    int64_t *offsets;
    char key[]; /* raw key */
};

/*
 * A ticket for `noffsets` offsets of raw `partition`, answering `key`
 * (copied); one allocation the caller frees with free(). NULL on OOM.
 */
struct publish_ticket *publish_ticket_new(int what, const char *key,
                                          int32_t partition, uint32_t noffsets);

/* The CloudEvents facts of one downstream record. */
struct publish_ce {
    int32_t partition; /* of the newest raw notification answered */
    int64_t offset;
    const char *event_type; /* CandidateUpdated */
    const char *time;       /* its received-at (RFC 3339) */
};

/* Called once per ticketed record, err 0 when it was acknowledged. */
typedef void (*publish_done_fn)(void *arg, struct publish_ticket *t,
                                rd_kafka_resp_err_t err);

struct publisher;

/*
 * A producer (transactional when s->exactly_once; transactions are
 * initialised here). Returns NULL with `err` set. Borrows `s`.
 */
struct publisher *publisher_new(const struct enricher_settings *s,
                                const struct config_props *props,
                                publish_done_fn done, void *arg, char *err,
                                size_t errlen);

rd_kafka_t *publisher_handle(struct publisher *p);

/*
 * Creates what is missing: every catalog kind's topic and the state topic
 * (compacted; the state topic with `raw_partitions` partitions), and the
 * DLQ topic. Returns 0, or -1 with `err` set.
 */
int publisher_ensure_topics(struct publisher *p, const struct catalog *cat,
                            int raw_partitions, char *err, size_t errlen);

/*
 * Produces the object (value NULL: a tombstone) of `kind` under its id
 * with the CloudEvents headers. Takes the ticket over. Returns 0, or -1
 * when the producer refused (the ticket is then freed).
 */
int publish_object(struct publisher *p, const struct catalog_kind *kind,
                   const char *id, const char *value, size_t len,
                   const struct publish_ce *ce, struct publish_ticket *t);

/*
 * Produces a DLQ record: the raw record (fold_raw block `raw`) under
 * `key`, plus headers error and attempts. Takes the ticket over. Returns
 * 0 or -1 as publish_object().
 */
int publish_dlq(struct publisher *p, const char *key, const unsigned char *raw,
                const char *error, int attempts, struct publish_ticket *t);

/* Produces the state record of `key` to state partition `partition`. */
int publish_state(struct publisher *p, const char *key, int32_t partition,
                  uint64_t hash);

/* Serves delivery reports; returns how many. */
int publisher_poll(struct publisher *p, int timeout_ms);

/* Records not yet acknowledged. */
int publisher_queued(struct publisher *p);

/* Waits up to `timeout_ms` for every record; returns 0 when all are in. */
int publisher_flush(struct publisher *p, int timeout_ms);

/* Non-zero after a fatal producer error (the pipeline must stop). */
int publisher_failed(const struct publisher *p);

/* Exactly-once: opens a transaction unless one is open. 0 or -1. */
int publisher_txn_begin(struct publisher *p);

/* Non-zero while a transaction is open. */
int publisher_txn_open(const struct publisher *p);

enum { PUBLISH_TXN_OK = 0, PUBLISH_TXN_ABORTED = -1, PUBLISH_TXN_FATAL = -2 };

/*
 * Exactly-once: adds `offsets` (raw topic, next offset to read) for the
 * group of `consumer` and commits the open transaction. On an abortable
 * failure the transaction is aborted and PUBLISH_TXN_ABORTED returned:
 * the caller rewinds to the committed offsets. PUBLISH_TXN_FATAL means
 * the producer is unusable.
 */
int publisher_txn_commit(struct publisher *p, rd_kafka_t *consumer,
                         const rd_kafka_topic_partition_list_t *offsets);

void publisher_free(struct publisher *p);

#endif
