/* The engine's durable memory: DATA_DIR/ferry.db (SQLite, WAL, synchronous
 * FULL). Run history, committed checkpoints, per-integration key/value
 * state and what the integrations declared (owner, freshness). The schema
 * is versioned (PRAGMA user_version) and migrated forward on open.
 *
 * A writer holds DATA_DIR/ferry.lock (flock) for its whole life, so two
 * ferry processes never run integrations on one store at once: the second
 * gets a clear error. Readers (status, runs) need no lock. */
#ifndef FY_STORE_H
#define FY_STORE_H

#include <stddef.h>

struct fy_store;


/* Open (creating and migrating) the store in data_dir. With `writer`, take
 * the lock, waiting up to lock_wait seconds while another process holds it
 * (saying so once, at warn), and mark runs left "running" by a dead process
 * as aborted. */
struct fy_store *fy_store_open(const char *data_dir, int writer, double lock_wait, char *err, size_t errlen);
void fy_store_close(struct fy_store *s);

/* The schema version found before migration (0 for a new store). */
int fy_store_found_version(const struct fy_store *s);

struct fy_integration_info {
    const char *name, *owner, *purpose, *pattern, *source_of_truth, *script_path, *version;
    double freshness;               /* seconds */
};

/* Record what a script declares; called before each run. */
int fy_store_integration_seen(struct fy_store *s, const struct fy_integration_info *in);

/* Does the store know an integration of this name (it ran, was checked, or
 * has a checkpoint, state or quarantined records)? 1 yes, 0 no (then, when
 * suggest is not NULL, it holds the closest known name or ""), -1 on error. */
int fy_store_integration_known(struct fy_store *s, const char *name, char *suggest, size_t cap);

/* The script path an integration last ran from (malloc'd), or NULL. */
char *fy_store_script_path(struct fy_store *s, const char *integration);

/* A run starts: a row in state "running". */
int fy_store_run_begin(struct fy_store *s, const char *run_id, const char *integration,
                       const char *version, const char *trigger);

struct fy_run_summary {
    const char *status;             /* ok, partial, failed */
    long long extracted, transformed, skipped, loaded, quarantined, batches, retries;
    long long dropped;              /* records a `continue` policy dropped on purpose */
    const char *by_class_json;      /* {"validation":3} */
    const char *by_stage_json;
    const char *error;              /* first error, NULL when none */
    const char *checkpoint_json;    /* last committed checkpoint, NULL when none */
    const char *verdict;            /* suspect, incomplete, NULL when none (fy_verdict.h) */
    const char *verdict_reason;     /* why, NULL with no verdict */
    const char *findings_json;      /* what the definitions found (ctx:report), NULL when nothing */
};

int fy_store_run_end(struct fy_store *s, const char *run_id, const struct fy_run_summary *sum);

/* Mark every run still "running" aborted, ended now with `reason` as its
 * error and the checkpoint it last committed (a writer's open does this for
 * a dead process's runs; ferry serve for runs it cut short). */
int fy_store_abort_running(struct fy_store *s, const char *reason);

/* The integration last seen running from script_path (malloc'd), or NULL. */
char *fy_store_integration_by_path(struct fy_store *s, const char *script_path);

/* A run that was due but did not start (the previous one still going, say):
 * a row in state "skipped", ended as it began, with the reason as its error. */
int fy_store_run_skipped(struct fy_store *s, const char *run_id, const char *integration, const char *version,
                         const char *trigger, const char *reason);

/* When an integration last started a run with this trigger ("schedule"):
 * 1 with *at (epoch seconds), 0 when never, and 0 on a read error. */
int fy_store_last_start(struct fy_store *s, const char *integration, const char *trigger, double *at);

/* What ferry serve keeps per integration (known to the store: see
 * fy_store_integration_seen). next_run INFINITY: none. */
int fy_store_schedule_set(struct fy_store *s, const char *integration, const char *schedule, double next_run);
/* Pause with a reason (now, with the time), or resume (reason NULL). */
int fy_store_pause_set(struct fy_store *s, const char *integration, const char *reason);
/* Paused by its own policy (a pause action for error class `klass`), with
 * the first probe run due at probe_at (epoch seconds; NAN: no probes).
 * fy_store_pause_set(NULL) resumes and clears both. */
