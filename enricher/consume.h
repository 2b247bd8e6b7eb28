/*
 * consume.h - the raw topic as a consumer group member.
 *
 * Joins the group with cooperative (incremental) rebalancing, so a new
 * replica takes partitions without stopping the others, and hands each
 * assignment change to the pipeline through hooks that run inside
 * consumer_poll(). Offsets are stored and committed only by the pipeline
 * (no auto commit), from its ledger. Also turns a raw record into fold
 * input, checking it against the catalog.
 *
 * All functions: the pipeline thread only.
 */
#ifndef HOOKBRIDGE_CONSUME_H
#define HOOKBRIDGE_CONSUME_H

#include <librdkafka/rdkafka.h>

#include "catalog.h"
#include "commit.h"
#include "config.h"
#include "fold.h"

struct enricher_settings;

/* Called from consumer_poll() when partitions are added or taken away.
 * `lost` is non-zero when they were lost (no commit is possible). */
struct consume_hooks {
    void (*assigned)(void *arg, const rd_kafka_topic_partition_list_t *ps);
    void (*revoked)(void *arg, const rd_kafka_topic_partition_list_t *ps,
                    int lost);
    void *arg;
};

struct consumer;

/*
 * A group member subscribed to the raw topic. Returns NULL with `err`
 * set. Borrows everything passed in.
 */
struct consumer *consumer_new(const struct enricher_settings *s,
                              const struct config_props *props,
                              const struct consume_hooks *hooks, char *err,
                              size_t errlen);

/* The librdkafka handle (for group metadata and seeks). */
rd_kafka_t *consumer_handle(struct consumer *c);

/*
 * Waits up to `timeout_ms` for the first record, then takes what is
 * already fetched, at most `max` records, calling `fn` for each (the
 * message is destroyed after `fn` returns). Returns the number taken.
 */
int consumer_poll(struct consumer *c, int timeout_ms, int max,
                  void (*fn)(void *arg, const rd_kafka_message_t *m),
                  void *arg);

/* Stops or restarts fetching from every assigned partition. */
void consumer_pause(struct consumer *c, int paused);

/*
 * Non-zero while the brokers are reachable. After librdkafka reported
 * them all down, asks for metadata (waiting up to `timeout_ms`) to see
 * whether they are back.
 */
int consumer_reachable(struct consumer *c, int timeout_ms);

/* Assigned raw partitions now, and the raw topic's partition count. */
int consumer_assigned(const struct consumer *c);
int consumer_total_partitions(const struct consumer *c);

/* The assigned partition ids (valid until the next poll); returns how
 * many. */
int consumer_partitions(const struct consumer *c, const int32_t **ids);

/*
 * Commits each assigned partition's committable offset that moved past
 * the last commit (`only`, when non-NULL, limits it to those
 * partitions). `sync` waits for the broker. Returns 0, -1 on failure.
 */
int consumer_commit(struct consumer *c, struct ledger *l,
                    const rd_kafka_topic_partition_list_t *only, int sync);

/* Records the broker has that this member has not consumed, summed over
 * its partitions (from cached watermarks; no broker round trip). */
int64_t consumer_lag(struct consumer *c);

/*
 * Moves every assigned partition back to its committed offset (the
 * exactly-once rewind after an aborted transaction). Returns 0 or -1.
 */
int consumer_rewind(struct consumer *c, int timeout_ms);

/* Leaves the group (the revoke hook runs) and frees. */
void consumer_close(struct consumer *c);

/*
 * Turns a raw record into fold input: the key must be kind:id with a
 * kind and event type (header event-type, else the catalog's event type
 * field of the JSON value) the catalog knows and agrees on. On success
 * fills `in` (in->raw is a fresh fold_raw block the caller owns) and
 * returns 0; on a record that can never be enriched returns -1 with the
 * reason in `why`; -2 on OOM.
 */
int consume_to_input(const struct catalog *cat, const rd_kafka_message_t *m,
                     struct fold_input *in, char *why, size_t whylen);

/*
 * Sets each name/value of `pairs` (NULL-terminated) on `conf` unless the
 * user passed that property through in `props`: our defaults, the
 * user's word last. Returns 0, or -1 with `err` naming the property.
 */
int consume_conf_defaults(rd_kafka_conf_t *conf, const char *const *pairs,
                          const struct config_props *props, char *err,
                          size_t errlen);

/*
 * Packs any record as fold_raw (also for the DLQ of a bad record); NULL
 * on OOM. Headers whose name fold_raw cannot hold are left out, and their
 * count stored in `*dropped` unless it is NULL.
 */
unsigned char *consume_pack(const rd_kafka_message_t *m, size_t *dropped);

#endif
