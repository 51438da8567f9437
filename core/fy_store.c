/* The durable store; see fy_store.h. */
#include "fy_store.h"
#include "fy_suggest.h"
#include "fy_common.h"
#include "fy_log.h"
#include "fy_time.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fy_store {
    sqlite3 *db;
    int lock_fd;                    /* -1 for readers */
    int found_version;
    sqlite3_stmt *stmts[FY_STMT_MAX];   /* prepared once, see fy_store_stmt */
    char err[1024];
};

/* Each entry moves the schema from version i to i + 1. Never edit a
 * released entry; add a new one. */
static const char *migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE integrations ("
    "  name TEXT PRIMARY KEY, owner TEXT, purpose TEXT, pattern TEXT, source_of_truth TEXT,"
    "  freshness_s REAL, script_path TEXT, script_version TEXT, seen_at TEXT);"
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY, integration TEXT NOT NULL, script_version TEXT, trigger TEXT,"
    "  started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL,"
    "  extracted INTEGER DEFAULT 0, transformed INTEGER DEFAULT 0, skipped INTEGER DEFAULT 0,"
    "  loaded INTEGER DEFAULT 0, quarantined INTEGER DEFAULT 0, batches INTEGER DEFAULT 0,"
    "  retries INTEGER DEFAULT 0, by_class TEXT, by_stage TEXT, error TEXT, checkpoint TEXT, pid INTEGER);"
    "CREATE INDEX runs_by_integration ON runs (integration, started_at);"
    "CREATE TABLE checkpoints ("
    "  integration TEXT PRIMARY KEY, cursor TEXT NOT NULL, run_id TEXT, updated_at TEXT NOT NULL);"
    "CREATE TABLE state ("
    "  integration TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL,"
    "  updated_at TEXT NOT NULL, PRIMARY KEY (integration, key));",
    /* 1 -> 2: the quarantine (dead letters); see fy_quarantine.c */
    "CREATE TABLE quarantine ("
    "  id INTEGER PRIMARY KEY, integration TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'discarded')),"
    "  stage TEXT NOT NULL, class TEXT NOT NULL, reason TEXT NOT NULL, record TEXT NOT NULL, output TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 1, script_version TEXT, first_run TEXT, last_run TEXT,"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, resolved_at TEXT, resolved_run TEXT,"
    "  discarded_at TEXT, discard_reason TEXT, UNIQUE (integration, fingerprint));"
    "CREATE INDEX quarantine_by_status ON quarantine (status, id);"
    "CREATE INDEX quarantine_by_integration ON quarantine (status, integration, id);"
    "CREATE INDEX quarantine_by_name ON quarantine (integration, id);",
    /* 2 -> 3: mark the file as ferry's (checked on every open, see check_identity) */
    "PRAGMA application_id = 1717924473;",
    /* 3 -> 4: when a quarantined record last failed, kept apart from
     * updated_at (which resolving and discarding rewrite). Open rows, and
     * discarded rows that failed again after the discard, have it in
     * updated_at; for the others the best kept is the end of the run that
     * last failed them (a discard may come before that run ends: never
     * later than updated_at). */
    "ALTER TABLE quarantine ADD COLUMN last_failed_at TEXT;"
    "UPDATE quarantine SET last_failed_at = CASE"
    "  WHEN status = 'open' OR (status = 'discarded' AND updated_at IS NOT discarded_at) THEN updated_at"
    "  ELSE min(updated_at, coalesce((SELECT coalesce(r.ended_at, r.started_at) FROM runs r"
    "                                 WHERE r.id = quarantine.last_run), created_at)) END;",
    /* 4 -> 5: what ferry serve keeps per integration, so status shows it
     * with or without the service: the schedule and its next run, whether
     * it is paused (since when, why), and why its script last failed to
     * (re)load. */
    "ALTER TABLE integrations ADD COLUMN schedule TEXT;"
    "ALTER TABLE integrations ADD COLUMN next_run_at TEXT;"
    "ALTER TABLE integrations ADD COLUMN paused_at TEXT;"
    "ALTER TABLE integrations ADD COLUMN paused_reason TEXT;"
    "ALTER TABLE integrations ADD COLUMN reload_error TEXT;"
    "ALTER TABLE integrations ADD COLUMN reload_failed_at TEXT;",
    /* 5 -> 6: the webhook inbox (fy_inbox.c): events stored before their
     * 2xx, pending until the transaction that commits what their run
     * loaded or quarantined marks them done or failed */
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY, integration TEXT NOT NULL, hook TEXT NOT NULL, delivery_id TEXT,"
    "  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),"
    "  received_at TEXT NOT NULL, method TEXT NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,"
    "  run_id TEXT, done_at TEXT, UNIQUE (integration, delivery_id));"
    "CREATE INDEX events_by_status ON events (integration, status, id);",
    /* 6 -> 7: the operating model (issue 15).
     * runs: a run's verdict beside its status ('suspect': fewer records
     * than expected; 'incomplete': too much quarantined; NULL: none) and
     * the records a `continue` policy dropped on purpose.
     * integrations: the class that paused it, and when a probe run may
     * try the source again (pause = { probe = "15m" }).
     * alerts: one row per integration and kind while open (deduplicated),
     * kept when resolved, with where its messages go (the policy when it
     * opened: targets as a JSON list, repeat, escalation); alert_sends: the outbox, a row per message to
     * a channel, stored before it is sent so a crash loses none.
     * schemas: the field names and JSON types last seen per integration
     * and stream (schema drift). */
    "ALTER TABLE runs ADD COLUMN verdict TEXT;"
    "ALTER TABLE runs ADD COLUMN verdict_reason TEXT;"
    "ALTER TABLE runs ADD COLUMN dropped INTEGER DEFAULT 0;"
    /* status, freshness and /metrics ask per integration for its last run,
     * last good run and last replay: covered here, not row by row */
    "CREATE INDEX runs_by_status ON runs (integration, status, trigger, started_at, ended_at);"
    "ALTER TABLE integrations ADD COLUMN paused_class TEXT;"
    "ALTER TABLE integrations ADD COLUMN probe_at TEXT;"
    "CREATE TABLE alerts ("
    "  id INTEGER PRIMARY KEY, integration TEXT NOT NULL, kind TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),"
    "  summary TEXT NOT NULL, detail TEXT, occurrences INTEGER NOT NULL DEFAULT 1,"
    "  opened_at TEXT NOT NULL, last_seen_at TEXT NOT NULL, last_sent_at TEXT, sends INTEGER NOT NULL DEFAULT 0,"
    "  escalate_at TEXT, escalated_at TEXT, acked_at TEXT, ack_reason TEXT,"
    "  resolved_at TEXT, resolution TEXT,"
    "  owner TEXT, targets TEXT NOT NULL DEFAULT '[\"log\"]', repeat_s REAL, escalate_to TEXT);"
    "CREATE UNIQUE INDEX alerts_open ON alerts (integration, kind) WHERE status = 'open';"
    "CREATE INDEX alerts_by_status ON alerts (status, id);"
    "CREATE TABLE alert_sends ("
    "  id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL, channel TEXT NOT NULL,"
    "  event TEXT NOT NULL CHECK (event IN ('opened', 'repeat', 'escalated', 'resolved')),"
    "  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),"
    "  created_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_try_at TEXT, sent_at TEXT, error TEXT);"
    "CREATE INDEX alert_sends_pending ON alert_sends (status, id);"
    "CREATE TABLE schemas ("
    "  integration TEXT NOT NULL, stream TEXT NOT NULL DEFAULT '', fields TEXT NOT NULL,"
    "  run_id TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (integration, stream));",
    /* 8: runs.findings: what the definitions found in the run (new
     * picklist values, missing lookup keys, edits in the destination) as
     * a JSON list; written: what ferry last wrote of the destination fields
     * it owns, per integration and record key (ferry.fields). */
    "ALTER TABLE runs ADD COLUMN findings TEXT;"
    "CREATE TABLE written ("
    "  integration TEXT NOT NULL, record_key TEXT NOT NULL, fields TEXT NOT NULL,"
    "  run_id TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (integration, record_key)) WITHOUT ROWID;",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
#define APPLICATION_ID 1717924473           /* 0x66657279, "fery" */

void fy_store_now(char *buf, size_t cap) { fy_time_format(fy_time_now(), 0, 3, buf, cap); }

static int exec(struct fy_store *s, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK) return FY_OK;
    snprintf(s->err, sizeof s->err, "%s", msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return FY_ERR;
}

static int user_version(struct fy_store *s) {
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Bring the schema to N_MIGRATIONS, one step per transaction. The version
 * is read inside each write transaction, so two processes opening a new
 * store at once (a run and a status) never apply a step twice. */
static int migrate(struct fy_store *s) {
    s->found_version = user_version(s);
    if (s->found_version == N_MIGRATIONS) return FY_OK;       /* readers stay readers */
    for (;;) {
        if (exec(s, "BEGIN IMMEDIATE") != FY_OK) return FY_ERR;
        int v = user_version(s);
        if (v > N_MIGRATIONS) {
            exec(s, "ROLLBACK");
            snprintf(s->err, sizeof s->err, "the store has schema version %d, newer than this ferry "
                     "understands (%d); use a newer ferry", v, N_MIGRATIONS);
            return FY_ERR;
        }
        if (v < 0 || v == N_MIGRATIONS) {
            exec(s, "COMMIT");
            return v < 0 ? FY_ERR : FY_OK;
        }
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (exec(s, migrations[v]) != FY_OK || exec(s, bump) != FY_OK) {
            char keep[sizeof s->err];
            snprintf(keep, sizeof keep, "migrating the store to schema %d: %.400s", v + 1, s->err);
            exec(s, "ROLLBACK");
            memcpy(s->err, keep, sizeof keep);
            return FY_ERR;
        }
        if (exec(s, "COMMIT") != FY_OK) return FY_ERR;
    }
}

/* Who holds the lock, as " (pid N)" from the file, or "". */
static void lock_holder(int fd, char *out, size_t cap) {
    char pid[32];
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn(pid, "\n")] = '\0';
    snprintf(out, cap, "%s%s%s", *pid ? " (pid " : "", pid, *pid ? ")" : "");
}

/* One writer per data directory: flock on ferry.lock, holding our pid. A
 * writer that finds it taken polls for up to `wait` seconds: flock has no
 * timeout, and an alarm would be process-wide. */
static int take_lock(struct fy_store *s, const char *data_dir, double wait) {
    char path[4096], pid[32], holder[48];
    snprintf(path, sizeof path, "%s/ferry.lock", data_dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        snprintf(s->err, sizeof s->err, "cannot open %.300s: %s", path, strerror(errno));
        return FY_ERR;
    }
    double deadline = fy_time_monotonic() + wait;
    int said = 0;
    while (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        lock_holder(s->lock_fd, holder, sizeof holder);
        if (errno != EWOULDBLOCK || fy_time_monotonic() >= deadline) {
            snprintf(s->err, sizeof s->err, "%.200s is in use by another ferry process%s%s; one process runs "
                     "integrations per data directory (reports like 'ferry status' work meanwhile; "
                     "lock_wait in the config sets how long to wait)", data_dir, holder,
                     wait > 0 ? ", still after waiting" : "");
            close(s->lock_fd);
            s->lock_fd = -1;
            return FY_ERR;
        }
        if (!said++)
            fy_log(FY_LOG_WARN, NULL, "%.200s is in use by another ferry process%s; waiting up to %gs for it",
                   data_dir, holder, wait);
        usleep(100 * 1000);
    }
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, pid, (size_t)len, 0) != len) {
        /* the lock is what matters; the pid is only for the message */
    }
    return FY_OK;
}

