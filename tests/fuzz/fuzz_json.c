/* fuzz_json: ferry.json decode -> encode -> decode round trip through a bare
 * lua_State holding only ferry's json module.
 *
 * For every input s:
 *  - decode(s) returns a value or nil + an error string; it never raises
 *    (except out of memory under the cap);
 *  - a value v that decodes re-encodes, sorted and unsorted; both texts
 *    decode to a value deep-equal to v (same types, integer vs float
 *    included, same array markers), and re-encoding that value sorted
 *    gives byte-identical text;
 *  - the other direction: a table holding s as a string value, as a key,
 *    inside an array and as the key of an object alone in an array, next to a big integer and an empty array (which
 *    make the decoder rewrite its input), encodes and decodes back to an
 *    equal table.
 * One input in four runs with the state capped a little above what setup
 * needs (1 byte to 256 KiB more, chosen from a hash of the input), so
 * out-of-memory errors strike at varying points; then any step may fail with "not enough memory", but
 * nothing may crash or leak. The rest run under a 64 MiB cap. */
#include "fuzz_common.h"
#include "fy_utf8.h"

#include <math.h>

#define CAP (64u << 20)

struct ctx {
    lua_State *L;
    int json;       /* stack index of the ferry.json table */
    int oom;        /* a step ran out of memory: stop checking */
    int tight;      /* the cap is tight: memory errors are expected */
};

/* Under a tight cap, encode's up-front luaL_checkstack (3 slots per level of
 * nesting) fails as "stack overflow (JSON encoding)" rather than as a memory
 * error; that is only a misleading message, so it counts as out of memory. */
static int is_oom(struct ctx *c, int status) {
    if (fuzz_is_oom(c->L, status)) return 1;
    const char *m = lua_tostring(c->L, -1);
    return c->tight && m && strstr(m, "stack overflow");
}

/* Call json[fn](args on top, nargs) in protected mode, leaving nres results.
 * Returns 0 and sets c->oom when it failed for lack of memory; any other
 * error is a finding. */
static int call(struct ctx *c, const char *fn, int nargs, int nres) {
    lua_State *L = c->L;
    lua_getfield(L, c->json, fn);
    lua_insert(L, -nargs - 1);
    int st = lua_pcall(L, nargs, nres, 0);
    if (st == LUA_OK) return 1;
    if (is_oom(c, st)) {
        c->oom = 1;
        return 0;
    }
    FUZZ_CHECK(0, "json.%s raised: %s", fn, lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
    return 0;
}

/* encode(value at idx [, {sort_keys = true}]) -> pushes the text, or
 * returns 0 (nothing pushed) when out of memory. A refusal is a finding:
 * everything here came from JSON, so it can be written as JSON. */
static int encode(struct ctx *c, int idx, int sorted) {
    lua_State *L = c->L;
    lua_pushvalue(L, idx);
    if (sorted) {
        lua_createtable(L, 0, 1);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "sort_keys");
    }
    if (!call(c, "encode", sorted ? 2 : 1, 2)) return 0;
    if (lua_isnil(L, -2)) {
        if (fuzz_is_oom(L, LUA_OK)) {
            c->oom = 1;
            lua_pop(L, 2);
            return 0;
        }
        FUZZ_CHECK(0, "a decoded value does not encode: %s", lua_tostring(L, -1));
    }
    FUZZ_CHECK(lua_type(L, -2) == LUA_TSTRING, "encode returned a %s", luaL_typename(L, -2));
    lua_pop(L, 1);
    return 1;
}

/* decode(text at idx) -> pushes value and error (nil + message on failure);
 * returns 0 (nothing pushed) when out of memory. */
static int decode(struct ctx *c, int idx) {
    lua_State *L = c->L;
    lua_pushvalue(L, idx);
    if (!call(c, "decode", 1, 2)) return 0;
    if (lua_isnil(L, -2)) {
        FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "decode failed without a message");
        if (fuzz_is_oom(L, LUA_OK)) {
            c->oom = 1;
            lua_pop(L, 2);
            return 0;
        }
    }
    return 1;
}

/* Deep equality of the values at a and b. On a difference, writes where it
 * is to why and returns 0. */
static int deep_equal(lua_State *L, int a, int b, int depth, char *why, size_t whylen) {
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    int ta = lua_type(L, a), tb = lua_type(L, b);
    if (ta != tb) {
        snprintf(why, whylen, "%s vs %s", lua_typename(L, ta), lua_typename(L, tb));
        return 0;
    }
    if (ta == LUA_TNUMBER) {
        if (lua_isinteger(L, a) != lua_isinteger(L, b) || !lua_rawequal(L, a, b)) {
            snprintf(why, whylen, "number %s (%s) vs %s (%s)", lua_tostring(L, a),
                     lua_isinteger(L, a) ? "integer" : "float", lua_tostring(L, b),
                     lua_isinteger(L, b) ? "integer" : "float");
            return 0;
        }
        return 1;
    }
    if (ta != LUA_TTABLE) {
        if (!lua_rawequal(L, a, b)) {
            snprintf(why, whylen, "%s values differ", lua_typename(L, ta));
            return 0;
        }
        return 1;
    }
    FUZZ_CHECK(depth < 2000, "tables nested deeper than 2000");
    luaL_checkstack(L, 8, "deep_equal");
    int ma = lua_getmetatable(L, a), mb = lua_getmetatable(L, b);
    int same_mt = ma == mb && (!ma || lua_rawequal(L, -1, -2));
    lua_pop(L, ma + mb);
    if (!same_mt) {
        snprintf(why, whylen, "array marker on one side only");
        return 0;
    }
    size_t na = 0, nb = 0;
    lua_pushnil(L);
    while (lua_next(L, a)) {
        na++;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        if (!deep_equal(L, -2, -1, depth + 1, why, whylen)) {
            size_t n = strlen(why);
            lua_pushvalue(L, -3);
            snprintf(why + n, whylen - n, " at key %s", luaL_tolstring(L, -1, NULL));
            lua_pop(L, 5);
            return 0;
        }
        lua_pop(L, 2);
    }
    lua_pushnil(L);
    while (lua_next(L, b)) {
        nb++;
        lua_pop(L, 1);
    }
    if (na != nb) {
        snprintf(why, whylen, "%zu keys vs %zu keys", na, nb);
        return 0;
    }
    return 1;
}

