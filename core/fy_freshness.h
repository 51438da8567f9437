/* "Data as of": a ferry_freshness table in each reporting database an
 * integration loads into, written when a run that loaded into it ends, so a
 * BI report can show how old its data is without asking ferry.
 *
 *   ferry_freshness (integration TEXT PRIMARY KEY, last_good_run TEXT,
 *                    last_good_at TEXT, age_seconds REAL, status TEXT,
 *                    run_id TEXT, updated_at TEXT)
 *
 * One row per integration: its last good run (ok or partial without a
 * verdict, that read the source; NULL when none yet) and that run's age
 * when the row was written, and the run that wrote it with its status
 * (ok, partial, suspect, incomplete, failed, aborted). A destination
 * other than SQLite (PostgreSQL, issue 18) adds its own writer of the same
 * struct. */
#ifndef FY_FRESHNESS_H
#define FY_FRESHNESS_H

#include <stddef.h>

struct fy_store;
struct sqlite3;

struct fy_freshness {
    char integration[256];
    char last_good_run[48];     /* "" when there is no good run yet */
    char last_good_at[48];      /* when it ended, as the store has it */
    double age_seconds;         /* of the last good run at updated_at; < 0: none */
    char status[16];            /* of the run that wrote the row: its verdict, or its status */
    char run_id[48];
    char updated_at[48];
};

/* Fill f for the run `run_id` of `integration` that just ended with
 * `status` (its verdict when it has one), from the store (which holds the
 * run's own record by now). FY_ERR (SQLite's message on fy_store_db) when
 * the store cannot be read. */
int fy_freshness_read(struct fy_store *s, const char *integration, const char *run_id, const char *status,
                      struct fy_freshness *f);

/* Create the table when missing and write f's row, in one transaction on
 * db (the caller has drained any other writer of the connection). FY_ERR
 * with the reason in err. */
int fy_freshness_write_sqlite(struct sqlite3 *db, const struct fy_freshness *f, char *err, size_t errlen);

#endif
