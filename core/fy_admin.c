/* The admin listener: binding, the bearer token, routing, limits and JSON
 * bodies; see fy_admin.h. The endpoints are in fy_admin_api.c. */
#include "fy_admin.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_json.h"
#include "fy_log.h"
#include "fy_metrics.h"
#include "fy_serve.h"
#include "fy_time.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <lauxlib.h>
#include <lua.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Seconds a connection may sit without sending or taking data: a client
 * that sends half a request is dropped after this, and never holds up the
 * others (every connection is an event on the one loop). */
#define ADMIN_TIMEOUT 10
/* libevent reads a body up to this before any handler sees it (and answers
 * a larger one 413 itself); the handlers take FY_ADMIN_MAX_BODY. */
#define ADMIN_READ_LIMIT (1024 * 1024)

struct fy_admin {
    struct fy_service *svc;        /* what the endpoints act on */
    struct evhttp *http;           /* the listener, on the service's loop */
    char *token;                   /* NULL: no authentication (loopback only) */
    int metrics_open;              /* GET /metrics needs no token: the listener is loopback, or
                                      admin.metrics = "open" */
    lua_State *L;                  /* decodes request bodies (fy_json_decode) */
};

int fy_admin_token_equal(const char *token, const char *given, size_t n) {
    /* Compare digests, so neither the length nor the first differing byte
     * of the token shows in the time taken. */
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int la = 0, lb = 0;
    if (!EVP_Digest(token, strlen(token), a, &la, EVP_sha256(), NULL) ||
        !EVP_Digest(given, n, b, &lb, EVP_sha256(), NULL))
        return 0;
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

int fy_admin_is_loopback(const char *host) {
    struct in_addr a4;
    struct in6_addr a6;
    if (!strcasecmp(host, "localhost")) return 1;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

/* ---- answering ------------------------------------------------------------ */

static const char *reason_phrase(int code) {
    switch (code) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 503: return "Service Unavailable";
    default: return code >= 500 ? "Internal Server Error" : "Error";
    }
}

/* Send b as the body: JSON unless `type` says otherwise. */
static void send_body(struct evhttp_request *req, int code, struct fy_buf *b, const char *type) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *body = evbuffer_new();
    evhttp_add_header(h, "Content-Type", type ? type : "application/json; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (body) {
        if (b->len && b->data[b->len - 1] != '\n') fy_buf_putc(b, '\n');
        evbuffer_add(body, b->data ? b->data : "", b->len);
    }
    evhttp_send_reply(req, code, reason_phrase(code), body);
    if (body) evbuffer_free(body);
}

int fy_admin_fail(struct fy_admin_call *c, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fy_buf_reset(&c->out);
    fy_buf_puts(&c->out, "{\"error\":");
    fy_buf_json_string(&c->out, msg, strlen(msg));
    fy_buf_puts(&c->out, "}\n");
    return code;
}

const char *fy_admin_query(struct fy_admin_call *c, const char *key) {
    return c->query ? evhttp_find_header(c->query, key) : NULL;
}

/* ---- the JSON body ---------------------------------------------------------- */

/* Push body field key (nil when there is no body). */
static int body_field(struct fy_admin_call *c, const char *key) {
    if (lua_type(c->L, 1) != LUA_TTABLE) {
        lua_pushnil(c->L);
        return LUA_TNIL;
    }
    int t = lua_getfield(c->L, 1, key);
    if (t == LUA_TLIGHTUSERDATA && !lua_touserdata(c->L, -1)) {   /* JSON null */
        lua_pop(c->L, 1);
        lua_pushnil(c->L);
        return LUA_TNIL;
    }
    return t;
}

int fy_admin_body_string(struct fy_admin_call *c, const char *key, const char **out) {
    int t = body_field(c, key);
    *out = NULL;
    if (t == LUA_TNIL) {
        lua_pop(c->L, 1);
        return 0;
    }
    if (t != LUA_TSTRING) {
        lua_pop(c->L, 1);
        fy_admin_fail(c, 400, "\"%s\" must be a string", key);
        return -1;
    }
    *out = lua_tostring(c->L, -1);      /* the body table keeps it alive */
    lua_pop(c->L, 1);
    return 1;
}

