/* Unit tests for core/fy_tz.c: TZif reading, offsets, local-time gaps and
 * folds, POSIX footer rules, and corrupt files. Tests that need the system's
 * tzdata skip (saying so) when a zone file is missing. Expected offsets were
 * taken from `zdump -v` (tzdata 2025b); nothing here runs zdump. */
#include "fy_time.h"
#include "fy_tz.h"
#include "testhelp.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[512];

/* An instant from an RFC 3339 string. */
static double at(const char *s) {
    double e = NAN;
    int off;
    if (fy_time_parse(s, strlen(s), &e, &off, NULL, 0) != FY_OK) printf("  bad fixture %s\n", s);
    return e;
}

/* Local seconds of a wall-clock time "YYYY-MM-DDTHH:MM:SS". */
static long long wall(const char *s) {
    return (long long)at(s);
}

/* Load a zone from the system, or say why the test is skipped. */
static struct fy_tz *system_zone(const char *name) {
    char path[256];
    const char *dir = getenv("TZDIR");
    struct fy_tz *tz;

    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    if (access(path, R_OK) != 0) {
        printf("skip: %s not found (install tzdata): tests with %s skipped\n", path, name);
        return NULL;
    }
    tz = fy_tz_load(name, err, sizeof err);
    if (tz == NULL) printf("  load %s: %s\n", name, err);
    fy_test_cond("a system zone loads", tz != NULL);
    return tz;
}

static int offset_is(const struct fy_tz *tz, const char *when, int want) {
    int got = fy_tz_offset(tz, at(when));
    if (got != want) printf("  %s at %s: offset %d, want %d\n", fy_tz_name(tz), when, got, want);
    return got == want;
}

/* fy_tz_resolve(local) gives kind with out[0] (and out[1] for a fold). */
static int resolves(const struct fy_tz *tz, const char *local, int kind, const char *u0,
                    const char *u1) {
    double out[2] = {NAN, NAN};
    int k = fy_tz_resolve(tz, wall(local), out);
    int ok = k == kind && out[0] == at(u0) && (u1 == NULL || out[1] == at(u1));
    if (!ok)
        printf("  %s: resolve %s = %d (%.0f, %.0f), want %d (%.0f, %.0f)\n", fy_tz_name(tz),
               local, k, out[0], out[1], kind, at(u0), u1 ? at(u1) : NAN);
    return ok;
}

/* ---- building TZif data ------------------------------------------------- */

struct tzb {
    unsigned char b[4096];
    size_t n;
};

static void put32(struct tzb *t, uint32_t v) {
    for (int i = 3; i >= 0; i--) t->b[t->n++] = (unsigned char)(v >> (8 * i));
}

static void put64(struct tzb *t, int64_t v) {
    put32(t, (uint32_t)((uint64_t)v >> 32));
    put32(t, (uint32_t)v);
}

static void header(struct tzb *t, char version, uint32_t time, uint32_t type, uint32_t chars) {
    memcpy(t->b + t->n, "TZif", 4);
    t->n += 4;
    t->b[t->n++] = (unsigned char)version;
    memset(t->b + t->n, 0, 15);
    t->n += 15;
    put32(t, 0);      /* isut */
    put32(t, 0);      /* isstd */
    put32(t, 0);      /* leap */
    put32(t, time);
    put32(t, type);
    put32(t, chars);
}

/* A version 2 file the way zic -b slim writes it: a placeholder version 1
 * block, then transitions trans[i] to type idx[i], types with offsets
 * offs[], all named "ZZZ", and the footer rule. */
static void build(struct tzb *t, const int64_t *trans, const unsigned char *idx, int ntrans,
                  const int32_t *offs, int ntypes, const char *footer) {
    t->n = 0;
    header(t, '2', 0, 1, 1);
    put32(t, 0);
    t->b[t->n++] = 0;
    t->b[t->n++] = 0;
    t->b[t->n++] = 0;
    header(t, '2', (uint32_t)ntrans, (uint32_t)ntypes, 4);
    for (int i = 0; i < ntrans; i++) put64(t, trans[i]);
    for (int i = 0; i < ntrans; i++) t->b[t->n++] = idx[i];
    for (int i = 0; i < ntypes; i++) {
        put32(t, (uint32_t)offs[i]);
        t->b[t->n++] = 0;
        t->b[t->n++] = 0;
    }
    memcpy(t->b + t->n, "ZZZ", 4);
    t->n += 4;
    t->b[t->n++] = '\n';
    memcpy(t->b + t->n, footer, strlen(footer));
    t->n += strlen(footer);
    t->b[t->n++] = '\n';
}

