/*
 * retry.c - the status table, the backoff and Retry-After; see retry.h.
 *
 * The table is searched in order and the first row whose range holds the
 * status wins, so specific statuses come before the ranges around them.
 */
#include "retry.h"

#include <assert.h>
#include <ctype.h>
#include <string.h>
#include <time.h>

enum { RETRY_AFTER_MAX_S = 3600 };

static const struct retry_row {
    long lo, hi;
    enum retry_outcome plain;      /* without Retry-After */
    enum retry_outcome with_after; /* with Retry-After */
} retry_table[] = {
    {0, 0, RETRY_TRANSIENT, RETRY_TRANSIENT},
    {200, 200, RETRY_OBJECT, RETRY_OBJECT},
    {401, 401, RETRY_AUTH, RETRY_AUTH},
    {403, 403, RETRY_AUTH, RETRY_AUTH},
    {404, 404, RETRY_GONE, RETRY_GONE},
    {408, 408, RETRY_TRANSIENT, RETRY_TRANSIENT},
    {410, 410, RETRY_GONE, RETRY_GONE},
    {429, 429, RETRY_THROTTLED, RETRY_THROTTLED},
    {400, 499, RETRY_FATAL, RETRY_FATAL},
    {503, 503, RETRY_TRANSIENT, RETRY_THROTTLED},
    {500, 599, RETRY_TRANSIENT, RETRY_TRANSIENT},
};

enum retry_outcome retry_classify(long status, int has_retry_after)
{
    for (size_t i = 0; i < sizeof(retry_table) / sizeof(retry_table[0]); i++) {
        const struct retry_row *row = &retry_table[i];

        if (status >= row->lo && status <= row->hi)
            return has_retry_after ? row->with_after : row->plain;
    }
    /* Other 2xx, 1xx and 3xx (redirects are not followed) are surprises
     * that a retry will not change. */
    return RETRY_FATAL;
}

const char *retry_outcome_name(enum retry_outcome o)
{
    static const char *const names[] = {
        [RETRY_OBJECT] = "object",       [RETRY_GONE] = "gone",
        [RETRY_THROTTLED] = "throttled", [RETRY_TRANSIENT] = "transient",
        [RETRY_AUTH] = "auth",           [RETRY_FATAL] = "fatal",
    };

    assert((unsigned)o < sizeof(names) / sizeof(names[0]));
    return names[o];
}

/* splitmix64: small, fast and good enough to spread clients apart. */
static uint64_t retry_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t retry_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms,
                         uint64_t *rng)
{
    assert(attempt >= 1 && base_ms >= 1 && max_ms >= base_ms && rng);

    /* Doubling stops at the cap, so no attempt count can overflow it. */
    int64_t cap = base_ms;
    for (int i = 1; i < attempt && cap < max_ms; i++)
        cap = cap > max_ms / 2 ? max_ms : cap * 2;

    /* Full jitter, but never 0: a zero delay would retry in a hot loop. */
    return 1 + (int64_t)(retry_random(rng) % (uint64_t)cap);
}

static const char *const retry_days[] = {"Sun", "Mon", "Tue", "Wed",
                                         "Thu", "Fri", "Sat"};
static const char *const retry_months[] = {"Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec"};

/* Index of the three letters at `s` in `names`, or -1. */
static int retry_name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (strncmp(s, names[i], 3) == 0)
            return i;
    }
    return -1;
}

/* Reads exactly `digits` decimal digits at *p into *out. */
static int retry_digits(const char **p, int digits, int *out)
{
    int v = 0;

    for (int i = 0; i < digits; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += digits;
    *out = v;
    return 0;
}

/* Checks that the literal `lit` is at *p and steps over it. */
static int retry_literal(const char **p, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*p, lit, n) != 0)
        return -1;
    *p += n;
    return 0;
}

/*
 * IMF-fixdate, the one HTTP date form senders must use:
 * "Sun, 06 Nov 1994 08:49:37 GMT". Returns Unix seconds or -1.
 */
static int64_t retry_http_date(const char *s)
{
    struct tm tm = {0};
    int year;

    if (retry_name_index(s, retry_days, 7) < 0)
        return -1;
    s += 3;
    if (retry_literal(&s, ", ") || retry_digits(&s, 2, &tm.tm_mday) ||
        retry_literal(&s, " "))
        return -1;
    tm.tm_mon = retry_name_index(s, retry_months, 12);
    if (tm.tm_mon < 0)
        return -1;
    s += 3;
    if (retry_literal(&s, " ") || retry_digits(&s, 4, &year) ||
        retry_literal(&s, " ") || retry_digits(&s, 2, &tm.tm_hour) ||
        retry_literal(&s, ":") || retry_digits(&s, 2, &tm.tm_min) ||
        retry_literal(&s, ":") || retry_digits(&s, 2, &tm.tm_sec) ||
        retry_literal(&s, " GMT") || *s != '\0')
        return -1;

    if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year = year - 1900;
    return (int64_t)timegm(&tm);
}

/* Delta seconds over [p, end); past the cap is the cap. Returns -1 when
 * anything but a digit is there. */
static int64_t retry_delta_seconds(const char *p, const char *end)
{
    int64_t seconds = 0;

    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        if (seconds <= RETRY_AFTER_MAX_S)
            seconds = seconds * 10 + (*p - '0');
    }
    return seconds;
}

int64_t retry_after_parse(const char *value, int64_t now_s)
{
    char date[64];
    int64_t seconds;
    size_t len;

    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    len = strlen(value);
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (len == 0)
        return -1;

    if (isdigit((unsigned char)value[0])) {
        seconds = retry_delta_seconds(value, value + len);
    } else {
        if (len >= sizeof(date))
            return -1;
        memcpy(date, value, len);
        date[len] = '\0';
        int64_t at = retry_http_date(date);
        seconds = at < 0 ? -1 : at > now_s ? at - now_s : 0;
    }

    if (seconds < 0)
        return -1;
    if (seconds > RETRY_AFTER_MAX_S)
        seconds = RETRY_AFTER_MAX_S;
    return seconds * 1000;
}
