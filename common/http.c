/*
 * http.c - replies, bounded body reads and the health endpoints; see
 * http.h.
 *
 * Everything here runs on civetweb worker threads, whose stacks are small:
 * no function keeps more than a few hundred bytes on the stack, and
 * anything that can grow (a rendered metrics page, an escaped message)
 * goes to the heap through a bounded buf.
 */
#include "http.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

enum {
    HTTP_CHUNK = 512,
    HTTP_ERROR_MAX = 4096,
    HTTP_METRICS_MAX = 1024 * 1024,
    HTTP_HEALTH_THREADS = 2,
};

static const struct http_reason {
    int status;
    const char *text;
} http_reasons[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {415, "Unsupported Media Type"},
    {429, "Too Many Requests"},
    {500, "Internal Server Error"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

static const char *http_reason(int status)
{
    for (size_t i = 0; i < sizeof(http_reasons) / sizeof(http_reasons[0]);
         i++) {
        if (http_reasons[i].status == status)
            return http_reasons[i].text;
    }
    return status < 400 ? "OK" : status < 500 ? "Error" : "Server Error";
}

static int http_is_head(struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);

    return ri != NULL && ri->request_method != NULL &&
           strcmp(ri->request_method, "HEAD") == 0;
}

int http_reply(struct mg_connection *conn, int status, const char *content_type,
               const char *body, size_t len, const char *headers)
{
    assert(conn != NULL && status >= 100 && status <= 999);
    assert(body != NULL || len == 0);

    if (mg_printf(conn,
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: %s\r\n"
                  "Content-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n"
                  "%s\r\n",
                  status, http_reason(status),
                  content_type ? content_type : "text/plain", len,
                  headers ? headers : "") <= 0)
        return -1;

    /* HEAD gets the length of the body it would have had, not the body. */
    if (len > 0 && !http_is_head(conn) && mg_write(conn, body, len) != (int)len)
        return -1;
    return 0;
}

/* Appends `s` as the inside of a JSON string literal. */
static int http_json_escape(struct buf *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;

        if (*p == '"' || *p == '\\')
            rc = buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            rc = buf_printf(out, "\\u%04x", *p);
        else
            rc = buf_append(out, p, 1);
        if (rc)
            return -1;
    }
    return 0;
}

int http_reply_error(struct mg_connection *conn, int status,
                     const char *message, const char *headers)
{
    struct buf body;
    int rc;

    buf_init(&body, HTTP_ERROR_MAX);
    /* A message too long for the limit is cut; the status still holds. */
    if (buf_append(&body, "{\"error\": \"", 11) ||
        http_json_escape(&body, message ? message : "") ||
        buf_append(&body, "\"}", 2)) {
        buf_reset(&body);
        buf_printf(&body, "{\"error\": \"%s\"}", http_reason(status));
    }

    rc = http_reply(conn, status, "application/json", body.data, body.len,
                    headers);
    buf_free(&body);
    return rc;
}

int http_read_body(struct mg_connection *conn, struct buf *body)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char chunk[HTTP_CHUNK];
    long long declared = ri->content_length;
    long long got = 0;
    int n;

    assert(body->len == 0);
    if (declared > (long long)body->max)
        goto too_large;
    if (buf_append(body, "", 0) != 0)
        return HTTP_BODY_ERROR;

    while ((n = mg_read(conn, chunk, sizeof(chunk))) > 0) {
        if ((size_t)n > body->max - body->len)
            goto too_large;
        if (buf_append(body, chunk, (size_t)n) != 0)
            return HTTP_BODY_ERROR;
        got += n;
    }

    if (n < 0 || (declared >= 0 && got < declared))
        return HTTP_BODY_ERROR;
    return HTTP_BODY_OK;

too_large:
    /* The unread rest would be parsed as the next request. */
    mg_disable_connection_keep_alive(conn);
    return HTTP_BODY_TOO_LARGE;
}

size_t http_discard_body(struct mg_connection *conn, size_t max)
{
    char chunk[HTTP_CHUNK];
    size_t dropped = 0;
    int n;

    while (dropped < max && (n = mg_read(conn, chunk, sizeof(chunk))) > 0)
        dropped += (size_t)n;
    return dropped;
}

