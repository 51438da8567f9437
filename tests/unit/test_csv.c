/* Unit tests for core/fy_csv.c.
 *
 * Fixtures live in FY_FIXTURES/csv as NAME.csv (the input, exact bytes) and
 * NAME.expect (the result), read from the repository root. An .expect file
 * holds one line per item, LF-terminated:
 *   # comment
 *   %max_row_bytes N        options for the reader (also %max_fields N,
 *   %delimiter C, %quote C)
 *   LINE<TAB>F1<TAB>F2...   a row: the line fy_csv_row_line must report,
 *                           then its fields
 *   skip<TAB>MESSAGE<TAB>EXCERPT   a row over a limit: fy_csv_next returns
 *                           FY_CSV_SKIPPED with MESSAGE and EXCERPT
 *   error<TAB>MESSAGE       fy_csv_next must fail with exactly MESSAGE
 * after the last item fy_csv_next must return 0 (or keep failing after an
 * error). In fields, \t \n \r \\ \xHH are escapes and \e is the empty
 * string (so no line ends in an invisible tab). Every fixture is read with
 * the default read buffer and with tiny ones, so each byte boundary in it
 * also lands on a buffer refill. */
#include "fy_csv.h"
#include "testhelp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FY_FIXTURES
#define FY_FIXTURES "tests/fixtures"
#endif

typedef struct exp_row {
    const char *skip;        /* a skipped row's message, or NULL */
    size_t line;
    size_t nfields;
    fy_csv_field *fields;    /* ptrs into exp_file.text */
} exp_row;

typedef struct exp_file {
    char *text;              /* the file, unescaped in place */
    fy_csv_opts opts;
    exp_row rows[64];
    size_t nrows;
    const char *error;       /* expected message or NULL */
} exp_file;

