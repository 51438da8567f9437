/* ferry.postgres: PostgreSQL as the reporting layer (ferry.sink.postgres
 * is built on it).
 *
 *   local db  = ferry.postgres.open("reporting")   -- config databases.reporting
 *   local tbl = db:table { name = "accounts", columns = {
 *       { "account_id", "text", key = true }, { "arr", "numeric" }, ... } }
 *   local loaded, failures = tbl:upsert(rows, run_id)
 *   local pending = tbl:upsert_async(rows, run_id)   -- pending:wait() later
 *   local rows = db:rows("SELECT ... WHERE id = $1", { id })
 *
 * A script may open only the databases its grant names (config
 * integrations[NAME].databases); the connection string and the password
 * (from the environment variable the config names) never reach Lua.
 *
 * Every statement runs on the database's writer thread (fy_pg.c): a call
 * that waits for one yields the run, and blocks only where nothing can
 * yield. Rows are packed into typed cells here, on the loop thread; a row
 * that cannot be sent (not a table, no key, a table in a non-json column,
 * text that is not UTF-8 or holds a NUL) fails by itself before it goes. */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_freshness.h"
#include "fy_log.h"
#include "fy_lua_pg.h"
#include "fy_pg.h"
#include "fy_run.h"
#include "fy_time.h"
#include "fy_utf8.h"
#include "fy_vm.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define DB_MT "ferry.postgres.db"
#define TABLE_MT "ferry.postgres.table"
#define PENDING_MT "ferry.postgres.pending"

/* The databases the current run loaded into: name -> db userdata. */
#define LOADED_KEY "ferry.postgres.loaded"

struct db_handle {
    struct fy_pg *pg;           /* NULL once closed */
    struct fy_writer *writer;   /* started by the first job inside the engine */
    char *name;
    int closing;                /* jobs delivered now must not resume runs */
    int next_table;
};

struct table_handle {
    struct fy_pg_table t;
    struct db_handle *dbh;      /* kept alive through the userdata's user value */
    int open;
};

struct job {
    struct fy_pg_job pj;        /* first */
    struct db_handle *dbh;
    struct fy_run *waiter;
    int submitted, delivered, orphaned;
    struct fy_vm *vm;           /* whose limits.memory counts the packed rows ... */
    size_t held;                /* ... for this many bytes */
    struct fy_buf tmp;          /* packing: a json value's text */
};

struct pending { struct job *u; };  /* NULL once its results are taken */

static void job_free(struct job *u) {
    if (!u) return;
    if (u->vm) fy_vm_hold(u->vm, &u->held, 0);
    fy_buf_free(&u->tmp);
    fy_pg_job_free(&u->pj);
}

static int valid_identifier(const char *s) {
    if (!s || !*s || strlen(s) > 63 || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* Raise { class = cls, reason = msg, destination = true when `destination` }. */
static int raise_class(lua_State *L, const char *cls, const char *msg, int destination) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, cls);
    lua_setfield(L, -2, "class");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "reason");
    if (destination) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "destination");
    }
    return lua_error(L);
}

/* ---- jobs: submit, wait, hand back --------------------------------------- */

static void delivered(struct fy_wjob *job) {
    struct job *u = (struct job *)job;
    if (u->orphaned) {
        job_free(u);
        return;
    }
    u->delivered = 1;
    if (u->waiter && !u->dbh->closing) {
        struct fy_run *run = u->waiter;
        u->waiter = NULL;
        fy_run_resume(run, 0);
    }
}

/* A new job owned by a pending userdata pushed on the stack, which keeps
 * the value at `keep` (the db or table) alive as long as the job. */
static struct job *new_job(lua_State *L, struct db_handle *h, enum fy_pg_op op, int keep) {
    struct pending *p = lua_newuserdatauv(L, sizeof *p, 1);
    p->u = NULL;
    luaL_setmetatable(L, PENDING_MT);
    lua_pushvalue(L, keep);
    lua_setiuservalue(L, -2, 1);
    struct job *u = calloc(1, sizeof *u);
    if (!u) luaL_error(L, "postgres: out of memory");
    p->u = u;
    u->pj.op = op;
    u->dbh = h;
    u->pj.job.delivered = delivered;
    return u;
}

