/* JSON text to Lua values in one recursive-descent pass, RFC 8259 strictly:
 * only the grammar's numbers, escapes and whitespace, valid UTF-8, no raw
 * control characters, nothing after the value. See fy_json.h for what each
 * JSON value becomes.
 *
 * Containers collect their items on the Lua stack, CHUNK slots at a time,
 * and make their table once they know how many there are, so a record's
 * table is allocated at its final size. */
#include "fy_json.h"
#include "fy_common.h"
#include "fy_utf8.h"

#include <lauxlib.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 128                         /* stack slots a container fills before moving them into its table */
#define MAX_SAFE_INT 9007199254740992.0   /* 2^53 */

struct parser {
    lua_State *L;
    const unsigned char *start;   /* the text, for error positions */
    const unsigned char *p;       /* the next byte to read */
    const unsigned char *end;
    int depth;                    /* arrays and objects open around p */
    int array_mt;                 /* stack index of the array metatable */
    char *err;
    size_t errlen;
};

/* Bytes that may appear as they are inside a string (no quote, backslash,
 * control character or non-ASCII byte). */
static const unsigned char plain[256] = {
#define R8(v) v, v, v, v, v, v, v, v
    R8(0), R8(0), R8(0), R8(0),                       /* 0x00-0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, R8(1), R8(1), R8(1),      /* 0x20-0x3f: '"' is 0x22 */
    R8(1), R8(1), R8(1), 1, 1, 1, 1, 0, 1, 1, 1,      /* 0x40-0x5f: '\\' is 0x5c */
    R8(1), R8(1), R8(1), R8(1),                       /* 0x60-0x7f */
#undef R8
};

static int is_digit(const unsigned char *p, const unsigned char *end) {
    return p < end && *p >= '0' && *p <= '9';
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* Record "WHAT at character N" for the byte at `at`; returns FY_ERR. */
__attribute__((format(printf, 3, 4)))
static int fail(struct parser *ps, const unsigned char *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ps->err, ps->errlen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < ps->errlen)
        snprintf(ps->err + n, ps->errlen - (size_t)n, " at character %zu", (size_t)(at - ps->start) + 1);
    return FY_ERR;
}

/* The four hex digits at p (before end) as a number, or -1. */
static long hex4(const unsigned char *p, const unsigned char *end) {
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        if (c >= '0' && c <= '9') v = v * 16 + (c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') v = v * 16 + ((c | 0x20) - 'a' + 10);
        else return -1;
    }
    return v;
}

static char *put_utf8(char *o, long cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Push the contents p..q (already checked to be well-formed UTF-8 without
 * control characters, every backslash followed by a byte before q) with
 * their escapes decoded. The result is never longer than the text. */
static int unescape(struct parser *ps, const unsigned char *p, const unsigned char *q) {
    luaL_Buffer b;
    char *out = luaL_buffinitsize(ps->L, &b, (size_t)(q - p));
    char *o = out;
    for (;;) {
        const unsigned char *bs = memchr(p, '\\', (size_t)(q - p));
        if (!bs) bs = q;
        memcpy(o, p, (size_t)(bs - p));
        o += bs - p;
        if (bs == q) break;
        p = bs;
        char c;
        switch (p[1]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            long cp = hex4(p + 2, q), low;
            if (cp < 0) return fail(ps, p, "invalid \\u escape (four hex digits expected)");
            if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(ps, p, "lone surrogate \\u%.4s", (const char *)p + 2);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                low = q - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8, q) : -1;
                if (low < 0xDC00 || low > 0xDFFF)
                    return fail(ps, p, "lone surrogate \\u%.4s", (const char *)p + 2);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                p += 6;
            }
            o = put_utf8(o, cp);
            p += 6;
            continue;
        }
        default:
            if (p[1] >= 0x20 && p[1] < 0x7F) return fail(ps, p, "invalid escape \\%c", p[1]);
            return fail(ps, p, "invalid escape");
        }
        *o++ = c;
        p += 2;
    }
    luaL_pushresultsize(&b, (size_t)(o - out));
    return FY_OK;
}

/* The string whose opening quote is at ps->p: push it. A first pass checks
 * it and finds its end; only strings with escapes need a second. */
