/*
 * kafka.c - librdkafka configuration and topic creation; see kafka.h.
 */
#include "kafka.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* The grace on top of the broker-side timeout before we stop waiting. */
enum { KAFKA_POLL_SLACK_MS = 1000 };

/* syslog severities from librdkafka, folded into our four levels. */
static enum log_level kafka_log_level(int syslog_level)
{
    if (syslog_level <= 3)
        return LOG_ERROR;
    if (syslog_level == 4)
        return LOG_WARN;
    if (syslog_level <= 6)
        return LOG_INFO;
    return LOG_DEBUG;
}

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    LOG_AT(kafka_log_level(level), "kafka: %s %s", fac, buf);
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                   char *err, size_t errlen)
{
    char why[256];

    assert(conf != NULL && name != NULL && value != NULL);
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "librdkafka property '%s': %s", name, why);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *client_id,
                                const struct config_props *props, char *err,
                                size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];

    if (kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
        kafka_conf_set(conf, "client.id", client_id, err, errlen))
        goto fail;
    rd_kafka_conf_set_log_cb(conf, kafka_log);

    for (size_t i = 0; props != NULL && i < props->count; i++) {
        if (rd_kafka_conf_set(conf, props->name[i], props->value[i], why,
                              sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "--rdkafka/HOOKBRIDGE_RDKAFKA_ '%s': %s",
                     props->name[i], why);
            goto fail;
        }
    }
    return conf;

fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static rd_kafka_NewTopic_t *kafka_new_topic(const char *topic, int partitions,
                                            const char *const *configs,
                                            char *err, size_t errlen)
{
    char why[256];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, partitions, -1, why, sizeof(why));

    if (nt == NULL) {
        snprintf(err, errlen, "topic '%s': %s", topic, why);
        return NULL;
    }
    for (size_t i = 0; configs != NULL && configs[i] != NULL; i += 2) {
        assert(configs[i + 1] != NULL);
        if (rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1])) {
            snprintf(err, errlen, "topic '%s': cannot set %s=%s", topic,
                     configs[i], configs[i + 1]);
            rd_kafka_NewTopic_destroy(nt);
            return NULL;
        }
    }
    return nt;
}

/* Reads the one topic result out of a CreateTopics reply event. */
static int kafka_create_result(rd_kafka_event_t *ev, const char *topic,
                               char *err, size_t errlen)
{
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **topics;
    size_t n = 0;

    if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "creating topic '%s': %s", topic,
                 rd_kafka_event_error_string(ev));
        return -1;
    }
    res = rd_kafka_event_CreateTopics_result(ev);
    topics = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
    if (n != 1) {
        snprintf(err, errlen, "creating topic '%s': unexpected reply", topic);
        return -1;
    }

    rd_kafka_resp_err_t code = rd_kafka_topic_result_error(topics[0]);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR ||
        code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return 0;
    const char *why = rd_kafka_topic_result_error_string(topics[0]);
    snprintf(err, errlen, "creating topic '%s': %s", topic,
             why ? why : rd_kafka_err2str(code));
    return -1;
}

int kafka_topic_ensure(rd_kafka_t *rk, const char *topic, int partitions,
                       const char *const *configs, int timeout_ms, char *err,
                       size_t errlen)
{
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    char why[256];
    int rc = -1;

    assert(rk != NULL && topic != NULL && timeout_ms > 0);
    nt = kafka_new_topic(topic, partitions, configs, err, errlen);
    if (nt == NULL)
        goto out;

    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why,
                                                  sizeof(why)) ||
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why,
                                                    sizeof(why))) {
        snprintf(err, errlen, "creating topic '%s': %s", topic, why);
        goto out;
    }

    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + KAFKA_POLL_SLACK_MS);
    if (ev == NULL) {
        snprintf(err, errlen, "creating topic '%s': no reply within %d ms",
                 topic, timeout_ms);
        goto out;
    }
    rc = kafka_create_result(ev, topic, err, errlen);

out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (q != NULL)
        rd_kafka_queue_destroy(q);
    if (opts != NULL)
        rd_kafka_AdminOptions_destroy(opts);
    if (nt != NULL)
        rd_kafka_NewTopic_destroy(nt);
    return rc;
}
