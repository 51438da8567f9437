/* ferry's JSON decoder: RFC 8259 text to Lua values, strictly and exactly
 * (the encoder is fy_json_encode in fy_vm.h; the Lua API is fy_lua_json.c).
 *
 * Decoding is two steps, so the first can run on any thread:
 *   fy_json_parse   text -> a tape: a flat array of items in document order,
 *                   numbers converted, escapes decoded; no Lua involved;
 *   fy_json_build   tape -> Lua values, each table made at its final size.
 * fy_json_decode does both, for a caller on the Lua state's own thread. */
#ifndef FY_JSON_H
#define FY_JSON_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/* How deep arrays and objects may nest, for decode and encode alike. */
#define FY_JSON_MAX_DEPTH 1000

/* Registry key (its address) of the metatable that marks a table as a JSON
 * array; set up by luaopen_ferry_json. */
extern const char fy_json_array_mt_key;

enum fy_json_type {
    FY_JT_NULL, FY_JT_FALSE, FY_JT_TRUE,
    FY_JT_INT,          /* v.i */
    FY_JT_FLOAT,        /* v.d */
    FY_JT_TEXT,         /* n bytes of the source text at v.off (a string without escapes, a number's exact text) */
    FY_JT_STR,          /* n bytes of the tape's arena at v.off (a string with escapes decoded) */
    FY_JT_KEY,          /* a string remembered before (a key or a value): number n in the dictionary */
    FY_JT_KEY_NEW,      /* a string remembered now: number n, its text as FY_JT_TEXT */
    FY_JT_ARRAY,        /* n items follow */
    FY_JT_OBJECT        /* n key/value pairs follow */
};

struct fy_json_item {
    uint8_t type;
    uint16_t len;       /* FY_JT_KEY_NEW: its text's length */
    uint32_t n;
    union { int64_t i; double d; size_t off; } v;
};

/* Strings a source remembers, so the builder pushes them from a Lua table
 * instead of hashing their text again (fy_json_build's `keys`): every
 * object key, and a string value of up to FY_JSON_KEY_MAX bytes once it
 * has come twice (a picklist value, a country, an owner's email; not the
 * ids and timestamps that come once). Owned by whoever parses; the numbers
 * stay valid for the source's life. Values take at most FY_JSON_VALUES of
 * the FY_JSON_KEYS numbers, so keys always find room. */
#define FY_JSON_KEYS 4096
#define FY_JSON_VALUES 3072
#define FY_JSON_KEY_MAX 48
struct fy_json_keys;
struct fy_json_keys *fy_json_keys_new(void);
void fy_json_keys_free(struct fy_json_keys *k);
size_t fy_json_keys_size(void);   /* the bytes a dictionary takes */
/* Forget every string numbered, for a text parsed on its own (a tape
 * built with a key cache table of its own, fy_json_keys_count long). */
void fy_json_keys_clear(struct fy_json_keys *k);
uint32_t fy_json_keys_count(const struct fy_json_keys *k);

/* Where a tape grows: `grow` returns a block of `size` bytes holding the
 * first `used` bytes of `old` (old is NULL or a block it returned earlier),
 * or NULL to refuse; with size 0 it frees `old` (and returns NULL). */
struct fy_json_tape {
    struct fy_json_item *items;
    size_t nitems, icap;
    char *arena;                    /* strings with escapes, decoded */
    size_t alen, acap;
    struct fy_json_keys *keys;      /* NULL: keys are plain strings */
    void *(*grow)(struct fy_json_tape *t, void *old, size_t used, size_t size);
    void *ud;                       /* for grow */
    int shapes;                     /* set: fy_json_parse sets shape too */
    uint64_t shape;                 /* fy_json_shape of the value parsed last */
};

/* Parse the `len` bytes at `s` (NUL bytes are data, never an end), appending
 * the value's items to t (its first item at the nitems it had), and its
 * shape to t->shape when t->shapes is set (hashed on the way: the same as
 * fy_json_shape of the first item, without a second walk). Returns
 * FY_OK; or FY_ERR with the tape and key dictionary as they were and
 * "WHAT at character N" in err (N the 1-based byte offset), or "out of
 * memory" when grow refused. Touches no Lua state: any thread may call it. */
int fy_json_parse(struct fy_json_tape *t, const char *s, size_t len, char *err, size_t errlen);

/* Push the value whose first item is *it (the tape t, its source text src),
 * and advance *it past it. keys: stack index of the key cache table for
 * t->keys (0 when t->keys is NULL). array_mt: stack index of the array
 * metatable. Raises only Lua's memory error. */
void fy_json_build(lua_State *L, const struct fy_json_tape *t, size_t *it, const char *src, int keys, int array_mt);

/* The shape of the object whose item is `item` (t's source text src): a
 * hash of each field's name and JSON type, and the same one level down for
 * fields that are objects (what fy_schema's checker looks at; the type bits
 * are enum fy_schema_type's). Never 0 for an object; 0 for anything else. */
uint64_t fy_json_shape(const struct fy_json_tape *t, size_t item, const char *src);

/* Decode the `len` bytes at `s` and push the value. JSON null is the light
 * userdata NULL (the same as cjson.null); an empty array is an empty table
 * with the array metatable. Integers that fit 64 bits become Lua integers,
 * longer ones a string of their exact text; other numbers become floats
 * (integers when integral within ±2^53), or the exact text as a string when
 * a double cannot hold them (1e400, 1e-400). Duplicate keys: the last one
 * wins. Returns FY_OK, or FY_ERR with nothing pushed and "WHAT at character
 * N" in err. The tape lives in Lua memory, so it counts against L's limit.
 * Raises only Lua's memory error. */
int fy_json_decode(lua_State *L, const char *s, size_t len, char *err, size_t errlen);

#endif