/* Start h's writer thread when there is a loop to come back on. */
static int ensure_writer(lua_State *L, struct db_handle *h, char *err, size_t errlen) {
    struct fy_vm *vm = fy_vm_of(L);
    if (h->writer || !vm || !vm->engine) return FY_OK;
    h->writer = fy_writer_start(fy_pg_write, h->pg, vm->engine->base, err, errlen);
    return h->writer ? FY_OK : FY_ERR;
}

/* Hand the job to the database's thread; without an engine (no loop to
 * come back on) it is done here and now. */
static void submit(lua_State *L, struct job *u) {
    struct db_handle *h = u->dbh;
    char err[256];
    fy_buf_free(&u->tmp);
    if (ensure_writer(L, h, err, sizeof err) != FY_OK) luaL_error(L, "postgres: %s", err);
    u->submitted = 1;
    if (!h->writer) {
        fy_pg_write(h->pg, &u->pj.job);
        u->delivered = 1;
        return;
    }
    fy_writer_submit(h->writer, &u->pj.job);
}

/* Wait for the job of the pending at index pidx, then k(L, LUA_OK, pidx):
 * the run yields meanwhile, or where it cannot yield the thread blocks. */
static int await(lua_State *L, int pidx, lua_KFunction k) {
    struct pending *p = lua_touserdata(L, pidx);
    if (p->u->delivered) return k(L, LUA_OK, pidx);
    struct fy_run *run = fy_run_of(L);
    if (!run || !run->engine || !lua_isyieldable(L)) {
        fy_writer_drain(p->u->dbh->writer);
        fy_writer_deliver(p->u->dbh->writer);
        return k(L, LUA_OK, pidx);
    }
    p->u->waiter = run;
    run->waiting = 1;
    return lua_yieldk(L, 0, pidx, k);
}

/* Take the delivered job from its pending; raise its fatal error. */
static struct job *take(lua_State *L, int pidx) {
    struct pending *p = lua_touserdata(L, pidx);
    struct job *u = p->u;
    p->u = NULL;
    if (u->pj.job.fatal) {
        lua_pushstring(L, u->pj.job.fatal);
        const char *cls = u->pj.fatal_class ? u->pj.fatal_class : "transient";
        job_free(u);
        raise_class(L, cls, lua_tostring(L, -1), 1);   /* the database failed, not the rows (runner.lua) */
    }
    return u;
}

static int pending_gc(lua_State *L) {
    struct pending *p = luaL_checkudata(L, 1, PENDING_MT);
    if (p->u) {
        if (p->u->vm) fy_vm_hold(p->u->vm, &p->u->held, 0);   /* the VM may be gone when it comes back */
        p->u->vm = NULL;
        if (p->u->delivered || !p->u->submitted) job_free(p->u);
        else p->u->orphaned = 1;                              /* freed when it comes back */
        p->u = NULL;
    }
    return 0;
}

/* ---- the database -------------------------------------------------------- */

static struct db_handle *check_db(lua_State *L, int idx) {
    struct db_handle *h = luaL_checkudata(L, idx, DB_MT);
    if (!h->pg) luaL_error(L, "attempt to use a closed database");
    return h;
}

/* Is the integration granted database `name`? */
static int granted(const struct fy_vm *vm, const char *name) {
    if (!vm->grant) return 0;
    for (char **d = vm->grant->databases; d && *d; d++)
        if (strcmp(*d, name) == 0) return 1;
    return 0;
}

