/* The admin API's endpoints (see fy_admin.h and README "Admin API"): each
 * reads the store through fy_report.c or acts through fy_serve.h, and
 * answers JSON. The routes are the table at the end. */
#include "fy_admin.h"
#include "fy_time.h"
#include "fy_alert.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_integration.h"
#include "fy_quarantine.h"
#include "fy_report.h"
#include "fy_serve.h"
#include "fy_store.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_string(struct fy_buf *b, const char *s) {
    if (s) fy_buf_json_string(b, s, strlen(s));
    else fy_buf_puts(b, "null");
}

/* A report that writes to a FILE, appended to c->out. */
static int from_stream(struct fy_admin_call *c, int (*report)(struct fy_store *, void *, FILE *), void *arg) {
    char *data = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&data, &size);
    if (!f) return FY_ERR;
    int rc = report(fy_service_store(c->svc), arg, f);
    fclose(f);
    if (rc == FY_OK) fy_buf_append(&c->out, data, size);
    free(data);
    return rc;
}

/* The answer to what a fy_service_* action returned other than FY_OK. */
static int service_error(struct fy_admin_call *c, int rc, const char *name, const char *err) {
    switch (rc) {
    case FY_SERVE_UNKNOWN: return fy_admin_fail(c, 404, "no integration '%s' is loaded by this service", name);
    case FY_SERVE_BUSY: {
        char id[40] = "";
        int code = fy_admin_fail(c, 409, "%s", *err ? err : "a run of it is going");
        if (fy_service_running(c->svc, name, id) == 1) {
            fy_buf_reset(&c->out);
            fy_buf_puts(&c->out, "{\"error\":");
            put_string(&c->out, *err ? err : "a run of it is going");
            fy_buf_puts(&c->out, ",\"running\":");
            put_string(&c->out, id);
            fy_buf_puts(&c->out, "}\n");
        }
        return code;
    }
    case FY_SERVE_STOPPING: return fy_admin_fail(c, 503, "the service is stopping: no new runs");
    case FY_SERVE_INVALID: return fy_admin_fail(c, 422, "%s", *err ? err : "cannot be done as asked");
    default: return fy_admin_fail(c, 500, "%s", *err ? err : "failed");
    }
}

/* Does the store know integration `name`? 404 (with the closest name) when
 * not, 500 on an error, 0 when it does. */
static int known(struct fy_admin_call *c, const char *name) {
    char near[256] = "";
    int k = fy_store_integration_known(fy_service_store(c->svc), name, near, sizeof near);
    if (k < 0) return fy_admin_fail(c, 500, "%s", fy_store_error(fy_service_store(c->svc)));
    if (!k)
        return fy_admin_fail(c, 404, "no integration '%s'%s%s%s", name, *near ? "; did you mean '" : "", near,
                             *near ? "'?" : "");
    return 0;
}

/* Query parameter `key` as a number within [min, max], or `def` when
 * absent. 0, or 400 written. */
static int query_number(struct fy_admin_call *c, const char *key, long long min, long long max, long long def,
                        long long *out) {
    const char *v = fy_admin_query(c, key);
    char *end;
    *out = def;
    if (!v) return 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < min || n > max)
        return fy_admin_fail(c, 400, "%s must be a number from %lld to %lld", key, min, max);
    *out = n;
    return 0;
}

/* 400 unless every query parameter is one of `allowed` (space separated). */
static int query_only(struct fy_admin_call *c, const char *allowed) {
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, (struct evkeyvalq *)c->query, next) {
        size_t n = strlen(kv->key);
        const char *p = allowed;
        int ok = 0;
        while (n && !ok && (p = strstr(p, kv->key))) {
            ok = (p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0');
            p += n;
        }
        if (!ok) return fy_admin_fail(c, 400, "unknown query parameter '%s'; this endpoint takes: %s", kv->key, allowed);
    }
    return 0;
}

/* ---- health ------------------------------------------------------------------- */

static int healthz(struct fy_admin_call *c) {
    fy_buf_puts(&c->out, "{\"status\":\"ok\"}");
    return 200;
}

static int readyz(struct fy_admin_call *c) {
    int ready = fy_service_ready(c->svc);
    fy_buf_puts(&c->out, ready ? "{\"status\":\"ready\"}"
                               : "{\"status\":\"not ready\",\"error\":\"scripts not loaded yet or the store is not writable\"}");
    return ready ? 200 : 503;
}

/* ---- integrations -------------------------------------------------------------- */

static void add_running(void *arg, const char *name, struct fy_buf *b) {
    char id[40];
    fy_buf_puts(b, ",\"running\":");
    put_string(b, fy_service_running(arg, name, id) == 1 ? id : NULL);
}

