/* ferry serve: the service's lifecycle, its slots, the actions the admin
 * API asks for, and the graceful stop; see fy_serve.h. When runs are due
 * is fy_scheduler.c's; loading scripts is fy_reload.c's. */
#include "fy_serve.h"
#include "fy_report.h"
#include "fy_alert.h"
#include "fy_admin.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_sig.h"
#include "fy_hooks.h"
#include "fy_http.h"
#include "fy_inbox.h"
#include "fy_integration.h"
#include "fy_log.h"
#include "fy_run.h"
#include "fy_schedule.h"
#include "fy_store.h"
#include "fy_time.h"
#include "fy_vm.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- slots ---------------------------------------------------------------- */

static void slot_ended(evutil_socket_t fd, short what, void *arg);

struct fy_slot *fy_slot_create(struct fy_service *svc, const char *path) {
    struct fy_slot *sl = calloc(1, sizeof *sl);
    if (!sl) return NULL;
    sl->svc = svc;
    sl->path = strdup(path);
    sl->due = sl->fire_at = INFINITY;
    sl->ended = event_new(svc->e->base, -1, 0, slot_ended, sl);
    struct fy_slot **tail = &svc->slots;
    while (*tail) tail = &(*tail)->next;
    *tail = sl;
    return sl;
}

void fy_slot_destroy(struct fy_slot *sl) {
    if (!sl) return;
    for (struct fy_slot **p = &sl->svc->slots; *p; p = &(*p)->next)
        if (*p == sl) {
            *p = sl->next;
            break;
        }
    if (sl->timer) event_free(sl->timer);
    if (sl->ended) event_free(sl->ended);
    if (sl->probe) event_free(sl->probe);
    if (sl->events_due) event_free(sl->events_due);
    fy_integration_destroy(sl->retired);
    fy_integration_destroy(sl->active);
    fy_schedule_free(sl->sched);
    fy_hook_free(sl->hook);
    free(sl->path);
    free(sl->name);
    free(sl->error);
    free(sl);
}

int fy_slot_running(const struct fy_slot *sl, char run_id[40]) {
    const struct fy_integration *in = sl->retired && sl->retired->run ? sl->retired
                                    : sl->active && sl->active->run ? sl->active : NULL;
    if (in && run_id) memcpy(run_id, in->run->id, sizeof in->run->id);
    return in != NULL;
}

int fy_slot_start(struct fy_slot *sl, const struct fy_replay *replay, const char *trigger, char run_id[40],
                  char *err, size_t errlen) {
    char id[40];
    if (sl->svc->stopping) {
        snprintf(err, errlen, "ferry is shutting down; no new runs start");
        return FY_SERVE_STOPPING;
    }
    if (fy_slot_running(sl, id)) {
        snprintf(err, errlen, "%s is running (run %s); one run of an integration at a time", sl->name, id);
        return FY_SERVE_BUSY;
    }
    if (!sl->active) {
        snprintf(err, errlen, "%s has no valid version loaded", sl->path);
        return FY_SERVE_INVALID;
    }
    if (fy_integration_run(sl->active, replay, trigger, run_id) != FY_OK) {
        snprintf(err, errlen, "cannot start a run of %s (see the log)", sl->name);
        return FY_ERR;
    }
    return FY_OK;
}

/* A run of one of the slot's versions ended (called from inside the run's
 * last resume): the rest is done from the loop, off that Lua stack. */
static void run_ended(struct fy_integration *in, const char *run_id, const char *status, void *arg) {
    struct fy_slot *sl = arg;
    FY_UNUSED(in);
    FY_UNUSED(run_id);
    FY_UNUSED(status);
    event_active(sl->ended, 0, 0);
}

void fy_hook_free(struct fy_hook *hook) {
    if (!hook) return;
    free(hook->path);
    if (hook->secret) memset(hook->secret, 0, hook->secret_len);
    free(hook->secret);
    free(hook);
}

/* ---- webhook events -------------------------------------------------------- */

static int write_state(struct fy_service *svc, char *err, size_t errlen);
static struct fy_slot *find(struct fy_service *svc, const char *name);

struct fy_slot *fy_serve_hook(struct fy_service *svc, const char *path) {
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next)
        if (sl->hook && !sl->removed && sl->active && strcmp(sl->hook->path, path) == 0) return sl;
    return NULL;
}

