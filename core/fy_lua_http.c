/* ferry.http's C half: send requests on the engine's loop and yield the run.
 * lualib/ferry/http.lua builds the specs and the response objects.
 *
 *   response | nil, err = _send(spec)                -- yields; err: class, status, message, ...
 *   results = _send_many(specs, concurrency)         -- yields once; results[i] = response
 *       or { err = err }
 *   response: { status, raw_headers, body, attempts, elapsed, url, method }, and
 *   response and err come with the metatables given by _set_metatables
 *   s = _stream(concurrency)                         -- each(): a stream
 *   waiting = _stream_push(s, spec[, url])           -- starts it when the window has room;
 *       url, when given, is the request's instead of spec's own (a client's
 *       plain GETs to one host share one spec)
 *   i, response, err, waiting = _stream_next(s)      -- yields until one arrives; nil at the end
 *   value | nil, err | nothing = _parsed(response)   -- res:json() from the JSON thread's parse
 *       (a 2xx JSON body of AHEAD_MIN bytes or more); nothing: decode res.body
 *
 * spec: { method, url, headers, limits, base, body, idempotent } by position,
 *   headers = { "Name: value", ... }, limits = { { key, rate = , burst = }, ... },
 *   base = BASE: { timeout, connect_timeout, max_size, max_redirects, ca_file,
 *                  insecure, retry = { attempts, base, max, deadline, retry_500 },
 *                  rate_limit_headers = { remaining, reset, unit } }
 * A client shares one BASE table, one header table and one limits table per
 * host between its requests, so a batch reads each once. */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_engine.h"
#include "fy_http.h"
#include "fy_json.h"
#include "fy_json_worker.h"
#include "fy_log.h"
#include "fy_metrics.h"
#include "fy_run.h"
#include "fy_time.h"
#include "fy_utf8.h"
#include "fy_vm.h"

#include <event2/event.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXCERPT 4096            /* err.body: room for a vendor's validation message (HubSpot lists every option) */
#define DEBUG_BODY (64 << 10)   /* an error response's body in the debug log, at most */
/* A 2xx JSON body of at least AHEAD_MIN bytes is parsed on the engine's
 * JSON thread before the script gets its response, so res:json() on the
 * loop only builds the values from the tape. Smaller ones cost more to
 * hand over than they save. The tape may take AHEAD_BUDGET times the
 * body (a page of CRM records takes about 1.3 times; a list of small
 * numbers up to 8); past that, res:json() decodes on the loop as before. */
#define AHEAD_MIN (64 << 10)
#define AHEAD_BUDGET 3

enum batch_kind {
    ONE,                        /* _send: resume with the values */
    ALL,                        /* _send_many: resume once with the list */
    EACH,                       /* _stream: hand results over as they arrive */
};

struct batch;

struct slot {                   /* one transfer of a batch */
    struct batch *batch;
    struct slot *next_free;
    struct header_list *headers; /* lent to the transfer */
    int index;
    char method[16];
    char url[1024];             /* redacted, for errors */
};

struct batch {                  /* the requests of one _send, _send_many or _stream */
    struct fy_run *run;
    struct fy_http *http;
    lua_State *L;               /* the VM's main thread: builds results while co is suspended */
    enum batch_kind kind;
    int specs_ref;              /* registry: the specs (EACH: a ring of those waiting to start) */
    int results_ref;            /* registry: results by request index (EACH: a ring, as `ready`) */
    int bodies_ref;             /* registry: bodies take_body made Lua strings, by slot, until delivered */
    int total, next, done, inflight, concurrency;
    struct slot *slots, *free_slots;    /* `concurrency` of them */
    /* EACH: finished results wait in a ring, their request indices in `ready`;
     * specs wait in a ring of scap, index k at (k - 1) % scap + 1, and the
     * URLs pushed beside them scap further */
    int *ready, rhead, nready, rcap, scap;
    char *ready_err;            /* EACH: the result in that slot is an error */
    int waiting;                /* the run is suspended in _stream_next on this batch */
    struct event *wake;         /* resumes it once the loop has handed over every result due */
    int pin_ref;                /* the stream's userdata, kept alive while transfers fly */
    /* what the last spec shared with the ones before it, read once */
    const void *base_seen, *limits_seen, *headers_seen;
    struct fy_http_opts base;
    struct fy_bucket *buckets[2];
    struct header_list *headers;    /* the list of headers_seen */
    struct header_list *retired;    /* older ones still lent to a transfer */
    int anchors_ref;            /* registry: the tables cached by address above */
    /* responses whose bodies the JSON thread is parsing: held back from
     * the script until they are parsed (ONE: resumed with nres values) */
    struct ahead *ahead;
    int parsing, nres;
};

#define AHEAD_MT "ferry.http.parsed"

/* A response body parsed ahead of res:json(), a userdata whose user value
 * is the body string; found by the response in a weak table. */
struct ahead {
    struct fy_json_job *job;    /* the parse; NULL once used, refused or cancelled */
    struct fy_json_worker *worker;
    struct fy_vm *vm;
    size_t held;                /* what the job holds, counted against limits.memory */
    struct batch *b;            /* set while the JSON thread has the job: the batch holding the response back */
    struct ahead *next;         /* ... in its list */
    int index;                  /* its request */
    int ref;                    /* EACH: the response, in the registry until handed over */
    double started;             /* fy_time_monotonic at submit, for the debug log */
    char method[16], url[1024]; /* for the debug log */
    struct fy_vm_spare spare;   /* parsed, not used yet: the tape gives way to the script's memory */
};

struct header_list {
    struct curl_slist *list;
    int refs;                   /* transfers using it */
    struct header_list *next;
};

#define STREAM_MT "ferry.http.stream"

struct stream {                 /* the userdata _stream returns */
    struct batch *b;            /* NULL once closed */
};

