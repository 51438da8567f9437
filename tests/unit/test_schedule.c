/* Unit tests for core/fy_schedule.c: parsing, cron arithmetic, "every",
 * and the daylight saving rules in Europe/Berlin and America/New_York.
 *
 * Cron expectations are rewritten from published suites: croniter's
 * test_croniter.py (minute/hour/day steps, leap days, weekday names, the
 * day-of-month/day-of-week OR rule, 7 = Sunday, month lists, N/S steps,
 * the Athens, Warsaw and Sao Paulo DST cases) and the crontab(5) man page
 * of Vixie cron / cronie (the OR rule, macros, names). Tests that need the
 * system's tzdata skip, saying so, when the zone file is missing. */
#include "fy_schedule.h"
#include "fy_time.h"
#include "fy_tz.h"
#include "testhelp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char err[512];

static double at(const char *s) {
    double e = NAN;
    int off;
    if (fy_time_parse(s, strlen(s), &e, &off, NULL, 0) != FY_OK) printf("  bad fixture %s\n", s);
    return e;
}

static int have_zone(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    if (access(path, R_OK) == 0) return 1;
    printf("skip: %s not found (install tzdata): %s schedule tests skipped\n", path, name);
    return 0;
}

static struct fy_schedule *parse(const char *expr, const char *tz) {
    struct fy_schedule *s = NULL;
    if (fy_schedule_parse(&s, expr, tz, err, sizeof err) != FY_OK)
        printf("  parse \"%s\" (%s): %s\n", expr, tz ? tz : "UTC", err);
    return s;
}

/* Starting after `start`, fy_schedule_next gives each of want[] in turn
 * (RFC 3339 strings, NULL-terminated). */
static int sequence(const char *expr, const char *tz, const char *start, const char *const *want) {
    struct fy_schedule *s = parse(expr, tz);
    double t = at(start);
    int ok = s != NULL;
    char buf[FY_TIME_FORMAT_MAX];

    for (int i = 0; ok && want[i]; i++) {
        double n = fy_schedule_next(s, t);
        if (n != at(want[i])) {
            fy_time_format(n, 0, 0, buf, sizeof buf);
            printf("  \"%s\" (%s) after %s: got %s, want %s\n", expr, tz ? tz : "UTC",
                   i == 0 ? start : want[i - 1], isinf(n) ? "never" : buf, want[i]);
            ok = 0;
        }
        t = n;
    }
    fy_schedule_free(s);
    return ok;
}

#define SEQ(expr, tz, start, ...) \
    sequence(expr, tz, start, (const char *const[]){__VA_ARGS__, NULL})

/* fy_schedule_parse fails with a message containing each of the wants. */
static int rejects(const char *expr, const char *tz, const char *want1, const char *want2) {
    struct fy_schedule *s = NULL;
    err[0] = '\0';
    int rc = fy_schedule_parse(&s, expr, tz, err, sizeof err);
    int ok = rc == FY_ERR && s == NULL && strstr(err, want1) && (!want2 || strstr(err, want2));
    if (!ok) printf("  \"%s\": rc %d, error \"%s\"; want \"%s\"%s%s\n", expr, rc, err, want1,
                    want2 ? " and " : "", want2 ? want2 : "");
    fy_schedule_free(s);
    return ok;
}

static int text_is(const char *expr, const char *tz, const char *want) {
    struct fy_schedule *s = parse(expr, tz);
    int ok = s && strcmp(fy_schedule_text(s), want) == 0;
    if (s && !ok) printf("  text of \"%s\": \"%s\", want \"%s\"\n", expr, fy_schedule_text(s), want);
    fy_schedule_free(s);
    return ok;
}

/* ---- cron arithmetic (UTC) ---------------------------------------------- */

