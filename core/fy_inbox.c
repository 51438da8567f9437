/* The webhook inbox; see fy_inbox.h. */
#include "fy_inbox.h"
#include "fy_common.h"
#include "fy_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

int fy_inbox_add(struct fy_store *s, struct fy_event *ev, int *duplicate) {
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_EV_INSERT,
        "INSERT INTO events (integration, hook, delivery_id, received_at, method, headers, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (integration, delivery_id) DO NOTHING RETURNING id");
    if (!st) return FY_ERR;
    bind_text(st, 1, ev->integration);
    bind_text(st, 2, ev->hook);
    bind_text(st, 3, ev->delivery_id);
    bind_text(st, 4, ev->received_at);
    bind_text(st, 5, ev->method);
    bind_text(st, 6, ev->headers_json);
    sqlite3_bind_blob(st, 7, ev->body_len ? ev->body : "", (int)ev->body_len, SQLITE_STATIC);
    int rc = fy_store_step(s, st);
    *duplicate = rc == SQLITE_DONE;
    if (rc == SQLITE_ROW) ev->id = sqlite3_column_int64(st, 0);
    while (rc == SQLITE_ROW) rc = fy_store_step(s, st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return FY_ERR;
    if (*duplicate) {                              /* the earlier event's id */
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(fy_store_db(s), "SELECT id FROM events WHERE integration = ? AND delivery_id = ?", -1,
                               &q, NULL) != SQLITE_OK)
            return FY_ERR;
        bind_text(q, 1, ev->integration);
        bind_text(q, 2, ev->delivery_id);
        if (sqlite3_step(q) == SQLITE_ROW) ev->id = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    return FY_OK;
}

/* Hand the rows of st (columns: id, integration, hook, delivery_id,
 * received_at, method, headers, body, status, run_id) to fn. */
static int each(struct fy_store *s, sqlite3_stmt *st, fy_inbox_fn fn, void *arg) {
    int n = 0, rc;
    while ((rc = fy_store_step(s, st)) == SQLITE_ROW) {
        struct fy_event ev = {
            .id = sqlite3_column_int64(st, 0),
            .integration = (const char *)sqlite3_column_text(st, 1),
            .hook = (const char *)sqlite3_column_text(st, 2),
            .delivery_id = (const char *)sqlite3_column_text(st, 3),
            .received_at = (const char *)sqlite3_column_text(st, 4),
            .method = (const char *)sqlite3_column_text(st, 5),
            .headers_json = (const char *)sqlite3_column_text(st, 6),
            .body = sqlite3_column_blob(st, 7),
            .body_len = (size_t)sqlite3_column_bytes(st, 7),
            .status = (const char *)sqlite3_column_text(st, 8),
            .run_id = (const char *)sqlite3_column_text(st, 9),
        };
        if (!ev.body) ev.body = "";
        n++;
        if (fn(arg, &ev) != FY_OK) break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : FY_ERR;
}

#define EVENT_COLUMNS "id, integration, hook, delivery_id, received_at, method, headers, body, status, run_id"

int fy_inbox_page(struct fy_store *s, const char *integration, long long after, int limit, fy_inbox_fn fn,
                  void *arg) {
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_EV_PAGE,
        "SELECT " EVENT_COLUMNS " FROM events WHERE integration = ? AND status = 'pending' AND id > ? "
        "ORDER BY id LIMIT ?");
    if (!st) return FY_ERR;
    bind_text(st, 1, integration);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, limit);
    return each(s, st, fn, arg);
}

int fy_inbox_mark(struct fy_store *s, long long id, int done, const char *run_id) {
    char now[40];
    fy_store_now(now, sizeof now);
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_EV_MARK,
        "UPDATE events SET status = ?, run_id = ?, done_at = ? WHERE id = ? AND status = 'pending'");
    if (!st) return FY_ERR;
    bind_text(st, 1, done ? "done" : "failed");
    bind_text(st, 2, run_id);
    bind_text(st, 3, now);
    sqlite3_bind_int64(st, 4, id);
    int rc = fy_store_step(s, st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FY_OK : FY_ERR;
}

int fy_inbox_pending(struct fy_store *s, const char *integration, long long *count, char *oldest, size_t cap) {
    sqlite3_stmt *st;
    *count = 0;
    if (cap) oldest[0] = '\0';
    if (sqlite3_prepare_v2(fy_store_db(s), "SELECT count(*), min(received_at) FROM events "
                           "WHERE integration = ? AND status = 'pending'", -1, &st, NULL) != SQLITE_OK)
        return FY_ERR;
    bind_text(st, 1, integration);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 1) != SQLITE_NULL && cap)
            snprintf(oldest, cap, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FY_OK : FY_ERR;
}

int fy_inbox_list(struct fy_store *s, const char *integration, const char *status, long long before, int limit,
                  fy_inbox_fn fn, void *arg) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fy_store_db(s), "SELECT " EVENT_COLUMNS " FROM events "
                           "WHERE (?1 IS NULL OR integration = ?1) AND (?2 IS NULL OR status = ?2) "
                           "AND (?3 = 0 OR id < ?3) ORDER BY id DESC LIMIT ?4", -1, &st, NULL) != SQLITE_OK)
        return FY_ERR;
    bind_text(st, 1, integration);
    bind_text(st, 2, status);
    sqlite3_bind_int64(st, 3, before);
    sqlite3_bind_int(st, 4, limit);
    int n = each(s, st, fn, arg);
    sqlite3_finalize(st);
    return n;
}

/* ---- reads for `ferry events` and the admin API ------------------------------- */

int fy_inbox_count(struct fy_store *s, const char *integration, const char *status, long long *count) {
    sqlite3_stmt *st;
    *count = 0;
    if (sqlite3_prepare_v2(fy_store_db(s), "SELECT count(*) FROM events "
                           "WHERE (?1 IS NULL OR integration = ?1) AND (?2 IS NULL OR status = ?2)", -1, &st,
                           NULL) != SQLITE_OK)
        return FY_ERR;
    bind_text(st, 1, integration);
    bind_text(st, 2, status);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FY_OK : FY_ERR;
}

int fy_inbox_get(struct fy_store *s, long long id, fy_inbox_fn fn, void *arg) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fy_store_db(s), "SELECT " EVENT_COLUMNS " FROM events WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return FY_ERR;
    sqlite3_bind_int64(st, 1, id);
    int n = each(s, st, fn, arg);
    sqlite3_finalize(st);
    return n;
}
