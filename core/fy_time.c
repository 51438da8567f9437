/* fy_time: RFC 3339 timestamps and compact durations. See fy_time.h.
 *
 * Calendar conversion uses Howard Hinnant's days_from_civil / civil_from_days
 * (proleptic Gregorian, exact integer arithmetic), so nothing here touches
 * the locale, TZ, mktime or any shared state. */
#include "fy_time.h"
#include "fy_common.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Longest piece of input quoted in an error message. */
#define QUOTE_SHOWN 48
/* Room for a quoted piece: every byte may become \xNN, plus quotes and "...". */
#define QUOTE_MAX (QUOTE_SHOWN * 4 + 8)

/* First and last second of the range we format: 0000-01-01T00:00:00 and
 * 9999-12-31T23:59:59 (local time). */
#define MIN_SECONDS (-62167219200LL)
#define MAX_SECONDS (253402300799LL)

static const int64_t pow10_tab[16] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
    100000000LL, 1000000000LL, 10000000000LL, 100000000000LL,
    1000000000000LL, 10000000000000LL, 100000000000000LL,
    1000000000000000LL,
};

/* ---- helpers ----------------------------------------------------------- */

/* Write s[0..len) into out as a double-quoted string for an error message:
 * printable ASCII as is, '"' and '\' escaped, other bytes as \xNN; cut after
 * QUOTE_SHOWN bytes with "..." before the closing quote. out must hold
 * QUOTE_MAX bytes. */
