/* Lua states with limits and a restricted library; see fy_vm.h. */
#include "fy_vm.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_run.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FY_HOOK_EVERY 10000     /* instructions between guard checks */

/* lua_Alloc that keeps L within vm->mem_limit. Frees and shrinks always
 * succeed, as Lua requires; a growth past the limit returns NULL and Lua
 * raises "not enough memory" (after an emergency collection). */
static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    struct fy_vm *vm = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        vm->mem_used -= old;
        return NULL;
    }
    if (nsize > old && vm->mem_used - old + nsize > vm->mem_limit) return NULL;
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    vm->mem_used = vm->mem_used - old + nsize;
    if (vm->mem_used > vm->mem_peak) vm->mem_peak = vm->mem_used;
    return p;
}

static void vm_hook(lua_State *L, lua_Debug *ar) {
    FY_UNUSED(ar);
    struct fy_vm *vm = fy_vm_of(L);
    vm->steps += FY_HOOK_EVERY;
    if (vm->steps > vm->step_limit)
        luaL_error(L, "instruction limit exceeded: more than %I instructions without returning "
                      "(limits.instructions in the config)", (lua_Integer)vm->step_limit);
}

struct fy_vm *fy_vm_of(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

void fy_vm_guard_reset(struct fy_vm *vm) { vm->steps = 0; }

int fy_vm_loadfile(struct fy_vm *vm, const char *path) {
    return luaL_loadfilex(vm->L, path, "t");
}

/* package.searchers entry for Lua files: like the standard one, but text only. */
static int searcher_text(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_pushstring(L, name);
    lua_getfield(L, -3, "path");
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2)) return 1;                 /* the "no file" message */
    const char *file = lua_tostring(L, -2);
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    lua_pushstring(L, file);
    return 2;
}

/* load/loadfile/dofile that never accept precompiled chunks. */
static int safe_load(lua_State *L) {
    lua_settop(L, 4);
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

static void remove_field(lua_State *L, const char *table, const char *field) {
    lua_getglobal(L, table);
    lua_pushnil(L);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

/* Take away what a script must not do: run programs, exit the process,
 * load bytecode or native code, or switch off the guards (debug.sethook). */
static void vm_restrict(lua_State *L) {
    remove_field(L, "os", "execute");
    remove_field(L, "os", "exit");
    remove_field(L, "io", "popen");
    remove_field(L, "string", "dump");
    remove_field(L, "package", "loadlib");
    lua_getglobal(L, "package");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_createtable(L, 2, 0);                    /* searchers: preload, Lua text */
    lua_getfield(L, -2, "searchers");
    lua_rawgeti(L, -1, 1);
    lua_rawseti(L, -3, 1);
    lua_pop(L, 1);
    lua_pushcfunction(L, searcher_text);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "searchers");
    lua_pop(L, 1);

    lua_getglobal(L, "load");
    lua_pushcclosure(L, safe_load, 1);
    lua_setglobal(L, "load");
    lua_pushcfunction(L, safe_loadfile);
    lua_setglobal(L, "loadfile");
    lua_pushcfunction(L, safe_dofile);
    lua_setglobal(L, "dofile");

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
    lua_setfield(L, -2, "http");
    lua_setfield(L, -2, "config");
    lua_setglobal(L, "ferry");
}

struct fy_vm *fy_vm_create(struct fy_engine *engine, const struct fy_config *cfg,
                           const char *lualib, const char *script_path, char *err, size_t errlen) {
    struct fy_vm *vm = calloc(1, sizeof *vm);
    if (!vm) goto oom;
    vm->engine = engine;
    vm->mem_limit = cfg->limits.memory;
    vm->step_limit = cfg->limits.instructions;
    if (script_path) {
        vm->script_path = strdup(script_path);
        char *tmp = strdup(script_path);
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

    /* Modules come from lualib, then from beside the script. */
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua", lualib, lualib,
                    vm->script_dir ? vm->script_dir : ".");
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);

    vm_open_ferry(vm, cfg);
    /* The prelude adds the Lua half of `ferry` (integration, source, sink)
     * and captures what it needs before the library is restricted. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.prelude");
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        snprintf(err, errlen, "cannot load ferry's Lua library from %s: %s", lualib,
                 lua_tostring(L, -1));
        fy_vm_destroy(vm);
        return NULL;
    }
    vm_restrict(L);
    lua_sethook(L, vm_hook, LUA_MASKCOUNT, FY_HOOK_EVERY);
    return vm;
oom:
    snprintf(err, errlen, "out of memory creating a Lua state");
    fy_vm_destroy(vm);
    return NULL;
}

void fy_vm_destroy(struct fy_vm *vm) {
    if (!vm) return;
    if (vm->L) lua_close(vm->L);
    free(vm->script_path);
    free(vm->script_dir);
    free(vm);
}
