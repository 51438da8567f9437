/* A watchdog thread that signals the loop thread when a call overstays; see fy_watch.h. */
#include "fy_watch.h"
#include "fy_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_mutex_t lock;       /* with `wake`: the watchdog's sleep between calls */
    pthread_cond_t wake;
    pthread_t loop;             /* the watched thread (runs Lua) */
    pthread_t thread;           /* the watchdog */
    int started;                /* touched on the watched thread only, after the first start */
    void (*poke)(unsigned long call);
    atomic_ulong call;          /* bumped by every fy_watch_call */
    atomic_ulong poked;         /* the call the last signal was sent for */
    atomic_int parked;          /* the watchdog waits on `wake` for the next call */
} watch = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* On the watched thread, interrupting whatever it does. A signal for a
 * call that has ended since it was sent is dropped: the new call gets its
 * own tick. */
static void on_signal(int sig) {
    FY_UNUSED(sig);
    int saved = errno;
    unsigned long poked = atomic_load(&watch.poked);
    if (pthread_equal(pthread_self(), watch.loop) && atomic_load(&watch.call) == poked) watch.poke(poked);
    errno = saved;
}

/* Sample the call counter every tick; when it stood still for a whole
 * tick, signal once and sleep until it moves (the Dekker pair with
 * fy_watch_call: `parked` is set before the counter is read again, the
 * counter bumped before `parked` is read, so one of them sees the other). */
static void *watch_main(void *arg) {
    FY_UNUSED(arg);
    struct timespec tick = {0, FY_WATCH_TICK_MS * 1000000L};
    unsigned long seen = atomic_load(&watch.call);
    for (;;) {
        nanosleep(&tick, NULL);
        unsigned long now = atomic_load(&watch.call);
        if (now != seen) {
            seen = now;
            continue;
        }
        atomic_store(&watch.poked, now);
        pthread_kill(watch.loop, FY_WATCH_SIGNAL);
        pthread_mutex_lock(&watch.lock);
        atomic_store(&watch.parked, 1);
        while (atomic_load(&watch.call) == now) pthread_cond_wait(&watch.wake, &watch.lock);
        atomic_store(&watch.parked, 0);
        pthread_mutex_unlock(&watch.lock);
        seen = atomic_load(&watch.call);
    }
    return NULL;
}

int fy_watch_start(void (*poke)(unsigned long call)) {
    if (watch.started) return pthread_equal(pthread_self(), watch.loop) ? FY_OK : FY_ERR;
    watch.loop = pthread_self();
    watch.poke = poke;
    atomic_store(&watch.poked, atomic_load(&watch.call) - 1);   /* no signal is pending */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;               /* reads and writes carry on; poll and sleeps may see EINTR */
    sigemptyset(&sa.sa_mask);
    if (sigaction(FY_WATCH_SIGNAL, &sa, NULL) != 0) return FY_ERR;
    /* the watchdog itself never takes the signal */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, FY_WATCH_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&watch.thread, NULL, watch_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        signal(FY_WATCH_SIGNAL, SIG_DFL);
        return FY_ERR;
    }
    pthread_detach(watch.thread);
    watch.started = 1;
    return FY_OK;
}

void fy_watch_call(void) {
    atomic_fetch_add(&watch.call, 1);
    if (atomic_load(&watch.parked)) {
        pthread_mutex_lock(&watch.lock);
        pthread_cond_signal(&watch.wake);
        pthread_mutex_unlock(&watch.lock);
    }
}

unsigned long fy_watch_current(void) {
    return atomic_load_explicit(&watch.call, memory_order_relaxed);
}
