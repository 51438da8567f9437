/* libcurl multi on libevent, retries and rate limits; see fy_http.h.
 *
 * The loop integration follows curl's hiperfifo.c: curl tells us which
 * sockets to watch (sock_cb) and when to wake it (timer_cb); every event
 * calls curl_multi_socket_action and then drains curl_multi_info_read.
 * Each socket keeps one persistent event, re-armed only when curl's
 * interest in it changes. */
#include "fy_http.h"
#include "fy_common.h"
#include "fy_metrics.h"
#include "fy_ratelimit.h"
#include "fy_time.h"

#include <ctype.h>
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

struct transfer;
struct foreign;

struct fy_http {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;              /* curl's single timeout */
    struct event *flush;              /* adds the transfers launched this turn of the loop */
    struct transfer *adding;          /* launched, waiting for flush (newest first) */
    int running;                      /* transfers curl reports as running */
    struct transfer *transfers;       /* every transfer not yet finished */
    struct foreign *foreign;          /* handles of fy_http_add_easy in the multi */
    struct bucket_entry *buckets;     /* rate limits by key */
    CURL *pool[64];                   /* easy handles kept for reuse, set up for plain requests */
    int npool;
    struct fy_buf bufs[128];          /* response buffers kept for reuse, capacity and all */
    int nbufs;
    struct sock_watch **watches;      /* by socket, including parked ones */
    int nwatches;
};

/* A caller's own easy handle on the multi (fy_http_add_easy). */
struct foreign {
    CURL *easy;
    fy_http_easy_done_fn done;
    void *arg;
    struct foreign *next;
};

struct bucket_entry {
    struct fy_bucket *bucket;
    struct bucket_entry *next;
};

/* One per socket curl asked us to watch. When curl stops watching a socket
 * it keeps alive (a connection back in its cache) the watch is parked, not
 * freed, so the next request on that connection re-arms it without a new
 * event; it is freed when curl closes the socket (close_cb). */
struct sock_watch {
    struct fy_http *http;
    struct event *ev;
    int what;                         /* CURL_POLL_IN/OUT/INOUT; 0 = parked */
    short armed;                      /* the event's kind while added, 0 when not */
};

struct transfer {
    struct fy_http *http;
    CURL *easy;
    struct fy_http_opts o;            /* copy; strings below are owned */
    char *method;
    char *url;
    char *body;
    struct fy_buf resp_body;
    struct fy_buf resp_headers;
    int too_big;                /* 1: past max_size, 2: past the memory budget */
    size_t held;                /* bytes of the body counted in *o.held */
    /* the response being received, from its headers: whether its body may
     * go to o.take_body in one piece (2xx, the length Content-Length says) */
    long resp_status;
    long long resp_length;      /* Content-Length; -1: none, -2: a coding changes it */
    const char *taken;          /* the body o.take_body kept, NULL when none */
    size_t taken_len;
    char errbuf[CURL_ERROR_SIZE];
    int attempt;                      /* attempts started */
    double started;                   /* monotonic */
    double attempt_started;           /* monotonic, when the current attempt was launched */
    struct event *wait;               /* backoff between attempts */
    struct fy_bucket_waiter waiter;   /* queued on o.limits[limit_idx] */
    int limit_idx;
    double limit_wait_from;           /* monotonic, when it started waiting for a bucket */
    int in_multi;
    int ratelimit_seen;               /* the response has a *RateLimit-Remaining header */
    int adding;                       /* on h->adding */
    struct transfer *next_add;
    int finishing;                    /* its callback is running */
    fy_http_done_fn done;
    void *arg;
    struct transfer *prev, *next;
};

static void check_multi_info(struct fy_http *h);
static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void begin_attempt(struct transfer *t);

/* ---- the loop ------------------------------------------------------------ */

