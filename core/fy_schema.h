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

/* internal.schema_checker(masks, subs, scan) -> observe, for one tracker.
 * observe(record) does nothing when the record holds nothing new for the
 * tracker: every field's type bit is in masks[field], and for a field
 * whose value is an object with a level subs[field] (= { masks = {...} }),
 * every field of that object is known to that level in the same way.
 * Otherwise it calls scan(record, n), n the record's position among the
 * tables observed (the tracker's Lua side, which updates the masks: they
 * must change only then, as observe caches what it read of them).
 * A record ferry.jsonl built last comes with its shape (fy_vm's
 * shape_record, fy_json_shape): observe skips one whose shape it found
 * known before, until the next scan. observe() returns how many tables it
 * observed; other values are ignored.
 * Raises on misuse (arguments of the wrong type) and with what scan raises. */
int fy_schema_lua_checker(lua_State *L);

#endif
