/* Token buckets on the event loop; see fy_ratelimit.h. */
#include "fy_ratelimit.h"
#include "fy_common.h"

#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fy_bucket {
    char *key;
    double rate;                       /* tokens per second; 0 = unlimited */
    double burst;                      /* capacity */
    double tokens;                     /* available now (fractional) */
    double refilled_at;                /* monotonic time of the last refill */
    double blocked_until;              /* no tokens before this (adaptive) */
    struct fy_bucket_waiter *head;     /* FIFO of waiting requests */
    struct fy_bucket_waiter *tail;
    struct event *timer;               /* fires when the head can be served */
};

static void refill(struct fy_bucket *b, double now) {
    if (b->rate > 0) {
        b->tokens = fmin(b->burst, b->tokens + (now - b->refilled_at) * b->rate);
    } else {
        b->tokens = b->burst;
    }
    b->refilled_at = now;
}

/* Seconds until a token can be taken (0 = now). */
static double wait_time(struct fy_bucket *b, double now) {
    double w = b->blocked_until > now ? b->blocked_until - now : 0;
    if (b->rate > 0 && b->tokens < 1) w = fmax(w, (1 - b->tokens) / b->rate);
    return w;
}

static void arm(struct fy_bucket *b, double secs) {
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6) + 1};
    evtimer_add(b->timer, &tv);
}

/* Serve queued waiters in order while tokens last, then re-arm. */
static void serve(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    struct fy_bucket *b = arg;
    while (b->head) {
        double now = fy_monotonic();
        refill(b, now);
        double w = wait_time(b, now);
        if (w > 0) {
            arm(b, w);
            return;
        }
        struct fy_bucket_waiter *wt = b->head;
        b->head = wt->next;
        if (!b->head) b->tail = NULL;
        wt->next = NULL;
        b->tokens -= 1;
        wt->ready(wt);                 /* may acquire again or destroy nothing of ours */
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
    b->tokens = b->burst;
    b->refilled_at = fy_monotonic();
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
    if (b->tokens > b->burst) b->tokens = b->burst;
}

int fy_bucket_acquire(struct fy_bucket *b, struct fy_bucket_waiter *w) {
    double now = fy_monotonic();
    refill(b, now);
    if (!b->head && wait_time(b, now) == 0) {
        b->tokens -= 1;
        return 1;
    }
    w->next = NULL;
    if (b->tail) b->tail->next = w;
    else b->head = w;
    b->tail = w;
    if (!evtimer_pending(b->timer, NULL)) arm(b, wait_time(b, now));
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
        arm(b, until - fy_monotonic());
    }
}
