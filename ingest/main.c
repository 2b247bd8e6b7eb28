/*
 * main.c - hookbridge-ingest: HR Manager webhooks into Kafka.
 *
 * Reads the settings, loads the catalog and the shared key, then starts
 * three parts that run until SIGTERM: the producer (publish.c), the Kafka
 * watch that creates topics and answers /readyz (readiness.c) and the
 * HTTP server (server.c). Signals are blocked before any thread exists
 * and taken here with sigwait(), so shutdown runs as ordinary code.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "notification.h"
#include "publish.h"
#include "readiness.h"
#include "secret.h"
#include "server.h"

static const char program[] = "hookbridge-ingest";

struct settings {
    char *brokers;
    char *listen;
    char *secret;
    char *secret_file;
    bool allow_unauthenticated;
    char *catalog;
    char *raw_topic;
    char *unrouted_topic;
    long raw_partitions;
    long max_body;
    long ack_timeout_ms;
    long http_threads;
    long request_timeout_ms;
    int log_level;
};

#define S(field) offsetof(struct settings, field)

static const struct config_setting settings_table[] = {
    {"HOOKBRIDGE_KAFKA_BROKERS", CONFIG_STRING, "localhost:9092", 0, 0,
     S(brokers), "Kafka bootstrap servers, host:port[,host:port]"},
    {"HOOKBRIDGE_LISTEN", CONFIG_LISTEN, "8080", 0, 0, S(listen),
     "where the webhook is served: port or address:port"},
    {"HOOKBRIDGE_SECRET", CONFIG_SECRET, NULL, 0, 0, S(secret),
     "the UserData key; two keys separated by a comma during rotation"},
    {"HOOKBRIDGE_SECRET_FILE", CONFIG_STRING, NULL, 0, 0, S(secret_file),
     "file holding the UserData key, one per line, at most two"},
    {"HOOKBRIDGE_ALLOW_UNAUTHENTICATED", CONFIG_BOOL, "0", 0, 0,
     S(allow_unauthenticated), "accept hooks without checking UserData"},
    {"HOOKBRIDGE_CATALOG", CONFIG_STRING, NULL, 0, 0, S(catalog),
     "event catalog file; unset: the built-in HR Manager catalog"},
    {"HOOKBRIDGE_RAW_TOPIC", CONFIG_STRING, "hrm.events.raw", 0, 0,
     S(raw_topic), "topic for notifications of known event types"},
    {"HOOKBRIDGE_UNROUTED_TOPIC", CONFIG_STRING, "hrm.events.unrouted", 0, 0,
     S(unrouted_topic), "topic for event types the catalog lacks"},
    {"HOOKBRIDGE_RAW_PARTITIONS", CONFIG_INT, "6", 1, 10000, S(raw_partitions),
     "partitions of the raw topic when it is created"},
    {"HOOKBRIDGE_MAX_BODY", CONFIG_INT, "65536", 1, 16777216, S(max_body),
     "largest accepted request body in bytes"},
    {"HOOKBRIDGE_ACK_TIMEOUT_MS", CONFIG_INT, "5000", 100, 300000,
     S(ack_timeout_ms), "how long a hook waits for Kafka before 503"},
    {"HOOKBRIDGE_HTTP_THREADS", CONFIG_INT, "256", 1, 4096, S(http_threads),
     "HTTP worker threads; each open connection holds one"},
    {"HOOKBRIDGE_REQUEST_TIMEOUT_MS", CONFIG_INT, "10000", 100, 3600000,
     S(request_timeout_ms), "drop a connection idle this long mid-request"},
    {"HOOKBRIDGE_LOG_LEVEL", CONFIG_LEVEL, "info", 0, 0, S(log_level),
     "error, warn, info or debug"},
};

static const struct config_spec settings_spec = {
    program,
    "Takes HR Manager webhooks on POST /hooks/hrm and stores them in Kafka.",
    settings_table,
    sizeof(settings_table) / sizeof(settings_table[0]),
};

/* Everything main() builds, torn down in reverse by app_free(). */
struct app {
    struct settings set;
    struct config_props props;
    struct secret_keys keys;
    struct catalog *catalog;
    struct metrics *metrics;
    struct notification_rules rules;
    struct publish *publish;
    struct readiness *readiness;
    struct server *server;
};

static int keys_from_file(struct app *app, char *err, size_t errlen)
{
    char why[256];
    char *text =
        config_read_secret_file(app->set.secret_file, why, sizeof(why));
    int rc = 0;

    if (text == NULL) {
        snprintf(err, errlen, "HOOKBRIDGE_SECRET_FILE: %s", why);
        return -1;
    }
    if (secret_parse(&app->keys, text, '\n', why, sizeof(why))) {
        snprintf(err, errlen, "HOOKBRIDGE_SECRET_FILE: %s", why);
        rc = -1;
    }
    memset(text, 0, strlen(text));
    free(text);
    return rc;
}

