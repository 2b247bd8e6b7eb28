/*
 * catalog.h - what each HR Manager event type means, loaded from data.
 *
 * The catalog maps an event type (CandidateUpdated) to an object kind
 * (candidate) and an action (upsert or delete), and says for each kind
 * which payload field holds the id, how to fetch one object from the REST
 * API, where the object sits in the reply and which topic receives it.
 * The HR Manager default is built in (common/hrm-catalog.json);
 * HOOKBRIDGE_CATALOG names a replacement file of the same shape:
 *
 *   {"event_type_field": "EventType", "user_data_field": "UserData",
 *    "kinds": {"candidate": {"id_field": "CandidateId",
 *                            "fetch_path": "Candidates/?canid={id}",
 *                            "object_pointer": "/Items/0",
 *                            "topic": "hrm.candidate"}, ...},
 *    "events": {"CandidateUpdated": {"kind": "candidate",
 *                                    "action": "upsert"}, ...}}
 *
 * A loaded catalog is immutable and may be read from any thread.
 */
#ifndef HOOKBRIDGE_CATALOG_H
#define HOOKBRIDGE_CATALOG_H

#include <stddef.h>

enum catalog_action { CATALOG_UPSERT, CATALOG_DELETE };

struct catalog_kind {
    char *name;           /* candidate */
    char *id_field;       /* CandidateId */
    char *fetch_path;     /* Candidates/?canid={id}; exactly one {id} */
    char *object_pointer; /* JSON Pointer (RFC 6901) into the reply */
    char *topic;          /* hrm.candidate */
};

struct catalog_event {
    char *type; /* CandidateUpdated */
    const struct catalog_kind *kind;
    enum catalog_action action;
};

struct catalog {
    char *event_type_field; /* EventType */
    char *user_data_field;  /* UserData */
    struct catalog_kind *kinds;
    size_t nkinds;
    struct catalog_event *events;
    size_t nevents;
};

/* The built-in HR Manager catalog as JSON text. */
extern const char catalog_default_json[];

/*
 * Parses and checks a catalog. Every string must be non-empty; each kind
 * needs all five fields, a fetch_path with exactly one "{id}" and an
 * object_pointer that is "" or starts with '/'; each event names a known
 * kind and "upsert" or "delete"; names are unique. On failure returns NULL
 * and writes one line to `err` naming the entry, e.g.
 * "kinds.candidate.topic: missing". The caller owns the result.
 */
struct catalog *catalog_parse(const char *json, size_t len, char *err,
                              size_t errlen);

/*
 * Loads `path` (NULL means the built-in default) and checks it as
 * catalog_parse() does; errors are prefixed with the path.
 */
struct catalog *catalog_load(const char *path, char *err, size_t errlen);

/* The event entry for `type`, or NULL when the catalog does not know it. */
const struct catalog_event *catalog_lookup(const struct catalog *c,
                                           const char *type);

/* The kind called `name`, or NULL. */
const struct catalog_kind *catalog_kind_find(const struct catalog *c,
                                             const char *name);

/*
 * Writes kind->fetch_path with {id} replaced by `id` (URL-escaped) into
 * buf. Returns the length, or -1 when it does not fit.
 */
int catalog_fetch_path(const struct catalog_kind *kind, const char *id,
                       char *buf, size_t len);

void catalog_free(struct catalog *c);

#endif
