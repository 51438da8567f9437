/* Alerts: dedup, re-sends, escalation, resolution and the outbox; see fy_alert.h. */
#include "fy_alert.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_engine.h"
#include "fy_log.h"
#include "fy_notify.h"
#include "fy_secret.h"
#include "fy_store.h"
#include "fy_time.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEND_TRIES 6            /* a message is given up after this many failed tries */
#define SEND_LEASE 600.0        /* seconds a message being sent is not picked again */
#define PUMP_BATCH 32           /* messages started per pump */

/* ---- the policy ------------------------------------------------------------ */

static int add_target(struct fy_alert_policy *p, const char *t, const struct fy_engine *e, char *err, size_t errlen) {
    char why[256];
    if (fy_notify_known(&e->cfg, t, why, sizeof why) != FY_OK) {
        snprintf(err, errlen, "policy.alert: %s", why);
        return FY_ERR;
    }
    char **to = realloc(p->to, (size_t)(p->nto + 1) * sizeof *to);
    if (!to) return FY_ERR;
    p->to = to;
    p->to[p->nto++] = strdup(t);
    return FY_OK;
}

/* A duration field of table t (a string the contract checked), or dflt. */
static double duration_field(lua_State *L, int t, const char *k, double dflt) {
    double secs = dflt;
    char err[128];
    lua_getfield(L, t, k);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (s && fy_duration_parse(s, len, &secs, err, sizeof err) != FY_OK) secs = dflt;
    lua_pop(L, 1);
    return secs;
}

int fy_alert_policy_read(lua_State *L, int spec, const struct fy_engine *e, double default_repeat,
                         struct fy_alert_policy *p, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    p->repeat = default_repeat;
    int top = lua_gettop(L), rc = FY_OK, targets = 0;
    spec = lua_absindex(L, spec);
    if (lua_getfield(L, spec, "policy") == LUA_TTABLE) {
        int pol = lua_gettop(L);
        if (lua_getfield(L, pol, "pause") == LUA_TTABLE) p->probe = duration_field(L, -1, "probe", 0);
        lua_pop(L, 1);
        lua_getfield(L, pol, "schema_drift");
        p->drift_pauses = lua_isstring(L, -1) && !strcmp(lua_tostring(L, -1), "pause");
        lua_pop(L, 1);
        if (lua_getfield(L, pol, "alert") == LUA_TTABLE) {
            int a = lua_gettop(L);
            p->repeat = duration_field(L, a, "repeat", default_repeat);
            lua_getfield(L, a, "quarantine_open");
            p->quarantine_open = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
            lua_pop(L, 1);
            int type = lua_getfield(L, a, "to");
            if (type == LUA_TSTRING) {
                targets = 1;
                rc = add_target(p, lua_tostring(L, -1), e, err, errlen);
            } else if (type == LUA_TTABLE) {
                targets = 1;
                for (lua_Integer i = 1; rc == FY_OK && lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
                    rc = add_target(p, lua_tostring(L, -1), e, err, errlen);
                    lua_pop(L, 1);
                }
            }
            lua_settop(L, a);
            if (rc == FY_OK && lua_getfield(L, a, "escalate") == LUA_TTABLE) {
                p->escalate_after = duration_field(L, -1, "after", 0);
                lua_getfield(L, -1, "to");
                const char *to = lua_tostring(L, -1);
                char why[256];
                if (to && fy_notify_known(&e->cfg, to, why, sizeof why) != FY_OK) {
                    snprintf(err, errlen, "policy.alert.escalate.to: %s", why);
                    rc = FY_ERR;
                } else if (to) {
                    p->escalate_to = strdup(to);
                }
            }
        }
    }
    lua_settop(L, top);
    /* no `to`: the log, and the owner's inbox when the config names an email
     * channel for owners (alerts.owner) */
    if (rc == FY_OK && !targets) rc = add_target(p, "log", e, err, errlen);
    if (rc == FY_OK && !targets && e->cfg.alerts.owner) rc = add_target(p, "owner", e, err, errlen);
    if (rc != FY_OK) fy_alert_policy_free(p);
    return rc;
}

void fy_alert_policy_free(struct fy_alert_policy *p) {
    for (int i = 0; i < p->nto; i++) free(p->to[i]);
    free(p->to);
    free(p->escalate_to);
    memset(p, 0, sizeof *p);
}

/* ---- the store --------------------------------------------------------------- */

static void iso(double t, char *buf, size_t cap) { fy_time_format(t, 0, 3, buf, cap); }

