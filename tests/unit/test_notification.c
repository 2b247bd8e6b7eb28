/*
 * test_notification.c - the verdicts the ingest gives webhook bodies,
 * and the shared-key comparison behind the 401s.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "check.h"
#include "json_scan.h"
#include "notification.h"
#include "secret.h"

static struct catalog *catalog;
static struct secret_keys keys;
static struct notification_rules rules;

/* Rules with the built-in catalog and the keys "k1" and "k2". */
static void setup(void)
{
    char err[256];

    if (catalog == NULL) {
        catalog = catalog_load(NULL, err, sizeof(err));
        if (catalog == NULL) {
            fprintf(stderr, "built-in catalog: %s\n", err);
            exit(2);
        }
    }
    if (secret_parse(&keys, "k1, k2", ',', err, sizeof(err)) != 0) {
        fprintf(stderr, "keys: %s\n", err);
        exit(2);
    }
    rules = (struct notification_rules){catalog, &keys, "hrm.events.raw",
                                        "hrm.events.unrouted"};
}

static int judge(const char *body, struct notification *n)
{
    setup();
    return notification_judge(&rules, body, strlen(body), n);
}

/* The status and error text for `body`, for the many 400/401 cases. */
static void check_rejected(const char *body, int status, const char *error)
{
    struct notification n;

    CHECK_INT_EQ(judge(body, &n), status);
    CHECK_INT_EQ(n.status, status);
    CHECK_STR_EQ(n.error, error);
    CHECK(n.key == NULL);
    CHECK(n.topic == NULL);
    notification_free(&n);
}

static void test_candidate_with_number_id_goes_to_raw_topic(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"EventType\":\"CandidateUpdated\",\"CandidateId\":"
                       "1234,\"UserData\":\"k1\"}",
                       &n),
                 200);
    CHECK_STR_EQ(n.topic, "hrm.events.raw");
    CHECK_STR_EQ(n.key, "candidate:1234");
    CHECK_STR_EQ(n.event_type, "CandidateUpdated");
    CHECK(n.event != NULL && n.event->action == CATALOG_UPSERT);
    CHECK_STR_EQ(n.value.data,
                 "{\"EventType\":\"CandidateUpdated\",\"CandidateId\":1234}");
    notification_free(&n);
}

static void test_string_id_is_used_as_is(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"EventType\":\"PositionPublished\",\"PositionId\":"
                       "\"P-77 x\",\"UserData\":\"k1\"}",
                       &n),
                 200);
    CHECK_STR_EQ(n.key, "position:P-77 x");
    notification_free(&n);
}

static void test_delete_event_keeps_its_action(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"EventType\":\"ProjectDeleted\",\"ProjectId\":5,"
                       "\"UserData\":\"k2\"}",
                       &n),
                 200);
    CHECK_STR_EQ(n.key, "project:5");
    CHECK(n.event != NULL && n.event->action == CATALOG_DELETE);
    notification_free(&n);
}

static void test_user_data_is_removed_wherever_it_stands(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{ \"UserData\" : \"k1\" ,\n \"EventType\": "
                       "\"CandidateHired\", \"CandidateId\": 9 }",
                       &n),
                 200);
    CHECK_STR_EQ(n.value.data,
                 "{\"EventType\": \"CandidateHired\",\"CandidateId\": 9}");
    CHECK(strstr(n.value.data, "k1") == NULL);
    notification_free(&n);
}

static void test_user_data_written_with_escapes_is_removed_too(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"EventType\":\"CandidateHired\",\"CandidateId\":9,"
                       "\"User\\u0044ata\":\"k1\"}",
                       &n),
                 200);
    CHECK_STR_EQ(n.value.data,
                 "{\"EventType\":\"CandidateHired\",\"CandidateId\":9}");
    notification_free(&n);
}

static void test_every_copy_of_a_repeated_user_data_is_removed(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"UserData\":\"k1\",\"EventType\":\"CandidateHired\","
                       "\"CandidateId\":9,\"UserData\":\"other\"}",
                       &n),
                 200);
    CHECK_STR_EQ(n.value.data,
                 "{\"EventType\":\"CandidateHired\",\"CandidateId\":9}");
    notification_free(&n);
}

