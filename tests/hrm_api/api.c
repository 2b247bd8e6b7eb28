/*
 * api.c - the HR Manager REST routes of the test server.
 *
 * GET /restful.svc/v2/{customer}/{Resource}/?{param}={id} answers as the
 * real API is known to: the object inside a list's Items, an empty list
 * for an unknown id, 401 for a wrong apikey header. What a call gets is
 * decided in one step under the lock (rate limit, path, customer, key,
 * fault rules, store) and recorded in that same step; a delay and the
 * write happen after the lock is released, so a slow reply holds up
 * nobody else.
 */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "testapi.h"

enum { API_REPLY_MAX = 16 * 1024 * 1024, API_HEADERS_MAX = 64 };

static const char api_prefix[] = "/restful.svc/v2/";
static const char api_json[] = "application/json; charset=utf-8";
static const char api_denied[] =
    "Authorization has been denied for this request.";

struct api_call {
    char customer[TESTAPI_NAME_MAX];
    char resource[TESTAPI_NAME_MAX];
    char id[TESTAPI_ID_MAX];
    const char *key; /* the apikey header, or NULL */
    int64_t t_ms;
    int status;          /* set early by a request that cannot be served */
    const char *message; /* the Message of an error reply */
    int retry_after;     /* -1: no Retry-After */
    long delay_ms;
    bool key_ok;
};

/* Copies one path segment into `out` and moves *p past it. */
static int api_segment(const char **p, char *out, size_t len)
{
    size_t n = strcspn(*p, "/");

    if (n == 0 || n >= len)
        return -1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return 0;
}

static void api_reject(struct api_call *c, int status, const char *message)
{
    c->status = status;
    c->message = message;
}

/* {customer}/{Resource} or {customer}/{Resource}/ after the prefix. */
static void api_parse_path(const char *uri, struct api_call *c)
{
    const char *p = uri;

    if (strncmp(p, api_prefix, sizeof(api_prefix) - 1) != 0) {
        api_reject(c, 404, "No such path.");
        return;
    }
    p += sizeof(api_prefix) - 1;
    if (api_segment(&p, c->customer, sizeof(c->customer)) || *p++ != '/' ||
        api_segment(&p, c->resource, sizeof(c->resource))) {
        api_reject(c, 404, "No such path.");
        return;
    }
    if (*p == '/')
        p++;
    if (*p != '\0')
        api_reject(c, 404, "No such path.");
}

/* The id is the value of the one query parameter, whatever its name. */
static void api_parse_query(const char *query, struct api_call *c)
{
    const char *eq = query ? strchr(query, '=') : NULL;

    if (eq == NULL || eq == query || strchr(query, '&') != NULL) {
        api_reject(c, 400,
                   "Expected one query parameter holding the id, as in "
                   "?canid=1234.");
        return;
    }
    if (mg_url_decode(eq + 1, (int)strlen(eq + 1), c->id, sizeof(c->id), 1) <=
        0) {
        c->id[0] = '\0';
        api_reject(c, 400, "The id is empty or longer than 255 bytes.");
    }
}

static void api_parse(struct mg_connection *conn, struct api_call *c)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);

    memset(c, 0, sizeof(*c));
    c->retry_after = -1;
    c->key = mg_get_header(conn, "apikey");

    api_parse_path(ri->local_uri ? ri->local_uri : "", c);
    if (c->status == 0)
        api_parse_query(ri->query_string, c);
    if (c->status == 0 && strcmp(ri->request_method, "GET") != 0)
        api_reject(c, 405, "Only GET is served here.");
}

static const char *api_fault_message(int status)
{
    if (status == 401 || status == 403)
        return api_denied;
    if (status == 404)
        return "Not found.";
    if (status == 429)
        return "Too many requests.";
    return status >= 500 ? "An injected server error."
                         : "An injected client error.";
}

/* The object as a one-item list, an empty list, or 404 when gone. */
static int api_lookup(struct testapi *t, struct api_call *c, struct buf *body)
{
    int state = -1;

    if (buf_append(body, "{\"Items\":[", 10) == 0)
        state = store_get(t->store, c->resource, c->id, body);
    if (state == STORE_GONE) {
        api_reject(c, 404, "Not found.");
        return 404;
    }
    if (state < 0 ||
        buf_printf(body, "],\"TotalCount\":%d}", state == STORE_PRESENT)) {
        api_reject(c, 500, "The object is too large to answer.");
        return 500;
    }
    return 200;
}

/* Decides the status of one call. The caller holds t->lock. */
static int api_decide(struct testapi *t, struct api_call *c, struct buf *body)
{
    struct fault_hit hit;

    c->key_ok = c->key != NULL && strcmp(c->key, t->apikey) == 0;
    if (!ratelimit_admit(t->limit, c->t_ms)) {
        api_reject(c, 429, "API calls quota exceeded.");
        c->retry_after = 1;
        return 429;
    }
    if (c->status != 0)
        return c->status;
    if (strcmp(c->customer, t->settings->customer) != 0) {
        api_reject(c, 404, "No such customer.");
        return 404;
    }
    if (!c->key_ok) {
        api_reject(c, 401, api_denied);
        return 401;
    }
    if (faults_match(t->faults, c->resource, c->id, &hit)) {
        c->delay_ms = hit.delay_ms;
        if (hit.status != 0) {
            api_reject(c, hit.status, api_fault_message(hit.status));
            c->retry_after = hit.retry_after;
            return hit.status;
        }
    }
    return api_lookup(t, c, body);
}

static void api_send(struct mg_connection *conn, const struct api_call *c,
                     struct buf *body)
{
    char headers[API_HEADERS_MAX] = "";

    if (c->retry_after >= 0)
        snprintf(headers, sizeof(headers), "Retry-After: %d\r\n",
                 c->retry_after);
    if (c->status != 200) {
        buf_reset(body);
        buf_printf(body, "{\"Message\":\"%s\"}", c->message);
    }
    http_reply(conn, c->status, api_json, body->data, body->len,
               headers[0] ? headers : NULL);
}

static int api_handle(struct mg_connection *conn, void *cbdata)
{
    struct testapi *t = cbdata;
    struct api_call c;
    struct buf body;

    api_parse(conn, &c);
    buf_init(&body, API_REPLY_MAX);

    pthread_mutex_lock(&t->lock);
    c.t_ms = testapi_now_ms(t);
    c.status = api_decide(t, &c, &body);
    calls_add(t->calls, c.t_ms, c.resource, c.id, c.status, c.key_ok);
    pthread_mutex_unlock(&t->lock);

    log_debug("call resource=%s id=%s status=%d delay_ms=%ld", c.resource, c.id,
              c.status, c.delay_ms);
    if (c.delay_ms > 0)
        testapi_sleep(t, c.delay_ms);
    api_send(conn, &c, &body);

    buf_free(&body);
    return c.status;
}

void api_mount(struct mg_context *ctx, struct testapi *t)
{
    mg_set_request_handler(ctx, "/restful.svc/v2", api_handle, t);
}
