/* Loading, checking and running integrations; see fy_integration.h. */
#include "fy_integration.h"
#include <math.h>
#include "fy_alert.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_engine.h"
#include "fy_freshness.h"
#include "fy_lua_pg.h"
#include "fy_inbox.h"
#include "fy_log.h"
#include "fy_lua_sqlite.h"
#include "fy_quarantine.h"
#include "fy_report.h"
#include "fy_run.h"
#include "fy_sandbox.h"
#include "fy_schema.h"
#include "fy_store.h"
#include "fy_time.h"
#include "fy_utf8.h"
#include "fy_verdict.h"
#include "fy_vm.h"

#include <errno.h>
#include <lauxlib.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fy_integration_hash(const char *path, char out[17]) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return FY_ERR;
    uint64_t h = FY_FNV1A_INIT;
    unsigned char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) h = fy_fnv1a(h, buf, n);
    fclose(fp);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return FY_OK;
}

/* Call require("ferry.contract").check(value, path) with the script's
 * return value on top; prints problems. Returns FY_OK when valid. */
static int check_contract(lua_State *L, const char *path, FILE *out, char **summary) {
    int value = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.contract");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(out, "%s: %s\n", path, lua_tostring(L, -1));
        return FY_ERR;
    }
    lua_getfield(L, -1, "check");
    lua_pushvalue(L, value);
    lua_pushstring(L, path);
    if (lua_pcall(L, 2, 3, 0) != LUA_OK) {
        fprintf(out, "%s: checking the contract failed: %s\n", path, lua_tostring(L, -1));
        return FY_ERR;
    }
    int ok = lua_toboolean(L, -3);
    lua_Integer n = luaL_len(L, -2);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        fprintf(out, "%s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    if (ok && summary) *summary = strdup(lua_tostring(L, -1));
    lua_settop(L, value);
    return ok ? FY_OK : FY_ERR;
}

struct after_load {
    struct fy_integration *in;
    FILE *out;
    int summary;
    int rc;                             /* FY_OK once the integration is bound */
    char *line;                         /* the contract's summary, printed once all is checked */
};

/* Protected body of fy_integration_load, with the script's value at 1 and
 * the after_load at 2: check the contract, take the name, bind the grants,
 * keep the spec. Protected because the script may have left its state at
 * its memory limit, where any allocation raises. */
static int after_load(lua_State *L) {
    struct after_load *a = lua_touserdata(L, 2);
    struct fy_integration *in = a->in;
    char err[FY_ERRLEN];
    lua_settop(L, 1);
    if (check_contract(L, in->path, a->out, a->summary ? &a->line : NULL) != FY_OK) return 0;
    lua_getfield(L, 1, "name");
    in->name = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    if (fy_sandbox_bind(in->vm, in->name, err, sizeof err) != FY_OK) {
        fprintf(a->out, "%s: %s\n", in->path, err);
        return 0;
    }
    lua_getfield(L, 1, "owner");
    in->owner = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    if (fy_alert_policy_read(L, 1, in->engine, in->engine->cfg.alerts.repeat, &in->alerts, err, sizeof err) != FY_OK) {
        fprintf(a->out, "%s: %s\n", in->path, err);
        return 0;
    }
    in->spec_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (a->line) fprintf(a->out, "%s\n", a->line);   /* `ferry check`'s one line, once all is well */
    a->rc = FY_OK;
    return 0;
}

