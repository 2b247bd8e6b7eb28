/*
 * test_config.c - settings come from defaults, then the environment, then
 * flags; a bad one is named; --help is generated from the same table and
 * never shows a secret.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

struct settings {
    char *brokers;
    long rate;
    bool unauthenticated;
    char *listen;
    int level;
    char *secret;
    char *catalog;
};

static const struct config_setting table[] = {
    {"HOOKBRIDGE_KAFKA_BROKERS", CONFIG_STRING, "localhost:9092", 0, 0,
     offsetof(struct settings, brokers), "Kafka bootstrap servers"},
    {"HOOKBRIDGE_API_RATE", CONFIG_INT, "5", 1, 10000,
     offsetof(struct settings, rate), "API requests per second"},
    {"HOOKBRIDGE_ALLOW_UNAUTHENTICATED", CONFIG_BOOL, "0", 0, 0,
     offsetof(struct settings, unauthenticated), "Run without a secret"},
    {"HOOKBRIDGE_LISTEN", CONFIG_LISTEN, "8080", 0, 0,
     offsetof(struct settings, listen), "Where to listen"},
    {"HOOKBRIDGE_LOG_LEVEL", CONFIG_LEVEL, "info", 0, 0,
     offsetof(struct settings, level), "Log level"},
    {"HOOKBRIDGE_SECRET", CONFIG_SECRET, NULL, 0, 0,
     offsetof(struct settings, secret), "Shared key"},
    {"HOOKBRIDGE_CATALOG", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct settings, catalog), "Catalog file"},
};

static const struct config_spec spec = {"hookbridge-test",
                                        "Tests the settings reader.", table,
                                        sizeof(table) / sizeof(table[0])};

struct run {
    struct settings s;
    struct config_props props;
    enum config_result result;
    char err[256];
    char *out; /* what --help or --version printed */
};

/* argv and envp are NULL-terminated lists; argv[0] is added here. */
static void load(struct run *r, const char *const *args, const char *const *env)
{
    char *argv[32] = {"hookbridge-test"};
    int argc = 1;
    size_t outlen = 0;
    FILE *out;

    memset(r, 0, sizeof(*r));
    for (; args != NULL && args[argc - 1] != NULL; argc++)
        argv[argc] = (char *)args[argc - 1];
    out = open_memstream(&r->out, &outlen);
    r->result = config_load(&spec, &r->s, &r->props, argc, argv, (char **)env,
                            out, r->err, sizeof(r->err));
    fclose(out);
}

static void unload(struct run *r)
{
    config_free(&spec, &r->s, &r->props);
    free(r->out);
}

static void test_defaults_apply_when_nothing_is_given(void)
{
    struct run r;

    load(&r, NULL, NULL);
    CHECK_INT_EQ(r.result, CONFIG_OK);
    CHECK_STR_EQ(r.s.brokers, "localhost:9092");
    CHECK_INT_EQ(r.s.rate, 5);
    CHECK_INT_EQ(r.s.unauthenticated, 0);
    CHECK_STR_EQ(r.s.listen, "8080");
    CHECK_INT_EQ(r.s.level, LOG_INFO);
    CHECK(r.s.secret == NULL);
    CHECK(r.s.catalog == NULL);
    CHECK_INT_EQ(r.props.count, 0);
    unload(&r);
}

static void test_environment_variables_set_values(void)
{
    static const char *const env[] = {
        "PATH=/bin",
        "HOOKBRIDGE_KAFKA_BROKERS=k1:9092,k2:9092",
        "HOOKBRIDGE_API_RATE=42",
        "HOOKBRIDGE_ALLOW_UNAUTHENTICATED=yes",
        "HOOKBRIDGE_LISTEN=127.0.0.1:9000",
        "HOOKBRIDGE_LOG_LEVEL=DEBUG",
        "HOOKBRIDGE_SECRET=s3cret",
        "HOOKBRIDGE_UNRELATED=ignored",
        NULL};
    struct run r;

    load(&r, NULL, env);
    CHECK_INT_EQ(r.result, CONFIG_OK);
    CHECK_STR_EQ(r.s.brokers, "k1:9092,k2:9092");
    CHECK_INT_EQ(r.s.rate, 42);
    CHECK_INT_EQ(r.s.unauthenticated, 1);
    CHECK_STR_EQ(r.s.listen, "127.0.0.1:9000");
    CHECK_INT_EQ(r.s.level, LOG_DEBUG);
    CHECK_STR_EQ(r.s.secret, "s3cret");
    unload(&r);
}

