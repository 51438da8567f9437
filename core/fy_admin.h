/* The admin API of ferry serve: JSON over HTTP under /api/v1/, plus
 * /healthz, /readyz and /metrics (Prometheus text, fy_metrics.h), on
 * libevent's evhttp on the service's own loop.
 * fy_admin.c is the listener (binding, bearer token, routing, limits, JSON
 * bodies); fy_admin_api.c is the endpoints, each a call into fy_serve.h or
 * a report of fy_report.h.
 *
 * Every endpoint but /healthz and /readyz needs `Authorization: Bearer
 * TOKEN` when a token is configured, compared in constant time; /metrics
 * needs none on a loopback listener or with admin.metrics = "open". Without
 * a token only a loopback address may be listened on. Neither the token nor
 * any header is ever logged or echoed. */
#ifndef FY_ADMIN_H
#define FY_ADMIN_H

#include <stddef.h>

#include "fy_buf.h"

struct event_base;
struct evhttp_request;
struct fy_admin;
struct fy_service;

/* Listen on `listen` ("127.0.0.1:8787", "[::1]:8787"; port 0 picks a free
 * one) on base, answering for svc. `token` NULL or "": no authentication,
 * refused unless the address is loopback. The address actually bound goes
 * to `bound` ("127.0.0.1:PORT"). NULL with err set when it cannot. The
 * token is copied. */
struct fy_admin *fy_admin_create(struct fy_service *svc, struct event_base *base, const char *listen,
                                 const char *token, char *bound, size_t boundcap, char *err, size_t errlen);
/* Stop accepting and close every connection. Safe on NULL. */
void fy_admin_destroy(struct fy_admin *a);

/* Is host (an address, or "localhost") a loopback address? */
int fy_admin_is_loopback(const char *host);

/* Bind http to the listen address "HOST:PORT" (port 0: any free one) and
 * write the address bound, "127.0.0.1:PORT", to bound. FY_ERR with err
 * (naming the config key) when it cannot. Shared by the hooks listener. */
struct evhttp;
int fy_admin_bind(struct evhttp *http, const char *key, const char *listen, char *bound, size_t boundcap, char *err,
                  size_t errlen);
/* Is `given` (n bytes) the token? In time that depends only on the token's
 * length, never on where they differ. */
int fy_admin_token_equal(const char *token, const char *given, size_t n);

/* ---- for the endpoints (fy_admin_api.c) ---- */

#define FY_ADMIN_MAX_SEGMENTS 8
#define FY_ADMIN_MAX_BODY (64 * 1024)

/* One request being answered. The handler fills `out` with the JSON body
 * and returns the HTTP status. */
struct fy_admin_call {
    struct fy_service *svc;
    struct evhttp_request *req;
    const char *arg;                 /* the path's '*' or '#' segment, decoded */
    long long id;                    /* the '#' segment as a number */
    struct fy_buf out;               /* the response body (JSON) */
    struct lua_State *L;             /* the JSON body decoded at index 1 (a table), or nil */
    void *query;                     /* struct evkeyvalq of the query string */
};

enum { FY_ADMIN_GET = 1, FY_ADMIN_POST = 2 };

/* A route: method, path pattern under "/" (segments; '*' any name, '#' a
 * positive id), the handler, and the body fields it accepts (space
 * separated; NULL: it takes no body). */
struct fy_admin_route {
    int method;
    const char *pattern;
    int (*fn)(struct fy_admin_call *c);
    const char *fields;
};
extern const struct fy_admin_route fy_admin_routes[];

/* {"error":"message"} into c->out; returns code. */
int fy_admin_fail(struct fy_admin_call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A query parameter, or NULL. */
const char *fy_admin_query(struct fy_admin_call *c, const char *key);
/* Body field `key` as a string: 1 with *out (valid until the call ends), 0
 * when absent or null, -1 when it is not a string (an error is written). */
int fy_admin_body_string(struct fy_admin_call *c, const char *key, const char **out);
/* Body field `key` as an array of positive ids (malloc'd into *ids, count
 * in *n): 1, 0 when absent, -1 when malformed (an error is written). */
int fy_admin_body_ids(struct fy_admin_call *c, const char *key, long long **ids, size_t *n);

#endif
