/*
 * test_object.c - what downstream services receive for each kind of API
 * reply: the bare object, compact, with /Date()/ values as RFC 3339.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "object.h"

struct extracted {
    enum object_verdict verdict;
    char *json;
    size_t len;
    char err[200];
};

static struct extracted extract(const char *body, const char *pointer)
{
    struct extracted x = {0};

    x.verdict = object_extract(body, strlen(body), pointer, &x.json, &x.len,
                               x.err, sizeof(x.err));
    return x;
}

static void test_object_is_taken_from_the_first_item(void)
{
    struct extracted x = extract(
        "{\"Items\": [ {\"Id\": 1234, \"Name\": \"Ada\"} ], \"Total\": 1}",
        "/Items/0");

    CHECK_INT_EQ(x.verdict, OBJECT_FOUND);
    CHECK_STR_EQ(x.json, "{\"Id\":1234,\"Name\":\"Ada\"}");
    CHECK_INT_EQ(x.len, strlen("{\"Id\":1234,\"Name\":\"Ada\"}"));
    free(x.json);
}

static void test_empty_pointer_takes_the_whole_reply(void)
{
    struct extracted x = extract("  {\"Id\": 5}\n", "");

    CHECK_INT_EQ(x.verdict, OBJECT_FOUND);
    CHECK_STR_EQ(x.json, "{\"Id\":5}");
    free(x.json);
}

static void test_pointer_escapes_and_nested_members_are_followed(void)
{
    struct extracted x =
        extract("{\"a/b\": {\"c~d\": [0, {\"Id\": 9}]}}", "/a~1b/c~0d/1");

    CHECK_INT_EQ(x.verdict, OBJECT_FOUND);
    CHECK_STR_EQ(x.json, "{\"Id\":9}");
    free(x.json);

    x = extract("{\"Items\": {\"0\": {\"Id\": 3}}}", "/Items/0");
    CHECK_INT_EQ(x.verdict, OBJECT_FOUND);
    CHECK_STR_EQ(x.json, "{\"Id\":3}");
    free(x.json);
}

static void test_empty_items_means_the_object_is_gone(void)
{
    static const char *const gone[][2] = {
        {"{\"Items\": [], \"Total\": 0}", "/Items/0"},
        {"{\"Items\": [{\"Id\": 1}]}", "/Items/1"},
        {"{\"Items\": [{\"Id\": 1}]}", "/Items/-"},
        {"{\"Items\": [{\"Id\": 1}]}", "/Items/99999999999"},
    };

    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        struct extracted x = extract(gone[i][0], gone[i][1]);

        CHECK_INT_EQ(x.verdict, OBJECT_GONE);
        CHECK(x.json == NULL);
    }
}

static const struct invalid_case {
    const char *body;
    const char *pointer;
    const char *reason;
} invalid_cases[] = {
    {"<html>Service Unavailable</html>", "/Items/0", "not JSON"},
    {"", "/Items/0", "not JSON"},
    {"{\"Items\": [{\"Id\": 1}]} trailing", "/Items/0", "after the JSON"},
    {"{\"Message\": \"denied\"}", "/Items/0", "no member 'Items'"},
    {"{\"Items\": null}", "/Items/0", "object or array before '0'"},
    {"{\"Items\": \"none\"}", "/Items/0", "object or array before '0'"},
    {"{\"Items\": [1]}", "/Items/0", "not an object"},
    {"{\"Items\": [null]}", "/Items/0", "not an object"},
    {"{\"Items\": [[1]]}", "/Items/0", "not an object"},
    {"[{\"Id\": 1}]", "", "not an object"},
    {"{\"Items\": [{\"Id\": 1}]}", "/Items/01", "not an array index"},
    {"{\"Items\": [{\"Id\": 1}]}", "/Items/x", "not an array index"},
    {"{\"Items\": [{\"Id\": 1}]}", "Items/0", "does not start with '/'"},
    {"{\"Items\": [{\"Id\": 1}]}", "/Items~2/0", "malformed"},
};

static void test_replies_that_are_not_the_expected_list_are_invalid(void)
{
    for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]);
         i++) {
        const struct invalid_case *c = &invalid_cases[i];
        struct extracted x = extract(c->body, c->pointer);

        CHECK_INT_EQ(x.verdict, OBJECT_INVALID);
        CHECK_CONTAINS(x.err, c->reason);
        CHECK(x.json == NULL);
    }
}

static void test_only_the_given_length_is_parsed(void)
{
    const char body[] = "{\"Id\": 1}{\"Id\": 2}";
    char *json = NULL;
    size_t len = 0;
    char err[100];

    CHECK_INT_EQ(object_extract(body, 9, "", &json, &len, err, sizeof(err)),
                 OBJECT_FOUND);
    CHECK_STR_EQ(json, "{\"Id\":1}");
    free(json);
}

static const struct date_case {
    const char *in;
    const char *out; /* NULL: left as it is */
} date_cases[] = {
    {"/Date(1523353751000+0200)/", "2018-04-10T09:49:11.000Z"},
    {"/Date(1523353751000-0500)/", "2018-04-10T09:49:11.000Z"},
    {"/Date(1523353751000)/", "2018-04-10T09:49:11.000Z"},
    {"/Date(1523353751042)/", "2018-04-10T09:49:11.042Z"},
    {"/Date(0)/", "1970-01-01T00:00:00.000Z"},
    {"/Date(-1)/", "1969-12-31T23:59:59.999Z"},
    {"/Date(-86400000+0100)/", "1969-12-31T00:00:00.000Z"},
    {"/Date(253402300799999)/", "9999-12-31T23:59:59.999Z"},
    {"/Date(-62135596800000)/", "0001-01-01T00:00:00.000Z"},
    {"/Date(253402300800000)/", NULL},
    {"/Date(-62135596800001)/", NULL},
    {"/Date(99999999999999999999)/", NULL},
    {"/Date(1523353751000)", NULL},
    {"Date(1523353751000)/", NULL},
    {"/date(1523353751000)/", NULL},
    {" /Date(1523353751000)/", NULL},
    {"/Date(1523353751000)/ ", NULL},
    {"/Date()/", NULL},
    {"/Date(-)/", NULL},
    {"/Date(12a4)/", NULL},
    {"/Date(1523353751000+02)/", NULL},
    {"/Date(1523353751000+2400)/", NULL},
    {"/Date(1523353751000+0260)/", NULL},
    {"/Date(1523353751000+0200+0200)/", NULL},
    {"/Date(+1523353751000)/", NULL},
    {"2018-04-10T09:49:11Z", NULL},
};

