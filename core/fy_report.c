/* Read-only reports over the store: `ferry status` and `ferry runs`, as
 * readable tables or as JSON. */
#include "fy_report.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_store.h"
#include "fy_time.h"
#include "fy_utf8.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fy_report_age(const char *iso, char *out, size_t cap) {
    double t;
    int off;
    char err[64];
    if (!iso || fy_time_parse(iso, strlen(iso), &t, &off, err, sizeof err) != FY_OK) {
        snprintf(out, cap, "-");
        return;
    }
    char d[48];
    double secs = fy_time_now() - t;
    fy_duration_format(secs < 1 ? 0 : (double)(long long)secs, d, sizeof d);
    /* keep the two largest units: "1d3h", not "1d3h4m5s" */
    int units = 0;
    size_t i = 0;
    for (; d[i]; i++) {
        if ((d[i] >= 'a' && d[i] <= 'z') && !(d[i] == 'm' && d[i + 1] == 's')) {
            if (++units == 2) { i++; break; }
        }
    }
    d[i] = '\0';
    snprintf(out, cap, "%.40s ago", d);
}

static const char *col(sqlite3_stmt *st, int i) {
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? v : "";
}

/* Write column i as a JSON value: NULL, a number, embedded JSON or a string.
 * Text that is not UTF-8 (a quarantined Latin-1 record, say) is printed with
 * each bad byte replaced by U+FFFD, so the output is always valid JSON; the
 * store keeps the bytes as they were. */
static void json_col(struct fy_buf *b, sqlite3_stmt *st, int i, int raw_json) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: fy_buf_puts(b, "null"); break;
    case SQLITE_INTEGER: fy_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: fy_buf_double(b, sqlite3_column_double(st, i)); break;
    default: {
        const char *v = col(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        struct fy_buf clean = {0};
        if (fy_utf8_check(v, n) < n) {
            fy_utf8_sanitize(&clean, v, n);
            v = clean.data;
            n = clean.len;
        }
        if (raw_json) fy_buf_append(b, v, n);
        else fy_buf_json_string(b, v, n);
        fy_buf_free(&clean);
    }
    }
}

/* Every row of st as a JSON array of objects (or the first row as an
 * object with `single`) appended to b; columns whose names end in "_json"
 * hold JSON text and are embedded as is (without the suffix). `extra`, when
 * not NULL, appends fields to each object (given its first column). Returns
 * the number of rows, or FY_ERR. */
static int rows_json_buf(sqlite3_stmt *st, int single, fy_report_extra_fn extra, void *arg, struct fy_buf *b) {
    int rc, n = 0;
    if (!single) fy_buf_putc(b, '[');
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!single) fy_buf_puts(b, n ? ",\n {" : "\n {");
        else fy_buf_putc(b, '{');
        n++;
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *name = sqlite3_column_name(st, i);
            size_t len = strlen(name);
            int raw = len > 5 && strcmp(name + len - 5, "_json") == 0;
            if (i) fy_buf_putc(b, ',');
            fy_buf_json_string(b, name, raw ? len - 5 : len);
            fy_buf_putc(b, ':');
            json_col(b, st, i, raw);
        }
        if (extra) extra(arg, col(st, 0), b);
        fy_buf_putc(b, '}');
        if (single) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (!single) fy_buf_puts(b, n ? "\n]\n" : "]\n");
    else if (n) fy_buf_putc(b, '\n');
    return rc == SQLITE_DONE ? n : FY_ERR;
}

static int rows_json_opt(sqlite3_stmt *st, int single, FILE *out) {
    struct fy_buf b = {0};
    int rc = rows_json_buf(st, single, NULL, NULL, &b);
    if (b.data) fputs(b.data, out);
    fy_buf_free(&b);
    return rc < 0 ? FY_ERR : FY_OK;
}

static int rows_json(sqlite3_stmt *st, FILE *out) { return rows_json_opt(st, 0, out); }

/* text, then spaces to fill `width` columns: printf's %-24s counts bytes, and
 * a UTF-8 character (the ellipsis of a cut) is one column. */