static void event_cb(evutil_socket_t fd, short kind, void *arg) {
    struct sock_watch *w = arg;
    struct fy_http *h = w->http;
    if (!w->what) {                   /* parked: the peer closed or sent; curl will see it on reuse */
        event_del(w->ev);
        w->armed = 0;
        return;
    }
    int action = (kind & EV_READ ? CURL_CSELECT_IN : 0) | (kind & EV_WRITE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(h->multi, fd, action, &h->running);
    check_multi_info(h);   /* curl clears its own timer through timer_cb when idle */
}

static void timer_event_cb(evutil_socket_t fd, short kind, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(kind);
    struct fy_http *h = arg;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
    check_multi_info(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg) {
    FY_UNUSED(multi);
    struct fy_http *h = arg;
    if (timeout_ms < 0) {
        evtimer_del(h->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return evtimer_add(h->timer, &tv) == 0 ? 0 : -1;
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp) {
    FY_UNUSED(easy);
    struct fy_http *h = arg;
    struct sock_watch *w = sockp;
    if (!w && s < h->nwatches) w = h->watches[s];
    if (what == CURL_POLL_REMOVE) {
        if (w) w->what = 0;           /* parked; the armed event stays until it fires or closes */
        curl_multi_assign(h->multi, s, NULL);
        return 0;
    }
    if (!w) {
        if (s >= h->nwatches) {
            int n = s + 64;
            struct sock_watch **nw = realloc(h->watches, (size_t)n * sizeof *nw);
            if (!nw) return -1;
            memset(nw + h->nwatches, 0, (size_t)(n - h->nwatches) * sizeof *nw);
            h->watches = nw;
            h->nwatches = n;
        }
        w = calloc(1, sizeof *w);
        if (!w) return -1;
        w->http = h;
        w->ev = event_new(h->base, s, EV_READ | EV_PERSIST, event_cb, w);
        if (!w->ev) { free(w); return -1; }
        h->watches[s] = w;
    }
    curl_multi_assign(h->multi, s, w);
    w->what = what;
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
    if (w->armed == kind) return 0;   /* interest unchanged: keep the event */
    if (w->armed) event_del(w->ev);
    event_assign(w->ev, h->base, s, kind, event_cb, w);
    w->armed = kind;
    return event_add(w->ev, NULL) == 0 ? 0 : -1;
}

/* curl closes a socket: its watch goes with it. */
static int close_cb(void *arg, curl_socket_t s) {
    struct fy_http *h = arg;
    if (s < h->nwatches && h->watches[s]) {
        event_free(h->watches[s]->ev);
        free(h->watches[s]);
        h->watches[s] = NULL;
    }
    return close(s);
}

struct fy_http *fy_http_create(struct event_base *base, char *err, size_t errlen) {
    struct fy_http *h = calloc(1, sizeof *h);
    if (!h) goto fail;
    h->base = base;
    h->multi = curl_multi_init();
    h->timer = evtimer_new(base, timer_event_cb, h);
    h->flush = event_new(base, -1, 0, flush_cb, h);
    if (!h->multi || !h->timer || !h->flush) goto fail;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    /* A guard against runaway fds, not a pace: it must stay above any
     * concurrency a script asks of one host. At 64, concurrency 128 ran 64
     * at a time, and every queued transfer went through curl's connect
     * state twice (the URL parsed again, the proxy variables read again):
     * a fifth more instructions a request, and about a fifth less throughput. */
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
    /* By default the cache holds 4 connections per transfer in progress, so
     * the idle moment between two batches of requests closed most of them
     * and the next batch connected again; keep them for the next batch. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 256L);
    return h;
fail:
    snprintf(err, errlen, "cannot create the HTTP client");
    fy_http_destroy(h);
    return NULL;
}

static void transfer_free(struct transfer *t);

/* A response buffer from the pool: a 10 KB body then costs no malloc, no
 * free and no fresh pages. Big ones (a rare export) go back to the system. */
static struct fy_buf buf_take(struct fy_http *h) {
    struct fy_buf b = {0};
    if (h->nbufs) b = h->bufs[--h->nbufs];
    return b;
}

static void buf_give(struct fy_http *h, struct fy_buf *b) {
    if (b->cap && b->cap <= (1u << 20) && h->nbufs < (int)(sizeof h->bufs / sizeof h->bufs[0])) {
        fy_buf_reset(b);
        h->bufs[h->nbufs++] = *b;
    } else {
        fy_buf_free(b);
    }
    memset(b, 0, sizeof *b);
}

void fy_http_destroy(struct fy_http *h) {
    if (!h) return;
    while (h->transfers) transfer_free(h->transfers);
    while (h->foreign) fy_http_remove_easy(h, h->foreign->easy);
    while (h->nbufs) fy_buf_free(&h->bufs[--h->nbufs]);
    for (struct bucket_entry *e = h->buckets, *n; e; e = n) {
        n = e->next;
        fy_bucket_destroy(e->bucket);
        free(e);
    }
    while (h->npool) curl_easy_cleanup(h->pool[--h->npool]);
    if (h->multi) curl_multi_cleanup(h->multi);   /* closes cached connections through close_cb */
    for (int i = 0; i < h->nwatches; i++) {
        if (!h->watches[i]) continue;
        event_free(h->watches[i]->ev);
        free(h->watches[i]);
    }
    free(h->watches);
    if (h->timer) event_free(h->timer);
    if (h->flush) event_free(h->flush);
    free(h);
}

struct fy_bucket *fy_http_bucket(struct fy_http *h, const char *key, double rate, double burst) {
    for (struct bucket_entry *e = h->buckets; e; e = e->next) {
        if (strcmp(fy_bucket_key(e->bucket), key) != 0) continue;
        if (rate > 0) fy_bucket_set_rate(e->bucket, rate, burst);
        return e->bucket;
    }
    struct bucket_entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->bucket = fy_bucket_create(h->base, key, rate, burst);
    if (!e->bucket) { free(e); return NULL; }
    e->next = h->buckets;
    h->buckets = e;
    return e->bucket;
}

/* ---- one transfer -------------------------------------------------------- */

/* Count the body's bytes (its capacity) in the owner's budget. */
static int hold_body(struct transfer *t) {
    if (!t->o.held) return FY_OK;
    size_t cap = t->resp_body.cap;
    if (cap > t->held && t->o.may_hold && !t->o.may_hold(t->o.hold_ctx, cap - t->held)) return FY_ERR;
    *t->o.held = *t->o.held - t->held + cap;
    t->held = cap;
    return FY_OK;
}

/* The body's buffer back to the pool (or freed), and what it held. */
static void free_body(struct transfer *t) {
    if (t->o.held) *t->o.held -= t->held;
    t->held = 0;
    buf_give(t->http, &t->resp_body);
}

/* Add len bytes to the buffered body; FY_ERR (too_big set) when they
 * pass max_size or the memory budget. */
static int append_body(struct transfer *t, const char *data, size_t len) {
    if (t->resp_body.len + len > t->o.max_size) {
        t->too_big = 1;
        return FY_ERR;
    }
    if (t->o.held && t->resp_body.len + len > t->resp_body.cap) {
        size_t want = t->resp_body.cap * 2 > t->resp_body.len + len ? t->resp_body.cap * 2 : t->resp_body.len + len;
        if (t->o.may_hold && !t->o.may_hold(t->o.hold_ctx, want - t->held)) {
            t->too_big = 2;
            return FY_ERR;
        }
    }
    fy_buf_append(&t->resp_body, data, len);
    if (hold_body(t) != FY_OK) {
        t->too_big = 2;
        return FY_ERR;
    }
    return FY_OK;
}

/* Each piece of the body as curl decodes it. A 2xx body that comes whole
 * in the first piece goes to o.take_body, which keeps it (ferry.http: as
 * the Lua string itself), saving a copy into our buffer; curl hands over
 * up to its buffer's 16 KB at once. */
static size_t write_cb(char *data, size_t size, size_t n, void *arg) {
    struct transfer *t = arg;
    size_t len = size * n;
    if (t->o.take_body && !t->taken && !t->resp_body.len && (long long)len == t->resp_length &&
        t->resp_status >= 200 && t->resp_status < 300 && len <= t->o.max_size) {
        t->taken = t->o.take_body(t->arg, data, len);
        if (t->taken) {
            t->taken_len = len;
            return len;
        }
    }
    if (t->taken) {                 /* more than Content-Length said: buffer it all here */
        const char *kept = t->taken;
        t->taken = NULL;
        if (append_body(t, kept, t->taken_len) != FY_OK) return 0;
    }
    return append_body(t, data, len) == FY_OK ? len : 0;   /* 0: curl stops with CURLE_WRITE_ERROR */
}

static size_t header_cb(char *data, size_t size, size_t n, void *arg) {
    struct transfer *t = arg;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {   /* a new response (redirect, 100) */
        fy_buf_reset(&t->resp_headers);
        t->ratelimit_seen = 0;
        const char *sp = memchr(data, ' ', len);     /* "HTTP/1.1 200 OK" */
        t->resp_status = sp ? atol(sp + 1) : 0;
        t->resp_length = -1;
        return len;
    }
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r')) len--;
    char c = len ? (char)(data[0] | 0x20) : 0;      /* lower case of a letter */
    if (c == 'c' && len > 15 && strncasecmp(data, "Content-Length:", 15) == 0) {
        long long cl = atoll(data + 15);            /* size the body buffer once */
        if (t->resp_length != -2) t->resp_length = cl;
        if (cl > 0 && (size_t)cl <= t->o.max_size &&
            (!t->o.may_hold || t->o.may_hold(t->o.hold_ctx, (size_t)cl)))
            fy_buf_reserve(&t->resp_body, (size_t)cl);
    } else if ((c == 'c' && len > 17 && strncasecmp(data, "Content-Encoding:", 17) == 0) ||
               (c == 't' && len > 18 && strncasecmp(data, "Transfer-Encoding:", 18) == 0)) {
        t->resp_length = -2;                        /* what curl writes is not what was counted */
    } else if ((c == 'x' && len > 22 && strncasecmp(data, "X-RateLimit-Remaining:", 22) == 0) ||
               (c == 'r' && len > 20 && strncasecmp(data, "RateLimit-Remaining:", 20) == 0)) {
        t->ratelimit_seen = 1;                      /* attempt_done looks for an exhausted window */
    }
    if (len && memchr(data, ':', len)) {
        fy_buf_append(&t->resp_headers, data, len);
        fy_buf_putc(&t->resp_headers, '\n');
    }
    return size * n;
}

/* A plain request: GET, no body, the default CA bundle, verification on.
 * Its handle goes back to the pool without curl_easy_reset, keeping the
 * options every request shares; anything else resets it. */
static int plain(const struct transfer *t) {
    return t->method && !t->body && !t->o.ca_file && !t->o.insecure && strcmp(t->method, "GET") == 0;
}

/* Options every request shares (callbacks, encodings, protocols). */
static void setup_shared(struct fy_http *h, CURL *e) {
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");           /* gzip, deflate, ... */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ferry/" FY_VERSION);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
}

/* The options of this request. Each is set every time (to its value or its
 * default), since a pooled handle still holds the last plain request's. */
static int setup_easy(struct transfer *t, int shared_done) {
    CURL *e = t->easy;
    const struct fy_http_opts *o = &t->o;
    if (!shared_done) setup_shared(t->http, e);
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, o->max_redirects > 0 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, o->max_redirects > 0 ? o->max_redirects : 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout > 0 ? (long)(o->timeout * 1000) : 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout > 0 ? (long)(o->connect_timeout * 1000) : 0L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_size);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->headers);          /* NULL clears the last one's */
    if (o->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    if (o->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(t->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(t->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method);
    }
    if (t->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->o.body_len);
    } else if (strcmp(t->method, "POST") == 0 || strcmp(t->method, "PUT") == 0 || strcmp(t->method, "PATCH") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    return FY_OK;
}

static void transfer_free(struct transfer *t) {
    struct fy_http *h = t->http;
    if (t->in_multi) curl_multi_remove_handle(h->multi, t->easy);
    if (t->adding) {
        struct transfer **p = &h->adding;
        while (*p != t) p = &(*p)->next_add;
        *p = t->next_add;
    }
    for (int i = 0; i < 2; i++)
        if (t->o.limits[i]) fy_bucket_cancel(t->o.limits[i], &t->waiter);
    if (t->prev) t->prev->next = t->next;
    else h->transfers = t->next;
    if (t->next) t->next->prev = t->prev;
    if (t->wait) event_free(t->wait);
    if (t->easy && h->npool < (int)(sizeof h->pool / sizeof h->pool[0])) {
        if (!plain(t)) {                          /* cheaper than a new handle next time */
            curl_easy_reset(t->easy);
            setup_shared(h, t->easy);
        }
        h->pool[h->npool++] = t->easy;
    } else if (t->easy) {
        curl_easy_cleanup(t->easy);
    }
    if (!t->o.headers_shared) curl_slist_free_all(t->o.headers);
    free_body(t);
    buf_give(h, &t->resp_headers);
    free(t->method);
    free(t->url);
    free(t->body);
    free(t);
}

static void attempt_done(struct transfer *t, CURLcode code);

static void add_failed(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    attempt_done(arg, CURLE_FAILED_INIT);
}

/* Transfers launched while the loop hands out events are added to curl
 * together once it is done, and their requests go out in one burst, the
 * way one curl_multi_perform would send them. Started one by one, each
 * request would wake a server that had gone idle after the last (on
 * loopback a third of the client's time went into those wake-ups). */
static void launch(struct transfer *t) {
    struct fy_http *h = t->http;
    fy_buf_reset(&t->resp_body);
    fy_buf_reset(&t->resp_headers);
    t->ratelimit_seen = 0;
    t->resp_status = 0;
    t->resp_length = -1;
    t->taken = NULL;
    t->too_big = 0;
    t->errbuf[0] = '\0';
    t->attempt++;
    t->attempt_started = fy_time_monotonic();
    t->adding = 1;
    t->next_add = h->adding;
    h->adding = t;
    if (t->next_add == NULL) event_active(h->flush, EV_TIMEOUT, 0);
}

static void add_to_multi(struct transfer *t) {
    if (curl_multi_add_handle(t->http->multi, t->easy) != CURLM_OK) {
        /* reported from the loop as a failed attempt, never re-entrantly */
        static const struct timeval now = {0, 0};
        snprintf(t->errbuf, sizeof t->errbuf, "cannot start the transfer");
        event_base_once(t->http->base, -1, EV_TIMEOUT, add_failed, t, &now);
        return;
    }
    t->in_multi = 1;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    struct fy_http *h = arg;
    struct transfer *list = NULL;
    while (h->adding) {                 /* oldest first */
        struct transfer *t = h->adding;
        h->adding = t->next_add;
        t->next_add = list;
        list = t;
    }
    for (struct transfer *t = list; t; t = t->next_add) t->adding = 0;
    while (list) {
        struct transfer *t = list;
        list = t->next_add;
        add_to_multi(t);
    }
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
    check_multi_info(h);
}

/* Pass each rate limit in turn (waiting where a bucket is empty), then launch. */
static void next_limit(struct transfer *t) {
    while (t->limit_idx < 2) {
        struct fy_bucket *b = t->o.limits[t->limit_idx];
        if (b && !fy_bucket_acquire(b, &t->waiter)) {         /* waiter_ready continues */
            t->limit_wait_from = fy_time_monotonic();
            return;
        }
        t->limit_idx++;
    }
    launch(t);
}

static void waiter_ready(struct fy_bucket_waiter *w) {
    struct transfer *t = (struct transfer *)((char *)w - offsetof(struct transfer, waiter));
    fy_metrics_rate_wait(t->o.metrics, fy_time_monotonic() - t->limit_wait_from);
    t->limit_idx++;
    next_limit(t);
}

static void begin_attempt(struct transfer *t) {
    t->limit_idx = 0;
    next_limit(t);
}

static void wait_done(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    begin_attempt(arg);
}

int fy_http_header(const struct fy_buf *hdrs, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    for (const char *p = hdrs->data; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = (size_t)(p + len - v);
            if (vl >= cap) vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        p = eol ? eol + 1 : p + len;
    }
    return 0;
}

/* Seconds until a reset header's time, read as `unit`. AUTO: an ISO 8601
 * time (Atlassian's X-RateLimit-Reset), an epoch time (GitHub's), or else
 * seconds from now (IETF RateLimit-Reset). 1 when it makes no sense. */
static double reset_in(const char *v, int unit) {
    size_t len = strlen(v);
    double t, now = fy_time_now();
    int off;
    char *end;
    if (unit == FY_RESET_ISO8601 || (unit == FY_RESET_AUTO && len >= 10 && v[4] == '-')) {
        while (len && (v[len - 1] == ' ' || v[len - 1] == '\r')) len--;
        if (fy_time_parse(v, len, &t, &off, NULL, 0) != FY_OK) return 1;
        return t > now ? t - now : 0;
    }
    t = strtod(v, &end);
    if (end == v || !isfinite(t) || t < 0) return 1;
    if (unit == FY_RESET_MS) return t / 1000;
    if (unit == FY_RESET_EPOCH || (unit == FY_RESET_AUTO && t > 1e9)) return t > now ? t - now : 0;
    return t;
}

/* Seconds until the server's rate-limit window resets, when it says the
 * remaining budget is 0: the vendor's own headers the client named, then
 * GitHub/Shopify/Atlassian X-RateLimit-* and IETF RateLimit-*; -1: the
 * budget is not spent (or not stated). */
static double exhausted_for(const struct transfer *t) {
    static const char *pairs[][2] = {
        {"X-RateLimit-Remaining", "X-RateLimit-Reset"}, {"RateLimit-Remaining", "RateLimit-Reset"},
    };
    const struct fy_buf *hdrs = &t->resp_headers;
    char v[64];
    if (t->o.reset_remaining && fy_http_header(hdrs, t->o.reset_remaining, v, sizeof v) && atof(v) <= 0)
        return t->o.reset_header && fy_http_header(hdrs, t->o.reset_header, v, sizeof v)
                   ? reset_in(v, t->o.reset_unit) : 1;
    if (!t->ratelimit_seen) return -1;
    for (size_t i = 0; i < 2; i++) {
        if (!fy_http_header(hdrs, pairs[i][0], v, sizeof v) || atof(v) > 0) continue;
        if (!fy_http_header(hdrs, pairs[i][1], v, sizeof v)) return 1;
        return reset_in(v, FY_RESET_AUTO);
    }
    return -1;
}

/* How long a 429 without Retry-After waits: the vendor's reset header
 * when it has one, whatever its remaining count says (HubSpot's per-second
 * limit answers 429 while its 10-second window still has room). */
static double reset_hint(const struct transfer *t) {
    char v[64];
    if (t->o.reset_header && fy_http_header(&t->resp_headers, t->o.reset_header, v, sizeof v))
        return reset_in(v, t->o.reset_unit);
    return 1;
}

static double jitter(double cap) {
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint32_t)rand();
    return cap * ((double)r / 4294967296.0);
}

static int method_retryable(const struct transfer *t) {
    if (t->o.idempotent) return 1;
    return strcmp(t->method, "POST") != 0 && strcmp(t->method, "PATCH") != 0;
}

/* Classify a finished attempt; decide retry or finish. */
static void attempt_done(struct transfer *t, CURLcode code) {
    struct fy_http *h = t->http;
    long status = 0;
    char msg[CURL_ERROR_SIZE + 64];
    const char *klass = NULL;
    int retryable = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (t->in_multi) curl_multi_remove_handle(h->multi, t->easy);
    t->in_multi = 0;

    if (code != CURLE_OK) {
        status = 0;
        const char *why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(code);
        snprintf(msg, sizeof msg, "%s", why);
        switch (code) {
        case CURLE_WRITE_ERROR:
        case CURLE_FILESIZE_EXCEEDED:
            if (t->too_big == 2) {
                klass = "validation";
                snprintf(msg, sizeof msg, "the response body does not fit in the integration's memory "
                         "limit (limits.memory in the config)");
            } else if (t->too_big || code == CURLE_FILESIZE_EXCEEDED) {
                klass = "validation";
                snprintf(msg, sizeof msg, "response body larger than the limit of %zu bytes", t->o.max_size);
            } else {
                klass = "transient";
            }
            break;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CONNECT_ERROR:
            klass = "permission";
            snprintf(msg, sizeof msg, "TLS: %s", why);
            break;
        case CURLE_TOO_MANY_REDIRECTS:
            klass = "not_found";
            snprintf(msg, sizeof msg, "too many redirects (more than %ld)", t->o.max_redirects);
            break;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            klass = "validation";
            break;
        default:                                   /* timeouts, refused, reset, cut off */
            klass = "transient";
            retryable = 1;
        }
    } else if (status >= 200 && status < 400) {
        klass = NULL;
    } else {
        snprintf(msg, sizeof msg, "HTTP %ld", status);
        if (status == 401) klass = "auth";
        else if (status == 403) klass = "permission";
        else if (status == 404 || status == 410) klass = "not_found";
        else if (status == 429 || status == 502 || status == 503 || status == 504) { klass = "transient"; retryable = 1; }
        else if (status == 500) { klass = "transient"; retryable = t->o.retry.retry_500; }
        else if (status >= 500) klass = "transient";
        else klass = "validation";
    }

    double now = fy_time_monotonic();
    /* The server's word on when to come back: Retry-After (delta or date,
     * parsed by curl) or an exhausted rate-limit window. Both slow down
     * everyone sharing this request's buckets. */
    curl_off_t retry_after = 0;
    if (status == 429 || status == 503) curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after);
    double hold = retry_after > 0 ? (double)retry_after : exhausted_for(t);
    if (status == 429 && hold < 0) hold = reset_hint(t);
    if (hold > 0) {
        double capped = t->o.retry.max > 0 ? fmin(hold, t->o.retry.max) : hold;
        for (int i = 0; i < 2; i++)
            if (t->o.limits[i]) fy_bucket_block_until(t->o.limits[i], now + capped);
    }

    double wait = -1;                          /* >= 0: the next attempt starts after this */
    if (klass && retryable && method_retryable(t) && t->attempt < t->o.retry.attempts) {
        double cap = fmin(t->o.retry.max > 0 ? t->o.retry.max : 300, t->o.retry.base * pow(2, t->attempt - 1));
        wait = jitter(cap);
        if (hold > 0) wait = fmax(wait, t->o.retry.max > 0 ? fmin(hold, t->o.retry.max) : hold);
        if (t->o.retry.deadline > 0 && now + wait - t->started > t->o.retry.deadline) {
            char d[48];
            size_t n = strlen(msg);
            fy_duration_format(t->o.retry.deadline, d, sizeof d);
            snprintf(msg + n, sizeof msg - n, " (gave up: the retry deadline of %s would pass)", d);
            wait = -1;
        } else if (!t->wait && !(t->wait = evtimer_new(h->base, wait_done, t))) {
            wait = -1;
        }
    }

    struct fy_http_result res = {0};
    res.ok = klass == NULL;
    res.status = status;
    res.klass = klass;
    res.message = klass ? msg : NULL;
    res.attempts = t->attempt;
    res.elapsed = now - t->attempt_started;
    struct fy_buf taken = {(char *)t->taken, t->taken_len, t->taken_len};
    res.body = t->taken ? &taken : &t->resp_body;
    res.body_taken = t->taken != NULL;
    res.headers = &t->resp_headers;
    char *eff = NULL;
    long redirects = 0;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &eff);
    curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_COUNT, &redirects);
    res.effective_url = eff ? eff : t->url;
    res.redirected = redirects > 0;
    res.transfer = t;
    fy_metrics_http_attempt(t->o.metrics, status, res.elapsed, wait >= 0);
    if (t->o.on_attempt) t->o.on_attempt(&res, wait, t->arg);
    if (wait >= 0) {
        struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
        if (evtimer_add(t->wait, &tv) == 0) return;
    }

    res.elapsed = now - t->started;
    t->finishing = 1;
    t->done(&res, t->arg);
    transfer_free(t);
}

