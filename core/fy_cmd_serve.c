/* The commands that drive a running `ferry serve` through its admin API
 * (fy_client.c): trigger, pause, resume, reload, and the forms of
 * quarantine replay|discard and reset that a service holding the data
 * directory calls for; see fy_cmd.h. */
#include "fy_cmd.h"
#include "fy_buf.h"
#include "fy_client.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "/api/v1/integrations/NAME/what" with NAME percent-encoded. */
static void integration_path(char *out, size_t cap, const char *name, const char *what) {
    struct fy_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            fy_buf_putc(&b, (char)*p);
        else
            fy_buf_printf(&b, "%%%02X", *p);
    }
    snprintf(out, cap, "/api/v1/integrations/%s%s%s", b.data ? b.data : "", *what ? "/" : "", what);
    fy_buf_free(&b);
}

/* The service's answer: 0 on a 2xx; otherwise say why as "ferry CMD:
 * message" and return the exit status (2 for a refused token, an unknown
 * name or a bad request, 1 otherwise). */
static int answered(const struct fy_client *c, const char *cmd, long status, struct fy_buf *resp) {
    if (status >= 200 && status < 300) return FY_EXIT_OK;
    char *msg = fy_client_error(resp->data);
    if (status == 401)
        fprintf(stderr, "ferry %s: the service (pid %ld) refused the token: set admin.token in the config to the "
                        "service's\n", cmd, c->pid);
    else
        fprintf(stderr, "ferry %s: %s\n", cmd, msg);
    free(msg);
    return status == 401 || status == 404 || status == 400 || status == 422 ? FY_EXIT_USAGE : FY_EXIT_FAILED;
}

/* Call the service and take its answer as answered() does; no answer is
 * said so too (exit 1). The body is in resp. */
