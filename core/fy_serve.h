/* ferry serve: the engine kept alive. It loads every script of
 * script_dirs, runs each integration on its schedule (never two runs of one
 * integration at once), reloads scripts when they change, answers the admin
 * API (fy_admin.c) and stops gracefully on SIGTERM. What it knows per
 * integration that status shows (schedule, next run, paused, reload error)
 * it also writes to the store, so reports read one place.
 *
 * While it runs, DATA_DIR/serve.json names its pid and admin address for
 * the CLI (fy_client.c); it is removed on a clean exit. */
#ifndef FY_SERVE_H
#define FY_SERVE_H

#include <stddef.h>

#include "fy_sig.h"

struct fy_buf;
struct fy_config;
struct fy_replay;
struct fy_service;
struct fy_store;

/* What the actions below return besides FY_OK (0) and FY_ERR (-1, with err
 * set: a failure of ferry's, 500). */
enum {
    FY_SERVE_UNKNOWN = -2,      /* no integration of that name: 404 */
    FY_SERVE_BUSY = -3,         /* a run of it is going: 409 */
    FY_SERVE_STOPPING = -4,     /* shutting down, no new runs: 503 */
    FY_SERVE_INVALID = -5,      /* the request cannot be done as asked (err says why): 422 */
};

/* Serve with cfg (taken over) until SIGTERM or SIGINT: the whole of
 * `ferry serve`. Returns the exit status (0 after a graceful stop). */
int fy_service_main(struct fy_config *cfg);

/* Start a run of `name` now (trigger "api"); its id in run_id. */
int fy_service_trigger(struct fy_service *svc, const char *name, char run_id[40], char *err, size_t errlen);

/* Start a replay run of `name`'s quarantined records (see fy_integration.h;
 * the ids are copied). */
int fy_service_replay(struct fy_service *svc, const char *name, const struct fy_replay *replay, char run_id[40],
                      char *err, size_t errlen);

/* Pause (not scheduled until resumed; a run in progress goes on) with a
 * reason, or resume. Both are kept in the store. */
int fy_service_pause(struct fy_service *svc, const char *name, const char *reason, char *err, size_t errlen);
int fy_service_resume(struct fy_service *svc, const char *name, char *err, size_t errlen);

/* Remove the committed checkpoint of `name` (BUSY while it runs). *had is
 * set to whether there was one. */
int fy_service_reset(struct fy_service *svc, const char *name, int *had, char *err, size_t errlen);

/* Reload the script of `name`, or every script of script_dirs (name NULL:
 * new files are loaded, removed ones retired). Appends one JSON object per
 * script to `out` as a JSON array:
 * [{"integration":..,"file":..,"result":"reloaded"|"unchanged"|"failed"|"removed"|"loaded" (a new file),"version":..,"error":..}]
 * Returns FY_OK, or FY_SERVE_UNKNOWN. */
int fy_service_reload(struct fy_service *svc, const char *name, struct fy_buf *out);

/* Ready: the first load of the scripts is done and the store takes writes. */
int fy_service_ready(struct fy_service *svc);

/* Is `name` running now? Its run id in run_id when so. -1 unknown. */
int fy_service_running(struct fy_service *svc, const char *name, char run_id[40]);

struct fy_store *fy_service_store(struct fy_service *svc);
const struct fy_config *fy_service_config(struct fy_service *svc);

/* ---- for the service's own files: fy_serve.c (lifecycle, actions,
 * shutdown), fy_scheduler.c (when runs are due), fy_reload.c (loading and
 * reloading scripts, inotify) ---- */

struct event;
struct fy_engine;
struct fy_integration;
struct fy_schedule;
struct fy_watch;

/* What the active version declares as trigger.webhook. */
struct fy_hook {
    char *path;                     /* PATH of POST /hooks/PATH */
    char *secret;                   /* the signing secret, read from the environment; NULL with no scheme */
    size_t secret_len;
    struct fy_sig_config sig;       /* the signature scheme; none: loopback listener only */
    int json;                       /* bodies must be JSON (400 otherwise) */
};

