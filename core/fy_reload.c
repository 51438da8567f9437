/* Loading and hot-reloading scripts in ferry serve, and watching the
 * script dirs with inotify; see fy_serve.h.
 *
 * A changed script is compiled, run and checked against the contract in a
 * fresh lua_State (fy_integration_load), so a broken version never replaces
 * a working one: the old version keeps its schedule and runs, and the error
 * (FILE:LINE) is logged and kept in the store for status until a good
 * version loads. A valid version becomes the active one at once; a run in
 * progress finishes on the version it started with, closed after it. No
 * other integration's state, schedule or run is touched. */
#include "fy_serve.h"
#include "fy_alert.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_admin.h"
#include "fy_sig.h"
#include "fy_integration.h"
#include "fy_log.h"
#include "fy_schedule.h"
#include "fy_scripts.h"
#include "fy_store.h"
#include "fy_time.h"
#include "fy_vm.h"

#include <errno.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* One JSON object of a reload's report. */
static void report(struct fy_buf *out, const struct fy_slot *sl, const char *name, const char *result,
                   const char *version, const char *error) {
    if (!out) return;
    if (out->len && out->data[out->len - 1] != '[') fy_buf_putc(out, ',');
    fy_buf_puts(out, "{\"integration\":");
    if (name) fy_buf_json_string(out, name, strlen(name));
    else fy_buf_puts(out, "null");
    fy_buf_puts(out, ",\"file\":");
    fy_buf_json_string(out, sl->path, strlen(sl->path));
    fy_buf_printf(out, ",\"result\":\"%s\",\"version\":", result);
    if (version) fy_buf_printf(out, "\"%s\"", version);
    else fy_buf_puts(out, "null");
    fy_buf_puts(out, ",\"error\":");
    if (error) fy_buf_json_string(out, error, strlen(error));
    else fy_buf_puts(out, "null");
    fy_buf_putc(out, '}');
}

/* The file is gone: its integration is no longer scheduled; the slot goes
 * after its run in progress, if any. */
static void retire(struct fy_slot *sl, struct fy_buf *out) {
    struct fy_service *svc = sl->svc;
    report(out, sl, sl->name, "removed", NULL, NULL);
    fy_scheduler_disarm(sl);
    sl->removed = 1;
    if (sl->name) {
        fy_log(FY_LOG_INFO, sl->name, "script %s removed: no longer scheduled", sl->path);
        fy_store_schedule_set(svc->e->store, sl->name, "removed", INFINITY);
    }
    if (!fy_slot_running(sl, NULL)) fy_slot_destroy(sl);
}

/* Drop a version that is not running, or keep it as the retired one until
 * its run ends (one run at a time: there is at most one such). */
static void let_go(struct fy_slot *sl, struct fy_integration *in) {
    if (!in) return;
    if (in->run) sl->retired = in;
    else fy_integration_destroy(in);
}