int fy_admin_body_ids(struct fy_admin_call *c, const char *key, long long **ids, size_t *n) {
    int t = body_field(c, key);
    *ids = NULL;
    *n = 0;
    if (t == LUA_TNIL) {
        lua_pop(c->L, 1);
        return 0;
    }
    size_t len = t == LUA_TTABLE ? lua_rawlen(c->L, -1) : 0;
    if (len > 100000) goto bad;
    if (t != LUA_TTABLE || len == 0) goto bad;
    *ids = calloc(len, sizeof **ids);
    for (size_t i = 0; i < len; i++) {
        int isnum = 0;
        lua_Integer v = 0;
        if (lua_rawgeti(c->L, -1, (lua_Integer)i + 1) == LUA_TNUMBER) v = lua_tointegerx(c->L, -1, &isnum);
        lua_pop(c->L, 1);
        if (!isnum || v <= 0) goto bad;
        (*ids)[i] = v;
    }
    lua_pop(c->L, 1);
    *n = len;
    return 1;
bad:
    lua_pop(c->L, 1);
    free(*ids);
    *ids = NULL;
    fy_admin_fail(c, 400, "\"%s\" must be a non-empty array of record ids (positive integers)", key);
    return -1;
}

/* Decode the request body into c->L at index 1: nothing sent is nil. 0, or
 * the status of an error written to c->out (400, 413). */
static int read_body(struct fy_admin_call *c, const char *fields) {
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t len = evbuffer_get_length(in);
    char err[256];
    lua_settop(c->L, 0);
    if (len > FY_ADMIN_MAX_BODY)
        return fy_admin_fail(c, 413, "the body is %zu bytes; the limit is %d", len, FY_ADMIN_MAX_BODY);
    if (len == 0) {
        lua_pushnil(c->L);
        return 0;
    }
    if (!fields) return fy_admin_fail(c, 400, "this endpoint takes no body");
    const char *data = (const char *)evbuffer_pullup(in, -1);
    if (fy_json_decode(c->L, data, len, err, sizeof err) != FY_OK)
        return fy_admin_fail(c, 400, "the body is not valid JSON: %s", err);
    if (lua_type(c->L, 1) != LUA_TTABLE || lua_rawlen(c->L, 1) > 0 || lua_getmetatable(c->L, 1))
        return fy_admin_fail(c, 400, "the body must be a JSON object");
    lua_pushnil(c->L);
    while (lua_next(c->L, 1)) {
        lua_pop(c->L, 1);
        const char *k = lua_type(c->L, -1) == LUA_TSTRING ? lua_tostring(c->L, -1) : "";
        size_t kn = strlen(k);
        const char *p = fields;
        int known = 0;
        while (*k && !known && (p = strstr(p, k))) {
            known = (p == fields || p[-1] == ' ') && (p[kn] == ' ' || p[kn] == '\0');
            p += kn;
        }
        if (!known) {
            int code = fy_admin_fail(c, 400, "unknown field \"%s\"%s%s", k, *fields ? "; this endpoint takes: " : "",
                                     fields);
            lua_settop(c->L, 0);
            return code;
        }
    }
    return 0;
}

/* ---- routing ---------------------------------------------------------------- */

/* Does the pattern match the path's segments? Fills c->arg and c->id. */
static int match(const char *pattern, char **seg, int nseg, struct fy_admin_call *c) {
    int i = 0;
    for (const char *p = pattern; *p; i++) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (i >= nseg) return 0;
        if (n == 1 && *p == '*') {
            c->arg = seg[i];
        } else if (n == 1 && *p == '#') {
            char *end;
            if (seg[i][0] < '1' || seg[i][0] > '9') return 0;
            long long v = strtoll(seg[i], &end, 10);
            if (*end || v <= 0) return 0;
            c->arg = seg[i];
            c->id = v;
        } else if (strlen(seg[i]) != n || memcmp(seg[i], p, n)) {
            return 0;
        }
        p += n + (e != NULL);
    }
    return i == nseg;
}

