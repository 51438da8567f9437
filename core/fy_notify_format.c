/* What alert messages look like on the wire: the webhook's JSON and the
 * email's RFC 5322 text; see fy_notify.h. */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_notify.h"
#include "fy_time.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char *or_empty(const char *s) { return s ? s : ""; }

static void json_member(struct fy_buf *b, const char *name, const char *value) {
    fy_buf_printf(b, ",\"%s\":", name);
    if (value) fy_buf_json_string(b, value, strlen(value));
    else fy_buf_puts(b, "null");
}

void fy_notify_webhook_body(struct fy_buf *out, const struct fy_notice *n) {
    char opened[FY_TIME_FORMAT_MAX];
    struct fy_buf text = {0};
    fy_buf_printf(&text, "%s\n%s", or_empty(n->subject), or_empty(n->text));
    fy_buf_puts(out, "{\"text\":");
    fy_buf_json_string(out, text.data, text.len);
    fy_buf_printf(out, ",\"ferry\":{\"alert_id\":%lld", n->alert_id);
    json_member(out, "integration", n->integration);
    json_member(out, "owner", n->owner);
    json_member(out, "kind", n->kind);
    json_member(out, "event", n->event);
    json_member(out, "subject", n->subject);
    json_member(out, "text", n->text);
    json_member(out, "opened_at", fy_time_format(n->opened_at, 0, 0, opened, sizeof opened) ? opened : NULL);
    fy_buf_puts(out, "}}");
    fy_buf_free(&text);
}

/* ---- email ---------------------------------------------------------------- */

/* "Sat, 05 Dec 2026 06:00:00 +0000" (RFC 5322 3.3), in UTC, whatever the locale. */
static void mail_date(struct fy_buf *b, double now) {
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)floor(now);
    struct tm tm;
    gmtime_r(&t, &tm);
    fy_buf_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int plain_ascii(const char *s, size_t max) {
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < ' ' || (unsigned char)s[n] > '~') return 0;
    return n <= max;
}

static void base64(struct fy_buf *b, const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fy_buf_putc(b, tab[v >> 18 & 63]);
        fy_buf_putc(b, tab[v >> 12 & 63]);
        fy_buf_putc(b, i + 1 < n ? tab[v >> 6 & 63] : '=');
        fy_buf_putc(b, i + 2 < n ? tab[v & 63] : '=');
    }
}

/* "Subject: ...": as it is when printable ASCII of a sane length, else as
 * RFC 2047 encoded-words (UTF-8, base64) of at most 75 characters each,
 * never splitting a UTF-8 sequence, folded onto continuation lines. Line
 * breaks in the subject become spaces: a header is one line, and a line
 * break there would let the text add headers of its own. */
static void mail_subject(struct fy_buf *b, const char *subject) {
    struct fy_buf s = {0};
    fy_buf_puts(&s, or_empty(subject));
    for (size_t i = 0; i < s.len; i++)
        if (s.data[i] == '\r' || s.data[i] == '\n' || s.data[i] == '\t') s.data[i] = ' ';
    fy_buf_puts(b, "Subject: ");
    if (plain_ascii(s.data, 900)) {
        fy_buf_append(b, s.data, s.len);
    } else {
        const unsigned char *p = (const unsigned char *)s.data;
        size_t i = 0;
        while (i < s.len) {
            size_t n = s.len - i < 39 ? s.len - i : 39;   /* 52 base64 characters: lines stay within 78 */
            while (n < s.len - i && n > 1 && (p[i + n] & 0xC0) == 0x80) n--;   /* not mid-character */
            if (i) fy_buf_puts(b, "\r\n ");
            fy_buf_puts(b, "=?UTF-8?B?");
            base64(b, p + i, n);
            fy_buf_puts(b, "?=");
            i += n;
        }
    }
    fy_buf_puts(b, "\r\n");
    fy_buf_free(&s);
}

