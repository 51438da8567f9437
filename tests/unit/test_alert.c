/* Alerts with a clock of the test's own: dedup, re-send cadence,
 * escalation, acknowledgement, resolution and the outbox's retries. The
 * "log" channel completes at once, so every message shows as an outbox
 * row in the store. */
#include "fy_alert.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_log.h"
#include "fy_store.h"
#include "fy_time.h"
#include "testhelp.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct fy_engine *e;

/* One integer from a query over the store. */
static long long q(const char *sql) {
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(fy_store_db(e->store), sql, -1, &st, NULL) != SQLITE_OK) return -2;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static long long sends(long long alert, const char *event) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM alert_sends WHERE alert_id = %lld AND event = '%s'", alert, event);
    return q(sql);
}

int main(void) {
    char dir[] = "/tmp/ferry-test-alert-XXXXXX", err[512];
    if (!mkdtemp(dir)) return 1;
    fy_log_setup(FY_LOG_OFF, FY_LOG_TEXT, stderr);   /* the log channel's lines are not what is tested */
    struct fy_config cfg;
    fy_config_defaults(&cfg);
    free(cfg.data_dir);
    cfg.data_dir = strdup(dir);
    free(cfg.lualib_path);
    cfg.lualib_path = strdup("lualib");   /* run from the repository's root, as make test does */
    e = fy_engine_create(&cfg, err, sizeof err);
    if (!e || fy_engine_open_store(e, err, sizeof err) != FY_OK) {
        printf("cannot start: %s\n", err);
        return 1;
    }
    char *to[] = {"log"};
    struct fy_alert_policy p = {.to = to, .nto = 1, .repeat = 4 * 3600.0, .escalate_to = "log",
                                .escalate_after = 2 * 3600.0};
    double t0 = 1.8e9;                  /* 2027-01-15: any fixed instant */

    /* opened once, deduplicated after */
    long long a = fy_alert_raise(e, "crm", "revops@example.com", &p, "auth", "paused: HTTP 401", "detail", t0);
    fy_test_cond("an alert opens", a > 0);
    fy_test_cond("its opened message is sent", sends(a, "opened") == 1 &&
                 q("SELECT count(*) FROM alert_sends WHERE status = 'sent'") == 1);
    long long again = 0;
    for (int i = 1; i <= 49; i++) again = fy_alert_raise(e, "crm", "x", &p, "auth", "paused: HTTP 401", "d", t0 + i);
    fy_test_cond("a burst of the same failure is the same alert", again == a);
    fy_test_cond("counted, not sent again", q("SELECT occurrences FROM alerts WHERE id = 1") == 50 &&
                 sends(a, "opened") == 1 && q("SELECT count(*) FROM alerts") == 1);
    fy_test_cond("another kind is another alert", fy_alert_raise(e, "crm", "x", &p, "failed", "s", "d", t0) != a);
    fy_test_cond("another integration is another alert", fy_alert_raise(e, "erp", "x", &p, "auth", "s", "d", t0) > a);

    /* escalation once, when due */
    fy_alert_tick(e, t0 + 2 * 3600.0 - 1);
    fy_test_cond("no escalation before escalate.after", sends(a, "escalated") == 0);
    fy_alert_tick(e, t0 + 2 * 3600.0);
    fy_test_cond("escalated at escalate.after", sends(a, "escalated") == 1 &&
                 q("SELECT escalated_at IS NOT NULL FROM alerts WHERE id = 1") == 1);
    fy_alert_tick(e, t0 + 3 * 3600.0);
    fy_test_cond("escalated once", sends(a, "escalated") == 1);

    /* re-sent every `repeat` */
    fy_alert_tick(e, t0 + 4 * 3600.0 - 1);
    fy_test_cond("no reminder before repeat", sends(a, "repeat") == 0);
    fy_alert_tick(e, t0 + 4 * 3600.0);
    fy_test_cond("a reminder at repeat", sends(a, "repeat") == 1);
    fy_alert_tick(e, t0 + 4 * 3600.0 + 60);
    fy_test_cond("not again a minute later", sends(a, "repeat") == 1);
    fy_alert_tick(e, t0 + 8 * 3600.0);
    fy_test_cond("again after another repeat", sends(a, "repeat") == 2);

    /* acknowledged: no more reminders */
    fy_test_cond("ack an open alert", fy_alert_ack(e->store, a, "new key requested", t0 + 8.5 * 3600, err,
                                                    sizeof err) == FY_OK);
    fy_alert_tick(e, t0 + 20 * 3600.0);
    fy_test_cond("no reminder once acknowledged", sends(a, "repeat") == 2);
    fy_test_cond("ack of an unknown alert says so", fy_alert_ack(e->store, 999, "x", t0, err, sizeof err) == FY_ERR &&
                 strstr(err, "no alert 999"));

    /* an ack before the escalation deadline: no escalation */
    long long b = fy_alert_raise(e, "hr", "x", &p, "stale", "stale", "d", t0);
    fy_alert_ack(e->store, b, "known, fixing", t0 + 3600.0, err, sizeof err);
    fy_alert_tick(e, t0 + 3 * 3600.0);
    fy_test_cond("acknowledged before its deadline: not escalated", sends(b, "escalated") == 0);
    /* an escalation already due when the ack came still goes out */
    long long c = fy_alert_raise(e, "bi", "x", &p, "stale", "stale", "d", t0);
    fy_alert_ack(e->store, c, "late ack", t0 + 2.5 * 3600.0, err, sizeof err);
    fy_alert_tick(e, t0 + 2.6 * 3600.0);
    fy_test_cond("an escalation due before the ack still goes out", sends(c, "escalated") == 1);

    /* resolution: a message to its targets and to whom it was escalated */
    fy_test_cond("resolve the open alert", fy_alert_resolve(e, "crm", "auth", "a later run got through",
                                                            t0 + 21 * 3600.0) == 1);
    fy_test_cond("resolved messages: targets and escalation", sends(a, "resolved") == 2);
    fy_test_cond("resolved with its resolution",
                 q("SELECT status = 'resolved' AND resolution = 'a later run got through' FROM alerts WHERE id = 1") == 1);
    fy_test_cond("nothing open: nothing to resolve", fy_alert_resolve(e, "crm", "auth", "x", t0 + 22 * 3600.0) == 0);
    fy_alert_tick(e, t0 + 40 * 3600.0);
    fy_test_cond("a resolved alert is never re-sent", sends(a, "repeat") == 2);
    long long d = fy_alert_raise(e, "crm", "x", &p, "auth", "paused again", "d", t0 + 41 * 3600.0);
    fy_test_cond("the same failure later opens a new alert", d > a && sends(d, "opened") == 1);

    /* a message that cannot be delivered stays in the outbox, retried with backoff, then given up */
    char *nowhere[] = {"nowhere"};
    struct fy_alert_policy bad = {.to = nowhere, .nto = 1, .repeat = 0};
    long long f = fy_alert_raise(e, "ghost", "x", &bad, "failed", "s", "d", t0);
    fy_test_cond("an undeliverable message is pending with its error",
                 q("SELECT count(*) FROM alert_sends WHERE status = 'pending' AND attempts = 1 AND error IS NOT NULL") == 1);
    double later = fy_time_now() + 30;
    fy_alert_pump(e, later);
    fy_test_cond("not retried before its backoff", q("SELECT max(attempts) FROM alert_sends WHERE status = 'pending'") == 1);
    for (int i = 1; i <= 8; i++) fy_alert_pump(e, fy_time_now() + 4000.0 * i);
    fy_test_cond("given up after six tries", q("SELECT count(*) FROM alert_sends WHERE status = 'failed' AND attempts = 6") == 1);
    fy_test_cond("the alert itself stays open", f > 0 && q("SELECT status = 'open' FROM alerts WHERE kind = 'failed' "
                                                          "AND integration = 'ghost'") == 1);

    fy_engine_destroy(e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (getenv("KEEP")) printf("kept %s\n", dir); else if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return fy_test_report();
}
