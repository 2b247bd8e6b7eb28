/*
 * buf.h - a growable byte buffer with a hard maximum.
 *
 * Everything the network feeds (request bodies, API replies, rendered
 * metrics) lands in a buf, and every buf has a ceiling from the moment it
 * is made, so a hostile or broken peer cannot make a process grow without
 * bound. Not thread-safe: one owner at a time.
 */
#ifndef HOOKBRIDGE_BUF_H
#define HOOKBRIDGE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* len never exceeds this */
};

/* An empty buffer that may grow to `max` bytes; allocates nothing yet. */
void buf_init(struct buf *b, size_t max);

/* Appends; returns 0, or -1 (buffer unchanged) when over max. */
int buf_append(struct buf *b, const void *data, size_t len);

/* printf-style append; returns 0, or -1 (buffer unchanged) when over max. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);

/* Frees the memory; the buffer may be reused after buf_init(). */
void buf_free(struct buf *b);

#endif