/* Split the path into decoded segments (malloc'd). -1 when it is not a
 * path (a segment decodes to a NUL or a slash, or too many). */
static int split_path(const char *path, char **seg) {
    int n = 0;
    while (*path == '/') path++;
    while (*path) {
        const char *e = strchr(path, '/');
        size_t len = e ? (size_t)(e - path) : strlen(path);
        if (n == FY_ADMIN_MAX_SEGMENTS) goto bad;
        char *raw = strndup(path, len);
        size_t dlen = 0;
        seg[n] = evhttp_uridecode(raw, 0, &dlen);
        free(raw);
        if (!seg[n] || dlen != strlen(seg[n]) || strchr(seg[n], '/')) {
            free(seg[n]);
            goto bad;
        }
        n++;
        path += len;
        while (*path == '/') path++;
    }
    return n;
bad:
    while (n > 0) free(seg[--n]);
    return -1;
}

static int authorized(struct fy_admin *a, struct evhttp_request *req) {
    if (!a->token) return 1;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    while (*h == ' ') h++;
    return fy_admin_token_equal(a->token, h, strlen(h));
}

static void on_request(struct evhttp_request *req, void *arg) {
    struct fy_admin *a = arg;
    struct fy_admin_call c = {.svc = a->svc, .req = req, .L = a->L};
    struct evkeyvalq query = {0};
    char *seg[FY_ADMIN_MAX_SEGMENTS] = {0};
    int nseg = -1, code, cmd = evhttp_request_get_command(req);
    int method = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD ? FY_ADMIN_GET : cmd == EVHTTP_REQ_POST ? FY_ADMIN_POST : 0;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

    TAILQ_INIT(&query);
    if (path) nseg = split_path(path, seg);
    int public = nseg == 1 && (!strcmp(seg[0], "healthz") || !strcmp(seg[0], "readyz"));
    int metrics = nseg == 1 && !strcmp(seg[0], "metrics");
    const char *type = NULL;                    /* the body's Content-Type; NULL: JSON */
    if (!public && !(metrics && a->metrics_open) && !authorized(a, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer realm=\"ferry\"");
        code = fy_admin_fail(&c, 401, "missing or wrong bearer token (Authorization: Bearer TOKEN, "
                                      "the admin.token of the config)");
        goto reply;
    }
    if (nseg < 0) {
        code = fy_admin_fail(&c, 404, "no such path");
        goto reply;
    }
    const char *q = evhttp_uri_get_query(uri);
    if (q && evhttp_parse_query_str(q, &query) != 0) {
        code = fy_admin_fail(&c, 400, "the query string is malformed");
        goto reply;
    }
    c.query = &query;
    if (metrics) {                              /* Prometheus text, not JSON */
        if (method != FY_ADMIN_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
            code = fy_admin_fail(&c, 405, "method not allowed; this path takes GET, HEAD");
            goto reply;
        }
        char err[512];
        if (fy_metrics_render(fy_service_store(a->svc), &c.out, err, sizeof err) != FY_OK) {
            code = fy_admin_fail(&c, 500, "cannot read the store for metrics: %s", err);
            goto reply;
        }
        code = 200;
        type = "text/plain; version=0.0.4; charset=utf-8";
        goto reply;
    }
    const struct fy_admin_route *found = NULL;
    char allow[32] = "";
    for (const struct fy_admin_route *r = fy_admin_routes; r->fn; r++) {
        struct fy_admin_call probe = {0};
        if (!match(r->pattern, seg, nseg, &probe)) continue;
        if (r->method == method && !found) {
            found = r;
            c.arg = probe.arg;
            c.id = probe.id;
        }
        const char *m = r->method == FY_ADMIN_GET ? "GET, HEAD" : "POST";
        if (!strstr(allow, m)) snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", *allow ? ", " : "", m);
    }
    if (!found && !*allow) {
        code = fy_admin_fail(&c, 404, "no such path (the API is under /api/v1/)");
    } else if (!found) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        code = fy_admin_fail(&c, 405, "method not allowed; this path takes %s", allow);
    } else if (!(code = read_body(&c, found->fields))) {
        code = found->fn(&c);
    }
