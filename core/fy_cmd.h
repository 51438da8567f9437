/* The CLI's commands, a group per file, so a command's code is found by its
 * name: fy_cmd_run.c (run, check, lua), fy_cmd_report.c (status, runs),
 * fy_cmd_quarantine.c (quarantine, reset), fy_cmd_events.c (events: the
 * webhook inbox), fy_cmd_store.c (backup),
 * fy_cmd_serve.c (trigger, pause, resume, reload: a running service),
 * fy_cmd_alerts.c (alerts: its subcommands, a table there), fy_cmd_kit.c
 * (connectors, test: the connector kit). main.c
 * holds the command table, the options and the dispatch; fy_cmd.c what the
 * groups share. Each command takes its arguments (options removed) and the
 * loaded config, and returns the exit status (enum fy_exit). */
#ifndef FY_CMD_H
#define FY_CMD_H

struct fy_buf;
struct fy_client;
struct fy_config;
struct fy_engine;
struct fy_store;

/* Options some commands take, parsed by main.c; each is accepted only by
 * the commands it means something to. */
struct fy_cmd_flags {
    int json;
    int yes;
    int no_wait;                /* ferry trigger --no-wait */
    int trusted;                /* ferry lua --trusted: io, os and any path */
    int open;                   /* ferry alerts --open */
    int dry_run;                /* ferry run --dry-run: read and transform, write nothing */
    int limit;                  /* 0: the command's default */
    long long after;
    long long before;           /* ferry events --before ID */
    const char *class_, *status, *reason, *script;
    const char *integration;    /* ferry alerts test --integration NAME */
};
extern struct fy_cmd_flags fy_flags;

int fy_cmd_run(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_check(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_lua(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_connectors(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_test(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_status(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_runs(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_quarantine(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_reset(int argc, char **argv, struct fy_config *cfg);
/* ferry events [NAME] | show ID: exit 0, 1 (no such event, or the store
 * could not be read) or 2 (usage, or an unknown integration). */
int fy_cmd_events(int argc, char **argv, struct fy_config *cfg);
/* ferry backup [--force] PATH: exit status 0, 1 (the backup failed) or 2
 * (usage, or no store to back up). */
int fy_cmd_backup(int argc, char **argv, struct fy_config *cfg);

/* ferry alerts [NAME] | ack ID --reason TEXT | test CHANNEL [--integration
 * NAME]: the alert history, acknowledging one, or a test notice to a channel
 * (exit 0 delivered, 1 not, with the reason on stderr, 2 usage, an unknown
 * channel or integration). */
int fy_cmd_alerts(int argc, char **argv, struct fy_config *cfg);

/* Through a running ferry serve (fy_cmd_serve.c). Without one, trigger and
 * reload say so (exit 2); pause and resume mark the store, which a service
 * reads when it starts. trigger waits for the run (unless --no-wait) and
 * exits as `ferry run` does: 0, 3 (records quarantined) or 1. */
int fy_cmd_trigger(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_pause(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_resume(int argc, char **argv, struct fy_config *cfg);
int fy_cmd_reload(int argc, char **argv, struct fy_config *cfg);
/* quarantine replay|discard and reset when a service holds the data
 * directory: the same, asked of the service (argv as the command's). */
int fy_cmd_service_replay(const struct fy_client *c, int argc, char **argv);
int fy_cmd_service_discard(const struct fy_client *c, int argc, char **argv);
int fy_cmd_service_reset(const struct fy_client *c, const char *name, const char *cursor);

/* ---- shared by the commands (fy_cmd.c) ---- */

/* An engine for cfg (taking it over), or NULL after saying why on stderr. */
struct fy_engine *fy_cmd_engine(struct fy_config *cfg);

/* Print fy_scripts_find's reason for `arg` as "ferry CMD: reason". */
void fy_cmd_script_not_found(const char *cmd, struct fy_buf *why);

/* Open the store of the configured data directory for reading. NULL with
 * *empty set when the directory exists but nothing has run there yet (a
 * report of nothing, not an error); NULL alone on an error. */
struct fy_store *fy_cmd_open_reader(struct fy_config *cfg, int *empty);

/* Is name an integration the store knows? If not, says so for cmd (with the
 * closest known name) and returns 0; -1 when the store could not be read. */
int fy_cmd_known(struct fy_store *s, const char *cmd, const char *name);

/* A positive decimal id. FY_ERR if s is anything else. */
int fy_cmd_parse_id(const char *s, long long *id);

#endif
