/*
 * test_ratelimit.c - the group's API budget holds in every second.
 *
 * The main test plays whole consumer groups: every way of splitting 1 to
 * 12 partitions among 1 to 4 replicas, at 1 to 20 calls per second, each
 * replica calling as fast as its limiter lets it, and counts the most
 * calls the group starts in any sliding second.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "ratelimit.h"

enum { REPLICAS_MAX = 4, PARTITIONS_MAX = 12, RATE_MAX = 20 };

/* A wall-clock time in 2025, so slots are computed as in production. */
static const int64_t t0 = 1764800000000LL;

struct group {
    struct ratelimit *rl[REPLICAS_MAX];
    int replicas;
    int rate;
    int partitions;
};

struct tally {
    long calls;
    int max_in_second;
};

static uint64_t rng_state = 42;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* The most entries of sorted `t` that fit in any half-open second. */
static int max_per_second(const int64_t *t, long n)
{
    int best = 0;

    for (long i = 0, j = 0; j < n; j++) {
        while (t[j] - t[i] >= 1000)
            i++;
        if (j - i + 1 > best)
            best = (int)(j - i + 1);
    }
    return best;
}

/*
 * Lets every replica call as soon as it may for `ms` milliseconds; a
 * replica told to wait wakes up that much later plus up to `late_ms`.
 */
static struct tally group_run(struct group *g, int64_t ms, int late_ms)
{
    static int64_t calls[1 << 16];
    int64_t next[REPLICAS_MAX];
    struct tally out = {0, 0};

    for (int i = 0; i < g->replicas; i++)
        next[i] = t0;

    for (;;) {
        int who = 0;
        for (int i = 1; i < g->replicas; i++)
            who = next[i] < next[who] ? i : who;
        int64_t now = next[who];
        if (now >= t0 + ms || out.calls == (long)(sizeof(calls) / 8))
            break;

        int64_t wait = ratelimit_acquire(g->rl[who], now);
        if (wait == 0)
            calls[out.calls++] = now;
        else
            next[who] = now + wait +
                        (late_ms ? (int64_t)(rng_next() % (late_ms + 1)) : 0);
        CHECK(wait >= 0);
    }

    out.max_in_second = max_per_second(calls, out.calls);
    return out;
}

/* Gives replica i the partitions named in owner[] (owner[p] == i). */
static void group_assign(struct group *g, const int *owner)
{
    for (int i = 0; i < g->replicas; i++) {
        int32_t ids[PARTITIONS_MAX];
        int n = 0;

        for (int p = 0; p < g->partitions; p++) {
            if (owner[p] == i)
                ids[n++] = p;
        }
        CHECK_INT_EQ(ratelimit_set_partitions(g->rl[i], ids, n, g->partitions),
                     0);
    }
}

/* Plays one assignment at one rate; returns non-zero when it failed. */
static int group_check(int rate, int replicas, int partitions, const int *owner)
{
    struct group g = {
        .replicas = replicas, .rate = rate, .partitions = partitions};
    int calls;
    int64_t window;
    int failed = 0;

    for (int i = 0; i < replicas; i++)
        g.rl[i] = ratelimit_new(rate);
    group_assign(&g, owner);
    ratelimit_describe(g.rl[0], &calls, &window);

    /* Two full rounds of slots, and at least 5 s. */
    int64_t ms = 2 * window + 5000;
    struct tally prompt = group_run(&g, ms, 0);
    failed |= prompt.max_in_second > rate;
    /* Everything is assigned, so the group uses nearly all its budget. */
    failed |= prompt.calls * 1000 < (int64_t)(0.85 * rate * (double)ms);

    for (int i = 0; i < replicas; i++) {
        ratelimit_free(g.rl[i]);
        g.rl[i] = ratelimit_new(rate);
    }
    group_assign(&g, owner);
    struct tally late = group_run(&g, ms, 60);
    failed |= late.max_in_second > rate;

    if (failed)
        fprintf(stderr,
                "rate=%d replicas=%d partitions=%d: max/s %d and %d, "
                "calls %ld in %lld ms\n",
                rate, replicas, partitions, prompt.max_in_second,
                late.max_in_second, prompt.calls, (long long)ms);
    for (int i = 0; i < replicas; i++)
        ratelimit_free(g.rl[i]);
    return failed;
}

/* Turns counts per replica into contiguous ranges, as Kafka's range
 * assignor hands them out. */
static void owners_contiguous(const int *count, int replicas, int *owner)
{
    int p = 0;

    for (int i = 0; i < replicas; i++) {
        for (int k = 0; k < count[i]; k++)
            owner[p++] = i;
    }
}

