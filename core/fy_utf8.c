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
        if (i + 32 <= n) {                    /* ASCII 32 bytes at a time: most lines are */
            uint64_t w[4];

            memcpy(w, s + i, 32);
            if (!((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ull)) {
                i += 32;
                continue;
            }
        }
        if (i + 8 <= n) {                     /* then eight */
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

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int fy_utf8_excerpt(struct fy_buf *b, const char *s, size_t n, size_t max)
{
    size_t start = b->len, i = 0;
    int space = 0;

    while (i < n && is_space(s[i]))
        i++;
    for (; i < n; i++) {
        if (is_space(s[i])) {
            space = 1;
            continue;
        }
        if (b->len - start + (size_t)space + 1 > max)
            break;
        if (space)
            fy_buf_putc(b, ' ');
        space = 0;
        fy_buf_putc(b, s[i]);
    }
    if (i == n)
        return 0;
    /* s[i] did not fit: when it continues a character, drop that
     * character's first bytes too (a lead byte and at most 2 more) */
    if (((unsigned char)s[i] & 0xC0) == 0x80) {
        size_t len = b->len;
        int back = 0;

        while (len > start && back < 3 && ((unsigned char)b->data[len - 1] & 0xC0) == 0x80) {
            len--;
            back++;
        }
        if (len > start && (unsigned char)b->data[len - 1] >= 0xC0)
            len--;
        else
            len = b->len;               /* not a character after all: keep the bytes */
        b->len = len;
    }
    while (b->len > start && b->data[b->len - 1] == ' ')
        b->len--;
    if (b->data)
        b->data[b->len] = '\0';
    fy_buf_puts(b, "\xe2\x80\xa6");
    return 1;
}
