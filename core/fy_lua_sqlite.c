/* ferry.sqlite: the embedded reporting destination.
 *
 *   local db  = ferry.sqlite.open(path)            -- WAL mode; nil, err on failure
 *   local tbl = db:table{ name = "accounts", columns = {
 *       { "account_id", "text", key = true }, { "arr", "real" }, ... } }
 *   local loaded, failures = tbl:upsert(rows, run_id)
 *
 * The table is created STRICT from the declared columns plus _synced_at and
 * _run_id, with the key columns as PRIMARY KEY; columns declared later are
 * added. An existing table that no longer matches the declaration (a
 * column's type or key, see check_table) makes db:table raise
 * { class = "schema_drift", reason = ... }. upsert() writes one transaction per call with a prepared
 * INSERT ... ON CONFLICT DO UPDATE; a row the database rejects (missing key,
 * wrong type) is reported in `failures[i] = { class = "validation", reason = ... }`
 * and the others are still written. A failure of the database itself
 * (busy, disk full) rolls the batch back and raises { class = "transient" }.
 *
 *   local pending = tbl:upsert_async(rows, run_id)   -- returns at once
 *   local loaded, failures = pending:wait()          -- yields until written
 *
 * upsert_async packs the rows into C values on the calling thread and
 * queues them for the connection's writer thread (fy_sqlite_writer.c), so
 * the run extracts and transforms the next batch while this one is written
 * on the second core. ferry.sink.sqlite uses it; the runner waits for each
 * batch before it commits the checkpoint that follows it. */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_engine.h"
#include "fy_lua_sqlite.h"
#include "fy_run.h"
#include "fy_sqlite_writer.h"
#include "fy_time.h"
#include "fy_vm.h"
#include "fy_sandbox.h"

#include <limits.h>

#include <lauxlib.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_MT "ferry.sqlite.db"
#define TABLE_MT "ferry.sqlite.table"
#define PENDING_MT "ferry.pending"

struct db_handle {
    sqlite3 *db;              /* NULL once closed */
    struct fy_writer *writer; /* started by the first upsert_async */
    int closing;              /* jobs delivered now must not resume runs */
    char *path;               /* the file, as the sandbox resolved it (malloc'd) */
};

/* The registry table of the databases the current run loaded into:
 * path -> db userdata (a weak value: a database the script dropped is
 * still named by its path). See fy_lua_sqlite_take_loaded. */
#define LOADED_KEY "ferry.sqlite.loaded"

/* Anything but the writer that touches the connection waits for it first. */
static void db_drain(struct db_handle *h) {
    if (h->writer) fy_writer_drain(h->writer);
}

enum col_type { C_TEXT, C_INTEGER, C_REAL, C_BOOLEAN, C_JSON };

struct column {
    char *name;
    enum col_type type;
    const char *type_name;    /* as declared: "integer", "timestamp", ... (static) */
    int key;
};

struct table_handle {
    struct db_handle *dbh;    /* kept alive through the userdata's user value */
    sqlite3_stmt *upsert;     /* NULL once closed */
    char *name;
    struct column *cols;
    int ncols;
    size_t text_hint;         /* the text of the last batch packed: the next one's starting room */
};

static const struct { const char *name; enum col_type type; const char *sql; } col_types[] = {
    {"text", C_TEXT, "TEXT"},         {"string", C_TEXT, "TEXT"},
    {"timestamp", C_TEXT, "TEXT"},    {"date", C_TEXT, "TEXT"},
    {"integer", C_INTEGER, "INTEGER"}, {"int", C_INTEGER, "INTEGER"},
    {"real", C_REAL, "REAL"},         {"number", C_REAL, "REAL"},
    {"boolean", C_BOOLEAN, "INTEGER"}, {"json", C_JSON, "TEXT"},
};
#define N_COL_TYPES (sizeof col_types / sizeof col_types[0])

static const char *sql_type(enum col_type t) {
    for (size_t i = 0; i < N_COL_TYPES; i++) if (col_types[i].type == t) return col_types[i].sql;
    return "TEXT";
}

