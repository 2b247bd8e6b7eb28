/*
 * fetch.c - concurrent GETs over kept-alive connections; see fetch.h.
 *
 * A fixed pool of easy handles, one per allowed transfer, is set up once
 * and reused: the multi handle keeps the connections they opened in its
 * cache, so a steady stream of fetches rides on a handful of connections
 * instead of paying a TCP (and TLS) handshake each time.
 */
#include "fetch.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "config.h"
#include "retry.h"

enum {
    FETCH_PARALLEL_MAX = 64,
    FETCH_CONNECT_TIMEOUT_MS = 5000,
    FETCH_HEADER_VALUE_MAX = 128,
};

struct transfer {
    CURL *easy;
    char *errbuf; /* CURL_ERROR_SIZE bytes, for CURLOPT_ERRORBUFFER */
    struct buf body;
    int busy;
    int too_large;
    long retry_after_ms;
    fetch_done_fn done;
    void *arg;
};

struct fetcher {
    CURLM *multi;
    struct curl_slist *headers;
    struct transfer *pool;
    int max_parallel;
    int active;
    int closing; /* set while fetcher_free() cancels: no new starts */
    size_t max_body;
};

static size_t fetch_on_body(char *data, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;

    if (len > t->body.max - t->body.len) {
        t->too_large = 1;
        return 0; /* anything short of len makes curl fail the transfer */
    }
    if (buf_append(&t->body, data, len) != 0)
        return 0;
    return len;
}

static size_t fetch_on_header(char *line, size_t size, size_t n, void *arg)
{
    static const char name[] = "retry-after:";
    struct transfer *t = arg;
    size_t len = size * n;
    char value[FETCH_HEADER_VALUE_MAX];

    /* A new status line starts a new response (after a 100 Continue). */
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0)
        t->retry_after_ms = -1;

    if (len <= sizeof(name) - 1 ||
        strncasecmp(line, name, sizeof(name) - 1) != 0)
        return len;

    size_t vlen = len - (sizeof(name) - 1);
    if (vlen >= sizeof(value))
        vlen = sizeof(value) - 1; /* too long to be valid; parse rejects */
    memcpy(value, line + sizeof(name) - 1, vlen);
    value[vlen] = '\0';
    t->retry_after_ms = retry_after_parse(value, (int64_t)time(NULL));
    return len;
}

/* The options every transfer shares; set once per easy handle. */
static int fetch_setup_easy(struct fetcher *f, struct transfer *t,
                            const struct fetch_options *o)
{
    long connect_ms = o->timeout_ms < FETCH_CONNECT_TIMEOUT_MS
                          ? o->timeout_ms
                          : FETCH_CONNECT_TIMEOUT_MS;
    char agent[64];

    t->easy = curl_easy_init();
    t->errbuf = calloc(1, CURL_ERROR_SIZE);
    if (t->easy == NULL || t->errbuf == NULL)
        return -1;
    buf_init(&t->body, o->max_body);
    snprintf(agent, sizeof(agent), "hookbridge/%s", config_version);

    CURL *e = t->easy;
    if (curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t) ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers) ||
        curl_easy_setopt(e, CURLOPT_USERAGENT, agent) ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms) ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) ||
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                         (curl_off_t)o->max_body) ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_on_body) ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)t) ||
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fetch_on_header) ||
        curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)t) ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf))
        return -1;
    return 0;
}

/* The fixed request headers; the key must not be able to add a header. */
static struct curl_slist *fetch_headers(const char *apikey, char *err,
                                        size_t errlen)
{
    struct curl_slist *list = NULL, *next;
    char *line = NULL;

    if (apikey == NULL || apikey[0] == '\0' || strpbrk(apikey, "\r\n")) {
        snprintf(err, errlen, "API key is empty or contains a line break");
        return NULL;
    }
    if (asprintf(&line, "apikey: %s", apikey) < 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    next = curl_slist_append(list, line);
    if (next != NULL)
        next = curl_slist_append(list = next, "Accept: application/json");
    if (next == NULL) {
        snprintf(err, errlen, "out of memory");
        curl_slist_free_all(list);
        list = NULL;
    } else {
        list = next;
    }

    /* The copy in `line` held the key; do not leave it in freed memory. */
    memset(line, 0, strlen(line));
    free(line);
    return list;
}

static int fetch_setup_multi(struct fetcher *f)
{
    long n = f->max_parallel;

    f->multi = curl_multi_init();
    if (f->multi == NULL)
        return -1;
    if (curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n) ||
        curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n) ||
        curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, n))
        return -1;
    return 0;
}