static void test_nested_objects_unicode_and_big_numbers_are_kept(void)
{
    const char *body =
        "{\"EventType\":\"CandidateUpdated\",\"CandidateId\":1,"
        "\"UserData\":\"k1\",\"Meta\":{\"a\":[1,{\"b\":\"}\\\"{\"}],"
        "\"UserData\":\"inner\"},\"Name\":\"\xc3\x85sa \xe6\xbc\xa2 "
        "\\u00e9\",\"Big\":12345678901234567890123}";
    struct notification n;

    CHECK_INT_EQ(judge(body, &n), 200);
    CHECK_STR_EQ(n.value.data,
                 "{\"EventType\":\"CandidateUpdated\",\"CandidateId\":1,"
                 "\"Meta\":{\"a\":[1,{\"b\":\"}\\\"{\"}],"
                 "\"UserData\":\"inner\"},\"Name\":\"\xc3\x85sa \xe6\xbc\xa2 "
                 "\\u00e9\",\"Big\":12345678901234567890123}");
    notification_free(&n);
}

static void test_both_rotation_keys_are_accepted(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                       "\"UserData\":\"k1\"}",
                       &n),
                 200);
    notification_free(&n);
    CHECK_INT_EQ(judge("{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                       "\"UserData\":\"k2\"}",
                       &n),
                 200);
    notification_free(&n);
}

static void test_wrong_or_missing_user_data_is_401(void)
{
    check_rejected("{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                   "\"UserData\":\"k3\"}",
                   401, "UserData is wrong");
    check_rejected("{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                   "\"UserData\":\"k\"}",
                   401, "UserData is wrong");
    check_rejected("{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                   "\"UserData\":\"k1k\"}",
                   401, "UserData is wrong");
    check_rejected("{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                   "\"UserData\":\"\"}",
                   401, "UserData is wrong");
    check_rejected("{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                   "\"UserData\":1}",
                   401, "UserData is wrong");
    check_rejected("{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                   "\"userdata\":\"k1\"}",
                   401, "UserData is missing");
    check_rejected("{\"EventType\":\"CandidateHired\",\"CandidateId\":1}", 401,
                   "UserData is missing");
}

static void test_without_keys_no_user_data_is_needed_but_any_is_removed(void)
{
    struct notification n;

    setup();
    rules.keys = NULL;
    const char *body = "{\"EventType\":\"CandidateHired\",\"CandidateId\":1,"
                       "\"UserData\":\"whatever\"}";
    CHECK_INT_EQ(notification_judge(&rules, body, strlen(body), &n), 200);
    CHECK_STR_EQ(n.value.data,
                 "{\"EventType\":\"CandidateHired\",\"CandidateId\":1}");
    notification_free(&n);

    body = "{\"EventType\":\"CandidateHired\",\"CandidateId\":1}";
    CHECK_INT_EQ(notification_judge(&rules, body, strlen(body), &n), 200);
    notification_free(&n);
}

static void test_unknown_event_type_is_unrouted_keyed_by_the_type(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"EventType\":\"InvoicePaid\",\"InvoiceId\":3,"
                       "\"UserData\":\"k1\"}",
                       &n),
                 200);
    CHECK_STR_EQ(n.topic, "hrm.events.unrouted");
    CHECK_STR_EQ(n.key, "InvoicePaid");
    CHECK_STR_EQ(n.event_type, "InvoicePaid");
    CHECK(n.event == NULL);
    CHECK_STR_EQ(n.value.data,
                 "{\"EventType\":\"InvoicePaid\",\"InvoiceId\":3}");
    notification_free(&n);
}

static void test_unknown_event_type_needs_no_id(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"EventType\":\"candidateupdated\",\"UserData\":"
                       "\"k1\"}",
                       &n),
                 200);
    CHECK_STR_EQ(n.topic, "hrm.events.unrouted");
    notification_free(&n);
}

