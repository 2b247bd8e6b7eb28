/*
 * commit.h - the per-partition ledger of raw offsets and what may be
 * committed.
 *
 * Raw records are answered out of order: a key folded for a second waits
 * while later keys are published at once. A consumer offset, though, says
 * "everything before this is done", so the ledger remembers, for each
 * assigned partition, every consumed offset not yet done, and the
 * committable offset is the first of those (or one past the last consumed
 * when all are done). Nothing acknowledged is lost: an offset is never
 * committed before every record at or below it is answered.
 *
 * Pure and single-threaded.
 */
#ifndef HOOKBRIDGE_COMMIT_H
#define HOOKBRIDGE_COMMIT_H

#include <stdint.h>

struct ledger;

/* An empty ledger. Returns NULL on OOM. */
struct ledger *ledger_new(void);
void ledger_free(struct ledger *l);

/*
 * Records that `offset` of `partition` was consumed and is not done.
 * Offsets of one partition come in ascending order (gaps allowed).
 * Returns 0, -1 on OOM, or -2 when `offset` is not past the last one
 * added (a record delivered again after a rewind raced it: skip it).
 */
int ledger_add(struct ledger *l, int32_t partition, int64_t offset);

/*
 * Marks a consumed offset done. Returns 0, or -1 when the ledger does not
 * hold it (already done, or its partition was dropped since).
 */
int ledger_done(struct ledger *l, int32_t partition, int64_t offset);

/*
 * The offset to commit for `partition`: the first consumed offset not yet
 * done, or one past the last consumed when all are done. -1 when nothing
 * was consumed from it.
 */
int64_t ledger_committable(const struct ledger *l, int32_t partition);

/* Offsets of `partition` held: consumed and not yet committable. */
int64_t ledger_outstanding(const struct ledger *l, int32_t partition);

/* Forgets `partition` (revoked, or rewound to its committed offset). */
void ledger_drop(struct ledger *l, int32_t partition);

/* The committed mark: what was last committed for `partition`, -1 if
 * nothing; the caller commits only when committable moves past it. */
int64_t ledger_committed(const struct ledger *l, int32_t partition);
void ledger_set_committed(struct ledger *l, int32_t partition, int64_t off);

#endif
