/*
 * json_scan.c - depth, UTF-8 and member removal on raw JSON; see
 * json_scan.h.
 */
#include "json_scan.h"

#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

struct cursor {
    const char *p;
    const char *end;
};

bool json_depth_ok(const char *s, size_t len, int max_depth)
{
    const char *end = s + len;
    bool in_string = false;
    int depth = 0;

    for (const char *p = s; p < end; p++) {
        if (in_string) {
            if (*p == '\\' && p + 1 < end)
                p++;
            else if (*p == '"')
                in_string = false;
            continue;
        }

        if (*p == '"')
            in_string = true;
        else if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        if (depth > max_depth)
            return false;
    }
    return true;
}

/* Length of the UTF-8 sequence led by `c`, or 0 when `c` cannot lead. */
static int utf8_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

/* The allowed range of the second byte, which rules out overlong forms,
 * UTF-16 surrogates and code points past U+10FFFF. */
static bool utf8_second_ok(unsigned char lead, unsigned char c)
{
    unsigned char lo = 0x80, hi = 0xbf;

    if (lead == 0xe0)
        lo = 0xa0;
    else if (lead == 0xed)
        hi = 0x9f;
    else if (lead == 0xf0)
        lo = 0x90;
    else if (lead == 0xf4)
        hi = 0x8f;
    return c >= lo && c <= hi;
}

bool json_utf8_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        int n = utf8_seq_len(p[i]);

        if (n == 0 || (size_t)n > len - i)
            return false;
        if (n > 1 && !utf8_second_ok(p[i], p[i + 1]))
            return false;
        for (int k = 2; k < n; k++)
            if ((p[i + (size_t)k] & 0xc0) != 0x80)
                return false;
        i += (size_t)n;
    }
    return true;
}

static void cursor_skip_ws(struct cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int cursor_expect(struct cursor *c, char ch)
{
    cursor_skip_ws(c);
    if (c->p == c->end || *c->p != ch)
        return -1;
    c->p++;
    return 0;
}

/* Moves past a string whose opening quote is at c->p. */
static int cursor_skip_string(struct cursor *c)
{
    if (c->p == c->end || *c->p != '"')
        return -1;
    for (c->p++; c->p < c->end; c->p++) {
        if (*c->p == '\\') {
            c->p++;
            if (c->p == c->end)
                return -1;
        } else if (*c->p == '"') {
            c->p++;
            return 0;
        }
    }
    return -1;
}

static int cursor_skip_container(struct cursor *c)
{
    int depth = 0;

    while (c->p < c->end) {
        char ch = *c->p;

        if (ch == '"') {
            if (cursor_skip_string(c))
                return -1;
            continue;
        }
        c->p++;
        if (ch == '{' || ch == '[')
            depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0)
            return 0;
    }
    return -1;
}

static int cursor_skip_value(struct cursor *c)
{
    cursor_skip_ws(c);
    if (c->p == c->end)
        return -1;
    if (*c->p == '"')
        return cursor_skip_string(c);
    if (*c->p == '{' || *c->p == '[')
        return cursor_skip_container(c);

    const char *start = c->p;
    while (c->p < c->end && strchr(",}] \t\r\n", *c->p) == NULL)
        c->p++;
    return c->p > start ? 0 : -1;
}

/* Compares a quoted key as written (escapes and all) with `name`. */
static bool key_equals(const char *quoted, size_t len, const char *name)
{
    if (memchr(quoted, '\\', len) == NULL)
        return len - 2 == strlen(name) &&
               memcmp(quoted + 1, name, len - 2) == 0;

    cJSON *decoded = cJSON_ParseWithLength(quoted, len);
    bool equal =
        cJSON_IsString(decoded) && strcmp(decoded->valuestring, name) == 0;
    cJSON_Delete(decoded);
    return equal;
}

/* Scans one "key": value member; its bytes are [*start, c->p). */
static int cursor_member(struct cursor *c, const char **start, bool *matches,
                         const char *name)
{
    cursor_skip_ws(c);
    *start = c->p;
    if (cursor_skip_string(c))
        return -1;

    *matches = key_equals(*start, (size_t)(c->p - *start), name);
    if (cursor_expect(c, ':') || cursor_skip_value(c))
        return -1;
    return 0;
}

int json_remove_member(const char *s, size_t len, const char *name,
                       struct buf *out)
{
    struct cursor c = {s, s + len};
    int removed = 0;
    bool first = true;

    if (cursor_expect(&c, '{') || buf_append(out, "{", 1))
        return -1;
    cursor_skip_ws(&c);
    if (c.p < c.end && *c.p == '}')
        return buf_append(out, "}", 1) ? -1 : 0;

    for (;;) {
        const char *start;
        bool matches;

        if (cursor_member(&c, &start, &matches, name))
            return -1;
        if (matches) {
            removed++;
        } else if ((!first && buf_append(out, ",", 1)) ||
                   buf_append(out, start, (size_t)(c.p - start))) {
            return -1;
        } else {
            first = false;
        }

        cursor_skip_ws(&c);
        if (c.p == c.end)
            return -1;
        if (*c.p++ == '}')
            break;
        if (c.p[-1] != ',')
            return -1;
    }
    return buf_append(out, "}", 1) ? -1 : removed;
}
