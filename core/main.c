/* ferry: the command line. */
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_integration.h"
#include "fy_log.h"
#include "fy_report.h"
#include "fy_store.h"
#include "fy_run.h"
#include "fy_vm.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <sqlite3.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Flags some commands take; parsed for all, rejected where they mean nothing. */
static struct {
    int json;
    int yes;
    int limit;
} flags = {0, 0, 20};

struct command {
    const char *name;
    const char *args;
    const char *summary;
    const char *help;
    int (*fn)(int argc, char **argv, struct fy_config *cfg);
};

static const struct command *commands(void);

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
        fprintf(out, "  %-8s %-20s %s\n", c->name, c->args, c->summary);
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

static int cmd_run(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1) {
        fprintf(stderr, "ferry run: name at least one script (try 'ferry run --help')\n");
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = engine_for(cfg);
    if (!e) return FY_EXIT_USAGE;
    struct fy_integration **ins = calloc((size_t)argc, sizeof *ins);
    int rc = FY_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        ins[i] = fy_integration_load(e, argv[i], stderr, 0);
        if (!ins[i]) rc = FY_EXIT_USAGE;
    }
    char err[FY_ERRLEN];
    if (rc == FY_EXIT_OK && fy_engine_open_store(e, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", err);
        rc = FY_EXIT_USAGE;
    } else if (rc == FY_EXIT_OK) {
        for (int i = 0; i < argc; i++)
            if (fy_integration_run(ins[i]) != FY_OK) fy_engine_note_exit(e, FY_EXIT_FAILED);
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

static int cmd_check(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1) {
        fprintf(stderr, "ferry check: name at least one script (try 'ferry check --help')\n");
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = engine_for(cfg);
    if (!e) return FY_EXIT_USAGE;
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        struct fy_integration *in = fy_integration_load(e, argv[i], stdout, 1);
        if (!in) bad++;
        fy_integration_destroy(in);
    }
    if (argc > 1) printf("%d of %d scripts ok\n", argc - bad, argc);
    fy_engine_destroy(e);
    return bad ? FY_EXIT_FAILED : FY_EXIT_OK;
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
    struct fy_store *s = fy_store_open(cfg->data_dir, 0, err, sizeof err);
    if (!s) fprintf(stderr, "ferry: %s\n", err);
    return s;
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
    int rc = fy_report_runs(s, argv[0], flags.limit, flags.json, stdout) == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
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
    struct fy_store *s = fy_store_open(cfg->data_dir, 1, err, sizeof err);
    if (!s) {
        fprintf(stderr, "ferry: %s\n", err);
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

static int cmd_version(int argc, char **argv, struct fy_config *cfg) {
    FY_UNUSED(argc);
    FY_UNUSED(argv);
    FY_UNUSED(cfg);
    printf("ferry %s\n%s\n%s\nlibevent %s\nSQLite %s\n", FY_VERSION, LUA_RELEASE, curl_version(),
           event_get_version(), sqlite3_libversion());
    return FY_EXIT_OK;
}

static const struct command command_table[] = {
    {"run", "FILE...", "run integration scripts once, concurrently",
     "Runs each script once: extract -> transform -> load, then prints a summary per run\n"
     "(counts per stage and per error class, duration, records/s). Bad records are\n"
     "quarantined to DATA_DIR/quarantine/NAME.jsonl and the run goes on.\n"
     "Exit status: 0 all loaded, 3 some records quarantined, 1 a run failed, 2 a script\n"
     "or the configuration is invalid (nothing runs).",
     cmd_run},
    {"check", "FILE...", "validate scripts without running them",
     "Loads each script and checks it against the contract (name, owner, purpose,\n"
     "pattern, source_of_truth, freshness, schedule, policy, hooks). Every problem is\n"
     "printed as FILE:LINE: FIELD: message; a valid script prints a one-line summary.\n"
     "Exit status 0 when every script is valid, 1 when any has problems, 2 on a usage\n"
     "or configuration error.",
     cmd_check},
    {"lua", "FILE [ARGS...]", "run a Lua file with ferry's modules",
     "Runs a plain Lua file inside a run coroutine, with the global `ferry` table\n"
     "(json, time, csv, jsonl, sqlite, log, sleep, ...). For tests and experiments.\n"
     "Arguments are passed as the chunk's varargs (...). Exit status 1 on error.",
     cmd_lua},
    {"status", "", "what ran, what is stale, per integration",
     "One line per integration that has run with this data directory: its last run\n"
     "and status, its last good run (ok or partial), and whether its data is stale\n"
     "(no good run within the freshness the script declares). --json for machines.",
     cmd_status},
    {"runs", "NAME", "run history of one integration",
     "The latest runs of NAME, newest first: status (ok, partial, failed, aborted),\n"
     "when, how long, counts per stage and the first error. --limit N (default 20),\n"
     "--json for machines. A run killed mid-way shows as aborted.",
     cmd_runs},
    {"reset", "NAME", "forget an integration's checkpoint",
     "Removes the committed checkpoint of NAME, so its next run starts from the\n"
     "beginning (ctx.cursor is nil). Asks for confirmation; --yes skips the question\n"
     "and is required when not run from a terminal.",
     cmd_reset},
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

int main(int argc, char **argv) {
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
    if (!cmd) {
        fprintf(stderr, "ferry: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return FY_EXIT_USAGE;
    }
    if (!cmd->fn) {                                   /* help [COMMAND] */
        const struct command *c = argc > 2 ? find_command(argv[2]) : NULL;
        if (argc > 2 && !c) {
            fprintf(stderr, "ferry help: unknown command '%s'\n", argv[2]);
            return FY_EXIT_USAGE;
        }
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
        } else if (!strcmp(a, "--json") && (!strcmp(cmd->name, "status") || !strcmp(cmd->name, "runs"))) {
            flags.json = 1;
        } else if ((!strcmp(a, "--yes") || !strcmp(a, "-y")) && !strcmp(cmd->name, "reset")) {
            flags.yes = 1;
        } else if (!strcmp(a, "--limit") && !strcmp(cmd->name, "runs")) {
            if (i + 1 >= argc || atoi(argv[i + 1]) < 1) {
                fprintf(stderr, "ferry %s: --limit needs a positive number\n", cmd->name);
                free(args);
                return FY_EXIT_USAGE;
            }
            flags.limit = atoi(argv[++i]);
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
    char err[FY_ERRLEN];
    fy_config_defaults(&cfg);
    if (config && *config && fy_config_load(&cfg, config, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry: config error: %s\n", err);
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