int fy_serve_stopping(struct fy_service *svc) { return svc->stopping; }

/* Start an event run when the slot has pending events and nothing stops
 * it: not running (its end looks again), not paused, not stopping. */
static void run_events(struct fy_slot *sl) {
    struct fy_service *svc = sl->svc;
    long long pending;
    char oldest[48];
    if (svc->stopping || sl->paused || sl->removed || !sl->active || fy_slot_running(sl, NULL)) return;
    if (fy_inbox_pending(svc->e->store, sl->name, &pending, oldest, sizeof oldest) != FY_OK || pending == 0) return;
    char id[40];
    if (fy_integration_run_events(sl->active, id) != FY_OK)
        fy_log(FY_LOG_ERROR, sl->name, "cannot start a run of %lld webhook events", pending);
}

static void events_due(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    run_events(arg);
}

/* Events arriving one by one would each start a run of their own (a run
 * costs a few fsyncs): wait EVENTS_SETTLE_MS for more to come, and start
 * one run for them all. A run that ends looks for events at once. */
#define EVENTS_SETTLE_MS 15
void fy_serve_events_arrived(struct fy_service *svc, const char *integration) {
    struct fy_slot *sl = find(svc, integration);
    if (!sl || fy_slot_running(sl, NULL)) return;
    if (!sl->events_due) sl->events_due = evtimer_new(svc->e->base, events_due, sl);
    struct timeval tv = {0, EVENTS_SETTLE_MS * 1000};
    if (!sl->events_due) run_events(sl);
    else if (!evtimer_pending(sl->events_due, NULL)) evtimer_add(sl->events_due, &tv);
}

int fy_serve_hooks_start(struct fy_service *svc, char *err, size_t errlen) {
    if (svc->hooks || svc->stopping) return FY_OK;
    const struct fy_config *cfg = &svc->e->cfg;
    svc->hooks = fy_hooks_create(svc, svc->e->base, cfg->hooks.listen, cfg->hooks.max_body, svc->hooks_addr,
                                 sizeof svc->hooks_addr, err, errlen);
    if (!svc->hooks) return FY_ERR;
    fy_log(FY_LOG_INFO, NULL, "webhooks: listening on %s (POST /hooks/PATH)", svc->hooks_addr);
    if (svc->ready) {
        char werr[256];
        if (write_state(svc, werr, sizeof werr) != FY_OK) fy_log(FY_LOG_ERROR, NULL, "%s", werr);
    }
    return FY_OK;
}

void fy_slot_adopt(struct fy_slot *sl, struct fy_integration *in) {
    in->on_end = run_ended;
    in->on_end_arg = sl;
}

/* An old version whose run has ended is closed; a removed file's slot goes
 * once nothing runs; the last run to end during a stop ends the loop. */
static void slot_ended(evutil_socket_t fd, short what, void *arg) {
    struct fy_slot *sl = arg;
    struct fy_service *svc = sl->svc;
    FY_UNUSED(fd);
    FY_UNUSED(what);
    struct fy_integration *in = sl->active;
    if (in && sl->name) {
        /* its policy may have paused it (a dead key), or a run that got
         * through may have resumed it: the store says which */
        char *why = fy_store_paused(svc->e->store, sl->name);
        int paused = why != NULL;
        free(why);
        if (paused != sl->paused) {
            sl->paused = paused;
            fy_scheduler_arm(sl, NAN);
        }
        fy_slot_arm_probe(sl);
    }
    if (sl->retired && !sl->retired->run) {
        fy_integration_destroy(sl->retired);
        sl->retired = NULL;
    }
    if (sl->removed && !fy_slot_running(sl, NULL)) fy_slot_destroy(sl);
    else run_events(sl);
    if (svc->stopping && svc->e->active_runs == 0) event_base_loopexit(svc->e->base, NULL);
}

/* A probe run of an integration its policy paused: the run goes as any
 * other; one that gets through resumes it (see operate in
 * fy_integration.c), one that fails again leaves it paused until the next. */
