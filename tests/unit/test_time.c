/* Unit tests for core/fy_time.c: timestamp parse/format, durations. */
#include "fy_time.h"
#include "testhelp.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static char last_err[FY_TIME_ERR_MAX];

/* Parse s; true when it succeeds with epoch within 1 us of want and the
 * given offset. */
static int parses_to(const char *s, double want, int want_off) {
    double e = -12345.0;
    int off = -12345;

    last_err[0] = '\0';
    if (fy_time_parse(s, strlen(s), &e, &off, last_err, sizeof last_err) != FY_OK) {
        printf("  parse(\"%s\") failed: %s\n", s, last_err);
        return 0;
    }
    if (fabs(e - want) > 1e-6 || off != want_off) {
        printf("  parse(\"%s\") = %.9f, %d; want %.9f, %d\n", s, e, off, want,
               want_off);
        return 0;
    }
    return 1;
}

/* Parse s; true when it fails with a message containing want (and leaves
 * the outputs alone). */
static int rejects(const char *s, size_t len, const char *want) {
    double e = -12345.0;
    int off = -12345;

    last_err[0] = '\0';
    if (fy_time_parse(s, len, &e, &off, last_err, sizeof last_err) != FY_ERR) {
        printf("  parse(\"%.*s\") unexpectedly succeeded\n", (int)len, s);
        return 0;
    }
    if (strstr(last_err, want) == NULL || e != -12345.0 || off != -12345) {
        printf("  parse(\"%.*s\") error \"%s\", want \"%s\"\n", (int)len, s,
               last_err, want);
        return 0;
    }
    return 1;
}

static int formats_to(double epoch, int off, int digits, const char *want) {
    char buf[FY_TIME_FORMAT_MAX];
    size_t n = fy_time_format(epoch, off, digits, buf, sizeof buf);

    if (n != strlen(want) || strcmp(buf, want) != 0) {
        printf("  format(%.9f, %d, %d) = \"%s\" (%zu); want \"%s\"\n", epoch,
               off, digits, buf, n, want);
        return 0;
    }
    return 1;
}

static int duration_is(const char *s, double want) {
    double v = -1.0;

    last_err[0] = '\0';
    if (fy_duration_parse(s, strlen(s), &v, last_err, sizeof last_err) != FY_OK) {
        printf("  duration(\"%s\") failed: %s\n", s, last_err);
        return 0;
    }
    if (fabs(v - want) > 1e-9 * (want > 1 ? want : 1)) {
        printf("  duration(\"%s\") = %.9f; want %.9f\n", s, v, want);
        return 0;
    }
    return 1;
}

/* Duration s fails with exactly the message want. */
static int duration_error(const char *s, const char *want) {
    double v = -1.0;

    last_err[0] = '\0';
    if (fy_duration_parse(s, strlen(s), &v, last_err, sizeof last_err) != FY_ERR) {
        printf("  duration(\"%s\") unexpectedly succeeded: %f\n", s, v);
        return 0;
    }
    if (strcmp(last_err, want) != 0) {
        printf("  duration(\"%s\") error \"%s\"; want \"%s\"\n", s, last_err,
               want);
        return 0;
    }
    return 1;
}

static int duration_formats_to(double seconds, const char *want) {
    char buf[FY_DURATION_FORMAT_MAX];
    size_t n = fy_duration_format(seconds, buf, sizeof buf);

    if (n != strlen(want) || strcmp(buf, want) != 0) {
        printf("  format_duration(%.9f) = \"%s\"; want \"%s\"\n", seconds, buf,
               want);
        return 0;
    }
    return 1;
}

