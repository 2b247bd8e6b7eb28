/*
 * metrics.h - counters, gauges and histograms in Prometheus text format.
 *
 * Series are registered once at start (from main(), before threads run)
 * and updated lock-free from any thread afterwards; rendering reads them
 * with relaxed atomics, which is exact enough for monitoring. Series of
 * the same name share one HELP/TYPE header however they were registered.
 * All names get the prefix "hookbridge_".
 */
#ifndef HOOKBRIDGE_METRICS_H
#define HOOKBRIDGE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * Registers one series. `name` without prefix ("requests_total"),
 * `labels` as Prometheus label text without braces ("status=\"200\"") or
 * NULL, `help` one line. The registry owns the returned series; it lives
 * until metrics_free(). Aborts on allocation failure: registration happens
 * at start, where failing loudly is right.
 */
struct metric *metrics_counter(struct metrics *m, const char *name,
                               const char *labels, const char *help);
struct metric *metrics_gauge(struct metrics *m, const char *name,
                             const char *labels, const char *help);

/* A gauge whose value is read by calling fn(arg) at render time. */
struct metric *metrics_gauge_fn(struct metrics *m, const char *name,
                                const char *labels, const char *help,
                                double (*fn)(void *arg), void *arg);

/*
 * A histogram with the given ascending upper bounds (seconds, bytes, ...);
 * +Inf is added. At most 32 bounds.
 */
struct metric *metrics_histogram(struct metrics *m, const char *name,
                                 const char *labels, const char *help,
                                 const double *bounds, size_t nbounds);

/* Updates; any thread. */
void metric_inc(struct metric *s);
void metric_add(struct metric *s, uint64_t n);
void metric_set(struct metric *s, int64_t v);    /* gauges */
void metric_observe(struct metric *s, double v); /* histograms */
uint64_t metric_value(const struct metric *s);   /* counters, for tests */

/* Appends the text exposition of every series; -1 when `out` is full. */
int metrics_render(struct metrics *m, struct buf *out);

#endif
