/*
 * buf.c - the bounded growable buffer; see buf.h.
 *
 * Capacity doubles so that appending n bytes one at a time costs O(n),
 * and never passes max + 1 (the extra byte is the terminating NUL), so
 * the ceiling holds for memory as well as for content.
 */
#include "buf.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BUF_MIN_CAP = 64 };

void buf_init(struct buf *b, size_t max)
{
    /* max + 1 bytes are allocated at most, so max itself must fit. */
    assert(b != NULL && max < SIZE_MAX);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Makes room for `need` bytes of content plus the NUL. */
static int buf_reserve(struct buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;

    if (need > b->max)
        return -1;
    if (b->data != NULL && need < b->cap)
        return 0;

    while (cap <= need && cap <= b->max / 2)
        cap *= 2;
    if (cap <= need || cap > b->max + 1)
        cap = b->max + 1;

    char *data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    assert(b != NULL);
    assert(data != NULL || len == 0);

    if (len > b->max - b->len || buf_reserve(b, b->len + len) != 0)
        return -1;

    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    assert(b != NULL && fmt != NULL);

    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n > b->max - b->len ||
        buf_reserve(b, b->len + (size_t)n) != 0)
        return -1;

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_reset(struct buf *b)
{
    assert(b != NULL);
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
    assert(b != NULL);
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
