/* The CLI's side of the admin API: find the `ferry serve` that holds a data
 * directory, and ask it things (libcurl easy; blocking is fine in the CLI).
 *
 * A service is running for DATA_DIR when DATA_DIR/serve.json names a live
 * pid and DATA_DIR/ferry.lock is held by someone: a serve.json left by a
 * killed service (its lock gone with it) is not believed. */
#ifndef FY_CLIENT_H
#define FY_CLIENT_H

#include <stddef.h>

struct fy_buf;
struct fy_config;

struct fy_client {
    const struct fy_config *cfg;    /* its admin.token authenticates */
    long pid;                       /* the service's */
    char admin[128];                /* "127.0.0.1:PORT", as serve.json says */
    char url[160];                  /* "http://127.0.0.1:PORT" */
    char started_at[40];
};

/* Is a service running for cfg's data directory? 1 with *c filled, 0 when
 * none is. */
int fy_client_find(const struct fy_config *cfg, struct fy_client *c);

/* method ("GET", "POST") path ("/api/v1/...") with an optional JSON body.
 * The response's status in *status and its body appended to resp. FY_ERR
 * with err set when no answer came (refused, timed out). */
int fy_client_call(const struct fy_client *c, const char *method, const char *path, const char *body, long *status,
                   struct fy_buf *resp, char *err, size_t errlen);

/* The "error" of a JSON error body (malloc'd), or a copy of the body. */
char *fy_client_error(const char *body);

/* A value of a flat JSON object (the service's answers): the string, or
 * number/true/false/null as text, malloc'd; NULL when the key is missing. */
char *fy_client_field(const char *json, const char *key);

/* Call fn with each element of a JSON array (as JSON text). The number of
 * elements, or FY_ERR when json is not an array. */
int fy_client_each(const char *json, void (*fn)(void *arg, const char *item), void *arg);

#endif