void fy_http_result_free_body(const struct fy_http_result *res) {
    struct transfer *t = res->transfer;
    if (t && res->body == &t->resp_body) free_body(t);
}

void fy_http_cancel(struct fy_http *h, const void *owner) {
    for (struct transfer *t = h->transfers, *next; t; t = next) {
        next = t->next;
        if (t->o.owner == owner && !t->finishing) transfer_free(t);
    }
}

/* The entry of a caller's handle, or NULL for one of our transfers. */
static struct foreign **find_foreign(struct fy_http *h, CURL *easy) {
    for (struct foreign **f = &h->foreign; *f; f = &(*f)->next)
        if ((*f)->easy == easy) return f;
    return NULL;
}

int fy_http_add_easy(struct fy_http *h, CURL *easy, fy_http_easy_done_fn done, void *arg, char *err,
                     size_t errlen) {
    struct foreign *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return FY_ERR;
    }
    /* curl must close sockets through close_cb, which frees their watches:
     * a watch left behind would serve the next socket given the same fd */
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, h);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (curl_multi_add_handle(h->multi, easy) != CURLM_OK) {
        snprintf(err, errlen, "cannot start the transfer");
        free(f);
        return FY_ERR;
    }
    *f = (struct foreign){easy, done, arg, h->foreign};
    h->foreign = f;
    return FY_OK;
}

