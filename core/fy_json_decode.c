/* JSON text to Lua values, RFC 8259 strictly: only the grammar's numbers,
 * escapes and whitespace, valid UTF-8, no raw control characters, nothing
 * after the value. See fy_json.h for what each JSON value becomes.
 *
 * fy_json_parse checks the text and writes a tape: one item per value, a
 * container's item (with its count) before its members, numbers already
 * converted, strings as offsets into the text (or, with escapes, into the
 * tape's arena). It touches no Lua state, so a reader thread can parse
 * while the loop thread runs scripts. fy_json_build walks the tape and makes
 * each table once, at its final size. */
#include "fy_json.h"
#include "fy_common.h"
#include "fy_schema.h"
#include "fy_utf8.h"

#include <lauxlib.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAFE_INT 9007199254740992.0   /* 2^53 */
#define KEY_SLOTS (2 * FY_JSON_KEYS)      /* open addressing, at most half full */
#define KEY_WORDS (FY_JSON_KEY_MAX / 8)
#define AFTER_NONE (2 * FY_JSON_KEYS)   /* next[]: see struct fy_json_keys */

/* A key's text is kept as words (see load8), the last one zero past its
 * end, so that looking one up compares a few words, not bytes (only the
 * key's own words: those after them may hold a forgotten key's); its hash
 * is name_hash's, which fy_json_shape takes from here instead of hashing
 * the name again. */
#define SEEN_SLOTS 4096                   /* values seen once, by hash */

struct fy_json_keys {
    uint32_t n;                           /* strings numbered 0..n-1 */
    uint32_t nvalues;                     /* of which values (remembered on their second sighting) */
    uint16_t slot[KEY_SLOTS];             /* a string's number + 1, or 0 */
    uint64_t seen[SEEN_SLOTS];            /* hashes of values seen once; a newer one takes the slot */
    struct { uint64_t hash; uint64_t w[KEY_WORDS]; uint8_t len; } key[FY_JSON_KEYS];
    /* The key (its number + 1, or 0) that came next last time: next[id]
     * after key id in the same object, next[FY_JSON_KEYS + id] first in
     * the object that is key id's value, next[AFTER_NONE] first in any
     * other object. Records repeat their keys in the same order, so a
     * guess checked against the text saves hashing and probing. */
    uint16_t next[2 * FY_JSON_KEYS + 1];
};

struct parser {
    struct fy_json_tape *t;
    const unsigned char *start;   /* the text, for error positions and offsets */
    const unsigned char *p;       /* the next byte to read */
    const unsigned char *end;
    int depth;                    /* arrays and objects open around p */
    int shaping;                  /* t->shapes: hash the shape while parsing */
    int top_object;               /* the value is an object (depth 2's objects are shaped) */
    uint64_t shape;               /* the shape so far (see fy_json_shape) */
    char *err;
    size_t errlen;
};

/* Bytes that may appear as they are inside a string (no quote, backslash,
 * control character or non-ASCII byte). */
static const unsigned char plain[256] = {
#define R8(v) v, v, v, v, v, v, v, v
    R8(0), R8(0), R8(0), R8(0),                       /* 0x00-0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, R8(1), R8(1), R8(1),      /* 0x20-0x3f: '"' is 0x22 */
    R8(1), R8(1), R8(1), 1, 1, 1, 1, 0, 1, 1, 1,      /* 0x40-0x5f: '\\' is 0x5c */
    R8(1), R8(1), R8(1), R8(1),                       /* 0x60-0x7f */
#undef R8
};

/* Eight bytes of text as one number, the first byte lowest whatever the
 * machine's byte order, so the bit tricks below and the hashes read the
 * same everywhere. */