static void probe_due(evutil_socket_t fd, short what, void *arg) {
    struct fy_slot *sl = arg;
    FY_UNUSED(fd);
    FY_UNUSED(what);
    char id[40], err[512];
    if (!sl->paused || sl->svc->stopping) return;
    int rc = fy_slot_start(sl, NULL, "probe", id, err, sizeof err);
    if (rc == FY_OK) fy_log(FY_LOG_INFO, sl->name, "probe run %s: trying the source again while paused", id);
    else if (rc != FY_SERVE_BUSY) fy_log(FY_LOG_ERROR, sl->name, "the probe run did not start: %s", err);
    if (rc != FY_OK && sl->active && sl->active->alerts.probe > 0) {
        fy_store_probe_set(sl->svc->e->store, sl->name, sl->svc->now() + sl->active->alerts.probe);
        fy_slot_arm_probe(sl);
    }
}

void fy_slot_arm_probe(struct fy_slot *sl) {
    struct fy_service *svc = sl->svc;
    if (sl->probe) evtimer_del(sl->probe);
    if (!sl->paused || !sl->name || !sl->active || sl->active->alerts.probe <= 0 || svc->stopping) return;
    double at;
    char *klass = fy_store_paused_class(svc->e->store, sl->name, &at);
    if (klass && isfinite(at)) {
        double wait = at - svc->now();
        if (wait < 0) wait = 0;
        struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
        if (!sl->probe) sl->probe = evtimer_new(svc->e->base, probe_due, sl);
        if (sl->probe) evtimer_add(sl->probe, &tv);
    }
    free(klass);
}

/* ---- the operating model's clock ------------------------------------------ */

#define OPS_EVERY 5.0           /* seconds between looks at alerts and freshness */

static void ops_tick(evutil_socket_t fd, short what, void *arg) {
    struct fy_service *svc = arg;
    FY_UNUSED(fd);
    FY_UNUSED(what);
    if (svc->stopping) return;
    double now = svc->now();
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next)
        if (sl->name && sl->active && !sl->removed) fy_integration_check_fresh(sl->active, now, svc->started);
    fy_alert_tick(svc->e, now);
    struct timeval tv = {(time_t)OPS_EVERY, 0};
    evtimer_add(svc->ops, &tv);
}

/* The slot serving integration `name`, or NULL. */
static struct fy_slot *find(struct fy_service *svc, const char *name) {
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next)
        if (sl->name && !sl->removed && strcmp(sl->name, name) == 0) return sl;
    return NULL;
}

/* ---- actions (the admin API) ---------------------------------------------- */

static struct fy_slot *lookup(struct fy_service *svc, const char *name, char *err, size_t errlen) {
    struct fy_slot *sl = find(svc, name);
    if (!sl) snprintf(err, errlen, "no integration '%s' is served (see GET /api/v1/integrations)", name);
    return sl;
}

int fy_service_trigger(struct fy_service *svc, const char *name, char run_id[40], char *err, size_t errlen) {
    struct fy_slot *sl = lookup(svc, name, err, errlen);
    return sl ? fy_slot_start(sl, NULL, "api", run_id, err, errlen) : FY_SERVE_UNKNOWN;
}

int fy_service_replay(struct fy_service *svc, const char *name, const struct fy_replay *replay, char run_id[40],
                      char *err, size_t errlen) {
    struct fy_slot *sl = lookup(svc, name, err, errlen);
    return sl ? fy_slot_start(sl, replay, "replay", run_id, err, errlen) : FY_SERVE_UNKNOWN;
}

int fy_service_pause(struct fy_service *svc, const char *name, const char *reason, char *err, size_t errlen) {
    struct fy_slot *sl = lookup(svc, name, err, errlen);
    if (!sl) return FY_SERVE_UNKNOWN;
    struct fy_store *st = svc->e->store;
    if (fy_store_pause_set(st, name, reason && *reason ? reason : "paused by an admin") != FY_OK) {
        snprintf(err, errlen, "store: %s", fy_store_error(st));
        return FY_ERR;
    }
    sl->paused = 1;
    fy_scheduler_arm(sl, NAN);
    fy_log(FY_LOG_INFO, name, "paused: %s", reason && *reason ? reason : "paused by an admin");
    return FY_OK;
}