static void quote_input(const char *s, size_t len, char *out) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;

    out[o++] = '"';
    for (i = 0; i < len && i < QUOTE_SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

/* Read exactly n digits at s[i..] (bounded by len) into *out. Returns 1 on
 * success, 0 if the input ends or a non-digit comes first. */
static int read_digits(const char *s, size_t len, size_t i, int n, int *out) {
    int v = 0;

    if (i + (size_t)n > len) return 0;
    for (int k = 0; k < n; k++) {
        if (!is_digit(s[i + k])) return 0;
        v = v * 10 + (s[i + k] - '0');
    }
    *out = v;
    return 1;
}

/* Read a run of digits at s[*i..] as a decimal fraction (0.d1d2...). Digits
 * past the 15th are consumed but ignored. Returns the number of digits. */
static size_t read_fraction(const char *s, size_t len, size_t *i, double *out) {
    int64_t mant = 0;
    size_t n = 0, used = 0;

    while (*i < len && is_digit(s[*i])) {
        if (used < 15) {
            mant = mant * 10 + (s[*i] - '0');
            used++;
        }
        n++;
        (*i)++;
    }
    *out = used ? (double)mant / (double)pow10_tab[used] : 0.0;
    return n;
}

static int is_unit_char(char c) {
    unsigned char u = (unsigned char)c;
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80;
}

static int is_leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* See fy_time.h. */
int fy_time_days_in_month(int64_t y, int m) {
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* See fy_time.h. */
int64_t fy_time_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* See fy_time.h. */
void fy_time_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* ---- offsets ----------------------------------------------------------- */

enum offset_status { OFFSET_OK, OFFSET_SYNTAX, OFFSET_MINUTE, OFFSET_RANGE };

/* Parse 'Z' | 'z' | [+-]HH[[:]MM] at s[*i..]. On OFFSET_OK advances *i past
 * it and stores minutes in *offset_min. On OFFSET_MINUTE / OFFSET_RANGE the
 * parsed hour and minute are left in *hh / *mm for the message. */
static enum offset_status parse_offset_at(const char *s, size_t len, size_t *i,
                                          int *offset_min, int *hh, int *mm) {
    size_t p = *i;
    int sign;

    *hh = *mm = 0;
    if (p >= len) return OFFSET_SYNTAX;
    if (s[p] == 'Z' || s[p] == 'z') {
        *offset_min = 0;
        *i = p + 1;
        return OFFSET_OK;
    }
    if (s[p] != '+' && s[p] != '-') return OFFSET_SYNTAX;
    sign = s[p] == '-' ? -1 : 1;
    p++;
    if (!read_digits(s, len, p, 2, hh)) return OFFSET_SYNTAX;
    p += 2;
    if (p < len && s[p] == ':') {
        if (!read_digits(s, len, p + 1, 2, mm)) return OFFSET_SYNTAX;
        p += 3;
    } else if (p < len && is_digit(s[p])) {
        if (!read_digits(s, len, p, 2, mm)) return OFFSET_SYNTAX;
        p += 2;
    }
    if (*mm > 59) return OFFSET_MINUTE;
    if (*hh * 60 + *mm > FY_TIME_MAX_OFFSET_MIN) return OFFSET_RANGE;
    *offset_min = sign * (*hh * 60 + *mm);
    *i = p;
    return OFFSET_OK;
}

/* See fy_time.h. */
int fy_time_parse_offset(const char *s, size_t len, int *offset_min,
                         char *err, size_t errlen) {
    char q[QUOTE_MAX];
    size_t i = 0;
    int hh, mm, off = 0;
    enum offset_status st;

    if (s == NULL) len = 0;
    quote_input(s, len, q);
    st = parse_offset_at(s, len, &i, &off, &hh, &mm);
    if (st == OFFSET_OK && i != len) st = OFFSET_SYNTAX;
    switch (st) {
    case OFFSET_OK:
        *offset_min = off;
        return FY_OK;
    case OFFSET_MINUTE:
        fy_errf(err, errlen, "invalid offset minute %d in %s", mm, q);
        return FY_ERR;
    case OFFSET_RANGE:
        fy_errf(err, errlen, "offset %s out of range (max +/-18:00)", q);
        return FY_ERR;
    default:
        fy_errf(err, errlen,
                "invalid offset %s (expected Z, +HH:MM, +HHMM or +HH)", q);
        return FY_ERR;
    }
}

/* ---- timestamps -------------------------------------------------------- */

/* See fy_time.h. */
int fy_time_parse(const char *s, size_t len, double *epoch, int *offset_min,
                  char *err, size_t errlen) {
    char q[QUOTE_MAX], rest[QUOTE_MAX];
    int y, mo, d, hh = 0, mi = 0, ss = 0, off = 0, ohh, omm;
    double frac = 0.0;
    size_t i;
    int64_t secs;

    if (s == NULL || len == 0) {
        fy_errf(err, errlen, "empty date-time");
        return FY_ERR;
    }
    quote_input(s, len, q);

    if (!read_digits(s, len, 0, 4, &y) || len < 5 || s[4] != '-' ||
        !read_digits(s, len, 5, 2, &mo) || len < 8 || s[7] != '-' ||
        !read_digits(s, len, 8, 2, &d)) {
        fy_errf(err, errlen, "expected a date as YYYY-MM-DD in %s", q);
        return FY_ERR;
    }
    if (mo < 1 || mo > 12) {
        fy_errf(err, errlen, "invalid month %d in %s", mo, q);
        return FY_ERR;
    }
    if (d < 1 || d > fy_time_days_in_month(y, mo)) {
        fy_errf(err, errlen, "invalid day %d in %s (%04d-%02d has %d days)",
                d, q, y, mo, fy_time_days_in_month(y, mo));
        return FY_ERR;
    }
    i = 10;

    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') {
            fy_errf(err, errlen,
                    "expected 'T' or end of input after the date in %s", q);
            return FY_ERR;
        }
        i++;
        if (!read_digits(s, len, i, 2, &hh) || i + 2 >= len ||
            s[i + 2] != ':' || !read_digits(s, len, i + 3, 2, &mi)) {
            fy_errf(err, errlen, "expected a time as HH:MM[:SS] in %s", q);
            return FY_ERR;
        }
        i += 5;
        if (hh > 24) {
            fy_errf(err, errlen, "invalid hour %d in %s", hh, q);
            return FY_ERR;
        }
        if (mi > 59) {
            fy_errf(err, errlen, "invalid minute %d in %s", mi, q);
            return FY_ERR;
        }
        if (i < len && s[i] == ':') {
            if (!read_digits(s, len, i + 1, 2, &ss)) {
                fy_errf(err, errlen, "expected two-digit seconds in %s", q);
                return FY_ERR;
            }
            i += 3;
            if (ss > 60) {
                fy_errf(err, errlen, "invalid second %d in %s", ss, q);
                return FY_ERR;
            }
            if (i < len && (s[i] == '.' || s[i] == ',')) {
                char sep = s[i];
                i++;
                if (read_fraction(s, len, &i, &frac) == 0) {
                    fy_errf(err, errlen, "expected digits after '%c' in %s",
                            sep, q);
                    return FY_ERR;
                }
            }
        } else if (i < len && (s[i] == '.' || s[i] == ',')) {
            fy_errf(err, errlen,
                    "fractional seconds need seconds (HH:MM:SS.fff) in %s", q);
            return FY_ERR;
        }
        if (hh == 24 && (mi != 0 || ss != 0 || frac != 0.0)) {
            fy_errf(err, errlen,
                    "invalid hour 24 in %s (only 24:00:00 is allowed)", q);
            return FY_ERR;
        }
        if (i < len && (s[i] == 'Z' || s[i] == 'z' || s[i] == '+' ||
                        s[i] == '-')) {
            switch (parse_offset_at(s, len, &i, &off, &ohh, &omm)) {
            case OFFSET_OK:
                break;
            case OFFSET_MINUTE:
                fy_errf(err, errlen, "invalid offset minute %d in %s", omm, q);
                return FY_ERR;
            case OFFSET_RANGE:
                fy_errf(err, errlen,
                        "offset %c%02d:%02d out of range (max +/-18:00) in %s",
                        s[i], ohh, omm, q);
                return FY_ERR;
            default:
                fy_errf(err, errlen,
                        "expected an offset as Z, +HH:MM, +HHMM or +HH in %s",
                        q);
                return FY_ERR;
            }
        }
    }

    if (i < len) {
        quote_input(s + i, len - i, rest);
        fy_errf(err, errlen, "trailing characters %s in %s", rest, q);
        return FY_ERR;
    }

    secs = fy_time_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
           hh * 3600 + mi * 60 + ss - (int64_t)off * 60;
    *epoch = (double)secs + frac;
    *offset_min = off;
    return FY_OK;
}

