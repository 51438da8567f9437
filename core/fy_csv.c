/* fy_csv: streaming CSV reader. See fy_csv.h for the dialect.
 *
 * The reader fills a fixed read buffer with fread and runs a byte-level state
 * machine over it. Runs of ordinary bytes are found with a 256-entry class
 * table and copied into the row buffer with one memcpy each; a field is
 * closed by writing a NUL after it. While a row is being parsed each
 * fields[i].len holds the field's start offset in the row buffer (the buffer
 * may move when it grows); row_finish turns them into pointers and lengths.
 * Every state survives a buffer refill, so a row, a "" pair, a CRLF or the
 * BOM may be split anywhere.
 *
 * A row that would outgrow max_row or max_fields switches the reader to
 * skipping: the state machine runs on (quotes, newlines and line numbers
 * as before) but nothing more is stored, and at the row's end fy_csv_next
 * reports it skipped. */
#include "fy_csv.h"
#include "fy_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum csv_state {
    ST_BOM,          /* at start of input, matching EF BB BF */
    ST_ROW_START,    /* between rows: skips empty lines */
    ST_FIELD_START,  /* in a row, at the start of a field (not yet begun) */
    ST_UNQUOTED,     /* in an unquoted field */
    ST_QUOTED,       /* in a quoted field */
    ST_QUOTE_SEEN    /* just after a quote inside a quoted field */
};

#define CL_UNQ 1     /* ends an unquoted run: delimiter, LF, CR */
#define CL_QUO 2     /* ends a quoted run: quote, LF, CR */

static const unsigned char csv_bom[3] = { 0xEF, 0xBB, 0xBF };

struct fy_csv {
    /* Input */
    FILE *fp;
    int own;                 /* fclose(fp) in fy_csv_close */
    unsigned char *rbuf;     /* fixed read buffer */
    size_t rsize;            /* its size */
    size_t rlen;             /* bytes currently in rbuf */
    size_t rpos;             /* next unscanned byte in rbuf */
    int started;             /* fy_csv_next has been called */
    int eof;                 /* fread reported end of input */
    int done;                /* end reached and reported */

    /* Dialect */
    unsigned char delim;
    unsigned char quote;
    size_t max_row;          /* limit on a row's raw length */
    size_t max_fields;       /* limit on a row's fields; 0: none */
    unsigned char cls[256];  /* CL_* bits per byte value */

    /* Parser */
    int state;               /* enum csv_state */
    int bom_n;               /* BOM bytes matched so far */
    int skip_lf;             /* previous line ended in CR: an LF now completes it */
    size_t line;             /* physical line at the scan position, 1-based */
    size_t row_line;         /* line where the current or last row started */
    size_t row_raw;          /* raw bytes of the current row in earlier buffers */
    size_t mark;             /* rbuf index from which the row's raw bytes count */
    size_t quote_line;       /* line where the current quoted field opened */
    int quoted_cr;           /* in a quoted field, the last byte kept was a CR */
    int last_nl;             /* the last byte read from the input was CR or LF */

    /* A row over a limit */
    int skipping;            /* 0, or SKIP_BYTES / SKIP_FIELDS: parse to its end, store nothing */
    int skipped;             /* why the last skipped row was skipped */
    char excerpt[FY_CSV_EXCERPT];
    size_t excerpt_len;

    /* Current row */
    char *row;               /* field bytes, each field followed by NUL */
    size_t row_len;
    size_t row_cap;
    fy_csv_field *fields;    /* while parsing, .len is the start offset */
    size_t nfields;
    size_t fields_cap;

    /* Errors */
    int failed;              /* sticky: every later fy_csv_next returns -1 */
    char err[256];
};

enum { SKIP_BYTES = FY_CSV_OVER_BYTES, SKIP_FIELDS = FY_CSV_OVER_FIELDS };

/* Write "line N: <message>" into the error buffer. */
static void csv_message(fy_csv *c, size_t line, const char *fmt, va_list ap)
{
    int n = snprintf(c->err, sizeof c->err, "line %zu: ", line);

    if (n > 0 && (size_t)n < sizeof c->err)
        vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
}