struct fy_integration *fy_integration_load(struct fy_engine *e, const char *path, FILE *out, int summary) {
    char err[FY_ERRLEN];
    struct fy_integration *in = calloc(1, sizeof *in);
    in->engine = e;
    in->path = strdup(path);
    in->spec_ref = LUA_NOREF;
    if (fy_integration_hash(path, in->version) != FY_OK) {
        fprintf(out, "%s: cannot read: %s\n", path, strerror(errno));
        goto fail;
    }
    in->vm = fy_vm_create(e, &e->cfg, e->lualib, path, err, sizeof err);
    if (!in->vm) {
        fprintf(out, "%s: %s\n", path, err);
        goto fail;
    }
    lua_State *L = in->vm->L;
    fy_sandbox_prebind(in->vm);
    int rc = fy_vm_loadfile(in->vm, path);
    if (rc != LUA_OK) {
        if (rc == LUA_ERRMEM) fprintf(out, "%s: not enough memory to load the script\n", path);
        else fprintf(out, "%s\n", lua_tostring(L, -1));
        goto fail;
    }
    fy_vm_guard_reset(in->vm);
    rc = lua_pcall(L, 0, 1, 0);
    fy_vm_trip_clear(in->vm, 1);
    if (rc == LUA_ERRMEM) {
        fprintf(out, "%s: memory limit exceeded while the script loaded (%zu MB; limits.memory in the config)\n",
                path, in->vm->mem_limit >> 20);
        goto fail;
    }
    if (rc != LUA_OK) {
        fprintf(out, "%s\n", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "the script raised a non-string error");
        goto fail;
    }
    struct after_load a = {in, out, summary, FY_ERR, NULL};
    lua_pushcfunction(L, after_load);
    lua_insert(L, -2);
    lua_pushlightuserdata(L, &a);
    rc = lua_pcall(L, 2, 0, 0);
    if (rc != LUA_OK) {
        if (rc == LUA_ERRMEM) fprintf(out, "%s: memory limit exceeded after the script loaded (%zu MB; limits.memory "
                                      "in the config)\n", path, in->vm->mem_limit >> 20);
        else fprintf(out, "%s: %s\n", path, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    free(a.line);
    if (a.rc != FY_OK) goto fail;
    return in;
fail:
    fy_integration_destroy(in);
    return NULL;
}

void fy_integration_destroy(struct fy_integration *in) {
    if (!in) return;
    fy_vm_destroy(in->vm);
    fy_alert_policy_free(&in->alerts);
    free(in->owner);
    free(in->name);
    free(in->path);
    free(in);
}

/* ---- the store: quarantine rows, checkpoints, state --------------------- */

/* t[i] as a string, redacted into b; NULL when absent. */
static const char *redacted_field(lua_State *L, int t, int i, struct fy_buf *b) {
    fy_buf_reset(b);
    lua_rawgeti(L, t, i);
    size_t len;
    const char *v = lua_tolstring(L, -1, &len);
    if (v) {
        fy_buf_append(b, v, len);
        fy_redact(b);
    }
    lua_pop(L, 1);
    return v ? b->data : NULL;
}

/* Store quarantine rows (rows[1..n] = { stage, class, reason, record_json,
 * output_json, quarantine_id }), the replayed rows that got through
 * (resolved[1..nresolved]), the inbox events handled (events[1..nevents]:
 * id done, -id failed) and the checkpoint (JSON or nil) in one transaction:
 * a checkpoint is never durable without the failures before it, and an
 * event is never done without what its run loaded or quarantined. */
static int store_commit(lua_State *L, struct fy_integration *in, struct fy_run *run, struct fy_store *st) {
    lua_Integer n = luaL_checkinteger(L, 2), nres = luaL_checkinteger(L, 5);
    const char *checkpoint = luaL_optstring(L, 3, NULL);
    struct fy_buf f[4] = {{0}};
    int rc = FY_OK;
    for (lua_Integer i = 1; i <= n && rc == FY_OK; i++) {
        lua_rawgeti(L, 1, i);
        int row = lua_gettop(L);
        lua_rawgeti(L, row, 6);
        struct fy_quarantined q = {.id = lua_tointeger(L, -1), .integration = in->name, .run_id = run->id,
                                   .script_version = in->version};
        lua_rawgeti(L, row, 2);
        q.class_ = lua_tostring(L, -1);                 /* alive in the row table */
        lua_pop(L, 2);
        q.stage = redacted_field(L, row, 1, &f[0]);
        q.reason = redacted_field(L, row, 3, &f[1]);
        q.record = redacted_field(L, row, 4, &f[2]);
        q.output = redacted_field(L, row, 5, &f[3]);
        if (!q.stage || !q.class_ || !q.reason) luaL_error(L, "internal.commit: malformed quarantine row %d", (int)i);
        if (!q.record) q.record = "null";
        rc = fy_quarantine_put(st, &q);
        lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= nres && rc == FY_OK; i++) {
        lua_rawgeti(L, 4, i);
        rc = fy_quarantine_resolve(st, lua_tointeger(L, -1), run->id);
        lua_pop(L, 1);
    }
    lua_Integer nev = luaL_optinteger(L, 7, 0);
    for (lua_Integer i = 1; i <= nev && rc == FY_OK; i++) {
        lua_rawgeti(L, 6, i);
        lua_Integer id = lua_tointeger(L, -1);
        rc = fy_inbox_mark(st, id < 0 ? -id : id, id > 0, run->id);
        lua_pop(L, 1);
    }
    lua_Integer nw = luaL_optinteger(L, 9, 0);         /* { key, fields JSON }: what ferry wrote (ferry.fields) */
    for (lua_Integer i = 1; i <= nw && rc == FY_OK; i++) {
        lua_rawgeti(L, 8, i);
        int row = lua_gettop(L);
        lua_rawgeti(L, row, 1);
        const char *key = lua_tostring(L, -1);
        const char *json = redacted_field(L, row, 2, &f[0]);
        if (!key || !json) luaL_error(L, "internal.commit: malformed written row %d", (int)i);
        rc = fy_store_written_put(st, in->name, key, json, run->id);
        lua_settop(L, row - 1);
    }
    if (rc == FY_OK && checkpoint) rc = fy_store_checkpoint_set(st, in->name, run->id, checkpoint);
    for (int i = 0; i < 4; i++) fy_buf_free(&f[i]);
    if (rc == FY_OK) in->quarantined_now += (long)n;
    return rc;
}

/* internal.commit(rows, n, checkpoint_json, resolved, nresolved[, events, nevents[, written, nwritten]]) */
static int l_commit(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    struct fy_run *run = lua_touserdata(L, lua_upvalueindex(2));
    struct fy_store *st = in->engine->store;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    if (!st) return luaL_error(L, "no store to write the quarantine and checkpoint to");
    size_t cplen;
    const char *cp = lua_tolstring(L, 3, &cplen);
    if (cp && fy_secret_found(cp, cplen))           /* the runner checks first; this is the last line */
        return luaL_error(L, "the checkpoint of %s holds a credential; a checkpoint must not hold a credential",
                          in->name);
    if (fy_store_begin(st) != FY_OK) return luaL_error(L, "store: %s", fy_store_error(st));
    if (store_commit(L, in, run, st) != FY_OK || fy_store_commit(st) != FY_OK) {
        char err[512];
        snprintf(err, sizeof err, "%s", fy_store_error(st));
        fy_store_rollback(st);
        return luaL_error(L, "cannot write the quarantine and checkpoint to the store: %s", err);
    }
    return 0;
}

static int page_row(void *arg, long long id, const char *stage, const char *record) {
    lua_State *L = arg;
    FY_UNUSED(stage);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, record);
    lua_setfield(L, -2, "record");
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return FY_OK;
}

/* internal.quarantine_page(after, limit, class, max_attempts, id) -> { {id=, record=}... } */
static int l_quarantine_page(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    struct fy_store *st = in->engine->store;
    struct fy_quarantine_filter f = {
        .integration = in->name, .class_ = luaL_optstring(L, 3, NULL),
        .max_attempts = (int)luaL_optinteger(L, 4, 0), .id = luaL_optinteger(L, 5, 0),
    };
    lua_Integer after = luaL_checkinteger(L, 1), limit = luaL_checkinteger(L, 2);
    lua_newtable(L);
    if (!st) return 1;
    if (fy_quarantine_page(st, &f, after, (int)limit, page_row, L) < 0)
        return luaL_error(L, "cannot read the quarantine: %s", fy_store_error(st));
    return 1;
}

static struct fy_store *state_store(lua_State *L, struct fy_integration *in) {
    if (!in->engine->store) luaL_error(L, "ctx.state: no store (only in 'ferry run')");
    return in->engine->store;
}

/* internal.written_get(keys) -> { [key text] = fields JSON }: what ferry
 * last wrote of the fields it owns in these destination records. */
static int l_written_get(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    struct fy_store *st = in->engine->store;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    lua_createtable(L, 0, (int)(n < 1024 ? n : 1024));
    if (!st) return 1;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        const char *key = luaL_tolstring(L, -1, NULL);   /* as fields.lua's key_text writes it */
        char *v = fy_store_written_get(st, in->name, key);
        if (v) {
            lua_pushstring(L, v);
            free(v);
            lua_setfield(L, -4, key);
        }
        lua_pop(L, 2);
    }
    return 1;
}

static int event_row(void *arg, const struct fy_event *ev) {
    lua_State *L = arg;
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, ev->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, ev->hook);
    lua_setfield(L, -2, "hook");
    lua_pushstring(L, ev->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, ev->headers_json);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, ev->body, ev->body_len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, ev->received_at);
    lua_setfield(L, -2, "received_at");
    if (ev->delivery_id) {
        lua_pushstring(L, ev->delivery_id);
        lua_setfield(L, -2, "delivery_id");
    }
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return FY_OK;
}

/* internal.event_page(after, limit) -> { {id=, hook=, method=, headers=, body=, received_at=, delivery_id=}... } */
static int l_event_page(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    struct fy_store *st = in->engine->store;
    lua_Integer after = luaL_checkinteger(L, 1), limit = luaL_checkinteger(L, 2);
    lua_newtable(L);
    if (st && fy_inbox_page(st, in->name, after, (int)limit, event_row, L) < 0)
        return luaL_error(L, "cannot read the inbox: %s", fy_store_error(st));
    return 1;
}

/* internal.state_get(key) -> json text | nil */
static int l_state_get(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    char *v = fy_store_state_get(state_store(L, in), in->name, luaL_checkstring(L, 1));
    if (!v) return 0;
    lua_pushstring(L, v);
    free(v);
    return 1;
}

/* internal.state_set(key, json, ttl_seconds) */
static int l_state_set(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    struct fy_store *st = state_store(L, in);
    size_t klen, vlen;
    const char *k = luaL_checklstring(L, 1, &klen), *v = luaL_checklstring(L, 2, &vlen);
    if (fy_secret_found(k, klen) || fy_secret_found(v, vlen))
        return luaL_error(L, "ctx.state: a state value of %s holds a credential; state must not hold a credential",
                          in->name);
    if (fy_store_state_set(st, in->name, k, v,
                           luaL_optnumber(L, 3, 0)) != FY_OK)
        return luaL_error(L, "ctx.state: %s", fy_store_error(st));
    return 0;
}

