/* ferry: the command line: the command table, options and dispatch. The
 * commands themselves are in fy_cmd_*.c (see fy_cmd.h). */
#include "fy_cmd.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_log.h"
#include "fy_secret.h"
#include "fy_serve.h"
#include "fy_suggest.h"

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

static int cmd_version(int argc, char **argv, struct fy_config *cfg) {
    FY_UNUSED(argc);
    FY_UNUSED(argv);
    FY_UNUSED(cfg);
    printf("ferry %s\n%s\n%s\nlibevent %s\nSQLite %s\n", FY_VERSION, LUA_RELEASE, curl_version(),
           event_get_version(), sqlite3_libversion());
    return FY_EXIT_OK;
}

static int serve(int argc, char **argv, struct fy_config *cfg) {
    FY_UNUSED(argv);
    if (argc > 0) {
        fprintf(stderr, "ferry serve: takes no arguments (scripts come from script_dirs)\n");
        return FY_EXIT_USAGE;
    }
    return fy_service_main(cfg);                      /* takes the config over */
}

static const struct command command_table[] = {
    {"run", "[--dry-run] SCRIPT...", "run integration scripts once, concurrently",
     "Runs each script once: extract -> transform -> load, then prints a summary per run\n"
     "(counts per stage and per error class, duration, records/s). Bad records go to\n"
     "the quarantine in the store (see 'ferry quarantine') and the run goes on; open\n"
     "records of the classes policy.retry_quarantined names (lookup_missing, 3 times,\n"
     "by default) are retried first.\n"
     "A SCRIPT is a path, or the file name (with or without .lua) of a script in\n"
     "the config's script_dirs, or the name of the integration a script there defines.\n"
     "--dry-run reads and transforms as a run would and asks the load what it would\n"
     "do, writing nothing (no load, checkpoint, quarantine, state or run record):\n"
     "counts and a sample of creates, updates (field: before -> after) and rejects.\n"
     "Exit status: 0 all loaded, 3 some records quarantined, 1 a run failed, 2 a script\n"
     "is not found or invalid, or the configuration is (nothing runs).",
     fy_cmd_run},
    {"check", "[SCRIPT...]", "validate scripts without running them",
     "Loads each script and checks it against the contract (name, owner, purpose,\n"
     "pattern, source_of_truth, freshness, schedule, policy, hooks). Every problem is\n"
     "printed as FILE:LINE: FIELD: message; a valid script prints a one-line summary.\n"
     "A SCRIPT is found as by 'ferry run'. Without one, checks every script (*.lua)\n"
     "in the config's script_dirs, and that no two define the same integration.\n"
     "Exit status 0 when every script is valid, 1 when any has problems, 2 on a usage\n"
     "or configuration error, or when a script is not found.",
     fy_cmd_check},
    {"lua", "[--trusted] FILE [ARGS...]", "run a Lua file with ferry's modules",
     "Runs a plain Lua file inside a run coroutine, with the global `ferry` table\n"
     "(json, time, csv, jsonl, sqlite, log, sleep, ...). For tests and experiments.\n"
     "It runs in the same sandbox as an integration script; --trusted gives it\n"
     "Lua's io and os and any path, as a trusted grant does.\n"
     "Arguments are passed as the chunk's varargs (...). Exit status 1 on error.",
     fy_cmd_lua},
    {"connectors", "", "list the installed connectors",
     "Lists the connectors a script can require (\"contrib.NAME\"): those in contrib/\n"
     "beside ferry's Lua library, then those in the config's connector_dirs. For each:\n"
     "its system, version and API, the streams it reads, the operations it offers,\n"
     "its authentication and where it was found. A connector that fails to load is\n"
     "listed with its error. --json for machines.\n"
     "Exit status 0, or 1 when a connector fails to load.",
     fy_cmd_connectors},
    {"test", "[PATH...]", "run scripts' and connectors' own tests against fixtures",
     "Runs test files (*_test.lua, found under each PATH, or without one beside the\n"
     "scripts of script_dirs and in the connectors' folders). A test file declares\n"
     "cases with ferry.test: a fixture HTTP server on 127.0.0.1 answering with recorded\n"
     "responses and simulated failures (a 401 mid-run, a 429 storm, a new field, an\n"
     "unknown picklist value), the script under test run for real with 'ferry run' on\n"
     "a data directory of its own, and assertions on its run, the rows it loaded, its\n"
     "quarantine and the requests it sent. Prints 'ok FILE: CASE' or 'not ok FILE: CASE:\n"
     "why' per case and 'N passed, N failed'. FERRY_TEST_KEEP=1 keeps the systems'\n"
     "data directories. Exit status 0 when every case passed, 1 otherwise, 2 when\n"
     "there is nothing to run.",
     fy_cmd_test},
    {"status", "", "what ran, what is stale, per integration",
     "One line per integration that has run with this data directory: its last run\n"
     "and status, its last good run (ok or partial), whether its data is stale (no\n"
     "good run within the freshness the script declares) or never run, how many of\n"
     "its records are open in the quarantine, with the oldest one's age, and its last\n"
     "replay. A replay reads nothing from the source: it never counts as the last run\n"
     "or makes the data fresh. Under an integration: its schedule and next run, a\n"
     "pause (since when, why), a script that failed to reload, a run skipped since the\n"
     "last, webhook events in its inbox: how many are pending and the age of the\n"
     "oldest, how many failed (see 'ferry events'). With a ferry serve running, a first\n"
     "line names it (pid, admin address). --json for machines (stale_reason says why\n"
     "stale; inbox_pending, inbox_oldest, inbox_failed).",
     fy_cmd_status},
    {"runs", "NAME", "run history of one integration",
     "The latest runs of NAME, newest first: status (ok, partial, failed, aborted),\n"
     "trigger (manual, or replay), when, how long, counts per stage, the checkpoint\n"
     "and the first error. --limit N (default 20), --json for machines (every column\n"
     "in full). A run killed mid-way shows as aborted.",
     fy_cmd_runs},
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
     fy_cmd_quarantine},
    {"events", "[NAME] | show ID | add SCRIPT", "the webhook inbox: events received, pending, done, failed",
     "  [NAME] [--status pending|done|failed] [--limit N] [--before ID]\n"
     "      Events that webhooks delivered, newest first, 50 (--limit) per page: id,\n"
     "      integration, hook, status, when received, the run that handled it, body\n"
     "      size, the sender's delivery id. The footer names the next page (--before ID).\n"
     "      pending: stored and acknowledged, waiting for a run (a paused integration\n"
     "      holds them); done: its run loaded or skipped it; failed: its record is in\n"
     "      the quarantine (see 'ferry quarantine'), replayable from there.\n"
     "  show ID            one event in full: headers (secrets removed), the body as\n"
     "      text when it is UTF-8, else its size.\n"
     "  add SCRIPT [--header \"Name: value\"]... [--delivery-id ID] < BODY\n"
     "      Puts an event into the script's inbox by hand, as its hook would after\n"
     "      checking the signature: a delivery the sender gave up on, copied from its\n"
     "      log, or a test's event. The next run of SCRIPT handles it ('ferry run').\n"
     "      Needs the data directory to itself (not while ferry serve runs).\n"
     "The rest read the store, also while ferry serve runs. --json for machines (the same\n"
     "JSON as the admin API's /api/v1/events). 'ferry status' shows each\n"
     "integration's pending count and the age of its oldest pending event.",
     fy_cmd_events},
    {"alerts", "[NAME] | ack ID | test CHANNEL", "what ferry told people: open and past alerts",
     "  [NAME] [--open] [--limit N]\n"
     "      Alerts newest first: id, integration, kind (auth, failed, stale, suspect,\n"
     "      schema_drift, ...), status (open, acked, resolved), when it opened and was\n"
     "      last seen, how often, its messages and its summary. --open: open ones only.\n"
     "  ack ID --reason TEXT\n"
     "      Acknowledge an open alert: its reminders stop; an escalation already due\n"
     "      still goes out; it resolves when its cause clears.\n"
     "  test CHANNEL [--integration NAME]\n"
     "      Sends a test notice to CHANNEL, a channel of the config's alerts.channels\n"
     "      (\"ops\" or \"webhook:ops\"), \"log\", or \"owner\" (the email channel of\n"
     "      alerts.owner, to the owner that integration NAME declares), with the\n"
     "      channel's retries, and says what happened. --integration NAME: the notice\n"
     "      is about that integration (its name and owner in the message). Exit\n"
     "      status 0 when delivered, 1 when not (the reason on stderr), 2 when the\n"
     "      channel or the integration is unknown.\n"
     "Reads the store, also while ferry serve runs. --json for machines (the same\n"
     "JSON as the admin API's /api/v1/alerts).",
     fy_cmd_alerts},
    {"reset", "NAME", "forget an integration's checkpoint",
     "Removes the committed checkpoint of NAME, so its next run starts from the\n"
     "beginning (ctx.cursor is nil). Asks for confirmation; --yes skips the question\n"
     "and is required when not run from a terminal.",
     fy_cmd_reset},
    {"backup", "PATH", "copy the store to a file, safely while ferry runs",
     "Copies DATA_DIR/ferry.db (run history, checkpoints, state, the quarantine) to\n"
     "PATH with SQLite's online backup, while other ferry processes go on running.\n"
     "The copy is checked (quick_check) and made mode 0600; an existing PATH is kept\n"
     "unless --force. To restore: stop ferry, copy the backup over ferry.db, remove\n"
     "ferry.db-wal and ferry.db-shm, start ferry again.",
     fy_cmd_backup},
    {"serve", "", "run integrations on their schedules, as a service",
     "Loads every script of script_dirs (a broken one is reported with FILE:LINE and\n"
     "skipped), runs each integration on its schedule, reloads a script when its file\n"
     "changes (or on SIGHUP), and answers the admin API. SIGTERM or SIGINT stops it:\n"
     "runs in progress end at their next checkpoint, or are stopped after\n"
     "shutdown_grace and recorded as aborted. See the README, \"Running as a service\".",
     serve},
    {"trigger", "NAME [--no-wait]", "start a run now in the running service",
     "Asks the ferry serve that holds the data directory to start a run of NAME now,\n"
     "waits for it to end and prints its summary as 'ferry run' does (--no-wait: print\n"
     "the run id and return at once; 'ferry runs NAME' follows it). One run of an\n"
     "integration at a time: while one is going, trigger fails (exit 1).\n"
     "Exit status: 0 all loaded, 3 some records quarantined, 1 the run failed (or\n"
     "could not start), 2 no service is running, or NAME is unknown to it.",
     fy_cmd_trigger},
    {"pause", "NAME [--reason TEXT]", "stop scheduling an integration",
     "Pauses NAME: the service starts no scheduled run of it until 'ferry resume'\n"
     "(a run in progress goes on; 'ferry trigger' still runs it). 'ferry status' shows\n"
     "since when and why. Without a running service, marks the store, and ferry serve\n"
     "honours the mark when it starts.",
     fy_cmd_pause},
    {"resume", "NAME", "schedule a paused integration again",
     "Resumes NAME after 'ferry pause': its schedule applies again. Without a running\n"
     "service, clears the mark in the store.",
     fy_cmd_resume},
    {"reload", "[NAME]", "reload scripts in the running service",
     "Asks the running service to reload the script of NAME, or of every script of\n"
     "script_dirs (new files are loaded, removed ones retired). A changed script that\n"
     "fails to load leaves the previous version running; each is printed with its\n"
     "result (reloaded, unchanged, added, removed, failed with FILE:LINE).\n"
     "Exit status 1 when any failed, 2 when no service is running.",
     fy_cmd_reload},
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
        } else if (!strcmp(a, "--open") && takes(cmd, "alerts")) {
            fy_flags.open = 1;
        } else if (!strcmp(a, "--json") && takes(cmd, "status runs quarantine events alerts connectors")) {
            fy_flags.json = 1;
        } else if (!strcmp(a, "--dry-run") && takes(cmd, "run")) {
            fy_flags.dry_run = 1;
        } else if (!strcmp(a, "--no-wait") && takes(cmd, "trigger")) {
            fy_flags.no_wait = 1;
        } else if (!strcmp(a, "--trusted") && takes(cmd, "lua")) {
            fy_flags.trusted = 1;
        } else if (!strcmp(a, "--force") && takes(cmd, "backup")) {
            args[nargs++] = argv[i];                  /* the command reads it */
        } else if ((!strcmp(a, "--header") || !strcmp(a, "--delivery-id")) && takes(cmd, "events")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ferry %s: %s needs a value\n", cmd->name, a);
                free(args);
                return FY_EXIT_USAGE;
            }
            args[nargs++] = argv[i];                  /* ferry events add reads both */
            args[nargs++] = argv[++i];
        } else if ((!strcmp(a, "--yes") || !strcmp(a, "-y")) && takes(cmd, "reset")) {
            fy_flags.yes = 1;
        } else if ((!strcmp(a, "--limit") && takes(cmd, "runs quarantine events alerts")) ||
                   (!strcmp(a, "--after") && takes(cmd, "runs quarantine")) ||
                   (!strcmp(a, "--before") && takes(cmd, "events"))) {
            long long v;
            if (i + 1 >= argc || fy_cmd_parse_id(argv[i + 1], &v) != FY_OK ||
                (strcmp(a, "--before") && v > 1000000000)) {
                fprintf(stderr, "ferry %s: %s needs a positive number\n", cmd->name, a);
                free(args);
                return FY_EXIT_USAGE;
            }
            i++;
            if (!strcmp(a, "--limit")) fy_flags.limit = (int)v;
            else if (!strcmp(a, "--before")) fy_flags.before = v;
            else fy_flags.after = v;
        } else if (!strcmp(a, "--integration") && takes(cmd, "alerts")) {
            if (i + 1 >= argc || !*argv[i + 1]) {
                fprintf(stderr, "ferry %s: %s needs a value\n", cmd->name, a);
                free(args);
                return FY_EXIT_USAGE;
            }
            fy_flags.integration = argv[++i];
        } else if (!strcmp(a, "--status") && takes(cmd, "events")) {
            const char *v = i + 1 < argc ? argv[i + 1] : "";
            if (strcmp(v, "pending") && strcmp(v, "done") && strcmp(v, "failed")) {
                fprintf(stderr, "ferry %s: --status takes pending, done or failed, got '%s'\n", cmd->name, v);
                free(args);
                return FY_EXIT_USAGE;
            }
            fy_flags.status = argv[++i];
        } else if (((!strcmp(a, "--class") || !strcmp(a, "--status") || !strcmp(a, "--script")) &&
                    takes(cmd, "quarantine")) || (!strcmp(a, "--reason") && takes(cmd, "quarantine pause alerts"))) {
            if (i + 1 >= argc || !*argv[i + 1]) {
                fprintf(stderr, "ferry %s: %s needs a value\n", cmd->name, a);
                free(args);
                return FY_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--class")) fy_flags.class_ = v;
            else if (!strcmp(a, "--reason")) fy_flags.reason = v;
            else if (!strcmp(a, "--script")) fy_flags.script = v;
            else if (strcmp(v, "open") && strcmp(v, "resolved") && strcmp(v, "discarded") && strcmp(v, "all")) {
                fprintf(stderr, "ferry %s: --status takes open, resolved, discarded or all, got '%s'\n", cmd->name, v);
                free(args);
                return FY_EXIT_USAGE;
            } else {
                fy_flags.status = v;
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