/* ferry.postgres.open(name) -> db */
static int pg_open(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    struct fy_vm *vm = fy_vm_of(L);
    const struct fy_database *d = vm ? fy_config_database(vm->cfg, name) : NULL;
    char msg[512];
    if (!d) {
        snprintf(msg, sizeof msg, "no database \"%.100s\" in the config (databases = { [\"%.100s\"] = { url = "
                 "\"postgresql://...\" } })", name, name);
        return raise_class(L, "validation", msg, 0);
    }
    if (!granted(vm, name)) {
        snprintf(msg, sizeof msg, "integration %.100s may not load into database \"%.100s\": grant it in the "
                 "config (integrations[\"%.100s\"].databases = { \"%.100s\" })", vm->name ? vm->name : "(unnamed)",
                 name, vm->name ? vm->name : "NAME", name);
        return raise_class(L, "permission", msg, 0);
    }
    struct db_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    memset(h, 0, sizeof *h);
    luaL_setmetatable(L, DB_MT);
    if (!(h->pg = fy_pg_new(d)) || !(h->name = strdup(name))) return luaL_error(L, "postgres: out of memory");
    return 1;
}

/* ferry.postgres.configured(name) -> boolean: does the config name it?
 * (ferry check's question: the grant is asked when it is opened.) */
static int pg_configured(lua_State *L) {
    struct fy_vm *vm = fy_vm_of(L);
    lua_pushboolean(L, vm && fy_config_database(vm->cfg, luaL_checkstring(L, 1)) != NULL);
    return 1;
}

static int db_close(lua_State *L) {
    struct db_handle *h = luaL_checkudata(L, 1, DB_MT);
    if (!h->pg) return 0;
    h->closing = 1;
    fy_pg_stop(h->pg);                       /* a reconnect in progress gives up */
    fy_writer_destroy(h->writer);            /* finishes what is queued, delivers it */
    h->writer = NULL;
    fy_pg_free(h->pg);
    h->pg = NULL;
    free(h->name);
    h->name = NULL;
    return 0;
}

/* A text for a parameter or NULL: strings, numbers, booleans. */
static char *param_text(lua_State *L, int idx, int i) {
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TLIGHTUSERDATA: return NULL;
    case LUA_TBOOLEAN: return strdup(lua_toboolean(L, idx) ? "true" : "false");
    case LUA_TNUMBER:
    case LUA_TSTRING: return strdup(lua_tostring(L, idx));
    default: luaL_error(L, "parameter %d: cannot send a %s", i, luaL_typename(L, idx));
    }
    return NULL;
}

/* A timestamptz as PostgreSQL writes it in ISO style ("2026-12-05
 * 10:00:00.5+00") into RFC 3339 as ferry writes times ("...T...Z"). */
static void push_timestamp(lua_State *L, const char *s) {
    char buf[64];
    size_t n = strlen(s);
    if (n < 20 || n >= sizeof buf - 2 || s[10] != ' ' || strcmp(s + n - 3, "+00") != 0) {
        lua_pushstring(L, s);
        return;
    }
    memcpy(buf, s, n - 3);
    buf[10] = 'T';
    buf[n - 3] = 'Z';
    buf[n - 2] = '\0';
    lua_pushstring(L, buf);
}

/* A value of r as Lua: integers, floats, booleans as such; numeric as a
 * number (an integer when it is one); timestamptz as RFC 3339; the rest,
 * json included, as text. */
static void push_value(lua_State *L, PGresult *r, int row, int col) {
    const char *v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case 16: lua_pushboolean(L, v[0] == 't'); return;                 /* bool */
    case 20: case 21: case 23: lua_pushinteger(L, strtoll(v, NULL, 10)); return;
    case 700: case 701: case 1700:                                     /* float4, float8, numeric */
        if (!lua_stringtonumber(L, v)) lua_pushstring(L, v);
        return;
    case 1184: push_timestamp(L, v); return;
    default: lua_pushlstring(L, v, (size_t)PQgetlength(r, row, col));
    }
}