/* Unescape s in place; returns the new length. */
static size_t unescape(char *s)
{
    char *w = s, *r = s;

    while (*r) {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        r++;
        switch (*r) {
        case 't': *w++ = '\t'; r++; break;
        case 'n': *w++ = '\n'; r++; break;
        case 'r': *w++ = '\r'; r++; break;
        case 'e': r++; break;
        case 'x': {
            char hex[3] = { r[1], r[2], 0 };
            *w++ = (char)strtol(hex, NULL, 16);
            r += 3;
            break;
        }
        default: *w++ = *r++; break;   /* \\ and anything else */
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Parse an .expect file into e. Returns 0, or -1 when unreadable. */
static int exp_load(exp_file *e, const char *path)
{
    char *line, *next;

    memset(e, 0, sizeof *e);
    e->text = slurp(path);
    if (!e->text)
        return -1;
    for (line = e->text; *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        else
            next = line + strlen(line);
        if (*line == '#' || *line == '\0')
            continue;
        if (strncmp(line, "%max_row_bytes ", 15) == 0) {
            e->opts.max_row_bytes = strtoul(line + 15, NULL, 10);
        } else if (strncmp(line, "%max_fields ", 12) == 0) {
            e->opts.max_fields = strtoul(line + 12, NULL, 10);
        } else if (strncmp(line, "%delimiter ", 11) == 0) {
            e->opts.delimiter = line[11];
        } else if (strncmp(line, "%quote ", 7) == 0) {
            e->opts.quote = line[7];
        } else if (strncmp(line, "error\t", 6) == 0) {
            e->error = line + 6;
        } else if (e->nrows < sizeof e->rows / sizeof e->rows[0]) {
            exp_row *r = &e->rows[e->nrows++];
            char *tab = strchr(line, '\t');

            if (strncmp(line, "skip\t", 5) == 0) {
                r->skip = line + 5;
                tab = strchr(r->skip, '\t');
                *tab = '\0';
            }
            r->line = strtoul(line, NULL, 10);
            r->fields = calloc(64, sizeof *r->fields);
            while (tab && r->nfields < 64) {
                char *f = tab + 1;

                tab = strchr(f, '\t');
                if (tab)
                    *tab = '\0';
                r->fields[r->nfields].ptr = f;
                r->fields[r->nfields].len = unescape(f);
                r->nfields++;
            }
        }
    }
    return 0;
}

static void exp_free(exp_file *e)
{
    for (size_t i = 0; i < e->nrows; i++)
        free(e->rows[i].fields);
    free(e->text);
}

/* Read the fixture NAME with read buffer size bufsize (0 = default) and
 * compare with NAME.expect. Prints what differs; returns 1 on a match. */
static int run_case(const char *name, size_t bufsize)
{
    char path[512], err[256];
    exp_file e;
    fy_csv *c;
    fy_csv_field *f;
    size_t nf, i, j;
    int ok = 1, r;

    snprintf(path, sizeof path, "%s/csv/%s.expect", FY_FIXTURES, name);
    if (exp_load(&e, path) < 0) {
        printf("  %s: cannot read\n", path);
        return 0;
    }
    snprintf(path, sizeof path, "%s/csv/%s.csv", FY_FIXTURES, name);
    c = fy_csv_open(path, &e.opts, err, sizeof err);
    if (!c) {
        printf("  %s\n", err);
        exp_free(&e);
        return 0;
    }
    if (bufsize)
        fy_csv_set_bufsize(c, bufsize);
    for (i = 0; ok && i < e.nrows; i++) {
        exp_row *x = &e.rows[i];

        r = fy_csv_next(c, &f, &nf);
        if (x->skip) {
            size_t elen;
            const char *ex = fy_csv_excerpt(c, &elen);

            if (r != FY_CSV_SKIPPED || strcmp(fy_csv_error(c), x->skip) != 0 ||
                elen != x->fields[0].len || memcmp(ex, x->fields[0].ptr, elen) != 0) {
                printf("  %s/%zu row %zu: got %d [%s] excerpt [%.*s], want skip [%s] [%s]\n", name,
                       bufsize, i, r, fy_csv_error(c), (int)elen, ex, x->skip, x->fields[0].ptr);
                ok = 0;
            }
            continue;
        }
        if (r != 1) {
            printf("  %s/%zu row %zu: got %d (%s)\n", name, bufsize, i, r, fy_csv_error(c));
            ok = 0;
            break;
        }
        if (fy_csv_row_line(c) != x->line) {
            printf("  %s/%zu row %zu: line %zu, want %zu\n", name, bufsize, i,
                   fy_csv_row_line(c), x->line);
            ok = 0;
        }
        if (nf != x->nfields) {
            printf("  %s/%zu row %zu: %zu fields, want %zu\n", name, bufsize, i, nf, x->nfields);
            ok = 0;
            break;
        }
        for (j = 0; j < nf; j++) {
            if (f[j].len != x->fields[j].len ||
                memcmp(f[j].ptr, x->fields[j].ptr, f[j].len) != 0 || f[j].ptr[f[j].len] != '\0') {
                printf("  %s/%zu row %zu field %zu: [%.*s], want [%s]\n", name, bufsize, i, j,
                       (int)f[j].len, f[j].ptr, x->fields[j].ptr);
                ok = 0;
            }
        }
    }
    if (ok) {
        int want = e.error ? -1 : 0;

        for (int k = 0; k < 2; k++) {   /* the end (or error) is sticky */
            r = fy_csv_next(c, &f, &nf);
            if (r != want) {
                printf("  %s/%zu: at end got %d, want %d\n", name, bufsize, r, want);
                ok = 0;
            }
        }
        if (e.error && strcmp(fy_csv_error(c), e.error) != 0) {
            printf("  %s/%zu: error [%s], want [%s]\n", name, bufsize, fy_csv_error(c), e.error);
            ok = 0;
        }
    }
    fy_csv_close(c);
    exp_free(&e);
    return ok;
}

static void test_fixtures(void)
{
    static const char *names[] = {
        "comma_in_quotes", "empty", "empty_crlf", "empty_fields", "escaped_quotes", "json",
        "newlines", "newlines_crlf", "quotes_and_newlines", "simple", "simple_crlf", "utf8",
        "bom", "bom_crlf", "bom_only", "bom_partial", "lone_cr", "no_trailing_newline",
        "no_trailing_newline_quoted", "trailing_empty_field", "blank_lines_between",
        "only_newlines", "empty_quoted_rows", "unterminated_quote", "ragged", "line_numbers",
        "after_quote", "long_row", "long_row_quotes", "long_row_multiline", "long_row_eof",
        "semicolon", "single_quote", "nul_byte", "long_row_resync", "long_row_quoted_newline",
        "many_fields", "unterminated_crlf", "bom_partial_delim", "bom_partial_delim_eof",
    };
    static const size_t bufsizes[] = { 0, 1, 2, 3, 4, 5, 7, 13, 64 };
    char descr[128];

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (size_t k = 0; k < sizeof bufsizes / sizeof bufsizes[0]; k++) {
            snprintf(descr, sizeof descr, "fixture %s, read buffer %zu", names[i], bufsizes[k]);
            fy_test_cond(descr, run_case(names[i], bufsizes[k]));
        }
    }
}

/* Read data (len bytes, via fmemopen) with read buffer bufsize and render
 * every result as text: "L<line>:" and "<len>=<bytes>|" per field for each
 * row, "S:<message>|<excerpt>" for a skipped row, then "END" or
 * "ERR:<message>". Caller frees. */
static char *render_opts(const char *data, size_t len, size_t bufsize, const fy_csv_opts *opts)
{
    FILE *in = fmemopen((void *)data, len, "r");
    char *out = NULL;
    size_t outlen = 0;
    FILE *o = open_memstream(&out, &outlen);
    fy_csv *c = fy_csv_open_file(in, 1, opts);
    fy_csv_field *f;
    size_t nf;
    int r;

    if (bufsize)
        fy_csv_set_bufsize(c, bufsize);
    while ((r = fy_csv_next(c, &f, &nf)) > 0) {
        if (r == FY_CSV_SKIPPED) {
            size_t elen;
            const char *ex = fy_csv_excerpt(c, &elen);

            fprintf(o, "S:%s|", fy_csv_error(c));
            fwrite(ex, 1, elen, o);
            fputc('\n', o);
            continue;
        }
        fprintf(o, "L%zu:", fy_csv_row_line(c));
        for (size_t j = 0; j < nf; j++) {
            fprintf(o, "%zu=", f[j].len);
            fwrite(f[j].ptr, 1, f[j].len, o);
            fputc('|', o);
        }
        fputc('\n', o);
    }
    if (r == 0)
        fputs("END", o);
    else
        fprintf(o, "ERR:%s", fy_csv_error(c));
    fy_csv_close(c);
    fclose(o);
    return out;
}

static char *render(const char *data, size_t len, size_t bufsize)
{
    return render_opts(data, len, bufsize, NULL);
}

/* Inputs whose tricky parts ("" pairs, CRLF inside and after quotes, the BOM,
 * a partial BOM) must parse the same wherever a buffer refill falls: every
 * read buffer size from 1 byte to the whole input is tried. */
static void test_splits(void)
{
    static const struct { const char *in, *want; } cases[] = {
        { "\"a\"\"b\",c\r\nd", "L1:3=a\"b|1=c|\nL2:1=d|\nEND" },
        { "\xEF\xBB\xBFx,\"y\"\r\n", "L1:1=x|1=y|\nEND" },
        { "\xEF\xBB\xBF\"\"\"\"\r\n\r\nz", "L1:1=\"|\nL3:1=z|\nEND" },
        { "\"p\r\nq\",\"\"\"\",\r\r\n\n\"z\"", "L1:4=p\r\nq|1=\"|0=|\nL5:1=z|\nEND" },
        { "\xEF\xBB" "a", "L1:3=\xEF\xBB" "a|\nEND" },
        { "\xEF" "\"q\"\n", "L1:4=\xEF\"q\"|\nEND" },
        { "\"a\"b\"\"c\",d\n\"", "L1:6=ab\"\"c\"|1=d|\nERR:line 2: unterminated quoted field, 1 line from line 2 not read "
          "(the quote opened on line 2 never closes)" },
        { "x,\"\r\r\n\n\"\ry\r\n", "L1:1=x|4=\r\r\n\n|\nL5:1=y|\nEND" },
    };
    char descr[128];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].in);
        int ok = 1;

        for (size_t bs = 0; bs <= len + 1; bs++) {
            char *got = render(cases[i].in, len, bs);

            if (strcmp(got, cases[i].want) != 0) {
                printf("  split case %zu, read buffer %zu: got [%s]\n", i, bs, got);
                ok = 0;
            }
            free(got);
        }
        snprintf(descr, sizeof descr, "split case %zu parses alike at every read buffer size", i);
        fy_test_cond(descr, ok);
    }
}