static double opt_number(lua_State *L, int t, const char *k, double def) {
    lua_getfield(L, t, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

static const char *opt_string(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    const char *v = lua_tostring(L, -1);     /* stays alive in the spec table */
    lua_pop(L, 1);
    return v;
}

/* The settings a client shares between requests, from table t. */
static void read_base(lua_State *L, int t, struct fy_http_opts *o) {
    o->timeout = opt_number(L, t, "timeout", 30);
    o->connect_timeout = opt_number(L, t, "connect_timeout", 10);
    o->max_size = (size_t)opt_number(L, t, "max_size", 64 << 20);
    o->max_redirects = (long)opt_number(L, t, "max_redirects", 5);
    o->ca_file = opt_string(L, t, "ca_file");
    lua_getfield(L, t, "insecure");
    o->insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, t, "retry") == LUA_TTABLE) {
        int r = lua_gettop(L);
        o->retry.attempts = (int)opt_number(L, r, "attempts", 1);
        o->retry.base = opt_number(L, r, "base", 1);
        o->retry.max = opt_number(L, r, "max", 60);
        o->retry.deadline = opt_number(L, r, "deadline", 0);
        lua_getfield(L, r, "retry_500");
        o->retry.retry_500 = lua_toboolean(L, -1);
        lua_pop(L, 1);
    } else {
        o->retry.attempts = 1;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, t, "rate_limit_headers") == LUA_TTABLE) {   /* checked by http.lua */
        int r = lua_gettop(L);
        static const char *units[] = {"auto", "s", "ms", "epoch", "iso8601", NULL};
        o->reset_remaining = opt_string(L, r, "remaining");
        o->reset_header = opt_string(L, r, "reset");
        const char *unit = opt_string(L, r, "unit");
        for (int i = 0; unit && units[i]; i++)
            if (strcmp(unit, units[i]) == 0) o->reset_unit = i;
    }
    lua_pop(L, 1);
}

/* Keep the table on top of L alive in b's anchor slot i while b caches
 * what it read from it by address: a collected table's address can come
 * back as a new table with other contents. */
static void anchor(lua_State *L, struct batch *b, int i) {
    if (b->anchors_ref == LUA_NOREF) {
        lua_createtable(L, 3, 0);
        b->anchors_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->anchors_ref);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, i);
    lua_pop(L, 1);
}

/* The curl list of the header lines in the table on top of L: built once
 * per table and lent to every transfer that uses it (refs), freed when
 * the last is done and another table took its place, or with the batch. */
static struct header_list *headers_for(lua_State *L, struct batch *b) {
    const void *p = lua_topointer(L, -1);
    if (b->headers && b->headers_seen == p) return b->headers;
    struct header_list *hl = calloc(1, sizeof *hl);
    if (!hl) luaL_error(L, "ferry.http: out of memory");
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *hdr = lua_tostring(L, -1);
        struct curl_slist *nl = hdr ? curl_slist_append(hl->list, hdr) : NULL;
        if (nl) hl->list = nl;
        lua_pop(L, 1);
    }
    struct header_list *old = b->headers;
    if (old && !old->refs) {
        curl_slist_free_all(old->list);
        free(old);
    } else if (old) {
        old->next = b->retired;
        b->retired = old;
    }
    b->headers = hl;
    b->headers_seen = p;
    anchor(L, b, 3);
    return hl;
}

static void headers_release(struct batch *b, struct header_list *hl) {
    if (!hl || --hl->refs > 0 || hl == b->headers) return;
    for (struct header_list **pp = &b->retired; *pp; pp = &(*pp)->next) {
        if (*pp != hl) continue;
        *pp = hl->next;
        curl_slist_free_all(hl->list);
        free(hl);
        return;
    }
}

enum { SPEC_METHOD = 1, SPEC_URL, SPEC_HEADERS, SPEC_LIMITS, SPEC_BASE, SPEC_BODY, SPEC_IDEMPOTENT };

/* Fill o from the spec table at t; b caches what specs share (the base
 * settings, the rate limits, the header list), read once per table.
 * Strings stay alive in the spec tables. */
static void read_spec(lua_State *L, int t, struct fy_http_opts *o, size_t *body_len, struct batch *b,
                      struct header_list **hl) {
    memset(o, 0, sizeof *o);
    if (lua_rawgeti(L, t, SPEC_BASE) == LUA_TTABLE) {
        if (b->base_seen != lua_topointer(L, -1)) {
            memset(&b->base, 0, sizeof b->base);
            read_base(L, lua_gettop(L), &b->base);
            b->base_seen = lua_topointer(L, -1);
            anchor(L, b, 1);
        }
        *o = b->base;
    } else {
        read_base(L, t, o);                     /* no such fields: the defaults */
    }
    lua_pop(L, 1);
    lua_rawgeti(L, t, SPEC_METHOD);
    o->method = lua_tostring(L, -1);
    lua_rawgeti(L, t, SPEC_URL);
    o->url = lua_tostring(L, -1);
    lua_rawgeti(L, t, SPEC_BODY);
    o->body = lua_tolstring(L, -1, body_len);
    o->body_len = o->body ? *body_len : 0;
    lua_rawgeti(L, t, SPEC_IDEMPOTENT);
    o->idempotent = lua_toboolean(L, -1);
    lua_pop(L, 4);
    if (lua_rawgeti(L, t, SPEC_LIMITS) == LUA_TTABLE) {
        if (b->limits_seen != lua_topointer(L, -1)) {
            b->buckets[0] = b->buckets[1] = NULL;
            for (int i = 1; i <= 2; i++) {
                if (lua_rawgeti(L, -1, i) == LUA_TTABLE) {
                    int l = lua_gettop(L);
                    lua_rawgeti(L, l, 1);
                    const char *key = lua_tostring(L, -1);
                    lua_pop(L, 1);
                    if (key)
                        b->buckets[i - 1] = fy_http_bucket(b->http, key, opt_number(L, l, "rate", 0),
                                                           opt_number(L, l, "burst", 1));
                }
                lua_pop(L, 1);
            }
            b->limits_seen = lua_topointer(L, -1);
            anchor(L, b, 2);
        }
        o->limits[0] = b->buckets[0];
        o->limits[1] = b->buckets[1];
    }
    lua_pop(L, 1);
    *hl = NULL;
    if (lua_rawgeti(L, t, SPEC_HEADERS) == LUA_TTABLE) {
        *hl = headers_for(L, b);
        o->headers = (*hl)->list;
        o->headers_shared = 1;
    }
    lua_pop(L, 1);
}

/* The response's URL, redacted: the request's own (redacted when it
 * started) unless redirects led elsewhere. Credentials never leave in a URL. */
static void push_url(lua_State *L, const struct fy_http_result *res, const char *url) {
    char eff[1024];
    if (!res->redirected) {
        lua_pushstring(L, url);
        return;
    }
    fy_http_redact_url(res->effective_url, eff, sizeof eff);
    lua_pushstring(L, eff);
}

/* The metatables lualib/ferry/http.lua gives responses and errors
 * (_set_metatables), by the address of these keys in the registry. */
static const char response_mt_key = 'r', error_mt_key = 'e';

static void set_mt(lua_State *L, const char *key) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) lua_setmetatable(L, -2);
    else lua_pop(L, 1);
}

static int slot_number(const struct slot *s) {
    return (int)(s - s->batch->slots) + 1;
}

