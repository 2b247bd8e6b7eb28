/*
 * loadgen.c - an open-loop, fixed-rate HTTP load generator.
 *
 * wrk measures how fast a server can go; a latency target at a given
 * rate needs the other question answered: how long does a request take
 * when requests arrive on a schedule the server does not control. Here
 * request i is due at start + i / rate whatever happened before it, and
 * its latency runs from that due time, not from when a connection was
 * free to send it; a server that stalls therefore pays for every request
 * that queued behind the stall (no coordinated omission).
 *
 *   bench-loadgen PORT RATE SECONDS CONNECTIONS SECRET
 *
 * Posts HR Manager style notifications (varied event types and ids) to
 * 127.0.0.1:PORT/hooks/hrm over keep-alive connections, one request in
 * flight per connection, and prints one line of key=value results.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum {
    LG_MAX_CONNS = 256,
    LG_OUT_MAX = 1024,
    LG_IN_MAX = 16384,
    LG_DRAIN_S = 10, /* seconds allowed for late answers */
};

static const char *const lg_events[][2] = {
    {"CandidateUpdated", "CandidateId"},
    {"CandidateStatusUpdated", "CandidateId"},
    {"CandidateRegistered", "CandidateId"},
    {"PositionPublished", "PositionId"},
    {"ProjectUpdated", "ProjectId"},
    {"AdvertisementUpdated", "AdvertisementId"},
};
enum { LG_NEVENTS = sizeof(lg_events) / sizeof(lg_events[0]) };

struct lg_conn {
    int fd;
    int busy;
    int64_t due_ns;
    size_t inlen;
    char in[LG_IN_MAX];
};

struct lg {
    int port;
    long rate;
    long total;
    const char *secret;
    int nconns;
    int epfd;
    int tfd; /* wakes the loop at the next due time */
    int64_t start_ns;
    long next; /* index of the next request to send */
    long done; /* answered or failed */
    long ok, non2xx, errors;
    int64_t *lat_ns; /* one per answered request */
    long nlat;
    struct lg_conn conns[LG_MAX_CONNS];
};

static int64_t lg_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t lg_due(const struct lg *g, long i)
{
    return g->start_ns + (int64_t)((double)i * 1e9 / (double)g->rate);
}

