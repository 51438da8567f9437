/* Lua states with limits and a restricted library; see fy_vm.h. */
#include "fy_vm.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_run.h"
#include "fy_sandbox.h"
#include "fy_time.h"
#include "fy_watch.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FY_HOOK_EVERY 10000     /* instructions between guard checks */
#define FY_VM_RESERVE (4u << 20) /* memory ferry may still use to report a tripped limit */

static void trip_memory(struct fy_vm *vm);
static int drop_spares(struct fy_vm *vm);

/* lua_Alloc that keeps L within vm->mem_limit. Frees and shrinks always
 * succeed, as Lua requires; a growth past the limit returns NULL and Lua
 * raises "not enough memory" (after an emergency collection). When even
 * Lua's retry after that collection is refused, the limit trips, so the
 * script cannot catch the error and go on. Once tripped (or inside
 * fy_vm_protect) a reserve opens for ferry to unwind and report. Spare
 * holds go first, at the first refusal: not every growth is retried after
 * a collection (lauxlib's buffers are not). */
static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    struct fy_vm *vm = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        vm->mem_used -= old;
        return NULL;
    }
    size_t limit = vm->mem_limit + (vm->trip || vm->reserve_open ? FY_VM_RESERVE : 0);
    if (nsize > old && vm->mem_used + vm->ext_used - old + nsize > limit &&
        !(drop_spares(vm) && vm->mem_used + vm->ext_used - old + nsize <= limit)) {
        if (ptr == vm->mem_fail_ptr && nsize == vm->mem_fail_size && !vm->trip && vm->L) trip_memory(vm);
        vm->mem_fail_ptr = ptr;
        vm->mem_fail_size = nsize;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    vm->mem_fail_ptr = NULL;
    vm->mem_fail_size = 0;
    vm->mem_used = vm->mem_used - old + nsize;
    if (vm->mem_used > vm->mem_peak) vm->mem_peak = vm->mem_used;
    return p;
}

/* Is the function running at `ar` part of ferry's own Lua library? */
static int ferry_frame(struct fy_vm *vm, lua_State *L, lua_Debug *ar) {
    if (!vm->lualib_source || !lua_getinfo(L, "S", ar)) return 0;
    return strncmp(ar->source, vm->lualib_source, strlen(vm->lualib_source)) == 0 &&
           !strstr(ar->source, "/..");
}

/* The instruction guard. Scripts run without a hook: any hook makes Lua
 * stop at every instruction, 10% of the pipeline's loop thread. A call
 * that lasts a whole tick of the watchdog (fy_watch.h) is armed from its
 * signal handler (watch_poke); from then on, until the next
 * fy_vm_guard_reset, vm_hook runs every FY_HOOK_EVERY instructions: it
 * counts them and looks at the clock. Once a limit has tripped, every
 * instruction (count 1): raise in script code, let ferry's own frames
 * unwind a call limit. Coroutines the script creates keep the hook from
 * birth (guard_coroutines): the watchdog arms only vm->L and vm->co, the
 * threads ferry knows may be running. A VM the watchdog cannot watch
 * (made on another thread) keeps the hook always, as every VM once did. */

/* VMs the watchdog's handler arms: changed on the loop thread only, and
 * read there by the handler (it interrupts that thread), so single
 * pointer stores keep the list whole at every instant. */
static struct fy_vm *volatile watched;

/* Is L one of the threads the watchdog arms (not one hooked for good)? */
static int armed_thread(struct fy_vm *vm, lua_State *L) {
    return vm->watched && (L == vm->L || L == vm->co);
}

