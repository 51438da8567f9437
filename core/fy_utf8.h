/* fy_utf8: checking text for UTF-8 and making it so. Sources check what they
 * read (a record whose text is not UTF-8 is quarantined, naming where), read
 * Latin-1 on request, and reports print only valid UTF-8; the JSON decoder
 * refuses what is not, and fy_buf_json_string escapes it.
 *
 * Valid means RFC 3629: shortest forms only, no surrogates, nothing above
 * U+10FFFF. */
#ifndef FY_UTF8_H
#define FY_UTF8_H

#include <stddef.h>

struct fy_buf;

/* The length (2-4) of the well-formed UTF-8 sequence at p, whose first byte
 * is >= 0x80, or 0: no overlong forms, no surrogates, nothing past
 * U+10FFFF, nothing cut short by end (RFC 3629, section 4). */
static inline int fy_utf8_length(const unsigned char *p, const unsigned char *end) {
    size_t avail = (size_t)(end - p);
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
#define FY_UTF8_CONT(b) ((b) >= 0x80 && (b) <= 0xBF)
    if (c >= 0xC2 && c <= 0xDF) return avail >= 2 && FY_UTF8_CONT(p[1]) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && FY_UTF8_CONT(p[2]) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && FY_UTF8_CONT(p[2]) && FY_UTF8_CONT(p[3]) ? 4 : 0;
    }
    return 0;
#undef FY_UTF8_CONT
}


/* Offset of the first byte of s[0..n) that does not begin a valid UTF-8
 * sequence (or begins one cut short), or n when all of it is valid. */
size_t fy_utf8_check(const char *s, size_t n);

/* Write s[0..n), read as Latin-1 (ISO 8859-1), into out as UTF-8 and return
 * its length. out must hold 2 * n bytes. */
size_t fy_utf8_from_latin1(char *out, const char *s, size_t n);

/* Append s[0..n) to b with each byte that is not part of valid UTF-8
 * replaced by U+FFFD. */
void fy_utf8_sanitize(struct fy_buf *b, const char *s, size_t n);

/* Append s[0..n) to b as one line of at most `max` bytes, for summaries and
 * tables: each run of whitespace (space, tab, CR, LF, VT, FF) becomes one
 * space, whitespace at either end goes, and text past `max` is cut, never
 * inside a UTF-8 character, and followed by "…" (3 more bytes). Bytes that
 * are not UTF-8 are copied as they are. Returns 1 when the text was cut. */
int fy_utf8_excerpt(struct fy_buf *b, const char *s, size_t n, size_t max);

#endif