static int valid_identifier(const char *s) {
    if (!s || !*s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int exec_sql(sqlite3 *db, const char *sql, char **err) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return FY_OK;
    *err = strdup(msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return FY_ERR;
}

/* ---- database handle ---------------------------------------------------- */

static struct db_handle *check_db(lua_State *L, int idx) {
    struct db_handle *h = luaL_checkudata(L, idx, DB_MT);
    if (!h->db) luaL_error(L, "attempt to use a closed database");
    return h;
}

static int db_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct fy_vm *vm = fy_vm_of(L);
    char real[PATH_MAX];
    if (fy_sandbox_lua_path(L, path, FY_PATH_DB, real, sizeof real) != FY_OK) return 2;
    path = real;
    struct db_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->db = NULL;
    h->writer = NULL;
    h->closing = 0;
    h->path = NULL;
    luaL_setmetatable(L, DB_MT);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot open database %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return 2;
    }
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    if (exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", &err) != FY_OK) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot open database %s: %s", path, err);
        free(err);
        sqlite3_close(db);
        return 2;
    }
    fy_sandbox_sqlite(vm, db);
    h->db = db;
    h->path = strdup(path);
    return 1;
}

static int db_close(lua_State *L) {
    struct db_handle *h = luaL_checkudata(L, 1, DB_MT);
    if (h->writer) {
        h->closing = 1;
        fy_writer_destroy(h->writer);     /* writes what is queued first */
        h->writer = NULL;
    }
    if (h->db) sqlite3_close_v2(h->db);   /* deferred until its statements are finalised */
    h->db = NULL;
    free(h->path);
    h->path = NULL;
    return 0;
}

static int db_exec(lua_State *L) {
    struct db_handle *h = check_db(L, 1);
    db_drain(h);
    char *err = NULL;
    if (exec_sql(h->db, luaL_checkstring(L, 2), &err) != FY_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        free(err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Bind params[1..n] (integers, numbers, strings, booleans as 1/0) to st's
 * placeholders; values are bound, never spliced into the SQL text. */
static int bind_params(lua_State *L, int params, sqlite3_stmt *st, char *err, size_t errlen) {
    int n = (int)luaL_len(L, params);
    if (n != sqlite3_bind_parameter_count(st)) {
        snprintf(err, errlen, "the statement has %d parameters, %d values given", sqlite3_bind_parameter_count(st), n);
        return FY_ERR;
    }
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s;
        switch (lua_rawgeti(L, params, i)) {
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1)) sqlite3_bind_int64(st, i, lua_tointeger(L, -1));
            else sqlite3_bind_double(st, i, lua_tonumber(L, -1));
            break;
        case LUA_TSTRING:
            s = lua_tolstring(L, -1, &len);
            sqlite3_bind_text(st, i, s, (int)len, SQLITE_TRANSIENT);
            break;
        case LUA_TBOOLEAN:
            sqlite3_bind_int(st, i, lua_toboolean(L, -1));
            break;
        case LUA_TNIL:
        case LUA_TLIGHTUSERDATA:        /* ferry.json.null */
            sqlite3_bind_null(st, i);
            break;
        default:
            snprintf(err, errlen, "parameter %d: cannot bind a %s", i, luaL_typename(L, -1));
            lua_pop(L, 1);
            return FY_ERR;
        }
        lua_pop(L, 1);
    }
    return FY_OK;
}

/* db:rows(sql [, params]) -> array of row tables (column name -> value).
 * For small reads; params (a list) are bound to the ?s of sql. */
static int db_rows(lua_State *L) {
    struct db_handle *h = check_db(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    sqlite3_stmt *st;
    db_drain(h);
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, sqlite3_errmsg(h->db));
        return 2;
    }
    char berr[160];
    if (lua_istable(L, 3) && bind_params(L, 3, st, berr, sizeof berr) != FY_OK) {
        sqlite3_finalize(st);
        luaL_pushfail(L);
        lua_pushstring(L, berr);
        return 2;
    }
    lua_newtable(L);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lua_createtable(L, 0, sqlite3_column_count(st));
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(st, i)); break;
            case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(st, i)); break;
            case SQLITE_NULL: continue;
            default:
                lua_pushlstring(L, (const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
            }
            lua_setfield(L, -2, sqlite3_column_name(st, i));
        }
        lua_rawseti(L, -2, ++n);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        luaL_pushfail(L);
        lua_pushstring(L, sqlite3_errmsg(h->db));
        return 2;
    }
    return 1;
}

/* ---- table handle ------------------------------------------------------- */

static void table_release(struct table_handle *t) {
    if (t->upsert) sqlite3_finalize(t->upsert);
    t->upsert = NULL;
    for (int i = 0; i < t->ncols; i++) free(t->cols[i].name);
    free(t->cols);
    free(t->name);
    t->cols = NULL;
    t->name = NULL;
    t->ncols = 0;
}

static int table_close(lua_State *L) {
    struct table_handle *t = luaL_checkudata(L, 1, TABLE_MT);
    if (t->dbh && t->dbh->db) db_drain(t->dbh);   /* queued jobs use its statement */
    table_release(t);
    return 0;
}