static int integrations(struct fy_admin_call *c) {
    if (query_only(c, "")) return 400;
    if (fy_report_status_json(fy_service_store(c->svc), NULL, add_running, c->svc, &c->out) < 0)
        return fy_admin_fail(c, 500, "cannot read the store");
    return 200;
}

static int integration(struct fy_admin_call *c) {
    if (query_only(c, "")) return 400;
    int n = fy_report_status_json(fy_service_store(c->svc), c->arg, add_running, c->svc, &c->out);
    if (n < 0) return fy_admin_fail(c, 500, "cannot read the store");
    if (n == 0 && !known(c, c->arg)) return fy_admin_fail(c, 404, "no integration '%s'", c->arg);
    if (n == 0) return 404;                     /* known() said which it may be */
    return 200;
}

struct runs_args { const char *name; int limit; };
static int runs_report(struct fy_store *s, void *arg, FILE *f) {
    struct runs_args *a = arg;
    return fy_report_runs(s, a->name, a->limit, 1, f);
}

static int runs(struct fy_admin_call *c) {
    long long limit;
    int code;
    if ((code = query_only(c, "limit")) || (code = query_number(c, "limit", 1, 1000, 20, &limit)) ||
        (code = known(c, c->arg)))
        return code;
    struct runs_args a = {c->arg, (int)limit};
    if (from_stream(c, runs_report, &a) != FY_OK) return fy_admin_fail(c, 500, "cannot read the store");
    return 200;
}

static int run(struct fy_admin_call *c) {
    int n = fy_report_run_json(fy_service_store(c->svc), c->arg, &c->out);
    if (n < 0) return fy_admin_fail(c, 500, "cannot read the store");
    return n ? 200 : fy_admin_fail(c, 404, "no run '%s'", c->arg);
}

/* 202 {"run_id":..,"integration":..}, and where to follow the run. */
static int started(struct fy_admin_call *c, const char *name, const char *run_id) {
    char where[128];
    snprintf(where, sizeof where, "/api/v1/runs/%s", run_id);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Location", where);
    fy_buf_reset(&c->out);
    fy_buf_puts(&c->out, "{\"run_id\":");
    put_string(&c->out, run_id);
    fy_buf_puts(&c->out, ",\"integration\":");
    put_string(&c->out, name);
    return 202;
}

static int trigger(struct fy_admin_call *c) {
    char run_id[40] = "", err[FY_ERRLEN] = "";
    int rc = fy_service_trigger(c->svc, c->arg, run_id, err, sizeof err);
    if (rc != FY_OK) return service_error(c, rc, c->arg, err);
    int code = started(c, c->arg, run_id);
    fy_buf_puts(&c->out, "}");
    return code;
}

static int pause(struct fy_admin_call *c) {
    char err[FY_ERRLEN] = "";
    const char *reason;
    if (fy_admin_body_string(c, "reason", &reason) < 0) return 400;
    int rc = fy_service_pause(c->svc, c->arg, reason, err, sizeof err);
    if (rc != FY_OK) return service_error(c, rc, c->arg, err);
    char *kept = fy_store_paused(fy_service_store(c->svc), c->arg);     /* the reason as the service kept it */
    fy_buf_puts(&c->out, "{\"integration\":");
    put_string(&c->out, c->arg);
    fy_buf_puts(&c->out, ",\"paused\":true,\"reason\":");
    put_string(&c->out, kept ? kept : reason);
    fy_buf_puts(&c->out, "}");
    free(kept);
    return 200;
}

static int resume(struct fy_admin_call *c) {
    char err[FY_ERRLEN] = "";
    int rc = fy_service_resume(c->svc, c->arg, err, sizeof err);
    if (rc != FY_OK) return service_error(c, rc, c->arg, err);
    fy_buf_puts(&c->out, "{\"integration\":");
    put_string(&c->out, c->arg);
    fy_buf_puts(&c->out, ",\"paused\":false}");
    return 200;
}

static int reset(struct fy_admin_call *c) {
    char err[FY_ERRLEN] = "";
    int had = 0;
    int rc = fy_service_reset(c->svc, c->arg, &had, err, sizeof err);
    if (rc != FY_OK) return service_error(c, rc, c->arg, err);
    fy_buf_puts(&c->out, "{\"integration\":");
    put_string(&c->out, c->arg);
    fy_buf_printf(&c->out, ",\"checkpoint_removed\":%s}", had ? "true" : "false");
    return 200;
}

