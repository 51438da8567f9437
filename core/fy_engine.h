/* The engine: one event loop, the configuration, and the runs in flight. */
#ifndef FY_ENGINE_H
#define FY_ENGINE_H

#include "fy_config.h"

struct event_base;
struct fy_http;
struct fy_json_worker;
struct fy_notify;
struct fy_store;

struct fy_engine {
    /* event loop */
    struct event_base *base;     /* every timer and socket of every run */
    int active_runs;             /* runs started and not yet finished */
    int serving;                 /* ferry serve: the loop outlives the runs */
    int stopping;                /* ferry serve is shutting down: runs stop at their next checkpoint */
    struct fy_http *http;        /* libcurl multi on the loop; created on first request */
    struct fy_json_worker *json_worker;  /* parses large JSON bodies off the loop; created on first use */
    struct fy_store *store;      /* durable state; opened by commands that run integrations */
    struct fy_notify *notify;    /* alert messages in flight (fy_notify.c); created on first send */
    /* configuration */
    struct fy_config cfg;        /* owned */
    char *lualib;                /* resolved directory holding ferry/prelude.lua etc. */
    /* outcome */
    int exit_code;               /* worst of the finished runs (fy_engine_note_exit) */
};

/* Create an engine; takes ownership of cfg. NULL with err on failure. */
struct fy_engine *fy_engine_create(struct fy_config *cfg, char *err, size_t errlen);

/* Create the data directory (mkdir -p) and open the store as its one
 * writer, before anything is written there. */
int fy_engine_open_store(struct fy_engine *e, char *err, size_t errlen);
void fy_engine_destroy(struct fy_engine *e);

/* The engine's HTTP client, created on first use. NULL with err on failure. */
struct fy_http *fy_engine_http(struct fy_engine *e, char *err, size_t errlen);

/* The engine's JSON parser thread, started on first use. NULL with err on
 * failure. */
struct fy_json_worker *fy_engine_json_worker(struct fy_engine *e, char *err, size_t errlen);

/* Run the loop until every run has finished, or none has anything left to
 * wait for (then e->active_runs > 0: they stalled). */
int fy_engine_dispatch(struct fy_engine *e);

/* Record a run's exit code; the engine keeps the most severe (1 > 3 > 0). */
void fy_engine_note_exit(struct fy_engine *e, int code);

/* Where ferry's Lua library is: config, $FERRY_LUALIB, next to the binary,
 * or the install prefix. NULL when none holds ferry/prelude.lua. */
char *fy_engine_find_lualib(const struct fy_config *cfg);

#endif
