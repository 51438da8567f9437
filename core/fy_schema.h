/* Source schema drift: the C half of lualib/ferry/schema.lua's tracker.
 * The tracker is Lua; this is its per-record fast path, the one part that
 * runs for every record a run extracts. */
#ifndef FY_SCHEMA_H
#define FY_SCHEMA_H

#include <lua.h>

/* The JSON type of a value as a bit, as schema.lua numbers them. */
enum fy_schema_type {
    FY_SCHEMA_STRING = 1, FY_SCHEMA_INTEGER = 2, FY_SCHEMA_FLOAT = 4, FY_SCHEMA_BOOLEAN = 8,
    FY_SCHEMA_OBJECT = 16, FY_SCHEMA_ARRAY = 32, FY_SCHEMA_NULL = 64, FY_SCHEMA_OTHER = 128
};

/* internal.schema_known(masks, subs, record) -> boolean: true when the
 * record holds nothing new for the tracker, i.e. every field's type bit is
 * in masks[field], and for a field whose value is an object with a level
 * subs[field], every field of that object is known to it in the same way
 * (subs[field] = { masks = {...} }). A record that is not a table is known.
 * Raises only on misuse (masks or subs not tables). */
int fy_schema_lua_known(lua_State *L);

#endif
