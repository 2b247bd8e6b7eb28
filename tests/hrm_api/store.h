/*
 * store.h - the objects the test HR Manager API serves.
 *
 * Each object is kept as JSON text under its resource name and id
 * ("Candidates", "1234"), exactly as a test put it, so the API answers
 * with the bytes the test wrote: /Date(...)/ values and all. An entry may
 * instead be marked gone, which the API answers with 404, the way the
 * real API treats some deleted objects.
 *
 * Not thread-safe: the caller holds the server lock (testapi.h).
 */
#ifndef HOOKBRIDGE_TESTAPI_STORE_H
#define HOOKBRIDGE_TESTAPI_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct store;

enum store_state { STORE_ABSENT, STORE_PRESENT, STORE_GONE };

/* An empty store holding at most `max_objects` entries; aborts on OOM. */
struct store *store_new(size_t max_objects);

void store_free(struct store *s);

/*
 * Stores a copy of `json` (`len` bytes, already checked to be an object)
 * under (resource, id), replacing what was there, gone marks included.
 * Returns 0, or -1 when the store is full.
 */
int store_put(struct store *s, const char *resource, const char *id,
              const char *json, size_t len);

/*
 * Removes the entry, or with `gone` replaces it by a gone mark (created
 * even when nothing was stored). Returns the state the entry had before;
 * -1 when a new gone mark does not fit.
 */
int store_delete(struct store *s, const char *resource, const char *id,
                 bool gone);

/*
 * Looks the entry up; when present, appends its JSON text to `out`.
 * Returns the entry's state, or -1 when `out` is full.
 */
int store_get(const struct store *s, const char *resource, const char *id,
              struct buf *out);

/* Removes every entry. */
void store_clear(struct store *s);

/*
 * Adds every object of a seed document {"Candidates": {"1234": {...}},
 * "Positions": {...}} to the store. Returns the number of objects added,
 * or -1 with one line in `err` naming the first bad entry.
 */
long store_load_seed(struct store *s, const char *json, size_t len, char *err,
                     size_t errlen);

#endif
