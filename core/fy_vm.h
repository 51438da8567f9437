/* One integration's Lua world: a lua_State with a memory limit (custom
 * allocator), an instruction guard (count hook), a restricted standard
 * library and ferry's modules. Each integration gets its own. */
#ifndef FY_VM_H
#define FY_VM_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>

struct fy_engine;
struct fy_config;

struct fy_vm {
    lua_State *L;
    struct fy_engine *engine;   /* owner; NULL in `ferry check` */
    /* memory guard */
    size_t mem_used;            /* bytes currently allocated by L */
    size_t mem_peak;
    size_t mem_limit;           /* allocations past this fail with "not enough memory" */
    /* instruction guard */
    uint64_t steps;             /* instructions since the last fy_vm_guard_reset */
    uint64_t step_limit;
    /* where the script lives */
    char *script_path;
    char *script_dir;
};

/* Create a VM for the script at `script_path` (may be NULL for a bare VM).
 * Returns NULL and fills err when the state or ferry's Lua library cannot be set up. */
struct fy_vm *fy_vm_create(struct fy_engine *engine, const struct fy_config *cfg,
                           const char *lualib, const char *script_path, char *err, size_t errlen);
void fy_vm_destroy(struct fy_vm *vm);

/* The VM that owns L (any thread of it). */
struct fy_vm *fy_vm_of(lua_State *L);

/* Start a fresh instruction budget: called whenever a script hands control
 * back to the engine (a hook returns, a record is emitted, I/O yields). */
void fy_vm_guard_reset(struct fy_vm *vm);

/* Load a script chunk as text only (no bytecode). Pushes the chunk or an error. */
int fy_vm_loadfile(struct fy_vm *vm, const char *path);

struct fy_buf;
/* Encode the Lua value at `idx` as JSON onto `b` (see fy_lua_json.c for the
 * rules). Returns FY_ERR with a message in err for values JSON cannot hold. */
int fy_json_encode(lua_State *L, int idx, struct fy_buf *b, char *err, size_t errlen);
/* The same with object keys in byte order when `sorted` (canonical text). */
int fy_json_encode_opt(lua_State *L, int idx, struct fy_buf *b, int sorted, char *err, size_t errlen);

/* Register a userdata class: metatable `name` with `methods` as __index and
 * `close` as both __gc and __close (it must be safe to call twice). */
void fy_vm_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close);

/* Module openers, one per API area (core/fy_lua_<area>.c). */
int luaopen_ferry_json(lua_State *L);
int luaopen_ferry_csv(lua_State *L);
int luaopen_ferry_jsonl(lua_State *L);
int luaopen_ferry_sqlite(lua_State *L);
int luaopen_ferry_log(lua_State *L);
int luaopen_ferry_time(lua_State *L);
int luaopen_ferry_http_core(lua_State *L);

#endif