static void put_padded(FILE *out, const char *text, int width) {
    int cols = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) cols += (*c & 0xC0) != 0x80;
    fprintf(out, "%s%*s", text, cols < width ? width - cols : 0, "");
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) return st;
    fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(db));
    return NULL;
}

int fy_report_runs(struct fy_store *s, const char *name, int limit, int json, FILE *out) {
    sqlite3 *db = fy_store_db(s);
    sqlite3_stmt *st;
    const char *sql =
        "SELECT id, status, started_at, ended_at, script_version, trigger, extracted, transformed, skipped, "
        "loaded, quarantined, retries, by_class AS by_class_json, by_stage AS by_stage_json, "
        "checkpoint AS checkpoint_json, error, "
        "CAST(round((julianday(ended_at) - julianday(started_at)) * 86400, 3) AS REAL) AS seconds, "
        "verdict, verdict_reason, findings AS findings_json "
        "FROM runs WHERE integration = ? ORDER BY started_at DESC, rowid DESC LIMIT ?";
    if (!(st = prepare(db, sql))) return FY_ERR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    int rc = FY_OK;
    if (json) {
        rc = rows_json(st, out);
    } else {
        int n = 0;
        fprintf(out, "%-24s %-18s %-8s %-10s %8s %9s %8s %11s %9s  %-24s  %s\n", "RUN", "STATUS", "TRIGGER", "STARTED",
                "SECONDS", "EXTRACTED", "LOADED", "QUARANTINED", "SKIPPED", "CHECKPOINT", "FIRST ERROR / BY CLASS");
        while (sqlite3_step(st) == SQLITE_ROW) {
            char ago[48], secs[32] = "-";
            struct fy_buf cp = {0};
            fy_report_age(col(st, 2), ago, sizeof ago);
            if (sqlite3_column_type(st, 16) != SQLITE_NULL) snprintf(secs, sizeof secs, "%.2f", sqlite3_column_double(st, 16));
            /* why the run is not to be trusted: its error, else its verdict's reason, else its classes */
            const char *note = sqlite3_column_type(st, 15) != SQLITE_NULL ? col(st, 15)
                             : sqlite3_column_type(st, 18) != SQLITE_NULL ? col(st, 18)
                             : sqlite3_column_type(st, 12) != SQLITE_NULL && strcmp(col(st, 12), "{}") ? col(st, 12) : "";
            char status[48];                    /* "ok/suspect": the status, and the verdict on it */
            snprintf(status, sizeof status, "%s%s%s", col(st, 1), *col(st, 17) ? "/" : "", col(st, 17));
            struct fy_buf one_line = {0};       /* the table keeps one line per run */
            fy_utf8_excerpt(&one_line, note, strlen(note), 120);
            note = one_line.data ? one_line.data : "";
            /* the checkpoint the run committed, cut to fit: --json has all of it */
            if (sqlite3_column_type(st, 14) != SQLITE_NULL) fy_utf8_excerpt(&cp, col(st, 14), strlen(col(st, 14)), 21);
            fprintf(out, "%-24s %-18s %-8s %-10s %8s %9lld %8lld %11lld %9lld  ", col(st, 0), status,
                    *col(st, 5) ? col(st, 5) : "-", ago, secs, (long long)sqlite3_column_int64(st, 6),
                    (long long)sqlite3_column_int64(st, 9), (long long)sqlite3_column_int64(st, 10),
                    (long long)sqlite3_column_int64(st, 8));
            if (*note) {
                put_padded(out, cp.len ? cp.data : "-", 24);
                fprintf(out, "  %s\n", note);
            } else {
                fprintf(out, "%s\n", cp.len ? cp.data : "-");
            }
            fy_buf_free(&cp);
            fy_buf_free(&one_line);
            n++;
        }
        if (!n) fprintf(out, "(no runs of %s recorded in this data directory)\n", name);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The columns of the status query, in order (the text table reads them by
 * these indices, --json by their names). */
enum status_col {
    ST_NAME, ST_OWNER, ST_PATTERN, ST_FRESHNESS, ST_LAST_STATUS, ST_LAST_STARTED, ST_LAST_RUN, ST_LAST_GOOD,
    ST_STALE, ST_STALE_REASON, ST_CHECKPOINT, ST_LAST_ERROR, ST_Q_OPEN, ST_Q_OLDEST, ST_REPLAY,
    ST_REPLAY_STATUS, ST_REPLAY_STARTED, ST_PURPOSE, ST_SOURCE, ST_VERSION, ST_SCHEDULE, ST_NEXT_RUN,
    ST_PAUSED, ST_PAUSED_AT, ST_PAUSED_REASON, ST_RELOAD_ERROR, ST_RELOAD_FAILED_AT, ST_SKIPPED_AT,
    ST_SKIPPED_REASON, ST_INBOX_PENDING, ST_INBOX_OLDEST, ST_INBOX_FAILED, ST_ALERTS_OPEN, ST_ALERTS_KINDS,
    ST_LAST_VERDICT, ST_LAST_VERDICT_REASON,
};

/* One row per integration (or only ?1's when it is not NULL). The last
 * run, the last good run and whether the data is stale (no ok/partial run
 * without a verdict within its freshness: a suspect or incomplete run is
 * not good, fy_verdict.h) count only runs that read the source: a replay
 * (trigger 'replay') delivers quarantined records and reads nothing, so it
 * is shown apart as the last replay, and a run that was due but skipped
 * (the previous one still going) ran nothing, so it is shown apart as the
 * last skipped. Runs of old stores may have no trigger: they read the
 * source. stale_reason says why a stale one is: never_run (no run read the
 * source), no_good_run (none ended ok or partial without a verdict) or last_good_too_old; it
 * is NULL when the data is fresh. What ferry serve keeps (schedule, next
 * run, paused, reload error) comes next, and last the webhook inbox: events
 * pending and when the oldest of them came (the oldest by id, through the
 * index (integration, status, id)), and events failed (quarantined). */
static const char *status_sql =
    "WITH last AS (SELECT integration, max(started_at) AS started FROM runs WHERE trigger IS NOT 'replay'"
    "          AND status IS NOT 'skipped' GROUP BY integration),"
    " good AS (SELECT integration, max(ended_at) AS ended FROM runs WHERE status IN ('ok','partial')"
    "          AND verdict IS NULL AND trigger IS NOT 'replay' GROUP BY integration),"
    " replay AS (SELECT integration, max(started_at) AS started FROM runs WHERE trigger = 'replay'"
    "          GROUP BY integration),"
    " skip AS (SELECT integration, max(started_at) AS started FROM runs WHERE status = 'skipped'"
    "          GROUP BY integration),"
    " q AS (SELECT integration, count(*) AS n, min(id) AS first FROM quarantine WHERE status = 'open'"
    "       GROUP BY integration) "
    "SELECT i.name, i.owner, i.pattern, i.freshness_s, r.status AS last_status, r.started_at AS last_started, "
    "  r.id AS last_run, g.ended AS last_good, "
    "  CASE WHEN g.ended IS NULL THEN 1 "
    "       WHEN (julianday('now') - julianday(g.ended)) * 86400 > i.freshness_s THEN 1 ELSE 0 END AS stale, "
    "  CASE WHEN r.id IS NULL THEN 'never_run' WHEN g.ended IS NULL THEN 'no_good_run' "
    "       WHEN (julianday('now') - julianday(g.ended)) * 86400 > i.freshness_s THEN 'last_good_too_old' "
    "  END AS stale_reason, "
    "  c.cursor AS checkpoint_json, r.error AS last_error, coalesce(q.n, 0) AS quarantine_open, "
    "  (SELECT created_at FROM quarantine WHERE id = q.first) AS quarantine_oldest, "
    "  p.id AS last_replay, p.status AS last_replay_status, p.started_at AS last_replay_started, "
    "  i.purpose, i.source_of_truth, i.script_version AS version, i.schedule, i.next_run_at AS next_run, "
    "  i.paused_at IS NOT NULL AS paused, i.paused_at, i.paused_reason, i.reload_error, i.reload_failed_at, "
    "  k.started_at AS last_skipped_at, k.error AS last_skipped_reason, "
    "  (SELECT count(*) FROM events WHERE integration = i.name AND status = 'pending') AS inbox_pending, "
    "  (SELECT received_at FROM events WHERE integration = i.name AND status = 'pending' ORDER BY id LIMIT 1) "
    "    AS inbox_oldest, "
    "  (SELECT count(*) FROM events WHERE integration = i.name AND status = 'failed') AS inbox_failed, "
    "  (SELECT count(*) FROM alerts WHERE integration = i.name AND status = 'open') AS alerts_open, "
    "  (SELECT group_concat(kind, ', ') FROM (SELECT kind FROM alerts WHERE integration = i.name "
    "    AND status = 'open' ORDER BY id)) AS alerts_open_kinds, "
    "  r.verdict AS last_verdict, r.verdict_reason AS last_verdict_reason "
    "FROM integrations i LEFT JOIN last l ON l.integration = i.name "
    "LEFT JOIN runs r ON r.integration = i.name AND r.started_at = l.started AND r.trigger IS NOT 'replay' "
    "  AND r.status IS NOT 'skipped' "
    "LEFT JOIN good g ON g.integration = i.name "
    "LEFT JOIN replay rp ON rp.integration = i.name "
    "LEFT JOIN runs p ON p.integration = i.name AND p.started_at = rp.started AND p.trigger = 'replay' "
    "LEFT JOIN skip sk ON sk.integration = i.name "
    "LEFT JOIN runs k ON k.integration = i.name AND k.started_at = sk.started AND k.status = 'skipped' "
    "LEFT JOIN checkpoints c ON c.integration = i.name "
    "LEFT JOIN q ON q.integration = i.name "
    "WHERE ?1 IS NULL OR i.name = ?1 GROUP BY i.name ORDER BY i.name";

int fy_report_status_json(struct fy_store *s, const char *name, fy_report_extra_fn extra, void *arg,
                          struct fy_buf *out) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fy_store_db(s), status_sql, -1, &st, NULL) != SQLITE_OK) return FY_ERR;
    if (name) sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int n = rows_json_buf(st, name != NULL, extra, arg, out);
    sqlite3_finalize(st);
    return n;
}