reply:
    if (code >= 500 || fy_log_enabled(FY_LOG_DEBUG)) {
        struct fy_buf f = {0};
        fy_buf_puts(&f, "\"method\":");
        const char *m = method == FY_ADMIN_GET ? "GET" : method == FY_ADMIN_POST ? "POST" : "other";
        fy_buf_json_string(&f, m, strlen(m));
        fy_buf_puts(&f, ",\"path\":");
        fy_buf_json_string(&f, path ? path : "", path ? strlen(path) : 0);
        fy_buf_printf(&f, ",\"status\":%d", code);
        fy_log_write(code >= 500 ? FY_LOG_ERROR : FY_LOG_DEBUG, NULL, NULL, "admin request", f.data);
        fy_buf_free(&f);
    }
    send_body(req, code, &c.out, type);
    fy_buf_free(&c.out);
    evhttp_clear_headers(&query);
    lua_settop(a->L, 0);
    for (int i = 0; i < nseg; i++) free(seg[i]);
}

/* ---- the listener ------------------------------------------------------------ */

int fy_admin_bind(struct evhttp *http, const char *key, const char *listen, char *bound, size_t boundcap, char *err,
                  size_t errlen) {
    char host[256];
    int port;
    if (fy_config_parse_listen(listen, host, sizeof host, &port) != FY_OK) {
        snprintf(err, errlen, "%s: '%s' is not HOST:PORT", key, listen);
        return FY_ERR;
    }
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!sock) {
        snprintf(err, errlen, "%s: cannot listen on %s (in use, or not an address of this machine)", key, listen);
        return FY_ERR;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    int bport = port;
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
            bport = ntohs(s6->sin6_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
            bport = ntohs(s4->sin_port);
        }
    }
    if (bound) snprintf(bound, boundcap, strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, bport);
    return FY_OK;
}

struct fy_admin *fy_admin_create(struct fy_service *svc, struct event_base *base, const char *listen,
                                 const char *token, char *bound, size_t boundcap, char *err, size_t errlen) {
    char host[256];
    int port;
    if (!listen || fy_config_parse_listen(listen, host, sizeof host, &port) != FY_OK) {
        snprintf(err, errlen, "admin.listen: '%s' is not HOST:PORT (say \"127.0.0.1:8787\")", listen ? listen : "");
        return NULL;
    }
    if (token && !*token) token = NULL;
    int loopback = fy_admin_is_loopback(host);
    if (!token && !loopback) {
        snprintf(err, errlen, "admin.listen: %s is not a loopback address and admin.token is not set: anyone who "
                              "can reach it could drive ferry. Set admin.token (from the environment: "
                              "token = os.getenv(\"FERRY_ADMIN_TOKEN\")) or listen on 127.0.0.1", listen);
        return NULL;
    }
    struct fy_admin *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->svc = svc;
    a->metrics_open = loopback || (svc && fy_service_config(svc)->admin.metrics_open);
    fy_metrics_started(fy_time_now());
    if (token && !(a->token = strdup(token))) goto oom;
    if (!(a->L = luaL_newstate()) || !(a->http = evhttp_new(base))) goto oom;
    lua_newtable(a->L);                         /* what fy_json_decode marks arrays with */
    lua_rawsetp(a->L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    evhttp_set_timeout(a->http, ADMIN_TIMEOUT);
    evhttp_set_max_body_size(a->http, ADMIN_READ_LIMIT);
    evhttp_set_max_headers_size(a->http, 16 * 1024);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(a->http, on_request, a);
    if (fy_admin_bind(a->http, "admin.listen", listen, bound, boundcap, err, errlen) != FY_OK) {
        fy_admin_destroy(a);
        return NULL;
    }
    return a;
oom:
    snprintf(err, errlen, "admin: out of memory");
    fy_admin_destroy(a);
    return NULL;
}

void fy_admin_destroy(struct fy_admin *a) {
    if (!a) return;
    if (a->http) evhttp_free(a->http);
    if (a->L) lua_close(a->L);
    if (a->token) {
        memset(a->token, 0, strlen(a->token));
        free(a->token);
    }
    free(a);
}
