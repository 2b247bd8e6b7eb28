/*
 * notification.h - what the ingest does with one webhook body.
 *
 * Turns the bytes HR Manager posted into a verdict: the HTTP status to
 * answer, and for a 200 the record to publish (topic, key, value without
 * the shared key, event type). All the judgement about a notification
 * lives here, free of sockets and Kafka, so it can be unit-tested and
 * fuzzed on its own.
 *
 * Pure: no I/O, no globals. Any thread.
 */
#ifndef HOOKBRIDGE_NOTIFICATION_H
#define HOOKBRIDGE_NOTIFICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "catalog.h"
#include "secret.h"

enum {
    NOTIFICATION_ID_MAX = 256,   /* bytes of a string id */
    NOTIFICATION_DEPTH_MAX = 64, /* nesting of arrays and objects */
    NOTIFICATION_ERROR_MAX = 160,
    NOTIFICATION_TIME_MAX = 32,
};

/* What stays the same for every request; the caller keeps it alive. */
struct notification_rules {
    const struct catalog *catalog;
    const struct secret_keys *keys; /* NULL: no authentication */
    const char *raw_topic;
    const char *unrouted_topic;
};

struct notification {
    int status;                         /* 200, 400 or 401 */
    char error[NOTIFICATION_ERROR_MAX]; /* plain text when status != 200 */
    const char *topic;                  /* rules' raw or unrouted topic */
    char *key;                          /* candidate:1234; heap */
    char *event_type;                   /* CandidateUpdated; heap */
    const struct catalog_event *event;  /* NULL when unrouted */
    struct buf value; /* the body without the user data member */
};

/*
 * Judges `body` (`len` bytes, need not be NUL-terminated) and fills `n`.
 * On 400 and 401, `n->error` names the problem ("CandidateId is
 * missing") and nothing else is set. Returns n->status. Always call
 * notification_free() afterwards.
 */
int notification_judge(const struct notification_rules *rules, const char *body,
                       size_t len, struct notification *n);

/* Frees what notification_judge() allocated. */
void notification_free(struct notification *n);

/*
 * True when a request with this Content-Type header may carry a
 * notification: no header at all (NULL), application/json or any
 * type/subtype+json, parameters allowed, any case.
 */
bool notification_content_type_ok(const char *content_type);

/*
 * Writes `ts` as RFC 3339 UTC with milliseconds
 * (2026-12-01T10:00:00.123Z) into `out`, which holds at least
 * NOTIFICATION_TIME_MAX bytes. Returns the length.
 */
size_t notification_format_time(const struct timespec *ts, char *out);

#endif
