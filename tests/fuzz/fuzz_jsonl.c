/* fuzz_jsonl: ferry.jsonl, the JSON lines reader, driven through Lua as a
 * script drives it: ferry.jsonl.open(path [, {max_line = N}]) then
 * reader:rows() until it ends.
 *
 * The input is the file, written to a private temporary directory that the
 * harness's fy_vm names as the script's directory, so the sandbox's path
 * check (fy_sandbox_path) lets ferry.jsonl.open read it. Checked:
 * open succeeds; every step of the iterator yields exactly one of
 * (line, record) with a non-nil record or (line, nil, err, raw) with err and
 * raw strings; line numbers strictly increase and are exactly the physical
 * lines (split at LF) that hold something other than blanks; raw is a prefix
 * of its line; after the end the iterator stays ended; no crash, leak or
 * UB. One input in eight sets a small max_line (1-64) so the long-line path
 * runs too; the state is capped at 64 MiB and memory errors are allowed. */
#include "fy_config.h"
#include "fuzz_common.h"

#define CAP (64u << 20)

static int is_blank_line(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* Protected body. Upvalues: input data and size (light userdata, integer);
 * stack: path. */
static int body(lua_State *L) {
    const uint8_t *data = lua_touserdata(L, lua_upvalueindex(1));
    size_t size = (size_t)lua_tointeger(L, lua_upvalueindex(2));
    lua_Integer max_line = lua_tointeger(L, lua_upvalueindex(3));
    int path = 1;

    luaL_requiref(L, "ferry.json", luaopen_ferry_json, 0);
    luaL_requiref(L, "ferry.jsonl", luaopen_ferry_jsonl, 0);
    lua_getfield(L, -1, "open");
    lua_pushvalue(L, path);
    if (max_line) {
        lua_createtable(L, 0, 1);
        lua_pushinteger(L, max_line);
        lua_setfield(L, -2, "max_line");
    }
    lua_call(L, max_line ? 2 : 1, 2);
    FUZZ_CHECK(!lua_isnil(L, -2), "open failed: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    int reader = lua_gettop(L);
    lua_getfield(L, reader, "rows");
    lua_pushvalue(L, reader);
    lua_call(L, 1, 1);
    int iter = lua_gettop(L);

    size_t pos = 0, lineno = 0;                 /* our own walk over the lines */
    for (;;) {
        /* the next non-blank line, as getline splits them */
        const uint8_t *line = NULL;
        size_t len = 0;
        while (pos < size) {
            const uint8_t *nl = memchr(data + pos, '\n', size - pos);
            size_t end = nl ? (size_t)(nl - data) + 1 : size;
            lineno++;
            if (!is_blank_line(data + pos, end - pos)) {
                line = data + pos;
                len = end - pos;
                pos = end;
                break;
            }
            pos = end;
        }
        size_t full = len;                      /* with its CRs: a skipped line's excerpt may hold them */
        while (full && line[full - 1] == '\n') full--;
        while (line && len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;

        lua_settop(L, iter);
        lua_pushvalue(L, iter);
        lua_call(L, 0, LUA_MULTRET);
        int n = lua_gettop(L) - iter;
        if (!line) {
            FUZZ_CHECK(n == 0 || lua_isnil(L, iter + 1), "a row after the last line (%d values)", n);
            break;
        }
        /* record | nil, err, raw | nil, err, excerpt, true (a line over max_line, skipped) */
        FUZZ_CHECK(n == 2 || n == 4 || n == 5, "line %zu: %d values", lineno, n);
        if (n == 5) FUZZ_CHECK(lua_toboolean(L, iter + 5), "line %zu: a 5th value that is not true", lineno);
        FUZZ_CHECK(lua_isinteger(L, iter + 1) && lua_tointeger(L, iter + 1) == (lua_Integer)lineno,
                   "line number %s, expected %zu", lua_tostring(L, iter + 1), lineno);
        if (n == 2) {
            FUZZ_CHECK(!lua_isnil(L, iter + 2), "line %zu: a nil record without an error", lineno);
        } else {
            FUZZ_CHECK(lua_isnil(L, iter + 2), "line %zu: a record and an error", lineno);
            FUZZ_CHECK(lua_type(L, iter + 3) == LUA_TSTRING && lua_rawlen(L, iter + 3) > 0,
                       "line %zu: error is not a message", lineno);
            FUZZ_CHECK(lua_type(L, iter + 4) == LUA_TSTRING, "line %zu: raw is not a string", lineno);
            size_t rlen;
            const char *raw = lua_tolstring(L, iter + 4, &rlen);
            FUZZ_CHECK(rlen <= (n == 5 ? full : len) && memcmp(raw, line, rlen) == 0,
                       "line %zu: raw text is not the line's (%zu bytes of %zu)", lineno, rlen, len);
        }
    }
    /* ended stays ended; close twice is safe */
    lua_settop(L, iter);
    lua_pushvalue(L, iter);
    lua_call(L, 0, 1);
    FUZZ_CHECK(lua_isnil(L, -1), "a row after the end");
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, reader, "close");
        lua_pushvalue(L, reader);
        lua_call(L, 1, 0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct fy_config cfg;
    if (!cfg.data_dir) fy_config_defaults(&cfg);
    const char *path = fuzz_tmpfile(data, size);
    uint64_t h = fuzz_hash(data, size);
    struct fy_vm vm;
    lua_State *L = fuzz_lua_open(&vm, CAP);
    vm.cfg = &cfg;
    vm.script_dir = fuzz_tmp_dir;
    lua_pushlightuserdata(L, (void *)data);
    lua_pushinteger(L, (lua_Integer)size);
    lua_pushinteger(L, (h & 7) == 0 ? (lua_Integer)(1 + (h >> 3) % 64) : 0);
    lua_pushcclosure(L, body, 3);
    lua_pushstring(L, path);
    int st = lua_pcall(L, 1, 0, 0);
    FUZZ_CHECK(st == LUA_OK || fuzz_is_oom(L, st), "%s", lua_tostring(L, -1));
    fuzz_lua_close(&vm);
    return 0;
}
