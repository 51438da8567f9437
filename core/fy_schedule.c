/* fy_schedule: schedule parsing and next-due arithmetic. See fy_schedule.h
 * for the syntax and the daylight saving rules. */
#include "fy_schedule.h"
#include "fy_time.h"
#include "fy_tz.h"
#include "fy_common.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXPR_MAX 256          /* longest expression accepted */
#define SCAN_MAX 200000       /* candidate wall-clock minutes looked at per call */

enum kind { K_MANUAL, K_EVERY, K_CRON };

struct fy_schedule {
    enum kind kind;
    double interval;          /* K_EVERY: seconds */
    /* K_CRON: the matching values of each field as bit sets */
    uint64_t minutes;         /* bits 0-59 */
    uint32_t hours;           /* bits 0-23 */
    uint32_t mdays;           /* bits 1-31 */
    uint16_t months;          /* bits 1-12 */
    uint8_t wdays;            /* bits 0-6, Sunday 0 */
    int mday_star, wday_star; /* field starts with '*': the day rule is AND */
    int hour_star;            /* field starts with '*': runs in both halves of a fold */
    struct fy_tz *tz;
    char *text;               /* fy_schedule_text */
};

struct field_spec {
    const char *name;
    int min, max;
    const char *const *names; /* names for min.. (NULL: numbers only) */
    const char *names_hint;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field_spec fields[5] = {
    {"minute", 0, 59, NULL, NULL},
    {"hour", 0, 23, NULL, NULL},
    {"day of month", 1, 31, NULL, NULL},
    {"month", 1, 12, month_names, "jan-dec"},
    {"day of week", 0, 7, wday_names, "sun-sat"},
};

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int64_t floor_div(int64_t a, int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- parsing ------------------------------------------------------------ */

/* A value of field f at s[0..n): a number or (month, weekday) a name.
 * Returns 1 with *v, 0 when it is neither, -1 for a number out of range. */
static int field_value(const struct field_spec *f, const char *s, size_t n, int *v) {
    if (n > 0 && s[0] >= '0' && s[0] <= '9') {
        int x = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') return 0;
            if (x < 1000) x = x * 10 + (s[i] - '0');
        }
        *v = x;
        return x < f->min || x > f->max ? -1 : 1;
    }
    if (f->names && n == 3)
        for (int i = 0; f->names[i]; i++)
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *v = f->min + i;
                return 1;
            }
    return 0;
}

/* Parse one comma-separated field into *bits (bit v for each value v).
 * expr is the whole expression, for messages. */