int fy_service_resume(struct fy_service *svc, const char *name, char *err, size_t errlen) {
    struct fy_slot *sl = lookup(svc, name, err, errlen);
    if (!sl) return FY_SERVE_UNKNOWN;
    struct fy_store *st = svc->e->store;
    if (fy_store_pause_set(st, name, NULL) != FY_OK) {
        snprintf(err, errlen, "store: %s", fy_store_error(st));
        return FY_ERR;
    }
    sl->paused = 0;
    fy_scheduler_arm(sl, NAN);
    fy_log(FY_LOG_INFO, name, "resumed");
    run_events(sl);
    return FY_OK;
}

int fy_service_reset(struct fy_service *svc, const char *name, int *had, char *err, size_t errlen) {
    struct fy_slot *sl = lookup(svc, name, err, errlen);
    char id[40];
    if (!sl) return FY_SERVE_UNKNOWN;
    if (fy_slot_running(sl, id)) {
        snprintf(err, errlen, "%s is running (run %s); reset it after the run", name, id);
        return FY_SERVE_BUSY;
    }
    int rc = fy_store_checkpoint_reset(svc->e->store, name);
    if (rc < 0) {
        snprintf(err, errlen, "store: %s", fy_store_error(svc->e->store));
        return FY_ERR;
    }
    *had = rc;
    return FY_OK;
}

int fy_service_reload(struct fy_service *svc, const char *name, struct fy_buf *out) {
    fy_buf_putc(out, '[');
    if (name) {
        struct fy_slot *sl = find(svc, name);
        if (!sl) {
            fy_buf_reset(out);
            return FY_SERVE_UNKNOWN;
        }
        fy_reload_slot(sl, 1, out);
    } else {
        fy_reload_all(svc, out);
    }
    fy_buf_putc(out, ']');
    return FY_OK;
}

int fy_service_ready(struct fy_service *svc) {
    if (!svc->ready || svc->stopping) return 0;
    if (fy_store_begin(svc->e->store) != FY_OK) return 0;    /* takes the write lock: the store is writable */
    fy_store_rollback(svc->e->store);
    return 1;
}

int fy_service_running(struct fy_service *svc, const char *name, char run_id[40]) {
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next)
        if (sl->name && strcmp(sl->name, name) == 0 && fy_slot_running(sl, run_id)) return 1;
    return find(svc, name) ? 0 : -1;
}

struct fy_store *fy_service_store(struct fy_service *svc) { return svc->e->store; }
const struct fy_config *fy_service_config(struct fy_service *svc) { return &svc->e->cfg; }

/* ---- systemd ------------------------------------------------------------------ */

/* Tell systemd (Type=notify) how the service is: one datagram to
 * $NOTIFY_SOCKET, the documented sd_notify(3) protocol, written here
 * rather than linking libsystemd for it. Nothing when not under systemd. */
static void notify(const char *state) {
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = path ? strlen(path) : 0;
    if (n < 2 || n >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@')) return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';          /* an abstract socket */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
        fy_log(FY_LOG_WARN, NULL, "cannot notify systemd at %s: %s", path, strerror(errno));
    close(fd);
}

/* ---- stopping --------------------------------------------------------------- */

/* shutdown_grace ran out: runs still going are stopped where they are
 * (their next Lua instruction raises; a sleeping one is woken for it) and
 * recorded as aborted with their last committed checkpoint. A run waiting
 * on the network gets a moment more, then the loop ends without it. */
static void grace_out(evutil_socket_t fd, short what, void *arg) {
    struct fy_service *svc = arg;
    FY_UNUSED(fd);
    FY_UNUSED(what);
    if (svc->cut_short) {
        event_base_loopexit(svc->e->base, NULL);
        return;
    }
    svc->cut_short = 1;
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next) {
        struct fy_integration *ins[2] = {sl->active, sl->retired};
        for (int i = 0; i < 2; i++) {
            struct fy_integration *in = ins[i];
            if (!in || !in->run) continue;
            struct fy_run *run = in->run;
            in->cut_short = 1;
            fy_log_write(FY_LOG_WARN, in->name, run->id, "shutdown_grace ran out: stopping the run", NULL);
            fy_vm_trip(in->vm, run->co, FY_TRIP_RUN, "ferry is shutting down: the run did not reach a checkpoint "
                       "within shutdown_grace (%gs)", svc->e->cfg.shutdown_grace);
            if (run->timer && evtimer_pending(run->timer, NULL)) {
                evtimer_del(run->timer);
                fy_run_resume(run, 0);
            }
        }
    }
    struct timeval tv = {2, 0};
    if (svc->e->active_runs == 0) event_base_loopexit(svc->e->base, NULL);
    else evtimer_add(svc->grace, &tv);
}