static int reload(struct fy_admin_call *c, const char *name) {
    int rc = fy_service_reload(c->svc, name, &c->out);
    if (rc == FY_OK) return 200;
    fy_buf_reset(&c->out);
    return service_error(c, rc, name ? name : "", "the reload failed");
}
static int reload_one(struct fy_admin_call *c) { return reload(c, c->arg); }
static int reload_all(struct fy_admin_call *c) { return reload(c, NULL); }

/* ---- the quarantine ----------------------------------------------------------- */

static int list_report(struct fy_store *s, void *arg, FILE *f) { return fy_report_quarantine_list(s, arg, 1, f); }

static int quarantine_list(struct fy_admin_call *c) {
    long long limit, after;
    int code;
    if ((code = query_only(c, "integration class status limit after")) ||
        (code = query_number(c, "limit", 1, 1000, 50, &limit)) ||
        (code = query_number(c, "after", 0, 1LL << 62, 0, &after)))
        return code;
    struct fy_quarantine_query q = {
        .integration = fy_admin_query(c, "integration"), .class_ = fy_admin_query(c, "class"),
        .status = fy_admin_query(c, "status"), .after = after, .limit = (int)limit,
    };
    if (!q.status) q.status = "open";
    else if (!strcmp(q.status, "all")) q.status = NULL;
    else if (strcmp(q.status, "open") && strcmp(q.status, "resolved") && strcmp(q.status, "discarded"))
        return fy_admin_fail(c, 400, "status takes open, resolved, discarded or all");
    if (q.integration && (code = known(c, q.integration))) return code;
    if (from_stream(c, list_report, &q) != FY_OK) return fy_admin_fail(c, 500, "cannot read the store");
    return 200;
}

static int show_report(struct fy_store *s, void *arg, FILE *f) {
    return fy_report_quarantine_show(s, *(long long *)arg, 1, f);
}

static int quarantine_show(struct fy_admin_call *c) {
    struct fy_quarantine_info qi;
    int r = fy_quarantine_get(fy_service_store(c->svc), c->id, &qi);
    if (r < 0) return fy_admin_fail(c, 500, "cannot read the store");
    if (r == 0) return fy_admin_fail(c, 404, "no record %lld in the quarantine", c->id);
    if (from_stream(c, show_report, &c->id) != FY_OK) return fy_admin_fail(c, 500, "cannot read the store");
    return 200;
}

static int count_row(void *arg, long long id, const char *stage, const char *record) {
    FY_UNUSED(arg), FY_UNUSED(id), FY_UNUSED(stage), FY_UNUSED(record);
    return FY_OK;
}

/* Replay by ids (all of one integration; rows not open or quarantined at
 * extract are skipped, and said so) or by integration (and class): as
 * `ferry quarantine replay`, as one replay run of the service. */
static int quarantine_replay(struct fy_admin_call *c) {
    struct fy_store *s = fy_service_store(c->svc);
    const char *name = NULL, *class_ = NULL;
    long long *ids = NULL;
    size_t nids = 0, n = 0;
    struct fy_buf skipped = {0};
    char owner[256] = "", run_id[40] = "", err[FY_ERRLEN] = "";
    int code;
    if (fy_admin_body_ids(c, "ids", &ids, &nids) < 0 || fy_admin_body_string(c, "integration", &name) < 0 ||
        fy_admin_body_string(c, "class", &class_) < 0) {
        code = 400;
        goto done;
    }
    if (!ids == !name) {
        code = fy_admin_fail(c, 400, "say which records: {\"ids\":[...]} or {\"integration\":\"NAME\"} "
                                     "(with \"class\" if you like)");
        goto done;
    }
    if (ids && class_) {
        code = fy_admin_fail(c, 400, "\"class\" goes with \"integration\", not \"ids\"");
        goto done;
    }
    fy_buf_putc(&skipped, '[');
    for (size_t i = 0; i < nids; i++) {
        struct fy_quarantine_info qi;
        int r = fy_quarantine_get(s, ids[i], &qi);
        if (r != 1) {
            code = r ? fy_admin_fail(c, 500, "cannot read the store")
                     : fy_admin_fail(c, 404, "no record %lld in the quarantine", ids[i]);
            goto done;
        }
        if (*owner && strcmp(owner, qi.integration)) {
            code = fy_admin_fail(c, 422, "%lld belongs to %s, not %s; replay each integration's records separately",
                                 ids[i], qi.integration, owner);
            goto done;
        }
        snprintf(owner, sizeof owner, "%s", qi.integration);
        const char *why = strcmp(qi.status, "open") ? qi.status
                        : !strcmp(qi.stage, "extract") ? "failed at extract (the source row itself is bad)" : NULL;
        if (!why) {
            ids[n++] = ids[i];
            continue;
        }
        fy_buf_printf(&skipped, "%s{\"id\":%lld,\"reason\":", skipped.len > 1 ? "," : "", ids[i]);
        put_string(&skipped, why);
        fy_buf_putc(&skipped, '}');
    }
    fy_buf_putc(&skipped, ']');
    if (ids && n == 0) {
        fy_buf_puts(&c->out, "{\"error\":\"nothing to replay\",\"skipped\":");
        fy_buf_puts(&c->out, skipped.data);
        fy_buf_putc(&c->out, '}');
        code = 422;
        goto done;
    }
    if (name) {
        if ((code = known(c, name))) goto done;
        struct fy_quarantine_filter f = {.integration = name, .class_ = class_};
        int r = fy_quarantine_page(s, &f, 0, 1, count_row, NULL);
        if (r < 0) {
            code = fy_admin_fail(c, 500, "cannot read the store");
            goto done;
        }
        if (r == 0) {
            fy_buf_puts(&c->out, "{\"run_id\":null,\"integration\":");
            put_string(&c->out, name);
            fy_buf_puts(&c->out, ",\"note\":\"nothing to replay: no open records (rows that failed at extract "
                                 "are not replayable)\"}");
            code = 200;
            goto done;
        }
    }
    struct fy_replay replay = {.class_ = class_, .ids = ids, .nids = n};
    const char *who = name ? name : owner;
    int rc = fy_service_replay(c->svc, who, &replay, run_id, err, sizeof err);
    if (rc != FY_OK) {
        code = service_error(c, rc, who, err);
        goto done;
    }
    code = started(c, who, run_id);
    fy_buf_puts(&c->out, ",\"skipped\":");
    fy_buf_puts(&c->out, skipped.data ? skipped.data : "[]");
    fy_buf_putc(&c->out, '}');
done:
    free(ids);
    fy_buf_free(&skipped);
    return code;
}

