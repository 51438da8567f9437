/* ferry.jsonl: JSON lines, streamed one line at a time.
 *
 *   local r = ferry.jsonl.open(path [, { max_line = bytes }])   -- nil, err if unreadable
 *   for line, record, err, raw in r:rows() do ... end
 *
 * Each non-blank line yields its 1-based line number and the decoded value;
 * a line that is not valid JSON (or is longer than max_line, default 16 MiB)
 * yields line, nil, err and the raw text, and iteration goes on. */
#include "fy_common.h"
#include "fy_vm.h"
#include "fy_sandbox.h"

#include <limits.h>
#include "fy_config.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READER_MT "ferry.jsonl.reader"
#define DEFAULT_MAX_LINE (16u << 20)

struct reader {
    FILE *fp;              /* NULL once closed */
    char *line;            /* getline's buffer, reused */
    size_t cap;
    size_t lineno;
    size_t max_line;
};

static int reader_close(lua_State *L) {
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    if (r->fp) fclose(r->fp);
    free(r->line);
    r->fp = NULL;
    r->line = NULL;
    r->cap = 0;
    return 0;
}

static int jsonl_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    char real[PATH_MAX], perr[FY_ERRLEN];
    if (fy_sandbox_path(fy_vm_of(L), path, FY_PATH_READ, real, sizeof real, perr, sizeof perr) != FY_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, perr);
        return 2;
    }
    path = real;
    size_t max_line = DEFAULT_MAX_LINE;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "max_line");
        if (!lua_isnil(L, -1)) max_line = (size_t)luaL_checkinteger(L, -1);
        lua_pop(L, 1);
    }
    struct reader *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, READER_MT);
    r->max_line = max_line;
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
        return 2;
    }
    return 1;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* Iterator step: upvalue 1 is the reader, upvalue 2 ferry.json.decode. */
static int rows_next(lua_State *L) {
    struct reader *r = luaL_checkudata(L, lua_upvalueindex(1), READER_MT);
    if (!r->fp) return 0;
    for (;;) {
        ssize_t n = getline(&r->line, &r->cap, r->fp);
        if (n < 0) {
            if (ferror(r->fp)) return luaL_error(L, "reading line %d: %s", (int)r->lineno + 1, strerror(errno));
            return 0;
        }
        r->lineno++;
        size_t len = (size_t)n;
        if (is_blank(r->line, len)) continue;
        while (len && (r->line[len - 1] == '\n' || r->line[len - 1] == '\r')) len--;
        lua_pushinteger(L, (lua_Integer)r->lineno);
        if (len > r->max_line) {
            lua_pushnil(L);
            lua_pushfstring(L, "line %d: longer than %d bytes", (int)r->lineno, (int)r->max_line);
            lua_pushlstring(L, r->line, len < 200 ? len : 200);
            return 4;
        }
        lua_pushvalue(L, lua_upvalueindex(2));
        lua_pushlstring(L, r->line, len);
        lua_call(L, 1, 2);
        if (!lua_isnil(L, -2)) {
            lua_pop(L, 1);
            return 2;
        }
        lua_pushfstring(L, "line %d: %s", (int)r->lineno, lua_tostring(L, -1));
        lua_replace(L, -2);
        lua_pushlstring(L, r->line, len);
        return 4;
    }
}

static int reader_rows(lua_State *L) {
    luaL_checkudata(L, 1, READER_MT);
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "ferry.json");
    lua_getfield(L, -1, "decode");
    lua_replace(L, 2);
    lua_settop(L, 2);
    lua_pushcclosure(L, rows_next, 2);
    return 1;
}

static int reader_line(lua_State *L) {
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    lua_pushinteger(L, (lua_Integer)r->lineno);
    return 1;
}

int luaopen_ferry_jsonl(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"rows", reader_rows}, {"line", reader_line}, {"close", reader_close}, {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {{"open", jsonl_open}, {NULL, NULL}};
    fy_vm_new_class(L, READER_MT, methods, reader_close);
    luaL_newlib(L, funcs);
    return 1;
}
