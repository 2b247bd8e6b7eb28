/*
 * check.h - the assertions and the runner of the unit tests.
 *
 * A failed check prints file:line and both values and lets the test go
 * on, so one run shows every broken expectation. Each test file ends with
 *
 *   CHECK_MAIN(test_one_thing, test_another_thing)
 *
 * which runs the tests in order, prints "N passed, M failed" as the last
 * line and exits non-zero when anything failed. A test counts as failed
 * when any of its checks failed. Single-threaded: check from the test
 * thread only (join workers first).
 */
#ifndef HOOKBRIDGE_CHECK_H
#define HOOKBRIDGE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

static inline void check_fail_here(const char *file, int line)
{
    fprintf(stderr, "%s:%d: ", file, line);
    check_failures++;
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            check_fail_here(__FILE__, __LINE__);                               \
            fprintf(stderr, "CHECK(%s) failed\n", #cond);                      \
        }                                                                      \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                     \
    do {                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);        \
        if (check_a_ != check_b_) {                                            \
            check_fail_here(__FILE__, __LINE__);                               \
            fprintf(stderr, "%s == %s: %lld != %lld\n", #a, #b, check_a_,      \
                    check_b_);                                                 \
        }                                                                      \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                     \
    do {                                                                       \
        const char *check_a_ = (a), *check_b_ = (b);                           \
        if (check_a_ == NULL || check_b_ == NULL ||                            \
            strcmp(check_a_, check_b_) != 0) {                                 \
            check_fail_here(__FILE__, __LINE__);                               \
            fprintf(stderr, "%s == %s: \"%s\" != \"%s\"\n", #a, #b,            \
                    check_a_ ? check_a_ : "(null)",                            \
                    check_b_ ? check_b_ : "(null)");                           \
        }                                                                      \
    } while (0)

/* Checks that `needle` occurs in `haystack`. */
#define CHECK_CONTAINS(haystack, needle)                                       \
    do {                                                                       \
        const char *check_h_ = (haystack), *check_n_ = (needle);               \
        if (check_h_ == NULL || strstr(check_h_, check_n_) == NULL) {          \
            check_fail_here(__FILE__, __LINE__);                               \
            fprintf(stderr, "\"%s\" does not contain \"%s\"\n",                \
                    check_h_ ? check_h_ : "(null)", check_n_);                 \
        }                                                                      \
    } while (0)

struct check_test {
    const char *name;
    void (*fn)(void);
};

static inline int check_run(const struct check_test *tests, size_t n)
{
    int passed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        int before = check_failures;

        tests[i].fn();
        if (check_failures == before) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", tests[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

/* Defines main(), which runs the listed test functions in order. */
#define CHECK_MAIN(...)                                                        \
    int main(void)                                                             \
    {                                                                          \
        void (*const check_fns_[])(void) = {__VA_ARGS__};                      \
        static const char check_names_[] = #__VA_ARGS__;                       \
        return check_main(check_fns_,                                          \
                          sizeof(check_fns_) / sizeof(check_fns_[0]),          \
                          check_names_);                                       \
    }

/* Splits the stringified list "a, b, c" into names for check_run(). */
static inline int check_main(void (*const *fns)(void), size_t n,
                             const char *names)
{
    struct check_test tests[256];
    char copy[8192];
    char *save = NULL;

    if (n > sizeof(tests) / sizeof(tests[0]) || strlen(names) >= sizeof(copy)) {
        fprintf(stderr, "check.h: too many tests in one file\n");
        return 2;
    }
    strcpy(copy, names);
    char *tok = strtok_r(copy, ", \t\n", &save);
    for (size_t i = 0; i < n; i++) {
        tests[i].fn = fns[i];
        tests[i].name = tok ? tok : "?";
        tok = strtok_r(NULL, ", \t\n", &save);
    }
    return check_run(tests, n);
}

#endif
