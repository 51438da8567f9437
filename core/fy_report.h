/* `ferry status` and `ferry runs`: readable tables, or JSON with --json. */
#ifndef FY_REPORT_H
#define FY_REPORT_H

#include <stdio.h>

struct fy_store;

/* The last `limit` runs of one integration, newest first. */
int fy_report_runs(struct fy_store *s, const char *name, int limit, int json, FILE *out);
/* One line per integration: last run, last good run, freshness, owner. */
int fy_report_status(struct fy_store *s, int json, FILE *out);

#endif