static int quarantine_discard(struct fy_admin_call *c) {
    struct fy_store *s = fy_service_store(c->svc);
    const char *reason;
    long long *ids;
    size_t n;
    if (fy_admin_body_string(c, "reason", &reason) < 0) return 400;
    if (!reason || !*reason) return fy_admin_fail(c, 400, "say why in \"reason\"");
    int r = fy_admin_body_ids(c, "ids", &ids, &n);
    if (r < 0) return 400;
    if (r == 0) return fy_admin_fail(c, 400, "name the records in \"ids\"");
    struct fy_buf done = {0}, not_done = {0};
    int code = 200;
    for (size_t i = 0; i < n; i++) {
        char status[16] = "";
        int d = fy_quarantine_discard(s, ids[i], reason, status, sizeof status);
        if (d < 0) {
            code = fy_admin_fail(c, 500, "%s", fy_store_error(s));
            break;
        }
        if (d == 1) {
            fy_buf_printf(&done, "%s%lld", done.len ? "," : "", ids[i]);
            continue;
        }
        fy_buf_printf(&not_done, "%s{\"id\":%lld,\"status\":", not_done.len ? "," : "", ids[i]);
        put_string(&not_done, *status ? status : NULL);
        fy_buf_puts(&not_done, ",\"error\":");
        put_string(&not_done, !*status ? "not in the quarantine"
                              : !strcmp(status, "discarded") ? "was already discarded" : "is resolved, not open");
        fy_buf_putc(&not_done, '}');
    }
    if (code == 200) {
        fy_buf_printf(&c->out, "{\"discarded\":[%s],\"not_discarded\":[%s],\"reason\":",
                      done.data ? done.data : "", not_done.data ? not_done.data : "");
        put_string(&c->out, reason);
        fy_buf_putc(&c->out, '}');
    }
    fy_buf_free(&done);
    fy_buf_free(&not_done);
    free(ids);
    return code;
}

/* ---- the webhook inbox ---------------------------------------------------------- */

/* As `ferry events --json`: a page, newest first (before= the last id of
 * the page before). */
static int events_list(struct fy_admin_call *c) {
    long long limit, before;
    int code;
    if ((code = query_only(c, "integration status limit before")) ||
        (code = query_number(c, "limit", 1, 1000, FY_EVENTS_PAGE, &limit)) ||
        (code = query_number(c, "before", 0, 1LL << 62, 0, &before)))
        return code;
    struct fy_events_query q = {
        .integration = fy_admin_query(c, "integration"), .status = fy_admin_query(c, "status"),
        .before = before, .limit = (int)limit,
    };
    if (q.status && strcmp(q.status, "pending") && strcmp(q.status, "done") && strcmp(q.status, "failed"))
        return fy_admin_fail(c, 400, "status takes pending, done or failed");
    if (q.integration && (code = known(c, q.integration))) return code;
    if (fy_report_events_json(fy_service_store(c->svc), &q, &c->out) < 0)
        return fy_admin_fail(c, 500, "cannot read the store");
    return 200;
}