static void test_event_type_missing_or_not_a_string_is_400(void)
{
    check_rejected("{\"CandidateId\":1,\"UserData\":\"k1\"}", 400,
                   "EventType is missing");
    check_rejected("{\"EventType\":7,\"CandidateId\":1,\"UserData\":\"k1\"}",
                   400, "EventType is not a string");
    check_rejected("{\"EventType\":null,\"UserData\":\"k1\"}", 400,
                   "EventType is not a string");
}

static void test_missing_id_is_400_naming_the_field(void)
{
    check_rejected("{\"EventType\":\"CandidateUpdated\",\"UserData\":\"k1\"}",
                   400, "CandidateId is missing");
    check_rejected("{\"EventType\":\"PositionPublished\",\"CandidateId\":1,"
                   "\"UserData\":\"k1\"}",
                   400, "PositionId is missing");
}

static void check_id(const char *id_json, int status, const char *key)
{
    char body[1024];
    struct notification n;

    snprintf(body, sizeof(body),
             "{\"EventType\":\"CandidateUpdated\",\"CandidateId\":%s,"
             "\"UserData\":\"k1\"}",
             id_json);
    CHECK_INT_EQ(judge(body, &n), status);
    if (status == 200)
        CHECK_STR_EQ(n.key, key);
    else
        CHECK_CONTAINS(n.error, "CandidateId ");
    notification_free(&n);
}

static void test_number_ids_must_be_whole_and_exact(void)
{
    check_id("0", 200, "candidate:0");
    check_id("-0", 200, "candidate:0");
    check_id("1.0", 200, "candidate:1");
    check_id("1e3", 200, "candidate:1000");
    check_id("-17", 200, "candidate:-17");
    check_id("9007199254740991", 200, "candidate:9007199254740991");
    check_id("9007199254740993", 400, NULL);
    check_id("12345678901234567890", 400, NULL);
    check_id("1e400", 400, NULL);
    check_id("-1e400", 400, NULL);
    check_id("12.5", 400, NULL);
    check_id("0.0000001", 400, NULL);
}

static void test_other_id_types_are_400(void)
{
    check_id("true", 400, NULL);
    check_id("null", 400, NULL);
    check_id("[1]", 400, NULL);
    check_id("{\"id\":1}", 400, NULL);
}

static void test_string_ids_are_bounded_and_printable(void)
{
    char id[300], key[300];

    check_id("\"\"", 400, NULL);
    check_id("\"a\\nb\"", 400, NULL);
    check_id("\"a\\u007fb\"", 400, NULL);
    check_id("\"\xc3\xa9-1\"", 200, "candidate:\xc3\xa9-1");

    /* 256 bytes is the longest accepted id. */
    memset(id, 'x', sizeof(id));
    id[0] = '"';
    id[257] = '"';
    id[258] = '\0';
    snprintf(key, sizeof(key), "candidate:%.256s", id + 1);
    check_id(id, 200, key);
    id[257] = 'x';
    id[258] = '"';
    id[259] = '\0';
    check_id(id, 400, NULL);
}

static void test_nan_and_infinity_are_not_json(void)
{
    check_rejected("{\"EventType\":\"CandidateUpdated\",\"CandidateId\":NaN,"
                   "\"UserData\":\"k1\"}",
                   400, "body is not valid JSON");
    check_rejected("{\"EventType\":\"CandidateUpdated\",\"CandidateId\":"
                   "Infinity,\"UserData\":\"k1\"}",
                   400, "body is not valid JSON");
}