static void vm_hook(lua_State *L, lua_Debug *ar) {
    struct fy_vm *vm = fy_vm_of(L);
    int every = lua_gethookcount(L);
    if (!vm->trip) {
        if (armed_thread(vm, L) && vm->armed_call != fy_watch_current()) {
            lua_sethook(L, NULL, 0, 0);         /* armed for a call that has ended */
            return;
        }
        if (every != FY_HOOK_EVERY) lua_sethook(L, vm_hook, LUA_MASKCOUNT, FY_HOOK_EVERY);
        vm->steps += (uint64_t)every;
        double now = fy_time_monotonic();
        if (vm->steps > vm->step_limit)
            fy_vm_trip(vm, L, FY_TRIP_CALL, "instruction limit exceeded: more than %lld instructions without "
                       "returning (limits.instructions in the config)", (long long)vm->step_limit);
        else if (now > vm->run_deadline)
            fy_vm_trip(vm, L, FY_TRIP_RUN, "run time limit exceeded: the run took longer than %gs "
                       "(limits.run_time in the config)", vm->cfg->limits.run_time);
        else if (now > vm->call_deadline)
            fy_vm_trip(vm, L, FY_TRIP_CALL, "call time limit exceeded: the script ran %gs without handing "
                       "control back to ferry (limits.call_time in the config)", vm->cfg->limits.call_time);
        if (!vm->trip) return;
    } else if (every != 1) {
        lua_sethook(L, vm_hook, LUA_MASKCOUNT, 1);
    }
    if (vm->trip == FY_TRIP_CALL && ferry_frame(vm, L, ar)) return;
    luaL_error(L, "%s", vm->trip_msg);
}

/* In the watchdog's signal handler, on the loop thread: call `call` has
 * lasted a tick. Arm the threads of every watched VM (the running one is
 * among them; an idle VM's hook takes itself off when that VM next runs)
 * with count 1, so the hook runs at the next instruction and counts from
 * there. lua_sethook may be called from a signal handler (ldebug.c) and
 * reaches a loop without calls too (Lua 5.4 rereads the trap on jumps);
 * lua_gethook is a plain read. */
static void watch_poke(unsigned long call) {
    for (struct fy_vm *vm = watched; vm; vm = vm->watch_next) {
        vm->armed_call = call;
        vm->armed = 1;
        lua_State *threads[2] = {vm->L, vm->co};
        for (int i = 0; i < 2; i++)
            if (threads[i] && !lua_gethook(threads[i])) lua_sethook(threads[i], vm_hook, LUA_MASKCOUNT, 1);
    }
}

/* Take the hook off the armed threads, unless a limit tripped (its hook
 * raises until the runner clears it). */
static void watch_disarm(struct fy_vm *vm) {
    if (vm->trip) return;
    vm->armed = 0;
    lua_sethook(vm->L, NULL, 0, 0);
    if (vm->co) lua_sethook(vm->co, NULL, 0, 0);
}

static void watch_add(struct fy_vm *vm) {
    if (fy_watch_start(watch_poke) != FY_OK) {
        lua_sethook(vm->L, vm_hook, LUA_MASKCOUNT, FY_HOOK_EVERY);
        return;
    }
    vm->watched = 1;
    vm->watch_next = watched;
    watched = vm;
}

static void watch_remove(struct fy_vm *vm) {
    if (!vm->watched) return;
    struct fy_vm *volatile *p = &watched;
    while (*p && *p != vm) p = &(*p)->watch_next;
    if (*p) *p = vm->watch_next;
    vm->watched = 0;
}

/* coroutine.create and coroutine.wrap for scripts (upvalue 1: Lua's
 * own): the new thread is hooked for good, as it may run while its
 * resumer waits in C, out of the watchdog's reach. */
static int guarded_coroutine(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    lua_State *co = lua_tothread(L, -1);
    if (!co && lua_getupvalue(L, -1, 1)) {      /* wrap: the thread is its C closure's upvalue */
        co = lua_tothread(L, -1);
        lua_pop(L, 1);
    }
    if (!co) return luaL_error(L, "coroutine: cannot guard the new coroutine");
    lua_sethook(co, vm_hook, LUA_MASKCOUNT, fy_vm_of(L)->trip ? 1 : FY_HOOK_EVERY);
    return 1;
}

static void guard_coroutines(lua_State *L) {
    static const char *names[] = {"create", "wrap", NULL};
    lua_getglobal(L, "coroutine");
    for (const char **f = names; *f; f++) {
        lua_getfield(L, -1, *f);
        lua_pushcclosure(L, guarded_coroutine, 1);
        lua_setfield(L, -2, *f);
    }
    lua_pop(L, 1);
}