int fy_report_health_each(struct fy_store *s, void (*fn)(void *arg, const struct fy_report_health *h), void *arg) {
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(fy_store_db(s), status_sql, -1, &st, NULL) != SQLITE_OK) return FY_ERR;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct fy_report_health h = {
            .name = col(st, ST_NAME),
            .last_good = (const char *)sqlite3_column_text(st, ST_LAST_GOOD),
            .stale = sqlite3_column_int(st, ST_STALE),
            .paused = sqlite3_column_int(st, ST_PAUSED),
            .quarantine_open = sqlite3_column_int64(st, ST_Q_OPEN),
            .inbox_pending = sqlite3_column_int64(st, ST_INBOX_PENDING),
        };
        fn(arg, &h);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FY_OK : FY_ERR;
}

/* "in 14m" for a time to come, "due" for one past; "-" when NULL or "". */
static void until(const char *iso, char *out, size_t cap) {
    double t;
    int off;
    char err[64], d[48];
    if (!iso || !*iso || fy_time_parse(iso, strlen(iso), &t, &off, err, sizeof err) != FY_OK) {
        snprintf(out, cap, "-");
        return;
    }
    double secs = t - fy_time_now();
    if (secs < 1) {
        snprintf(out, cap, "due");
        return;
    }
    fy_duration_format((double)(long long)secs, d, sizeof d);
    snprintf(out, cap, "in %.40s", d);
}