static void test_flags_work_with_equals_and_as_two_words(void)
{
    static const char *const args[] = {"--api-rate=7",
                                       "--listen",
                                       "9001",
                                       "--kafka-brokers=b:1",
                                       "--allow-unauthenticated",
                                       "true",
                                       "--log-level=warn",
                                       NULL};
    struct run r;

    load(&r, args, NULL);
    CHECK_INT_EQ(r.result, CONFIG_OK);
    CHECK_STR_EQ(r.err, "");
    CHECK_INT_EQ(r.s.rate, 7);
    CHECK_STR_EQ(r.s.listen, "9001");
    CHECK_STR_EQ(r.s.brokers, "b:1");
    CHECK_INT_EQ(r.s.unauthenticated, 1);
    CHECK_INT_EQ(r.s.level, LOG_WARN);
    unload(&r);
}

static void test_a_flag_wins_over_the_environment(void)
{
    static const char *const env[] = {"HOOKBRIDGE_API_RATE=3",
                                      "HOOKBRIDGE_LISTEN=7000", NULL};
    static const char *const args[] = {"--api-rate", "9", NULL};
    struct run r;

    load(&r, args, env);
    CHECK_INT_EQ(r.result, CONFIG_OK);
    CHECK_INT_EQ(r.s.rate, 9);
    CHECK_STR_EQ(r.s.listen, "7000");
    unload(&r);
}

