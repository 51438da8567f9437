/* A thread that writes batches to one SQLite connection, so a run's loads
 * overlap its extract and transform on the second core.
 *
 * The loop thread packs a batch into a job (fy_wjob: typed cells, strings
 * in one arena), submits it and goes on. The writer thread binds and steps
 * the job's statement in one transaction per job and records per-row
 * failures. Finished jobs are handed back on the loop thread: the writer
 * writes a byte to a pipe the loop watches, and the loop calls each job's
 * `delivered` callback, in submission order.
 *
 * While jobs are queued, the connection belongs to the writer: anything
 * else that uses it calls fy_writer_drain first. */
#ifndef FY_SQLITE_WRITER_H
#define FY_SQLITE_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct sqlite3;
struct sqlite3_stmt;
struct event_base;
struct fy_writer;

enum fy_cell_type { FY_CELL_NULL, FY_CELL_INT, FY_CELL_REAL, FY_CELL_TEXT, FY_CELL_BOOL /* v.i 0 or 1 */ };

struct fy_cell {
    enum fy_cell_type type;
    union {
        int64_t i;
        double d;
        struct { size_t off, len; } s;   /* into the job's arena */
    } v;
};

struct fy_wfail {
    int row;                    /* 1-based row of the batch */
    char *reason;               /* malloc'd */
};

struct fy_wjob {
    /* filled by the loop thread before submit */
    struct sqlite3_stmt *stmt;
    int ncells;                 /* cells per row: the statement's parameters */
    int nrows;
    struct fy_cell *cells;      /* nrows * ncells */
    unsigned char *skip;        /* rows not to write (they failed while packing) */
    char *arena;                /* string bytes */
    size_t arena_len, arena_cap;
    /* results, set by the writer thread */
    int loaded;
    struct fy_wfail *fails;
    int nfails;
    char *fatal;                /* the batch was rolled back: why (malloc'd) */
    /* hand-back, on the loop thread */
    void (*delivered)(struct fy_wjob *job);
    void *owner;                /* for `delivered` */
    struct fy_wjob *next;
};

/* Start a writer for `db` whose jobs come back on `base`. NULL with err. */
struct fy_writer *fy_writer_create(struct sqlite3 *db, struct event_base *base, char *err, size_t errlen);

/* The same thread for another kind of connection (the PostgreSQL sink,
 * fy_lua_pg.c): write(conn, job) runs on the thread for each job, in
 * submission order, and sets the job's results. */
typedef void (*fy_write_fn)(void *conn, struct fy_wjob *job);
struct fy_writer *fy_writer_start(fy_write_fn write, void *conn, struct event_base *base, char *err,
                                  size_t errlen);

/* Queue a job; the writer owns it until its `delivered` callback runs. */
void fy_writer_submit(struct fy_writer *w, struct fy_wjob *job);

/* Block until every queued job has been written (not yet delivered). */
void fy_writer_drain(struct fy_writer *w);

/* Deliver the jobs written so far now, rather than when the loop wakes. */
void fy_writer_deliver(struct fy_writer *w);

/* Drain, stop the thread, and deliver what is left; jobs delivered here
 * must not resume anything (their owners are being torn down). */
void fy_writer_destroy(struct fy_writer *w);

/* Job helpers: append bytes to the arena (returns the offset); record row
 * (1-based) as failed with a reason and skip it; write the job on the
 * calling thread (what the writer thread does; for a synchronous upsert,
 * with nothing queued); free a job. */
size_t fy_wjob_put(struct fy_wjob *job, const char *s, size_t len);
void fy_wjob_fail(struct fy_wjob *job, int row, const char *reason);
void fy_wjob_write(struct sqlite3 *db, struct fy_wjob *job);
void fy_wjob_free(struct fy_wjob *job);

#endif
