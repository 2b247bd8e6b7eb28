/*
 * secret.h - the shared "User Data" key that authenticates HR Manager.
 *
 * HR Manager can attach one static string to every webhook; the ingest
 * accepts a notification only when that string equals a configured key.
 * Up to two keys are held at once so an administrator can rotate the key
 * without a window in which good notifications are refused. Comparison
 * takes the same time whatever the candidate holds, so a caller cannot
 * learn a key's length or a matching prefix by timing replies.
 *
 * A parsed set is immutable and may be read from any thread.
 */
#ifndef HOOKBRIDGE_SECRET_H
#define HOOKBRIDGE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

enum { SECRET_KEYS_MAX = 2, SECRET_KEY_MAX = 512 };

struct secret_keys {
    size_t count;
    size_t len[SECRET_KEYS_MAX];
    /* Zero-padded to SECRET_KEY_MAX so every comparison reads the same
     * number of bytes. */
    unsigned char key[SECRET_KEYS_MAX][SECRET_KEY_MAX];
};

/*
 * Splits `text` at `sep` (',' for HOOKBRIDGE_SECRET, '\n' for a secret
 * file), trims white space around each key and skips empty lines when
 * `sep` is '\n'. Needs one or two keys of 1 to SECRET_KEY_MAX bytes.
 * Returns 0, or -1 with `err` saying what is wrong without quoting any
 * key. Call from main() only.
 */
int secret_parse(struct secret_keys *keys, const char *text, char sep,
                 char *err, size_t errlen);

/*
 * True when `candidate` (`len` bytes) equals one of the keys. Runs over
 * the full padded length of every key slot, whatever `len` is. Any
 * thread.
 */
bool secret_matches(const struct secret_keys *keys, const char *candidate,
                    size_t len);

/* Overwrites the keys so they do not linger in freed memory. */
void secret_clear(struct secret_keys *keys);

#endif
