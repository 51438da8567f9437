/* The store's backup (ferry backup): SQLite's online backup API into a
 * file beside the target, checked, then moved into place. */
#ifndef FY_BACKUP_H
#define FY_BACKUP_H

#include <stddef.h>

struct fy_store;

/* What a backup holds, counted in the copy once it is verified. */
struct fy_backup_info {
    long long bytes, integrations, runs, quarantined;
};

/* Copy the store to `dest` with SQLite's online backup, a few pages per
 * step, so another ferry process can go on writing meanwhile. The copy is
 * written beside dest under a temporary name (0600), made a standalone file
 * (no -wal), checked (quick_check) and counted, then moved into place: with
 * `force` over an existing dest, otherwise never (FY_ERR if dest exists);
 * never over the store itself or its -wal or -shm.
 * On failure nothing is left behind; err says why. */
int fy_backup_write(struct fy_store *s, const char *dest, int force, struct fy_backup_info *info,
                    char *err, size_t errlen);

#endif
