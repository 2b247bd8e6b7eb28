/*
 * test_retry.c - every API answer maps to the right reaction, backoff
 * stays within its bounds, Retry-After is read in both of its forms.
 */
#include <stdint.h>

#include "check.h"
#include "retry.h"

static const struct status_case {
    long status;
    int has_retry_after;
    enum retry_outcome want;
} status_cases[] = {
    {200, 0, RETRY_OBJECT},    {200, 1, RETRY_OBJECT},
    {404, 0, RETRY_GONE},      {410, 0, RETRY_GONE},
    {429, 0, RETRY_THROTTLED}, {429, 1, RETRY_THROTTLED},
    {503, 1, RETRY_THROTTLED}, {503, 0, RETRY_TRANSIENT},
    {0, 0, RETRY_TRANSIENT},   {408, 0, RETRY_TRANSIENT},
    {500, 0, RETRY_TRANSIENT}, {500, 1, RETRY_TRANSIENT},
    {502, 0, RETRY_TRANSIENT}, {504, 0, RETRY_TRANSIENT},
    {507, 0, RETRY_TRANSIENT}, {599, 0, RETRY_TRANSIENT},
    {401, 0, RETRY_AUTH},      {403, 0, RETRY_AUTH},
    {403, 1, RETRY_AUTH},      {400, 0, RETRY_FATAL},
    {405, 0, RETRY_FATAL},     {422, 0, RETRY_FATAL},
    {499, 0, RETRY_FATAL},     {201, 0, RETRY_FATAL},
    {204, 0, RETRY_FATAL},     {301, 0, RETRY_FATAL},
    {302, 1, RETRY_FATAL},     {100, 0, RETRY_FATAL},
    {600, 0, RETRY_FATAL},     {-1, 0, RETRY_FATAL},
};

static void test_every_status_maps_to_its_reaction(void)
{
    for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]);
         i++) {
        const struct status_case *c = &status_cases[i];
        enum retry_outcome got = retry_classify(c->status, c->has_retry_after);

        if (got != c->want)
            fprintf(stderr, "status %ld (retry-after %d): got %s\n", c->status,
                    c->has_retry_after, retry_outcome_name(got));
        CHECK_INT_EQ(got, c->want);
    }
}

static void test_outcomes_have_short_names(void)
{
    CHECK_STR_EQ(retry_outcome_name(RETRY_OBJECT), "object");
    CHECK_STR_EQ(retry_outcome_name(RETRY_GONE), "gone");
    CHECK_STR_EQ(retry_outcome_name(RETRY_THROTTLED), "throttled");
    CHECK_STR_EQ(retry_outcome_name(RETRY_TRANSIENT), "transient");
    CHECK_STR_EQ(retry_outcome_name(RETRY_AUTH), "auth");
    CHECK_STR_EQ(retry_outcome_name(RETRY_FATAL), "fatal");
}

static void test_backoff_stays_between_one_ms_and_the_cap(void)
{
    uint64_t rng = 7;

    for (int attempt = 1; attempt <= 12; attempt++) {
        int64_t cap = 100LL << (attempt - 1);
        cap = cap > 30000 ? 30000 : cap;

        for (int i = 0; i < 2000; i++) {
            int64_t d = retry_backoff_ms(attempt, 100, 30000, &rng);
            CHECK(d >= 1 && d <= cap);
        }
    }
}

/* The largest of many draws shows where the jitter's ceiling is. */
static int64_t backoff_ceiling(int attempt, uint64_t *rng)
{
    int64_t most = 0;

    for (int i = 0; i < 5000; i++) {
        int64_t d = retry_backoff_ms(attempt, 100, 30000, rng);
        most = d > most ? d : most;
    }
    return most;
}

static void test_backoff_doubles_until_the_cap(void)
{
    uint64_t rng = 12345;

    CHECK(backoff_ceiling(1, &rng) > 90);
    CHECK(backoff_ceiling(2, &rng) > 180);
    CHECK(backoff_ceiling(3, &rng) > 360);
    CHECK(backoff_ceiling(5, &rng) > 1500);
    int64_t late = backoff_ceiling(10, &rng);
    CHECK(late > 28000 && late <= 30000);
}

