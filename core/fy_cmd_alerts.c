/* ferry alerts [NAME] [--open] [--json] and ferry alerts ack ID --reason
 * TEXT: the alert history, read and acknowledged in the store directly
 * (it works while ferry serve runs); see fy_alert.h. */
#include "fy_alert.h"
#include "fy_cmd.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_report.h"
#include "fy_store.h"
#include "fy_time.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int alerts_ack(int argc, char **argv, struct fy_config *cfg) {
    long long id;
    if (argc != 1 || fy_cmd_parse_id(argv[0], &id) != FY_OK || !fy_flags.reason || !*fy_flags.reason) {
        fprintf(stderr, "ferry alerts ack: name one alert id and say why with --reason TEXT (see 'ferry alerts')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        fprintf(stderr, "ferry alerts ack: no alert %lld\n", id);
        return FY_EXIT_FAILED;
    }
    if (!s) return FY_EXIT_USAGE;
    char err[256];
    int rc = fy_alert_ack(s, id, fy_flags.reason, fy_time_now(), err, sizeof err);
    if (rc == FY_OK) printf("acknowledged alert %lld: %s (no more reminders; it resolves when its cause clears)\n",
                            id, fy_flags.reason);
    else fprintf(stderr, "ferry alerts ack: %s\n", err);
    fy_store_close(s);
    return rc == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
}

int fy_cmd_alerts(int argc, char **argv, struct fy_config *cfg) {
    if (argc >= 1 && !strcmp(argv[0], "ack")) return alerts_ack(argc - 1, argv + 1, cfg);
    if (argc > 1) {
        fprintf(stderr, "ferry alerts: at most one integration name (or: ferry alerts ack ID --reason TEXT)\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        puts(fy_flags.json ? "[]" : "no alerts");
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    if (argc && fy_cmd_known(s, "alerts", argv[0]) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    int rc = FY_EXIT_OK;
    if (fy_report_alerts(s, fy_flags.open, argc ? argv[0] : NULL, fy_flags.limit, fy_flags.json, stdout) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(fy_store_db(s)));
        rc = FY_EXIT_FAILED;
    }
    fy_store_close(s);
    return rc;
}