/* Read spec.columns into t->cols; raises on a malformed declaration. */
static void parse_columns(lua_State *L, struct table_handle *t) {
    if (lua_getfield(L, 2, "columns") != LUA_TTABLE)
        luaL_error(L, "table %s: 'columns' must be a list of { name, type, key = true? }", t->name);
    int n = (int)luaL_len(L, -1);
    if (n == 0) luaL_error(L, "table %s: 'columns' is empty", t->name);
    t->cols = calloc((size_t)n, sizeof *t->cols);
    int nkeys = 0;
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (!lua_istable(L, -1)) luaL_error(L, "table %s: column %d must be a table", t->name, i);
        if (lua_rawgeti(L, -1, 1) != LUA_TSTRING) { lua_pop(L, 1); lua_getfield(L, -1, "name"); }
        const char *name = lua_tostring(L, -1);
        if (!valid_identifier(name))
            luaL_error(L, "table %s: column %d: name must be letters, digits and _ (got %s)", t->name, i,
                       name ? name : "nothing");
        if (name[0] == '_' && (strcmp(name, "_synced_at") == 0 || strcmp(name, "_run_id") == 0))
            luaL_error(L, "table %s: column %s is added by ferry; do not declare it", t->name, name);
        for (int j = 0; j < t->ncols; j++)
            if (strcmp(t->cols[j].name, name) == 0) luaL_error(L, "table %s: column %s declared twice", t->name, name);
        t->cols[t->ncols].name = strdup(name);
        t->ncols++;
        lua_pop(L, 1);
        if (lua_rawgeti(L, -1, 2) != LUA_TSTRING) { lua_pop(L, 1); lua_getfield(L, -1, "type"); }
        const char *type = lua_isstring(L, -1) ? lua_tostring(L, -1) : "text";
        size_t k;
        for (k = 0; k < N_COL_TYPES && strcmp(col_types[k].name, type) != 0; k++) {}
        if (k == N_COL_TYPES)
            luaL_error(L, "table %s: column %s: unknown type '%s' (use text, integer, real, boolean, "
                          "timestamp, date or json)", t->name, name, type);
        t->cols[t->ncols - 1].type = col_types[k].type;
        t->cols[t->ncols - 1].type_name = col_types[k].name;
        lua_pop(L, 1);
        lua_getfield(L, -1, "key");
        t->cols[t->ncols - 1].key = lua_toboolean(L, -1);
        nkeys += t->cols[t->ncols - 1].key;
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (nkeys == 0) luaL_error(L, "table %s: no key column (mark one with key = true; rows are upserted by key)", t->name);
}

/* SQLite's type affinity of a column type as declared in a table (the
 * rules of its "Datatypes" page, in their order): INT and BIGINT hold
 * integers as INTEGER does, VARCHAR(40) text as TEXT does. */
enum affinity { A_INTEGER, A_TEXT, A_BLOB, A_REAL, A_NUMERIC };

static enum affinity affinity_of(const char *type) {
    if (strstr(type, "INT")) return A_INTEGER;
    if (strstr(type, "CHAR") || strstr(type, "CLOB") || strstr(type, "TEXT")) return A_TEXT;
    if (!*type || strstr(type, "BLOB")) return A_BLOB;
    if (strstr(type, "REAL") || strstr(type, "FLOA") || strstr(type, "DOUB")) return A_REAL;
    return A_NUMERIC;
}

#define MIGRATE "migrate the table (SQLite cannot change a column's type or key in place: create a new " \
                "table and copy the rows into it, or rename this one and ferry creates it anew)"

/* Compare the existing table t->name (if any) with the declaration:
 * found[i] is set for each declared column it has. A mismatch no row could
 * be written through (a column's type or key, a key column missing, a NOT
 * NULL column without a default that is not declared, ferry's own columns
 * missing) is schema drift: FY_ERR with *drift set and *err naming the
 * table, the column, both sides and what to do. FY_ERR without *drift
 * when SQLite fails. *err is malloc'd. */