static int l_state_delete(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    struct fy_store *st = state_store(L, in);
    if (fy_store_state_delete(st, in->name, luaL_checkstring(L, 1)) != FY_OK)
        return luaL_error(L, "ctx.state: %s", fy_store_error(st));
    return 0;
}

/* internal.schema_get(stream) -> the stored schema fingerprint (JSON) | nil.
 * Without a store (ferry test) there is none. */
static int l_schema_get(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    const char *stream = luaL_checkstring(L, 1);
    if (!in->engine->store) return 0;
    char *v = fy_store_schema_get(in->engine->store, in->name, stream);
    if (!v) return 0;
    lua_pushstring(L, v);
    free(v);
    return 1;
}

/* internal.schema_set(stream, fields_json, run_id): store the fingerprint,
 * redacted (field names are the source's, and nothing secret reaches the
 * store). Without a store, nothing. */
static int l_schema_set(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    struct fy_store *st = in->engine->store;
    const char *stream = luaL_checkstring(L, 1), *run_id = luaL_checkstring(L, 3);
    size_t len;
    const char *fields = luaL_checklstring(L, 2, &len);
    if (!st) return 0;
    struct fy_buf b = {0};
    fy_buf_append(&b, fields, len);
    fy_redact(&b);
    int rc = fy_store_schema_set(st, in->name, stream, b.data, run_id);
    fy_buf_free(&b);
    if (rc != FY_OK) return luaL_error(L, "cannot store the schema fingerprint: %s", fy_store_error(st));
    return 0;
}

/* internal.holds_secret(text) -> does text hold a registered secret in any form? */
static int l_holds_secret(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, fy_secret_found(s, len));
    return 1;
}

/* internal.guard_reset([clear]) -> [message]: a fresh budget; with
 * `clear`, also end a tripped call limit (the runner calls it so once a
 * hook call unwound) and return its message: the reason the call failed,
 * whatever the script's own error handling made of it. */
static int l_guard_reset(lua_State *L) {
    struct fy_vm *vm = fy_vm_of(L);
    fy_vm_guard_reset(vm);
    if (!lua_toboolean(L, 1) || vm->trip != FY_TRIP_CALL) return 0;
    lua_pushstring(L, vm->trip_msg);
    fy_vm_trip_clear(vm, 0);
    return 1;
}

/* internal.block_http(reason, class): a pause action stopped the run; every
 * further HTTP request of the run fails at once (fy_lua_http.c), so no
 * retry storm reaches a source whose key is dead. */
static int l_block_http(lua_State *L) {
    struct fy_run *run = lua_touserdata(L, lua_upvalueindex(2));
    const char *reason = luaL_checkstring(L, 1), *klass = luaL_checkstring(L, 2);
    if (!run->blocked) {
        run->blocked = strdup(reason);
        snprintf(run->blocked_class, sizeof run->blocked_class, "%s", klass);
    }
    return 0;
}

/* internal.stopping() -> is ferry serve shutting down? The runner then ends
 * the run at the checkpoint it has just committed. */
static int l_stopping(lua_State *L) {
    struct fy_integration *in = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushboolean(L, in->engine->stopping);
    return 1;
}

/* ---- the summary -------------------------------------------------------- */

static lua_Integer get_int(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    lua_Integer v = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return v;
}

struct count { const char *name; lua_Integer n; };

static int count_cmp(const void *a, const void *b) {
    const struct count *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* "validation 3, script 1" from the { class = count } table t[k], largest first. */
static void counts_line(lua_State *L, int t, const char *k, struct fy_buf *b) {
    struct count c[32];
    size_t n = 0;
    lua_getfield(L, t, k);
    lua_pushnil(L);
    while (n < 32 && lua_next(L, -2)) {
        c[n].name = lua_tostring(L, -2);    /* keys stay alive in the table */
        c[n++].n = lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    qsort(c, n, sizeof c[0], count_cmp);
    for (size_t i = 0; i < n; i++)
        fy_buf_printf(b, "%s%s %lld", i ? ", " : "", c[i].name, (long long)c[i].n);
    lua_pop(L, 1);
}

/* What a run's result table says, copied out of Lua (see read_result). */
struct run_result {
    char *error;                        /* the result's error, NULL when none */
    int shutdown;                       /* error_class "shutdown": cut short by a stop */
    lua_Integer extracted, transformed, skipped, loaded, quarantined, batches, not_loaded, resolved;
    int retried;                        /* records retried from the quarantine: */
    lua_Integer retried_records, retried_resolved, retried_failing;
    struct fy_buf by_class, by_stage;   /* "validation 3, script 1" */
    struct fy_buf by_class_json, by_stage_json, checkpoint_json;
    struct fy_buf checkpoint_shown;     /* the checkpoint as the summary shows it */
    const char *verdict;                /* suspect, incomplete or NULL (judge_run; static) */
    char verdict_reason[sizeof ((struct fy_verdict *)0)->reason];
    struct fy_buf schema_drift;         /* stats.schema_drift.text: the source's fields that changed */
    char *pause_class, *pause_reason;   /* a pause action stopped the run */
    lua_Integer dropped;                /* records a `continue` policy dropped */
    struct fy_buf dropped_by_class;     /* "validation 3" */
    struct class_alert { char *klass, *reason, *stage; lua_Integer count; } *alerts;   /* `alert` actions */
    int nalerts;
    struct fy_buf findings_json;        /* stats.findings: what the definitions found (ctx:report) */
    struct fy_buf findings_lines;       /* stats.findings_lines, one per line, for the summary */
    struct fy_buf dry_text;             /* stats.dry_run.text: a dry run's report */
};

static void run_result_free(struct run_result *r) {
    free(r->error);
    free(r->pause_class);
    free(r->pause_reason);
    fy_buf_free(&r->dropped_by_class);
    for (int i = 0; i < r->nalerts; i++) {
        free(r->alerts[i].klass);
        free(r->alerts[i].reason);
        free(r->alerts[i].stage);
    }
    free(r->alerts);
    fy_buf_free(&r->by_class);
    fy_buf_free(&r->by_stage);
    fy_buf_free(&r->by_class_json);
    fy_buf_free(&r->by_stage_json);
    fy_buf_free(&r->checkpoint_json);
    fy_buf_free(&r->checkpoint_shown);
    fy_buf_free(&r->schema_drift);
    fy_buf_free(&r->findings_json);
    fy_buf_free(&r->findings_lines);
    fy_buf_free(&r->dry_text);
}

/* t[k] as JSON into b, or leave b empty. */
static void field_json(lua_State *L, int t, const char *k, struct fy_buf *b) {
    char err[128];
    fy_buf_reset(b);
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1) && fy_json_encode(L, -1, b, err, sizeof err) != FY_OK) fy_buf_reset(b);
    lua_pop(L, 1);
}

struct read_result { lua_State *co; int nres; struct run_result *r; };

/* fy_vm_protect body: copy the runner's result table (the nres values on
 * top of the finished coroutine) into a run_result. Protected, with the
 * memory reserve open: a script that ends at its memory limit still gets
 * its run reported, and a memory error here fails the report, not ferry. */