static void test_steps_and_ranges(void) {
    fy_test_cond("every minute", SEQ("*/1 * * * *", NULL, "2010-01-23T12:18:00Z",
                                     "2010-01-23T12:19:00Z", "2010-01-23T12:20:00Z"));
    fy_test_cond("*/5 across the hour", SEQ("*/5 * * * *", NULL, "2010-01-23T12:52:00Z",
                                            "2010-01-23T12:55:00Z", "2010-01-23T13:00:00Z"));
    fy_test_cond("0 */3 across midnight", SEQ("0 */3 * * *", NULL, "2010-01-24T12:02:00Z",
        "2010-01-24T15:00:00Z", "2010-01-24T18:00:00Z", "2010-01-24T21:00:00Z",
        "2010-01-25T00:00:00Z"));
    fy_test_cond("0 0 */3: 25, 28, then March 1", SEQ("0 0 */3 * *", NULL, "2010-02-24T12:09:00Z",
        "2010-02-25T00:00:00Z", "2010-02-28T00:00:00Z", "2010-03-01T00:00:00Z"));
    fy_test_cond("*/7 restarts each hour", SEQ("*/7 * * * *", NULL, "2026-05-05T12:50:00Z",
        "2026-05-05T12:56:00Z", "2026-05-05T13:00:00Z", "2026-05-05T13:07:00Z"));
    fy_test_cond("1-10/3", SEQ("1-10/3 * * * *", NULL, "2026-05-05T12:00:00Z",
        "2026-05-05T12:01:00Z", "2026-05-05T12:04:00Z", "2026-05-05T12:07:00Z",
        "2026-05-05T12:10:00Z", "2026-05-05T13:01:00Z"));
    fy_test_cond("1-9/2 on the first", SEQ("1-9/2 0 1 * *", NULL, "2013-03-04T00:00:00Z",
        "2013-04-01T00:01:00Z", "2013-04-01T00:03:00Z", "2013-04-01T00:05:00Z",
        "2013-04-01T00:07:00Z", "2013-04-01T00:09:00Z", "2013-05-01T00:01:00Z"));
    fy_test_cond("lists mixed with ranges and steps", SEQ("5,10-12,*/30 * * * *", NULL,
        "2026-05-05T11:59:00Z", "2026-05-05T12:00:00Z", "2026-05-05T12:05:00Z",
        "2026-05-05T12:10:00Z", "2026-05-05T12:11:00Z", "2026-05-05T12:12:00Z",
        "2026-05-05T12:30:00Z", "2026-05-05T13:00:00Z"));
    fy_test_cond("N/S means N to the end, every S", SEQ("0 4/6 * * *", NULL, "2012-02-24T00:00:00Z",
        "2012-02-24T04:00:00Z", "2012-02-24T10:00:00Z", "2012-02-24T16:00:00Z",
        "2012-02-24T22:00:00Z", "2012-02-25T04:00:00Z"));
    fy_test_cond("0/6", SEQ("0 0/6 * * *", NULL, "2012-02-24T00:00:00Z", "2012-02-24T06:00:00Z"));
    fy_test_cond("two fixed days", SEQ("00 03 16,30 * *", NULL, "2013-03-01T12:17:34Z",
        "2013-03-16T03:00:00Z", "2013-03-30T03:00:00Z", "2013-04-16T03:00:00Z"));
    fy_test_cond("every hour of March only", SEQ("0 * * 3 *", NULL, "2012-01-01T00:00:00Z",
        "2012-03-01T00:00:00Z", "2012-03-01T01:00:00Z", "2012-03-01T02:00:00Z"));
    fy_test_cond("month list", SEQ("0 0 1 3,6,9,12 *", NULL, "2016-03-01T00:00:00Z",
                                   "2016-06-01T00:00:00Z"));
    fy_test_cond("month list, from before", SEQ("0 0 1 3,6,9,12 *", NULL, "2016-02-15T00:00:00Z",
                                                "2016-03-01T00:00:00Z"));
    fy_test_cond("month list, into next year", SEQ("0 0 1 3,6,9,12 *", NULL,
        "2016-12-03T10:00:00Z", "2017-03-01T00:00:00Z"));
    fy_test_cond("first of the month", SEQ("0 0 1 * *", NULL, "2010-01-25T00:00:00Z",
        "2010-02-01T00:00:00Z", "2010-03-01T00:00:00Z"));
    fy_test_cond("strictly after; fractions", SEQ("* * * * *", NULL, "2026-05-05T12:00:30.5Z",
        "2026-05-05T12:01:00Z", "2026-05-05T12:02:00Z"));
}

