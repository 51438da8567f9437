/* `ferry status`, `ferry runs`, `ferry quarantine list|show` and `ferry
 * events`: readable tables, or JSON with --json. */
#ifndef FY_REPORT_H
#define FY_REPORT_H

#include <stdio.h>

struct fy_buf;
struct fy_store;

/* Appends more fields (",\"key\":value...") to the JSON object of the row
 * whose first column (the integration's name, say) is `key`. */
typedef void (*fy_report_extra_fn)(void *arg, const char *key, struct fy_buf *b);

/* The last `limit` runs of one integration, newest first, with trigger,
 * counts, checkpoint and first error (cut to one line in the table). */
int fy_report_runs(struct fy_store *s, const char *name, int limit, int json, FILE *out);
/* One line per integration: last run and last good run (of runs that read
 * the source, never replays), freshness (or never run), open quarantine,
 * last replay, owner. */
int fy_report_status(struct fy_store *s, int json, FILE *out);
/* The rows of status as JSON appended to out: an array of every
 * integration, or with `name` that one's object (nothing when unknown),
 * with the script version, schedule, next run, paused (since, reason),
 * reload error and last skipped run; `extra` (may be NULL) adds fields to
 * each (the admin API adds "running"). Returns the number of rows, or
 * FY_ERR (the store's message in sqlite3_errmsg). */
int fy_report_status_json(struct fy_store *s, const char *name, fy_report_extra_fn extra, void *arg,
                          struct fy_buf *out);
/* What metrics read of status, per integration: the same rows and the
 * same staleness rule as `ferry status`. Strings are valid during the
 * callback only. */
struct fy_report_health {
    const char *name;
    const char *last_good;      /* when the last good run ended (ISO); NULL when none */
    int stale, paused;
    long long quarantine_open, inbox_pending;
};
/* Call fn for each integration, in name order. FY_OK, or FY_ERR (the
 * store's message in sqlite3_errmsg). */
int fy_report_health_each(struct fy_store *s, void (*fn)(void *arg, const struct fy_report_health *h), void *arg);
/* One run's record as a JSON object appended to out. 1 when found, 0 when
 * there is no such run, FY_ERR. */
int fy_report_run_json(struct fy_store *s, const char *run_id, struct fy_buf *out);

/* A page of the quarantine: rows with id > after, in id order. NULL fields
 * do not filter (status NULL: every status). */
struct fy_quarantine_query {
    const char *integration, *class_, *status;
    long long after;
    int limit;
};
int fy_report_quarantine_list(struct fy_store *s, const struct fy_quarantine_query *q, int json, FILE *out);
/* One quarantined record in full. 1 when there is no such id. */
int fy_report_quarantine_show(struct fy_store *s, long long id, int json, FILE *out);

/* "3m ago", "2h5m ago", "5d ago" from an ISO timestamp; "-" when NULL or "". */
void fy_report_age(const char *iso, char *out, size_t cap);

/* The alerts, newest first (open ones only with open_only; one
 * integration's, or all with NULL; at most limit, 100 when 0): a table, or
 * JSON as /api/v1/alerts. The _json form appends an array, or with id one
 * object (n = 0: no such alert); it returns how many, or -1. */
int fy_report_alerts(struct fy_store *s, int open_only, const char *integration, int limit, int json, FILE *out);
int fy_report_alerts_json(struct fy_store *s, int open_only, const char *integration, long long id, int limit,
                          struct fy_buf *out);

/* Freshness of integration `name` at `now`: *age, seconds since its last
 * good run ended (INFINITY: none); *window, its declared freshness (0:
 * none); *first, when its first run that read the source started (NAN:
 * none yet). FY_ERR when unknown. */
int fy_report_freshness(struct fy_store *s, const char *name, double now, double *age, double *window,
                        double *first);

/* ---- the webhook inbox (fy_report_events.c) ---- */

#define FY_EVENTS_PAGE 50       /* events per page unless --limit / limit= */

/* A page of the inbox: events with id < before (0: from the newest),
 * newest first, at most limit. NULL fields do not filter. */
struct fy_events_query {
    const char *integration, *status;
    long long before;
    int limit;
};
/* The page as a JSON array appended to out (one object per event: id,
 * integration, hook, status, received_at, delivery_id, method, run_id,
 * body_bytes). The number of events, or FY_ERR. */
int fy_report_events_json(struct fy_store *s, const struct fy_events_query *q, struct fy_buf *out);
/* The page as a table with a footer naming the next page, or as JSON. */
int fy_report_events_list(struct fy_store *s, const struct fy_events_query *q, int json, FILE *out);
/* One event in full as a JSON object appended to out: the fields of a
 * listing plus headers (an object) and body (text; null when it is not
 * UTF-8). 1 when found, 0 when there is no such event, FY_ERR. */
int fy_report_events_show_json(struct fy_store *s, long long id, struct fy_buf *out);
/* One event in full as text (or JSON). 1 when there is no such id (said on
 * stderr), FY_OK, FY_ERR. */
int fy_report_events_show(struct fy_store *s, long long id, int json, FILE *out);

#endif
