/* ferry quarantine list|show|replay|discard and ferry reset: the commands
 * that read or change what an integration left behind; see fy_cmd.h. */
#include "fy_cmd.h"
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

int fy_cmd_reset(int argc, char **argv, struct fy_config *cfg) {
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
    /* a running service holds the lock: read here, and ask it to reset */
    struct fy_client svc;
    int remote = fy_client_find(cfg, &svc);
    struct fy_store *s = fy_store_open(cfg->data_dir, !remote, cfg->lock_wait, err, sizeof err);
    if (!s) {
        fprintf(stderr, "ferry: %s\n", err);
        return FY_EXIT_USAGE;
    }
    if (fy_cmd_known(s, "reset", argv[0]) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    char *cursor = fy_store_checkpoint_get(s, argv[0]);
    int rc = FY_EXIT_OK;
    if (!cursor) {
        printf("%s has no checkpoint; nothing to reset\n", argv[0]);
    } else if (!fy_flags.yes && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "ferry reset: refusing without --yes when not run from a terminal "
                        "(the next run of %s would start from the beginning)\n", argv[0]);
        rc = FY_EXIT_USAGE;
    } else {
        char answer[16] = "";
        if (!fy_flags.yes) {
            printf("Reset the checkpoint of %s (now %s)? Its next run starts from the beginning. [y/N] ",
                   argv[0], cursor);
            fflush(stdout);
            if (!fgets(answer, sizeof answer, stdin)) answer[0] = '\0';
        }
        if ((fy_flags.yes || answer[0] == 'y' || answer[0] == 'Y') && remote) {
            rc = fy_cmd_service_reset(&svc, argv[0], cursor);
        } else if (fy_flags.yes || answer[0] == 'y' || answer[0] == 'Y') {
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


static int quarantine_list(int argc, char **argv, struct fy_config *cfg) {
    if (argc > 1) {
        fprintf(stderr, "ferry quarantine list: at most one integration name\n");
        return FY_EXIT_USAGE;
    }
    struct fy_quarantine_query q = {
        .integration = argc ? argv[0] : NULL, .class_ = fy_flags.class_, .status = "open",
        .after = fy_flags.after, .limit = fy_flags.limit ? fy_flags.limit : 50,
    };
    if (fy_flags.status) q.status = strcmp(fy_flags.status, "all") ? fy_flags.status : NULL;
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        puts(fy_flags.json ? "[]" : "(the quarantine is empty: nothing has run with this data directory yet)");
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    if (q.integration && fy_cmd_known(s, "quarantine list", q.integration) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    int rc = fy_report_quarantine_list(s, &q, fy_flags.json, stdout) == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
    fy_store_close(s);
    return rc;
}

static int quarantine_show(int argc, char **argv, struct fy_config *cfg) {
    long long id;
    if (argc != 1 || fy_cmd_parse_id(argv[0], &id) != FY_OK) {
        fprintf(stderr, "ferry quarantine show: name one record id (see 'ferry quarantine list')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        fprintf(stderr, "ferry quarantine show: no record %lld in the quarantine\n", id);
        return FY_EXIT_FAILED;
    }
    if (!s) return FY_EXIT_USAGE;
    int r = fy_report_quarantine_show(s, id, fy_flags.json, stdout);
    fy_store_close(s);
    return r == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
}

/* Discarding is a small write to existing rows: it needs no lock, so it
 * works while another ferry process runs integrations. A running service
 * is asked to do it, as it owns the store. */
static int quarantine_discard(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1 || !fy_flags.reason || !*fy_flags.reason) {
        fprintf(stderr, "ferry quarantine discard: name the record ids and say why with --reason TEXT\n");
        return FY_EXIT_USAGE;
    }
    struct fy_client svc;
    if (fy_client_find(cfg, &svc)) return fy_cmd_service_discard(&svc, argc, argv);
    long long *ids = calloc((size_t)argc, sizeof *ids);
    for (int i = 0; i < argc; i++) {
        if (fy_cmd_parse_id(argv[i], &ids[i]) != FY_OK) {
            fprintf(stderr, "ferry quarantine discard: '%s' is not a record id\n", argv[i]);
            free(ids);
            return FY_EXIT_USAGE;
        }
    }
    int empty, rc = FY_EXIT_OK;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s) {
        if (empty) fprintf(stderr, "ferry quarantine discard: the quarantine is empty\n");
        free(ids);
        return empty ? FY_EXIT_FAILED : FY_EXIT_USAGE;
    }
    for (int i = 0; i < argc; i++) {
        char status[16];
        int r = fy_quarantine_discard(s, ids[i], fy_flags.reason, status, sizeof status);
        if (r == 1) {
            printf("discarded %lld: %s\n", ids[i], fy_flags.reason);
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
        if (fy_cmd_parse_id(argv[i], &id) != FY_OK) {
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
 * script), so like `ferry run` it needs the data directory to itself; when
 * a service holds it, the service replays, with the version it runs. */
static int quarantine_replay(int argc, char **argv, struct fy_config *cfg) {
    if (argc < 1) {
        fprintf(stderr, "ferry quarantine replay: name record ids or one integration\n");
        return FY_EXIT_USAGE;
    }
    struct fy_client svc;
    if (fy_client_find(cfg, &svc)) return fy_cmd_service_replay(&svc, argc, argv);
    struct stat sb;
    if (stat(cfg->data_dir, &sb) != 0) {
        fprintf(stderr, "ferry quarantine replay: no data directory %s: nothing to replay\n", cfg->data_dir);
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = fy_cmd_engine(cfg);
    if (!e) return FY_EXIT_USAGE;
    char err[FY_ERRLEN], name[256];
    long long *ids = calloc((size_t)argc, sizeof *ids);
    struct fy_replay replay = {.class_ = fy_flags.class_};
    struct fy_integration *in = NULL;
    char *path = NULL;
    int rc = FY_EXIT_USAGE;
    if (fy_engine_open_store(e, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", err);
        goto cleanup;
    }
    long long first;
    if (fy_cmd_parse_id(argv[0], &first) == FY_OK) {
        if (fy_flags.class_) {
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
        if (fy_cmd_known(e->store, "quarantine replay", name) <= 0) goto cleanup;
        struct fy_quarantine_filter f = {.integration = name, .class_ = fy_flags.class_};
        int n = fy_quarantine_page(e->store, &f, 0, 1, nothing, NULL);
        if (n <= 0) {
            if (n < 0) fprintf(stderr, "ferry: %s\n", fy_store_error(e->store));
            else printf("nothing to replay: no open records of %s%s%s in the quarantine (rows that failed at "
                        "extract are not replayable)\n", name, fy_flags.class_ ? " with class " : "",
                        fy_flags.class_ ? fy_flags.class_ : "");
            rc = n < 0 ? FY_EXIT_FAILED : FY_EXIT_OK;
            goto cleanup;
        }
    }
    path = fy_flags.script ? strdup(fy_flags.script) : fy_store_script_path(e->store, name);
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
    if (fy_integration_run(in, &replay, "replay", NULL) != FY_OK) fy_engine_note_exit(e, FY_EXIT_FAILED);
    fy_engine_dispatch(e);
    rc = e->exit_code;
cleanup:
    fy_integration_destroy(in);
    free(path);
    free(ids);
    fy_engine_destroy(e);
    return rc;
}

int fy_cmd_quarantine(int argc, char **argv, struct fy_config *cfg) {
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