static int parse_field(const struct field_spec *f, const char *s, size_t len, uint64_t *bits,
                       const char *expr, char *err, size_t errlen) {
    size_t i = 0;

    *bits = 0;
    while (i <= len) {
        size_t start = i, end, slash;
        int lo, hi, step = 1, r;

        while (i < len && s[i] != ',') i++;
        end = i++;
        const char *item = s + start;
        int n = (int)(end - start);
        if (n == 0) {
            fy_errf(err, errlen, "cron %s: empty item in \"%s\"", f->name, expr);
            return FY_ERR;
        }
        for (slash = start; slash < end && s[slash] != '/'; slash++) {}
        if (slash < end) {
            const char *p = s + slash + 1;
            int digits = (int)(end - slash - 1), v = 0;
            for (int k = 0; k < digits; k++) {
                if (p[k] < '0' || p[k] > '9') { digits = -1; break; }
                if (v < 1000) v = v * 10 + (p[k] - '0');
            }
            if (digits <= 0) {
                fy_errf(err, errlen, "cron %s: '%.*s' has no number after '/' in \"%s\"",
                        f->name, n, item, expr);
                return FY_ERR;
            }
            if (v < 1 || v > f->max) {
                fy_errf(err, errlen, "cron %s: step %d in '%.*s' is outside 1-%d in \"%s\"",
                        f->name, v, n, item, f->max, expr);
                return FY_ERR;
            }
            step = v;
        }
        size_t rlen = slash - start;
        const char *dash = memchr(item, '-', rlen);
        if (rlen == 1 && item[0] == '*') {
            lo = f->min;
            hi = f->max;
        } else if (dash != NULL) {
            size_t alen = (size_t)(dash - item);
            r = field_value(f, item, alen, &lo);
            if (r == 1) r = field_value(f, dash + 1, rlen - alen - 1, &hi);
            if (r == 1 && lo > hi) {
                fy_errf(err, errlen, "cron %s: range '%.*s' runs backwards (write %d-%d) "
                        "in \"%s\"", f->name, n, item, hi, lo, expr);
                return FY_ERR;
            }
            if (r == 0) goto not_item;
            if (r < 0) goto out_of_range;
        } else {
            r = field_value(f, item, rlen, &lo);
            if (r == 0) goto not_item;
            if (r < 0) goto out_of_range;
            /* N/S means N through the maximum, every S */
            hi = slash < end ? f->max : lo;
        }
        for (int v = lo; v <= hi; v += step) *bits |= 1ULL << v;
        continue;

    not_item:
        if (f->names)
            fy_errf(err, errlen, "cron %s: '%.*s' is not *, a number %d-%d, a name %s, a range "
                    "or a step like */2 in \"%s\"", f->name, n, item, f->min, f->max,
                    f->names_hint, expr);
        else
            fy_errf(err, errlen, "cron %s: '%.*s' is not *, a number %d-%d, a range N-M or "
                    "a step like */15 in \"%s\"", f->name, n, item, f->min, f->max, expr);
        return FY_ERR;
    out_of_range:
        fy_errf(err, errlen, "cron %s: '%.*s' is outside %d-%d in \"%s\"", f->name, n, item,
                f->min, f->max, expr);
        return FY_ERR;
    }
    return FY_OK;
}

/* Is there a day of month in mdays that some month of `months` has? */
static int some_day_exists(uint32_t mdays, uint16_t months) {
    static const int longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++)
        if (months >> m & 1)
            for (int d = 1; d <= longest[m]; d++)
                if (mdays >> d & 1) return 1;
    return 0;
}

/* Parse the five fields of `fx` (macro already expanded) into s.
 * expr is what the user wrote, for messages. */
static int parse_cron(struct fy_schedule *s, const char *fx, const char *expr,
                      char *err, size_t errlen) {
    const char *p = fx, *start[5];
    size_t len[5];
    int n = 0;
    uint64_t bits[5];

    while (*p) {
        while (is_space(*p)) p++;
        if (*p == '\0') break;
        if (n < 5) start[n] = p;
        while (*p && !is_space(*p)) p++;
        if (n < 5) len[n] = (size_t)(p - start[n]);
        n++;
    }
    if (n != 5) {
        fy_errf(err, errlen, "expected \"manual\", \"every DURATION\", a 5-field cron expression "
                "(minute hour day-of-month month day-of-week) or a macro like @daily, got %d "
                "field%s in \"%s\"", n, n == 1 ? "" : "s", expr);
        return FY_ERR;
    }
    for (int i = 0; i < 5; i++)
        if (parse_field(&fields[i], start[i], len[i], &bits[i], expr, err, errlen) != FY_OK)
            return FY_ERR;
    s->minutes = bits[0];
    s->hours = (uint32_t)bits[1];
    s->mdays = (uint32_t)bits[2];
    s->months = (uint16_t)bits[3];
    s->wdays = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f);  /* 7 is Sunday */
    s->hour_star = start[1][0] == '*';
    s->mday_star = start[2][0] == '*';
    s->wday_star = start[4][0] == '*';
    if (!s->mday_star && s->wday_star && !some_day_exists(s->mdays, s->months)) {
        fy_errf(err, errlen, "cron day of month: '%.*s' never falls in month '%.*s', so \"%s\" "
                "would never run", (int)len[2], start[2], (int)len[3], start[3], expr);
        return FY_ERR;
    }
    return FY_OK;
}

