/* Commands about the store itself: ferry backup. */
#ifndef FY_CMD_STORE_H
#define FY_CMD_STORE_H

struct fy_config;

/* ferry backup [--force] PATH: exit status 0, 1 (the backup failed) or 2
 * (usage, or no store to back up). */
int fy_cmd_backup(int argc, char **argv, struct fy_config *cfg);

#endif
