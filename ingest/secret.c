/*
 * secret.c - parsing and constant-time matching of the shared key; see
 * secret.h.
 */
#include "secret.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void secret_trim(const char **start, const char **end)
{
    while (*start < *end && isspace((unsigned char)**start))
        (*start)++;
    while (*end > *start && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

static int secret_add(struct secret_keys *keys, const char *start,
                      const char *end, char *err, size_t errlen)
{
    size_t len = (size_t)(end - start);

    if (keys->count == SECRET_KEYS_MAX) {
        snprintf(err, errlen, "at most %d keys may be given (for rotation)",
                 SECRET_KEYS_MAX);
        return -1;
    }
    if (len > SECRET_KEY_MAX) {
        snprintf(err, errlen, "a key is longer than %d bytes", SECRET_KEY_MAX);
        return -1;
    }
    memcpy(keys->key[keys->count], start, len);
    keys->len[keys->count] = len;
    keys->count++;
    return 0;
}

int secret_parse(struct secret_keys *keys, const char *text, char sep,
                 char *err, size_t errlen)
{
    const char *p = text;

    memset(keys, 0, sizeof(*keys));
    for (;;) {
        const char *end = strchr(p, sep);
        const char *next = end ? end + 1 : NULL;
        const char *start = p;

        if (end == NULL)
            end = p + strlen(p);
        secret_trim(&start, &end);
        if (start == end && sep != '\n') {
            snprintf(err, errlen, "a key is empty");
            return -1;
        }
        if (start != end && secret_add(keys, start, end, err, errlen))
            return -1;
        if (next == NULL)
            break;
        p = next;
    }

    if (keys->count == 0) {
        snprintf(err, errlen, "no key given");
        return -1;
    }
    return 0;
}

/*
 * Compares the whole padded slot: the candidate's bytes past its end read
 * as zero, and a length mismatch is folded into the result rather than
 * returned early.
 */
static uint32_t secret_diff(const unsigned char *key, size_t keylen,
                            const unsigned char *cand, size_t candlen)
{
    uint32_t diff = (uint32_t)(keylen ^ candlen);

    for (size_t i = 0; i < SECRET_KEY_MAX; i++) {
        unsigned char c = i < candlen ? cand[i] : 0;
        diff |= (uint32_t)(key[i] ^ c);
    }
    return diff;
}

bool secret_matches(const struct secret_keys *keys, const char *candidate,
                    size_t len)
{
    const unsigned char *cand = (const unsigned char *)candidate;
    volatile uint32_t match = 0;

    if (len > SECRET_KEY_MAX)
        len = SECRET_KEY_MAX + 1;
    for (size_t k = 0; k < SECRET_KEYS_MAX; k++) {
        uint32_t diff = secret_diff(keys->key[k], keys->len[k], cand,
                                    len > SECRET_KEY_MAX ? 0 : len);
        diff |= (uint32_t)(len > SECRET_KEY_MAX);
        diff |= (uint32_t)(k >= keys->count);
        match |= (uint32_t)(diff == 0);
    }
    return match != 0;
}

void secret_clear(struct secret_keys *keys)
{
    volatile unsigned char *p = (volatile unsigned char *)keys;

    for (size_t i = 0; i < sizeof(*keys); i++)
        p[i] = 0;
}
