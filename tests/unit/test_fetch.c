/*
 * test_fetch.c - the fetcher against a real HTTP server in the same
 * process, on a free loopback port: what it sends, what it reports, how
 * it bounds size, time and concurrency, and that it reuses connections.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <curl/curl.h>

#include "check.h"
#include "fetch.h"
#include "http.h"

enum { PORTS_MAX = 8192, BIG = 64 * 1024 };

/* What the server saw; written by civetweb's threads. */
static struct {
    struct mg_context *ctx;
    int port;
    atomic_int requests;
    atomic_int in_flight;
    atomic_int most_in_flight;
    pthread_mutex_t lock;
    int ports[PORTS_MAX]; /* client ports seen: one per connection */
    int nports;
    char apikey[64];
    char accept[64];
    char agent[64];
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void srv_note_connection(const struct mg_request_info *ri)
{
    pthread_mutex_lock(&srv.lock);
    int seen = 0;
    for (int i = 0; i < srv.nports; i++)
        seen |= srv.ports[i] == ri->remote_port;
    if (!seen && srv.nports < PORTS_MAX)
        srv.ports[srv.nports++] = ri->remote_port;
    pthread_mutex_unlock(&srv.lock);
}

static void srv_copy_header(struct mg_connection *conn, const char *name,
                            char *to, size_t len)
{
    const char *v = mg_get_header(conn, name);

    pthread_mutex_lock(&srv.lock);
    snprintf(to, len, "%s", v ? v : "(none)");
    pthread_mutex_unlock(&srv.lock);
}

static void srv_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void srv_reply_big(struct mg_connection *conn, int chunked)
{
    char *body = malloc(BIG);

    memset(body, 'x', BIG);
    if (!chunked) {
        http_reply(conn, 200, "application/json", body, BIG, NULL);
    } else {
        /* No length announced: only the bytes received can tell. */
        mg_disable_connection_keep_alive(conn);
        mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        "Connection: close\r\n\r\n");
        for (int i = 0; i < BIG; i += 4096)
            mg_write(conn, body + i, 4096);
    }
    free(body);
}

static void srv_reply_dated_throttle(struct mg_connection *conn)
{
    char header[96];
    struct tm tm;
    time_t at = time(NULL) + 30;

    gmtime_r(&at, &tm);
    strftime(header, sizeof(header),
             "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    http_reply(conn, 503, "text/plain", "busy", 4, header);
}

static int srv_handle(struct mg_connection *conn, void *arg)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *uri = ri->local_uri;
    static const char ok[] = "{\"Items\":[{\"Id\":1}]}";

    (void)arg;
    atomic_fetch_add(&srv.requests, 1);
    int now = atomic_fetch_add(&srv.in_flight, 1) + 1;
    int most = atomic_load(&srv.most_in_flight);
    while (now > most &&
           !atomic_compare_exchange_weak(&srv.most_in_flight, &most, now))
        ;
    srv_note_connection(ri);
    srv_copy_header(conn, "apikey", srv.apikey, sizeof(srv.apikey));
    srv_copy_header(conn, "Accept", srv.accept, sizeof(srv.accept));
    srv_copy_header(conn, "User-Agent", srv.agent, sizeof(srv.agent));

    if (strcmp(uri, "/slow") == 0) {
        srv_sleep_ms(ri->query_string ? atol(ri->query_string) : 500);
        http_reply(conn, 200, "application/json", ok, strlen(ok), NULL);
    } else if (strcmp(uri, "/big") == 0 || strcmp(uri, "/chunked") == 0) {
        srv_reply_big(conn, strcmp(uri, "/chunked") == 0);
    } else if (strcmp(uri, "/throttle") == 0) {
        http_reply(conn, 429, "text/plain", "slow down", 9,
                   "retry-after: 7\r\n");
    } else if (strcmp(uri, "/throttle-date") == 0) {
        srv_reply_dated_throttle(conn);
    } else if (strcmp(uri, "/redirect") == 0) {
        http_reply(conn, 302, "text/plain", "", 0, "Location: /ok\r\n");
    } else if (strcmp(uri, "/empty") == 0) {
        http_reply(conn, 200, "application/json", "", 0, NULL);
    } else {
        http_reply(conn, 200, "application/json", ok, strlen(ok), NULL);
    }

    atomic_fetch_sub(&srv.in_flight, 1);
    return 200;
}