/* A zone made of nothing but a footer rule. */
static struct fy_tz *rule_zone(const char *rule) {
    struct tzb t;
    int32_t off = 0;

    build(&t, NULL, NULL, 0, &off, 1, rule);
    return fy_tz_parse(rule, t.b, t.n, err, sizeof err);
}

/* rule_zone for a rule that must parse. */
static struct fy_tz *good_rule(const char *rule) {
    struct fy_tz *tz = rule_zone(rule);

    if (tz == NULL) printf("  rule \"%s\": %s\n", rule, err);
    fy_test_cond("a good footer rule parses", tz != NULL);
    return tz;
}

/* ---- tests -------------------------------------------------------------- */

static void test_utc_and_names(void) {
    struct fy_tz *tz = fy_tz_load("UTC", err, sizeof err);
    double out[2];

    fy_test_cond("UTC is built in", tz != NULL && strcmp(fy_tz_name(tz), "UTC") == 0);
    fy_test_cond("UTC offset 0", tz && fy_tz_offset(tz, at("2026-07-01T12:00:00Z")) == 0);
    fy_test_cond("UTC resolves 1:1", tz && fy_tz_resolve(tz, 1000, out) == FY_TZ_NORMAL && out[0] == 1000);
    fy_test_cond("UTC: non-finite instants", tz && fy_tz_offset(tz, NAN) == 0 &&
                 fy_tz_offset(tz, INFINITY) == 0 && fy_tz_offset(tz, -INFINITY) == 0);
    fy_tz_free(tz);
    tz = fy_tz_load("Etc/UTC", err, sizeof err);
    fy_test_cond("Etc/UTC is built in", tz != NULL);
    fy_tz_free(tz);
    tz = fy_tz_load("Z", err, sizeof err);
    fy_test_cond("Z is built in", tz != NULL);
    fy_tz_free(tz);
    fy_tz_free(NULL);

    static const char *bad[] = {"/etc/localtime", "../etc/passwd", "Europe/../../etc/passwd",
                                "Europe/Berlin;rm", "Europe Berlin", "", "Europe/Berlin\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        tz = fy_tz_load(bad[i], err, sizeof err);
        fy_test_cond("bad zone names are refused", tz == NULL && strstr(err, "invalid time zone name"));
        fy_tz_free(tz);
    }
    tz = fy_tz_load("Mars/Olympus_Mons", err, sizeof err);
    fy_test_cond("a missing zone names itself",
                 tz == NULL && strstr(err, "unknown time zone \"Mars/Olympus_Mons\"") &&
                 strstr(err, "no file"));
    if (access("/usr/share/zoneinfo/Europe", R_OK) == 0 && getenv("TZDIR") == NULL) {
        tz = fy_tz_load("Europe", err, sizeof err);
        fy_test_cond("a directory is not a zone", tz == NULL && strstr(err, "not a zone file"));
    }
}