/* The load failed: keep the old version, say why, everywhere status looks. */
static int failed(struct fy_slot *sl, const char *error, struct fy_buf *out) {
    struct fy_service *svc = sl->svc;
    struct fy_store *st = svc->e->store;
    free(sl->error);
    sl->error = strdup(error);
    char *name = sl->name ? strdup(sl->name) : NULL;
    if (!name) {                                   /* never loaded here: the store may know it by its file */
        char *abs = realpath(sl->path, NULL);
        name = fy_store_integration_by_path(st, abs ? abs : sl->path);
        free(abs);
    }
    struct fy_buf f = {0};
    fy_buf_puts(&f, "\"file\":");
    fy_buf_json_string(&f, sl->path, strlen(sl->path));
    fy_buf_puts(&f, ",\"error\":");
    fy_buf_json_string(&f, error, strlen(error));
    if (sl->active) fy_buf_printf(&f, ",\"running_version\":\"%s\"", sl->active->version);
    fy_log_write(FY_LOG_ERROR, name, NULL,
                 sl->active ? "reload failed: the previous version keeps running" : "script failed to load: skipped",
                 f.data);
    fy_buf_free(&f);
    if (name && fy_store_reload_error_set(st, name, error) != FY_OK)
        fy_log(FY_LOG_ERROR, name, "cannot record the reload error: %s", fy_store_error(st));
    if (name) {                 /* the owner hears of it: the old version runs on, or nothing does */
        struct fy_alert_policy log_only = {0};
        char *to[] = {"log"};
        log_only.to = to;
        log_only.nto = 1;
        struct fy_buf line = {0}, detail = {0};
        fy_buf_printf(&line, "reload failed: %s", error);
        fy_buf_printf(&detail, "What happened: %s could not be loaded; %s.\nError: %s\n\nInspect: ferry check %s\n"
                      "Then: fix the script; it is reloaded when saved (or 'ferry reload %s')\n", sl->path,
                      sl->active ? "the previous version keeps running" : "the integration does not run", error,
                      sl->path, name);
        fy_alert_raise(svc->e, name, sl->active ? sl->active->owner : NULL, sl->active ? &sl->active->alerts : &log_only,
                       "reload_failed", line.data, detail.data, svc->now());
        fy_buf_free(&line);
        fy_buf_free(&detail);
    }
    report(out, sl, name, "failed", sl->active ? sl->active->version : NULL, error);
    free(name);
    return FY_ERR;
}

/* Another file defining the same integration, or NULL. */
static struct fy_slot *claimed(struct fy_slot *sl, const char *name) {
    for (struct fy_slot *o = sl->svc->slots; o; o = o->next)
        if (o != sl && !o->removed && o->name && strcmp(o->name, name) == 0) return o;
    return NULL;
}

/* The webhook the spec (at index spec) declares in trigger.webhook, into
 * *out (NULL when none). Its signing secret is read from the environment
 * variable it names, which the config must grant to the integration like
 * any secret; a hook without a signature is served only on a loopback
 * listener; two integrations cannot share a path. FY_ERR with err. */
static int read_hook(struct fy_slot *sl, lua_State *L, int spec, const char *name, struct fy_hook **out, char *err,
                     size_t errlen) {
    const struct fy_config *cfg = &sl->svc->e->cfg;
    int top = lua_gettop(L), rc = FY_ERR;
    char serr[256];
    *out = NULL;
    if (lua_getfield(L, spec, "trigger") != LUA_TTABLE || lua_getfield(L, -1, "webhook") == LUA_TNIL) {
        lua_settop(L, top);
        return FY_OK;
    }
    struct fy_hook *h = calloc(1, sizeof *h);
    if (!h) goto done;
    h->json = 1;
    int w = lua_gettop(L);
    if (lua_type(L, w) == LUA_TSTRING) {
        h->path = strdup(lua_tostring(L, w));
        lua_pushnil(L);
    } else {
        lua_getfield(L, w, "path");
        h->path = strdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        if (lua_getfield(L, w, "json") == LUA_TBOOLEAN) h->json = lua_toboolean(L, -1);
        lua_getfield(L, w, "signature");
    }
    int sigrc = lua_isnil(L, -1) ? fy_sig_parse(&h->sig, "none", NULL, -1, serr, sizeof serr)
                                 : fy_sig_parse_lua(&h->sig, L, lua_gettop(L), serr, sizeof serr);
    if (sigrc != FY_OK) {
        snprintf(err, errlen, "%s: trigger.webhook.signature: %s", sl->path, serr);
        goto done;
    }
    if (h->sig.scheme != FY_SIG_NONE) {
        lua_getfield(L, w, "secret");
        const char *env = lua_tostring(L, -1), *value = env ? getenv(env) : NULL;
        const struct fy_grant *g = fy_config_grant(cfg, name);
        int granted = 0;
        for (char **x = g ? g->secrets : NULL; env && x && *x && !granted; x++) granted = strcmp(*x, env) == 0;
        if (!granted || !value || !*value) {
            snprintf(err, errlen, "%s: trigger.webhook.secret: %s %s", sl->path, env ? env : "(none)",
                     !granted ? "is not granted to this integration (config: integrations[name].secrets)"
                              : "is not set in ferry's environment");
            goto done;
        }
        if (fy_sig_secret_check(&h->sig, value, strlen(value), serr, sizeof serr) != FY_OK) {
            snprintf(err, errlen, "%s: trigger.webhook.secret: %s: %s", sl->path, env, serr);
            goto done;
        }
        h->secret_len = strlen(value);
        h->secret = strdup(value);
    } else {
        char host[256];
        if (fy_config_parse_listen(cfg->hooks.listen, host, sizeof host, NULL) != FY_OK ||
            !fy_admin_is_loopback(host)) {
            snprintf(err, errlen, "%s: trigger.webhook: a hook without a signature is served only on a loopback "
                     "hooks.listen, and %s is not one; declare a signature", sl->path, cfg->hooks.listen);
            goto done;
        }
    }
    struct fy_slot *other = fy_serve_hook(sl->svc, h->path);
    if (other && other != sl && strcmp(other->name, name) != 0) {
        snprintf(err, errlen, "%s: trigger.webhook.path: /hooks/%s is already the hook of %s (%s)", sl->path,
                 h->path, other->name, other->path);
        goto done;
    }
    *out = h;
    h = NULL;
    rc = FY_OK;
done:
    if (!h && rc != FY_OK) snprintf(err, errlen, "out of memory");
    fy_hook_free(h);
    lua_settop(L, top);
    return rc;
}

