/* ferry.time: Lua binding for fy_time (timestamps and durations).
 *
 *   t.parse(s)                  -> epoch, offset_minutes | nil, err
 *   t.format(epoch [, offset [, frac_digits]]) -> "2026-11-26T14:03:05Z"
 *   t.duration(s)               -> seconds | nil, err
 *   t.format_duration(seconds)  -> "1h30m"
 *   t.now()                     -> epoch seconds (float)
 *   t.schedule_check(value [, default_tz]) -> text, jitter_seconds | nil, err
 *   t.from_local(y, mo, d, H, M, S, tz [, fold]) -> epoch | nil, err
 *
 * Numbers that are whole (no fractional second) come back as Lua integers,
 * others as floats, so "ts=" .. t.parse(s) reads "ts=1795701785" and not
 * "ts=1795701785.0"; now() is always a float. Bad input strings give
 * nil, err; wrong argument types and impossible arguments raise. */
#include "fy_config.h"
#include "fy_schedule.h"
#include "fy_time.h"
#include "fy_tz.h"
#include "fy_vm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

/* Push v as an integer when it is whole and exactly representable, else as
 * a float. */
static void push_seconds(lua_State *L, double v) {
    if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53 */
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
}

/* parse(s) -> epoch, offset_minutes; nil, err on a malformed string. */
static int l_parse(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char err[FY_TIME_ERR_MAX];
    double epoch;
    int off;

    if (fy_time_parse(s, len, &epoch, &off, err, sizeof err) != FY_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    push_seconds(L, epoch);
    lua_pushinteger(L, off);
    return 2;
}

/* format(epoch [, offset [, frac_digits]]) -> string.
 * offset: nil (UTC), integer minutes east of UTC, or a string "Z", "+02:00",
 * "-0530", "+02"; within +/-18:00. frac_digits: 0-9; when absent, 0 if epoch
 * is whole and 3 otherwise. Raises on a bad offset, bad frac_digits or an
 * epoch outside years 0000-9999 in that offset. */
static int l_format(lua_State *L) {
    double epoch = luaL_checknumber(L, 1);
    int off = 0, digits;
    char buf[FY_TIME_FORMAT_MAX];
    size_t n;

    switch (lua_type(L, 2)) {
    case LUA_TNONE:
    case LUA_TNIL:
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, 2, &len);
        char err[FY_TIME_ERR_MAX];
        if (fy_time_parse_offset(s, len, &off, err, sizeof err) != FY_OK)
            return luaL_argerror(L, 2, err);
        break;
    }
    case LUA_TNUMBER: {
        lua_Integer m = luaL_checkinteger(L, 2);
        if (m < -FY_TIME_MAX_OFFSET_MIN || m > FY_TIME_MAX_OFFSET_MIN)
            return luaL_argerror(L, 2, lua_pushfstring(L,
                "offset %I minutes out of range (max +/-1080)", m));
        off = (int)m;
        break;
    }
    default:
        return luaL_typeerror(L, 2, "nil, integer minutes or offset string");
    }

    if (lua_isnoneornil(L, 3)) {
        digits = epoch == floor(epoch) ? 0 : 3;
    } else {
        lua_Integer d = luaL_checkinteger(L, 3);
        luaL_argcheck(L, d >= 0 && d <= 9, 3, "frac_digits must be 0-9");
        digits = (int)d;
    }

    n = fy_time_format(epoch, off, digits, buf, sizeof buf);
    if (n == 0)
        return luaL_argerror(L, 1, lua_pushfstring(L,
            "epoch %f out of range (years 0000-9999)", epoch));
    lua_pushlstring(L, buf, n);
    return 1;
}