static inline uint64_t load8(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The high bit set in each byte of w that is not plain: '"', '\\', below
 * 0x20 or from 0x80. Exact for each byte: on the low seven bits of each,
 * adding 0x7F (or 0x60) sets the high bit unless it was 0 (or below 0x20),
 * and never carries into the next byte. */
static inline uint64_t not_plain(uint64_t w) {
    uint64_t x = w & (ONES * 0x7F);
    uint64_t ok = ((x ^ (ONES * '"')) + ONES * 0x7F) & ((x ^ (ONES * '\\')) + ONES * 0x7F) & (x + ONES * 0x60);
    return (~ok | w) & HIGHS;
}

/* The byte (0-7) of the lowest mark in m, which is not 0. */
static inline int first_mark(uint64_t m) {
#if defined(__GNUC__)
    return __builtin_ctzll(m) >> 3;
#else
    int i = 0;
    while (!(m & 0x80)) m >>= 8, i++;
    return i;
#endif
}

/* The first byte at or after p (before end) that is not plain, or end:
 * eight bytes at a time while eight are left. Strings are most of a
 * record's bytes, and most of theirs are plain. Inlined in its three
 * callers: a record's strings are short (12 bytes on average), so a call
 * per string cost 6% of the reader thread. */
static inline __attribute__((always_inline)) const unsigned char *plain_run(const unsigned char *p, const unsigned char *end) {
    for (; end - p >= 8; p += 8) {
        uint64_t m = not_plain(load8(p));
        if (m) return p + first_mark(m);
    }
    while (p < end && plain[*p]) p++;
    return p;
}

static int is_digit(const unsigned char *p, const unsigned char *end) {
    return p < end && *p >= '0' && *p <= '9';
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    /* most calls find no whitespace: one comparison says so */
    while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* Record "WHAT at character N" for the byte at `at`; returns FY_ERR. */
__attribute__((format(printf, 3, 4)))
static int fail(struct parser *ps, const unsigned char *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ps->err, ps->errlen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < ps->errlen)
        snprintf(ps->err + n, ps->errlen - (size_t)n, " at character %zu", (size_t)(at - ps->start) + 1);
    return FY_ERR;
}

static int out_of_memory(struct parser *ps) {
    snprintf(ps->err, ps->errlen, "out of memory");
    return FY_ERR;
}

/* The tape's items, doubled; FY_ERR when grow refuses. */
static int items_grow(struct fy_json_tape *t) {
    size_t cap = t->icap ? 2 * t->icap : 64;
    void *p = t->grow(t, t->items, t->nitems * sizeof *t->items, cap * sizeof *t->items);
    if (!p) return FY_ERR;
    t->items = p;
    t->icap = cap;
    return FY_OK;
}

/* The next item of the tape, or NULL when it cannot grow. */
static inline struct fy_json_item *item(struct parser *ps, int type) {
    struct fy_json_tape *t = ps->t;
    if (t->nitems == t->icap && items_grow(t) != FY_OK) return NULL;
    struct fy_json_item *it = &t->items[t->nitems++];
    it->type = (uint8_t)type;
    return it;
}

/* Room for n more bytes in the arena: where they go, or NULL. */
static char *arena(struct parser *ps, size_t n) {
    struct fy_json_tape *t = ps->t;
    if (t->acap - t->alen < n) {
        size_t cap = t->acap ? t->acap : 256;
        while (cap - t->alen < n) cap *= 2;
        void *p = t->grow(t, t->arena, t->alen, cap);
        if (!p) return NULL;
        t->arena = p;
        t->acap = cap;
    }
    return t->arena + t->alen;
}

struct fy_json_keys *fy_json_keys_new(void) {
    return calloc(1, sizeof(struct fy_json_keys));
}

void fy_json_keys_free(struct fy_json_keys *k) {
    free(k);
}

size_t fy_json_keys_size(void) {
    return sizeof(struct fy_json_keys);
}

static void keys_truncate(struct fy_json_keys *k, uint32_t keep, uint32_t values);

void fy_json_keys_clear(struct fy_json_keys *k) {
    keys_truncate(k, 0, 0);
}

uint32_t fy_json_keys_count(const struct fy_json_keys *k) {
    return k->n;
}

/* The `rest` (1-7) bytes at t as a word, zero past them; reads no byte at
 * or past end. */
static inline uint64_t tail_word(const unsigned char *t, size_t rest, const unsigned char *end) {
    uint64_t last = 0;
    if (end - t >= 8) return load8(t) & ((UINT64_C(1) << (8 * rest)) - 1);
    for (size_t j = 0; j < rest; j++) last |= (uint64_t)t[j] << (8 * j);
    return last;
}

static inline uint64_t hash_step(uint64_t h, uint64_t w) {
    h = (h ^ w) * UINT64_C(0x9E3779B97F4A7C15);
    return h ^ (h >> 32);
}

/* The hash of the n-byte name at s, a word at a time (reading no byte at
 * or past end; end may be s + n). When w is not NULL (n <= FY_JSON_KEY_MAX) the
 * words go there too, the last one zero past the name. */
static uint64_t name_hash(const unsigned char *s, size_t n, const unsigned char *end, uint64_t *w) {
    size_t full = n / 8, rest = n % 8, i;
    uint64_t h = UINT64_C(0x2545F4914F6CDD1D) ^ n;
    for (i = 0; i < full; i++) {
        uint64_t x = load8(s + 8 * i);
        if (w) w[i] = x;
        h = hash_step(h, x);
    }
    if (rest) {
        uint64_t last = tail_word(s + 8 * full, rest, end);
        if (w) w[i++] = last;
        h = hash_step(h, last);
    }
    h = (h ^ (h >> 29)) * UINT64_C(0xBF58476D1CE4E5B9);
    return h ^ (h >> 32);
}

/* The number of string s[0..n) (end: how far s may be read), a key or
 * (value set) a string value, giving it the next one when new (*fresh
 * set); -1 when it is too long, the dictionary is full, or it is a value
 * not seen before. */
static long key_number(struct fy_json_keys *k, const unsigned char *s, size_t n, const unsigned char *end, int value,
                       int *fresh) {
    if (n > FY_JSON_KEY_MAX) return -1;
    uint64_t w[KEY_WORDS], h = name_hash(s, n, end, w);
    uint32_t i = (uint32_t)h & (KEY_SLOTS - 1), words = (uint32_t)(n + 7) / 8;
    for (; k->slot[i]; i = (i + 1) & (KEY_SLOTS - 1)) {
        uint32_t id = k->slot[i] - 1u, j = 0;
        if (k->key[id].hash != h || k->key[id].len != n) continue;
        while (j < words && k->key[id].w[j] == w[j]) j++;
        if (j == words) {
            *fresh = 0;
            return id;
        }
    }
    if (k->n == FY_JSON_KEYS) return -1;
    if (value) {
        uint64_t *seen = &k->seen[h & (SEEN_SLOTS - 1)];
        if (*seen != h || k->nvalues == FY_JSON_VALUES) {
            *seen = h;
            return -1;
        }
        k->nvalues++;
    }
    uint32_t id = k->n++;
    k->key[id].hash = h;
    k->key[id].len = (uint8_t)n;
    memcpy(k->key[id].w, w, words * sizeof *w);
    k->slot[i] = (uint16_t)(id + 1);
    *fresh = 1;
    return id;
}

/* Is key id the n-byte text at s (end: how far s may be read)? */
static int key_is(const struct fy_json_keys *k, uint32_t id, const unsigned char *s, size_t n, const unsigned char *end) {
    if (id >= k->n || k->key[id].len != n) return 0;
    size_t full = n / 8, rest = n % 8;
    for (size_t i = 0; i < full; i++)
        if (k->key[id].w[i] != load8(s + 8 * i)) return 0;
    return !rest || k->key[id].w[full] == tail_word(s + 8 * full, rest, end);
}

/* Forget the strings numbered from `keep` on, `values` of them values as
 * before (a text that failed to parse made them, and no tape that reaches
 * a builder names them). */
static void keys_truncate(struct fy_json_keys *k, uint32_t keep, uint32_t values) {
    if (k->n == keep) return;
    k->n = keep;
    k->nvalues = values;
    memset(k->slot, 0, sizeof k->slot);
    for (uint32_t id = 0; id < keep; id++) {
        uint32_t i = (uint32_t)k->key[id].hash & (KEY_SLOTS - 1);
        while (k->slot[i]) i = (i + 1) & (KEY_SLOTS - 1);
        k->slot[i] = (uint16_t)(id + 1);
    }
}

/* The four hex digits at p (before end) as a number, or -1. */
static long hex4(const unsigned char *p, const unsigned char *end) {
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        if (c >= '0' && c <= '9') v = v * 16 + (c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') v = v * 16 + ((c | 0x20) - 'a' + 10);
        else return -1;
    }
    return v;
}

static char *put_utf8(char *o, long cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Decode the contents p..q (already checked to be well-formed UTF-8 without
 * control characters, every backslash followed by a byte before q) into the
 * arena, as a string item. The result is never longer than the text. */
static int unescape(struct parser *ps, const unsigned char *p, const unsigned char *q) {
    char *out = arena(ps, (size_t)(q - p)), *o = out;
    if (!out) return out_of_memory(ps);
    for (;;) {
        const unsigned char *bs = memchr(p, '\\', (size_t)(q - p));
        if (!bs) bs = q;
        memcpy(o, p, (size_t)(bs - p));
        o += bs - p;
        if (bs == q) break;
        p = bs;
        char c;
        switch (p[1]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            long cp = hex4(p + 2, q), low;
            if (cp < 0) return fail(ps, p, "invalid \\u escape (four hex digits expected)");
            if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(ps, p, "lone surrogate \\u%.4s", (const char *)p + 2);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                low = q - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8, q) : -1;
                if (low < 0xDC00 || low > 0xDFFF)
                    return fail(ps, p, "lone surrogate \\u%.4s", (const char *)p + 2);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                p += 6;
            }
            o = put_utf8(o, cp);
            p += 6;
            continue;
        }
        default:
            if (p[1] >= 0x20 && p[1] < 0x7F) return fail(ps, p, "invalid escape \\%c", p[1]);
            return fail(ps, p, "invalid escape");
        }
        *o++ = c;
        p += 2;
    }
    struct fy_json_item *it = item(ps, FY_JT_STR);
    if (!it) return out_of_memory(ps);
    it->n = (uint32_t)(o - out);
    it->v.off = ps->t->alen;
    ps->t->alen += (size_t)(o - out);
    return FY_OK;
}

