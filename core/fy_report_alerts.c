/* `ferry alerts` and /api/v1/alerts: the alert history, from the store. */
#include "fy_report.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

enum { A_ID, A_INTEGRATION, A_KIND, A_STATUS, A_SUMMARY, A_DETAIL, A_OCCURRENCES, A_OPENED, A_LAST_SEEN, A_LAST_SENT,
       A_SENDS, A_ESCALATE_AT, A_ESCALATED, A_ESCALATE_TO, A_ACKED, A_ACK_REASON, A_RESOLVED, A_RESOLUTION, A_OWNER,
       A_TARGETS, A_SENT, A_PENDING, A_FAILED };

static const char *alerts_sql =
    "SELECT a.id, a.integration, a.kind, a.status, a.summary, a.detail, a.occurrences, a.opened_at, a.last_seen_at, "
    "  a.last_sent_at, a.sends, a.escalate_at, a.escalated_at, a.escalate_to, a.acked_at, a.ack_reason, "
    "  a.resolved_at, a.resolution, a.owner, a.targets, "
    "  (SELECT count(*) FROM alert_sends s WHERE s.alert_id = a.id AND s.status = 'sent'), "
    "  (SELECT count(*) FROM alert_sends s WHERE s.alert_id = a.id AND s.status = 'pending'), "
    "  (SELECT count(*) FROM alert_sends s WHERE s.alert_id = a.id AND s.status = 'failed') "
    "FROM alerts a WHERE (?1 = 0 OR a.status = 'open') AND (?2 IS NULL OR a.integration = ?2) "
    "  AND (?3 = 0 OR a.id = ?3) ORDER BY a.id DESC LIMIT ?4";

static const char *text(sqlite3_stmt *st, int i) {
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static void put_text(struct fy_buf *b, sqlite3_stmt *st, int i) {
    if (sqlite3_column_type(st, i) == SQLITE_NULL) fy_buf_puts(b, "null");
    else fy_buf_json_string(b, text(st, i), (size_t)sqlite3_column_bytes(st, i));
}

static void alert_json(sqlite3_stmt *st, struct fy_buf *b) {
    static const struct { const char *key; int col; } strs[] = {
        {"integration", A_INTEGRATION}, {"kind", A_KIND}, {"status", A_STATUS}, {"summary", A_SUMMARY},
        {"detail", A_DETAIL}, {"opened_at", A_OPENED}, {"last_seen_at", A_LAST_SEEN}, {"last_sent_at", A_LAST_SENT},
        {"escalate_at", A_ESCALATE_AT}, {"escalated_at", A_ESCALATED}, {"escalate_to", A_ESCALATE_TO},
        {"acked_at", A_ACKED}, {"ack_reason", A_ACK_REASON}, {"resolved_at", A_RESOLVED},
        {"resolution", A_RESOLUTION}, {"owner", A_OWNER},
    };
    fy_buf_printf(b, "{\"id\":%lld", (long long)sqlite3_column_int64(st, A_ID));
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        fy_buf_printf(b, ",\"%s\":", strs[i].key);
        put_text(b, st, strs[i].col);
    }
    fy_buf_printf(b, ",\"occurrences\":%lld,\"sends\":%lld,\"targets\":%s,"
                     "\"messages\":{\"sent\":%lld,\"pending\":%lld,\"failed\":%lld}}",
                  (long long)sqlite3_column_int64(st, A_OCCURRENCES), (long long)sqlite3_column_int64(st, A_SENDS),
                  *text(st, A_TARGETS) == '[' ? text(st, A_TARGETS) : "[]",
                  (long long)sqlite3_column_int64(st, A_SENT), (long long)sqlite3_column_int64(st, A_PENDING),
                  (long long)sqlite3_column_int64(st, A_FAILED));
}

static sqlite3_stmt *query(struct fy_store *s, int open_only, const char *integration, long long id, int limit) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fy_store_db(s), alerts_sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_int(st, 1, open_only);
    if (integration) sqlite3_bind_text(st, 2, integration, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int(st, 4, limit > 0 ? limit : 100);
    return st;
}

int fy_report_alerts_json(struct fy_store *s, int open_only, const char *integration, long long id, int limit,
                          struct fy_buf *out) {
    sqlite3_stmt *st = query(s, open_only, integration, id, limit);
    if (!st) return -1;
    int n = 0, rc;
    if (!id) fy_buf_putc(out, '[');
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++) fy_buf_putc(out, ',');
        alert_json(st, out);
    }
    if (!id) fy_buf_putc(out, ']');
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

int fy_report_alerts(struct fy_store *s, int open_only, const char *integration, int limit, int json, FILE *out) {
    if (json) {
        struct fy_buf b = {0};
        int n = fy_report_alerts_json(s, open_only, integration, 0, limit, &b);
        if (n >= 0) fprintf(out, "%s\n", b.data);
        fy_buf_free(&b);
        return n < 0 ? FY_ERR : FY_OK;
    }
    sqlite3_stmt *st = query(s, open_only, integration, 0, limit);
    if (!st) return FY_ERR;
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!n++)
            fprintf(out, "%-5s %-28s %-15s %-9s %-11s %-11s %6s  %-22s %s\n", "ID", "INTEGRATION", "KIND", "STATUS",
                    "OPENED", "LAST SEEN", "COUNT", "MESSAGES", "SUMMARY");
        char opened[48], seen[48], msgs[64], state[16];
        fy_report_age(text(st, A_OPENED), opened, sizeof opened);
        fy_report_age(text(st, A_LAST_SEEN), seen, sizeof seen);
        snprintf(msgs, sizeof msgs, "%lld sent%s", (long long)sqlite3_column_int64(st, A_SENT),
                 sqlite3_column_int64(st, A_FAILED) ? ", some failed" : sqlite3_column_int64(st, A_PENDING)
                                                        ? ", some pending" : "");
        snprintf(state, sizeof state, "%s", !strcmp(text(st, A_STATUS), "open") && *text(st, A_ACKED) ? "acked"
                                            : text(st, A_STATUS));
        fprintf(out, "%-5lld %-28s %-15s %-9s %-11s %-11s %6lld  %-22s %s\n", (long long)sqlite3_column_int64(st, A_ID),
                text(st, A_INTEGRATION), text(st, A_KIND), state, opened, seen,
                (long long)sqlite3_column_int64(st, A_OCCURRENCES), msgs, text(st, A_SUMMARY));
        if (*text(st, A_ESCALATED))
            fprintf(out, "      escalated to %s at %s\n", text(st, A_ESCALATE_TO), text(st, A_ESCALATED));
        if (*text(st, A_ACKED)) fprintf(out, "      acknowledged at %s: %s\n", text(st, A_ACKED), text(st, A_ACK_REASON));
        if (*text(st, A_RESOLVED))
            fprintf(out, "      resolved at %s: %s\n", text(st, A_RESOLVED), text(st, A_RESOLUTION));
    }
    if (rc == SQLITE_DONE && n == 0) fprintf(out, open_only ? "no open alerts\n" : "no alerts\n");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FY_OK : FY_ERR;
}