/* Decides how hooks are authenticated; returns 0 or -1 with `err`. */
static int app_keys(struct app *app, char *err, size_t errlen)
{
    const struct settings *set = &app->set;
    char why[256];

    if (set->secret != NULL && set->secret_file != NULL) {
        snprintf(err, errlen,
                 "HOOKBRIDGE_SECRET and HOOKBRIDGE_SECRET_FILE "
                 "are both set: give only one");
        return -1;
    }
    if (set->allow_unauthenticated)
        return 0;
    if (set->secret == NULL && set->secret_file == NULL) {
        snprintf(
            err, errlen,
            "HOOKBRIDGE_SECRET is not set: give HOOKBRIDGE_SECRET or "
            "HOOKBRIDGE_SECRET_FILE, or HOOKBRIDGE_ALLOW_UNAUTHENTICATED=1 "
            "to accept hooks without a key");
        return -1;
    }
    if (set->secret_file != NULL)
        return keys_from_file(app, err, errlen);
    if (secret_parse(&app->keys, set->secret, ',', why, sizeof(why))) {
        snprintf(err, errlen, "HOOKBRIDGE_SECRET: %s", why);
        return -1;
    }
    return 0;
}

enum { APP_RUN = -1 };

/* Returns APP_RUN, or the exit code: 0 after --help, 2 for bad input. */
static int app_configure(struct app *app, int argc, char **argv)
{
    extern char **environ;
    char err[512];

    switch (config_load(&settings_spec, &app->set, &app->props, argc, argv,
                        environ, stdout, err, sizeof(err))) {
    case CONFIG_OK:
        break;
    case CONFIG_EXIT:
        return 0;
    default:
        fprintf(stderr, "%s: %s\n", program, err);
        return 2;
    }

    log_init(program, (enum log_level)app->set.log_level);
    if (app_keys(app, err, sizeof(err))) {
        log_error("%s", err);
        return 2;
    }

    app->catalog = catalog_load(app->set.catalog, err, sizeof(err));
    if (app->catalog == NULL) {
        log_error("HOOKBRIDGE_CATALOG: %s", err);
        return 2;
    }
    return APP_RUN;
}

static void app_log_config(const struct app *app)
{
    const struct settings *set = &app->set;

    if (set->allow_unauthenticated && (set->secret || set->secret_file))
        log_warn("HOOKBRIDGE_ALLOW_UNAUTHENTICATED=1, so the configured "
                 "secret is not checked");
    log_info("config listen=%s brokers=%s raw_topic=%s unrouted_topic=%s "
             "raw_partitions=%ld max_body=%ld ack_timeout_ms=%ld "
             "http_threads=%ld request_timeout_ms=%ld auth=%s keys=%zu "
             "catalog=%s events=%zu rdkafka_properties=%zu",
             set->listen, set->brokers, set->raw_topic, set->unrouted_topic,
             set->raw_partitions, set->max_body, set->ack_timeout_ms,
             set->http_threads, set->request_timeout_ms,
             set->allow_unauthenticated ? "off" : "on",
             set->allow_unauthenticated ? (size_t)0 : app->keys.count,
             set->catalog ? set->catalog : "built-in", app->catalog->nevents,
             app->props.count);
}

static int app_start(struct app *app)
{
    const struct settings *set = &app->set;
    char err[512];

    app->metrics = metrics_new();
    app->rules = (struct notification_rules){
        app->catalog, set->allow_unauthenticated ? NULL : &app->keys,
        set->raw_topic, set->unrouted_topic};

    struct publish_options po = {set->brokers, &app->props,
                                 (int)set->ack_timeout_ms, app->metrics};
    app->publish = publish_new(&po, err, sizeof(err));
    if (app->publish == NULL) {
        log_error("cannot create the Kafka producer error=\"%s\"", err);
        return 2;
    }

    struct readiness_options ro = {
        publish_handle(app->publish), app->publish,        set->raw_topic,
        (int)set->raw_partitions,     set->unrouted_topic, app->metrics};
    app->readiness = readiness_start(&ro);
    if (app->readiness == NULL) {
        log_error("cannot start the Kafka watch thread");
        return 1;
    }

    struct server_options so = {set->listen,
                                set->http_threads,
                                set->request_timeout_ms,
                                (size_t)set->max_body,
                                (int)set->ack_timeout_ms,
                                &app->rules,
                                app->publish,
                                app->readiness,
                                app->metrics};
    app->server = server_start(&so, err, sizeof(err));
    if (app->server == NULL) {
        log_error("cannot listen listen=%s error=\"%s\"", set->listen, err);
        return 1;
    }
    log_info("listening listen=%s path=/hooks/hrm", set->listen);
    return APP_RUN;
}

/* Stops in dependency order: no new requests, then no new records. */
static void app_free(struct app *app)
{
    server_stop(app->server);
    readiness_stop(app->readiness);
    publish_free(app->publish);
    if (app->metrics != NULL)
        metrics_free(app->metrics);
    if (app->catalog != NULL)
        catalog_free(app->catalog);
    secret_clear(&app->keys);
    if (app->set.secret != NULL)
        memset(app->set.secret, 0, strlen(app->set.secret));
    config_free(&settings_spec, &app->set, &app->props);
}

static int wait_for_signal(const sigset_t *set)
{
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

int main(int argc, char **argv)
{
    static struct app app;
    sigset_t stop_signals;
    int rc;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = app_configure(&app, argc, argv);
    if (rc != APP_RUN)
        goto done;

    log_info("starting version=%s", config_version);
    app_log_config(&app);
    rc = app_start(&app);
    if (rc != APP_RUN)
        goto done;

    int sig = wait_for_signal(&stop_signals);
    log_info("stopping signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = 0;

done:;
    bool served = app.server != NULL;
    app_free(&app);
    if (rc == 0 && served)
        log_info("stopped");
    return rc;
}
