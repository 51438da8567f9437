/* Non-blocking HTTP: libcurl's multi-socket interface driven by the
 * engine's libevent loop (curl's hiperfifo pattern), with retries and
 * token-bucket rate limits decided here in C.
 *
 * A transfer is started with fy_http_start; its callback runs once, from
 * the loop, after the last attempt. Nothing blocks the loop. */
#ifndef FY_HTTP_H
#define FY_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

#include "fy_buf.h"

struct event_base;
struct fy_http;
struct fy_bucket;
struct fy_http_result;
struct fy_metrics_http;

struct fy_http_retry {
    int attempts;            /* total attempts, 1 = no retry */
    double base;             /* first backoff cap, seconds */
    double max;              /* cap of any one wait, including Retry-After */
    double deadline;         /* give up when the next attempt would start past this (0 = none) */
    int retry_500;           /* also retry plain 500 */
};

struct fy_http_opts {
    const char *method;      /* GET, POST, ... */
    const char *url;         /* full URL, query already encoded */
    struct curl_slist *headers;   /* request headers; ownership passes to the transfer, */
    int headers_shared;      /* unless set: the caller keeps them until the callback or a cancel */
    const char *body;        /* request body, copied; NULL for none */
    size_t body_len;
    double timeout;          /* whole transfer, seconds (0 = none) */
    double connect_timeout;
    size_t max_size;         /* largest response body accepted */
    long max_redirects;      /* 0 = do not follow */
    const char *ca_file;     /* extra CA bundle, NULL = system default */
    int insecure;            /* skip TLS verification (tests only; never default) */
    int idempotent;          /* POST/PATCH may be retried */
    struct fy_http_retry retry;
    /* a vendor's own rate-limit headers (NULL = only the standard
     * X-RateLimit-* and RateLimit-*): when `reset_remaining` says 0 is
     * left, hold this request's buckets for `reset_header` read as
     * reset_unit; a 429 without Retry-After waits as long */
    const char *reset_remaining, *reset_header;
    enum { FY_RESET_AUTO, FY_RESET_SECONDS, FY_RESET_MS, FY_RESET_EPOCH, FY_RESET_ISO8601 } reset_unit;
    struct fy_bucket *limits[2];  /* token buckets to pass before each attempt (NULL = none) */
    const void *owner;       /* fy_http_cancel(h, owner) stops every transfer started with it */
    /* memory the response body takes counts against a budget (NULL = none):
     * *held grows with the body and shrinks when it is freed; a body that
     * may_hold(hold_ctx, more) refuses fails as too big for memory */
    size_t *held;
    int (*may_hold)(void *hold_ctx, size_t more);
    void *hold_ctx;
    /* called after each attempt with its own result (attempts = its number,
     * elapsed = its own time) and retry_in, the seconds until the next
     * attempt (-1: none follows), with the `arg` of fy_http_start; NULL = none */
    void (*on_attempt)(const struct fy_http_result *res, double retry_in, void *arg);
    struct fy_metrics_http *metrics;   /* counts each attempt and rate-limit wait (fy_metrics.h); NULL = none */
    /* A 2xx body that arrives whole in one write from curl (the length its
     * Content-Length gave, no content or transfer coding) may be kept by
     * the caller instead of copied into a buffer here: take_body returns
     * where it keeps the bytes, valid until the done callback has returned,
     * or NULL to leave the body to fy_http. The result's body then shows
     * those bytes and body_taken is set. NULL = always buffered here. */
    const char *(*take_body)(void *arg, const char *data, size_t len);
};

/* What a finished transfer hands its callback. Owned by the transfer; valid
 * only during the callback. */
struct fy_http_result {
    int ok;                  /* a 2xx/3xx response arrived */
    long status;             /* HTTP status, 0 when none arrived */
    const char *klass;       /* error class when !ok: transient, auth, ... */
    const char *message;     /* what went wrong when !ok */
    int attempts;
    double elapsed;          /* seconds, all attempts and waits */
    struct fy_buf *body;     /* decoded body */
    int body_taken;          /* the body is the one take_body kept */
    struct fy_buf *headers;  /* "Name: value\n" lines of the final response */
    const char *effective_url;
    int redirected;          /* effective_url differs from the one asked for */
    void *transfer;          /* fy_http's own, for fy_http_result_free_body */
};

/* In a done callback, once the caller has copied the body: free its buffer
 * now, and give back what it held in o.held, instead of when the callback
 * returns. A callback that runs a script would otherwise leave the script
 * short of the body's size (counted once in Lua, once here) until it next
 * waits. res->body is empty afterwards; a body take_body kept is the
 * caller's and is left alone. */
void fy_http_result_free_body(const struct fy_http_result *res);

typedef void (*fy_http_done_fn)(const struct fy_http_result *res, void *arg);

struct fy_http *fy_http_create(struct event_base *base, char *err, size_t errlen);
/* Cancels transfers still in flight without calling their callbacks. */
void fy_http_destroy(struct fy_http *h);

/* Cancel the transfers started with this owner, without calling their
 * callbacks; one whose callback is running is left to finish. */
void fy_http_cancel(struct fy_http *h, const void *owner);

/* Start a transfer. On FY_ERR nothing was started, `done` is never called,
 * and the headers list is freed. */
int fy_http_start(struct fy_http *h, struct fy_http_opts *o, fy_http_done_fn done, void *arg,
                  char *err, size_t errlen);

/* A transfer the caller prepared itself (another protocol: SMTP), run on
 * the same multi and loop as the HTTP transfers. fy_http sets only what
 * its loop needs (the socket close callback, NOSIGNAL) and leaves every
 * other option, CURLOPT_PRIVATE included, to the caller; no retries. `done`
 * runs once, from the loop, with curl's result, after the handle has left
 * the multi; the handle stays the caller's throughout. On FY_ERR nothing
 * was started and `done` is never called. */
typedef void (*fy_http_easy_done_fn)(CURL *easy, CURLcode result, void *arg);
int fy_http_add_easy(struct fy_http *h, CURL *easy, fy_http_easy_done_fn done, void *arg, char *err,
                     size_t errlen);

/* Take a handle started with fy_http_add_easy off the multi without calling
 * its `done` (nothing when it has finished). */
void fy_http_remove_easy(struct fy_http *h, CURL *easy);

/* The token bucket for `key`, created on first use with `rate` tokens per
 * second and `burst` capacity; later calls with a rate update it. */
struct fy_bucket *fy_http_bucket(struct fy_http *h, const char *key, double rate, double burst);

/* The value of header `name` (any case) in `hdrs`, "Name: value\n" lines
 * as a result's headers hold them, copied into out (cut to cap - 1 bytes);
 * 0 when there is none. */
int fy_http_header(const struct fy_buf *hdrs, const char *name, char *out, size_t cap);

/* Redact credentials in a URL: userinfo and the values of query parameters
 * whose names look secret (token, key, secret, password, signature, ...).
 * Writes into out (always NUL-terminated). */
void fy_http_redact_url(const char *url, char *out, size_t cap);

#endif