/* One script file of script_dirs and the integration it defines. */
struct fy_slot {
    struct fy_service *svc;
    struct fy_slot *next;
    char *path;                     /* DIR/FILE.lua as fy_scripts_list names it */
    char *name;                     /* its integration; NULL until a version has loaded */
    struct fy_integration *active;  /* the version the next run uses */
    struct fy_integration *retired; /* an older version finishing its run, destroyed after */
    char *error;                    /* why the file last failed to load; NULL when the active version is its latest */
    int removed;                    /* the file is gone: no run after the current one */
    int paused;                     /* not scheduled (kept in the store with the reason) */
    /* schedule */
    struct fy_hook *hook;           /* of the active version; NULL: no webhook */
    struct fy_schedule *sched;      /* of the active version; NULL until one loads */
    double jitter;                  /* seconds: each run starts up to this much after its slot */
    double due;                     /* the slot the timer stands for; INFINITY when none */
    double fire_at;                 /* due plus its jitter */
    struct event *timer;            /* fires at fire_at */
    struct event *ended;            /* a run ended: handled off the Lua stack that ended it */
    struct event *events_due;       /* webhook events arrived: start a run once a few have come */
    struct event *probe;            /* paused by its policy: the next probe run */
};

struct fy_service {
    struct fy_engine *e;
    struct fy_slot *slots;          /* every script file seen, in load order */
    struct fy_admin *admin;         /* the admin listener; NULL once stopping */
    char admin_addr[96];            /* "127.0.0.1:8787", as bound */
    struct fy_hooks *hooks;         /* the webhook listener, once a script has a webhook */
    char hooks_addr[96];
    char state_path[4200];          /* DATA_DIR/serve.json */
    struct event *signals[3];       /* SIGTERM, SIGINT, SIGHUP */
    struct event *grace;            /* shutdown_grace ran out / the last wait */
    struct fy_watch *watch;         /* inotify on script_dirs; NULL when unavailable */
    int ready;                      /* the first load is done */
    int stopping;                   /* SIGTERM or SIGINT seen */
    int cut_short;                  /* shutdown_grace ran out: the runs left were stopped */
    double (*now)(void);            /* the wall clock (fy_time_now) */
    struct event *ops;              /* every OPS_EVERY: alert re-sends and escalations, freshness */
    double started;                 /* when serve started (epoch seconds) */
};

/* fy_serve.c */
/* Arm (or disarm) the slot's probe timer from the store's probe_at. */
void fy_slot_arm_probe(struct fy_slot *sl);
struct fy_slot *fy_slot_create(struct fy_service *svc, const char *path);
/* Unlink and free a slot with no run in progress. */
void fy_slot_destroy(struct fy_slot *sl);
int fy_slot_running(const struct fy_slot *sl, char run_id[40]);
/* Start a run of the slot's active version; FY_OK or an FY_SERVE_ code. */
int fy_slot_start(struct fy_slot *sl, const struct fy_replay *replay, const char *trigger, char run_id[40],
                  char *err, size_t errlen);
/* A version became active: its runs tell the slot when they end. */
void fy_slot_adopt(struct fy_slot *sl, struct fy_integration *in);
void fy_hook_free(struct fy_hook *hook);

/* For the hooks listener: the slot whose webhook is PATH (NULL: none); is
 * the service stopping; events were stored for an integration (its event
 * run starts when it is idle and not paused; by name, as its slot may have
 * gone meanwhile). */
struct fy_slot *fy_serve_hook(struct fy_service *svc, const char *path);
int fy_serve_stopping(struct fy_service *svc);
void fy_serve_events_arrived(struct fy_service *svc, const char *integration);
/* Start the webhook listener if it is not running (a script declared a
 * webhook). FY_ERR with err when it cannot listen. */
int fy_serve_hooks_start(struct fy_service *svc, char *err, size_t errlen);

/* fy_scheduler.c: (re)compute when the slot runs next and arm its timer;
 * `anchor` is the slot that just fired (NAN: take it from the store's last
 * scheduled run, catching up once on a missed one). Writes the next run to
 * the store. */
void fy_scheduler_arm(struct fy_slot *sl, double anchor);
void fy_scheduler_disarm(struct fy_slot *sl);

/* fy_reload.c */
/* Load the slot's file in a fresh lua_State: a valid version becomes the
 * active one (a run in progress finishes on the old), an invalid one
 * leaves the old running with the error kept and shown. A missing file
 * retires the slot. Unless `force`, an unchanged file is left as it is.
 * Appends a JSON object to `out` when not NULL. FY_OK or FY_ERR (failed). */
int fy_reload_slot(struct fy_slot *sl, int force, struct fy_buf *out);
/* Every file of script_dirs: new ones loaded, changed ones reloaded,
 * missing ones retired. Appends JSON objects, comma-separated, to out. */
void fy_reload_all(struct fy_service *svc, struct fy_buf *out);
/* Watch script_dirs (inotify on the loop) and reload a saved, added or
 * removed script once its writes have settled. NULL with err when inotify
 * is unavailable (reload by SIGHUP and the API still works). */
struct fy_watch *fy_watch_create(struct fy_service *svc, char *err, size_t errlen);
void fy_watch_destroy(struct fy_watch *w);

#endif
