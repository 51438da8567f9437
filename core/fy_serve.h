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
 * [{"integration":..,"file":..,"result":"reloaded"|"unchanged"|"failed"|"removed"|"added","version":..,"error":..}]
 * Returns FY_OK, or FY_SERVE_UNKNOWN. */
int fy_service_reload(struct fy_service *svc, const char *name, struct fy_buf *out);

/* Ready: the first load of the scripts is done and the store takes writes. */
int fy_service_ready(struct fy_service *svc);

/* Is `name` running now? Its run id in run_id when so. -1 unknown. */
int fy_service_running(struct fy_service *svc, const char *name, char run_id[40]);

struct fy_store *fy_service_store(struct fy_service *svc);
const struct fy_config *fy_service_config(struct fy_service *svc);

#endif
