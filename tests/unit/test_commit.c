/*
 * test_commit.c - the offset ledger: the committable offset is the first
 * one not yet done, whatever order offsets finish in.
 */
#include "check.h"
#include "commit.h"

static void test_nothing_consumed_means_nothing_to_commit(void)
{
    struct ledger *l = ledger_new();

    CHECK_INT_EQ(ledger_committable(l, 0), -1);
    CHECK_INT_EQ(ledger_committable(l, 7), -1);
    ledger_free(l);
}

static void test_the_committable_offset_waits_for_the_first_not_done(void)
{
    struct ledger *l = ledger_new();

    for (int64_t o = 10; o < 15; o++)
        CHECK_INT_EQ(ledger_add(l, 0, o), 0);
    CHECK_INT_EQ(ledger_committable(l, 0), 10);
    CHECK_INT_EQ(ledger_done(l, 0, 12), 0);
    CHECK_INT_EQ(ledger_done(l, 0, 14), 0);
    CHECK_INT_EQ(ledger_committable(l, 0), 10);
    CHECK_INT_EQ(ledger_done(l, 0, 10), 0);
    CHECK_INT_EQ(ledger_committable(l, 0), 11);
    CHECK_INT_EQ(ledger_done(l, 0, 11), 0);
    CHECK_INT_EQ(ledger_committable(l, 0), 13);
    CHECK_INT_EQ(ledger_done(l, 0, 13), 0);
    CHECK_INT_EQ(ledger_committable(l, 0), 15);
    CHECK_INT_EQ(ledger_outstanding(l, 0), 0);
    ledger_free(l);
}

static void test_gaps_in_offsets_are_allowed(void)
{
    struct ledger *l = ledger_new();

    ledger_add(l, 2, 5);
    ledger_add(l, 2, 9); /* 6..8: transaction markers or compacted */
    CHECK_INT_EQ(ledger_done(l, 2, 5), 0);
    CHECK_INT_EQ(ledger_committable(l, 2), 9);
    CHECK_INT_EQ(ledger_done(l, 2, 9), 0);
    CHECK_INT_EQ(ledger_committable(l, 2), 10);
    ledger_free(l);
}

static void test_partitions_are_independent(void)
{
    struct ledger *l = ledger_new();

    ledger_add(l, 0, 0);
    ledger_add(l, 1, 0);
    ledger_done(l, 1, 0);
    CHECK_INT_EQ(ledger_committable(l, 0), 0);
    CHECK_INT_EQ(ledger_committable(l, 1), 1);
    ledger_free(l);
}

static void test_done_twice_or_unknown_is_refused(void)
{
    struct ledger *l = ledger_new();

    ledger_add(l, 0, 3);
    ledger_add(l, 0, 4);
    CHECK_INT_EQ(ledger_done(l, 0, 4), 0);
    CHECK_INT_EQ(ledger_done(l, 0, 4), -1);
    CHECK_INT_EQ(ledger_done(l, 0, 99), -1);
    CHECK_INT_EQ(ledger_done(l, 5, 3), -1);
    CHECK_INT_EQ(ledger_committable(l, 0), 3);
    ledger_free(l);
}

static void test_an_offset_not_past_the_last_is_refused(void)
{
    struct ledger *l = ledger_new();

    ledger_add(l, 0, 8);
    CHECK_INT_EQ(ledger_add(l, 0, 8), -2);
    CHECK_INT_EQ(ledger_add(l, 0, 3), -2);
    CHECK_INT_EQ(ledger_committable(l, 0), 8);
    ledger_free(l);
}

static void test_a_dropped_partition_starts_over(void)
{
    struct ledger *l = ledger_new();

    ledger_add(l, 0, 100);
    ledger_set_committed(l, 0, 100);
    ledger_drop(l, 0);
    CHECK_INT_EQ(ledger_committable(l, 0), -1);
    CHECK_INT_EQ(ledger_committed(l, 0), -1);
    CHECK_INT_EQ(ledger_done(l, 0, 100), -1);
    CHECK_INT_EQ(ledger_add(l, 0, 50), 0); /* rewound */
    CHECK_INT_EQ(ledger_committable(l, 0), 50);
    ledger_free(l);
}

static void test_a_long_run_finished_out_of_order_commits_everything(void)
{
    struct ledger *l = ledger_new();
    enum { N = 100000 };

    for (int64_t o = 0; o < N; o++)
        ledger_add(l, 0, o);
    for (int64_t o = 1; o < N; o += 2)
        ledger_done(l, 0, o);
    CHECK_INT_EQ(ledger_committable(l, 0), 0);
    for (int64_t o = N - 2; o > 0; o -= 2)
        ledger_done(l, 0, o);
    CHECK_INT_EQ(ledger_committable(l, 0), 0);
    ledger_done(l, 0, 0);
    CHECK_INT_EQ(ledger_committable(l, 0), N);
    ledger_free(l);
}

CHECK_MAIN(test_nothing_consumed_means_nothing_to_commit,
           test_the_committable_offset_waits_for_the_first_not_done,
           test_gaps_in_offsets_are_allowed, test_partitions_are_independent,
           test_done_twice_or_unknown_is_refused,
           test_an_offset_not_past_the_last_is_refused,
           test_a_dropped_partition_starts_over,
           test_a_long_run_finished_out_of_order_commits_everything)
