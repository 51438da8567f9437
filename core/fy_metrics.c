/* GET /metrics: the in-memory HTTP series and the scrape; see fy_metrics.h.
 *
 * Naming follows Prometheus: ferry_ prefix, _total on counters, _seconds for
 * times. Counters read from the store count finished runs only (a running
 * run's row changes when it ends; a counter must never go down). */
#include "fy_metrics.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_report.h"
#include "fy_secret.h"
#include "fy_store.h"
#include "fy_time.h"
#include "fy_utf8.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the latency histogram, seconds (the +Inf bucket is the
 * count). From a fast local API to a slow export. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define NBUCKETS ((int)(sizeof buckets / sizeof buckets[0]))

/* Status classes of ferry_http_requests_total's code label. */
static const char *const code_names[] = {"error", "1xx", "2xx", "3xx", "4xx", "5xx"};
#define NCODES 6

struct fy_metrics_http {
    struct fy_metrics_http *next;      /* sorted by integration, then host */
    char *integration;
    char *host;
    unsigned long long requests[NCODES];
    unsigned long long in_bucket[NBUCKETS];   /* attempts at or under buckets[i], not cumulative */
    unsigned long long attempts;
    double seconds;                    /* their total time */
    unsigned long long retries;
    double rate_wait;                  /* seconds waited for rate-limit buckets */
};

static struct {
    struct fy_metrics_http *series;
    int nseries;
    double started;                    /* Unix seconds; 0 until fy_metrics_started */
} reg;

void fy_metrics_started(double when) { reg.started = when; }

/* host[:port] of url, lower case, without userinfo: "" when it has none. */
static void url_host(const char *url, char *out, size_t cap) {
    const char *p = url ? strstr(url, "://") : NULL;
    p = p ? p + 3 : url ? url : "";
    size_t n = strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *s = p; s < p + n; s++)
        if (*s == '@') at = s;
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)p[i]);
    out[n] = '\0';
}

static int series_cmp(const struct fy_metrics_http *m, const char *integration, const char *host) {
    int c = strcmp(m->integration, integration);
    return c ? c : strcmp(m->host, host);
}

struct fy_metrics_http *fy_metrics_http_series(const char *integration, const char *url) {
    char host[256];
    url_host(url, host, sizeof host);
    if (!integration) integration = "";
    struct fy_metrics_http **pp = &reg.series;
    for (int pass = 0; pass < 2; pass++) {
        pp = &reg.series;
        int c = 1;
        while (*pp && (c = series_cmp(*pp, integration, host)) < 0) pp = &(*pp)->next;
        if (*pp && c == 0) return *pp;
        if (reg.nseries < FY_METRICS_MAX_SERIES || pass == 1) break;
        snprintf(host, sizeof host, "other");       /* too many hosts: count them together */
    }
    struct fy_metrics_http *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->integration = strdup(integration);
    m->host = strdup(host);
    if (!m->integration || !m->host) {
        free(m->integration);
        free(m->host);
        free(m);
        return NULL;
    }
    m->next = *pp;
    *pp = m;
    reg.nseries++;
    return m;
}

void fy_metrics_http_attempt(struct fy_metrics_http *m, long status, double seconds, int retried) {
    if (!m) return;
    int code = status >= 100 && status < 600 ? (int)(status / 100) : 0;
    m->requests[code]++;
    if (seconds < 0) seconds = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        if (seconds <= buckets[i]) {
            m->in_bucket[i]++;
            break;
        }
    }
    m->attempts++;
    m->seconds += seconds;
    if (retried) m->retries++;
}

void fy_metrics_rate_wait(struct fy_metrics_http *m, double seconds) {
    if (m && seconds > 0) m->rate_wait += seconds;
}

/* ---- the text format ------------------------------------------------------ */

void fy_metrics_label(struct fy_buf *out, const char *v) {
    struct fy_buf clean = {0};
    size_t n = strlen(v);
    if (fy_utf8_check(v, n) < n) {          /* the format is UTF-8: replace bad bytes */
        fy_utf8_sanitize(&clean, v, n);
        v = clean.data ? clean.data : "";
    }
    fy_buf_putc(out, '"');
    for (; *v; v++) {
        if (*v == '\\') fy_buf_puts(out, "\\\\");
        else if (*v == '"') fy_buf_puts(out, "\\\"");
        else if (*v == '\n') fy_buf_puts(out, "\\n");
        else fy_buf_putc(out, *v);
    }
    fy_buf_putc(out, '"');
    fy_buf_free(&clean);
}