int fy_reload_slot(struct fy_slot *sl, int force, struct fy_buf *out) {
    struct fy_service *svc = sl->svc;
    struct fy_engine *e = svc->e;
    struct fy_store *st = e->store;
    struct stat sb;
    char version[17];
    if (stat(sl->path, &sb) != 0 && errno == ENOENT) {
        retire(sl, out);
        return FY_OK;
    }
    if (!force && sl->active && !sl->error && !sl->removed && fy_integration_hash(sl->path, version) == FY_OK &&
        strcmp(version, sl->active->version) == 0) {
        report(out, sl, sl->name, "unchanged", version, NULL);
        return FY_OK;
    }
    double t0 = fy_time_monotonic();
    char *problems = NULL;
    size_t plen = 0;
    FILE *mem = open_memstream(&problems, &plen);
    if (!mem) return failed(sl, "out of memory", out);
    struct fy_integration *in = fy_integration_load(e, sl->path, mem, 0);
    fclose(mem);
    while (plen && problems[plen - 1] == '\n') problems[--plen] = '\0';
    char err[1024];
    struct fy_schedule *sched = NULL;
    struct fy_hook *hook = NULL;
    double jitter = 0;
    if (in) {
        lua_State *L = in->vm->L;
        lua_rawgeti(L, LUA_REGISTRYINDEX, in->spec_ref);
        lua_getfield(L, -1, "schedule");
        char serr[512];
        int ok = fy_schedule_from_lua(L, -1, e->cfg.timezone, &sched, &jitter, serr, sizeof serr) == FY_OK;
        if (!ok) snprintf(err, sizeof err, "%s: schedule: %s", sl->path, serr);
        lua_pop(L, 1);
        if (ok && read_hook(sl, L, lua_gettop(L), in->name, &hook, err, sizeof err) != FY_OK) ok = 0;
        lua_pop(L, 1);
        if (!ok) {
            fy_schedule_free(sched);
            sched = NULL;
            fy_integration_destroy(in);
            in = NULL;
        }
    } else {
        snprintf(err, sizeof err, "%s", plen ? problems : "the script did not load");
    }
    free(problems);
    struct fy_slot *other = in ? claimed(sl, in->name) : NULL;
    if (other) {
        snprintf(err, sizeof err, "%s: name: integration %s is also defined by %s; an integration's name must be "
                 "unique", sl->path, in->name, other->path);
        fy_integration_destroy(in);
        fy_schedule_free(sched);
        fy_hook_free(hook);
        in = NULL;
    }
    if (!in) return failed(sl, err, out);

    if (sl->name && strcmp(sl->name, in->name) != 0) {
        /* renamed: a new integration; the old one is no longer served */
        fy_log(FY_LOG_INFO, sl->name, "script %s now defines %s: %s is no longer scheduled", sl->path, in->name,
               sl->name);
        fy_scheduler_disarm(sl);
        fy_store_schedule_set(st, sl->name, "renamed", INFINITY);
        free(sl->name);
        sl->name = NULL;
    }
    const char *how = sl->active ? "reloaded" : "loaded";
    if (sl->retired) {                   /* the old run goes on; the version between never ran */
        fy_integration_destroy(sl->active);
        sl->active = NULL;
    }
    let_go(sl, sl->active);
    sl->active = in;
    fy_slot_adopt(sl, in);
    sl->removed = 0;
    free(sl->error);
    sl->error = NULL;
    int first = !sl->name;
    if (first) {
        sl->name = strdup(in->name);
        char *why = fy_store_paused(st, sl->name);
        sl->paused = why != NULL;
        free(why);
    }
    fy_integration_record(in);
    if (fy_store_reload_error_set(st, sl->name, NULL) != FY_OK)
        fy_log(FY_LOG_ERROR, sl->name, "cannot clear the reload error: %s", fy_store_error(st));
    fy_alert_resolve(svc->e, sl->name, "reload_failed", "the script loads again", svc->now());
    int changed = first || !sl->sched || strcmp(fy_schedule_text(sl->sched), fy_schedule_text(sched)) != 0 ||
                  sl->jitter != jitter;
    fy_schedule_free(sl->sched);
    sl->sched = sched;
    sl->jitter = jitter;
    fy_hook_free(sl->hook);
    sl->hook = hook;
    char herr[512];
    if (hook && fy_serve_hooks_start(svc, herr, sizeof herr) != FY_OK)
        fy_log(FY_LOG_ERROR, sl->name, "its webhook is not served: %s", herr);
    if (changed) fy_scheduler_arm(sl, NAN);
    char fields[512];
    snprintf(fields, sizeof fields, "\"file\":\"%s\",\"version\":\"%s\",\"schedule\":\"%s\",\"took_ms\":%.1f",
             sl->path, in->version, fy_schedule_text(sched), (fy_time_monotonic() - t0) * 1000);
    fy_log_write(FY_LOG_INFO, sl->name, NULL, first ? "script loaded" : "script reloaded", fields);
    report(out, sl, sl->name, how, in->version, NULL);
    return FY_OK;
}