static int parse_string(struct parser *ps) {
    const unsigned char *open = ps->p, *p = open + 1, *end = ps->end;
    int escapes = 0;
    for (;;) {
        while (p < end && plain[*p]) p++;
        if (p == end) return fail(ps, open, "unterminated string");
        if (*p == '"') break;
        if (*p == '\\') {
            if (end - p < 2) return fail(ps, open, "unterminated string");
            escapes = 1;
            p += 2;
        } else if (*p < 0x20) {
            return fail(ps, p, "control character in string (U+%04X must be escaped)", *p);
        } else {
            int n = fy_utf8_length(p, end);
            if (!n) return fail(ps, p, "invalid UTF-8 in string");
            p += n;
        }
    }
    ps->p = p + 1;
    if (!escapes) {
        lua_pushlstring(ps->L, (const char *)open + 1, (size_t)(p - open - 1));
        return FY_OK;
    }
    return unescape(ps, open + 1, p);
}

/* The C locale, for strtod whatever the process's locale. */
static locale_t c_locale(void) {
    static locale_t c;
    if (!c) c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return c;
}

/* A number per the RFC's grammar at ps->p: push it (see fy_json.h). */
static int parse_number(struct parser *ps) {
    lua_State *L = ps->L;
    const unsigned char *start = ps->p, *p = start, *end = ps->end;
    int neg = *p == '-', overflow = 0, fraction = 0, nonzero = 0;
    uint64_t u = 0;
    if (neg) p++;
    if (!is_digit(p, end)) return fail(ps, start, "invalid number");
    if (*p == '0') {
        p++;
        if (is_digit(p, end)) return fail(ps, start, "invalid number (leading zero)");
    } else {
        nonzero = 1;
        for (; is_digit(p, end); p++) {
            unsigned d = *p - '0';
            if (u > (UINT64_MAX - d) / 10) overflow = 1;
            else u = u * 10 + d;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (!is_digit(p, end)) return fail(ps, start, "invalid number (digits expected after '.')");
        for (; is_digit(p, end); p++) nonzero |= *p != '0';
        fraction = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, end)) return fail(ps, start, "invalid number (digits expected in the exponent)");
        while (is_digit(p, end)) p++;
        fraction = 1;
    }
    ps->p = p;
    size_t n = (size_t)(p - start);
    if (!fraction) {
        if (!overflow && u <= (uint64_t)INT64_MAX) lua_pushinteger(L, neg ? -(lua_Integer)u : (lua_Integer)u);
        else if (!overflow && neg && u == (uint64_t)INT64_MAX + 1) lua_pushinteger(L, INT64_MIN);
        else lua_pushlstring(L, (const char *)start, n);     /* past 64 bits: the exact text */
        return FY_OK;
    }
    /* strtod needs a terminated copy: the text goes on after the number */
    char small[64];
    const char *text = small;
    if (n < sizeof small) {
        memcpy(small, start, n);
        small[n] = '\0';
    } else {
        text = lua_pushlstring(L, (const char *)start, n);
    }
    locale_t c = c_locale();
    double d = c ? strtod_l(text, NULL, c) : strtod(text, NULL);
    if (text != small) lua_pop(L, 1);
    if (isinf(d) || (d == 0 && nonzero)) lua_pushlstring(L, (const char *)start, n);   /* beyond a double */
    else if (d == floor(d) && fabs(d) <= MAX_SAFE_INT) lua_pushinteger(L, (lua_Integer)d);
    else lua_pushnumber(L, d);
    return FY_OK;
}

static int parse_value(struct parser *ps);

/* Store the k items above t (nil until now, or the table) at n+1..n+k. */
static void flush_array(lua_State *L, int t, lua_Integer *n, int k) {
    if (lua_isnil(L, t)) {
        lua_createtable(L, k, 0);
        lua_replace(L, t);
    }
    for (int i = k; i >= 1; i--) lua_rawseti(L, t, *n + i);
    *n += k;
}

/* Store the k key/value pairs above t, in order so the last duplicate wins. */
static void flush_object(lua_State *L, int t, int k) {
    if (lua_isnil(L, t)) {
        lua_createtable(L, 0, k);
        lua_replace(L, t);
    }
    for (int i = 0; i < k; i++) {
        lua_pushvalue(L, t + 1 + 2 * i);
        lua_pushvalue(L, t + 2 + 2 * i);
        lua_rawset(L, t);
    }
    lua_settop(L, t);
}

/* Push the empty table that stands for [] or {} into slot t. */
static void empty_container(struct parser *ps, int t, int array) {
    lua_createtable(ps->L, 0, 0);
    if (array) {
        lua_pushvalue(ps->L, ps->array_mt);
        lua_setmetatable(ps->L, -2);
    }
    lua_replace(ps->L, t);
}