static double epoch_of(const unsigned char *s) {
    double t;
    int off;
    if (!s || fy_time_parse((const char *)s, strlen((const char *)s), &t, &off, NULL, 0) != FY_OK) return NAN;
    return t;
}

/* Prepare sql with text arguments (NULL binds NULL); NULL on error, logged. */
static sqlite3_stmt *prep(struct fy_store *s, const char *sql, int n, const char **args) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fy_store_db(s), sql, -1, &st, NULL) != SQLITE_OK) {
        fy_log(FY_LOG_ERROR, NULL, "alerts: %s", sqlite3_errmsg(fy_store_db(s)));
        return NULL;
    }
    for (int i = 0; i < n; i++) sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
    return st;
}

static int exec_sql(struct fy_store *s, const char *sql, int n, const char **args) {
    sqlite3_stmt *st = prep(s, sql, n, args);
    if (!st) return FY_ERR;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) fy_log(FY_LOG_ERROR, NULL, "alerts: %s", sqlite3_errmsg(fy_store_db(s)));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FY_OK : FY_ERR;
}

/* Queue one message of `event` to each target of the JSON list `targets`. */
static void enqueue(struct fy_store *s, long long alert_id, const char *targets, const char *event, double now) {
    char id[24], at[40];
    snprintf(id, sizeof id, "%lld", alert_id);
    iso(now, at, sizeof at);
    const char *a[] = {id, event, at, at, targets};
    exec_sql(s, "INSERT INTO alert_sends (alert_id, channel, event, created_at, next_try_at) "
                "SELECT CAST(?1 AS INTEGER), value, ?2, ?3, ?4 FROM json_each(?5)", 5, a);
    /* the reminder cadence counts from the last message to the alert's own
     * targets, not from an escalation or a resolution */
    const char *b[] = {at, id};
    if (!strcmp(event, "opened") || !strcmp(event, "repeat"))
        exec_sql(s, "UPDATE alerts SET last_sent_at = ?1, sends = sends + 1 WHERE id = CAST(?2 AS INTEGER)", 2, b);
    else
        exec_sql(s, "UPDATE alerts SET sends = sends + 1 WHERE id = CAST(?2 AS INTEGER)", 2, b);
}

/* The same, to one target (an escalation, and whoever it went to). */
static void enqueue_one(struct fy_store *s, long long alert_id, const char *target, const char *event, double now) {
    struct fy_buf one = {0};
    fy_buf_putc(&one, '[');
    fy_buf_json_string(&one, target, strlen(target));
    fy_buf_putc(&one, ']');
    enqueue(s, alert_id, one.data, event, now);
    fy_buf_free(&one);
}

int fy_alert_is_open(struct fy_store *s, const char *integration, const char *kind) {
    const char *a[] = {integration, kind};
    sqlite3_stmt *st = prep(s, "SELECT 1 FROM alerts WHERE integration = ? AND kind = ? AND status = 'open'", 2, a);
    int open = st && sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return open;
}

long long fy_alert_raise(struct fy_engine *e, const char *integration, const char *owner,
                         const struct fy_alert_policy *p, const char *kind, const char *summary, const char *detail,
                         double now) {
    struct fy_store *s = e->store;
    if (!s) return 0;
    /* what an alert says is stored and sent: never a secret */
    struct fy_buf sum = {0}, det = {0};
    fy_buf_puts(&sum, summary);
    fy_redact(&sum);
    fy_buf_puts(&det, detail ? detail : "");
    fy_redact(&det);
    summary = sum.data ? sum.data : "";
    detail = det.data ? det.data : "";
    char at[40];
    iso(now, at, sizeof at);
    const char *k[] = {at, integration, kind};
    sqlite3_stmt *st = prep(s, "UPDATE alerts SET occurrences = occurrences + 1, last_seen_at = ? "
                               "WHERE integration = ? AND kind = ? AND status = 'open' RETURNING id", 3, k);
    long long id = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (id) {                                           /* open already: counted, not sent again */
        fy_buf_free(&sum);
        fy_buf_free(&det);
        return id;
    }

    struct fy_buf targets = {0};
    fy_buf_putc(&targets, '[');
    for (int i = 0; i < p->nto; i++) {
        if (i) fy_buf_putc(&targets, ',');
        fy_buf_json_string(&targets, p->to[i], strlen(p->to[i]));
    }
    fy_buf_putc(&targets, ']');
    char repeat[32], esc_at[40] = "";
    snprintf(repeat, sizeof repeat, "%.3f", p->repeat);
    if (p->escalate_to) iso(now + p->escalate_after, esc_at, sizeof esc_at);
    const char *a[] = {integration, kind, summary, detail, at, at, owner, targets.data, repeat,
                       p->escalate_to, p->escalate_to ? esc_at : NULL};
    st = prep(s, "INSERT INTO alerts (integration, kind, summary, detail, opened_at, last_seen_at, owner, targets, "
                 "repeat_s, escalate_to, escalate_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS REAL), ?, ?) "
                 "RETURNING id", 11, a);
    id = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (id) {
        enqueue(s, id, targets.data, "opened", now);
        fy_alert_pump(e, now);
    }
    fy_buf_free(&targets);
    fy_buf_free(&sum);
    fy_buf_free(&det);
    return id;
}