static void test_bodies_that_are_not_json_objects_are_400(void)
{
    check_rejected("", 400, "body is not valid JSON");
    check_rejected("hello", 400, "body is not valid JSON");
    check_rejected("{\"EventType\":", 400, "body is not valid JSON");
    check_rejected("{} x", 400, "body is not valid JSON");
    check_rejected("{}{}", 400, "body is not valid JSON");
    check_rejected("[1,2]", 400, "body is not a JSON object");
    check_rejected("\"text\"", 400, "body is not a JSON object");
    check_rejected("42", 400, "body is not a JSON object");
    check_rejected("{\"a\":\"\xff\"}", 400, "body is not valid UTF-8");
    check_rejected("{\"a\":\"\xed\xa0\x80\"}", 400, "body is not valid UTF-8");
    check_rejected("{\"a\":\"\xc0\xaf\"}", 400, "body is not valid UTF-8");

    struct notification n;
    const char nul[] = "{\"EventType\":\"X\",\"UserData\":\"k1\0\"}";
    setup();
    CHECK_INT_EQ(notification_judge(&rules, nul, sizeof(nul) - 1, &n), 400);
    CHECK_STR_EQ(n.error, "body is not valid JSON");
    notification_free(&n);
    /* Form feed is not JSON white space, though cJSON allows it. */
    check_rejected("{\"EventType\":\"X\",\f\"UserData\":\"k1\"}", 400,
                   "body is not valid JSON");
    /* Before a value, cJSON skips it too, but the user data scanner would
     * read it as the start of a number and cut the value short. */
    check_rejected("{\"EventType\":\x19\"CandidateUpdated\",\"CandidateId\":"
                   "1,\"UserData\":\"k1\"}",
                   400, "body is not valid JSON");
}

static void test_a_body_with_trailing_white_space_is_fine(void)
{
    struct notification n;

    CHECK_INT_EQ(judge("{\"EventType\":\"CandidateUpdated\",\"CandidateId\":"
                       "1,\"UserData\":\"k1\"}\r\n ",
                       &n),
                 200);
    notification_free(&n);
}

static void test_deep_nesting_is_400_before_parsing(void)
{
    char body[2 * 70 + 64];
    size_t n = 0;

    n += (size_t)snprintf(body, sizeof(body), "{\"x\":");
    for (int i = 0; i < 70; i++)
        body[n++] = '[';
    for (int i = 0; i < 70; i++)
        body[n++] = ']';
    body[n++] = '}';
    body[n] = '\0';
    check_rejected(body, 400, "body nests deeper than 64 levels");
    CHECK(json_depth_ok("{\"a\":\"[[[[[[[[\"}", 14, 2));
    CHECK(!json_depth_ok("[[[]]]", 6, 2));
}

static void test_checks_run_in_the_documented_order(void)
{
    /* Not JSON wins over a wrong key; a wrong key over a missing type. */
    check_rejected("{\"UserData\":\"bad\"", 400, "body is not valid JSON");
    check_rejected("{\"UserData\":\"bad\"}", 401, "UserData is wrong");
    check_rejected("{\"UserData\":\"bad\",\"EventType\":\"Nope\"}", 401,
                   "UserData is wrong");
}

static void test_content_types_that_carry_json(void)
{
    CHECK(notification_content_type_ok(NULL));
    CHECK(notification_content_type_ok("application/json"));
    CHECK(notification_content_type_ok("Application/JSON; charset=utf-8"));
    CHECK(notification_content_type_ok(" application/json ;charset=UTF-8"));
    CHECK(notification_content_type_ok("application/cloudevents+json"));
    CHECK(notification_content_type_ok("application/vnd.hrm+JSON; v=2"));
    CHECK(!notification_content_type_ok(""));
    CHECK(!notification_content_type_ok("text/plain"));
    CHECK(!notification_content_type_ok("application/jsonx"));
    CHECK(!notification_content_type_ok("application/x-www-form-urlencoded"));
    CHECK(!notification_content_type_ok("+json"));
    CHECK(!notification_content_type_ok("application/+json"));
    CHECK(!notification_content_type_ok("application/json+xml"));
}

static void test_received_at_is_rfc3339_utc_with_milliseconds(void)
{
    struct timespec ts = {1796119200, 123999999};
    char out[NOTIFICATION_TIME_MAX];

    CHECK_INT_EQ(notification_format_time(&ts, out), 24);
    CHECK_STR_EQ(out, "2026-12-01T10:00:00.123Z");
    ts.tv_nsec = 0;
    notification_format_time(&ts, out);
    CHECK_STR_EQ(out, "2026-12-01T10:00:00.000Z");
}