/* Plays every way of writing `partitions` as `replicas` counts. */
static int splits_check(int rate, int replicas, int partitions)
{
    int count[REPLICAS_MAX] = {0};
    int owner[PARTITIONS_MAX];
    int failures = 0;

    for (;;) {
        int rest = partitions;
        for (int i = 0; i < replicas - 1; i++)
            rest -= count[i];
        if (rest >= 0) {
            count[replicas - 1] = rest;
            owners_contiguous(count, replicas, owner);
            failures += group_check(rate, replicas, partitions, owner);
        }

        int i = 0;
        while (i < replicas - 1 && ++count[i] > partitions)
            count[i++] = 0;
        if (i == replicas - 1)
            break;
    }
    return failures;
}

static int calls_in(struct ratelimit *r, int64_t from, int64_t to)
{
    int started = 0;

    for (int64_t now = from; now < to; now++)
        started += ratelimit_acquire(r, now) == 0;
    return started;
}

static void test_group_never_starts_more_than_the_rate_in_any_second(void)
{
    int failures = 0;

    for (int rate = 1; rate <= RATE_MAX; rate++) {
        for (int replicas = 1; replicas <= REPLICAS_MAX; replicas++) {
            for (int p = 1; p <= PARTITIONS_MAX; p++)
                failures += splits_check(rate, replicas, p);
        }
    }
    CHECK_INT_EQ(failures, 0);
}

/* Checks `rounds` groups with random replicas and partition owners, each
 * at a rate drawn from `rates` (or from 1 to RATE_MAX when `nrates` is 0);
 * returns how many broke the budget. */
static int random_groups_check(int rounds, const int *rates, size_t nrates)
{
    int owner[PARTITIONS_MAX];
    int failures = 0;

    for (int round = 0; round < rounds; round++) {
        int rate = nrates ? rates[rng_next() % nrates]
                          : 1 + (int)(rng_next() % RATE_MAX);
        int replicas = 1 + (int)(rng_next() % REPLICAS_MAX);
        int partitions = 1 + (int)(rng_next() % PARTITIONS_MAX);

        for (int p = 0; p < partitions; p++)
            owner[p] = (int)(rng_next() % (uint64_t)replicas);
        failures += group_check(rate, replicas, partitions, owner);
    }
    return failures;
}

static void test_scattered_assignments_also_keep_the_budget(void)
{
    CHECK_INT_EQ(random_groups_check(300, NULL, 0), 0);
}

static void test_lone_replica_gets_nearly_the_whole_budget(void)
{
    static const int rates[] = {1, 5, 20, 45, 1000};

    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        struct group g = {.replicas = 1, .rate = rates[i]};

        g.rl[0] = ratelimit_new(rates[i]);
        struct tally t = group_run(&g, 10000, 0);
        CHECK(t.max_in_second <= rates[i]);
        CHECK(t.calls >= (long)(rates[i] * 10 * 0.9));
        ratelimit_free(g.rl[0]);
    }
}

static void test_high_rates_keep_the_budget_with_calls_anywhere_in_a_slot(void)
{
    static const int rates[] = {40, 41, 59, 60, 99, 100, 399, 1000, 10000};

    CHECK_INT_EQ(
        random_groups_check(60, rates, sizeof(rates) / sizeof(rates[0])), 0);
}

/* A caller with few calls in flight asks once a millisecond, not all of
 * a slot's allowance at its first instant. */
static void test_a_steady_caller_gets_its_pace_under_a_high_budget(void)
{
    struct ratelimit *r = ratelimit_new(10000);
    int32_t mine[] = {0, 2, 4};
    int alone, half;

    alone = calls_in(r, t0, t0 + 10000);
    CHECK(alone >= 9000);

    /* Half the partitions: half the slots, each still used throughout. */
    CHECK_INT_EQ(ratelimit_set_partitions(r, mine, 3, 6), 0);
    half = calls_in(r, t0 + 10000, t0 + 20000);
    CHECK(half >= 4500 && half <= 5200);
    ratelimit_free(r);
}

static void test_rate_below_one_per_second_spaces_calls_out(void)
{
    struct group g = {.replicas = 1};

    g.rl[0] = ratelimit_new(0.5);
    struct tally t = group_run(&g, 20000, 0);
    CHECK_INT_EQ(t.max_in_second, 1);
    CHECK(t.calls >= 9 && t.calls <= 10);
    ratelimit_free(g.rl[0]);
}

static void test_replica_without_partitions_may_not_call(void)
{
    struct ratelimit *r = ratelimit_new(5);
    int calls;
    int64_t window;

    ratelimit_set_share(r, 0, 12);
    ratelimit_describe(r, &calls, &window);
    CHECK_INT_EQ(calls, 0);

    int started = 0;
    for (int64_t now = t0; now < t0 + 10000; now++)
        started += ratelimit_acquire(r, now) == 0;
    CHECK_INT_EQ(started, 0);
    CHECK(ratelimit_acquire(r, t0) > 0);
    ratelimit_free(r);
}

