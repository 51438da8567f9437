/* Minimal test harness, in the spirit of sds's testhelp.h.
 *
 *   fy_test_cond("parses a quoted field", strcmp(f, "a,b") == 0);
 *   return fy_test_report();
 *
 * Each test binary prints one line per failed condition and a closing
 * "unit NAME: N passed, N failed" line; tests/run.sh adds these up. */
#ifndef FY_TESTHELP_H
#define FY_TESTHELP_H

#include <stdio.h>

static int fy__passed, fy__failed;

#define fy_test_cond(descr, _c) do { \
    if (_c) { fy__passed++; } \
    else { fy__failed++; \
        printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, descr); } \
} while (0)

#define fy_test_report() ( \
    printf("unit %s: %d passed, %d failed\n", __FILE__, fy__passed, fy__failed), \
    fy__failed ? 1 : 0)

#endif