/* Record an error for `line` and make the reader fail from now on. */
static void csv_fail(fy_csv *c, size_t line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    csv_message(c, line, fmt, ap);
    va_end(ap);
    c->failed = 1;
}

/* Record why the row starting on `line` is skipped; reading goes on. */
static void csv_note(fy_csv *c, size_t line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    csv_message(c, line, fmt, ap);
    va_end(ap);
}

/* The current row is over a limit (`why`): keep its first bytes as the
 * excerpt - the stored fields, NULs shown as the delimiter, then the
 * `n` bytes at `s` that did not fit - and store nothing more of it. */
static void row_skip(fy_csv *c, int why, const unsigned char *s, size_t n)
{
    size_t cap = c->max_row < FY_CSV_EXCERPT ? c->max_row : FY_CSV_EXCERPT;
    size_t k = c->row_len < cap ? c->row_len : cap;

    for (size_t i = 0; i < k; i++)
        c->excerpt[i] = c->row[i] ? c->row[i] : (char)c->delim;
    if (n > cap - k)
        n = cap - k;
    if (n)
        memcpy(c->excerpt + k, s, n);
    c->excerpt_len = k + n;
    c->skipping = why;
}

/* Make room for `extra` more bytes plus a NUL in the row buffer. Returns 0,
 * 1 when that would take the row past max_row (growing past max_row + 1
 * means the row's raw length already exceeds max_row: each stored byte,
 * NULs included, stands for at least one raw byte, plus one), or -1 when
 * out of memory. */
static int row_reserve(fy_csv *c, size_t extra)
{
    size_t need = c->row_len + extra + 1, cap;
    char *nr;

    if (need <= c->row_cap)
        return 0;
    if (extra > c->max_row || need > c->max_row + 1)
        return 1;
    cap = c->row_cap ? c->row_cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > c->max_row + 1)
        cap = c->max_row + 1;
    nr = realloc(c->row, cap);
    if (!nr) {
        csv_fail(c, c->row_line, "out of memory");
        return -1;
    }
    c->row = nr;
    c->row_cap = cap;
    return 0;
}

/* Append n bytes to the current field; past max_row the row is skipped. */
static inline int row_append(fy_csv *c, const unsigned char *s, size_t n)
{
    if (c->skipping)
        return 0;
    if (c->row_len + n + 1 > c->row_cap) {
        int r = row_reserve(c, n);

        if (r < 0)
            return -1;
        if (r > 0) {
            row_skip(c, SKIP_BYTES, s, n);
            return 0;
        }
    }
    memcpy(c->row + c->row_len, s, n);
    c->row_len += n;
    return 0;
}

/* Start a new field at the end of the row buffer; past max_fields the row
 * is skipped (the excerpt leaves out the last field's NUL). */
static int field_begin(fy_csv *c)
{
    int r;

    if (c->skipping)
        return 0;
    if (c->nfields == c->max_fields && c->nfields > 0) {
        c->row_len--;
        row_skip(c, SKIP_FIELDS, NULL, 0);
        return 0;
    }
    if (c->nfields == c->fields_cap) {
        size_t cap = c->fields_cap ? c->fields_cap * 2 : 16;
        fy_csv_field *nf;

        if (cap > SIZE_MAX / sizeof *nf)
            nf = NULL;
        else
            nf = realloc(c->fields, cap * sizeof *nf);
        if (!nf) {
            csv_fail(c, c->row_line, "out of memory");
            return -1;
        }
        c->fields = nf;
        c->fields_cap = cap;
    }
    r = row_reserve(c, 0);
    if (r < 0)
        return -1;
    if (r > 0) {
        row_skip(c, SKIP_BYTES, NULL, 0);
        return 0;
    }
    c->fields[c->nfields].ptr = NULL;
    c->fields[c->nfields].len = c->row_len;
    c->nfields++;
    return 0;
}

/* Close the current field. Room for the NUL is always kept by
 * row_reserve. */
static inline void field_end(fy_csv *c)
{
    if (!c->skipping)
        c->row[c->row_len++] = '\0';
}

