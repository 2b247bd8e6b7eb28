/*
 * test_fold.c - the fold window: one answer per burst, a second one for
 * what arrived while the first was in flight, deletes, retries, and the
 * compact raw record.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fold.h"

static struct catalog_kind cand = {"candidate", "CandidateId",
                                   "Candidates/?canid={id}", "/Items/0",
                                   "hrm.candidate"};
static struct catalog_event updated = {"CandidateUpdated", &cand,
                                       CATALOG_UPSERT};
static struct catalog_event deleted = {"CandidateDeleted", &cand,
                                       CATALOG_DELETE};

static int add(struct fold *f, const char *key, int64_t offset,
               const struct catalog_event *ev, int64_t now)
{
    struct fold_header h = {"event-type", ev->type, strlen(ev->type)};
    struct fold_input in = {
        key, strlen(key), 0, offset, ev, fold_raw_pack("{}", 2, 1, &h, 1, now)};

    return fold_add(f, &in, now);
}

static void test_fifty_notifications_in_one_window_make_one_due_answer(void)
{
    struct fold *f = fold_new(1000);
    int64_t out[64];
    int freed;

    CHECK_INT_EQ(add(f, "candidate:1", 0, &updated, 100), FOLD_ADDED_NEW);
    for (int i = 1; i < 50; i++)
        CHECK_INT_EQ(add(f, "candidate:1", i, &updated, 100 + i),
                     FOLD_ADDED_FOLDED);
    CHECK(fold_due(f, 1099) == NULL);
    CHECK_INT_EQ(fold_next_due_ms(f), 1100);

    struct fold_entry *e = fold_due(f, 1100);
    CHECK(e != NULL);
    fold_begin(f, e, 1, 1100);
    CHECK(fold_due(f, 5000) == NULL);
    CHECK_INT_EQ(fold_finish(f, e, out, 64, &freed), 50);
    CHECK_INT_EQ(freed, 1);
    CHECK_INT_EQ(out[0], 0);
    CHECK_INT_EQ(out[49], 49);
    CHECK_INT_EQ(fold_count(f), 0);
    fold_free(f);
}

static void test_a_notification_during_a_fetch_makes_a_second_answer(void)
{
    struct fold *f = fold_new(1000);
    int64_t out[8];
    int freed;

    add(f, "candidate:1", 10, &updated, 0);
    struct fold_entry *e = fold_due(f, 1000);
    fold_begin(f, e, 1, 1000);
    CHECK_INT_EQ(add(f, "candidate:1", 11, &updated, 1200), FOLD_ADDED_NEW);
    CHECK(fold_due(f, 100000) == NULL); /* not while in flight */

    CHECK_INT_EQ(fold_finish(f, e, out, 8, &freed), 1);
    CHECK_INT_EQ(freed, 0);
    CHECK_INT_EQ(out[0], 10);
    /* Due one window after the new notification (>= last start + window). */
    CHECK_INT_EQ(fold_next_due_ms(f), 2200);
    e = fold_due(f, 2200);
    CHECK(e != NULL);
    fold_begin(f, e, 1, 2200);
    CHECK_INT_EQ(fold_finish(f, e, out, 8, &freed), 1);
    CHECK_INT_EQ(out[0], 11);
    CHECK_INT_EQ(freed, 1);
    fold_free(f);
}

static void test_no_two_fetches_of_a_key_start_within_one_window(void)
{
    struct fold *f = fold_new(1000);
    int freed;

    add(f, "candidate:1", 1, &updated, 0);
    struct fold_entry *e = fold_due(f, 1000);
    fold_begin(f, e, 1, 1500); /* started late */
    add(f, "candidate:1", 2, &updated, 1510);
    fold_finish(f, e, NULL, 0, &freed);
    CHECK_INT_EQ(fold_next_due_ms(f), 2510);
    fold_free(f);
}

static void test_the_last_action_wins(void)
{
    struct fold *f = fold_new(100);

    add(f, "candidate:1", 1, &updated, 0);
    add(f, "candidate:1", 2, &deleted, 1);
    struct fold_entry *e = fold_due(f, 100);
    CHECK(e != NULL && e->event == &deleted);
    add(f, "candidate:1", 3, &updated, 2);
    CHECK(e->event == &updated);
    fold_free(f);
}

