/* ferry alerts: the alert history (ferry alerts [NAME] [--open] [--json]),
 * acknowledging an alert (ferry alerts ack ID --reason TEXT), both read and
 * written in the store directly (they work while ferry serve runs; see
 * fy_alert.h), and checking a channel (ferry alerts test CHANNEL). Each
 * subcommand is a row of the table in fy_cmd_alerts and a function of its
 * own; a first argument that is none of them is an integration's name. */
#include "fy_alert.h"
#include "fy_buf.h"
#include "fy_cmd.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_integration.h"
#include "fy_notify.h"
#include "fy_report.h"
#include "fy_scripts.h"
#include "fy_store.h"
#include "fy_time.h"
#include "fy_vm.h"

#include <event2/event.h>
#include <lua.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int alerts_ack(int argc, char **argv, struct fy_config *cfg) {
    long long id;
    if (argc != 1 || fy_cmd_parse_id(argv[0], &id) != FY_OK || !fy_flags.reason || !*fy_flags.reason) {
        fprintf(stderr, "ferry alerts ack: name one alert id and say why with --reason TEXT (see 'ferry alerts')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        fprintf(stderr, "ferry alerts ack: no alert %lld\n", id);
        return FY_EXIT_FAILED;
    }
    if (!s) return FY_EXIT_USAGE;
    char err[256];
    int rc = fy_alert_ack(s, id, fy_flags.reason, fy_time_now(), err, sizeof err);
    if (rc == FY_OK) printf("acknowledged alert %lld: %s (no more reminders; it resolves when its cause clears)\n",
                            id, fy_flags.reason);
    else fprintf(stderr, "ferry alerts ack: %s\n", err);
    fy_store_close(s);
    return rc == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
}

/* The alerts, newest first: all, or one integration's. */
static int alerts_list(int argc, char **argv, struct fy_config *cfg) {
    if (argc > 1) {
        fprintf(stderr, "ferry alerts: at most one integration name (or: ferry alerts ack ID --reason TEXT)\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        puts(fy_flags.json ? "[]" : "no alerts");
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    if (argc && fy_cmd_known(s, "alerts", argv[0]) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    int rc = FY_EXIT_OK;
    if (fy_report_alerts(s, fy_flags.open, argc ? argv[0] : NULL, fy_flags.limit, fy_flags.json, stdout) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(fy_store_db(s)));
        rc = FY_EXIT_FAILED;
    }
    fy_store_close(s);
    return rc;
}

static int alerts_test(int argc, char **argv, struct fy_config *cfg);

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv, struct fy_config *cfg);
} subcommands[] = {
    {"ack", alerts_ack},
    {"test", alerts_test},
    {NULL, NULL},
};

int fy_cmd_alerts(int argc, char **argv, struct fy_config *cfg) {
    for (int i = 0; argc > 0 && subcommands[i].name; i++)
        if (!strcmp(argv[0], subcommands[i].name)) return subcommands[i].fn(argc - 1, argv + 1, cfg);
    return alerts_list(argc, argv, cfg);
}

/* ---- ferry alerts test CHANNEL [--integration NAME] ----------------------- */

struct test_send {
    struct fy_engine *engine;
    int finished, ok;
    char error[FY_ERRLEN];
};

static void test_done(void *arg, int ok, const char *error) {
    struct test_send *ts = arg;
    ts->finished = 1;
    ts->ok = ok;
    snprintf(ts->error, sizeof ts->error, "%s", error ? error : "");
    event_base_loopexit(ts->engine->base, NULL);   /* idle keep-alive connections would hold the loop */
}

/* The name and owner the integration `arg` declares, from its script (so
 * it works before the first run). FY_ERR after saying why. */
