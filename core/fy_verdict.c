/* Run verdicts (suspect, incomplete); see fy_verdict.h. */
#include "fy_verdict.h"
#include "fy_common.h"
#include "fy_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_count(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

double fy_verdict_median(const long long *counts, int n) {
    long long sorted[FY_VERDICT_HISTORY_MAX];
    if (n <= 0) return 0;
    if (n > FY_VERDICT_HISTORY_MAX) n = FY_VERDICT_HISTORY_MAX;
    memcpy(sorted, counts, (size_t)n * sizeof *counts);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_count);
    return n % 2 ? (double)sorted[n / 2] : ((double)sorted[n / 2 - 1] + (double)sorted[n / 2]) / 2;
}

/* "1000", or "1000.5" for the median of an even count. */
static void fmt_count(double v, char *out, size_t cap) {
    if (v == (double)(long long)v) snprintf(out, cap, "%lld", (long long)v);
    else snprintf(out, cap, "%.1f", v);
}

/* Too few records: fewer than expect.min_records, or off the median. Fills
 * v (verdict suspect) and returns 1, or returns 0. */
static int judge_count(const struct fy_expect *e, long long extracted, const long long *history, int nhistory,
                       struct fy_verdict *v) {
    char med[32];
    double median = nhistory > 0 ? fy_verdict_median(history, nhistory) : 0;
    fmt_count(median, med, sizeof med);
    if (extracted < e->min_records) {
        v->verdict = "suspect";
        if (extracted == 0 && nhistory > 0)
            snprintf(v->reason, sizeof v->reason, "extracted 0 records; the last %d good run%s extracted a median of %s",
                     nhistory, nhistory == 1 ? "" : "s", med);
        else if (extracted == 0)
            snprintf(v->reason, sizeof v->reason, "extracted 0 records (if an empty run is normal for this source, "
                                                   "say so with expect = { min_records = 0 })");
        else
            snprintf(v->reason, sizeof v->reason, "extracted %lld record%s, fewer than expect.min_records %lld",
                     extracted, extracted == 1 ? "" : "s", e->min_records);
        return 1;
    }
    /* The median rule only with a full window of history, and never
     * against a median of 0: an incremental sync that usually finds nothing
     * new is not suspect when it finds something. */
    if (e->deviation <= 0 || nhistory < e->history || median <= 0) return 0;
    double ratio = (double)extracted / median;
    if (ratio >= 1 - e->deviation && ratio <= 1 + e->deviation) return 0;
    v->verdict = "suspect";
    snprintf(v->reason, sizeof v->reason,
             "extracted %lld record%s, %.2fx the median of %s of the last %d good runs (expect.deviation %g allows "
             "%.2fx to %.2fx)",
             extracted, extracted == 1 ? "" : "s", ratio, med, nhistory, e->deviation,
             e->deviation < 1 ? 1 - e->deviation : 0.0, 1 + e->deviation);
    return 1;
}

/* "5%" or "2.5%" for a share. */
static void fmt_share(double share, char *out, size_t cap) {
    double pct = share * 100;
    if (pct == (double)(long long)pct) snprintf(out, cap, "%lld%%", (long long)pct);
    else snprintf(out, cap, "%.1f%%", pct);
}

void fy_verdict_judge(const struct fy_expect *e, long long extracted, long long quarantined,
                      const long long *history, int nhistory, struct fy_verdict *v) {
    v->verdict = NULL;
    v->reason[0] = '\0';
    if (nhistory > e->history) nhistory = e->history;
    int suspect = judge_count(e, extracted, history, nhistory, v);
    if (e->max_quarantined < 0 || extracted <= 0) return;
    double share = (double)quarantined / (double)extracted;
    if (share <= e->max_quarantined) return;
    char got[32], max[32];
    fmt_share(share, got, sizeof got);
    fmt_share(e->max_quarantined, max, sizeof max);
    size_t at = suspect ? strlen(v->reason) : 0;
    snprintf(v->reason + at, sizeof v->reason - at, "%squarantined %lld of %lld records (%s), more than "
             "policy.max_quarantined %s", suspect ? "; " : "", quarantined, extracted, got, max);
    if (!suspect) v->verdict = "incomplete";
}

int fy_verdict_history(struct fy_store *s, const char *integration, const char *run_id, long long *out, int n) {
    sqlite3_stmt *st;
    const char *sql =
        "SELECT extracted FROM runs WHERE integration = ?1 AND id IS NOT ?2 AND status IN ('ok','partial') "
        "AND verdict IS NULL AND trigger IS NOT 'replay' AND trigger IS NOT 'webhook' "
        "ORDER BY started_at DESC, rowid DESC LIMIT ?3";
    if (n > FY_VERDICT_HISTORY_MAX) n = FY_VERDICT_HISTORY_MAX;
    if (sqlite3_prepare_v2(fy_store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return FY_ERR;
    sqlite3_bind_text(st, 1, integration, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, n);
    int rc, got = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && got < n) out[got++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? got : FY_ERR;
}