/* The lines under an integration's row for what ferry serve keeps: its
 * schedule and next run, a pause, a script that failed to reload, a run
 * skipped since the last one that ran, and webhook events waiting in its
 * inbox or failed there. */
static void status_notes(sqlite3_stmt *st, FILE *out) {
    char ago[48], next[64];
    if (*col(st, ST_LAST_VERDICT)) {
        struct fy_buf line = {0};
        fy_utf8_excerpt(&line, col(st, ST_LAST_VERDICT_REASON), strlen(col(st, ST_LAST_VERDICT_REASON)), 160);
        fprintf(out, "    %s: %s (not a good run: 'ferry runs %s')\n", col(st, ST_LAST_VERDICT),
                line.data ? line.data : "", col(st, ST_NAME));
        fy_buf_free(&line);
    }
    const char *sched = col(st, ST_SCHEDULE);
    if (*sched || *col(st, ST_NEXT_RUN)) {
        until(col(st, ST_NEXT_RUN), next, sizeof next);
        fprintf(out, "    schedule %s%s%s\n", *sched ? sched : "-",
                *col(st, ST_NEXT_RUN) ? " · next run " : "", *col(st, ST_NEXT_RUN) ? next : "");
    }
    if (sqlite3_column_int(st, ST_PAUSED)) {
        fy_report_age(col(st, ST_PAUSED_AT), ago, sizeof ago);
        fprintf(out, "    PAUSED since %s (%s): %s\n", col(st, ST_PAUSED_AT), ago,
                *col(st, ST_PAUSED_REASON) ? col(st, ST_PAUSED_REASON) : "no reason given");
    }
    if (*col(st, ST_RELOAD_ERROR)) {
        struct fy_buf line = {0};
        fy_utf8_excerpt(&line, col(st, ST_RELOAD_ERROR), strlen(col(st, ST_RELOAD_ERROR)), 160);
        fy_report_age(col(st, ST_RELOAD_FAILED_AT), ago, sizeof ago);
        fprintf(out, "    RELOAD FAILED %s (the previous version keeps running): %s\n", ago,
                line.data ? line.data : "");
        fy_buf_free(&line);
    }
    if (sqlite3_column_int64(st, ST_ALERTS_OPEN))
        fprintf(out, "    ALERTS open: %s · ferry alerts %s\n", col(st, ST_ALERTS_KINDS), col(st, ST_NAME));
    const char *skipped = col(st, ST_SKIPPED_AT);
    if (*skipped && strcmp(skipped, col(st, ST_LAST_STARTED)) > 0) {
        struct fy_buf line = {0};
        fy_utf8_excerpt(&line, col(st, ST_SKIPPED_REASON), strlen(col(st, ST_SKIPPED_REASON)), 120);
        fy_report_age(skipped, ago, sizeof ago);
        fprintf(out, "    skipped a run %s: %s\n", ago, line.data ? line.data : "");
        fy_buf_free(&line);
    }
    long long pending = sqlite3_column_int64(st, ST_INBOX_PENDING), failed = sqlite3_column_int64(st, ST_INBOX_FAILED);
    if (pending || failed) {
        fprintf(out, "    inbox");
        if (pending) {
            fy_report_age(col(st, ST_INBOX_OLDEST), ago, sizeof ago);
            fprintf(out, " %lld pending (oldest %s)%s", pending, ago, failed ? " ·" : "");
        }
        if (failed)
            fprintf(out, " %lld failed, quarantined ('ferry events %s --status failed')", failed, col(st, ST_NAME));
        fputc('\n', out);
    }
}

