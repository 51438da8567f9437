/* ferry status and runs: reports read from the store; see fy_cmd.h. */
#include "fy_cmd.h"
#include "fy_buf.h"
#include "fy_client.h"
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

int fy_cmd_status(int argc, char **argv, struct fy_config *cfg) {
    FY_UNUSED(argv);
    if (argc > 0) {
        fprintf(stderr, "ferry status: takes no arguments (try 'ferry runs NAME')\n");
        return FY_EXIT_USAGE;
    }
    struct fy_client svc;
    if (!fy_flags.json && fy_client_find(cfg, &svc))
        printf("ferry serve is running: pid %ld, admin http://%s, since %s\n", svc.pid, svc.admin, svc.started_at);
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        puts(fy_flags.json ? "[]" : "(no integrations have run with this data directory yet)");
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    int rc = fy_report_status(s, fy_flags.json, stdout) == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
    fy_store_close(s);
    return rc;
}

int fy_cmd_runs(int argc, char **argv, struct fy_config *cfg) {
    if (argc != 1) {
        fprintf(stderr, "ferry runs: name one integration (see 'ferry status')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        if (fy_flags.json) puts("[]");
        else printf("(no runs of %s recorded in this data directory)\n", argv[0]);
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    if (fy_cmd_known(s, "runs", argv[0]) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    int rc = fy_report_runs(s, argv[0], fy_flags.limit ? fy_flags.limit : 20, fy_flags.json, stdout) == FY_OK
           ? FY_EXIT_OK : FY_EXIT_FAILED;
    fy_store_close(s);
    return rc;
}