/* Deterministic pseudo-random numbers for the round trips (xorshift64). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_parse_valid(void) {
    const double t = 1795701785.0; /* 2026-11-26T14:03:05Z */

    fy_test_cond("Z", parses_to("2026-11-26T14:03:05Z", t, 0));
    fy_test_cond("lowercase t and z", parses_to("2026-11-26t14:03:05z", t, 0));
    fy_test_cond("space separator", parses_to("2026-11-26 14:03:05Z", t, 0));
    fy_test_cond("no offset is UTC", parses_to("2026-11-26T14:03:05", t, 0));
    fy_test_cond("+02:00", parses_to("2026-11-26T16:03:05+02:00", t, 120));
    fy_test_cond("+0200", parses_to("2026-11-26T16:03:05+0200", t, 120));
    fy_test_cond("+02", parses_to("2026-11-26T16:03:05+02", t, 120));
    fy_test_cond("-05:30", parses_to("2026-11-26T08:33:05-05:30", t, -330));
    fy_test_cond("-0530", parses_to("2026-11-26T08:33:05-0530", t, -330));
    fy_test_cond("-00:00 is offset 0", parses_to("2026-11-26T14:03:05-00:00", t, 0));
    fy_test_cond("+18:00 limit", parses_to("2026-11-27T08:03:05+18:00", t, 1080));
    fy_test_cond("-18:00 limit", parses_to("2026-11-25T20:03:05-18:00", t, -1080));
    fy_test_cond("fraction .123 with offset",
                 parses_to("2026-11-26T16:03:05.123+02:00", t + 0.123, 120));
    fy_test_cond("fraction one digit", parses_to("2026-11-26T14:03:05.5Z", t + 0.5, 0));
    fy_test_cond("fraction nine digits",
                 parses_to("2026-11-26T14:03:05.123456789Z", t + 0.123456789, 0));
    fy_test_cond("fraction 25 digits",
                 parses_to("2026-11-26T14:03:05.1234567890123456789012345Z",
                           t + 0.123456789012345, 0));
    fy_test_cond("comma fraction", parses_to("2026-11-26T14:03:05,25Z", t + 0.25, 0));
    fy_test_cond("no seconds", parses_to("2026-11-26T14:03", t - 5, 0));
    fy_test_cond("no seconds with offset", parses_to("2026-11-26T16:03+02:00", t - 5, 120));
    fy_test_cond("date only is midnight UTC", parses_to("2026-11-26", 1795651200.0, 0));
    fy_test_cond("leap day 2024", parses_to("2024-02-29", 1709164800.0, 0));
    fy_test_cond("leap day 2000", parses_to("2000-02-29T00:00:00Z", 951782400.0, 0));
    fy_test_cond("epoch 0", parses_to("1970-01-01T00:00:00Z", 0.0, 0));
    fy_test_cond("epoch 0 date only", parses_to("1970-01-01", 0.0, 0));
    fy_test_cond("epoch 0 in +01:00", parses_to("1970-01-01T01:00:00+01:00", 0.0, 60));
    fy_test_cond("pre-1970 -1", parses_to("1969-12-31T23:59:59Z", -1.0, 0));
    fy_test_cond("pre-1970 fraction", parses_to("1969-12-31T23:59:59.75Z", -0.25, 0));
    fy_test_cond("1900-01-01", parses_to("1900-01-01T00:00:00Z", -2208988800.0, 0));
    fy_test_cond("year 9999", parses_to("9999-12-31T23:59:59Z", 253402300799.0, 0));
    fy_test_cond("year 0000", parses_to("0000-01-01T00:00:00Z", -62167219200.0, 0));
    fy_test_cond("year 0000 is leap", parses_to("0000-02-29", -62162121600.0, 0));
    fy_test_cond("24:00:00 is next midnight", parses_to("2026-11-26T24:00:00Z", 1795737600.0, 0));
    fy_test_cond("24:00", parses_to("2026-11-26T24:00", 1795737600.0, 0));
    fy_test_cond("leap second maps to next :00",
                 parses_to("2016-12-31T23:59:60Z", 1483228800.0, 0));
}

