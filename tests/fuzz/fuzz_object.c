/*
 * fuzz_object.c - hostile API replies against object_extract() and
 * object_date_rewrite().
 *
 * The first input byte picks a JSON Pointer from a small table (the
 * catalog's "/Items/0" and the odd forms RFC 6901 allows); the rest is the
 * reply. The same bytes, as a C string, also go to the date rewrite, whose
 * output must then have the exact RFC 3339 shape downstream relies on.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_pointers[] = {
    "/Items/0",    "",           "/Items/-", "/Items/00",
    "/a~1b/~0c/1", "/Items/0/x", "Items",    "/~2",
};

enum { FUZZ_TEXT_MAX = 4096 };

/* 2018-04-10T09:49:11.000Z: digits everywhere but these places. */
static void fuzz_check_date(const char *iso)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

    if (strlen(iso) != sizeof(shape) - 1)
        abort();
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)iso[i])
                            : iso[i] != shape[i])
            abort();
    }
}

static void fuzz_date(const uint8_t *data, size_t size)
{
    char text[FUZZ_TEXT_MAX + 1];
    char iso[32];

    if (size > FUZZ_TEXT_MAX)
        size = FUZZ_TEXT_MAX;
    memcpy(text, data, size);
    text[size] = '\0';
    if (object_date_rewrite(text, iso, sizeof(iso)) == 0)
        fuzz_check_date(iso);
}

static void fuzz_extract(const char *pointer, const char *body, size_t len)
{
    char err[256];
    char *out = NULL;
    size_t outlen = 0;

    err[0] = '\0';
    enum object_verdict v =
        object_extract(body, len, pointer, &out, &outlen, err, sizeof(err));
    if (v == OBJECT_FOUND) {
        cJSON *obj = cJSON_ParseWithLength(out, outlen);
        if (out == NULL || strlen(out) != outlen || !cJSON_IsObject(obj))
            abort();
        cJSON_Delete(obj);
        (void)object_hash(out, outlen);
    } else if (out != NULL || (v == OBJECT_INVALID && err[0] == '\0')) {
        abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t npointers = sizeof(fuzz_pointers) / sizeof(fuzz_pointers[0]);

    if (size == 0)
        return 0;
    fuzz_date(data + 1, size - 1);
    fuzz_extract(fuzz_pointers[data[0] % npointers], (const char *)data + 1,
                 size - 1);
    return 0;
}
