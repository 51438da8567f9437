/* ferry.json: JSON in and out with nothing lost.
 *
 * Decoding is ferry's own (fy_json_decode.c): strict RFC 8259, integers
 * exact, empty arrays kept. Encoding is here: integers exactly, floats in
 * their shortest round-trip form, `[]` for tables marked as arrays.
 *
 *   decode(s)      -> value | nil, "invalid JSON: ... at character N"
 *   encode(v)      -> string | nil, err
 *   null           -> the JSON null sentinel, a light userdata (NULL, as cjson.null)
 *   array(t)       -> t, marked to encode as an array even when empty
 */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_json.h"
#include "fy_vm.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH FY_JSON_MAX_DEPTH   /* as deep as decode goes */
#define ENC_BUF_MT "ferry.json.buffer"    /* the userdata owning json.encode's buffer */

const char fy_json_array_mt_key = 'a';    /* registry key of the array marker */

/* json.decode(s) -> value | nil, "invalid JSON: WHAT at character N".
 * Raises only when Lua runs out of memory. */
static int json_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char err[200];
    if (fy_json_decode(L, s, len, err, sizeof err) == FY_OK) return 1;
    luaL_pushfail(L);
    lua_pushfstring(L, "invalid JSON: %s", err);
    return 2;
}

static void encode_number(lua_State *L, int idx, struct fy_buf *b, int *ok) {
    if (lua_isinteger(L, idx)) {
        fy_buf_printf(b, "%lld", (long long)lua_tointeger(L, idx));
        return;
    }
    double d = lua_tonumber(L, idx);
    if (!isfinite(d)) { *ok = 0; return; }
    fy_buf_double(b, d);
}

/* 1..n with no holes: an array of length n. 0: not an array. */
static lua_Integer array_length(lua_State *L, int idx) {
    lua_Integer max = 0, count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) { lua_pop(L, 1); return -1; }
        lua_Integer k = lua_tointeger(L, -1);
        if (k > max) max = k;
        count++;
    }
    return max == count ? max : -1;
}

struct enc {
    struct fy_buf *b;
    int sorted;                 /* object keys in byte order (canonical text) */
    const struct fy_vm *vm;     /* whose memory limit the text must fit */
    char *err;
    size_t errlen;
};

static int encode_value(lua_State *L, int idx, struct enc *e, int depth);

/* The JSON name of the key on top of the stack, pushed as a string. */
static int push_key_name(lua_State *L, struct enc *e) {
    int kt = lua_type(L, -1);
    if (kt == LUA_TSTRING) {
        lua_pushvalue(L, -1);
        return FY_OK;
    }
    if (kt == LUA_TNUMBER) {
        struct fy_buf nb = {0};
        char name[64];                    /* a number's text is at most 24 bytes */
        size_t len = 0;
        int ok = 1;
        encode_number(L, lua_absindex(L, -1), &nb, &ok);
        if (ok) memcpy(name, nb.data, len = nb.len < sizeof name ? nb.len : sizeof name);
        fy_buf_free(&nb);                 /* before pushing, which may raise */
        if (ok) {
            lua_pushlstring(L, name, len);
            return FY_OK;
        }
        snprintf(e->err, e->errlen, "cannot encode the key %s as JSON", lua_tostring(L, -1));
        return FY_ERR;
    }
    snprintf(e->err, e->errlen, "cannot encode a table with %s keys", lua_typename(L, kt));
    return FY_ERR;
}

struct sorted_key { const char *name; size_t len; lua_Integer slot; };