/* The rows of a delivered query as a list of tables by column name. */
static int query_result(lua_State *L, int status, lua_KContext pidx) {
    FY_UNUSED(status);
    struct job *u = take(L, (int)pidx);
    PGresult *r = u->pj.res;
    int n = r ? PQntuples(r) : 0, nf = r ? PQnfields(r) : 0;
    lua_createtable(L, n, 0);
    for (int row = 0; row < n; row++) {
        lua_createtable(L, 0, nf);
        for (int c = 0; c < nf; c++) {
            if (PQgetisnull(r, row, c)) continue;
            push_value(L, r, row, c);
            lua_setfield(L, -2, PQfname(r, c));
        }
        lua_rawseti(L, -2, row + 1);
    }
    job_free(u);
    return 1;
}

/* db:rows(sql, params?) -> list of rows; db:exec(sql, params?) the same,
 * for statements without rows. */
static int db_rows(lua_State *L) {
    struct db_handle *h = check_db(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    int np = lua_istable(L, 3) ? (int)luaL_len(L, 3) : 0;
    if (np > 65535) return luaL_error(L, "rows: at most 65535 parameters");
    lua_settop(L, 3);
    struct job *u = new_job(L, h, FY_PG_QUERY, 1);
    int pidx = lua_gettop(L);
    if (!(u->pj.sql = strdup(sql)) || (np && !(u->pj.params = calloc((size_t)np, sizeof(char *)))))
        return luaL_error(L, "postgres: out of memory");
    for (int i = 1; i <= np; i++) {
        lua_geti(L, 3, i);
        u->pj.params[i - 1] = param_text(L, -1, i);
        u->pj.nparams = i;
        lua_pop(L, 1);
    }
    submit(L, u);
    return await(L, pidx, query_result);
}

/* ---- tables -------------------------------------------------------------- */

static void table_release(struct table_handle *th) {
    struct fy_pg_table *t = &th->t;
    for (int i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].cast);
    }
    free(t->cols);
    free(t->name);
    free(t->upsert_sql);
    free(t->dedup_sql);
    free(t->stage_sql);
    free(t->synced_cast);
    free(t->run_cast);
    memset(t, 0, sizeof *t);
    th->open = 0;
}

static int table_gc(lua_State *L) {
    struct table_handle *th = luaL_checkudata(L, 1, TABLE_MT);
    if (th->dbh && th->dbh->writer) fy_writer_drain(th->dbh->writer);   /* queued jobs read the table */
    table_release(th);
    return 0;
}

/* spec.columns (spec at index 2) into th->t; raises on a bad declaration. */
static void parse_columns(lua_State *L, struct fy_pg_table *t) {
    if (lua_getfield(L, 2, "columns") != LUA_TTABLE)
        luaL_error(L, "table %s: 'columns' must be a list of { name, type, key = true? }", t->name);
    int n = (int)luaL_len(L, -1), nkeys = 0;
    if (n == 0 || n > 1000) luaL_error(L, "table %s: 'columns' must list 1 to 1000 columns", t->name);
    if (!(t->cols = calloc((size_t)n, sizeof *t->cols))) luaL_error(L, "postgres: out of memory");
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (!lua_istable(L, -1)) luaL_error(L, "table %s: column %d must be a table", t->name, i);
        if (lua_rawgeti(L, -1, 1) != LUA_TSTRING) { lua_pop(L, 1); lua_getfield(L, -1, "name"); }
        const char *name = lua_tostring(L, -1);
        if (!valid_identifier(name))
            luaL_error(L, "table %s: column %d: name must be letters, digits and _, at most 63 (got %s)", t->name,
                       i, name ? name : "nothing");
        if (!strcmp(name, "_synced_at") || !strcmp(name, "_run_id") || !strcmp(name, "_n"))
            luaL_error(L, "table %s: column %s is ferry's own; do not declare it", t->name, name);
        for (int j = 0; j < t->ncols; j++)
            if (!strcmp(t->cols[j].name, name)) luaL_error(L, "table %s: column %s declared twice", t->name, name);
        struct fy_pg_column *c = &t->cols[t->ncols++];
        c->name = strdup(name);
        lua_pop(L, 1);
        if (lua_rawgeti(L, -1, 2) != LUA_TSTRING) { lua_pop(L, 1); lua_getfield(L, -1, "type"); }
        const char *type = lua_isstring(L, -1) ? lua_tostring(L, -1) : "text";
        if (fy_pg_type_parse(type, &c->type, &c->type_name) != FY_OK)
            luaL_error(L, "table %s: column %s: unknown type '%s' (use text, integer, real, numeric, boolean, "
                       "timestamp, date or json)", t->name, name, type);
        lua_pop(L, 1);
        lua_getfield(L, -1, "key");
        c->key = lua_toboolean(L, -1);
        nkeys += c->key;
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (!nkeys) luaL_error(L, "table %s: no key column (mark one with key = true; rows are upserted by key)", t->name);
}