struct fetcher *fetcher_new(const struct fetch_options *o, char *err,
                            size_t errlen)
{
    assert(o != NULL && err != NULL);

    if (o->max_parallel < 1 || o->max_parallel > FETCH_PARALLEL_MAX ||
        o->timeout_ms < 1 || o->max_body < 1) {
        snprintf(err, errlen,
                 "fetch options out of range: max_parallel=%d "
                 "timeout_ms=%ld max_body=%zu",
                 o->max_parallel, o->timeout_ms, o->max_body);
        return NULL;
    }

    struct fetcher *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->max_parallel = o->max_parallel;
    f->max_body = o->max_body;
    f->pool = calloc((size_t)o->max_parallel, sizeof(*f->pool));

    f->headers = fetch_headers(o->apikey, err, errlen);
    if (f->headers == NULL)
        goto fail;
    if (f->pool == NULL || fetch_setup_multi(f) != 0)
        goto fail_setup;
    for (int i = 0; i < f->max_parallel; i++) {
        if (fetch_setup_easy(f, &f->pool[i], o) != 0)
            goto fail_setup;
    }
    return f;

fail_setup:
    snprintf(err, errlen, "cannot set up libcurl (out of memory?)");
fail:
    fetcher_free(f);
    return NULL;
}

static struct transfer *fetch_free_slot(struct fetcher *f)
{
    for (int i = 0; i < f->max_parallel; i++) {
        if (!f->pool[i].busy)
            return &f->pool[i];
    }
    return NULL;
}

int fetcher_start(struct fetcher *f, const char *url, fetch_done_fn done,
                  void *arg)
{
    assert(f != NULL && url != NULL && done != NULL);

    struct transfer *t = f->closing ? NULL : fetch_free_slot(f);
    if (t == NULL)
        return -1;

    buf_reset(&t->body);
    t->errbuf[0] = '\0';
    t->too_large = 0;
    t->retry_after_ms = -1;
    if (curl_easy_setopt(t->easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_multi_add_handle(f->multi, t->easy) != CURLM_OK)
        return -1;

    t->done = done;
    t->arg = arg;
    t->busy = 1;
    f->active++;
    return 0;
}

int fetcher_active(const struct fetcher *f)
{
    assert(f != NULL);
    return f->active;
}

/* Why a transfer failed, in words for a log line and the DLQ. */
static const char *fetch_error_text(const struct transfer *t, CURLcode code,
                                    char *text, size_t len)
{
    if (t->too_large)
        snprintf(text, len, "reply larger than %zu bytes", t->body.max);
    else if (code == CURLE_FILESIZE_EXCEEDED)
        snprintf(text, len, "reply declared larger than %zu bytes",
                 t->body.max);
    else if (code == CURLE_WRITE_ERROR)
        snprintf(text, len, "out of memory storing the reply");
    else
        snprintf(text, len, "%s",
                 t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
    return text;
}

/*
 * Releases the slot, then reports. The body and the error text are moved
 * out first, so the callback may start the next fetch in the same slot.
 */
static void fetch_finish(struct fetcher *f, struct transfer *t, CURLcode code,
                         const char *cancelled)
{
    struct fetch_result r = {.retry_after_ms = -1};
    char text[CURL_ERROR_SIZE + 64];
    struct buf body = t->body;
    fetch_done_fn done = t->done;
    void *arg = t->arg;

    curl_multi_remove_handle(f->multi, t->easy);
    curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &r.seconds);
    if (cancelled != NULL) {
        r.error = cancelled;
    } else if (code != CURLE_OK) {
        r.error = fetch_error_text(t, code, text, sizeof(text));
        r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
    } else {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r.status);
        r.retry_after_ms = t->retry_after_ms;
    }
    /* A failed transfer's partial body must not pass for a reply. */
    if (r.error != NULL)
        buf_reset(&body);
    /* An empty reply still gets a "" to read (unless memory ran out). */
    buf_append(&body, "", 0);
    r.body = &body;

    buf_init(&t->body, f->max_body);
    t->busy = 0;
    t->done = NULL;
    f->active--;

    done(arg, &r);
    buf_free(&body);
}

int fetcher_run(struct fetcher *f, int timeout_ms)
{
    int running = 0, calls = 0, queued;
    CURLMsg *msg;

    assert(f != NULL && timeout_ms >= 0);

    curl_multi_poll(f->multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(f->multi, &running);

    while ((msg = curl_multi_info_read(f->multi, &queued)) != NULL) {
        char *priv = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        struct transfer *t = (struct transfer *)priv;
        assert(t != NULL && t->busy);
        fetch_finish(f, t, msg->data.result, NULL);
        calls++;
    }
    return calls;
}

void fetcher_free(struct fetcher *f)
{
    if (f == NULL)
        return;

    f->closing = 1;
    for (int i = 0; f->pool != NULL && i < f->max_parallel; i++) {
        struct transfer *t = &f->pool[i];

        if (t->busy)
            fetch_finish(f, t, CURLE_OK, "cancelled");
        if (t->easy != NULL)
            curl_easy_cleanup(t->easy);
        buf_free(&t->body);
        free(t->errbuf);
    }
    if (f->multi != NULL)
        curl_multi_cleanup(f->multi);
    curl_slist_free_all(f->headers);
    free(f->pool);
    free(f);
}