/* Start a row whose first raw byte is rbuf[pos]. */
static void row_begin(fy_csv *c, size_t pos)
{
    c->row_len = 0;
    c->nfields = 0;
    c->row_line = c->line;
    c->row_raw = 0;
    c->mark = pos;
    c->skipping = 0;
}

/* Finish the row whose terminator (or end of input) is at rbuf[pos]: check
 * its raw length, close the last field and turn start offsets into slices.
 * Leaves the parser between rows. Returns 1, or FY_CSV_SKIPPED when the row
 * was over a limit. */
static int row_finish(fy_csv *c, size_t pos)
{
    fy_csv_field *f = c->fields;
    size_t i, n = c->nfields, raw = c->row_raw + (pos - c->mark);

    c->state = ST_ROW_START;
    if (!c->skipping && raw > c->max_row)
        row_skip(c, SKIP_BYTES, NULL, 0);
    if (c->skipping == SKIP_FIELDS) {
        csv_note(c, c->row_line, "row exceeds %zu fields; skipped", c->max_fields);
    } else if (c->skipping && c->line > c->row_line) {
        csv_note(c, c->row_line, "row exceeds %zu bytes (%zu bytes on lines %zu-%zu); skipped",
                 c->max_row, raw, c->row_line, c->line);
    } else if (c->skipping) {
        csv_note(c, c->row_line, "row exceeds %zu bytes (%zu bytes); skipped", c->max_row, raw);
    }
    if (c->skipping) {
        c->skipped = c->skipping;
        c->skipping = 0;
        c->nfields = 0;
        return FY_CSV_SKIPPED;
    }
    field_end(c);
    for (i = 0; i < n; i++) {
        size_t start = f[i].len;
        size_t end = (i + 1 < n ? f[i + 1].len : c->row_len) - 1;

        f[i].ptr = c->row + start;
        f[i].len = end - start;
    }
    return 1;
}

/* The input began with a prefix of the BOM that turned out not to be one:
 * those bytes are data and start the first field of the first row, which
 * continues at rbuf[pos]. EF is never the delimiter or the quote, but BB
 * may be: as the delimiter it ends the first field (as the quote it is
 * data, inside an unquoted field). */
static int bom_pushback(fy_csv *c, size_t pos)
{
    row_begin(c, pos);
    c->row_raw = (size_t)c->bom_n;
    if (field_begin(c) < 0 || row_append(c, csv_bom, 1) < 0)
        return -1;
    c->state = ST_UNQUOTED;
    if (c->bom_n == 2 && csv_bom[1] == c->delim) {
        field_end(c);
        c->state = ST_FIELD_START;
    } else if (c->bom_n == 2 && row_append(c, csv_bom + 1, 1) < 0) {
        return -1;
    }
    return 0;
}

/* Run the state machine over rbuf from rpos. Returns 1 when a row is
 * complete, FY_CSV_SKIPPED when a row over a limit ended (rpos is just past
 * its terminator), 0 when the buffer is used up mid-input, -1 on error. */
