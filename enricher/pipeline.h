/*
 * pipeline.h - the enricher's one loop, from raw record to enriched one.
 *
 * One thread owns everything on the hot path, so nothing there takes a
 * lock: it polls the raw topic (consume.h), folds the notifications per
 * key (fold.h), starts the fetches that are due within the API budget
 * (ratelimit.h, fetch.h), turns the answers into downstream records,
 * tombstones or DLQ records (publish.h), remembers what it published
 * (state.h) and commits the raw offsets whose records are all answered
 * (commit.h). Only the metrics and the readiness flag are read from
 * another thread (the health server's), and they are atomics.
 */
#ifndef HOOKBRIDGE_PIPELINE_H
#define HOOKBRIDGE_PIPELINE_H

#include <stdbool.h>

#include "catalog.h"
#include "config.h"
#include "metrics.h"

/* Every setting of hookbridge-enricher; main.c's table fills it. */
struct enricher_settings {
    char *brokers;
    char *catalog;
    char *raw_topic;
    char *api_base; /* ends in '/' once main.c has checked it */
    char *api_customer;
    char *api_key;
    char *api_key_file;
    long api_rate;
    long window_ms;
    char *group_id;
    char *metrics_listen;
    char *dlq_topic;
    char *state_topic;
    long topic_partitions;
    bool exactly_once;
    long api_concurrency;
    long api_timeout_ms;
    long api_max_attempts;
    long api_backoff_ms;
    long auth_retry_ms;
    long max_pending_keys;
    int log_level;
};

struct pipeline;

/*
 * Connects to Kafka, makes sure the downstream, DLQ and state topics
 * exist, registers the metrics in `m` and subscribes to the raw topic.
 * Borrows `s`, `props`, `cat` and `m`: they must outlive the pipeline.
 * Returns NULL with `err` set when something cannot start. Call from
 * main() before pipeline_run().
 */
struct pipeline *pipeline_new(const struct enricher_settings *s,
                              const struct config_props *props,
                              const struct catalog *cat, struct metrics *m,
                              char *err, size_t errlen);

/*
 * Runs the loop until pipeline_stop() is called, then finishes the window
 * in hand within a bounded time, commits, leaves the group and flushes
 * the producer. Returns 0 on a clean stop, -1 after a fatal Kafka error.
 * Call from the thread that created the pipeline.
 */
int pipeline_run(struct pipeline *p);

/* Asks the loop to stop; async-signal-safe (it sets a flag). */
void pipeline_stop(struct pipeline *p);

/* Non-zero while Kafka is reachable and the API key is accepted; any
 * thread (the health server asks). */
int pipeline_ready(void *p);

void pipeline_free(struct pipeline *p);

#endif
