/* ferry.postgres, the Lua module over fy_pg.c (see fy_lua_pg.c). */
#ifndef FY_LUA_PG_H
#define FY_LUA_PG_H

#include <lua.h>

struct fy_freshness;

int luaopen_ferry_postgres(lua_State *L);

/* Forget the PostgreSQL databases the run that ended loaded into; with f,
 * write f's ferry_freshness row into each, and into `declared` (the
 * database its sink names; may be NULL) even when the run loaded nothing
 * (a failure is a warning in the log: the run's outcome stands). */
void fy_lua_pg_take_loaded(lua_State *L, const char *declared, const struct fy_freshness *f);

#endif