/* The array or object whose bracket is at ps->p. */
static int parse_container(struct parser *ps) {
    lua_State *L = ps->L;
    const unsigned char *open = ps->p;
    int array = *open == '[', k = 0;
    lua_Integer n = 0;
    if (++ps->depth > FY_JSON_MAX_DEPTH)
        return fail(ps, open, "nested deeper than %d levels", FY_JSON_MAX_DEPTH);
    luaL_checkstack(L, CHUNK + 8, "JSON nesting");
    lua_pushnil(L);                         /* the table, made at the first flush */
    int t = lua_gettop(L);
    ps->p = skip_ws(ps->p + 1, ps->end);
    if (ps->p < ps->end && *ps->p == (array ? ']' : '}')) {
        ps->p++;
        empty_container(ps, t, array);
        ps->depth--;
        return FY_OK;
    }
    for (;;) {
        if (!array) {
            if (ps->p == ps->end || *ps->p != '"')
                return fail(ps, ps->p, ps->p == ps->end ? "unexpected end of input (a key expected)"
                                                        : "a string key expected");
            if (parse_string(ps) != FY_OK) return FY_ERR;
            ps->p = skip_ws(ps->p, ps->end);
            if (ps->p == ps->end || *ps->p != ':')
                return fail(ps, ps->p, ps->p == ps->end ? "unexpected end of input (':' expected)" : "':' expected");
            ps->p = skip_ws(ps->p + 1, ps->end);
        }
        if (parse_value(ps) != FY_OK) return FY_ERR;
        if (++k == (array ? CHUNK : CHUNK / 2)) {
            if (array) flush_array(L, t, &n, k);
            else flush_object(L, t, k);
            k = 0;
        }
        ps->p = skip_ws(ps->p, ps->end);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p = skip_ws(ps->p + 1, ps->end);
            continue;
        }
        if (ps->p < ps->end && *ps->p == (array ? ']' : '}')) break;
        if (ps->p == ps->end) return fail(ps, ps->p, "unexpected end of input (unclosed %s)", array ? "array" : "object");
        return fail(ps, ps->p, array ? "',' or ']' expected" : "',' or '}' expected");
    }
    ps->p++;
    if (array) flush_array(L, t, &n, k);
    else flush_object(L, t, k);
    ps->depth--;
    return FY_OK;
}

static int literal(struct parser *ps, const char *word, size_t n) {
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return 0;
    ps->p += n;
    return 1;
}

/* The value at ps->p (not whitespace): push it. */
static int parse_value(struct parser *ps) {
    const unsigned char *p = ps->p;
    if (p == ps->end) return fail(ps, p, "unexpected end of input (a value expected)");
    switch (*p) {
    case '"': return parse_string(ps);
    case '{': case '[': return parse_container(ps);
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': return parse_number(ps);
    case 't': if (literal(ps, "true", 4)) { lua_pushboolean(ps->L, 1); return FY_OK; } break;
    case 'f': if (literal(ps, "false", 5)) { lua_pushboolean(ps->L, 0); return FY_OK; } break;
    case 'n': if (literal(ps, "null", 4)) { lua_pushlightuserdata(ps->L, NULL); return FY_OK; } break;
    case '+': case '.': return fail(ps, p, "invalid number");
    }
    if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') return fail(ps, p, "invalid literal");
    if (*p >= 0x20 && *p < 0x7F) return fail(ps, p, "unexpected character '%c'", *p);
    return fail(ps, p, "unexpected byte 0x%02X", *p);
}

int fy_json_decode(lua_State *L, const char *s, size_t len, char *err, size_t errlen) {
    const unsigned char *u = (const unsigned char *)s;
    struct parser ps = {L, u, u, u + len, 0, 0, err, errlen};
    int base = lua_gettop(L);
    luaL_checkstack(L, 4, "JSON decoding");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    ps.array_mt = base + 1;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        fail(&ps, ps.p, "byte order mark (JSON text must not begin with one)");
        goto fail;
    }
    ps.p = skip_ws(ps.p, ps.end);
    if (parse_value(&ps) != FY_OK) goto fail;
    ps.p = skip_ws(ps.p, ps.end);
    if (ps.p != ps.end) {
        fail(&ps, ps.p, "unexpected data after the value");
        goto fail;
    }
    lua_replace(L, base + 1);
    return FY_OK;
fail:
    lua_settop(L, base);
    return FY_ERR;
}