static void test_berlin(void) {
    struct fy_tz *tz = system_zone("Europe/Berlin");
    if (tz == NULL) return;
    fy_test_cond("Berlin summer", offset_is(tz, "2026-07-01T12:00:00Z", 7200));
    fy_test_cond("Berlin winter", offset_is(tz, "2026-01-15T12:00:00Z", 3600));
    fy_test_cond("Berlin before spring forward", offset_is(tz, "2026-03-29T00:59:59Z", 3600));
    fy_test_cond("Berlin at spring forward", offset_is(tz, "2026-03-29T01:00:00Z", 7200));
    fy_test_cond("Berlin before fall back", offset_is(tz, "2026-10-25T00:59:59Z", 7200));
    fy_test_cond("Berlin at fall back", offset_is(tz, "2026-10-25T01:00:00Z", 3600));
    fy_test_cond("Berlin 2050 (footer rule)", offset_is(tz, "2050-07-01T00:00:00Z", 7200));
    fy_test_cond("Berlin 2050 winter", offset_is(tz, "2050-12-01T00:00:00Z", 3600));
    fy_test_cond("Berlin 1900: LMT +0:53:28", offset_is(tz, "1890-01-01T00:00:00Z", 3208));
    fy_test_cond("Berlin 1945 double summer time", offset_is(tz, "1945-06-01T00:00:00Z", 10800));

    fy_test_cond("Berlin normal", resolves(tz, "2026-07-01T12:00:00", FY_TZ_NORMAL,
                                           "2026-07-01T10:00:00Z", NULL));
    fy_test_cond("Berlin 02:30 on spring-forward day is a gap ending 03:00 CEST",
                 resolves(tz, "2026-03-29T02:30:00", FY_TZ_GAP, "2026-03-29T01:00:00Z", NULL));
    fy_test_cond("Berlin 02:00 is in the gap",
                 resolves(tz, "2026-03-29T02:00:00", FY_TZ_GAP, "2026-03-29T01:00:00Z", NULL));
    fy_test_cond("Berlin 03:00 exists",
                 resolves(tz, "2026-03-29T03:00:00", FY_TZ_NORMAL, "2026-03-29T01:00:00Z", NULL));
    fy_test_cond("Berlin 01:59:59 exists",
                 resolves(tz, "2026-03-29T01:59:59", FY_TZ_NORMAL, "2026-03-29T00:59:59Z", NULL));
    fy_test_cond("Berlin 02:30 on fall-back day happens twice",
                 resolves(tz, "2026-10-25T02:30:00", FY_TZ_FOLD, "2026-10-25T00:30:00Z",
                          "2026-10-25T01:30:00Z"));
    fy_test_cond("Berlin 03:00 on fall-back day once",
                 resolves(tz, "2026-10-25T03:00:00", FY_TZ_NORMAL, "2026-10-25T02:00:00Z", NULL));
    fy_test_cond("Berlin 2060 gap (footer)", resolves(tz, "2060-03-28T02:15:00", FY_TZ_GAP,
                                                      "2060-03-28T01:00:00Z", NULL));
    fy_tz_free(tz);
}

static void test_new_york(void) {
    struct fy_tz *tz = system_zone("America/New_York");
    if (tz == NULL) return;
    fy_test_cond("NY winter", offset_is(tz, "2026-01-15T12:00:00Z", -18000));
    fy_test_cond("NY summer", offset_is(tz, "2026-07-01T12:00:00Z", -14400));
    fy_test_cond("NY before spring forward", offset_is(tz, "2026-03-08T06:59:59Z", -18000));
    fy_test_cond("NY at spring forward", offset_is(tz, "2026-03-08T07:00:00Z", -14400));
    fy_test_cond("NY at fall back", offset_is(tz, "2026-11-01T06:00:00Z", -18000));
    fy_test_cond("NY 2045 summer (footer)", offset_is(tz, "2045-07-04T16:00:00Z", -14400));
    fy_test_cond("NY 2006 rules: April", offset_is(tz, "2006-03-20T12:00:00Z", -18000));
    fy_test_cond("NY spring gap",
                 resolves(tz, "2026-03-08T02:30:00", FY_TZ_GAP, "2026-03-08T07:00:00Z", NULL));
    fy_test_cond("NY fall fold", resolves(tz, "2026-11-01T01:30:00", FY_TZ_FOLD,
                                          "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"));
    fy_test_cond("NY 00:59 before the fold", resolves(tz, "2026-11-01T00:59:00", FY_TZ_NORMAL,
                                                       "2026-11-01T04:59:00Z", NULL));
    fy_test_cond("NY 02:00 after the fold", resolves(tz, "2026-11-01T02:00:00", FY_TZ_NORMAL,
                                                      "2026-11-01T07:00:00Z", NULL));
    fy_tz_free(tz);
}

/* A footer alone must give the same offsets as the file's own transition
 * table over years where the rule held: this checks the POSIX rule code
 * against data it did not produce (slim files rely on it). */
