/* The quarantine in the store; see fy_quarantine.h. */
#include "fy_quarantine.h"
#include "fy_common.h"
#include "fy_store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* FNV-1a 64 of the canonical record, as 16 hex digits. */
static void fingerprint(const char *s, char out[17]) {
    snprintf(out, 17, "%016llx", (unsigned long long)fy_fnv1a(FY_FNV1A_INIT, s, strlen(s)));
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

/* Step a write statement once; FY_OK when it completed. */
static int done(struct fy_store *s, sqlite3_stmt *st) {
    int rc = fy_store_step(s, st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FY_OK : FY_ERR;
}

int fy_quarantine_put(struct fy_store *s, const struct fy_quarantined *q) {
    char now[40], fp[17];
    sqlite3_stmt *st;
    fy_store_now(now, sizeof now);
    if (q->id > 0) {
        st = fy_store_stmt(s, FY_STMT_Q_UPDATE,
            "UPDATE quarantine SET status = 'open', stage = ?1, class = ?2, reason = ?3, output = ?4, "
            "attempts = attempts + 1, script_version = ?5, last_run = ?6, updated_at = ?7, last_failed_at = ?7 "
            "WHERE id = ?8");
        if (!st) return FY_ERR;
        sqlite3_bind_int64(st, 8, q->id);
    } else {
        st = fy_store_stmt(s, FY_STMT_Q_INSERT,
            "INSERT INTO quarantine (stage, class, reason, output, script_version, first_run, last_run, "
            "  created_at, updated_at, last_failed_at, integration, fingerprint, record) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?7, ?7, ?8, ?9, ?10) "
            "ON CONFLICT (integration, fingerprint) DO UPDATE SET "
            "  status = CASE status WHEN 'discarded' THEN 'discarded' ELSE 'open' END, "
            "  stage = excluded.stage, class = excluded.class, reason = excluded.reason, "
            "  output = excluded.output, script_version = excluded.script_version, "
            /* one attempt a run: a record read again because its run was
             * killed is not tried again, and one met twice in a run (retried
             * at its start, then read again by a full extract) is one try */
            "  attempts = attempts + (SELECT CASE WHEN r.status = 'aborted' OR quarantine.last_run = excluded.last_run "
            "                         THEN 0 ELSE 1 END "
            "                         FROM (SELECT 1) LEFT JOIN runs r ON r.id = quarantine.last_run), "
            "  last_run = excluded.last_run, updated_at = excluded.updated_at, "
            "  last_failed_at = excluded.last_failed_at, "
            "  resolved_at = NULL, resolved_run = NULL");
        if (!st) return FY_ERR;
        fingerprint(q->record, fp);
        sqlite3_bind_text(st, 8, q->integration, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, fp, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, q->record, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(st, 1, q->stage, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->class_, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, q->reason, -1, SQLITE_STATIC);
    bind_text_or_null(st, 4, q->output);
    bind_text_or_null(st, 5, q->script_version);
    sqlite3_bind_text(st, 6, q->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    return done(s, st);
}

int fy_quarantine_resolve(struct fy_store *s, long long id, const char *run_id) {
    char now[40];
    fy_store_now(now, sizeof now);
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_Q_RESOLVE,
        "UPDATE quarantine SET status = 'resolved', resolved_at = ?1, resolved_run = ?2, updated_at = ?1 "
        "WHERE id = ?3 AND status = 'open'");
    if (!st) return FY_ERR;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, id);
    return done(s, st);
}

int fy_quarantine_discard(struct fy_store *s, long long id, const char *reason, char *status, size_t statuscap) {
    sqlite3 *db = fy_store_db(s);
    sqlite3_stmt *st;
    char now[40];
    int rc = FY_ERR;
    fy_store_now(now, sizeof now);
    snprintf(status, statuscap, "%s", "");
    if (sqlite3_prepare_v2(db, "UPDATE quarantine SET status = 'discarded', discarded_at = ?1, "
                           "discard_reason = ?2, updated_at = ?1 WHERE id = ?3 AND status = 'open'",
                           -1, &st, NULL) != SQLITE_OK)
        return FY_ERR;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, id);
    if (fy_store_step(s, st) == SQLITE_DONE) rc = sqlite3_changes(db) > 0;
    sqlite3_finalize(st);
    if (rc != 0) return rc;
    if (sqlite3_prepare_v2(db, "SELECT status FROM quarantine WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return FY_ERR;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) snprintf(status, statuscap, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

int fy_quarantine_page(struct fy_store *s, const struct fy_quarantine_filter *f, long long after, int limit,
                       fy_quarantine_row_fn row, void *arg) {
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_Q_PAGE,
        "SELECT id, stage, record FROM quarantine WHERE status = 'open' AND integration = ?1 AND id > ?2 "
        "  AND stage <> 'extract' AND (?3 IS NULL OR class = ?3) AND (?4 = 0 OR id = ?4) "
        "  AND (?5 = 0 OR attempts <= ?5) ORDER BY id LIMIT ?6");
    if (!st) return FY_ERR;
    sqlite3_bind_text(st, 1, f->integration, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    bind_text_or_null(st, 3, f->class_);
    sqlite3_bind_int64(st, 4, f->id);
    sqlite3_bind_int(st, 5, f->max_attempts);
    sqlite3_bind_int(st, 6, limit);
    int n = 0, rc;
    while ((rc = fy_store_step(s, st)) == SQLITE_ROW) {
        n++;
        if (row(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2)) != FY_OK)
            break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : FY_ERR;
}

int fy_quarantine_open_count(struct fy_store *s, const char *integration, long long *count,
                             char *oldest, size_t oldestcap) {
    sqlite3_stmt *st;
    *count = 0;
    snprintf(oldest, oldestcap, "%s", "");
    /* the oldest open row is the one with the lowest id (ids only grow) */
    if (sqlite3_prepare_v2(fy_store_db(s),
            "SELECT n, (SELECT created_at FROM quarantine WHERE id = first) FROM "
            "(SELECT count(*) AS n, min(id) AS first FROM quarantine WHERE status = 'open' AND integration = ?)",
            -1, &st, NULL) != SQLITE_OK)
        return FY_ERR;
    sqlite3_bind_text(st, 1, integration, -1, SQLITE_STATIC);
    int rc = fy_store_step(s, st);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            snprintf(oldest, oldestcap, "%s", sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FY_OK : FY_ERR;
}

int fy_quarantine_get(struct fy_store *s, long long id, struct fy_quarantine_info *info) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fy_store_db(s), "SELECT integration, status, stage FROM quarantine WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return FY_ERR;
    sqlite3_bind_int64(st, 1, id);
    int rc = fy_store_step(s, st);
    if (rc == SQLITE_ROW) {
        snprintf(info->integration, sizeof info->integration, "%s", sqlite3_column_text(st, 0));
        snprintf(info->status, sizeof info->status, "%s", sqlite3_column_text(st, 1));
        snprintf(info->stage, sizeof info->stage, "%s", sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : FY_ERR;
}