void fy_http_remove_easy(struct fy_http *h, CURL *easy) {
    struct foreign **p = find_foreign(h, easy), *f = p ? *p : NULL;
    if (!f) return;
    *p = f->next;
    curl_multi_remove_handle(h->multi, easy);
    free(f);
}

static void check_multi_info(struct fy_http *h) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct foreign **p = h->foreign ? find_foreign(h, m->easy_handle) : NULL;
        if (p) {                                   /* a caller's handle: its result, and it is theirs again */
            struct foreign *f = *p;
            CURLcode result = m->data.result;
            *p = f->next;
            curl_multi_remove_handle(h->multi, f->easy);
            f->done(f->easy, result, f->arg);
            free(f);
            continue;
        }
        struct transfer *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        attempt_done(t, m->data.result);
    }
}

int fy_http_start(struct fy_http *h, struct fy_http_opts *o, fy_http_done_fn done, void *arg,
                  char *err, size_t errlen) {
    struct transfer *t = calloc(1, sizeof *t);
    if (!t) {
        if (!o->headers_shared) curl_slist_free_all(o->headers);
        snprintf(err, errlen, "out of memory");
        return FY_ERR;
    }
    t->http = h;
    t->o = *o;
    if (!o->headers_shared) o->headers = NULL;  /* ours now */
    t->resp_body = buf_take(h);
    t->resp_headers = buf_take(h);
    t->method = strdup(o->method);
    t->url = strdup(o->url);
    if (o->body) {
        t->body = malloc(o->body_len + 1);
        if (t->body) {
            memcpy(t->body, o->body, o->body_len);
            t->body[o->body_len] = '\0';
        }
    }
    if (t->o.retry.attempts < 1) t->o.retry.attempts = 1;
    if (!t->o.max_size) t->o.max_size = 64u << 20;
    t->waiter.ready = waiter_ready;
    t->done = done;
    t->arg = arg;
    int pooled = h->npool > 0;
    t->easy = pooled ? h->pool[--h->npool] : curl_easy_init();
    t->next = h->transfers;
    if (h->transfers) h->transfers->prev = t;
    h->transfers = t;
    if (!t->method || !t->url || (o->body && !t->body) || !t->easy || setup_easy(t, pooled) != FY_OK) {
        snprintf(err, errlen, "cannot set up the request");
        transfer_free(t);
        return FY_ERR;
    }
    t->started = fy_time_monotonic();
    begin_attempt(t);
    return FY_OK;
}

