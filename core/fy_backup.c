/* ferry backup: an online, checked copy of the store; see fy_backup.h. */
#include "fy_backup.h"
#include "fy_common.h"
#include "fy_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_PAGES 256        /* pages copied per step; the source is unlocked between steps */

/* Copy src into the empty database dst, step by step. A write by another
 * process between two steps makes SQLite start the copy over; after many
 * more steps than the store has pages for, copy the rest in one step (one
 * read transaction: in WAL mode the writer is not blocked by it). */
static int copy(sqlite3 *src, sqlite3 *dst, char *err, size_t errlen) {
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        snprintf(err, errlen, "cannot start the backup: %s", sqlite3_errmsg(dst));
        return FY_ERR;
    }
    int rc, steps = 0, limit = 0;
    do {
        rc = sqlite3_backup_step(b, steps < limit || limit == 0 ? BACKUP_PAGES : -1);
        if (limit == 0) limit = 10 * (sqlite3_backup_pagecount(b) / BACKUP_PAGES + 1) + 100;
        steps++;
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(20);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "the backup failed: %s", sqlite3_errstr(rc));
        return FY_ERR;
    }
    return FY_OK;
}

static long long count_of(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Make the copy a standalone file, check it and count what it holds. */
static int verify(sqlite3 *dst, struct fy_backup_info *info, char *err, size_t errlen) {
    sqlite3_stmt *st;
    char *msg = NULL;
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot finish the copy: %s", msg ? msg : sqlite3_errmsg(dst));
        sqlite3_free(msg);
        return FY_ERR;
    }
    int ok = sqlite3_prepare_v2(dst, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    if (!ok) snprintf(err, errlen, "the copy fails its check (quick_check: %s)",
                      st && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(dst));
    sqlite3_finalize(st);
    if (!ok) return FY_ERR;
    info->integrations = count_of(dst, "SELECT count(*) FROM integrations");
    info->runs = count_of(dst, "SELECT count(*) FROM runs");
    info->quarantined = count_of(dst, "SELECT count(*) FROM quarantine");
    if (info->integrations < 0 || info->runs < 0 || info->quarantined < 0) {
        snprintf(err, errlen, "cannot read the copy: %s", sqlite3_errmsg(dst));
        return FY_ERR;
    }
    return FY_OK;
}

/* Is st the store's file, its -wal or its -shm? */
static int is_store_file(sqlite3 *src, const struct stat *st) {
    const char *db = sqlite3_db_filename(src, "main");
    char side[4200];
    struct stat o;
    for (int i = 0; db && i < 3; i++) {
        snprintf(side, sizeof side, "%s%s", db, i == 0 ? "" : i == 1 ? "-wal" : "-shm");
        if (stat(side, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino) return 1;
    }
    return 0;
}

int fy_backup_write(struct fy_store *s, const char *dest, int force, struct fy_backup_info *info,
                    char *err, size_t errlen) {
    sqlite3 *src = fy_store_db(s);
    char tmp[4200], side[4300], dir[4096];
    struct stat st;
    sqlite3 *dst = NULL;
    int rc = FY_ERR, fd;
    memset(info, 0, sizeof *info);
    if (stat(dest, &st) == 0 && is_store_file(src, &st)) {
        snprintf(err, errlen, "%.300s is the store itself (or its -wal or -shm); back it up to another file", dest);
        return FY_ERR;
    }
    if (!force && lstat(dest, &st) == 0) {
        snprintf(err, errlen, "%.300s exists; choose another name, or replace it with --force", dest);
        return FY_ERR;
    }
    const char *slash = strrchr(dest, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - dest) + (slash == dest) : 1, slash ? dest : ".");
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld", dir, slash ? slash + 1 : dest, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %.300s: %s", tmp, strerror(errno));
        return FY_ERR;
    }
    close(fd);
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %.300s: %s", tmp, dst ? sqlite3_errmsg(dst) : "out of memory");
        goto cleanup;
    }
    if (copy(src, dst, err, errlen) != FY_OK || verify(dst, info, err, errlen) != FY_OK) goto cleanup;
    if (sqlite3_close(dst) != SQLITE_OK) {
        snprintf(err, errlen, "cannot close %.300s: %s", tmp, sqlite3_errmsg(dst));
        goto cleanup;
    }
    dst = NULL;
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot sync %.300s: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        goto cleanup;
    }
    close(fd);
    info->bytes = (long long)st.st_size;
    if (force ? rename(tmp, dest) != 0 : fy_store_place(tmp, dest) != 0) {
        snprintf(err, errlen, errno == EEXIST ? "%.300s appeared meanwhile; nothing was replaced (--force replaces it)"
                                              : "cannot create %.300s: %s", dest, strerror(errno));
        goto cleanup;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);     /* the new name is durable too */
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    rc = FY_OK;
cleanup:
    if (dst) sqlite3_close(dst);
    unlink(tmp);                                /* after rename: gone already; after link: the extra name */
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", tmp, i ? "-journal" : "-wal");
        unlink(side);
    }
    return rc;
}
