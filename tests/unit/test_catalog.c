/*
 * test_catalog.c - the built-in catalog is DESIGN.md section 2 exactly, a
 * broken catalog is refused with a line naming the entry, and ids are
 * escaped into fetch paths.
 */
#include "catalog.h"

#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static const struct {
    const char *name, *id_field, *fetch_path, *object_pointer, *topic;
} design_kinds[] = {
    {"candidate", "CandidateId", "Candidates/?canid={id}", "/Items/0",
     "hrm.candidate"},
    {"position", "PositionId", "Positions/?posid={id}", "/Items/0",
     "hrm.position"},
    {"project", "ProjectId", "Projects/?projectid={id}", "/Items/0",
     "hrm.project"},
    {"advertisement", "AdvertisementId", "Advertisements/?adid={id}",
     "/Items/0", "hrm.advertisement"},
    {"layout-template", "LayoutTemplateId", "LayoutTemplates/?id={id}",
     "/Items/0", "hrm.layout-template"},
    {"questionnaire", "QuestionnaireId", "Questionnaires/?id={id}", "/Items/0",
     "hrm.questionnaire"},
    {"calendar-invite", "CalendarInviteId", "CalendarInvites/?id={id}",
     "/Items/0", "hrm.calendar-invite"},
};

static const struct {
    const char *type, *kind;
    enum catalog_action action;
} design_events[] = {
    {"PositionPublished", "position", CATALOG_UPSERT},
    {"PositionUnpublished", "position", CATALOG_UPSERT},
    {"ProjectCreated", "project", CATALOG_UPSERT},
    {"ProjectUpdated", "project", CATALOG_UPSERT},
    {"ProjectDeactivated", "project", CATALOG_UPSERT},
    {"ProjectDeleted", "project", CATALOG_DELETE},
    {"SendCalendarInvite", "calendar-invite", CATALOG_UPSERT},
    {"CandidateRegistered", "candidate", CATALOG_UPSERT},
    {"CandidateUpdated", "candidate", CATALOG_UPSERT},
    {"CandidateStatusUpdated", "candidate", CATALOG_UPSERT},
    {"CandidateHired", "candidate", CATALOG_UPSERT},
    {"CandidateDeleted", "candidate", CATALOG_DELETE},
    {"CandidateDeletedByUser", "candidate", CATALOG_DELETE},
    {"CandidateDeletedOwn", "candidate", CATALOG_DELETE},
    {"AdvertisementUpdated", "advertisement", CATALOG_UPSERT},
    {"AdvertisementPublished", "advertisement", CATALOG_UPSERT},
    {"AdvertisementUnPublished", "advertisement", CATALOG_UPSERT},
    {"LayoutTemplatePublished", "layout-template", CATALOG_UPSERT},
    {"LayoutTemplateUnpublished", "layout-template", CATALOG_UPSERT},
    {"QuestionnaireUpdated", "questionnaire", CATALOG_UPSERT},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_the_built_in_catalog_has_the_seven_design_kinds(void)
{
    char err[256] = "";
    struct catalog *c = catalog_load(NULL, err, sizeof(err));

    CHECK_STR_EQ(err, "");
    if (c == NULL)
        return;
    CHECK_INT_EQ(c->nkinds, 7);
    for (size_t i = 0; i < COUNT(design_kinds); i++) {
        const struct catalog_kind *k =
            catalog_kind_find(c, design_kinds[i].name);

        CHECK(k != NULL);
        if (k == NULL)
            continue;
        CHECK_STR_EQ(k->name, design_kinds[i].name);
        CHECK_STR_EQ(k->id_field, design_kinds[i].id_field);
        CHECK_STR_EQ(k->fetch_path, design_kinds[i].fetch_path);
        CHECK_STR_EQ(k->object_pointer, design_kinds[i].object_pointer);
        CHECK_STR_EQ(k->topic, design_kinds[i].topic);
    }
    catalog_free(c);
}

static void test_the_built_in_catalog_has_the_twenty_design_events(void)
{
    char err[256] = "";
    struct catalog *c = catalog_load(NULL, err, sizeof(err));

    if (c == NULL) {
        CHECK_STR_EQ(err, "");
        return;
    }
    CHECK_INT_EQ(c->nevents, 20);
    for (size_t i = 0; i < COUNT(design_events); i++) {
        const struct catalog_event *e =
            catalog_lookup(c, design_events[i].type);

        CHECK(e != NULL);
        if (e == NULL)
            continue;
        CHECK_STR_EQ(e->type, design_events[i].type);
        CHECK_STR_EQ(e->kind->name, design_events[i].kind);
        CHECK_INT_EQ(e->action, design_events[i].action);
        CHECK(e->kind == catalog_kind_find(c, design_events[i].kind));
    }
    CHECK_STR_EQ(c->event_type_field, "EventType");
    CHECK_STR_EQ(c->user_data_field, "UserData");
    catalog_free(c);
}

static void test_lookup_is_exact_and_unknown_types_give_null(void)
{
    char err[256];
    struct catalog *c = catalog_load(NULL, err, sizeof(err));

    if (c == NULL)
        return;
    CHECK(catalog_lookup(c, "CandidateUpdate") == NULL);
    CHECK(catalog_lookup(c, "candidateupdated") == NULL);
    CHECK(catalog_lookup(c, "") == NULL);
    CHECK(catalog_kind_find(c, "Candidate") == NULL);
    CHECK(catalog_kind_find(c, "nope") == NULL);
    catalog_free(c);
}

/* A small valid catalog; each broken case edits one part of it. */
static const char good[] =
    "{\"event_type_field\": \"Type\", \"user_data_field\": \"Key\","
    " \"kinds\": {\"candidate\": {\"id_field\": \"CandidateId\","
    " \"fetch_path\": \"Candidates/?canid={id}\","
    " \"object_pointer\": \"/Items/0\", \"topic\": \"hrm.candidate\"}},"
    " \"events\": {\"CandidateUpdated\": {\"kind\": \"candidate\","
    " \"action\": \"upsert\"}, \"CandidateDeleted\": {\"kind\":"
    " \"candidate\", \"action\": \"delete\"}}}";

/* `good` with the first `from` replaced by `to`, on the heap. */
static char *edit(const char *from, const char *to)
{
    const char *at = strstr(good, from);
    size_t head, flen = strlen(from), tlen = strlen(to);
    char *out;

    if (at == NULL) {
        fprintf(stderr, "test bug: '%s' is not in the catalog\n", from);
        abort();
    }
    head = (size_t)(at - good);
    out = malloc(strlen(good) - flen + tlen + 1);
    memcpy(out, good, head);
    memcpy(out + head, to, tlen);
    strcpy(out + head + tlen, at + flen);
    return out;
}

static void test_a_small_valid_catalog_loads_with_its_own_field_names(void)
{
    char err[256] = "";
    struct catalog *c = catalog_parse(good, strlen(good), err, sizeof(err));

    CHECK_STR_EQ(err, "");
    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_STR_EQ(c->event_type_field, "Type");
    CHECK_STR_EQ(c->user_data_field, "Key");
    CHECK_INT_EQ(c->nkinds, 1);
    CHECK_INT_EQ(c->nevents, 2);
    CHECK_INT_EQ(catalog_lookup(c, "CandidateDeleted")->action, CATALOG_DELETE);
    catalog_free(c);
}

static void test_absent_field_names_default_to_the_hr_manager_ones(void)
{
    char *json = edit("\"event_type_field\": \"Type\", "
                      "\"user_data_field\": \"Key\",",
                      "");
    char err[256] = "";
    struct catalog *c = catalog_parse(json, strlen(json), err, sizeof(err));

    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_STR_EQ(c->event_type_field, "EventType");
        CHECK_STR_EQ(c->user_data_field, "UserData");
    }
    catalog_free(c);
    free(json);
}

