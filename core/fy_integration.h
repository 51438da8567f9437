/* An integration: one script in its own VM, checked against the contract,
 * run once per trigger. */
#ifndef FY_INTEGRATION_H
#define FY_INTEGRATION_H

#include "fy_alert.h"
#include <stdio.h>

struct fy_engine;
struct fy_vm;
struct fy_run;

struct fy_integration {
    struct fy_engine *engine;
    struct fy_vm *vm;
    char *path;
    char *name;
    char version[17];            /* FNV-1a 64 of the script's bytes, hex */
    int spec_ref;                /* registry ref of the ferry.integration table */
    /* the current run */
    struct fy_run *run;          /* in progress, or NULL */
    long quarantined_now;        /* rows written to the quarantine */
    int replaying;               /* a replay run (ferry quarantine replay) */
    int cut_short;               /* ferry serve stopped it at shutdown: recorded as aborted */
    int event_run;               /* starting a run of inbox events (fy_integration_run_events) */
    int judged;                  /* the current run read the source: its verdict is judged (fy_verdict.h) */
    int paused_now;              /* the run that just ended paused the integration (a pause action) */
    int dry_run;                 /* ferry run --dry-run: nothing is written, nothing recorded */
    /* the operating model */
    char *owner;                 /* the declared owner: who hears of its alerts */
    struct fy_alert_policy alerts;   /* policy.alert and policy.pause */
    /* told when a run has ended and been recorded (ferry serve); status is
     * how it was recorded: ok, partial, failed or aborted */
    void (*on_end)(struct fy_integration *in, const char *run_id, const char *status, void *arg);
    void *on_end_arg;
};

/* A replay run: open quarantined records of the integration, all of one
 * class (class_ set), all (class_ NULL, nids 0) or the given ids. */
struct fy_replay {
    const char *class_;
    const long long *ids;
    size_t nids;
};

/* Raise a `stale` alert when no good run ended within its freshness, or
 * resolve it when one did. An integration with no run yet is given its
 * window from `since`. */
void fy_integration_check_fresh(struct fy_integration *in, double now, double since);

/* Load and check the script at `path`. On problems returns NULL and prints
 * each one ("FILE:LINE: FIELD: message") to `out`. With `summary`, a valid
 * script prints its one-line summary there. */
struct fy_integration *fy_integration_load(struct fy_engine *e, const char *path, FILE *out, int summary);
void fy_integration_destroy(struct fy_integration *in);

/* The version of the script at `path` as a load would name it (FNV-1a 64
 * of its bytes, hex). FY_ERR (errno set) when it cannot be read. */
int fy_integration_hash(const char *path, char out[17]);

/* Start a run of the integration's pending inbox events (trigger
 * "webhook"): each is a record for transform and load, in order. */
int fy_integration_run_events(struct fy_integration *in, char run_id[40]);

/* Record in the store what the script declares (owner, freshness, path,
 * version), so status knows it before its first run. */
int fy_integration_record(struct fy_integration *in);

/* Start a run on the engine's loop; its summary is printed to stdout when
 * it ends and its exit code noted on the engine. FY_ERR if it cannot start.
 * With `replay`, the run delivers quarantined records instead of extracting
 * (the ids are copied). `trigger` is what the run record says started it:
 * manual, schedule, api or replay. The run's id goes to run_id when not
 * NULL. One run per integration at a time: the caller checks in->run. */
int fy_integration_run(struct fy_integration *in, const struct fy_replay *replay, const char *trigger,
                       char run_id[40]);

#endif