int fy_alert_resolve(struct fy_engine *e, const char *integration, const char *kind, const char *resolution,
                     double now) {
    if (!e->store || !fy_alert_resolve_store(e->store, integration, kind, resolution, now)) return 0;
    fy_alert_pump(e, now);
    return 1;
}

int fy_alert_resolve_store(struct fy_store *s, const char *integration, const char *kind, const char *resolution,
                           double now) {
    char at[40];
    iso(now, at, sizeof at);
    const char *a[] = {at, resolution, integration, kind};
    sqlite3_stmt *st = prep(s, "UPDATE alerts SET status = 'resolved', resolved_at = ?, resolution = ? "
                               "WHERE integration = ? AND kind = ? AND status = 'open' "
                               "RETURNING id, targets, escalated_at IS NOT NULL, escalate_to", 4, a);
    int resolved = 0;
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(st, 0);
        char *targets = strdup((const char *)sqlite3_column_text(st, 1));
        char *esc = sqlite3_column_int(st, 2) && sqlite3_column_text(st, 3)
                        ? strdup((const char *)sqlite3_column_text(st, 3)) : NULL;
        sqlite3_finalize(st);
        st = NULL;
        enqueue(s, id, targets, "resolved", now);
        if (esc) enqueue_one(s, id, esc, "resolved", now);   /* whoever it was escalated to hears it ended */
        free(targets);
        free(esc);
        resolved = 1;
    }
    sqlite3_finalize(st);
    return resolved;
}

int fy_alert_ack(struct fy_store *s, long long id, const char *reason, double now, char *err, size_t errlen) {
    char at[40], ids[24];
    iso(now, at, sizeof at);
    snprintf(ids, sizeof ids, "%lld", id);
    const char *a[] = {at, reason, ids};
    sqlite3_stmt *st = prep(s, "UPDATE alerts SET acked_at = ?, ack_reason = ? "
                               "WHERE id = CAST(? AS INTEGER) AND status = 'open' RETURNING id", 3, a);
    int ok = st && sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (ok) return FY_OK;
    const char *b[] = {ids};
    st = prep(s, "SELECT status FROM alerts WHERE id = CAST(? AS INTEGER)", 1, b);
    if (st && sqlite3_step(st) == SQLITE_ROW) snprintf(err, errlen, "alert %lld is %s, not open", id, sqlite3_column_text(st, 0));
    else snprintf(err, errlen, "no alert %lld (see 'ferry alerts')", id);
    sqlite3_finalize(st);
    return FY_ERR;
}

/* ---- re-sends and escalation ----------------------------------------------- */

struct due {
    long long id;
    char *targets, *escalate_to;
    int repeat, escalate;
};