static void test_an_empty_object_pointer_means_the_whole_reply(void)
{
    char *json = edit("\"/Items/0\"", "\"\"");
    char err[256] = "";
    struct catalog *c = catalog_parse(json, strlen(json), err, sizeof(err));

    CHECK_STR_EQ(err, "");
    if (c != NULL)
        CHECK_STR_EQ(catalog_kind_find(c, "candidate")->object_pointer, "");
    catalog_free(c);
    free(json);
}

static const struct broken {
    const char *from, *to, *error;
} broken[] = {
    {"{\"event_type_field\"", "[{\"event_type_field\"",
     "not valid JSON near byte"},
    {"\"topic\": \"hrm.candidate\"", "\"topic\": ", "not valid JSON near byte"},
    {", \"topic\": \"hrm.candidate\"", "", "kinds.candidate.topic: missing"},
    {", \"object_pointer\": \"/Items/0\"", "",
     "kinds.candidate.object_pointer: missing"},
    {"\"id_field\": \"CandidateId\",", "", "kinds.candidate.id_field: missing"},
    {"\"Candidates/?canid={id}\"", "\"Candidates/\"",
     "kinds.candidate.fetch_path: must contain {id} exactly once"},
    {"\"Candidates/?canid={id}\"", "\"Candidates/{id}?canid={id}\"",
     "kinds.candidate.fetch_path: must contain {id} exactly once"},
    {"\"Candidates/?canid={id}\"", "\"\"",
     "kinds.candidate.fetch_path: must not be empty"},
    {"\"/Items/0\"", "\"Items/0\"", "kinds.candidate.object_pointer: must be"},
    {"\"hrm.candidate\"", "\"hrm candidate\"", "kinds.candidate.topic: must"},
    {"\"hrm.candidate\"", "\"\"", "kinds.candidate.topic: must not be empty"},
    {"\"CandidateId\"", "\"\"", "kinds.candidate.id_field: must not be empty"},
    {"\"CandidateId\"", "17", "kinds.candidate.id_field: must be a string"},
    {"\"topic\"", "\"topc\"", "kinds.candidate.topc: unknown field"},
    {"\"topic\": \"hrm.candidate\"",
     "\"topic\": \"hrm.candidate\", \"topic\": \"x\"",
     "kinds.candidate.topic: appears twice"},
    {"{\"candidate\": {\"id_field\"", "{\"candidate\": 1, \"x\": {\"id_field\"",
     "kinds.candidate: must be an object"},
    {"{\"candidate\": {\"id_field\"", "{\"cand:idate\": {\"id_field\"",
     "kinds.cand:idate: name must not contain ':'"},
    {"{\"candidate\": {\"id_field\"", "{\"\": {\"id_field\"",
     "kinds: an entry has an empty name"},
    {"\"kind\": \"candidate\", \"action\": \"upsert\"",
     "\"kind\": \"x\", \"action\": \"upsert\"",
     "events.CandidateUpdated.kind: unknown kind 'x'"},
    {"\"kind\": \"candidate\", \"action\": \"upsert\"",
     "\"action\": \"upsert\"", "events.CandidateUpdated.kind: missing"},
    {"\"kind\": \"candidate\", \"action\": \"upsert\"",
     "\"kind\": 3, \"action\": \"upsert\"",
     "events.CandidateUpdated.kind: must be a string"},
    {"\"action\": \"upsert\"", "\"action\": \"update\"",
     "events.CandidateUpdated.action: must be \"upsert\" or \"delete\""},
    {", \"action\": \"upsert\"", "", "events.CandidateUpdated.action: missing"},
    {"\"action\": \"upsert\"", "\"action\": \"upsert\", \"why\": 1",
     "events.CandidateUpdated.why: unknown field"},
    {"\"CandidateDeleted\"", "\"CandidateUpdated\"",
     "events.CandidateUpdated: appears twice"},
    {"\"CandidateUpdated\": {\"kind\"",
     "\"CandidateUpdated\": [], \"A\": {\"kind\"",
     "events.CandidateUpdated: must be an object"},
    {"\"kinds\"", "\"kindz\"", "kindz: unknown field"},
    {"\"Type\"", "\"\"", "event_type_field: must not be empty"},
    {"\"Key\"", "null", "user_data_field: must be a string"},
};

