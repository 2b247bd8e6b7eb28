/*
 * server.h - the HTTP side of the ingest: POST /hooks/hrm and friends.
 *
 * Each request runs on a civetweb worker thread: the method, media type
 * and size are checked, the body is judged by notification.h, and a
 * publishable record is handed to publish.h while the worker waits for
 * Kafka's answer. /healthz, /readyz and /metrics come from http.h.
 */
#ifndef HOOKBRIDGE_SERVER_H
#define HOOKBRIDGE_SERVER_H

#include <stddef.h>

#include "metrics.h"
#include "notification.h"
#include "publish.h"
#include "readiness.h"

struct server;

struct server_options {
    const char *listen; /* "port" or "address:port" */
    long threads;
    long request_timeout_ms;
    size_t max_body;
    int ack_timeout_ms; /* for Retry-After */
    const struct notification_rules *rules;
    struct publish *publish;
    struct readiness *readiness;
    struct metrics *metrics;
};

/*
 * Registers the request series and starts listening. Everything `opt`
 * points to must outlive the server. Returns NULL with `err` set when the
 * port cannot be bound. Call from main().
 */
struct server *server_start(const struct server_options *opt, char *err,
                            size_t errlen);

/*
 * Answers new hooks 503 and /readyz 503, waits (up to the ack timeout and
 * a second) for the hooks in progress to be answered, then closes the
 * port and frees the server. Call from main().
 */
void server_stop(struct server *s);

#endif