/* The body of request `s` on top of L: the string take_body made (taken
 * out of the batch's keeping), or a copy of the buffered bytes. */
static void push_body(lua_State *L, const struct fy_http_result *res, const struct slot *s) {
    if (!res->body_taken) {
        lua_pushlstring(L, res->body->data ? res->body->data : "", res->body->len);
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->batch->bodies_ref);
    lua_rawgeti(L, -1, slot_number(s));
    lua_pushnil(L);
    lua_rawseti(L, -3, slot_number(s));
    lua_remove(L, -2);
}

/* A response of _send_many or _stream as one table with its metatable:
 * status, raw_headers, body, attempts, elapsed, url, method. */
static void push_response(lua_State *L, const struct fy_http_result *res, const struct slot *s) {
    const char *method = s->method, *url = s->url;
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, res->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, res->headers->data ? res->headers->data : "", res->headers->len);
    lua_setfield(L, -2, "raw_headers");
    push_body(L, res, s);
    lua_setfield(L, -2, "body");
    lua_pushinteger(L, res->attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushnumber(L, res->elapsed);
    lua_setfield(L, -2, "elapsed");
    push_url(L, res, url);
    lua_setfield(L, -2, "url");
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
    set_mt(L, &response_mt_key);
}

/* The error of a failed transfer as one table with its metatable: class,
 * status, message, method, url, attempts, elapsed, excerpts of body and headers. */
static void push_error(lua_State *L, const struct fy_http_result *res, const char *method, const char *url) {
    lua_createtable(L, 0, 9);
    lua_pushstring(L, res->klass);
    lua_setfield(L, -2, "class");
    if (res->status) {
        lua_pushinteger(L, res->status);
        lua_setfield(L, -2, "status");
    }
    lua_pushstring(L, res->message);
    lua_setfield(L, -2, "message");
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, url);
    lua_setfield(L, -2, "url");
    lua_pushinteger(L, res->attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushnumber(L, res->elapsed);
    lua_setfield(L, -2, "elapsed");
    if (res->body->len) {
        size_t n = res->body->len < EXCERPT ? res->body->len : EXCERPT;
        lua_pushlstring(L, res->body->data, n);
        lua_setfield(L, -2, "body");
    }
    if (res->headers->len) {
        lua_pushlstring(L, res->headers->data, res->headers->len);
        lua_setfield(L, -2, "headers");
    }
    set_mt(L, &error_mt_key);
}

/* A validation error of request `s` that never got a response. */
static void push_plain_error(lua_State *L, const char *message, const struct slot *s, const char *klass) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, klass ? klass : "validation");
    lua_setfield(L, -2, "class");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    lua_pushstring(L, s->url);
    lua_setfield(L, -2, "url");
    lua_pushstring(L, s->method);
    lua_setfield(L, -2, "method");
    set_mt(L, &error_mt_key);
}

static struct batch *batch_new(struct fy_run *run, struct fy_http *h, enum batch_kind kind, int concurrency) {
    struct batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->slots = calloc((size_t)concurrency, sizeof *b->slots);
    b->rcap = kind == EACH ? 2 * concurrency : 0;
    b->scap = 2 * concurrency;
    b->ready = b->rcap ? calloc((size_t)b->rcap, sizeof *b->ready) : NULL;
    b->ready_err = b->rcap ? calloc((size_t)b->rcap, 1) : NULL;
    if (!b->slots || (b->rcap && (!b->ready || !b->ready_err))) {
        free(b->slots);
        free(b->ready);
        free(b->ready_err);
        free(b);
        return NULL;
    }
    for (int i = concurrency - 1; i >= 0; i--) {
        b->slots[i].batch = b;
        b->slots[i].next_free = b->free_slots;
        b->free_slots = &b->slots[i];
    }
    b->run = run;
    b->http = h;
    b->L = run->vm->L;
    b->kind = kind;
    b->concurrency = concurrency;
    b->specs_ref = b->results_ref = b->bodies_ref = b->pin_ref = b->anchors_ref = LUA_NOREF;
    return b;
}

/* Forget a's parse: the job cancelled (still the JSON thread's) or freed,
 * its memory given back. Before ahead_unlink, which tells them apart. */
static void ahead_drop(struct ahead *a) {
    fy_vm_spare_remove(a->vm, &a->spare);
    if (a->b) fy_json_worker_cancel(a->worker, a->job);
    else fy_json_job_free(a->job);
    a->job = NULL;
    fy_vm_hold(a->vm, &a->held, 0);
}

/* A spare tape given back under memory pressure (inside the allocator:
 * ahead_drop calls no Lua): res:json() decodes res.body on the loop instead. */
static void ahead_spare_drop(struct fy_vm_spare *sp) {
    ahead_drop((struct ahead *)((char *)sp - offsetof(struct ahead, spare)));
}

/* Take a out of the list of the batch that holds its response back. */
static void ahead_unlink(struct ahead *a) {
    struct batch *b = a->b;
    if (!b) return;
    for (struct ahead **p = &b->ahead; *p; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            break;
        }
    }
    b->parsing--;
    a->b = NULL;
    a->next = NULL;
}

/* The userdata's __gc: normally after its parse was used or handed over;
 * while parsing only when the VM closes. */
static int ahead_gc(lua_State *L) {
    struct ahead *a = luaL_checkudata(L, 1, AHEAD_MT);
    ahead_drop(a);
    ahead_unlink(a);
    return 0;
}

static void batch_free(struct batch *b) {
    while (b->ahead) {                  /* a closed stream: its responses being parsed are dropped */
        struct ahead *a = b->ahead;
        luaL_unref(b->L, LUA_REGISTRYINDEX, a->ref);
        a->ref = LUA_NOREF;
        ahead_drop(a);
        ahead_unlink(a);
    }
    if (b->headers) b->headers->next = b->retired;
    for (struct header_list *hl = b->headers ? b->headers : b->retired, *next; hl; hl = next) {
        next = hl->next;
        curl_slist_free_all(hl->list);
        free(hl);
    }
    luaL_unref(b->L, LUA_REGISTRYINDEX, b->anchors_ref);
    luaL_unref(b->L, LUA_REGISTRYINDEX, b->specs_ref);
    luaL_unref(b->L, LUA_REGISTRYINDEX, b->results_ref);
    luaL_unref(b->L, LUA_REGISTRYINDEX, b->bodies_ref);
    luaL_unref(b->L, LUA_REGISTRYINDEX, b->pin_ref);
    if (b->wake) event_free(b->wake);
    free(b->slots);
    free(b->ready);
    free(b->ready_err);
    free(b);
}

