/* fuzz_csv: the CSV reader (core/fy_csv.h) returns the same rows and the same
 * error whatever its read buffer size.
 *
 * Input: byte 0 picks the delimiter, the quote and max_row_bytes (byte 1 is
 * the raw delimiter or quote when byte 0 asks for one); the rest is the CSV
 * text. Inputs shorter than 2 bytes are CSV text with default options.
 * Each input is read through fy_csv_open_file over fmemopen once with the
 * default buffer and once per size in bufsizes[]; every pass must give
 * byte-identical rows, line numbers and outcome, and the same as a small
 * reference reader written from the dialect in fy_csv.h (model() below:
 * rows, fields, row lines and the two documented error messages). Also checked: options that
 * the header calls invalid are refused and no others; every row has at
 * least one field and NUL-terminated fields; row lines strictly increase;
 * errors are sticky and end of input stays the end. */
#include "fy_buf.h"
#include "fy_csv.h"
#include "fuzz_common.h"

static const size_t bufsizes[] = {1, 2, 3, 7, 64, 4096, 65536};

struct opts_choice {
    fy_csv_opts o;
    int valid;           /* the header says fy_csv_open_file accepts these */
};

static const uint8_t *choose_opts(const uint8_t *data, size_t *size, struct opts_choice *c) {
    static const char delims[] = {',', ';', '\t', '|', ' ', 0, '"'};
    static const char quotes[] = {'"', '\'', 0};
    static const size_t max_rows[] = {0, 1, 2, 5, 16, 100, 4096, 0};
    memset(c, 0, sizeof *c);
    if (*size >= 2) {
        uint8_t b = data[0], raw = data[1];
        c->o.delimiter = (b & 7) == 7 ? (char)raw : delims[b & 7];
        c->o.quote = ((b >> 3) & 3) == 3 ? (char)(raw ^ 0x55) : quotes[(b >> 3) & 3];
        c->o.max_row_bytes = max_rows[b >> 5];
        data += 2;
        *size -= 2;
    }
    char d = c->o.delimiter ? c->o.delimiter : ',', q = c->o.quote ? c->o.quote : '"';
    c->valid = d != q && d != '\n' && d != '\r' && q != '\n' && q != '\r' &&
               (unsigned char)d != 0xEF && (unsigned char)q != 0xEF;     /* fy_csv.h refuses these */
    return data;
}

