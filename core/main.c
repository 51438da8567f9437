/* ferry: the command line. */
#include "fy_buf.h"
#include "fy_cmd_store.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_integration.h"
#include "fy_log.h"
#include "fy_quarantine.h"
#include "fy_report.h"
#include "fy_store.h"
#include "fy_suggest.h"
#include "fy_run.h"
#include "fy_sandbox.h"
#include "fy_scripts.h"
#include "fy_vm.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <sqlite3.h>
#include <lauxlib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Flags some commands take; each is accepted only by the commands it means
 * something to (see takes()). */
static struct {
    int json;
    int yes;
    int trusted;                /* ferry lua --trusted: io, os and any path */
    int limit;                  /* 0: the command's default */
    long long after;
    const char *class_, *status, *reason, *script;
} flags;

struct command {
    const char *name;
    const char *args;
    const char *summary;
    const char *help;
    int (*fn)(int argc, char **argv, struct fy_config *cfg);
};

static const struct command *commands(void);

/* Does `cmd` take an option meant for the space-separated command names? */
static int takes(const struct command *cmd, const char *names) {
    size_t n = strlen(cmd->name);
    for (const char *p = names; (p = strstr(p, cmd->name)); p += n)
        if ((p == names || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
    return 0;
}

static int parse_id(const char *s, long long *id);

static const char *options_help =
    "Options:\n"
    "  -c, --config FILE     engine configuration (default: built-in defaults, or $FERRY_CONFIG)\n"
    "      --log-level L     debug, info, warn, error or off (overrides the config)\n"
    "      --log-format F    json or text (overrides the config)\n"
    "  -h, --help            this help\n";

static void usage(FILE *out) {
    fprintf(out, "ferry %s — an integration engine for business systems\n\n"
                 "Usage: ferry COMMAND [OPTIONS] [ARGS]\n\nCommands:\n", FY_VERSION);
    for (const struct command *c = commands(); c->name; c++)
        fprintf(out, "  %-10s %-24s %s\n", c->name, c->args, c->summary);
    fprintf(out, "\n%s\nExit status: 0 ok, 1 a run failed (or check found problems), 2 usage or\n"
                 "configuration error, 3 the run finished with records quarantined.\n"
                 "Run 'ferry COMMAND --help' for details.\n", options_help);
}

static void command_usage(const struct command *c, FILE *out) {
    fprintf(out, "Usage: ferry %s [OPTIONS] %s\n\n%s\n\n%s", c->name, c->args, c->help, options_help);
}

static struct fy_engine *engine_for(struct fy_config *cfg) {
    char err[FY_ERRLEN];
    struct fy_engine *e = fy_engine_create(cfg, err, sizeof err);
    if (!e) fprintf(stderr, "ferry: %s\n", err);
    return e;
}

/* Print fy_scripts_find's reason for `arg`: its first line after "ferry
 * CMD: ", the rest as they are. */
static void script_not_found(const char *cmd, struct fy_buf *why) {
    fprintf(stderr, "ferry %s: %s\n", cmd, why->data ? why->data : "no such script");
    fy_buf_reset(why);
}

static int cmd_run(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1) {
        fprintf(stderr, "ferry run: name at least one script (try 'ferry run --help')\n");
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = engine_for(cfg);
    if (!e) return FY_EXIT_USAGE;
    struct fy_integration **ins = calloc((size_t)argc, sizeof *ins);
    struct fy_buf why = {0};
    int rc = FY_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        char *path = fy_scripts_find(e, argv[i], &why);
        if (!path) script_not_found("run", &why);
        else ins[i] = fy_integration_load(e, path, stderr, 0);
        if (!ins[i]) rc = FY_EXIT_USAGE;
        free(path);
    }
    fy_buf_free(&why);
    char err[FY_ERRLEN];
    if (rc == FY_EXIT_OK && fy_engine_open_store(e, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", err);
        rc = FY_EXIT_USAGE;
    } else if (rc == FY_EXIT_OK) {
        for (int i = 0; i < argc; i++)
            if (fy_integration_run(ins[i], NULL) != FY_OK) fy_engine_note_exit(e, FY_EXIT_FAILED);
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

static int cmd_check(int argc, char **argv, struct fy_config *cfg) {
    struct fy_engine *e = engine_for(cfg);
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
            script_not_found("check", &why);
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

static int cmd_lua(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1) {
        fprintf(stderr, "ferry lua: name a Lua file (try 'ferry lua --help')\n");
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = engine_for(cfg);
    if (!e) return FY_EXIT_USAGE;
    char err[FY_ERRLEN];
    int rc = FY_EXIT_OK;
    struct fy_vm *vm = fy_vm_create(e, &e->cfg, e->lualib, argv[0], err, sizeof err);
    if (!vm) {
        fprintf(stderr, "ferry: %s\n", err);
        fy_engine_destroy(e);
        return FY_EXIT_USAGE;
    }
    if (flags.trusted) fy_sandbox_trust(vm);
    struct fy_run *run = fy_run_create(e, vm, lua_done, &rc);
    if (fy_vm_loadfile(vm, argv[0]) != LUA_OK) {
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

/* Open the store of the configured data directory for reading. NULL with
 * *empty set when the directory exists but nothing has run there yet (a
 * report of nothing, not an error); NULL alone on an error. */
static struct fy_store *open_reader(struct fy_config *cfg, int *empty) {
    struct stat st;
    char err[FY_ERRLEN];
    char db[4096];
    *empty = 0;
    if (stat(cfg->data_dir, &st) != 0) {
        fprintf(stderr, "ferry: no data directory %s: nothing has run with this configuration\n", cfg->data_dir);
        return NULL;
    }
    snprintf(db, sizeof db, "%s/ferry.db", cfg->data_dir);
    if (stat(db, &st) != 0) {
        *empty = 1;
        return NULL;
    }
    struct fy_store *s = fy_store_open(cfg->data_dir, 0, 0, err, sizeof err);
    if (!s) fprintf(stderr, "ferry: %s\n", err);
    return s;
}

/* Is name an integration the store knows? If not, says so for cmd (with the
 * closest known name) and returns 0; -1 when the store could not be read. */
static int known(struct fy_store *s, const char *cmd, const char *name) {
    char near[256];
    int k = fy_store_integration_known(s, name, near, sizeof near);
    if (k < 0) fprintf(stderr, "ferry %s: %s\n", cmd, fy_store_error(s));
    else if (!k)
        fprintf(stderr, "ferry %s: no integration '%s' in the store%s%s%s (see 'ferry status')\n", cmd, name,
                near[0] ? "; did you mean '" : "", near, near[0] ? "'?" : "");
    return k;
}

static int cmd_status(int argc, char **argv, struct fy_config *cfg) {
    FY_UNUSED(argv);
    if (argc > 0) {
        fprintf(stderr, "ferry status: takes no arguments (try 'ferry runs NAME')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = open_reader(cfg, &empty);
    if (!s && empty) {
        puts(flags.json ? "[]" : "(no integrations have run with this data directory yet)");
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    int rc = fy_report_status(s, flags.json, stdout) == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
    fy_store_close(s);
    return rc;
}

static int cmd_runs(int argc, char **argv, struct fy_config *cfg) {
    if (argc != 1) {
        fprintf(stderr, "ferry runs: name one integration (see 'ferry status')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = open_reader(cfg, &empty);
    if (!s && empty) {
        if (flags.json) puts("[]");
        else printf("(no runs of %s recorded in this data directory)\n", argv[0]);
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    if (known(s, "runs", argv[0]) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    int rc = fy_report_runs(s, argv[0], flags.limit ? flags.limit : 20, flags.json, stdout) == FY_OK
           ? FY_EXIT_OK : FY_EXIT_FAILED;
    fy_store_close(s);
    return rc;
}

static int cmd_reset(int argc, char **argv, struct fy_config *cfg) {
    if (argc != 1) {
        fprintf(stderr, "ferry reset: name one integration\n");
        return FY_EXIT_USAGE;
    }
    char err[FY_ERRLEN];
    struct stat sb;
    if (stat(cfg->data_dir, &sb) != 0) {
        fprintf(stderr, "ferry reset: no data directory %s: nothing to reset\n", cfg->data_dir);
        return FY_EXIT_USAGE;
    }
    struct fy_store *s = fy_store_open(cfg->data_dir, 1, cfg->lock_wait, err, sizeof err);
    if (!s) {
        fprintf(stderr, "ferry: %s\n", err);
        return FY_EXIT_USAGE;
    }
    if (known(s, "reset", argv[0]) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    char *cursor = fy_store_checkpoint_get(s, argv[0]);
    int rc = FY_EXIT_OK;
    if (!cursor) {
        printf("%s has no checkpoint; nothing to reset\n", argv[0]);
    } else if (!flags.yes && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "ferry reset: refusing without --yes when not run from a terminal "
                        "(the next run of %s would start from the beginning)\n", argv[0]);
        rc = FY_EXIT_USAGE;
    } else {
        char answer[16] = "";
        if (!flags.yes) {
            printf("Reset the checkpoint of %s (now %s)? Its next run starts from the beginning. [y/N] ",
                   argv[0], cursor);
            fflush(stdout);
            if (!fgets(answer, sizeof answer, stdin)) answer[0] = '\0';
        }
        if (flags.yes || answer[0] == 'y' || answer[0] == 'Y') {
            if (fy_store_checkpoint_reset(s, argv[0]) < 0) {
                fprintf(stderr, "ferry: %s\n", fy_store_error(s));
                rc = FY_EXIT_FAILED;
            } else {
                printf("reset %s: checkpoint %s removed\n", argv[0], cursor);
            }
        } else {
            printf("nothing changed\n");
            rc = FY_EXIT_FAILED;
        }
    }
    free(cursor);
    fy_store_close(s);
    return rc;
}

/* ---- ferry quarantine list|show|replay|discard --------------------------- */

static int parse_id(const char *s, long long *id) {
    char *end;
    if (!*s || *s < '0' || *s > '9') return FY_ERR;
    *id = strtoll(s, &end, 10);
    return *end || *id <= 0 ? FY_ERR : FY_OK;
}

static int quarantine_list(int argc, char **argv, struct fy_config *cfg) {
    if (argc > 1) {
        fprintf(stderr, "ferry quarantine list: at most one integration name\n");
        return FY_EXIT_USAGE;
    }
    struct fy_quarantine_query q = {
        .integration = argc ? argv[0] : NULL, .class_ = flags.class_, .status = "open",
        .after = flags.after, .limit = flags.limit ? flags.limit : 50,
    };
    if (flags.status) q.status = strcmp(flags.status, "all") ? flags.status : NULL;
    int empty;
    struct fy_store *s = open_reader(cfg, &empty);
    if (!s && empty) {
        puts(flags.json ? "[]" : "(the quarantine is empty: nothing has run with this data directory yet)");
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    if (q.integration && known(s, "quarantine list", q.integration) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    int rc = fy_report_quarantine_list(s, &q, flags.json, stdout) == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
    fy_store_close(s);
    return rc;
}

static int quarantine_show(int argc, char **argv, struct fy_config *cfg) {
    long long id;
    if (argc != 1 || parse_id(argv[0], &id) != FY_OK) {
        fprintf(stderr, "ferry quarantine show: name one record id (see 'ferry quarantine list')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = open_reader(cfg, &empty);
    if (!s && empty) {
        fprintf(stderr, "ferry quarantine show: no record %lld in the quarantine\n", id);
        return FY_EXIT_FAILED;
    }
    if (!s) return FY_EXIT_USAGE;
    int r = fy_report_quarantine_show(s, id, flags.json, stdout);
    fy_store_close(s);
    return r == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
}

/* Discarding is a small write to existing rows: it needs no lock, so it
 * works while another ferry process runs integrations. */
static int quarantine_discard(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1 || !flags.reason || !*flags.reason) {
        fprintf(stderr, "ferry quarantine discard: name the record ids and say why with --reason TEXT\n");
        return FY_EXIT_USAGE;
    }
    long long *ids = calloc((size_t)argc, sizeof *ids);
    for (int i = 0; i < argc; i++) {
        if (parse_id(argv[i], &ids[i]) != FY_OK) {
            fprintf(stderr, "ferry quarantine discard: '%s' is not a record id\n", argv[i]);
            free(ids);
            return FY_EXIT_USAGE;
        }
    }
    int empty, rc = FY_EXIT_OK;
    struct fy_store *s = open_reader(cfg, &empty);
    if (!s) {
        if (empty) fprintf(stderr, "ferry quarantine discard: the quarantine is empty\n");
        free(ids);
        return empty ? FY_EXIT_FAILED : FY_EXIT_USAGE;
    }
    for (int i = 0; i < argc; i++) {
        char status[16];
        int r = fy_quarantine_discard(s, ids[i], flags.reason, status, sizeof status);
        if (r == 1) {
            printf("discarded %lld: %s\n", ids[i], flags.reason);
        } else if (r == 0) {
            fprintf(stderr, "ferry quarantine discard: %lld %s\n", ids[i],
                    *status ? (!strcmp(status, "discarded") ? "was already discarded" : "is resolved, not open")
                            : "is not in the quarantine");
            rc = FY_EXIT_FAILED;
        } else {
            fprintf(stderr, "ferry: %s\n", fy_store_error(s));
            rc = FY_EXIT_FAILED;
            break;
        }
    }
    fy_store_close(s);
    free(ids);
    return rc;
}

/* Which integration the ids belong to; skips (with a note) rows that are
 * not open or failed at extract. Returns the number left in ids, -1 on a
 * usage error (message printed). */
static int replay_ids(struct fy_store *s, int argc, char **argv, long long *ids, char *name, size_t namecap) {
    int n = 0;
    *name = '\0';
    for (int i = 0; i < argc; i++) {
        long long id;
        struct fy_quarantine_info qi;
        if (parse_id(argv[i], &id) != FY_OK) {
            fprintf(stderr, "ferry quarantine replay: '%s' is not a record id (replay ID... or replay NAME)\n", argv[i]);
            return -1;
        }
        int r = fy_quarantine_get(s, id, &qi);
        if (r != 1) {
            fprintf(stderr, "ferry quarantine replay: %s\n", r ? fy_store_error(s) : "no such record");
            if (!r) fprintf(stderr, "  (%lld is not in the quarantine)\n", id);
            return -1;
        }
        if (*name && strcmp(name, qi.integration)) {
            fprintf(stderr, "ferry quarantine replay: %lld belongs to %s, not %s; replay each integration's "
                            "records separately\n", id, qi.integration, name);
            return -1;
        }
        snprintf(name, namecap, "%s", qi.integration);
        if (strcmp(qi.status, "open"))
            fprintf(stderr, "ferry quarantine replay: %lld is %s; skipped\n", id, qi.status);
        else if (!strcmp(qi.stage, "extract"))
            fprintf(stderr, "ferry quarantine replay: %lld failed at extract (the source row itself is bad); "
                            "fix the source and run again, or discard it; skipped\n", id);
        else
            ids[n++] = id;
    }
    return n;
}

static int nothing(void *arg, long long id, const char *stage, const char *record) {
    FY_UNUSED(arg), FY_UNUSED(id), FY_UNUSED(stage), FY_UNUSED(record);
    return FY_OK;
}

/* Replaying runs the integration (transform + load with its current
 * script), so like `ferry run` it needs the data directory to itself. */
static int quarantine_replay(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1) {
        fprintf(stderr, "ferry quarantine replay: name record ids or one integration\n");
        return FY_EXIT_USAGE;
    }
    struct stat sb;
    if (stat(cfg->data_dir, &sb) != 0) {
        fprintf(stderr, "ferry quarantine replay: no data directory %s: nothing to replay\n", cfg->data_dir);
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = engine_for(cfg);
    if (!e) return FY_EXIT_USAGE;
    char err[FY_ERRLEN], name[256];
    long long *ids = calloc((size_t)argc, sizeof *ids);
    struct fy_replay replay = {.class_ = flags.class_};
    struct fy_integration *in = NULL;
    char *path = NULL;
    int rc = FY_EXIT_USAGE;
    if (fy_engine_open_store(e, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", err);
        goto cleanup;
    }
    long long first;
    if (parse_id(argv[0], &first) == FY_OK) {
        if (flags.class_) {
            fprintf(stderr, "ferry quarantine replay: --class goes with an integration name, not ids\n");
            goto cleanup;
        }
        int n = replay_ids(e->store, argc, argv, ids, name, sizeof name);
        if (n < 0) goto cleanup;
        if (n == 0) {
            fprintf(stderr, "ferry quarantine replay: nothing to replay\n");
            rc = FY_EXIT_FAILED;
            goto cleanup;
        }
        replay.ids = ids;
        replay.nids = (size_t)n;
    } else {
        if (argc > 1) {
            fprintf(stderr, "ferry quarantine replay: one integration name at a time\n");
            goto cleanup;
        }
        snprintf(name, sizeof name, "%s", argv[0]);
        if (known(e->store, "quarantine replay", name) <= 0) goto cleanup;
        struct fy_quarantine_filter f = {.integration = name, .class_ = flags.class_};
        int n = fy_quarantine_page(e->store, &f, 0, 1, nothing, NULL);
        if (n <= 0) {
            if (n < 0) fprintf(stderr, "ferry: %s\n", fy_store_error(e->store));
            else printf("nothing to replay: no open records of %s%s%s in the quarantine (rows that failed at "
                        "extract are not replayable)\n", name, flags.class_ ? " with class " : "",
                        flags.class_ ? flags.class_ : "");
            rc = n < 0 ? FY_EXIT_FAILED : FY_EXIT_OK;
            goto cleanup;
        }
    }
    path = flags.script ? strdup(flags.script) : fy_store_script_path(e->store, name);
    if (!path) {
        fprintf(stderr, "ferry quarantine replay: no script recorded for %s; name it with --script FILE\n", name);
        goto cleanup;
    }
    in = fy_integration_load(e, path, stderr, 0);
    if (!in) {
        fprintf(stderr, "ferry quarantine replay: cannot load %s (see above); nothing was replayed\n", path);
        goto cleanup;
    }
    if (strcmp(in->name, name)) {
        fprintf(stderr, "ferry quarantine replay: %s defines the integration %s, not %s\n", path, in->name, name);
        goto cleanup;
    }
    if (fy_integration_run(in, &replay) != FY_OK) fy_engine_note_exit(e, FY_EXIT_FAILED);
    fy_engine_dispatch(e);
    rc = e->exit_code;
cleanup:
    fy_integration_destroy(in);
    free(path);
    free(ids);
    fy_engine_destroy(e);
    return rc;
}

static int cmd_quarantine(int argc, char **argv, struct fy_config *cfg) {
    static const struct { const char *name; int (*fn)(int, char **, struct fy_config *); } subs[] = {
        {"list", quarantine_list}, {"show", quarantine_show},
        {"replay", quarantine_replay}, {"discard", quarantine_discard},
    };
    struct fy_suggest sg;
    fy_suggest_init(&sg, argc ? argv[0] : "");
    for (size_t i = 0; argc > 0 && i < sizeof subs / sizeof subs[0]; i++) {
        if (!strcmp(argv[0], subs[i].name)) return subs[i].fn(argc - 1, argv + 1, cfg);
        fy_suggest_offer(&sg, subs[i].name);
    }
    if (!argc) fprintf(stderr, "ferry quarantine: name a subcommand");
    else if (sg.best) fprintf(stderr, "ferry quarantine: unknown subcommand '%s' (did you mean '%s'?)", argv[0], sg.best);
    else fprintf(stderr, "ferry quarantine: unknown subcommand '%s'", argv[0]);
    fprintf(stderr, ": list, show, replay or discard (see 'ferry quarantine --help')\n");
    return FY_EXIT_USAGE;
}

static int cmd_version(int argc, char **argv, struct fy_config *cfg) {
    FY_UNUSED(argc);
    FY_UNUSED(argv);
    FY_UNUSED(cfg);
    printf("ferry %s\n%s\n%s\nlibevent %s\nSQLite %s\n", FY_VERSION, LUA_RELEASE, curl_version(),
           event_get_version(), sqlite3_libversion());
    return FY_EXIT_OK;
}

static const struct command command_table[] = {
    {"run", "SCRIPT...", "run integration scripts once, concurrently",
     "Runs each script once: extract -> transform -> load, then prints a summary per run\n"
     "(counts per stage and per error class, duration, records/s). Bad records go to\n"
     "the quarantine in the store (see 'ferry quarantine') and the run goes on; open\n"
     "records of the classes policy.retry_quarantined names (lookup_missing, 3 times,\n"
     "by default) are retried first.\n"
     "A SCRIPT is a path, or the file name (with or without .lua) of a script in\n"
     "the config's script_dirs, or the name of the integration a script there defines.\n"
     "Exit status: 0 all loaded, 3 some records quarantined, 1 a run failed, 2 a script\n"
     "is not found or invalid, or the configuration is (nothing runs).",
     cmd_run},
    {"check", "[SCRIPT...]", "validate scripts without running them",
     "Loads each script and checks it against the contract (name, owner, purpose,\n"
     "pattern, source_of_truth, freshness, schedule, policy, hooks). Every problem is\n"
     "printed as FILE:LINE: FIELD: message; a valid script prints a one-line summary.\n"
     "A SCRIPT is found as by 'ferry run'. Without one, checks every script (*.lua)\n"
     "in the config's script_dirs, and that no two define the same integration.\n"
     "Exit status 0 when every script is valid, 1 when any has problems, 2 on a usage\n"
     "or configuration error, or when a script is not found.",
     cmd_check},
    {"lua", "[--trusted] FILE [ARGS...]", "run a Lua file with ferry's modules",
     "Runs a plain Lua file inside a run coroutine, with the global `ferry` table\n"
     "(json, time, csv, jsonl, sqlite, log, sleep, ...). For tests and experiments.\n"
     "It runs in the same sandbox as an integration script; --trusted gives it\n"
     "Lua's io and os and any path, as a trusted grant does.\n"
     "Arguments are passed as the chunk's varargs (...). Exit status 1 on error.",
     cmd_lua},
    {"status", "", "what ran, what is stale, per integration",
     "One line per integration that has run with this data directory: its last run\n"
     "and status, its last good run (ok or partial), whether its data is stale (no\n"
     "good run within the freshness the script declares) or never run, how many of\n"
     "its records are open in the quarantine, with the oldest one's age, and its last\n"
     "replay. A replay reads nothing from the source: it never counts as the last run\n"
     "or makes the data fresh. --json for machines (stale_reason says why stale).",
     cmd_status},
    {"runs", "NAME", "run history of one integration",
     "The latest runs of NAME, newest first: status (ok, partial, failed, aborted),\n"
     "trigger (manual, or replay), when, how long, counts per stage, the checkpoint\n"
     "and the first error. --limit N (default 20), --json for machines (every column\n"
     "in full). A run killed mid-way shows as aborted.",
     cmd_runs},
    {"quarantine", "list|show|replay|discard", "inspect, replay or discard quarantined records",
     "  list [NAME] [--class C] [--status open|resolved|discarded|all] [--limit N] [--after ID]\n"
     "      Quarantined records in id order, 50 (--limit) per page; the footer names the\n"
     "      next page (--after ID). Open records only unless --status says otherwise.\n"
     "  show ID            one record in full: class, reason, attempts, runs, the record.\n"
     "  replay ID... | NAME [--class C] [--script FILE]\n"
     "      Runs transform + load again with the integration's current script (the one\n"
     "      it last ran from, or --script). A record that gets through is resolved; one\n"
     "      that fails again stays open with attempts + 1 and the new reason. Exit 0\n"
     "      when all were resolved, 3 when some still fail.\n"
     "  discard ID... --reason TEXT\n"
     "      Marks open records discarded, with when and why; nothing is deleted.\n"
     "--json prints list and show as JSON.",
     cmd_quarantine},
    {"reset", "NAME", "forget an integration's checkpoint",
     "Removes the committed checkpoint of NAME, so its next run starts from the\n"
     "beginning (ctx.cursor is nil). Asks for confirmation; --yes skips the question\n"
     "and is required when not run from a terminal.",
     cmd_reset},
    {"backup", "PATH", "copy the store to a file, safely while ferry runs",
     "Copies DATA_DIR/ferry.db (run history, checkpoints, state, the quarantine) to\n"
     "PATH with SQLite's online backup, while other ferry processes go on running.\n"
     "The copy is checked (quick_check) and made mode 0600; an existing PATH is kept\n"
     "unless --force. To restore: stop ferry, copy the backup over ferry.db, remove\n"
     "ferry.db-wal and ferry.db-shm, start ferry again.",
     fy_cmd_backup},
    {"version", "", "print versions of ferry and its libraries",
     "Prints ferry's version and the versions of Lua, libcurl, libevent and SQLite.", cmd_version},
    {"help", "[COMMAND]", "show help", "Shows help for ferry or for one command.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static const struct command *commands(void) { return command_table; }

static const struct command *find_command(const char *name) {
    for (const struct command *c = commands(); c->name; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

/* A command that is not one: name it, suggest the closest, and give the
 * one-line usage rather than the whole help. */
static int unknown_command(const char *who, const char *name) {
    struct fy_suggest sg;
    fy_suggest_init(&sg, name);
    for (const struct command *c = commands(); c->name; c++) fy_suggest_offer(&sg, c->name);
    fprintf(stderr, "%s: unknown command '%s'%s%s%s\n"
                    "Usage: ferry COMMAND [OPTIONS] [ARGS] ('ferry --help' lists the commands)\n",
            who, name, sg.best ? " (did you mean '" : "", sg.best ? sg.best : "", sg.best ? "'?)" : "");
    return FY_EXIT_USAGE;
}

int main(int argc, char **argv) {
    /* glibc returns the top of the heap to the system as soon as 128 KB of
     * it is free, and picks the mmap threshold on the fly; a run that turns
     * over megabytes of records or 10 KB bodies then shrinks and regrows its
     * heap all the time, paying a page fault per page each time (a fifth of
     * the HTTP benchmark's CPU). Keep up to 32 MB of free heap; blocks of
     * 4 MB and more are mapped on their own and given back when freed. */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    if (argc < 2) {
        usage(stderr);
        return FY_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return FY_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) argv[1] = "version";
    const struct command *cmd = find_command(argv[1]);
    if (!cmd) return unknown_command("ferry", argv[1]);
    if (!cmd->fn) {                                   /* help [COMMAND] */
        const struct command *c = argc > 2 ? find_command(argv[2]) : NULL;
        if (argc > 2 && !c) return unknown_command("ferry help", argv[2]);
        if (c) command_usage(c, stdout);
        else usage(stdout);
        return FY_EXIT_OK;
    }

    const char *config = getenv("FERRY_CONFIG"), *level = NULL, *format = NULL;
    char **args = calloc((size_t)argc, sizeof *args);
    int nargs = 0, i;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (nargs > 0 && strcmp(cmd->name, "lua") == 0) { args[nargs++] = argv[i]; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            command_usage(cmd, stdout);
            free(args);
            return FY_EXIT_OK;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config") || !strcmp(a, "--log-level") ||
                   !strcmp(a, "--log-format")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ferry %s: %s needs a value\n", cmd->name, a);
                free(args);
                return FY_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (a[1] == 'c' || !strcmp(a, "--config")) config = v;
            else if (!strcmp(a, "--log-level")) level = v;
            else format = v;
        } else if (!strcmp(a, "--json") && takes(cmd, "status runs quarantine")) {
            flags.json = 1;
        } else if (!strcmp(a, "--trusted") && takes(cmd, "lua")) {
            flags.trusted = 1;
        } else if (!strcmp(a, "--force") && takes(cmd, "backup")) {
            args[nargs++] = argv[i];                  /* the command reads it */
        } else if ((!strcmp(a, "--yes") || !strcmp(a, "-y")) && takes(cmd, "reset")) {
            flags.yes = 1;
        } else if ((!strcmp(a, "--limit") || !strcmp(a, "--after")) && takes(cmd, "runs quarantine")) {
            long long v;
            if (i + 1 >= argc || parse_id(argv[i + 1], &v) != FY_OK || v > 1000000000) {
                fprintf(stderr, "ferry %s: %s needs a positive number\n", cmd->name, a);
                free(args);
                return FY_EXIT_USAGE;
            }
            i++;
            if (!strcmp(a, "--limit")) flags.limit = (int)v;
            else flags.after = v;
        } else if ((!strcmp(a, "--class") || !strcmp(a, "--status") || !strcmp(a, "--reason") ||
                    !strcmp(a, "--script")) && takes(cmd, "quarantine")) {
            if (i + 1 >= argc || !*argv[i + 1]) {
                fprintf(stderr, "ferry %s: %s needs a value\n", cmd->name, a);
                free(args);
                return FY_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--class")) flags.class_ = v;
            else if (!strcmp(a, "--reason")) flags.reason = v;
            else if (!strcmp(a, "--script")) flags.script = v;
            else if (strcmp(v, "open") && strcmp(v, "resolved") && strcmp(v, "discarded") && strcmp(v, "all")) {
                fprintf(stderr, "ferry %s: --status takes open, resolved, discarded or all, got '%s'\n", cmd->name, v);
                free(args);
                return FY_EXIT_USAGE;
            } else {
                flags.status = v;
            }
        } else if (!strcmp(a, "--")) {
            for (i++; i < argc; i++) args[nargs++] = argv[i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ferry %s: unknown option '%s' (try 'ferry %s --help')\n", cmd->name, a, cmd->name);
            free(args);
            return FY_EXIT_USAGE;
        } else {
            args[nargs++] = argv[i];
        }
    }

    struct fy_config cfg;
    char err[16384];                                  /* every mistake of the config, one a line */
    fy_config_defaults(&cfg);
    if (config && *config && fy_config_load(&cfg, config, err, sizeof err) != FY_OK) {
        for (char *line = err, *nl; line; line = nl ? nl + 1 : NULL) {
            if ((nl = strchr(line, '\n'))) *nl = '\0';
            fprintf(stderr, "ferry: config error: %s\n", line);
        }
        fy_config_free(&cfg);
        free(args);
        return FY_EXIT_USAGE;
    }
    const char *bad = NULL;
    if (level && fy_log_level_parse(level, &cfg.log_level) != FY_OK)
        bad = "--log-level takes debug, info, warn, error or off";
    else if (format && fy_log_format_parse(format, &cfg.log_format) != FY_OK)
        bad = "--log-format takes json or text";
    if (bad) {
        fprintf(stderr, "ferry: %s, got '%s'\n", bad, level && strstr(bad, "level") ? level : format);
        fy_config_free(&cfg);
        free(args);
        return FY_EXIT_USAGE;
    }
    fy_log_setup(cfg.log_level, cfg.log_format, stderr);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmd->fn(nargs, args, &cfg);
    fy_config_free(&cfg);
    curl_global_cleanup();
    fy_secret_clear();
    free(args);
    return rc;
}