static void test_month_ends_and_leap_days(void) {
    fy_test_cond("the 31st only in 31-day months", SEQ("0 0 31 * *", NULL, "2026-01-31T00:00:00Z",
        "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z",
        "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z", "2026-12-31T00:00:00Z",
        "2027-01-31T00:00:00Z"));
    fy_test_cond("daily through Feb 29, 1996", SEQ("0 0 * * *", NULL, "1996-02-27T00:00:00Z",
        "1996-02-28T00:00:00Z", "1996-02-29T00:00:00Z", "1996-03-01T00:00:00Z"));
    fy_test_cond("2000 is a leap year", SEQ("0 0 * * *", NULL, "2000-02-28T00:00:00Z",
                                            "2000-02-29T00:00:00Z"));
    fy_test_cond("2100 is not", SEQ("0 0 * * *", NULL, "2100-02-28T00:00:00Z",
                                    "2100-03-01T00:00:00Z"));
    fy_test_cond("Feb 29 waits for the next leap year", SEQ("0 0 29 2 *", NULL,
        "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"));
    fy_test_cond("Feb 29 across 2100 (eight years)", SEQ("0 0 29 2 *", NULL,
        "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"));
    fy_test_cond("the 30th skips February", SEQ("0 12 30 * *", NULL, "2026-01-30T12:00:00Z",
        "2026-03-30T12:00:00Z"));
}

static void test_days_of_week(void) {
    fy_test_cond("saturday by name", SEQ("0 0 * * sat", NULL, "2010-02-25T00:00:00Z",
        "2010-02-27T00:00:00Z", "2010-03-06T00:00:00Z"));
    fy_test_cond("7 is Sunday", SEQ("0 0 * * 7", NULL, "2010-02-25T00:00:00Z",
        "2010-02-28T00:00:00Z", "2010-03-07T00:00:00Z"));
    fy_test_cond("0 is Sunday", SEQ("0 0 * * 0", NULL, "2010-02-25T00:00:00Z",
                                    "2010-02-28T00:00:00Z"));
    fy_test_cond("5-7 is Friday to Sunday", SEQ("0 0 * * 5-7", NULL, "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
        "2026-01-09T00:00:00Z"));
    fy_test_cond("sun-thu, names in a range", SEQ("30 22 * * sun-thu", NULL,
        "2010-08-25T15:56:00Z", "2010-08-25T22:30:00Z"));
    fy_test_cond("names are case-insensitive", SEQ("0 9 * JAN-Mar MON", NULL,
        "2026-03-28T00:00:00Z", "2026-03-30T09:00:00Z", "2027-01-04T09:00:00Z"));
    /* The OR rule: both restricted, either matches. */
    fy_test_cond("OR rule: the 1st or Wednesdays", SEQ("0 0 1 * wed", NULL,
        "2010-01-25T00:00:00Z", "2010-01-27T00:00:00Z", "2010-02-01T00:00:00Z",
        "2010-02-03T00:00:00Z"));
    fy_test_cond("OR rule: the 13th or Fridays", SEQ("0 0 13 * 5", NULL, "2026-04-09T00:00:00Z",
        "2026-04-10T00:00:00Z", "2026-04-13T00:00:00Z", "2026-04-17T00:00:00Z"));
    /* A field starting with '*' makes it AND (Vixie): odd days that are Mondays. */
    fy_test_cond("AND when a day field starts with *", SEQ("0 0 */2 * mon", NULL,
        "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z",
        "2026-02-09T00:00:00Z", "2026-02-23T00:00:00Z", "2026-03-09T00:00:00Z"));
    fy_test_cond("day of month alone", SEQ("0 0 13 * *", NULL, "2026-04-09T00:00:00Z",
                                           "2026-04-13T00:00:00Z", "2026-05-13T00:00:00Z"));
}