static void family(struct fy_buf *out, const char *name, const char *type, const char *help) {
    fy_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* NAME{k1="v1",k2="v2"} with up to three labels (NULL key: no more). */
static void sample_start(struct fy_buf *out, const char *name, const char *k1, const char *v1, const char *k2,
                         const char *v2, const char *k3, const char *v3) {
    const char *k[3] = {k1, k2, k3}, *v[3] = {v1, v2, v3};
    fy_buf_puts(out, name);
    for (int i = 0; i < 3 && k[i]; i++) {
        fy_buf_putc(out, i ? ',' : '{');
        fy_buf_puts(out, k[i]);
        fy_buf_putc(out, '=');
        fy_metrics_label(out, v[i]);
    }
    if (k1) fy_buf_putc(out, '}');
    fy_buf_putc(out, ' ');
}

static void put_int(struct fy_buf *out, long long v) { fy_buf_printf(out, "%lld\n", v); }
static void put_float(struct fy_buf *out, double v) { fy_buf_printf(out, "%.9g\n", v); }

/* ---- from memory: HTTP ------------------------------------------------------ */

static void render_http(struct fy_buf *out) {
    const char *n;
    family(out, n = "ferry_http_requests_total", "counter",
           "HTTP attempts by integration, host and status class (error: no response).");
    for (struct fy_metrics_http *m = reg.series; m; m = m->next)
        for (int c = 0; c < NCODES; c++)
            if (m->requests[c]) {
                sample_start(out, n, "integration", m->integration, "host", m->host, "code", code_names[c]);
                put_int(out, (long long)m->requests[c]);
            }
    family(out, n = "ferry_http_request_duration_seconds", "histogram", "Time of each HTTP attempt.");
    for (struct fy_metrics_http *m = reg.series; m; m = m->next) {
        unsigned long long cum = 0;
        char le[32];
        for (int i = 0; i < NBUCKETS; i++) {
            cum += m->in_bucket[i];
            snprintf(le, sizeof le, "%g", buckets[i]);
            sample_start(out, "ferry_http_request_duration_seconds_bucket", "integration", m->integration, "host",
                         m->host, "le", le);
            put_int(out, (long long)cum);
        }
        sample_start(out, "ferry_http_request_duration_seconds_bucket", "integration", m->integration, "host",
                     m->host, "le", "+Inf");
        put_int(out, (long long)m->attempts);
        sample_start(out, "ferry_http_request_duration_seconds_sum", "integration", m->integration, "host", m->host,
                     NULL, NULL);
        put_float(out, m->seconds);
        sample_start(out, "ferry_http_request_duration_seconds_count", "integration", m->integration, "host",
                     m->host, NULL, NULL);
        put_int(out, (long long)m->attempts);
    }
    family(out, n = "ferry_http_retries_total", "counter", "HTTP attempts that were retried.");
    for (struct fy_metrics_http *m = reg.series; m; m = m->next) {
        sample_start(out, n, "integration", m->integration, "host", m->host, NULL, NULL);
        put_int(out, (long long)m->retries);
    }
    family(out, n = "ferry_rate_limit_wait_seconds_total", "counter",
           "Seconds HTTP requests waited for the integration's rate limits.");
    for (struct fy_metrics_http *m = reg.series; m;) {   /* series are sorted: one sum per integration */
        double sum = 0;
        struct fy_metrics_http *first = m;
        for (; m && !strcmp(m->integration, first->integration); m = m->next) sum += m->rate_wait;
        sample_start(out, n, "integration", first->integration, NULL, NULL, NULL, NULL);
        put_float(out, sum);
    }
}

/* Label values come from scripts (names, the hosts they call): a secret
 * that found its way into one is redacted like anywhere else. */
void fy_metrics_render_http(struct fy_buf *out) {
    struct fy_buf part = {0};
    render_http(&part);
    fy_redact(&part);
    fy_buf_append(out, part.data ? part.data : "", part.len);
    fy_buf_free(&part);
}

/* ---- from the store ----------------------------------------------------------- */

static const char *text(sqlite3_stmt *st, int i) {
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? v : "";
}

static int prepare(struct fy_store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen) {
    if (sqlite3_prepare_v2(fy_store_db(s), sql, -1, st, NULL) == SQLITE_OK) return FY_OK;
    snprintf(err, errlen, "%s", sqlite3_errmsg(fy_store_db(s)));
    return FY_ERR;
}

static int finish(struct fy_store *s, sqlite3_stmt *st, int rc, char *err, size_t errlen) {
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) return FY_OK;
    snprintf(err, errlen, "%s", sqlite3_errmsg(fy_store_db(s)));
    return FY_ERR;
}