static int lg_connect(struct lg *g, struct lg_conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    int one = 1;

    sa.sin_port = htons((uint16_t)g->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        epoll_ctl(g->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->busy = 0;
    c->inlen = 0;
    return 0;
}

static void lg_drop(struct lg *g, struct lg_conn *c)
{
    if (c->busy) {
        g->errors++;
        g->done++;
    }
    epoll_ctl(g->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->busy = 0;
}

/* Request i: the event type and id vary so the server sees many keys. */
static size_t lg_request(const struct lg *g, long i, char *out, size_t len)
{
    const char *const *ev = lg_events[i % LG_NEVENTS];
    char body[512];
    long id = 100000 + (i * 7919) % 50000;
    int n;

    n = snprintf(body, sizeof(body),
                 "{\"EventType\": \"%s\", \"%s\": %ld, \"ProjectId\": 77, "
                 "\"UserData\": \"%s\", "
                 "\"Timestamp\": \"2026-12-01T10:00:00Z\"}",
                 ev[0], ev[1], id, g->secret);
    n = snprintf(out, len,
                 "POST /hooks/hrm HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: %d\r\n\r\n%s",
                 g->port, n, body);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static struct lg_conn *lg_free_conn(struct lg *g)
{
    for (int i = 0; i < g->nconns; i++) {
        struct lg_conn *c = &g->conns[i];
        if (c->fd < 0 && lg_connect(g, c) != 0)
            continue;
        if (!c->busy)
            return c;
    }
    return NULL;
}

/* Sends every request that is due while a connection is free. */
static void lg_send_due(struct lg *g, int64_t now)
{
    char out[LG_OUT_MAX];
    struct lg_conn *c;

    while (g->next < g->total && lg_due(g, g->next) <= now &&
           (c = lg_free_conn(g)) != NULL) {
        size_t len = lg_request(g, g->next, out, sizeof(out));
        c->due_ns = lg_due(g, g->next);
        c->busy = 1;
        g->next++;
        if (len == 0 || write(c->fd, out, len) != (ssize_t)len)
            lg_drop(g, c);
    }
}

/* Length of a complete response at the start of c->in, or 0. */
static size_t lg_complete(const struct lg_conn *c)
{
    const char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    size_t head, body = 0;

    if (end == NULL)
        return 0;
    head = (size_t)(end - c->in) + 4;
    for (const char *p = c->in; p < end; p++) {
        if (*p == '\n' && strncasecmp(p + 1, "Content-Length:", 15) == 0) {
            body = strtoul(p + 16, NULL, 10);
            break;
        }
    }
    return c->inlen >= head + body ? head + body : 0;
}

static void lg_answered(struct lg *g, struct lg_conn *c, size_t len)
{
    int status = atoi(c->in + 9); /* after "HTTP/1.1 " */

    if (status >= 200 && status < 300)
        g->ok++;
    else
        g->non2xx++;
    g->lat_ns[g->nlat++] = lg_now() - c->due_ns;
    g->done++;
    c->busy = 0;
    memmove(c->in, c->in + len, c->inlen - len);
    c->inlen -= len;
}

static void lg_read(struct lg *g, struct lg_conn *c)
{
    ssize_t n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
    size_t len;

    if (n <= 0) {
        lg_drop(g, c);
        return;
    }
    c->inlen += (size_t)n;
    if (c->busy && (len = lg_complete(c)) > 0)
        lg_answered(g, c, len);
    else if (c->inlen == sizeof(c->in) || !c->busy)
        lg_drop(g, c);
}

/* Epoll's millisecond timeout would send up to 1 ms late, which the
 * latency of every request would then include: a timer with nanosecond
 * resolution wakes the loop at the next due time instead. */
static void lg_arm(const struct lg *g)
{
    struct itimerspec its = {0};
    int64_t due;

    if (g->next >= g->total)
        return;
    due = lg_due(g, g->next);
    its.it_value.tv_sec = due / 1000000000LL;
    its.it_value.tv_nsec = due % 1000000000LL;
    timerfd_settime(g->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void lg_run(struct lg *g)
{
    struct epoll_event evs[64];
    int64_t give_up;
    uint64_t ticks;

    g->start_ns = lg_now();
    give_up = lg_due(g, g->total) + LG_DRAIN_S * 1000000000LL;
    while (g->done < g->total && lg_now() < give_up) {
        lg_send_due(g, lg_now());
        lg_arm(g);
        int n = epoll_wait(g->epfd, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                (void)!read(g->tfd, &ticks, sizeof(ticks));
            else
                lg_read(g, evs[i].data.ptr);
        }
    }
}

static int lg_timer(struct lg *g)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

    g->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (g->tfd < 0)
        return -1;
    return epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->tfd, &ev);
}

static int lg_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static double lg_pct_ms(const struct lg *g, double pct)
{
    long i;

    if (g->nlat == 0)
        return -1;
    i = (long)(pct / 100.0 * (double)(g->nlat - 1) + 0.5);
    return (double)g->lat_ns[i] / 1e6;
}

static void lg_report(struct lg *g, double seconds)
{
    qsort(g->lat_ns, (size_t)g->nlat, sizeof(*g->lat_ns), lg_cmp);
    printf("loadgen rate=%ld seconds=%.1f connections=%d sent=%ld ok=%ld "
           "non2xx=%ld errors=%ld unanswered=%ld p50_ms=%.3f p99_ms=%.3f "
           "p999_ms=%.3f max_ms=%.3f\n",
           g->rate, seconds, g->nconns, g->next, g->ok, g->non2xx, g->errors,
           g->total - g->done, lg_pct_ms(g, 50), lg_pct_ms(g, 99),
           lg_pct_ms(g, 99.9), lg_pct_ms(g, 100));
}

int main(int argc, char **argv)
{
    static struct lg g;
    double seconds;
    int rc = 1;

    if (argc != 6) {
        fprintf(stderr, "usage: bench-loadgen PORT RATE SECONDS CONNECTIONS "
                        "SECRET\n");
        return 2;
    }
    g.port = atoi(argv[1]);
    g.rate = atol(argv[2]);
    seconds = atof(argv[3]);
    g.nconns = atoi(argv[4]);
    g.secret = argv[5];
    if (g.port <= 0 || g.port > 65535 || g.rate <= 0 || g.rate > 1000000 ||
        seconds <= 0 || seconds > 3600 || g.nconns <= 0 ||
        g.nconns > LG_MAX_CONNS || strlen(g.secret) > 128) {
        fprintf(stderr, "bench-loadgen: an argument is out of range\n");
        return 2;
    }

    g.total = (long)((double)g.rate * seconds);
    g.epfd = -1;
    g.tfd = -1;
    g.lat_ns = calloc((size_t)g.total + 1, sizeof(*g.lat_ns));
    for (int i = 0; i < g.nconns; i++)
        g.conns[i].fd = -1;
    if (g.lat_ns == NULL || (g.epfd = epoll_create1(0)) < 0 || lg_timer(&g))
        goto done;

    lg_run(&g);
    lg_report(&g, seconds);
    rc = g.nlat > 0 ? 0 : 1;

done:
    for (int i = 0; i < g.nconns; i++)
        if (g.conns[i].fd >= 0)
            close(g.conns[i].fd);
    if (g.tfd >= 0)
        close(g.tfd);
    if (g.epfd >= 0)
        close(g.epfd);
    free(g.lat_ns);
    return rc;
}