void fy_reload_all(struct fy_service *svc, struct fy_buf *out) {
    struct fy_scripts all;
    fy_scripts_list(&svc->e->cfg, &all);
    for (char **m = all.missing; m && *m; m++) fy_log(FY_LOG_WARN, NULL, "script dir %s", *m);
    /* files gone first, so a script moved to another file keeps its name */
    for (struct fy_slot *sl = svc->slots, *next; sl; sl = next) {
        next = sl->next;
        int found = 0;
        for (size_t i = 0; i < all.n && !found; i++) found = strcmp(all.paths[i], sl->path) == 0;
        if (!found && !sl->removed) retire(sl, out);
    }
    for (size_t i = 0; i < all.n; i++) {
        struct fy_slot *sl = svc->slots;
        while (sl && strcmp(sl->path, all.paths[i]) != 0) sl = sl->next;
        if (!sl) sl = fy_slot_create(svc, all.paths[i]);
        if (sl) fy_reload_slot(sl, 0, out);
    }
    fy_scripts_free(&all);
}

/* ---- inotify ------------------------------------------------------------------ */

#define SETTLE_MS 300           /* quiet time after a file's last event before it is loaded */

struct fy_watch {
    struct fy_service *svc;
    int fd;
    struct event *ev;           /* the inotify descriptor is readable */
    struct event *settle;       /* SETTLE_MS after the last event */
    int *wd;                    /* watch descriptor per script dir (-1: not watched) */
    size_t ndirs;
    char **dirty;               /* paths changed since the last settle */
    size_t ndirty;
    int rescan;                 /* the kernel's queue overflowed: look at every file */
};