static int read_result(lua_State *L) {
    struct read_result *rr = lua_touserdata(L, 1);
    lua_State *co = rr->co;
    struct run_result *r = rr->r;
    luaL_checkstack(co, 8, "the run's result");
    int t = lua_absindex(co, -rr->nres);
    lua_getfield(co, t, "error");
    if (lua_isstring(co, -1)) r->error = strdup(lua_tostring(co, -1));
    lua_getfield(co, t, "error_class");
    r->shutdown = r->error && lua_isstring(co, -1) && strcmp(lua_tostring(co, -1), "shutdown") == 0;
    lua_pop(co, 2);
    r->extracted = get_int(co, t, "extracted");
    r->transformed = get_int(co, t, "transformed");
    r->skipped = get_int(co, t, "skipped");
    r->loaded = get_int(co, t, "loaded");
    r->quarantined = get_int(co, t, "quarantined");
    r->batches = get_int(co, t, "batches");
    r->not_loaded = get_int(co, t, "not_loaded");
    r->resolved = get_int(co, t, "resolved");
    lua_getfield(co, t, "retried");
    if ((r->retried = lua_istable(co, -1))) {
        r->retried_records = get_int(co, -1, "records");
        r->retried_resolved = get_int(co, -1, "resolved");
        r->retried_failing = get_int(co, -1, "failing");
    }
    lua_pop(co, 1);
    if (r->quarantined) {
        counts_line(co, t, "by_class", &r->by_class);
        counts_line(co, t, "by_stage", &r->by_stage);
    }
    r->dropped = get_int(co, t, "dropped");
    if (r->dropped) counts_line(co, t, "dropped_by_class", &r->dropped_by_class);
    if (lua_getfield(co, t, "pause") == LUA_TTABLE) {
        lua_getfield(co, -1, "class");
        lua_getfield(co, -2, "reason");
        if (lua_isstring(co, -2) && lua_isstring(co, -1)) {
            r->pause_class = strdup(lua_tostring(co, -2));
            r->pause_reason = strdup(lua_tostring(co, -1));
        }
        lua_pop(co, 2);
    }
    lua_pop(co, 1);
    if (lua_getfield(co, t, "alerts") == LUA_TTABLE) {
        int at = lua_gettop(co);
        lua_pushnil(co);
        while (lua_next(co, at)) {
            if (lua_type(co, -2) == LUA_TSTRING && lua_istable(co, -1) && r->nalerts < 16) {
                struct class_alert *g = realloc(r->alerts, (size_t)(r->nalerts + 1) * sizeof *g);
                if (g) {
                    r->alerts = g;
                    struct class_alert *x = &r->alerts[r->nalerts++];
                    x->klass = strdup(lua_tostring(co, -2));
                    x->count = get_int(co, lua_gettop(co), "count");
                    lua_getfield(co, -1, "reason");
                    x->reason = strdup(lua_isstring(co, -1) ? lua_tostring(co, -1) : "");
                    lua_getfield(co, -2, "stage");
                    x->stage = strdup(lua_isstring(co, -1) ? lua_tostring(co, -1) : "");
                    lua_pop(co, 2);
                }
            }
            lua_pop(co, 1);
        }
    }
    lua_pop(co, 1);
    field_json(co, t, "by_class", &r->by_class_json);
    field_json(co, t, "by_stage", &r->by_stage_json);
    field_json(co, t, "checkpoint", &r->checkpoint_json);
    lua_getfield(co, t, "schema_drift");
    if (lua_istable(co, -1)) {
        lua_getfield(co, -1, "text");
        if (lua_isstring(co, -1)) fy_buf_puts(&r->schema_drift, lua_tostring(co, -1));
        lua_pop(co, 1);
    }
    lua_pop(co, 1);
    if (lua_getfield(co, t, "findings") == LUA_TTABLE && lua_rawlen(co, -1) > 0) field_json(co, t, "findings", &r->findings_json);
    lua_pop(co, 1);
    if (lua_getfield(co, t, "findings_lines") == LUA_TTABLE) {
        for (lua_Integer i = 1; lua_rawgeti(co, -1, i) == LUA_TSTRING; i++) {
            fy_buf_printf(&r->findings_lines, "   %s\n", lua_tostring(co, -1));
            lua_pop(co, 1);
        }
        lua_pop(co, 1);
    }
    lua_pop(co, 1);
    if (lua_getfield(co, t, "dry_run") == LUA_TTABLE) {
        lua_getfield(co, -1, "text");
        if (lua_isstring(co, -1)) fy_buf_puts(&r->dry_text, lua_tostring(co, -1));
        lua_pop(co, 1);
    }
    lua_pop(co, 1);
    lua_getfield(co, t, "checkpoint");
    if (lua_istable(co, -1)) {
        char err[128];
        if (fy_json_encode(co, -1, &r->checkpoint_shown, err, sizeof err) != FY_OK) {
            fy_buf_reset(&r->checkpoint_shown);
            fy_buf_puts(&r->checkpoint_shown, err);
        }
    } else if (!lua_isnil(co, -1)) {
        fy_buf_puts(&r->checkpoint_shown, luaL_tolstring(co, -1, NULL));
        lua_pop(co, 1);
    }
    lua_pop(co, 1);
    return 0;
}

/* Store the finished run: status, verdict, counts, classes, first error,
 * checkpoint. */
static void record_run(struct fy_integration *in, struct fy_run *run, const struct run_result *r,
                       const char *status, const char *error) {
    struct fy_run_summary m = {0};
    struct fy_buf cp = {0}, redacted = {0};
    m.status = status;
    m.verdict = r->verdict;
    m.verdict_reason = r->verdict ? r->verdict_reason : NULL;
    m.extracted = r->extracted;
    m.transformed = r->transformed;
    m.skipped = r->skipped;
    m.loaded = r->loaded;
    m.quarantined = r->quarantined;
    m.batches = r->batches;
    m.dropped = r->dropped;
    m.by_class_json = r->by_class_json.len ? r->by_class_json.data : NULL;
    m.by_stage_json = r->by_stage_json.len ? r->by_stage_json.data : NULL;
    if (r->checkpoint_json.len) {
        fy_buf_append(&cp, r->checkpoint_json.data, r->checkpoint_json.len);
        fy_redact(&cp);                         /* refused at ctx:checkpoint; never shown in any case */
        m.checkpoint_json = cp.data;
    }
    if (error) {
        fy_buf_puts(&redacted, error);
        fy_redact(&redacted);
        m.error = redacted.data;
    }
    struct fy_buf found = {0};
    if (r->findings_json.len) {                 /* values from records: redacted like the quarantine's */
        fy_buf_append(&found, r->findings_json.data, r->findings_json.len);
        fy_redact(&found);
        m.findings_json = found.data;
    }
    if (fy_store_run_end(in->engine->store, run->id, &m) != FY_OK)
        fy_log(FY_LOG_ERROR, in->name, "cannot record run %s: %s", run->id, fy_store_error(in->engine->store));
    fy_buf_free(&cp);
    fy_buf_free(&redacted);
    fy_buf_free(&found);
}

/* ---- the verdict and the freshness rows --------------------------------- */

struct read_expect { struct fy_integration *in; struct fy_expect *e; int reads_source; };

/* fy_vm_protect body: what the script expects of its runs, as
 * ferry.contract.expectations(spec) normalises it. */
static int read_expect(lua_State *L) {
    struct read_expect *re = lua_touserdata(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.contract");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "expectations");
    lua_rawgeti(L, LUA_REGISTRYINDEX, re->in->spec_ref);
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "min_records");
    re->e->min_records = (long long)lua_tointeger(L, -1);
    lua_getfield(L, -2, "history");
    re->e->history = (int)lua_tointeger(L, -1);
    lua_getfield(L, -3, "deviation");
    re->e->deviation = lua_tonumber(L, -1);
    lua_getfield(L, -4, "max_quarantined");
    re->e->max_quarantined = lua_tonumber(L, -1);
    lua_getfield(L, -5, "reads_source");
    re->reads_source = lua_toboolean(L, -1);
    lua_settop(L, 0);
    return 0;
}

