/*
 * faults.h - injected failures of the test API.
 *
 * Tests make the API misbehave the ways the real one can: an error status
 * (500, 503, 429 with Retry-After, 401, 404), a slow answer, or both; for
 * one resource or id or for all; a fixed number of times or forever; on
 * every matching call or with a probability drawn from a seeded
 * generator, so that a run with the same seed and the same calls fails
 * the same way. The first live rule that matches (and wins its draw)
 * decides the answer.
 *
 * Not thread-safe: the caller holds the server lock (testapi.h).
 */
#ifndef HOOKBRIDGE_TESTAPI_FAULTS_H
#define HOOKBRIDGE_TESTAPI_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

enum { FAULTS_MAX = 1024, FAULTS_DELAY_MAX_MS = 120000 };

struct faults;

/* What a matching rule does to a call. */
struct fault_hit {
    int status;      /* 0: answer normally (after the delay) */
    int retry_after; /* seconds for Retry-After; -1: no header */
    long delay_ms;   /* wait this long before answering */
};

/* No rules, the generator at its default seed; aborts on OOM. */
struct faults *faults_new(void);

void faults_free(struct faults *f);

/*
 * Appends the rules of a parsed body {"rules": [{"resource": "Candidates",
 * "id": "12", "status": 503, "retry_after": 2, "delay_ms": 100,
 * "count": 3, "probability": 0.5}, ...], "seed": 42}; every field of a
 * rule is optional, but a rule needs a status or a delay. A "seed"
 * restarts the generator. Either every rule is added or none: returns the
 * number added, or -1 with one line in `err` naming the bad field.
 */
int faults_add(struct faults *f, const cJSON *doc, char *err, size_t errlen);

/*
 * Finds the first live rule for (resource, id) that wins its draw and
 * counts the call against it. Returns true and fills `hit`, or false
 * when no rule applies.
 */
bool faults_match(struct faults *f, const char *resource, const char *id,
                  struct fault_hit *hit);

/*
 * Appends {"seed":S,"rules":[{..., "applied":n, "remaining":r}]}, where
 * remaining is null for a rule without a count. Returns 0 or -1.
 */
int faults_render(const struct faults *f, struct buf *out);

/* Removes every rule and restarts the generator at its default seed. */
void faults_clear(struct faults *f);

#endif