/* See fy_schedule.h. */
int fy_schedule_parse(struct fy_schedule **out, const char *expr, const char *tz,
                      char *err, size_t errlen) {
    char buf[EXPR_MAX + 1], text[EXPR_MAX + 160];
    const char *fx;
    struct fy_schedule *s;
    size_t n;

    *out = NULL;
    if (expr == NULL) expr = "";
    while (is_space(*expr)) expr++;
    n = strlen(expr);
    while (n > 0 && is_space(expr[n - 1])) n--;
    if (n > EXPR_MAX) {
        fy_errf(err, errlen, "schedule too long (%zu characters, at most %d)", n, EXPR_MAX);
        return FY_ERR;
    }
    memcpy(buf, expr, n);
    buf[n] = '\0';
    if (n == 0) {
        fy_errf(err, errlen, "empty schedule (use \"manual\", \"every 15m\" or a cron expression)");
        return FY_ERR;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        fy_errf(err, errlen, "out of memory");
        return FY_ERR;
    }

    if (strcmp(buf, "manual") == 0) {
        s->kind = K_MANUAL;
        snprintf(text, sizeof text, "manual");
    } else if (strncmp(buf, "every", 5) == 0 && (buf[5] == '\0' || is_space(buf[5]))) {
        char d[FY_DURATION_FORMAT_MAX];
        const char *dur = buf + 5;
        while (is_space(*dur)) dur++;
        s->kind = K_EVERY;
        if (fy_duration_parse(dur, strlen(dur), &s->interval, err, errlen) != FY_OK)
            goto fail;
        if (s->interval < 1) {
            fy_errf(err, errlen, "interval must be at least 1s in \"%s\"", buf);
            goto fail;
        }
        fy_duration_format(s->interval, d, sizeof d);
        snprintf(text, sizeof text, "every %s", d);
    } else {
        s->kind = K_CRON;
        fx = buf;
        if (buf[0] == '@') {
            size_t i;
            for (i = 0; i < sizeof macros / sizeof macros[0]; i++)
                if (strcasecmp(buf, macros[i].name) == 0) break;
            if (i == sizeof macros / sizeof macros[0]) {
                fy_errf(err, errlen, "unknown schedule macro \"%s\" (use @hourly, @daily, "
                        "@midnight, @weekly, @monthly, @yearly or @annually)", buf);
                goto fail;
            }
            fx = macros[i].expr;
            for (char *c = buf; *c; c++)
                if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
        }
        if (parse_cron(s, fx, buf, err, errlen) != FY_OK) goto fail;
        s->tz = fy_tz_load(tz ? tz : "UTC", err, errlen);
        if (s->tz == NULL) goto fail;
        /* the fields with single spaces between them */
        size_t o = 0;
        o += (size_t)snprintf(text, sizeof text, "cron ");
        for (const char *c = buf; *c; c++) {
            if (is_space(*c)) {
                while (is_space(c[1])) c++;
                text[o++] = ' ';
            } else {
                text[o++] = *c;
            }
        }
        snprintf(text + o, sizeof text - o, " (%s)", fy_tz_name(s->tz));
    }
    s->text = strdup(text);
    if (s->text == NULL) {
        fy_errf(err, errlen, "out of memory");
        goto fail;
    }
    *out = s;
    return FY_OK;

fail:
    fy_schedule_free(s);
    return FY_ERR;
}

void fy_schedule_free(struct fy_schedule *s) {
    if (s == NULL) return;
    fy_tz_free(s->tz);
    free(s->text);
    free(s);
}

int fy_schedule_manual(const struct fy_schedule *s) {
    return s->kind == K_MANUAL;
}

double fy_schedule_interval(const struct fy_schedule *s) {
    return s->kind == K_EVERY ? s->interval : 0;
}

const char *fy_schedule_text(const struct fy_schedule *s) {
    return s->text;
}

/* ---- the next due instant ---------------------------------------------- */

/* Smallest v in [from, max] whose bit is set, or -1. */
static int next_bit(uint64_t set, int from, int max) {
    for (int v = from; v <= max; v++)
        if (set >> v & 1) return v;
    return -1;
}

static int day_matches(const struct fy_schedule *s, int64_t y, int m, int d) {
    int64_t days = fy_time_days_from_civil(y, (unsigned)m, (unsigned)d);
    int wd = (int)(((days + 4) % 7 + 7) % 7);
    int md_ok = (int)(s->mdays >> d & 1), wd_ok = s->wdays >> wd & 1;

    if (s->mday_star || s->wday_star) return md_ok && wd_ok;
    return md_ok || wd_ok;
}

