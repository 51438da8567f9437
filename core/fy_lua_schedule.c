/* Reading a script's `schedule` field from Lua: the string and table forms
 * of fy_schedule.h, for ferry serve and for ferry.time.schedule_check. */
#include "fy_schedule.h"
#include "fy_time.h"
#include "fy_common.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Parse expr in zone tz. The expression is checked in UTC first, so a
 * failure in the second step is the zone's: reported as "tz: ..." when
 * the script named it (tz_key) or as the config's timezone otherwise.
 * Expression errors get `prefix` ("cron: " in the table form). */
static int parse_in_zone(const char *expr, const char *tz, int tz_key, const char *prefix,
                         struct fy_schedule **out, char *err, size_t errlen) {
    char e[FY_TIME_ERR_MAX + 256];
    struct fy_schedule *s = NULL;

    if (fy_schedule_parse(&s, expr, "UTC", e, sizeof e) != FY_OK) {
        fy_errf(err, errlen, "%s%s", prefix, e);
        return FY_ERR;
    }
    if (tz != NULL && strcmp(tz, "UTC") != 0 && fy_schedule_interval(s) == 0 &&
        !fy_schedule_manual(s)) {
        fy_schedule_free(s);
        if (fy_schedule_parse(&s, expr, tz, e, sizeof e) != FY_OK) {
            if (tz_key) fy_errf(err, errlen, "tz: %s", e);
            else fy_errf(err, errlen, "%s (the timezone in the config)", e);
            return FY_ERR;
        }
    }
    *out = s;
    return FY_OK;
}

/* The string value of key k of the table at idx, NULL when absent; sets
 * *bad when present but not a string. Leaves the value on the stack. */
static const char *field_string(lua_State *L, int idx, const char *k, int *bad) {
    lua_pushstring(L, k);
    int t = lua_rawget(L, idx);
    *bad = t != LUA_TNIL && t != LUA_TSTRING;
    return t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
}

static int from_table(lua_State *L, int idx, const char *default_tz, struct fy_schedule **out,
                      double *jitter, char *err, size_t errlen) {
    const char *cron, *every, *tz, *jit;
    int bad_cron, bad_every, bad_tz, bad_jit;
    double j = 0;
    char e[FY_TIME_ERR_MAX], expr[FY_TIME_ERR_MAX];

    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (k == NULL || (strcmp(k, "cron") && strcmp(k, "every") && strcmp(k, "tz") &&
                          strcmp(k, "jitter"))) {
            if (k) fy_errf(err, errlen, "%s: unknown schedule setting (use cron, every, tz, jitter)", k);
            else fy_errf(err, errlen, "unknown schedule setting of type %s (use cron, every, tz, "
                         "jitter)", luaL_typename(L, -2));
            return FY_ERR;
        }
        lua_pop(L, 1);
    }
    cron = field_string(L, idx, "cron", &bad_cron);
    every = field_string(L, idx, "every", &bad_every);
    tz = field_string(L, idx, "tz", &bad_tz);
    jit = field_string(L, idx, "jitter", &bad_jit);
    if (bad_cron || bad_every || bad_tz || bad_jit) {
        const char *k = bad_cron ? "cron" : bad_every ? "every" : bad_tz ? "tz" : "jitter";
        static const char *const hint[] = {"a cron expression like \"0 7 * * 1-5\"",
                                           "a duration like \"1h\"",
                                           "a time zone name like \"Europe/Berlin\"",
                                           "a duration like \"30s\""};
        fy_errf(err, errlen, "%s: expected %s", k,
                hint[bad_cron ? 0 : bad_every ? 1 : bad_tz ? 2 : 3]);
        return FY_ERR;
    }
    if ((cron == NULL) == (every == NULL)) {
        fy_errf(err, errlen, "expected exactly one of cron and every, e.g. { cron = \"0 7 * * "
                "1-5\", tz = \"Europe/Berlin\" } or { every = \"1h\" }");
        return FY_ERR;
    }
    if (every != NULL && tz != NULL) {
        fy_errf(err, errlen, "tz: only a cron schedule has a time zone (every counts real time)");
        return FY_ERR;
    }
    if (jit != NULL && fy_duration_parse(jit, strlen(jit), &j, e, sizeof e) != FY_OK) {
        fy_errf(err, errlen, "jitter: %s", e);
        return FY_ERR;
    }
    if (cron != NULL) {
        const char *c = cron;
        while (*c == ' ' || *c == '\t') c++;
        if (strncmp(c, "every", 5) == 0 || strncmp(c, "manual", 6) == 0) {
            fy_errf(err, errlen, "cron: expected a cron expression, got \"%.60s\" (write "
                    "{ every = \"15m\" } or schedule = \"manual\")", cron);
            return FY_ERR;
        }
        if (parse_in_zone(cron, tz ? tz : default_tz, tz != NULL, "cron: ", out, err, errlen) != FY_OK)
            return FY_ERR;
    } else {
        snprintf(expr, sizeof expr, "every %s", every);
        if (parse_in_zone(expr, NULL, 0, "every: ", out, err, errlen) != FY_OK) return FY_ERR;
        if (j >= fy_schedule_interval(*out)) {
            char d[FY_DURATION_FORMAT_MAX];
            fy_duration_format(fy_schedule_interval(*out), d, sizeof d);
            fy_errf(err, errlen, "jitter: %s must be less than the interval (%s)", jit, d);
            fy_schedule_free(*out);
            *out = NULL;
            return FY_ERR;
        }
    }
    *jitter = j;
    return FY_OK;
}

/* See fy_schedule.h. */
int fy_schedule_from_lua(lua_State *L, int idx, const char *default_tz,
                         struct fy_schedule **out, double *jitter, char *err, size_t errlen) {
    int top = lua_gettop(L), rc;

    idx = lua_absindex(L, idx);
    *out = NULL;
    *jitter = 0;
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL:
        rc = fy_schedule_parse(out, "manual", NULL, err, errlen);
        break;
    case LUA_TSTRING:
        rc = parse_in_zone(lua_tostring(L, idx), default_tz, 0, "", out, err, errlen);
        break;
    case LUA_TTABLE:
        rc = from_table(L, idx, default_tz, out, jitter, err, errlen);
        break;
    default:
        fy_errf(err, errlen, "expected \"every 15m\", a cron expression, \"manual\" or a table "
                "{ cron = ..., tz = ... }, got %s", luaL_typename(L, idx));
        rc = FY_ERR;
    }
    lua_settop(L, top);
    return rc;
}
