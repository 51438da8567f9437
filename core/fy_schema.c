/* The per-record fast path of source schema drift; see fy_schema.h.
 *
 * Most of its cost is Lua's own: lua_next over each record's fields. What
 * it adds per field is kept to a type switch and a probe of a small cache
 * of field masks keyed by the key string's address, so the masks table is
 * read only for keys not cached yet. Each cached key is anchored (kept in
 * a Lua table) so its address cannot be reused by another string while it
 * is cached: equal addresses then mean the same string, interned or not. */
#include "fy_schema.h"
#include "fy_json.h"
#include "fy_vm.h"

#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

#define CACHE_SLOTS 256                     /* a power of two; 6 KB per run */
#define CACHE_FILL (CACHE_SLOTS / 2)        /* entries at most: probes stay short */
#define CHECKER_MT "ferry.schema.checker"

struct slot {
    const void *level;                      /* the masks table the key belongs to */
    const void *key;                        /* the key string; NULL: empty slot */
    lua_Integer mask;
};

#define SHAPE_SLOTS 256                     /* a power of two */

struct checker {
    lua_Integer records;                    /* tables observed */
    int shapes;                             /* shape slots filled */
    uint64_t shape[SHAPE_SLOTS];            /* shapes of records found known; 0: empty slot */
    int used;                               /* slots filled (and anchors[1..used]) */
    struct slot slot[CACHE_SLOTS];
};

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

struct scan {
    lua_State *L;
    struct checker *c;
    int anchors;                            /* stack index of the anchor table */
};

/* masks[key] for the key at stack index key (absolute); masks at index
 * masks, whose address is level: from the cache, or read and cached
 * (keys that are objects: strings in JSON). */
static lua_Integer mask_of(struct scan *s, int masks, const void *level, int key) {
    lua_State *L = s->L;
    struct checker *c = s->c;
    const void *k = lua_topointer(L, key);         /* NULL for numbers and booleans */
    size_t h = 0;
    if (k) {
        h = (((uintptr_t)k >> 4) ^ ((uintptr_t)level >> 6)) & (CACHE_SLOTS - 1);
        for (; c->slot[h].key; h = (h + 1) & (CACHE_SLOTS - 1))
            if (c->slot[h].key == k && c->slot[h].level == level) return c->slot[h].mask;
    }
    lua_pushvalue(L, key);
    lua_rawget(L, masks);
    lua_Integer mask = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (k && mask && c->used < CACHE_FILL) {
        c->slot[h] = (struct slot){level, k, mask};
        lua_pushvalue(L, key);
        lua_rawseti(L, s->anchors, ++c->used);
    }
    return mask;
}

/* Is every field of the table at rec known to masks (absolute indexes)?
 * With subs (non-zero), the fields of its object values are checked
 * against their level in subs, one level down only. */
static int fields_known(struct scan *s, int masks, int rec, int subs) {
    lua_State *L = s->L;
    const void *level = lua_topointer(L, masks);
    lua_pushnil(L);
    int value = lua_gettop(L) + 1;                  /* where lua_next puts each value */
    while (lua_next(L, rec)) {
        int bit = type_bit(L, value);
        int known = (mask_of(s, masks, level, value - 1) & bit) != 0;
        if (known && subs && bit == FY_SCHEMA_OBJECT) {
            lua_pushvalue(L, value - 1);
            if (lua_rawget(L, subs) == LUA_TTABLE) {
                lua_getfield(L, -1, "masks");
                known = lua_type(L, -1) != LUA_TTABLE || fields_known(s, lua_gettop(L), value, 0);
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

/* The slot of shape h in c's set: where it is, or the empty slot where it
 * would go (-1 when the set is full and it is not there). */
static int shape_slot(struct checker *c, uint64_t h) {
    for (int i = (int)(h & (SHAPE_SLOTS - 1)), n = 0; n < SHAPE_SLOTS; i = (i + 1) & (SHAPE_SLOTS - 1), n++)
        if (c->shape[i] == h || c->shape[i] == 0) return i;
    return -1;
}

/* observe(record) / observe(): the closure
 * internal.schema_checker made; upvalues: the checker, masks, subs, scan.
 * See fy_schema.h. */
static int checker_observe(lua_State *L) {
    struct checker *c = lua_touserdata(L, lua_upvalueindex(1));
    if (lua_gettop(L) == 0) {
        lua_pushinteger(L, c->records);
        return 1;
    }
    if (lua_type(L, 1) != LUA_TTABLE) return 0;
    c->records++;
    struct fy_vm *vm = fy_vm_of(L);
    uint64_t shape = vm->shape_record == lua_topointer(L, 1) ? vm->shape : 0;
    int at = shape ? shape_slot(c, shape) : -1;
    if (at >= 0 && c->shape[at] == shape) return 0;    /* the same names and types as a record known */
    luaL_checkstack(L, 16, "schema_checker");
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(2));              /* 2: masks */
    lua_pushvalue(L, lua_upvalueindex(3));              /* 3: subs */
    lua_getiuservalue(L, lua_upvalueindex(1), 1);       /* 4: anchors */
    struct scan s = {L, c, 4};
    if (fields_known(&s, 2, 1, 3)) {
        if (at >= 0 && c->shapes < SHAPE_SLOTS / 2) {
            c->shape[at] = shape;
            c->shapes++;
        }
        return 0;
    }
    /* the scan changes the masks: what the caches hold is stale (a shape
     * known stays known, as masks only grow; but subs may gain a level
     * that looks one level deeper than the shape was checked) */
    memset(c->slot, 0, sizeof c->slot);
    c->used = 0;
    memset(c->shape, 0, sizeof c->shape);
    c->shapes = 0;
    lua_pushvalue(L, lua_upvalueindex(4));
    lua_pushvalue(L, 1);
    lua_pushinteger(L, c->records);
    lua_call(L, 2, 0);
    return 0;
}

int fy_schema_lua_checker(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_settop(L, 3);
    struct checker *c = lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    lua_createtable(L, 0, 0);
    lua_setiuservalue(L, -2, 1);
    lua_insert(L, 1);
    lua_pushcclosure(L, checker_observe, 4);
    return 1;
}
