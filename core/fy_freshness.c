/* The ferry_freshness table of reporting databases; see fy_freshness.h. */
#include "fy_freshness.h"
#include "fy_common.h"
#include "fy_store.h"
#include "fy_time.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

int fy_freshness_read(struct fy_store *s, const char *integration, const char *run_id, const char *status,
                      struct fy_freshness *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->integration, sizeof f->integration, "%s", integration);
    snprintf(f->run_id, sizeof f->run_id, "%s", run_id);
    snprintf(f->status, sizeof f->status, "%s", status);
    fy_store_now(f->updated_at, sizeof f->updated_at);
    f->age_seconds = -1;
    /* the rule of `ferry status`'s LAST GOOD (fy_report.c) */
    sqlite3_stmt *st;
    const char *sql = "SELECT id, ended_at FROM runs WHERE integration = ? AND status IN ('ok','partial') "
                      "AND verdict IS NULL AND trigger IS NOT 'replay' AND ended_at IS NOT NULL "
                      "ORDER BY ended_at DESC, rowid DESC LIMIT 1";
    if (sqlite3_prepare_v2(fy_store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return FY_ERR;
    sqlite3_bind_text(st, 1, integration, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0), *at = (const char *)sqlite3_column_text(st, 1);
        double t, now;
        int off;
        char perr[64];
        snprintf(f->last_good_run, sizeof f->last_good_run, "%s", id ? id : "");
        snprintf(f->last_good_at, sizeof f->last_good_at, "%s", at ? at : "");
        if (fy_time_parse(f->last_good_at, strlen(f->last_good_at), &t, &off, perr, sizeof perr) == FY_OK &&
            fy_time_parse(f->updated_at, strlen(f->updated_at), &now, &off, perr, sizeof perr) == FY_OK)
            f->age_seconds = now > t ? (double)(long long)((now - t) * 1000 + 0.5) / 1000 : 0;   /* ms, as stored */
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FY_OK : FY_ERR;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return FY_OK;
    fy_errf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return FY_ERR;
}

/* Bind text, or NULL for "". */
static void bind_text(sqlite3_stmt *st, int i, const char *v) {
    if (*v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

int fy_freshness_write_sqlite(sqlite3 *db, const struct fy_freshness *f, char *err, size_t errlen) {
    sqlite3_stmt *st = NULL;
    if (exec(db, "BEGIN IMMEDIATE", err, errlen) != FY_OK) return FY_ERR;
    if (exec(db, "CREATE TABLE IF NOT EXISTS ferry_freshness (integration TEXT PRIMARY KEY, last_good_run TEXT, "
                 "last_good_at TEXT, age_seconds REAL, status TEXT, run_id TEXT, updated_at TEXT)",
             err, errlen) != FY_OK)
        goto fail;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO ferry_freshness (integration, last_good_run, last_good_at, "
                               "age_seconds, status, run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        fy_errf(err, errlen, "%s", sqlite3_errmsg(db));
        goto fail;
    }
    bind_text(st, 1, f->integration);
    bind_text(st, 2, f->last_good_run);
    bind_text(st, 3, f->last_good_at);
    if (f->age_seconds >= 0) sqlite3_bind_double(st, 4, f->age_seconds);
    else sqlite3_bind_null(st, 4);
    bind_text(st, 5, f->status);
    bind_text(st, 6, f->run_id);
    bind_text(st, 7, f->updated_at);
    if (sqlite3_step(st) != SQLITE_DONE) {
        fy_errf(err, errlen, "%s", sqlite3_errmsg(db));
        goto fail;
    }
    sqlite3_finalize(st);
    return exec(db, "COMMIT", err, errlen) == FY_OK ? FY_OK : (exec(db, "ROLLBACK", NULL, 0), FY_ERR);
fail:
    sqlite3_finalize(st);
    exec(db, "ROLLBACK", NULL, 0);
    return FY_ERR;
}
