/* UTF-8 checks and conversions; see fy_utf8.h. */
#include "fy_utf8.h"
#include "fy_buf.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid sequence at s[0..n) (n >= 1, s[0] >= 0x80), or 0. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;       /* range of the second byte */

    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;             /* no overlong forms */
        if (c == 0xED) hi = 0x9F;             /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;             /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

size_t fy_utf8_check(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        if (i + 8 <= n) {                     /* ASCII eight bytes at a time */
            uint64_t w;

            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = seq_len(s + i, n - i);
        if (!len)
            return i;
        i += len;
    }
    return n;
}

size_t fy_utf8_from_latin1(char *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            out[o++] = (char)s[i];
        } else {
            out[o++] = (char)(0xC0 | (s[i] >> 6));
            out[o++] = (char)(0x80 | (s[i] & 0x3F));
        }
    }
    return o;
}

void fy_utf8_sanitize(struct fy_buf *b, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t ok = fy_utf8_check(s + i, n - i);

        fy_buf_append(b, s + i, ok);
        i += ok;
        if (i < n) {
            fy_buf_append(b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
}