static void test_parse_invalid(void) {
#define REJ(s, want) rejects(s, strlen(s), want)
    fy_test_cond("2023-02-29 not a leap year",
                 REJ("2023-02-29", "invalid day 29 in \"2023-02-29\" (2023-02 has 28 days)"));
    fy_test_cond("1900-02-29 not a leap year", REJ("1900-02-29", "invalid day 29"));
    fy_test_cond("2026-04-31", REJ("2026-04-31", "invalid day 31"));
    fy_test_cond("day 00", REJ("2026-04-00", "invalid day 0"));
    fy_test_cond("month 13", REJ("2026-13-01", "invalid month 13 in \"2026-13-01\""));
    fy_test_cond("month 00", REJ("2026-00-01", "invalid month 0"));
    fy_test_cond("31/02/2023", REJ("31/02/2023", "expected a date as YYYY-MM-DD in \"31/02/2023\""));
    fy_test_cond("yesterday", REJ("yesterday", "expected a date as YYYY-MM-DD in \"yesterday\""));
    fy_test_cond("short year", REJ("26-11-26", "expected a date"));
    fy_test_cond("one-digit month", REJ("2026-1-26", "expected a date"));
    fy_test_cond("truncated date", REJ("2026-11", "expected a date"));
    fy_test_cond("hour 25", REJ("2026-11-26T25:00Z", "invalid hour 25 in \"2026-11-26T25:00Z\""));
    fy_test_cond("minute 60", REJ("2026-11-26T14:60Z", "invalid minute 60"));
    fy_test_cond("second 61", REJ("2026-11-26T14:03:61Z", "invalid second 61"));
    fy_test_cond("24:00:01", REJ("2026-11-26T24:00:01Z", "invalid hour 24"));
    fy_test_cond("24:30", REJ("2026-11-26T24:30Z", "invalid hour 24"));
    fy_test_cond("trailing junk after date-time",
                 REJ("2026-11-26T14:03:05Zabc", "trailing characters \"abc\" in"));
    fy_test_cond("trailing space", REJ("2026-11-26T14:03:05Z ", "trailing characters \" \""));
    fy_test_cond("trailing junk after seconds",
                 REJ("2026-11-26T14:03:05 x", "trailing characters \" x\""));
    fy_test_cond("junk after date",
                 REJ("2026-11-26x", "expected 'T' or end of input after the date"));
    fy_test_cond("date with Z only", REJ("2026-11-26Z", "expected 'T' or end of input"));
    fy_test_cond("T without time", REJ("2026-11-26T", "expected a time as HH:MM[:SS]"));
    fy_test_cond("hour only", REJ("2026-11-26T14Z", "expected a time as HH:MM[:SS]"));
    fy_test_cond("one-digit second", REJ("2026-11-26T14:03:5Z", "expected two-digit seconds"));
    fy_test_cond("dot without digits", REJ("2026-11-26T14:03:05.Z", "expected digits after '.'"));
    fy_test_cond("fraction without seconds",
                 REJ("2026-11-26T14:03.5Z", "fractional seconds need seconds"));
    fy_test_cond("offset +19:00",
                 REJ("2026-11-26T14:03:05+19:00", "offset +19:00 out of range (max +/-18:00)"));
    fy_test_cond("offset +18:01", REJ("2026-11-26T14:03:05+18:01", "out of range"));
    fy_test_cond("offset minute 60", REJ("2026-11-26T14:03:05+02:60", "invalid offset minute 60"));
    fy_test_cond("offset +2", REJ("2026-11-26T14:03:05+2", "expected an offset"));
    fy_test_cond("offset +02:0", REJ("2026-11-26T14:03:05+02:0", "expected an offset"));
    fy_test_cond("offset +020", REJ("2026-11-26T14:03:05+020", "expected an offset"));
    fy_test_cond("empty", REJ("", "empty date-time"));
    fy_test_cond("NULL", rejects(NULL, 0, "empty date-time"));
    fy_test_cond("leading space", REJ(" 2026-11-26", "expected a date"));
    fy_test_cond("embedded NUL is escaped in the message",
                 rejects("2026-11-26\0x", 12, "after the date in \"2026-11-26\\x00x\""));
    fy_test_cond("embedded NUL in the fraction",
                 rejects("2026-11-26T14:03:05.1\0", 22, "trailing characters \"\\x00\""));
    fy_test_cond("len bounds the input",
                 rejects("2026-11-26T14:03:05Z", 12, "expected a time"));
    {
        char longs[200];
        memset(longs, 'a', sizeof longs - 1);
        longs[sizeof longs - 1] = '\0';
        fy_test_cond("long input is cut in message", REJ(longs, "aaa...\""));
    }
    {
        /* A tiny err buffer is truncated, not overrun. */
        char small[8];
        double e;
        int off;
        fy_test_cond("small err buffer",
                     fy_time_parse("2026-13-01", 10, &e, &off, small, sizeof small) == FY_ERR &&
                     strcmp(small, "invalid") == 0);
        fy_test_cond("NULL err buffer",
                     fy_time_parse("2026-13-01", 10, &e, &off, NULL, 0) == FY_ERR);
    }
#undef REJ
}