int fy_store_pause_policy(struct fy_store *s, const char *integration, const char *reason, const char *klass,
                          double probe_at);
/* When the next probe run of a paused integration is due (NAN: none). */
int fy_store_probe_set(struct fy_store *s, const char *integration, double probe_at);
/* The class that paused it (malloc'd; NULL when paused by an admin or not
 * paused), with its next probe in *probe_at (NAN: none). */
char *fy_store_paused_class(struct fy_store *s, const char *integration, double *probe_at);
/* The reason an integration is paused (malloc'd), or NULL when it is not. */
char *fy_store_paused(struct fy_store *s, const char *integration);
/* Why the integration's script last failed to load, with the time; NULL
 * clears it (a good version loaded). */
int fy_store_reload_error_set(struct fy_store *s, const char *integration, const char *error);

/* Committed checkpoint of an integration as JSON (malloc'd), or NULL. */
char *fy_store_checkpoint_get(struct fy_store *s, const char *integration);
int fy_store_checkpoint_set(struct fy_store *s, const char *integration, const char *run_id, const char *json);
/* Returns 1 when a checkpoint was removed, 0 when there was none, FY_ERR. */
int fy_store_checkpoint_reset(struct fy_store *s, const char *integration);

/* Key/value state; values are JSON text. get returns malloc'd text or NULL
 * (missing or expired). ttl <= 0: no expiry. */
char *fy_store_state_get(struct fy_store *s, const char *integration, const char *key);
int fy_store_state_set(struct fy_store *s, const char *integration, const char *key, const char *json, double ttl);

/* What ferry last wrote of the fields it owns in the destination's record
 * `key` (ferry.fields): JSON { "w": {field: value}, "h": {...} }. get
 * returns it malloc'd, or NULL when none (or on a read error). */
char *fy_store_written_get(struct fy_store *s, const char *integration, const char *key);
int fy_store_written_put(struct fy_store *s, const char *integration, const char *key, const char *json,
                         const char *run_id);
int fy_store_state_delete(struct fy_store *s, const char *integration, const char *key);

/* The schema fingerprint of an integration's stream (source schema drift,
 * lualib/ferry/schema.lua): JSON { field = type } as the last complete run
 * stored it (malloc'd), or NULL when none. set replaces it. */
char *fy_store_schema_get(struct fy_store *s, const char *integration, const char *stream);
int fy_store_schema_set(struct fy_store *s, const char *integration, const char *stream, const char *fields_json,
                        const char *run_id);

/* One write transaction (BEGIN IMMEDIATE ... COMMIT). A failed commit is
 * rolled back; rollback is a no-op outside a transaction. */
int fy_store_begin(struct fy_store *s);
int fy_store_commit(struct fy_store *s);
void fy_store_rollback(struct fy_store *s);

/* Give the finished file tmp the name dest, never replacing an existing
 * dest (-1 with errno EEXIST); -1 with errno on other failures. */
int fy_store_place(const char *tmp, const char *dest);

/* The underlying handle, for the read-only reports in fy_report.c and the
 * backup in fy_backup.c. */
struct sqlite3 *fy_store_db(struct fy_store *s);
const char *fy_store_error(struct fy_store *s);

/* For the store's own modules (fy_quarantine.c): statements prepared once
 * per slot and reset with bindings cleared on each fetch (NULL with the
 * error set on failure); a step that records SQLite's message on error;
 * "now" as the store writes it ("2026-11-26T14:33:45.123Z"). */
enum fy_stmt {
    FY_STMT_STATE_GET, FY_STMT_STATE_SET,
    FY_STMT_Q_INSERT, FY_STMT_Q_UPDATE, FY_STMT_Q_RESOLVE, FY_STMT_Q_PAGE,
    FY_STMT_EV_INSERT, FY_STMT_EV_MARK, FY_STMT_EV_PAGE,
    FY_STMT_WRITTEN_GET, FY_STMT_WRITTEN_PUT,
    FY_STMT_MAX
};
struct sqlite3_stmt;
struct sqlite3_stmt *fy_store_stmt(struct fy_store *s, enum fy_stmt slot, const char *sql);
int fy_store_step(struct fy_store *s, struct sqlite3_stmt *st);
void fy_store_now(char *buf, size_t cap);

#endif
