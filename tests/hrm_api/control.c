/*
 * control.c - the /_control routes through which tests drive the server.
 *
 * Tests put objects in, read the call record, add fault rules, rotate the
 * key, change the rate and reset, all as JSON over HTTP, with no apikey:
 * the control routes stand for what happens inside HR Manager, not for
 * its API. The routes are a table; one dispatcher reads the body against
 * the route's limit, runs the route and writes the one reply.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http.h"
#include "log.h"
#include "testapi.h"

enum {
    CONTROL_SMALL_MAX = 4096,
    CONTROL_OBJECT_MAX = 1024 * 1024,
    CONTROL_FAULTS_MAX = 256 * 1024,
    CONTROL_OUT_MAX = 512 * 1024 * 1024,
    CONTROL_WHY_MAX = 256,
};

static const char control_objects[] = "/_control/objects/";

struct control_req {
    struct testapi *t;
    struct mg_connection *conn;
    const char *rest;  /* the path after the route's prefix */
    const char *query; /* raw query string, or NULL */
    struct buf in;
    struct buf out;
    const char *error; /* message of an error reply */
    char why[CONTROL_WHY_MAX];
};

typedef int (*control_fn)(struct control_req *r);

/* Sets the message of an error reply and returns its status. */
static int control_fail(struct control_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int control_fail(struct control_req *r, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    r->error = r->why;
    return status;
}

/* The body as a JSON object with nothing after it, or NULL. */
static cJSON *control_json(struct control_req *r)
{
    cJSON *doc = NULL;

    if (r->in.len > 0 && strlen(r->in.data) == r->in.len)
        doc = cJSON_ParseWithLengthOpts(r->in.data, r->in.len + 1, NULL, 1);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

/* Splits "Candidates/12" into its resource and id. */
static int control_object_path(struct control_req *r, char *resource, char *id)
{
    const char *slash = strchr(r->rest, '/');
    size_t rlen = slash ? (size_t)(slash - r->rest) : 0;

    if (slash == NULL || rlen == 0 || slash[1] == '\0') {
        control_fail(r, 404, "expected /_control/objects/{Resource}/{id}");
        return -1;
    }
    if (rlen >= TESTAPI_NAME_MAX || strlen(slash + 1) >= TESTAPI_ID_MAX) {
        control_fail(r, 400, "resource over %d or id over %d bytes",
                     TESTAPI_NAME_MAX - 1, TESTAPI_ID_MAX - 1);
        return -1;
    }
    memcpy(resource, r->rest, rlen);
    resource[rlen] = '\0';
    strcpy(id, slash + 1);
    return 0;
}

static int control_object_put(struct control_req *r)
{
    char resource[TESTAPI_NAME_MAX], id[TESTAPI_ID_MAX];
    cJSON *doc;
    int rc;

    if (control_object_path(r, resource, id) != 0)
        return 404;
    doc = control_json(r);
    if (doc == NULL)
        return control_fail(r, 400, "body must be one JSON object");
    cJSON_Delete(doc);

    /* The text is kept as sent: numbers and escapes reach the client
     * byte for byte. */
    pthread_mutex_lock(&r->t->lock);
    rc = store_put(r->t->store, resource, id, r->in.data, r->in.len);
    pthread_mutex_unlock(&r->t->lock);
    if (rc != 0)
        return control_fail(r, 507, "store is full (%d objects)",
                            TESTAPI_OBJECTS_MAX);

    log_debug("object stored resource=%s id=%s bytes=%zu", resource, id,
              r->in.len);
    buf_printf(&r->out, "{\"stored\":true}");
    return 200;
}

static int control_object_get(struct control_req *r)
{
    char resource[TESTAPI_NAME_MAX], id[TESTAPI_ID_MAX];
    int state;

    if (control_object_path(r, resource, id) != 0)
        return 404;

    pthread_mutex_lock(&r->t->lock);
    state = store_get(r->t->store, resource, id, &r->out);
    pthread_mutex_unlock(&r->t->lock);

    if (state == STORE_PRESENT)
        return 200;
    if (state < 0)
        return control_fail(r, 500, "object too large to answer");
    return control_fail(r, 404, "%s/%s %s", resource, id,
                        state == STORE_GONE ? "is marked gone"
                                            : "is not stored");
}

static const char *const control_states[] = {"absent", "present", "gone"};

static int control_object_delete(struct control_req *r)
{
    char resource[TESTAPI_NAME_MAX], id[TESTAPI_ID_MAX], reply[8] = "";
    int before;

    if (control_object_path(r, resource, id) != 0)
        return 404;
    if (r->query != NULL &&
        mg_get_var2(r->query, strlen(r->query), "reply", reply, sizeof(reply),
                    0) != -1 &&
        strcmp(reply, "404") != 0)
        return control_fail(r, 400, "reply: only 404 is supported");

    pthread_mutex_lock(&r->t->lock);
    before = store_delete(r->t->store, resource, id, reply[0] != '\0');
    pthread_mutex_unlock(&r->t->lock);
    if (before < 0)
        return control_fail(r, 507, "store is full (%d objects)",
                            TESTAPI_OBJECTS_MAX);

    log_debug("object %s resource=%s id=%s",
              reply[0] ? "marked gone" : "deleted", resource, id);
    buf_printf(&r->out, "{\"was\":\"%s\",\"now\":\"%s\"}",
               control_states[before], reply[0] ? "gone" : "absent");
    return 200;
}

/* Reads resource=, id= and since_ms= from the query into `f`. */
static int control_filter(struct control_req *r, struct calls_filter *f,
                          char *resource, char *id)
{
    const char *q = r->query ? r->query : "";
    char since[32], *end;

    int rn =
        mg_get_var2(q, strlen(q), "resource", resource, TESTAPI_NAME_MAX, 0);
    int in = mg_get_var2(q, strlen(q), "id", id, TESTAPI_ID_MAX, 0);
    int sn = mg_get_var2(q, strlen(q), "since_ms", since, sizeof(since), 0);

    *f = (struct calls_filter){.since_ms = INT64_MIN};
    if (rn == -2 || in == -2 || sn == -2) {
        control_fail(r, 400, "a filter value is too long");
        return -1;
    }
    f->resource = rn >= 0 ? resource : NULL;
    f->id = in >= 0 ? id : NULL;
    if (sn < 0)
        return 0;

    errno = 0;
    long long v = strtoll(since, &end, 10);
    if (errno != 0 || end == since || *end != '\0') {
        control_fail(r, 400, "since_ms: must be milliseconds since 1970");
        return -1;
    }
    f->since_ms = v;
    return 0;
}

static int control_calls_list(struct control_req *r)
{
    char resource[TESTAPI_NAME_MAX], id[TESTAPI_ID_MAX];
    struct calls_filter f;
    int rc;

    if (control_filter(r, &f, resource, id) != 0)
        return 400;

    pthread_mutex_lock(&r->t->lock);
    rc = calls_render(r->t->calls, &f, &r->out);
    pthread_mutex_unlock(&r->t->lock);
    if (rc != 0)
        return control_fail(r, 500, "listing over %d MiB: filter it",
                            CONTROL_OUT_MAX / (1024 * 1024));
    return 200;
}

static int control_calls_summary(struct control_req *r)
{
    char resource[TESTAPI_NAME_MAX], id[TESTAPI_ID_MAX];
    struct calls_filter f;
    int rc;

    if (control_filter(r, &f, resource, id) != 0)
        return 400;

    pthread_mutex_lock(&r->t->lock);
    rc = calls_summary(r->t->calls, &f, &r->out);
    pthread_mutex_unlock(&r->t->lock);
    return rc == 0 ? 200 : control_fail(r, 500, "summary too large");
}

static int control_faults_add(struct control_req *r)
{
    cJSON *doc = control_json(r);
    int n;

    if (doc == NULL)
        return control_fail(r, 400, "body must be {\"rules\": [...]}");

    pthread_mutex_lock(&r->t->lock);
    n = faults_add(r->t->faults, doc, r->why, sizeof(r->why));
    pthread_mutex_unlock(&r->t->lock);
    cJSON_Delete(doc);
    if (n < 0) {
        r->error = r->why;
        return 400;
    }

    log_info("fault rules added count=%d", n);
    buf_printf(&r->out, "{\"added\":%d}", n);
    return 200;
}

static int control_faults_list(struct control_req *r)
{
    int rc;

    pthread_mutex_lock(&r->t->lock);
    rc = faults_render(r->t->faults, &r->out);
    pthread_mutex_unlock(&r->t->lock);
    return rc == 0 ? 200 : control_fail(r, 500, "fault list too large");
}

static int control_faults_clear(struct control_req *r)
{
    pthread_mutex_lock(&r->t->lock);
    faults_clear(r->t->faults);
    pthread_mutex_unlock(&r->t->lock);

    log_info("fault rules cleared");
    buf_printf(&r->out, "{\"cleared\":true}");
    return 200;
}

static int control_apikey(struct control_req *r)
{
    cJSON *doc = control_json(r);
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(doc, "apikey");
    int status = 200;

    if (!cJSON_IsString(key) || key->valuestring[0] == '\0' ||
        strlen(key->valuestring) >= TESTAPI_KEY_MAX) {
        status = control_fail(r, 400,
                              "body must be {\"apikey\": \"...\"}, a "
                              "non-empty key under %d bytes",
                              TESTAPI_KEY_MAX);
        goto out;
    }

    pthread_mutex_lock(&r->t->lock);
    testapi_set_apikey(r->t, key->valuestring);
    pthread_mutex_unlock(&r->t->lock);

    log_info("apikey changed");
    buf_printf(&r->out, "{\"changed\":true}");

out:
    cJSON_Delete(doc);
    return status;
}

static int control_rate(struct control_req *r)
{
    cJSON *doc = control_json(r);
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(doc, "rate");
    double v = cJSON_IsNumber(rate) ? rate->valuedouble : -1;
    int status = 200;

    if (!(v >= 0 && v <= RATELIMIT_MAX) || v != (double)(long)v) {
        status = control_fail(r, 400,
                              "body must be {\"rate\": N}, N a whole number "
                              "from 0 (unlimited) to %d",
                              RATELIMIT_MAX);
        goto out;
    }

    pthread_mutex_lock(&r->t->lock);
    ratelimit_set(r->t->limit, (long)v);
    pthread_mutex_unlock(&r->t->lock);

    log_info("rate set rate=%ld", (long)v);
    buf_printf(&r->out, "{\"rate\":%ld}", (long)v);

out:
    cJSON_Delete(doc);
    return status;
}

static int control_reset(struct control_req *r)
{
    pthread_mutex_lock(&r->t->lock);
    testapi_reset(r->t);
    pthread_mutex_unlock(&r->t->lock);

    log_info("reset");
    buf_printf(&r->out, "{\"reset\":true}");
    return 200;
}

static const struct control_route {
    const char *method;
    const char *path;
    bool prefix;
    size_t body_max;
    control_fn fn;
} control_routes[] = {
    {"PUT", control_objects, true, CONTROL_OBJECT_MAX, control_object_put},
    {"GET", control_objects, true, CONTROL_SMALL_MAX, control_object_get},
    {"DELETE", control_objects, true, CONTROL_SMALL_MAX, control_object_delete},
    {"GET", "/_control/calls", false, CONTROL_SMALL_MAX, control_calls_list},
    {"GET", "/_control/calls/summary", false, CONTROL_SMALL_MAX,
     control_calls_summary},
    {"POST", "/_control/faults", false, CONTROL_FAULTS_MAX, control_faults_add},
    {"GET", "/_control/faults", false, CONTROL_SMALL_MAX, control_faults_list},
    {"DELETE", "/_control/faults", false, CONTROL_SMALL_MAX,
     control_faults_clear},
    {"PUT", "/_control/apikey", false, CONTROL_SMALL_MAX, control_apikey},
    {"PUT", "/_control/rate", false, CONTROL_SMALL_MAX, control_rate},
    {"POST", "/_control/reset", false, CONTROL_SMALL_MAX, control_reset},
};

static const size_t control_nroutes =
    sizeof(control_routes) / sizeof(*control_routes);

static bool route_path_matches(const struct control_route *rt, const char *path)
{
    if (rt->prefix)
        return strncmp(path, rt->path, strlen(rt->path)) == 0;
    return strcmp(path, rt->path) == 0;
}

/* The route for this request; *known says whether the path exists at all
 * (for 405 versus 404). */
static const struct control_route *control_route(const char *method,
                                                 const char *path, bool *known)
{
    *known = false;
    for (size_t i = 0; i < control_nroutes; i++) {
        const struct control_route *rt = &control_routes[i];
        if (!route_path_matches(rt, path))
            continue;
        *known = true;
        if (strcmp(rt->method, method) == 0)
            return rt;
    }
    return NULL;
}

/* Reads the body and runs the route; returns the status to answer. */
static int control_run(const struct control_route *rt, struct control_req *r)
{
    int rc;

    buf_init(&r->in, rt->body_max);
    rc = http_read_body(r->conn, &r->in);
    if (rc == HTTP_BODY_TOO_LARGE)
        return control_fail(r, 413, "body over %zu bytes", rt->body_max);
    if (rc != HTTP_BODY_OK)
        return control_fail(r, 400, "body could not be read");
    return rt->fn(r);
}

static int control_handle(struct mg_connection *conn, void *cbdata)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *path = ri->local_uri ? ri->local_uri : "";
    struct control_req *r = calloc(1, sizeof(*r));
    const struct control_route *rt;
    bool known;
    int status;

    if (r == NULL)
        abort();
    r->t = cbdata;
    r->conn = conn;
    r->query = ri->query_string;
    buf_init(&r->in, 0);
    buf_init(&r->out, CONTROL_OUT_MAX);

    rt = control_route(ri->request_method, path, &known);
    if (rt != NULL) {
        r->rest = path + strlen(rt->path);
        status = control_run(rt, r);
    } else {
        status =
            control_fail(r, known ? 405 : 404, "%s %s: %s", ri->request_method,
                         path, known ? "method not allowed" : "no such route");
    }

    if (status >= 400)
        http_reply_error(conn, status, r->error, NULL);
    else
        http_reply(conn, status, "application/json", r->out.data, r->out.len,
                   NULL);

    buf_free(&r->in);
    buf_free(&r->out);
    free(r);
    return status;
}

void control_mount(struct mg_context *ctx, struct testapi *t)
{
    mg_set_request_handler(ctx, "/_control", control_handle, t);
}