static void test_parse_offset(void) {
    int off = 0;
    char err[FY_TIME_ERR_MAX];

    fy_test_cond("offset Z", fy_time_parse_offset("Z", 1, &off, err, sizeof err) == FY_OK && off == 0);
    fy_test_cond("offset +02:00", fy_time_parse_offset("+02:00", 6, &off, err, sizeof err) == FY_OK && off == 120);
    fy_test_cond("offset -0530", fy_time_parse_offset("-0530", 5, &off, err, sizeof err) == FY_OK && off == -330);
    fy_test_cond("offset +02", fy_time_parse_offset("+02", 3, &off, err, sizeof err) == FY_OK && off == 120);
    fy_test_cond("offset junk", fy_time_parse_offset("+02:00x", 7, &off, err, sizeof err) == FY_ERR &&
                 strcmp(err, "invalid offset \"+02:00x\" (expected Z, +HH:MM, +HHMM or +HH)") == 0);
    fy_test_cond("offset UTC", fy_time_parse_offset("UTC", 3, &off, err, sizeof err) == FY_ERR);
    fy_test_cond("offset empty", fy_time_parse_offset("", 0, &off, err, sizeof err) == FY_ERR);
    fy_test_cond("offset +19:00", fy_time_parse_offset("+19:00", 6, &off, err, sizeof err) == FY_ERR &&
                 strcmp(err, "offset \"+19:00\" out of range (max +/-18:00)") == 0);
}

static void test_format(void) {
    const double t = 1795701785.0;
    char buf[FY_TIME_FORMAT_MAX];

    fy_test_cond("format Z", formats_to(t, 0, 0, "2026-11-26T14:03:05Z"));
    fy_test_cond("format +02:00", formats_to(t, 120, 0, "2026-11-26T16:03:05+02:00"));
    fy_test_cond("format -05:30", formats_to(t, -330, 0, "2026-11-26T08:33:05-05:30"));
    fy_test_cond("format +18:00 crosses day", formats_to(t, 1080, 0, "2026-11-27T08:03:05+18:00"));
    fy_test_cond("format 3 digits", formats_to(t + 0.123, 120, 3, "2026-11-26T16:03:05.123+02:00"));
    fy_test_cond("format 9 digits", formats_to(1.5, 0, 9, "1970-01-01T00:00:01.500000000Z"));
    fy_test_cond("format rounds to 3 digits", formats_to(t + 0.9996, 0, 3, "2026-11-26T14:03:06.000Z"));
    fy_test_cond("format rounds to 0 digits", formats_to(t + 0.6, 0, 0, "2026-11-26T14:03:06Z"));
    fy_test_cond("format epoch 0", formats_to(0.0, 0, 0, "1970-01-01T00:00:00Z"));
    fy_test_cond("format -1", formats_to(-1.0, 0, 0, "1969-12-31T23:59:59Z"));
    fy_test_cond("format -0.25", formats_to(-0.25, 0, 2, "1969-12-31T23:59:59.75Z"));
    fy_test_cond("format -86400", formats_to(-86400.0, 0, 0, "1969-12-31T00:00:00Z"));
    fy_test_cond("format leap day", formats_to(1709164800.0, 0, 0, "2024-02-29T00:00:00Z"));
    fy_test_cond("format year 9999", formats_to(253402300799.0, 0, 0, "9999-12-31T23:59:59Z"));
    fy_test_cond("format year 0000", formats_to(-62167219200.0, 0, 0, "0000-01-01T00:00:00Z"));
    fy_test_cond("format longest", formats_to(253402300799.0 - 18 * 3600, 1080, 9,
                                              "9999-12-31T23:59:59.000000000+18:00"));
    fy_test_cond("format past 9999 fails", fy_time_format(253402300800.0, 0, 0, buf, sizeof buf) == 0 && buf[0] == '\0');
    fy_test_cond("format 9999 plus offset fails", fy_time_format(253402300799.0, 60, 0, buf, sizeof buf) == 0);
    fy_test_cond("format before 0000 fails", fy_time_format(-62167219201.0, 0, 0, buf, sizeof buf) == 0);
    fy_test_cond("format rounding past 9999 fails", fy_time_format(253402300799.9, 0, 0, buf, sizeof buf) == 0);
    fy_test_cond("format NaN fails", fy_time_format(NAN, 0, 0, buf, sizeof buf) == 0);
    fy_test_cond("format inf fails", fy_time_format(INFINITY, 0, 0, buf, sizeof buf) == 0);
    fy_test_cond("format 1e300 fails", fy_time_format(1e300, 0, 0, buf, sizeof buf) == 0);
    fy_test_cond("format bad digits fails", fy_time_format(t, 0, 10, buf, sizeof buf) == 0 &&
                 fy_time_format(t, 0, -1, buf, sizeof buf) == 0);
    fy_test_cond("format bad offset fails", fy_time_format(t, 1081, 0, buf, sizeof buf) == 0);
    fy_test_cond("format small buffer fails", fy_time_format(t, 0, 0, buf, 20) == 0 && buf[0] == '\0');
    fy_test_cond("format exact buffer", fy_time_format(t, 0, 0, buf, 21) == 20);
}