static int call(const struct fy_client *c, const char *cmd, const char *method, const char *path, const char *body,
                struct fy_buf *resp, long *status) {
    char err[FY_ERRLEN];
    if (fy_client_call(c, method, path, body, status, resp, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry %s: %s\n", cmd, err);
        return FY_EXIT_FAILED;
    }
    return answered(c, cmd, *status, resp);
}

static int no_service(const char *cmd, const struct fy_config *cfg, const char *instead) {
    fprintf(stderr, "ferry %s: no ferry serve is running for the data directory %s (start one with 'ferry serve'%s%s)\n",
            cmd, cfg->data_dir, instead ? ", or " : "", instead ? instead : "");
    return FY_EXIT_USAGE;
}

static long long num(const char *run, const char *key) {
    char *v = fy_client_field(run, key);
    long long n = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return n;
}

/* Print a finished run's record as `ferry run` prints its summary; the exit
 * status `ferry run` would have given. */
static int print_run(const struct fy_client *c, const char *run) {
    char *name = fy_client_field(run, "integration"), *id = fy_client_field(run, "id"),
         *status = fy_client_field(run, "status"), *trigger = fy_client_field(run, "trigger"),
         *error = fy_client_field(run, "error"), *cp = fy_client_field(run, "checkpoint"),
         *secs = fy_client_field(run, "seconds"), *verdict = fy_client_field(run, "verdict"),
         *why = fy_client_field(run, "verdict_reason");
    int replay = trigger && !strcmp(trigger, "replay"), rc;
    const char *shown;
    if (!status) status = strdup("?");
    if (!strcmp(status, "ok")) shown = "OK", rc = FY_EXIT_OK;
    else if (!strcmp(status, "partial")) shown = "PARTIAL", rc = FY_EXIT_PARTIAL;
    else if (!strcmp(status, "failed")) shown = "FAILED", rc = FY_EXIT_FAILED;
    else if (!strcmp(status, "aborted")) shown = "ABORTED", rc = FY_EXIT_FAILED;
    else if (!strcmp(status, "skipped")) shown = "SKIPPED", rc = FY_EXIT_FAILED;
    else shown = status, rc = FY_EXIT_FAILED;
    int judged = verdict && strcmp(verdict, "null");    /* suspect, incomplete: as ferry run shows it */
    if (judged) rc = FY_EXIT_SUSPECT;
    printf("== %s  run %s  %s%s\n", name ? name : "?", id ? id : "?", shown,
           !judged ? "" : !strcmp(verdict, "suspect") ? " (SUSPECT)" : " (INCOMPLETE)");
    printf(replay ? "   replayed %lld · transformed %lld · skipped %lld · loaded %lld · still failing %lld\n"
                  : "   extracted %lld · transformed %lld · skipped %lld · loaded %lld · quarantined %lld\n",
           num(run, "extracted"), num(run, "transformed"), num(run, "skipped"), num(run, "loaded"),
           num(run, "quarantined"));
    if (cp && strcmp(cp, "null")) printf("   checkpoint: %s\n", cp);
    if (judged) printf("   verdict: %s — %s\n", verdict, why ? why : "");
    if (error && strcmp(error, "null")) printf("   error: %s\n", error);
    printf("   took %.2f s in ferry serve (pid %ld) · see 'ferry runs %s'\n", secs ? strtod(secs, NULL) : 0.0, c->pid,
           name ? name : "NAME");
    free(name), free(id), free(status), free(trigger), free(error), free(cp), free(secs), free(verdict), free(why);
    return rc;
}

/* Wait for run_id to end (polling GET runs/ID), print it, and return the
 * exit status of `ferry run`. The run goes on if we are interrupted. */
static int wait_run(const struct fy_client *c, const char *cmd, const char *run_id) {
    char path[128];
    struct timespec delay = {0, 50 * 1000000L};
    time_t missing_since = 0;
    snprintf(path, sizeof path, "/api/v1/runs/%s", run_id);
    for (;;) {
        struct fy_buf resp = {0};
        long status;
        char err[FY_ERRLEN];
        if (fy_client_call(c, "GET", path, NULL, &status, &resp, err, sizeof err) != FY_OK) {
            fprintf(stderr, "ferry %s: lost the service while waiting for run %s: %s\n", cmd, run_id, err);
            fy_buf_free(&resp);
            return FY_EXIT_FAILED;
        }
        if (status == 200) {
            char *st = fy_client_field(resp.data, "status");
            int going = st && !strcmp(st, "running");
            free(st);
            if (!going) {
                int rc = print_run(c, resp.data);
                fy_buf_free(&resp);
                return rc;
            }
        } else if (status == 404) {             /* not recorded yet */
            if (!missing_since) missing_since = time(NULL);
            if (time(NULL) - missing_since > 10) {
                fprintf(stderr, "ferry %s: run %s was never recorded by the service\n", cmd, run_id);
                fy_buf_free(&resp);
                return FY_EXIT_FAILED;
            }
        } else {
            int rc = call(c, cmd, "GET", path, NULL, &resp, &status);
            fy_buf_free(&resp);
            return rc ? rc : FY_EXIT_FAILED;
        }
        fy_buf_free(&resp);
        nanosleep(&delay, NULL);
        if (delay.tv_nsec < 400 * 1000000L) delay.tv_nsec *= 2;
    }
}

/* After a 202: the run id, and either wait for the run or say it started. */
static int started(const struct fy_client *c, const char *cmd, const char *body, int wait) {
    char *run_id = fy_client_field(body, "run_id"), *name = fy_client_field(body, "integration");
    int rc = FY_EXIT_OK;
    if (!run_id || !strcmp(run_id, "null")) {
        char *note = fy_client_field(body, "note");
        printf("%s\n", note ? note : "nothing was started");
        free(note);
    } else if (!wait) {
        printf("started run %s of %s in ferry serve (pid %ld); follow it with 'ferry runs %s'\n", run_id,
               name ? name : "?", c->pid, name ? name : "NAME");
    } else {
        rc = wait_run(c, cmd, run_id);
    }
    free(run_id);
    free(name);
    return rc;
}

int fy_cmd_trigger(int argc, char **argv, struct fy_config *cfg) {
    if (argc != 1) {
        fprintf(stderr, "ferry trigger: name one integration (see 'ferry status')\n");
        return FY_EXIT_USAGE;
    }
    struct fy_client c;
    if (!fy_client_find(cfg, &c)) return no_service("trigger", cfg, "run it once with 'ferry run NAME'");
    char path[1024];
    long status;
    struct fy_buf resp = {0};
    integration_path(path, sizeof path, argv[0], "trigger");
    int rc = call(&c, "trigger", "POST", path, NULL, &resp, &status);
    if (rc == FY_EXIT_OK) rc = started(&c, "trigger", resp.data, !fy_flags.no_wait);
    fy_buf_free(&resp);
    return rc;
}

/* pause and resume without a service: the mark in the store, which a
 * service reads when it loads the script. */
static int pause_offline(const char *cmd, const char *name, const char *reason, struct fy_config *cfg) {
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s) {
        if (empty) fprintf(stderr, "ferry %s: no integration '%s' in the store (nothing has run yet)\n", cmd, name);
        return FY_EXIT_USAGE;
    }
    int rc = FY_EXIT_OK;
    if (fy_cmd_known(s, cmd, name) <= 0) {
        rc = FY_EXIT_USAGE;
    } else if (fy_store_pause_set(s, name, reason) != FY_OK) {
        fprintf(stderr, "ferry %s: %s\n", cmd, fy_store_error(s));
        rc = FY_EXIT_FAILED;
    } else if (reason) {
        printf("paused %s: %s (no service is running: ferry serve will not schedule it until 'ferry resume %s')\n",
               name, reason, name);
    } else {
        printf("resumed %s (no service is running: ferry serve will schedule it when it starts)\n", name);
    }
    fy_store_close(s);
    return rc;
}