void fy_vm_trip(struct fy_vm *vm, lua_State *co, enum fy_trip kind, const char *fmt, ...) {
    if (vm->trip >= kind) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->trip_msg, sizeof vm->trip_msg, fmt, ap);
    va_end(ap);
    vm->trip = kind;
    /* count 1 on every thread that may be running (those hooked already
     * too: the watchdog's handler never touches a hooked thread) */
    lua_sethook(vm->L, vm_hook, LUA_MASKCOUNT, 1);        /* threads created from now on */
    if (vm->co) lua_sethook(vm->co, vm_hook, LUA_MASKCOUNT, 1);
    if (co) lua_sethook(co, vm_hook, LUA_MASKCOUNT, 1);
}

static void trip_memory(struct fy_vm *vm) {
    fy_vm_trip(vm, NULL, FY_TRIP_CALL, "memory limit exceeded (%zu MB; limits.memory in the config)",
               vm->mem_limit >> 20);
}

size_t fy_vm_room(const struct fy_vm *vm) {
    size_t used = vm->mem_used + vm->ext_used;
    return used < vm->mem_limit ? vm->mem_limit - used : 0;
}

/* Called from the loop (an HTTP transfer's callbacks), never while Lua
 * runs: a full collection there is safe, and garbage must not refuse a
 * body that would fit. */
int fy_vm_may_hold(void *ud, size_t more) {
    struct fy_vm *vm = ud;
    if (more <= fy_vm_room(vm)) return 1;
    lua_gc(vm->L, LUA_GCCOLLECT);
    if (more <= fy_vm_room(vm)) return 1;
    return drop_spares(vm) && more <= fy_vm_room(vm);
}

void fy_vm_spare_add(struct fy_vm *vm, struct fy_vm_spare *sp) {
    if (sp->listed) return;
    sp->prev = NULL;
    sp->next = vm->spares;
    if (vm->spares) vm->spares->prev = sp;
    vm->spares = sp;
    sp->listed = 1;
}

void fy_vm_spare_remove(struct fy_vm *vm, struct fy_vm_spare *sp) {
    if (!sp->listed) return;
    if (sp->prev) sp->prev->next = sp->next;
    else vm->spares = sp->next;
    if (sp->next) sp->next->prev = sp->prev;
    sp->prev = sp->next = NULL;
    sp->listed = 0;
}

/* Give back every spare hold; 0 when there was none. */
static int drop_spares(struct fy_vm *vm) {
    if (!vm->spares) return 0;
    while (vm->spares) {
        struct fy_vm_spare *sp = vm->spares;
        fy_vm_spare_remove(vm, sp);
        sp->drop(sp);
    }
    return 1;
}

int fy_vm_hold(struct fy_vm *vm, size_t *held, size_t now) {
    int ok = now <= *held || fy_vm_may_hold(vm, now - *held);
    vm->ext_used = vm->ext_used - *held + now;     /* the buffer exists either way */
    *held = now;
    return ok ? FY_OK : FY_ERR;
}

int fy_vm_try_hold(struct fy_vm *vm, size_t *held, size_t now) {
    if (now > *held && !fy_vm_may_hold(vm, now - *held)) return FY_ERR;
    return fy_vm_hold(vm, held, now);
}

void fy_vm_trip_clear(struct fy_vm *vm, int run) {
    if (vm->trip == FY_TRIP_CALL || (run && vm->trip)) vm->trip = FY_TRIP_NONE;
}

struct fy_vm *fy_vm_of(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

void fy_vm_guard_reset(struct fy_vm *vm) {
    vm->steps = 0;
    vm->call_deadline = fy_time_monotonic() + vm->cfg->limits.call_time;
    if (!vm->watched) return;
    fy_watch_call();                /* first: a signal still on its way for the old call is dropped */
    if (vm->armed) watch_disarm(vm);
}

int fy_vm_protect(struct fy_vm *vm, lua_CFunction fn, void *ud, int reserve, char *err, size_t errlen) {
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 4)) {
        snprintf(err, errlen, "out of memory (Lua stack)");
        return FY_ERR;
    }
    vm->reserve_open += reserve != 0;
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    int rc = lua_pcall(L, 1, 0, 0);
    vm->reserve_open -= reserve != 0;
    if (rc != LUA_OK) {
        const char *m = rc == LUA_ERRMEM ? NULL : lua_tostring(L, -1);
        if (m) snprintf(err, errlen, "%s", m);
        else snprintf(err, errlen, "memory limit exceeded (%zu MB; limits.memory in the config)", vm->mem_limit >> 20);
    }
    lua_settop(L, top);
    return rc == LUA_OK ? FY_OK : FY_ERR;
}