/* Read everything, appending a transcript of rows and the outcome to out. */
static void read_all(const uint8_t *data, size_t size, const struct opts_choice *c,
                     size_t bufsize, struct fy_buf *out) {
    /* fmemopen needs a non-empty buffer; an empty one reads as empty input */
    static char empty[1];
    FILE *fp = fmemopen(size ? (void *)data : empty, size, "rb");
    FUZZ_CHECK(fp != NULL, "fmemopen failed");
    fy_csv *r = fy_csv_open_file(fp, 1, &c->o);
    if (!c->valid) {
        FUZZ_CHECK(r == NULL, "invalid options accepted: delimiter 0x%02x quote 0x%02x",
                   (unsigned char)c->o.delimiter, (unsigned char)c->o.quote);
        fclose(fp);
        return;
    }
    FUZZ_CHECK(r != NULL, "valid options refused: delimiter 0x%02x quote 0x%02x",
               (unsigned char)c->o.delimiter, (unsigned char)c->o.quote);
    if (bufsize) FUZZ_CHECK(fy_csv_set_bufsize(r, bufsize) == 0, "set_bufsize(%zu) failed", bufsize);
    FUZZ_CHECK(fy_csv_row_line(r) == 0, "row line before the first row");
    fy_csv_field *f;
    size_t n, last_line = 0;
    int rc;
    while ((rc = fy_csv_next(r, &f, &n)) == 1 || rc == FY_CSV_SKIPPED) {
        size_t line = fy_csv_row_line(r);
        if (rc == FY_CSV_SKIPPED) {         /* a row over a limit: skipped, reading goes on */
            size_t elen;
            const char *ex = fy_csv_excerpt(r, &elen);
            FUZZ_CHECK(fy_csv_error(r)[0] != '\0', "a skipped row without a reason");
            FUZZ_CHECK(line > last_line, "skipped row line %zu after %zu", line, last_line);
            last_line = line;
            /* the excerpt's length only: with a NUL delimiter its bytes can
             * differ with the buffer size (separators rebuilt as ',') */
            FUZZ_CHECK(elen == 0 || ex != NULL, "an excerpt without bytes");
            fy_buf_printf(out, "skipped line %zu: %s, excerpt %zu bytes\n", line, fy_csv_error(r), elen);
            continue;
        }
        FUZZ_CHECK(n >= 1, "a row without fields at line %zu", line);
        FUZZ_CHECK(line > last_line, "row line %zu after %zu", line, last_line);
        last_line = line;
        fy_buf_printf(out, "row line %zu, %zu fields\n", line, n);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(f[i].ptr[f[i].len] == '\0', "field %zu of line %zu not NUL-terminated", i, line);
            fy_buf_printf(out, "  %10zu:", f[i].len);
            fy_buf_append(out, f[i].ptr, f[i].len);
            fy_buf_putc(out, '\n');
        }
    }
    FUZZ_CHECK(rc == 0 || rc == -1, "fy_csv_next returned %d", rc);
    const char *err = fy_csv_error(r);
    if (rc == 0) {
        FUZZ_CHECK(err[0] == '\0' || last_line, "end of input with an error: %s", err);   /* a skip's reason may stay */
        FUZZ_CHECK(fy_csv_next(r, &f, &n) == 0, "a row after the end of input");
        fy_buf_puts(out, "end\n");
    } else {
        FUZZ_CHECK(err[0] != '\0', "-1 without an error message");
        fy_buf_printf(out, "error %s\n", err);
        FUZZ_CHECK(fy_csv_next(r, &f, &n) == -1, "error was not sticky");
        FUZZ_CHECK(strcmp(fy_csv_error(r), err) == 0, "error message changed");
    }
    /* the row buffer grows with the longest row, never beyond what the input holds */
    FUZZ_CHECK(fy_csv_row_capacity(r) <= 2 * (size + 1) + 65536,
               "row buffer %zu bytes for %zu bytes of input", fy_csv_row_capacity(r), size);
    fy_csv_close(r);
}

/* The dialect of fy_csv.h, read naively from a buffer holding the whole
 * input; writes the same transcript as read_all. When a row at the end is
 * both unterminated and too long, the header does not say which error wins:
 * *alt gets the transcript with the other one (else it stays empty). */
