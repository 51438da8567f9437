/* The webhook inbox as reports: `ferry events` (a page, or one event in
 * full) and the admin API's /api/v1/events, as tables or JSON. Reads
 * through fy_inbox.c; nothing here writes. */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_inbox.h"
#include "fy_report.h"
#include "fy_store.h"
#include "fy_utf8.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static void put_string(struct fy_buf *b, const char *s) {
    if (s) fy_buf_json_string(b, s, strlen(s));
    else fy_buf_puts(b, "null");
}

/* The fields every listing shows: what, when, who handled it. */
static void event_fields(struct fy_buf *b, const struct fy_event *ev) {
    fy_buf_printf(b, "{\"id\":%lld,\"integration\":", ev->id);
    put_string(b, ev->integration);
    fy_buf_puts(b, ",\"hook\":");
    put_string(b, ev->hook);
    fy_buf_puts(b, ",\"status\":");
    put_string(b, ev->status);
    fy_buf_puts(b, ",\"received_at\":");
    put_string(b, ev->received_at);
    fy_buf_puts(b, ",\"delivery_id\":");
    put_string(b, ev->delivery_id);
    fy_buf_puts(b, ",\"method\":");
    put_string(b, ev->method);
    fy_buf_puts(b, ",\"run_id\":");
    put_string(b, ev->run_id);
    fy_buf_printf(b, ",\"body_bytes\":%zu", ev->body_len);
}

struct page {
    struct fy_buf *json;        /* JSON: the array being written */
    FILE *out;                  /* text: the table */
    int n;
    long long last;             /* the id of the last row, for the next page */
};

static int page_row(void *arg, const struct fy_event *ev) {
    struct page *p = arg;
    p->last = ev->id;
    if (p->json) {
        fy_buf_puts(p->json, p->n++ ? ",\n " : "\n ");
        event_fields(p->json, ev);
        fy_buf_putc(p->json, '}');
        return FY_OK;
    }
    char ago[48];
    struct fy_buf delivery = {0};
    if (!p->n++)
        fprintf(p->out, "%-9s %-24s %-20s %-8s %-10s %-24s %9s  %s\n", "ID", "INTEGRATION", "HOOK", "STATUS",
                "RECEIVED", "RUN", "BYTES", "DELIVERY ID");
    fy_report_age(ev->received_at, ago, sizeof ago);
    if (ev->delivery_id) fy_utf8_excerpt(&delivery, ev->delivery_id, strlen(ev->delivery_id), 80);
    fprintf(p->out, "%-9lld %-24s %-20s %-8s %-10s %-24s %9zu  %s\n", ev->id, ev->integration, ev->hook, ev->status,
            ago, ev->run_id ? ev->run_id : "-", ev->body_len, delivery.len ? delivery.data : "-");
    fy_buf_free(&delivery);
    return FY_OK;
}

static int nothing(void *arg, const struct fy_event *ev) {
    FY_UNUSED(arg), FY_UNUSED(ev);
    return FY_OK;
}

int fy_report_events_json(struct fy_store *s, const struct fy_events_query *q, struct fy_buf *out) {
    struct page p = {.json = out};
    fy_buf_putc(out, '[');
    int n = fy_inbox_list(s, q->integration, q->status, q->before, q->limit, page_row, &p);
    fy_buf_puts(out, p.n ? "\n]\n" : "]\n");
    return n;
}

int fy_report_events_list(struct fy_store *s, const struct fy_events_query *q, int json, FILE *out) {
    if (json) {
        struct fy_buf b = {0};
        int n = fy_report_events_json(s, q, &b);
        if (n >= 0) fputs(b.data, out);
        fy_buf_free(&b);
        return n < 0 ? FY_ERR : FY_OK;
    }
    long long total;
    struct page p = {.out = out};
    if (fy_inbox_count(s, q->integration, q->status, &total) != FY_OK ||
        fy_inbox_list(s, q->integration, q->status, q->before, q->limit, page_row, &p) < 0)
        return FY_ERR;
    const char *what = q->status ? q->status : "";
    if (!p.n) {
        fprintf(out, "(no %s%sevents%s%s in the inbox%s)\n", what, *what ? " " : "", q->integration ? " of " : "",
                q->integration ? q->integration : "", q->before ? " before that id" : "");
        return FY_OK;
    }
    int more = fy_inbox_list(s, q->integration, q->status, p.last, 1, nothing, NULL);
    if (more < 0) return FY_ERR;
    fprintf(out, "-- %d of %lld %s%sevents", p.n, total, what, *what ? " " : "");
    if (more) {
        fprintf(out, "; next page: ferry events%s%s%s%s", q->integration ? " " : "",
                q->integration ? q->integration : "", q->status ? " --status " : "", what);
        if (q->limit != FY_EVENTS_PAGE) fprintf(out, " --limit %d", q->limit);
        fprintf(out, " --before %lld\n", p.last);
    } else {
        fprintf(out, " (last page)\n");
    }
    return FY_OK;
}

