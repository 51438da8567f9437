/* A thread that parses JSON text into tapes (fy_json_parse) for the loop.
 *
 * The loop thread submits a job and goes on with other work; when the
 * parse is done, the job's `done` runs on the loop, which then only has
 * to build the Lua values from the tape (fy_json_build). One worker per
 * engine (fy_engine_json_worker), started on first use; ferry.http hands
 * it the JSON bodies above a size (fy_lua_http.c). */
#ifndef FY_JSON_WORKER_H
#define FY_JSON_WORKER_H

#include "fy_json.h"

#include <stddef.h>

struct event_base;
struct fy_json_worker;

struct fy_json_job {
    /* the caller's (fy_json_job_new) */
    void (*done)(struct fy_json_job *job, void *arg);   /* on the loop; owns the job from then */
    void *arg;
    /* the worker's, when done runs */
    int ok;                     /* the text parsed: tape holds its value, its first item at 0 */
    int oom;                    /* the tape would have outgrown its budget, or malloc failed */
    char err[200];              /* neither: "WHAT at character N", as fy_json_decode says it */
    struct fy_json_tape tape;   /* its FY_JT_TEXT items point into the text it was given */
    uint32_t nkeys;             /* strings the tape numbers (FY_JT_KEY, FY_JT_KEY_NEW): the
                                 * builder's key cache is a table of its own this long */
    /* the worker's own */
    char *text;                 /* a copy, freed once parsed */
    size_t len, budget, bytes;
    int state, cancelled;
    struct fy_json_job *next;
};

/* A job for the `len` bytes at `text` (copied), whose tape may take at
 * most `budget` bytes. NULL when out of memory. */
struct fy_json_job *fy_json_job_new(const char *text, size_t len, size_t budget,
                                    void (*done)(struct fy_json_job *, void *), void *arg);
void fy_json_job_free(struct fy_json_job *job);

/* Bytes a job holds: its copy of the text until parsed, then its tape. */
size_t fy_json_job_bytes(const struct fy_json_job *job);

/* The worker of the loop `base`: a thread and the pipe it wakes the loop
 * with. NULL with err on failure. */
struct fy_json_worker *fy_json_worker_create(struct event_base *base, char *err, size_t errlen);

/* Stops the thread; jobs not delivered are freed without their `done`. */
void fy_json_worker_destroy(struct fy_json_worker *w);

/* Queue a job; its `done` runs from the loop once it is parsed. */
void fy_json_worker_submit(struct fy_json_worker *w, struct fy_json_job *job);

/* Forget a submitted job whose `done` has not run: it never runs, and the
 * job is freed (now, or by the worker when it finishes parsing it). */
void fy_json_worker_cancel(struct fy_json_worker *w, struct fy_json_job *job);

#endif
