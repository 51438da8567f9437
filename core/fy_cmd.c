/* What the CLI's commands share; see fy_cmd.h. */
#include "fy_cmd.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_integration.h"
#include "fy_log.h"
#include "fy_quarantine.h"
#include "fy_report.h"
#include "fy_run.h"
#include "fy_sandbox.h"
#include "fy_scripts.h"
#include "fy_store.h"
#include "fy_suggest.h"
#include "fy_vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fy_cmd_flags fy_flags;

struct fy_engine *fy_cmd_engine(struct fy_config *cfg) {
    char err[FY_ERRLEN];
    struct fy_engine *e = fy_engine_create(cfg, err, sizeof err);
    if (!e) fprintf(stderr, "ferry: %s\n", err);
    return e;
}

/* Print fy_scripts_find's reason for `arg`: its first line after "ferry
 * CMD: ", the rest as they are. */
void fy_cmd_script_not_found(const char *cmd, struct fy_buf *why) {
    fprintf(stderr, "ferry %s: %s\n", cmd, why->data ? why->data : "no such script");
    fy_buf_reset(why);
}


/* Open the store of the configured data directory for reading. NULL with
 * *empty set when the directory exists but nothing has run there yet (a
 * report of nothing, not an error); NULL alone on an error. */
struct fy_store *fy_cmd_open_reader(struct fy_config *cfg, int *empty) {
    struct stat st;
    char err[FY_ERRLEN];
    char db[4096];
    *empty = 0;
    if (stat(cfg->data_dir, &st) != 0) {
        fprintf(stderr, "ferry: no data directory %s: nothing has run with this configuration\n", cfg->data_dir);
        return NULL;
    }
    snprintf(db, sizeof db, "%s/ferry.db", cfg->data_dir);
    if (stat(db, &st) != 0) {
        *empty = 1;
        return NULL;
    }
    struct fy_store *s = fy_store_open(cfg->data_dir, 0, 0, err, sizeof err);
    if (!s) fprintf(stderr, "ferry: %s\n", err);
    return s;
}

/* Is name an integration the store knows? If not, says so for cmd (with the
 * closest known name) and returns 0; -1 when the store could not be read. */
int fy_cmd_known(struct fy_store *s, const char *cmd, const char *name) {
    char near[256];
    int k = fy_store_integration_known(s, name, near, sizeof near);
    if (k < 0) fprintf(stderr, "ferry %s: %s\n", cmd, fy_store_error(s));
    else if (!k)
        fprintf(stderr, "ferry %s: no integration '%s' in the store%s%s%s (see 'ferry status')\n", cmd, name,
                near[0] ? "; did you mean '" : "", near, near[0] ? "'?" : "");
    return k;
}

int fy_cmd_parse_id(const char *s, long long *id) {
    char *end;
    if (!*s || *s < '0' || *s > '9') return FY_ERR;
    *id = strtoll(s, &end, 10);
    return *end || *id <= 0 ? FY_ERR : FY_OK;
}
