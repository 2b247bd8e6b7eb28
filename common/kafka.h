/*
 * kafka.h - librdkafka setup shared by the ingest and the enricher.
 *
 * Builds client configurations the same way in both binaries: our
 * settings first, then every property the user passed through
 * (--rdkafka / HOOKBRIDGE_RDKAFKA_*), so a user can override anything,
 * SASL and TLS included, without a code change. librdkafka's own log
 * lines are routed into log.h's format.
 */
#ifndef HOOKBRIDGE_KAFKA_H
#define HOOKBRIDGE_KAFKA_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

/*
 * A new configuration with bootstrap.servers = `brokers`, client.id =
 * `client_id`, the log callback set, then `props` applied. Returns NULL
 * with `err` naming the property that librdkafka refused. The caller owns
 * the result (rd_kafka_new() takes it over).
 */
rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *client_id,
                                const struct config_props *props, char *err,
                                size_t errlen);

/* Sets one property; on failure `err` names it. Returns 0 or -1. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                   char *err, size_t errlen);

/*
 * Creates `topic` if it does not exist, with `partitions` partitions,
 * the broker's default replication factor and the config pairs in
 * `configs` ({"cleanup.policy", "compact", NULL}; may be NULL). An
 * existing topic is left as it is. Waits up to `timeout_ms`. Returns 0, or
 * -1 with `err` set. Any thread; blocks.
 */
int kafka_topic_ensure(rd_kafka_t *rk, const char *topic, int partitions,
                       const char *const *configs, int timeout_ms, char *err,
                       size_t errlen);

#endif