/* A store ferry will not use: say what is wrong and how to recover, and
 * touch nothing. Returns FY_ERR. */
static int refuse(struct fy_store *s, const char *path, const char *what) {
    snprintf(s->err, sizeof s->err, "%.200s %.150s; ferry will not use or change it. To recover, restore a backup "
             "(stop ferry, copy the backup over ferry.db, remove ferry.db-wal and ferry.db-shm) or move "
             "ferry.db aside to start an empty store", path, what);
    return FY_ERR;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Before SQLite sees the file: SQLite takes a 0-byte file for an empty
 * database (and would make a new store of it) and gives only "file is not
 * a database" for anything else. A file shorter than its header says is
 * truncated, unless a WAL may hold the rest (a checkpoint in progress
 * writes page 1 first): then *deep asks for the full check. */
static int check_file(struct fy_store *s, const char *path, const struct stat *st, int *deep) {
    char wal[4200], what[160];
    unsigned char head[100];
    struct stat ws;
    snprintf(wal, sizeof wal, "%s-wal", path);
    int has_wal = stat(wal, &ws) == 0 && ws.st_size > 0;
    if (st->st_size == 0 && !has_wal) return refuse(s, path, "is empty (0 bytes): the store it held is lost");
    if (st->st_size == 0) return FY_OK;         /* everything is still in the WAL */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, head, sizeof head);
    if (fd >= 0) close(fd);
    if (n < 0) {
        snprintf(s->err, sizeof s->err, "cannot read %.300s: %s", path, strerror(errno));
        return FY_ERR;
    }
    if (n < (ssize_t)sizeof head || memcmp(head, "SQLite format 3", 16) != 0)
        return refuse(s, path, "is not an SQLite database (damaged, or another file)");
    /* page size (1 means 65536), pages in the file when the "valid for"
     * counter matches the change counter (the SQLite file format, 1.3) */
    long long page = head[16] << 8 | head[17], pages = be32(head + 28);
    if (page == 1) page = 65536;
    if (be32(head + 92) == be32(head + 24) && pages > 0 && (long long)st->st_size < page * pages) {
        if (has_wal) {
            *deep = 1;
            return FY_OK;
        }
        snprintf(what, sizeof what, "is truncated (%lld bytes, its header says %lld)", (long long)st->st_size,
                 page * pages);
        return refuse(s, path, what);
    }
    return FY_OK;
}

