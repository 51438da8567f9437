/* What the engine asks of ferry.sqlite (core/fy_lua_sqlite.c) beyond the
 * Lua module: the reporting databases a run loaded into. */
#ifndef FY_LUA_SQLITE_H
#define FY_LUA_SQLITE_H

#include <lua.h>

typedef void (*fy_sqlite_loaded_fn)(const char *path, void *arg);

/* Call fn(path, arg) once for each SQLite database the run that just ended
 * on L's VM loaded into (tbl:upsert, tbl:upsert_async; ferry.sink.sqlite)
 * and for `declared` (the path its ferry.sink.sqlite names, resolved as
 * ferry.sqlite.open would; may be NULL), which a run that loaded nothing
 * never opened, after waiting for the batches their writer threads still
 * had queued, so fn may open the file and write to it. Then forget them,
 * ready for the next run (fn NULL: only forget). Raises only on a memory
 * error: call it protected (fy_vm_protect). */
void fy_lua_sqlite_take_loaded(lua_State *L, const char *declared, fy_sqlite_loaded_fn fn, void *arg);

#endif