void fy_alert_tick(struct fy_engine *e, double now) {
    struct fy_store *s = e->store;
    if (!s) return;
    sqlite3_stmt *st = prep(s, "SELECT id, targets, repeat_s, coalesce(last_sent_at, opened_at), acked_at, "
                               "escalate_to, escalate_at, escalated_at FROM alerts WHERE status = 'open' ORDER BY id",
                            0, NULL);
    struct due *due = NULL;
    size_t n = 0, cap = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        double repeat = sqlite3_column_double(st, 2), last = epoch_of(sqlite3_column_text(st, 3));
        double acked = epoch_of(sqlite3_column_text(st, 4)), esc_at = epoch_of(sqlite3_column_text(st, 6));
        int acknowledged = !isnan(acked);
        struct due d = {sqlite3_column_int64(st, 0), NULL, NULL, 0, 0};
        d.repeat = !acknowledged && repeat > 0 && now >= last + repeat;
        /* an acknowledgement stops re-sends; an escalation that was due
         * before it still goes out */
        d.escalate = sqlite3_column_text(st, 5) && !sqlite3_column_text(st, 7) && !isnan(esc_at) && now >= esc_at &&
                     (!acknowledged || acked >= esc_at);
        if (!d.repeat && !d.escalate) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            struct due *g = realloc(due, cap * sizeof *due);
            if (!g) break;
            due = g;
        }
        d.targets = strdup((const char *)sqlite3_column_text(st, 1));
        if (d.escalate) d.escalate_to = strdup((const char *)sqlite3_column_text(st, 5));
        due[n++] = d;
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++) {
        if (due[i].repeat) enqueue(s, due[i].id, due[i].targets, "repeat", now);
        if (due[i].escalate) {
            enqueue_one(s, due[i].id, due[i].escalate_to, "escalated", now);
            char at[40], ids[24];
            iso(now, at, sizeof at);
            snprintf(ids, sizeof ids, "%lld", due[i].id);
            const char *a[] = {at, ids};
            exec_sql(s, "UPDATE alerts SET escalated_at = ? WHERE id = CAST(? AS INTEGER)", 2, a);
        }
        free(due[i].targets);
        free(due[i].escalate_to);
    }
    free(due);
    fy_alert_pump(e, now);
}

/* ---- the outbox ------------------------------------------------------------- */

struct sending {
    struct fy_engine *e;
    long long id;               /* alert_sends row */
    int attempts;               /* tries before this one */
    char channel[128], event[16];
};

/* How long to wait after failed try number `tries`: 1, 2, 4, 8, 16 minutes. */
static double backoff(int tries) { return 60.0 * (double)(1 << (tries > 5 ? 4 : tries - 1)); }

static void sent(void *arg, int ok, const char *error) {
    struct sending *sd = arg;
    struct fy_store *s = sd->e->store;
    int tries = sd->attempts + 1;
    double now = fy_time_now();
    char at[40], next[40], ids[24], n[16];
    iso(now, at, sizeof at);
    snprintf(ids, sizeof ids, "%lld", sd->id);
    snprintf(n, sizeof n, "%d", tries);
    if (ok) {
        const char *a[] = {n, at, ids};
        if (s) exec_sql(s, "UPDATE alert_sends SET status = 'sent', attempts = CAST(? AS INTEGER), sent_at = ?, "
                           "error = NULL WHERE id = CAST(? AS INTEGER)", 3, a);
    } else {
        int give_up = tries >= SEND_TRIES;
        iso(now + backoff(tries), next, sizeof next);
        const char *a[] = {give_up ? "failed" : "pending", n, give_up ? NULL : next, error ? error : "failed", ids};
        if (s) exec_sql(s, "UPDATE alert_sends SET status = ?, attempts = CAST(? AS INTEGER), next_try_at = ?, "
                           "error = ? WHERE id = CAST(? AS INTEGER)", 5, a);
        struct fy_buf f = {0};
        fy_buf_puts(&f, "\"channel\":");
        fy_buf_json_string(&f, sd->channel, strlen(sd->channel));
        fy_buf_puts(&f, ",\"event\":");
        fy_buf_json_string(&f, sd->event, strlen(sd->event));
        fy_buf_printf(&f, ",\"tries\":%d,\"error\":", tries);
        fy_buf_json_string(&f, error ? error : "failed", strlen(error ? error : "failed"));
        if (!give_up) fy_buf_printf(&f, ",\"retry_in_s\":%.0f", backoff(tries));
        fy_log_write(give_up ? FY_LOG_ERROR : FY_LOG_WARN, NULL, NULL,
                     give_up ? "alert message given up" : "alert message not delivered", f.data);
        fy_buf_free(&f);
    }
    free(sd);
}

