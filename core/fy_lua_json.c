/* ferry.json: lua-cjson's decoder plus an encoder that keeps numbers exact.
 *
 * Debian's lua-cjson 2.1.0 decodes every number as a float and encodes with
 * 14 significant digits, so ids like 123456789012345 come back as
 * 1.2345678901234e+14. ferry keeps cjson for decoding (fast, strict) and
 * turns integral numbers within ±2^53 into Lua integers; encoding is done
 * here, writing integers exactly and floats in their shortest round-trip form.
 *
 *   decode(s)      -> value | nil, "invalid JSON: ... at character N"
 *   encode(v)      -> string | nil, err
 *   null           -> the JSON null sentinel (survives decode/encode)
 *   array(t)       -> t, marked to encode as an array even when empty
 */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_vm.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 1000                /* as deep as cjson decodes */
#define MAX_SAFE_INT 9007199254740992.0   /* 2^53 */

static const char array_mt_key = 'a';     /* registry key of the array marker */
static void *json_null;                   /* cjson.null, a lightuserdata */

/* Two things Debian's lua-cjson 2.1.0 loses are kept by rewriting the text
 * before decoding it, only where they occur:
 *  - [] and {} decode to the same empty table: each empty array becomes
 *    [{EMPTY_MARK:0}], turned back into an empty table marked as an array;
 *  - numbers go through strtod, so integers past 2^53 (snowflake ids) lose
 *    digits: an integer literal of 16 or more digits becomes the string
 *    INT_MARK..digits, turned back into a Lua integer (float if it does
 *    not fit in 64 bits). */
#define EMPTY_MARK "\\u0000ferry:empty-array"
#define EMPTY_MARK_KEY "\0ferry:empty-array"
#define INT_MARK "\\u0000i:"
#define INT_MARK_RAW "\0i:"

#define PREMARK_MARKED 1      /* b holds the marked copy */
#define PREMARK_NUMBERS 2     /* the text has numbers outside strings */

/* If the JSON text s needs marks, write the marked copy to b. Returns
 * PREMARK_* flags; without PREMARK_NUMBERS nothing needs normalise(). */
static int premark(const char *s, size_t n, struct fy_buf *b) {
    int in_string = 0, found = 0, numbers = 0;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            /* most strings have no escapes: jump to the closing quote */
            const char *q = memchr(s + i, '"', n - i);
            if (!q) break;                    /* unterminated: cjson says so */
            const char *bs = memchr(s + i, '\\', (size_t)(q - (s + i)));
            if (bs) {
                i = (size_t)(bs - s) + 1;     /* past the escaped character */
            } else {
                i = (size_t)(q - s);
                in_string = 0;
            }
            continue;
        }
        if (c == '"') { in_string = 1; continue; }
        if (c == '[') {
            size_t j = i + 1;
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r')) j++;
            if (j >= n || s[j] != ']') continue;
            fy_buf_append(b, s + run, i - run);
            fy_buf_puts(b, "[{\"" EMPTY_MARK "\":0}]");
            run = j + 1;
            i = j;
            found = 1;
        } else if ((c >= '0' && c <= '9') || c == '-') {
            numbers = 1;
            size_t j = i + (c == '-');
            while (j < n && s[j] >= '0' && s[j] <= '9') j++;
            size_t digits = j - i - (c == '-');
            if (j < n && (s[j] == '.' || s[j] == 'e' || s[j] == 'E')) {   /* a fraction: cjson's */
                while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == 'e' ||
                                 s[j] == 'E' || s[j] == '+' || s[j] == '-')) j++;
            } else if (digits >= 16) {
                fy_buf_append(b, s + run, i - run);
                fy_buf_puts(b, "\"" INT_MARK);
                fy_buf_append(b, s + i, j - i);
                fy_buf_putc(b, '"');
                run = j;
                found = 1;
            }
            i = j - 1;
        }
    }
    if (found) fy_buf_append(b, s + run, n - run);
    return (found ? PREMARK_MARKED : 0) | (numbers ? PREMARK_NUMBERS : 0);
}

/* A marked integer string at idx: push its value and return 1. */
static int push_marked_int(lua_State *L, int idx) {
    size_t len;
    const char *v = lua_tolstring(L, idx, &len);
    if (len < sizeof INT_MARK_RAW || memcmp(v, INT_MARK_RAW, sizeof INT_MARK_RAW - 1) != 0) return 0;
    const char *digits = v + sizeof INT_MARK_RAW - 1;
    errno = 0;
    long long x = strtoll(digits, NULL, 10);
    if (errno == ERANGE) lua_pushnumber(L, strtod(digits, NULL));
    else lua_pushinteger(L, (lua_Integer)x);
    return 1;
}

