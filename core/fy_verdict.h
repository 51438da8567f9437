/* Run verdicts: whether a run that ended ok or partial can be trusted.
 *
 * `suspect`: a run that read the source extracted fewer records than the
 * script expects: fewer than expect.min_records (1 unless the script says,
 * so zero is suspect by default: "succeeded with 0 records" must never
 * look healthy), or further from the median of the last expect.history
 * good runs than expect.deviation allows. `incomplete`: the share of what
 * it extracted that went to the quarantine is over policy.max_quarantined.
 *
 * A run with a verdict is not a good run: status and freshness skip it,
 * and so does the history later verdicts are judged against. */
#ifndef FY_VERDICT_H
#define FY_VERDICT_H

#include <stddef.h>

struct fy_store;

#define FY_VERDICT_HISTORY_MAX 100  /* expect.history is at most this */

/* What a script expects of its runs (contract.lua's expectations()). */
struct fy_expect {
    long long min_records;      /* fewer is suspect; 1 unless expect.min_records (0: never) */
    int history;                /* good runs the median is taken over (expect.history, 5) */
    double deviation;           /* suspect off the median by more than this ratio; 0: not judged */
    double max_quarantined;     /* incomplete over this share of extracted; < 0: not judged */
};

#define FY_EXPECT_DEFAULTS ((struct fy_expect){.min_records = 1, .history = 5, .deviation = 0, .max_quarantined = -1})

struct fy_verdict {
    const char *verdict;        /* "suspect", "incomplete", or NULL: none (static) */
    char reason[320];           /* why, for a person: "extracted 0 records; the last 5 good ..." */
};

/* Judge a run that ended ok or partial: `extracted` and `quarantined` are
 * its counts, `history` the extracted counts of the integration's last good
 * runs (at most e->history of them; the median rule needs that many, so an
 * integration with less history is never judged against it). A run both
 * suspect and incomplete is suspect, with both reasons. */
void fy_verdict_judge(const struct fy_expect *e, long long extracted, long long quarantined,
                      const long long *history, int nhistory, struct fy_verdict *v);

/* The median of n counts (n > 0); `counts` is left as it was. */
double fy_verdict_median(const long long *counts, int n);

/* The extracted counts of the integration's last `n` good runs other than
 * `run_id`, newest first, into out: runs that read the source (not a
 * replay, not a run of webhook events) and ended ok or partial without a
 * verdict. Returns how many, or FY_ERR (SQLite's message on fy_store_db). */
int fy_verdict_history(struct fy_store *s, const char *integration, const char *run_id, long long *out, int n);

#endif
