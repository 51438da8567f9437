/* Unit tests for core/fy_verdict.c: when a run is suspect or incomplete,
 * and what it says why. */
#include "fy_verdict.h"
#include "testhelp.h"

#include <string.h>

static struct fy_verdict judge(struct fy_expect e, long long extracted, long long quarantined,
                               const long long *history, int n) {
    struct fy_verdict v;
    fy_verdict_judge(&e, extracted, quarantined, history, n, &v);
    return v;
}

static int is(const struct fy_verdict *v, const char *verdict) {
    return verdict ? v->verdict && !strcmp(v->verdict, verdict) : v->verdict == NULL;
}

int main(void) {
    struct fy_expect d = FY_EXPECT_DEFAULTS;
    long long thousand[] = {1000, 990, 1010, 1005, 995};
    long long zeros[] = {0, 0, 0, 0, 0};
    long long mostly_zero[] = {0, 0, 7, 0, 0};
    struct fy_verdict v;

    v = judge(d, 0, 0, NULL, 0);
    fy_test_cond("zero records is suspect by default", is(&v, "suspect"));
    fy_test_cond("a first empty run says how to call it normal", strstr(v.reason, "min_records = 0") != NULL);
    v = judge(d, 0, 0, thousand, 5);
    fy_test_cond("zero after ~1000s is suspect", is(&v, "suspect"));
    fy_test_cond("the reason names the median",
                 !strcmp(v.reason, "extracted 0 records; the last 5 good runs extracted a median of 1000"));
    v = judge(d, 1, 0, thousand, 5);
    fy_test_cond("one record is fine without min_records or deviation", is(&v, NULL));

    struct fy_expect none = d;
    none.min_records = 0;
    v = judge(none, 0, 0, zeros, 5);
    fy_test_cond("min_records = 0: an empty incremental run is ok", is(&v, NULL));
    v = judge(none, 0, 0, NULL, 0);
    fy_test_cond("min_records = 0: an empty first run is ok", is(&v, NULL));

    struct fy_expect min = d;
    min.min_records = 100;
    v = judge(min, 99, 0, NULL, 0);
    fy_test_cond("fewer than min_records is suspect", is(&v, "suspect"));
    fy_test_cond("the reason names min_records",
                 !strcmp(v.reason, "extracted 99 records, fewer than expect.min_records 100"));
    v = judge(min, 100, 0, NULL, 0);
    fy_test_cond("min_records itself is enough", is(&v, NULL));

    struct fy_expect dev = d;
    dev.deviation = 0.5;
    v = judge(dev, 499, 0, thousand, 5);
    fy_test_cond("less than half the median is suspect", is(&v, "suspect"));
    fy_test_cond("the reason gives the ratio and the median", strstr(v.reason, "0.50x the median of 1000") != NULL);
    v = judge(dev, 501, 0, thousand, 5);
    fy_test_cond("just over half is not", is(&v, NULL));
    v = judge(dev, 1501, 0, thousand, 5);
    fy_test_cond("more than 1.5x is suspect", is(&v, "suspect"));
    v = judge(dev, 1500, 0, thousand, 5);
    fy_test_cond("exactly 1.5x is not", is(&v, NULL));
    v = judge(dev, 400, 0, thousand, 4);
    fy_test_cond("no median verdict without a full window of history", is(&v, NULL));
    v = judge(dev, 400, 0, thousand, 7);
    fy_test_cond("more history than the window is cut to it", is(&v, "suspect") && strstr(v.reason, "last 5 good"));
    struct fy_expect inc0 = dev;
    inc0.min_records = 0;
    v = judge(inc0, 50, 0, zeros, 5);
    fy_test_cond("never judged against a median of 0", is(&v, NULL));
    v = judge(inc0, 50, 0, mostly_zero, 5);
    fy_test_cond("one busy run does not move the median", is(&v, NULL));
    v = judge(inc0, 0, 0, thousand, 5);
    fy_test_cond("min_records = 0 with a deviation still catches 0 after 1000s", is(&v, "suspect"));
    struct fy_expect wide = dev;
    wide.deviation = 2;
    v = judge(wide, 1, 0, thousand, 5);
    fy_test_cond("a deviation of 2 judges only the high side", is(&v, NULL));
    v = judge(wide, 3001, 0, thousand, 5);
    fy_test_cond("a deviation of 2: more than 3x is suspect", is(&v, "suspect"));

    long long even[] = {10, 40, 20, 30};
    fy_test_cond("median of an even count", fy_verdict_median(even, 4) == 25);
    fy_test_cond("median leaves its input", even[0] == 10 && even[1] == 40);
    fy_test_cond("median of an odd count", fy_verdict_median(thousand, 5) == 1000);

    struct fy_expect q = d;
    q.max_quarantined = 0.05;
    v = judge(q, 100, 6, NULL, 0);
    fy_test_cond("over max_quarantined is incomplete", is(&v, "incomplete"));
    fy_test_cond("the reason gives the share",
                 !strcmp(v.reason, "quarantined 6 of 100 records (6%), more than policy.max_quarantined 5%"));
    v = judge(q, 100, 5, NULL, 0);
    fy_test_cond("exactly max_quarantined is not", is(&v, NULL));
    v = judge(d, 100, 90, NULL, 0);
    fy_test_cond("no max_quarantined: never incomplete", is(&v, NULL));
    struct fy_expect both = q;
    both.min_records = 1000;
    v = judge(both, 100, 50, NULL, 0);
    fy_test_cond("suspect and incomplete: suspect, both reasons",
                 is(&v, "suspect") && strstr(v.reason, "fewer than") && strstr(v.reason, "; quarantined 50 of 100"));
    struct fy_expect qz = q;
    qz.min_records = 0;
    v = judge(qz, 0, 0, NULL, 0);
    fy_test_cond("nothing extracted: no share to judge", is(&v, NULL));
    return fy_test_report();
}
