/* ferry events [NAME] and ferry events show ID: the webhook inbox, read from
 * the store directly (a reader: it works while ferry serve runs); ferry
 * events add SCRIPT: an event into it by hand (a writer); see fy_cmd.h. */
#include "fy_buf.h"
#include "fy_cmd.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_inbox.h"
#include "fy_integration.h"
#include "fy_json.h"
#include "fy_report.h"
#include "fy_scripts.h"
#include "fy_store.h"
#include "fy_vm.h"

#include <ctype.h>
#include <lauxlib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int events_show(int argc, char **argv, struct fy_config *cfg) {
    long long id;
    if (argc != 1 || fy_cmd_parse_id(argv[0], &id) != FY_OK) {
        fprintf(stderr, "ferry events show: name one event id (see 'ferry events')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        fprintf(stderr, "ferry events show: no event %lld in the inbox\n", id);
        return FY_EXIT_FAILED;
    }
    if (!s) return FY_EXIT_USAGE;
    int r = fy_report_events_show(s, id, fy_flags.json, stdout);
    if (r < 0) fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(fy_store_db(s)));
    fy_store_close(s);
    return r == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
}

/* ---- ferry events add ------------------------------------------------------ */

/* The script's webhook: its path and whether bodies must be JSON (from the
 * spec, as ferry serve reads it). FY_ERR when it has none. */
static int webhook_of(struct fy_integration *in, char *path, size_t cap, int *json) {
    lua_State *L = in->vm->L;
    int top = lua_gettop(L), rc = FY_ERR;
    *json = 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, in->spec_ref);
    if (lua_getfield(L, -1, "trigger") == LUA_TTABLE) {
        int w = lua_getfield(L, -1, "webhook");
        if (w == LUA_TSTRING) {
            snprintf(path, cap, "%s", lua_tostring(L, -1));
            rc = FY_OK;
        } else if (w == LUA_TTABLE) {
            if (lua_getfield(L, -1, "path") == LUA_TSTRING) {
                snprintf(path, cap, "%s", lua_tostring(L, -1));
                rc = FY_OK;
            }
            if (lua_getfield(L, -2, "json") == LUA_TBOOLEAN) *json = lua_toboolean(L, -1);
        }
    }
    lua_settop(L, top);
    return rc;
}

/* Is the body JSON (ferry's strict decoder, as the hook checks)? */
static int json_ok(lua_State *L, const struct fy_buf *body, char *err, size_t errlen) {
    int top = lua_gettop(L);
    int ok = fy_json_decode(L, body->data ? body->data : "", body->len, err, errlen) == FY_OK;
    lua_settop(L, top);
    return ok;
}

/* `ferry events add SCRIPT [--header "Name: value"]... [--delivery-id ID] < BODY`:
 * puts an event into the script's inbox by hand, as its hook would have
 * after checking the signature: a delivery the sender gave up on, copied
 * from its log, or a test's event. The next run of SCRIPT handles it. */
