/*
 * metrics.c - the Prometheus registry; see metrics.h.
 *
 * Updates touch only C11 atomics, so a request thread never waits for a
 * scrape. A histogram keeps one counter per bucket (not cumulative) and
 * cumulates while rendering, so an observation is two increments and one
 * compare-and-swap on the sum, whose double lives in a uint64_t as bits.
 */
#include "metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { METRICS_BOUNDS_MAX = 32 };

static const char metrics_prefix[] = "hookbridge_";

enum metric_type {
    METRIC_COUNTER,
    METRIC_GAUGE,
    METRIC_GAUGE_FN,
    METRIC_HISTOGRAM
};

static const char *const metric_type_names[] = {
    [METRIC_COUNTER] = "counter",
    [METRIC_GAUGE] = "gauge",
    [METRIC_GAUGE_FN] = "gauge",
    [METRIC_HISTOGRAM] = "histogram",
};

struct metric {
    enum metric_type type;
    char *name;
    char *labels; /* "" when none */
    char *help;
    struct metric *next;

    _Atomic uint64_t counter;
    _Atomic int64_t gauge;
    double (*fn)(void *arg);
    void *arg;

    size_t nbounds;
    double bounds[METRICS_BOUNDS_MAX];
    _Atomic uint64_t buckets[METRICS_BOUNDS_MAX + 1]; /* last is +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_bits;
};

struct metrics {
    /* Guards the list only; values are atomics read without it. */
    pthread_mutex_t lock;
    struct metric *head;
    struct metric *tail;
};

static void *metrics_alloc(size_t n)
{
    void *p = calloc(1, n);

    if (p == NULL)
        abort();
    return p;
}

static char *metrics_strdup(const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL)
        abort();
    return copy;
}

