/*
 * test_log.c - level names, the threshold and the line format.
 *
 * stderr is swapped for a pipe around each logging call, so the test
 * reads exactly the bytes an operator would see.
 */
#include "log.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

struct capture {
    int pipe[2];
    int saved;
};

static void capture_start(struct capture *c)
{
    if (pipe(c->pipe) != 0)
        abort();
    /* Big enough for every line one test writes, so write() never blocks. */
    fcntl(c->pipe[1], F_SETPIPE_SZ, 1 << 20);
    c->saved = dup(STDERR_FILENO);
    dup2(c->pipe[1], STDERR_FILENO);
    close(c->pipe[1]);
}

/* Restores stderr and returns what was written, as a heap string. */
static char *capture_end(struct capture *c)
{
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    ssize_t n;

    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    while ((n = read(c->pipe[0], out + len, cap - len)) > 0)
        len += (size_t)n;
    close(c->pipe[0]);
    out[len] = '\0';
    return out;
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_level_names_parse_in_any_case(void)
{
    static const struct {
        const char *name;
        enum log_level level;
    } cases[] = {
        {"error", LOG_ERROR}, {"warn", LOG_WARN},   {"info", LOG_INFO},
        {"debug", LOG_DEBUG}, {"ERROR", LOG_ERROR}, {"Warn", LOG_WARN},
        {"INFO", LOG_INFO},   {"dEbUg", LOG_DEBUG},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum log_level level = LOG_ERROR;

        CHECK_INT_EQ(log_level_parse(cases[i].name, &level), 0);
        CHECK_INT_EQ(level, cases[i].level);
    }
}

static void test_unknown_level_names_are_refused(void)
{
    static const char *const bad[] = {"",    "warning", "trace",
                                      "inf", "3",       "info "};
    enum log_level level = LOG_INFO;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT_EQ(log_level_parse(bad[i], &level), -1);
    CHECK_INT_EQ(level, LOG_INFO);
}

static void test_lines_below_the_threshold_are_not_written(void)
{
    struct capture c;

    log_init("test-log", LOG_WARN);
    capture_start(&c);
    log_debug("debug line");
    log_info("info line");
    log_warn("warn line key=%d", 1);
    log_error("error line key=%d", 2);
    char *out = capture_end(&c);

    CHECK_INT_EQ(count_lines(out), 2);
    CHECK(strstr(out, "debug line") == NULL);
    CHECK(strstr(out, "info line") == NULL);
    CHECK_CONTAINS(out, " WARN test-log: warn line key=1\n");
    CHECK_CONTAINS(out, " ERROR test-log: error line key=2\n");
    free(out);
}

static void test_debug_threshold_writes_every_level(void)
{
    struct capture c;

    log_init("test-log", LOG_DEBUG);
    capture_start(&c);
    log_debug("d");
    log_info("i");
    log_warn("w");
    log_error("e");
    char *out = capture_end(&c);

    CHECK_INT_EQ(count_lines(out), 4);
    CHECK_CONTAINS(out, " DEBUG test-log: d\n");
    CHECK_CONTAINS(out, " INFO test-log: i\n");
    free(out);
}

static int side_effects;

static int touch(void)
{
    return ++side_effects;
}

static void test_filtered_lines_do_not_evaluate_their_arguments(void)
{
    struct capture c;

    log_init("test-log", LOG_ERROR);
    side_effects = 0;
    capture_start(&c);
    log_info("value=%d", touch());
    log_debug("value=%d", touch());
    char *out = capture_end(&c);

    CHECK_INT_EQ(side_effects, 0);
    CHECK_STR_EQ(out, "");
    free(out);
}

/* 2026-12-03T10:00:00.123Z */
static int is_rfc3339_ms(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return 0;
    }
    return 1;
}

static void test_a_line_starts_with_a_utc_timestamp_in_milliseconds(void)
{
    struct capture c;

    log_init("test-log", LOG_INFO);
    capture_start(&c);
    log_info("stored key=candidate:1 partition=0");
    char *out = capture_end(&c);

    CHECK(is_rfc3339_ms(out));
    CHECK_STR_EQ(out + 24,
                 " INFO test-log: stored key=candidate:1 partition=0\n");
    free(out);
}

static void test_long_lines_are_cut_to_one_line_ending_in_dots(void)
{
    struct capture c;
    char *big = malloc(5000);

    memset(big, 'z', 4999);
    big[4999] = '\0';
    log_init("test-log", LOG_INFO);
    capture_start(&c);
    log_info("big=%s", big);
    char *out = capture_end(&c);
    size_t len = strlen(out);

    CHECK_INT_EQ(count_lines(out), 1);
    CHECK(len <= 1024);
    CHECK(len > 1000);
    CHECK_STR_EQ(out + len - 4, "...\n");
    free(out);
    free(big);
}

static void test_a_line_that_just_fits_is_not_cut(void)
{
    struct capture c;
    char text[2000];

    log_init("test-log", LOG_INFO);
    capture_start(&c);
    log_info("x");
    char *probe = capture_end(&c);
    /* What is left for the message once the prefix and '\n' are written. */
    size_t room = 1024 - (strlen(probe) - 2) - 1;
    free(probe);

    memset(text, 'a', room);
    text[room] = '\0';
    capture_start(&c);
    log_info("%s", text);
    char *out = capture_end(&c);

    CHECK_INT_EQ(strlen(out), 1024);
    CHECK_STR_EQ(out + strlen(out) - 3, "aa\n");
    free(out);
}

CHECK_MAIN(test_level_names_parse_in_any_case,
           test_unknown_level_names_are_refused,
           test_lines_below_the_threshold_are_not_written,
           test_debug_threshold_writes_every_level,
           test_filtered_lines_do_not_evaluate_their_arguments,
           test_a_line_starts_with_a_utc_timestamp_in_milliseconds,
           test_long_lines_are_cut_to_one_line_ending_in_dots,
           test_a_line_that_just_fits_is_not_cut)
