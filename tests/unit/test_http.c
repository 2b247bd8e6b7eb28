/*
 * test_http.c - replies, body limits and the health endpoints, over real
 * loopback connections to a real civetweb server.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "log.h"

enum { ECHO_MAX = 16 };

struct response {
    int status;
    char head[4096];
    char body[8192];
    size_t len;
};

static int is_ready;

static int ready(void *arg)
{
    (void)arg;
    return is_ready;
}

static int echo(struct mg_connection *conn, void *cbdata)
{
    struct buf body;
    int rc;

    (void)cbdata;
    buf_init(&body, ECHO_MAX);
    rc = http_read_body(conn, &body);
    if (rc == HTTP_BODY_TOO_LARGE)
        http_reply_error(conn, 413, "too large", NULL);
    else if (rc == HTTP_BODY_ERROR)
        http_reply_error(conn, 400, "broken body", NULL);
    else
        http_reply(conn, 200, "application/octet-stream", body.data, body.len,
                   "X-Echo: yes\r\n");
    buf_free(&body);
    return rc == HTTP_BODY_OK ? 200 : 413;
}

static const char awkward[] = "say \"hi\"\n\\ and \x01 tab\t";

static int fail(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    http_reply_error(conn, 503, awkward, "Retry-After: 1\r\n");
    return 503;
}

static struct metrics *metrics;
static struct http_health health = {ready, NULL, NULL};
static struct mg_context *server;
static int port;

static int start_server(void)
{
    char err[256] = "";
    struct mg_server_port ports[2];

    metrics = metrics_new();
    metric_add(metrics_counter(metrics, "things_total", NULL, "Things."), 3);
    health.metrics = metrics;
    server = http_health_start("127.0.0.1:0", &health, err, sizeof(err));
    if (server == NULL) {
        fprintf(stderr, "cannot start the test server: %s\n", err);
        return -1;
    }
    mg_set_request_handler(server, "/echo", echo, NULL);
    mg_set_request_handler(server, "/fail", fail, NULL);
    if (mg_get_server_ports(server, 2, ports) < 1)
        return -1;
    port = ports[0].port;
    return 0;
}

static int connect_server(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_text(int fd, const char *text)
{
    size_t len = strlen(text);

    if (send(fd, text, len, MSG_NOSIGNAL) != (ssize_t)len)
        fprintf(stderr, "send failed\n");
}

/* Reads one response framed by its Content-Length; status -1 on failure. */
static void read_response(int fd, struct response *r)
{
    size_t got = 0;
    char *end = NULL;
    ssize_t n;

    memset(r, 0, sizeof(*r));
    r->status = -1;
    while (end == NULL && got < sizeof(r->head) - 1) {
        if ((n = recv(fd, r->head + got, 1, 0)) <= 0)
            return;
        got += (size_t)n;
        end = strstr(r->head, "\r\n\r\n");
    }
    const char *cl = strstr(r->head, "Content-Length: ");
    if (end == NULL)
        return;
    /* Without a length the body ends where the server closes. */
    r->len = cl ? strtoul(cl + 16, NULL, 10) : sizeof(r->body) - 1;
    for (got = 0; got < r->len && got < sizeof(r->body) - 1; got += (size_t)n)
        if ((n = recv(fd, r->body + got, r->len - got, 0)) <= 0)
            break;
    if (got < r->len && cl != NULL)
        return;
    r->len = got;
    r->status = atoi(r->head + 9);
}

static void request(const char *text, struct response *r)
{
    int fd = connect_server();

    if (fd < 0) {
        memset(r, 0, sizeof(*r));
        r->status = -1;
        return;
    }
    send_text(fd, text);
    read_response(fd, r);
    close(fd);
}

