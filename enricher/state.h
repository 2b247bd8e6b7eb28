/*
 * state.h - what was last published for each key.
 *
 * An object whose content has not changed is not published again. To
 * know, the enricher keeps the content hash of the last record it
 * published per raw key, in memory and in a compacted state topic with as
 * many partitions as the raw topic, each key on the partition number of
 * its raw records. When a raw partition is assigned, its state partition
 * is read to its end first, so suppression survives restarts and
 * rebalances, and the exactly-once mode publishes each version once even
 * across a crash. The state topic value is the hash as 16 hex digits.
 *
 * All functions: the pipeline thread only.
 */
#ifndef HOOKBRIDGE_STATE_H
#define HOOKBRIDGE_STATE_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

struct state;
struct enricher_settings;

/*
 * An empty state with its own (non-group, read_committed) reader of the
 * state topic. Returns NULL with `err` set.
 */
struct state *state_new(const struct enricher_settings *s,
                        const struct config_props *props, char *err,
                        size_t errlen);
void state_free(struct state *st);

/* The hash last published for `key`; returns 0, or -1 when none is
 * known. */
int state_get(const struct state *st, const char *key, uint64_t *hash);

/* Remembers `hash` for `key` (on raw partition `partition`). Returns 0,
 * or -1 on OOM (the key is then published again next time). */
int state_set(struct state *st, const char *key, int32_t partition,
              uint64_t hash);

/* Forgets every key of `partition` (revoked: another replica owns it). */
void state_drop_partition(struct state *st, int32_t partition);

/*
 * Reads the state partitions matching the raw partitions in `ps` from
 * their beginning to their end, replacing what is known for them; waits
 * at most `timeout_ms`. Returns the number of records read, or -1 when
 * the end was not reached in time (what was read is kept).
 */
long state_load(struct state *st, const rd_kafka_topic_partition_list_t *ps,
                int timeout_ms);

/* Keys held, for logs. */
size_t state_count(const struct state *st);

/* Formats a hash as the 16 hex digits the state topic holds. */
void state_hash_hex(uint64_t hash, char out[17]);

#endif