struct metrics *metrics_new(void)
{
    struct metrics *m = metrics_alloc(sizeof(*m));

    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    for (struct metric *s = m->head, *next; s != NULL; s = next) {
        next = s->next;
        free(s->name);
        free(s->labels);
        free(s->help);
        free(s);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Series of one name must agree on type, or the exposition is invalid. */
static void metrics_check_type(struct metrics *m, const struct metric *s)
{
    for (const struct metric *o = m->head; o != NULL; o = o->next) {
        assert(strcmp(o->name, s->name) != 0 ||
               strcmp(metric_type_names[o->type], metric_type_names[s->type]) ==
                   0);
    }
    (void)s;
}

static struct metric *metrics_add(struct metrics *m, enum metric_type type,
                                  const char *name, const char *labels,
                                  const char *help)
{
    struct metric *s = metrics_alloc(sizeof(*s));

    assert(m != NULL && name != NULL && help != NULL);
    s->type = type;
    s->name = metrics_strdup(name);
    s->labels = metrics_strdup(labels ? labels : "");
    s->help = metrics_strdup(help);

    pthread_mutex_lock(&m->lock);
    metrics_check_type(m, s);
    if (m->tail != NULL)
        m->tail->next = s;
    else
        m->head = s;
    m->tail = s;
    pthread_mutex_unlock(&m->lock);
    return s;
}

struct metric *metrics_counter(struct metrics *m, const char *name,
                               const char *labels, const char *help)
{
    return metrics_add(m, METRIC_COUNTER, name, labels, help);
}

struct metric *metrics_gauge(struct metrics *m, const char *name,
                             const char *labels, const char *help)
{
    return metrics_add(m, METRIC_GAUGE, name, labels, help);
}

struct metric *metrics_gauge_fn(struct metrics *m, const char *name,
                                const char *labels, const char *help,
                                double (*fn)(void *arg), void *arg)
{
    struct metric *s;

    assert(fn != NULL);
    s = metrics_add(m, METRIC_GAUGE_FN, name, labels, help);
    s->fn = fn;
    s->arg = arg;
    return s;
}

struct metric *metrics_histogram(struct metrics *m, const char *name,
                                 const char *labels, const char *help,
                                 const double *bounds, size_t nbounds)
{
    struct metric *s;

    assert(nbounds <= METRICS_BOUNDS_MAX);
    for (size_t i = 1; i < nbounds; i++)
        assert(bounds[i - 1] < bounds[i]);
    s = metrics_add(m, METRIC_HISTOGRAM, name, labels, help);
    memcpy(s->bounds, bounds, nbounds * sizeof(*bounds));
    s->nbounds = nbounds;
    return s;
}

void metric_inc(struct metric *s)
{
    metric_add(s, 1);
}

void metric_add(struct metric *s, uint64_t n)
{
    assert(s->type == METRIC_COUNTER);
    atomic_fetch_add_explicit(&s->counter, n, memory_order_relaxed);
}

void metric_set(struct metric *s, int64_t v)
{
    assert(s->type == METRIC_GAUGE);
    atomic_store_explicit(&s->gauge, v, memory_order_relaxed);
}

static double metrics_bits_to_double(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

static uint64_t metrics_double_to_bits(double d)
{
    uint64_t bits;

    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

void metric_observe(struct metric *s, double v)
{
    size_t i = 0;
    uint64_t old, new;

    assert(s->type == METRIC_HISTOGRAM);
    while (i < s->nbounds && v > s->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);

    old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
    do {
        new = metrics_double_to_bits(metrics_bits_to_double(old) + v);
    } while (!atomic_compare_exchange_weak_explicit(
        &s->sum_bits, &old, new, memory_order_relaxed, memory_order_relaxed));
}

uint64_t metric_value(const struct metric *s)
{
    assert(s->type == METRIC_COUNTER);
    return atomic_load_explicit(&s->counter, memory_order_relaxed);
}

/* Shortest text that reads back as the same double, in Prometheus form. */
static void metrics_format_double(double v, char *out, size_t len)
{
    if (isnan(v)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(out, len, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, len, "%.17g", v);
}

/* `name{labels}` or `name{labels,extra}`; braces only when needed. */
static int metrics_series(struct buf *out, const struct metric *s,
                          const char *suffix, const char *extra)
{
    const char *sep = s->labels[0] && extra ? "," : "";
    int braces = s->labels[0] || extra;

    return buf_printf(out, "%s%s%s%s%s%s%s%s ", metrics_prefix, s->name, suffix,
                      braces ? "{" : "", s->labels, sep, extra ? extra : "",
                      braces ? "}" : "");
}

static int metrics_render_histogram(struct buf *out, const struct metric *s)
{
    char num[40], le[64];
    uint64_t total = 0;

    for (size_t i = 0; i <= s->nbounds; i++) {
        total += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        if (i < s->nbounds)
            metrics_format_double(s->bounds[i], num, sizeof(num));
        else
            snprintf(num, sizeof(num), "+Inf");
        snprintf(le, sizeof(le), "le=\"%s\"", num);
        if (metrics_series(out, s, "_bucket", le) ||
            buf_printf(out, "%" PRIu64 "\n", total))
            return -1;
    }

    /* _count equals the +Inf bucket even while observations race. */
    metrics_format_double(metrics_bits_to_double(atomic_load_explicit(
                              &s->sum_bits, memory_order_relaxed)),
                          num, sizeof(num));
    if (metrics_series(out, s, "_sum", NULL) || buf_printf(out, "%s\n", num) ||
        metrics_series(out, s, "_count", NULL) ||
        buf_printf(out, "%" PRIu64 "\n", total))
        return -1;
    return 0;
}

static int metrics_render_one(struct buf *out, const struct metric *s)
{
    char num[40];

    switch (s->type) {
    case METRIC_COUNTER:
        snprintf(num, sizeof(num), "%" PRIu64,
                 atomic_load_explicit(&s->counter, memory_order_relaxed));
        break;
    case METRIC_GAUGE:
        snprintf(num, sizeof(num), "%" PRId64,
                 atomic_load_explicit(&s->gauge, memory_order_relaxed));
        break;
    case METRIC_GAUGE_FN:
        metrics_format_double(s->fn(s->arg), num, sizeof(num));
        break;
    case METRIC_HISTOGRAM:
        return metrics_render_histogram(out, s);
    }
    if (metrics_series(out, s, "", NULL) || buf_printf(out, "%s\n", num))
        return -1;
    return 0;
}

/* HELP text may not hold a raw newline; backslashes are escaped too. */
static int metrics_render_help(struct buf *out, const struct metric *s)
{
    if (buf_printf(out, "# HELP %s%s ", metrics_prefix, s->name))
        return -1;
    for (const char *p = s->help; *p; p++) {
        int rc = *p == '\\'   ? buf_append(out, "\\\\", 2)
                 : *p == '\n' ? buf_append(out, "\\n", 2)
                              : buf_append(out, p, 1);
        if (rc)
            return -1;
    }
    return buf_printf(out, "\n# TYPE %s%s %s\n", metrics_prefix, s->name,
                      metric_type_names[s->type]);
}

static int metrics_seen_before(const struct metrics *m, const struct metric *s)
{
    for (const struct metric *o = m->head; o != s; o = o->next) {
        if (strcmp(o->name, s->name) == 0)
            return 1;
    }
    return 0;
}

int metrics_render(struct metrics *m, struct buf *out)
{
    int rc = 0;

    assert(m != NULL && out != NULL);
    pthread_mutex_lock(&m->lock);
    for (const struct metric *s = m->head; s != NULL && rc == 0; s = s->next) {
        if (metrics_seen_before(m, s))
            continue;
        rc = metrics_render_help(out, s);
        for (const struct metric *o = s; o != NULL && rc == 0; o = o->next) {
            if (strcmp(o->name, s->name) == 0)
                rc = metrics_render_one(out, o);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}