static void model(const uint8_t *p, size_t n, const fy_csv_opts *o, struct fy_buf *out, struct fy_buf *alt) {
    const uint8_t d = (uint8_t)(o->delimiter ? o->delimiter : ','), q = (uint8_t)(o->quote ? o->quote : '"');
    const size_t max = o->max_row_bytes ? o->max_row_bytes : FY_CSV_DEFAULT_MAX_ROW;
    struct fy_buf row = {0};
    size_t i = 0, line = 1;
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) i = 3;
    while (i < n) {
        if (p[i] == '\n' || p[i] == '\r') {            /* an empty line: no row */
            i += p[i] == '\r' && i + 1 < n && p[i + 1] == '\n' ? 2 : 1;
            line++;
            continue;
        }
        size_t start = i, row_line = line, nf = 0;
        int unterminated = 0;
        fy_buf_reset(&row);
        for (;;) {                                      /* one field */
            size_t flen_at = row.len;
            fy_buf_puts(&row, "  0000000000:");         /* length patched below */
            size_t data_at = row.len;
            if (i < n && p[i] == q) {
                for (i++;; i++) {
                    if (i >= n) { unterminated = 1; break; }
                    if (p[i] == q) {
                        if (i + 1 < n && p[i + 1] == q) { fy_buf_putc(&row, (char)q); i++; continue; }
                        i++;
                        break;
                    }
                    if (p[i] == '\n' || (p[i] == '\r' && !(i + 1 < n && p[i + 1] == '\n'))) line++;
                    fy_buf_putc(&row, (char)p[i]);
                }
                if (unterminated) break;
            }
            while (i < n && p[i] != d && p[i] != '\n' && p[i] != '\r') fy_buf_putc(&row, (char)p[i++]);
            char num[16];
            snprintf(num, sizeof num, "%10zu", row.len - data_at);
            memcpy(row.data + flen_at + 2, num, 10);
            fy_buf_putc(&row, '\n');
            nf++;
            if (i < n && p[i] == d) { i++; continue; }
            break;
        }
        if ((unterminated ? n : i) - start > max) {
            if (unterminated) {
                if (out->len) fy_buf_append(alt, out->data, out->len);
                fy_buf_printf(alt, "error line %zu: unterminated quoted field\n", row_line);
            }
            fy_buf_printf(out, "error line %zu: row exceeds %zu bytes\n", row_line, max);
            fy_buf_free(&row);
            return;
        }
        if (unterminated) {
            fy_buf_printf(out, "error line %zu: unterminated quoted field\n", row_line);
            fy_buf_free(&row);
            return;
        }
        fy_buf_printf(out, "row line %zu, %zu fields\n", row_line, nf);
        fy_buf_append(out, row.data, row.len);
        if (i < n) {                                    /* the row's terminator */
            i += p[i] == '\r' && i + 1 < n && p[i + 1] == '\n' ? 2 : 1;
            line++;
        }
    }
    fy_buf_free(&row);
    fy_buf_puts(out, "end\n");
}

static void expect_same(const struct fy_buf *want, const struct fy_buf *got, const char *what) {
    if (got->len == want->len && (!want->len || memcmp(got->data, want->data, want->len) == 0)) return;
    /* fwrite: fields may hold NUL bytes */
    fputs("--- fy_csv, default buffer:\n", stderr);
    if (want->len) fwrite(want->data, 1, want->len, stderr);
    fprintf(stderr, "--- %s:\n", what);
    if (got->len) fwrite(got->data, 1, got->len, stderr);
    FUZZ_CHECK(0, "rows differ: %s", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct opts_choice c;
    data = choose_opts(data, &size, &c);
    struct fy_buf want = {0}, got = {0};
    read_all(data, size, &c, 0, &want);
    /* the reference reader knows no skipping: compare only without skips */
    int skipped = want.len && memmem(want.data, want.len, "skipped line ", 13) != NULL;
    if (c.valid && !skipped) {
        /* the reader's unterminated-quote error goes on to count the lines not
         * read; the reference reader stops at "unterminated quoted field" */
        struct fy_buf alt = {0}, cut = {0};
        /* the outcome is the transcript's last line; a field may hold the
         * same words (a CI finding), so look nowhere else */
        const char *end = want.data + want.len, *e = want.len ? end - 1 : end;   /* at the final newline */
        while (e > want.data && e[-1] != '\n') e--;
        const char *u = end - e >= 11 && !memcmp(e, "error line ", 11)
                        ? memmem(e, (size_t)(end - e), "unterminated quoted field, ", 27) : NULL;
        size_t keep = u ? (size_t)(u - want.data) + 25 : want.len;
        fy_buf_append(&cut, want.data, keep);
        if (u) fy_buf_putc(&cut, '\n');
        model(data, size, &c.o, &got, &alt);
        if (!alt.len || alt.len != cut.len || memcmp(alt.data, cut.data, cut.len) != 0)
            expect_same(&cut, &got, "the reference reader (model() in fuzz_csv.c)");
        fy_buf_free(&alt);
        fy_buf_free(&cut);
    }
    for (size_t i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "a %zu-byte read buffer", bufsizes[i]);
        fy_buf_reset(&got);
        read_all(data, size, &c, bufsizes[i], &got);
        expect_same(&want, &got, what);
    }
    fy_buf_free(&want);
    fy_buf_free(&got);
    return 0;
}
