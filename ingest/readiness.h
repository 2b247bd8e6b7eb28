/*
 * readiness.h - whether Kafka can take records right now.
 *
 * A background thread creates the raw and unrouted topics (retrying
 * until Kafka answers, so the ingest may start before its broker) and
 * then probes their metadata every two seconds. The ingest is ready while
 * the latest round succeeded recently; /readyz reports it, and hooks are
 * answered 503 at once while it is not and Kafka failed the last record
 * too (readiness_refuse), instead of holding a worker for the whole ack
 * timeout.
 *
 * A record Kafka acknowledged within the last round counts as much as a
 * probe: under heavy load a metadata request can wait behind produce
 * requests past its timeout while every record is still being stored.
 */
#ifndef HOOKBRIDGE_READINESS_H
#define HOOKBRIDGE_READINESS_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "metrics.h"
#include "publish.h"

struct readiness;

struct readiness_options {
    rd_kafka_t *rk; /* the producer; must outlive the readiness thread */
    struct publish *publish; /* its acknowledgements count as probes */
    const char *raw_topic;
    int raw_partitions;
    const char *unrouted_topic;
    struct metrics *metrics; /* registers the kafka-ready gauge */
};

/* Starts the thread. Returns NULL when it cannot. Call from main(). */
struct readiness *readiness_start(const struct readiness_options *opt);

/* True while Kafka answered a probe or acknowledged records lately. Any
 * thread; never blocks. */
bool readiness_ok(struct readiness *r);

/*
 * True when a hook should get the fast 503 without trying Kafka: not
 * ready, and the last record handed to Kafka was not stored either (or
 * none ever was). A probe can time out on a starved machine while Kafka
 * stores whatever it is given; an idle ingest then has no recent
 * acknowledgement to show, and refusing hooks would never earn one, so
 * hooks go on to Kafka and are answered by their own acknowledgement
 * until a record fails. Any thread; never blocks.
 */
bool readiness_refuse(struct readiness *r);

/* Stops and joins the thread (waits for a probe in progress); frees r. */
void readiness_stop(struct readiness *r);

#endif
