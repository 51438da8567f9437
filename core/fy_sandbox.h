/* fy_sandbox: what a script may reach beyond its own Lua state — files,
 * environment variables, SQLite databases — and the checks that keep it to
 * that. The policy: files only through ferry's readers and sinks, inside
 * the script's directory, the data directory and the directories the admin
 * grants it (config `integrations`); SQLite only inside the data directory,
 * never the store, with ATTACH, extensions and most PRAGMAs denied;
 * secrets only those granted. A grant with `trusted = true` lifts the file
 * restrictions (io, os, any path) for that integration. */
#ifndef FY_SANDBOX_H
#define FY_SANDBOX_H

#include <lua.h>
#include <stddef.h>
#include <sqlite3.h>

struct fy_vm;

enum fy_path_use {
    FY_PATH_READ,            /* a source file: script dir, data dir, granted dirs */
    FY_PATH_DB               /* a SQLite database: inside the data dir, not the store */
};

/* Before any script code runs: trust the script when the grant pinned to
 * its file (`script = PATH`) or the "*" grant is trusted. */
void fy_sandbox_prebind(struct fy_vm *vm);

/* Bind the VM to the integration `name` once its script has declared it:
 * looks up the admin's grant and, for a trusted one, gives the script
 * Lua's io and os (without os.execute and os.exit). FY_ERR with err when
 * the grant is pinned to another script file. */
int fy_sandbox_bind(struct fy_vm *vm, const char *name, char *err, size_t errlen);

/* Trust the VM's script (`ferry lua --trusted`): as a trusted grant. */
void fy_sandbox_trust(struct fy_vm *vm);

/* Resolve `path` for `use` (relative paths: from the script's directory
 * for reads, from the data directory for databases) into out, following
 * symlinks; FY_ERR with a message naming the setting to change when the
 * result is outside what the script may reach. */
int fy_sandbox_path(struct fy_vm *vm, const char *path, enum fy_path_use use, char *out, size_t cap,
                    char *err, size_t errlen);

/* fy_sandbox_path for a Lua binding's open(): FY_OK with the resolved path
 * in out, or FY_ERR with (fail, message) pushed for the binding to return. */
int fy_sandbox_lua_path(lua_State *L, const char *path, enum fy_path_use use, char *out, size_t cap);

/* Guard a database a script opened: authorizer (no ATTACH, no extensions,
 * only harmless PRAGMAs) and a progress handler that stops a statement
 * running past the VM's time limits. */
void fy_sandbox_sqlite(struct fy_vm *vm, sqlite3 *db);

/* The value of a granted secret's environment variable: pushes it, or
 * raises an auth error naming the config setting that would grant it.
 * Lua: secret(env_name) -> value. */
int fy_sandbox_lua_secret(lua_State *L);

/* Save the full io and os libraries in the registry (for trusted grants)
 * and leave scripts the restricted ones. Called once per VM, after the
 * prelude and before any script code. */
void fy_sandbox_restrict_libs(lua_State *L);

/* Replace string.find/match/gmatch/gsub by versions that refuse a pattern
 * whose backtracking could run for minutes on the given subject. */
void fy_sandbox_guard_patterns(lua_State *L);

#endif