static int pause_or_resume(const char *cmd, int argc, char **argv, struct fy_config *cfg) {
    int pausing = !strcmp(cmd, "pause");
    if (argc != 1) {
        fprintf(stderr, "ferry %s: name one integration (see 'ferry status')\n", cmd);
        return FY_EXIT_USAGE;
    }
    struct fy_client c;
    if (!fy_client_find(cfg, &c))
        return pause_offline(cmd, argv[0], pausing ? (fy_flags.reason ? fy_flags.reason : "paused by an admin") : NULL,
                             cfg);
    char path[1024];
    long status;
    struct fy_buf resp = {0}, body = {0};
    integration_path(path, sizeof path, argv[0], cmd);
    if (pausing && fy_flags.reason) {
        fy_buf_puts(&body, "{\"reason\":");
        fy_buf_json_string(&body, fy_flags.reason, strlen(fy_flags.reason));
        fy_buf_putc(&body, '}');
    }
    int rc = call(&c, cmd, "POST", path, body.data, &resp, &status);
    if (rc == FY_EXIT_OK && pausing) {
        char *reason = fy_client_field(resp.data, "reason");
        printf("paused %s: %s (a run in progress goes on; 'ferry resume %s' schedules it again)\n", argv[0],
               reason ? reason : "", argv[0]);
        free(reason);
    } else if (rc == FY_EXIT_OK) {
        printf("resumed %s\n", argv[0]);
    }
    fy_buf_free(&resp);
    fy_buf_free(&body);
    return rc;
}

int fy_cmd_pause(int argc, char **argv, struct fy_config *cfg) { return pause_or_resume("pause", argc, argv, cfg); }
int fy_cmd_resume(int argc, char **argv, struct fy_config *cfg) { return pause_or_resume("resume", argc, argv, cfg); }

static void print_reloaded(void *arg, const char *item) {
    int *failed = arg;
    char *name = fy_client_field(item, "integration"), *file = fy_client_field(item, "file"),
         *result = fy_client_field(item, "result"), *version = fy_client_field(item, "version"),
         *error = fy_client_field(item, "error");
    int bad = result && !strcmp(result, "failed");
    if (bad) (*failed)++;
    printf("%-10s %s%s%s", result ? result : "?", name && strcmp(name, "null") ? name : "",
           name && strcmp(name, "null") ? " " : "", file && strcmp(file, "null") ? file : "");
    if (version && strcmp(version, "null")) printf(" (version %s)", version);
    if (error && strcmp(error, "null")) printf(": %s%s", error, bad ? " (the previous version keeps running)" : "");
    putchar('\n');
    free(name), free(file), free(result), free(version), free(error);
}

int fy_cmd_reload(int argc, char **argv, struct fy_config *cfg) {
    if (argc > 1) {
        fprintf(stderr, "ferry reload: name one integration, or none to reload every script\n");
        return FY_EXIT_USAGE;
    }
    struct fy_client c;
    if (!fy_client_find(cfg, &c)) return no_service("reload", cfg, NULL);
    char path[1024];
    long status;
    struct fy_buf resp = {0};
    if (argc) integration_path(path, sizeof path, argv[0], "reload");
    else snprintf(path, sizeof path, "/api/v1/reload");
    int rc = call(&c, "reload", "POST", path, NULL, &resp, &status), failed = 0;
    if (rc == FY_EXIT_OK) {
        int n = fy_client_each(resp.data, print_reloaded, &failed);
        if (n == 0) printf("nothing to reload\n");
        if (n < 0) {
            fprintf(stderr, "ferry reload: the service's answer is not a list: %s\n", resp.data);
            rc = FY_EXIT_FAILED;
        }
        if (failed) rc = FY_EXIT_FAILED;
    }
    fy_buf_free(&resp);
    return rc;
}

/* ---- quarantine replay|discard and reset through a running service -------------- */

static void print_skipped(void *arg, const char *item) {
    char *id = fy_client_field(item, "id"), *why = fy_client_field(item, "reason");
    FY_UNUSED(arg);
    fprintf(stderr, "ferry quarantine replay: %s is %s; skipped\n", id ? id : "?", why ? why : "not replayable");
    free(id), free(why);
}

