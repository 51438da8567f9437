/* Prometheus metrics for GET /metrics on the admin listener (text
 * exposition format 0.0.4). Two sources:
 *
 *  - what the store knows (runs, records, quarantine, freshness, pauses,
 *    alerts, the inbox), read at scrape time with a few aggregate queries;
 *  - what only this process sees (HTTP attempts by integration and host,
 *    their latency, retries, rate-limit waits), counted in memory from the
 *    HTTP layer and lost on restart, as Prometheus counters may be.
 *
 * The HTTP layer runs on the loop's thread only; so do the scrapes. No
 * locking. */
#ifndef FY_METRICS_H
#define FY_METRICS_H

#include <stddef.h>

struct fy_buf;
struct fy_metrics_http;
struct fy_store;

/* The series of `integration` (NULL: "") calling the host of `url` (its
 * host[:port], lower case, never its userinfo), created on first use and
 * kept for the life of the process. Past FY_METRICS_MAX_SERIES series the
 * host is counted as "other". NULL only when out of memory (counting then
 * does nothing). */
#define FY_METRICS_MAX_SERIES 2000
struct fy_metrics_http *fy_metrics_http_series(const char *integration, const char *url);

/* One finished attempt: its HTTP status (0: no response), its own time in
 * seconds, and whether another attempt follows (a retry). Safe on NULL. */
void fy_metrics_http_attempt(struct fy_metrics_http *m, long status, double seconds, int retried);

/* Seconds a request waited for its rate-limit buckets. Safe on NULL. */
void fy_metrics_rate_wait(struct fy_metrics_http *m, double seconds);

/* When the service started (ferry_start_time_seconds), Unix seconds. */
void fy_metrics_started(double when);

/* The whole scrape, appended to out. FY_ERR with err (the store's
 * message) when a query fails; out then holds a partial text to drop. */
int fy_metrics_render(struct fy_store *s, struct fy_buf *out, char *err, size_t errlen);

/* The in-memory part of the scrape alone (the HTTP families). */
void fy_metrics_render_http(struct fy_buf *out);

/* Append `v` escaped as a label value (backslash, double quote, newline). */
void fy_metrics_label(struct fy_buf *out, const char *v);

/* Forget every in-memory series (tests). */
void fy_metrics_reset(void);

#endif
