/* The webhook listener; see fy_hooks.h. */
#include "fy_hooks.h"
#include "fy_admin.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_engine.h"
#include "fy_sig.h"
#include "fy_inbox.h"
#include "fy_json.h"
#include "fy_log.h"
#include "fy_serve.h"
#include "fy_store.h"
#include "fy_time.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

/* Seconds a connection may sit idle or half-sent before it is closed. */
#define HOOKS_TIMEOUT 10

/* An event checked and waiting for the next group commit. */
struct accepted {
    struct accepted *next;
    struct fy_hooks *h;
    struct evhttp_request *req;    /* NULL once the client has gone */
    char *integration, *hook, *delivery_id, *headers;
    char *body;
    size_t body_len;
    char method[8];
    char received_at[40];
    long long id;                  /* in the inbox, once stored */
    int duplicate;                 /* its delivery id was stored before */
};

struct fy_hooks {
    struct fy_service *svc;
    struct evhttp *http;
    lua_State *L;                  /* checks JSON bodies (fy_json_decode) */
    struct accepted *queue, **tail;/* stored by the next commit, in arrival order */
    struct event *commit;          /* the group commit, once the loop has read what is ready */
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Answer with a small JSON body built from fmt. */
static void reply(struct evhttp_request *req, int code, const char *reason, const char *fmt, ...) {
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof body) n = (int)strlen(body);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add(b, body, (size_t)n);
    evhttp_send_reply(req, code, reason, b);
    if (b) evbuffer_free(b);
}

/* {"error": msg} with the status. */
static void fail(struct evhttp_request *req, int code, const char *reason, const char *msg) {
    struct fy_buf b = {0};
    fy_buf_json_string(&b, msg, strlen(msg));
    reply(req, code, reason, "{\"error\":%s}\n", b.data);
    fy_buf_free(&b);
}

/* The request's headers as a JSON object, names in lower case, without
 * the ones that carry credentials (the signature's, Authorization, ...). */
static char *headers_json(struct evhttp_request *req, const struct fy_hook *hook) {
    struct fy_buf b = {0};
    char name[128];
    fy_buf_putc(&b, '{');
    struct evkeyval *kv;
    int first = 1;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next) {
        size_t n = strlen(kv->key);
        if (n >= sizeof name) continue;
        for (size_t i = 0; i <= n; i++) name[i] = (char)tolower((unsigned char)kv->key[i]);
        if (fy_sig_header_is_secret(&hook->sig, name)) continue;
        if (!first) fy_buf_putc(&b, ',');
        first = 0;
        fy_buf_json_string(&b, name, n);
        fy_buf_putc(&b, ':');
        fy_buf_json_string(&b, kv->value, strlen(kv->value));
    }
    fy_buf_putc(&b, '}');
    return b.data;
}

/* The sender's id of this delivery, to store it once however often it is
 * sent: the signed webhook-id (Standard Webhooks), X-GitHub-Delivery, Jira's
 * X-Atlassian-Webhook-Identifier (websub), or a webhook-id header with other
 * schemes. NULL when none (malloc'd). */
static char *delivery_id(struct evhttp_request *req, const struct fy_sig_config *cfg,
                         const struct fy_sig_outcome *sig) {
    const char *id = cfg->scheme == FY_SIG_STANDARD ? sig->id
                   : evhttp_find_header(evhttp_request_get_input_headers(req),
                                        cfg->scheme == FY_SIG_GITHUB   ? "X-GitHub-Delivery"
                                        : cfg->scheme == FY_SIG_WEBSUB ? "X-Atlassian-Webhook-Identifier"
                                                                       : "webhook-id");
    return id && *id && strlen(id) < FY_SIG_ID_MAX ? strdup(id) : NULL;
}

static const char *header_of(void *arg, const char *name) {
    return evhttp_find_header(evhttp_request_get_input_headers(arg), name);
}

static void accepted_free(struct accepted *a) {
    free(a->integration);
    free(a->hook);
    free(a->delivery_id);
    free(a->headers);
    free(a->body);
    free(a);
}

/* The client went away before its answer: its event is stored anyway (and
 * processed once); there is only no one to tell. */
static void client_gone(struct evhttp_connection *con, void *arg) {
    struct accepted *a = arg;
    FY_UNUSED(con);
    a->req = NULL;
}

/* Store every queued event in one transaction, then answer each: 202 once
 * stored (a repeated delivery id is acknowledged as a duplicate, not
 * stored twice), 503 when the store failed (the sender retries). The
 * integrations that got events start an event run when idle. */
static void group_commit(evutil_socket_t fd, short what, void *arg) {
    struct fy_hooks *h = arg;
    struct fy_store *st = fy_service_store(h->svc);
    FY_UNUSED(fd);
    FY_UNUSED(what);
    struct accepted *q = h->queue;
    h->queue = NULL;
    h->tail = &h->queue;
    int ok = fy_store_begin(st) == FY_OK;
    char why[512] = "";
    for (struct accepted *a = q; a && ok; a = a->next) {
        struct fy_event ev = {.integration = a->integration, .hook = a->hook, .delivery_id = a->delivery_id,
                              .received_at = a->received_at, .method = a->method, .headers_json = a->headers,
                              .body = a->body, .body_len = a->body_len};
        ok = fy_inbox_add(st, &ev, &a->duplicate) == FY_OK;
        a->id = ev.id;
    }
    if (ok && fy_store_commit(st) != FY_OK) ok = 0;
    if (!ok) {
        snprintf(why, sizeof why, "%s", fy_store_error(st));
        fy_store_rollback(st);
    }
    for (struct accepted *a = q, *next; a; a = next) {
        next = a->next;
        if (a->req) {
            evhttp_connection_set_closecb(evhttp_request_get_connection(a->req), NULL, NULL);
            if (!ok) fail(a->req, 503, "Service Unavailable", "the event could not be stored; send it again");
            else if (a->duplicate) reply(a->req, 202, "Accepted", "{\"event\":%lld,\"duplicate\":true}\n", a->id);
            else reply(a->req, 202, "Accepted", "{\"event\":%lld}\n", a->id);
        }
        if (ok && !a->duplicate) fy_serve_events_arrived(h->svc, a->integration);
        accepted_free(a);
    }
    if (!ok) fy_log(FY_LOG_ERROR, NULL, "webhook events could not be stored: %s", why);
}

