/* ferry.csv: streamed CSV (RFC 4180) over core/fy_csv.c.
 *
 *   local r = ferry.csv.open(path [, { header = true, delimiter = ",", quote = '"',
 *                                      max_row = bytes, max_columns = 10000,
 *                                      encoding = "utf-8" | "latin1" }])
 *   for line, row, err, got in r:rows() do ... end
 *
 * With a header (the default) each row is a table keyed by column name;
 * without, an array. A bad row yields line, nil, err and what was read of
 * it, and iteration goes on:
 * - a row whose width differs from the header: "line N: expected 12 fields,
 *   got 9" and its fields (an array);
 * - text that is not UTF-8 (with encoding "utf-8", the default): "line N:
 *   column 'name' is not valid UTF-8 (byte 0xFC at byte 2; ...)" and its
 *   fields; encoding "latin1" reads every byte as Latin-1 instead;
 * - a row over max_row bytes (default 16 MiB) or max_columns fields: skipped
 *   while reading, never held whole; its first bytes (a string).
 * An unrecoverable error (a quote never closed swallows the rest of the
 * file; a read error) yields line, nil, err and nothing else, then ends.
 * A header with duplicate names or more than max_columns columns makes
 * open fail. */
#include "fy_common.h"
#include "fy_vm.h"
#include "fy_sandbox.h"

#include <limits.h>
#include "fy_csv.h"
#include "fy_utf8.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READER_MT "ferry.csv.reader"

#define DEFAULT_MAX_COLUMNS 10000

struct reader {
    fy_csv *csv;           /* NULL once closed */
    int header_ref;        /* registry ref of the header array, or LUA_NOREF */
    size_t ncols;
    int done;
    int latin1;            /* encoding = "latin1": transcode every field */
    struct fy_vm *vm;      /* whose limits.memory the reader's buffers count against */
    size_t held;           /* bytes counted there */
};

/* Count the reader's buffers against limits.memory after a read; FY_ERR
 * when they do not fit. */
static int hold_buffers(struct reader *r) {
    size_t now = r->csv ? fy_csv_row_capacity(r->csv) + FY_CSV_DEFAULT_BUFSIZE : 0;
    return r->vm ? fy_vm_hold(r->vm, &r->held, now) : FY_OK;
}

static int reader_close(lua_State *L) {
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    fy_csv_close(r->csv);
    r->csv = NULL;
    hold_buffers(r);
    if (r->header_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, r->header_ref);
    r->header_ref = LUA_NOREF;
    return 0;
}

static char opt_char(lua_State *L, int t, const char *k, char def) {
    if (!lua_istable(L, t)) return def;
    lua_getfield(L, t, k);
    char c = def;
    if (!lua_isnil(L, -1)) {
        size_t len;
        const char *s = luaL_checklstring(L, -1, &len);
        if (len != 1) luaL_error(L, "ferry.csv.open: %s must be one character", k);
        c = s[0];
    }
    lua_pop(L, 1);
    return c;
}

static size_t opt_size(lua_State *L, int t, const char *k, size_t def) {
    if (!lua_istable(L, t)) return def;
    size_t v = def;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        lua_Integer n = luaL_checkinteger(L, -1);
        if (n < 1) luaL_error(L, "ferry.csv.open: %s must be at least 1", k);
        v = (size_t)n;
    }
    lua_pop(L, 1);
    return v;
}

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* Push field f as a Lua string, every byte read as Latin-1 when r->latin1. */
static void push_field(lua_State *L, const struct reader *r, const fy_csv_field *f) {
    if (!r->latin1 || is_ascii(f->ptr, f->len)) {
        lua_pushlstring(L, f->ptr, f->len);
        return;
    }
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 2 * f->len);
    luaL_pushresultsize(&b, fy_utf8_from_latin1(out, f->ptr, f->len));
}

/* Read the header row into a registry array, checking that names are
 * unique with a table of the names seen (linear in the width; the width is
 * bounded by max_columns while reading). Returns 1 with the reader on top,
 * or fail, message. */
