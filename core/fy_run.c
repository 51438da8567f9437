/* Runs as coroutines on the event loop; see fy_run.h. */
#include "fy_run.h"
#include "fy_common.h"
#include "fy_engine.h"
#include "fy_log.h"
#include "fy_vm.h"
#include "fy_time.h"

#include <event2/event.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void fy_run_make_id(char *out, size_t cap) {
    unsigned char rnd[3] = {0};
    struct tm tm;
    time_t now = time(NULL);
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        unsigned v = (unsigned)clock();
        memcpy(rnd, &v, sizeof rnd);
    }
    gmtime_r(&now, &tm);
    size_t n = strftime(out, cap, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out + n, cap - n, "-%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
}

struct fy_run *fy_run_of(lua_State *L) {
    return *(struct fy_run **)lua_getextraspace(L);
}

static void sleep_done(evutil_socket_t fd, short what, void *arg);

/* limits.run_time passed: trip the run limit, so the script's next
 * instruction ends the run; a sleeping run is woken for that now (a run
 * waiting on HTTP ends with that request's own timeout at the latest). */
static void deadline_passed(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    struct fy_run *run = arg;
    fy_vm_trip(run->vm, run->co, FY_TRIP_RUN, "run time limit exceeded: the run took longer than %gs "
               "(limits.run_time in the config)", run->vm->cfg->limits.run_time);
    if (run->timer && evtimer_pending(run->timer, NULL)) {
        evtimer_del(run->timer);
        fy_run_resume(run, 0);
    }
}

/* fy_vm_protect body: the run's coroutine, anchored in the registry. */
static int new_thread(lua_State *L) {
    struct fy_run *run = lua_touserdata(L, 1);
    lua_State *co = lua_newthread(L);
    run->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    run->co = co;
    return 0;
}

struct fy_run *fy_run_create(struct fy_engine *engine, struct fy_vm *vm, fy_run_done_fn on_done, void *arg) {
    struct fy_run *run = calloc(1, sizeof *run);
    if (!run) return NULL;
    run->engine = engine;
    run->vm = vm;
    run->on_done = on_done;
    run->arg = arg;
    fy_run_make_id(run->id, sizeof run->id);
    char err[FY_ERRLEN];
    if (fy_vm_protect(vm, new_thread, run, 1, err, sizeof err) != FY_OK) {   /* the script may sit at its limit */
        fy_log(FY_LOG_ERROR, vm->name, "cannot start a run: %s", err);
        free(run);
        return NULL;
    }
    *(struct fy_run **)lua_getextraspace(run->co) = run;
    run->started = fy_time_monotonic();
    double limit = vm->cfg->limits.run_time;
    vm->run_deadline = run->started + limit;
    if (engine) {
        struct timeval tv = {(time_t)limit, (suseconds_t)((limit - floor(limit)) * 1e6)};
        run->deadline = evtimer_new(engine->base, deadline_passed, run);
        if (run->deadline) evtimer_add(run->deadline, &tv);
    }
    return run;
}

void fy_run_destroy(struct fy_run *run) {
    if (!run) return;
    if (run->timer) event_free(run->timer);
    if (run->deadline) event_free(run->deadline);
    if (run->co) {
        *(struct fy_run **)lua_getextraspace(run->co) = NULL;
        luaL_unref(run->vm->L, LUA_REGISTRYINDEX, run->co_ref);
    }
    free(run->error);
    free(run->blocked);
    free(run);
}

static void run_finish(struct fy_run *run, int nres) {
    run->finished = 1;
    run->vm->co = NULL;
    run->vm->run_deadline = INFINITY;
    fy_vm_trip_clear(run->vm, 1);
    if (run->deadline) evtimer_del(run->deadline);
    run->ended = fy_time_monotonic();
    if (run->engine && --run->engine->active_runs == 0 && !run->engine->serving)
        event_base_loopexit(run->engine->base, NULL);   /* idle connections must not keep us */
    run->on_done(run, nres, run->arg);
}

/* fy_vm_protect body: run->error = the error on run->co with a traceback. */
static int traceback(lua_State *L) {
    struct fy_run *run = lua_touserdata(L, 1);
    const char *msg = lua_tostring(run->co, -1);
    luaL_traceback(L, run->co, msg ? msg : "(error object is not a string)", 0);
    run->error = strdup(lua_tostring(L, -1));
    return 0;
}

/* Resume run->co with nargs values on its stack. This is the only
 * lua_resume in ferry. Outcomes:
 *   LUA_YIELD  the script is waiting on an event it registered before
 *              yielding (a timer, a transfer); that event resumes it.
 *   LUA_OK     the body returned; its results go to on_done.
 *   otherwise  an error escaped the body: the run failed, with traceback. */
void fy_run_resume(struct fy_run *run, int nargs) {
    int nres = 0;
    fy_vm_guard_reset(run->vm);
    run->vm->co = run->co;
    run->waiting = 0;
    int rc = lua_resume(run->co, run->vm->L, nargs, &nres);
    switch (rc) {
    case LUA_YIELD:
        if (!run->waiting) {
            /* A bare coroutine.yield() from script code: nothing will wake it. */
            lua_pop(run->co, nres);
            run->error = strdup("the script yielded outside ferry's I/O (coroutine.yield in a hook?)");
            run_finish(run, 0);
        }
        return;
    case LUA_OK:
        run_finish(run, nres);
        return;
    default: {
        char err[FY_ERRLEN];
        if (fy_vm_protect(run->vm, traceback, run, 1, err, sizeof err) != FY_OK) {
            const char *msg = lua_type(run->co, -1) == LUA_TSTRING ? lua_tostring(run->co, -1) : NULL;
            run->error = strdup(msg ? msg : err);
        }
        lua_settop(run->co, 0);
        run_finish(run, 0);
    }
    }
}

static void sleep_done(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    fy_run_resume(arg, 0);
}

int fy_run_lua_sleep(lua_State *L) {
    lua_Number secs = luaL_checknumber(L, 1);
    luaL_argcheck(L, secs >= 0 && isfinite(secs), 1, "expected a non-negative number of seconds");
    struct fy_run *run = fy_run_of(L);
    if (!run || !run->engine || !lua_isyieldable(L))
        return luaL_error(L, "ferry.sleep: only inside a run (not at load time, not in a coroutine of the script's own)");
    if (!run->timer) run->timer = evtimer_new(run->engine->base, sleep_done, run);
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6)};
    if (!run->timer || evtimer_add(run->timer, &tv) != 0)
        return luaL_error(L, "ferry.sleep: cannot arm a timer");
    run->waiting = 1;
    return lua_yield(L, 0);
}