static void slot_put(struct batch *b, struct slot *s) {
    headers_release(b, s->headers);
    s->headers = NULL;
    s->next_free = b->free_slots;
    b->free_slots = s;
}

static void unpin(struct batch *b) {
    luaL_unref(b->L, LUA_REGISTRYINDEX, b->pin_ref);
    b->pin_ref = LUA_NOREF;
}

/* Store the result on top of b->L for request `index` (popped): for ALL
 * a response or { err = error }, for EACH a response or an error (is_err). */
static void add_result(struct batch *b, int index, int is_err) {
    lua_State *L = b->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->results_ref);
    lua_insert(L, -2);
    if (b->kind == EACH) {
        int pos = (b->rhead + b->nready) % b->rcap;
        b->ready[pos] = index;
        b->ready_err[pos] = (char)is_err;
        b->nready++;
        lua_rawseti(L, -2, pos + 1);
    } else {
        lua_rawseti(L, -2, index);
    }
    lua_pop(L, 1);
}

/* EACH: push the oldest finished result on `to` as index, response, nil
 * or index, nil, error. */
static void pop_ready(struct batch *b, lua_State *to) {
    lua_State *L = b->L;
    int pos = b->rhead;
    b->rhead = (b->rhead + 1) % b->rcap;
    b->nready--;
    lua_pushinteger(to, b->ready[pos]);
    if (b->ready_err[pos]) lua_pushnil(to);
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->results_ref);
    lua_rawgeti(L, -1, pos + 1);
    lua_pushnil(L);
    lua_rawseti(L, -3, pos + 1);
    lua_remove(L, -2);
    lua_xmove(L, to, 1);
    if (!b->ready_err[pos]) lua_pushnil(to);
}

static int spec_key(const struct batch *b, int index) {
    return b->kind == EACH ? (index - 1) % b->scap + 1 : index;
}

static void start_next(struct batch *b);
static void wake(evutil_socket_t fd, short what, void *arg);

/* A debug log line's first fields: "method":..., "url":... */
static void log_request(struct fy_buf *f, const char *method, const char *url) {
    fy_buf_puts(f, "\"method\":");
    fy_buf_json_string(f, method, strlen(method));
    fy_buf_puts(f, ",\"url\":");
    fy_buf_json_string(f, url, strlen(url));
}

/* At --log-level debug, each attempt of request `s` (fy_http's on_attempt):
 * method, URL (redacted when the request started), status, attempt number,
 * its time and the bytes received; for a failure its class and message, and
 * the body of an error response in full up to DEBUG_BODY. fy_log_write
 * redacts registered secrets from every line. Set only on requests started
 * at debug, so other levels pay nothing per request. */
static void log_attempt(const struct fy_http_result *res, double retry_in, void *arg) {
    const struct slot *s = arg;
    const struct fy_run *run = s->batch->run;
    const struct fy_buf *body = res->body;
    struct fy_buf f = {0};
    log_request(&f, s->method, s->url);
    fy_buf_printf(&f, ",\"status\":%ld,\"attempt\":%d,\"elapsed_ms\":%.1f,\"bytes\":%zu", res->status,
                  res->attempts, res->elapsed * 1000, body->len);
    if (!res->ok) {
        fy_buf_printf(&f, ",\"class\":\"%s\",\"error\":", res->klass);
        fy_buf_json_string(&f, res->message, strlen(res->message));
    }
    if (retry_in >= 0) fy_buf_printf(&f, ",\"retry_in_ms\":%.0f", retry_in * 1000);
    fy_log_write(FY_LOG_DEBUG, run->vm->name, run->id, res->ok ? "http request" : "http request failed", f.data);
    if (!res->ok && res->status >= 400 && body->len) {
        /* the error itself carries only an excerpt (err.body, 200 bytes on
         * one line in its text), which an HTML error page does not fit */
        struct fy_buf red = {0};
        fy_buf_append(&red, body->data, body->len);
        fy_redact(&red);                                /* before the cut: no part of a secret is left */
        size_t n = red.len;
        if (n > DEBUG_BODY) {                           /* cut on a character boundary */
            n = DEBUG_BODY;
            while (n > 0 && ((unsigned char)red.data[n] & 0xC0) == 0x80) n--;
        }
        fy_buf_reset(&f);
        log_request(&f, s->method, s->url);
        fy_buf_printf(&f, ",\"status\":%ld,\"attempt\":%d,\"bytes\":%zu,\"truncated\":%s,\"body\":",
                      res->status, res->attempts, body->len, n < red.len ? "true" : "false");
        fy_buf_json_string(&f, red.data, n);
        fy_log_write(FY_LOG_DEBUG, run->vm->name, run->id, "http error response", f.data);
        fy_buf_free(&red);
    }
    fy_buf_free(&f);
}

/* ---------------------------------------------------------------------------
 * JSON bodies parsed ahead, on the engine's JSON thread (AHEAD_MIN). */

static const char ahead_key = 'a';  /* registry: a weak table, response -> its struct ahead */

/* Does the response say its body is JSON: application/json, or a
 * structured syntax ending in +json (application/hal+json, ...)? */
static int is_json(const struct fy_buf *h) {
    char v[128];
    if (!fy_http_header(h, "Content-Type", v, sizeof v)) return 0;
    size_t n = strcspn(v, "; \t");                    /* the media type, without its parameters */
    if (n < 16 || strncasecmp(v, "application/", 12) != 0) return 0;
    return (n == 16 && strncasecmp(v + 12, "json", 4) == 0) || strncasecmp(v + n - 5, "+json", 5) == 0;
}

static void parsed(struct fy_json_job *job, void *arg);

/* For the response on top of L (left there): its struct ahead with a job
 * ready to submit, or NULL when its body goes to the script unparsed (no
 * JSON thread, or no room within limits.memory for the body's copy and
 * the tape). Raises only Lua's memory error, and then submits nothing.
 * Only a job that will run is registered: a refused one must leave no
 * userdata keeping the body (one with a __gc outlives an emergency
 * collection, which runs no finalizers, and the body with it). */
