/* Engine lifetime and the event loop; see fy_engine.h. */
#include "fy_engine.h"
#include "fy_common.h"
#include "fy_http.h"
#include "fy_json_worker.h"
#include "fy_log.h"
#include "fy_notify.h"
#include "fy_store.h"
#include "fy_time.h"

#include <errno.h>
#include <event2/event.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int has_prelude(const char *dir) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/ferry/prelude.lua", dir);
    return access(path, R_OK) == 0;
}

char *fy_engine_find_lualib(const struct fy_config *cfg) {
    if (cfg->lualib_path) return has_prelude(cfg->lualib_path) ? strdup(cfg->lualib_path) : NULL;
    const char *env = getenv("FERRY_LUALIB");
    if (env && *env) return has_prelude(env) ? strdup(env) : NULL;
    char exe[PATH_MAX], cand[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *dir = dirname(exe);
        const char *rel[] = {"/../lualib", "/lualib", "/../share/ferry/lualib"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(cand, sizeof cand, "%s%s", dir, rel[i]);
            if (has_prelude(cand)) return realpath(cand, NULL);
        }
    }
    snprintf(cand, sizeof cand, "%s/share/ferry/lualib", FY_PREFIX);
    return has_prelude(cand) ? strdup(cand) : NULL;
}

/* mkdir -p, each directory it creates 0700: the data directory holds run
 * history, checkpoints and quarantined records. Existing directories keep
 * the modes their admin gave them (the store warns when they are open). */
static int make_dirs(const char *path, char *err, size_t errlen) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
                return FY_ERR;
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    return FY_OK;
}

int fy_engine_open_store(struct fy_engine *e, char *err, size_t errlen) {
    if (make_dirs(e->cfg.data_dir, err, errlen) != FY_OK) return FY_ERR;
    e->store = fy_store_open(e->cfg.data_dir, 1, e->cfg.lock_wait, err, errlen);
    return e->store ? FY_OK : FY_ERR;
}

struct fy_engine *fy_engine_create(struct fy_config *cfg, char *err, size_t errlen) {
    struct fy_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    e->lualib = fy_engine_find_lualib(&e->cfg);
    if (!e->lualib) {
        snprintf(err, errlen, "cannot find ferry's Lua library (ferry/prelude.lua); set lualib_path "
                              "in the config or FERRY_LUALIB");
        goto fail;
    }
    e->base = event_base_new();
    if (!e->base) {
        snprintf(err, errlen, "cannot create the event loop");
        goto fail;
    }
    return e;
fail:
    fy_engine_destroy(e);
    return NULL;
}

struct fy_http *fy_engine_http(struct fy_engine *e, char *err, size_t errlen) {
    if (!e->http) e->http = fy_http_create(e->base, err, errlen);
    return e->http;
}

struct fy_json_worker *fy_engine_json_worker(struct fy_engine *e, char *err, size_t errlen) {
    if (!e->json_worker) e->json_worker = fy_json_worker_create(e->base, err, errlen);
    return e->json_worker;
}

void fy_engine_destroy(struct fy_engine *e) {
    if (!e) return;
    fy_notify_destroy(e);                       /* before the HTTP client its messages use */
    fy_http_destroy(e->http);
    fy_json_worker_destroy(e->json_worker);
    fy_store_close(e->store);
    if (e->base) event_base_free(e->base);
    fy_config_free(&e->cfg);
    free(e->lualib);
    free(e);
}

/* The last run to finish asks the loop to exit (run_finish in fy_run.c), so
 * idle keep-alive connections do not hold the process. A run can finish
 * before the loop starts (it never yielded) while a run started after it
 * is still waiting: that exit request ends the first pass of the loop with
 * runs in flight, so go round again until none is left or nothing can
 * wake them (no events: the caller reports the stall). */
int fy_engine_dispatch(struct fy_engine *e) {
    do {
        int rc = event_base_dispatch(e->base);
        if (rc < 0) return FY_ERR;
        if (rc == 1) break;                     /* no events left to wait for */
    } while (e->active_runs > 0);
    /* the alerts the runs raised go out before ferry exits (one loop pass
     * at a time: idle connections must not keep us) */
    while (!e->serving && fy_notify_inflight(e) > 0)
        if (event_base_loop(e->base, EVLOOP_ONCE) < 0) return FY_ERR;
    return FY_OK;
}

void fy_engine_note_exit(struct fy_engine *e, int code) {
    static const int severity[] = {[FY_EXIT_OK] = 0, [FY_EXIT_PARTIAL] = 1, [FY_EXIT_SUSPECT] = 2,
                                    [FY_EXIT_USAGE] = 3, [FY_EXIT_FAILED] = 4};
    if (code < 0 || code > FY_EXIT_SUSPECT) code = FY_EXIT_FAILED;
    if (severity[code] > severity[e->exit_code]) e->exit_code = code;
}