static int pragma_int(struct fy_store *s, const char *sql, int *out) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return FY_ERR;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FY_OK : FY_ERR;
}

/* A statement on the store failed: damage is refused, anything else said. */
static int check_failed(struct fy_store *s, const char *path) {
    char what[400];
    int code = sqlite3_errcode(s->db);
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
        snprintf(what, sizeof what, "is damaged (%.120s)", sqlite3_errmsg(s->db));
        return refuse(s, path, what);
    }
    snprintf(s->err, sizeof s->err, "cannot check %.300s: %s", path, sqlite3_errmsg(s->db));
    return FY_ERR;
}

/* Run one quick_check statement; FY_OK when it says "ok". */
static int quick_check(struct fy_store *s, const char *path, const char *sql) {
    sqlite3_stmt *st;
    char what[400];
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        snprintf(what, sizeof what, "is damaged (quick_check: %.120s)", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return refuse(s, path, what);
    }
    if (rc != SQLITE_ROW) {
        check_failed(s, path);
        sqlite3_finalize(st);
        return FY_ERR;
    }
    sqlite3_finalize(st);
    return FY_OK;
}

/* Damage first. With `deep` (a writer, once per process) PRAGMA quick_check
 * of the whole file, about a second per 100 MB; otherwise (status, runs,
 * quarantine, backup) of every table but the quarantine, which can hold
 * millions of rows (SQLite reports a damaged page there when it reads it).
 * Then: is it ferry's? Its application_id (schema 3 on), or a ferry store
 * from before it (no id, a runs table), or an empty database (no tables: a
 * store never written). */