/* The string item for the text open+1..q (no escapes, q its closing
 * quote): numbered in the dictionary when there is one and it remembers
 * the text (every key; a value from its second sighting), else the
 * text's place. */
static int string_item(struct parser *ps, int key, const unsigned char *open, const unsigned char *q) {
    size_t n = (size_t)(q - open - 1);
    int fresh = 0;
    long id = ps->t->keys ? key_number(ps->t->keys, open + 1, n, ps->end, !key, &fresh) : -1;
    struct fy_json_item *it = item(ps, id < 0 ? FY_JT_TEXT : fresh ? FY_JT_KEY_NEW : FY_JT_KEY);
    if (!it) return out_of_memory(ps);
    it->n = (uint32_t)(id < 0 ? n : (size_t)id);
    it->len = (uint16_t)(id < 0 ? 0 : n);
    it->v.off = (size_t)(open + 1 - ps->start);
    return FY_OK;
}

/* The rest of the string whose opening quote is at ps->p, from p (a byte
 * that is not plain, or end): escapes, UTF-8, the errors. */
static int string_slow(struct parser *ps, int key, const unsigned char *p) {
    const unsigned char *open = ps->p, *end = ps->end;
    int escapes = 0;
    for (;;) {
        if (p == end) return fail(ps, open, "unterminated string");
        if (*p == '"') break;
        if (*p == '\\') {
            if (end - p < 2) return fail(ps, open, "unterminated string");
            escapes = 1;
            p += 2;
        } else if (*p < 0x20) {
            return fail(ps, p, "control character in string (U+%04X must be escaped)", *p);
        } else {
            int n = fy_utf8_length(p, end);
            if (!n) return fail(ps, p, "invalid UTF-8 in string");
            p += n;
        }
        p = plain_run(p, end);
    }
    ps->p = p + 1;
    if ((size_t)(p - open - 1) > UINT32_MAX) return fail(ps, open, "string longer than 4 GB");
    return escapes ? unescape(ps, open + 1, p) : string_item(ps, key, open, p);
}