static int check_table(sqlite3 *db, struct table_handle *t, int *exists, int *found, int *drift, char **err) {
    struct fy_buf msg = {0};
    sqlite3_stmt *st;
    int synced = 0, run_id = 0, rc = SQLITE_DONE;
    *exists = *drift = 0;
    fy_buf_printf(&msg, "SELECT name, upper(type), pk, \"notnull\", dflt_value IS NOT NULL "
                  "FROM pragma_table_info('%s')", t->name);
    if (sqlite3_prepare_v2(db, msg.data, -1, &st, NULL) != SQLITE_OK) {
        *err = strdup(sqlite3_errmsg(db));
        fy_buf_free(&msg);
        return FY_ERR;
    }
    fy_buf_reset(&msg);
    while (!msg.len && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *exists = 1;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        int pk = sqlite3_column_int(st, 2) > 0, notnull = sqlite3_column_int(st, 3);
        int has_default = sqlite3_column_int(st, 4), i;
        for (i = 0; i < t->ncols && strcmp(t->cols[i].name, name) != 0; i++) {}
        if (i < t->ncols) {
            const struct column *c = &t->cols[i];
            found[i] = 1;
            enum affinity a = affinity_of(type);
            static const char *as[A_NUMERIC + 1] = {[A_INTEGER] = "integer", [A_TEXT] = "text", [A_REAL] = "real"};
            if (a == affinity_of(sql_type(c->type)) && pk == c->key) continue;
            fy_buf_printf(&msg, "table %s: column %s is %s%s in the database but declared %s%s; ", t->name, name,
                          *type ? type : "untyped", pk ? " (key)" : "", c->type_name, c->key ? " (key)" : "");
            if (as[a])
                fy_buf_printf(&msg, "change the declaration to { \"%s\", \"%s\"%s }, or ", name,
                              a == affinity_of(sql_type(c->type)) ? c->type_name : as[a], pk ? ", key = true" : "");
            fy_buf_puts(&msg, MIGRATE);
        } else if (strcmp(name, "_synced_at") == 0 || strcmp(name, "_run_id") == 0) {
            *(name[1] == 's' ? &synced : &run_id) = 1;
        } else if (pk) {
            fy_buf_printf(&msg, "table %s: column %s is part of the key in the database but not declared; "
                          "declare it with key = true, or " MIGRATE, t->name, name);
        } else if (notnull && !has_default) {
            fy_buf_printf(&msg, "table %s: column %s is NOT NULL without a default in the database but not "
                          "declared, so no row can be written; declare it, or " MIGRATE, t->name, name);
        }
    }
    if (!msg.len && rc != SQLITE_DONE) {
        *err = strdup(sqlite3_errmsg(db));
        sqlite3_finalize(st);
        fy_buf_free(&msg);
        return FY_ERR;
    }
    sqlite3_finalize(st);
    for (int i = 0; *exists && !msg.len && i < t->ncols; i++)
        if (!found[i] && t->cols[i].key)
            fy_buf_printf(&msg, "table %s: key column %s is not in the table; declare the table's key, or "
                          MIGRATE, t->name, t->cols[i].name);
    if (*exists && !msg.len && !(synced && run_id))
        fy_buf_printf(&msg, "table %s: column %s is not in the table (ferry.sink.sqlite writes _synced_at and "
                      "_run_id into every row); add it as a TEXT column, or load into a table of its own",
                      t->name, synced ? "_run_id" : "_synced_at");
    if (msg.len) {
        *drift = 1;
        *err = strdup(msg.data);
    }
    fy_buf_free(&msg);
    return *drift ? FY_ERR : FY_OK;
}

/* Create the table, or check an existing one (check_table) and add the
 * declared columns it lacks; then prepare the upsert. *drift as in
 * check_table. */