/* Is the table at idx the [{marker}] that stands for an empty array? */
static int is_empty_mark(lua_State *L, int idx) {
    if (lua_rawlen(L, idx) != 1) return 0;
    if (lua_rawgeti(L, idx, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushlstring(L, EMPTY_MARK_KEY, sizeof EMPTY_MARK_KEY - 1);   /* starts with NUL */
    int mark = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return mark;
}

static void push_empty_array(lua_State *L) {
    lua_newtable(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_setmetatable(L, -2);
}

/* Walk the decoded value at the top: integral floats become integers and,
 * when `marks`, marker tables become empty arrays. */
static void normalise(lua_State *L, int depth, int marks) {
    if (depth > JSON_MAX_DEPTH || !lua_istable(L, -1)) return;
    luaL_checkstack(L, 8, "JSON nesting");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number n = lua_tonumber(L, -1);
            if (n == floor(n) && fabs(n) <= MAX_SAFE_INT) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)n);
                lua_rawset(L, -5);
            }
        } else if (marks && lua_type(L, -1) == LUA_TSTRING && push_marked_int(L, -1)) {
            lua_pushvalue(L, -3);
            lua_insert(L, -2);
            lua_rawset(L, -5);
        } else if (lua_istable(L, -1)) {
            if (marks && is_empty_mark(L, -1)) {
                lua_pushvalue(L, -2);
                push_empty_array(L);
                lua_rawset(L, -5);
            } else {
                normalise(L, depth + 1, marks);
            }
        }
        lua_pop(L, 1);
    }
}

static int json_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    struct fy_buf marked = {0};
    int flags = premark(s, len, &marked), marks = flags & PREMARK_MARKED;
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));    /* cjson.decode */
    if (marks) lua_pushlstring(L, marked.data, marked.len);
    else lua_pushvalue(L, 1);
    fy_buf_free(&marked);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        /* positions refer to the marked text only if the error comes after
         * an empty array; decode the original for an exact message */
        if (marks) {
            lua_pop(L, 1);
            lua_pushvalue(L, lua_upvalueindex(1));
            lua_pushvalue(L, 1);
            lua_pcall(L, 1, 1, 0);
        }
        luaL_pushfail(L);
        lua_pushfstring(L, "invalid JSON: %s", lua_tostring(L, -2));
        return 2;
    }
    if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
        lua_Number n = lua_tonumber(L, -1);
        if (n == floor(n) && fabs(n) <= MAX_SAFE_INT) lua_pushinteger(L, (lua_Integer)n);
    } else if (marks && lua_type(L, -1) == LUA_TSTRING && push_marked_int(L, -1)) {
        lua_replace(L, -2);
    } else if (lua_istable(L, -1)) {
        if (marks && is_empty_mark(L, -1)) {
            lua_pop(L, 1);
            push_empty_array(L);
        } else if (flags) {
            normalise(L, 0, marks);
        }
    }
    return 1;
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
        int ok = 1;
        encode_number(L, lua_absindex(L, -1), &nb, &ok);
        if (ok) lua_pushlstring(L, nb.data, nb.len);
        fy_buf_free(&nb);
        if (ok) return FY_OK;
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
 * into a scratch table (which keeps them alive), sorted, then written. */
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
    struct sorted_key *keys = n ? malloc((size_t)n * sizeof *keys) : NULL;
    if (n && !keys) {
        lua_settop(L, scratch - 1);
        snprintf(e->err, e->errlen, "cannot encode: out of memory");
        return FY_ERR;
    }
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
    free(keys);
    lua_settop(L, scratch - 1);
    return rc;
}

static int encode_table(lua_State *L, int idx, struct enc *e, int depth) {
    if (depth > JSON_MAX_DEPTH) {
        snprintf(e->err, e->errlen, "cannot encode: nested deeper than %d levels (a cycle?)", JSON_MAX_DEPTH);
        return FY_ERR;
    }
    struct fy_buf *b = e->b;
    int marked = 0;
    if (lua_getmetatable(L, idx)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
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

static int encode_value(lua_State *L, int idx, struct enc *e, int depth) {
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
        if (lua_touserdata(L, idx) == json_null) { fy_buf_puts(e->b, "null"); return FY_OK; }
        break;
    case LUA_TTABLE:
        return encode_table(L, idx, e, depth);
    }
    snprintf(e->err, e->errlen, "cannot encode a %s as JSON", luaL_typename(L, idx));
    return FY_ERR;
}

int fy_json_encode_opt(lua_State *L, int idx, struct fy_buf *b, int sorted, char *err, size_t errlen) {
    struct enc e = {b, sorted, err, errlen};
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
    char err[256];
    struct fy_buf b = {0};
    if (fy_json_encode_opt(L, 1, &b, sorted, err, sizeof err) != FY_OK) {
        fy_buf_free(&b);
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushlstring(L, b.data, b.len);
    fy_buf_free(&b);
    return 1;
}

static int json_array(lua_State *L) {
    if (lua_isnoneornil(L, 1)) lua_newtable(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_setmetatable(L, 1);
    return 1;
}

int luaopen_ferry_json(lua_State *L) {
    luaopen_cjson(L);                       /* a private cjson instance */
    lua_getfield(L, -1, "new");
    lua_call(L, 0, 1);
    lua_getfield(L, -1, "null");
    json_null = lua_touserdata(L, -1);
    lua_getfield(L, -2, "decode");
    lua_createtable(L, 0, 5);
    lua_insert(L, -2);
    lua_pushcclosure(L, json_decode, 1);
    lua_setfield(L, -2, "decode");
    lua_pushcfunction(L, json_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, json_array);
    lua_setfield(L, -2, "array");
    lua_insert(L, -2);
    lua_setfield(L, -2, "null");
    lua_newtable(L);
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__name");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_replace(L, -3);                     /* drop cjson module tables */
    lua_pop(L, 1);
    return 1;
}
