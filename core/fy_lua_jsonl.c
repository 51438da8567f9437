/* ferry.jsonl: JSON lines, streamed one line at a time.
 *
 *   local r = ferry.jsonl.open(path [, { max_line = bytes, encoding = "utf-8" | "latin1" }])
 *   for line, record, err, raw, truncated in r:rows() do ... end
 *
 * Each non-blank line yields its 1-based line number and the decoded value.
 * A bad line yields line, nil, err and its text, and iteration goes on:
 * - not valid JSON, or holding a NUL byte (never valid in JSON text; the
 *   whole line is kept, by length, never cut at the NUL);
 * - not valid UTF-8 (with encoding "utf-8", the default; "latin1" reads
 *   every byte as Latin-1 instead);
 * - longer than max_line (default 16 MiB): skipped while reading, never held
 *   whole; raw is its first 200 bytes and truncated is true.
 * A read error yields line, nil, err and nothing else, then ends.
 *
 * Lines are read through a fixed 64 KiB buffer into a line buffer that grows
 * to the longest line read, at most max_line bytes. */
#include "fy_common.h"
#include "fy_vm.h"
#include "fy_sandbox.h"

#include <limits.h>
#include "fy_config.h"
#include "fy_buf.h"
#include "fy_utf8.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READER_MT "ferry.jsonl.reader"
#define DEFAULT_MAX_LINE (16u << 20)
#define READ_SIZE (64u << 10)
#define EXCERPT 200

struct reader {
    FILE *fp;              /* NULL once closed */
    char *rbuf;            /* read buffer, READ_SIZE bytes */
    size_t rpos, rlen;     /* unread bytes are rbuf[rpos..rlen) */
    char *line;            /* the current line (or an over-long one's first bytes) */
    size_t len, cap;
    size_t total;          /* bytes of the current line before its LF, stored or not */
    int blank;             /* every byte of the current line so far is whitespace */
    struct fy_vm *vm;      /* whose limits.memory the buffers count against */
    size_t held;           /* bytes counted there */
    size_t lineno;
    size_t max_line;
    int latin1;            /* encoding = "latin1" */
    int eof;
};

static int reader_close(lua_State *L) {
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    if (r->fp) fclose(r->fp);
    free(r->line);
    if (r->vm) fy_vm_hold(r->vm, &r->held, 0);
    free(r->rbuf);
    r->fp = NULL;
    r->line = r->rbuf = NULL;
    r->cap = 0;
    return 0;
}

static int jsonl_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    char real[PATH_MAX];
    if (fy_sandbox_lua_path(L, path, FY_PATH_READ, real, sizeof real) != FY_OK) return 2;
    path = real;
    size_t max_line = DEFAULT_MAX_LINE;
    int latin1 = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "max_line");
        if (!lua_isnil(L, -1)) {
            lua_Integer n = luaL_checkinteger(L, -1);
            if (n < 1) return luaL_error(L, "ferry.jsonl.open: max_line must be at least 1");
            max_line = (size_t)n;
        }
        lua_getfield(L, 2, "encoding");
        static const char *const encodings[] = {"utf-8", "latin1", NULL};
        if (!lua_isnil(L, -1)) latin1 = luaL_checkoption(L, -1, NULL, encodings) == 1;
        lua_pop(L, 2);
    }
    struct reader *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    r->vm = fy_vm_of(L);
    luaL_setmetatable(L, READER_MT);
    r->max_line = max_line;
    r->latin1 = latin1;
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
        return 2;
    }
    r->rbuf = malloc(READ_SIZE);
    if (!r->rbuf) return luaL_error(L, "ferry.jsonl.open: out of memory");
    return 1;
}

/* Append n bytes of the current line, storing only what fits in max_line
 * (or, once it is over, nothing more). Returns FY_OK or FY_ERR (no memory). */