static void srv_stop(void)
{
    mg_stop(srv.ctx);
    curl_global_cleanup();
}

static void srv_start(void)
{
    struct mg_server_port ports[2];
    char err[256];

    if (srv.ctx != NULL)
        return;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srv.ctx = http_server_start("127.0.0.1:0", 24, err, sizeof(err));
    if (srv.ctx == NULL) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    mg_set_request_handler(srv.ctx, "/", srv_handle, NULL);
    if (mg_get_server_ports(srv.ctx, 2, ports) < 1) {
        fprintf(stderr, "no listening port\n");
        exit(1);
    }
    srv.port = ports[0].port;
    atexit(srv_stop);
}

/* Waits for requests an earlier test gave up on, then zeroes counts. */
static void srv_reset_counts(void)
{
    for (int i = 0; i < 200 && atomic_load(&srv.in_flight) > 0; i++)
        srv_sleep_ms(10);
    pthread_mutex_lock(&srv.lock);
    srv.nports = 0;
    pthread_mutex_unlock(&srv.lock);
    atomic_store(&srv.requests, 0);
    atomic_store(&srv.most_in_flight, 0);
}

static int srv_connections(void)
{
    pthread_mutex_lock(&srv.lock);
    int n = srv.nports;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static const char *url(const char *path)
{
    static char buf[8][128];
    static int next;
    char *u = buf[next++ % 8];

    snprintf(u, sizeof(buf[0]), "http://127.0.0.1:%d%s", srv.port, path);
    return u;
}

/* What one callback reported, copied out while it was valid. */
struct outcome {
    int calls;
    long status;
    char error[300];
    int has_error;
    int timed_out;
    long retry_after_ms;
    char body[128];
    size_t body_len;
    int body_is_string;
};

static void record(void *arg, const struct fetch_result *r)
{
    struct outcome *o = arg;

    o->calls++;
    o->status = r->status;
    o->has_error = r->error != NULL;
    snprintf(o->error, sizeof(o->error), "%s", r->error ? r->error : "");
    o->timed_out = r->timed_out;
    o->retry_after_ms = r->retry_after_ms;
    o->body_len = r->body->len;
    o->body_is_string = r->body->data != NULL;
    snprintf(o->body, sizeof(o->body), "%s",
             r->body->data ? r->body->data : "");
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the fetcher until nothing is active or `limit_ms` passed. */
static void drain(struct fetcher *f, int limit_ms)
{
    int64_t end = now_ms() + limit_ms;

    while (fetcher_active(f) > 0 && now_ms() < end)
        fetcher_run(f, 50);
}

static struct fetcher *make(int parallel, long timeout_ms, size_t max_body)
{
    struct fetch_options o = {"k-123 secret", parallel, timeout_ms, max_body};
    char err[200] = "";
    struct fetcher *f = fetcher_new(&o, err, sizeof(err));

    if (f == NULL)
        fprintf(stderr, "fetcher_new: %s\n", err);
    CHECK(f != NULL);
    return f;
}

static struct outcome fetch_one(struct fetcher *f, const char *path)
{
    struct outcome o = {0};

    CHECK_INT_EQ(fetcher_start(f, url(path), record, &o), 0);
    drain(f, 5000);
    CHECK_INT_EQ(o.calls, 1);
    return o;
}

static void test_fetch_sends_the_key_and_returns_the_reply(void)
{
    srv_start();
    struct fetcher *f = make(2, 5000, 4096);
    struct outcome o = fetch_one(f, "/ok");

    CHECK_INT_EQ(o.status, 200);
    CHECK(!o.has_error);
    CHECK(!o.timed_out);
    CHECK_STR_EQ(o.body, "{\"Items\":[{\"Id\":1}]}");
    CHECK_INT_EQ(o.retry_after_ms, -1);
    CHECK_STR_EQ(srv.apikey, "k-123 secret");
    CHECK_STR_EQ(srv.accept, "application/json");
    CHECK_CONTAINS(srv.agent, "hookbridge/");
    fetcher_free(f);
}

static void test_empty_reply_is_an_empty_string(void)
{
    srv_start();
    struct fetcher *f = make(1, 5000, 4096);
    struct outcome o = fetch_one(f, "/empty");

    CHECK_INT_EQ(o.status, 200);
    CHECK_INT_EQ(o.body_len, 0);
    CHECK(o.body_is_string);
    fetcher_free(f);
}

static void test_retry_after_is_captured_in_both_forms(void)
{
    srv_start();
    struct fetcher *f = make(2, 5000, 4096);

    struct outcome o = fetch_one(f, "/throttle");
    CHECK_INT_EQ(o.status, 429);
    CHECK_INT_EQ(o.retry_after_ms, 7000);

    o = fetch_one(f, "/throttle-date");
    CHECK_INT_EQ(o.status, 503);
    CHECK(o.retry_after_ms >= 28000 && o.retry_after_ms <= 30000);

    /* The next reply on the same connection carries none. */
    o = fetch_one(f, "/ok");
    CHECK_INT_EQ(o.retry_after_ms, -1);
    fetcher_free(f);
}

static void test_redirects_are_reported_not_followed(void)
{
    srv_start();
    struct fetcher *f = make(1, 5000, 4096);
    struct outcome o = fetch_one(f, "/redirect");

    CHECK_INT_EQ(o.status, 302);
    fetcher_free(f);
}

static void test_reply_over_the_size_limit_fails_the_fetch(void)
{
    srv_start();
    struct fetcher *f = make(1, 5000, 1024);

    struct outcome o = fetch_one(f, "/big");
    CHECK_INT_EQ(o.status, 0);
    CHECK_CONTAINS(o.error, "larger than 1024 bytes");
    CHECK_INT_EQ(o.body_len, 0);

    o = fetch_one(f, "/chunked");
    CHECK_INT_EQ(o.status, 0);
    CHECK_CONTAINS(o.error, "larger than 1024 bytes");
    CHECK_INT_EQ(o.body_len, 0);

    /* The handle is fine for the next fetch. */
    o = fetch_one(f, "/ok");
    CHECK_INT_EQ(o.status, 200);
    fetcher_free(f);
}

static void test_slow_reply_reports_a_timeout(void)
{
    srv_start();
    struct fetcher *f = make(1, 200, 4096);
    int64_t start = now_ms();
    struct outcome o = fetch_one(f, "/slow?700");

    CHECK_INT_EQ(o.status, 0);
    CHECK(o.timed_out);
    CHECK(o.has_error);
    CHECK(now_ms() - start < 650);
    fetcher_free(f);
}

static void test_refused_connection_is_an_error_without_status(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);
    char where[64];
    struct outcome o = {0};

    /* A port that was free a moment ago and has no listener now. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof(a));
    getsockname(s, (struct sockaddr *)&a, &alen);
    close(s);
    snprintf(where, sizeof(where), "http://127.0.0.1:%d/ok", ntohs(a.sin_port));

    struct fetcher *f = make(1, 2000, 4096);
    CHECK_INT_EQ(fetcher_start(f, where, record, &o), 0);
    drain(f, 3000);
    CHECK_INT_EQ(o.calls, 1);
    CHECK_INT_EQ(o.status, 0);
    CHECK(o.has_error && !o.timed_out);
    fetcher_free(f);
}

static void test_parallel_limit_is_kept(void)
{
    struct outcome o[4] = {{0}};

    srv_start();
    srv_reset_counts();
    struct fetcher *f = make(3, 5000, 4096);
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(fetcher_start(f, url("/slow?300"), record, &o[i]), 0);
    CHECK_INT_EQ(fetcher_start(f, url("/ok"), record, &o[3]), -1);
    CHECK_INT_EQ(fetcher_active(f), 3);

    drain(f, 5000);
    CHECK_INT_EQ(fetcher_active(f), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(o[i].status, 200);
    CHECK_INT_EQ(o[3].calls, 0);
    CHECK_INT_EQ(atomic_load(&srv.most_in_flight), 3);

    CHECK_INT_EQ(fetcher_start(f, url("/ok"), record, &o[3]), 0);
    drain(f, 5000);
    CHECK_INT_EQ(o[3].status, 200);
    fetcher_free(f);
}

struct chain {
    struct fetcher *f;
    int remaining; /* fetches still to start */
    int done;
    int failed;
};

/* Starts the next fetch from inside the callback, in the freed slot. */
static void chain_next(void *arg, const struct fetch_result *r)
{
    struct chain *c = arg;

    c->done++;
    c->failed += r->status != 200;
    if (c->remaining > 0 && fetcher_start(c->f, url("/ok"), chain_next, c) == 0)
        c->remaining--;
}

static void test_connections_are_reused_between_fetches(void)
{
    struct chain c = {.remaining = 2000};

    srv_start();
    srv_reset_counts();
    c.f = make(8, 5000, 4096);
    int64_t start = now_ms();
    for (int i = 0; i < 8; i++) {
        CHECK_INT_EQ(fetcher_start(c.f, url("/ok"), chain_next, &c), 0);
        c.remaining--;
    }
    drain(c.f, 30000);
    int64_t took = now_ms() - start;

    CHECK_INT_EQ(c.done, 2000);
    CHECK_INT_EQ(c.failed, 0);
    CHECK_INT_EQ(atomic_load(&srv.requests), 2000);
    CHECK(srv_connections() <= 8);
    printf("measured fetches=%d parallel=8 connections=%d ms=%lld "
           "fetches_per_s=%.0f\n",
           c.done, srv_connections(), (long long)took,
           took > 0 ? c.done * 1000.0 / (double)took : 0.0);
    fetcher_free(c.f);
}

struct cancel_probe {
    struct fetcher *f;
    int calls;
    int cancelled;
    int restarted;
};

static void on_cancel(void *arg, const struct fetch_result *r)
{
    struct cancel_probe *p = arg;

    p->calls++;
    p->cancelled += r->error != NULL && strcmp(r->error, "cancelled") == 0 &&
                    r->status == 0;
    /* A fetcher being freed starts nothing new. */
    p->restarted += fetcher_start(p->f, url("/ok"), on_cancel, p) == 0;
}

static void test_free_calls_back_every_running_fetch_once(void)
{
    struct cancel_probe p = {0};

    srv_start();
    p.f = make(4, 5000, 4096);
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(fetcher_start(p.f, url("/slow?300"), on_cancel, &p), 0);
    fetcher_run(p.f, 20);
    fetcher_free(p.f);

    CHECK_INT_EQ(p.calls, 3);
    CHECK_INT_EQ(p.cancelled, 3);
    CHECK_INT_EQ(p.restarted, 0);
}

static void test_bad_options_are_refused_with_a_reason(void)
{
    char err[200] = "";
    struct fetch_options o = {"key\r\nX-Evil: 1", 4, 1000, 1024};

    CHECK(fetcher_new(&o, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "line break");
    CHECK(strstr(err, "X-Evil") == NULL);

    o.apikey = "key";
    o.max_parallel = 0;
    CHECK(fetcher_new(&o, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "max_parallel=0");

    o.max_parallel = 65;
    CHECK(fetcher_new(&o, err, sizeof(err)) == NULL);
}

CHECK_MAIN(test_fetch_sends_the_key_and_returns_the_reply,
           test_empty_reply_is_an_empty_string,
           test_retry_after_is_captured_in_both_forms,
           test_redirects_are_reported_not_followed,
           test_reply_over_the_size_limit_fails_the_fetch,
           test_slow_reply_reports_a_timeout,
           test_refused_connection_is_an_error_without_status,
           test_parallel_limit_is_kept,
           test_connections_are_reused_between_fetches,
           test_free_calls_back_every_running_fetch_once,
           test_bad_options_are_refused_with_a_reason)
