/*
 * test_readiness.c - the ingest's Kafka readiness against librdkafka's
 * mock cluster.
 *
 * Under heavy load a real broker can leave a metadata probe unanswered
 * past its timeout while it goes on storing every record. Hooks must not
 * be refused for that; only when nothing is acknowledged either does the
 * ingest turn not ready. The mock cluster of this librdkafka cannot
 * create topics (it names no controller), so against it every probe round
 * fails: the very situation to test, with acknowledgements as the only
 * sign of a working Kafka.
 */
#include "readiness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <librdkafka/rdkafka_mock.h>

#include "check.h"
#include "log.h"
#include "publish.h"

enum {
    WATCH_MS = 4000,
    /* readiness.c counts an acknowledgement for one round: 2 s between
     * probes and 2 s for each of its two topics. */
    ACKED_FRESH_MS = 6000,
};

struct rig {
    struct metrics *metrics;
    struct publish *publish;
    struct readiness *readiness;
};

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int64_t clock_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rig_start(struct rig *r)
{
    static char name[] = "test.mock.num.brokers", one[] = "1";
    struct config_props props = {0};
    char err[256];

    props.name[0] = name;
    props.value[0] = one;
    props.count = 1;
    r->metrics = metrics_new();
    struct publish_options po = {"mock:9092", &props, 2000, r->metrics};
    r->publish = publish_new(&po, err, sizeof(err));
    if (r->publish == NULL) {
        fprintf(stderr, "publish_new: %s\n", err);
        return -1;
    }
    rd_kafka_mock_cluster_t *mc =
        rd_kafka_handle_mock_cluster(publish_handle(r->publish));
    if (rd_kafka_mock_topic_create(mc, "ready.raw", 2, 1) != 0)
        return -1;

    struct readiness_options ro = {
        publish_handle(r->publish), r->publish, "ready.raw", 2,
        "ready.unrouted",           r->metrics};
    r->readiness = readiness_start(&ro);
    return r->readiness != NULL ? 0 : -1;
}

static void rig_stop(struct rig *r)
{
    readiness_stop(r->readiness);
    publish_free(r->publish);
    metrics_free(r->metrics);
}

static enum publish_result send_one(struct rig *r, long n)
{
    char key[32];
    struct publish_outcome out;
    static const char value[] = "{\"EventType\":\"CandidateUpdated\"}";

    snprintf(key, sizeof(key), "candidate:%ld", n);
    struct publish_record rec = {"ready.raw",
                                 key,
                                 value,
                                 sizeof(value) - 1,
                                 "CandidateUpdated",
                                 "2026-12-01T10:00:00Z"};
    return publish_send(r->publish, &rec, &out);
}

struct sender {
    struct rig *rig;
    atomic_bool stop;
    long stored, failed;
};

static void *sender_run(void *arg)
{
    struct sender *s = arg;

    for (long n = 0; !atomic_load(&s->stop); n++) {
        if (send_one(s->rig, n) == PUBLISH_STORED)
            s->stored++;
        else
            s->failed++;
        pause_ms(20);
    }
    return NULL;
}

/* Samples readiness for `ms`; returns how many samples said no. */
static int watch_not_ready(struct rig *r, int64_t ms)
{
    int64_t until = clock_now_ms() + ms;
    int no = 0;

    while (clock_now_ms() < until) {
        no += !readiness_ok(r->readiness);
        pause_ms(50);
    }
    return no;
}

/* How long readiness takes to turn false, up to `limit_ms`. */
static int64_t ms_until_not_ready(struct rig *r, int64_t limit_ms)
{
    int64_t start = clock_now_ms();

    while (readiness_ok(r->readiness) && clock_now_ms() - start < limit_ms)
        pause_ms(50);
    return clock_now_ms() - start;
}

static void test_records_acknowledged_keep_it_ready_while_probes_fail(void)
{
    struct rig r = {0};
    struct sender s = {.rig = &r};
    pthread_t thread;

    log_init("test-readiness", LOG_ERROR);
    CHECK_INT_EQ(rig_start(&r), 0);
    if (r.readiness == NULL) {
        rig_stop(&r);
        return;
    }
    /* Nothing acknowledged yet and no probe answered: not ready. */
    CHECK(!readiness_ok(r.readiness));
    CHECK_INT_EQ(send_one(&r, -1), PUBLISH_STORED);
    CHECK(readiness_ok(r.readiness));

    atomic_init(&s.stop, false);
    pthread_create(&thread, NULL, sender_run, &s);
    CHECK_INT_EQ(watch_not_ready(&r, WATCH_MS), 0);
    atomic_store(&s.stop, true);
    pthread_join(thread, NULL);
    CHECK(s.stored > 0);
    CHECK_INT_EQ(s.failed, 0);
    rig_stop(&r);
}

static void test_it_turns_not_ready_a_round_after_the_last_ack(void)
{
    struct rig r = {0};
    int64_t took;

    CHECK_INT_EQ(rig_start(&r), 0);
    if (r.readiness == NULL) {
        rig_stop(&r);
        return;
    }
    CHECK_INT_EQ(send_one(&r, 1), PUBLISH_STORED);
    took = ms_until_not_ready(&r, ACKED_FRESH_MS + 3000);

    /* An old acknowledgement proves nothing about Kafka now. */
    CHECK(took > ACKED_FRESH_MS - 1000);
    CHECK(took < ACKED_FRESH_MS + 1000);
    rig_stop(&r);
}

static void test_hooks_are_refused_at_once_only_after_kafka_failed_one(void)
{
    struct rig r = {0};

    CHECK_INT_EQ(rig_start(&r), 0);
    if (r.readiness == NULL) {
        rig_stop(&r);
        return;
    }
    /* Never stored anything and no probe answered: refuse at once. */
    CHECK(readiness_refuse(r.readiness));
    CHECK_INT_EQ(send_one(&r, 1), PUBLISH_STORED);

    /* Idle past the freshness of that acknowledgement, with probes still
     * failing: not ready, yet the next hook is tried, or an idle ingest
     * whose probe is slow would refuse hooks for good. */
    ms_until_not_ready(&r, ACKED_FRESH_MS + 3000);
    CHECK(!readiness_ok(r.readiness));
    CHECK(!readiness_refuse(r.readiness));

    /* A record Kafka does not store turns the fast 503 back on. */
    rd_kafka_mock_broker_set_down(
        rd_kafka_handle_mock_cluster(publish_handle(r.publish)), 1);
    CHECK_INT_EQ(send_one(&r, 2), PUBLISH_TIMEOUT);
    CHECK(readiness_refuse(r.readiness));
    rig_stop(&r);
}

CHECK_MAIN(test_records_acknowledged_keep_it_ready_while_probes_fail,
           test_it_turns_not_ready_a_round_after_the_last_ack,
           test_hooks_are_refused_at_once_only_after_kafka_failed_one)