static int check_store(struct fy_store *s, const char *path, int deep) {
    static const char *small[] = {"integrations", "runs", "checkpoints", "state"};
    char what[400];
    if (deep && quick_check(s, path, "PRAGMA quick_check") != FY_OK) return FY_ERR;
    for (size_t i = 0; !deep && i < sizeof small / sizeof small[0]; i++) {
        char sql[96];
        int exists = 0;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", small[i]);
        if (pragma_int(s, sql, &exists) != FY_OK) return check_failed(s, path);
        snprintf(sql, sizeof sql, "PRAGMA quick_check(%s)", small[i]);
        if (exists && quick_check(s, path, sql) != FY_OK) return FY_ERR;
    }
    int app = 0, version = 0, tables = 0, runs = 0;
    if (pragma_int(s, "PRAGMA application_id", &app) != FY_OK ||
        pragma_int(s, "PRAGMA user_version", &version) != FY_OK ||
        pragma_int(s, "SELECT count(*) FROM sqlite_master", &tables) != FY_OK ||
        pragma_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'", &runs) != FY_OK) {
        return check_failed(s, path);
    }
    if (app == APPLICATION_ID || (app == 0 && version > 0 && runs) || (app == 0 && version == 0 && !tables))
        return FY_OK;
    if (app != 0) snprintf(what, sizeof what, "is not a ferry store (SQLite application_id 0x%08x)", (unsigned)app);
    else snprintf(what, sizeof what, "is not a ferry store (schema version %d, %d objects, no runs table)",
                  version, tables);
    return refuse(s, path, what);
}

/* Give the finished file tmp its name dest without replacing a dest that
 * exists (EEXIST). On a file system without hard links, rename it when dest
 * is still absent (a creator racing us there could be replaced). */