static void test_footer_matches_table(void) {
    static const struct {
        const char *zone, *rule;
        int from, to;
    } cases[] = {
        {"Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3", 1997, 2037},
        {"America/New_York", "EST5EDT,M3.2.0,M11.1.0", 2008, 2037},
        {"Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3", 2009, 2037},
        {"Australia/Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 2009, 2037},
        {"America/Santiago", "<-04>4<-03>,M9.1.6/24,M4.1.6/24", 2023, 2037},
        {"America/Nuuk", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 2025, 2037},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fy_tz *real = system_zone(cases[i].zone), *rule = good_rule(cases[i].rule);
        int mismatches = 0;
        if (real && rule) {
            double from = fy_time_days_from_civil(cases[i].from, 1, 1) * 86400.0;
            double to = fy_time_days_from_civil(cases[i].to, 1, 1) * 86400.0;
            /* every 20 minutes: catches a change put in the wrong hour */
            for (double t = from; t < to; t += 1200)
                if (fy_tz_offset(real, t) != fy_tz_offset(rule, t) && mismatches++ < 3)
                    printf("  %s at %.0f: table %d, rule %d\n", cases[i].zone, t,
                           fy_tz_offset(real, t), fy_tz_offset(rule, t));
        }
        fy_test_cond("a footer rule agrees with the zone's transition table", mismatches == 0);
        fy_tz_free(real);
        fy_tz_free(rule);
    }
}

static void test_rules(void) {
    struct fy_tz *tz;

    /* Jn never counts Feb 29: J60 is Mar 1 in every year. */
    tz = good_rule("AAA3BBB,J60/2,J300/2");
        if (tz) {
        fy_test_cond("J60 in a leap year: before", offset_is(tz, "2024-03-01T04:59:59Z", -10800));
        fy_test_cond("J60 in a leap year: Mar 1", offset_is(tz, "2024-03-01T05:00:00Z", -7200));
        fy_test_cond("J300 is Oct 27", offset_is(tz, "2025-10-27T03:59:59Z", -7200) &&
                     offset_is(tz, "2025-10-27T04:00:00Z", -10800));
    }
    fy_tz_free(tz);
    /* n counts from 0 and does count Feb 29. */
    tz = good_rule("AAA3BBB,59/2,299/2");
    if (tz) fy_test_cond("day 59 of 2024 is Feb 29", offset_is(tz, "2024-02-29T04:59:59Z", -10800) &&
                         offset_is(tz, "2024-02-29T05:00:00Z", -7200));
    fy_tz_free(tz);
    /* Daylight time all year (RFC 8536 section 3.3.1). */
    tz = good_rule("EST5EDT,0/0,J365/25");
    if (tz) fy_test_cond("all-year daylight time", offset_is(tz, "2026-01-01T00:00:00Z", -14400) &&
                         offset_is(tz, "2026-07-01T00:00:00Z", -14400) &&
                         offset_is(tz, "2026-12-31T23:59:59Z", -14400) &&
                         offset_is(tz, "2027-01-01T04:59:59Z", -14400));
    fy_tz_free(tz);
    tz = good_rule("<+0530>-5:30");
    if (tz) fy_test_cond("fixed offset with minutes", offset_is(tz, "2026-07-01T00:00:00Z", 19800));
    fy_tz_free(tz);
    /* Dst without a rule: the POSIX default (US rules). */
    tz = good_rule("EST5EDT");
    if (tz) fy_test_cond("default rule", offset_is(tz, "2026-07-01T00:00:00Z", -14400) &&
                         offset_is(tz, "2026-01-01T00:00:00Z", -18000));
    fy_tz_free(tz);
    /* A gap and a fold on the footer path alone (a slim file's future). */
    tz = good_rule("CET-1CEST,M3.5.0,M10.5.0/3");
    if (tz) {
        fy_test_cond("slim: gap", resolves(tz, "2026-03-29T02:30:00", FY_TZ_GAP,
                                           "2026-03-29T01:00:00Z", NULL));
        fy_test_cond("slim: fold", resolves(tz, "2026-10-25T02:30:00", FY_TZ_FOLD,
                                            "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"));
        fy_test_cond("slim: year boundary", resolves(tz, "2027-01-01T00:00:00", FY_TZ_NORMAL,
                                                     "2026-12-31T23:00:00Z", NULL));
    }
    fy_tz_free(tz);

    static const char *bad[] = {"CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
                                "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0",
                                "CET-25", "CET-1CEST,J0,J365", "CET-1CEST,366,1",
                                "CET-1CEST,M3.5.0/168,M10.5.0", "<+05", "C1", "CET-1:60",
                                "CET-1 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tz = rule_zone(bad[i]);
        fy_test_cond("a bad footer rule is refused", tz == NULL && strstr(err, "footer"));
        fy_tz_free(tz);
    }
    tz = rule_zone("");
    fy_test_cond("an empty footer is allowed", tz != NULL);
    fy_tz_free(tz);
}

/* A slim file: transitions to 2007, the footer after; and loading it from
 * $TZDIR. */
static void test_slim_file(void) {
    static const int64_t trans[] = {1162105200 /* 2006-10-29T06:00Z */,
                                    1173596400 /* 2007-03-11T07:00Z */,
                                    1194156000 /* 2007-11-04T06:00Z */};
    static const unsigned char idx[] = {0, 1, 0};
    static const int32_t offs[] = {-18000, -14400};
    char dir[] = "/tmp/fy_tz_testXXXXXX", path[256];
    struct tzb t;
    struct fy_tz *tz;
    FILE *fp;

    build(&t, trans, idx, 3, offs, 2, "EST5EDT,M3.2.0,M11.1.0");
    if (mkdtemp(dir) == NULL) return;
    snprintf(path, sizeof path, "%s/Test", dir);
    if (mkdir(path, 0700) != 0) return;
    snprintf(path, sizeof path, "%s/Test/Slim", dir);
    fp = fopen(path, "wb");
    if (fp == NULL) return;
    fwrite(t.b, 1, t.n, fp);
    fclose(fp);
    setenv("TZDIR", dir, 1);
    tz = fy_tz_load("Test/Slim", err, sizeof err);
    if (tz == NULL) printf("  %s\n", err);
    fy_test_cond("a zone loads from $TZDIR", tz != NULL);
    if (tz) {
        fy_test_cond("slim: table", offset_is(tz, "2007-07-01T00:00:00Z", -14400));
        fy_test_cond("slim: footer summer", offset_is(tz, "2026-07-01T00:00:00Z", -14400));
        fy_test_cond("slim: footer winter", offset_is(tz, "2026-12-01T00:00:00Z", -18000));
        fy_test_cond("slim: fold via footer", resolves(tz, "2026-11-01T01:30:00", FY_TZ_FOLD,
                                                       "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"));
        fy_test_cond("slim: before the first transition: type 0", offset_is(tz, "1990-07-01T00:00:00Z", -18000));
    }
    fy_tz_free(tz);
    unsetenv("TZDIR");
    unlink(path);
    snprintf(path, sizeof path, "%s/Test", dir);
    rmdir(path);
    rmdir(dir);
}

/* Corrupted copies of a good file: every truncation fails cleanly, single
 * byte changes never crash or read past the end (run under ASan), and
 * counts that are huge or overflow are refused. */
static void test_corrupt(void) {
    static const int64_t trans[] = {1162105200, 1173596400, 1194156000};
    static const unsigned char idx[] = {0, 1, 0};
    static const int32_t offs[] = {-18000, -14400};
    struct tzb t;
    unsigned char *copy;
    int truncations_ok = 1, silent = 0;
    struct fy_tz *tz;

    build(&t, trans, idx, 3, offs, 2, "EST5EDT,M3.2.0,M11.1.0");
    tz = fy_tz_parse("x", t.b, t.n, err, sizeof err);
    fy_test_cond("the good file parses", tz != NULL);
    fy_tz_free(tz);
    for (size_t n = 0; n < t.n; n++) {
        copy = malloc(n ? n : 1);          /* exact size: ASan sees any over-read */
        memcpy(copy, t.b, n);
        tz = fy_tz_parse("x", copy, n, err, sizeof err);
        if (tz != NULL || strstr(err, "bad TZif data") == NULL) truncations_ok = 0;
        fy_tz_free(tz);
        free(copy);
    }
    fy_test_cond("every truncation is an error", truncations_ok);

    for (size_t i = 0; i < t.n; i++) {
        static const unsigned char vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
        for (size_t v = 0; v < sizeof vals; v++) {
            copy = malloc(t.n);
            memcpy(copy, t.b, t.n);
            copy[i] = vals[v];
            tz = fy_tz_parse("x", copy, t.n, err, sizeof err);
            if (tz != NULL) {
                double out[2];
                /* whatever was accepted must still answer */
                (void)fy_tz_offset(tz, 1e9);
                (void)fy_tz_resolve(tz, 1000000000LL, out);
            } else if (err[0] == '\0') {
                silent++;
            }
            fy_tz_free(tz);
            free(copy);
        }
    }
    fy_test_cond("single-byte corruptions fail or parse, with a message", silent == 0);

    /* count fields of the second header: isut, isstd, leap, time, type, chars */
    size_t h2 = 44 + 4 + 1 + 6 + 1;
    for (int field = 0; field < 6; field++) {
        static const uint32_t huge[] = {0xffffffffu, 0x80000000u, 0x40000000u, 0x1c71c71du};
        for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
            struct tzb c = t;
            size_t o = h2 + 20 + 4 * (size_t)field;
            for (int b = 0; b < 4; b++) c.b[o + b] = (unsigned char)(huge[k] >> (24 - 8 * b));
            err[0] = '\0';
            tz = fy_tz_parse("x", c.b, c.n, err, sizeof err);
            fy_test_cond("a huge count is refused", tz == NULL && strstr(err, "bad TZif data"));
            fy_tz_free(tz);
        }
    }

    /* specific inconsistencies, with their messages */
    {
        static const int64_t back[] = {1173596400, 1162105200};
        static const unsigned char i2[] = {0, 1};
        build(&t, back, i2, 2, offs, 2, "EST5EDT");
        tz = fy_tz_parse("x", t.b, t.n, err, sizeof err);
        fy_test_cond("unsorted transitions", tz == NULL && strstr(err, "not after"));
        fy_tz_free(tz);
        static const unsigned char i3[] = {0, 2};
        build(&t, trans, i3, 2, offs, 2, "EST5EDT");
        tz = fy_tz_parse("x", t.b, t.n, err, sizeof err);
        fy_test_cond("type index out of range", tz == NULL && strstr(err, "uses type 2 of 2"));
        fy_tz_free(tz);
        static const int32_t wild[] = {-18000, 200000};
        build(&t, trans, idx, 3, wild, 2, "EST5EDT");
        tz = fy_tz_parse("x", t.b, t.n, err, sizeof err);
        fy_test_cond("offset beyond 26h", tz == NULL && strstr(err, "beyond"));
        fy_tz_free(tz);
        tz = fy_tz_parse("x", "TZjf", 4, err, sizeof err);
        fy_test_cond("not TZif", tz == NULL && strstr(err, "truncated header"));
        fy_tz_free(tz);
        build(&t, trans, idx, 3, offs, 2, "EST5EDT");
        t.b[4] = '1';
        tz = fy_tz_parse("x", t.b, t.n, err, sizeof err);
        fy_test_cond("version '1' is not a TZif version", tz == NULL && strstr(err, "version"));
        fy_tz_free(tz);
        build(&t, trans, idx, 3, offs, 2, "EST5EDT");
        t.n--;                              /* drop the footer's closing newline */
        tz = fy_tz_parse("x", t.b, t.n, err, sizeof err);
        fy_test_cond("footer without its newline", tz == NULL && strstr(err, "missing footer"));
        fy_tz_free(tz);
    }
}

/* The installed zones themselves: each one loads (a sample, quickly). */
static void test_system_files(void) {
    static const char *zones[] = {"Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Apia",
                                  "Africa/Casablanca", "America/Sao_Paulo", "Asia/Tehran"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        struct fy_tz *tz = system_zone(zones[i]);
        fy_tz_free(tz);
    }
    struct fy_tz *tz = system_zone("Australia/Lord_Howe");
    if (tz) {
        /* a 30-minute daylight shift: 02:00 -> 02:30 on 2026-10-04 */
        fy_test_cond("Lord Howe half-hour gap",
                     resolves(tz, "2026-10-04T02:15:00", FY_TZ_GAP, "2026-10-03T15:30:00Z", NULL));
        fy_test_cond("Lord Howe half-hour fold",
                     resolves(tz, "2026-04-05T01:45:00", FY_TZ_FOLD, "2026-04-04T14:45:00Z",
                              "2026-04-04T15:15:00Z"));
    }
    fy_tz_free(tz);
}

int main(void) {
    unsetenv("TZDIR");
    test_utc_and_names();
    test_berlin();
    test_new_york();
    test_footer_matches_table();
    test_rules();
    test_slim_file();
    test_corrupt();
    test_system_files();
    return fy_test_report();
}
