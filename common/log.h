/*
 * log.h - operator-facing log lines for both hookbridge binaries.
 *
 * One line per event on stderr: an RFC 3339 timestamp, the level, the
 * program name, a short message and the facts that matter as key=value:
 *
 *   2026-12-03T10:00:00.123Z INFO hookbridge-ingest: stored key=candidate:1
 *
 * The level check happens before any formatting, so a filtered debug line
 * costs one comparison. Callers never pass secrets: the log is shipped to
 * places the shared key and the API key must not reach.
 */
#ifndef HOOKBRIDGE_LOG_H
#define HOOKBRIDGE_LOG_H

#include <stdatomic.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The most verbose level written; read on every log call. */
extern _Atomic int log_threshold;

/*
 * Names the program in every line and sets the threshold. Call once from
 * main() before any thread starts; `program` must outlive the process.
 */
void log_init(const char *program, enum log_level level);

/*
 * Parses "error", "warn", "info" or "debug" (any case) into *out.
 * Returns 0 on success, -1 when the name is unknown.
 */
int log_level_parse(const char *name, enum log_level *out);

/*
 * Writes one line. Thread-safe: the line is formatted into a local buffer
 * and written with a single write(2), so lines from different threads do
 * not interleave. Long lines are cut at about 1 KiB, ending in "...".
 */
void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_AT(level, ...)                                                     \
    do {                                                                       \
        if ((int)(level) <=                                                    \
            atomic_load_explicit(&log_threshold, memory_order_relaxed))        \
            log_write((level), __VA_ARGS__);                                   \
    } while (0)

#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

#endif
