/* Registered secrets and their redaction; see fy_secret.h. */
#include "fy_secret.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_log.h"

#include <stdlib.h>
#include <string.h>

#define MIN_BASE64 8            /* characters; a shorter base64 core is not looked for */

/* What is looked for: each secret's raw bytes and its base64 cores. Every
 * needle is matched through the escapes of match() below. */
static struct {
    char **needles;
    size_t n;
} reg;

static int add_needle(char *needle) {
    if (!needle) return FY_ERR;
    for (size_t i = 0; i < reg.n; i++) {
        if (strcmp(reg.needles[i], needle) == 0) {
            free(needle);
            return FY_OK;
        }
    }
    char **v = realloc(reg.needles, (reg.n + 1) * sizeof *v);
    if (!v) {
        free(needle);
        return FY_ERR;
    }
    reg.needles = v;
    reg.needles[reg.n++] = needle;
    return FY_OK;
}

/* The base64 characters that depend on s alone when s starts `align` bytes
 * into the encoded text (malloc'd), or NULL when fewer than MIN_BASE64. */
static char *base64_core(const unsigned char *s, size_t n, int align, const char *alphabet) {
    size_t first = ((size_t)align * 8 + 5) / 6, end = ((size_t)align + n) * 8 / 6;
    if (end < first + MIN_BASE64) return NULL;
    char *out = malloc(end - first + 1), *o = out;
    if (!out) return NULL;
    for (size_t c = first; c < end; c++) {
        size_t bit = c * 6 - (size_t)align * 8, i = bit / 8;
        unsigned w = (unsigned)s[i] << 8 | (i + 1 < n ? s[i + 1] : 0);
        *o++ = alphabet[(w >> (10 - bit % 8)) & 63];
    }
    *o = '\0';
    return out;
}

int fy_secret_add(const char *value) {
    static const char *alphabets[] = {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    };
    if (!value) return FY_ERR;
    size_t n = strlen(value);
    if (n < FY_SECRET_MIN) {
        fy_log(FY_LOG_WARN, NULL, "a secret of %zu byte%s is too short to be redacted (ferry needs at least "
               "%d); it is not registered and shows wherever it is printed", n, n == 1 ? "" : "s", FY_SECRET_MIN);
        return FY_ERR;
    }
    if (add_needle(strdup(value)) != FY_OK) return FY_ERR;
    for (int a = 0; a < 2; a++)
        for (int align = 0; align < 3; align++) {
            char *core = base64_core((const unsigned char *)value, n, align, alphabets[a]);
            if (core) add_needle(core);
        }
    return FY_OK;
}

void fy_secret_clear(void) {
    for (size_t i = 0; i < reg.n; i++) free(reg.needles[i]);
    free(reg.needles);
    reg.needles = NULL;
    reg.n = 0;
}

static int hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* An escape at b[p] (%XX, '+' for a space, a JSON escape): its length, and
 * the byte it stands for in *c. 0 when b[p] starts none. */
static size_t escape_at(const char *b, size_t len, size_t p, unsigned char *c) {
    static const char json_from[] = "\"\\/bfnrt", json_to[] = "\"\\/\b\f\n\r\t";
    switch (b[p]) {
    case '+':
        *c = ' ';
        return 1;
    case '%':
        if (p + 2 < len && hex(b[p + 1]) >= 0 && hex(b[p + 2]) >= 0) {
            *c = (unsigned char)(hex(b[p + 1]) << 4 | hex(b[p + 2]));
            return 3;
        }
        return 0;
    case '\\':
        if (p + 1 >= len) return 0;
        if (b[p + 1] == 'u') {
            if (p + 5 >= len || b[p + 2] != '0' || b[p + 3] != '0' || hex(b[p + 4]) < 0 || hex(b[p + 5]) < 0 ||
                hex(b[p + 4]) > 7)
                return 0;                       /* ASCII only: \u00XX */
            *c = (unsigned char)(hex(b[p + 4]) << 4 | hex(b[p + 5]));
            return 6;
        }
        const char *k = b[p + 1] ? strchr(json_from, b[p + 1]) : NULL;
        if (!k) return 0;
        *c = (unsigned char)json_to[k - json_from];
        return 2;
    }
    return 0;
}

/* Does needle[j..] match b from p, each byte either as itself or as an
 * escape of it? The end of the match, or 0. Where a byte matches both ways
 * ('%' as itself and as %25) both are tried; *budget bounds the work. */
static size_t match(const char *b, size_t len, size_t p, const char *needle, size_t nl, size_t j, int *budget) {
    for (; j < nl; j++) {
        if (p >= len || --*budget < 0) return 0;
        unsigned char want = (unsigned char)needle[j], c;
        size_t esc = escape_at(b, len, p, &c);
        int itself = (unsigned char)b[p] == want, escaped = esc && c == want;
        if (itself && escaped) {
            size_t end = match(b, len, p + 1, needle, nl, j + 1, budget);
            if (end) return end;
            p += esc;
        } else if (itself) {
            p++;
        } else if (escaped) {
            p += esc;
        } else {
            return 0;
        }
    }
    return p;
}

/* The end of the longest needle matching at b[p], or 0. */
static size_t match_any(const char *b, size_t len, size_t p) {
    size_t best = 0;
    unsigned char c = (unsigned char)b[p];
    int may_escape = c == '%' || c == '+' || c == '\\';
    for (size_t i = 0; i < reg.n; i++) {
        const char *nd = reg.needles[i];
        if (!may_escape && c != (unsigned char)nd[0]) continue;
        size_t nl = strlen(nd);
        int budget = (int)(4 * nl + 64);
        size_t end = match(b, len, p, nd, nl, 0, &budget);
        if (end > best) best = end;
    }
    return best;
}

int fy_secret_found(const char *text, size_t len) {
    for (size_t p = 0; text && reg.n && p < len; p++)
        if (match_any(text, len, p)) return 1;
    return 0;
}

void fy_redact(struct fy_buf *b) {
    static const char mask[] = "[REDACTED]";
    if (!reg.n || !b->data) return;
    struct fy_buf out = {0};
    size_t copied = 0;
    for (size_t p = 0; p < b->len;) {
        size_t end = match_any(b->data, b->len, p);
        if (!end) {
            p++;
            continue;
        }
        fy_buf_append(&out, b->data + copied, p - copied);
        fy_buf_append(&out, mask, sizeof mask - 1);
        copied = p = end;
    }
    if (!out.data) return;                      /* nothing found */
    fy_buf_append(&out, b->data + copied, b->len - copied);
    fy_buf_free(b);
    *b = out;
}
