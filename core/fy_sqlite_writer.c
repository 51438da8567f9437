/* The database writer thread; see fy_sqlite_writer.h. */
#include "fy_sqlite_writer.h"
#include "fy_common.h"
#include "fy_wake.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fy_writer {
    fy_write_fn write;              /* what the thread does with each job */
    void *conn;                     /* ... given this connection */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;            /* a job was queued, or stop */
    pthread_cond_t idle;            /* the queue ran empty */
    struct fy_wjob *queue, *queue_tail;   /* to write */
    struct fy_wjob *done, *done_tail;     /* written, to deliver */
    int busy, stop;
    struct fy_wake wake;            /* written -> loop */
    struct ckpt *ckpt;              /* SQLite: the database's checkpointer, or NULL */
};

size_t fy_wjob_put(struct fy_wjob *job, const char *s, size_t len) {
    if (job->arena_len + len > job->arena_cap) {
        size_t cap = job->arena_cap ? job->arena_cap : 4096;
        while (cap < job->arena_len + len) cap *= 2;
        char *p = realloc(job->arena, cap);
        if (!p) abort();                 /* as Lua's own allocator would fail the state */
        job->arena = p;
        job->arena_cap = cap;
    }
    size_t off = job->arena_len;
    memcpy(job->arena + off, s, len);
    job->arena_len += len;
    return off;
}

void fy_wjob_free(struct fy_wjob *job) {
    if (!job) return;
    for (int i = 0; i < job->nfails; i++) free(job->fails[i].reason);
    free(job->fails);
    free(job->fatal);
    free(job->cells);
    free(job->skip);
    free(job->arena);
    free(job);
}

void fy_wjob_fail(struct fy_wjob *job, int row, const char *reason) {
    struct fy_wfail *f = realloc(job->fails, (size_t)(job->nfails + 1) * sizeof *f);
    if (!f) abort();
    job->fails = f;
    job->fails[job->nfails].row = row;
    job->fails[job->nfails].reason = strdup(reason);
    job->nfails++;
    job->skip[row - 1] = 1;
}

static void fatal(struct fy_wjob *job, sqlite3 *db, const char *what) {
    size_t n = strlen(what) + strlen(sqlite3_errmsg(db)) + 3;
    job->fatal = malloc(n);
    if (job->fatal) snprintf(job->fatal, n, "%s: %s", what, sqlite3_errmsg(db));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    job->loaded = 0;
}

/* One job, one transaction. A row the database refuses (constraint, type)
 * is a failure of that row; any other error rolls the job back. */
void fy_wjob_write(sqlite3 *db, struct fy_wjob *job) {
    sqlite3_stmt *st = job->stmt;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        fatal(job, db, "cannot begin a transaction");
        return;
    }
    for (int r = 0; r < job->nrows; r++) {
        if (job->skip[r]) continue;
        const struct fy_cell *c = job->cells + (size_t)r * (size_t)job->ncells;
        for (int i = 0; i < job->ncells; i++) {
            switch (c[i].type) {
            case FY_CELL_NULL: sqlite3_bind_null(st, i + 1); break;
            case FY_CELL_INT:
            case FY_CELL_BOOL: sqlite3_bind_int64(st, i + 1, c[i].v.i); break;
            case FY_CELL_REAL: sqlite3_bind_double(st, i + 1, c[i].v.d); break;
            case FY_CELL_TEXT:
                sqlite3_bind_text(st, i + 1, job->arena + c[i].v.s.off, (int)c[i].v.s.len, SQLITE_STATIC);
                break;
            }
        }
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            job->loaded++;
        } else if ((rc & 0xff) == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH) {
            fy_wjob_fail(job, r + 1, sqlite3_errmsg(db));
        } else {
            sqlite3_reset(st);
            fatal(job, db, "cannot write to the database");
            return;
        }
        sqlite3_reset(st);
    }
    sqlite3_clear_bindings(st);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) fatal(job, db, "cannot commit");
}

static void *writer_main(void *arg) {
    struct fy_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->queue && !w->stop) pthread_cond_wait(&w->work, &w->lock);
        if (!w->queue) break;
        struct fy_wjob *job = w->queue;
        w->queue = job->next;
        if (!w->queue) w->queue_tail = NULL;
        w->busy = 1;
        pthread_mutex_unlock(&w->lock);

        w->write(w->conn, job);

        pthread_mutex_lock(&w->lock);
        job->next = NULL;
        if (w->done_tail) w->done_tail->next = job;
        else w->done = job;
        w->done_tail = job;
        w->busy = 0;
        if (!w->queue) pthread_cond_broadcast(&w->idle);
        fy_wake_signal(&w->wake);          /* the loop takes every done job at once */
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Hand every written job back, in order. */
void fy_writer_deliver(struct fy_writer *w) {
    pthread_mutex_lock(&w->lock);
    struct fy_wjob *job = w->done;
    w->done = w->done_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (job) {
        struct fy_wjob *next = job->next;
        job->next = NULL;
        job->delivered(job);             /* may free the job */
        job = next;
    }
}

