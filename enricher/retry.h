/*
 * retry.h - what an API answer means for the object that was fetched.
 *
 * One table maps each HTTP status to an outcome, so the pipeline's
 * reaction to every answer is in one place: publish the object, publish
 * a tombstone, wait as told (429/503 with Retry-After), back off and try
 * again (other 5xx, timeouts, no reply), pause everything because the
 * key is refused (401/403), or give up at once (other 4xx). Pure.
 */
#ifndef HOOKBRIDGE_RETRY_H
#define HOOKBRIDGE_RETRY_H

#include <stdint.h>

enum retry_outcome {
    RETRY_OBJECT,    /* 200: read the object from the body */
    RETRY_GONE,      /* 404: the object no longer exists */
    RETRY_THROTTLED, /* 429, or 503 with Retry-After: wait, then retry */
    RETRY_TRANSIENT, /* other 5xx, timeout, no reply: back off, retry */
    RETRY_AUTH,      /* 401, 403: the API key is refused */
    RETRY_FATAL,     /* any other status: retrying will not help */
};

/* The outcome for `status` (0 = no reply); `has_retry_after` as sent. */
enum retry_outcome retry_classify(long status, int has_retry_after);

/* A short lowercase name for logs and metrics ("transient"). */
const char *retry_outcome_name(enum retry_outcome o);

/*
 * Delay before attempt `attempt` + 1 after `attempt` failures (>= 1):
 * exponential from `base_ms`, capped at `max_ms`, with full jitter drawn
 * from *rng (any non-zero seed; updated).
 */
int64_t retry_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms,
                         uint64_t *rng);

/*
 * Parses a Retry-After value: delta seconds or an HTTP date, relative to
 * `now_s` (Unix seconds). Returns milliseconds >= 0, or -1 when the
 * value is unreadable. Capped at one hour.
 */
int64_t retry_after_parse(const char *value, int64_t now_s);

#endif