/* Runs by status, records by stage and quarantined records by class are
 * sums over finished runs. A finished run's row never changes again (runs
 * are inserted 'running' or 'skipped' and updated once, when they end; none
 * is deleted), so the sums of the rows up to `upto` (by rowid, in insertion
 * order) are kept here and each scrape reads only the rows after it: the
 * first scrape reads the table once, later ones the runs since (a rowid
 * range, the primary key). Rows after the oldest run still going are
 * added for that scrape only, until it ends. */
static const char *const stages[] = {"extracted", "transformed", "loaded", "skipped", "quarantined", "dropped"};
#define NSTAGES 6

struct agg {                        /* one (integration, key) total */
    struct agg *next;               /* sorted by integration, then key */
    char *integration;
    char *key;                      /* a run status, or an error class */
    double v[1 + NSTAGES];          /* runs: the count, then the stages; classes: v[0] */
};

struct sums {
    struct agg *runs, *classes;
};

static struct {
    const struct fy_store *store;   /* whose rows these are */
    long long upto;                 /* every run with rowid <= upto is in `sums` */
    struct sums sums;
} folded;

static void agg_free(struct agg *a) {
    while (a) {
        struct agg *n = a->next;
        free(a->integration);
        free(a->key);
        free(a);
        a = n;
    }
}

static void sums_free(struct sums *s) {
    agg_free(s->runs);
    agg_free(s->classes);
    s->runs = s->classes = NULL;
}

static int agg_cmp(const struct agg *a, const char *integration, const char *key) {
    int c = strcmp(a->integration, integration);
    return c ? c : strcmp(a->key, key);
}

/* Add n values to (integration, key) of list. FY_ERR when out of memory. */
static int agg_add(struct agg **list, const char *integration, const char *key, const double *v, int n) {
    struct agg **pp = list;
    int c = 1;
    while (*pp && (c = agg_cmp(*pp, integration, key)) < 0) pp = &(*pp)->next;
    if (!*pp || c) {
        struct agg *a = calloc(1, sizeof *a);
        if (!a || !(a->integration = strdup(integration)) || !(a->key = strdup(key))) {
            if (a) free(a->integration);
            free(a);
            return FY_ERR;
        }
        a->next = *pp;
        *pp = a;
    }
    for (int i = 0; i < n; i++) (*pp)->v[i] += v[i];
    return FY_OK;
}

static int sums_copy(struct sums *to, const struct sums *from) {
    for (const struct agg *a = from->runs; a; a = a->next)
        if (agg_add(&to->runs, a->integration, a->key, a->v, 1 + NSTAGES) != FY_OK) return FY_ERR;
    for (const struct agg *a = from->classes; a; a = a->next)
        if (agg_add(&to->classes, a->integration, a->key, a->v, 1) != FY_OK) return FY_ERR;
    return FY_OK;
}

/* Add the finished runs with rowid in (from, to] to sums. */
static int sums_add_range(struct fy_store *s, struct sums *sums, long long from, long long to, char *err,
                          size_t errlen) {
    sqlite3_stmt *st;
    int rc;
    if (prepare(s, "SELECT integration, status, count(*), total(extracted), total(transformed), total(loaded), "
                   "total(skipped), total(quarantined), total(dropped) FROM runs "
                   "WHERE rowid > ?1 AND rowid <= ?2 AND status != 'running' GROUP BY integration, status",
                &st, err, errlen) != FY_OK)
        return FY_ERR;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double v[1 + NSTAGES];
        for (int i = 0; i < 1 + NSTAGES; i++) v[i] = sqlite3_column_double(st, 2 + i);
        if (agg_add(&sums->runs, text(st, 0), text(st, 1), v, 1 + NSTAGES) != FY_OK) break;
    }
    if (finish(s, st, rc, err, errlen) != FY_OK) return FY_ERR;
    /* only runs that quarantined something have their by_class read */
    if (prepare(s, "SELECT r.integration, j.key, total(j.value) FROM runs r, json_each(r.by_class) j "
                   "WHERE r.rowid > ?1 AND r.rowid <= ?2 AND r.status != 'running' AND r.quarantined > 0 "
                   "AND json_valid(r.by_class) GROUP BY r.integration, j.key", &st, err, errlen) != FY_OK)
        return FY_ERR;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double v = sqlite3_column_double(st, 2);
        if (agg_add(&sums->classes, text(st, 0), text(st, 1), &v, 1) != FY_OK) break;
    }
    return finish(s, st, rc, err, errlen);
}

