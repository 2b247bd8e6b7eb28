/*
 * fuzz_catalog.c - hostile catalog files against catalog_parse().
 *
 * A catalog comes from a file an operator names, so a broken one must end
 * in one clear error line, never a crash. Whatever parses is then used the
 * way both programs use it: every event looked up by its type, every kind
 * by its name, every fetch path expanded with an id that needs escaping.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_use(const struct catalog *c)
{
    char path[1024];

    for (size_t i = 0; i < c->nevents; i++) {
        if (catalog_lookup(c, c->events[i].type) != &c->events[i])
            abort();
    }
    for (size_t i = 0; i < c->nkinds; i++) {
        const struct catalog_kind *kind = &c->kinds[i];

        if (catalog_kind_find(c, kind->name) != kind)
            abort();
        int len = catalog_fetch_path(kind, "12 34/&?#%", path, sizeof(path));
        if (len >= 0 && (size_t)len != strlen(path))
            abort();
        (void)catalog_fetch_path(kind, "1", path, 4);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];

    err[0] = '\0';
    struct catalog *c =
        catalog_parse((const char *)data, size, err, sizeof(err));
    if (c == NULL) {
        if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
            abort();
        return 0;
    }
    fuzz_use(c);
    catalog_free(c);
    return 0;
}
