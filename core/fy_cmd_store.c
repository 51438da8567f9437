/* ferry backup; see fy_cmd.h. */
#include "fy_cmd.h"
#include "fy_backup.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_store.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Needs no lock: the copy is a reader's, so it runs while another ferry
 * process runs integrations, and sees their work up to some moment. */
int fy_cmd_backup(int argc, char **argv, struct fy_config *cfg) {
    const char *dest = NULL;
    int force = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--force")) force = 1;
        else if (!dest) dest = argv[i];
        else dest = "";
    }
    if (!dest || !*dest) {
        fprintf(stderr, "ferry backup: name one file to write the backup to (try 'ferry backup --help')\n");
        return FY_EXIT_USAGE;
    }
    char db[4096], err[FY_ERRLEN];
    struct stat st;
    snprintf(db, sizeof db, "%s/ferry.db", cfg->data_dir);
    if (stat(db, &st) != 0) {
        fprintf(stderr, "ferry backup: no store at %s: nothing has run with this configuration\n", db);
        return FY_EXIT_USAGE;
    }
    struct fy_store *s = fy_store_open(cfg->data_dir, 0, 0, err, sizeof err);
    if (!s) {
        fprintf(stderr, "ferry: %s\n", err);
        return FY_EXIT_USAGE;
    }
    struct fy_backup_info info;
    int rc = fy_backup_write(s, dest, force, &info, err, sizeof err);
    fy_store_close(s);
    if (rc != FY_OK) {
        fprintf(stderr, "ferry backup: %s\n", err);
        return FY_EXIT_FAILED;
    }
    printf("backed up %s to %s: %lld bytes, %lld integration%s, %lld run%s, %lld quarantined record%s "
           "(checked: quick_check ok)\n", db, dest, info.bytes, info.integrations, info.integrations == 1 ? "" : "s",
           info.runs, info.runs == 1 ? "" : "s", info.quarantined, info.quarantined == 1 ? "" : "s");
    return FY_EXIT_OK;
}
