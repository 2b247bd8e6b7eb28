/*
 * test_kafka.c - client configurations and topic creation.
 *
 * Without arguments it checks kafka_conf_new(), which needs no broker.
 * With the argument "topics" it creates topics on the real broker named
 * by HOOKBRIDGE_TEST_BROKERS (tests/run.sh starts one), and exits 77,
 * which ctest reports as skipped, when there is none.
 */
#include "kafka.h"

#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static char *conf_get(rd_kafka_conf_t *conf, const char *name)
{
    static char value[512];
    size_t len = sizeof(value);

    if (rd_kafka_conf_get(conf, name, value, &len) != RD_KAFKA_CONF_OK)
        return NULL;
    return value;
}

static struct config_props props_of(const char *const *pairs)
{
    struct config_props p = {0};

    for (; pairs != NULL && pairs[0] != NULL; pairs += 2) {
        p.name[p.count] = (char *)pairs[0];
        p.value[p.count] = (char *)pairs[1];
        p.count++;
    }
    return p;
}

static void test_conf_sets_brokers_and_client_id(void)
{
    char err[256] = "";
    rd_kafka_conf_t *conf = kafka_conf_new("k1:9092,k2:9092", "hookbridge-test",
                                           NULL, err, sizeof(err));

    CHECK(conf != NULL);
    if (conf == NULL)
        return;
    CHECK_STR_EQ(conf_get(conf, "bootstrap.servers"), "k1:9092,k2:9092");
    CHECK_STR_EQ(conf_get(conf, "client.id"), "hookbridge-test");
    rd_kafka_conf_destroy(conf);
}

static void test_user_properties_override_ours_in_order(void)
{
    static const char *const pairs[] = {
        "client.id",         "chosen-by-user", "linger.ms", "7",
        "bootstrap.servers", "other:1",        NULL};
    struct config_props p = props_of(pairs);
    char err[256] = "";
    rd_kafka_conf_t *conf =
        kafka_conf_new("k1:9092", "ours", &p, err, sizeof(err));

    CHECK(conf != NULL);
    if (conf == NULL)
        return;
    CHECK_STR_EQ(conf_get(conf, "client.id"), "chosen-by-user");
    CHECK_STR_EQ(conf_get(conf, "linger.ms"), "7");
    CHECK_STR_EQ(conf_get(conf, "bootstrap.servers"), "other:1");
    rd_kafka_conf_destroy(conf);
}

static void test_an_unknown_property_is_named_with_where_it_came_from(void)
{
    static const char *const pairs[] = {"linger.ms", "1", "foo.bar", "x", NULL};
    struct config_props p = props_of(pairs);
    char err[256] = "";

    CHECK(kafka_conf_new("k:1", "t", &p, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "--rdkafka/HOOKBRIDGE_RDKAFKA_ 'foo.bar': No such "
                        "configuration property");
}

static void test_a_bad_property_value_is_named(void)
{
    static const char *const pairs[] = {"linger.ms", "soon", NULL};
    struct config_props p = props_of(pairs);
    char err[256] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    CHECK(kafka_conf_new("k:1", "t", &p, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "'linger.ms'");

    err[0] = '\0';
    CHECK_INT_EQ(kafka_conf_set(conf, "acks", "most", err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "'acks'");
    CHECK_INT_EQ(kafka_conf_set(conf, "acks", "all", err, sizeof(err)), 0);
    rd_kafka_conf_destroy(conf);
}

static void test_librdkafka_lines_come_out_in_our_log_format(void)
{
    static const char *const pairs[] = {"test.mock.num.brokers", "1", NULL};
    struct config_props p = props_of(pairs);
    char err[256] = "", out[8192] = "";
    int fds[2], saved = dup(STDERR_FILENO);
    ssize_t n;

    log_init("test-kafka", LOG_INFO);
    if (pipe(fds) != 0)
        abort();
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    dup2(fds[1], STDERR_FILENO);

    /* A mock cluster says so at notice level when the client starts. */
    rd_kafka_conf_t *conf = kafka_conf_new("k:1", "t", &p, err, sizeof(err));
    rd_kafka_t *rk =
        conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)) : NULL;
    if (rk != NULL)
        rd_kafka_destroy(rk);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], out, sizeof(out) - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);

    CHECK(rk != NULL);
    CHECK_CONTAINS(out, " INFO test-kafka: kafka: MOCK ");
}

static char *unique_topic(const char *stem)
{
    static char name[128];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(name, sizeof(name), "%s-%ld-%ld", stem, (long)getpid(),
             (long)ts.tv_nsec);
    return name;
}

static rd_kafka_t *client(const char *brokers)
{
    char err[256];
    rd_kafka_conf_t *conf =
        kafka_conf_new(brokers, "test-kafka", NULL, err, sizeof(err));

    return conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))
                : NULL;
}