static int table_ready(lua_State *L, int status, lua_KContext pidx) {
    FY_UNUSED(status);
    struct job *u = take(L, (int)pidx);      /* raises schema_drift, transient, auth ... */
    job_free(u);
    struct table_handle *th = lua_touserdata(L, (int)pidx - 1);
    th->open = 1;
    lua_pushvalue(L, (int)pidx - 1);
    return 1;
}

/* db:table{ name, columns } -> table: created, or checked and extended. */
static int db_table(lua_State *L) {
    struct db_handle *h = check_db(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_getfield(L, 2, "name");
    const char *name = lua_tostring(L, -1);
    if (!valid_identifier(name))
        return luaL_error(L, "table name must be letters, digits and _, at most 63 (got %s)", name ? name : "nothing");
    struct table_handle *th = lua_newuserdatauv(L, sizeof *th, 1);
    memset(th, 0, sizeof *th);
    luaL_setmetatable(L, TABLE_MT);
    th->dbh = h;
    th->t.name = strdup(name);
    th->t.id = ++h->next_table;
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    parse_columns(L, &th->t);
    struct job *u = new_job(L, h, FY_PG_TABLE, lua_gettop(L));
    u->pj.t = &th->t;
    int pidx = lua_gettop(L);                 /* the table handle is just below */
    submit(L, u);
    return await(L, pidx, table_ready);
}

/* ---- packing rows -------------------------------------------------------- */

static size_t job_bytes(const struct fy_wjob *job) {
    return job->arena_cap + (size_t)job->nrows * ((size_t)job->ncells * sizeof *job->cells + 1);
}

/* row[col] on top of the stack as a cell; FY_ERR with a reason. */
static int pack_value(lua_State *L, struct fy_wjob *job, struct fy_cell *cell, const struct fy_pg_column *c,
                      struct fy_buf *tmp, char *err, size_t errlen) {
    size_t len;
    const char *s;
    switch (lua_type(L, -1)) {
    case LUA_TNIL:
    case LUA_TLIGHTUSERDATA:
        cell->type = FY_CELL_NULL;
        return FY_OK;
    case LUA_TBOOLEAN:
        cell->type = FY_CELL_BOOL;
        cell->v.i = lua_toboolean(L, -1);
        return FY_OK;
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1)) {
            cell->type = FY_CELL_INT;
            cell->v.i = lua_tointeger(L, -1);
        } else {
            cell->type = FY_CELL_REAL;
            cell->v.d = lua_tonumber(L, -1);
        }
        return FY_OK;
    case LUA_TSTRING:
        s = lua_tolstring(L, -1, &len);
        break;
    case LUA_TTABLE:
        if (c->type == FY_PG_JSON) {
            fy_buf_reset(tmp);
            if (fy_json_encode(L, -1, tmp, err, errlen) != FY_OK) return FY_ERR;
            s = tmp->data;
            len = tmp->len;
            break;
        }
        /* fall through */
    default:
        snprintf(err, errlen, "column %s: cannot store a %s in a %s column", c->name, luaL_typename(L, -1),
                 c->type_name);
        return FY_ERR;
    }
    /* PostgreSQL's text holds neither; one such value would fail the whole COPY */
    if (memchr(s, '\0', len)) {
        snprintf(err, errlen, "column %s: the text holds a NUL byte, which PostgreSQL cannot store", c->name);
        return FY_ERR;
    }
    size_t bad = fy_utf8_check(s, len);
    if (bad != len) {
        snprintf(err, errlen, "column %s: the text is not UTF-8 (byte %zu)", c->name, bad + 1);
        return FY_ERR;
    }
    cell->type = FY_CELL_TEXT;
    cell->v.s.off = fy_wjob_put(job, s, len);
    cell->v.s.len = len;
    return FY_OK;
}

