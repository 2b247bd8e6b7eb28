/*
 * test_buf.c - the bounded buffer never passes its maximum.
 */
#include "buf.h"

#include "check.h"

static void test_a_new_buffer_allocates_nothing(void)
{
    struct buf b;

    buf_init(&b, 100);
    CHECK(b.data == NULL);
    CHECK_INT_EQ(b.len, 0);
    CHECK_INT_EQ(b.max, 100);
    buf_free(&b);
}

static void test_appended_bytes_are_kept_and_nul_terminated(void)
{
    struct buf b;

    buf_init(&b, 100);
    CHECK_INT_EQ(buf_append(&b, "hello", 5), 0);
    CHECK_INT_EQ(buf_append(&b, ", world", 7), 0);
    CHECK_INT_EQ(b.len, 12);
    CHECK_STR_EQ(b.data, "hello, world");
    CHECK_INT_EQ(b.data[b.len], '\0');
    buf_free(&b);
}

static void test_filling_exactly_to_max_is_allowed(void)
{
    struct buf b;
    char data[10];

    memset(data, 'x', sizeof(data));
    buf_init(&b, sizeof(data));
    CHECK_INT_EQ(buf_append(&b, data, sizeof(data)), 0);
    CHECK_INT_EQ(b.len, 10);
    CHECK_STR_EQ(b.data, "xxxxxxxxxx");
    buf_free(&b);
}

static void test_an_append_past_max_fails_and_changes_nothing(void)
{
    struct buf b;

    buf_init(&b, 8);
    CHECK_INT_EQ(buf_append(&b, "12345", 5), 0);
    CHECK_INT_EQ(buf_append(&b, "6789", 4), -1);
    CHECK_INT_EQ(b.len, 5);
    CHECK_STR_EQ(b.data, "12345");
    CHECK_INT_EQ(buf_append(&b, "678", 3), 0);
    CHECK_STR_EQ(b.data, "12345678");
    CHECK_INT_EQ(buf_append(&b, "9", 1), -1);
    CHECK_STR_EQ(b.data, "12345678");
    buf_free(&b);
}

static void test_a_huge_length_does_not_wrap_around_the_limit(void)
{
    struct buf b;

    buf_init(&b, 16);
    CHECK_INT_EQ(buf_append(&b, "abc", 3), 0);
    CHECK_INT_EQ(buf_append(&b, "x", (size_t)-1), -1);
    CHECK_INT_EQ(b.len, 3);
    CHECK_STR_EQ(b.data, "abc");
    buf_free(&b);
}

static void test_printf_appends_formatted_text(void)
{
    struct buf b;

    buf_init(&b, 64);
    CHECK_INT_EQ(buf_printf(&b, "key=%s", "candidate:1"), 0);
    CHECK_INT_EQ(buf_printf(&b, " partition=%d", 3), 0);
    CHECK_STR_EQ(b.data, "key=candidate:1 partition=3");
    CHECK_INT_EQ(b.len, strlen("key=candidate:1 partition=3"));
    buf_free(&b);
}

static void test_printf_past_max_fails_and_changes_nothing(void)
{
    struct buf b;

    buf_init(&b, 10);
    CHECK_INT_EQ(buf_printf(&b, "%s", "abcdef"), 0);
    CHECK_INT_EQ(buf_printf(&b, "%d", 12345), -1);
    CHECK_INT_EQ(b.len, 6);
    CHECK_STR_EQ(b.data, "abcdef");
    CHECK_INT_EQ(buf_printf(&b, "%d", 1234), 0);
    CHECK_STR_EQ(b.data, "abcdef1234");
    buf_free(&b);
}

static void test_growth_one_byte_at_a_time_reaches_max_and_stops(void)
{
    struct buf b;
    size_t max = 100000;

    buf_init(&b, max);
    for (size_t i = 0; i < max; i++) {
        if (buf_append(&b, "a", 1) != 0) {
            CHECK(!"append under max failed");
            break;
        }
    }
    CHECK_INT_EQ(b.len, max);
    CHECK(b.cap <= max + 1);
    CHECK_INT_EQ(buf_append(&b, "a", 1), -1);
    CHECK_INT_EQ(b.len, max);
    CHECK_INT_EQ(b.data[max], '\0');
    buf_free(&b);
}

static void test_memory_never_exceeds_max_plus_the_terminator(void)
{
    struct buf b;

    buf_init(&b, 1000);
    CHECK_INT_EQ(buf_append(&b, "x", 1), 0);
    CHECK(b.cap <= 1001);
    for (int i = 0; i < 999; i++)
        buf_append(&b, "y", 1);
    CHECK_INT_EQ(b.len, 1000);
    CHECK(b.cap <= 1001);
    buf_free(&b);
}

static void test_reset_empties_and_keeps_memory(void)
{
    struct buf b;

    buf_init(&b, 64);
    buf_append(&b, "something", 9);
    char *mem = b.data;
    buf_reset(&b);
    CHECK_INT_EQ(b.len, 0);
    CHECK(b.data == mem);
    CHECK_STR_EQ(b.data, "");
    CHECK_INT_EQ(buf_append(&b, "new", 3), 0);
    CHECK_STR_EQ(b.data, "new");
    buf_free(&b);
}

static void test_free_then_init_makes_the_buffer_usable_again(void)
{
    struct buf b;

    buf_init(&b, 4);
    buf_append(&b, "abcd", 4);
    buf_free(&b);
    CHECK(b.data == NULL);
    CHECK_INT_EQ(b.len, 0);
    buf_init(&b, 2);
    CHECK_INT_EQ(buf_append(&b, "abc", 3), -1);
    CHECK_INT_EQ(buf_append(&b, "ab", 2), 0);
    CHECK_STR_EQ(b.data, "ab");
    buf_free(&b);
}

static void test_an_empty_append_gives_an_empty_string(void)
{
    struct buf b;

    buf_init(&b, 0);
    CHECK_INT_EQ(buf_append(&b, "", 0), 0);
    CHECK(b.data != NULL);
    CHECK_STR_EQ(b.data, "");
    CHECK_INT_EQ(buf_append(&b, "x", 1), -1);
    buf_free(&b);
}

static void test_binary_data_with_nul_bytes_is_kept_whole(void)
{
    struct buf b;

    buf_init(&b, 16);
    CHECK_INT_EQ(buf_append(&b, "a\0b", 3), 0);
    CHECK_INT_EQ(b.len, 3);
    CHECK(memcmp(b.data, "a\0b", 4) == 0);
    buf_free(&b);
}

CHECK_MAIN(test_a_new_buffer_allocates_nothing,
           test_appended_bytes_are_kept_and_nul_terminated,
           test_filling_exactly_to_max_is_allowed,
           test_an_append_past_max_fails_and_changes_nothing,
           test_a_huge_length_does_not_wrap_around_the_limit,
           test_printf_appends_formatted_text,
           test_printf_past_max_fails_and_changes_nothing,
           test_growth_one_byte_at_a_time_reaches_max_and_stops,
           test_memory_never_exceeds_max_plus_the_terminator,
           test_reset_empties_and_keeps_memory,
           test_free_then_init_makes_the_buffer_usable_again,
           test_an_empty_append_gives_an_empty_string,
           test_binary_data_with_nul_bytes_is_kept_whole)
