/*
 * test_metrics.c - the Prometheus text is well formed and the counts are
 * exact under concurrent updates.
 *
 * The rendered page is parsed back line by line, as a scraper would.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"

enum { PAGE_MAX = 1 << 20 };

static char *render(struct metrics *m)
{
    struct buf page;

    buf_init(&page, PAGE_MAX);
    if (metrics_render(m, &page) != 0 || page.data == NULL) {
        buf_free(&page);
        return strdup("");
    }
    return page.data;
}

static int count_occurrences(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The value of the sample whose series text is exactly `series`. */
static int sample(const char *page, const char *series, double *value)
{
    size_t n = strlen(series);

    for (const char *line = page; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            *value = strtod(line + n + 1, NULL);
            return 0;
        }
        if (strchr(line, '\n') == NULL)
            break;
    }
    return -1;
}

static double sample_or_nan(const char *page, const char *series)
{
    double v;

    return sample(page, series, &v) == 0 ? v : NAN;
}

static void test_series_of_one_name_share_a_single_help_and_type(void)
{
    struct metrics *m = metrics_new();
    struct metric *ok =
        metrics_counter(m, "requests_total", "status=\"200\"", "Requests.");
    metrics_gauge(m, "inflight", NULL, "Requests in flight.");
    struct metric *bad =
        metrics_counter(m, "requests_total", "status=\"500\"", "Requests.");

    metric_add(ok, 5);
    metric_inc(bad);
    char *page = render(m);

    CHECK_INT_EQ(count_occurrences(page, "# HELP hookbridge_requests_total "),
                 1);
    CHECK_INT_EQ(
        count_occurrences(page, "# TYPE hookbridge_requests_total counter\n"),
        1);
    CHECK_INT_EQ(count_occurrences(page, "# TYPE hookbridge_inflight gauge\n"),
                 1);
    CHECK(sample_or_nan(page, "hookbridge_requests_total{status=\"200\"}") ==
          5);
    CHECK(sample_or_nan(page, "hookbridge_requests_total{status=\"500\"}") ==
          1);
    CHECK(sample_or_nan(page, "hookbridge_inflight") == 0);

    /* Both requests_total series come before the next name's header. */
    const char *second = strstr(page, "{status=\"500\"}");
    const char *gauge = strstr(page, "# HELP hookbridge_inflight");
    CHECK(second != NULL && gauge != NULL && second < gauge);
    free(page);
    metrics_free(m);
}

static void test_every_line_is_a_comment_or_a_sample(void)
{
    struct metrics *m = metrics_new();
    static const double bounds[] = {0.1, 1};

    metrics_counter(m, "a_total", NULL, "A.");
    metrics_gauge(m, "b", "x=\"y\"", "B.");
    metrics_histogram(m, "c_seconds", NULL, "C.", bounds, 2);
    char *page = render(m);

    CHECK(strlen(page) > 0);
    CHECK(page[strlen(page) - 1] == '\n');
    for (char *line = strtok(page, "\n"); line; line = strtok(NULL, "\n")) {
        int comment = strncmp(line, "# HELP hookbridge_", 18) == 0 ||
                      strncmp(line, "# TYPE hookbridge_", 18) == 0;
        int sample_line =
            strncmp(line, "hookbridge_", 11) == 0 && strchr(line, ' ') != NULL;
        if (!comment && !sample_line)
            fprintf(stderr, "bad line: %s\n", line);
        CHECK(comment || sample_line);
    }
    free(page);
    metrics_free(m);
}

static void test_gauges_show_the_last_value_set(void)
{
    struct metrics *m = metrics_new();
    struct metric *g = metrics_gauge(m, "queue_depth", NULL, "Depth.");

    metric_set(g, 42);
    metric_set(g, -7);
    char *page = render(m);

    CHECK(sample_or_nan(page, "hookbridge_queue_depth") == -7);
    free(page);
    metrics_free(m);
}

static double half(void *arg)
{
    return *(double *)arg / 2;
}

static double not_a_number(void *arg)
{
    (void)arg;
    return NAN;
}

static void test_function_gauges_are_read_at_render_time(void)
{
    struct metrics *m = metrics_new();
    double v = 3;

    metrics_gauge_fn(m, "share", "p=\"1\"", "Share.", half, &v);
    metrics_gauge_fn(m, "nan", NULL, "Unknown.", not_a_number, NULL);
    char *page = render(m);
    CHECK(sample_or_nan(page, "hookbridge_share{p=\"1\"}") == 1.5);
    CHECK_CONTAINS(page, "hookbridge_nan NaN\n");
    free(page);

    v = 10;
    page = render(m);
    CHECK(sample_or_nan(page, "hookbridge_share{p=\"1\"}") == 5);
    CHECK_CONTAINS(page, "# TYPE hookbridge_share gauge\n");
    free(page);
    metrics_free(m);
}