static void test_healthz_answers_ok_with_a_complete_header(void)
{
    struct response r;

    request("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK_CONTAINS(r.head, "Content-Length: 3\r\n");
    CHECK_CONTAINS(r.head, "Cache-Control: no-store\r\n");
    CHECK_STR_EQ(r.body, "ok\n");
}

static void test_readyz_follows_the_ready_callback(void)
{
    struct response r;

    is_ready = 0;
    request("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 503);
    CHECK(strncmp(r.head, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);

    is_ready = 1;
    request("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 200);
}

static void test_metrics_serves_prometheus_text(void)
{
    struct response r;

    request("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.head, "Content-Type: text/plain; version=0.0.4\r\n");
    CHECK_CONTAINS(r.body, "# TYPE hookbridge_things_total counter\n");
    CHECK_CONTAINS(r.body, "\nhookbridge_things_total 3\n");
}

static void test_other_methods_on_health_paths_get_405_with_allow(void)
{
    static const char *const paths[] = {"/healthz", "/readyz", "/metrics"};
    char text[128];
    struct response r;

    for (size_t i = 0; i < 3; i++) {
        snprintf(text, sizeof(text),
                 "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
                 paths[i]);
        request(text, &r);
        CHECK_INT_EQ(r.status, 405);
        CHECK_CONTAINS(r.head, "\r\nAllow: GET\r\n");
        CHECK_CONTAINS(r.head, "Content-Type: application/json\r\n");
    }
}

static void test_paths_below_health_endpoints_are_not_found(void)
{
    struct response r;

    request("GET /healthz/deeper HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 404);
    request("GET /nothing-here HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 404);
    request("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 200);
}

static void test_keep_alive_serves_several_requests_on_one_connection(void)
{
    int fd = connect_server();
    struct response r;

    for (int i = 0; i < 3; i++) {
        send_text(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        read_response(fd, &r);
        CHECK_INT_EQ(r.status, 200);
        CHECK_STR_EQ(r.body, "ok\n");
    }
    close(fd);
}

static void test_a_body_within_the_limit_is_read_whole(void)
{
    struct response r;

    request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\n"
            "0123456789abcdef",
            &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "0123456789abcdef");
    CHECK_CONTAINS(r.head, "X-Echo: yes\r\n");

    request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.len, 0);
}

static void test_a_declared_length_over_the_limit_is_refused_unread(void)
{
    struct response r;
    int fd = connect_server();
    struct timespec t0, t1;

    /* Only the header is sent: the answer must not wait for the body. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    send_text(fd,
              "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n");
    read_response(fd, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_INT_EQ(r.status, 413);
    CHECK(strncmp(r.head, "HTTP/1.1 413 ", 13) == 0);
    CHECK(t1.tv_sec - t0.tv_sec < 3);
    close(fd);
}

static void test_a_chunked_body_over_the_limit_is_refused(void)
{
    struct response r;

    request("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            "\r\n10\r\n0123456789abcdef\r\n1\r\nX\r\n0\r\n\r\n",
            &r);
    CHECK_INT_EQ(r.status, 413);

    request("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            "\r\n4\r\nabcd\r\n0\r\n\r\n",
            &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "abcd");
}

static void test_a_body_cut_short_is_an_error_not_a_message(void)
{
    struct response r;
    int fd = connect_server();

    send_text(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
                  "\r\nabc");
    shutdown(fd, SHUT_WR);
    read_response(fd, &r);
    CHECK(r.status != 200);
    close(fd);
}

static void test_error_replies_are_json_with_the_message_escaped(void)
{
    struct response r;

    request("GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    CHECK_INT_EQ(r.status, 503);
    CHECK_CONTAINS(r.head, "Retry-After: 1\r\n");
    CHECK_CONTAINS(r.head, "Content-Type: application/json\r\n");

    cJSON *doc = cJSON_Parse(r.body);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "error");
    CHECK(cJSON_IsString(msg));
    if (cJSON_IsString(msg))
        CHECK_STR_EQ(msg->valuestring, awkward);
    cJSON_Delete(doc);
}

static void test_a_busy_port_is_reported_with_the_address(void)
{
    char listen[64], err[512] = "", want[96];
    struct http_health h = {NULL, NULL, NULL};

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    struct mg_context *ctx = http_health_start(listen, &h, err, sizeof(err));
    CHECK(ctx == NULL);
    snprintf(want, sizeof(want), "cannot listen on %s: ", listen);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK_CONTAINS(err, "Address already in use");
    if (ctx != NULL)
        mg_stop(ctx);
}

int main(void)
{
    void (*const fns[])(void) = {
        test_healthz_answers_ok_with_a_complete_header,
        test_readyz_follows_the_ready_callback,
        test_metrics_serves_prometheus_text,
        test_other_methods_on_health_paths_get_405_with_allow,
        test_paths_below_health_endpoints_are_not_found,
        test_keep_alive_serves_several_requests_on_one_connection,
        test_a_body_within_the_limit_is_read_whole,
        test_a_declared_length_over_the_limit_is_refused_unread,
        test_a_chunked_body_over_the_limit_is_refused,
        test_a_body_cut_short_is_an_error_not_a_message,
        test_error_replies_are_json_with_the_message_escaped,
        test_a_busy_port_is_reported_with_the_address,
    };
    static const char names[] =
        "test_healthz_answers_ok_with_a_complete_header,"
        "test_readyz_follows_the_ready_callback,"
        "test_metrics_serves_prometheus_text,"
        "test_other_methods_on_health_paths_get_405_with_allow,"
        "test_paths_below_health_endpoints_are_not_found,"
        "test_keep_alive_serves_several_requests_on_one_connection,"
        "test_a_body_within_the_limit_is_read_whole,"
        "test_a_declared_length_over_the_limit_is_refused_unread,"
        "test_a_chunked_body_over_the_limit_is_refused,"
        "test_a_body_cut_short_is_an_error_not_a_message,"
        "test_error_replies_are_json_with_the_message_escaped,"
        "test_a_busy_port_is_reported_with_the_address";
    int rc;

    log_init("test-http", LOG_ERROR);
    if (start_server() != 0)
        return 1;
    rc = check_main(fns, sizeof(fns) / sizeof(fns[0]), names);
    mg_stop(server);
    metrics_free(metrics);
    return rc;
}
