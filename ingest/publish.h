/*
 * publish.h - durable writes of notifications to Kafka.
 *
 * One idempotent producer (acks=all) for the whole process. A request
 * thread hands over one record and waits, on a waiter of its own, for
 * the delivery report, so a 200 is only ever sent for a record every
 * in-sync replica holds. The wait is bounded by the ack timeout, which is
 * also librdkafka's message.timeout.ms, so the producer gives up on the
 * record at about the time the client is told 503.
 */
#ifndef HOOKBRIDGE_PUBLISH_H
#define HOOKBRIDGE_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "metrics.h"

struct publish;

struct publish_options {
    const char *brokers;
    const struct config_props *props; /* user's librdkafka properties */
    int ack_timeout_ms;
    struct metrics *metrics; /* registers latency, queue and error series */
};

enum publish_result {
    PUBLISH_STORED,     /* acknowledged by all in-sync replicas */
    PUBLISH_TIMEOUT,    /* no acknowledgement within the ack timeout */
    PUBLISH_QUEUE_FULL, /* the local producer queue is full */
    PUBLISH_FAILED,     /* Kafka or librdkafka refused the record */
};

struct publish_record {
    const char *topic;
    const char *key;
    const void *value;
    size_t value_len;
    const char *event_type;  /* header event-type */
    const char *received_at; /* header received-at */
};

/* Where a stored record landed, or why it did not. */
struct publish_outcome {
    int32_t partition;
    int64_t offset;
    char error[128];
};

/*
 * Creates the producer and its delivery-report thread. Returns NULL with
 * `err` naming the refused property. Call from main().
 */
struct publish *publish_new(const struct publish_options *opt, char *err,
                            size_t errlen);

/* The producer handle, for metadata probes and topic creation. */
rd_kafka_t *publish_handle(struct publish *p);

/*
 * Produces `r` and blocks until it is stored, refused or the ack timeout
 * passes. Copies everything it needs: `r` may be freed on return. Fills
 * `out`. Any thread; many at once.
 */
enum publish_result publish_send(struct publish *p,
                                 const struct publish_record *r,
                                 struct publish_outcome *out);

/*
 * False once the producer has hit a fatal error (its idempotence state is
 * lost) and can store nothing more; a restart is needed. Any thread.
 */
bool publish_usable(struct publish *p);

/*
 * When Kafka last acknowledged a record, in CLOCK_MONOTONIC milliseconds,
 * or -1 before the first. Any thread; never blocks.
 */
int64_t publish_acked_ms(struct publish *p);

/*
 * True when the latest record to get a verdict was acknowledged: false
 * before the first, and after one that Kafka did not store within the
 * ack timeout or that could not be queued. Any thread; never blocks.
 */
bool publish_last_stored(struct publish *p);

/*
 * Waits up to the ack timeout for records still queued, stops the
 * delivery-report thread and frees the producer. Call once, from main(),
 * after no request thread can call publish_send() any more.
 */
void publish_free(struct publish *p);

#endif