/* The string whose opening quote is at ps->p, an object's key when `key`.
 * Most are plain bytes to a closing quote: one scan, one item. Others go on
 * in string_slow, and only those with escapes need a second pass. */
static int parse_string(struct parser *ps, int key) {
    const unsigned char *open = ps->p, *p = plain_run(open + 1, ps->end);
    if (p == ps->end || *p != '"' || (size_t)(p - open - 1) > UINT32_MAX) return string_slow(ps, key, p);
    ps->p = p + 1;
    return string_item(ps, key, open, p);
}

/* An object's key at ps->p, whose key came before it in the object as
 * *after (an index of next[]); sets *after to this key's. Guesses that
 * the key is the one that followed last time, and checks. */
static int parse_key(struct parser *ps, uint32_t *after) {
    struct fy_json_keys *k = ps->t->keys;
    const unsigned char *open = ps->p, *p;
    if (!k) return parse_string(ps, 1);
    uint32_t guess = k->next[*after];
    p = plain_run(open + 1, ps->end);
    if (p == ps->end || *p != '"' || (size_t)(p - open - 1) > UINT32_MAX) {
        if (string_slow(ps, 1, p) != FY_OK) return FY_ERR;
    } else if (guess && key_is(k, guess - 1u, open + 1, (size_t)(p - open - 1), ps->end)) {
        struct fy_json_item *it = item(ps, FY_JT_KEY);
        if (!it) return out_of_memory(ps);
        it->n = guess - 1u;
        it->len = (uint16_t)(p - open - 1);
        it->v.off = (size_t)(open + 1 - ps->start);
        ps->p = p + 1;
        *after = guess - 1u;
        return FY_OK;
    } else {
        ps->p = p + 1;
        if (string_item(ps, 1, open, p) != FY_OK) return FY_ERR;
    }
    const struct fy_json_item *it = &ps->t->items[ps->t->nitems - 1];
    if (it->type != FY_JT_KEY && it->type != FY_JT_KEY_NEW) {
        *after = AFTER_NONE;
        return FY_OK;
    }
    k->next[*after] = (uint16_t)(it->n + 1);
    *after = it->n;
    return FY_OK;
}

