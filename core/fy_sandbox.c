/* What a script may reach beyond its Lua state; see fy_sandbox.h. */
#include "fy_sandbox.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_log.h"
#include "fy_vm.h"
#include "fy_time.h"

#include <errno.h>
#include <lauxlib.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char trusted_io_key = 'i', trusted_os_key = 'o';   /* registry: the full libraries */

void fy_sandbox_restrict_libs(lua_State *L) {
    static const char *os_keep[] = {"time", "clock", "date", "difftime", NULL};
    lua_getglobal(L, "io");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &trusted_io_key);
    lua_getglobal(L, "os");
    lua_createtable(L, 0, 4);
    for (const char **k = os_keep; *k; k++) {
        lua_getfield(L, -2, *k);
        lua_setfield(L, -2, *k);
    }
    lua_insert(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &trusted_os_key);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "os");
    lua_pushnil(L);
    lua_setfield(L, -2, "io");
    lua_pop(L, 1);
    lua_setglobal(L, "os");
    lua_pushnil(L);
    lua_setglobal(L, "io");
}

/* Give the script the full io and os (os.execute and os.exit stay gone). */
static void trust(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &trusted_io_key);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "io");
    lua_setfield(L, -2, "io");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &trusted_os_key);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "os");
    lua_setfield(L, -2, "os");
    lua_pop(L, 1);
    fy_vm_trust_files(L);
}

static int same_file(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return a && b && realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

void fy_sandbox_prebind(struct fy_vm *vm) {
    const struct fy_grant *g = NULL;
    for (size_t i = 0; i < vm->cfg->ngrants && !g; i++)
        if (vm->cfg->grants[i].script && same_file(vm->cfg->grants[i].script, vm->script_path)) g = &vm->cfg->grants[i];
    if (!g) g = fy_config_grant(vm->cfg, NULL);
    if (g && g->trusted) fy_sandbox_trust(vm);
}

int fy_sandbox_bind(struct fy_vm *vm, const char *name, char *err, size_t errlen) {
    free(vm->name);
    vm->name = strdup(name);
    const struct fy_grant *g = fy_config_grant(vm->cfg, name);
    if (g && g->script && !same_file(g->script, vm->script_path)) {
        snprintf(err, errlen, "integration '%s' is granted (config: integrations[\"%s\"].script) to %s, "
                 "not to %s: another script may not take its name", name, g->name, g->script,
                 vm->script_path ? vm->script_path : "(none)");
        return FY_ERR;
    }
    vm->grant = g;
    if (g && g->trusted) fy_sandbox_trust(vm);
    return FY_OK;
}

void fy_sandbox_trust(struct fy_vm *vm) {
    if (vm->trusted) return;
    vm->trusted = 1;
    trust(vm->L);
}

/* Is `path` (resolved) `root` (resolved) or inside it? */
static int within(const char *path, const char *root) {
    char r[PATH_MAX];
    if (!root || !realpath(root, r)) return 0;
    size_t n = strlen(r);
    if (n == 1) return 1;                               /* "/" */
    return strncmp(path, r, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Is `path` (resolved) the store or one of its files (ferry.db, -wal,
 * -shm, -journal, the lock)? */
static int is_store(const struct fy_vm *vm, const char *path) {
    char dir[PATH_MAX];
    if (!realpath(vm->cfg->data_dir, dir)) return 0;
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) != 0 || path[n] != '/') return 0;
    const char *base = path + n + 1;
    return strncmp(base, "ferry.db", 8) == 0 || strcmp(base, "ferry.lock") == 0;
}

/* Resolve `joined` when the file itself may not exist yet: its directory
 * must, and its last component is kept as it is. */
static int resolve_new(const char *joined, char *out) {
    if (realpath(joined, out)) return FY_OK;
    if (errno != ENOENT) return FY_ERR;
    char a[PATH_MAX], b[PATH_MAX], dir[PATH_MAX];
    snprintf(a, sizeof a, "%s", joined);
    snprintf(b, sizeof b, "%s", joined);
    const char *base = basename(b);
    if (!strcmp(base, ".") || !strcmp(base, "..") || !realpath(dirname(a), dir)) return FY_ERR;
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", strcmp(dir, "/") ? dir : "", base) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return FY_ERR;
    }
    return FY_OK;
}