/* Judge a run that read the source and ended ok or partial (fy_verdict.h)
 * against what its script expects and its good runs before it; the
 * verdict goes to r. Without a store there is no history: only
 * min_records and max_quarantined are judged. */
static void judge_run(struct fy_integration *in, struct fy_run *run, struct run_result *r) {
    struct fy_expect e = FY_EXPECT_DEFAULTS;
    struct read_expect re = {in, &e, 1};
    long long history[FY_VERDICT_HISTORY_MAX];
    int n = 0;
    char err[FY_ERRLEN];
    if (fy_vm_protect(in->vm, read_expect, &re, 1, err, sizeof err) != FY_OK) {
        fy_log(FY_LOG_WARN, in->name, "cannot read the script's expect (judged by the defaults): %s", err);
        e = FY_EXPECT_DEFAULTS;
        re.reads_source = 1;
    }
    if (!re.reads_source) return;               /* a webhook script without extract: its runs handle events */
    if (e.history < 1 || e.history > FY_VERDICT_HISTORY_MAX) e.history = 5;
    struct fy_store *st = in->engine->store;
    if (st && (n = fy_verdict_history(st, in->name, run->id, history, e.history)) < 0) {
        fy_log(FY_LOG_WARN, in->name, "cannot read the run history for the verdict: %s", sqlite3_errmsg(fy_store_db(st)));
        n = 0;
    }
    struct fy_verdict v;
    fy_verdict_judge(&e, (long long)r->extracted, (long long)r->quarantined, history, n, &v);
    r->verdict = v.verdict;
    snprintf(r->verdict_reason, sizeof r->verdict_reason, "%s", v.reason);
}

struct freshness_write { struct fy_integration *in; const struct fy_freshness *f; };

/* Write the run's ferry_freshness row into the database at path, through
 * a connection of its own (the script's has its sandbox's time limits).
 * A database that cannot be written gets a warning: the run's outcome
 * stands. */
static void write_freshness(const char *path, void *arg) {
    struct freshness_write *w = arg;
    char err[FY_ERRLEN] = "";
    sqlite3 *db = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT) return;  /* declared, never loaded into yet */
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        rc = fy_freshness_write_sqlite(db, w->f, err, sizeof err) == FY_OK ? SQLITE_OK : SQLITE_ERROR;
    } else {
        snprintf(err, sizeof err, "%s", db ? sqlite3_errmsg(db) : "out of memory");
    }
    sqlite3_close(db);
    if (rc != SQLITE_OK)
        fy_log(FY_LOG_WARN, w->in->name, "cannot write ferry_freshness into %s (the run's outcome stands): %s",
               path, err);
}

struct take_loaded { struct fy_integration *in; const struct fy_freshness *f; };

/* fy_vm_protect body: the databases of the run, with the one its
 * ferry.sink.sqlite or ferry.sink.postgres declares (database(spec.load),
 * pg_database(spec.load)), so a run that loaded nothing still tells. */
static int take_loaded(lua_State *L) {
    struct take_loaded *t = lua_touserdata(L, 1);
    struct freshness_write w = {t->in, t->f};
    lua_settop(L, 0);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.sink");
    lua_call(L, 1, 1);
    lua_getfield(L, 1, "database");
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->in->spec_ref);
    lua_getfield(L, -1, "load");
    lua_remove(L, -2);
    lua_call(L, 1, 1);
    fy_lua_sqlite_take_loaded(L, lua_tostring(L, -1), t->f ? write_freshness : NULL, &w);
    lua_getfield(L, 1, "pg_database");
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->in->spec_ref);
    lua_getfield(L, -1, "load");
    lua_remove(L, -2);
    lua_call(L, 1, 1);
    fy_lua_pg_take_loaded(L, lua_tostring(L, -1), t->f);
    lua_settop(L, 0);
    return 0;
}

/* The run has been recorded: give each reporting database it loaded into
 * its ferry_freshness row (status: its verdict, or its status). A replay
 * reads no source, so it leaves the rows as they are. */
static void freshness_rows(struct fy_integration *in, struct fy_run *run, const char *status) {
    struct fy_freshness f;
    struct fy_store *st = in->engine->store;
    int write = !in->replaying && st;
    if (write && fy_freshness_read(st, in->name, run->id, status, &f) != FY_OK) {
        fy_log(FY_LOG_WARN, in->name, "cannot read the last good run for ferry_freshness: %s",
               sqlite3_errmsg(fy_store_db(st)));
        write = 0;
    }
    struct take_loaded t = {in, write ? &f : NULL};
    char err[FY_ERRLEN];
    if (fy_vm_protect(in->vm, take_loaded, &t, 1, err, sizeof err) != FY_OK)
        fy_log(FY_LOG_WARN, in->name, "cannot write ferry_freshness: %s", err);
}

/* What is open in the quarantine after a run, so a clean run with older
 * failures still waiting says so. */
static void quarantine_line(struct fy_integration *in, lua_Integer quarantined) {
    struct fy_store *st = in->engine->store;
    long long open;
    char oldest[48], ago[64];
    if (!st || fy_quarantine_open_count(st, in->name, &open, oldest, sizeof oldest) != FY_OK || open == 0) return;
    fy_report_age(oldest, ago, sizeof ago);
    printf("   quarantine: %lld %s (oldest %s) · ferry quarantine list %s\n", open,
           quarantined ? "open" : "still open from earlier runs", ago, in->name);
}

/* The run's error as the summary, the store (runs.error, so `ferry runs` and
 * `ferry status`) and the log show it: one line of at most ERROR_LINE bytes
 * (an HTTP error page or a traceback is many), redacted before it is cut so
 * a cut never leaves part of a secret. When that changed more than the
 * redaction, the whole text goes to the debug log. Appends to line. */
#define ERROR_LINE 500
static void error_line(struct fy_integration *in, struct fy_run *run, const char *error, struct fy_buf *line) {
    struct fy_buf whole = {0}, fields = {0};
    fy_buf_puts(&whole, error);
    fy_redact(&whole);
    size_t start = line->len;
    fy_utf8_excerpt(line, whole.data ? whole.data : "", whole.len, ERROR_LINE);
    int changed = line->len - start != whole.len || (whole.len && memcmp(line->data + start, whole.data, whole.len));
    if (changed && fy_log_enabled(FY_LOG_DEBUG)) {
        fy_buf_puts(&fields, "\"error\":");
        fy_buf_json_string(&fields, whole.data, whole.len);
        fy_log_write(FY_LOG_DEBUG, in->name, run->id, "run error in full", fields.data);
    }
    fy_buf_free(&whole);
    fy_buf_free(&fields);
}

/* The body of an alert: what failed, since when, the first error, and the
 * exact commands to look and to act. */
static void alert_detail(struct fy_integration *in, const char *run_id, const char *what, const char *error,
                         const char *act, struct fy_buf *b) {
    fy_buf_printf(b, "What happened: %s\n", what);
    if (error) fy_buf_printf(b, "First error: %s\n", error);
    if (run_id) fy_buf_printf(b, "Run: %s\n", run_id);
    fy_buf_printf(b, "\nInspect: ferry status %s ; ferry runs %s ; ferry quarantine list %s\n", in->name, in->name,
                  in->name);
    if (act) fy_buf_printf(b, "Then: %s\n", act);
    fy_redact(b);
}