static void settled(evutil_socket_t fd, short what, void *arg) {
    struct fy_watch *w = arg;
    struct fy_service *svc = w->svc;
    FY_UNUSED(fd);
    FY_UNUSED(what);
    char **dirty = w->dirty;
    size_t n = w->ndirty;
    w->dirty = NULL;
    w->ndirty = 0;
    if (w->rescan) {
        w->rescan = 0;
        fy_reload_all(svc, NULL);
    } else {
        for (size_t i = 0; i < n; i++) {
            struct fy_slot *sl = svc->slots;
            while (sl && strcmp(sl->path, dirty[i]) != 0) sl = sl->next;
            struct stat sb;
            if (!sl && stat(dirty[i], &sb) == 0 && S_ISREG(sb.st_mode)) sl = fy_slot_create(svc, dirty[i]);
            if (sl) fy_reload_slot(sl, 0, NULL);
        }
    }
    for (size_t i = 0; i < n; i++) free(dirty[i]);
    free(dirty);
}

static void mark(struct fy_watch *w, const char *dir, const char *name) {
    struct fy_buf path = {0};
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/') dlen--;
    fy_buf_printf(&path, "%.*s/%s", (int)dlen, dir, name);
    for (size_t i = 0; i < w->ndirty; i++)
        if (strcmp(w->dirty[i], path.data) == 0) {
            fy_buf_free(&path);
            return;
        }
    char **d = realloc(w->dirty, (w->ndirty + 1) * sizeof *d);
    if (!d) {
        fy_buf_free(&path);
        w->rescan = 1;
        return;
    }
    w->dirty = d;
    w->dirty[w->ndirty++] = path.data;
}

static void readable(evutil_socket_t fd, short what, void *arg) {
    struct fy_watch *w = arg;
    FY_UNUSED(what);
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int any = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                w->rescan = any = 1;
                continue;
            }
            if (!ev->len || !fy_scripts_is_script(ev->name)) continue;
            for (size_t i = 0; i < w->ndirs; i++)
                if (w->wd[i] == ev->wd) {
                    mark(w, w->svc->e->cfg.script_dirs[i], ev->name);
                    any = 1;
                }
        }
    }
    if (any) {
        struct timeval tv = {0, SETTLE_MS * 1000};
        evtimer_add(w->settle, &tv);             /* re-armed by every event: loads once writes settle */
    }
}

struct fy_watch *fy_watch_create(struct fy_service *svc, char *err, size_t errlen) {
    struct fy_watch *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->svc = svc;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        snprintf(err, errlen, "inotify: %s", strerror(errno));
        free(w);
        return NULL;
    }
    char **dirs = svc->e->cfg.script_dirs;
    while (dirs && dirs[w->ndirs]) w->ndirs++;
    w->wd = calloc(w->ndirs ? w->ndirs : 1, sizeof *w->wd);
    for (size_t i = 0; i < w->ndirs; i++) {
        w->wd[i] = inotify_add_watch(w->fd, dirs[i], IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                                         IN_CREATE | IN_MODIFY);
        if (w->wd[i] < 0) fy_log(FY_LOG_WARN, NULL, "cannot watch script dir %s: %s", dirs[i], strerror(errno));
    }
    w->ev = event_new(svc->e->base, w->fd, EV_READ | EV_PERSIST, readable, w);
    w->settle = evtimer_new(svc->e->base, settled, w);
    if (!w->ev || !w->settle || event_add(w->ev, NULL) != 0) {
        snprintf(err, errlen, "cannot watch the inotify descriptor");
        fy_watch_destroy(w);
        return NULL;
    }
    return w;
}

void fy_watch_destroy(struct fy_watch *w) {
    if (!w) return;
    if (w->ev) event_free(w->ev);
    if (w->settle) event_free(w->settle);
    if (w->fd >= 0) close(w->fd);
    for (size_t i = 0; i < w->ndirty; i++) free(w->dirty[i]);
    free(w->dirty);
    free(w->wd);
    free(w);
}