static struct ahead *ahead_new(lua_State *L, struct slot *s) {
    struct batch *b = s->batch;
    struct fy_vm *vm = b->run->vm;
    char err[FY_ERRLEN];
    struct fy_json_worker *w = fy_engine_json_worker(b->run->engine, err, sizeof err);
    if (!w) {
        fy_log(FY_LOG_WARN, vm->name, "JSON bodies are decoded on the loop: %s", err);
        return NULL;
    }
    size_t len;
    lua_pushliteral(L, "body");
    lua_rawget(L, -2);
    const char *body = lua_tolstring(L, -1, &len);
    struct ahead *a = lua_newuserdatauv(L, sizeof *a, 1);
    memset(a, 0, sizeof *a);
    a->ref = LUA_NOREF;
    a->vm = vm;
    a->worker = w;
    a->spare.drop = ahead_spare_drop;
    luaL_setmetatable(L, AHEAD_MT);
    size_t budget = len * AHEAD_BUDGET;
    if (fy_vm_try_hold(vm, &a->held, len + budget) != FY_OK ||
        !(a->job = fy_json_job_new(body, len, budget, parsed, a))) {
        fy_vm_hold(vm, &a->held, 0);
        lua_pop(L, 2);
        return NULL;
    }
    lua_rotate(L, -2, 1);
    lua_setiuservalue(L, -2, 1);                /* the body it parses */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ahead_key);
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 2);
    return a;
}

/* Hand a's job to the JSON thread; s's response waits in b until parsed(). */
static void ahead_submit(struct batch *b, struct slot *s, struct ahead *a) {
    a->b = b;
    a->index = s->index;
    a->next = b->ahead;
    b->ahead = a;
    b->parsing++;
    a->started = fy_time_monotonic();
    memcpy(a->method, s->method, sizeof a->method);
    memcpy(a->url, s->url, sizeof a->url);
    fy_json_worker_submit(a->worker, a->job);
}

/* ALL: resume the run once every result is in and parsed. */
static void all_done(struct batch *b) {
    if (b->done < b->total || b->parsing) return;
    lua_State *co = b->run->co;
    struct fy_run *run = b->run;
    int n = lua_checkstack(co, 1);
    if (n) lua_rawgeti(co, LUA_REGISTRYINDEX, b->results_ref);
    batch_free(b);
    fy_run_resume(run, n);
}

static int deliver_more(lua_State *L);

/* ALL and EACH, after a result came in or was parsed: refill the window
 * and hand over what is due. */
static void settle(struct batch *b) {
    struct fy_vm *vm = b->run->vm;
    char err[FY_ERRLEN];
    if (b->done < b->total && fy_vm_protect(vm, deliver_more, b, 0, err, sizeof err) != FY_OK) {
        /* the next specs could not even be read: those requests never start */
        fy_vm_trip(vm, NULL, FY_TRIP_CALL, "memory limit exceeded while starting requests "
                   "(%zu MB; limits.memory in the config)", vm->mem_limit >> 20);
        b->done += b->total - b->next;
        b->next = b->total;
    }
    if (b->kind == ALL) {
        all_done(b);
        return;
    }
    if (!b->inflight && !b->parsing) unpin(b);     /* the window refilled above, before the script runs */
    if (b->waiting) event_active(b->wake, EV_TIMEOUT, 0);
}

/* The JSON thread parsed a body: keep the tape for res:json() (or, when it
 * outgrew its budget, nothing: res:json() decodes on the loop) and hand the
 * response over as transfer_done would have. */
static void parsed(struct fy_json_job *job, void *arg) {
    struct ahead *a = arg;
    struct batch *b = a->b;
    ahead_unlink(a);                    /* the job is the loop's again */
    if (fy_log_enabled(FY_LOG_DEBUG)) {
        struct fy_buf f = {0};
        log_request(&f, a->method, a->url);
        fy_buf_printf(&f, ",\"bytes\":%zu,\"ms\":%.1f,\"parsed\":\"%s\"", job->len,
                      (fy_time_monotonic() - a->started) * 1000,
                      job->ok ? "ok" : job->oom ? "over budget, decoded on the loop" : "invalid JSON");
        fy_log_write(FY_LOG_DEBUG, a->vm->name, b->run->id, "http body parsed off the loop", f.data);
        fy_buf_free(&f);
    }
    if (job->oom) {
        fy_json_job_free(job);
        a->job = NULL;
    }
    fy_vm_hold(a->vm, &a->held, a->job ? fy_json_job_bytes(job) : 0);
    if (a->job) fy_vm_spare_add(a->vm, &a->spare);
    if (b->kind == ONE) {
        struct fy_run *run = b->run;
        int n = b->nres;
        batch_free(b);
        fy_run_resume(run, n);
        return;
    }
    if (b->kind == EACH) {
        /* no allocation: the registry slot is reused, the ring was sized for it */
        lua_rawgeti(b->L, LUA_REGISTRYINDEX, a->ref);
        luaL_unref(b->L, LUA_REGISTRYINDEX, a->ref);
        a->ref = LUA_NOREF;
        add_result(b, a->index, 0);
    }
    settle(b);
}

/* l_parsed's build, protected: 1 the job, 2 the body it parsed. */
static int build_tape(lua_State *L) {
    const struct fy_json_job *job = lua_touserdata(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);             /* 3 */
    lua_createtable(L, job->nkeys > INT_MAX ? INT_MAX : (int)job->nkeys, 0); /* 4: the strings it numbered */
    size_t at = 0;
    fy_json_build(L, &job->tape, &at, lua_tostring(L, 2), job->nkeys ? 4 : 0, 3);
    return 1;
}

/* _parsed(response) -> the body's value from the tape the JSON thread made,
 * or nil and "invalid JSON: ..." as ferry.json.decode says it; nothing when
 * there is no tape (a small body, already used, or res.body replaced): the
 * caller decodes res.body itself. Raises only Lua's memory error. */
static int l_parsed(lua_State *L) {
    if (lua_type(L, 1) != LUA_TTABLE) return 0;
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ahead_key);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 2) != LUA_TUSERDATA) return 0;
    struct ahead *a = luaL_checkudata(L, 3, AHEAD_MT);
    if (!a->job || a->b) return 0;
    lua_getiuservalue(L, 3, 1);                         /* 4: the body it parsed */
    lua_pushliteral(L, "body");
    lua_rawget(L, 1);
    if (!lua_rawequal(L, 4, 5)) return 0;               /* the script put another body there */
    struct fy_json_job *job = a->job;
    if (!job->ok) {
        luaL_pushfail(L);
        lua_pushfstring(L, "invalid JSON: %s", job->err);
        return 2;
    }
    /* off the spare list first: the build's own allocations must not
     * free the tape it reads; used once, whatever the build's outcome */
    fy_vm_spare_remove(a->vm, &a->spare);
    lua_pushcfunction(L, build_tape);                   /* pushing these allocates nothing */
    lua_pushlightuserdata(L, job);
    lua_pushvalue(L, 4);
    int rc = lua_pcall(L, 2, 1, 0);
    ahead_drop(a);
    return rc == LUA_OK ? 1 : lua_error(L);
}

