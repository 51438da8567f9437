/* Waking the loop from another thread; see fy_wake.h. */
#include "fy_wake.h"
#include "fy_common.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_wake(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(what);
    struct fy_wake *k = arg;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {}
    k->fn(k->arg);
}

int fy_wake_open(struct fy_wake *k, struct event_base *base, void (*fn)(void *), void *arg, char *err,
                 size_t errlen) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
        return FY_ERR;
    }
    k->r = fds[0];
    k->w = fds[1];
    k->fn = fn;
    k->arg = arg;
    k->ev = event_new(base, k->r, EV_READ | EV_PERSIST, on_wake, k);
    if (!k->ev || event_add(k->ev, NULL) != 0) {
        snprintf(err, errlen, "cannot watch a pipe on the event loop");
        fy_wake_close(k);
        return FY_ERR;
    }
    return FY_OK;
}

void fy_wake_signal(struct fy_wake *k) {
    ssize_t n;
    do n = write(k->w, "", 1); while (n < 0 && errno == EINTR);
    /* EAGAIN: the pipe already holds a wake-up, and the loop takes everything due at once */
}

void fy_wake_close(struct fy_wake *k) {
    if (k->ev) event_free(k->ev);
    k->ev = NULL;
    close(k->r);
    close(k->w);
}
