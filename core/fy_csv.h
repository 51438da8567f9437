/* fy_csv: streaming CSV reader (RFC 4180 plus what real exports do).
 *
 *   fy_csv *c = fy_csv_open("in.csv", NULL, err, sizeof err);
 *   fy_csv_field *f; size_t n; int r;
 *   while ((r = fy_csv_next(c, &f, &n)) > 0) {
 *       if (r == FY_CSV_SKIPPED) { quarantine(fy_csv_error(c), fy_csv_excerpt(c, &len)); continue; }
 *       ... f[i].ptr, f[i].len ...
 *   }
 *   if (r < 0) report(fy_csv_error(c));
 *   fy_csv_close(c);
 *
 * Memory: one fixed read buffer (64 KiB by default) plus one row buffer that
 * grows only to the size of the longest row (bounded by max_row_bytes), and a
 * fields array that grows geometrically (bounded by max_fields when set); all
 * are reused across rows. The whole file is never held in memory, nor is a
 * row over the limits: it is parsed to its end without being stored.
 *
 * Dialect:
 * - Fields are separated by `delimiter`; rows end at LF, CRLF or a lone CR.
 * - A field that starts with `quote` is quoted: delimiters, LF, CR and CRLF
 *   inside it are kept verbatim and a doubled quote ("") yields one quote.
 * - Characters after a closing quote are appended to the field, as Python's
 *   csv module does when not strict: "ab"c,d -> [abc] [d]. After that the
 *   field is unquoted, so a later quote is literal: "x"y"z" -> [xy"z"].
 * - A quote inside an unquoted field is literal: ab"c -> [ab"c]. Whitespace
 *   is never trimmed; a quote after leading spaces is literal.
 * - Empty fields are empty strings; a trailing delimiter yields a last empty
 *   field ("a,b," has three fields). Rows may differ in width (the caller
 *   decides whether raggedness is an error).
 * - A completely empty line (no characters at all) is skipped and yields no
 *   row; a line holding just "" is a row with one empty field. A newline at
 *   end of input does not produce an extra row; a final row without a
 *   newline is returned.
 * - A UTF-8 byte order mark (EF BB BF) at the very start is skipped. Bytes
 *   are otherwise passed through unchanged (no encoding validation); NUL
 *   bytes are data, so use len rather than strlen when they may occur.
 * - Line numbers are physical lines (LF, CRLF or lone CR), including newlines
 *   embedded in quoted fields.
 *
 * Rows over a limit are skipped, and reading goes on with the next row
 * (fy_csv_next returns FY_CSV_SKIPPED; fy_csv_error says why and
 * fy_csv_excerpt gives the row's first bytes). The row's end is found by the
 * same state machine, so quoted newlines and delimiters inside it are
 * honoured and the next row starts where it would have without the limit:
 *   "line N: row exceeds M bytes (B bytes); skipped"   (raw length as in the
 *        file, without its line terminator, > max_row_bytes; "B bytes on
 *        lines N-E" when the row spans several lines)
 *   "line N: row exceeds M fields; skipped"           (more than max_fields)
 *
 * Errors (fy_csv_next returns -1; every later call returns -1 too):
 *   "line N: unterminated quoted field, K lines from line N not read (the
 *    quote opened on line Q never closes)"   (N = line where the row started;
 *        the quote swallowed the rest of the file, lines N to the last)
 *   "line N: read error: <strerror>"
 *   "line N: out of memory"
 */
#ifndef FY_CSV_H
#define FY_CSV_H

#include <stddef.h>
#include <stdio.h>

typedef struct fy_csv fy_csv;

/* One field: a slice of the reader's row buffer, valid until the next call
 * to fy_csv_next or fy_csv_close. ptr[len] == '\0' always holds. */
typedef struct fy_csv_field {
    const char *ptr;
    size_t len;
} fy_csv_field;

typedef struct fy_csv_opts {
    char delimiter;          /* default ',' when 0 */
    char quote;              /* default '"' when 0 */
    size_t max_row_bytes;    /* default 16 MiB when 0; a longer row is skipped */
    size_t max_fields;       /* 0: no limit; a row with more fields is skipped */
} fy_csv_opts;

#define FY_CSV_DEFAULT_MAX_ROW (16u * 1024 * 1024)
#define FY_CSV_DEFAULT_BUFSIZE (64u * 1024)
#define FY_CSV_EXCERPT 200          /* bytes of a skipped row kept for the record */
#define FY_CSV_SKIPPED 2            /* fy_csv_next: a row over a limit was skipped */
#define FY_CSV_OVER_BYTES 1         /* fy_csv_skip_reason: over max_row_bytes */
#define FY_CSV_OVER_FIELDS 2        /* fy_csv_skip_reason: over max_fields */

/* Open `path` for streaming. opts may be NULL for defaults. On failure
 * returns NULL and, when err != NULL and errlen > 0, writes a message naming
 * the path and the reason (strerror) into err. The delimiter and quote must
 * differ and must not be CR, LF or 0xEF (the first byte of a UTF-8 BOM). */
fy_csv *fy_csv_open(const char *path, const fy_csv_opts *opts, char *err, size_t errlen);

/* Same over an already-open FILE*. fp is closed by fy_csv_close only when
 * own != 0. The reader reads ahead a buffer at a time, so fp's position
 * after use says nothing about where the last row ended. On failure (bad opts, out of memory) returns NULL and never
 * closes fp. */
fy_csv *fy_csv_open_file(FILE *fp, int own, const fy_csv_opts *opts);

/* Next row: returns 1 and sets *fields / *nfields (a reader-owned array,
 * valid until the next call), FY_CSV_SKIPPED when a row over a limit was
 * skipped (*nfields = 0; see fy_csv_error and fy_csv_excerpt), 0 at end of
 * input, -1 on error (see fy_csv_error). A row always has at least one
 * field. */
int fy_csv_next(fy_csv *c, fy_csv_field **fields, size_t *nfields);

/* The first bytes of the row just skipped: its fields as parsed, joined by
 * the delimiter, at most min(FY_CSV_EXCERPT, max_row_bytes) bytes (so the
 * same whatever the read buffer size). Owned by the reader, valid until the
 * next call to fy_csv_next. */
const char *fy_csv_excerpt(const fy_csv *c, size_t *len);

/* Which limit the row just skipped was over: FY_CSV_OVER_BYTES or
 * FY_CSV_OVER_FIELDS (0 before any row was skipped). */
int fy_csv_skip_reason(const fy_csv *c);

/* 1-based physical line where the last returned row started (0 before the
 * first row). */
size_t fy_csv_row_line(const fy_csv *c);

/* Message of the last error or skipped row ("" when none). Owned by the
 * reader. */
const char *fy_csv_error(const fy_csv *c);

/* Free the reader (and close its FILE* when owned). NULL-safe. */
void fy_csv_close(fy_csv *c);

/* Internal, for tests and tuning. fy_csv_set_bufsize sets the read buffer
 * size (>= 1); it is only allowed before the first fy_csv_next and returns
 * 0, or -1 when too late or out of memory. fy_csv_row_capacity returns the
 * current row buffer capacity in bytes. */
int fy_csv_set_bufsize(fy_csv *c, size_t size);
size_t fy_csv_row_capacity(const fy_csv *c);

#endif