int fy_cmd_service_replay(const struct fy_client *c, int argc, char **argv) {
    struct fy_buf body = {0}, resp = {0};
    long long id;
    int rc = FY_EXIT_USAGE;
    long status;
    if (fy_flags.script) {
        fprintf(stderr, "ferry quarantine replay: ferry serve (pid %ld) holds the data directory and replays with "
                        "the version it runs; --script needs it stopped\n", c->pid);
        return FY_EXIT_USAGE;
    }
    if (fy_cmd_parse_id(argv[0], &id) == FY_OK) {
        if (fy_flags.class_) {
            fprintf(stderr, "ferry quarantine replay: --class goes with an integration name, not ids\n");
            return FY_EXIT_USAGE;
        }
        fy_buf_puts(&body, "{\"ids\":[");
        for (int i = 0; i < argc; i++) {
            if (fy_cmd_parse_id(argv[i], &id) != FY_OK) {
                fprintf(stderr, "ferry quarantine replay: '%s' is not a record id (replay ID... or replay NAME)\n",
                        argv[i]);
                goto done;
            }
            fy_buf_printf(&body, "%s%lld", i ? "," : "", id);
        }
        fy_buf_puts(&body, "]}");
    } else {
        if (argc > 1) {
            fprintf(stderr, "ferry quarantine replay: one integration name at a time\n");
            goto done;
        }
        fy_buf_puts(&body, "{\"integration\":");
        fy_buf_json_string(&body, argv[0], strlen(argv[0]));
        if (fy_flags.class_) {
            fy_buf_puts(&body, ",\"class\":");
            fy_buf_json_string(&body, fy_flags.class_, strlen(fy_flags.class_));
        }
        fy_buf_putc(&body, '}');
    }
    char err[FY_ERRLEN];
    if (fy_client_call(c, "POST", "/api/v1/quarantine/replay", body.data, &status, &resp, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry quarantine replay: %s\n", err);
        rc = FY_EXIT_FAILED;
        goto done;
    }
    char *skipped = fy_client_field(resp.data, "skipped");
    if (skipped) fy_client_each(skipped, print_skipped, NULL);
    free(skipped);
    if (status == 422 && strstr(resp.data, "\"nothing to replay\"")) {
        fprintf(stderr, "ferry quarantine replay: nothing to replay\n");
        rc = FY_EXIT_FAILED;
    } else if ((rc = answered(c, "quarantine replay", status, &resp)) == FY_EXIT_OK) {
        rc = started(c, "quarantine replay", resp.data, 1);
    }
done:
    fy_buf_free(&body);
    fy_buf_free(&resp);
    return rc;
}

static void print_not_discarded(void *arg, const char *item) {
    char *id = fy_client_field(item, "id"), *error = fy_client_field(item, "error");
    fprintf(stderr, "ferry quarantine discard: %s %s\n", id ? id : "?", error ? error : "");
    (*(int *)arg)++;
    free(id), free(error);
}

static void print_discarded(void *arg, const char *item) {
    printf("discarded %s: %s\n", item, (const char *)arg);
}

int fy_cmd_service_discard(const struct fy_client *c, int argc, char **argv) {
    struct fy_buf body = {0}, resp = {0};
    long long id;
    long status;
    int rc = FY_EXIT_USAGE;
    fy_buf_puts(&body, "{\"ids\":[");
    for (int i = 0; i < argc; i++) {
        if (fy_cmd_parse_id(argv[i], &id) != FY_OK) {
            fprintf(stderr, "ferry quarantine discard: '%s' is not a record id\n", argv[i]);
            goto done;
        }
        fy_buf_printf(&body, "%s%lld", i ? "," : "", id);
    }
    fy_buf_puts(&body, "],\"reason\":");
    fy_buf_json_string(&body, fy_flags.reason, strlen(fy_flags.reason));
    fy_buf_putc(&body, '}');
    rc = call(c, "quarantine discard", "POST", "/api/v1/quarantine/discard", body.data, &resp, &status);
    if (rc == FY_EXIT_OK) {
        char *done_ = fy_client_field(resp.data, "discarded"), *not_ = fy_client_field(resp.data, "not_discarded");
        int bad = 0;
        if (done_) fy_client_each(done_, print_discarded, (void *)fy_flags.reason);
        if (not_) fy_client_each(not_, print_not_discarded, &bad);
        if (bad) rc = FY_EXIT_FAILED;
        free(done_), free(not_);
    }
done:
    fy_buf_free(&body);
    fy_buf_free(&resp);
    return rc;
}

int fy_cmd_service_reset(const struct fy_client *c, const char *name, const char *cursor) {
    char path[1024];
    long status;
    struct fy_buf resp = {0};
    integration_path(path, sizeof path, name, "reset");
    int rc = call(c, "reset", "POST", path, NULL, &resp, &status);
    if (rc == FY_EXIT_OK) {
        char *removed = fy_client_field(resp.data, "checkpoint_removed");
        if (removed && !strcmp(removed, "true")) printf("reset %s: checkpoint %s removed\n", name, cursor);
        else printf("%s has no checkpoint; nothing to reset\n", name);
        free(removed);
    }
    fy_buf_free(&resp);
    return rc;
}