static void test_macros(void) {
    fy_test_cond("@hourly", SEQ("@hourly", NULL, "2026-05-05T12:34:00Z", "2026-05-05T13:00:00Z"));
    fy_test_cond("@daily", SEQ("@daily", NULL, "2026-05-05T12:34:00Z", "2026-05-06T00:00:00Z"));
    fy_test_cond("@midnight", SEQ("@midnight", NULL, "2026-05-05T12:34:00Z",
                                  "2026-05-06T00:00:00Z"));
    fy_test_cond("@weekly is Sunday 00:00", SEQ("@weekly", NULL, "2026-05-05T12:34:00Z",
                                                "2026-05-10T00:00:00Z"));
    fy_test_cond("@monthly", SEQ("@monthly", NULL, "2026-05-05T12:34:00Z",
                                 "2026-06-01T00:00:00Z"));
    fy_test_cond("@yearly", SEQ("@yearly", NULL, "2026-05-05T12:34:00Z", "2027-01-01T00:00:00Z"));
    fy_test_cond("@annually", SEQ("@annually", NULL, "2026-12-31T23:59:59Z",
                                  "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"));
    fy_test_cond("macros are case-insensitive", SEQ("@Daily", NULL, "2026-05-05T00:00:00Z",
                                                    "2026-05-06T00:00:00Z"));
}

static void test_every_and_manual(void) {
    struct fy_schedule *s = parse("every 15m", NULL);
    fy_test_cond("every 15m parses", s != NULL);
    if (s) {
        fy_test_cond("every: after + interval", fy_schedule_next(s, 1000.5) == 1900.5);
        fy_test_cond("every: interval", fy_schedule_interval(s) == 900);
        fy_test_cond("every: not manual", !fy_schedule_manual(s));
        fy_test_cond("every: text", strcmp(fy_schedule_text(s), "every 15m") == 0);
    }
    fy_schedule_free(s);
    fy_test_cond("every with long units, normalised", text_is("every 90 minutes", NULL, "every 1h30m"));
    fy_test_cond("every 1.5h", text_is("every 1.5h", NULL, "every 1h30m"));
    fy_test_cond("every 1s is the minimum", text_is("every 1s", NULL, "every 1s"));
    fy_test_cond("every ignores a bad zone (no cron)", text_is("every 1h", "Mars/Base", "every 1h"));
    s = parse("manual", NULL);
    fy_test_cond("manual", s && fy_schedule_manual(s) && isinf(fy_schedule_next(s, 0)) &&
                 fy_schedule_interval(s) == 0 && strcmp(fy_schedule_text(s), "manual") == 0);
    fy_schedule_free(s);
    s = parse("0 7 * * 1-5", NULL);
    fy_test_cond("cron: interval 0, not manual", s && fy_schedule_interval(s) == 0 &&
                 !fy_schedule_manual(s));
    fy_test_cond("cron: non-finite after is never", s && isinf(fy_schedule_next(s, NAN)) &&
                 isinf(fy_schedule_next(s, INFINITY)));
    fy_schedule_free(s);
    fy_test_cond("cron text in UTC", text_is("0 7 * * 1-5", NULL, "cron 0 7 * * 1-5 (UTC)"));
    fy_test_cond("cron text, spaces collapsed", text_is("  0   7\t* *  1-5 ", NULL,
                                                        "cron 0 7 * * 1-5 (UTC)"));
    fy_test_cond("macro text", text_is("@DAILY", NULL, "cron @daily (UTC)"));
    s = parse("0 0 29 2 *", NULL);
    fy_test_cond("no Feb 29 before year 10000", s && isinf(fy_schedule_next(s, at("9997-01-01T00:00:00Z"))));
    fy_schedule_free(s);
}