static void test_share_follows_assignment_changes(void)
{
    struct ratelimit *r = ratelimit_new(4);
    int calls;
    int64_t window;

    ratelimit_set_share(r, 1, 4);
    ratelimit_describe(r, &calls, &window);
    CHECK_INT_EQ(calls, 1);
    CHECK(window >= 1000 && window <= 1100);
    int quarter = calls_in(r, t0, t0 + 20000);
    CHECK(quarter >= 18 && quarter <= 20);

    ratelimit_set_share(r, 4, 4);
    int whole = calls_in(r, t0 + 20000, t0 + 40000);
    CHECK(whole >= 72 && whole <= 80);

    /* No partitions known yet (total 0) means the whole budget. */
    ratelimit_set_share(r, 1, 0);
    int alone = calls_in(r, t0 + 40000, t0 + 60000);
    CHECK(alone >= 72 && alone <= 80);
    ratelimit_free(r);
}

static void test_describe_reports_calls_per_round_of_slots(void)
{
    struct ratelimit *r = ratelimit_new(5);
    int32_t ids[] = {3, 7, 11};
    int calls;
    int64_t window;

    CHECK_INT_EQ(ratelimit_set_partitions(r, ids, 3, 12), 0);
    ratelimit_describe(r, &calls, &window);
    CHECK_INT_EQ(calls, 3);
    /* 12 slots of 200 ms plus the 5% grace each. */
    CHECK_INT_EQ(window, 12 * 210);
    ratelimit_free(r);
}

static void test_pause_holds_every_call_until_it_ends(void)
{
    struct ratelimit *r = ratelimit_new(5);

    ratelimit_pause_until(r, t0 + 3000);
    ratelimit_pause_until(r, t0 + 1000); /* the later pause stays */
    CHECK_INT_EQ(ratelimit_acquire(r, t0), 3000);
    CHECK_INT_EQ(ratelimit_acquire(r, t0 + 2500), 500);
    CHECK_INT_EQ(calls_in(r, t0, t0 + 3000), 0);
    CHECK(calls_in(r, t0 + 3000, t0 + 5000) >= 9);
    ratelimit_free(r);
}

static void test_caller_too_late_for_its_slot_waits_for_the_next(void)
{
    struct ratelimit *r = ratelimit_new(5); /* slots of 210 ms */
    int32_t mine[] = {0, 2};
    int64_t round = (t0 / (210 * 4) + 1) * (210 * 4);

    /* Slot 1 belongs to another replica: slot 0 ends its grace early. */
    CHECK_INT_EQ(ratelimit_set_partitions(r, mine, 2, 4), 0);
    CHECK_INT_EQ(ratelimit_acquire(r, round + 11), 2 * 210 - 11);
    CHECK_INT_EQ(ratelimit_acquire(r, round + 2 * 210 + 3), 0);
    /* The slot is spent: the next call waits for the next slot of ours. */
    CHECK_INT_EQ(ratelimit_acquire(r, round + 4 * 210 - 1), 1);
    ratelimit_free(r);
}

static void test_lone_replica_that_wakes_late_keeps_its_rate(void)
{
    struct ratelimit *r = ratelimit_new(5);
    int64_t now = t0 + 150;
    int started = 0;

    /* Always 60 ms late, far past the grace: the gap keeps the pace. */
    while (now < t0 + 20000) {
        int64_t wait = ratelimit_acquire(r, now);

        started += wait == 0;
        now += wait == 0 ? 0 : wait + 60;
    }
    CHECK(started >= 70);
    ratelimit_free(r);
}

static void test_slots_of_other_partitions_are_left_alone(void)
{
    struct ratelimit *r = ratelimit_new(1); /* slots of 1050 ms */
    int32_t mine = 2;
    int64_t round = (t0 / (1050 * 4) + 1) * (1050 * 4);

    CHECK_INT_EQ(ratelimit_set_partitions(r, &mine, 1, 4), 0);
    CHECK_INT_EQ(ratelimit_acquire(r, round), 2 * 1050);
    CHECK_INT_EQ(ratelimit_acquire(r, round + 2 * 1050), 0);
    CHECK_INT_EQ(ratelimit_acquire(r, round + 2 * 1050 + 1), 4 * 1050 - 1);
    ratelimit_free(r);
}

CHECK_MAIN(test_group_never_starts_more_than_the_rate_in_any_second,
           test_scattered_assignments_also_keep_the_budget,
           test_lone_replica_gets_nearly_the_whole_budget,
           test_high_rates_keep_the_budget_with_calls_anywhere_in_a_slot,
           test_a_steady_caller_gets_its_pace_under_a_high_budget,
           test_rate_below_one_per_second_spaces_calls_out,
           test_replica_without_partitions_may_not_call,
           test_share_follows_assignment_changes,
           test_describe_reports_calls_per_round_of_slots,
           test_pause_holds_every_call_until_it_ends,
           test_caller_too_late_for_its_slot_waits_for_the_next,
           test_lone_replica_that_wakes_late_keeps_its_rate,
           test_slots_of_other_partitions_are_left_alone)