/* The C locale, for strtod whatever the process's locale. */
static locale_t c_locale(void) {
    static locale_t c;
    if (!c) c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return c;
}

/* The exact text start..start+n of a number, as a string item. */
static int number_text(struct parser *ps, const unsigned char *start, size_t n) {
    struct fy_json_item *it = item(ps, FY_JT_TEXT);
    if (!it) return out_of_memory(ps);
    it->n = (uint32_t)n;
    it->len = 0;
    it->v.off = (size_t)(start - ps->start);
    return FY_OK;
}

static int integer(struct parser *ps, int64_t i) {
    struct fy_json_item *it = item(ps, FY_JT_INT);
    if (!it) return out_of_memory(ps);
    it->v.i = i;
    return FY_OK;
}

/* A number per the RFC's grammar at ps->p (see fy_json.h). */
static int parse_number(struct parser *ps) {
    const unsigned char *start = ps->p, *p = start, *end = ps->end;
    int neg = *p == '-', overflow = 0, fraction = 0, nonzero = 0;
    uint64_t u = 0;
    if (neg) p++;
    if (!is_digit(p, end)) return fail(ps, start, "invalid number");
    if (*p == '0') {
        p++;
        if (is_digit(p, end)) return fail(ps, start, "invalid number (leading zero)");
    } else {
        nonzero = 1;
        for (; is_digit(p, end); p++) {
            unsigned d = *p - '0';
            if (u > (UINT64_MAX - d) / 10) overflow = 1;
            else u = u * 10 + d;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (!is_digit(p, end)) return fail(ps, start, "invalid number (digits expected after '.')");
        for (; is_digit(p, end); p++) nonzero |= *p != '0';
        fraction = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, end)) return fail(ps, start, "invalid number (digits expected in the exponent)");
        while (is_digit(p, end)) p++;
        fraction = 1;
    }
    ps->p = p;
    size_t n = (size_t)(p - start);
    if (!fraction) {
        if (!overflow && u <= (uint64_t)INT64_MAX) return integer(ps, neg ? -(int64_t)u : (int64_t)u);
        if (!overflow && neg && u == (uint64_t)INT64_MAX + 1) return integer(ps, INT64_MIN);
        return number_text(ps, start, n);                 /* past 64 bits: the exact text */
    }
    /* strtod needs a terminated copy: the text goes on after the number */
    char small[64], *text = small;
    if (n >= sizeof small && !(text = malloc(n + 1))) return out_of_memory(ps);
    memcpy(text, start, n);
    text[n] = '\0';
    locale_t c = c_locale();
    double d = c ? strtod_l(text, NULL, c) : strtod(text, NULL);
    if (text != small) free(text);
    if (isinf(d) || (d == 0 && nonzero)) return number_text(ps, start, n);   /* beyond a double */
    if (d == floor(d) && fabs(d) <= MAX_SAFE_INT) return integer(ps, (int64_t)d);
    struct fy_json_item *it = item(ps, FY_JT_FLOAT);
    if (!it) return out_of_memory(ps);
    it->v.d = d;
    return FY_OK;
}