static void test_dates_are_rewritten_and_look_alikes_are_not(void)
{
    for (size_t i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]); i++) {
        char buf[32] = "untouched";
        int rc = object_date_rewrite(date_cases[i].in, buf, sizeof(buf));

        if (date_cases[i].out) {
            CHECK_INT_EQ(rc, 0);
            CHECK_STR_EQ(buf, date_cases[i].out);
        } else {
            CHECK_INT_EQ(rc, -1);
            CHECK_STR_EQ(buf, "untouched");
        }
        if ((rc == 0) != (date_cases[i].out != NULL))
            fprintf(stderr, "date case \"%s\"\n", date_cases[i].in);
    }
}

static void test_dates_are_rewritten_at_every_depth(void)
{
    struct extracted x = extract(
        "{\"Items\":[{\"Created\":\"\\/Date(1523353751000+0200)\\/\","
        "\"/Date(0)/\":\"key stays\","
        "\"Notes\":[{\"At\":\"/Date(-1)/\"},[\"/Date(0)/\",\"/Date(x)/\"]],"
        "\"Owner\":{\"Since\":{\"At\":\"/Date(1000-0500)/\"}},"
        "\"Count\":3,\"Flag\":true,\"None\":null}]}",
        "/Items/0");

    CHECK_INT_EQ(x.verdict, OBJECT_FOUND);
    CHECK_STR_EQ(x.json,
                 "{\"Created\":\"2018-04-10T09:49:11.000Z\","
                 "\"/Date(0)/\":\"key stays\","
                 "\"Notes\":[{\"At\":\"1969-12-31T23:59:59.999Z\"},"
                 "[\"1970-01-01T00:00:00.000Z\",\"/Date(x)/\"]],"
                 "\"Owner\":{\"Since\":{\"At\":\"1970-01-01T00:00:01.000Z\"}},"
                 "\"Count\":3,\"Flag\":true,\"None\":null}");
    free(x.json);
}

