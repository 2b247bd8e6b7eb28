/*
 * json_scan.h - byte-level checks and edits on JSON text.
 *
 * cJSON gives the ingest a tree to read fields from, but two things must
 * happen on the original bytes: nesting depth is bounded before cJSON's
 * recursive parser runs on a small worker stack, and the UserData member
 * is cut out of the text itself so every other byte of the notification
 * (large numbers, escapes, key order) reaches Kafka unchanged. Everything
 * here is iterative and never reads past `len`.
 *
 * Pure functions; any thread.
 */
#ifndef HOOKBRIDGE_JSON_SCAN_H
#define HOOKBRIDGE_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* True when no array or object in `s` nests deeper than `max_depth`. */
bool json_depth_ok(const char *s, size_t len, int max_depth);

/* True when `s` is well-formed UTF-8 (no overlongs, no surrogates). */
bool json_utf8_ok(const char *s, size_t len);

/*
 * Appends to `out` the JSON object `s` without its top-level members
 * named `name` (compared after unescaping). `s` must already be known to
 * be a valid JSON object. Returns how many members were removed, or -1
 * when the text is not an object or `out` is full.
 */
int json_remove_member(const char *s, size_t len, const char *name,
                       struct buf *out);

#endif