/* What transfer_done hands to deliver() through fy_vm_protect. */
struct delivery {
    const struct fy_http_result *res;
    struct slot *s;
    int nres;                   /* ONE: values moved to the run's coroutine */
    const char *failed;         /* set: build a plain error with this message instead */
    struct ahead *ahead;        /* set: the response waits for the JSON thread's parse */
};

/* Protected half of transfer_done: every Lua allocation a finished transfer
 * causes (the response's strings and tables, the result lists, the next
 * specs read) happens here, so a memory error fails this request and not
 * the process. */
static int deliver(lua_State *L) {
    struct delivery *d = lua_touserdata(L, 1);
    const struct fy_http_result *res = d->res;
    struct slot *s = d->s;
    struct batch *b = s->batch;
    int is_err = d->failed || !res->ok;
    lua_settop(L, 0);
    if (b->kind == ONE && is_err) lua_pushnil(L);         /* response | nil, err */
    if (b->kind == ALL && is_err) lua_createtable(L, 0, 1);   /* { err = ... } */
    struct ahead *a = NULL;
    if (d->failed) {
        push_plain_error(L, d->failed, s, NULL);
    } else if (res->ok) {
        push_response(L, res, s);
        if (res->status >= 200 && res->status < 300 && res->body->len >= AHEAD_MIN && is_json(res->headers))
            a = ahead_new(L, s);
    } else {
        push_error(L, res, s->method, s->url);
    }
    if (b->kind == ALL && is_err) lua_setfield(L, -2, "err");
    if (res->body_taken && is_err) {           /* an error kept an excerpt: let the string go */
        lua_rawgeti(L, LUA_REGISTRYINDEX, b->bodies_ref);
        lua_pushnil(L);
        lua_rawseti(L, -2, slot_number(s));
        lua_pop(L, 1);
    }
    if (b->kind == ONE) {
        lua_State *co = b->run->co;
        if (!lua_checkstack(co, lua_gettop(L))) return luaL_error(L, "not enough memory");
        d->nres = lua_gettop(L);
        lua_xmove(L, co, d->nres);
    } else if (a && b->kind == EACH) {
        a->ref = luaL_ref(L, LUA_REGISTRYINDEX);    /* handed over once parsed */
    } else {
        add_result(b, s->index, is_err);
    }
    if (a) {                                        /* last: nothing below may raise */
        ahead_submit(b, s, a);
        d->ahead = a;
    }
    return 0;
}

/* What take_body hands to keep_body through fy_vm_protect. */
struct keeping {
    struct slot *s;
    const char *data;
    size_t len;
    const char *kept;
};

static int keep_body(lua_State *L) {
    struct keeping *k = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, k->s->batch->bodies_ref);
    lua_pushlstring(L, k->data, k->len);
    k->kept = lua_tostring(L, -1);
    lua_rawseti(L, -2, slot_number(k->s));
    return 0;
}

/* fy_http's take_body: a 2xx body that came whole becomes its Lua string
 * here, straight from curl's buffer, and waits in the batch's bodies table
 * for deliver(): one copy of the body instead of two (into a buffer, then
 * into Lua), which was a tenth of a request's instructions at 10 KB. The
 * string counts against limits.memory as Lua's own memory; a body that
 * does not fit is left to fy_http, which refuses it with its own error. */
static const char *take_body(void *arg, const char *data, size_t len) {
    struct slot *s = arg;
    struct fy_vm *vm = s->batch->run->vm;
    struct keeping k = {s, data, len, NULL};
    char err[FY_ERRLEN];
    /* room for the string's header too: an allocation refused twice trips the limit */
    if (!fy_vm_may_hold(vm, len + 64)) return NULL;
    if (fy_vm_protect(vm, keep_body, &k, 0, err, sizeof err) != FY_OK) return NULL;
    return k.kept;
}

static int deliver_more(lua_State *L) {
    start_next(lua_touserdata(L, 1));
    return 0;
}

/* A transfer finished: hand its result to the script (ONE), keep it for
 * the batch (ALL, EACH) and start the next. Out of memory while doing so
 * trips the integration's memory limit: the request fails with that
 * error and the script's next instruction ends the hook call. */
static void transfer_done(const struct fy_http_result *res, void *arg) {
    struct slot *s = arg;
    struct batch *b = s->batch;
    struct fy_vm *vm = b->run->vm;
    char err[FY_ERRLEN];
    struct delivery d = {res, s, 0, NULL, NULL};
    b->inflight--;
    b->done++;
    /* Once a limit tripped, the hook call ends at the script's next
     * instruction: a response built now would only take the reserve that
     * is there to report the limit, so it fails with the limit's error. */
    int tripped = vm->trip != FY_TRIP_NONE;
    int ok = !tripped && fy_vm_protect(vm, deliver, &d, 0, err, sizeof err) == FY_OK;
    if (!ok) {                          /* the error itself, from the reserve */
        char msg[FY_ERRLEN];
        if (tripped) {
            snprintf(msg, sizeof msg, "%s", vm->trip_msg);
        } else {
            snprintf(msg, sizeof msg, "memory limit exceeded while receiving the response of %s %.200s "
                     "(%zu MB; limits.memory in the config)", s->method, s->url, vm->mem_limit >> 20);
            fy_vm_trip(vm, NULL, FY_TRIP_CALL, "%s", msg);
            if (vm->trip == FY_TRIP_CALL)   /* tripped by the allocator already: say which response */
                snprintf(vm->trip_msg, sizeof vm->trip_msg, "%.511s", msg);
        }
        d.failed = msg;
        d.nres = 0;
        if (fy_vm_protect(vm, deliver, &d, 1, err, sizeof err) != FY_OK) d.nres = 0;
    }
    fy_http_result_free_body(res);      /* copied: the script resumes below, with all its room */
    if (b->kind == ONE) {
        if (d.ahead) {                  /* parsed() resumes the run */
            b->nres = d.nres;
            return;
        }
        struct fy_run *run = b->run;
        batch_free(b);
        fy_run_resume(run, d.nres);
        return;
    }
    slot_put(b, s);
    settle(b);
}

/* The results that arrived in one turn of the loop are read in one resume
 * (_stream_next picks them up in its continuation). */
static void wake(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    struct batch *b = arg;
    if (!b->waiting || !b->nready) return;
    b->waiting = 0;
    fy_run_resume(b->run, 0);           /* the script may close b: not touched after */
}

/* Start transfers until the window is full (for EACH, also while fewer
 * than `concurrency` results wait unread). A spec that cannot start is
 * recorded as a failed result. */
