/* The per-record fast path of source schema drift; see fy_schema.h. */
#include "fy_schema.h"
#include "fy_json.h"

#include <lauxlib.h>

/* The type bit of the value at idx (an absolute index). A table is an
 * array when it has [1] or carries json.array's marker (an empty [] that
 * was decoded), else an object: as ferry.json encodes it. */
static int type_bit(lua_State *L, int idx) {
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return FY_SCHEMA_STRING;
    case LUA_TNUMBER: return lua_isinteger(L, idx) ? FY_SCHEMA_INTEGER : FY_SCHEMA_FLOAT;
    case LUA_TBOOLEAN: return FY_SCHEMA_BOOLEAN;
    case LUA_TLIGHTUSERDATA: return lua_touserdata(L, idx) == NULL ? FY_SCHEMA_NULL : FY_SCHEMA_OTHER;
    case LUA_TTABLE: {
        int array = lua_rawgeti(L, idx, 1) != LUA_TNIL;
        lua_pop(L, 1);
        if (!array && lua_getmetatable(L, idx)) {
            lua_rawgetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
            array = lua_rawequal(L, -1, -2);
            lua_pop(L, 2);
        }
        return array ? FY_SCHEMA_ARRAY : FY_SCHEMA_OBJECT;
    }
    default: return FY_SCHEMA_OTHER;
    }
}

/* Is every field of the table at rec known to masks (both absolute
 * indexes)? With subs (non-zero), the fields of its object values are
 * checked against their level in subs, one level down only. */
static int fields_known(lua_State *L, int masks, int rec, int subs) {
    lua_pushnil(L);
    while (lua_next(L, rec)) {
        int value = lua_gettop(L), bit = type_bit(L, value);
        lua_pushvalue(L, value - 1);
        lua_rawget(L, masks);
        int known = (lua_tointeger(L, -1) & bit) != 0;
        lua_pop(L, 1);
        if (known && subs && bit == FY_SCHEMA_OBJECT) {
            lua_pushvalue(L, value - 1);
            if (lua_rawget(L, subs) == LUA_TTABLE) {
                lua_getfield(L, -1, "masks");
                known = lua_type(L, -1) != LUA_TTABLE || fields_known(L, lua_gettop(L), value, 0);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        if (!known) {
            lua_pop(L, 2);
            return 0;
        }
        lua_pop(L, 1);
    }
    return 1;
}

int fy_schema_lua_known(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checkstack(L, 12, "schema_known");
    lua_pushboolean(L, lua_type(L, 3) != LUA_TTABLE || fields_known(L, 1, 3, 2));
    return 1;
}