static int event_show(struct fy_admin_call *c) {
    if (query_only(c, "")) return 400;
    int n = fy_report_events_show_json(fy_service_store(c->svc), c->id, &c->out);
    if (n < 0) return fy_admin_fail(c, 500, "cannot read the store");
    return n ? 200 : fy_admin_fail(c, 404, "no event %lld in the inbox", c->id);
}

/* ---- alerts ---------------------------------------------------------------------- */

/* As `ferry alerts --json`: newest first; open=1 for open ones only. */
static int alerts_list(struct fy_admin_call *c) {
    long long limit, open;
    int code;
    if ((code = query_only(c, "integration open limit")) ||
        (code = query_number(c, "limit", 1, 1000, 100, &limit)) ||
        (code = query_number(c, "open", 0, 1, 0, &open)))
        return code;
    const char *name = fy_admin_query(c, "integration");
    if (name && (code = known(c, name))) return code;
    if (fy_report_alerts_json(fy_service_store(c->svc), (int)open, name, 0, (int)limit, &c->out) < 0)
        return fy_admin_fail(c, 500, "cannot read the store");
    return 200;
}

static int alert_show(struct fy_admin_call *c) {
    if (query_only(c, "")) return 400;
    int n = fy_report_alerts_json(fy_service_store(c->svc), 0, NULL, c->id, 1, &c->out);
    if (n < 0) return fy_admin_fail(c, 500, "cannot read the store");
    return n ? 200 : fy_admin_fail(c, 404, "no alert %lld", c->id);
}

/* POST {"reason": "..."}: no more reminders (see fy_alert_ack). */
static int alert_ack(struct fy_admin_call *c) {
    const char *reason;
    char err[256];
    if (fy_admin_body_string(c, "reason", &reason) < 0) return 400;
    if (!reason || !*reason) return fy_admin_fail(c, 400, "say why in \"reason\"");
    if (fy_alert_ack(fy_service_store(c->svc), c->id, reason, fy_time_now(), err, sizeof err) != FY_OK)
        return fy_admin_fail(c, strstr(err, "no alert") ? 404 : 409, "%s", err);
    if (fy_report_alerts_json(fy_service_store(c->svc), 0, NULL, c->id, 1, &c->out) < 0)
        return fy_admin_fail(c, 500, "cannot read the store");
    return 200;
}

const struct fy_admin_route fy_admin_routes[] = {
    {FY_ADMIN_GET, "healthz", healthz, NULL},
    {FY_ADMIN_GET, "readyz", readyz, NULL},
    {FY_ADMIN_GET, "api/v1/integrations", integrations, NULL},
    {FY_ADMIN_GET, "api/v1/integrations/*", integration, NULL},
    {FY_ADMIN_GET, "api/v1/integrations/*/runs", runs, NULL},
    {FY_ADMIN_POST, "api/v1/integrations/*/trigger", trigger, ""},
    {FY_ADMIN_POST, "api/v1/integrations/*/pause", pause, "reason"},
    {FY_ADMIN_POST, "api/v1/integrations/*/resume", resume, ""},
    {FY_ADMIN_POST, "api/v1/integrations/*/reset", reset, ""},
    {FY_ADMIN_POST, "api/v1/integrations/*/reload", reload_one, ""},
    {FY_ADMIN_POST, "api/v1/reload", reload_all, ""},
    {FY_ADMIN_GET, "api/v1/quarantine", quarantine_list, NULL},
    {FY_ADMIN_GET, "api/v1/quarantine/#", quarantine_show, NULL},
    {FY_ADMIN_POST, "api/v1/quarantine/replay", quarantine_replay, "ids integration class"},
    {FY_ADMIN_POST, "api/v1/quarantine/discard", quarantine_discard, "ids reason"},
    {FY_ADMIN_GET, "api/v1/runs/*", run, NULL},
    {FY_ADMIN_GET, "api/v1/events", events_list, NULL},
    {FY_ADMIN_GET, "api/v1/events/#", event_show, NULL},
    {FY_ADMIN_GET, "api/v1/alerts", alerts_list, NULL},
    {FY_ADMIN_GET, "api/v1/alerts/#", alert_show, NULL},
    {FY_ADMIN_POST, "api/v1/alerts/#/ack", alert_ack, "reason"},
    {0, NULL, NULL, NULL},
};