static int key_cmp(const void *a, const void *b) {
    const struct sorted_key *x = a, *y = b;
    int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* An object with its keys in byte order: the names and keys are gathered
 * into a scratch table (which keeps them alive), sorted, then written.
 * Everything it allocates belongs to Lua. */
static int encode_object_sorted(lua_State *L, int idx, struct enc *e, int depth) {
    lua_Integer n = 0;
    lua_newtable(L);
    int scratch = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (push_key_name(L, e) != FY_OK) {
            lua_settop(L, scratch - 1);
            return FY_ERR;
        }
        lua_rawseti(L, scratch, 2 * n + 2);       /* name */
        lua_pushvalue(L, -1);
        lua_rawseti(L, scratch, 2 * n + 1);       /* the key itself */
        n++;
    }
    /* a userdata above scratch, not malloc: a Lua error while encoding a
     * value below leaves nothing to free */
    struct sorted_key *keys = n ? lua_newuserdatauv(L, (size_t)n * sizeof *keys, 0) : NULL;
    for (lua_Integer i = 0; i < n; i++) {
        lua_rawgeti(L, scratch, 2 * i + 2);
        keys[i].name = lua_tolstring(L, -1, &keys[i].len);   /* anchored in scratch */
        keys[i].slot = 2 * i + 1;
        lua_pop(L, 1);
    }
    if (n > 1) qsort(keys, (size_t)n, sizeof *keys, key_cmp);
    int rc = FY_OK;
    fy_buf_putc(e->b, '{');
    for (lua_Integer i = 0; i < n && rc == FY_OK; i++) {
        if (i) fy_buf_putc(e->b, ',');
        fy_buf_json_string(e->b, keys[i].name, keys[i].len);
        fy_buf_putc(e->b, ':');
        lua_rawgeti(L, scratch, keys[i].slot);
        lua_rawget(L, idx);
        rc = encode_value(L, lua_gettop(L), e, depth + 1);
        lua_pop(L, 1);
    }
    fy_buf_putc(e->b, '}');
    lua_settop(L, scratch - 1);
    return rc;
}

static int encode_table(lua_State *L, int idx, struct enc *e, int depth) {
    if (depth >= JSON_MAX_DEPTH) {          /* depth counts from 0: 1,000 levels pass */
        snprintf(e->err, e->errlen, "cannot encode: nested deeper than %d levels (a cycle?)", JSON_MAX_DEPTH);
        return FY_ERR;
    }
    struct fy_buf *b = e->b;
    int marked = 0;
    if (lua_getmetatable(L, idx)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
        marked = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    lua_Integer n = array_length(L, idx);
    if (n > 0 || (n == 0 && marked)) {
        fy_buf_putc(b, '[');
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1) fy_buf_putc(b, ',');
            lua_rawgeti(L, idx, i);
            int rc = encode_value(L, lua_gettop(L), e, depth + 1);
            lua_pop(L, 1);
            if (rc != FY_OK) return rc;
        }
        fy_buf_putc(b, ']');
        return FY_OK;
    }
    if (e->sorted) return encode_object_sorted(L, idx, e, depth);
    fy_buf_putc(b, '{');
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen;
        const char *k;
        int kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            k = lua_tolstring(L, -2, &klen);
            fy_buf_append(b, first ? "" : ",", first ? 0 : 1);
            fy_buf_json_string(b, k, klen);
        } else if (kt == LUA_TNUMBER) {
            int ok = 1;
            fy_buf_append(b, first ? "\"" : ",\"", first ? 1 : 2);
            encode_number(L, lua_absindex(L, -2), b, &ok);
            fy_buf_putc(b, '"');
            if (!ok) {
                snprintf(e->err, e->errlen, "cannot encode the key %s as JSON", lua_tostring(L, -2));
                lua_pop(L, 2);
                return FY_ERR;
            }
        } else {
            snprintf(e->err, e->errlen, "cannot encode a table with %s keys", lua_typename(L, kt));
            lua_pop(L, 2);
            return FY_ERR;
        }
        first = 0;
        fy_buf_putc(b, ':');
        if (encode_value(L, lua_gettop(L), e, depth + 1) != FY_OK) {
            lua_pop(L, 2);
            return FY_ERR;
        }
        lua_pop(L, 1);
    }
    fy_buf_putc(b, '}');
    return FY_OK;
}