static int csv_scan(fy_csv *c)
{
    const unsigned char *buf = c->rbuf, *cls = c->cls;
    const unsigned char *p = buf + c->rpos, *e = buf + c->rlen, *s;
    const unsigned char delim = c->delim, quote = c->quote;
    unsigned char ch;
    int r;

    while (p < e) {
        switch (c->state) {
        case ST_ROW_START:
            ch = *p;
            if (ch == '\n') {            /* empty line, or the LF of a CRLF */
                p++;
                if (c->skip_lf)
                    c->skip_lf = 0;
                else
                    c->line++;
                continue;
            }
            c->skip_lf = 0;
            if (ch == '\r') {            /* empty line ended by CR */
                p++;
                c->line++;
                c->skip_lf = 1;
                continue;
            }
            row_begin(c, (size_t)(p - buf));
            c->state = ST_FIELD_START;
            /* fall through */
        case ST_FIELD_START:
            if (field_begin(c) < 0)
                goto fail;
            ch = *p;
            if (ch == quote) {
                p++;
                c->state = ST_QUOTED;
                c->quote_line = c->line;
                c->quoted_cr = 0;
                continue;
            }
            if (ch == delim) {
                p++;
                field_end(c);
                continue;
            }
            if (ch == '\n' || ch == '\r')
                goto row_end;
            c->state = ST_UNQUOTED;
            /* fall through */
        case ST_UNQUOTED:
            s = p;
            while (p < e && !(cls[*p] & CL_UNQ))
                p++;
            if (p > s && row_append(c, s, (size_t)(p - s)) < 0)
                goto fail;
            if (p == e)
                continue;
            if (*p != delim)
                goto row_end;
            p++;
            field_end(c);
            c->state = ST_FIELD_START;
            continue;
        case ST_QUOTED:
            s = p;
            while (p < e && !(cls[*p] & CL_QUO))
                p++;
            if (p > s) {
                c->quoted_cr = 0;
                if (row_append(c, s, (size_t)(p - s)) < 0)
                    goto fail;
            }
            if (p == e)
                continue;
            ch = *p;
            if (ch == quote) {
                p++;
                c->state = ST_QUOTE_SEEN;
                continue;
            }
            /* CR or LF kept verbatim; the LF of a CRLF is not a new line. */
            if (ch == '\r' || !c->quoted_cr)
                c->line++;
            c->quoted_cr = ch == '\r';
            if (row_append(c, p, 1) < 0)
                goto fail;
            p++;
            continue;
        case ST_QUOTE_SEEN:
            ch = *p;
            if (ch == quote) {           /* "" is one literal quote */
                if (row_append(c, p, 1) < 0)
                    goto fail;
                p++;
                c->state = ST_QUOTED;
                c->quoted_cr = 0;
                continue;
            }
            if (ch == delim) {
                p++;
                field_end(c);
                c->state = ST_FIELD_START;
                continue;
            }
            if (ch == '\n' || ch == '\r')
                goto row_end;
            c->state = ST_UNQUOTED;      /* lenient: keep what follows */
            continue;
        case ST_BOM:
            if (*p == csv_bom[c->bom_n]) {
                p++;
                if (++c->bom_n == 3)
                    c->state = ST_ROW_START;
                continue;
            }
            c->state = ST_ROW_START;
            if (c->bom_n > 0 && bom_pushback(c, (size_t)(p - buf)) < 0)
                goto fail;
            continue;
        }
    }
    c->rpos = (size_t)(p - buf);
    return 0;

row_end:                                 /* *p is the row's CR or LF */
    r = row_finish(c, (size_t)(p - buf));
    c->line++;
    c->skip_lf = (*p == '\r');
    c->rpos = (size_t)(p + 1 - buf);
    return r;
fail:
    c->rpos = (size_t)(p - buf);
    return -1;
}

/* End of input reached in the current state: return the last row (1 or
 * FY_CSV_SKIPPED), nothing more (0), or an error (-1). An open quote has
 * swallowed every line from its row's start to the end of the input. */
static int csv_finish_eof(fy_csv *c)
{
    size_t last, nlines;

    switch (c->state) {
    case ST_BOM:
        if (c->bom_n > 0) {
            if (bom_pushback(c, 0) < 0)
                return -1;
            if (c->state == ST_FIELD_START && field_begin(c) < 0)     /* "EF <delim>" */
                return -1;
            return row_finish(c, 0);
        }
        break;
    case ST_ROW_START:
        break;
    case ST_FIELD_START:                 /* after a trailing delimiter */
        if (field_begin(c) < 0)
            return -1;
        /* fall through */
    case ST_UNQUOTED:
    case ST_QUOTE_SEEN:
        return row_finish(c, 0);
    case ST_QUOTED:
        last = c->last_nl ? c->line - 1 : c->line;
        nlines = last - c->row_line + 1;
        csv_fail(c, c->row_line, "unterminated quoted field, %zu line%s from line %zu not read "
                 "(the quote opened on line %zu never closes)", nlines, nlines == 1 ? "" : "s", c->row_line,
                 c->quote_line);
        return -1;
    }
    c->done = 1;
    return 0;
}

