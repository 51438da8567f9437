/* PostgreSQL as a reporting destination: the connection and the work done
 * on it (ferry.sink.postgres; the Lua half is fy_lua_pg.c).
 *
 * Every statement runs on the connection's writer thread
 * (fy_sqlite_writer.h's thread, given fy_pg_write), so a load, a reconnect
 * and its backoff never stop the engine's loop. A job is one of:
 *
 *   FY_PG_TABLE    create the table from the declared columns, or check an
 *                  existing one and add what it lacks (schema drift: a
 *                  column whose type or key cannot hold the declaration);
 *   FY_PG_UPSERT   one batch, one transaction: COPY into a temporary table,
 *                  then INSERT ... SELECT ... ON CONFLICT DO UPDATE. Rows
 *                  the database refuses (a constraint, a value its type
 *                  cannot hold) are found by splitting the batch under
 *                  savepoints, so k bad rows cost about 2k·log2(n)
 *                  statements, not one per row; each is failed with the
 *                  database's message and the others load;
 *   FY_PG_QUERY    a statement with text parameters; the result is kept
 *                  for the loop thread to read.
 *
 * A connection lost before or during a job (the server restarted, a
 * failover) is made again with backoff for up to the database's
 * `reconnect` seconds, and the job is done again from its start: its
 * transaction was rolled back with the connection, and an upsert by key
 * written twice is written once. */
#ifndef FY_PG_H
#define FY_PG_H

#include "fy_freshness.h"
#include "fy_sqlite_writer.h"

#include <libpq-fe.h>

struct fy_buf;
struct fy_database;

enum fy_pg_type {
    FY_PG_TEXT, FY_PG_TIMESTAMP, FY_PG_DATE, FY_PG_INTEGER, FY_PG_REAL, FY_PG_NUMERIC, FY_PG_BOOLEAN, FY_PG_JSON
};

struct fy_pg_column {
    char *name;
    enum fy_pg_type type;
    const char *type_name;      /* as declared ("integer"; static) */
    int key;
    char *cast;                 /* its type in the table (format_type), set by FY_PG_TABLE */
};

struct fy_pg_table {
    char *name;
    struct fy_pg_column *cols;
    int ncols;
    int id;                     /* names its temporary staging table */
    /* set by FY_PG_TABLE, read by FY_PG_UPSERT (both on the writer thread) */
    char *upsert_sql;           /* INSERT ... SELECT ... FROM stage WHERE _n BETWEEN $1 AND $2 ... */
    char *dedup_sql;            /* the same, one row per key (a batch with a key twice) */
    char *stage_sql;            /* CREATE TEMPORARY TABLE ... */
    char *synced_cast, *run_cast;
    unsigned stage_conn;        /* the connection (fy_pg.generation) the staging table exists on */
};

enum fy_pg_op { FY_PG_TABLE, FY_PG_UPSERT, FY_PG_QUERY, FY_PG_FRESHNESS };

struct fy_pg_job {
    struct fy_wjob job;         /* first: cells, skip, arena, loaded, fails, fatal (fy_sqlite_writer.h) */
    enum fy_pg_op op;
    struct fy_pg_table *t;      /* TABLE, UPSERT */
    char synced[48];            /* UPSERT: _synced_at of every row */
    char *run_id;               /* UPSERT: _run_id */
    char *sql;                  /* QUERY */
    char **params;              /* QUERY: nparams texts (NULL: SQL NULL) */
    int nparams;
    PGresult *res;              /* QUERY: the result (the loop thread clears it) */
    const struct fy_freshness *fresh;   /* FRESHNESS */
    int drift;                  /* TABLE: the fatal error is schema drift */
    int dedup;                  /* UPSERT: a key comes twice in the batch */
    const char *fatal_class;    /* with job.fatal: the error class (static) */
};

struct fy_pg;

/* A connection to d (made on first use); NULL on out of memory. */
struct fy_pg *fy_pg_new(const struct fy_database *d);
void fy_pg_free(struct fy_pg *pg);

/* From now on a reconnect gives up at once (ferry is stopping). */
void fy_pg_stop(struct fy_pg *pg);

/* Do one job (the writer thread's function, or the caller's own thread
 * when no job is queued). */
void fy_pg_write(void *pg, struct fy_wjob *job);

/* The job's allocations (not the table); then the job. */
void fy_pg_job_free(struct fy_pg_job *j);

/* The type of a declared type name ("int", "timestamp"), with that name
 * as a static string; FY_ERR for an unknown name. */
int fy_pg_type_parse(const char *name, enum fy_pg_type *type, const char **spelled);

/* Quote an identifier for SQL into out ("name" with " doubled). */
void fy_pg_ident(struct fy_buf *out, const char *name);

#endif