int fy_store_place(const char *tmp, const char *dest) {
    struct stat st;
    if (link(tmp, dest) == 0) return 0;
    if (errno != EPERM && errno != ENOTSUP && errno != ENOSYS && errno != EMLINK) return -1;
    if (lstat(dest, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(tmp, dest);
}

/* Make a new store at path, complete or not at all: built under a temporary
 * name (0600) and linked into place, so no process ever sees a half-made
 * or 0-byte ferry.db. Another process creating it at the same time wins
 * harmlessly (link fails with EEXIST and its store is used). */
static int create_store(struct fy_store *s, const char *data_dir, const char *path) {
    char tmp[4200], side[4300];
    snprintf(tmp, sizeof tmp, "%s/.ferry.db.new-%ld", data_dir, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(s->err, sizeof s->err, "cannot create %.300s: %s", tmp, strerror(errno));
        return FY_ERR;
    }
    close(fd);
    int rc = FY_ERR;
    if (sqlite3_open_v2(tmp, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(s->err, sizeof s->err, "cannot create %.300s: %s", tmp, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    } else if (exec(s, "PRAGMA journal_mode=WAL") == FY_OK && migrate(s) == FY_OK) {
        rc = FY_OK;
    }
    sqlite3_close_v2(s->db);                    /* the last connection: checkpoints, removes -wal */
    s->db = NULL;
    if (rc == FY_OK && fy_store_place(tmp, path) != 0 && errno != EEXIST) {
        snprintf(s->err, sizeof s->err, "cannot create %.300s: %s", path, strerror(errno));
        rc = FY_ERR;
    }
    unlink(tmp);
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", tmp, i ? "-shm" : "-wal");
        unlink(side);
    }
    return rc;
}

/* Data readable by other users: say so once (ferry.db holds run history
 * and quarantined records). Existing modes are the admin's; never changed. */
static void warn_if_shared(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        fy_log(FY_LOG_WARN, NULL, "%s is open to other users (mode %04o); ferry creates its data directory 0700 "
               "and ferry.db 0600 (chmod go= %s)", path, (unsigned)(st.st_mode & 07777), path);
}

struct fy_store *fy_store_open(const char *data_dir, int writer, double lock_wait, char *err, size_t errlen) {
    struct fy_store *s = calloc(1, sizeof *s);
    char path[4096];
    struct stat st;
    int created = 0, deep = writer;     /* the full check once per writer; see check_store */
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->lock_fd = -1;
    if (writer && take_lock(s, data_dir, lock_wait) != FY_OK) goto fail;
    snprintf(path, sizeof path, "%s/ferry.db", data_dir);
    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            snprintf(s->err, sizeof s->err, "cannot open %.300s: %s", path, strerror(errno));
            goto fail;
        }
        if (create_store(s, data_dir, path) != FY_OK) goto fail;
        created = 1;
    } else if (check_file(s, path, &st, &deep) != FY_OK) {
        goto fail;
    }
    if (writer) {
        warn_if_shared(data_dir);
        warn_if_shared(path);
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(s->err, sizeof s->err, "cannot open %.300s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (check_store(s, path, deep) != FY_OK) goto fail;
    /* Switching a new file to WAL can report busy at once while another
     * process creates it; the busy timeout does not cover that, so retry. */
    for (int tries = 0; exec(s, "PRAGMA journal_mode=WAL") != FY_OK; tries++) {
        if (sqlite3_errcode(s->db) != SQLITE_BUSY || tries == 100) goto fail;
        usleep(50000);
    }
    if (exec(s, "PRAGMA synchronous=FULL") != FY_OK || migrate(s) != FY_OK) goto fail;
    if (created) s->found_version = 0;
    /* We hold the lock, so a run still marked running belongs to a dead process. */
    if (writer && fy_store_abort_running(s, "the process ended before the run finished") != FY_OK) goto fail;
    return s;
fail:
    snprintf(err, errlen, "store: %s", s->err);
    fy_store_close(s);
    return NULL;
}

void fy_store_close(struct fy_store *s) {
    if (!s) return;
    for (int i = 0; i < FY_STMT_MAX; i++) sqlite3_finalize(s->stmts[i]);
    if (s->db) sqlite3_close_v2(s->db);
    if (s->lock_fd >= 0) close(s->lock_fd);   /* releases the flock */
    free(s);
}

int fy_store_found_version(const struct fy_store *s) { return s->found_version; }

sqlite3_stmt *fy_store_stmt(struct fy_store *s, enum fy_stmt slot, const char *sql) {
    sqlite3_stmt *st = s->stmts[slot];
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
    }
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[slot], NULL) != SQLITE_OK) {
        snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(s->db));
        return NULL;
    }
    return s->stmts[slot];
}

int fy_store_step(struct fy_store *s, sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(s->db));
    return rc;
}

int fy_store_begin(struct fy_store *s) { return exec(s, "BEGIN IMMEDIATE"); }

int fy_store_commit(struct fy_store *s) {
    if (exec(s, "COMMIT") == FY_OK) return FY_OK;
    char keep[sizeof s->err];
    memcpy(keep, s->err, sizeof keep);
    exec(s, "ROLLBACK");
    memcpy(s->err, keep, sizeof keep);
    return FY_ERR;
}

void fy_store_rollback(struct fy_store *s) {
    if (!sqlite3_get_autocommit(s->db)) exec(s, "ROLLBACK");
}
struct sqlite3 *fy_store_db(struct fy_store *s) { return s->db; }
const char *fy_store_error(struct fy_store *s) { return s->err; }

/* Prepare, bind text parameters (NULL binds NULL), step once, finalize. */
static int run_sql(struct fy_store *s, const char *sql, int n, const char **args) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(s->db));
        return FY_ERR;
    }
    for (int i = 0; i < n; i++) sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FY_OK : FY_ERR;
}

