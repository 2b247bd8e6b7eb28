/*
 * object.c - from an API reply to the published record; see object.h.
 *
 * cJSON parses with its own nesting limit (1000 levels); the walk that
 * rewrites dates has a tighter one, so that neither this code nor
 * cJSON's recursive printer can be driven deep by a hostile reply.
 */
#include "object.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

enum {
    OBJECT_DEPTH_MAX = 64,
    OBJECT_MS_DIGITS_MAX = 15, /* enough for year 9999 */
};

/* .NET's DateTime range, 0001-01-01 to 9999-12-31, in Unix ms. */
static const int64_t object_ms_min = -62135596800000LL;
static const int64_t object_ms_max = 253402300799999LL;

/* Parses "[-]digits" at *p into *ms; steps over it. */
static int object_date_ms(const char **p, int64_t *ms)
{
    const char *s = *p;
    int negative = *s == '-';
    int64_t v = 0;
    int n = 0;

    s += negative;
    for (; isdigit((unsigned char)*s); s++, n++) {
        if (n == OBJECT_MS_DIGITS_MAX)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (n == 0)
        return -1;
    *ms = negative ? -v : v;
    *p = s;
    return 0;
}

/* An optional "+hhmm" or "-hhmm": checked, then ignored (see object.h). */
static int object_date_offset(const char **p)
{
    const char *s = *p;

    if (*s != '+' && *s != '-')
        return 0;
    for (int i = 1; i <= 4; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
    }
    if ((s[1] - '0') * 10 + (s[2] - '0') > 23 ||
        (s[3] - '0') * 10 + (s[4] - '0') > 59)
        return -1;
    *p = s + 5;
    return 0;
}

int object_date_rewrite(const char *text, char *buf, size_t len)
{
    const char *p = text;
    int64_t ms;
    struct tm tm;

    assert(text != NULL && buf != NULL && len >= 32);

    if (strncmp(p, "/Date(", 6) != 0)
        return -1;
    p += 6;
    if (object_date_ms(&p, &ms) || object_date_offset(&p) ||
        strcmp(p, ")/") != 0)
        return -1;
    if (ms < object_ms_min || ms > object_ms_max)
        return -1;

    int64_t sec = ms / 1000, milli = ms % 1000;
    if (milli < 0) {
        sec -= 1;
        milli += 1000;
    }
    time_t t = (time_t)sec;
    if (gmtime_r(&t, &tm) == NULL)
        return -1;

    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)milli);
    return 0;
}

/* Rewrites every /Date()/ string under `node`; -1 when nested too deep. */
static int object_rewrite_dates(cJSON *node, int depth)
{
    char iso[32];

    if (depth > OBJECT_DEPTH_MAX)
        return -1;

    if (cJSON_IsString(node)) {
        if (object_date_rewrite(node->valuestring, iso, sizeof(iso)) == 0 &&
            cJSON_SetValuestring(node, iso) == NULL)
            return -1;
        return 0;
    }

    cJSON *child;
    cJSON_ArrayForEach(child, node)
    {
        if (object_rewrite_dates(child, depth + 1) != 0)
            return -1;
    }
    return 0;
}

/*
 * Decodes one reference token of a JSON Pointer (RFC 6901), from `*p` to
 * the next '/' or the end, into `tok`. Returns its length or -1.
 */
static int object_pointer_token(const char **p, char *tok, size_t cap)
{
    const char *s = *p;
    size_t n = 0;

    for (; *s && *s != '/'; s++) {
        char c = *s;

        if (c == '~') {
            if (s[1] != '0' && s[1] != '1')
                return -1;
            c = s[1] == '0' ? '~' : '/';
            s++;
        }
        if (n + 1 >= cap)
            return -1;
        tok[n++] = c;
    }
    tok[n] = '\0';
    *p = s;
    return (int)n;
}

/*
 * An array index as RFC 6901 writes it: "0" or digits without a leading
 * zero. One too long for an int is past the end of any array: -1.
 */