static int integration_owner(struct fy_engine *e, const char *arg, char **name, char **owner) {
    struct fy_buf why = {0};
    char *path = fy_scripts_find(e, arg, &why);
    if (!path) {
        fy_cmd_script_not_found("alerts test", &why);
        fy_buf_free(&why);
        return FY_ERR;
    }
    struct fy_integration *in = fy_integration_load(e, path, stderr, 0);
    free(path);
    if (!in) return FY_ERR;
    lua_State *L = in->vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->spec_ref);
    lua_getfield(L, -1, "owner");
    *owner = lua_type(L, -1) == LUA_TSTRING ? strdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 2);
    *name = strdup(in->name);
    fy_integration_destroy(in);
    return FY_OK;
}

/* Send a test notice to one channel and say what happened: exit 0 when it
 * was delivered, 1 when it was not (with the reason), 2 when the channel or
 * the integration is unknown. */
static int alerts_test(int argc, char **argv, struct fy_config *cfg) {
    char err[FY_ERRLEN];
    if (argc != 1) {
        fprintf(stderr, "ferry alerts test: name one channel: ferry alerts test CHANNEL [--integration NAME]\n");
        return FY_EXIT_USAGE;
    }
    const char *target = argv[0];
    if (fy_notify_known(cfg, target, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry alerts test: %s\n", err);
        return FY_EXIT_USAGE;
    }
    if (!strcmp(target, "owner") && !fy_flags.integration) {
        fprintf(stderr, "ferry alerts test: 'owner' writes to an integration's owner: name it with "
                        "--integration NAME\n");
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = fy_cmd_engine(cfg);
    if (!e) return FY_EXIT_USAGE;
    char *name = NULL, *owner = NULL;
    if (fy_flags.integration && integration_owner(e, fy_flags.integration, &name, &owner) != FY_OK) {
        fy_engine_destroy(e);
        return FY_EXIT_USAGE;
    }
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    struct fy_buf subject = {0}, text = {0};
    fy_buf_printf(&subject, "[ferry] %s%stest notice to %s", name ? name : "", name ? ": " : "", target);
    fy_buf_printf(&text, "This is a test notice from ferry on %s, sent by 'ferry alerts test %s%s%s'.\n"
                         "Nothing is wrong. If you read this, alerts sent to %s reach you.\n",
                  host, target, name ? " --integration " : "", name ? name : "", target);
    if (name)
        fy_buf_printf(&text, "\nIntegration: %s\nOwner: %s\n", name, owner ? owner : "(none declared)");
    double now = fy_time_now();
    struct fy_notice n = {.alert_id = 0, .integration = name, .owner = owner, .kind = "test", .event = "test",
                          .subject = subject.data, .text = text.data, .opened_at = now};
    struct test_send ts = {.engine = e};
    double t0 = fy_time_monotonic();
    if (fy_notify_send(e, target, &n, test_done, &ts) == FY_OK && !ts.finished) fy_engine_dispatch(e);
    int rc = FY_EXIT_FAILED;
    if (!ts.finished) {
        fprintf(stderr, "ferry alerts test: %s: the message never finished (nothing left to wait for)\n", target);
    } else if (!ts.ok) {
        fprintf(stderr, "ferry alerts test: %s\n", ts.error);
    } else {
        const struct fy_channel *ch = NULL;
        const char *bare = strchr(target, ':') ? strchr(target, ':') + 1 : target;
        if (!strcmp(target, "owner")) printf("sent a test notice to %s (owner of %s)", owner, name);
        else if (!strcmp(target, "log")) printf("wrote a test notice to the log");
        else if ((ch = fy_config_channel(&e->cfg, bare)) && ch->type == FY_CHANNEL_EMAIL) {
            printf("sent a test notice to email %s (", ch->name);
            for (char **a = ch->to; *a; a++) printf("%s%s", a == ch->to ? "" : ", ", *a);
            printf(")");
        } else {
            printf("sent a test notice to webhook %s", bare);
        }
        printf(" in %.2f s\n", fy_time_monotonic() - t0);
        rc = FY_EXIT_OK;
    }
    fy_buf_free(&subject);
    fy_buf_free(&text);
    free(name);
    free(owner);
    fy_engine_destroy(e);
    return rc;
}
