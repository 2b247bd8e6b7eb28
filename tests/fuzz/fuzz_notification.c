/*
 * fuzz_notification.c - hostile webhook bodies against the ingest's
 * judgement, with the built-in catalog.
 *
 * The first input byte picks the mode: an even byte judges with two
 * configured keys, an odd one without authentication (as with
 * HOOKBRIDGE_ALLOW_UNAUTHENTICATED=1). The rest is the body. Beyond what
 * the sanitizers catch, every accepted notification is checked for what
 * the ingest promises: a key and topic, and a value that is a JSON object
 * with no trace of the user data member.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "catalog.h"
#include "notification.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct catalog *catalog;
static struct secret_keys keys;

static void fuzz_setup(void)
{
    char err[256];

    catalog = catalog_load(NULL, err, sizeof(err));
    if (catalog == NULL ||
        secret_parse(&keys, "fuzz-shared-key, fuzz-rotated-key", ',', err,
                     sizeof(err)) != 0)
        abort();
}

/* The promises a 200 makes; any broken one is a finding. */
static void fuzz_check_accepted(const struct notification *n)
{
    if (n->key == NULL || n->topic == NULL || n->event_type == NULL ||
        n->value.data == NULL || strlen(n->value.data) != n->value.len)
        abort();

    cJSON *value = cJSON_ParseWithLength(n->value.data, n->value.len);
    if (!cJSON_IsObject(value) ||
        cJSON_GetObjectItemCaseSensitive(value, catalog->user_data_field))
        abort();
    cJSON_Delete(value);

    /* The published value, judged again without a key, must route to the
     * same key and come out unchanged: the cut lost nothing else. */
    struct notification_rules open = {catalog, NULL, "hrm.events.raw",
                                      "hrm.events.unrouted"};
    struct notification again;
    if (notification_judge(&open, n->value.data, n->value.len, &again) != 200 ||
        strcmp(again.key, n->key) != 0 || again.topic != n->topic ||
        strcmp(again.value.data, n->value.data) != 0)
        abort();
    notification_free(&again);
}

/* A 400 or 401 leaves nothing allocated and names the problem. */
static void fuzz_check_rejected(const struct notification *n)
{
    if (n->key != NULL || n->topic != NULL || n->error[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct notification n;

    if (catalog == NULL)
        fuzz_setup();
    if (size == 0)
        return 0;

    struct notification_rules rules = {catalog, (data[0] & 1) ? NULL : &keys,
                                       "hrm.events.raw", "hrm.events.unrouted"};
    int status =
        notification_judge(&rules, (const char *)data + 1, size - 1, &n);

    if (status != n.status)
        abort();
    if (status == 200)
        fuzz_check_accepted(&n);
    else if (status == 400 || status == 401)
        fuzz_check_rejected(&n);
    else
        abort();
    notification_free(&n);
    return 0;
}
