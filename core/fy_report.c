/* Read-only reports over the store: `ferry status` and `ferry runs`, as
 * readable tables or as JSON. */
#include "fy_report.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_store.h"
#include "fy_time.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* "3m ago", "2h ago", "5d ago" from an ISO timestamp; "-" when NULL. */
static void age(const char *iso, char *out, size_t cap) {
    double t;
    int off;
    char err[64];
    if (!iso || fy_time_parse(iso, strlen(iso), &t, &off, err, sizeof err) != FY_OK) {
        snprintf(out, cap, "-");
        return;
    }
    char d[48];
    double secs = fy_now() - t;
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

/* Write column i as a JSON value: NULL, a number, embedded JSON or a string. */
static void json_col(struct fy_buf *b, sqlite3_stmt *st, int i, int raw_json) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: fy_buf_puts(b, "null"); break;
    case SQLITE_INTEGER: fy_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: fy_buf_printf(b, "%.17g", sqlite3_column_double(st, i)); break;
    default:
        if (raw_json) fy_buf_puts(b, col(st, i));
        else fy_buf_json_string(b, col(st, i), (size_t)sqlite3_column_bytes(st, i));
    }
}

/* Every row of st as a JSON array of objects; columns whose names end in
 * "_json" hold JSON text and are embedded as is (without the suffix). */
static int rows_json(sqlite3_stmt *st, FILE *out) {
    struct fy_buf b = {0};
    int rc, n = 0;
    fy_buf_putc(&b, '[');
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fy_buf_puts(&b, n++ ? ",\n {" : "\n {");
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *name = sqlite3_column_name(st, i);
            size_t len = strlen(name);
            int raw = len > 5 && strcmp(name + len - 5, "_json") == 0;
            if (i) fy_buf_putc(&b, ',');
            fy_buf_json_string(&b, name, raw ? len - 5 : len);
            fy_buf_putc(&b, ':');
            json_col(&b, st, i, raw);
        }
        fy_buf_putc(&b, '}');
    }
    fy_buf_puts(&b, n ? "\n]\n" : "]\n");
    fputs(b.data, out);
    fy_buf_free(&b);
    return rc == SQLITE_DONE ? FY_OK : FY_ERR;
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
        "CAST(round((julianday(ended_at) - julianday(started_at)) * 86400, 3) AS REAL) AS seconds "
        "FROM runs WHERE integration = ? ORDER BY started_at DESC, rowid DESC LIMIT ?";
    if (!(st = prepare(db, sql))) return FY_ERR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    int rc = FY_OK;
    if (json) {
        rc = rows_json(st, out);
    } else {
        int n = 0;
        fprintf(out, "%-24s %-8s %-10s %8s %9s %8s %11s %9s  %s\n", "RUN", "STATUS", "STARTED", "SECONDS",
                "EXTRACTED", "LOADED", "QUARANTINED", "SKIPPED", "FIRST ERROR / BY CLASS");
        while (sqlite3_step(st) == SQLITE_ROW) {
            char ago[48], secs[32] = "-";
            age(col(st, 2), ago, sizeof ago);
            if (sqlite3_column_type(st, 16) != SQLITE_NULL) snprintf(secs, sizeof secs, "%.2f", sqlite3_column_double(st, 16));
            const char *note = sqlite3_column_type(st, 15) != SQLITE_NULL ? col(st, 15)
                             : sqlite3_column_type(st, 12) != SQLITE_NULL && strcmp(col(st, 12), "{}") ? col(st, 12) : "";
            char one_line[128];                 /* the table keeps one line per run */
            snprintf(one_line, sizeof one_line, "%s", note);
            for (char *c = one_line; *c; c++) if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
            note = one_line;
            fprintf(out, "%-24s %-8s %-10s %8s %9lld %8lld %11lld %9lld  %s\n", col(st, 0), col(st, 1), ago, secs,
                    (long long)sqlite3_column_int64(st, 6), (long long)sqlite3_column_int64(st, 9),
                    (long long)sqlite3_column_int64(st, 10), (long long)sqlite3_column_int64(st, 8), note);
            n++;
        }
        if (!n) fprintf(out, "(no runs of %s recorded in this data directory)\n", name);
    }
    sqlite3_finalize(st);
    return rc;
}

int fy_report_status(struct fy_store *s, int json, FILE *out) {
    sqlite3 *db = fy_store_db(s);
    sqlite3_stmt *st;
    /* One row per integration: its last run, its last good run and whether
     * the data is stale (no ok/partial run within its freshness). */
    const char *sql =
        "WITH last AS (SELECT integration, max(started_at) AS started FROM runs GROUP BY integration),"
        " good AS (SELECT integration, max(ended_at) AS ended FROM runs WHERE status IN ('ok','partial')"
        "          GROUP BY integration) "
        "SELECT i.name, i.owner, i.pattern, i.freshness_s, r.status AS last_status, r.started_at AS last_started, "
        "  r.id AS last_run, g.ended AS last_good, "
        "  CASE WHEN g.ended IS NULL THEN 1 "
        "       WHEN (julianday('now') - julianday(g.ended)) * 86400 > i.freshness_s THEN 1 ELSE 0 END AS stale, "
        "  c.cursor AS checkpoint_json, r.error AS last_error "
        "FROM integrations i LEFT JOIN last l ON l.integration = i.name "
        "LEFT JOIN runs r ON r.integration = i.name AND r.started_at = l.started "
        "LEFT JOIN good g ON g.integration = i.name "
        "LEFT JOIN checkpoints c ON c.integration = i.name ORDER BY i.name";
    if (!(st = prepare(db, sql))) return FY_ERR;
    int rc = FY_OK;
    if (json) {
        rc = rows_json(st, out);
    } else {
        int n = 0;
        fprintf(out, "%-32s %-8s %-12s %-12s %-22s %s\n", "INTEGRATION", "LAST", "LAST RUN", "LAST GOOD",
                "FRESHNESS", "OWNER");
        while (sqlite3_step(st) == SQLITE_ROW) {
            char last[48], good[48], fresh[48], fresh_s[80];
            age(col(st, 5), last, sizeof last);
            age(col(st, 7), good, sizeof good);
            fy_duration_format(sqlite3_column_double(st, 3), fresh, sizeof fresh);
            snprintf(fresh_s, sizeof fresh_s, "%s (within %s)", sqlite3_column_int(st, 8) ? "STALE" : "fresh", fresh);
            fprintf(out, "%-32s %-8s %-12s %-12s %-22s %s\n", col(st, 0), *col(st, 4) ? col(st, 4) : "-",
                    last, good, fresh_s, col(st, 1));
            n++;
        }
        if (!n) fprintf(out, "(no integrations have run with this data directory yet)\n");
    }
    sqlite3_finalize(st);
    return rc;
}