static void test_errors(void) {
    fy_test_cond("minute out of range", rejects("61 * * * *", NULL,
        "cron minute: '61' is outside 0-59 in \"61 * * * *\"", NULL));
    fy_test_cond("hour out of range", rejects("0 24 * * *", NULL, "cron hour: '24' is outside 0-23", NULL));
    fy_test_cond("hour range out of range", rejects("0 20-24 * * *", NULL,
        "cron hour: '20-24' is outside 0-23", NULL));
    fy_test_cond("day of month 0", rejects("0 0 0 * *", NULL,
        "cron day of month: '0' is outside 1-31", NULL));
    fy_test_cond("month 13", rejects("0 0 1 13 *", NULL, "cron month: '13' is outside 1-12", NULL));
    fy_test_cond("weekday 8", rejects("0 0 * * 8", NULL, "cron day of week: '8' is outside 0-7", NULL));
    fy_test_cond("backwards range", rejects("* * 5-1 * *", NULL,
        "cron day of month: range '5-1' runs backwards (write 1-5)", NULL));
    fy_test_cond("step 0", rejects("*/0 * * * *", NULL, "cron minute: step 0 in '*/0' is outside 1-59", NULL));
    fy_test_cond("step too big", rejects("0 */24 * * *", NULL, "cron hour: step 24 in '*/24' is outside 1-23", NULL));
    fy_test_cond("no step number", rejects("0-10/ * * * *", NULL,
        "cron minute: '0-10/' has no number after '/'", NULL));
    fy_test_cond("a letter", rejects("a * * * *", NULL,
        "cron minute: 'a' is not *, a number 0-59, a range N-M or a step like */15 in \"a * * * *\"", NULL));
    fy_test_cond("negative", rejects("-90 * * * *", NULL, "cron minute: '-90' is not *", NULL));
    fy_test_cond("junk", rejects("0-1& * * * *", NULL, "cron minute: '0-1&' is not *", NULL));
    fy_test_cond("misspelt month", rejects("* * * janu-jun *", NULL,
        "cron month: 'janu-jun' is not *, a number 1-12, a name jan-dec", NULL));
    fy_test_cond("a weekday name in the month field", rejects("0 0 1 mon *", NULL,
        "cron month: 'mon' is not", "jan-dec"));
    fy_test_cond("a month name in the hour field", rejects("0 jan * * *", NULL,
        "cron hour: 'jan' is not *, a number 0-23", NULL));
    fy_test_cond("empty list item", rejects("1,,2 * * * *", NULL, "cron minute: empty item in \"1,,2 * * * *\"", NULL));
    fy_test_cond("trailing comma", rejects("1, * * * *", NULL, "cron minute: empty item", NULL));
    fy_test_cond("four fields", rejects("61 * * *", NULL, "5-field cron", "got 4 fields in \"61 * * *\""));
    fy_test_cond("six fields", rejects("0 0 * * * *", NULL, "got 6 fields", NULL));
    fy_test_cond("a word", rejects("sometimes", NULL, "got 1 field in \"sometimes\"", NULL));
    fy_test_cond("unknown macro", rejects("@hourlyy", NULL, "unknown schedule macro \"@hourlyy\"", "@annually"));
    fy_test_cond("@reboot is not a schedule", rejects("@reboot", NULL, "unknown schedule macro", NULL));
    fy_test_cond("never: Feb 30", rejects("0 0 30 2 *", NULL,
        "cron day of month: '30' never falls in month '2', so \"0 0 30 2 *\" would never run", NULL));
    fy_test_cond("never: the 31st of 30-day months", rejects("0 0 31 4,6,9,11 *", NULL,
        "never falls in month '4,6,9,11'", NULL));
    fy_test_cond("every 0s", rejects("every 0s", NULL, "interval must be at least 1s", NULL));
    fy_test_cond("every 500ms", rejects("every 500ms", NULL, "interval must be at least 1s", NULL));
    fy_test_cond("every 15x", rejects("every 15x", NULL, "unknown unit 'x'", NULL));
    fy_test_cond("every alone", rejects("every", NULL, "empty duration", NULL));
    fy_test_cond("empty", rejects("  ", NULL, "empty schedule", NULL));
    fy_test_cond("unknown zone", rejects("0 7 * * *", "Mars/Base", "unknown time zone \"Mars/Base\"", NULL));
    fy_test_cond("bad zone name", rejects("0 7 * * *", "../../etc/passwd", "invalid time zone name", NULL));
    char longexpr[400];
    memset(longexpr, '1', sizeof longexpr - 1);
    longexpr[sizeof longexpr - 1] = '\0';
    fy_test_cond("too long", rejects(longexpr, NULL, "schedule too long", NULL));
}