static void test_round_trips(void) {
    static const int offsets[] = {0, 60, -60, 120, -330, 345, 1080, -1080, -480, 600};
    static const char *strings[] = {
        "2026-11-26T14:03:05Z", "2026-11-26T16:03:05+02:00",
        "2026-11-26T16:03:05.123+02:00", "1969-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-02-29T12:00:00-05:30",
        "1970-01-01T00:00:00.000000001Z", "2000-01-01T00:00:00.5+14:00",
    };
    char buf[FY_TIME_FORMAT_MAX], buf2[FY_TIME_FORMAT_MAX];
    int bad = 0, count = 0;

    /* Random instants across 0001-9998, random offsets and precisions. */
    for (int k = 0; k < 20000; k++) {
        int64_t secs = (int64_t)(rng() % 315000000000ULL) - 62100000000LL;
        int digits = (int)(rng() % 4) * 3;                /* 0, 3, 6, 9 */
        int off = offsets[rng() % (sizeof offsets / sizeof offsets[0])];
        double frac = digits ? (double)(rng() % 1000) / 1000.0 : 0.0;
        double x = (double)secs + frac, back;
        int back_off;
        size_t n = fy_time_format(x, off, digits, buf, sizeof buf);

        count++;
        if (n == 0 ||
            fy_time_parse(buf, n, &back, &back_off, NULL, 0) != FY_OK ||
            fabs(back - x) > 1e-3 || back_off != off ||
            fy_time_format(back, back_off, digits, buf2, sizeof buf2) != n ||
            strcmp(buf, buf2) != 0) {
            if (bad++ < 5)
                printf("  round trip %.6f off %d digits %d -> \"%s\" -> \"%s\"\n",
                       x, off, digits, buf, buf2);
        }
    }
    fy_test_cond("20000 random format/parse round trips", bad == 0 && count == 20000);

    /* Every day of a leap and a non-leap year, at a few times of day. */
    bad = 0;
    for (double x = 1704067200.0; x < 1704067200.0 + 2 * 366 * 86400.0; x += 86400.0 / 4 + 1) {
        double back;
        int back_off;
        size_t n = fy_time_format(x, -330, 0, buf, sizeof buf);
        if (n == 0 || fy_time_parse(buf, n, &back, &back_off, NULL, 0) != FY_OK ||
            back != x || back_off != -330)
            bad++;
    }
    fy_test_cond("two years day by day round trip", bad == 0);

    /* Canonical strings format back to themselves. */
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++) {
        double e;
        int off, digits = 0;
        const char *dot = strchr(strings[k], '.');
        if (dot) digits = (int)strspn(dot + 1, "0123456789");
        int ok = fy_time_parse(strings[k], strlen(strings[k]), &e, &off, NULL, 0) == FY_OK &&
                 fy_time_format(e, off, digits, buf, sizeof buf) > 0 &&
                 strcmp(buf, strings[k]) == 0;
        if (!ok) printf("  \"%s\" -> \"%s\"\n", strings[k], buf);
        fy_test_cond("string round trip", ok);
    }
}