static void test_backoff_is_jittered_not_fixed(void)
{
    uint64_t rng = 1;
    int64_t first = retry_backoff_ms(6, 100, 30000, &rng);
    int differ = 0;

    for (int i = 0; i < 20; i++)
        differ += retry_backoff_ms(6, 100, 30000, &rng) != first;
    CHECK(differ > 10);

    /* Replicas seeded differently do not retry in step. */
    uint64_t a = 1, b = 2;
    CHECK(retry_backoff_ms(6, 100, 30000, &a) !=
          retry_backoff_ms(6, 100, 30000, &b));
}

static void test_backoff_survives_huge_attempt_counts(void)
{
    uint64_t rng = 99;
    int64_t max = INT64_MAX / 2;

    for (int attempt = 60; attempt < 70; attempt++) {
        int64_t d = retry_backoff_ms(attempt, 1000, 60000, &rng);
        CHECK(d >= 1 && d <= 60000);
    }
    CHECK(retry_backoff_ms(1000000, 1, max, &rng) >= 1);
    CHECK(retry_backoff_ms(2147483647, 1, 1, &rng) == 1);
}

/* Tue, 01 Dec 2026 10:00:00 GMT */
static const int64_t now_s = 1796119200;

static const struct after_case {
    const char *value;
    int64_t want_ms;
} after_cases[] = {
    {"0", 0},
    {"7", 7000},
    {" 120\r\n", 120000},
    {"3600", 3600000},
    {"3601", 3600000},
    {"99999999999999999999999999", 3600000},
    {"Tue, 01 Dec 2026 10:00:30 GMT", 30000},
    {"Tue, 01 Dec 2026 09:00:00 GMT", 0},
    {"Wed, 02 Dec 2026 10:00:00 GMT", 3600000},
    {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
    {"", -1},
    {"   ", -1},
    {"soon", -1},
    {"-5", -1},
    {"+5", -1},
    {"1.5", -1},
    {"12abc", -1},
    {"Tue, 01 Dec 2026 10:00:30 UTC", -1},
    {"Tue, 1 Dec 2026 10:00:30 GMT", -1},
    {"Tuesday, 01-Dec-26 10:00:30 GMT", -1},
    {"Tue, 01 Foo 2026 10:00:30 GMT", -1},
    {"Tue, 01 Dec 2026 25:00:30 GMT", -1},
    {"Tue, 01 Dec 2026 10:00:30 GMT trailing", -1},
    {"Tue, 01 Dec 2026", -1},
};

static void test_retry_after_reads_seconds_and_dates(void)
{
    for (size_t i = 0; i < sizeof(after_cases) / sizeof(after_cases[0]); i++) {
        int64_t got = retry_after_parse(after_cases[i].value, now_s);

        if (got != after_cases[i].want_ms)
            fprintf(stderr, "Retry-After \"%s\"\n", after_cases[i].value);
        CHECK_INT_EQ(got, after_cases[i].want_ms);
    }
    CHECK_INT_EQ(retry_after_parse(NULL, now_s), -1);
}

static void test_retry_after_handles_overlong_values(void)
{
    char value[300];

    memset(value, '1', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    CHECK_INT_EQ(retry_after_parse(value, now_s), 3600000);

    memset(value, 'x', sizeof(value) - 1);
    CHECK_INT_EQ(retry_after_parse(value, now_s), -1);
}

CHECK_MAIN(test_every_status_maps_to_its_reaction,
           test_outcomes_have_short_names,
           test_backoff_stays_between_one_ms_and_the_cap,
           test_backoff_doubles_until_the_cap,
           test_backoff_is_jittered_not_fixed,
           test_backoff_survives_huge_attempt_counts,
           test_retry_after_reads_seconds_and_dates,
           test_retry_after_handles_overlong_values)