static int write_value(lua_State *L, int idx, struct enc *e, int depth) {
    size_t len;
    const char *s;
    int ok = 1;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: fy_buf_puts(e->b, "null"); return FY_OK;
    case LUA_TBOOLEAN: fy_buf_puts(e->b, lua_toboolean(L, idx) ? "true" : "false"); return FY_OK;
    case LUA_TNUMBER:
        encode_number(L, idx, e->b, &ok);
        if (!ok) snprintf(e->err, e->errlen, "cannot encode %s as JSON", lua_tostring(L, idx));
        return ok ? FY_OK : FY_ERR;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        fy_buf_json_string(e->b, s, len);
        return FY_OK;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) { fy_buf_puts(e->b, "null"); return FY_OK; }   /* ferry.json.null */
        break;
    case LUA_TTABLE:
        return encode_table(L, idx, e, depth);
    }
    snprintf(e->err, e->errlen, "cannot encode a %s as JSON", luaL_typename(L, idx));
    return FY_ERR;
}

/* Write the value at idx, then check the text so far would still fit the
 * VM's memory: the buffer is malloc'd, outside the limit, but becomes a Lua
 * string of the same size. A plain lua_State (the CLI's) has no limit. */
static int encode_value(lua_State *L, int idx, struct enc *e, int depth) {
    if (write_value(L, idx, e, depth) != FY_OK) return FY_ERR;
    if (e->vm && e->b->len > fy_vm_room(e->vm)) {
        snprintf(e->err, e->errlen, "cannot encode: the text would exceed the integration's memory limit (limits.memory)");
        return FY_ERR;
    }
    return FY_OK;
}

int fy_json_encode_opt(lua_State *L, int idx, struct fy_buf *b, int sorted, char *err, size_t errlen) {
    struct enc e = {b, sorted, fy_vm_of(L), err, errlen};
    luaL_checkstack(L, 3 * JSON_MAX_DEPTH + 20, "JSON encoding");
    return encode_value(L, lua_absindex(L, idx), &e, 0);
}

int fy_json_encode(lua_State *L, int idx, struct fy_buf *b, char *err, size_t errlen) {
    return fy_json_encode_opt(L, idx, b, 0, err, errlen);
}

/* json.encode(value [, { sort_keys = true }]) */
static int json_encode(lua_State *L) {
    luaL_checkany(L, 1);
    int sorted = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "sort_keys");
        sorted = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    /* the buffer belongs to a userdata, so a Lua error (out of memory)
     * in the middle of encoding frees it too */
    lua_settop(L, 2);
    struct fy_buf *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, ENC_BUF_MT);
    char err[256];
    if (fy_json_encode_opt(L, 1, b, sorted, err, sizeof err) != FY_OK) {
        fy_buf_free(b);
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushlstring(L, b->data, b->len);
    fy_buf_free(b);
    return 1;
}

/* __gc and __close of json.encode's buffer; safe to call twice. */
static int enc_buf_close(lua_State *L) {
    fy_buf_free(luaL_checkudata(L, 1, ENC_BUF_MT));
    return 0;
}

static int json_array(lua_State *L) {
    if (lua_isnoneornil(L, 1)) lua_newtable(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    lua_setmetatable(L, 1);
    return 1;
}

int luaopen_ferry_json(lua_State *L) {
    static const luaL_Reg funcs[] = {
        {"decode", json_decode}, {"encode", json_encode}, {"array", json_array}, {NULL, NULL},
    };
    static const luaL_Reg no_methods[] = {{NULL, NULL}};
    fy_vm_new_class(L, ENC_BUF_MT, no_methods, enc_buf_close);
    luaL_newlib(L, funcs);
    lua_pushlightuserdata(L, NULL);         /* null: the same value as cjson.null */
    lua_setfield(L, -2, "null");
    lua_newtable(L);
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__name");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    return 1;
}