static int ensure_table(sqlite3 *db, struct table_handle *t, int *drift, char **err) {
    struct fy_buf sql = {0};
    int exists, rc = FY_ERR;
    int *found = calloc((size_t)t->ncols, sizeof(int));
    *drift = 0;
    if (!found) {
        *err = strdup("out of memory");
        return FY_ERR;
    }
    if (check_table(db, t, &exists, found, drift, err) != FY_OK) goto cleanup;
    if (!exists) {
        fy_buf_printf(&sql, "CREATE TABLE \"%s\" (", t->name);
        for (int i = 0; i < t->ncols; i++)
            fy_buf_printf(&sql, "\"%s\" %s%s, ", t->cols[i].name, sql_type(t->cols[i].type),
                          t->cols[i].key ? " NOT NULL" : "");
        fy_buf_puts(&sql, "\"_synced_at\" TEXT NOT NULL, \"_run_id\" TEXT NOT NULL, PRIMARY KEY (");
        for (int i = 0, first = 1; i < t->ncols; i++)
            if (t->cols[i].key) { fy_buf_printf(&sql, "%s\"%s\"", first ? "" : ", ", t->cols[i].name); first = 0; }
        fy_buf_puts(&sql, ")) STRICT");
    } else {
        for (int i = 0; i < t->ncols; i++)
            if (!found[i])
                fy_buf_printf(&sql, "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s;", t->name, t->cols[i].name,
                              sql_type(t->cols[i].type));
    }
    if (sql.len && exec_sql(db, sql.data, err) != FY_OK) goto cleanup;

    fy_buf_reset(&sql);
    fy_buf_printf(&sql, "INSERT INTO \"%s\" (", t->name);
    for (int i = 0; i < t->ncols; i++) fy_buf_printf(&sql, "\"%s\", ", t->cols[i].name);
    fy_buf_puts(&sql, "\"_synced_at\", \"_run_id\") VALUES (");
    for (int i = 0; i < t->ncols + 2; i++) fy_buf_puts(&sql, i ? ", ?" : "?");
    fy_buf_puts(&sql, ") ON CONFLICT (");
    for (int i = 0, first = 1; i < t->ncols; i++)
        if (t->cols[i].key) { fy_buf_printf(&sql, "%s\"%s\"", first ? "" : ", ", t->cols[i].name); first = 0; }
    fy_buf_puts(&sql, ") DO UPDATE SET ");
    for (int i = 0; i < t->ncols; i++)
        if (!t->cols[i].key) fy_buf_printf(&sql, "\"%s\" = excluded.\"%s\", ", t->cols[i].name, t->cols[i].name);
    fy_buf_puts(&sql, "\"_synced_at\" = excluded.\"_synced_at\", \"_run_id\" = excluded.\"_run_id\"");
    if (sqlite3_prepare_v3(db, sql.data, -1, SQLITE_PREPARE_PERSISTENT, &t->upsert, NULL) != SQLITE_OK) {
        *err = strdup(sqlite3_errmsg(db));
        goto cleanup;
    }
    rc = FY_OK;
cleanup:
    free(found);
    fy_buf_free(&sql);
    return rc;
}

static int db_table(lua_State *L) {
    struct db_handle *h = check_db(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "name");
    const char *name = lua_tostring(L, -1);
    if (!valid_identifier(name))
        return luaL_error(L, "table name must be letters, digits and _ (got %s)", name ? name : "nothing");
    db_drain(h);
    struct table_handle *t = lua_newuserdatauv(L, sizeof *t, 1);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, TABLE_MT);
    t->dbh = h;
    t->name = strdup(name);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    parse_columns(L, t);
    char *err = NULL;
    int drift;
    if (ensure_table(h->db, t, &drift, &err) != FY_OK) {
        if (drift) {                /* a problem of the integration, not of its records */
            lua_createtable(L, 0, 2);
            lua_pushliteral(L, "schema_drift");
            lua_setfield(L, -2, "class");
            lua_pushstring(L, err);
            lua_setfield(L, -2, "reason");
        } else {
            lua_pushstring(L, err);
        }
        free(err);
        return lua_error(L);
    }
    return 1;
}

static void push_failure(lua_State *L, int failures, int index, const char *cls, const char *reason) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, cls);
    lua_setfield(L, -2, "class");
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
    lua_rawseti(L, failures, index);
}

/* ---- packing rows: Lua tables -> typed cells (fy_sqlite_writer.h) -------- */

struct upsert_job {
    struct fy_wjob job;       /* first: fy_wjob_free frees the whole */
    struct db_handle *dbh;
    struct fy_run *waiter;    /* the run yielded in wait() */
    int delivered;            /* back on the loop thread with its results */
    int orphaned;             /* its pending handle was collected first */
    struct fy_vm *vm;         /* whose limits.memory counts the job ... */
    size_t held;              /* ... for this many bytes (fy_vm_hold) */
};

/* The job's packed rows are the script's memory until their results are
 * taken: counted against limits.memory, so queueing upsert_async batches
 * without waiting cannot grow ferry past it. */
static size_t job_bytes(const struct fy_wjob *job) {
    return job->arena_cap + (size_t)job->nrows * ((size_t)job->ncells * sizeof *job->cells + 1);
}

/* Stop counting u against its VM (its results were taken, or nobody will). */
static void job_release(struct upsert_job *u) {
    if (u->vm) fy_vm_hold(u->vm, &u->held, 0);
    u->vm = NULL;
}

static void job_free(struct upsert_job *u) {
    job_release(u);
    fy_wjob_free(&u->job);
}

/* A job being packed belongs to a Lua box until pack_rows returns it, so
 * an error raised halfway (a row's __index, out of memory) frees it. */
#define JOBBOX_MT "ferry.sqlite.packing"

static int jobbox_gc(lua_State *L) {
    struct upsert_job **box = luaL_checkudata(L, 1, JOBBOX_MT);
    if (*box) job_free(*box);
    *box = NULL;
    return 0;
}

