/* ferry.log: structured logs from scripts.
 *
 *   ferry.log.info(msg [, fields])            also debug, warn, error
 *   ferry.log.write(level, msg, fields, integration, run_id)
 *
 * ctx.log (lualib/ferry/runner.lua) binds integration and run id. */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_log.h"
#include "fy_vm.h"

#include <lauxlib.h>
#include <string.h>

/* Log msg (arg `m`) with the fields table at arg `f` (may be none/nil). */
static int log_at(lua_State *L, enum fy_log_level level, int m, int f, const char *integ, const char *run) {
    const char *msg = luaL_checkstring(L, m);
    if (!fy_log_enabled(level)) return 0;
    struct fy_buf b = {0};
    if (!lua_isnoneornil(L, f)) {
        luaL_checktype(L, f, LUA_TTABLE);
        char err[256];
        if (fy_json_encode(L, f, &b, err, sizeof err) != FY_OK) {
            fy_buf_reset(&b);
            fy_buf_puts(&b, "{\"fields_error\":");
            fy_buf_json_string(&b, err, strlen(err));
            fy_buf_putc(&b, '}');
        }
        if (b.data[0] == '{') {                     /* members only, no braces */
            b.data[b.len - 1] = '\0';
            fy_log_write(level, integ, run, msg, b.data + 1);
        } else {                                    /* a list: keep it under "fields" */
            struct fy_buf f = {0};
            fy_buf_printf(&f, "\"fields\":%s", b.data);
            fy_log_write(level, integ, run, msg, f.data);
            fy_buf_free(&f);
        }
        fy_buf_free(&b);
        return 0;
    }
    fy_log_write(level, integ, run, msg, NULL);
    return 0;
}

static int log_debug(lua_State *L) { return log_at(L, FY_LOG_DEBUG, 1, 2, NULL, NULL); }
static int log_info(lua_State *L) { return log_at(L, FY_LOG_INFO, 1, 2, NULL, NULL); }
static int log_warn(lua_State *L) { return log_at(L, FY_LOG_WARN, 1, 2, NULL, NULL); }
static int log_error(lua_State *L) { return log_at(L, FY_LOG_ERROR, 1, 2, NULL, NULL); }

static int log_write(lua_State *L) {
    enum fy_log_level level;
    if (fy_log_level_parse(luaL_checkstring(L, 1), &level) != FY_OK || level == FY_LOG_OFF)
        return luaL_argerror(L, 1, "expected debug, info, warn or error");
    return log_at(L, level, 2, 3, luaL_optstring(L, 4, NULL), luaL_optstring(L, 5, NULL));
}

static int log_enabled(lua_State *L) {
    enum fy_log_level level;
    if (fy_log_level_parse(luaL_checkstring(L, 1), &level) != FY_OK)
        return luaL_argerror(L, 1, "expected debug, info, warn or error");
    lua_pushboolean(L, fy_log_enabled(level));
    return 1;
}

int luaopen_ferry_log(lua_State *L) {
    static const luaL_Reg funcs[] = {
        {"debug", log_debug}, {"info", log_info}, {"warn", log_warn}, {"error", log_error},
        {"write", log_write}, {"enabled", log_enabled}, {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