static void test_every_broken_catalog_is_refused_naming_the_entry(void)
{
    for (size_t i = 0; i < COUNT(broken); i++) {
        char *json = edit(broken[i].from, broken[i].to);
        char err[256] = "";
        struct catalog *c = catalog_parse(json, strlen(json), err, sizeof(err));

        CHECK(c == NULL);
        CHECK_CONTAINS(err, broken[i].error);
        catalog_free(c);
        free(json);
    }
}

static void test_missing_and_empty_sections_are_refused(void)
{
    static const struct {
        const char *json, *error;
    } cases[] = {
        {"{\"events\": {}}", "kinds: missing"},
        {"{\"kinds\": {}, \"events\": {}}",
         "kinds: must be an object with at least one entry"},
        {"{\"kinds\": [], \"events\": {}}",
         "kinds: must be an object with at least one entry"},
        {"{\"kinds\": {\"k\": {\"id_field\": \"I\", \"fetch_path\": \"{id}\","
         " \"object_pointer\": \"\", \"topic\": \"t\"}}}",
         "events: missing"},
        {"{\"kinds\": {\"k\": {\"id_field\": \"I\", \"fetch_path\": \"{id}\","
         " \"object_pointer\": \"\", \"topic\": \"t\"}}, \"events\": {}}",
         "events: must be an object with at least one entry"},
        {"[]", "must be a JSON object"},
        {"", "not valid JSON"},
    };

    for (size_t i = 0; i < COUNT(cases); i++) {
        char err[256] = "";
        struct catalog *c = catalog_parse(cases[i].json, strlen(cases[i].json),
                                          err, sizeof(err));

        CHECK(c == NULL);
        CHECK_CONTAINS(err, cases[i].error);
        catalog_free(c);
    }
}