static int events_add(int argc, char **argv, struct fy_config *cfg) {
    const char *script = NULL, *delivery = NULL;
    struct fy_buf headers = {0}, why = {0}, body = {0};
    int rc = FY_EXIT_USAGE, nh = 0;
    fy_buf_putc(&headers, '{');
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "--header") || !strcmp(argv[i], "--delivery-id")) && i + 1 < argc) {
            const char *v = argv[++i];
            if (argv[i - 1][2] == 'd') {
                delivery = v;
                continue;
            }
            const char *colon = strchr(v, ':');
            if (!colon || colon == v) {
                fprintf(stderr, "ferry events add: --header takes \"Name: value\", got \"%s\"\n", v);
                goto out;
            }
            char name[128];
            size_t n = (size_t)(colon - v);
            if (n >= sizeof name) n = sizeof name - 1;
            for (size_t k = 0; k < n; k++) name[k] = (char)tolower((unsigned char)v[k]);
            name[n] = '\0';
            const char *val = colon + 1;
            while (*val == ' ' || *val == '\t') val++;
            if (nh++) fy_buf_putc(&headers, ',');
            fy_buf_json_string(&headers, name, n);
            fy_buf_putc(&headers, ':');
            fy_buf_json_string(&headers, val, strlen(val));
        } else if (!script && argv[i][0] != '-') {
            script = argv[i];
        } else {
            fprintf(stderr, "ferry events add: unexpected '%s' (ferry events add SCRIPT [--header \"Name: value\"]... "
                            "[--delivery-id ID] < BODY)\n", argv[i]);
            goto out;
        }
    }
    fy_buf_putc(&headers, '}');
    if (!script) {
        fprintf(stderr, "ferry events add: name the script whose inbox gets the event; the body comes on stdin\n");
        goto out;
    }
    char chunk[65536];
    size_t n, max = cfg->hooks.max_body;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (body.len + n > max) {
            fprintf(stderr, "ferry events add: the body is larger than hooks.max_body (%zu bytes)\n", max);
            goto out;
        }
        fy_buf_append(&body, chunk, n);
    }
    struct fy_engine *e = fy_cmd_engine(cfg);
    if (!e) goto out;
    char *path = fy_scripts_find(e, script, &why);
    struct fy_integration *in = path ? fy_integration_load(e, path, stderr, 0) : NULL;
    char hook[512], err[FY_ERRLEN];
    int json;
    if (!path) {
        fy_cmd_script_not_found("events add", &why);
    } else if (!in) {
        rc = FY_EXIT_USAGE;
    } else if (webhook_of(in, hook, sizeof hook, &json) != FY_OK) {
        fprintf(stderr, "ferry events add: %s has no webhook (trigger = { webhook = ... }): it reads its source "
                        "itself\n", in->name);
    } else if (json && !json_ok(in->vm->L, &body, err, sizeof err)) {
        fprintf(stderr, "ferry events add: the hook of %s takes JSON and the body is not: %s\n", in->name, err);
    } else if (fy_engine_open_store(e, err, sizeof err) != FY_OK) {
        fprintf(stderr, "ferry events add: %s\n", err);
    } else {
        char now[40];
        fy_store_now(now, sizeof now);
        struct fy_event ev = {.integration = in->name, .hook = hook, .delivery_id = delivery, .received_at = now,
                              .method = "POST", .headers_json = headers.data, .body = body.data ? body.data : "",
                              .body_len = body.len};
        int dup = 0;
        if (fy_store_begin(e->store) != FY_OK || fy_inbox_add(e->store, &ev, &dup) != FY_OK ||
            fy_store_commit(e->store) != FY_OK) {
            fprintf(stderr, "ferry events add: %s\n", fy_store_error(e->store));
            fy_store_rollback(e->store);
            rc = FY_EXIT_FAILED;
        } else if (dup) {
            printf("event %lld of %s already has delivery id %s: not added again\n", ev.id, in->name, delivery);
            rc = FY_EXIT_OK;
        } else {
            printf("event %lld added to the inbox of %s (hook %s); its next run handles it\n", ev.id, in->name, hook);
            rc = FY_EXIT_OK;
        }
    }
    fy_integration_destroy(in);
    free(path);
    fy_engine_destroy(e);
out:
    fy_buf_free(&headers);
    fy_buf_free(&why);
    fy_buf_free(&body);
    return rc;
}

/* `ferry events show ID` shows one event; anything else lists ("show" is
 * never taken for an integration's name). */
int fy_cmd_events(int argc, char **argv, struct fy_config *cfg) {
    if (argc >= 1 && !strcmp(argv[0], "show")) return events_show(argc - 1, argv + 1, cfg);
    if (argc >= 1 && !strcmp(argv[0], "add")) return events_add(argc - 1, argv + 1, cfg);
    if (argc > 1) {
        fprintf(stderr, "ferry events: at most one integration name (or: ferry events show ID)\n");
        return FY_EXIT_USAGE;
    }
    struct fy_events_query q = {
        .integration = argc ? argv[0] : NULL, .status = fy_flags.status, .before = fy_flags.before,
        .limit = fy_flags.limit ? fy_flags.limit : FY_EVENTS_PAGE,
    };
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        puts(fy_flags.json ? "[]" : "(the inbox is empty: nothing has run with this data directory yet)");
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    if (q.integration && fy_cmd_known(s, "events", q.integration) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    int rc = FY_EXIT_OK;
    if (fy_report_events_list(s, &q, fy_flags.json, stdout) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(fy_store_db(s)));
        rc = FY_EXIT_FAILED;
    }
    fy_store_close(s);
    return rc;
}
