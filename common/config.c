/*
 * config.c - the settings table reader; see config.h.
 */
#include "config.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef HOOKBRIDGE_VERSION
#define HOOKBRIDGE_VERSION "0.0.0"
#endif

const char config_version[] = HOOKBRIDGE_VERSION;

static const char config_prefix[] = "HOOKBRIDGE_";
static const char config_rdkafka_prefix[] = "HOOKBRIDGE_RDKAFKA_";

enum { CONFIG_NAME_MAX = 128, CONFIG_SECRET_MAX = 4096 };

typedef int (*config_parse_fn)(const struct config_setting *s, const char *text,
                               void *field, char *err, size_t errlen);

static char *config_strdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    return copy;
}

static int parse_string(const struct config_setting *s, const char *text,
                        void *field, char *err, size_t errlen)
{
    char **slot = field;

    if (*text == '\0') {
        snprintf(err, errlen, "%s: must not be empty", s->env);
        return -1;
    }
    free(*slot);
    *slot = config_strdup(text);
    return 0;
}

static int parse_int(const struct config_setting *s, const char *text,
                     void *field, char *err, size_t errlen)
{
    char *end;

    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < s->min || v > s->max) {
        snprintf(err, errlen,
                 "%s: must be a whole number from %ld to %ld, got '%s'", s->env,
                 s->min, s->max, text);
        return -1;
    }
    *(long *)field = v;
    return 0;
}

static int parse_bool(const struct config_setting *s, const char *text,
                      void *field, char *err, size_t errlen)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *(bool *)field = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *(bool *)field = false;
            return 0;
        }
    }
    snprintf(err, errlen, "%s: must be 1 or 0 (true/false), got '%s'", s->env,
             text);
    return -1;
}

static int listen_port_valid(const char *port)
{
    char *end;

    errno = 0;
    long v = strtol(port, &end, 10);
    return errno == 0 && end != port && *end == '\0' && v >= 1 && v <= 65535;
}

static int parse_listen(const struct config_setting *s, const char *text,
                        void *field, char *err, size_t errlen)
{
    const char *colon = strrchr(text, ':');
    const char *port = colon ? colon + 1 : text;

    if (!listen_port_valid(port) || (colon && colon == text)) {
        snprintf(err, errlen,
                 "%s: must be 'port' or 'address:port' with a port from 1 "
                 "to 65535, got '%s'",
                 s->env, text);
        return -1;
    }
    return parse_string(s, text, field, err, errlen);
}

static int parse_level(const struct config_setting *s, const char *text,
                       void *field, char *err, size_t errlen)
{
    enum log_level level;

    if (log_level_parse(text, &level) != 0) {
        snprintf(err, errlen,
                 "%s: must be error, warn, info or debug, got '%s'", s->env,
                 text);
        return -1;
    }
    *(int *)field = (int)level;
    return 0;
}

static const config_parse_fn config_parsers[] = {
    [CONFIG_STRING] = parse_string, [CONFIG_SECRET] = parse_string,
    [CONFIG_INT] = parse_int,       [CONFIG_BOOL] = parse_bool,
    [CONFIG_LISTEN] = parse_listen, [CONFIG_LEVEL] = parse_level,
};

static int config_set(const struct config_setting *s, void *target,
                      const char *text, char *err, size_t errlen)
{
    void *field = (char *)target + s->offset;
    return config_parsers[s->type](s, text, field, err, errlen);
}

/* HOOKBRIDGE_API_RATE -> api-rate */
static void config_flag_name(const char *env, char *buf, size_t len)
{
    size_t i = 0;

    env += sizeof(config_prefix) - 1;
    for (; env[i] != '\0' && i + 1 < len; i++)
        buf[i] = env[i] == '_' ? '-' : (char)tolower((unsigned char)env[i]);
    buf[i] = '\0';
}

static const struct config_setting *
config_find_flag(const struct config_spec *spec, const char *flag,
                 size_t flaglen)
{
    char name[CONFIG_NAME_MAX];

    for (size_t i = 0; i < spec->nsettings; i++) {
        config_flag_name(spec->settings[i].env, name, sizeof(name));
        if (strlen(name) == flaglen && strncmp(name, flag, flaglen) == 0)
            return &spec->settings[i];
    }
    return NULL;
}

static int props_add(struct config_props *props, const char *name,
                     size_t namelen, const char *value, char *err,
                     size_t errlen)
{
    if (namelen == 0) {
        snprintf(err, errlen, "--rdkafka: expected name=value");
        return -1;
    }
    for (size_t i = 0; i < props->count; i++) {
        if (strlen(props->name[i]) == namelen &&
            strncmp(props->name[i], name, namelen) == 0) {
            free(props->value[i]);
            props->value[i] = config_strdup(value);
            return 0;
        }
    }
    if (props->count == CONFIG_PROPS_MAX) {
        snprintf(err, errlen, "--rdkafka: more than %d properties",
                 CONFIG_PROPS_MAX);
        return -1;
    }
    props->name[props->count] = strndup(name, namelen);
    props->value[props->count] = config_strdup(value);
    if (props->name[props->count] == NULL)
        abort();
    props->count++;
    return 0;
}

/* HOOKBRIDGE_RDKAFKA_SECURITY_PROTOCOL=x -> security.protocol = x */
static int props_from_env(struct config_props *props, const char *entry,
                          char *err, size_t errlen)
{
    const char *eq = strchr(entry, '=');
    char name[CONFIG_NAME_MAX];
    size_t n = 0;

    for (const char *p = entry + sizeof(config_rdkafka_prefix) - 1;
         p < eq && n + 1 < sizeof(name); p++, n++)
        name[n] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
    name[n] = '\0';
    return props_add(props, name, n, eq + 1, err, errlen);
}

