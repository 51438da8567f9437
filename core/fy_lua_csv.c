/* ferry.csv: streamed CSV (RFC 4180) over core/fy_csv.c.
 *
 *   local r = ferry.csv.open(path [, { header = true, delimiter = ",", quote = '"' }])
 *   for line, row, err in r:rows() do ... end
 *
 * With a header (the default) each row is a table keyed by column name;
 * without, an array. A row whose width differs from the header yields
 * line, nil, "line N: expected 12 fields, got 9", fields (an array) and
 * iteration goes on;
 * an unrecoverable error (unterminated quote at end of file, a row over the
 * size limit, a read error) yields line, nil, err and then ends. */
#include "fy_common.h"
#include "fy_vm.h"
#include "fy_sandbox.h"

#include <limits.h>
#include "fy_csv.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define READER_MT "ferry.csv.reader"

struct reader {
    fy_csv *csv;           /* NULL once closed */
    int header_ref;        /* registry ref of the header array, or LUA_NOREF */
    size_t ncols;
    int done;
};

static int reader_close(lua_State *L) {
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    fy_csv_close(r->csv);
    r->csv = NULL;
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

static int csv_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    char real[PATH_MAX], perr[FY_ERRLEN];
    if (fy_sandbox_path(fy_vm_of(L), path, FY_PATH_READ, real, sizeof real, perr, sizeof perr) != FY_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, perr);
        return 2;
    }
    path = real;
    fy_csv_opts opts = {0};
    opts.delimiter = opt_char(L, 2, "delimiter", ',');
    opts.quote = opt_char(L, 2, "quote", '"');
    int header = 1;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "header");
        if (!lua_isnil(L, -1)) header = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    struct reader *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    r->header_ref = LUA_NOREF;
    luaL_setmetatable(L, READER_MT);
    char err[FY_ERRLEN];
    r->csv = fy_csv_open(path, &opts, err, sizeof err);
    if (!r->csv) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot open %s", err);
        return 2;
    }
    if (!header) return 1;
    fy_csv_field *f;
    size_t n;
    int rc = fy_csv_next(r->csv, &f, &n);
    if (rc <= 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", path, rc == 0 ? "empty file, expected a header row" : fy_csv_error(r->csv));
        return 2;
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (f[j].len == f[i].len && memcmp(f[j].ptr, f[i].ptr, f[i].len) == 0) {
                luaL_pushfail(L);
                lua_pushfstring(L, "%s: line 1: column '%s' appears twice in the header", path, f[i].ptr);
                return 2;
            }
        }
        lua_pushlstring(L, f[i].ptr, f[i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    r->ncols = n;
    r->header_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static int rows_next(lua_State *L) {
    struct reader *r = luaL_checkudata(L, lua_upvalueindex(1), READER_MT);
    if (!r->csv || r->done) return 0;
    fy_csv_field *f;
    size_t n;
    int rc = fy_csv_next(r->csv, &f, &n);
    if (rc == 0) { r->done = 1; return 0; }
    lua_pushinteger(L, (lua_Integer)fy_csv_row_line(r->csv));
    if (rc < 0) {
        r->done = 1;
        lua_pushnil(L);
        lua_pushstring(L, fy_csv_error(r->csv));
        return 3;
    }
    if (r->header_ref == LUA_NOREF) {
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            lua_pushlstring(L, f[i].ptr, f[i].len);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 2;
    }
    if (n != r->ncols) {               /* ragged: the fields go along for the quarantine */
        lua_pushnil(L);
        lua_pushfstring(L, "line %d: expected %d fields, got %d", (int)fy_csv_row_line(r->csv), (int)r->ncols, (int)n);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            lua_pushlstring(L, f[i].ptr, f[i].len);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 4;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->header_ref);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -2, (lua_Integer)i + 1);
        lua_pushlstring(L, f[i].ptr, f[i].len);
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
