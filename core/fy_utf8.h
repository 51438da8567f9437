/* UTF-8 well-formedness, shared by the JSON decoder (which refuses what is
 * not) and fy_buf_json_string (which escapes it). */
#ifndef FY_UTF8_H
#define FY_UTF8_H

#include <stddef.h>

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

#endif