static void expect_equal(lua_State *L, int a, int b, const char *what) {
    char why[512] = "";
    if (deep_equal(L, a, b, 0, why, sizeof why)) return;
    FUZZ_CHECK(0, "%s: %s", what, why);
}

/* decode -> encode -> decode for the input text at index `in`. */
static void round_trip(struct ctx *c, int in) {
    lua_State *L = c->L;
    if (!decode(c, in)) return;
    if (lua_isnil(L, -2)) return;                     /* not JSON: fine */
    lua_pop(L, 1);
    int v = lua_gettop(L);
    if (!encode(c, v, 1)) return;
    int text = lua_gettop(L);
    if (!decode(c, text)) return;
    FUZZ_CHECK(!lua_isnil(L, -2), "encoded text does not decode: %s\ntext: %s",
               lua_tostring(L, -1), lua_tostring(L, text));
    lua_pop(L, 1);
    int v2 = lua_gettop(L);
    expect_equal(L, v, v2, "decode(encode(v)) differs from v");
    if (!encode(c, v2, 1)) return;
    FUZZ_CHECK(lua_rawequal(L, -1, text), "re-encoding is not byte-identical:\n%s\n%s",
               lua_tostring(L, text), lua_tostring(L, -1));
    lua_pop(L, 1);
    if (!encode(c, v, 0)) return;                     /* unsorted keys */
    if (!decode(c, lua_gettop(L))) return;
    FUZZ_CHECK(!lua_isnil(L, -2), "unsorted encoding does not decode: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    expect_equal(L, v, -1, "decode(encode(v)) with unsorted keys differs from v");
}

/* encode -> decode for a table built around the input string at `in`. */
static void string_trip(struct ctx *c, int in) {
    lua_State *L = c->L;
    int top = lua_gettop(L);
    lua_createtable(L, 0, 4);
    int t = lua_gettop(L);
    lua_pushinteger(L, 1234567890123456789);
    lua_setfield(L, t, "big");
    lua_getfield(L, c->json, "array");
    lua_call(L, 0, 1);
    lua_setfield(L, t, "empty");
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, in);
    lua_rawseti(L, -2, 1);
    lua_createtable(L, 0, 1);           /* [{input: 1}] */
    lua_pushvalue(L, in);
    lua_pushinteger(L, 1);
    lua_rawset(L, -3);
    lua_createtable(L, 1, 0);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, t, "list");
    lua_pushvalue(L, in);
    lua_setfield(L, t, "s");
    lua_pushvalue(L, in);
    lua_pushinteger(L, 7);
    lua_rawset(L, t);
    if (!encode(c, t, 1)) return;
    if (!decode(c, -1)) return;
    FUZZ_CHECK(!lua_isnil(L, -2), "a table of strings encodes to text that does not decode: %s",
               lua_tostring(L, -1));
    lua_pop(L, 1);
    size_t len;
    const char *str = lua_tolstring(L, in, &len);
    if (fy_utf8_check(str, len) == len)     /* other bytes are written as \u00XX, as Latin-1 */
        expect_equal(L, t, -1, "a table holding the input as a string does not survive encode/decode");
    lua_settop(L, top);
}

/* Both checks, run protected so that a memory error while building tables
 * or comparing (outside the json calls) unwinds instead of panicking.
 * Upvalue: the ctx; stack: the ferry.json table, the input. */
static int checks(lua_State *L) {
    struct ctx *c = lua_touserdata(L, lua_upvalueindex(1));
    c->json = 1;
    round_trip(c, 2);
    lua_settop(L, 2);
    if (!c->oom) string_trip(c, 2);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fy_vm vm;
    lua_State *L = fuzz_lua_open(&vm, CAP);
    uint64_t h = fuzz_hash(data, size);
    struct ctx c = {L, 0, 0, (h & 3) == 0};
    lua_pushlightuserdata(L, &c);
    lua_pushcclosure(L, checks, 1);
    lua_pushcfunction(L, luaopen_ferry_json);
    lua_call(L, 0, 1);
    lua_pushlstring(L, (const char *)data, size);
    if (c.tight) {                          /* headroom from 1 byte to 256 KiB, log-uniform */
        lua_gc(L, LUA_GCCOLLECT);           /* else the emergency collection frees setup's garbage */
        size_t room = (size_t)1 << ((h >> 2) % 18);
        vm.mem_limit = vm.mem_used + room + (size_t)((h >> 8) % room);
    }
    int st = lua_pcall(L, 2, 0, 0);
    FUZZ_CHECK(st == LUA_OK || is_oom(&c, st), "%s", lua_tostring(L, -1));
    fuzz_lua_close(&vm);
    return 0;
}