static int read_header(lua_State *L, struct reader *r, const char *path, const fy_csv_opts *opts) {
    fy_csv_field *f;
    size_t n;
    int rc = fy_csv_next(r->csv, &f, &n);
    if (rc == FY_CSV_SKIPPED) {
        luaL_pushfail(L);
        if (fy_csv_skip_reason(r->csv) == FY_CSV_OVER_FIELDS)
            lua_pushfstring(L, "%s: line %I: the header has more than %I columns (max_columns = %I)", path,
                            (lua_Integer)fy_csv_row_line(r->csv), (lua_Integer)opts->max_fields,
                            (lua_Integer)opts->max_fields);
        else
            lua_pushfstring(L, "%s: line %I: the header row exceeds %I bytes (max_row = %I)", path,
                            (lua_Integer)fy_csv_row_line(r->csv), (lua_Integer)opts->max_row_bytes,
                            (lua_Integer)opts->max_row_bytes);
        return 2;
    }
    if (rc != 1) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", path, rc == 0 ? "empty file, expected a header row" : fy_csv_error(r->csv));
        return 2;
    }
    lua_createtable(L, (int)n, 0);
    lua_createtable(L, 0, (int)n);                      /* name -> column number */
    for (size_t i = 0; i < n; i++) {
        size_t at = r->latin1 ? f[i].len : fy_utf8_check(f[i].ptr, f[i].len);
        if (at < f[i].len) {
            luaL_pushfail(L);
            lua_pushfstring(L, "%s: line %I: column %I of the header is not valid UTF-8 (byte %I of its name; "
                               "encoding = \"latin1\" reads Latin-1)", path, (lua_Integer)fy_csv_row_line(r->csv),
                            (lua_Integer)i + 1, (lua_Integer)at + 1);
            return 2;
        }
        push_field(L, r, &f[i]);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) != LUA_TNIL) {
            luaL_pushfail(L);
            lua_pushfstring(L, "%s: line %d: column '%s' appears twice in the header (columns %d and %d)", path,
                            (int)fy_csv_row_line(r->csv), lua_tostring(L, -3), (int)lua_tointeger(L, -2),
                            (int)i + 1);
            return 2;
        }
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushinteger(L, (lua_Integer)i + 1);
        lua_rawset(L, -4);
        lua_rawseti(L, -3, (lua_Integer)i + 1);
    }
    lua_pop(L, 1);
    r->ncols = n;
    r->header_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static int csv_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    char real[PATH_MAX];
    if (fy_sandbox_lua_path(L, path, FY_PATH_READ, real, sizeof real) != FY_OK) return 2;
    path = real;
    fy_csv_opts opts = {0};
    opts.delimiter = opt_char(L, 2, "delimiter", ',');
    opts.quote = opt_char(L, 2, "quote", '"');
    opts.max_row_bytes = opt_size(L, 2, "max_row", FY_CSV_DEFAULT_MAX_ROW);
    opts.max_fields = opt_size(L, 2, "max_columns", DEFAULT_MAX_COLUMNS);
    int header = 1, latin1 = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "header");
        if (!lua_isnil(L, -1)) header = lua_toboolean(L, -1);
        lua_getfield(L, 2, "encoding");
        static const char *const encodings[] = {"utf-8", "latin1", NULL};
        if (!lua_isnil(L, -1)) latin1 = luaL_checkoption(L, -1, NULL, encodings) == 1;
        lua_pop(L, 2);
    }
    struct reader *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    r->header_ref = LUA_NOREF;
    r->vm = fy_vm_of(L);
    r->latin1 = latin1;
    luaL_setmetatable(L, READER_MT);
    char err[FY_ERRLEN];
    r->csv = fy_csv_open(path, &opts, err, sizeof err);
    if (!r->csv) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot open %s", err);
        return 2;
    }
    if (!header) return 1;
    return read_header(L, r, path, &opts);
}