static void on_request(struct evhttp_request *req, void *arg) {
    struct fy_hooks *h = arg;
    const char *uri = evhttp_request_get_uri(req);
    char path[512];
    size_t plen = strcspn(uri, "?#");
    if (strncmp(uri, "/hooks/", 7) != 0 || plen - 7 >= sizeof path || plen == 7) {
        fail(req, 404, "Not Found", "no such hook (hooks are POST /hooks/PATH)");
        return;
    }
    memcpy(path, uri + 7, plen - 7);
    path[plen - 7] = '\0';
    struct fy_slot *sl = fy_serve_hook(h->svc, path);
    if (!sl) {
        fail(req, 404, "Not Found", "no such hook");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        fail(req, 405, "Method Not Allowed", "hooks take POST");
        return;
    }
    if (fy_serve_stopping(h->svc)) {
        fail(req, 503, "Service Unavailable", "ferry is shutting down; send the event again");
        return;
    }
    const struct fy_hook *hook = sl->hook;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    struct fy_sig_outcome sig;
    enum fy_sig_status vs = fy_sig_verify(&hook->sig, hook->secret, hook->secret_len, header_of, req, body, len,
                                          (int64_t)fy_time_now(), &sig);
    if (vs == FY_SIG_SECRET) {                    /* ours, not the sender's */
        fy_log(FY_LOG_ERROR, sl->name, "webhook signature could not be checked: %s", sig.reason);
        fail(req, 500, "Internal Server Error", "the signature could not be checked");
        return;
    }
    if (vs != FY_SIG_OK) {
        fy_log(FY_LOG_WARN, sl->name, "webhook refused (401): %s", sig.reason);
        fail(req, 401, "Unauthorized", sig.reason);
        return;
    }
    if (hook->json) {
        char jerr[256];
        int bad = fy_json_decode(h->L, body, len, jerr, sizeof jerr) != FY_OK;
        lua_settop(h->L, 0);
        if (bad) {
            char msg[320];
            snprintf(msg, sizeof msg, "the body is not JSON: %s", jerr);
            fail(req, 400, "Bad Request", msg);
            return;
        }
    }
    char *delivery = delivery_id(req, &hook->sig, &sig);
    struct accepted *a = calloc(1, sizeof *a);
    if (!a || !(a->body = malloc(len ? len : 1))) {
        free(a);
        free(delivery);
        fail(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    memcpy(a->body, body, len);
    a->body_len = len;
    a->h = h;
    a->req = req;
    a->integration = strdup(sl->name);
    a->hook = strdup(path);
    a->delivery_id = delivery;
    a->headers = headers_json(req, hook);
    snprintf(a->method, sizeof a->method, "POST");
    fy_store_now(a->received_at, sizeof a->received_at);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), client_gone, a);
    *h->tail = a;
    h->tail = &a->next;
    event_active(h->commit, 0, 0);      /* after the loop has read every request that is ready */
}

struct fy_hooks *fy_hooks_create(struct fy_service *svc, struct event_base *base, const char *listen,
                                 size_t max_body, char *bound, size_t boundcap, char *err, size_t errlen) {
    struct fy_hooks *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->svc = svc;
    h->tail = &h->queue;
    if (!(h->L = luaL_newstate()) || !(h->http = evhttp_new(base)) ||
        !(h->commit = event_new(base, -1, 0, group_commit, h))) {
        snprintf(err, errlen, "hooks: out of memory");
        fy_hooks_destroy(h);
        return NULL;
    }
    lua_newtable(h->L);                 /* what fy_json_decode marks arrays with */
    lua_rawsetp(h->L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    evhttp_set_timeout(h->http, HOOKS_TIMEOUT);
    evhttp_set_max_body_size(h->http, (ev_ssize_t)max_body);   /* larger: 413, refused unread */
    evhttp_set_max_headers_size(h->http, 32 * 1024);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(h->http, on_request, h);
    if (fy_admin_bind(h->http, "hooks.listen", listen, bound, boundcap, err, errlen) != FY_OK) {
        fy_hooks_destroy(h);
        return NULL;
    }
    return h;
}

void fy_hooks_destroy(struct fy_hooks *h) {
    if (!h) return;
    for (struct accepted *a = h->queue, *next; a; a = next) {
        next = a->next;
        if (a->req) {
            evhttp_connection_set_closecb(evhttp_request_get_connection(a->req), NULL, NULL);
            fail(a->req, 503, "Service Unavailable", "ferry is shutting down; send the event again");
        }
        accepted_free(a);
    }
    if (h->commit) event_free(h->commit);
    if (h->http) evhttp_free(h->http);
    if (h->L) lua_close(h->L);
    free(h);
}
