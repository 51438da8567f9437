/* fy_watch: a watchdog thread that taps the loop thread on the shoulder
 * (a signal) when one call into Lua has lasted a whole tick.
 *
 * Why: any Lua hook makes the interpreter stop at every instruction (Lua
 * 5.4's `trap`), 10% of the pipeline's loop thread (callgrind). With
 * the watchdog, scripts run hook-free and the instruction guard is armed
 * (fy_vm.c) only for a call that outlasts FY_WATCH_TICK_MS: a call begins
 * at every fy_watch_call(), and when the counter has not moved for a full
 * tick the watchdog sends FY_WATCH_SIGNAL to the loop thread, whose
 * handler runs the `poke` function given to fy_watch_start. One signal per
 * overlong call; an idle watchdog sleeps until the next call. */
#ifndef FY_WATCH_H
#define FY_WATCH_H

#include <signal.h>

#define FY_WATCH_TICK_MS 10
/* SIGURG, as Go's preemption uses it: ignored by default and by nothing
 * else in ferry, so a stray one is harmless. */
#define FY_WATCH_SIGNAL SIGURG

/* Start watching the calling thread (once per process; the thread that
 * runs Lua). `poke` runs in the signal handler on that thread: it must be
 * async-signal-safe. FY_OK when the calling thread is the watched one
 * (now or from before), FY_ERR otherwise (another thread is watched, or
 * the thread or the handler could not be set up): the caller must then
 * guard some other way. */
int fy_watch_start(void (*poke)(unsigned long call));

/* A new call begins: bump the call counter (and wake a sleeping watchdog).
 * Cheap: one atomic add and one atomic load on the common path. */
void fy_watch_call(void);

/* The current call's number. */
unsigned long fy_watch_current(void);

#endif