static void test_durations(void) {
    char buf[FY_DURATION_FORMAT_MAX];
    double v;

    fy_test_cond("90s", duration_is("90s", 90));
    fy_test_cond("15m", duration_is("15m", 900));
    fy_test_cond("1h30m", duration_is("1h30m", 5400));
    fy_test_cond("7d", duration_is("7d", 604800));
    fy_test_cond("500ms", duration_is("500ms", 0.5));
    fy_test_cond("1w", duration_is("1w", 604800));
    fy_test_cond("1.5h", duration_is("1.5h", 5400));
    fy_test_cond("2h 30m", duration_is("2h 30m", 9000));
    fy_test_cond("1w2d3h4m5s6ms", duration_is("1w2d3h4m5s6ms", 604800 + 172800 + 10800 + 240 + 5.006));
    fy_test_cond("0s", duration_is("0s", 0));
    fy_test_cond("0.25ms", duration_is("0.25ms", 0.00025));
    fy_test_cond("1m30.5s", duration_is("1m30.5s", 90.5));
    fy_test_cond("long fraction", duration_is("0.1234567890123456789s", 0.123456789012345));

    fy_test_cond("bare number", duration_error("15", "missing unit in \"15\""));
    fy_test_cond("bare trailing number", duration_error("1h30", "missing unit in \"1h30\""));
    /* The long unit names people write ("every 15 minutes"), with or
     * without a space before them. */
    fy_test_cond("15 minutes", duration_is("15 minutes", 900));
    fy_test_cond("1 minute", duration_is("1 minute", 60));
    fy_test_cond("15 m", duration_is("15 m", 900));
    fy_test_cond("15min", duration_is("15min", 900));
    fy_test_cond("15 mins", duration_is("15 mins", 900));
    fy_test_cond("90 seconds", duration_is("90 seconds", 90));
    fy_test_cond("1 second", duration_is("1 second", 1));
    fy_test_cond("30 sec, 30secs", duration_is("30 sec", 30) && duration_is("30secs", 30));
    fy_test_cond("2 hours 30 minutes", duration_is("2 hours 30 minutes", 9000));
    fy_test_cond("1 hour", duration_is("1 hour", 3600));
    fy_test_cond("3 hr, 3hrs", duration_is("3 hr", 10800) && duration_is("3hrs", 10800));
    fy_test_cond("1 day, 2 days", duration_is("1 day", 86400) && duration_is("2 days", 172800));
    fy_test_cond("1 week, 2 weeks", duration_is("1 week", 604800) && duration_is("2 weeks", 1209600));
    fy_test_cond("1.5 hours", duration_is("1.5 hours", 5400));
    fy_test_cond("500 ms, 250 milliseconds",
                 duration_is("500 ms", 0.5) && duration_is("250 milliseconds", 0.25));
    fy_test_cond("1 day 2h", duration_is("1 day 2h", 93600));
    fy_test_cond("a long name and its short one are the same unit",
                 duration_error("1 hour 1h", "unit 'h' out of order in \"1 hour 1h\" (largest unit first, each unit once)"));
    fy_test_cond("out of order, long names",
                 duration_error("5 minutes 1 hour",
                                "unit 'hour' out of order in \"5 minutes 1 hour\" (largest unit first, each unit once)"));
    fy_test_cond("two spaces before the unit", duration_is("15  minutes", 900));
    fy_test_cond("space then nothing", duration_error("1h 30", "missing unit in \"1h 30\""));
    fy_test_cond("unknown unit x",
                 duration_error("15x", "unknown unit 'x' in \"15x\" (use ms, s, m, h, d, w, or seconds, minutes, hours, days, weeks)"));
    fy_test_cond("unknown unit minutez",
                 duration_error("15 minutez", "unknown unit 'minutez' in \"15 minutez\" (use ms, s, m, h, d, w, or seconds, minutes, hours, days, weeks)"));
    fy_test_cond("unknown unit M (case-sensitive)",
                 duration_error("1M", "unknown unit 'M' in \"1M\" (use ms, s, m, h, d, w, or seconds, minutes, hours, days, weeks)"));
    fy_test_cond("unknown unit Minutes (case-sensitive)",
                 duration_error("1 Minutes", "unknown unit 'Minutes' in \"1 Minutes\" (use ms, s, m, h, d, w, or seconds, minutes, hours, days, weeks)"));
    fy_test_cond("unknown unit %",
                 duration_error("15%", "unknown unit '%' in \"15%\" (use ms, s, m, h, d, w, or seconds, minutes, hours, days, weeks)"));
    fy_test_cond("empty", duration_error("", "empty duration"));
    fy_test_cond("NULL", fy_duration_parse(NULL, 0, &v, buf, sizeof buf) == FY_ERR &&
                 strcmp(buf, "empty duration") == 0);
    fy_test_cond("negative", duration_error("-5m", "negative duration \"-5m\""));
    fy_test_cond("negative later",
                 duration_error("1h-5m", "expected a number at position 3 in \"1h-5m\""));
    fy_test_cond("plus sign", duration_error("+5m", "expected a number at position 1 in \"+5m\""));
    fy_test_cond("unit only", duration_error("h", "expected a number at position 1 in \"h\""));
    fy_test_cond("dot without digits", duration_error("1.h", "expected digits after '.' in \"1.h\""));
    fy_test_cond("leading dot", duration_error(".5h", "expected a number at position 1 in \".5h\""));
    fy_test_cond("leading space",
                 duration_error(" 5m", "leading or trailing whitespace in duration \" 5m\""));
    fy_test_cond("trailing space",
                 duration_error("5m ", "leading or trailing whitespace in duration \"5m \""));
    fy_test_cond("out of order",
                 duration_error("30m1h", "unit 'h' out of order in \"30m1h\" (largest unit first, each unit once)"));
    fy_test_cond("repeated unit",
                 duration_error("1m1m", "unit 'm' out of order in \"1m1m\" (largest unit first, each unit once)"));
    fy_test_cond("too large", duration_error("2000000000w", "duration too large: \"2000000000w\""));
    fy_test_cond("too many digits",
                 duration_error("1234567890123456s", "duration too large: \"1234567890123456s\""));

    fy_test_cond("format 90 -> 1m30s", duration_formats_to(90, "1m30s"));
    fy_test_cond("format 5400 -> 1h30m", duration_formats_to(5400, "1h30m"));
    fy_test_cond("format 0.5 -> 500ms", duration_formats_to(0.5, "500ms"));
    fy_test_cond("format 604800 -> 7d", duration_formats_to(604800, "7d"));
    fy_test_cond("format 0 -> 0s", duration_formats_to(0, "0s"));
    fy_test_cond("format 90.5 -> 1m30.5s", duration_formats_to(90.5, "1m30.5s"));
    fy_test_cond("format 1.25 -> 1.25s", duration_formats_to(1.25, "1.25s"));
    fy_test_cond("format 0.00025 -> 0.25ms", duration_formats_to(0.00025, "0.25ms"));
    fy_test_cond("format 3600.001 -> 1h0.001s", duration_formats_to(3600.001, "1h0.001s"));
    fy_test_cond("format 93784 -> 1d2h3m4s", duration_formats_to(93784, "1d2h3m4s"));
    fy_test_cond("format -90 -> -1m30s", duration_formats_to(-90, "-1m30s"));
    fy_test_cond("format 1e-7 -> 0s", duration_formats_to(1e-7, "0s"));
    fy_test_cond("format max", duration_formats_to(1e12, "11574074d1h46m40s"));
    fy_test_cond("format too large", fy_duration_format(1e13, buf, sizeof buf) == 0 && buf[0] == '\0');
    fy_test_cond("format NaN", fy_duration_format(NAN, buf, sizeof buf) == 0);
    fy_test_cond("format small buffer", fy_duration_format(5400, buf, 5) == 0);
    fy_test_cond("format exact buffer", fy_duration_format(5400, buf, 6) == 5);

    /* format -> parse -> same seconds, for random values at us precision. */
    {
        int bad = 0;
        for (int k = 0; k < 20000; k++) {
            double x = (double)(rng() % 100000000000000ULL) / 1e6; /* < 1e8 s */
            size_t n = fy_duration_format(x, buf, sizeof buf);
            if (n == 0 || fy_duration_parse(buf, n, &v, NULL, 0) != FY_OK ||
                fabs(v - x) > 1e-6) {
                if (bad++ < 5) printf("  duration round trip %.6f -> \"%s\"\n", x, buf);
            }
        }
        fy_test_cond("20000 random duration round trips", bad == 0);
    }
}

static void test_now(void) {
    double a = fy_time_now(), b = fy_time_now();
    fy_test_cond("now is after 2020 and monotone enough", a > 1577836800.0 && b >= a - 1.0);
}

int main(void) {
    test_parse_valid();
    test_parse_invalid();
    test_parse_offset();
    test_format();
    test_round_trips();
    test_durations();
    test_now();
    return fy_test_report();
}