static void test_secret_parsing_trims_and_limits_keys(void)
{
    struct secret_keys k;
    char err[128];
    char big[SECRET_KEY_MAX + 2];

    CHECK_INT_EQ(secret_parse(&k, " one , two ", ',', err, sizeof(err)), 0);
    CHECK_INT_EQ(k.count, 2);
    CHECK(secret_matches(&k, "one", 3));
    CHECK(secret_matches(&k, "two", 3));
    CHECK(!secret_matches(&k, " one", 4));

    CHECK_INT_EQ(secret_parse(&k, "a\n\n b \n", '\n', err, sizeof(err)), 0);
    CHECK_INT_EQ(k.count, 2);
    CHECK(secret_matches(&k, "b", 1));

    CHECK_INT_EQ(secret_parse(&k, "a,,b", ',', err, sizeof(err)), -1);
    CHECK_STR_EQ(err, "a key is empty");
    CHECK_INT_EQ(secret_parse(&k, "a,b,c", ',', err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "at most 2");
    CHECK_INT_EQ(secret_parse(&k, " \n\n", '\n', err, sizeof(err)), -1);
    CHECK_STR_EQ(err, "no key given");

    memset(big, 'x', sizeof(big));
    big[SECRET_KEY_MAX + 1] = '\0';
    CHECK_INT_EQ(secret_parse(&k, big, ',', err, sizeof(err)), -1);
    CHECK(strstr(err, "xxx") == NULL);
    big[SECRET_KEY_MAX] = '\0';
    CHECK_INT_EQ(secret_parse(&k, big, ',', err, sizeof(err)), 0);
    CHECK(secret_matches(&k, big, SECRET_KEY_MAX));
}

static void test_secret_matches_only_the_exact_key(void)
{
    struct secret_keys k;
    char err[128];
    char longer[SECRET_KEY_MAX + 10];

    CHECK_INT_EQ(secret_parse(&k, "s3cret", ',', err, sizeof(err)), 0);
    CHECK(secret_matches(&k, "s3cret", 6));
    CHECK(!secret_matches(&k, "s3cre", 5));
    CHECK(!secret_matches(&k, "s3cret\0", 7));
    CHECK(!secret_matches(&k, "S3cret", 6));
    CHECK(!secret_matches(&k, "", 0));

    memset(longer, 0, sizeof(longer));
    memcpy(longer, "s3cret", 6);
    CHECK(!secret_matches(&k, longer, sizeof(longer)));

    /* An unused second slot is all zeros: it must not match "". */
    CHECK_INT_EQ(k.count, 1);
    CHECK(!secret_matches(&k, "\0", 1));
    secret_clear(&k);
    CHECK_INT_EQ(k.count, 0);
}

CHECK_MAIN(test_candidate_with_number_id_goes_to_raw_topic,
           test_string_id_is_used_as_is, test_delete_event_keeps_its_action,
           test_user_data_is_removed_wherever_it_stands,
           test_user_data_written_with_escapes_is_removed_too,
           test_every_copy_of_a_repeated_user_data_is_removed,
           test_nested_objects_unicode_and_big_numbers_are_kept,
           test_both_rotation_keys_are_accepted,
           test_wrong_or_missing_user_data_is_401,
           test_without_keys_no_user_data_is_needed_but_any_is_removed,
           test_unknown_event_type_is_unrouted_keyed_by_the_type,
           test_unknown_event_type_needs_no_id,
           test_event_type_missing_or_not_a_string_is_400,
           test_missing_id_is_400_naming_the_field,
           test_number_ids_must_be_whole_and_exact, test_other_id_types_are_400,
           test_string_ids_are_bounded_and_printable,
           test_nan_and_infinity_are_not_json,
           test_bodies_that_are_not_json_objects_are_400,
           test_a_body_with_trailing_white_space_is_fine,
           test_deep_nesting_is_400_before_parsing,
           test_checks_run_in_the_documented_order,
           test_content_types_that_carry_json,
           test_received_at_is_rfc3339_utc_with_milliseconds,
           test_secret_parsing_trims_and_limits_keys,
           test_secret_matches_only_the_exact_key)