/* The skip path of over-long and over-wide rows, at every read buffer size:
 * the same rows come back, the same rows are skipped with the same message
 * and excerpt, and reading resumes at the same place. */
static void test_skip_splits(void)
{
    static const struct { size_t max_row, max_fields; const char *in, *want; } cases[] = {
        { 8, 0, "a,b\n0123456789\nc,d\n", "L1:1=a|1=b|\nS:line 2: row exceeds 8 bytes (10 bytes); skipped|01234567\n"
          "L3:1=c|1=d|\nEND" },
        { 8, 0, "\"x,\r\n\"\"y\r\nzz\",w\r\nok\r\n", "S:line 1: row exceeds 8 bytes (15 bytes on lines 1-3); skipped|"
          "x,\r\n\"y\r\n\nL4:2=ok|\nEND" },
        { 8, 0, "a\n\"0123456789\r\n\"\"\n", "L1:1=a|\nERR:line 2: unterminated quoted field, 2 lines from "
          "line 2 not read (the quote opened on line 2 never closes)" },
        { 8, 0, "\xEF\xBB\xBF" "0123456789\r\r\nb", "S:line 1: row exceeds 8 bytes (10 bytes); skipped|01234567\n"
          "L3:1=b|\nEND" },
        { 0, 2, "a,b,c,\"d\ne\"\nf,g\n", "S:line 1: row exceeds 2 fields; skipped|a,b\nL3:1=f|1=g|\nEND" },
        { 0, 2, ",,,\n,\n", "S:line 1: row exceeds 2 fields; skipped|,\nL2:0=|0=|\nEND" },
    };
    char descr[128];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fy_csv_opts opts = { 0, 0, cases[i].max_row, cases[i].max_fields };
        size_t len = strlen(cases[i].in);
        int ok = 1;

        for (size_t bs = 0; bs <= len + 1; bs++) {
            char *got = render_opts(cases[i].in, len, bs, &opts);

            if (strcmp(got, cases[i].want) != 0) {
                printf("  skip case %zu, read buffer %zu: got [%s]\n", i, bs, got);
                ok = 0;
            }
            free(got);
        }
        snprintf(descr, sizeof descr, "skip case %zu reads alike at every read buffer size", i);
        fy_test_cond(descr, ok);
    }
}