/* One number from sql with ?1, ?2 bound (NULL: 0). */
static int query_int(struct fy_store *s, const char *sql, long long a, long long b, long long *out, char *err,
                     size_t errlen) {
    sqlite3_stmt *st;
    if (prepare(s, sql, &st, err, errlen) != FY_OK) return FY_ERR;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    return finish(s, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, err, errlen);
}

/* The sums of every finished run into `now` (the caller frees it). */
static int sums_now(struct fy_store *s, struct sums *now, char *err, size_t errlen) {
    long long last, running;
    if (folded.store != s) {                   /* another store: start over */
        sums_free(&folded.sums);
        folded.upto = 0;
        folded.store = s;
    }
    if (query_int(s, "SELECT coalesce(max(rowid), 0) FROM runs", 0, 0, &last, err, errlen) != FY_OK ||
        query_int(s, "SELECT min(rowid) FROM runs WHERE rowid > ?1 AND rowid <= ?2 AND status = 'running'",
                  folded.upto, last, &running, err, errlen) != FY_OK)
        return FY_ERR;
    if (last < folded.upto) {                  /* rows went away (a restored backup?): start over */
        sums_free(&folded.sums);
        folded.upto = 0;
        return sums_now(s, now, err, errlen);
    }
    long long fold_to = running ? running - 1 : last;
    if (fold_to > folded.upto) {
        if (sums_add_range(s, &folded.sums, folded.upto, fold_to, err, errlen) != FY_OK) {
            sums_free(&folded.sums);           /* partly added: read it all again next time */
            folded.upto = 0;
            return FY_ERR;
        }
        folded.upto = fold_to;
    }
    if (sums_copy(now, &folded.sums) != FY_OK) {
        snprintf(err, errlen, "out of memory");
        return FY_ERR;
    }
    return folded.upto < last ? sums_add_range(s, now, folded.upto, last, err, errlen) : FY_OK;
}

static void render_sums(const struct sums *sums, struct fy_buf *out) {
    family(out, "ferry_runs_total", "counter", "Finished runs by integration and status.");
    for (const struct agg *a = sums->runs; a; a = a->next) {
        sample_start(out, "ferry_runs_total", "integration", a->integration, "status", a->key, NULL, NULL);
        put_int(out, (long long)a->v[0]);
    }
    family(out, "ferry_records_total", "counter",
           "Records of finished runs by integration and stage (extracted, transformed, loaded, skipped, "
           "quarantined, dropped).");
    for (const struct agg *a = sums->runs; a;) {     /* sorted: one sum per integration */
        const struct agg *first = a;
        double v[NSTAGES] = {0};
        for (; a && !strcmp(a->integration, first->integration); a = a->next)
            for (int i = 0; i < NSTAGES; i++) v[i] += a->v[1 + i];
        for (int i = 0; i < NSTAGES; i++) {
            sample_start(out, "ferry_records_total", "integration", first->integration, "stage", stages[i], NULL,
                         NULL);
            put_int(out, (long long)v[i]);
        }
    }
    family(out, "ferry_quarantined_total", "counter", "Records quarantined by finished runs, by error class.");
    for (const struct agg *a = sums->classes; a; a = a->next) {
        sample_start(out, "ferry_quarantined_total", "integration", a->integration, "class", a->key, NULL, NULL);
        put_int(out, (long long)a->v[0]);
    }
}

static int render_runs(struct fy_store *s, struct fy_buf *out, char *err, size_t errlen) {
    struct sums now = {0};
    int rc = sums_now(s, &now, err, errlen);
    if (rc == FY_OK) render_sums(&now, out);
    sums_free(&now);
    return rc;
}

