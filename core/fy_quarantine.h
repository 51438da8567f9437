/* The quarantine: records a run could not deliver, kept in the store with
 * their class, reason, stage and the record itself until a person (or a
 * later run) resolves or discards them. Nothing here deletes a row.
 *
 * A record is identified within its integration by a fingerprint of its
 * canonical JSON (keys sorted), so a record that fails again - after a
 * crash re-reads a batch, or a later run re-extracts it - updates its row
 * (attempts + 1) instead of adding a second one. When the run that last
 * quarantined it was killed (aborted), the new failure is the same attempt
 * finishing, not another: attempts stay. */
#ifndef FY_QUARANTINE_H
#define FY_QUARANTINE_H

#include <stddef.h>

struct fy_store;

struct fy_quarantined {
    long long id;                   /* > 0: a replayed row, updated in place */
    const char *integration, *run_id, *script_version;
    const char *stage, *class_, *reason;
    const char *record;             /* JSON, canonical */
    const char *output;             /* JSON or NULL */
};

/* Store a failure: a new open row, or the record's existing row updated
 * (reopened unless it was discarded). */
int fy_quarantine_put(struct fy_store *s, const struct fy_quarantined *q);

/* An open row delivered by `run_id`: marked resolved. */
int fy_quarantine_resolve(struct fy_store *s, long long id, const char *run_id);

/* Mark open rows discarded with a reason. Returns 1 when discarded, 0 when
 * the row is missing or not open (its status in *status, "" if missing,
 * caller-owned buffer of statuscap bytes), FY_ERR on a store error. */
int fy_quarantine_discard(struct fy_store *s, long long id, const char *reason, char *status, size_t statuscap);

/* Which open rows to replay. */
struct fy_quarantine_filter {
    const char *integration;        /* required */
    const char *class_;             /* NULL: any class */
    long long id;                   /* > 0: only this row */
    int max_attempts;               /* > 0: only rows with attempts <= max_attempts */
};

/* Calls `row` for up to `limit` open rows matching `f` with id > after, in
 * id order (rows quarantined at extract are not replayable and skipped).
 * Returns the number of rows, or FY_ERR. */
typedef int (*fy_quarantine_row_fn)(void *arg, long long id, const char *stage, const char *record);
int fy_quarantine_page(struct fy_store *s, const struct fy_quarantine_filter *f, long long after, int limit,
                       fy_quarantine_row_fn row, void *arg);

/* What one row is: integration, status and stage copied into `info`.
 * 1 when found, 0 when there is no such id, FY_ERR on error. */
struct fy_quarantine_info {
    char integration[256], status[16], stage[16];
};
int fy_quarantine_get(struct fy_store *s, long long id, struct fy_quarantine_info *info);

/* Open rows of an integration: how many and when the oldest was first
 * quarantined (ISO text into oldest, "" when none). FY_ERR on error. */
int fy_quarantine_open_count(struct fy_store *s, const char *integration, long long *count,
                             char *oldest, size_t oldestcap);

#endif