int fy_vm_loadfile(struct fy_vm *vm, const char *path) {
    return luaL_loadfilex(vm->L, path, "t");
}

/* package.searchers entry for Lua files: the module path fixed when the
 * VM was made (upvalue 1: lualib, the connector directories, the script's
 * directory), text only. Changing package.path has no effect. A name
 * "contrib.X" is X looked up in the connector directories only (upvalue
 * 2: contrib/ beside lualib, then the config's connector_dirs), so a
 * script says plainly that it uses a shared connector and a file of its
 * own cannot stand in for it. */
static int searcher_text(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const char *path = lua_tostring(L, lua_upvalueindex(1)), *file = NULL;
    if (strncmp(name, "contrib.", 8) == 0 && name[8]) {
        name += 8;
        path = lua_tostring(L, lua_upvalueindex(2));
    }
    const char *modname = luaL_gsub(L, name, ".", "/");
    luaL_Buffer tried;
    luaL_buffinit(L, &tried);
    while (*path) {
        const char *end = strchr(path, ';');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        lua_pushlstring(L, path, len);
        const char *candidate = luaL_gsub(L, lua_tostring(L, -1), "?", modname);
        lua_remove(L, -2);
        FILE *fp = fopen(candidate, "r");
        if (fp) {
            fclose(fp);
            file = candidate;
            break;
        }
        lua_pushfstring(L, "\n\tno file '%s'", candidate);
        lua_remove(L, -2);
        luaL_addvalue(&tried);
        path += len + (end != NULL);
    }
    if (!file) {
        luaL_pushresult(&tried);
        return 1;                                   /* the "no file" message */
    }
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    lua_pushstring(L, file);
    return 2;
}

/* load() that never accepts precompiled chunks, and whose chunk names
 * cannot pose as files ("@..." becomes "=..."): ferry tells its own
 * library's frames by their file names. */