/* The rows at index `rows` packed into a job of table th (the job's
 * pending on top of the stack). A row that cannot be sent fails by itself. */
static void pack_rows(lua_State *L, struct table_handle *th, int rows, struct job *u) {
    const struct fy_pg_table *t = &th->t;
    int n = (int)luaL_len(L, rows), ncells = t->ncols;
    struct fy_wjob *job = &u->pj.job;
    if (!(job->cells = calloc((size_t)(n ? n : 1) * (size_t)ncells, sizeof *job->cells)) ||
        !(job->skip = calloc((size_t)(n ? n : 1), 1)))
        luaL_error(L, "upsert: out of memory");
    job->ncells = ncells;
    job->nrows = n;
    u->vm = fy_vm_of(L);
    char err[256];
    struct fy_buf *tmp = &u->tmp;
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
                snprintf(err, sizeof err, "key column %s is missing (NOT NULL)", t->cols[i].name);
                bad = 1;
            } else if (pack_value(L, job, &cells[i], &t->cols[i], tmp, err, sizeof err) != FY_OK) {
                bad = 1;
            }
            lua_pop(L, 1);
            if (bad) {
                fy_wjob_fail(job, r, err);
                break;
            }
        }
        lua_pop(L, 1);
        if (u->vm && job_bytes(job) != u->held && fy_vm_hold(u->vm, &u->held, job_bytes(job)) != FY_OK)
            luaL_error(L, "upsert: the batch would take the integration past its memory limit (%d MB; "
                       "limits.memory in the config)", (int)(u->vm->mem_limit >> 20));
    }
    lua_settop(L, keys - 1);                  /* the pending back on top */
}

/* Note that the current run loads into the database of th, for the
 * ferry_freshness row written when it ends. */
static void note_loaded(lua_State *L, int tidx, struct table_handle *th) {
    struct fy_vm *vm = fy_vm_of(L);
    if (!vm || !vm->co) return;
    if (lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
    }
    lua_getiuservalue(L, tidx, 1);            /* the db userdata */
    lua_setfield(L, -2, th->dbh->name);
    lua_pop(L, 1);
}

/* tbl:upsert_async(rows, run_id) -> pending */
static int table_upsert_async(lua_State *L) {
    struct table_handle *th = luaL_checkudata(L, 1, TABLE_MT);
    if (!th->open || !th->dbh->pg) return luaL_error(L, "attempt to use a closed table");
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t runlen;
    const char *run_id = luaL_optlstring(L, 3, "", &runlen);
    lua_settop(L, 3);
    note_loaded(L, 1, th);
    struct job *u = new_job(L, th->dbh, FY_PG_UPSERT, 1);
    u->pj.t = &th->t;
    if (!(u->pj.run_id = strdup(run_id))) return luaL_error(L, "postgres: out of memory");
    fy_time_format(fy_time_now(), 0, 3, u->pj.synced, sizeof u->pj.synced);
    pack_rows(L, th, 2, u);
    submit(L, u);
    return 1;
}