int fy_report_status(struct fy_store *s, int json, FILE *out) {
    if (json) {
        struct fy_buf b = {0};
        int n = fy_report_status_json(s, NULL, NULL, NULL, &b);
        if (n < 0) fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(fy_store_db(s)));
        else fputs(b.data, out);
        fy_buf_free(&b);
        return n < 0 ? FY_ERR : FY_OK;
    }
    sqlite3_stmt *st;
    if (!(st = prepare(fy_store_db(s), status_sql))) return FY_ERR;
    int n = 0, rc;
    fprintf(out, "%-32s %-10s %-12s %-12s %-22s %-24s %-18s %s\n", "INTEGRATION", "LAST", "LAST RUN", "LAST GOOD",
            "FRESHNESS", "QUARANTINE", "LAST REPLAY", "OWNER");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char last[48], good[48], fresh[48], fresh_s[80], oldest[48], q[96] = "-", replay[80] = "-";
        fy_report_age(col(st, ST_LAST_STARTED), last, sizeof last);
        fy_report_age(col(st, ST_LAST_GOOD), good, sizeof good);
        fy_duration_format(sqlite3_column_double(st, ST_FRESHNESS), fresh, sizeof fresh);
        if (!strcmp(col(st, ST_STALE_REASON), "never_run"))
            snprintf(fresh_s, sizeof fresh_s, "never run");
        else
            snprintf(fresh_s, sizeof fresh_s, "%s (within %s)", sqlite3_column_int(st, ST_STALE) ? "STALE" : "fresh",
                     fresh);
        if (sqlite3_column_int64(st, ST_Q_OPEN) > 0) {
            fy_report_age(col(st, ST_Q_OLDEST), oldest, sizeof oldest);
            snprintf(q, sizeof q, "%lld open (%s)", (long long)sqlite3_column_int64(st, ST_Q_OPEN), oldest);
        }
        if (*col(st, ST_REPLAY)) {
            char ago[48];
            fy_report_age(col(st, ST_REPLAY_STARTED), ago, sizeof ago);
            snprintf(replay, sizeof replay, "%s %s", col(st, ST_REPLAY_STATUS), ago);
        }
        /* the last run's verdict says more than the ok or partial it qualifies */
        const char *last_status = *col(st, ST_LAST_VERDICT) ? col(st, ST_LAST_VERDICT)
                                : *col(st, ST_LAST_STATUS) ? col(st, ST_LAST_STATUS) : "-";
        fprintf(out, "%-32s %-10s %-12s %-12s %-22s %-24s %-18s %s\n", col(st, ST_NAME), last_status, last, good,
                fresh_s, q, replay,
                col(st, ST_OWNER));
        status_notes(st, out);
        n++;
    }
    if (rc != SQLITE_DONE) fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(fy_store_db(s)));
    if (!n) fprintf(out, "(no integrations have run with this data directory yet)\n");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FY_OK : FY_ERR;
}