/* row[col] (on top of the stack) as a cell; FY_ERR with a reason. */
static int pack_value(lua_State *L, struct fy_wjob *job, struct fy_cell *cell, const struct column *c,
                      struct fy_buf *tmp, char *err, size_t errlen) {
    size_t len;
    const char *s;
    switch (lua_type(L, -1)) {
    case LUA_TNIL:
    case LUA_TLIGHTUSERDATA:   /* ferry.json.null */
        cell->type = FY_CELL_NULL;
        return FY_OK;
    case LUA_TBOOLEAN:
        cell->type = FY_CELL_INT;
        cell->v.i = lua_toboolean(L, -1);
        return FY_OK;
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1)) {
            cell->type = FY_CELL_INT;
            cell->v.i = lua_tointeger(L, -1);
        } else {
            cell->type = FY_CELL_REAL;
            cell->v.d = lua_tonumber(L, -1);
            if (isnan(cell->v.d)) {          /* SQLite would store NULL */
                snprintf(err, errlen, "column %s: NaN (not a number) cannot be stored", c->name);
                return FY_ERR;
            }
        }
        return FY_OK;
    case LUA_TSTRING:
        s = lua_tolstring(L, -1, &len);
        cell->type = FY_CELL_TEXT;
        cell->v.s.off = fy_wjob_put(job, s, len);
        cell->v.s.len = len;
        return FY_OK;
    case LUA_TTABLE:
        if (c->type == C_JSON) {
            fy_buf_reset(tmp);
            if (fy_json_encode(L, -1, tmp, err, errlen) != FY_OK) return FY_ERR;
            cell->type = FY_CELL_TEXT;
            cell->v.s.off = fy_wjob_put(job, tmp->data, tmp->len);
            cell->v.s.len = tmp->len;
            return FY_OK;
        }
        /* fall through */
    default:
        snprintf(err, errlen, "column %s: cannot store a %s in a %s column", c->name,
                 luaL_typename(L, -1), sql_type(c->type));
        return FY_ERR;
    }
}

/* The rows at index `rows` packed into a job for t's upsert statement. A
 * row that cannot be stored (not a table, no key, a value of the wrong
 * kind) is a failure of that row, skipped by the write. Raises on OOM. */
static struct upsert_job *pack_rows(lua_State *L, struct table_handle *t, int rows, const char *run_id,
                                    size_t runlen) {
    int n = (int)luaL_len(L, rows), ncells = t->ncols + 2;
    struct upsert_job **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, JOBBOX_MT);
    int boxidx = lua_gettop(L);
    struct upsert_job *u = calloc(1, sizeof *u);
    if (!u) luaL_error(L, "upsert: out of memory");
    *box = u;
    struct fy_wjob *job = &u->job;
    /* Cells are not zeroed: every cell of a row the writer reads is packed
     * (a row that fails midway is skipped). The text starts at the last
     * batch's size, so it is not regrown (and the heap consolidated for
     * each regrowth) a dozen times a batch. */
    if (!(job->cells = malloc((size_t)(n ? n : 1) * (size_t)ncells * sizeof *job->cells)) ||
        !(job->skip = calloc((size_t)(n ? n : 1), 1)))
        luaL_error(L, "upsert: out of memory");
    if (t->text_hint && !(job->arena = malloc(job->arena_cap = t->text_hint))) luaL_error(L, "upsert: out of memory");
    u->dbh = t->dbh;
    u->vm = fy_vm_of(L);
    job->stmt = t->upsert;
    job->ncells = ncells;
    job->nrows = n;
    char synced[40], err[256];
    fy_time_format(fy_time_now(), 0, 3, synced, sizeof synced);
    size_t synced_len = strlen(synced);
    size_t synced_off = fy_wjob_put(job, synced, synced_len), run_off = fy_wjob_put(job, run_id, runlen);
    struct fy_buf tmp = {0};                           /* (freed below; encode errors are returned) */
    /* the column names as Lua strings, made once per batch, not per cell */
    luaL_checkstack(L, t->ncols + 4, "upsert: too many columns");
    int keys = lua_gettop(L) + 1;
    for (int i = 0; i < t->ncols; i++) lua_pushstring(L, t->cols[i].name);
    for (int r = 1; r <= n; r++) {
        struct fy_cell *cells = job->cells + (size_t)(r - 1) * (size_t)ncells;
        if (lua_rawgeti(L, rows, r) != LUA_TTABLE) {
            fy_wjob_fail(job, r, "load received a non-table record");
            lua_pop(L, 1);
            continue;
        }
        for (int i = 0; i < t->ncols; i++) {
            lua_pushvalue(L, keys + i);
            lua_gettable(L, -2);
            int bad = 0;
            if (t->cols[i].key && (lua_isnil(L, -1) || lua_islightuserdata(L, -1))) {
                /* checked here: SQLite would give a NULL INTEGER key a new rowid */
                snprintf(err, sizeof err, "key column %s is missing (NOT NULL)", t->cols[i].name);
                bad = 1;
            } else if (pack_value(L, job, &cells[i], &t->cols[i], &tmp, err, sizeof err) != FY_OK) {
                bad = 1;
            }
            lua_pop(L, 1);
            if (bad) {
                fy_wjob_fail(job, r, err);
                break;
            }
        }
        lua_pop(L, 1);
        cells[t->ncols].type = cells[t->ncols + 1].type = FY_CELL_TEXT;
        cells[t->ncols].v.s.off = synced_off;
        cells[t->ncols].v.s.len = synced_len;
        cells[t->ncols + 1].v.s.off = run_off;
        cells[t->ncols + 1].v.s.len = runlen;
        if (job_bytes(job) != u->held && u->vm && fy_vm_hold(u->vm, &u->held, job_bytes(job)) != FY_OK) {
            size_t mb = u->vm->mem_limit >> 20;
            fy_buf_free(&tmp);
            *box = NULL;
            job_free(u);                                /* now, so the error has room to be told */
            luaL_error(L, "upsert: the batch would take the integration past its memory limit "
                       "(%d MB; limits.memory in the config)", (int)mb);
        }
    }
    fy_buf_free(&tmp);
    t->text_hint = job->arena_len + job->arena_len / 8;
    *box = NULL;                                        /* the caller's now */
    lua_settop(L, boxidx - 1);
    return u;
}

