/* A growable byte buffer for building strings (log lines, JSON, SQL).
 * Always NUL-terminated; `len` excludes the terminator. Zero-initialise
 * (`struct fy_buf b = {0};`) and release with fy_buf_free. Allocation
 * failure aborts: these buffers are small and owned by the engine. */
#ifndef FY_BUF_H
#define FY_BUF_H

#include <stddef.h>

struct fy_buf {
    char *data;
    size_t len;
    size_t cap;
};

void fy_buf_reserve(struct fy_buf *b, size_t extra);
void fy_buf_append(struct fy_buf *b, const char *s, size_t n);
void fy_buf_puts(struct fy_buf *b, const char *s);
void fy_buf_putc(struct fy_buf *b, char c);
void fy_buf_printf(struct fy_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append `s` as a quoted JSON string, escaping per RFC 8259. The text is
 * always valid JSON: a byte that is not part of well-formed UTF-8 is
 * written as \u00XX, the character of the same number (its Latin-1
 * reading), since JSON has no way to carry the byte itself. */
void fy_buf_json_string(struct fy_buf *b, const char *s, size_t n);
/* Append a finite double in its shortest form that reads back exactly. */
void fy_buf_double(struct fy_buf *b, double d);
void fy_buf_reset(struct fy_buf *b);
void fy_buf_free(struct fy_buf *b);

#endif
