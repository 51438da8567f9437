/* UTF-8 checks and conversions; see fy_utf8.h. */
#include "fy_utf8.h"
#include "fy_buf.h"

#include <stdint.h>
#include <string.h>

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
        size_t len = (size_t)fy_utf8_length(s + i, s + n);
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