static void test_a_catalog_over_one_mebibyte_is_refused(void)
{
    size_t len = 1024 * 1024 + 1;
    char *json = malloc(len + 1);
    char err[256] = "";

    memset(json, ' ', len);
    json[0] = '{';
    json[len - 1] = '}';
    json[len] = '\0';
    CHECK(catalog_parse(json, len, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "larger than 1 MiB");
    free(json);
}

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/hookbridge-catalog-XXXXXX");
    int fd = mkstemp(path);

    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    return path;
}

static void test_a_catalog_file_loads_like_the_text_it_holds(void)
{
    char *path = write_temp(good);
    char err[256] = "";
    struct catalog *c = catalog_load(path, err, sizeof(err));

    CHECK(c != NULL);
    CHECK_STR_EQ(err, "");
    if (c != NULL)
        CHECK(catalog_lookup(c, "CandidateUpdated") != NULL);
    catalog_free(c);
    unlink(path);
    free(path);
}

static void test_file_errors_are_prefixed_with_the_path(void)
{
    char *json = edit("\"action\": \"upsert\"", "\"action\": \"nope\"");
    char *path = write_temp(json);
    char err[512] = "", want[512];

    CHECK(catalog_load(path, err, sizeof(err)) == NULL);
    snprintf(want, sizeof(want), "%s: events.CandidateUpdated.action: must be",
             path);
    CHECK_CONTAINS(err, want);
    unlink(path);

    CHECK(catalog_load(path, err, sizeof(err)) == NULL);
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    CHECK_STR_EQ(err, want);

    CHECK(catalog_load("/tmp", err, sizeof(err)) == NULL);
    CHECK_STR_EQ(err, "/tmp: not a regular file");
    free(path);
    free(json);
}

static const struct catalog_kind plain = {"k", "Id", "Things/?id={id}&full=1",
                                          "", "t"};

static void test_fetch_path_puts_the_id_in_place_of_the_marker(void)
{
    char out[64];

    CHECK_INT_EQ(catalog_fetch_path(&plain, "1234", out, sizeof(out)),
                 strlen("Things/?id=1234&full=1"));
    CHECK_STR_EQ(out, "Things/?id=1234&full=1");
}

static void test_fetch_path_escapes_everything_but_unreserved(void)
{
    static const struct {
        const char *id, *path;
    } cases[] = {
        {"AZaz09-._~", "Things/?id=AZaz09-._~&full=1"},
        {"a b", "Things/?id=a%20b&full=1"},
        {"1&full=0", "Things/?id=1%26full%3D0&full=1"},
        {"../x?y#z", "Things/?id=..%2Fx%3Fy%23z&full=1"},
        {"%41", "Things/?id=%2541&full=1"},
        {"\xc3\xa9", "Things/?id=%C3%A9&full=1"},
        {"", "Things/?id=&full=1"},
    };
    char out[64];

    for (size_t i = 0; i < COUNT(cases); i++) {
        int n = catalog_fetch_path(&plain, cases[i].id, out, sizeof(out));

        CHECK_INT_EQ(n, strlen(cases[i].path));
        CHECK_STR_EQ(out, cases[i].path);
    }
}

static void test_fetch_path_refuses_a_buffer_too_small_by_one(void)
{
    const char *want = "Things/?id=a%20b&full=1";
    size_t need = strlen(want) + 1;
    char out[64];

    for (size_t len = 0; len < need; len++)
        CHECK_INT_EQ(catalog_fetch_path(&plain, "a b", out, len), -1);
    CHECK_INT_EQ(catalog_fetch_path(&plain, "a b", out, need), strlen(want));
    CHECK_STR_EQ(out, want);
}

CHECK_MAIN(test_the_built_in_catalog_has_the_seven_design_kinds,
           test_the_built_in_catalog_has_the_twenty_design_events,
           test_lookup_is_exact_and_unknown_types_give_null,
           test_a_small_valid_catalog_loads_with_its_own_field_names,
           test_absent_field_names_default_to_the_hr_manager_ones,
           test_an_empty_object_pointer_means_the_whole_reply,
           test_every_broken_catalog_is_refused_naming_the_entry,
           test_missing_and_empty_sections_are_refused,
           test_a_catalog_over_one_mebibyte_is_refused,
           test_a_catalog_file_loads_like_the_text_it_holds,
           test_file_errors_are_prefixed_with_the_path,
           test_fetch_path_puts_the_id_in_place_of_the_marker,
           test_fetch_path_escapes_everything_but_unreserved,
           test_fetch_path_refuses_a_buffer_too_small_by_one)