static void start_next(struct batch *b) {
    lua_State *L = b->L;
    char err[FY_ERRLEN];
    while (b->next < b->total && b->inflight < b->concurrency && b->nready + b->parsing < b->concurrency) {
        int index = ++b->next;
        lua_rawgeti(L, LUA_REGISTRYINDEX, b->specs_ref);
        lua_rawgeti(L, -1, spec_key(b, index));
        struct fy_http_opts o;
        size_t body_len;
        struct header_list *hl;
        read_spec(L, lua_gettop(L), &o, &body_len, b, &hl);
        if (b->kind == EACH) {          /* fed as the script reads: keep memory flat */
            int k = spec_key(b, index);
            if (lua_rawgeti(L, -2, k + b->scap) == LUA_TSTRING) o.url = lua_tostring(L, -1);
            lua_pushnil(L);             /* spec and URL stay on the stack until fy_http_start copied them */
            lua_rawseti(L, -4, k);
            lua_pushnil(L);
            lua_rawseti(L, -4, k + b->scap);
        }
        o.owner = b;
        o.held = &b->run->vm->ext_used;         /* bodies count against limits.memory */
        o.may_hold = fy_vm_may_hold;
        o.hold_ctx = b->run->vm;
        o.on_attempt = fy_log_enabled(FY_LOG_DEBUG) ? log_attempt : NULL;
        o.metrics = fy_metrics_http_series(b->run->vm->name, o.url);
        o.take_body = take_body;
        struct slot *s = b->free_slots;
        b->free_slots = s->next_free;
        s->index = index;
        s->headers = hl;
        if (hl) hl->refs++;
        fy_http_redact_url(o.url, s->url, sizeof s->url);
        size_t mlen = strlen(o.method);
        if (mlen >= sizeof s->method) mlen = sizeof s->method - 1;
        memcpy(s->method, o.method, mlen);
        s->method[mlen] = '\0';
        b->inflight++;
        /* a pause action stopped the run: nothing more reaches any source */
        int blocked = b->run->blocked != NULL;
        int rc = blocked ? FY_ERR : fy_http_start(b->http, &o, transfer_done, s, err, sizeof err);
        if (blocked) snprintf(err, sizeof err, "not sent: the run stopped after %s", b->run->blocked);
        lua_pop(L, b->kind == EACH ? 3 : 2);
        if (rc != FY_OK) {
            b->inflight--;
            b->done++;
            if (b->kind != EACH) lua_createtable(L, 0, 1);
            push_plain_error(L, err, s, blocked ? b->run->blocked_class : NULL);
            if (b->kind != EACH) lua_setfield(L, -2, "err");
            add_result(b, index, 1);
            slot_put(b, s);
        }
    }
}

/* The run L belongs to and its HTTP client, or raise. */
static struct fy_run *run_for_http(lua_State *L, struct fy_http **h) {
    struct fy_run *run = fy_run_of(L);
    if (!run || !run->engine || !lua_isyieldable(L))
        luaL_error(L, "ferry.http: only inside a run (not at load time, not in a coroutine of the script's own)");
    char err[FY_ERRLEN];
    *h = fy_engine_http(run->engine, err, sizeof err);
    if (!*h) luaL_error(L, "ferry.http: %s", err);
    return run;
}

/* Whether the spec at idx has the method and (unless one comes beside it)
 * the URL that read_spec relies on. */
static int spec_ok(lua_State *L, int idx, int need_url) {
    int top = lua_gettop(L);
    int ok = lua_rawgeti(L, idx, SPEC_METHOD) == LUA_TSTRING &&
             (!need_url || lua_rawgeti(L, idx, SPEC_URL) == LUA_TSTRING);
    lua_settop(L, top);
    return ok;
}

/* Check the spec list at idx (misuse raises here, never in the loop) and
 * keep it, with a fresh results table, in b. */
static void batch_specs(lua_State *L, int idx, struct batch *b) {
    for (int i = 1; i <= b->total; i++) {
        if (lua_rawgeti(L, idx, i) != LUA_TTABLE) {
            batch_free(b);
            luaL_error(L, "ferry.http: request %d is not a table", i);
        }
        if (!spec_ok(L, lua_gettop(L), 1)) {
            batch_free(b);
            luaL_error(L, "ferry.http: request %d needs a method and a url", i);
        }
        lua_pop(L, 1);
    }
    lua_pushvalue(L, idx);
    b->specs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    b->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, b->concurrency, 0);
    b->bodies_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static int l_send(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    struct fy_http *h;
    struct fy_run *run = run_for_http(L, &h);
    struct batch *b = batch_new(run, h, ONE, 1);
    if (!b) return luaL_error(L, "ferry.http: out of memory");
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    b->total = 1;
    batch_specs(L, lua_gettop(L), b);
    start_next(b);
    if (b->done == 1) {                         /* could not start */
        lua_rawgeti(L, LUA_REGISTRYINDEX, b->results_ref);
        lua_rawgeti(L, -1, 1);
        lua_pushnil(L);
        lua_getfield(L, -2, "err");
        batch_free(b);
        return 2;
    }
    run->waiting = 1;
    return lua_yield(L, 0);
}

static int l_send_many(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    struct fy_http *h;
    struct fy_run *run = run_for_http(L, &h);
    int concurrency = (int)luaL_optinteger(L, 2, 8);
    struct batch *b = batch_new(run, h, ALL, concurrency < 1 ? 1 : concurrency);
    if (!b) return luaL_error(L, "ferry.http: out of memory");
    b->total = (int)luaL_len(L, 1);
    batch_specs(L, 1, b);
    if (b->total) start_next(b);
    if (b->done == b->total) {                  /* nothing to wait for */
        lua_rawgeti(L, LUA_REGISTRYINDEX, b->results_ref);
        batch_free(b);
        return 1;
    }
    run->waiting = 1;
    return lua_yield(L, 0);
}

static void pin(lua_State *L, int idx, struct batch *b) {
    if ((b->inflight || b->parsing) && b->pin_ref == LUA_NOREF) {
        lua_pushvalue(L, idx);
        b->pin_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
}

/* _stream(concurrency) -> stream: requests are fed with _stream_push and
 * their results read with _stream_next as they arrive. Closing the stream
 * (its __close, at the end of a for loop or on an error) cancels what is
 * still in flight. */
static int l_stream(lua_State *L) {
    struct fy_http *h;
    struct fy_run *run = run_for_http(L, &h);
    int concurrency = (int)luaL_optinteger(L, 1, 8);
    struct stream *st = lua_newuserdatauv(L, sizeof *st, 0);
    st->b = NULL;
    luaL_setmetatable(L, STREAM_MT);
    struct batch *b = batch_new(run, h, EACH, concurrency < 1 ? 1 : concurrency);
    if (b) b->wake = event_new(run->engine->base, -1, 0, wake, b);
    if (!b || !b->wake) {
        if (b) batch_free(b);
        return luaL_error(L, "ferry.http: out of memory");
    }
    lua_createtable(L, 2 * b->scap, 0);
    b->specs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, b->rcap, 0);
    b->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, b->concurrency, 0);
    b->bodies_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    st->b = b;
    return 1;
}