static int render_alerts(struct fy_store *s, struct fy_buf *out, char *err, size_t errlen) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT integration, kind, count(*) FROM alerts WHERE status = 'open' "
                   "GROUP BY integration, kind ORDER BY integration, kind", &st, err, errlen) != FY_OK)
        return FY_ERR;
    int rc;
    family(out, "ferry_alerts_open", "gauge", "Open alerts by integration and kind.");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sample_start(out, "ferry_alerts_open", "integration", text(st, 0), "kind", text(st, 1), NULL, NULL);
        put_int(out, sqlite3_column_int64(st, 2));
    }
    return finish(s, st, rc, err, errlen);
}

/* The per-integration gauges of status (fy_report_health_each): one
 * buffer per family, appended in turn so each family stays together. */
enum { H_LAST_GOOD, H_STALE, H_PAUSED, H_QUARANTINE, H_INBOX, NHEALTH };

static void health_row(void *arg, const struct fy_report_health *h) {
    struct fy_buf *b = arg;
    if (h->last_good) {
        double t;
        int off;
        char terr[64];
        if (fy_time_parse(h->last_good, strlen(h->last_good), &t, &off, terr, sizeof terr) == FY_OK) {
            sample_start(&b[H_LAST_GOOD], "ferry_last_good_run_timestamp_seconds", "integration", h->name, NULL,
                         NULL, NULL, NULL);
            fy_buf_printf(&b[H_LAST_GOOD], "%.3f\n", t);
        }
    }
    sample_start(&b[H_STALE], "ferry_stale", "integration", h->name, NULL, NULL, NULL, NULL);
    put_int(&b[H_STALE], h->stale);
    sample_start(&b[H_PAUSED], "ferry_paused", "integration", h->name, NULL, NULL, NULL, NULL);
    put_int(&b[H_PAUSED], h->paused);
    sample_start(&b[H_QUARANTINE], "ferry_quarantine_open", "integration", h->name, NULL, NULL, NULL, NULL);
    put_int(&b[H_QUARANTINE], h->quarantine_open);
    sample_start(&b[H_INBOX], "ferry_inbox_pending", "integration", h->name, NULL, NULL, NULL, NULL);
    put_int(&b[H_INBOX], h->inbox_pending);
}

static int render_health(struct fy_store *s, struct fy_buf *out, char *err, size_t errlen) {
    struct fy_buf b[NHEALTH] = {{0}};
    family(&b[H_LAST_GOOD], "ferry_last_good_run_timestamp_seconds", "gauge",
           "When the last good run (as ferry status counts one) ended, Unix seconds; absent when none.");
    family(&b[H_STALE], "ferry_stale", "gauge",
           "1 when no good run ended within the integration's freshness (as ferry status says STALE).");
    family(&b[H_PAUSED], "ferry_paused", "gauge", "1 while the integration is paused.");
    family(&b[H_QUARANTINE], "ferry_quarantine_open", "gauge", "Records open in the quarantine.");
    family(&b[H_INBOX], "ferry_inbox_pending", "gauge", "Webhook events waiting in the inbox.");
    int rc = fy_report_health_each(s, health_row, b);
    if (rc != FY_OK) snprintf(err, errlen, "%s", sqlite3_errmsg(fy_store_db(s)));
    for (int i = 0; i < NHEALTH; i++) {
        fy_buf_append(out, b[i].data ? b[i].data : "", b[i].len);
        fy_buf_free(&b[i]);
    }
    return rc;
}

int fy_metrics_render(struct fy_store *s, struct fy_buf *out, char *err, size_t errlen) {
    family(out, "ferry_up", "gauge", "1: ferry serve answers.");
    fy_buf_puts(out, "ferry_up 1\n");
    family(out, "ferry_start_time_seconds", "gauge", "When the service started, Unix seconds.");
    fy_buf_printf(out, "ferry_start_time_seconds %.3f\n", reg.started);
    if (render_runs(s, out, err, errlen) != FY_OK ||
        render_health(s, out, err, errlen) != FY_OK || render_alerts(s, out, err, errlen) != FY_OK)
        return FY_ERR;
    render_http(out);
    fy_redact(out);
    return FY_OK;
}

void fy_metrics_reset(void) {
    while (reg.series) {
        struct fy_metrics_http *m = reg.series;
        reg.series = m->next;
        free(m->integration);
        free(m->host);
        free(m);
    }
    reg.nseries = 0;
    sums_free(&folded.sums);
    folded.upto = 0;
    folded.store = NULL;
}