static void test_api(void)
{
    char err[256] = "";
    const char *missing = FY_FIXTURES "/csv/no_such_file.csv";
    static const char data[] = "a,b\nc,d\n";
    fy_csv_opts bad = { ';', ';', 0, 0 }, bad_nl = { '\n', 0, 0, 0 }, bad_q = { 0, '\r', 0, 0 };
    fy_csv_field *f;
    size_t nf;
    fy_csv *c;
    FILE *fp;

    c = fy_csv_open(missing, NULL, err, sizeof err);
    fy_test_cond("open of a missing file fails", c == NULL);
    fy_test_cond("open error names the path", strstr(err, missing) != NULL);
    fy_test_cond("open error carries strerror", strstr(err, strerror(ENOENT)) != NULL);
    fy_test_cond("open with NULL err buffer is safe",
                 fy_csv_open(missing, NULL, NULL, 0) == NULL);
    c = fy_csv_open(FY_FIXTURES "/csv/simple.csv", &bad, err, sizeof err);
    fy_test_cond("delimiter equal to quote is refused", c == NULL);
    fy_test_cond("refusal says why", strstr(err, strerror(EINVAL)) != NULL);
    fy_csv_close(NULL);
    fy_test_cond("close(NULL) is a no-op", 1);

    fp = fmemopen((void *)data, sizeof data - 1, "r");
    fy_test_cond("LF delimiter is refused", fy_csv_open_file(fp, 0, &bad_nl) == NULL);
    fy_test_cond("CR quote is refused", fy_csv_open_file(fp, 0, &bad_q) == NULL);
    c = fy_csv_open_file(fp, 0, NULL);
    fy_test_cond("open_file works", c != NULL);
    fy_test_cond("row_line is 0 before the first row", fy_csv_row_line(c) == 0);
    fy_test_cond("error is empty before any", strcmp(fy_csv_error(c), "") == 0);
    fy_test_cond("first row", fy_csv_next(c, &f, &nf) == 1 && nf == 2 &&
                 strcmp(f[0].ptr, "a") == 0 && strcmp(f[1].ptr, "b") == 0);
    fy_test_cond("set_bufsize after reading is refused", fy_csv_set_bufsize(c, 8) == -1);
    fy_csv_close(c);
    fy_test_cond("unowned FILE stays open after close",
                 fseek(fp, 0, SEEK_SET) == 0 && fgetc(fp) == 'a' && fclose(fp) == 0);

    fp = fmemopen((void *)data, sizeof data - 1, "r");
    c = fy_csv_open_file(fp, 1, NULL);
    fy_test_cond("set_bufsize(0) is refused", fy_csv_set_bufsize(c, 0) == -1);
    fy_test_cond("set_bufsize before reading works", fy_csv_set_bufsize(c, 3) == 0);
    fy_test_cond("rows with a 3-byte buffer",
                 fy_csv_next(c, &f, &nf) == 1 && fy_csv_next(c, &f, &nf) == 1 &&
                 strcmp(f[1].ptr, "d") == 0 && fy_csv_row_line(c) == 2 &&
                 fy_csv_next(c, &f, &nf) == 0 && fy_csv_next(c, &f, &nf) == 0);
    fy_csv_close(c);            /* owned: closes fp; ASan/valgrind would see a leak otherwise */
}

