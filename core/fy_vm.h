/* One integration's Lua world: a lua_State with a memory limit (custom
 * allocator), an instruction guard (a count hook a watchdog arms for a
 * call that lasts, see fy_vm.c), a restricted standard
 * library and ferry's modules. Each integration gets its own. */
#ifndef FY_VM_H
#define FY_VM_H

#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct fy_engine;
struct fy_config;

/* A limit that was hit. Until it is cleared, every Lua instruction of the
 * script raises its message, so a pcall in the script cannot swallow it.
 * A call limit (instructions, call time, memory) ends the hook call: the
 * runner clears it once the call has unwound (ferry's own frames keep
 * running). A run limit (run time) ends the run: nothing clears it until
 * the run's coroutine is gone. */
enum fy_trip { FY_TRIP_NONE, FY_TRIP_CALL, FY_TRIP_RUN };

/* Memory held for the script only to save work later (a body the JSON
 * thread parsed, waiting for res:json()): counted against limits.memory
 * like any hold, and given back, by calling drop, before an allocation or
 * a hold of the script's is refused. drop runs inside the allocator: it
 * may only free C memory and move holds down (fy_vm_hold to less), never
 * call Lua. */
struct fy_vm_spare {
    struct fy_vm_spare *prev, *next;
    void (*drop)(struct fy_vm_spare *);
    int listed;
};

struct fy_vm {
    lua_State *L;
    struct fy_engine *engine;   /* owner; NULL in `ferry check` */
    const struct fy_config *cfg;
    /* memory guard */
    size_t mem_used;            /* bytes currently allocated by L */
    size_t mem_peak;
    size_t mem_limit;           /* allocations past this fail with "not enough memory" */
    void *mem_fail_ptr;         /* the last growth refused, to tell Lua's retry */
    size_t mem_fail_size;
    int reserve_open;           /* inside fy_vm_protect: FY_VM_RESERVE more is allowed */
    size_t ext_used;            /* bytes held outside Lua for the script (HTTP bodies); count too */
    struct fy_vm_spare *spares; /* holds that give way to the script's needs */
    /* the record ferry.jsonl built last, if an object, and its shape
     * (fy_json_shape), for the drift check (fy_schema.c); the reader keeps
     * the record alive, so no other table can have its address meanwhile */
    const void *shape_record;
    uint64_t shape;
    /* instruction and time guards */
    uint64_t steps;             /* instructions since the last fy_vm_guard_reset */
    uint64_t step_limit;
    double call_deadline;       /* monotonic; the script must hand back control by then */
    double run_deadline;        /* monotonic; the current run must end by then */
    lua_State *co;              /* the current run's coroutine, NULL between runs */
    /* the watchdog (fy_watch.h), which arms L and co for a call that lasts a tick */
    int watched;                /* on the watchdog's list; else L is hooked always */
    volatile sig_atomic_t armed;            /* set by the watchdog's signal handler */
    volatile unsigned long armed_call;      /* the call (fy_watch_current) it armed for */
    struct fy_vm *volatile watch_next;
    pthread_t loop_thread;      /* the thread that runs the script (others: the SQLite writer) */
    enum fy_trip trip;
    char trip_msg[512];
    /* where the script lives, and what it may reach */
    char *script_path;
    char *script_dir;
    char *lualib_source;        /* "@DIR/": chunk names of ferry's own Lua library */
    char *name;                 /* the integration, once declared (fy_sandbox_bind) */
    int trusted;                /* io, os and any path (an admin's grant) */
    const struct fy_grant *grant;
};

/* Create a VM for the script at `script_path` (may be NULL for a bare VM).
 * Returns NULL and fills err when the state or ferry's Lua library cannot be set up. */
struct fy_vm *fy_vm_create(struct fy_engine *engine, const struct fy_config *cfg,
                           const char *lualib, const char *script_path, char *err, size_t errlen);
void fy_vm_destroy(struct fy_vm *vm);

/* The VM that owns L (any thread of it). */
struct fy_vm *fy_vm_of(lua_State *L);

/* Start a fresh instruction and call-time budget: called whenever a script
 * hands control back to the engine (a hook returns, a record is emitted,
 * I/O yields). A tripped limit stays tripped. */
void fy_vm_guard_reset(struct fy_vm *vm);

/* Trip a limit (see enum fy_trip) with a message; `co` is the running
 * thread, if any besides the main one and the run's. */
void fy_vm_trip(struct fy_vm *vm, lua_State *co, enum fy_trip kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Clear a call limit once the call that hit it has unwound; with `run`,
 * a run limit too (the run is over). */
void fy_vm_trip_clear(struct fy_vm *vm, int run);

/* Bytes the VM may still take within limits.memory, Lua's and C's together. */
size_t fy_vm_room(const struct fy_vm *vm);

/* May memory outside Lua grow by `more` bytes for this VM (a struct fy_vm *)
 * within limits.memory, counting what Lua holds (after a full collection
 * if need be)? Only from the loop, while no Lua code runs. */
int fy_vm_may_hold(void *vm, size_t more);

/* A C buffer held for the script (a reader's row or line) now takes `now`
 * bytes, counted in *held: move ext_used by the difference. FY_ERR when
 * that puts the VM past limits.memory, even after a full collection (the
 * caller fails the read). Only from C functions Lua calls, or the loop. */
int fy_vm_hold(struct fy_vm *vm, size_t *held, size_t now);

/* The same for memory not yet taken: counted only when it fits (FY_OK);
 * on FY_ERR nothing changes, since the caller will not allocate it. */
int fy_vm_try_hold(struct fy_vm *vm, size_t *held, size_t now);

/* List sp as spare (its holds give way under pressure), or take it off
 * the list (when it is used or freed); either is harmless twice. Only
 * from the loop thread. */
void fy_vm_spare_add(struct fy_vm *vm, struct fy_vm_spare *sp);
void fy_vm_spare_remove(struct fy_vm *vm, struct fy_vm_spare *sp);

/* Call the C function fn(L) with ud as its light userdata argument in
 * protected mode on the VM's main thread; with `reserve`, the memory
 * reserve is open, so ferry can still report what went wrong. FY_ERR with
 * the message in err when it raised (out of memory, a limit). */
int fy_vm_protect(struct fy_vm *vm, lua_CFunction fn, void *ud, int reserve, char *err, size_t errlen);

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

/* Give a trusted script loadfile and dofile (text only). */
void fy_vm_trust_files(lua_State *L);

/* Module openers, one per API area (core/fy_lua_<area>.c). */
int luaopen_ferry_json(lua_State *L);
int luaopen_ferry_csv(lua_State *L);
int luaopen_ferry_jsonl(lua_State *L);
int luaopen_ferry_sqlite(lua_State *L);
int luaopen_ferry_postgres(lua_State *L);
int luaopen_ferry_log(lua_State *L);
int luaopen_ferry_time(lua_State *L);
int luaopen_ferry_http_core(lua_State *L);

#endif
