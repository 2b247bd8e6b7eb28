/*
 * bare_server.c - the floor the ingest is measured against.
 *
 * A civetweb server started with the same options as hookbridge-ingest
 * (worker threads, request timeout, tcp_nodelay, keep-alive) that reads
 * each POST body within the same limit and answers 200 with a reply of
 * the ingest's size, and does nothing else: what remains of the ingest's
 * cost once it is divided by this one is judging, Kafka and waiting for
 * acks=all.
 *
 *   bench-bare-server [address:]port [threads]
 *
 * Prints "bench-bare-server listening port=..." once serving; SIGTERM or
 * SIGINT stops it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "buf.h"
#include "http.h"
#include "log.h"

enum { BARE_MAX_BODY = 65536 };

/* The same shape and length as the ingest's answer for a stored hook. */
static const char bare_reply[] =
    "{\"status\":\"stored\",\"key\":\"candidate:123456\","
    "\"topic\":\"hrm.events.raw\"}";

static int bare_handle(struct mg_connection *conn, void *arg)
{
    struct buf body;
    int status = 200;

    (void)arg;
    buf_init(&body, BARE_MAX_BODY);

    switch (http_read_body(conn, &body)) {
    case HTTP_BODY_OK:
        http_reply(conn, 200, "application/json", bare_reply,
                   sizeof(bare_reply) - 1, NULL);
        break;
    case HTTP_BODY_TOO_LARGE:
        status = 413;
        http_reply_error(conn, status, "body too large",
                         "Connection: close\r\n");
        break;
    default:
        status = 400;
        http_reply_error(conn, status, "body could not be read", NULL);
        break;
    }

    buf_free(&body);
    return status;
}

static struct mg_context *bare_start(const char *listen, const char *threads,
                                     char *err, size_t errlen)
{
    const char *options[] = {
        "listening_ports",    listen,  "num_threads", threads,
        "request_timeout_ms", "10000", "tcp_nodelay", "1",
        "enable_keep_alive",  "yes",   NULL,
    };
    static const struct mg_callbacks callbacks = {0};
    struct mg_init_data init = {&callbacks, NULL, options};
    unsigned code = 0;
    struct mg_error_data error = {&code, err, errlen};

    err[0] = '\0';
    return mg_start2(&init, &error);
}

int main(int argc, char **argv)
{
    const char *threads = argc > 2 ? argv[2] : "256";
    struct mg_context *ctx;
    sigset_t stop;
    char err[256];
    int sig = 0;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: bench-bare-server [address:]port [threads]\n");
        return 2;
    }
    log_init("bench-bare-server", LOG_WARN);
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    ctx = bare_start(argv[1], threads, err, sizeof(err));
    if (ctx == NULL) {
        fprintf(stderr, "bench-bare-server: cannot listen on %s: %s\n", argv[1],
                err);
        return 1;
    }
    mg_set_request_handler(ctx, "/", bare_handle, NULL);
    printf("bench-bare-server listening port=%s\n", argv[1]);
    fflush(stdout);

    while (sigwait(&stop, &sig) != 0)
        ;
    mg_stop(ctx);
    return 0;
}