static int safe_load(lua_State *L) {
    lua_settop(L, 4);
    if (lua_type(L, 2) == LUA_TSTRING && lua_tostring(L, 2)[0] == '@') {
        lua_pushfstring(L, "=%s", lua_tostring(L, 2) + 1);
        lua_replace(L, 2);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");
    if (lua_isnoneornil(L, 4)) { lua_call(L, 3, 2); return 2; }
    lua_pushvalue(L, 4);
    lua_call(L, 4, 2);
    return 2;
}

static int safe_loadfile(lua_State *L) {
    const char *path = luaL_optstring(L, 1, NULL);
    int env = !lua_isnone(L, 3);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (env) {
        lua_pushvalue(L, 3);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

static int safe_dofile(lua_State *L) {
    const char *path = luaL_optstring(L, 1, NULL);
    lua_settop(L, 1);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

static const char script_mts_key = 'm';   /* registry: metatables scripts set (weak keys) */

/* setmetatable for scripts: no __gc. Finalizers run with hooks off, so
 * one that loops would hang the process beyond every limit. */
static int safe_setmetatable(lua_State *L) {
    if (lua_istable(L, 2)) {
        if (lua_getfield(L, 2, "__gc") != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc is not allowed in scripts (finalizers run outside "
                                 "ferry's limits; use a <close> variable instead)");
        lua_pop(L, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &script_mts_key);
        lua_pushvalue(L, 2);
        lua_pushboolean(L, 1);
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* getmetatable for scripts: only metatables a script set itself (or what
 * a __metatable field says); ferry's own stay out of reach, so a script
 * cannot add a __gc to them. */
static int safe_getmetatable(lua_State *L) {
    luaL_checkany(L, 1);
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return 1;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &script_mts_key);
    lua_pushvalue(L, -2);
    if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pushnil(L);
        return 1;
    }
    lua_pop(L, 2);
    return 1;
}

static void remove_field(lua_State *L, const char *table, const char *field) {
    lua_getglobal(L, table);
    lua_pushnil(L);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

/* Take away what a script must not do: run programs, exit the process,
 * touch files or the environment (io, most of os: see fy_sandbox), load
 * bytecode or native code, load modules from anywhere but ferry's module
 * path, register finalizers, or switch off the guards (debug.sethook). */
static void vm_restrict(lua_State *L, const char *module_path, const char *connector_path) {
    remove_field(L, "os", "execute");
    remove_field(L, "os", "exit");
    remove_field(L, "io", "popen");
    remove_field(L, "string", "dump");
    fy_sandbox_restrict_libs(L);
    lua_getglobal(L, "package");
    lua_pushnil(L);
    lua_setfield(L, -2, "loadlib");
    lua_pushnil(L);
    lua_setfield(L, -2, "searchpath");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "path");
    lua_createtable(L, 2, 0);                    /* searchers: preload, Lua text */
    lua_getfield(L, -2, "searchers");
    lua_rawgeti(L, -1, 1);
    lua_rawseti(L, -3, 1);
    lua_pop(L, 1);
    lua_pushstring(L, module_path);
    lua_pushstring(L, connector_path);
    lua_pushcclosure(L, searcher_text, 2);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "searchers");
    lua_pop(L, 1);

    lua_getglobal(L, "load");
    lua_pushcclosure(L, safe_load, 1);
    lua_setglobal(L, "load");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    lua_pushnil(L);
    lua_setglobal(L, "dofile");

    lua_newtable(L);                             /* metatables scripts set */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &script_mts_key);
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    lua_pushcfunction(L, safe_getmetatable);
    lua_setglobal(L, "getmetatable");
    fy_sandbox_guard_patterns(L);

    lua_getglobal(L, "debug");                   /* keep only traceback */
    lua_createtable(L, 0, 1);
    lua_getfield(L, -2, "traceback");
    lua_setfield(L, -2, "traceback");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "debug");
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_insert(L, -2);
    lua_setfield(L, -2, "debug");                /* require "debug" gets the same */
    lua_pop(L, 2);
}

/* A trusted grant gets loadfile and dofile back (text only). */
void fy_vm_trust_files(lua_State *L) {
    lua_pushcfunction(L, safe_loadfile);
    lua_setglobal(L, "loadfile");
    lua_pushcfunction(L, safe_dofile);
    lua_setglobal(L, "dofile");
}

void fy_vm_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close) {
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}

static void set_string(lua_State *L, const char *key, const char *value) {
    if (!value) return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

/* Build the global `ferry` table from the C modules. */
static void vm_open_ferry(struct fy_vm *vm, const struct fy_config *cfg) {
    lua_State *L = vm->L;
    static const struct { const char *name; lua_CFunction open; } mods[] = {
        {"json", luaopen_ferry_json},   {"time", luaopen_ferry_time},
        {"csv", luaopen_ferry_csv},     {"jsonl", luaopen_ferry_jsonl},
        {"sqlite", luaopen_ferry_sqlite}, {"log", luaopen_ferry_log},
        {"postgres", luaopen_ferry_postgres},
    };
    luaL_requiref(L, "cjson", luaopen_cjson, 0);
    luaL_requiref(L, "ferry.http.core", luaopen_ferry_http_core, 0);
    lua_pop(L, 2);
    lua_newtable(L);
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        char modname[32];
        snprintf(modname, sizeof modname, "ferry.%s", mods[i].name);
        luaL_requiref(L, modname, mods[i].open, 0);
        lua_setfield(L, -2, mods[i].name);
    }
    lua_pushcfunction(L, fy_run_lua_sleep);
    lua_setfield(L, -2, "sleep");
    set_string(L, "version", FY_VERSION);
    set_string(L, "data_dir", cfg->data_dir);
    set_string(L, "script_path", vm->script_path);
    set_string(L, "script_dir", vm->script_dir);
    lua_pushinteger(L, cfg->batch_size);
    lua_setfield(L, -2, "default_batch_size");
    lua_createtable(L, 0, 1);                  /* ferry.config: what scripts may read */
    lua_createtable(L, 0, 5);
    set_string(L, "ca_file", cfg->http.ca_file);
    lua_pushnumber(L, cfg->http.timeout);
    lua_setfield(L, -2, "timeout");
    lua_pushnumber(L, cfg->http.connect_timeout);
    lua_setfield(L, -2, "connect_timeout");
    lua_pushinteger(L, (lua_Integer)cfg->http.max_response_size);
    lua_setfield(L, -2, "max_size");
    lua_pushinteger(L, cfg->http.max_redirects);
    lua_setfield(L, -2, "max_redirects");
    if (cfg->http.rewrite) {                   /* { { from, to }, ... }, longest first */
        lua_newtable(L);
        for (int i = 0; cfg->http.rewrite[i]; i += 2) {
            lua_createtable(L, 2, 0);
            lua_pushstring(L, cfg->http.rewrite[i]);
            lua_rawseti(L, -2, 1);
            lua_pushstring(L, cfg->http.rewrite[i + 1]);
            lua_rawseti(L, -2, 2);
            lua_rawseti(L, -2, i / 2 + 1);
        }
        lua_setfield(L, -2, "rewrite");
    }
    lua_setfield(L, -2, "http");
    lua_setfield(L, -2, "config");
    lua_setglobal(L, "ferry");
}

struct fy_vm *fy_vm_create(struct fy_engine *engine, const struct fy_config *cfg,
                           const char *lualib, const char *script_path, char *err, size_t errlen) {
    struct fy_vm *vm = calloc(1, sizeof *vm);
    if (!vm) goto oom;
    vm->engine = engine;
    vm->cfg = cfg;
    vm->mem_limit = cfg->limits.memory;
    vm->step_limit = cfg->limits.instructions;
    vm->run_deadline = INFINITY;
    vm->loop_thread = pthread_self();
    vm->call_deadline = fy_time_monotonic() + cfg->limits.call_time;
    if (script_path) {
        /* the directory absolute: relative paths in the script are read
         * from it, and ferry.script_dir .. "/x" names the same file */
        vm->script_path = strdup(script_path);
        char *tmp = realpath(script_path, NULL);
        if (!tmp) tmp = strdup(script_path);
        vm->script_dir = strdup(dirname(tmp));
        free(tmp);
    }
    vm->L = lua_newstate(vm_alloc, vm);
    if (!vm->L) goto oom;
    lua_State *L = vm->L;
    /* Threads copy the main thread's extra space: NULL means "not a run"
     * (fy_run_of), also for coroutines a script creates itself. */
    *(void **)lua_getextraspace(L) = NULL;
    luaL_openlibs(L);
    /* Incremental, not generational: a run keeps each batch (source and
     * mapped records) alive while it is loaded, long enough for the
     * generational collector to promote it and then pay for a major
     * collection; incremental ran the pipeline bench ~20% faster. */
    lua_gc(L, LUA_GCINC, 0, 0, 0);

    /* Modules come from lualib, contrib beside it, then from beside the
     * script; ferry's own by absolute names, so the guard knows its frames. */
    char *lib = realpath(lualib, NULL);
    if (!lib) lib = strdup(lualib);
    char *contrib = strdup(lib), *parent = dirname(contrib);
    lua_pushfstring(L, "@%s/", lib);
    vm->lualib_source = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s/contrib/?.lua;%s/contrib/?/init.lua", parent, parent);
    luaL_addvalue(&b);
    for (char **d = cfg->connector_dirs; d && *d; d++) {
        lua_pushfstring(L, ";%s/?.lua;%s/?/init.lua", *d, *d);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    char *connector_path = strdup(lua_tostring(L, -1));
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s;%s/?.lua", lib, lib, connector_path,
                    vm->script_dir ? vm->script_dir : ".");
    char *module_path = strdup(lua_tostring(L, -1));
    lua_getglobal(L, "package");
    lua_insert(L, -2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 2);
    free(lib);
    free(contrib);

    vm_open_ferry(vm, cfg);
    /* The prelude adds the Lua half of `ferry` (integration, source, sink)
     * and captures what it needs before the library is restricted. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.prelude");
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        snprintf(err, errlen, "cannot load ferry's Lua library from %s: %s", lualib,
                 lua_tostring(L, -1));
        free(module_path);
        free(connector_path);
        fy_vm_destroy(vm);
        return NULL;
    }
    vm_restrict(L, module_path, connector_path);
    free(module_path);
    free(connector_path);
    guard_coroutines(L);
    watch_add(vm);
    return vm;
oom:
    snprintf(err, errlen, "out of memory creating a Lua state");
    fy_vm_destroy(vm);
    return NULL;
}

void fy_vm_destroy(struct fy_vm *vm) {
    if (!vm) return;
    watch_remove(vm);
    if (vm->L) lua_close(vm->L);
    free(vm->script_path);
    free(vm->script_dir);
    free(vm->lualib_source);
    free(vm->name);
    free(vm);
}