static void on_written(void *arg) {
    fy_writer_deliver(arg);
}

/* Everything but the thread: its wake-up, lock and conditions. */
static void writer_free(struct fy_writer *w) {
    fy_wake_close(&w->wake);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->idle);
    free(w);
}

static void write_sqlite(void *db, struct fy_wjob *job) {
    fy_wjob_write(db, job);
}

/* ---- checkpoints off the writer thread ----------------------------------
 * SQLite checkpoints a WAL database in the thread that commits, once the
 * WAL holds 1,000 pages: it copies them into the database and syncs both
 * files, two fsyncs of ~5 ms here, while the loop thread waits for the
 * writer's batch (1.9 s of a 1M-record pipeline run, timed). A thread with
 * a connection of its own does it instead, PASSIVE, so it never blocks the
 * writer. Should it fall behind, the thread that commits catches up itself
 * once the WAL passes CKPT_MAX pages, so the WAL stays bounded. */
#define CKPT_PAGES 1000     /* SQLite's default wal_autocheckpoint */
#define CKPT_MAX 16000      /* 64 MB of 4 KB pages */

struct ckpt {
    sqlite3 *db;                    /* its own connection to the file */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;            /* want or stop was set */
    pthread_cond_t idle;            /* busy was cleared */
    int want, busy, stop;
};

static void *ckpt_main(void *arg) {
    struct ckpt *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while ((!c->want || c->busy) && !c->stop) pthread_cond_wait(&c->wake, &c->lock);
        if (c->stop) break;
        c->want = 0;
        c->busy = 1;
        pthread_mutex_unlock(&c->lock);
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->lock);
        c->busy = 0;
        pthread_cond_broadcast(&c->idle);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* SQLite's hook after each commit to db (on whichever thread committed). */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages) {
    struct ckpt *c = arg;
    if (pages < CKPT_PAGES) return SQLITE_OK;
    pthread_mutex_lock(&c->lock);
    if (pages < CKPT_MAX) {
        c->want = 1;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        return SQLITE_OK;
    }
    while (c->busy) pthread_cond_wait(&c->idle, &c->lock);
    c->busy = 1;                                /* behind: catch up here */
    pthread_mutex_unlock(&c->lock);
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&c->lock);
    c->busy = 0;
    pthread_cond_signal(&c->wake);              /* it may have been asked meanwhile */
    pthread_mutex_unlock(&c->lock);
    return SQLITE_OK;
}

static void ckpt_stop(sqlite3 *db, struct ckpt *c) {
    if (!c) return;
    sqlite3_wal_autocheckpoint(db, CKPT_PAGES);   /* SQLite's own hook again */
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    pthread_cond_destroy(&c->idle);
    free(c);
}

/* A checkpointer for db's file; NULL leaves SQLite's own (a database in
 * memory or a temporary file, or no thread to be had). */
static struct ckpt *ckpt_start(sqlite3 *db) {
    const char *file = sqlite3_db_filename(db, "main");
    int wal = 0;                                  /* a writable file in WAL mode */
    sqlite3_stmt *st;
    if (file && *file && sqlite3_db_readonly(db, "main") == 0 &&
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK) {
        wal = sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
    }
    struct ckpt *c = wal ? calloc(1, sizeof *c) : NULL;
    if (!c) return NULL;
    if (sqlite3_open_v2(file, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->idle, NULL);
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        sqlite3_close(c->db);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->wake);
        pthread_cond_destroy(&c->idle);
        free(c);
        return NULL;
    }
    sqlite3_wal_hook(db, on_wal_commit, c);
    return c;
}

struct fy_writer *fy_writer_create(sqlite3 *db, struct event_base *base, char *err, size_t errlen) {
    struct ckpt *c = ckpt_start(db);              /* before the writer thread can touch db */
    struct fy_writer *w = fy_writer_start(write_sqlite, db, base, err, errlen);
    if (!w) ckpt_stop(db, c);
    else w->ckpt = c;
    return w;
}

struct fy_writer *fy_writer_start(fy_write_fn write, void *conn, struct event_base *base, char *err,
                                  size_t errlen) {
    struct fy_writer *w = calloc(1, sizeof *w);
    if (!w) goto fail;
    w->write = write;
    w->conn = conn;
    if (fy_wake_open(&w->wake, base, on_written, w, err, errlen) != FY_OK) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->idle, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "cannot start the database writer thread");
        writer_free(w);
        return NULL;
    }
    return w;
fail:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void fy_writer_submit(struct fy_writer *w, struct fy_wjob *job) {
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->queue_tail) w->queue_tail->next = job;
    else w->queue = job;
    w->queue_tail = job;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
}

void fy_writer_drain(struct fy_writer *w) {
    pthread_mutex_lock(&w->lock);
    while (w->queue || w->busy) pthread_cond_wait(&w->idle, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void fy_writer_destroy(struct fy_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);      /* the thread finishes the queue first */
    ckpt_stop(w->conn, w->ckpt);
    fy_writer_deliver(w);
    writer_free(w);
}