int fy_store_integration_seen(struct fy_store *s, const struct fy_integration_info *in) {
    char now[40], fresh[32];
    fy_store_now(now, sizeof now);
    snprintf(fresh, sizeof fresh, "%.3f", in->freshness);
    const char *a[] = {in->name, in->owner, in->purpose, in->pattern, in->source_of_truth, fresh,
                       in->script_path, in->version, now};
    return run_sql(s, "INSERT INTO integrations (name, owner, purpose, pattern, source_of_truth, freshness_s, "
                      "script_path, script_version, seen_at) VALUES (?, ?, ?, ?, ?, CAST(? AS REAL), ?, ?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, purpose = excluded.purpose, "
                      "pattern = excluded.pattern, source_of_truth = excluded.source_of_truth, "
                      "freshness_s = excluded.freshness_s, script_path = excluded.script_path, "
                      "script_version = excluded.script_version, seen_at = excluded.seen_at", 9, a);
}

int fy_store_run_begin(struct fy_store *s, const char *run_id, const char *integration,
                       const char *version, const char *trigger) {
    char now[40], pid[24];
    fy_store_now(now, sizeof now);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    const char *a[] = {run_id, integration, version, trigger, now, pid};
    return run_sql(s, "INSERT INTO runs (id, integration, script_version, trigger, started_at, status, pid) "
                      "VALUES (?, ?, ?, ?, ?, 'running', CAST(? AS INTEGER))", 6, a);
}

int fy_store_run_end(struct fy_store *s, const char *run_id, const struct fy_run_summary *m) {
    char now[40], n[8][24];
    long long v[8] = {m->extracted, m->transformed, m->skipped, m->loaded, m->quarantined, m->batches, m->retries,
                      m->dropped};
    fy_store_now(now, sizeof now);
    for (int i = 0; i < 8; i++) snprintf(n[i], sizeof n[i], "%lld", v[i]);
    const char *a[] = {now, m->status, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7],
                       m->by_class_json, m->by_stage_json, m->error, m->checkpoint_json, m->verdict,
                       m->verdict_reason, m->findings_json, run_id};
    return run_sql(s, "UPDATE runs SET ended_at = ?, status = ?, extracted = CAST(? AS INTEGER), "
                      "transformed = CAST(? AS INTEGER), skipped = CAST(? AS INTEGER), loaded = CAST(? AS INTEGER), "
                      "quarantined = CAST(? AS INTEGER), batches = CAST(? AS INTEGER), retries = CAST(? AS INTEGER), "
                      "dropped = CAST(? AS INTEGER), by_class = ?, by_stage = ?, error = ?, checkpoint = ?, "
                      "verdict = ?, verdict_reason = ?, findings = ? WHERE id = ?", 18, a);
}

static char *query_text(struct fy_store *s, const char *sql, int n, const char **args);

int fy_store_abort_running(struct fy_store *s, const char *reason) {
    char now[40];
    fy_store_now(now, sizeof now);
    const char *a[] = {now, reason};
    return run_sql(s, "UPDATE runs SET status = 'aborted', ended_at = COALESCE(ended_at, ?), "
                      "error = COALESCE(error, ?), "
                      "checkpoint = COALESCE(checkpoint, (SELECT cursor FROM checkpoints c "
                      "  WHERE c.integration = runs.integration AND c.run_id = runs.id)) "
                      "WHERE status = 'running'", 2, a);
}

char *fy_store_integration_by_path(struct fy_store *s, const char *script_path) {
    const char *a[] = {script_path};
    return query_text(s, "SELECT name FROM integrations WHERE script_path = ? ORDER BY seen_at DESC LIMIT 1", 1, a);
}

int fy_store_run_skipped(struct fy_store *s, const char *run_id, const char *integration, const char *version,
                         const char *trigger, const char *reason) {
    char now[40], pid[24];
    fy_store_now(now, sizeof now);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    const char *a[] = {run_id, integration, version, trigger, now, now, reason, pid};
    return run_sql(s, "INSERT INTO runs (id, integration, script_version, trigger, started_at, ended_at, status, "
                      "error, pid) VALUES (?, ?, ?, ?, ?, ?, 'skipped', ?, CAST(? AS INTEGER))", 8, a);
}

int fy_store_schedule_set(struct fy_store *s, const char *integration, const char *schedule, double next_run) {
    char next[FY_TIME_FORMAT_MAX];
    int finite = isfinite(next_run);
    if (finite) fy_time_format(next_run, 0, 0, next, sizeof next);
    const char *a[] = {schedule, finite ? next : NULL, integration};
    return run_sql(s, "UPDATE integrations SET schedule = ?, next_run_at = ? WHERE name = ?", 3, a);
}