static int config_defaults(const struct config_spec *spec, void *target,
                           char *err, size_t errlen)
{
    for (size_t i = 0; i < spec->nsettings; i++) {
        const struct config_setting *s = &spec->settings[i];
        if (s->def != NULL && config_set(s, target, s->def, err, errlen))
            return -1;
    }
    return 0;
}

static int config_from_env(const struct config_spec *spec, void *target,
                           struct config_props *props, char **envp, char *err,
                           size_t errlen)
{
    for (char **e = envp; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL ||
            strncmp(*e, config_prefix, sizeof(config_prefix) - 1) != 0)
            continue;
        if (strncmp(*e, config_rdkafka_prefix,
                    sizeof(config_rdkafka_prefix) - 1) == 0) {
            if (props_from_env(props, *e, err, errlen))
                return -1;
            continue;
        }
        for (size_t i = 0; i < spec->nsettings; i++) {
            const struct config_setting *s = &spec->settings[i];
            size_t n = strlen(s->env);
            if ((size_t)(eq - *e) == n && strncmp(*e, s->env, n) == 0 &&
                config_set(s, target, eq + 1, err, errlen))
                return -1;
        }
    }
    return 0;
}

static void config_help(const struct config_spec *spec, FILE *out)
{
    char flag[CONFIG_NAME_MAX];

    fprintf(out, "Usage: %s [--setting=value ...]\n%s\n\n", spec->program,
            spec->summary);
    fprintf(out, "Each setting is a flag or an environment variable; "
                 "a flag wins.\n\n");
    for (size_t i = 0; i < spec->nsettings; i++) {
        const struct config_setting *s = &spec->settings[i];
        config_flag_name(s->env, flag, sizeof(flag));
        fprintf(out, "  --%-22s %s\n", flag, s->env);
        fprintf(out, "      %s (default: %s)\n", s->help,
                s->def ? s->def : "none");
    }
    fprintf(out, "  --rdkafka NAME=VALUE     HOOKBRIDGE_RDKAFKA_NAME\n"
                 "      any librdkafka property, passed through; in the "
                 "variable name '_' stands for '.'\n"
                 "  --help, --version\n");
}

/* --rdkafka name=value: one librdkafka property, kept for kafka.h. */
static int config_rdkafka_flag(struct config_props *props, const char *value,
                               char *err, size_t errlen)
{
    const char *eq = strchr(value, '=');

    if (eq == NULL) {
        snprintf(err, errlen, "--rdkafka: expected name=value, got '%s'",
                 value);
        return -1;
    }
    return props_add(props, value, (size_t)(eq - value), eq + 1, err, errlen);
}

static int config_flag(const struct config_spec *spec, void *target,
                       struct config_props *props, const char *arg,
                       const char *next, int *used, char *err, size_t errlen)
{
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
    const char *value = eq ? eq + 1 : next;
    int rdkafka = namelen == 7 && strncmp(name, "rdkafka", 7) == 0;
    const struct config_setting *s = config_find_flag(spec, name, namelen);

    /* An unknown name is the real mistake, even when no value follows. */
    if (!rdkafka && s == NULL) {
        snprintf(err, errlen, "unknown option '%.*s' (see --help)",
                 (int)(namelen + 2), arg);
        return -1;
    }
    if (value == NULL) {
        snprintf(err, errlen, "%.*s: needs a value", (int)(namelen + 2), arg);
        return -1;
    }

    *used = eq ? 0 : 1;
    if (rdkafka)
        return config_rdkafka_flag(props, value, err, errlen);
    return config_set(s, target, value, err, errlen);
}

enum config_result config_load(const struct config_spec *spec, void *target,
                               struct config_props *props, int argc,
                               char **argv, char **envp, FILE *out, char *err,
                               size_t errlen)
{
    if (config_defaults(spec, target, err, errlen) ||
        config_from_env(spec, target, props, envp, err, errlen))
        return CONFIG_INVALID;

    for (int i = 1; i < argc; i++) {
        int used = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_help(spec, out);
            return CONFIG_EXIT;
        }
        if (strcmp(argv[i], "--version") == 0) {
            fprintf(out, "%s %s\n", spec->program, config_version);
            return CONFIG_EXIT;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)",
                     argv[i]);
            return CONFIG_INVALID;
        }
        if (config_flag(spec, target, props, argv[i],
                        i + 1 < argc ? argv[i + 1] : NULL, &used, err, errlen))
            return CONFIG_INVALID;
        i += used;
    }
    return CONFIG_OK;
}

void config_free(const struct config_spec *spec, void *target,
                 struct config_props *props)
{
    for (size_t i = 0; i < spec->nsettings; i++) {
        const struct config_setting *s = &spec->settings[i];
        if (s->type == CONFIG_STRING || s->type == CONFIG_SECRET ||
            s->type == CONFIG_LISTEN) {
            char **slot = (char **)((char *)target + s->offset);
            free(*slot);
            *slot = NULL;
        }
    }
    for (size_t i = 0; props != NULL && i < props->count; i++) {
        free(props->name[i]);
        free(props->value[i]);
    }
    if (props != NULL)
        props->count = 0;
}

char *config_read_secret_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;

    if (f == NULL) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(CONFIG_SECRET_MAX + 1);
    if (buf == NULL)
        abort();
    size_t n = fread(buf, 1, CONFIG_SECRET_MAX + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n > CONFIG_SECRET_MAX) {
        snprintf(err, errlen, "'%s': %s", path,
                 failed ? "read error" : "larger than 4 KiB");
        free(buf);
        return NULL;
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    return buf;
}