int fy_sandbox_path(struct fy_vm *vm, const char *path, enum fy_path_use use, char *out, size_t cap,
                    char *err, size_t errlen) {
    char joined[PATH_MAX], res[PATH_MAX];
    const char *base = use == FY_PATH_READ ? (vm->script_dir ? vm->script_dir : ".") : vm->cfg->data_dir;
    if (!*path) {
        snprintf(err, errlen, "empty path");
        return FY_ERR;
    }
    if ((size_t)snprintf(joined, sizeof joined, "%s%s%s", path[0] == '/' ? "" : base, path[0] == '/' ? "" : "/",
                         path) >= sizeof joined) {
        snprintf(err, errlen, "%.200s...: path too long", path);
        return FY_ERR;
    }
    int rc = use == FY_PATH_READ ? (realpath(joined, res) ? FY_OK : FY_ERR) : resolve_new(joined, res);
    if (rc != FY_OK) {
        snprintf(err, errlen, "cannot open %s%s: %s", use == FY_PATH_DB ? "database " : "", path, strerror(errno));
        return FY_ERR;
    }
    if (is_store(vm, res)) {
        snprintf(err, errlen, "%s is ferry's store: scripts may not open it", path);
        return FY_ERR;
    }
    int ok = vm->trusted || within(res, vm->cfg->data_dir);
    if (!ok && use == FY_PATH_READ) {
        ok = within(res, vm->script_dir ? vm->script_dir : ".");
        for (char **d = vm->grant ? vm->grant->dirs : NULL; !ok && d && *d; d++) ok = within(res, *d);
    }
    if (!ok) {
        const char *name = vm->name ? vm->name : "NAME";
        if (use == FY_PATH_READ)
            snprintf(err, errlen, "%s is outside the directories this script may read (its own, the data "
                     "directory%s); the admin may grant it: integrations = { [\"%s\"] = { dirs = { \"DIR\" } } }",
                     path, vm->grant && vm->grant->dirs ? ", the granted dirs" : "", name);
        else
            snprintf(err, errlen, "%s is outside the data directory %s: scripts keep their databases there "
                     "(use a relative path)", path, vm->cfg->data_dir);
        return FY_ERR;
    }
    if (strlen(res) >= cap) {
        snprintf(err, errlen, "%.200s...: path too long", path);
        return FY_ERR;
    }
    memcpy(out, res, strlen(res) + 1);
    return FY_OK;
}

int fy_sandbox_lua_path(lua_State *L, const char *path, enum fy_path_use use, char *out, size_t cap) {
    char err[FY_ERRLEN];
    if (fy_sandbox_path(fy_vm_of(L), path, use, out, cap, err, sizeof err) == FY_OK) return FY_OK;
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return FY_ERR;
}

/* ---- SQLite ------------------------------------------------------------- */

static int allowed_pragma(const char *name) {
    static const char *ok[] = {"table_info", "table_xinfo", "table_list", "index_list", "index_info",
                               "index_xinfo", "foreign_key_list", "foreign_key_check", "foreign_keys",
                               "integrity_check", "quick_check", "user_version", "busy_timeout",
                               "journal_mode", "synchronous", NULL};
    for (const char **p = ok; *p; p++)
        if (name && strcmp(name, *p) == 0) return 1;
    return 0;
}

/* No ATTACH (other files), no extensions, no triggers (they would run
 * unbounded on the writer thread), only PRAGMAs that read the schema or
 * set this connection's own harmless options. */
static int authorize(void *ud, int action, const char *a, const char *b, const char *db, const char *trigger) {
    FY_UNUSED(ud);
    FY_UNUSED(db);
    FY_UNUSED(trigger);
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_VTABLE:
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        return allowed_pragma(a) ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_FUNCTION:
        if (b && (!strcmp(b, "load_extension") || !strcmp(b, "fts3_tokenizer") || !strcmp(b, "readfile") ||
                  !strcmp(b, "writefile")))
            return SQLITE_DENY;
        return SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

struct guard {
    struct fy_vm *vm;
    pthread_t loop;
};

/* Every few thousand SQLite steps: stop a statement that runs past the
 * run's deadline or, on the loop thread, the call's (a recursive query). */
static int progress(void *ud) {
    struct fy_vm *vm = ud;
    double now = fy_time_monotonic();
    if (now > vm->run_deadline) return 1;
    if (pthread_equal(pthread_self(), vm->loop_thread) && now > vm->call_deadline) {
        fy_vm_trip(vm, NULL, FY_TRIP_CALL, "call time limit exceeded: an SQL statement ran longer than %gs "
                   "(limits.call_time in the config)", vm->cfg->limits.call_time);
        return 1;
    }
    return 0;
}

void fy_sandbox_sqlite(struct fy_vm *vm, sqlite3 *db) {
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_set_authorizer(db, authorize, NULL);
    sqlite3_progress_handler(db, 4000, progress, vm);
}

/* ---- secrets ------------------------------------------------------------ */

static int auth_error(lua_State *L, const char *msg) {
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "auth");
    lua_setfield(L, -2, "class");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "reason");
    return lua_error(L);
}

