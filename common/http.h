/*
 * http.h - the civetweb pieces both binaries share.
 *
 * Debian's civetweb 1.15 has traps this module keeps in one place: worker
 * threads have a small stack and mg_send_http_error() overflows it, so
 * replies are written here with a Content-Length (which keep-alive also
 * needs); request bodies are read here against a hard limit, because
 * civetweb's max_request_size covers headers only; and every server gets
 * tcp_nodelay, without which each reply waits for a delayed ACK.
 */
#ifndef HOOKBRIDGE_HTTP_H
#define HOOKBRIDGE_HTTP_H

#include <stddef.h>

#include <civetweb.h>

#include "buf.h"
#include "metrics.h"

/*
 * Writes a complete response. `headers` is extra header text ending in
 * "\r\n" each ("Retry-After: 1\r\n") or NULL. Returns 0, -1 when the
 * client has gone. Any thread holding `conn`.
 */
int http_reply(struct mg_connection *conn, int status, const char *content_type,
               const char *body, size_t len, const char *headers);

/*
 * A JSON error reply: {"error": "<message>"}; `message` is plain text
 * and is escaped here.
 */
int http_reply_error(struct mg_connection *conn, int status,
                     const char *message, const char *headers);

enum { HTTP_BODY_OK = 0, HTTP_BODY_TOO_LARGE = -2, HTTP_BODY_ERROR = -1 };

/*
 * Reads the whole request body into `body` (which must be empty), up to
 * body->max. Returns HTTP_BODY_OK, HTTP_BODY_TOO_LARGE as soon as the
 * declared length or the bytes read pass the limit (the rest is not
 * read, and the connection is closed after the reply), or
 * HTTP_BODY_ERROR when the connection fails mid-body. On success
 * body->data is non-NULL, even for an empty body.
 */
int http_read_body(struct mg_connection *conn, struct buf *body);

/*
 * Reads and drops what is left of the request body, at most `max` bytes,
 * after an error reply. A connection closed with unread bytes in its
 * receive buffer is reset by the kernel, and a client still sending its
 * body may then lose the reply it was sent; draining a bounded amount
 * lets an ordinary client finish and read it. Returns the bytes dropped.
 * Call from the connection's own handler thread.
 */
size_t http_discard_body(struct mg_connection *conn, size_t max);

/* What /readyz asks; returns non-zero when ready. Any thread. */
typedef int (*http_ready_fn)(void *arg);

struct http_health {
    http_ready_fn ready;
    void *ready_arg;
    struct metrics *metrics;
};

/*
 * Serves GET /healthz (200 while the process runs), /readyz (200 or 503
 * from h->ready) and /metrics (Prometheus text) on `ctx`. `h` must
 * outlive the server.
 */
void http_health_mount(struct mg_context *ctx, struct http_health *h);

/*
 * Starts civetweb on `listen` ("port" or "address:port") with the options
 * every hookbridge server needs: tcp_nodelay, keep-alive, a 10 s request
 * timeout, no document root, and civetweb's own messages routed to log.h.
 * `threads` is the number of worker threads. Returns NULL with `err` set
 * ("cannot listen on 127.0.0.1:9100: ...") when it cannot start. Stop it
 * with mg_stop(). Call from main().
 */
struct mg_context *http_server_start(const char *listen, int threads, char *err,
                                     size_t errlen);

/*
 * Starts a small server of its own on `listen` ("port" or
 * "address:port") that serves only what http_health_mount() adds.
 * Returns NULL with `err` set when the port cannot be bound.
 */
struct mg_context *http_health_start(const char *listen, struct http_health *h,
                                     char *err, size_t errlen);

#endif