/* The text of a message about alert row r (columns as selected in pump). */
static void compose(sqlite3_stmt *r, const char *event, struct fy_buf *subject, struct fy_buf *text) {
    const char *name = (const char *)sqlite3_column_text(r, 5), *kind = (const char *)sqlite3_column_text(r, 6);
    const char *summary = (const char *)sqlite3_column_text(r, 7), *detail = (const char *)sqlite3_column_text(r, 8);
    const char *owner = (const char *)sqlite3_column_text(r, 9), *opened = (const char *)sqlite3_column_text(r, 10);
    const char *resolution = (const char *)sqlite3_column_text(r, 12);
    long long id = sqlite3_column_int64(r, 4), times = sqlite3_column_int64(r, 11);
    const char *label = !strcmp(event, "repeat") ? "still open: " : !strcmp(event, "escalated") ? "ESCALATED: "
                        : !strcmp(event, "resolved") ? "resolved: " : "";
    fy_buf_printf(subject, "[ferry] %s%s: %s", label, name, summary ? summary : kind);
    if (!strcmp(event, "resolved")) {
        fy_buf_printf(text, "Resolved: %s\n\n", resolution ? resolution : "the condition cleared");
    } else if (!strcmp(event, "escalated")) {
        fy_buf_printf(text, "Escalated: this alert has been open since %s and nobody resolved it.\n\n", opened);
    } else if (!strcmp(event, "repeat")) {
        fy_buf_printf(text, "Still open since %s (%lld occurrence%s). 'ferry alerts ack %lld --reason TEXT' stops "
                            "these reminders.\n\n", opened, times, times == 1 ? "" : "s", id);
    }
    fy_buf_printf(text, "Integration: %s\nOwner: %s\nAlert: %s (#%lld), open since %s, %lld occurrence%s\n\n", name,
                  owner ? owner : "-", kind, id, opened, times, times == 1 ? "" : "s");
    if (detail && *detail) fy_buf_printf(text, "%s\n", detail);
}

void fy_alert_pump(struct fy_engine *e, double now) {
    struct fy_store *s = e->store;
    if (!s) return;
    char at[40], lease[40];
    iso(now, at, sizeof at);
    iso(now + SEND_LEASE, lease, sizeof lease);
    const char *a[] = {at};
    sqlite3_stmt *st = prep(s, "SELECT s.id, s.channel, s.event, s.attempts, a.id, a.integration, a.kind, a.summary, "
                               "a.detail, a.owner, a.opened_at, a.occurrences, a.resolution "
                               "FROM alert_sends s JOIN alerts a ON a.id = s.alert_id "
                               "WHERE s.status = 'pending' AND (s.next_try_at IS NULL OR s.next_try_at <= ?) "
                               "ORDER BY s.id LIMIT 32", 1, a);   /* PUMP_BATCH */
    struct msg { struct sending *sd; struct fy_notice n; struct fy_buf subject, text; char *strs[4]; } m[PUMP_BATCH];
    int n = 0;
    while (st && n < PUMP_BATCH && sqlite3_step(st) == SQLITE_ROW) {
        struct msg *x = &m[n];
        memset(x, 0, sizeof *x);
        x->sd = calloc(1, sizeof *x->sd);
        if (!x->sd) break;
        x->sd->e = e;
        x->sd->id = sqlite3_column_int64(st, 0);
        x->sd->attempts = sqlite3_column_int(st, 3);
        snprintf(x->sd->channel, sizeof x->sd->channel, "%s", sqlite3_column_text(st, 1));
        snprintf(x->sd->event, sizeof x->sd->event, "%s", sqlite3_column_text(st, 2));
        compose(st, x->sd->event, &x->subject, &x->text);
        x->strs[0] = strdup((const char *)sqlite3_column_text(st, 5));
        x->strs[1] = strdup((const char *)sqlite3_column_text(st, 6));
        x->strs[2] = sqlite3_column_text(st, 9) ? strdup((const char *)sqlite3_column_text(st, 9)) : NULL;
        x->n.alert_id = sqlite3_column_int64(st, 4);
        x->n.opened_at = epoch_of(sqlite3_column_text(st, 10));
        n++;
    }
    sqlite3_finalize(st);
    for (int i = 0; i < n; i++) {                       /* leased first: a send may complete at once */
        char ids[24];
        snprintf(ids, sizeof ids, "%lld", m[i].sd->id);
        const char *b[] = {lease, ids};
        exec_sql(s, "UPDATE alert_sends SET next_try_at = ? WHERE id = CAST(? AS INTEGER)", 2, b);
    }
    for (int i = 0; i < n; i++) {
        struct msg *x = &m[i];
        x->n.integration = x->strs[0];
        x->n.kind = x->strs[1];
        x->n.owner = x->strs[2];
        x->n.event = x->sd->event;
        x->n.subject = x->subject.data;
        x->n.text = x->text.data;
        char channel[128];
        memcpy(channel, x->sd->channel, sizeof channel);
        fy_notify_send(e, channel, &x->n, sent, x->sd);  /* sent() frees sd */
        fy_buf_free(&x->subject);
        fy_buf_free(&x->text);
        for (int j = 0; j < 4; j++) free(x->strs[j]);
    }
}
