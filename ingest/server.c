/*
 * server.c - civetweb handlers for the webhook; see server.h.
 *
 * The checks run in the order the HTTP contract gives: path and method,
 * media type, size, then the body itself. Bodies live in heap buffers
 * because civetweb workers have small stacks.
 */
#include "server.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "http.h"
#include "log.h"

static const char hook_path[] = "/hooks/hrm";

/* Every status the hook handler can answer, one counter each. */
static const int hook_statuses[] = {200, 400, 401, 404, 405,
                                    413, 415, 500, 503};
enum { HOOK_NSTATUS = sizeof(hook_statuses) / sizeof(hook_statuses[0]) };

/* What is read and dropped of a body over the limit before closing. */
enum { HOOK_DRAIN_MAX = 1024 * 1024 };

struct server {
    struct server_options opt;
    struct mg_context *ctx;
    struct http_health health;
    struct metric *requests[HOOK_NSTATUS];
    atomic_long in_flight;
    atomic_bool draining;
    char retry_after[48];
    char retry_close[80];
};

static double server_in_flight(void *arg)
{
    struct server *s = arg;

    return (double)atomic_load(&s->in_flight);
}

/* Ready while Kafka is and the server is not shutting down, so a load
 * balancer stops sending before the port closes. */
static int server_ready(void *arg)
{
    struct server *s = arg;

    return !atomic_load(&s->draining) && readiness_ok(s->opt.readiness) &&
           publish_usable(s->opt.publish);
}

static void server_count(struct server *s, int status)
{
    for (int i = 0; i < HOOK_NSTATUS; i++) {
        if (hook_statuses[i] == status) {
            metric_inc(s->requests[i]);
            return;
        }
    }
}

/* A copy fit for a log line: control bytes could forge extra lines. */
static void log_safe(const char *in, char *out, size_t outlen)
{
    size_t i = 0;

    for (; in != NULL && in[i] != '\0' && i + 1 < outlen; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = c < 0x20 || c == 0x7f || c == '"' ? '?' : (char)c;
    }
    out[i] = '\0';
}

/* Answers an error and keeps its text in `n` for the request's log line.
 * Returns `status`. */
static int hook_fail(struct mg_connection *conn, struct notification *n,
                     int status, const char *message, const char *headers)
{
    snprintf(n->error, sizeof(n->error), "%.*s", (int)sizeof(n->error) - 1,
             message);
    http_reply_error(conn, status, message, headers);
    return status;
}

/* Path, method and media type; replies and returns the status on a
 * mismatch, 0 when the request may go on. */
static int hook_check_request(struct mg_connection *conn,
                              const struct mg_request_info *ri,
                              struct notification *n)
{
    if (strcmp(ri->local_uri, hook_path) != 0)
        return hook_fail(conn, n, 404, "no such path", NULL);
    if (strcmp(ri->request_method, "POST") != 0)
        return hook_fail(conn, n, 405, "only POST is allowed",
                         "Allow: POST\r\n");
    if (!notification_content_type_ok(mg_get_header(conn, "Content-Type")))
        return hook_fail(conn, n, 415, "Content-Type must be application/json",
                         NULL);
    return 0;
}

static int hook_read_body(struct server *s, struct mg_connection *conn,
                          struct buf *body, struct notification *n)
{
    char msg[64];

    switch (http_read_body(conn, body)) {
    case HTTP_BODY_OK:
        return 0;
    case HTTP_BODY_TOO_LARGE:
        snprintf(msg, sizeof(msg), "body is larger than %zu bytes",
                 s->opt.max_body);
        /* The unread rest of the body must not be taken for the next
         * request on this connection, which closes after the reply. A
         * bounded drain lets a client still sending read that reply. */
        hook_fail(conn, n, 413, msg, "Connection: close\r\n");
        http_discard_body(conn, HOOK_DRAIN_MAX);
        return 413;
    default:
        return hook_fail(conn, n, 400, "body could not be read", NULL);
    }
}

static int hook_reply_stored(struct mg_connection *conn,
                             const struct notification *n)
{
    cJSON *reply = cJSON_CreateObject();
    char *text;
    int rc;

    if (reply == NULL ||
        cJSON_AddStringToObject(reply, "status", "stored") == NULL ||
        cJSON_AddStringToObject(reply, "key", n->key) == NULL ||
        cJSON_AddStringToObject(reply, "topic", n->topic) == NULL)
        abort();
    text = cJSON_PrintUnformatted(reply);
    if (text == NULL)
        abort();

    rc = http_reply(conn, 200, "application/json", text, strlen(text), NULL);
    cJSON_free(text);
    cJSON_Delete(reply);
    return rc;
}

static int hook_publish(struct server *s, struct mg_connection *conn,
                        struct notification *n, const char *received_at)
{
    struct publish_record rec = {
        .topic = n->topic,
        .key = n->key,
        .value = n->value.data,
        .value_len = n->value.len,
        .event_type = n->event_type,
        .received_at = received_at,
    };
    struct publish_outcome out;
    char msg[192];

    if (readiness_refuse(s->opt.readiness) || !publish_usable(s->opt.publish))
        return hook_fail(conn, n, 503, "Kafka is not available",
                         s->retry_after);

    switch (publish_send(s->opt.publish, &rec, &out)) {
    case PUBLISH_STORED:
        hook_reply_stored(conn, n);
        return 200;
    case PUBLISH_QUEUE_FULL:
        snprintf(msg, sizeof(msg), "the producer queue is full");
        break;
    default:
        snprintf(msg, sizeof(msg), "Kafka did not store the record: %s",
                 out.error);
        break;
    }
    char key[128];
    log_safe(n->key, key, sizeof(key));
    log_warn("hook not stored key=%s error=\"%s\"", key, out.error);
    return hook_fail(conn, n, 503, msg, s->retry_after);
}