static void raise_alert(struct fy_integration *in, const char *run_id, const char *kind, const char *summary,
                        const char *what, const char *error, const char *act, double now) {
    struct fy_buf d = {0}, sum = {0};
    alert_detail(in, run_id, what, error, act, &d);
    fy_utf8_excerpt(&sum, summary, strlen(summary), 200);
    fy_redact(&sum);
    fy_alert_raise(in->engine, in->name, in->owner, &in->alerts, kind, sum.data, d.data, now);
    fy_buf_free(&d);
    fy_buf_free(&sum);
}

void fy_integration_check_fresh(struct fy_integration *in, double now, double since) {
    struct fy_store *st = in->engine->store;
    double age, window, first;
    if (!st || fy_report_freshness(st, in->name, now, &age, &window, &first) != FY_OK || window <= 0) return;
    /* without a good run yet, the window counts from its first run (or from
     * when ferry began to watch it): a new integration is not stale at once */
    if (!isfinite(age) && now - (isnan(first) ? since : first) <= window) return;
    if (isfinite(age) && age <= window) {
        fy_alert_resolve(in->engine, in->name, "stale", "a good run: the data is fresh again", now);
        return;
    }
    if (fy_alert_is_open(st, in->name, "stale")) return;
    char a[64], w[64], line[300], act[200];
    fy_duration_format(window, w, sizeof w);
    if (isfinite(age)) {
        fy_duration_format(floor(age), a, sizeof a);
        snprintf(line, sizeof line, "stale: the last good run ended %s ago (freshness %s)", a, w);
    } else {
        snprintf(line, sizeof line, "stale: no good run yet (freshness %s)", w);
    }
    snprintf(act, sizeof act, "fix what fails, then 'ferry trigger %s' (or 'ferry run %s')", in->name, in->name);
    raise_alert(in, NULL, "stale", line, "the data in the destination is older than its owner declared acceptable",
                NULL, act, now);
}

/* Pause the integration by its own policy (error class `klass`), with the
 * reason as status shows it: one line, never a secret. */
static int pause_by_policy(struct fy_integration *in, const char *reason, const char *klass, double probe_at) {
    struct fy_store *st = in->engine->store;
    struct fy_buf why = {0};
    fy_utf8_excerpt(&why, reason, strlen(reason), ERROR_LINE);
    fy_redact(&why);
    int rc = fy_store_pause_policy(st, in->name, why.data ? why.data : "", klass, probe_at);
    fy_buf_free(&why);
    if (rc != FY_OK) fy_log(FY_LOG_ERROR, in->name, "cannot record the pause: %s", fy_store_error(st));
    else fy_log(FY_LOG_WARN, in->name, "paused by policy: %s", klass);
    return rc;
}

/* What a pause action leaves open when it is resolved. */
static const char *const PAUSE_KINDS[] = {"auth", "permission", "not_found"};

/* The operating model at the end of a run: pause the integration when a
 * pause action stopped it; open, count or resolve its alerts. */
static void operate(struct fy_integration *in, const char *run_id, const struct run_result *r, int code,
                    const char *error) {
    struct fy_store *st = in->engine->store;
    double now = fy_time_now();
    char line[400];
    in->paused_now = 0;
    if (r->pause_class) {
        double probe_at = in->alerts.probe > 0 ? now + in->alerts.probe : NAN;
        pause_by_policy(in, r->pause_reason, r->pause_class, probe_at);
        in->paused_now = 1;
        char act[300];
        snprintf(act, sizeof act, "fix the cause (a new key, a permission, the endpoint), then 'ferry resume %s'%s",
                 in->name, in->alerts.probe > 0 ? " (or wait: a probe run tries again and resumes it when it gets "
                                                  "through)" : "");
        snprintf(line, sizeof line, "paused: %s", error ? error : r->pause_reason);
        raise_alert(in, run_id, r->pause_class, line, "the run stopped and the integration was paused; no run "
                    "starts and no request reaches the source until it is resumed", error, act, now);
    } else if (error && !in->cut_short) {
        snprintf(line, sizeof line, "run failed: %s", error);
        raise_alert(in, run_id, "failed", line, "a run failed", error, NULL, now);
    }
    for (int i = 0; i < r->nalerts; i++) {
        const struct class_alert *x = &r->alerts[i];
        snprintf(line, sizeof line, "%s: %lld record%s quarantined at %s: %s", x->klass, (long long)x->count,
                 x->count == 1 ? "" : "s", x->stage, x->reason);
        char act[200];
        snprintf(act, sizeof act, "fix the data or the mapping, then 'ferry quarantine replay %s --class %s'",
                 in->name, x->klass);
        raise_alert(in, run_id, x->klass, line, "records were quarantined with a class the policy alerts on",
                    x->reason, act, now);
    }
    if (r->schema_drift.data) {         /* the source changed shape: once per change (the fingerprint moved on) */
        snprintf(line, sizeof line, "schema drift: %s", r->schema_drift.data);
        char act[200];
        snprintf(act, sizeof act, "check the mapping against the source's new fields; 'ferry alerts ack ID' once "
                 "handled");
        if (in->alerts.drift_pauses && !r->pause_class) {
            if (pause_by_policy(in, line, "schema_drift", NAN) == FY_OK) in->paused_now = 1;
            snprintf(act, sizeof act, "check the mapping against the source's new fields, then 'ferry resume %s'",
                     in->name);
        }
        raise_alert(in, run_id, "schema_drift", line, in->paused_now
                    ? "the source's records changed shape; the policy (schema_drift = \"pause\") paused the integration"
                    : "the source's records changed shape; the run went on (the policy's default)",
                    NULL, act, now);
    }
    if (r->verdict) {                   /* ok or partial, but not to be trusted: the owner hears of it */
        snprintf(line, sizeof line, "%s: %s", r->verdict, r->verdict_reason);
        raise_alert(in, run_id, r->verdict, line, !strcmp(r->verdict, "suspect")
                    ? "a run finished without error but its records do not look like this source's (expect)"
                    : "a run quarantined more of its records than policy.max_quarantined allows",
                    NULL, "look at the source and at the run; 'ferry runs' shows the history", now);
    }
    int good = !error && !r->verdict && (code == FY_EXIT_OK || code == FY_EXIT_PARTIAL) && !in->replaying;
    if (good) {
        fy_alert_resolve(in->engine, in->name, "suspect", "a later run looked as expected", now);
        fy_alert_resolve(in->engine, in->name, "incomplete", "a later run quarantined less", now);
        if (!r->schema_drift.data)
            fy_alert_resolve(in->engine, in->name, "schema_drift", "a later run saw the source's fields unchanged", now);
        double probe_at;
        char *klass = in->paused_now ? NULL : fy_store_paused_class(st, in->name, &probe_at);
        if (klass) {                    /* paused by its policy, and a later run (a probe) got through */
            if (fy_store_pause_set(st, in->name, NULL) == FY_OK)
                fy_log(FY_LOG_INFO, in->name, "resumed: a run got through after the %s errors that paused it", klass);
            free(klass);
        }
        fy_alert_resolve(in->engine, in->name, "failed", "a later run succeeded", now);
        for (size_t k = 0; k < sizeof PAUSE_KINDS / sizeof PAUSE_KINDS[0]; k++)
            fy_alert_resolve(in->engine, in->name, PAUSE_KINDS[k], "a later run got through", now);
        static const char *const seen[] = {"picklist_drift", "validation", "lookup_missing", "lookup_ambiguous",
                                           "destination_edit", "script", "transient"};
        for (size_t k = 0; k < sizeof seen / sizeof seen[0]; k++) {
            int raised = 0;
            for (int i = 0; i < r->nalerts; i++) raised |= !strcmp(r->alerts[i].klass, seen[k]);
            if (!raised) fy_alert_resolve(in->engine, in->name, seen[k], "a later run quarantined none", now);
        }
    }
    if (!in->replaying) fy_integration_check_fresh(in, now, now);
    if (in->alerts.quarantine_open > 0) {
        long long open;
        char oldest[48];
        if (fy_quarantine_open_count(st, in->name, &open, oldest, sizeof oldest) == FY_OK) {
            if (open >= in->alerts.quarantine_open) {
                snprintf(line, sizeof line, "%lld records open in the quarantine (alert at %lld; oldest %s)", open,
                         in->alerts.quarantine_open, oldest);
                char act[200];
                snprintf(act, sizeof act, "'ferry quarantine list %s', fix, then 'ferry quarantine replay %s'",
                         in->name, in->name);
                raise_alert(in, run_id, "quarantine", line, "the quarantine keeps growing", NULL, act, now);
            } else {
                fy_alert_resolve(in->engine, in->name, "quarantine", "the open quarantine fell below the threshold",
                                 now);
            }
        }
    }
}