/* Common checks of the health endpoints: exact path, GET only. */
static int http_health_precheck(struct mg_connection *conn, const char *path)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);

    if (ri->local_uri == NULL || strcmp(ri->local_uri, path) != 0) {
        http_reply_error(conn, 404, "not found", NULL);
        return 404;
    }
    if (strcmp(ri->request_method, "GET") != 0) {
        http_reply_error(conn, 405, "method not allowed", "Allow: GET\r\n");
        return 405;
    }
    return 0;
}

static int http_healthz(struct mg_connection *conn, void *cbdata)
{
    int rc = http_health_precheck(conn, "/healthz");

    (void)cbdata;
    if (rc != 0)
        return rc;
    http_reply(conn, 200, "text/plain", "ok\n", 3, NULL);
    return 200;
}

static int http_readyz(struct mg_connection *conn, void *cbdata)
{
    const struct http_health *h = cbdata;
    int rc = http_health_precheck(conn, "/readyz");

    if (rc != 0)
        return rc;
    if (h->ready != NULL && !h->ready(h->ready_arg)) {
        http_reply(conn, 503, "text/plain", "not ready\n", 10, NULL);
        return 503;
    }
    http_reply(conn, 200, "text/plain", "ready\n", 6, NULL);
    return 200;
}

static int http_metrics(struct mg_connection *conn, void *cbdata)
{
    const struct http_health *h = cbdata;
    struct buf page;
    int rc = http_health_precheck(conn, "/metrics");

    if (rc != 0)
        return rc;

    buf_init(&page, HTTP_METRICS_MAX);
    if (h->metrics != NULL && metrics_render(h->metrics, &page) != 0) {
        log_error("metrics page over its limit limit=%d", HTTP_METRICS_MAX);
        http_reply_error(conn, 500, "metrics page too large", NULL);
        rc = 500;
        goto out;
    }
    http_reply(conn, 200, "text/plain; version=0.0.4", page.data, page.len,
               NULL);
    rc = 200;

out:
    buf_free(&page);
    return rc;
}

void http_health_mount(struct mg_context *ctx, struct http_health *h)
{
    assert(ctx != NULL && h != NULL);
    mg_set_request_handler(ctx, "/healthz", http_healthz, h);
    mg_set_request_handler(ctx, "/readyz", http_readyz, h);
    mg_set_request_handler(ctx, "/metrics", http_metrics, h);
}

/*
 * Set while the calling thread is inside mg_start2(): civetweb reports the
 * real cause of a failed start ("cannot bind to ...: Address already in
 * use") only through log_message, and a plain "Failed to setup server
 * ports" through mg_error_data, so the first message is kept for `err`.
 */
static _Thread_local struct buf *http_start_why;

/* civetweb's own complaints, in our log format instead of its own. */
static int http_log_message(const struct mg_connection *conn,
                            const char *message)
{
    (void)conn;
    if (http_start_why != NULL) {
        if (http_start_why->len == 0)
            buf_printf(http_start_why, "%s", message);
        return 1;
    }
    log_warn("civetweb: %s", message);
    return 1;
}

static const struct mg_callbacks http_callbacks = {
    .log_message = http_log_message,
};

struct mg_context *http_server_start(const char *listen, int threads, char *err,
                                     size_t errlen)
{
    char nthreads[16];
    char text[128] = "";
    unsigned code = 0;
    struct mg_error_data error = {&code, text, sizeof(text)};
    const char *options[] = {
        "listening_ports",
        listen,
        "num_threads",
        nthreads,
        "tcp_nodelay",
        "1",
        "enable_keep_alive",
        "yes",
        "request_timeout_ms",
        "10000",
        "keep_alive_timeout_ms",
        "5000",
        NULL,
    };
    struct mg_init_data init = {&http_callbacks, NULL, options};
    struct buf why;

    assert(listen != NULL && threads > 0);
    snprintf(nthreads, sizeof(nthreads), "%d", threads);
    buf_init(&why, 512);

    http_start_why = &why;
    struct mg_context *ctx = mg_start2(&init, &error);
    http_start_why = NULL;

    if (ctx == NULL)
        snprintf(err, errlen, "cannot listen on %s: %s", listen,
                 why.len   ? why.data
                 : text[0] ? text
                           : "civetweb failed to start");
    buf_free(&why);
    return ctx;
}

struct mg_context *http_health_start(const char *listen, struct http_health *h,
                                     char *err, size_t errlen)
{
    struct mg_context *ctx =
        http_server_start(listen, HTTP_HEALTH_THREADS, err, errlen);

    if (ctx != NULL)
        http_health_mount(ctx, h);
    return ctx;
}
