/*
 * log.c - formats and writes log lines; see log.h for the line format.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum { LOG_LINE_MAX = 1024 };

_Atomic int log_threshold = LOG_INFO;

static const char *log_program = "hookbridge";

static const char *const log_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_init(const char *program, enum log_level level)
{
    log_program = program;
    atomic_store(&log_threshold, (int)level);
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
        if (strcasecmp(name, log_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

static size_t log_timestamp(char *buf, size_t len)
{
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(buf + n, len - n, ".%03ldZ", now.tv_nsec / 1000000L);
    return n + (size_t)m;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;

    size_t n = log_timestamp(line, sizeof(line));
    n += (size_t)snprintf(line + n, sizeof(line) - n,
                          " %s %s: ", log_names[level], log_program);

    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);

    if (m < 0)
        m = 0;
    if ((size_t)m >= sizeof(line) - n) {
        n = sizeof(line) - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    } else {
        n += (size_t)m;
    }
    line[n++] = '\n';

    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