/* Refill rbuf (which has been fully scanned). Sets eof at end of input. */
static int csv_fill(fy_csv *c)
{
    size_t n;

    errno = 0;
    n = fread(c->rbuf, 1, c->rsize, c->fp);
    if (n == 0) {
        if (ferror(c->fp)) {
            csv_fail(c, c->line, "read error: %s",
                     errno ? strerror(errno) : "I/O error");
            return -1;
        }
        c->eof = 1;
    } else {
        c->last_nl = c->rbuf[n - 1] == '\n' || c->rbuf[n - 1] == '\r';
    }
    c->rlen = n;
    return 0;
}

int fy_csv_next(fy_csv *c, fy_csv_field **fields, size_t *nfields)
{
    int r;

    if (c->failed)
        return -1;
    if (c->done)
        return 0;
    c->started = 1;
    for (;;) {
        if (c->rpos == c->rlen) {
            if (c->state != ST_ROW_START && c->state != ST_BOM)
                c->row_raw += c->rlen - c->mark;
            c->mark = c->rpos = c->rlen = 0;
            if (!c->eof && csv_fill(c) < 0)
                return -1;
            if (c->rlen == 0) {
                r = csv_finish_eof(c);
                if (r <= 0)
                    return r;
                break;
            }
        }
        r = csv_scan(c);
        if (r < 0)
            return -1;
        if (r > 0)
            break;
    }
    *fields = c->fields;
    *nfields = c->nfields;
    return r;
}

fy_csv *fy_csv_open_file(FILE *fp, int own, const fy_csv_opts *opts)
{
    unsigned char delim = opts && opts->delimiter ? (unsigned char)opts->delimiter : ',';
    unsigned char quote = opts && opts->quote ? (unsigned char)opts->quote : '"';
    size_t max_row = opts && opts->max_row_bytes ? opts->max_row_bytes : FY_CSV_DEFAULT_MAX_ROW;
    size_t max_fields = opts ? opts->max_fields : 0;
    fy_csv *c;

    /* 0xEF begins a UTF-8 BOM: as a delimiter or quote at the start of a
     * file it could not be told from one */
    if (!fp || delim == quote || delim == '\n' || delim == '\r' || delim == 0xEF ||
        quote == '\n' || quote == '\r' || quote == 0xEF) {
        errno = EINVAL;
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->rsize = FY_CSV_DEFAULT_BUFSIZE;
    c->rbuf = malloc(c->rsize);
    if (!c->rbuf) {
        free(c);
        return NULL;
    }
    c->fp = fp;
    c->own = own;
    c->delim = delim;
    c->quote = quote;
    c->max_row = max_row > SIZE_MAX / 4 ? SIZE_MAX / 4 : max_row;
    c->max_fields = max_fields;
    c->cls[delim] |= CL_UNQ;
    c->cls['\n'] |= CL_UNQ | CL_QUO;
    c->cls['\r'] |= CL_UNQ | CL_QUO;
    c->cls[quote] |= CL_QUO;
    c->state = ST_BOM;
    c->line = 1;
    return c;
}

fy_csv *fy_csv_open(const char *path, const fy_csv_opts *opts, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    fy_csv *c;

    if (fp) {
        c = fy_csv_open_file(fp, 1, opts);
        if (c)
            return c;
        int saved = errno;
        fclose(fp);
        errno = saved;
    }
    if (err && errlen > 0)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
}

size_t fy_csv_row_line(const fy_csv *c)
{
    return c->row_line;
}

const char *fy_csv_error(const fy_csv *c)
{
    return c->err;
}

int fy_csv_skip_reason(const fy_csv *c)
{
    return c->skipped;
}

const char *fy_csv_excerpt(const fy_csv *c, size_t *len)
{
    *len = c->excerpt_len;
    return c->excerpt;
}

void fy_csv_close(fy_csv *c)
{
    if (!c)
        return;
    if (c->own && c->fp)
        fclose(c->fp);
    free(c->rbuf);
    free(c->row);
    free(c->fields);
    free(c);
}

int fy_csv_set_bufsize(fy_csv *c, size_t size)
{
    unsigned char *nb;

    if (c->started || size == 0)
        return FY_ERR;
    nb = realloc(c->rbuf, size);
    if (!nb)
        return FY_ERR;
    c->rbuf = nb;
    c->rsize = size;
    return FY_OK;
}

size_t fy_csv_row_capacity(const fy_csv *c)
{
    return c->row_cap;
}