/* duration(s) -> seconds; nil, err on a malformed string. */
static int l_duration(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char err[FY_TIME_ERR_MAX];
    double secs;

    if (fy_duration_parse(s, len, &secs, err, sizeof err) != FY_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    push_seconds(L, secs);
    return 1;
}

/* format_duration(seconds) -> string. Raises when seconds is not finite or
 * exceeds 1e12 in magnitude. */
static int l_format_duration(lua_State *L) {
    double secs = luaL_checknumber(L, 1);
    char buf[FY_DURATION_FORMAT_MAX];
    size_t n = fy_duration_format(secs, buf, sizeof buf);

    if (n == 0)
        return luaL_argerror(L, 1, "duration not finite or too large");
    lua_pushlstring(L, buf, n);
    return 1;
}

/* now() -> current epoch seconds as a float. */
static int l_now(lua_State *L) {
    lua_pushnumber(L, fy_time_now());
    return 1;
}

/* schedule_check(value [, default_tz]) -> text, jitter_seconds; nil, err
 * when the value is not a schedule (fy_schedule_from_lua's forms and
 * messages; a table's message starts with the key at fault, "tz: ...").
 * default_tz defaults to the config's timezone. text is the normalised
 * schedule ("every 15m", "cron 0 7 * * 1-5 (Europe/Berlin)", "manual"). */
static int l_schedule_check(lua_State *L) {
    const char *tz = luaL_optstring(L, 2, NULL);
    struct fy_schedule *s;
    double jitter;
    char err[FY_TIME_ERR_MAX + 256], text[512];

    if (tz == NULL) {
        const struct fy_vm *vm = fy_vm_of(L);
        tz = vm && vm->cfg && vm->cfg->timezone ? vm->cfg->timezone : "UTC";
    }
    if (fy_schedule_from_lua(L, 1, tz, &s, &jitter, err, sizeof err) != FY_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    snprintf(text, sizeof text, "%s", fy_schedule_text(s));
    fy_schedule_free(s);              /* before anything that may raise */
    lua_pushstring(L, text);
    push_seconds(L, jitter);
    return 2;
}

/* Zones loaded by from_local, cached per Lua state in a registry table keyed
 * by name (a map applies one zone to every record; reading the TZif file
 * each time would cost a file read per record). Each value is a userdata
 * holding the struct fy_tz pointer, freed by its __gc. */
static const char tz_cache_key = 'z';
static const char tz_mt_key = 'm';

static int tz_gc(lua_State *L) {
    struct fy_tz **p = lua_touserdata(L, 1);
    if (p && *p) {
        fy_tz_free(*p);
        *p = NULL;                    /* safe to call twice */
    }
    return 0;
}

/* The zone called `name`, loaded once per state. Returns NULL with a
 * message in err when it cannot be loaded (not cached: a zone file
 * installed later is found then). */
static const struct fy_tz *tz_cached(lua_State *L, const char *name, char *err, size_t errlen) {
    struct fy_tz **p;
    struct fy_tz *tz;

    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &tz_cache_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &tz_cache_key);
    }
    if (lua_getfield(L, -1, name) == LUA_TUSERDATA) {
        p = lua_touserdata(L, -1);
        lua_pop(L, 2);                /* the cache table keeps the userdata alive */
        return *p;
    }
    lua_pop(L, 1);
    /* the userdata exists before the zone is loaded, so nothing leaks if
     * lua_newuserdatauv raises for lack of memory */
    p = lua_newuserdatauv(L, sizeof *p, 0);
    *p = NULL;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &tz_mt_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, tz_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &tz_mt_key);
    }
    lua_setmetatable(L, -2);
    tz = fy_tz_load(name, err, errlen);
    if (tz == NULL) {
        lua_pop(L, 2);
        return NULL;
    }
    *p = tz;
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    return tz;
}

/* Check that argument `arg` is an integer in [lo, hi]; raise otherwise. */
static lua_Integer check_range(lua_State *L, int arg, lua_Integer lo, lua_Integer hi, const char *what) {
    lua_Integer v = luaL_checkinteger(L, arg);
    if (v < lo || v > hi)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s %I outside %I-%I", what, v, lo, hi));
    return v;
}

/* from_local(y, mo, d, H, M, S, tz [, fold]) -> epoch; nil, err.
 * The instant at which the wall clock in zone tz reads the given time.
 * Fields out of range (month 13, day 31 in April, hour 24) and a bad fold
 * raise: the caller parsed them. The world answers nil, err: an unknown
 * zone, a time skipped by a spring-forward change ("2026-03-29 02:30:00
 * does not exist in Europe/Berlin (clocks move forward)"), or a time
 * repeated by a fall-back change when fold is nil ("... occurs twice ...");
 * fold "earlier" or "later" picks one of the two. */
static int l_from_local(lua_State *L) {
    lua_Integer y = check_range(L, 1, 0, 9999, "year");
    lua_Integer mo = check_range(L, 2, 1, 12, "month");
    lua_Integer d = check_range(L, 3, 1, fy_time_days_in_month(y, (int)mo), "day");
    lua_Integer H = check_range(L, 4, 0, 23, "hour");
    lua_Integer M = check_range(L, 5, 0, 59, "minute");
    lua_Integer S = check_range(L, 6, 0, 59, "second");
    const char *name = luaL_checkstring(L, 7);
    const char *fold = luaL_optstring(L, 8, NULL);
    const struct fy_tz *tz;
    char err[256], msg[FY_TZ_NAME_MAX + 128];
    double out[2];
    long long local;
    int later = 0;

    if (fold != NULL) {
        if (strcmp(fold, "later") == 0) later = 1;
        else if (strcmp(fold, "earlier") != 0)
            return luaL_argerror(L, 8, "fold must be \"earlier\" or \"later\"");
    }
    tz = tz_cached(L, name, err, sizeof err);
    if (tz == NULL) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    local = (long long)fy_time_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400
          + H * 3600 + M * 60 + S;
    switch (fy_tz_resolve(tz, local, out)) {
    case FY_TZ_NORMAL:
        push_seconds(L, out[0]);
        return 1;
    case FY_TZ_FOLD:
        if (fold != NULL) {
            push_seconds(L, out[later]);
            return 1;
        }
        snprintf(msg, sizeof msg, "%04d-%02d-%02d %02d:%02d:%02d occurs twice in %s (clocks move back);"
                 " say which with fold = \"earlier\" or \"later\"",
                 (int)y, (int)mo, (int)d, (int)H, (int)M, (int)S, name);
        break;
    default:
        snprintf(msg, sizeof msg, "%04d-%02d-%02d %02d:%02d:%02d does not exist in %s (clocks move forward)",
                 (int)y, (int)mo, (int)d, (int)H, (int)M, (int)S, name);
        break;
    }
    luaL_pushfail(L);
    lua_pushstring(L, msg);
    return 2;
}

static const luaL_Reg time_funcs[] = {
    {"parse", l_parse},
    {"format", l_format},
    {"duration", l_duration},
    {"format_duration", l_format_duration},
    {"now", l_now},
    {"schedule_check", l_schedule_check},
    {"from_local", l_from_local},
    {NULL, NULL},
};

int luaopen_ferry_time(lua_State *L) {
    luaL_newlib(L, time_funcs);
    return 1;
}
