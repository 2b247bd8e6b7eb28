/*
 * main.c - hookbridge-enricher: settings, start, signals and shutdown.
 *
 * Reads the settings table, loads the catalog, starts the health server
 * and runs the pipeline on the main thread until SIGTERM or SIGINT, which
 * make it finish the window in hand, commit and leave the group.
 */
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "catalog.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"

extern char **environ;

#define SETTING(env, type, def, min, max, field, help)                         \
    {                                                                          \
        env, type, def, min, max, offsetof(struct enricher_settings, field),   \
            help                                                               \
    }

static const struct config_setting enricher_table[] = {
    SETTING("HOOKBRIDGE_KAFKA_BROKERS", CONFIG_STRING, "localhost:9092", 0, 0,
            brokers, "Kafka bootstrap servers"),
    SETTING("HOOKBRIDGE_CATALOG", CONFIG_STRING, NULL, 0, 0, catalog,
            "Event catalog JSON file; unset: the built-in HR Manager catalog"),
    SETTING("HOOKBRIDGE_RAW_TOPIC", CONFIG_STRING, "hrm.events.raw", 0, 0,
            raw_topic, "Topic of raw notifications to enrich"),
    SETTING("HOOKBRIDGE_API_BASE", CONFIG_STRING,
            "https://recruiter-api.hr-manager.net/restful.svc/v2/", 0, 0,
            api_base, "HR Manager REST API base URL"),
    SETTING("HOOKBRIDGE_API_CUSTOMER", CONFIG_STRING, NULL, 0, 0, api_customer,
            "Customer alias in the API path (required)"),
    SETTING("HOOKBRIDGE_API_KEY", CONFIG_SECRET, NULL, 0, 0, api_key,
            "API key sent as the apikey header (this or the _FILE one is "
            "required)"),
    SETTING("HOOKBRIDGE_API_KEY_FILE", CONFIG_STRING, NULL, 0, 0, api_key_file,
            "File holding the API key"),
    SETTING("HOOKBRIDGE_API_RATE", CONFIG_INT, "5", 1, 1000000, api_rate,
            "API calls per second for the whole consumer group"),
    SETTING("HOOKBRIDGE_WINDOW_MS", CONFIG_INT, "1000", 0, 3600000, window_ms,
            "Fold window: at most one fetch per object per window"),
    SETTING("HOOKBRIDGE_GROUP_ID", CONFIG_STRING, "hookbridge-enricher", 0, 0,
            group_id, "Kafka consumer group"),
    SETTING("HOOKBRIDGE_METRICS_LISTEN", CONFIG_LISTEN, "9100", 0, 0,
            metrics_listen,
            "Port or address:port of /healthz, /readyz, "
            "/metrics"),
    SETTING("HOOKBRIDGE_DLQ_TOPIC", CONFIG_STRING, "hrm.events.dlq", 0, 0,
            dlq_topic, "Topic of notifications that could not be enriched"),
    SETTING("HOOKBRIDGE_STATE_TOPIC", CONFIG_STRING, "hrm.enricher.state", 0, 0,
            state_topic, "Compacted topic of what was last published"),
    SETTING("HOOKBRIDGE_TOPIC_PARTITIONS", CONFIG_INT, "6", 1, 10000,
            topic_partitions, "Partitions of topics the enricher creates"),
    SETTING("HOOKBRIDGE_EXACTLY_ONCE", CONFIG_BOOL, "0", 0, 0, exactly_once,
            "Publish and commit in Kafka transactions"),
    SETTING("HOOKBRIDGE_API_CONCURRENCY", CONFIG_INT, "8", 1, 64,
            api_concurrency, "API calls in flight at once per replica"),
    SETTING("HOOKBRIDGE_API_TIMEOUT_MS", CONFIG_INT, "10000", 100, 600000,
            api_timeout_ms, "Time limit of one API call"),
    SETTING("HOOKBRIDGE_API_MAX_ATTEMPTS", CONFIG_INT, "5", 1, 100,
            api_max_attempts,
            "Attempts before a notification goes to the "
            "DLQ"),
    SETTING("HOOKBRIDGE_API_BACKOFF_MS", CONFIG_INT, "500", 1, 600000,
            api_backoff_ms, "First retry delay; doubles, up to 30 s"),
    SETTING("HOOKBRIDGE_AUTH_RETRY_MS", CONFIG_INT, "30000", 10, 3600000,
            auth_retry_ms, "Probe interval while the API key is refused"),
    SETTING("HOOKBRIDGE_MAX_PENDING_KEYS", CONFIG_INT, "200000", 1, 100000000,
            max_pending_keys, "Keys held before consumption pauses"),
    SETTING("HOOKBRIDGE_LOG_LEVEL", CONFIG_LEVEL, "info", 0, 0, log_level,
            "error, warn, info or debug"),
};

