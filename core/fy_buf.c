/* Growable string buffer; see fy_buf.h. */
#include "fy_buf.h"
#include "fy_utf8.h"

#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fy_buf_reserve(struct fy_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) { fputs("ferry: out of memory\n", stderr); abort(); }
    b->data = p;
    b->cap = cap;
}

void fy_buf_append(struct fy_buf *b, const char *s, size_t n) {
    fy_buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void fy_buf_puts(struct fy_buf *b, const char *s) { fy_buf_append(b, s, strlen(s)); }

void fy_buf_putc(struct fy_buf *b, char c) { fy_buf_append(b, &c, 1); }

void fy_buf_printf(struct fy_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    fy_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void fy_buf_json_string(struct fy_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    fy_buf_reserve(b, n + 2);
    fy_buf_putc(b, '"');
    size_t run = 0;  /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) continue;
        if (c >= 0x80) {
            int k = fy_utf8_length((const unsigned char *)s + i, (const unsigned char *)s + n);
            if (k) {
                i += (size_t)k - 1;
                continue;
            }
        }
        fy_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': fy_buf_append(b, "\\\"", 2); break;
        case '\\': fy_buf_append(b, "\\\\", 2); break;
        case '\n': fy_buf_append(b, "\\n", 2); break;
        case '\r': fy_buf_append(b, "\\r", 2); break;
        case '\t': fy_buf_append(b, "\\t", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            fy_buf_append(b, esc, 6);
        }
        }
    }
    fy_buf_append(b, s + run, n - run);
    fy_buf_putc(b, '"');
}

void fy_buf_reset(struct fy_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void fy_buf_free(struct fy_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void fy_buf_double(struct fy_buf *b, double d) {
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    fy_buf_puts(b, tmp);
    /* an integral float past 2^53 written as bare digits would read back as
     * an integer: keep it a float (within 2^53 ferry reads both as integers) */
    if (fabs(d) > 9007199254740992.0 && isfinite(d) && !strpbrk(tmp, ".e")) fy_buf_puts(b, ".0");
}