static int parse_value(struct parser *ps, uint32_t after);
static uint64_t mix(uint64_t h, uint64_t v);
static uint64_t key_of(const struct fy_json_tape *t, const struct fy_json_item *it, const char *src);
static int type_of(const struct fy_json_item *it);

/* The array or object whose bracket is at ps->p: its item, with the count
 * written once it is closed, then its members. `after`: for an object, the
 * index of next[] that guesses its first key (see parse_key). The record's
 * shape is hashed here, in the order fy_json_shape walks it. */
static int parse_container(struct parser *ps, uint32_t after) {
    const unsigned char *open = ps->p;
    int array = *open == '[';
    if (++ps->depth > FY_JSON_MAX_DEPTH)
        return fail(ps, open, "nested deeper than %d levels", FY_JSON_MAX_DEPTH);
    if (ps->depth == 1) ps->top_object = !array;
    int shaped = ps->shaping && !array && (ps->depth == 1 || (ps->depth == 2 && ps->top_object));
    struct fy_json_item *it = item(ps, array ? FY_JT_ARRAY : FY_JT_OBJECT);
    if (!it) return out_of_memory(ps);
    size_t at = ps->t->nitems - 1, count = 0;
    if (shaped) ps->shape = mix(ps->shape, 0x7Bu);
    ps->p = skip_ws(ps->p + 1, ps->end);
    if (ps->p < ps->end && *ps->p == (array ? ']' : '}')) {
        ps->p++;
        ps->t->items[at].n = 0;
        if (shaped) ps->shape = mix(ps->shape, 0x7D00u);
        ps->depth--;
        return FY_OK;
    }
    for (;;) {
        size_t value = 0;
        uint64_t name = 0;
        if (!array) {
            if (ps->p == ps->end || *ps->p != '"')
                return fail(ps, ps->p, ps->p == ps->end ? "unexpected end of input (a key expected)"
                                                        : "a string key expected");
            if (parse_key(ps, &after) != FY_OK) return FY_ERR;
            if (shaped) name = key_of(ps->t, &ps->t->items[ps->t->nitems - 1], (const char *)ps->start);
            ps->p = skip_ws(ps->p, ps->end);
            if (ps->p == ps->end || *ps->p != ':')
                return fail(ps, ps->p, ps->p == ps->end ? "unexpected end of input (':' expected)" : "':' expected");
            ps->p = skip_ws(ps->p + 1, ps->end);
            value = ps->t->nitems;
            /* an object's type goes in before its fields */
            if (shaped && ps->p < ps->end && *ps->p == '{') ps->shape = mix(ps->shape, name ^ FY_SCHEMA_OBJECT);
        }
        if (parse_value(ps, array || after == AFTER_NONE ? AFTER_NONE : FY_JSON_KEYS + after) != FY_OK) return FY_ERR;
        if (shaped && ps->t->items[value].type != FY_JT_OBJECT) ps->shape = mix(ps->shape, name ^ (uint64_t)type_of(&ps->t->items[value]));
        if (++count > UINT32_MAX) return fail(ps, open, "more than 4294967295 members");
        ps->p = skip_ws(ps->p, ps->end);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p = skip_ws(ps->p + 1, ps->end);
            continue;
        }
        if (ps->p < ps->end && *ps->p == (array ? ']' : '}')) break;
        if (ps->p == ps->end) return fail(ps, ps->p, "unexpected end of input (unclosed %s)", array ? "array" : "object");
        return fail(ps, ps->p, array ? "',' or ']' expected" : "',' or '}' expected");
    }
    ps->p++;
    ps->t->items[at].n = (uint32_t)count;
    if (shaped) ps->shape = mix(ps->shape, 0x7D00u + count);
    ps->depth--;
    return FY_OK;
}

static int literal(struct parser *ps, const char *word, size_t n) {
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return 0;
    ps->p += n;
    return 1;
}

static int simple(struct parser *ps, int type) {
    return item(ps, type) ? FY_OK : out_of_memory(ps);
}

