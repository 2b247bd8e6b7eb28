/*
 * object.h - turns an API reply into the record downstream services read.
 *
 * HR Manager wraps the object in a list ({"Items":[{...}]}) and writes
 * dates as /Date(1523353751000+0200)/. Downstream services get the bare
 * object, compact JSON, with every such date rewritten as RFC 3339 UTC
 * ("2018-04-10T09:49:11.000Z"; the offset in the /Date/ form only says
 * which zone it was shown in, the milliseconds are already UTC), and a
 * content hash so an unchanged object is not published twice. Pure.
 */
#ifndef HOOKBRIDGE_OBJECT_H
#define HOOKBRIDGE_OBJECT_H

#include <stddef.h>
#include <stdint.h>

enum object_verdict {
    OBJECT_FOUND,   /* *out holds the object */
    OBJECT_GONE,    /* an array on the path is too short ("Items": []) */
    OBJECT_INVALID, /* not JSON, a member of the path is missing, or the
                       pointer meets or leads to something else */
};

/*
 * Parses `body`, follows the JSON Pointer `pointer` ("/Items/0"),
 * rewrites dates, and on OBJECT_FOUND stores a malloc'd compact JSON
 * text in *out (NUL-terminated; caller frees) and its length in *outlen.
 * OBJECT_INVALID writes the reason to `err`.
 */
enum object_verdict object_extract(const char *body, size_t len,
                                   const char *pointer, char **out,
                                   size_t *outlen, char *err, size_t errlen);

/*
 * Writes the RFC 3339 UTC form of a "/Date(ms)/", "/Date(ms+hhmm)/" or
 * "/Date(ms-hhmm)/" string (ms may be negative) into buf (at least 32
 * bytes). Returns 0, or -1 when `text` is not exactly such a date or
 * lies outside the years 1 to 9999 (buf untouched).
 */
int object_date_rewrite(const char *text, char *buf, size_t len);

/* A 64-bit content hash (stable across runs and machines). */
uint64_t object_hash(const void *data, size_t len);

#endif