/* {"Items":[ then `depth` nested objects {"a": ... } ]} */
static char *nested(int depth, const char *open, const char *close)
{
    size_t cap = 32 + (size_t)depth * (strlen(open) + strlen(close));
    char *s = malloc(cap);

    strcpy(s, "{\"Items\":[");
    for (int i = 0; i < depth; i++)
        strcat(s, open);
    strcat(s, "1");
    for (int i = 0; i < depth; i++)
        strcat(s, close);
    strcat(s, "]}");
    return s;
}

static enum object_verdict extract_nested(int depth, const char *open,
                                          const char *close)
{
    char *body = nested(depth, open, close);
    struct extracted x = extract(body, "/Items/0");

    free(body);
    free(x.json);
    return x.verdict;
}

static void test_deeply_nested_replies_are_rejected(void)
{
    CHECK_INT_EQ(extract_nested(60, "{\"a\":", "}"), OBJECT_FOUND);
    CHECK_INT_EQ(extract_nested(70, "{\"a\":", "}"), OBJECT_INVALID);
    CHECK_INT_EQ(extract_nested(900, "{\"a\":", "}"), OBJECT_INVALID);
    /* Past cJSON's own limit the parse itself fails. */
    CHECK_INT_EQ(extract_nested(5000, "{\"a\":", "}"), OBJECT_INVALID);

    char *body = nested(70, "{\"a\":[", "]}");
    struct extracted x = extract(body, "/Items/0");
    CHECK_INT_EQ(x.verdict, OBJECT_INVALID);
    CHECK_CONTAINS(x.err, "deeper than");
    free(body);
}

static void test_hash_is_stable_and_tells_contents_apart(void)
{
    const char a[] = "{\"Id\":1,\"Name\":\"Ada\"}";
    const char b[] = "{\"Id\":1,\"Name\":\"Adb\"}";
    char copy[sizeof(a)];

    memcpy(copy, a, sizeof(a));
    CHECK(object_hash(a, strlen(a)) == object_hash(copy, strlen(copy)));
    CHECK(object_hash(a, strlen(a)) != object_hash(b, strlen(b)));
    CHECK(object_hash(a, strlen(a)) != object_hash(a, strlen(a) - 1));

    /* The published FNV-1a 64 values: the same on every machine. */
    CHECK(object_hash("", 0) == 0xcbf29ce484222325ULL);
    CHECK(object_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
    CHECK(object_hash("foobar", 6) == 0x85944171f73967e8ULL);
}

CHECK_MAIN(test_object_is_taken_from_the_first_item,
           test_empty_pointer_takes_the_whole_reply,
           test_pointer_escapes_and_nested_members_are_followed,
           test_empty_items_means_the_object_is_gone,
           test_replies_that_are_not_the_expected_list_are_invalid,
           test_only_the_given_length_is_parsed,
           test_dates_are_rewritten_and_look_alikes_are_not,
           test_dates_are_rewritten_at_every_depth,
           test_deeply_nested_replies_are_rejected,
           test_hash_is_stable_and_tells_contents_apart)