/* Write value as exactly width decimal digits (value must fit). */
static char *put_digits(char *p, int64_t value, int width) {
    for (int k = width - 1; k >= 0; k--) {
        p[k] = (char)('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

/* See fy_time.h. */
size_t fy_time_format(double epoch, int offset_min, int frac_digits,
                      char *buf, size_t buflen) {
    char tmp[FY_TIME_FORMAT_MAX], *p = tmp;
    double whole;
    int64_t secs, scaled = 0, sod, days, y;
    unsigned m, d;
    size_t n;

    if (buflen > 0) buf[0] = '\0';
    if (!isfinite(epoch) || frac_digits < 0 || frac_digits > 9 ||
        offset_min < -FY_TIME_MAX_OFFSET_MIN ||
        offset_min > FY_TIME_MAX_OFFSET_MIN)
        return 0;
    /* Reject far-out values before converting to an integer. */
    if (epoch < (double)MIN_SECONDS - 86400.0 ||
        epoch > (double)MAX_SECONDS + 86400.0)
        return 0;

    whole = floor(epoch);
    secs = (int64_t)whole;
    scaled = llround((epoch - whole) * (double)pow10_tab[frac_digits]);
    if (scaled >= pow10_tab[frac_digits]) {
        secs++;
        scaled -= pow10_tab[frac_digits];
    }
    secs += (int64_t)offset_min * 60;
    if (secs < MIN_SECONDS || secs > MAX_SECONDS) return 0;

    days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    sod = secs - days * 86400;
    fy_time_civil_from_days(days, &y, &m, &d);

    p = put_digits(p, y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, sod / 3600, 2);
    *p++ = ':';
    p = put_digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, sod % 60, 2);
    if (frac_digits > 0) {
        *p++ = '.';
        p = put_digits(p, scaled, frac_digits);
    }
    if (offset_min == 0) {
        *p++ = 'Z';
    } else {
        int a = offset_min < 0 ? -offset_min : offset_min;
        *p++ = offset_min < 0 ? '-' : '+';
        p = put_digits(p, a / 60, 2);
        *p++ = ':';
        p = put_digits(p, a % 60, 2);
    }
    n = (size_t)(p - tmp);
    if (n + 1 > buflen) return 0;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}

double fy_time_now(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double fy_time_monotonic(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- durations --------------------------------------------------------- */

/* Each unit under the names people write; `rank` orders the units
 * (largest first), so "1 hour 1h" repeats a unit and "5m 1h" is out of
 * order whatever the spelling. */
static const struct {
    const char *name;
    int rank;
    double seconds;
} units[] = {
    {"w", 0, 604800.0},  {"week", 0, 604800.0},  {"weeks", 0, 604800.0},
    {"d", 1, 86400.0},   {"day", 1, 86400.0},    {"days", 1, 86400.0},
    {"h", 2, 3600.0},    {"hour", 2, 3600.0},    {"hours", 2, 3600.0},
    {"hr", 2, 3600.0},   {"hrs", 2, 3600.0},
    {"m", 3, 60.0},      {"minute", 3, 60.0},    {"minutes", 3, 60.0},
    {"min", 3, 60.0},    {"mins", 3, 60.0},
    {"s", 4, 1.0},       {"second", 4, 1.0},     {"seconds", 4, 1.0},
    {"sec", 4, 1.0},     {"secs", 4, 1.0},
    {"ms", 5, 0.001},    {"millisecond", 5, 0.001}, {"milliseconds", 5, 0.001},
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

/* See fy_time.h. */
int fy_duration_parse(const char *s, size_t len, double *seconds,
                      char *err, size_t errlen) {
    char q[QUOTE_MAX], uq[QUOTE_MAX];
    size_t i = 0;
    int last = -1;
    double total = 0.0;

    if (s == NULL || len == 0) {
        fy_errf(err, errlen, "empty duration");
        return FY_ERR;
    }
    quote_input(s, len, q);
    if (is_space(s[0]) || is_space(s[len - 1])) {
        fy_errf(err, errlen, "leading or trailing whitespace in duration %s",
                q);
        return FY_ERR;
    }
    if (s[0] == '-') {
        fy_errf(err, errlen, "negative duration %s", q);
        return FY_ERR;
    }

    while (i < len) {
        int64_t whole = 0;
        double value, frac = 0.0;
        size_t start = i, ustart;
        int u;

        if (!is_digit(s[i])) {
            fy_errf(err, errlen, "expected a number at position %zu in %s",
                    i + 1, q);
            return FY_ERR;
        }
        while (i < len && is_digit(s[i])) {
            if (i - start >= 15) {
                fy_errf(err, errlen, "duration too large: %s", q);
                return FY_ERR;
            }
            whole = whole * 10 + (s[i] - '0');
            i++;
        }
        if (i < len && s[i] == '.') {
            i++;
            if (read_fraction(s, len, &i, &frac) == 0) {
                fy_errf(err, errlen, "expected digits after '.' in %s", q);
                return FY_ERR;
            }
        }
        value = (double)whole + frac;

        /* Spaces may stand between a number and its unit ("15 minutes").
         * The unit is a run of letters (bytes >= 0x80 count, for "µs");
         * failing that, whatever stands before the next digit or space. */
        while (i < len && is_space(s[i])) i++;
        ustart = i;
        while (i < len && is_unit_char(s[i])) i++;
        if (i == ustart)
            while (i < len && !is_digit(s[i]) && !is_space(s[i])) i++;
        if (i == ustart) {
            fy_errf(err, errlen, "missing unit in %s", q);
            return FY_ERR;
        }
        for (u = 0; u < (int)N_UNITS; u++)
            if (strlen(units[u].name) == i - ustart &&
                memcmp(units[u].name, s + ustart, i - ustart) == 0)
                break;
        if (u == (int)N_UNITS) {
            quote_input(s + ustart, i - ustart, uq);
            /* Show the unit between single quotes rather than double. */
            uq[0] = '\'';
            uq[strlen(uq) - 1] = '\'';
            fy_errf(err, errlen, "unknown unit %s in %s (use ms, s, m, h, d, w, "
                    "or seconds, minutes, hours, days, weeks)", uq, q);
            return FY_ERR;
        }
        if (units[u].rank <= last) {
            fy_errf(err, errlen,
                    "unit '%s' out of order in %s (largest unit first, each "
                    "unit once)", units[u].name, q);
            return FY_ERR;
        }
        last = units[u].rank;
        total += value * units[u].seconds;
        if (total > FY_DURATION_MAX_SECONDS) {
            fy_errf(err, errlen, "duration too large: %s", q);
            return FY_ERR;
        }
        while (i < len && is_space(s[i])) i++;
    }
    *seconds = total;
    return FY_OK;
}

/* Append the decimal digits of v (v >= 0) to p; returns the new end. */
static char *put_uint(char *p, int64_t v) {
    char rev[24];
    int n = 0;

    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0) *p++ = rev[--n];
    return p;
}

/* Append "." and frac as width digits with trailing zeros removed, if frac
 * is non-zero. */
static char *put_frac(char *p, int64_t frac, int width) {
    if (frac == 0) return p;
    while (frac % 10 == 0) {
        frac /= 10;
        width--;
    }
    *p++ = '.';
    return put_digits(p, frac, width);
}

/* See fy_time.h. */
size_t fy_duration_format(double seconds, char *buf, size_t buflen) {
    char tmp[FY_DURATION_FORMAT_MAX], *p = tmp;
    int64_t us, days, hours, mins, sec_us;
    size_t n;

    if (buflen > 0) buf[0] = '\0';
    if (!isfinite(seconds) || fabs(seconds) > FY_DURATION_MAX_SECONDS)
        return 0;
    us = llround(fabs(seconds) * 1e6);
    if (us == 0) {
        memcpy(tmp, "0s", 2);
        p += 2;
    } else {
        if (seconds < 0) *p++ = '-';
        days = us / 86400000000LL;
        us %= 86400000000LL;
        hours = us / 3600000000LL;
        us %= 3600000000LL;
        mins = us / 60000000LL;
        sec_us = us % 60000000LL;
        if (days) { p = put_uint(p, days); *p++ = 'd'; }
        if (hours) { p = put_uint(p, hours); *p++ = 'h'; }
        if (mins) { p = put_uint(p, mins); *p++ = 'm'; }
        if (sec_us) {
            if (!days && !hours && !mins && sec_us < 1000000) {
                p = put_uint(p, sec_us / 1000);
                p = put_frac(p, sec_us % 1000, 3);
                *p++ = 'm';
                *p++ = 's';
            } else {
                p = put_uint(p, sec_us / 1000000);
                p = put_frac(p, sec_us % 1000000, 6);
                *p++ = 's';
            }
        }
    }
    n = (size_t)(p - tmp);
    if (n + 1 > buflen) return 0;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}