/* The value at ps->p (not whitespace). */
static int parse_value(struct parser *ps, uint32_t after) {
    const unsigned char *p = ps->p;
    if (p == ps->end) return fail(ps, p, "unexpected end of input (a value expected)");
    switch (*p) {
    case '"': return parse_string(ps, 0);
    case '{': case '[': return parse_container(ps, after);
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': return parse_number(ps);
    case 't': if (literal(ps, "true", 4)) return simple(ps, FY_JT_TRUE); break;
    case 'f': if (literal(ps, "false", 5)) return simple(ps, FY_JT_FALSE); break;
    case 'n': if (literal(ps, "null", 4)) return simple(ps, FY_JT_NULL); break;
    case '+': case '.': return fail(ps, p, "invalid number");
    }
    if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') return fail(ps, p, "invalid literal");
    if (*p >= 0x20 && *p < 0x7F) return fail(ps, p, "unexpected character '%c'", *p);
    return fail(ps, p, "unexpected byte 0x%02X", *p);
}

int fy_json_parse(struct fy_json_tape *t, const char *s, size_t len, char *err, size_t errlen) {
    const unsigned char *u = (const unsigned char *)s;
    struct parser ps = {t, u, u, u + len, 0, t->shapes, 0, 1, err, errlen};
    size_t nitems = t->nitems, alen = t->alen;
    uint32_t nkeys = t->keys ? t->keys->n : 0, nvalues = t->keys ? t->keys->nvalues : 0;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        fail(&ps, ps.p, "byte order mark (JSON text must not begin with one)");
        goto fail;
    }
    ps.p = skip_ws(ps.p, ps.end);
    if (parse_value(&ps, AFTER_NONE) != FY_OK) goto fail;
    ps.p = skip_ws(ps.p, ps.end);
    if (ps.p != ps.end) {
        fail(&ps, ps.p, "unexpected data after the value");
        goto fail;
    }
    if (ps.shaping) t->shape = t->items[nitems].type != FY_JT_OBJECT ? 0 : ps.shape ? ps.shape : 1;
    return FY_OK;
fail:
    t->nitems = nitems;
    t->alen = alen;
    if (t->keys) keys_truncate(t->keys, nkeys, nvalues);
    return FY_ERR;
}

/* The item after the value at item i (and its members). */
static size_t skip(const struct fy_json_tape *t, size_t i) {
    const struct fy_json_item *it = &t->items[i++];
    if (it->type == FY_JT_ARRAY)
        for (uint32_t k = 0; k < it->n; k++) i = skip(t, i);
    else if (it->type == FY_JT_OBJECT)
        for (uint32_t k = 0; k < it->n; k++) i = skip(t, i + 1);
    return i;
}

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15u + (h << 6) + (h >> 2);
    return h * 0xFF51AFD7ED558CCDu;
}

/* A key's name, hashed: the dictionary keeps the hash of the keys it
 * numbers; the others (too long, with escapes) are hashed here. */
static uint64_t key_of(const struct fy_json_tape *t, const struct fy_json_item *it, const char *src) {
    if (it->type == FY_JT_KEY || it->type == FY_JT_KEY_NEW) return t->keys->key[it->n].hash;
    const unsigned char *s = (const unsigned char *)(it->type == FY_JT_STR ? t->arena : src) + it->v.off;
    return name_hash(s, it->n, s + it->n, NULL);
}

static int type_of(const struct fy_json_item *it) {
    switch (it->type) {
    case FY_JT_NULL: return FY_SCHEMA_NULL;
    case FY_JT_FALSE: case FY_JT_TRUE: return FY_SCHEMA_BOOLEAN;
    case FY_JT_INT: return FY_SCHEMA_INTEGER;
    case FY_JT_FLOAT: return FY_SCHEMA_FLOAT;
    case FY_JT_ARRAY: return FY_SCHEMA_ARRAY;
    case FY_JT_OBJECT: return FY_SCHEMA_OBJECT;
    default: return FY_SCHEMA_STRING;
    }
}

/* Mix the fields of the object at item i into h, one level down too when
 * depth is 0; returns the item after the object. */
static size_t shape_of(const struct fy_json_tape *t, size_t i, const char *src, int depth, uint64_t *h) {
    uint32_t n = t->items[i++].n;
    *h = mix(*h, 0x7Bu);                        /* '{', then '}' and the count: nesting is not ambiguous */
    for (uint32_t k = 0; k < n; k++) {
        const struct fy_json_item *key = &t->items[i++], *value = &t->items[i];
        *h = mix(*h, key_of(t, key, src) ^ (uint64_t)type_of(value));   /* the name and the type */
        i = value->type == FY_JT_OBJECT && depth == 0 ? shape_of(t, i, src, 1, h) : skip(t, i);
    }
    *h = mix(*h, 0x7D00u + n);
    return i;
}