/* 200,000 rows (one of them 100,000 bytes wide) through the reader: all
 * arrive, line numbers hold, and the row buffer tracks the longest row, not
 * the file. */
static void test_streaming(void)
{
    enum { NROWS = 200000, BIG_AT = 100000, BIG_LEN = 100000 };
    char path[] = "/tmp/fy_csv_testXXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    fy_csv *c;
    fy_csv_field *f;
    size_t nf, rows = 0, cap_before_big = 0, big_len = 0, bad_rows = 0;
    char want[64], err[256];
    long fsize;
    int r;

    fy_test_cond("temp file created", fp != NULL);
    if (!fp)
        return;
    for (int i = 0; i < NROWS; i++) {
        if (i == BIG_AT) {
            fprintf(fp, "%d,", i);
            for (int k = 0; k < BIG_LEN; k++)
                fputc('x', fp);
            fputs(",\"q\",end\n", fp);
        } else {
            fprintf(fp, "%d,name %d,\"quoted, \"\"%d\"\"\",end%d%s", i, i, i, i,
                    i % 2 ? "\r\n" : "\n");
        }
    }
    fsize = ftell(fp);
    fclose(fp);

    c = fy_csv_open(path, NULL, err, sizeof err);
    fy_test_cond("open temp file", c != NULL);
    if (!c) {
        unlink(path);
        return;
    }
    while ((r = fy_csv_next(c, &f, &nf)) == 1) {
        if (nf != 4 || strtoul(f[0].ptr, NULL, 10) != rows || fy_csv_row_line(c) != rows + 1)
            bad_rows++;
        if (rows == BIG_AT - 1)
            cap_before_big = fy_csv_row_capacity(c);
        if (rows == BIG_AT)
            big_len = f[1].len;
        rows++;
        if (rows == NROWS) {
            snprintf(want, sizeof want, "end%d", NROWS - 1);
            fy_test_cond("last field of last row", strcmp(f[3].ptr, want) == 0);
            snprintf(want, sizeof want, "quoted, \"%d\"", NROWS - 1);
            fy_test_cond("quoted field of last row", strcmp(f[2].ptr, want) == 0);
        }
    }
    fy_test_cond("streaming ends cleanly", r == 0);
    fy_test_cond("streaming row count", rows == NROWS);
    fy_test_cond("every row has 4 fields and the right line", bad_rows == 0);
    fy_test_cond("wide row read whole", big_len == BIG_LEN);
    fy_test_cond("file is much bigger than the read buffer",
                 fsize > 50 * (long)FY_CSV_DEFAULT_BUFSIZE);
    fy_test_cond("row buffer stays small before the wide row", cap_before_big <= 256);
    fy_test_cond("row buffer grows only to about the longest row",
                 fy_csv_row_capacity(c) > BIG_LEN && fy_csv_row_capacity(c) <= 2 * (BIG_LEN + 64));
    fy_csv_close(c);
    unlink(path);
}

int main(void)
{
    test_fixtures();
    test_splits();
    test_skip_splits();
    test_api();
    test_streaming();
    return fy_test_report();
}
