/*
 * fold.h - per-key state: which objects need an answer, and when.
 *
 * HR Manager sends many notifications for the same object in a burst.
 * The fold keeps one small entry per key (candidate:1234) and turns the
 * burst into one answer: the first pending notification at t makes the
 * key due at t + window, later ones only join it, and the last action
 * (upsert or delete) wins. While a key's answer is being prepared (its
 * fetch is in flight) new notifications mark it pending again, so a
 * second answer follows, started no earlier than one window after the
 * first: the final state is always fetched by a fetch that started after
 * the last notification, yet at most one fetch per key per window.
 *
 * Each entry remembers the raw offsets its answer covers, so they can be
 * marked done once that answer is acknowledged, and the newest raw record
 * (compactly, see fold_raw_*) for the DLQ and the CloudEvents headers.
 *
 * Pure and single-threaded: the caller passes the time in.
 */
#ifndef HOOKBRIDGE_FOLD_H
#define HOOKBRIDGE_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

enum fold_state {
    FOLD_PENDING,  /* waiting for due_ms */
    FOLD_ANSWERING /* begun: a fetch in flight or a retry not yet due */
};

struct fold_entry {
    struct fold_entry *next;           /* hash chain; fold-internal */
    const struct catalog_event *event; /* newest: kind, action, type */
    unsigned char *raw;                /* newest raw record (fold_raw) */
    int64_t *offsets;                  /* raw offsets not yet answered */
    int64_t offset0;                   /* storage while there is one */
    int64_t pending_since_ms;          /* first unanswered notification */
    int64_t due_ms;                    /* when pending: start then */
    int64_t last_begin_ms;             /* last fetch start; -1 for none */
    uint32_t noffsets, capoffsets;
    uint32_t nanswering; /* offsets[0..n) being answered */
    int32_t heap_index;  /* -1 when not scheduled */
    int32_t partition;   /* raw partition of the key */
    uint16_t attempts;   /* fetches tried for this answer */
    uint8_t state;       /* enum fold_state */
    char key[];          /* kind:id, NUL-terminated */
};

/* One raw notification, as the consumer turned it into fold input. */
struct fold_input {
    const char *key;
    size_t keylen;
    int32_t partition;
    int64_t offset;
    const struct catalog_event *event;
    unsigned char *raw; /* from fold_raw_pack(); the fold takes it over */
};

enum fold_added { FOLD_ADDED_NEW = 0, FOLD_ADDED_FOLDED = 1 };

struct fold;

/* A fold with the given window (>= 0 ms). Returns NULL on OOM. */
struct fold *fold_new(int64_t window_ms);

/* Frees every entry and the fold. */
void fold_free(struct fold *f);

/*
 * Adds one notification at `now_ms`. Returns FOLD_ADDED_NEW when it
 * started a new pending answer for its key, FOLD_ADDED_FOLDED when it
 * joined one already pending, or -1 on OOM (nothing taken over).
 */
int fold_add(struct fold *f, const struct fold_input *in, int64_t now_ms);

/* The entry for `key`, or NULL. */
struct fold_entry *fold_find(struct fold *f, const char *key);

/* The pending entry with the earliest due time if it is due at `now_ms`. */
struct fold_entry *fold_due(struct fold *f, int64_t now_ms);

/* The earliest due time of any pending entry, or INT64_MAX. */
int64_t fold_next_due_ms(const struct fold *f);

/*
 * Marks the start of an answer to everything pending in `e` (a fetch, or
 * a tombstone that needs none): the offsets so far are what the answer
 * covers; later notifications wait for the next one. `fetch` says
 * whether an API call starts now (it counts toward the window).
 */
void fold_begin(struct fold *f, struct fold_entry *e, int fetch,
                int64_t now_ms);

/*
 * Puts an answering entry back to pending, due at `due_ms`, keeping its
 * attempts (a retry after a failed fetch).
 */
void fold_retry(struct fold *f, struct fold_entry *e, int64_t due_ms);

/*
 * Finishes the answer of `e`: copies the offsets it covered into
 * `out` (capacity `cap`, must be >= e->nanswering; `out` may be NULL to
 * skip the copy) and returns their number. When notifications came in meanwhile
 * the entry becomes pending again, due one window after the first of them and
 * no earlier than one window after the last fetch start; otherwise the entry is
 * freed (`e` is then invalid) and *freed is set.
 */
uint32_t fold_finish(struct fold *f, struct fold_entry *e, int64_t *out,
                     uint32_t cap, int *freed);

/*
 * Removes every entry of `partition` (a revoked or rewound partition)
 * without answering it. Returns how many were removed.
 */
size_t fold_drop_partition(struct fold *f, int32_t partition);

/* Entries held. */
size_t fold_count(const struct fold *f);

/*
 * The compact copy of a raw record: value (possibly null), headers and
 * the record timestamp in one allocation.
 */
struct fold_header {
    const char *name;
    const void *value; /* NULL for a null header value */
    size_t len;
};

/*
 * Packs a record into one malloc'd block (caller owns it). Returns NULL
 * on OOM or when a header name or value is longer than 65535 bytes.
 */
unsigned char *fold_raw_pack(const void *value, size_t len, int has_value,
                             const struct fold_header *headers, size_t nheaders,
                             int64_t timestamp_ms);

/* The record's value; *has_value is 0 for a null value. */
const void *fold_raw_value(const unsigned char *raw, size_t *len,
                           int *has_value);

/* The record's timestamp (ms since the epoch). */
int64_t fold_raw_timestamp(const unsigned char *raw);

/* Header count, and header i (0-based) of the record. */
size_t fold_raw_nheaders(const unsigned char *raw);
void fold_raw_header(const unsigned char *raw, size_t i,
                     struct fold_header *out);

/*
 * Copies the last header named `name` as a string into buf (truncated,
 * NUL-terminated). Returns 0, or -1 when absent or null.
 */
int fold_raw_header_str(const unsigned char *raw, const char *name, char *buf,
                        size_t len);

#endif