/* The first wall-clock minute at or after `local` (local seconds) that the
 * cron fields match, in *out. Returns 0 when none comes before the end of
 * year `last_year`. */
static int next_match(const struct fy_schedule *s, int64_t local, int64_t last_year, int64_t *out) {
    int64_t start = floor_div(local + 59, 60) * 60;   /* round up to a minute */
    int64_t days = floor_div(start, 86400), sod = start - days * 86400, y;
    unsigned um, ud;
    int m, d, h, mi;

    fy_time_civil_from_days(days, &y, &um, &ud);
    m = (int)um;
    d = (int)ud;
    h = (int)(sod / 3600);
    mi = (int)(sod / 60 % 60);
    for (;;) {
        if (y > last_year) return 0;
        if (!(s->months >> m & 1)) {
            int nm = next_bit(s->months, m + 1, 12);
            if (nm < 0) {
                y++;
                nm = next_bit(s->months, 1, 12);
            }
            m = nm;
            d = 1, h = 0, mi = 0;
            continue;
        }
        if (d > fy_time_days_in_month(y, m)) {
            if (++m > 12) m = 1, y++;
            d = 1, h = 0, mi = 0;
            continue;
        }
        if (!day_matches(s, y, m, d)) {
            d++, h = 0, mi = 0;
            continue;
        }
        int nh = next_bit(s->hours, h, 23);
        if (nh < 0) {
            d++, h = 0, mi = 0;
            continue;
        }
        if (nh != h) h = nh, mi = 0;
        int nmi = next_bit(s->minutes, mi, 59);
        if (nmi < 0) {
            h++, mi = 0;
            if (h > 23) d++, h = 0;
            continue;
        }
        *out = fy_time_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 + h * 3600 + nmi * 60;
        return 1;
    }
}

/* The instants a matching wall-clock minute stands for, under the DST
 * rules of fy_schedule.h: one, or two in a fold for an hour field that
 * starts with '*'. Returns how many, earliest first. */
static int instants(const struct fy_schedule *s, int64_t local, double u[2]) {
    int k = fy_tz_resolve(s->tz, local, u);

    if (k == FY_TZ_FOLD && s->hour_star) return 2;
    return 1;
}

/* Cron next: walk matching wall-clock minutes upwards. The earliest
 * instant of a minute never decreases as the minute grows, but in a fold
 * a later minute's first instant can come before an earlier minute's
 * second one; so keep the best instant > after and stop at the first
 * minute whose earliest instant is not before it. The walk starts where
 * a minute could still have an instant > after: after plus the smallest
 * offset in effect around it. */
static double cron_next(const struct fy_schedule *s, double after) {
    int64_t a = (int64_t)floor(after), local, last_year, y;
    unsigned um, ud;
    double best = INFINITY, u[2];
    int o_lo = fy_tz_min_offset(s->tz, (double)a, (double)a + 2 * 86400);

    fy_time_civil_from_days(floor_div(a, 86400), &y, &um, &ud);
    last_year = y + FY_SCHEDULE_HORIZON_YEARS;
    if (last_year > 9999) last_year = 9999;
    local = a + o_lo;
    for (int scanned = 0; scanned < SCAN_MAX; scanned++) {
        if (!next_match(s, local, last_year, &local)) break;
        int n = instants(s, local, u);
        if (u[0] >= best) break;
        for (int i = 0; i < n; i++)
            if (u[i] > (double)a && u[i] < best) best = u[i];
        local += 60;
    }
    return best;
}

/* See fy_schedule.h. */
double fy_schedule_next(const struct fy_schedule *s, double after) {
    if (s->kind == K_MANUAL || !isfinite(after)) return INFINITY;
    if (s->kind == K_EVERY) return after + s->interval;
    if (after > 253402300799.0 || after < -62135596800.0) return INFINITY;  /* years 1-9999 */
    return cron_next(s, after);
}