static int line_add(struct reader *r, const char *s, size_t n) {
    for (size_t i = 0; r->blank && i < n; i++)
        r->blank = s[i] == ' ' || s[i] == '\t' || s[i] == '\r';
    size_t keep = r->total >= r->max_line ? 0 : r->max_line - r->total;
    if (keep > n) keep = n;
    r->total += n;
    if (!keep) return FY_OK;
    if (r->len + keep > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + keep) cap *= 2;
        if (cap > r->max_line) cap = r->max_line;
        char *nl = realloc(r->line, cap);
        if (!nl) return FY_ERR;
        r->line = nl;
        r->cap = cap;
    }
    memcpy(r->line + r->len, s, keep);
    r->len += keep;
    return FY_OK;
}

/* Read the next line (without its LF) into r->line, memory bounded by
 * max_line: a longer line is read to its end but only its first max_line
 * bytes are stored, and r->total says how long it was. Returns 1 for a
 * line, 0 at end of input, -1 on a read error or out of memory (errno). */
static int line_next(struct reader *r) {
    r->len = r->total = 0;
    r->blank = 1;
    for (;;) {
        if (r->rpos == r->rlen) {
            if (r->eof) return r->total ? 1 : 0;
            errno = 0;
            r->rlen = fread(r->rbuf, 1, READ_SIZE, r->fp);
            r->rpos = 0;
            if (r->rlen == 0) {
                if (ferror(r->fp)) {
                    if (!errno) errno = EIO;
                    return -1;
                }
                r->eof = 1;
                continue;
            }
        }
        const char *s = r->rbuf + r->rpos, *nl = memchr(s, '\n', r->rlen - r->rpos);
        size_t n = nl ? (size_t)(nl - s) : r->rlen - r->rpos;
        if (line_add(r, s, n) != FY_OK) {
            errno = ENOMEM;
            return -1;
        }
        r->rpos += n + (nl != NULL);
        if (nl) return 1;
    }
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* Yield line, nil, "line N: <why>", raw (the line's text as read). */
static int bad_line(lua_State *L, struct reader *r, size_t len, const char *why) {
    lua_pushinteger(L, (lua_Integer)r->lineno);
    lua_pushnil(L);
    lua_pushfstring(L, "line %I: %s", (lua_Integer)r->lineno, why);
    lua_pushlstring(L, r->line, len);
    return 4;
}

/* The string at idx held bytes that are not UTF-8: the line is decoded
 * with each replaced by U+FFFD to find the field (never converts a number). */
static int not_utf8(lua_State *L, int idx) {
    size_t n;
    if (lua_type(L, idx) != LUA_TSTRING) return 0;
    const char *s = lua_tolstring(L, idx, &n);
    return memmem(s, n, "\xEF\xBF\xBD", 3) != NULL;
}

/* Write into out the path ("contact.name", "tags[2]": 0-based, as in JSON
 * paths) of a string value in the decoded value at idx whose text is not
 * UTF-8, so the reason names the field: returns 1; or the path of the object
 * holding such a key: returns 2; 0 when none is found. The search stops at
 * depth 32. */
static int bad_text_field(lua_State *L, int idx, char *out, size_t cap, int depth) {
    if (lua_type(L, idx) != LUA_TTABLE || depth > 32) return 0;
    size_t used = strlen(out);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int found = 0;
        if (not_utf8(L, -2))
            found = 2;                                   /* the key itself: name its object */
        else if (lua_type(L, -2) == LUA_TNUMBER)
            snprintf(out + used, cap - used, "[%lld]", (long long)lua_tointeger(L, -2) - 1);
        else
            snprintf(out + used, cap - used, "%s%s", used ? "." : "", lua_tostring(L, -2));
        if (!found && not_utf8(L, -1)) found = 1;
        if (!found) found = bad_text_field(L, lua_gettop(L), out, cap, depth + 1);
        if (found) {
            lua_pop(L, 2);
            return found;
        }
        out[used] = '\0';
        lua_pop(L, 1);
    }
    return 0;
}

/* Iterator step: upvalue 1 is the reader, upvalue 2 ferry.json.decode. */
static int rows_next(lua_State *L) {
    struct reader *r = luaL_checkudata(L, lua_upvalueindex(1), READER_MT);
    if (!r->fp) return 0;
    for (;;) {
        int rc = line_next(r);
        if (rc > 0 && fy_vm_hold(r->vm, &r->held, r->cap + READ_SIZE) != FY_OK) {
            lua_pushinteger(L, (lua_Integer)r->lineno + 1);
            lua_pushnil(L);
            lua_pushfstring(L, "line %I: the line does not fit in the integration's memory limit "
                            "(limits.memory in the config); the rest of the file was not read",
                            (lua_Integer)r->lineno + 1);
            fclose(r->fp);
            r->fp = NULL;
            return 3;
        }
        if (rc == 0) return 0;
        if (rc < 0) {                                 /* nothing after it can be read */
            lua_pushinteger(L, (lua_Integer)r->lineno + 1);
            lua_pushnil(L);
            lua_pushfstring(L, "line %I: read error: %s", (lua_Integer)r->lineno + 1, strerror(errno));
            fclose(r->fp);
            r->fp = NULL;
            return 3;
        }
        r->lineno++;
        if (r->blank) continue;                   /* blank whatever its length */
        if (r->total > r->max_line) {
            char why[128];
            snprintf(why, sizeof why, "longer than %zu bytes (%zu bytes); skipped", r->max_line, r->total);
            bad_line(L, r, r->len < EXCERPT ? r->len : EXCERPT, why);
            lua_pushboolean(L, 1);
            return 5;
        }
        size_t len = r->len;
        if (is_blank(r->line, len)) continue;
        while (len && r->line[len - 1] == '\r') len--;
        const char *nul = memchr(r->line, '\0', len);
        if (nul) {
            char why[96];
            snprintf(why, sizeof why, "NUL byte at byte %zu (not allowed in JSON text)", (size_t)(nul - r->line) + 1);
            return bad_line(L, r, len, why);
        }
        lua_pushinteger(L, (lua_Integer)r->lineno);
        lua_pushvalue(L, lua_upvalueindex(2));
        if (r->latin1) {
            luaL_Buffer b;
            char *out = luaL_buffinitsize(L, &b, 2 * len);
            luaL_pushresultsize(&b, fy_utf8_from_latin1(out, r->line, len));
        } else {
            size_t at = fy_utf8_check(r->line, len);
            if (at < len) {
                char why[512], field[256] = "";
                struct fy_buf fixed = {0};            /* decode it anyway, to name the field */
                fy_utf8_sanitize(&fixed, r->line, len);
                lua_pushlstring(L, fixed.data ? fixed.data : "", fixed.len);
                fy_buf_free(&fixed);
                lua_call(L, 1, 1);
                int found = lua_isnil(L, -1) ? 0 : bad_text_field(L, lua_gettop(L), field, sizeof field, 0);
                lua_pop(L, 2);                        /* the value, the line number */
                char what[300] = "";
                if (found == 1) snprintf(what, sizeof what, "field '%s' is ", field);
                else if (found == 2 && *field) snprintf(what, sizeof what, "a key in '%s' is ", field);
                else if (found == 2) snprintf(what, sizeof what, "a key is ");
                snprintf(why, sizeof why, "%snot valid UTF-8 (byte 0x%02X at byte %zu; encoding = \"latin1\" "
                         "reads Latin-1)", what, (unsigned char)r->line[at], at + 1);
                return bad_line(L, r, len, why);
            }
            lua_pushlstring(L, r->line, len);
        }
        lua_call(L, 1, 2);
        if (!lua_isnil(L, -2)) {
            lua_pop(L, 1);
            return 2;
        }
        lua_pushfstring(L, "line %I: %s", (lua_Integer)r->lineno, lua_tostring(L, -1));
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