/* ---- redaction ----------------------------------------------------------- */

/* Query parameter names that carry credentials: exact names, and names
 * ending in _token, _key, _secret or _password (access_token, api_key, ...). */
static int secret_name(const char *name, size_t len) {
    static const char *exact[] = {"token", "key", "apikey", "secret", "password", "passwd", "pwd",
                                  "signature", "sig", "auth", "authorization", "code", "session",
                                  "sessionid", "credentials", "client_secret", "x-amz-signature"};
    static const char *suffix[] = {"_token", "_key", "_secret", "_password", "-token", "-key"};
    char low[64];
    if (len >= sizeof low) len = sizeof low - 1;
    for (size_t i = 0; i < len; i++) low[i] = (char)tolower((unsigned char)name[i]);
    low[len] = '\0';
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(low, exact[i]) == 0) return 1;
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        size_t sl = strlen(suffix[i]);
        if (len > sl && strcmp(low + len - sl, suffix[i]) == 0) return 1;
    }
    return 0;
}

/* Where the authority of url starts: after "scheme://", after a leading
 * "//", or at the start of a URL without either ("user:pw@host/x"). */
static const char *authority_of(const char *url) {
    const char *p = url;
    if (p[0] == '/' && p[1] == '/') return p + 2;
    if (isalpha((unsigned char)*p)) {
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.') p++;
        if (strncmp(p, "://", 3) == 0) return p + 3;
    }
    return url;
}

