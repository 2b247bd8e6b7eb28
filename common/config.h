/*
 * config.h - settings from HOOKBRIDGE_* environment variables and flags.
 *
 * Each program describes its settings once, as a table; this module reads
 * them, checks them and prints --help from the same table, so the help
 * text, the defaults and the parser cannot drift apart. Every variable
 * HOOKBRIDGE_FOO_BAR is also the flag --foo-bar (as --foo-bar=V or
 * --foo-bar V); a flag wins over the environment.
 *
 * librdkafka properties pass through untouched: --rdkafka name=value
 * (repeatable) or HOOKBRIDGE_RDKAFKA_SECURITY_PROTOCOL=SASL_SSL, whose
 * suffix is lower-cased with '_' turned into '.'.
 */
#ifndef HOOKBRIDGE_CONFIG_H
#define HOOKBRIDGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum config_type {
    CONFIG_STRING, /* char *; NULL when unset and no default */
    CONFIG_SECRET, /* char *; like STRING, never printed */
    CONFIG_INT,    /* long, within [min, max] */
    CONFIG_BOOL,   /* bool; 1/0, true/false, yes/no, on/off */
    CONFIG_LISTEN, /* char *; "port" or "address:port" */
    CONFIG_LEVEL,  /* int holding an enum log_level */
};

struct config_setting {
    const char *env; /* HOOKBRIDGE_KAFKA_BROKERS */
    enum config_type type;
    const char *def;  /* default as text, NULL for none */
    long min, max;    /* CONFIG_INT only */
    size_t offset;    /* offsetof() the field in the caller's struct */
    const char *help; /* one line */
};

struct config_spec {
    const char *program; /* hookbridge-ingest */
    const char *summary; /* one line for --help */
    const struct config_setting *settings;
    size_t nsettings;
};

enum { CONFIG_PROPS_MAX = 64 };

/* librdkafka properties given by the user, in the order given. */
struct config_props {
    size_t count;
    char *name[CONFIG_PROPS_MAX];
    char *value[CONFIG_PROPS_MAX];
};

enum config_result {
    CONFIG_OK = 0,  /* settings stored; run */
    CONFIG_EXIT,    /* --help or --version printed; exit 0 */
    CONFIG_INVALID, /* err holds one line naming the setting; exit 2 */
};

/*
 * Fills the struct at `target` from the defaults, then `envp`, then the
 * command line. Strings stored in `target` and `props` are heap copies the
 * caller frees with config_free(). --help and --version print to `out`.
 * On CONFIG_INVALID, `err` names the setting and the problem, e.g.
 * "HOOKBRIDGE_API_RATE: must be a whole number from 1 to 10000, got 'x'".
 * Call from main() only: not thread-safe.
 */
enum config_result config_load(const struct config_spec *spec, void *target,
                               struct config_props *props, int argc,
                               char **argv, char **envp, FILE *out, char *err,
                               size_t errlen);

/* Frees every string config_load() stored in `target` and `props`. */
void config_free(const struct config_spec *spec, void *target,
                 struct config_props *props);

/*
 * Reads a secret from `path`: the file's text without trailing white
 * space, at most 4 KiB. Returns a heap string, or NULL with `err` set.
 */
char *config_read_secret_file(const char *path, char *err, size_t errlen);

/* The version both binaries print, e.g. "0.1.0". */
extern const char config_version[];

#endif
