/* ferry run, check and lua: the commands that load scripts; see fy_cmd.h. */
#include "fy_cmd.h"
#include "fy_time.h"
#include "fy_alert.h"
#include "fy_buf.h"
#include "fy_client.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_integration.h"
#include "fy_log.h"
#include "fy_quarantine.h"
#include "fy_report.h"
#include "fy_run.h"
#include "fy_sandbox.h"
#include "fy_scripts.h"
#include "fy_store.h"
#include "fy_suggest.h"
#include "fy_vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fy_cmd_run(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1) {
        fprintf(stderr, "ferry run: name at least one script (try 'ferry run --help')\n");
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = fy_cmd_engine(cfg);
    if (!e) return FY_EXIT_USAGE;
    struct fy_integration **ins = calloc((size_t)argc, sizeof *ins);
    struct fy_buf why = {0};
    int rc = FY_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        char *path = fy_scripts_find(e, argv[i], &why);
        if (!path) fy_cmd_script_not_found("run", &why);
        else ins[i] = fy_integration_load(e, path, stderr, 0);
        if (!ins[i]) rc = FY_EXIT_USAGE;
        free(path);
    }
    fy_buf_free(&why);
    char err[FY_ERRLEN];
    struct fy_client svc;
    if (rc == FY_EXIT_OK && fy_client_find(&e->cfg, &svc)) {
        /* it holds the lock for as long as it runs: say so now, not after lock_wait */
        fprintf(stderr, "ferry run: ferry serve (pid %ld, admin %s) holds the data directory %s; start the run "
                        "there:", svc.pid, svc.admin, e->cfg.data_dir);
        for (int i = 0; i < argc; i++) fprintf(stderr, "%s ferry trigger %s", i ? " ;" : "", ins[i]->name);
        fprintf(stderr, "\n");
        rc = FY_EXIT_USAGE;
    } else if (rc == FY_EXIT_OK && fy_engine_open_store(e, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", err);
        rc = FY_EXIT_USAGE;
    } else if (rc == FY_EXIT_OK) {
        fy_alert_tick(e, fy_time_now());         /* reminders due, messages left to retry */
        for (int i = 0; i < argc; i++) {
            char *why = fy_store_paused(e->store, ins[i]->name);
            if (why) {
                /* paused (by an admin, or by its policy after an auth error): no run, no request */
                fprintf(stderr, "ferry run: %s is paused (%s); 'ferry resume %s' once the cause is fixed\n",
                        ins[i]->name, why, ins[i]->name);
                free(why);
                fy_engine_note_exit(e, FY_EXIT_FAILED);
            } else if ((ins[i]->dry_run = fy_flags.dry_run),
                       fy_integration_run(ins[i], NULL, "manual", NULL) != FY_OK) {
                fy_engine_note_exit(e, FY_EXIT_FAILED);
            }
        }
        fy_engine_dispatch(e);
        if (e->active_runs > 0) {
            fprintf(stderr, "ferry: %d run(s) stalled with nothing left to wait for\n", e->active_runs);
            fy_engine_note_exit(e, FY_EXIT_FAILED);
        }
        rc = e->exit_code;
    } else {
        fprintf(stderr, "ferry run: nothing was run; fix the problems above (see 'ferry check')\n");
    }
    for (int i = 0; i < argc; i++) fy_integration_destroy(ins[i]);
    free(ins);
    fy_engine_destroy(e);
    return rc;
}

/* ferry check with no argument: every script of script_dirs, and no two
 * defining the same integration. */
