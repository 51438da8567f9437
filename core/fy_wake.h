/* Waking the loop from another thread: a non-blocking pipe whose read end
 * is a persistent event on the loop. Any thread may signal; the loop runs
 * the callback once for every wake-up it sees, however many signals came
 * since (a full pipe already holds one). The database writer and the JSON
 * thread hand their finished jobs back this way. */
#ifndef FY_WAKE_H
#define FY_WAKE_H

#include <stddef.h>

struct event;
struct event_base;

struct fy_wake {
    int r, w;                       /* the pipe */
    struct event *ev;               /* r's, on the loop */
    void (*fn)(void *arg);
    void *arg;
};

/* Open k on `base` to call fn(arg) on the loop. FY_ERR with err, and
 * nothing to close, on failure. k must stay where it is until closed. */
int fy_wake_open(struct fy_wake *k, struct event_base *base, void (*fn)(void *), void *arg, char *err,
                 size_t errlen);

/* From any thread. */
void fy_wake_signal(struct fy_wake *k);

/* Close what fy_wake_open opened. */
void fy_wake_close(struct fy_wake *k);

#endif