int fy_store_pause_set(struct fy_store *s, const char *integration, const char *reason) {
    char now[40];
    fy_store_now(now, sizeof now);
    const char *a[] = {reason ? now : NULL, reason, integration};
    return run_sql(s, "UPDATE integrations SET paused_at = ?, paused_reason = ?, paused_class = NULL, "
                      "probe_at = NULL WHERE name = ?", 3, a);
}

int fy_store_pause_policy(struct fy_store *s, const char *integration, const char *reason, const char *klass,
                          double probe_at) {
    char now[40], probe[40] = "";
    fy_store_now(now, sizeof now);
    if (isfinite(probe_at)) fy_time_format(probe_at, 0, 3, probe, sizeof probe);
    const char *a[] = {now, reason, klass, *probe ? probe : NULL, integration};
    return run_sql(s, "UPDATE integrations SET paused_at = ?, paused_reason = ?, paused_class = ?, probe_at = ? "
                      "WHERE name = ?", 5, a);
}

int fy_store_probe_set(struct fy_store *s, const char *integration, double probe_at) {
    char probe[40] = "";
    if (isfinite(probe_at)) fy_time_format(probe_at, 0, 3, probe, sizeof probe);
    const char *a[] = {*probe ? probe : NULL, integration};
    return run_sql(s, "UPDATE integrations SET probe_at = ? WHERE name = ? AND paused_at IS NOT NULL", 2, a);
}