/* A written job's results: loaded, failures; or raise its fatal error
 * ({ class = "transient" }, the batch rolled back). Frees the job. */
static int push_results(lua_State *L, struct upsert_job *u) {
    struct fy_wjob *job = &u->job;
    if (job->fatal) {
        lua_createtable(L, 0, 2);
        lua_pushliteral(L, "transient");
        lua_setfield(L, -2, "class");
        lua_pushstring(L, job->fatal);
        lua_setfield(L, -2, "reason");
        job_free(u);
        return lua_error(L);
    }
    lua_pushinteger(L, job->loaded);
    lua_createtable(L, job->nfails, 0);
    for (int i = 0; i < job->nfails; i++)
        push_failure(L, lua_gettop(L), job->fails[i].row, "validation", job->fails[i].reason);
    job_free(u);
    return 2;
}

/* Note that the current run (if any) loads into the database of the table
 * at index 1, for the ferry_freshness row written when it ends. */
static void note_loaded(lua_State *L, struct table_handle *t) {
    struct fy_vm *vm = fy_vm_of(L);
    if (!vm || !vm->co || !t->dbh->path) return;
    if (lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "v");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
    }
    lua_getiuservalue(L, 1, 1);                       /* the db userdata */
    lua_setfield(L, -2, t->dbh->path);
    lua_pop(L, 1);
}

/* The arguments of tbl:upsert and tbl:upsert_async: (rows, run_id). */
static struct table_handle *upsert_args(lua_State *L, const char **run_id, size_t *runlen) {
    struct table_handle *t = luaL_checkudata(L, 1, TABLE_MT);
    if (!t->upsert || !t->dbh->db) luaL_error(L, "attempt to use a closed table");
    luaL_checktype(L, 2, LUA_TTABLE);
    *run_id = luaL_optlstring(L, 3, "", runlen);
    note_loaded(L, t);
    return t;
}

void fy_lua_sqlite_take_loaded(lua_State *L, const char *declared, fy_sqlite_loaded_fn fn, void *arg) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);   /* forgotten first: fn may raise */
    char real[PATH_MAX], err[FY_ERRLEN];
    if (declared && fy_sandbox_path(fy_vm_of(L), declared, FY_PATH_DB, real, sizeof real, err, sizeof err) == FY_OK) {
        if (lua_getfield(L, -1, real) == LUA_TNIL) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -3, real);
        }
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        struct db_handle *h = luaL_testudata(L, -1, DB_MT);
        if (h && h->writer) fy_writer_drain(h->writer);
        if (fn && lua_type(L, -2) == LUA_TSTRING) fn(lua_tostring(L, -2), arg);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static int table_upsert(lua_State *L) {
    size_t runlen;
    const char *run_id;
    struct table_handle *t = upsert_args(L, &run_id, &runlen);
    db_drain(t->dbh);
    struct upsert_job *u = pack_rows(L, t, 2, run_id, runlen);
    fy_wjob_write(t->dbh->db, &u->job);          /* here, on the calling thread */
    return push_results(L, u);
}