static void run_done(struct fy_run *run, int nres, void *arg) {
    struct fy_integration *in = arg;
    lua_State *co = run->co;
    double secs = run->ended - run->started;
    int code;
    const char *status;
    struct fy_buf b = {0};
    struct run_result r = {0};
    const char *error = run->error;
    char rerr[FY_ERRLEN];

    if (!error && nres >= 1 && lua_istable(co, -nres)) {
        struct read_result rr = {co, nres, &r};
        if (fy_vm_protect(in->vm, read_result, &rr, 1, rerr, sizeof rerr) != FY_OK) {
            run_result_free(&r);
            memset(&r, 0, sizeof r);
            char msg[FY_ERRLEN + 64];
            snprintf(msg, sizeof msg, "cannot read the run's result: %s", rerr);
            r.error = strdup(msg);
        }
        error = r.error;
        if (r.shutdown) in->cut_short = 1;
        char stopped[64] = "";                  /* records a run stopped by schema drift did not load */
        if (r.not_loaded) snprintf(stopped, sizeof stopped, " · not loaded %lld", (long long)r.not_loaded);
        fy_buf_printf(&b, in->replaying
                          ? "   replayed %lld · transformed %lld · skipped %lld · loaded %lld · still failing %lld"
                            "%s (%lld batch%s)\n"
                          : "   extracted %lld · transformed %lld · skipped %lld · loaded %lld · quarantined %lld"
                            "%s (%lld batch%s)\n",
                      (long long)r.extracted, (long long)r.transformed, (long long)r.skipped, (long long)r.loaded,
                      (long long)r.quarantined, stopped, (long long)r.batches, r.batches == 1 ? "" : "es");
        if (in->replaying)
            fy_buf_printf(&b, "   resolved %lld of %lld\n", (long long)r.resolved, (long long)r.extracted);
        if (r.retried)
            fy_buf_printf(&b, "   retried from the quarantine: %lld (%lld resolved, %lld still failing)\n",
                          (long long)r.retried_records, (long long)r.retried_resolved, (long long)r.retried_failing);
        if (r.quarantined)
            fy_buf_printf(&b, "   quarantined by class: %s\n   quarantined by stage: %s\n",
                          r.by_class.data ? r.by_class.data : "", r.by_stage.data ? r.by_stage.data : "");
        if (r.dropped)
            fy_buf_printf(&b, "   dropped by policy (continue): %lld (%s)\n", (long long)r.dropped,
                          r.dropped_by_class.data ? r.dropped_by_class.data : "");
        if (r.schema_drift.data) fy_buf_printf(&b, "   schema drift: %s\n", r.schema_drift.data);
        if (r.findings_lines.len) fy_buf_append(&b, r.findings_lines.data, r.findings_lines.len);
        if (r.dry_text.len) {
            fy_buf_puts(&b, "   ");
            for (const char *p = r.dry_text.data; *p; p++) {
                fy_buf_append(&b, p, 1);
                if (*p == '\n') fy_buf_puts(&b, "   ");
            }
            fy_buf_puts(&b, "\n");
        }
        if (r.checkpoint_shown.data) fy_buf_printf(&b, "   checkpoint: %s\n", r.checkpoint_shown.data);
        if (r.pause_class)
            fy_buf_printf(&b, "   paused: %s errors pause %s (policy); no run starts until 'ferry resume %s'%s\n",
                          r.pause_class, in->name, in->name, in->alerts.probe > 0 ? " or a probe run gets through" : "");
    }
    if (error) { status = in->cut_short ? "ABORTED" : "FAILED"; code = FY_EXIT_FAILED; }
    else if (r.quarantined) { status = "PARTIAL"; code = FY_EXIT_PARTIAL; }
    else { status = "OK"; code = FY_EXIT_OK; }
    const char *stored = in->cut_short ? "aborted" : error ? "failed" : r.quarantined ? "partial" : "ok";
    if (in->dry_run) {                          /* what a run would do: nothing to judge or record */
        status = error ? "FAILED (DRY RUN)" : "DRY RUN";
        code = error ? FY_EXIT_FAILED : FY_EXIT_OK;
    }
    if (!error && in->judged && !in->dry_run) judge_run(in, run, &r);
    if (r.verdict) {
        code = FY_EXIT_SUSPECT;
        fy_buf_printf(&b, "   verdict: %s — %s\n", r.verdict, r.verdict_reason);
    }

    struct fy_buf line = {0}, fields = {0};
    if (error) {
        error_line(in, run, error, &line);
        error = line.data ? line.data : "";
        fy_buf_printf(&b, "   error: %s\n", error);
        fy_buf_puts(&fields, "\"error\":");
        fy_buf_json_string(&fields, error, strlen(error));
    }
    fy_redact(&b);
    printf("== %s  run %s  %s%s\n%s", in->name, run->id, status,
           !r.verdict ? "" : !strcmp(r.verdict, "suspect") ? " (SUSPECT)" : " (INCOMPLETE)", b.data ? b.data : "");
    printf("   took %.2f s · %.0f records/s · Lua memory peak %.1f MB · process peak RSS %.1f MB\n", secs,
           secs > 0 ? (double)r.extracted / secs : 0.0, (double)in->vm->mem_peak / 1048576.0,
           (double)fy_peak_rss() / 1048576.0);
    if (!in->dry_run) quarantine_line(in, r.quarantined);
    fflush(stdout);
    if (r.verdict) {
        fy_buf_printf(&fields, "\"verdict\":\"%s\",\"verdict_reason\":", r.verdict);
        fy_buf_json_string(&fields, r.verdict_reason, strlen(r.verdict_reason));
    }
    fy_log_write(error ? FY_LOG_ERROR : r.verdict ? FY_LOG_WARN : FY_LOG_INFO, in->name, run->id,
                 error ? "run failed" : r.verdict ? "run finished with a verdict" : "run finished", fields.data);
    if (in->engine->store && !in->dry_run) {
        record_run(in, run, &r, stored, error);
        operate(in, run->id, &r, code, error);     /* a run with a verdict (code 4) is not a good run */
    }
    if (!in->dry_run) freshness_rows(in, run, r.verdict ? r.verdict : stored);
    lua_settop(co, 0);
    run_result_free(&r);
    fy_buf_free(&b);
    fy_buf_free(&line);
    fy_buf_free(&fields);
    fy_engine_note_exit(in->engine, code);
    in->run = NULL;
    char id[sizeof run->id];
    memcpy(id, run->id, sizeof id);
    fy_run_destroy(run);
    if (in->on_end) in->on_end(in, id, stored, in->on_end_arg);
}