static int object_pointer_index(const char *tok, long *index)
{
    size_t n = strlen(tok);

    if (n == 0 || (tok[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)tok[i]))
            return -1;
    }
    *index = n > 9 ? -1 : strtol(tok, NULL, 10);
    return 0;
}

/* One step of the pointer: *at becomes the child named `tok`, or NULL. */
static enum object_verdict object_step(cJSON **at, const char *tok, char *err,
                                       size_t errlen)
{
    long index;

    if (cJSON_IsArray(*at)) {
        if (strcmp(tok, "-") != 0 && object_pointer_index(tok, &index)) {
            snprintf(err, errlen, "'%s' is not an array index", tok);
            return OBJECT_INVALID;
        }
        *at = strcmp(tok, "-") ? cJSON_GetArrayItem(*at, (int)index) : NULL;
        return *at ? OBJECT_FOUND : OBJECT_GONE;
    }

    if (cJSON_IsObject(*at)) {
        /* A reply without the member is some other answer than the list
         * the catalog promised, not proof that the object is gone. */
        *at = cJSON_GetObjectItemCaseSensitive(*at, tok);
        if (*at == NULL) {
            snprintf(err, errlen, "reply has no member '%s'", tok);
            return OBJECT_INVALID;
        }
        return OBJECT_FOUND;
    }

    snprintf(err, errlen, "expected an object or array before '%s'", tok);
    return OBJECT_INVALID;
}

/* Follows `pointer` from `root`; on OBJECT_FOUND *out is the target. */
static enum object_verdict object_follow(cJSON *root, const char *pointer,
                                         cJSON **out, char *err, size_t errlen)
{
    char tok[256];
    cJSON *at = root;
    const char *p = pointer;

    if (*p != '\0' && *p != '/') {
        snprintf(err, errlen, "pointer '%s' does not start with '/'", pointer);
        return OBJECT_INVALID;
    }

    while (*p == '/') {
        p++;
        if (object_pointer_token(&p, tok, sizeof(tok)) < 0) {
            snprintf(err, errlen, "pointer '%s' is malformed", pointer);
            return OBJECT_INVALID;
        }
        enum object_verdict v = object_step(&at, tok, err, errlen);
        if (v != OBJECT_FOUND)
            return v;
    }

    *out = at;
    return OBJECT_FOUND;
}

/* Parses exactly `len` bytes; trailing white space is allowed. */
static cJSON *object_parse(const char *body, size_t len, char *err,
                           size_t errlen)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);

    if (root == NULL) {
        snprintf(err, errlen, "reply is not JSON (or nested too deep)");
        return NULL;
    }
    while (end < body + len && isspace((unsigned char)*end))
        end++;
    if (end != body + len) {
        snprintf(err, errlen, "reply has data after the JSON value");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

enum object_verdict object_extract(const char *body, size_t len,
                                   const char *pointer, char **out,
                                   size_t *outlen, char *err, size_t errlen)
{
    enum object_verdict rc = OBJECT_INVALID;
    cJSON *target = NULL;

    assert(body != NULL || len == 0);
    assert(pointer != NULL && out != NULL && outlen != NULL && err);

    *out = NULL;
    *outlen = 0;
    cJSON *root = object_parse(body ? body : "", len, err, errlen);
    if (root == NULL)
        goto out;

    rc = object_follow(root, pointer, &target, err, errlen);
    if (rc != OBJECT_FOUND)
        goto out;

    rc = OBJECT_INVALID;
    if (!cJSON_IsObject(target)) {
        snprintf(err, errlen, "value at '%s' is not an object", pointer);
        goto out;
    }
    if (object_rewrite_dates(target, 1) != 0) {
        snprintf(err, errlen, "object nested deeper than %d levels",
                 OBJECT_DEPTH_MAX);
        goto out;
    }

    *out = cJSON_PrintUnformatted(target);
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory printing the object");
        goto out;
    }
    *outlen = strlen(*out);
    rc = OBJECT_FOUND;

out:
    cJSON_Delete(root);
    return rc;
}

/* 64-bit FNV-1a: simple, public domain and the same on every machine. */
uint64_t object_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;

    assert(data != NULL || len == 0);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