/* ---- daylight saving time ------------------------------------------------ */

static void test_berlin(void) {
    const char *z = "Europe/Berlin";
    if (!have_zone(z)) return;
    fy_test_cond("Berlin text", text_is("0 7 * * 1-5", z, "cron 0 7 * * 1-5 (Europe/Berlin)"));
    fy_test_cond("Berlin: 07:00 on weekdays", SEQ("0 7 * * 1-5", z, "2026-07-03T06:00:00Z",
        "2026-07-06T05:00:00Z", "2026-07-07T05:00:00Z"));
    /* spring forward 2026-03-29: 02:00 CET -> 03:00 CEST (01:00Z) */
    fy_test_cond("Berlin 02:30 on the spring-forward day runs once, at 03:00 CEST",
        SEQ("30 2 * * *", z, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z"));
    fy_test_cond("Berlin: four gap times run once", SEQ("0,15,30,45 2 * * *", z,
        "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"));
    fy_test_cond("Berlin */15 through the gap", SEQ("*/15 * * * *", z, "2026-03-29T00:30:00Z",
        "2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"));
    fy_test_cond("Berlin hourly through the gap", SEQ("0 * * * *", z, "2026-03-29T00:00:00Z",
        "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"));
    /* fall back 2026-10-25: 03:00 CEST -> 02:00 CET (01:00Z) */
    fy_test_cond("Berlin 02:30 on the fall-back day runs once, at its first occurrence",
        SEQ("30 2 * * *", z, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z"));
    fy_test_cond("Berlin */30 runs in both 02:xx hours", SEQ("*/30 * * * *", z,
        "2026-10-24T23:45:00Z", "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z",
        "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"));
    fy_test_cond("Berlin: into a new year", SEQ("0 0 1 1 *", z, "2026-06-01T00:00:00Z",
        "2026-12-31T23:00:00Z", "2027-12-31T23:00:00Z"));
    fy_test_cond("Berlin: New Year's Eve", SEQ("30 23 31 12 *", z, "2026-12-31T22:29:00Z",
        "2026-12-31T22:30:00Z", "2027-12-31T22:30:00Z"));
    fy_test_cond("Berlin: daily 00:00 after the footer era", SEQ("@daily", z,
        "2050-03-26T12:00:00Z", "2050-03-26T23:00:00Z", "2050-03-27T22:00:00Z"));
}

static void test_new_york(void) {
    const char *z = "America/New_York";
    if (!have_zone(z)) return;
    /* spring forward 2026-03-08: 02:00 EST -> 03:00 EDT (07:00Z) */
    fy_test_cond("NY 02:30 on the spring-forward day runs once, at 03:00 EDT",
        SEQ("30 2 * * *", z, "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z"));
    /* fall back 2026-11-01: 02:00 EDT -> 01:00 EST (06:00Z) */
    fy_test_cond("NY 01:30 on the fall-back day runs once", SEQ("30 1 * * *", z,
        "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"));
    fy_test_cond("NY */30: four runs in 01:00-01:59", SEQ("*/30 * * * *", z,
        "2026-11-01T04:45:00Z", "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z",
        "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z"));
    fy_test_cond("NY */30 from inside the fold's first half", SEQ("*/30 * * * *", z,
        "2026-11-01T05:40:00Z", "2026-11-01T06:00:00Z"));
    fy_test_cond("NY */30 from just after 01:00 EDT", SEQ("*/30 * * * *", z,
        "2026-11-01T05:10:00Z", "2026-11-01T05:30:00Z"));
    fy_test_cond("NY 0 1 runs once on the fall-back day", SEQ("0 1 * * *", z,
        "2026-11-01T05:00:00Z", "2026-11-02T06:00:00Z"));
    fy_test_cond("NY */20 1-3: a fixed hour list runs the fold once",
        SEQ("*/20 1-3 * * *", z, "2026-11-01T04:59:00Z", "2026-11-01T05:00:00Z",
            "2026-11-01T05:20:00Z", "2026-11-01T05:40:00Z", "2026-11-01T07:00:00Z"));
    fy_test_cond("NY: into a new year", SEQ("0 0 1 1 *", z, "2026-12-31T12:00:00Z",
        "2027-01-01T05:00:00Z"));
    fy_test_cond("NY: every minute across the fold", SEQ("* * * * *", z,
        "2026-11-01T05:58:00Z", "2026-11-01T05:59:00Z", "2026-11-01T06:00:00Z",
        "2026-11-01T06:01:00Z"));
}

/* croniter's published DST cases, as our rules read them. */
static void test_croniter_dst(void) {
    if (have_zone("Europe/Athens")) {
        fy_test_cond("Athens fall back, */30", SEQ("*/30 * * * *", "Europe/Athens",
            "2013-10-27T02:00:00+03:00", "2013-10-27T02:30:00+03:00", "2013-10-27T03:00:00+03:00",
            "2013-10-27T03:30:00+03:00", "2013-10-27T03:00:00+02:00", "2013-10-27T03:30:00+02:00",
            "2013-10-27T04:00:00+02:00", "2013-10-27T04:30:00+02:00"));
        fy_test_cond("Athens spring forward, */30", SEQ("*/30 * * * *", "Europe/Athens",
            "2013-03-31T01:00:00+02:00", "2013-03-31T01:30:00+02:00", "2013-03-31T02:00:00+02:00",
            "2013-03-31T02:30:00+02:00", "2013-03-31T04:00:00+03:00", "2013-03-31T04:30:00+03:00"));
    }
    if (have_zone("Europe/Warsaw")) {
        fy_test_cond("Warsaw midnight after spring forward", SEQ("0 0 * * *", "Europe/Warsaw",
            "2017-03-26T00:00:00+01:00", "2017-03-27T00:00:00+02:00"));
        fy_test_cond("Warsaw hourly through the gap", SEQ("0 * * * *", "Europe/Warsaw",
            "2017-03-26T01:00:00+01:00", "2017-03-26T03:00:00+02:00"));
        fy_test_cond("Warsaw hourly through the fold", SEQ("0 * * * *", "Europe/Warsaw",
            "2017-10-29T01:59:00+02:00", "2017-10-29T02:00:00+02:00", "2017-10-29T02:00:00+01:00",
            "2017-10-29T03:00:00+01:00"));
    }
    if (have_zone("America/Sao_Paulo")) {
        /* 2018-02-18 00:00 -02 fell back to 2018-02-17 23:00 -03 */
        fy_test_cond("Sao Paulo midnight after the fold", SEQ("0 0 * * *", "America/Sao_Paulo",
            "2018-02-17T21:00:00-02:00", "2018-02-18T00:00:00-03:00", "2018-02-19T00:00:00-03:00"));
        fy_test_cond("Sao Paulo from inside the fold", SEQ("0 0 * * *", "America/Sao_Paulo",
            "2018-02-17T23:05:00-03:00", "2018-02-18T00:00:00-03:00"));
        /* 2018-11-04 00:00 -03 sprang to 01:00 -02: midnight does not exist */
        fy_test_cond("Sao Paulo midnight in the gap", SEQ("0 0 * * *", "America/Sao_Paulo",
            "2018-11-03T12:00:00-03:00", "2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"));
    }
}

/* A brute-force check over the days around each change of 2026 in Berlin
 * and New York: walking every minute of real time, an instant is due when
 * its wall-clock minute matches and it is that minute's first occurrence
 * (or the hour field is '*'), or when it ends a gap that swallowed a
 * matching minute. fy_schedule_next must list exactly those. */
struct brute_case {
    const char *expr;
    int hour_star;
    int (*match)(int min, int hour);
};
static int m_30(int mi, int h) { (void)h; return mi % 30 == 0; }
static int m_0230(int mi, int h) { return h == 2 && mi == 30; }
static int m_0130(int mi, int h) { return h == 1 && mi == 30; }
static int m_hourly(int mi, int h) { (void)h; return mi == 0; }
static int m_20_1to3(int mi, int h) { return h >= 1 && h <= 3 && mi % 20 == 0; }
static int m_every(int mi, int h) { (void)mi; (void)h; return 1; }

static int wall_minute_matches(const struct brute_case *c, long long local) {
    long long sod = ((local % 86400) + 86400) % 86400;
    return c->match((int)(sod / 60 % 60), (int)(sod / 3600));
}

static void brute_force(const char *zone, const char *from, const char *to) {
    static const struct brute_case cases[] = {
        {"*/30 * * * *", 1, m_30},  {"30 2 * * *", 0, m_0230}, {"30 1 * * *", 0, m_0130},
        {"0 * * * *", 1, m_hourly}, {"*/20 1-3 * * *", 0, m_20_1to3}, {"* * * * *", 1, m_every},
    };
    struct fy_tz *tz = fy_tz_load(zone, err, sizeof err);
    if (tz == NULL) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct brute_case *c = &cases[i];
        struct fy_schedule *s = parse(c->expr, zone);
        double t0 = at(from), t1 = at(to), next;
        int bad = 0;
        if (s == NULL) continue;
        next = fy_schedule_next(s, t0);
        for (double u = t0 + 60; u <= t1 && bad < 3; u += 60) {
            long long local = (long long)u + fy_tz_offset(tz, u);
            int off_before = fy_tz_offset(tz, u - 1), due = 0;
            double occ[2];
            if (wall_minute_matches(c, local)) {
                int k = fy_tz_resolve(tz, local, occ);
                due = c->hour_star || k != FY_TZ_FOLD || occ[0] == u;
            }
            /* a gap ending at u: local minutes [u-1+off_before+1, local) were skipped */
            for (long long l = (long long)u + off_before; !due && l < local; l += 60)
                if (wall_minute_matches(c, l)) due = 1;
            if (due) {
                if (next != u) {
                    printf("  %s (%s): next %.0f, brute force %.0f\n", c->expr, zone, next, u);
                    bad++;
                }
                next = fy_schedule_next(s, u);
            } else if (next == u) {
                printf("  %s (%s): %.0f is not due by brute force\n", c->expr, zone, u);
                bad++;
                next = fy_schedule_next(s, u);
            }
        }
        fy_test_cond("next() agrees with a minute-by-minute walk", bad == 0);
        fy_schedule_free(s);
    }
    fy_tz_free(tz);
}

static void test_brute_force(void) {
    if (have_zone("Europe/Berlin")) {
        brute_force("Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-30T00:00:00Z");
        brute_force("Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-26T00:00:00Z");
    }
    if (have_zone("America/New_York")) {
        brute_force("America/New_York", "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z");
        brute_force("America/New_York", "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z");
    }
    if (have_zone("Australia/Lord_Howe"))   /* half-hour changes */
        brute_force("Australia/Lord_Howe", "2026-04-04T00:00:00Z", "2026-04-06T00:00:00Z");
}

/* Impossible-looking but valid expressions finish quickly. */
static void test_speed(void) {
    struct fy_schedule *s = parse("0 0 29 2 1", NULL);   /* OR rule: Feb 29 or Mondays */
    clock_t c0 = clock();
    double t = at("2026-01-01T00:00:00Z");
    for (int i = 0; s && i < 2000; i++) t = fy_schedule_next(s, t);
    fy_test_cond("2000 next() calls run fast", s && isfinite(t) &&
                 (double)(clock() - c0) / CLOCKS_PER_SEC < 2.0);
    fy_schedule_free(s);
    s = parse("0 0 */30 2 mon", NULL);   /* Feb 1 when it is a Monday (AND rule) */
    fy_test_cond("rare AND match found", s && fy_schedule_next(s, at("2026-01-01T00:00:00Z")) ==
                 at("2027-02-01T00:00:00Z"));
    fy_schedule_free(s);
}

int main(void) {
    test_steps_and_ranges();
    test_month_ends_and_leap_days();
    test_days_of_week();
    test_macros();
    test_every_and_manual();
    test_errors();
    test_berlin();
    test_new_york();
    test_croniter_dst();
    test_brute_force();
    test_speed();
    return fy_test_report();
}
