/* A run: one coroutine in an integration's lua_State, driven by the engine's
 * event loop. Lua calls that wait (ferry.sleep, later HTTP) register an event
 * and yield; the event's callback resumes the coroutine through
 * fy_run_resume, the only place in ferry that calls lua_resume. */
#ifndef FY_RUN_H
#define FY_RUN_H

#include <lua.h>

struct fy_engine;
struct fy_vm;
struct event;
struct fy_run;

/* Called once when the body returns or raises. On success the body's
 * results are on run->co's stack (nres of them); on error `error` is set. */
typedef void (*fy_run_done_fn)(struct fy_run *run, int nres, void *arg);

struct fy_run {
    struct fy_engine *engine;
    struct fy_vm *vm;
    lua_State *co;              /* the run's coroutine */
    int co_ref;                 /* registry ref keeping co alive */
    char id[40];                /* "20261126T143345Z-3f2a9c" */
    struct event *timer;        /* armed while the script sleeps */
    struct event *deadline;     /* limits.run_time: trips the run limit */
    int waiting;                /* set by a Lua call that yields for I/O */
    double started;             /* monotonic seconds */
    double ended;
    char *error;                /* message + traceback when the body raised */
    char *blocked;              /* set when a pause action stopped the run: every further HTTP
                                   request fails at once with this reason, of class blocked_class */
    char blocked_class[24];
    int finished;
    fy_run_done_fn on_done;
    void *arg;
};

/* Create a run on `vm`. Push the body function and its arguments on run->co,
 * then call fy_run_resume(run, nargs). NULL on out of memory. */
struct fy_run *fy_run_create(struct fy_engine *engine, struct fy_vm *vm, fy_run_done_fn on_done, void *arg);
void fy_run_destroy(struct fy_run *run);

/* A new run id ("20261126T143345Z-3f2a9c") into out (40 bytes fit). */
void fy_run_make_id(char *out, size_t cap);

/* Resume the coroutine with nargs values pushed on run->co. */
void fy_run_resume(struct fy_run *run, int nargs);

/* The run whose coroutine L is, or NULL (main thread, a script's own coroutine). */
struct fy_run *fy_run_of(lua_State *L);

/* ferry.sleep(seconds): yields the run for that long without blocking the loop. */
int fy_run_lua_sleep(lua_State *L);

#endif