int fy_sandbox_lua_secret(lua_State *L) {
    const char *env = luaL_checkstring(L, 1);
    struct fy_vm *vm = fy_vm_of(L);
    int granted = vm->trusted;
    for (char **s = vm->grant ? vm->grant->secrets : NULL; !granted && s && *s; s++) granted = !strcmp(*s, env);
    char msg[FY_ERRLEN];
    if (!granted) {
        const char *name = vm->name ? vm->name : "NAME";
        snprintf(msg, sizeof msg, "secret %s is not granted to integration '%s': the admin grants it in the "
                 "config: integrations = { [\"%s\"] = { secrets = { \"%s\" } } }", env, name, name, env);
        return auth_error(L, msg);
    }
    const char *v = getenv(env);
    if (!v || !*v) {
        snprintf(msg, sizeof msg, "secret %s is not set in the environment", env);
        return auth_error(L, msg);
    }
    fy_secret_add(v);
    lua_pushstring(L, v);
    return 1;
}

/* ---- patterns ----------------------------------------------------------- */

#define PATTERN_BUDGET 1e10      /* match steps a pattern may cost, estimated */

/* Past the set [...] at p[i]; *negated when it starts with ^. */
static size_t skip_set(const char *p, size_t plen, size_t i, int *negated) {
    if (i >= plen || p[i] != '[') return i;
    i++;
    if (i < plen && p[i] == '^') {
        if (negated) *negated = 1;
        i++;
    }
    if (i < plen) i++;                                  /* a leading ] is literal */
    while (i < plen && p[i] != ']') i += p[i] == '%' ? 2 : 1;
    return i + 1;
}

/* An upper estimate of the steps Lua's matcher may take for pattern p on
 * a subject of n bytes: each repetition (*, +, -) of a class that matches
 * almost anything (., %S, [^x], ...) multiplies by n, and an unanchored
 * search tries every start. Narrow classes rarely backtrack far and are
 * not counted. */
static double pattern_cost(const char *p, size_t plen, size_t n) {
    size_t i = 0, wide = 0;
    int anchored = plen > 0 && p[0] == '^';
    if (anchored) i = 1;
    while (i < plen) {
        int broad = 0;
        if (p[i] == '%') {
            if (i + 1 < plen) {
                char c = p[i + 1];
                broad = c >= 'A' && c <= 'Z';                   /* complements: %S, %W, %D, ... */
                if (c == 'b') { i += 4; continue; }
                if (c == 'f') {                                 /* %f[set]: no repetition */
                    i = skip_set(p, plen, i + 2, NULL);
                    continue;
                }
            }
            i += 2;
        } else if (p[i] == '[') {
            i = skip_set(p, plen, i, &broad);
        } else {
            broad = p[i] == '.';
            i++;
        }
        if (i < plen && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
            if (broad) wide++;
            i++;
        } else if (i < plen && p[i] == '?') {
            i++;
        }
    }
    double cost = 1, m = (double)(n + 1);
    for (size_t k = 0; k < wide + !anchored; k++) {
        cost *= m;
        if (cost > PATTERN_BUDGET * 10) break;
    }
    return cost;
}

/* string.find/match/gmatch/gsub: check the cost, then call the original
 * (upvalue 1). */
static int guarded_match(lua_State *L) {
    size_t n = 0, plen = 0;
    if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) lua_tolstring(L, 1, &n);
    const char *p = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &plen) : NULL;
    int plain = lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4);
    if (p && !plain && n > 64 && pattern_cost(p, plen, n) > PATTERN_BUDGET)
        return luaL_error(L, "pattern too costly for a subject of %d bytes: it repeats several catch-all "
                             "classes (.-, .*, [^x]*) and could backtrack for minutes; anchor it, use "
                             "narrower classes, or split the text first", (int)n);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

void fy_sandbox_guard_patterns(lua_State *L) {
    static const char *names[] = {"find", "match", "gmatch", "gsub", NULL};
    lua_getglobal(L, "string");
    for (const char **f = names; *f; f++) {
        lua_getfield(L, -1, *f);
        if (!strcmp(*f, "find")) lua_pushboolean(L, 1);  /* find honours `plain` (4th argument) */
        else lua_pushnil(L);
        lua_pushcclosure(L, guarded_match, 2);
        lua_setfield(L, -2, *f);
    }
    lua_pop(L, 1);
}