static const struct config_spec enricher_spec = {
    "hookbridge-enricher",
    "Enriches HR Manager notifications from Kafka with the full objects "
    "from the REST API.",
    enricher_table,
    sizeof(enricher_table) / sizeof(enricher_table[0]),
};

static struct pipeline *running;

static void on_signal(int sig)
{
    (void)sig;
    if (running != NULL)
        pipeline_stop(running);
}

static void signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The checks the table cannot express; one line naming the setting. */
static int settings_check(struct enricher_settings *s, char *err, size_t errlen)
{
    if (s->api_customer == NULL) {
        snprintf(err, errlen, "HOOKBRIDGE_API_CUSTOMER: required");
        return -1;
    }
    if (s->api_key == NULL && s->api_key_file == NULL) {
        snprintf(err, errlen,
                 "HOOKBRIDGE_API_KEY: required (or "
                 "HOOKBRIDGE_API_KEY_FILE)");
        return -1;
    }
    if (s->api_key == NULL) {
        char why[512];
        s->api_key = config_read_secret_file(s->api_key_file, why, sizeof(why));
        if (s->api_key == NULL || s->api_key[0] == '\0') {
            snprintf(err, errlen, "HOOKBRIDGE_API_KEY_FILE: %s",
                     s->api_key ? "empty" : why);
            return -1;
        }
    }

    size_t len = strlen(s->api_base);
    if (s->api_base[len - 1] != '/') {
        char *base = malloc(len + 2);
        if (base == NULL)
            abort();
        memcpy(base, s->api_base, len);
        memcpy(base + len, "/", 2);
        free(s->api_base);
        s->api_base = base;
    }
    return 0;
}

static void settings_log(const struct enricher_settings *s)
{
    log_info("starting version=%s brokers=%s raw_topic=%s group=%s "
             "api_base=%s customer=%s api_rate=%ld window_ms=%ld "
             "exactly_once=%d concurrency=%ld max_attempts=%ld "
             "dlq_topic=%s state_topic=%s catalog=%s metrics=%s",
             config_version, s->brokers, s->raw_topic, s->group_id, s->api_base,
             s->api_customer, s->api_rate, s->window_ms, (int)s->exactly_once,
             s->api_concurrency, s->api_max_attempts, s->dlq_topic,
             s->state_topic, s->catalog ? s->catalog : "built-in",
             s->metrics_listen);
}

/* Everything after the settings: returns the exit code. */
static int enricher_run(const struct enricher_settings *s,
                        const struct config_props *props)
{
    char err[1024];
    struct catalog *cat = catalog_load(s->catalog, err, sizeof(err));
    struct metrics *m = metrics_new();
    struct pipeline *p = NULL;
    struct mg_context *http = NULL;
    struct http_health health = {pipeline_ready, NULL, m};
    int rc = 1;

    if (cat == NULL) {
        fprintf(stderr, "hookbridge-enricher: HOOKBRIDGE_CATALOG: %s\n", err);
        rc = 2;
        goto out;
    }
    p = pipeline_new(s, props, cat, m, err, sizeof(err));
    if (p == NULL) {
        log_error("cannot start: %s", err);
        goto out;
    }
    health.ready_arg = p;
    http = http_health_start(s->metrics_listen, &health, err, sizeof(err));
    if (http == NULL) {
        log_error("cannot start: HOOKBRIDGE_METRICS_LISTEN: %s", err);
        goto out;
    }

    running = p;
    signals_install();
    rc = pipeline_run(p) == 0 ? 0 : 1;
    running = NULL;

out:
    if (http != NULL)
        mg_stop(http);
    pipeline_free(p);
    metrics_free(m);
    catalog_free(cat);
    return rc;
}

int main(int argc, char **argv)
{
    struct enricher_settings s = {0};
    struct config_props props = {0};
    char err[1024];
    int rc;

    switch (config_load(&enricher_spec, &s, &props, argc, argv, environ, stdout,
                        err, sizeof(err))) {
    case CONFIG_EXIT:
        rc = 0;
        goto out;
    case CONFIG_INVALID:
        fprintf(stderr, "hookbridge-enricher: %s\n", err);
        rc = 2;
        goto out;
    case CONFIG_OK:
        break;
    }
    if (settings_check(&s, err, sizeof(err)) != 0) {
        fprintf(stderr, "hookbridge-enricher: %s\n", err);
        rc = 2;
        goto out;
    }

    /* librdkafka's threads free what the pipeline thread allocates and
     * the other way round; with one arena per thread that leaves much
     * memory stranded. One arena keeps 100k pending keys well inside
     * 64 MiB, and the pipeline thread does nearly all the allocating. */
    mallopt(M_ARENA_MAX, 1);
    log_init("hookbridge-enricher", (enum log_level)s.log_level);
    settings_log(&s);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = enricher_run(&s, &props);
    curl_global_cleanup();

out:
    config_free(&enricher_spec, &s, &props);
    return rc;
}