static void test_bad_values_are_refused_naming_the_variable(void)
{
    static const struct {
        const char *env, *error;
    } cases[] = {
        {"HOOKBRIDGE_API_RATE=x",
         "HOOKBRIDGE_API_RATE: must be a whole number from 1 to 10000, got "
         "'x'"},
        {"HOOKBRIDGE_API_RATE=0",
         "HOOKBRIDGE_API_RATE: must be a whole number from 1 to 10000, got "
         "'0'"},
        {"HOOKBRIDGE_API_RATE=10001", "HOOKBRIDGE_API_RATE: must be"},
        {"HOOKBRIDGE_API_RATE=5x", "HOOKBRIDGE_API_RATE: must be"},
        {"HOOKBRIDGE_API_RATE=", "HOOKBRIDGE_API_RATE: must be"},
        {"HOOKBRIDGE_API_RATE=99999999999999999999",
         "HOOKBRIDGE_API_RATE: must be"},
        {"HOOKBRIDGE_ALLOW_UNAUTHENTICATED=maybe",
         "HOOKBRIDGE_ALLOW_UNAUTHENTICATED: must be 1 or 0 (true/false), got "
         "'maybe'"},
        {"HOOKBRIDGE_LISTEN=0", "HOOKBRIDGE_LISTEN: must be 'port' or"},
        {"HOOKBRIDGE_LISTEN=65536", "HOOKBRIDGE_LISTEN: must be 'port' or"},
        {"HOOKBRIDGE_LISTEN=:80", "HOOKBRIDGE_LISTEN: must be 'port' or"},
        {"HOOKBRIDGE_LISTEN=host:", "HOOKBRIDGE_LISTEN: must be 'port' or"},
        {"HOOKBRIDGE_LISTEN=http", "HOOKBRIDGE_LISTEN: must be 'port' or"},
        {"HOOKBRIDGE_LOG_LEVEL=loud",
         "HOOKBRIDGE_LOG_LEVEL: must be error, warn, info or debug, got "
         "'loud'"},
        {"HOOKBRIDGE_KAFKA_BROKERS=", "HOOKBRIDGE_KAFKA_BROKERS: must not be "
                                      "empty"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {cases[i].env, NULL};
        struct run r;

        load(&r, NULL, env);
        CHECK_INT_EQ(r.result, CONFIG_INVALID);
        CHECK_CONTAINS(r.err, cases[i].error);
        CHECK(strchr(r.err, '\n') == NULL);
        unload(&r);
    }
}

static void test_a_bad_flag_value_names_the_variable_too(void)
{
    static const char *const args[] = {"--api-rate=-1", NULL};
    struct run r;

    load(&r, args, NULL);
    CHECK_INT_EQ(r.result, CONFIG_INVALID);
    CHECK_CONTAINS(r.err, "HOOKBRIDGE_API_RATE: must be a whole number");
    unload(&r);
}

static void test_unknown_flags_and_stray_words_are_refused(void)
{
    static const struct {
        const char *arg, *error;
    } cases[] = {
        {"--no-such-thing=1", "unknown option '--no-such-thing' (see --help)"},
        {"--listen-port", "unknown option '--listen-port' (see --help)"},
        {"stray", "unexpected argument 'stray' (see --help)"},
        {"--api-rate", "--api-rate: needs a value"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[] = {cases[i].arg, NULL};
        struct run r;

        load(&r, args, NULL);
        CHECK_INT_EQ(r.result, CONFIG_INVALID);
        CHECK_STR_EQ(r.err, cases[i].error);
        unload(&r);
    }
}

static void test_help_lists_every_setting_with_flag_and_default(void)
{
    static const char *const args[] = {"--help", NULL};
    struct run r;

    load(&r, args, NULL);
    CHECK_INT_EQ(r.result, CONFIG_EXIT);
    CHECK_CONTAINS(r.out, "Usage: hookbridge-test");
    CHECK_CONTAINS(r.out, "Tests the settings reader.");
    for (size_t i = 0; i < spec.nsettings; i++) {
        CHECK_CONTAINS(r.out, table[i].env);
        CHECK_CONTAINS(r.out, table[i].help);
    }
    CHECK_CONTAINS(r.out, "--kafka-brokers");
    CHECK_CONTAINS(r.out, "--allow-unauthenticated");
    CHECK_CONTAINS(r.out, "--log-level");
    CHECK_CONTAINS(r.out, "(default: localhost:9092)");
    CHECK_CONTAINS(r.out, "(default: 5)");
    CHECK_CONTAINS(r.out, "(default: 8080)");
    CHECK_CONTAINS(r.out, "(default: none)");
    CHECK_CONTAINS(r.out, "--rdkafka");
    CHECK_CONTAINS(r.out, "HOOKBRIDGE_RDKAFKA_");
    unload(&r);
}

static void test_help_never_shows_a_secret_however_it_was_given(void)
{
    static const char *const env[] = {"HOOKBRIDGE_SECRET=env-secret-value",
                                      NULL};
    static const char *const args[] = {"--secret=flag-secret-value", "--help",
                                       NULL};
    struct run r;

    load(&r, args, env);
    CHECK_INT_EQ(r.result, CONFIG_EXIT);
    CHECK(strstr(r.out, "env-secret-value") == NULL);
    CHECK(strstr(r.out, "flag-secret-value") == NULL);
    CHECK_CONTAINS(r.out, "HOOKBRIDGE_SECRET");
    unload(&r);
}

static void test_version_prints_the_program_and_version(void)
{
    static const char *const args[] = {"--version", NULL};
    char want[64];
    struct run r;

    load(&r, args, NULL);
    CHECK_INT_EQ(r.result, CONFIG_EXIT);
    snprintf(want, sizeof(want), "hookbridge-test %s\n", config_version);
    CHECK_STR_EQ(r.out, want);
    CHECK(strlen(config_version) >= 5);
    unload(&r);
}

static void test_rdkafka_properties_pass_through_from_env_and_flags(void)
{
    static const char *const env[] = {
        "HOOKBRIDGE_RDKAFKA_SECURITY_PROTOCOL=SASL_SSL",
        "HOOKBRIDGE_RDKAFKA_SASL_MECHANISMS=PLAIN", NULL};
    static const char *const args[] = {
        "--rdkafka",
        "linger.ms=5",
        "--rdkafka=sasl.mechanisms=SCRAM-SHA-256",
        "--rdkafka",
        "ssl.ca.location=/etc/ca=1.pem",
        NULL};
    struct run r;

    load(&r, args, env);
    CHECK_INT_EQ(r.result, CONFIG_OK);
    CHECK_INT_EQ(r.props.count, 4);
    if (r.props.count == 4) {
        CHECK_STR_EQ(r.props.name[0], "security.protocol");
        CHECK_STR_EQ(r.props.value[0], "SASL_SSL");
        /* A flag replaces the environment's value in place. */
        CHECK_STR_EQ(r.props.name[1], "sasl.mechanisms");
        CHECK_STR_EQ(r.props.value[1], "SCRAM-SHA-256");
        CHECK_STR_EQ(r.props.name[2], "linger.ms");
        CHECK_STR_EQ(r.props.value[2], "5");
        CHECK_STR_EQ(r.props.name[3], "ssl.ca.location");
        CHECK_STR_EQ(r.props.value[3], "/etc/ca=1.pem");
    }
    unload(&r);
}

static void test_an_rdkafka_flag_without_a_value_is_refused(void)
{
    static const char *const args[] = {"--rdkafka", "linger.ms", NULL};
    static const char *const args2[] = {"--rdkafka", "=5", NULL};
    struct run r;

    load(&r, args, NULL);
    CHECK_INT_EQ(r.result, CONFIG_INVALID);
    CHECK_STR_EQ(r.err, "--rdkafka: expected name=value, got 'linger.ms'");
    unload(&r);

    load(&r, args2, NULL);
    CHECK_INT_EQ(r.result, CONFIG_INVALID);
    CHECK_CONTAINS(r.err, "--rdkafka: expected name=value");
    unload(&r);
}

static char *write_temp(const char *text, size_t len)
{
    char *path = strdup("/tmp/hookbridge-secret-XXXXXX");
    int fd = mkstemp(path);

    if (fd < 0 || write(fd, text, len) != (ssize_t)len)
        abort();
    close(fd);
    return path;
}

static void test_secret_files_lose_trailing_white_space_only(void)
{
    static const struct {
        const char *text, *secret;
    } cases[] = {
        {"abc\n", "abc"},   {"abc\r\n", "abc"}, {"  abc \t\n\n", "  abc"},
        {"a b c", "a b c"}, {"", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = write_temp(cases[i].text, strlen(cases[i].text));
        char err[256] = "";
        char *secret = config_read_secret_file(path, err, sizeof(err));

        CHECK_STR_EQ(secret, cases[i].secret);
        CHECK_STR_EQ(err, "");
        free(secret);
        unlink(path);
        free(path);
    }
}

static void test_secret_files_over_four_kib_are_refused(void)
{
    char big[4097];
    char err[256] = "";

    memset(big, 'k', sizeof(big));
    char *path = write_temp(big, 4096);
    char *secret = config_read_secret_file(path, err, sizeof(err));
    CHECK(secret != NULL);
    CHECK_INT_EQ(secret ? strlen(secret) : 0, 4096);
    free(secret);
    unlink(path);
    free(path);

    path = write_temp(big, 4097);
    CHECK(config_read_secret_file(path, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "larger than 4 KiB");
    CHECK_CONTAINS(err, path);
    CHECK(strstr(err, "kkkk") == NULL);
    unlink(path);
    free(path);
}

static void test_a_missing_secret_file_is_named_in_the_error(void)
{
    char err[256] = "";

    CHECK(config_read_secret_file("/nonexistent/hookbridge-key", err,
                                  sizeof(err)) == NULL);
    CHECK_STR_EQ(err, "cannot open '/nonexistent/hookbridge-key': No such "
                      "file or directory");
}

CHECK_MAIN(test_defaults_apply_when_nothing_is_given,
           test_environment_variables_set_values,
           test_flags_work_with_equals_and_as_two_words,
           test_a_flag_wins_over_the_environment,
           test_bad_values_are_refused_naming_the_variable,
           test_a_bad_flag_value_names_the_variable_too,
           test_unknown_flags_and_stray_words_are_refused,
           test_help_lists_every_setting_with_flag_and_default,
           test_help_never_shows_a_secret_however_it_was_given,
           test_version_prints_the_program_and_version,
           test_rdkafka_properties_pass_through_from_env_and_flags,
           test_an_rdkafka_flag_without_a_value_is_refused,
           test_secret_files_lose_trailing_white_space_only,
           test_secret_files_over_four_kib_are_refused,
           test_a_missing_secret_file_is_named_in_the_error)
