/* Unit tests for core/fy_watch.c: a call that stands still for a tick is
 * signalled once, on the watched thread, for that call only. No timed
 * assertion: each wait is "until it happens", bounded by 10 s. */
#include "fy_watch.h"
#include "fy_common.h"
#include "testhelp.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

static volatile sig_atomic_t pokes;
static volatile unsigned long poked_call;
static pthread_t poked_on;

static void poke(unsigned long call) {
    pokes++;
    poked_call = call;
    poked_on = pthread_self();
}

/* Spin (no system call that a signal would cut short matters here) until
 * pokes reaches `want` or 10 s passed; returns whether it did. */
static int wait_pokes(int want) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (pokes < want) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 10) return 0;
    }
    return 1;
}

static void *other_thread(void *arg) {
    *(int *)arg = fy_watch_start(poke);
    return NULL;
}

int main(void) {
    fy_watch_call();                /* before the watchdog's first look: it starts on a call */
    fy_test_cond("the first thread to start is watched", fy_watch_start(poke) == FY_OK);
    fy_test_cond("starting again on it is fine", fy_watch_start(poke) == FY_OK);
    int rc = FY_OK;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, &rc);
    pthread_join(t, NULL);
    fy_test_cond("another thread is refused (it must guard some other way)", rc == FY_ERR);

    unsigned long first = fy_watch_current();
    fy_test_cond("a call that stands still is signalled", wait_pokes(1));
    fy_test_cond("for that call", poked_call == first);
    fy_test_cond("on the watched thread", pthread_equal(poked_on, pthread_self()));

    /* the watchdog now sleeps until the next call: a long wait sees no second signal */
    struct timespec pause = {0, 100 * 1000000L};
    while (nanosleep(&pause, &pause) != 0) {}
    fy_test_cond("one signal per call", pokes == 1);

    fy_watch_call();
    fy_test_cond("the next call that stands still is signalled too", wait_pokes(2));
    fy_test_cond("for the new call", poked_call == first + 1);
    return fy_test_report();
}