/* Push fields f[0..n) as an array. */
static void push_fields(lua_State *L, const struct reader *r, const fy_csv_field *f, size_t n) {
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_field(L, r, &f[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* With encoding "utf-8": push "line N: column 'x' is not valid UTF-8 (...)"
 * for the first field that is not and return 1; 0 when all are. */
static int push_not_utf8(lua_State *L, const struct reader *r, const fy_csv_field *f, size_t n) {
    if (r->latin1) return 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = fy_utf8_check(f[i].ptr, f[i].len);
        if (at == f[i].len) continue;
        int line = (int)fy_csv_row_line(r->csv);
        char byte[8];
        snprintf(byte, sizeof byte, "0x%02X", (unsigned char)f[i].ptr[at]);
        if (r->header_ref != LUA_NOREF) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, r->header_ref);
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            lua_pushfstring(L, "line %d: column '%s' is not valid UTF-8 (byte %s at byte %d; "
                               "encoding = \"latin1\" reads Latin-1)", line, lua_tostring(L, -1), byte, (int)at + 1);
            lua_replace(L, -3);
            lua_pop(L, 1);
        } else {
            lua_pushfstring(L, "line %d: field %d is not valid UTF-8 (byte %s at byte %d; "
                               "encoding = \"latin1\" reads Latin-1)", line, (int)i + 1, byte, (int)at + 1);
        }
        return 1;
    }
    return 0;
}

static int rows_next(lua_State *L) {
    struct reader *r = luaL_checkudata(L, lua_upvalueindex(1), READER_MT);
    if (!r->csv || r->done) return 0;
    fy_csv_field *f;
    size_t n;
    int rc = fy_csv_next(r->csv, &f, &n);
    if (rc == 0) { r->done = 1; return 0; }
    lua_pushinteger(L, (lua_Integer)fy_csv_row_line(r->csv));
    if (hold_buffers(r) != FY_OK) {     /* this row's buffer does not fit: nothing more is read */
        r->done = 1;
        lua_pushnil(L);
        lua_pushfstring(L, "line %I: the row does not fit in the integration's memory limit "
                        "(limits.memory in the config); the rest of the file was not read",
                        (lua_Integer)fy_csv_row_line(r->csv));
        return 3;
    }
    if (rc < 0) {                      /* nothing after it can be read */
        r->done = 1;
        lua_pushnil(L);
        lua_pushstring(L, fy_csv_error(r->csv));
        return 3;
    }
    if (rc == FY_CSV_SKIPPED) {        /* over a limit: its first bytes go along */
        size_t len;
        const char *excerpt = fy_csv_excerpt(r->csv, &len);
        lua_pushnil(L);
        lua_pushstring(L, fy_csv_error(r->csv));
        lua_pushlstring(L, excerpt, len);
        return 4;
    }
    if (r->header_ref != LUA_NOREF && n != r->ncols) {   /* ragged: the fields go along */
        lua_pushnil(L);
        lua_pushfstring(L, "line %d: expected %d fields, got %d", (int)fy_csv_row_line(r->csv), (int)r->ncols, (int)n);
        push_fields(L, r, f, n);
        return 4;
    }
    if (push_not_utf8(L, r, f, n)) {
        lua_pushnil(L);
        lua_insert(L, -2);
        push_fields(L, r, f, n);
        return 4;
    }
    if (r->header_ref == LUA_NOREF) {
        push_fields(L, r, f, n);
        return 2;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->header_ref);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -2, (lua_Integer)i + 1);
        push_field(L, r, &f[i]);
        lua_rawset(L, -3);
    }
    lua_remove(L, -2);
    return 2;
}

static int reader_rows(lua_State *L) {
    luaL_checkudata(L, 1, READER_MT);
    lua_settop(L, 1);
    lua_pushcclosure(L, rows_next, 1);
    return 1;
}

static int reader_header(lua_State *L) {
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    if (r->header_ref == LUA_NOREF) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->header_ref);
    return 1;
}

int luaopen_ferry_csv(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"rows", reader_rows}, {"header", reader_header}, {"close", reader_close}, {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {{"open", csv_open}, {NULL, NULL}};
    fy_vm_new_class(L, READER_MT, methods, reader_close);
    luaL_newlib(L, funcs);
    return 1;
}
