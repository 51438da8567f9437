/* Token buckets on the event loop; see fy_ratelimit.h.
 *
 * Implemented as GCRA (the generic cell rate algorithm): `tat` is the
 * theoretical arrival time of the next request at the configured rate; a
 * request may go when now >= tat - (burst - 1) / rate. Queued requests are
 * served from tat, not from the moment the timer happened to fire, so a
 * late timer does not lower the long-run rate. */
#include "fy_ratelimit.h"
#include "fy_common.h"
#include "fy_time.h"

#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fy_bucket {
    char *key;
    double rate;                       /* requests per second; 0 = unlimited */
    double burst;                      /* requests allowed back to back */
    double tat;                        /* theoretical arrival time (monotonic) */
    double blocked_until;              /* nothing before this (429, exhausted window) */
    struct fy_bucket_waiter *head;     /* FIFO of waiting requests */
    struct fy_bucket_waiter *tail;
    struct event *timer;               /* fires when the head can go */
};

/* When the next request may go (monotonic seconds). */
static double next_time(const struct fy_bucket *b) {
    double t = b->blocked_until;
    if (b->rate > 0) t = fmax(t, b->tat - (b->burst - 1) / b->rate);
    return t;
}

/* Account for one request going at `now`. A queued request that goes a
 * little late keeps its slot (tat advances from tat), so lateness is not
 * lost; after an idle spell the schedule restarts from now. */
static void take(struct fy_bucket *b, double now, int queued) {
    if (b->rate <= 0) return;
    double interval = 1 / b->rate;
    if (queued && now - b->tat < interval) b->tat += interval;
    else b->tat = fmax(b->tat, now) + interval;
}

static void arm(struct fy_bucket *b, double secs) {
    if (secs < 0) secs = 0;
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6)};
    evtimer_add(b->timer, &tv);
}

/* Serve queued waiters in order while they may go, then re-arm. */
static void serve(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    struct fy_bucket *b = arg;
    while (b->head) {
        double now = fy_time_monotonic(), at = next_time(b);
        if (at > now) {
            arm(b, at - now);
            return;
        }
        struct fy_bucket_waiter *w = b->head;
        b->head = w->next;
        if (!b->head) b->tail = NULL;
        w->next = NULL;
        take(b, now, 1);
        w->ready(w);
    }
}

struct fy_bucket *fy_bucket_create(struct event_base *base, const char *key, double rate, double burst) {
    struct fy_bucket *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->key = strdup(key);
    b->timer = evtimer_new(base, serve, b);
    if (!b->key || !b->timer) {
        fy_bucket_destroy(b);
        return NULL;
    }
    fy_bucket_set_rate(b, rate, burst);
    return b;
}

void fy_bucket_destroy(struct fy_bucket *b) {
    if (!b) return;
    if (b->timer) event_free(b->timer);
    free(b->key);
    free(b);
}

const char *fy_bucket_key(const struct fy_bucket *b) { return b->key; }

void fy_bucket_set_rate(struct fy_bucket *b, double rate, double burst) {
    b->rate = rate > 0 ? rate : 0;
    b->burst = burst >= 1 ? burst : 1;
}

int fy_bucket_acquire(struct fy_bucket *b, struct fy_bucket_waiter *w) {
    double now = fy_time_monotonic();
    if (!b->head && next_time(b) <= now) {
        take(b, now, 0);
        return 1;
    }
    w->next = NULL;
    if (b->tail) b->tail->next = w;
    else b->head = w;
    b->tail = w;
    if (!evtimer_pending(b->timer, NULL)) arm(b, next_time(b) - now);
    return 0;
}

void fy_bucket_cancel(struct fy_bucket *b, struct fy_bucket_waiter *w) {
    struct fy_bucket_waiter **p = &b->head, *prev = NULL;
    for (; *p; prev = *p, p = &(*p)->next) {
        if (*p != w) continue;
        *p = w->next;
        if (b->tail == w) b->tail = prev;
        w->next = NULL;
        return;
    }
}

void fy_bucket_block_until(struct fy_bucket *b, double until) {
    if (until <= b->blocked_until) return;
    b->blocked_until = until;
    if (b->head) {
        evtimer_del(b->timer);
        arm(b, next_time(b) - fy_time_monotonic());
    }
}