struct run_start {
    struct fy_integration *in;
    struct fy_run *run;
    const struct fy_replay *replay;
    char *cursor;               /* the committed checkpoint (JSON), freed by the caller */
};

/* fy_vm_protect body: push runner.run, the spec, params and internal on the
 * run's coroutine. */
static int push_run_args(lua_State *L) {
    struct run_start *rs = lua_touserdata(L, 1);
    struct fy_integration *in = rs->in;
    struct fy_run *run = rs->run;
    const struct fy_replay *replay = rs->replay;
    lua_State *co = run->co;
    lua_settop(L, 0);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.runner");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "run");
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->spec_ref);
    lua_createtable(L, 0, 6);                           /* params */
    lua_pushstring(L, run->id);
    lua_setfield(L, -2, "run_id");
    lua_pushstring(L, in->name);
    lua_setfield(L, -2, "integration");
    lua_pushinteger(L, in->engine->cfg.batch_size);
    lua_setfield(L, -2, "batch_size");
    lua_createtable(L, 0, 2);
    lua_pushfstring(L, "%d MB", (int)(in->engine->cfg.limits.memory >> 20));
    lua_setfield(L, -2, "memory");
    lua_setfield(L, -2, "limits");
    if (replay) {
        lua_createtable(L, 0, 2);
        if (replay->class_) {
            lua_pushstring(L, replay->class_);
            lua_setfield(L, -2, "class");
        }
        if (replay->nids) {
            lua_createtable(L, (int)replay->nids, 0);
            for (size_t i = 0; i < replay->nids; i++) {
                lua_pushinteger(L, replay->ids[i]);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
            lua_setfield(L, -2, "ids");
        }
        lua_setfield(L, -2, "replay");
    }
    if (in->dry_run) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "dry_run");
    }
    if (in->event_run) {
        lua_createtable(L, 0, 1);
        lua_setfield(L, -2, "events");
    } else if (rs->cursor) {
        lua_pushstring(L, rs->cursor);
        lua_setfield(L, -2, "cursor_json");
    }
    lua_createtable(L, 0, 6);                           /* internal */
    lua_pushcfunction(L, l_guard_reset);
    lua_setfield(L, -2, "guard_reset");
    lua_pushcfunction(L, fy_sandbox_lua_secret);
    lua_setfield(L, -2, "secret");
    lua_pushcfunction(L, l_holds_secret);
    lua_setfield(L, -2, "holds_secret");
    lua_pushcfunction(L, fy_schema_lua_checker);
    lua_setfield(L, -2, "schema_checker");
    static const struct { const char *name; lua_CFunction fn; } bound[] = {
        {"commit", l_commit}, {"quarantine_page", l_quarantine_page}, {"state_get", l_state_get},
        {"state_set", l_state_set}, {"state_delete", l_state_delete}, {"stopping", l_stopping},
        {"event_page", l_event_page}, {"block_http", l_block_http}, {"schema_get", l_schema_get},
        {"schema_set", l_schema_set}, {"written_get", l_written_get},
    };
    for (size_t i = 0; i < sizeof bound / sizeof bound[0]; i++) {
        lua_pushlightuserdata(L, in);
        lua_pushlightuserdata(L, run);
        lua_pushcclosure(L, bound[i].fn, 2);
        lua_setfield(L, -2, bound[i].name);
    }
    if (!lua_checkstack(co, 4)) return luaL_error(L, "not enough memory");
    lua_xmove(L, co, 4);
    return 0;
}

int fy_integration_run_events(struct fy_integration *in, char run_id[40]) {
    in->event_run = 1;
    int rc = fy_integration_run(in, NULL, "webhook", run_id);
    in->event_run = 0;
    return rc;
}

int fy_integration_record(struct fy_integration *in) {
    struct fy_store *st = in->engine->store;
    lua_State *L = in->vm->L;
    if (!st) return FY_OK;
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->spec_ref);
    int spec = lua_gettop(L);
    char *abs = realpath(in->path, NULL);      /* replay finds the script from any directory */
    struct fy_integration_info info = {.name = in->name, .script_path = abs ? abs : in->path,
                                       .version = in->version};
    lua_getfield(L, spec, "owner");                 /* strings stay alive in the spec table */
    info.owner = lua_tostring(L, -1);
    lua_getfield(L, spec, "purpose");
    info.purpose = lua_tostring(L, -1);
    lua_getfield(L, spec, "pattern");
    info.pattern = lua_tostring(L, -1);
    lua_getfield(L, spec, "source_of_truth");
    info.source_of_truth = lua_tostring(L, -1);
    lua_getfield(L, spec, "freshness");
    const char *fresh = lua_tostring(L, -1);
    char derr[128];
    if (!fresh || fy_duration_parse(fresh, strlen(fresh), &info.freshness, derr, sizeof derr) != FY_OK)
        info.freshness = 0;
    int rc = fy_store_integration_seen(st, &info);
    if (rc != FY_OK) fy_log(FY_LOG_ERROR, in->name, "cannot record the integration: %s", fy_store_error(st));
    free(abs);
    lua_settop(L, spec - 1);
    return rc;
}

int fy_integration_run(struct fy_integration *in, const struct fy_replay *replay, const char *trigger,
                       char run_id[40]) {
    struct fy_run *run = fy_run_create(in->engine, in->vm, run_done, in);
    if (!run) return FY_ERR;
    in->quarantined_now = 0;
    in->replaying = replay != NULL;
    in->judged = !replay && !in->event_run;
    in->cut_short = 0;
    char err[FY_ERRLEN];
    struct fy_store *st = in->engine->store;
    struct run_start rs = {in, run, replay, st && !replay ? fy_store_checkpoint_get(st, in->name) : NULL};
    int started = fy_vm_protect(in->vm, push_run_args, &rs, 1, err, sizeof err);
    free(rs.cursor);
    if (started != FY_OK) {
        fy_log(FY_LOG_ERROR, in->name, "cannot start the run: %s", err);
        fy_run_destroy(run);
        return FY_ERR;
    }
    if (!in->dry_run) fy_integration_record(in);
    if (st && !in->dry_run && fy_store_run_begin(st, run->id, in->name, in->version, trigger) != FY_OK)
        fy_log(FY_LOG_ERROR, in->name, "cannot record the run start: %s", fy_store_error(st));
    if (run_id) memcpy(run_id, run->id, sizeof run->id);
    in->run = run;
    in->engine->active_runs++;
    fy_log_write(FY_LOG_INFO, in->name, run->id, "run started", NULL);
    fy_run_resume(run, 3);
    return FY_OK;
}