/* A header of ferry's own (X-Ferry-Kind: auth): printable ASCII only. */
static void mail_header(struct fy_buf *b, const char *name, const char *value) {
    if (!value || !*value) return;
    fy_buf_printf(b, "%s: ", name);
    for (const char *c = or_empty(value); *c && c - value < 200; c++)
        fy_buf_putc(b, (unsigned char)*c >= ' ' && (unsigned char)*c <= '~' ? *c : '?');
    fy_buf_puts(b, "\r\n");
}

/* The body's lines with CRLF ends: 7bit when every line is printable ASCII
 * and within SMTP's 998 characters; else quoted-printable (RFC 2045 6.7), which carries any UTF-8
 * in lines of at most 76 characters. */
static void mail_body(struct fy_buf *b, const char *text) {
    int qp = 0;
    size_t line = 0;
    for (const char *c = text; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '\n') { line = 0; continue; }
        if (++line > 998 || u > '~' || (u < ' ' && u != '\t' && u != '\r')) qp = 1;
    }
    fy_buf_printf(b, "Content-Transfer-Encoding: %s\r\n\r\n", qp ? "quoted-printable" : "7bit");
    for (const char *c = text; *c;) {
        size_t len = strcspn(c, "\n");
        size_t end = len;
        if (end && c[end - 1] == '\r') end--;
        if (!qp) {
            fy_buf_append(b, c, end);
        } else {
            size_t col = 0;
            for (size_t i = 0; i < end; i++) {
                unsigned char u = (unsigned char)c[i];
                int last = i + 1 == end;
                char enc[4];
                if ((u >= 33 && u <= 126 && u != '=') || ((u == ' ' || u == '\t') && !last)) {
                    enc[0] = (char)u;
                    enc[1] = '\0';
                } else {
                    snprintf(enc, sizeof enc, "=%02X", u);
                }
                size_t el = strlen(enc);
                if (col + el > 75) {                       /* soft break: "=" ends a 76-character line */
                    fy_buf_puts(b, "=\r\n");
                    col = 0;
                }
                fy_buf_puts(b, enc);
                col += el;
            }
        }
        fy_buf_puts(b, "\r\n");
        c += len;
        if (*c == '\n') c++;
    }
}

void fy_notify_mail(struct fy_buf *out, const struct fy_notice *n, const char *from, char *const *to, double now) {
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint32_t)((uint64_t)(now * 1e6) * 2654435761u);
    const char *domain = strchr(from, '@');
    mail_date(out, now);
    fy_buf_printf(out, "From: ferry <%s>\r\n", from);
    fy_buf_puts(out, "To: ");
    for (char *const *a = to; *a; a++) fy_buf_printf(out, "%s%s", a == to ? "" : ",\r\n ", *a);
    fy_buf_puts(out, "\r\n");
    mail_subject(out, n->subject);
    fy_buf_printf(out, "Message-ID: <ferry.%lld.%lld.%08x%s>\r\n", n->alert_id, (long long)(now * 1000), r,
                  domain ? domain : "@localhost");
    fy_buf_puts(out, "Auto-Submitted: auto-generated\r\n");       /* RFC 3834: no vacation replies */
    mail_header(out, "X-Ferry-Integration", n->integration);
    mail_header(out, "X-Ferry-Kind", n->kind);
    mail_header(out, "X-Ferry-Event", n->event);
    fy_buf_puts(out, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");
    char opened[FY_TIME_FORMAT_MAX];
    struct fy_buf text = {0};
    fy_buf_puts(&text, or_empty(n->text));
    if (text.len && text.data[text.len - 1] != '\n') fy_buf_putc(&text, '\n');
    fy_buf_printf(&text, "\n-- \nferry alert %lld", n->alert_id);
    const char *parts[] = {n->integration, n->kind, n->event};
    const char *sep = ": ";
    for (int i = 0; i < 3; i++) {
        if (!parts[i] || !*parts[i]) continue;
        fy_buf_printf(&text, "%s%s", sep, parts[i]);
        sep = ", ";
    }
    if (fy_time_format(n->opened_at, 0, 0, opened, sizeof opened)) fy_buf_printf(&text, "; opened %s", opened);
    fy_buf_putc(&text, '\n');
    mail_body(out, text.data);
    fy_buf_free(&text);
}