static int check_all(struct fy_engine *e) {
    struct fy_scripts all;
    fy_scripts_list(&e->cfg, &all);
    for (char **m = all.missing; m && *m; m++) fprintf(stderr, "ferry check: script dir %s\n", *m);
    if (all.n == 0) {
        fprintf(stderr, "ferry check: no scripts (*.lua) in script_dirs:");
        for (char **d = e->cfg.script_dirs; d && *d; d++) fprintf(stderr, " %s", *d);
        fprintf(stderr, " (from %s)\n", e->cfg.path ? e->cfg.path : "the built-in defaults");
        fy_scripts_free(&all);
        return FY_EXIT_USAGE;
    }
    char **names = calloc(all.n, sizeof *names);
    size_t bad = 0;
    for (size_t i = 0; i < all.n; i++) {
        struct fy_integration *in = fy_integration_load(e, all.paths[i], stdout, 1);
        if (!in) {
            bad++;
            continue;
        }
        names[i] = strdup(in->name);
        fy_integration_destroy(in);
        for (size_t j = 0; j < i; j++) {
            if (!names[j] || strcmp(names[j], names[i])) continue;
            printf("%s: name: integration %s is also defined by %s; an integration's name must be unique\n",
                   all.paths[i], names[i], all.paths[j]);
            bad++;
            break;
        }
    }
    printf("%zu of %zu scripts ok\n", all.n - bad, all.n);
    for (size_t i = 0; i < all.n; i++) free(names[i]);
    free(names);
    fy_scripts_free(&all);
    return bad ? FY_EXIT_FAILED : FY_EXIT_OK;
}

int fy_cmd_check(int argc, char **argv, struct fy_config *cfg) {
    struct fy_engine *e = fy_cmd_engine(cfg);
    if (!e) return FY_EXIT_USAGE;
    if (argc == 0) {
        int rc = check_all(e);
        fy_engine_destroy(e);
        return rc;
    }
    struct fy_buf why = {0};
    int bad = 0, unknown = 0;
    for (int i = 0; i < argc; i++) {
        char *path = fy_scripts_find(e, argv[i], &why);
        if (!path) {
            fy_cmd_script_not_found("check", &why);
            unknown++;
            continue;
        }
        struct fy_integration *in = fy_integration_load(e, path, stdout, 1);
        if (!in) bad++;
        fy_integration_destroy(in);
        free(path);
    }
    fy_buf_free(&why);
    if (argc > 1) printf("%d of %d scripts ok\n", argc - bad - unknown, argc);
    fy_engine_destroy(e);
    return unknown ? FY_EXIT_USAGE : bad ? FY_EXIT_FAILED : FY_EXIT_OK;
}

static void lua_done(struct fy_run *run, int nres, void *arg) {
    int *rc = arg;
    lua_pop(run->co, nres);
    if (run->error) {
        fprintf(stderr, "%s\n", run->error);
        *rc = FY_EXIT_FAILED;
    }
}

int fy_cmd_lua(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1) {
        fprintf(stderr, "ferry lua: name a Lua file (try 'ferry lua --help')\n");
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = fy_cmd_engine(cfg);
    if (!e) return FY_EXIT_USAGE;
    char err[FY_ERRLEN];
    int rc = FY_EXIT_OK;
    struct fy_vm *vm = fy_vm_create(e, &e->cfg, e->lualib, argv[0], err, sizeof err);
    if (!vm) {
        fprintf(stderr, "ferry: %s\n", err);
        fy_engine_destroy(e);
        return FY_EXIT_USAGE;
    }
    if (fy_flags.trusted) fy_sandbox_trust(vm);
    struct fy_run *run = fy_run_create(e, vm, lua_done, &rc);
    if (!run) {
        rc = FY_EXIT_FAILED;
    } else if (fy_vm_loadfile(vm, argv[0]) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(vm->L, -1));
        rc = FY_EXIT_USAGE;
    } else {
        lua_xmove(vm->L, run->co, 1);
        for (int i = 1; i < argc; i++) lua_pushstring(run->co, argv[i]);
        e->active_runs++;
        fy_run_resume(run, argc - 1);
        fy_engine_dispatch(e);
    }
    fy_run_destroy(run);
    fy_vm_destroy(vm);
    fy_engine_destroy(e);
    return rc;
}