static void test_a_retry_keeps_the_attempts_and_covers_new_offsets(void)
{
    struct fold *f = fold_new(100);
    int64_t out[8];
    int freed;

    add(f, "candidate:1", 1, &updated, 0);
    struct fold_entry *e = fold_due(f, 100);
    fold_begin(f, e, 1, 100);
    e->attempts = 1;
    add(f, "candidate:1", 2, &updated, 150);
    fold_retry(f, e, 600);
    CHECK(fold_due(f, 599) == NULL);
    e = fold_due(f, 600);
    CHECK(e != NULL);
    CHECK_INT_EQ(e->attempts, 1);
    fold_begin(f, e, 1, 600);
    CHECK_INT_EQ(fold_finish(f, e, out, 8, &freed), 2);
    CHECK_INT_EQ(out[1], 2);
    fold_free(f);
}

static void test_keys_come_due_in_time_order_across_many_keys(void)
{
    struct fold *f = fold_new(1000);
    char key[32];
    int64_t last = -1;
    int n = 0, freed;

    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "candidate:%d", (i * 7919) % 5000);
        add(f, key, i, &updated, (i * 31) % 997);
    }
    CHECK_INT_EQ(fold_count(f), 5000);
    struct fold_entry *e;
    while ((e = fold_due(f, 1000000)) != NULL) {
        CHECK(e->due_ms >= last);
        last = e->due_ms;
        fold_begin(f, e, 1, 0);
        fold_finish(f, e, NULL, 0, &freed);
        n++;
    }
    CHECK_INT_EQ(n, 5000);
    CHECK_INT_EQ(fold_count(f), 0);
    fold_free(f);
}

static void test_dropping_a_partition_removes_only_its_keys(void)
{
    struct fold *f = fold_new(10);
    struct fold_input in = {"candidate:9",
                            11,
                            3,
                            5,
                            &updated,
                            fold_raw_pack(NULL, 0, 0, NULL, 0, 0)};

    add(f, "candidate:1", 1, &updated, 0);
    fold_add(f, &in, 0);
    CHECK_INT_EQ(fold_drop_partition(f, 3), 1);
    CHECK(fold_find(f, "candidate:9") == NULL);
    CHECK(fold_find(f, "candidate:1") != NULL);
    CHECK(fold_due(f, 10) == fold_find(f, "candidate:1"));
    fold_free(f);
}

static void test_the_raw_record_keeps_value_headers_and_time(void)
{
    struct fold_header hs[] = {{"event-type", "CandidateUpdated", 16},
                               {"empty", NULL, 0},
                               {"received-at", "2026-12-01T10:00:00.000Z", 24}};
    unsigned char *raw = fold_raw_pack("{\"a\":1}", 7, 1, hs, 3, 1234);
    struct fold_header h;
    char buf[64];
    size_t len;
    int has;

    CHECK(raw != NULL);
    CHECK_INT_EQ(fold_raw_timestamp(raw), 1234);
    const char *v = fold_raw_value(raw, &len, &has);
    CHECK_INT_EQ(has, 1);
    CHECK_INT_EQ(len, 7);
    CHECK(memcmp(v, "{\"a\":1}", 7) == 0);
    CHECK_INT_EQ(fold_raw_nheaders(raw), 3);
    fold_raw_header(raw, 1, &h);
    CHECK_STR_EQ(h.name, "empty");
    CHECK(h.value == NULL);
    CHECK_INT_EQ(fold_raw_header_str(raw, "received-at", buf, sizeof(buf)), 0);
    CHECK_STR_EQ(buf, "2026-12-01T10:00:00.000Z");
    CHECK_INT_EQ(fold_raw_header_str(raw, "empty", buf, sizeof(buf)), -1);
    CHECK_INT_EQ(fold_raw_header_str(raw, "absent", buf, sizeof(buf)), -1);
    free(raw);

    raw = fold_raw_pack(NULL, 0, 0, NULL, 0, 0);
    fold_raw_value(raw, &len, &has);
    CHECK_INT_EQ(has, 0);
    CHECK_INT_EQ(fold_raw_nheaders(raw), 0);
    free(raw);
}

CHECK_MAIN(test_fifty_notifications_in_one_window_make_one_due_answer,
           test_a_notification_during_a_fetch_makes_a_second_answer,
           test_no_two_fetches_of_a_key_start_within_one_window,
           test_the_last_action_wins,
           test_a_retry_keeps_the_attempts_and_covers_new_offsets,
           test_keys_come_due_in_time_order_across_many_keys,
           test_dropping_a_partition_removes_only_its_keys,
           test_the_raw_record_keeps_value_headers_and_time)