uint64_t fy_json_shape(const struct fy_json_tape *t, size_t item, const char *src) {
    if (t->items[item].type != FY_JT_OBJECT) return 0;
    uint64_t h = 1;
    shape_of(t, item, src, 0, &h);
    return h ? h : 1;
}

struct builder {
    lua_State *L;
    const struct fy_json_item *items;
    const char *src, *arena;
    int keys, array_mt;
};

/* Push the value at item i; returns the item after it (and its members). */
static size_t build(struct builder *b, size_t i) {
    lua_State *L = b->L;
    const struct fy_json_item *it = &b->items[i++];
    switch (it->type) {
    case FY_JT_NULL: lua_pushlightuserdata(L, NULL); break;
    case FY_JT_FALSE: lua_pushboolean(L, 0); break;
    case FY_JT_TRUE: lua_pushboolean(L, 1); break;
    case FY_JT_INT: lua_pushinteger(L, it->v.i); break;
    case FY_JT_FLOAT: lua_pushnumber(L, it->v.d); break;
    case FY_JT_TEXT: lua_pushlstring(L, b->src + it->v.off, it->n); break;
    case FY_JT_STR: lua_pushlstring(L, b->arena + it->v.off, it->n); break;
    case FY_JT_KEY: lua_rawgeti(L, b->keys, (lua_Integer)it->n + 1); break;
    case FY_JT_KEY_NEW:
        lua_pushlstring(L, b->src + it->v.off, it->len);
        lua_pushvalue(L, -1);
        lua_rawseti(L, b->keys, (lua_Integer)it->n + 1);
        break;
    case FY_JT_ARRAY: {
        uint32_t n = it->n;
        luaL_checkstack(L, 3, "JSON nesting");
        lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
        if (n == 0) {
            lua_pushvalue(L, b->array_mt);
            lua_setmetatable(L, -2);
        }
        for (uint32_t k = 1; k <= n; k++) {
            i = build(b, i);
            lua_rawseti(L, -2, k);
        }
        break;
    }
    case FY_JT_OBJECT: {
        uint32_t n = it->n;
        luaL_checkstack(L, 4, "JSON nesting");
        lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
        for (uint32_t k = 0; k < n; k++) {
            i = build(b, i);                                /* the key */
            i = build(b, i);
            lua_rawset(L, -3);
        }
        break;
    }
    }
    return i;
}

void fy_json_build(lua_State *L, const struct fy_json_tape *t, size_t *it, const char *src, int keys, int array_mt) {
    struct builder b = {L, t->items, src, t->arena, keys, array_mt};
    *it = build(&b, *it);
}

/* fy_json_decode's tape grows in Lua userdata held on the stack, so it
 * counts against L's memory limit and goes with the collector on an error.
 * ud: the stack index of the items' slot (the arena's is the next). */
static void *grow_in_lua(struct fy_json_tape *t, void *old, size_t used, size_t size) {
    lua_State *L = ((void **)t->ud)[0];
    int slot = (int)(intptr_t)((void **)t->ud)[1] + (old != (void *)t->items);
    if (size == 0) return NULL;
    void *p = lua_newuserdatauv(L, size, 0);
    if (used) memcpy(p, old, used);
    lua_replace(L, slot);
    return p;
}

int fy_json_decode(lua_State *L, const char *s, size_t len, char *err, size_t errlen) {
    struct fy_json_item items[64];
    char text[512];
    int base = lua_gettop(L);
    luaL_checkstack(L, 6, "JSON decoding");
    lua_pushnil(L);                           /* base+1: the items, once they outgrow the C stack */
    lua_pushnil(L);                           /* base+2: the arena, likewise */
    void *ud[2] = {L, (void *)(intptr_t)(base + 1)};
    struct fy_json_tape t = {items, 0, sizeof items / sizeof *items, text, 0, sizeof text, NULL, grow_in_lua, ud, 0, 0};
    if (fy_json_parse(&t, s, len, err, errlen) != FY_OK) {
        lua_settop(L, base);
        return FY_ERR;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    size_t at = 0;
    fy_json_build(L, &t, &at, s, 0, base + 3);
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
    return FY_OK;
}