char *fy_store_paused_class(struct fy_store *s, const char *integration, double *probe_at) {
    sqlite3_stmt *st;
    char *out = NULL;
    *probe_at = NAN;
    if (sqlite3_prepare_v2(s->db, "SELECT paused_class, probe_at FROM integrations WHERE name = ? "
                                  "AND paused_at IS NOT NULL", -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_text(st, 1, integration, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_text(st, 0)) out = strdup((const char *)sqlite3_column_text(st, 0));
        const char *p = (const char *)sqlite3_column_text(st, 1);
        int off;
        if (p && fy_time_parse(p, strlen(p), probe_at, &off, NULL, 0) != FY_OK) *probe_at = NAN;
    }
    sqlite3_finalize(st);
    return out;
}

int fy_store_reload_error_set(struct fy_store *s, const char *integration, const char *error) {
    char now[40];
    fy_store_now(now, sizeof now);
    const char *a[] = {error, error ? now : NULL, integration};
    return run_sql(s, "UPDATE integrations SET reload_error = ?, reload_failed_at = ? WHERE name = ?", 3, a);
}

/* Run a one-row, one-column query with text args; malloc'd result or NULL. */
static char *query_text(struct fy_store *s, const char *sql, int n, const char **args) {
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    for (int i = 0; i < n; i++) sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

char *fy_store_paused(struct fy_store *s, const char *integration) {
    const char *a[] = {integration};
    return query_text(s, "SELECT paused_reason FROM integrations WHERE name = ? AND paused_at IS NOT NULL", 1, a);
}

int fy_store_last_start(struct fy_store *s, const char *integration, const char *trigger, double *at) {
    const char *a[] = {integration, trigger};
    char *t = query_text(s, "SELECT max(started_at) FROM runs WHERE integration = ? AND trigger = ?", 2, a);
    int off, found = t && fy_time_parse(t, strlen(t), at, &off, NULL, 0) == FY_OK;
    free(t);
    return found;
}

char *fy_store_script_path(struct fy_store *s, const char *integration) {
    const char *a[] = {integration};
    return query_text(s, "SELECT script_path FROM integrations WHERE name = ?", 1, a);
}

int fy_store_integration_known(struct fy_store *s, const char *name, char *suggest, size_t cap) {
    sqlite3_stmt *st;
    if (suggest && cap) suggest[0] = '\0';
    /* the common case, a known name, through the tables' indexes */
    if (sqlite3_prepare_v2(s->db, "SELECT EXISTS (SELECT 1 FROM integrations WHERE name = ?1) "
                                  "OR EXISTS (SELECT 1 FROM runs WHERE integration = ?1) "
                                  "OR EXISTS (SELECT 1 FROM checkpoints WHERE integration = ?1) "
                                  "OR EXISTS (SELECT 1 FROM state WHERE integration = ?1) "
                                  "OR EXISTS (SELECT 1 FROM quarantine WHERE integration = ?1)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int hit = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (hit) return hit;
    if (!suggest || !cap) return 0;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM integrations UNION SELECT integration FROM runs "
                                  "UNION SELECT integration FROM checkpoints UNION SELECT integration FROM state "
                                  "UNION SELECT integration FROM quarantine", -1, &st, NULL) != SQLITE_OK)
        return -1;
    struct fy_suggest sg;
    fy_suggest_init(&sg, name);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(st, 0);
        size_t was = sg.dist;          /* sg.best points into the row: copy it out */
        fy_suggest_offer(&sg, n);
        if (sg.dist < was) snprintf(suggest, cap, "%s", n);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

char *fy_store_checkpoint_get(struct fy_store *s, const char *integration) {
    const char *a[] = {integration};
    return query_text(s, "SELECT cursor FROM checkpoints WHERE integration = ?", 1, a);
}

int fy_store_checkpoint_set(struct fy_store *s, const char *integration, const char *run_id, const char *json) {
    char now[40];
    fy_store_now(now, sizeof now);
    const char *a[] = {integration, json, run_id, now};
    return run_sql(s, "INSERT INTO checkpoints VALUES (?, ?, ?, ?) ON CONFLICT (integration) DO UPDATE SET "
                      "cursor = excluded.cursor, run_id = excluded.run_id, updated_at = excluded.updated_at", 4, a);
}

int fy_store_checkpoint_reset(struct fy_store *s, const char *integration) {
    const char *a[] = {integration};
    if (run_sql(s, "DELETE FROM checkpoints WHERE integration = ?", 1, a) != FY_OK) return FY_ERR;
    return sqlite3_changes(s->db) > 0;
}

char *fy_store_schema_get(struct fy_store *s, const char *integration, const char *stream) {
    const char *a[] = {integration, stream};
    return query_text(s, "SELECT fields FROM schemas WHERE integration = ? AND stream = ?", 2, a);
}

int fy_store_schema_set(struct fy_store *s, const char *integration, const char *stream, const char *fields_json,
                        const char *run_id) {
    char now[40];
    fy_store_now(now, sizeof now);
    const char *a[] = {integration, stream, fields_json, run_id, now};
    return run_sql(s, "INSERT INTO schemas (integration, stream, fields, run_id, updated_at) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT (integration, stream) DO UPDATE SET fields = excluded.fields, "
                      "run_id = excluded.run_id, updated_at = excluded.updated_at", 5, a);
}

/* Step a bound one-row query: its first column (malloc'd), or NULL when no
 * row. The statement is reset for its next use. */
static char *step_text(sqlite3_stmt *st) {
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return out;
}

/* Step a bound write; its error goes to s->err. Reset for its next use. */
static int step_done(struct fy_store *s, sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(s->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? FY_OK : FY_ERR;
}

char *fy_store_state_get(struct fy_store *s, const char *integration, const char *key) {
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_STATE_GET, "SELECT value FROM state WHERE integration = ? "
                                     "AND key = ? AND (expires_at IS NULL OR expires_at > ?)");
    if (!st) return NULL;
    sqlite3_bind_text(st, 1, integration, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, fy_time_now());
    return step_text(st);
}

int fy_store_state_set(struct fy_store *s, const char *integration, const char *key, const char *json, double ttl) {
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_STATE_SET, "INSERT INTO state VALUES (?, ?, ?, ?, ?) "
                                     "ON CONFLICT (integration, key) DO UPDATE SET value = excluded.value, "
                                     "expires_at = excluded.expires_at, updated_at = excluded.updated_at");
    if (!st) return FY_ERR;
    char now[40];
    fy_store_now(now, sizeof now);
    sqlite3_bind_text(st, 1, integration, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    if (ttl > 0) sqlite3_bind_double(st, 4, fy_time_now() + ttl);
    else sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    return step_done(s, st);
}

char *fy_store_written_get(struct fy_store *s, const char *integration, const char *key) {
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_WRITTEN_GET, "SELECT fields FROM written WHERE integration = ? "
                                     "AND record_key = ?");
    if (!st) return NULL;
    sqlite3_bind_text(st, 1, integration, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    return step_text(st);
}

int fy_store_written_put(struct fy_store *s, const char *integration, const char *key, const char *json,
                         const char *run_id) {
    sqlite3_stmt *st = fy_store_stmt(s, FY_STMT_WRITTEN_PUT, "INSERT INTO written VALUES (?, ?, ?, ?, ?) "
                                     "ON CONFLICT (integration, record_key) DO UPDATE SET fields = excluded.fields, "
                                     "run_id = excluded.run_id, updated_at = excluded.updated_at");
    if (!st) return FY_ERR;
    char now[40];
    fy_store_now(now, sizeof now);
    sqlite3_bind_text(st, 1, integration, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    return step_done(s, st);
}

int fy_store_state_delete(struct fy_store *s, const char *integration, const char *key) {
    const char *a[] = {integration, key};
    return run_sql(s, "DELETE FROM state WHERE integration = ? AND key = ?", 2, a);
}