/* Partitions of `topic`, waiting out the moments before it has leaders. */
static int partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;

    for (int tries = 0; n < 0 && tries < 50; tries++) {
        if (rd_kafka_metadata(rk, 0, t, &md, 10000) != 0)
            break;
        if (md->topic_cnt == 1 && md->topics[0].err == 0)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        if (n < 0)
            usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

/* The topic's value of `name` as the broker reports it, or "". */
static const char *topic_config(rd_kafka_t *rk, const char *topic,
                                const char *name)
{
    static char value[128];
    rd_kafka_ConfigResource_t *res =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;
    size_t nres = 0, nent = 0;

    value[0] = '\0';
    rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 10000);
    const rd_kafka_DescribeConfigs_result_t *r =
        ev ? rd_kafka_event_DescribeConfigs_result(ev) : NULL;
    const rd_kafka_ConfigResource_t **rs =
        r ? rd_kafka_DescribeConfigs_result_resources(r, &nres) : NULL;
    const rd_kafka_ConfigEntry_t **es =
        nres == 1 ? rd_kafka_ConfigResource_configs(rs[0], &nent) : NULL;
    for (size_t i = 0; i < nent; i++) {
        if (strcmp(rd_kafka_ConfigEntry_name(es[i]), name) == 0)
            snprintf(value, sizeof(value), "%s",
                     rd_kafka_ConfigEntry_value(es[i]));
    }
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    return value;
}

static const char *brokers;

static void test_a_missing_topic_is_created_as_asked(void)
{
    static const char *const configs[] = {"cleanup.policy", "compact", NULL};
    rd_kafka_t *rk = client(brokers);
    const char *topic = unique_topic("hookbridge-unit-new");
    char err[256] = "";

    CHECK_INT_EQ(
        kafka_topic_ensure(rk, topic, 3, configs, 20000, err, sizeof(err)), 0);
    CHECK_STR_EQ(err, "");
    CHECK_INT_EQ(partition_count(rk, topic), 3);
    CHECK_STR_EQ(topic_config(rk, topic, "cleanup.policy"), "compact");
    rd_kafka_destroy(rk);
}

static void test_an_existing_topic_is_success_and_left_alone(void)
{
    rd_kafka_t *rk = client(brokers);
    char topic[128], err[256] = "";

    snprintf(topic, sizeof(topic), "%s", unique_topic("hookbridge-unit-old"));
    CHECK_INT_EQ(
        kafka_topic_ensure(rk, topic, 2, NULL, 20000, err, sizeof(err)), 0);
    CHECK_INT_EQ(
        kafka_topic_ensure(rk, topic, 5, NULL, 20000, err, sizeof(err)), 0);
    CHECK_STR_EQ(err, "");
    CHECK_INT_EQ(partition_count(rk, topic), 2);
    rd_kafka_destroy(rk);
}

static void test_a_refused_topic_is_an_error_naming_it(void)
{
    rd_kafka_t *rk = client(brokers);
    char err[256] = "";

    CHECK_INT_EQ(kafka_topic_ensure(rk, "no spaces allowed", 1, NULL, 20000,
                                    err, sizeof(err)),
                 -1);
    CHECK_CONTAINS(err, "creating topic 'no spaces allowed': ");
    rd_kafka_destroy(rk);
}

static void test_an_unreachable_cluster_fails_within_the_timeout(void)
{
    rd_kafka_t *rk = client("127.0.0.1:1");
    char err[256] = "";
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_INT_EQ(kafka_topic_ensure(rk, "hookbridge-unit-nowhere", 1, NULL,
                                    1000, err, sizeof(err)),
                 -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_CONTAINS(err, "creating topic 'hookbridge-unit-nowhere'");
    CHECK(t1.tv_sec - t0.tv_sec <= 3);
    rd_kafka_destroy(rk);
}

int main(int argc, char **argv)
{
    void (*const conf_fns[])(void) = {
        test_conf_sets_brokers_and_client_id,
        test_user_properties_override_ours_in_order,
        test_an_unknown_property_is_named_with_where_it_came_from,
        test_a_bad_property_value_is_named,
        test_librdkafka_lines_come_out_in_our_log_format,
    };
    static const char conf_names[] =
        "test_conf_sets_brokers_and_client_id,"
        "test_user_properties_override_ours_in_order,"
        "test_an_unknown_property_is_named_with_where_it_came_from,"
        "test_a_bad_property_value_is_named,"
        "test_librdkafka_lines_come_out_in_our_log_format";
    void (*const topic_fns[])(void) = {
        test_a_missing_topic_is_created_as_asked,
        test_an_existing_topic_is_success_and_left_alone,
        test_a_refused_topic_is_an_error_naming_it,
        test_an_unreachable_cluster_fails_within_the_timeout,
    };
    static const char topic_names[] =
        "test_a_missing_topic_is_created_as_asked,"
        "test_an_existing_topic_is_success_and_left_alone,"
        "test_a_refused_topic_is_an_error_naming_it,"
        "test_an_unreachable_cluster_fails_within_the_timeout";

    log_init("test-kafka", LOG_ERROR);
    if (argc < 2 || strcmp(argv[1], "topics") != 0)
        return check_main(conf_fns, sizeof(conf_fns) / sizeof(conf_fns[0]),
                          conf_names);

    brokers = getenv("HOOKBRIDGE_TEST_BROKERS");
    if (brokers == NULL || *brokers == '\0') {
        printf("HOOKBRIDGE_TEST_BROKERS is not set: skipped\n");
        return 77;
    }
    return check_main(topic_fns, sizeof(topic_fns) / sizeof(topic_fns[0]),
                      topic_names);
}