/* The results of a delivered upsert: loaded, failures. */
static int upsert_result(lua_State *L, int status, lua_KContext pidx) {
    FY_UNUSED(status);
    struct job *u = take(L, (int)pidx);
    struct fy_wjob *job = &u->pj.job;
    lua_pushinteger(L, job->loaded);
    lua_createtable(L, job->nfails, 0);
    for (int i = 0; i < job->nfails; i++) {
        lua_createtable(L, 0, 2);
        lua_pushliteral(L, "validation");
        lua_setfield(L, -2, "class");
        lua_pushstring(L, job->fails[i].reason);
        lua_setfield(L, -2, "reason");
        lua_rawseti(L, -2, job->fails[i].row);
    }
    job_free(u);
    return 2;
}

/* pending:wait() -> loaded, failures */
static int pending_wait(lua_State *L) {
    struct pending *p = luaL_checkudata(L, 1, PENDING_MT);
    if (!p->u) return luaL_error(L, "the results of this load were already taken");
    if (p->u->pj.op != FY_PG_UPSERT) return luaL_error(L, "not a load");
    lua_settop(L, 1);
    return await(L, 1, upsert_result);
}

/* tbl:upsert(rows, run_id) -> loaded, failures */
static int table_upsert(lua_State *L) {
    table_upsert_async(L);
    return await(L, lua_gettop(L), upsert_result);
}

/* ---- freshness at the end of a run --------------------------------------- */

/* A freshness row on its way: the job and its own copy of the row. */
struct fresh_job {
    struct job u;               /* first */
    struct fy_freshness f;
};

static void fresh_delivered(struct fy_wjob *job) {
    struct fresh_job *fj = (struct fresh_job *)job;
    if (job->fatal)
        fy_log(FY_LOG_WARN, fj->f.integration, "cannot write ferry_freshness into PostgreSQL (the run's outcome "
               "stands): %s", job->fatal);
    job_free(&fj->u);
}

void fy_lua_pg_take_loaded(lua_State *L, const char *declared, const struct fy_freshness *f) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
    if (declared && f && lua_getfield(L, -1, declared) == LUA_TNIL) {
        /* a run that loaded nothing: its database is opened for the row
         * (not granted, not configured: nothing to write, said elsewhere) */
        lua_pop(L, 1);
        lua_pushcfunction(L, pg_open);
        lua_pushstring(L, declared);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) lua_setfield(L, -2, declared);
        else lua_pop(L, 1);
    } else if (declared && f) {
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        struct db_handle *h = luaL_testudata(L, -1, DB_MT);
        struct fresh_job *fj = h && h->pg && f ? calloc(1, sizeof *fj) : NULL;
        if (fj) {
            /* after the run's batches, on the same thread: the loop does not
             * wait, and a server that went away costs a warning, not a stall */
            fj->f = *f;
            fj->u.pj.op = FY_PG_FRESHNESS;
            fj->u.pj.fresh = &fj->f;
            fj->u.pj.job.delivered = fresh_delivered;
            fj->u.dbh = h;
            fj->u.submitted = 1;
            char err[256];
            if (ensure_writer(L, h, err, sizeof err) == FY_OK && h->writer) {
                fy_writer_submit(h->writer, &fj->u.pj.job);
            } else {
                fy_pg_write(h->pg, &fj->u.pj.job);
                fresh_delivered(&fj->u.pj.job);
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

int luaopen_ferry_postgres(lua_State *L) {
    static const luaL_Reg db_methods[] = {
        {"table", db_table}, {"rows", db_rows}, {"exec", db_rows}, {"close", db_close}, {NULL, NULL},
    };
    static const luaL_Reg table_methods[] = {
        {"upsert", table_upsert}, {"upsert_async", table_upsert_async}, {NULL, NULL},
    };
    static const luaL_Reg pending_methods[] = {{"wait", pending_wait}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"open", pg_open}, {"configured", pg_configured}, {NULL, NULL}};
    fy_vm_new_class(L, DB_MT, db_methods, db_close);
    fy_vm_new_class(L, TABLE_MT, table_methods, table_gc);
    fy_vm_new_class(L, PENDING_MT, pending_methods, pending_gc);
    luaL_newlib(L, funcs);
    return 1;
}