/* SIGTERM or SIGINT: stop accepting, start no run, let the runs in progress
 * reach a checkpoint or finish within shutdown_grace. A second signal ends
 * the process at once: its runs stay "running" in the store and the next
 * start records them as aborted, with their last committed checkpoint. */
static void begin_stop(struct fy_service *svc, const char *signame) {
    if (svc->stopping) {
        fy_log(FY_LOG_WARN, NULL, "second %s: exiting now; the runs in progress are recorded as aborted at the "
               "next start", signame);
        unlink(svc->state_path);
        _exit(1);
    }
    svc->stopping = svc->e->stopping = 1;
    notify("STOPPING=1");
    if (svc->ops) evtimer_del(svc->ops);
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next)
        if (sl->probe) evtimer_del(sl->probe);
    fy_admin_destroy(svc->admin);
    svc->admin = NULL;
    fy_hooks_destroy(svc->hooks);
    svc->hooks = NULL;
    fy_watch_destroy(svc->watch);
    svc->watch = NULL;
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next) fy_scheduler_disarm(sl);
    char fields[128];
    snprintf(fields, sizeof fields, "\"signal\":\"%s\",\"runs\":%d,\"shutdown_grace_s\":%g", signame,
             svc->e->active_runs, svc->e->cfg.shutdown_grace);
    fy_log_write(FY_LOG_INFO, NULL, NULL, "stopping", fields);
    if (svc->e->active_runs == 0) {
        event_base_loopexit(svc->e->base, NULL);
        return;
    }
    double g = svc->e->cfg.shutdown_grace;
    struct timeval tv = {(time_t)g, (suseconds_t)((g - floor(g)) * 1e6)};
    evtimer_add(svc->grace, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    struct fy_service *svc = arg;
    FY_UNUSED(what);
    if (sig == SIGHUP) {
        if (svc->stopping) return;
        struct fy_buf out = {0};
        fy_log(FY_LOG_INFO, NULL, "SIGHUP: reloading every script");
        notify("RELOADING=1");
        fy_reload_all(svc, &out);
        notify("READY=1");
        fy_buf_free(&out);
        return;
    }
    begin_stop(svc, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- serve.json: how the CLI finds the service -------------------------------- */

static int write_state(struct fy_service *svc, char *err, size_t errlen) {
    char tmp[sizeof svc->state_path + 8], now[40];
    snprintf(svc->state_path, sizeof svc->state_path, "%s/serve.json", svc->e->cfg.data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", svc->state_path);
    fy_store_now(now, sizeof now);
    struct fy_buf b = {0};
    fy_buf_printf(&b, "{\"pid\":%ld,\"admin\":", (long)getpid());
    fy_buf_json_string(&b, svc->admin_addr, strlen(svc->admin_addr));
    if (svc->hooks) {
        fy_buf_puts(&b, ",\"hooks\":");
        fy_buf_json_string(&b, svc->hooks_addr, strlen(svc->hooks_addr));
    }
    fy_buf_printf(&b, ",\"started_at\":\"%s\",\"version\":\"%s\"}\n", now, FY_VERSION);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len;
    if (fd >= 0 && close(fd) != 0) ok = 0;
    if (ok && rename(tmp, svc->state_path) != 0) ok = 0;
    if (!ok) {
        snprintf(err, errlen, "cannot write %.300s: %s", svc->state_path, strerror(errno));
        unlink(tmp);
    }
    fy_buf_free(&b);
    return ok ? FY_OK : FY_ERR;
}

/* ---- the service ---------------------------------------------------------------- */

static void service_destroy(struct fy_service *svc) {
    struct fy_engine *e = svc->e;
    fy_admin_destroy(svc->admin);
    fy_hooks_destroy(svc->hooks);
    fy_watch_destroy(svc->watch);
    for (int i = 0; i < 3; i++)
        if (svc->signals[i]) event_free(svc->signals[i]);
    if (svc->grace) event_free(svc->grace);
    if (svc->ops) event_free(svc->ops);
    if (e->active_runs) {
        /* runs cut short while waiting on the network: drop their transfers
         * (no callbacks), then the runs, before their states go */
        fy_http_destroy(e->http);
        e->http = NULL;
        for (struct fy_slot *sl = svc->slots; sl; sl = sl->next) {
            struct fy_integration *ins[2] = {sl->active, sl->retired};
            for (int i = 0; i < 2; i++)
                if (ins[i] && ins[i]->run) {
                    fy_run_destroy(ins[i]->run);
                    ins[i]->run = NULL;
                }
        }
    }
    while (svc->slots) fy_slot_destroy(svc->slots);
    if (svc->state_path[0]) unlink(svc->state_path);
    fy_engine_destroy(e);
    free(svc);
}

int fy_service_main(struct fy_config *cfg) {
    char err[FY_ERRLEN];
    struct fy_engine *e = fy_engine_create(cfg, err, sizeof err);
    if (!e) {
        fprintf(stderr, "ferry serve: %s\n", err);
        return FY_EXIT_USAGE;
    }
    e->serving = 1;
    if (fy_engine_open_store(e, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry serve: %s\n", err);
        fy_engine_destroy(e);
        return FY_EXIT_USAGE;
    }
    struct fy_service *svc = calloc(1, sizeof *svc);
    svc->e = e;
    svc->now = fy_time_now;
    signal(SIGPIPE, SIG_IGN);
    int rc = FY_EXIT_USAGE;

    /* the scripts: a broken one is reported and skipped, the others run */
    struct fy_buf out = {0};
    fy_reload_all(svc, &out);
    fy_buf_free(&out);
    int nok = 0, nbad = 0;
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next) sl->active ? nok++ : nbad++;

    svc->watch = fy_watch_create(svc, err, sizeof err);
    if (!svc->watch)
        fy_log(FY_LOG_WARN, NULL, "not watching the script dirs (%s): reload with SIGHUP or the admin API", err);
    static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        svc->signals[i] = evsignal_new(e->base, sigs[i], on_signal, svc);
        if (!svc->signals[i] || evsignal_add(svc->signals[i], NULL) != 0) {
            fprintf(stderr, "ferry serve: cannot handle signal %d\n", sigs[i]);
            goto done;
        }
    }
    svc->grace = evtimer_new(e->base, grace_out, svc);
    svc->admin = fy_admin_create(svc, e->base, e->cfg.admin.listen, e->cfg.admin.token, svc->admin_addr,
                                 sizeof svc->admin_addr, err, sizeof err);
    if (!svc->admin) {
        fprintf(stderr, "ferry serve: %s\n", err);
        goto done;
    }
    if (write_state(svc, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry serve: %s\n", err);
        goto done;
    }
    svc->ready = 1;
    svc->started = svc->now();
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next) {
        run_events(sl);                                 /* left from before a stop */
        fy_slot_arm_probe(sl);
    }
    svc->ops = evtimer_new(e->base, ops_tick, svc);
    if (svc->ops) ops_tick(-1, 0, svc);                 /* messages left to send, then every OPS_EVERY */
    char fields[256];
    snprintf(fields, sizeof fields, "\"integrations\":%d,\"failed\":%d,\"admin\":\"%s\",\"pid\":%ld", nok, nbad,
             svc->admin_addr, (long)getpid());
    fy_log_write(FY_LOG_INFO, NULL, NULL, "serving", fields);
    char status[320];
    snprintf(status, sizeof status, "READY=1\nSTATUS=serving %d integrations (%d failed to load), admin on %s",
             nok, nbad, svc->admin_addr);
    notify(status);

    event_base_dispatch(e->base);

    if (e->active_runs)
        fy_store_abort_running(e->store, "ferry serve stopped before the run reached a checkpoint "
                                         "(shutdown_grace ran out)");
    for (struct fy_slot *sl = svc->slots; sl; sl = sl->next)
        if (sl->name) fy_store_schedule_set(e->store, sl->name, sl->sched ? fy_schedule_text(sl->sched) : NULL,
                                            INFINITY);
    fy_log(FY_LOG_INFO, NULL, "stopped");
    rc = FY_EXIT_OK;
done:
    service_destroy(svc);
    return rc;
}
