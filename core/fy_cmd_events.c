/* ferry events [NAME] and ferry events show ID: the webhook inbox, read from
 * the store directly (a reader: it works while ferry serve runs); see
 * fy_cmd.h. */
#include "fy_cmd.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_report.h"
#include "fy_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int events_show(int argc, char **argv, struct fy_config *cfg) {
    long long id;
    if (argc != 1 || fy_cmd_parse_id(argv[0], &id) != FY_OK) {
        fprintf(stderr, "ferry events show: name one event id (see 'ferry events')\n");
        return FY_EXIT_USAGE;
    }
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        fprintf(stderr, "ferry events show: no event %lld in the inbox\n", id);
        return FY_EXIT_FAILED;
    }
    if (!s) return FY_EXIT_USAGE;
    int r = fy_report_events_show(s, id, fy_flags.json, stdout);
    if (r < 0) fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(fy_store_db(s)));
    fy_store_close(s);
    return r == FY_OK ? FY_EXIT_OK : FY_EXIT_FAILED;
}

/* `ferry events show ID` shows one event; anything else lists ("show" is
 * never taken for an integration's name). */
int fy_cmd_events(int argc, char **argv, struct fy_config *cfg) {
    if (argc >= 1 && !strcmp(argv[0], "show")) return events_show(argc - 1, argv + 1, cfg);
    if (argc > 1) {
        fprintf(stderr, "ferry events: at most one integration name (or: ferry events show ID)\n");
        return FY_EXIT_USAGE;
    }
    struct fy_events_query q = {
        .integration = argc ? argv[0] : NULL, .status = fy_flags.status, .before = fy_flags.before,
        .limit = fy_flags.limit ? fy_flags.limit : FY_EVENTS_PAGE,
    };
    int empty;
    struct fy_store *s = fy_cmd_open_reader(cfg, &empty);
    if (!s && empty) {
        puts(fy_flags.json ? "[]" : "(the inbox is empty: nothing has run with this data directory yet)");
        return FY_EXIT_OK;
    }
    if (!s) return FY_EXIT_USAGE;
    if (q.integration && fy_cmd_known(s, "events", q.integration) <= 0) {
        fy_store_close(s);
        return FY_EXIT_USAGE;
    }
    int rc = FY_EXIT_OK;
    if (fy_report_events_list(s, &q, fy_flags.json, stdout) != FY_OK) {
        fprintf(stderr, "ferry: %s\n", sqlite3_errmsg(fy_store_db(s)));
        rc = FY_EXIT_FAILED;
    }
    fy_store_close(s);
    return rc;
}