/* The stream in argument 1 (its metatable is upvalue 1 of the functions
 * that take one: no lookup by name on every call). */
static struct batch *check_stream(lua_State *L) {
    struct stream *st = lua_touserdata(L, 1);
    if (!st || !lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(1)))
        luaL_typeerror(L, 1, STREAM_MT);
    lua_pop(L, 1);
    if (!st->b) luaL_error(L, "ferry.http: the stream is closed");
    return st->b;
}

/* _stream_push(stream, spec[, url]) -> how many pushed requests wait to
 * start. The request's index is the count pushed so far. */
static int l_stream_push(lua_State *L) {
    struct batch *b = check_stream(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    int url = lua_type(L, 3) == LUA_TSTRING;
    if (!spec_ok(L, 2, !url)) return luaL_error(L, "ferry.http: request %d needs a method and a url", b->total + 1);
    if (b->total - b->next >= b->scap)
        return luaL_error(L, "ferry.http: more than %d requests waiting to start", b->scap);
    int k = spec_key(b, ++b->total);
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->specs_ref);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, k);
    if (url) {
        lua_pushvalue(L, 3);
        lua_rawseti(L, -2, k + b->scap);
    }
    lua_pop(L, 1);
    start_next(b);
    pin(L, 1, b);
    lua_pushinteger(L, b->total - b->next);
    return 1;
}

/* _stream_next(stream) -> index, response, error, how many pushed wait to
 * start (response or error nil) | nil when every request pushed was read.
 * Yields the run while nothing has arrived yet. */
static int stream_next_k(lua_State *L, int status, lua_KContext ctx);

static int l_stream_next(lua_State *L) {
    struct batch *b = check_stream(L);
    if (!b->nready) start_next(b);              /* what unread results held back */
    if (b->nready) {
        pop_ready(b, L);
        start_next(b);                          /* a slot of the read-ahead is free */
        pin(L, 1, b);
        lua_pushinteger(L, b->total - b->next);
        return 4;
    }
    pin(L, 1, b);
    if (!b->inflight && !b->parsing) return 0;  /* every request pushed was read */
    struct fy_run *run = fy_run_of(L);
    if (run != b->run || !lua_isyieldable(L))
        return luaL_error(L, "ferry.http: a stream is read by the run that started it");
    b->waiting = 1;
    run->waiting = 1;
    return lua_yieldk(L, 0, 0, stream_next_k);
}

/* Resumed by wake(): the stream is still argument 1. */
static int stream_next_k(lua_State *L, int status, lua_KContext ctx) {
    FY_UNUSED(status);
    FY_UNUSED(ctx);
    lua_settop(L, 1);
    return l_stream_next(L);
}

/* __close and __gc. Collected only when nothing is in flight (the pin)
 * or when the VM closes; the engine and its HTTP client outlive every VM. */
static int stream_close(lua_State *L) {
    struct stream *st = luaL_checkudata(L, 1, STREAM_MT);
    struct batch *b = st->b;
    if (!b) return 0;
    st->b = NULL;
    fy_http_cancel(b->http, b);
    batch_free(b);
    return 0;
}

/* _set_metatables(response_mt, error_mt): what results built here get. */
static int l_set_metatables(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushvalue(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &response_mt_key);
    lua_pushvalue(L, 2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &error_mt_key);
    return 0;
}

/* in_run() -> true when HTTP calls can yield here (inside a run's own coroutine). */
static int l_in_run(lua_State *L) {
    struct fy_run *run = fy_run_of(L);
    lua_pushboolean(L, run && run->engine && lua_isyieldable(L));
    return 1;
}

/* _redact_url(url) -> url with credentials replaced */
static int l_redact_url(lua_State *L) {
    char out[2048];
    fy_http_redact_url(luaL_checkstring(L, 1), out, sizeof out);
    lua_pushstring(L, out);
    return 1;
}

/* _secret(value): register a secret for redaction everywhere. */
static int l_secret(lua_State *L) {
    fy_secret_add(luaL_checkstring(L, 1));
    return 0;
}

/* _escape(s): percent-encode for a query component (curl_easy_escape). */
static int l_escape(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char *e = curl_easy_escape(NULL, s, (int)len);
    if (!e) return luaL_error(L, "out of memory");
    lua_pushstring(L, e);
    curl_free(e);
    return 1;
}

/* _excerpt(s, max): s as one line of at most max bytes (at most 1024), for
 * an error's text: secrets redacted first (a cut must not leave half of
 * one), then whitespace collapsed and cut on a character boundary with an
 * ellipsis (fy_utf8_excerpt). */
static int l_excerpt(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer max = luaL_checkinteger(L, 2);
    char out[1024 + 4];
    struct fy_buf whole = {0}, b = {0};
    fy_buf_append(&whole, s, len);
    fy_redact(&whole);
    fy_utf8_excerpt(&b, whole.data, whole.len, max < 0 ? 0 : max > 1024 ? 1024 : (size_t)max);
    size_t n = b.len;
    if (n) memcpy(out, b.data, n);
    fy_buf_free(&whole);                /* before anything that may raise */
    fy_buf_free(&b);
    lua_pushlstring(L, out, n);
    return 1;
}

int luaopen_ferry_http_core(lua_State *L) {
    static const luaL_Reg funcs[] = {
        {"send", l_send}, {"send_many", l_send_many}, {"redact_url", l_redact_url},
        {"secret", l_secret}, {"escape", l_escape}, {"excerpt", l_excerpt}, {"in_run", l_in_run},
        {"set_metatables", l_set_metatables}, {"stream", l_stream}, {"parsed", l_parsed}, {NULL, NULL},
    };
    static const luaL_Reg stream_methods[] = {{"__close", stream_close}, {"__gc", stream_close}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    luaL_newmetatable(L, AHEAD_MT);
    lua_pushcfunction(L, ahead_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_createtable(L, 0, 0);                   /* response -> its parse, while the response lives */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ahead_key);
    luaL_newmetatable(L, STREAM_MT);
    luaL_setfuncs(L, stream_methods, 0);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_stream_push, 1);
    lua_setfield(L, -3, "stream_push");
    lua_pushcclosure(L, l_stream_next, 1);
    lua_setfield(L, -2, "stream_next");
    return 1;
}