/* The '@' that ends url's userinfo, or NULL. The userinfo is everything up
 * to the last '@' of the authority, so a password with '@' in it is hidden
 * whole. A password with a raw '/', '?' or '#' ends the authority early
 * ("user:p/ss@host"): an authority whose "port" is not a number is taken
 * as the start of such a userinfo, which then runs to the last '@' before
 * the query (more than the userinfo if the path has an '@' too). */
static const char *userinfo_end(const char *host) {
    size_t alen = strcspn(host, "/?#");
    const char *at = NULL;
    for (const char *s = host; s < host + alen; s++)
        if (*s == '@') at = s;
    if (at) return at;
    const char *colon = memchr(host, ':', alen);
    if (!colon || strspn(colon + 1, "0123456789") == (size_t)(host + alen - colon - 1)) return NULL;
    for (const char *s = host + alen; *s && *s != '?' && *s != '#'; s++)
        if (*s == '@') at = s;
    return at;
}

void fy_http_redact_url(const char *url, char *out, size_t cap) {
    if (!strpbrk(url, "@?")) {                   /* no userinfo, no query: nothing to hide */
        size_t n = strlen(url);
        if (n >= cap) n = cap - 1;
        memcpy(out, url, n);
        out[n] = '\0';
        return;
    }
    struct fy_buf b = {0};
    const char *host = authority_of(url), *at = userinfo_end(host), *p = host;
    fy_buf_append(&b, url, (size_t)(host - url));
    if (at) {                                    /* user:password@ */
        fy_buf_puts(&b, "[REDACTED]@");
        p = at + 1;
    }
    const char *q = strchr(p, '?');
    if (!q) {
        fy_buf_puts(&b, p);
    } else {
        fy_buf_append(&b, p, (size_t)(q - p) + 1);
        for (const char *s = q + 1; *s;) {
            size_t len = strcspn(s, "&#");
            const char *eq = memchr(s, '=', len);
            if (eq && secret_name(s, (size_t)(eq - s))) {
                fy_buf_append(&b, s, (size_t)(eq - s) + 1);
                fy_buf_puts(&b, "REDACTED");
            } else {
                fy_buf_append(&b, s, len);
            }
            s += len;
            if (*s == '&') { fy_buf_putc(&b, '&'); s++; }
            else if (*s == '#') { fy_buf_puts(&b, s); break; }
        }
    }
    snprintf(out, cap, "%s", b.data ? b.data : "");
    fy_buf_free(&b);
}