/* ---- one event in full ---------------------------------------------------------- */

/* Where one_row writes the event fy_inbox_get found (its strings live only
 * in the callback): JSON into `json`, or else text to `out`. */
struct one {
    struct fy_store *store;
    struct fy_buf *json;
    FILE *out;
};

/* The headers (a JSON object kept by the hooks listener) one per line as
 * "name: value", through SQLite's json_each. */
static void print_headers(struct fy_store *s, const char *headers, FILE *out) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fy_store_db(s), "SELECT key, value FROM json_each(?)", -1, &st, NULL) != SQLITE_OK) {
        fprintf(out, "  %s\n", headers);
        return;
    }
    sqlite3_bind_text(st, 1, headers, -1, SQLITE_STATIC);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0), *v = (const char *)sqlite3_column_text(st, 1);
        fprintf(out, "  %s: %s\n", k ? k : "", v ? v : "");
        n++;
    }
    if (rc != SQLITE_DONE) fprintf(out, "  %s\n", headers);   /* not an object after all: as stored */
    else if (!n) fprintf(out, "  (none)\n");
    sqlite3_finalize(st);
}

static int one_row(void *arg, const struct fy_event *ev) {
    struct one *o = arg;
    int utf8 = fy_utf8_check(ev->body, ev->body_len) == ev->body_len;
    if (o->json) {
        struct fy_buf clean = {0};
        const char *h = ev->headers_json ? ev->headers_json : "{}";
        size_t hn = strlen(h);
        if (fy_utf8_check(h, hn) < hn) {      /* keep the output valid JSON whatever was stored */
            fy_utf8_sanitize(&clean, h, hn);
            h = clean.data;
            hn = clean.len;
        }
        event_fields(o->json, ev);
        fy_buf_puts(o->json, ",\"headers\":");
        fy_buf_append(o->json, h, hn);
        fy_buf_puts(o->json, ",\"body\":");
        if (utf8) fy_buf_json_string(o->json, ev->body, ev->body_len);
        else fy_buf_puts(o->json, "null");
        fy_buf_puts(o->json, "}\n");
        fy_buf_free(&clean);
        return FY_OK;
    }
    FILE *out = o->out;
    char ago[48];
    fy_report_age(ev->received_at, ago, sizeof ago);
    fprintf(out, "event %lld · %s · %s\n", ev->id, ev->integration, ev->status);
    fprintf(out, "  request      %s /hooks/%s\n", ev->method, ev->hook);
    fprintf(out, "  received     %s (%s)\n", ev->received_at, ago);
    fprintf(out, "  delivery id  %s\n", ev->delivery_id ? ev->delivery_id : "-");
    if (!strcmp(ev->status, "pending"))
        fprintf(out, "  run          - (waiting: a run of %s takes it; a paused integration holds it)\n",
                ev->integration);
    else if (!strcmp(ev->status, "failed"))
        fprintf(out, "  run          %s (quarantined: see 'ferry quarantine list %s')\n", ev->run_id ? ev->run_id : "-",
                ev->integration);
    else
        fprintf(out, "  run          %s\n", ev->run_id ? ev->run_id : "-");
    fprintf(out, "headers:\n");
    print_headers(o->store, ev->headers_json ? ev->headers_json : "{}", out);
    if (utf8) {
        fprintf(out, "body (%zu bytes):\n", ev->body_len);
        fwrite(ev->body, 1, ev->body_len, out);
        if (ev->body_len && ev->body[ev->body_len - 1] != '\n') fputc('\n', out);
    } else {
        fprintf(out, "body: %zu bytes, not UTF-8 text (not shown)\n", ev->body_len);
    }
    return FY_OK;
}

int fy_report_events_show_json(struct fy_store *s, long long id, struct fy_buf *out) {
    struct one o = {.store = s, .json = out};
    return fy_inbox_get(s, id, one_row, &o);
}

int fy_report_events_show(struct fy_store *s, long long id, int json, FILE *out) {
    struct fy_buf b = {0};
    struct one o = {.store = s, .json = json ? &b : NULL, .out = out};
    int n = fy_inbox_get(s, id, one_row, &o);
    if (n > 0 && json) fputs(b.data, out);
    fy_buf_free(&b);
    if (n < 0) return FY_ERR;
    if (n == 0) {
        fprintf(stderr, "ferry events show: no event %lld in the inbox\n", id);
        return 1;
    }
    return FY_OK;
}
