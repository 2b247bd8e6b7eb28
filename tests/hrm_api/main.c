/*
 * main.c - hookbridge-test-api: a stand-in for the HR Manager REST API.
 *
 * The real API cannot be reached from tests or from the demo, so this
 * server plays it: it answers GET /restful.svc/v2/{customer}/{Resource}/
 * ?{param}={id} from objects put in through /_control, records every
 * call, and rate-limits, fails, stalls or rejects keys on request. The
 * enricher's tests and the docker compose demo run against it.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "testapi.h"

/*
 * A delayed reply holds its worker until the delay ends, even after the
 * client gave up and retried, and civetweb also parks a worker on each
 * idle keep-alive connection. Threads are cheap; starving the calls a
 * test did not mean to stall would make its results lie.
 */
enum { TESTAPI_THREADS = 256 };

static const struct config_setting testapi_config[] = {
    {"HOOKBRIDGE_TEST_API_LISTEN", CONFIG_LISTEN, "8090", 0, 0,
     offsetof(struct testapi_settings, listen),
     "port or address:port to serve on"},
    {"HOOKBRIDGE_TEST_API_CUSTOMER", CONFIG_STRING, "demo", 0, 0,
     offsetof(struct testapi_settings, customer),
     "customer alias in the path; others get 404"},
    {"HOOKBRIDGE_TEST_API_KEY", CONFIG_SECRET, "demo-key", 0, 0,
     offsetof(struct testapi_settings, apikey),
     "apikey header value accepted; others get 401"},
    {"HOOKBRIDGE_TEST_API_RATE", CONFIG_INT, "0", 0, RATELIMIT_MAX,
     offsetof(struct testapi_settings, rate),
     "API calls admitted per sliding second, 0 for no limit; beyond: 429"},
    {"HOOKBRIDGE_TEST_API_SEED", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct testapi_settings, seed_path),
     "JSON file {\"Candidates\": {\"1234\": {...}}, ...} loaded at start"},
    {"HOOKBRIDGE_TEST_API_MAX_CALLS", CONFIG_INT, "1000000", 1, CALLS_MAX,
     offsetof(struct testapi_settings, max_calls),
     "calls kept in the record; older ones are dropped"},
    {"HOOKBRIDGE_LOG_LEVEL", CONFIG_LEVEL, "info", 0, 0,
     offsetof(struct testapi_settings, log_level),
     "error, warn, info or debug"},
};

static const struct config_spec testapi_spec = {
    "hookbridge-test-api",
    "A test stand-in for the HR Manager REST API, with control routes.",
    testapi_config,
    sizeof(testapi_config) / sizeof(*testapi_config),
};

extern char **environ;

/* The port actually bound, for the line scripts wait for. */
static int testapi_port(const struct mg_context *ctx)
{
    struct mg_server_port ports[4];
    int n = mg_get_server_ports(ctx, 4, ports);

    return n > 0 ? ports[0].port : -1;
}

/* Blocks until SIGTERM or SIGINT; the signals were blocked in main(). */
static int testapi_wait_signal(const sigset_t *set)
{
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

/* Anything else gets a JSON 404, not civetweb's own error page. */
static int testapi_not_found(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    http_reply_error(conn, 404, "no such route", NULL);
    return 404;
}

/* Serves until a signal; returns the exit code. */
static int testapi_serve(struct testapi *t, const sigset_t *signals)
{
    static struct http_health health;
    char err[512];
    struct mg_context *ctx = http_server_start(
        t->settings->listen, TESTAPI_THREADS, err, sizeof(err));

    if (ctx == NULL) {
        log_error("%s", err);
        return 1;
    }
    mg_set_request_handler(ctx, "/", testapi_not_found, NULL);
    http_health_mount(ctx, &health);
    api_mount(ctx, t);
    control_mount(ctx, t);

    log_info("listening listen=%s port=%d customer=%s rate=%ld",
             t->settings->listen, testapi_port(ctx), t->settings->customer,
             t->settings->rate);
    printf("hookbridge-test-api listening port=%d\n", testapi_port(ctx));
    fflush(stdout);

    int sig = testapi_wait_signal(signals);
    log_info("stopping signal=%d", sig);
    testapi_stop(t);
    mg_stop(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    struct testapi_settings settings = {0};
    struct config_props props = {0};
    struct testapi t;
    sigset_t signals;
    char err[512];
    int rc = 2;

    switch (config_load(&testapi_spec, &settings, &props, argc, argv, environ,
                        stdout, err, sizeof(err))) {
    case CONFIG_EXIT:
        rc = 0;
        goto out_config;
    case CONFIG_INVALID:
        fprintf(stderr, "hookbridge-test-api: %s\n", err);
        goto out_config;
    case CONFIG_OK:
        break;
    }
    log_init(testapi_spec.program, (enum log_level)settings.log_level);

    /* Blocked before any thread starts, so only sigwait() sees them. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (testapi_init(&t, &settings, err, sizeof(err)) != 0) {
        log_error("%s", err);
        rc = 2;
    } else {
        rc = testapi_serve(&t, &signals);
    }
    testapi_destroy(&t);

out_config:
    config_free(&testapi_spec, &settings, &props);
    return rc;
}
