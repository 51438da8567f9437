/* When each integration runs next: one timer per slot on the loop; see
 * fy_serve.h. The schedule's arithmetic (cron, time zones, DST) is
 * fy_schedule.c's; this file decides which slot is due, catches up once
 * on a slot missed while ferry was down, adds jitter, and never starts a
 * second run of an integration: a slot that comes due while the previous
 * run goes on is recorded as a skipped run, with the reason. */
#include "fy_serve.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_engine.h"
#include "fy_integration.h"
#include "fy_log.h"
#include "fy_run.h"
#include "fy_schedule.h"
#include "fy_store.h"
#include "fy_time.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A uniform draw from [0, 1). */
static double uniform(void) { return (double)arc4random() / 4294967296.0; }

/* The next slot at or after now. From `anchor` (the slot that just fired)
 * when there is one: slots missed meanwhile (a run that overran) are not
 * made up. Without one, from the last scheduled run in the store: a slot
 * missed while ferry was down is due at once, one run however many were
 * missed. An interval schedule that never ran is due at once; a cron
 * schedule waits for its first slot. */
static double next_due(struct fy_slot *sl, double anchor, double now) {
    struct fy_store *st = sl->svc->e->store;
    double last, due;
    if (!isnan(anchor)) {
        due = fy_schedule_next(sl->sched, anchor);
        return due <= now ? fy_schedule_next(sl->sched, now) : due;
    }
    if (!fy_store_last_start(st, sl->name, "schedule", &last))
        return fy_schedule_interval(sl->sched) > 0 ? now : fy_schedule_next(sl->sched, now);
    due = fy_schedule_next(sl->sched, last);
    if (due > now) return due;
    char at[FY_TIME_FORMAT_MAX];
    fy_time_format(last, 0, 0, at, sizeof at);
    fy_log(FY_LOG_INFO, sl->name, "a scheduled run was missed (last scheduled run %s): running once now", at);
    return now;
}

static void fire(evutil_socket_t fd, short what, void *arg);

void fy_scheduler_disarm(struct fy_slot *sl) {
    if (sl->timer) evtimer_del(sl->timer);
    sl->due = sl->fire_at = INFINITY;
}

void fy_scheduler_arm(struct fy_slot *sl, double anchor) {
    struct fy_service *svc = sl->svc;
    fy_scheduler_disarm(sl);
    if (!sl->name) return;
    double now = svc->now();
    if (sl->sched && !fy_schedule_manual(sl->sched) && sl->active && !sl->paused && !sl->removed && !svc->stopping) {
        sl->due = next_due(sl, anchor, now);
        sl->fire_at = sl->due + (sl->jitter > 0 ? sl->jitter * uniform() : 0);
        if (!sl->timer) sl->timer = evtimer_new(svc->e->base, fire, sl);
        double wait = sl->fire_at - now;
        if (wait < 0) wait = 0;
        if (wait > 86400.0 * 365) wait = 86400.0 * 365;   /* far slots: re-checked when this fires */
        struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
        if (!sl->timer || evtimer_add(sl->timer, &tv) != 0) {
            fy_log(FY_LOG_ERROR, sl->name, "cannot arm the schedule's timer");
            sl->due = sl->fire_at = INFINITY;
        }
    }
    if (fy_store_schedule_set(svc->e->store, sl->name, sl->sched ? fy_schedule_text(sl->sched) : NULL,
                              sl->fire_at) != FY_OK)
        fy_log(FY_LOG_ERROR, sl->name, "cannot record the next run: %s", fy_store_error(svc->e->store));
}

/* The slot's time has come: start a run, or record it skipped when the
 * previous one is still going; then arm the next slot. */
static void fire(evutil_socket_t fd, short what, void *arg) {
    struct fy_slot *sl = arg;
    struct fy_service *svc = sl->svc;
    FY_UNUSED(fd);
    FY_UNUSED(what);
    double now = svc->now(), due = sl->due;
    if (now + 0.5 < sl->fire_at) {                 /* the wall clock went back, or a far slot */
        double wait = sl->fire_at - now;
        if (wait > 86400.0 * 365) wait = 86400.0 * 365;
        struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
        evtimer_add(sl->timer, &tv);
        return;
    }
    char id[40], running[40], err[512];
    int rc = fy_slot_start(sl, NULL, "schedule", id, err, sizeof err);
    if (rc == FY_SERVE_BUSY && fy_slot_running(sl, running)) {
        char reason[160];
        struct fy_integration *in = sl->active;
        snprintf(reason, sizeof reason, "the previous run (%s) was still running", running);
        fy_run_make_id(id, sizeof id);
        if (fy_store_run_skipped(svc->e->store, id, sl->name, in ? in->version : NULL, "schedule", reason) != FY_OK)
            fy_log(FY_LOG_ERROR, sl->name, "cannot record the skipped run: %s", fy_store_error(svc->e->store));
        struct fy_buf f = {0};
        fy_buf_puts(&f, "\"reason\":");
        fy_buf_json_string(&f, reason, strlen(reason));
        fy_log_write(FY_LOG_WARN, sl->name, id, "run skipped", f.data);
        fy_buf_free(&f);
    } else if (rc != FY_OK) {
        fy_log(FY_LOG_ERROR, sl->name, "the scheduled run did not start: %s", err);
    }
    if (sl->name && !sl->removed) fy_scheduler_arm(sl, due);   /* the run may have ended: sl still ours */
}