/* Runs one hook request; returns the status it answered. */
static int hook_serve(struct server *s, struct mg_connection *conn,
                      struct buf *body, struct notification *n)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char received_at[NOTIFICATION_TIME_MAX];
    struct timespec now;
    int status;

    if (atomic_load(&s->draining))
        return hook_fail(conn, n, 503, "shutting down", s->retry_close);

    status = hook_check_request(conn, ri, n);
    if (status == 0)
        status = hook_read_body(s, conn, body, n);
    if (status != 0)
        return status;

    clock_gettime(CLOCK_REALTIME, &now);
    notification_format_time(&now, received_at);

    status = notification_judge(s->opt.rules, body->data ? body->data : "",
                                body->len, n);
    if (status != 200) {
        http_reply_error(conn, status, n->error, NULL);
        return status;
    }
    return hook_publish(s, conn, n, received_at);
}

static int hook_handle(struct mg_connection *conn, void *arg)
{
    struct server *s = arg;
    struct notification n = {0};
    struct buf body;
    struct timespec start;
    char key[128];

    clock_gettime(CLOCK_MONOTONIC, &start);
    atomic_fetch_add(&s->in_flight, 1);
    buf_init(&body, s->opt.max_body);

    int status = hook_serve(s, conn, &body, &n);

    server_count(s, status);
    atomic_fetch_sub(&s->in_flight, 1);
    if (LOG_DEBUG <= atomic_load(&log_threshold)) {
        struct timespec end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        log_safe(n.key, key, sizeof(key));
        log_debug("hook status=%d key=%s latency_ms=%.1f error=\"%s\"", status,
                  key,
                  (double)(end.tv_sec - start.tv_sec) * 1e3 +
                      (double)(end.tv_nsec - start.tv_nsec) / 1e6,
                  status == 200 ? "" : n.error);
    }

    notification_free(&n);
    buf_free(&body);
    return status;
}

/* Anything but the hook and the health paths. */
static int unknown_handle(struct mg_connection *conn, void *arg)
{
    (void)arg;
    http_reply_error(conn, 404, "no such path", NULL);
    return 404;
}

static int server_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_warn("http server error=\"%s\"", message);
    return 1;
}

static void server_metrics(struct server *s, struct metrics *m)
{
    char labels[32];

    for (int i = 0; i < HOOK_NSTATUS; i++) {
        snprintf(labels, sizeof(labels), "status=\"%d\"", hook_statuses[i]);
        s->requests[i] =
            metrics_counter(m, "ingest_requests_total", labels,
                            "Webhook requests answered, by HTTP status");
    }
    metrics_gauge_fn(m, "ingest_requests_in_flight", NULL,
                     "Webhook requests being served right now",
                     server_in_flight, s);
}

static struct mg_context *server_listen(struct server *s, char *err,
                                        size_t errlen)
{
    char threads[24], timeout[24];
    const char *options[] = {
        "listening_ports",    s->opt.listen, "num_threads", threads,
        "request_timeout_ms", timeout,       "tcp_nodelay", "1",
        "enable_keep_alive",  "yes",         NULL,
    };
    static const struct mg_callbacks callbacks = {.log_message = server_log};
    struct mg_init_data init = {&callbacks, s, options};
    unsigned code = 0;
    struct mg_error_data error = {&code, err, errlen};

    snprintf(threads, sizeof(threads), "%ld", s->opt.threads);
    snprintf(timeout, sizeof(timeout), "%ld", s->opt.request_timeout_ms);
    err[0] = '\0';
    return mg_start2(&init, &error);
}

struct server *server_start(const struct server_options *opt, char *err,
                            size_t errlen)
{
    struct server *s = calloc(1, sizeof(*s));

    if (s == NULL)
        abort();
    s->opt = *opt;
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->draining, false);
    snprintf(s->retry_after, sizeof(s->retry_after), "Retry-After: %d\r\n",
             (opt->ack_timeout_ms + 999) / 1000);
    snprintf(s->retry_close, sizeof(s->retry_close), "%sConnection: close\r\n",
             s->retry_after);
    server_metrics(s, opt->metrics);

    s->ctx = server_listen(s, err, errlen);
    if (s->ctx == NULL) {
        if (err[0] == '\0')
            snprintf(err, errlen, "cannot listen on %s", opt->listen);
        free(s);
        return NULL;
    }

    s->health.ready = server_ready;
    s->health.ready_arg = s;
    s->health.metrics = opt->metrics;
    mg_set_request_handler(s->ctx, hook_path, hook_handle, s);
    http_health_mount(s->ctx, &s->health);
    mg_set_request_handler(s->ctx, "/", unknown_handle, s);
    return s;
}

/* civetweb drops replies still being written once mg_stop() begins, so
 * requests in flight are let finish first. */
static void server_drain(struct server *s, int timeout_ms)
{
    struct timespec pause = {0, 10 * 1000000L};
    int waited = 0;

    atomic_store(&s->draining, true);
    while (atomic_load(&s->in_flight) > 0 && waited < timeout_ms) {
        nanosleep(&pause, NULL);
        waited += 10;
    }
    if (atomic_load(&s->in_flight) > 0)
        log_warn("requests still open at shutdown count=%ld",
                 atomic_load(&s->in_flight));
}

void server_stop(struct server *s)
{
    if (s == NULL)
        return;

    server_drain(s, s->opt.ack_timeout_ms + 1000);
    mg_stop(s->ctx);
    free(s);
}