static void test_histogram_buckets_are_cumulative_with_inf_equal_count(void)
{
    struct metrics *m = metrics_new();
    static const double bounds[] = {0.005, 0.1, 1, 10};
    struct metric *h = metrics_histogram(m, "fetch_seconds", "kind=\"cand\"",
                                         "Fetch time.", bounds, 4);
    static const double seen[] = {0.001, 0.005, 0.05, 0.5, 0.7, 5, 50};

    for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
        metric_observe(h, seen[i]);
    char *page = render(m);

    CHECK_INT_EQ(
        count_occurrences(page, "# TYPE hookbridge_fetch_seconds histogram\n"),
        1);
    CHECK(sample_or_nan(
              page,
              "hookbridge_fetch_seconds_bucket{kind=\"cand\",le=\"0.005\"}") ==
          2);
    CHECK(sample_or_nan(
              page,
              "hookbridge_fetch_seconds_bucket{kind=\"cand\",le=\"0.1\"}") ==
          3);
    CHECK(sample_or_nan(
              page,
              "hookbridge_fetch_seconds_bucket{kind=\"cand\",le=\"1\"}") == 5);
    CHECK(sample_or_nan(
              page,
              "hookbridge_fetch_seconds_bucket{kind=\"cand\",le=\"10\"}") == 6);
    CHECK(sample_or_nan(
              page,
              "hookbridge_fetch_seconds_bucket{kind=\"cand\",le=\"+Inf\"}") ==
          7);
    CHECK(sample_or_nan(page,
                        "hookbridge_fetch_seconds_count{kind=\"cand\"}") == 7);
    CHECK(fabs(sample_or_nan(page,
                             "hookbridge_fetch_seconds_sum{kind=\"cand\"}") -
               56.256) < 1e-9);
    free(page);
    metrics_free(m);
}

static void test_a_histogram_without_labels_has_only_le(void)
{
    struct metrics *m = metrics_new();
    static const double bounds[] = {1};
    struct metric *h =
        metrics_histogram(m, "size_bytes", NULL, "Size.", bounds, 1);

    metric_observe(h, 2);
    char *page = render(m);

    CHECK(sample_or_nan(page, "hookbridge_size_bytes_bucket{le=\"1\"}") == 0);
    CHECK(sample_or_nan(page, "hookbridge_size_bytes_bucket{le=\"+Inf\"}") ==
          1);
    CHECK(sample_or_nan(page, "hookbridge_size_bytes_sum") == 2);
    CHECK(sample_or_nan(page, "hookbridge_size_bytes_count") == 1);
    free(page);
    metrics_free(m);
}

static void test_help_text_with_a_newline_stays_on_one_line(void)
{
    struct metrics *m = metrics_new();

    metrics_counter(m, "odd_total", NULL, "Two\nlines \\ slash.");
    char *page = render(m);

    CHECK_CONTAINS(page,
                   "# HELP hookbridge_odd_total Two\\nlines \\\\ slash.\n");
    free(page);
    metrics_free(m);
}

static void test_rendering_into_a_full_buffer_fails(void)
{
    struct metrics *m = metrics_new();
    struct buf small;

    metrics_counter(m, "a_rather_long_metric_name_total", NULL,
                    "Something with a long help text.");
    buf_init(&small, 40);
    CHECK_INT_EQ(metrics_render(m, &small), -1);
    CHECK(small.len <= 40);
    buf_free(&small);
    metrics_free(m);
}

enum { THREADS = 4, ROUNDS = 100000 };

struct worker {
    struct metric *counter;
    struct metric *histogram;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < ROUNDS; i++) {
        metric_inc(w->counter);
        metric_observe(w->histogram, 0.5);
    }
    return NULL;
}

static void test_concurrent_updates_from_four_threads_sum_exactly(void)
{
    struct metrics *m = metrics_new();
    static const double bounds[] = {1};
    struct worker w = {
        metrics_counter(m, "events_total", NULL, "Events."),
        metrics_histogram(m, "lag_seconds", NULL, "Lag.", bounds, 1),
    };
    pthread_t t[THREADS];

    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hammer, &w);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *page = render(m);

    CHECK_INT_EQ(metric_value(w.counter), THREADS * ROUNDS);
    CHECK(sample_or_nan(page, "hookbridge_events_total") == THREADS * ROUNDS);
    CHECK(sample_or_nan(page, "hookbridge_lag_seconds_count") ==
          THREADS * ROUNDS);
    CHECK(sample_or_nan(page, "hookbridge_lag_seconds_bucket{le=\"1\"}") ==
          THREADS * ROUNDS);
    CHECK(sample_or_nan(page, "hookbridge_lag_seconds_sum") ==
          THREADS * ROUNDS * 0.5);
    free(page);
    metrics_free(m);
}

CHECK_MAIN(test_series_of_one_name_share_a_single_help_and_type,
           test_every_line_is_a_comment_or_a_sample,
           test_gauges_show_the_last_value_set,
           test_function_gauges_are_read_at_render_time,
           test_histogram_buckets_are_cumulative_with_inf_equal_count,
           test_a_histogram_without_labels_has_only_le,
           test_help_text_with_a_newline_stays_on_one_line,
           test_rendering_into_a_full_buffer_fails,
           test_concurrent_updates_from_four_threads_sum_exactly)