int fy_report_run_json(struct fy_store *s, const char *run_id, struct fy_buf *out) {
    sqlite3_stmt *st;
    const char *sql =
        "SELECT id, integration, status, started_at, ended_at, script_version, trigger, extracted, transformed, "
        "skipped, loaded, quarantined, batches, retries, by_class AS by_class_json, by_stage AS by_stage_json, "
        "checkpoint AS checkpoint_json, error, "
        "CAST(round((julianday(ended_at) - julianday(started_at)) * 86400, 3) AS REAL) AS seconds, "
        "verdict, verdict_reason, findings AS findings_json "
        "FROM runs WHERE id = ?";
    if (sqlite3_prepare_v2(fy_store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return FY_ERR;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    int n = rows_json_buf(st, 1, NULL, NULL, out);
    sqlite3_finalize(st);
    return n;
}

/* ---- the quarantine ----------------------------------------------------- */

/* The WHERE clause for a listing: only the conditions given, so SQLite can
 * use the (status, integration, id) and (status, id) indexes. Values are
 * bound in the order integration, class, status. */
static void list_where(struct fy_buf *sql, const struct fy_quarantine_query *q) {
    fy_buf_puts(sql, " WHERE 1");
    if (q->integration) fy_buf_puts(sql, " AND integration = ?");
    if (q->class_) fy_buf_puts(sql, " AND class = ?");
    if (q->status) fy_buf_puts(sql, " AND status = ?");
}

static int list_bind(sqlite3_stmt *st, const struct fy_quarantine_query *q) {
    int i = 1;
    if (q->integration) sqlite3_bind_text(st, i++, q->integration, -1, SQLITE_STATIC);
    if (q->class_) sqlite3_bind_text(st, i++, q->class_, -1, SQLITE_STATIC);
    if (q->status) sqlite3_bind_text(st, i++, q->status, -1, SQLITE_STATIC);
    return i;
}

/* One line of text: newlines and tabs become spaces, cut at `width` bytes
 * (on a UTF-8 character boundary) with "..." appended. */
static void one_line(const char *in, char *out, size_t width) {
    size_t n = 0;
    for (; in[n] && n < width; n++) out[n] = (in[n] == '\n' || in[n] == '\r' || in[n] == '\t') ? ' ' : in[n];
    if (in[n]) {
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80) n--;
        memcpy(out + n, "...", 4);
    } else {
        out[n] = '\0';
    }
}

int fy_report_quarantine_list(struct fy_store *s, const struct fy_quarantine_query *q, int json, FILE *out) {
    sqlite3 *db = fy_store_db(s);
    struct fy_buf sql = {0};
    sqlite3_stmt *st = NULL;
    int rc = FY_ERR;
    long long total = 0, last = 0;

    fy_buf_puts(&sql, "SELECT count(*) FROM quarantine");
    list_where(&sql, q);
    if (!json) {
        if (!(st = prepare(db, sql.data))) goto cleanup;
        list_bind(st, q);
        if (sqlite3_step(st) == SQLITE_ROW) total = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    fy_buf_reset(&sql);
    fy_buf_puts(&sql, "SELECT id, integration, status, stage, class, attempts, created_at, updated_at, reason, "
                      "record AS record_json, output AS output_json, first_run, last_run, script_version, "
                      "last_failed_at "
                      "FROM quarantine");
    list_where(&sql, q);
    fy_buf_puts(&sql, " AND id > ? ORDER BY id LIMIT ?");
    if (!(st = prepare(db, sql.data))) goto cleanup;
    int i = list_bind(st, q);
    sqlite3_bind_int64(st, i, q->after);
    sqlite3_bind_int(st, i + 1, q->limit);
    if (json) {
        rc = rows_json(st, out);
        goto cleanup;
    }
    int n = 0;
    const char *what = q->status ? q->status : "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        char ago[48], reason[96];
        if (!n++)
            fprintf(out, "%-9s %-30s %-9s %-9s %-14s %8s %-10s  %s\n", "ID", "INTEGRATION", "STATUS", "STAGE",
                    "CLASS", "ATTEMPTS", "FIRST SEEN", "REASON");
        last = sqlite3_column_int64(st, 0);
        fy_report_age(col(st, 6), ago, sizeof ago);
        one_line(col(st, 8), reason, 72);
        fprintf(out, "%-9lld %-30s %-9s %-9s %-14s %8lld %-10s  %s\n", last, col(st, 1), col(st, 2), col(st, 3),
                col(st, 4), (long long)sqlite3_column_int64(st, 5), ago, reason);
    }
    if (!n) {
        fprintf(out, "(no %s%srecords in the quarantine%s%s%s%s%s)\n", what, *what ? " " : "",
                q->integration ? " of " : "", q->integration ? q->integration : "",
                q->class_ ? " with class " : "", q->class_ ? q->class_ : "",
                q->after ? " after that id" : "");
    } else {
        /* more rows after this page? */
        sqlite3_reset(st);
        sqlite3_bind_int64(st, i, last);
        sqlite3_bind_int(st, i + 1, 1);
        int more = sqlite3_step(st) == SQLITE_ROW;
        fprintf(out, "-- %d of %lld %s%srecords", n, total, what, *what ? " " : "");
        if (more) {
            fprintf(out, "; next page: ferry quarantine list%s%s%s%s", q->integration ? " " : "",
                    q->integration ? q->integration : "", q->class_ ? " --class " : "", q->class_ ? q->class_ : "");
            if (!q->status) fprintf(out, " --status all");
            else if (strcmp(q->status, "open")) fprintf(out, " --status %s", q->status);
            if (q->limit != 50) fprintf(out, " --limit %d", q->limit);
            fprintf(out, " --after %lld\n", last);
        } else {
            fprintf(out, " (last page)\n");
        }
    }
    rc = FY_OK;
cleanup:
    sqlite3_finalize(st);
    fy_buf_free(&sql);
    return rc;
}

int fy_report_quarantine_show(struct fy_store *s, long long id, int json, FILE *out) {
    sqlite3_stmt *st = prepare(fy_store_db(s),
        "SELECT id, integration, status, stage, class, reason, attempts, created_at, first_run, last_failed_at, "
        "last_run, script_version, resolved_at, resolved_run, discarded_at, discard_reason, "
        "record AS record_json, output AS output_json, updated_at FROM quarantine WHERE id = ?");
    if (!st) return FY_ERR;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && json) {
        sqlite3_reset(st);
        rc = rows_json_opt(st, 1, out) == FY_OK ? SQLITE_DONE : SQLITE_ERROR;
    } else if (rc == SQLITE_ROW) {
        const char *status = col(st, 2);
        fprintf(out, "quarantine %lld · %s · %s\n", id, col(st, 1), status);
        fprintf(out, "  stage        %s\n  class        %s\n  reason       %s\n  attempts     %lld\n",
                col(st, 3), col(st, 4), col(st, 5), (long long)sqlite3_column_int64(st, 6));
        /* last failed: when and in which run, never when it was resolved or discarded */
        fprintf(out, "  first seen   %s (run %s)\n  last failed  %s (run %s, script version %s)\n",
                col(st, 7), col(st, 8), *col(st, 9) ? col(st, 9) : "-", col(st, 10), col(st, 11));
        if (!strcmp(status, "resolved")) fprintf(out, "  resolved     %s (run %s)\n", col(st, 12), col(st, 13));
        if (!strcmp(status, "discarded")) fprintf(out, "  discarded    %s: %s\n", col(st, 14), col(st, 15));
        fprintf(out, "record:\n%s\n", col(st, 16));
        if (sqlite3_column_type(st, 17) != SQLITE_NULL) fprintf(out, "output:\n%s\n", col(st, 17));
        if (!strcmp(status, "open")) {
            if (!strcmp(col(st, 3), "extract"))
                fprintf(out, "next: fix the source row and run again, or "
                             "ferry quarantine discard %lld --reason TEXT\n", id);
            else
                fprintf(out, "next: ferry quarantine replay %lld (after fixing the script or the destination), "
                             "or ferry quarantine discard %lld --reason TEXT\n", id, id);
        }
        rc = SQLITE_DONE;
    } else if (rc == SQLITE_DONE) {
        fprintf(stderr, "ferry quarantine show: no record %lld in the quarantine\n", id);
        sqlite3_finalize(st);
        return 1;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FY_OK : FY_ERR;
}

int fy_report_freshness(struct fy_store *s, const char *name, double now, double *age, double *window,
                        double *first) {
    sqlite3_stmt *st;
    *age = INFINITY;
    *window = 0;
    *first = NAN;
    /* the same good run as status: ok or partial, read the source, no verdict */
    if (sqlite3_prepare_v2(fy_store_db(s),
                           "SELECT (SELECT max(ended_at) FROM runs WHERE integration = ?1 AND status IN ('ok','partial') "
                           "        AND trigger IS NOT 'replay' AND verdict IS NULL), "
                           "  (SELECT min(started_at) FROM runs WHERE integration = ?1 AND trigger IS NOT 'replay' "
                           "          AND status NOT IN ('skipped', 'running')), "
                           "  freshness_s FROM integrations WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
        return FY_ERR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = FY_ERR;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *good = (const char *)sqlite3_column_text(st, 0);
        double t;
        int off;
        if (good && fy_time_parse(good, strlen(good), &t, &off, NULL, 0) == FY_OK) *age = now - t;
        const char *f = (const char *)sqlite3_column_text(st, 1);
        if (f && fy_time_parse(f, strlen(f), &t, &off, NULL, 0) == FY_OK) *first = t;
        *window = sqlite3_column_double(st, 2);
        rc = FY_OK;
    }
    sqlite3_finalize(st);
    return rc;
}