/* ---- asynchronous upsert ------------------------------------------------- */

struct pending { struct upsert_job *u; };   /* NULL once its results are taken */

static void upsert_delivered(struct fy_wjob *job) {
    struct upsert_job *u = (struct upsert_job *)job;
    if (u->orphaned) {
        fy_wjob_free(job);
        return;
    }
    u->delivered = 1;
    if (u->waiter && !u->dbh->closing) {
        struct fy_run *run = u->waiter;
        u->waiter = NULL;
        fy_run_resume(run, 0);
    }
}

/* tbl:upsert_async(rows, run_id) -> pending */
static int table_upsert_async(lua_State *L) {
    size_t runlen;
    const char *run_id;
    struct table_handle *t = upsert_args(L, &run_id, &runlen);
    struct fy_vm *vm = fy_vm_of(L);
    if (!vm || !vm->engine) return luaL_error(L, "upsert_async: only inside ferry's engine");
    struct db_handle *h = t->dbh;
    char err[256];
    if (!h->writer && !(h->writer = fy_writer_create(h->db, vm->engine->base, err, sizeof err)))
        return luaL_error(L, "upsert_async: %s", err);

    struct pending *p = lua_newuserdatauv(L, sizeof *p, 1);
    p->u = NULL;
    luaL_setmetatable(L, PENDING_MT);
    lua_pushvalue(L, 1);                              /* the table (and its db) outlive the job */
    lua_setiuservalue(L, -2, 1);
    struct upsert_job *u = pack_rows(L, t, 2, run_id, runlen);
    u->job.delivered = upsert_delivered;
    p->u = u;
    fy_writer_submit(h->writer, &u->job);
    return 1;
}

/* The results of a delivered job: loaded, failures; or raise its fatal error. */
static int pending_result(lua_State *L, int status, lua_KContext kctx) {
    FY_UNUSED(status);
    FY_UNUSED(kctx);
    struct pending *p = luaL_checkudata(L, 1, PENDING_MT);
    struct upsert_job *u = p->u;
    p->u = NULL;
    return push_results(L, u);
}

/* pending:wait() -> loaded, failures: yields the run until the batch is written. */
static int pending_wait(lua_State *L) {
    struct pending *p = luaL_checkudata(L, 1, PENDING_MT);
    if (!p->u) return luaL_error(L, "the results of this load were already taken");
    lua_settop(L, 1);
    if (p->u->delivered) return pending_result(L, 0, 0);
    struct fy_run *run = fy_run_of(L);
    if (!run || !run->engine || !lua_isyieldable(L)) {
        fy_writer_drain(p->u->dbh->writer);            /* nothing to yield to: block */
        fy_writer_deliver(p->u->dbh->writer);
        return pending_result(L, 0, 0);
    }
    p->u->waiter = run;
    run->waiting = 1;
    return lua_yieldk(L, 0, 0, pending_result);
}

static int pending_gc(lua_State *L) {
    struct pending *p = luaL_checkudata(L, 1, PENDING_MT);
    if (p->u) {
        job_release(p->u);                             /* the VM may be gone when it comes back */
        if (p->u->delivered) fy_wjob_free(&p->u->job);
        else p->u->orphaned = 1;                       /* freed when it comes back */
        p->u = NULL;
    }
    return 0;
}

int luaopen_ferry_sqlite(lua_State *L) {
    static const luaL_Reg db_methods[] = {
        {"table", db_table}, {"exec", db_exec}, {"rows", db_rows}, {"close", db_close}, {NULL, NULL},
    };
    static const luaL_Reg table_methods[] = {
        {"upsert", table_upsert}, {"upsert_async", table_upsert_async}, {"close", table_close}, {NULL, NULL},
    };
    static const luaL_Reg pending_methods[] = {{"wait", pending_wait}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"open", db_open}, {NULL, NULL}};
    fy_vm_new_class(L, DB_MT, db_methods, db_close);
    fy_vm_new_class(L, TABLE_MT, table_methods, table_close);
    fy_vm_new_class(L, PENDING_MT, pending_methods, pending_gc);
    static const luaL_Reg none[] = {{NULL, NULL}};
    fy_vm_new_class(L, JOBBOX_MT, none, jobbox_gc);
    luaL_newlib(L, funcs);
    return 1;
}
