/* ferry's JSON decoder: RFC 8259 text straight to Lua values, strictly and
 * exactly (the encoder is fy_json_encode in fy_vm.h; the Lua API is
 * fy_lua_json.c). */
#ifndef FY_JSON_H
#define FY_JSON_H

#include <lua.h>
#include <stddef.h>

/* How deep arrays and objects may nest, for decode and encode alike. */
#define FY_JSON_MAX_DEPTH 1000

/* Registry key (its address) of the metatable that marks a table as a JSON
 * array; set up by luaopen_ferry_json. */
extern const char fy_json_array_mt_key;

/* Decode the `len` bytes at `s` (NUL bytes are data, never an end) and push
 * the value. JSON null is the light userdata NULL (the same as cjson.null);
 * an empty array is an empty table with the array metatable. Integers that
 * fit 64 bits become Lua integers, longer ones a string of their exact text;
 * other numbers become floats (integers when integral within ±2^53), or the
 * exact text as a string when a double cannot hold them (1e400, 1e-400).
 * Duplicate keys: the last one wins.
 * Returns FY_OK, or FY_ERR with nothing pushed and "WHAT at character N" in
 * err (N the 1-based byte offset). Raises only Lua's memory error. */
int fy_json_decode(lua_State *L, const char *s, size_t len, char *err, size_t errlen);

#endif
