/* fy_tz: TZif (RFC 8536) reader and POSIX TZ rules. See fy_tz.h for why
 * ferry reads tzdata itself instead of setting TZ and calling localtime. */
#include "fy_tz.h"
#include "fy_time.h"
#include "fy_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_TZDIR "/usr/share/zoneinfo"
#define HEADER_SIZE 44
/* RFC 8536: offsets SHOULD lie in [-89999, 93599]; we insist, so a local
 * time maps to instants within MAX_OFF of it. */
#define MAX_OFF 93599
/* Rule times: RFC 8536 extends POSIX's hours to -167..167. */
#define MAX_RULE_SECS (167 * 3600 + 59 * 60 + 59)
/* Offset changes looked at around one local time in fy_tz_resolve. */
#define MAX_CHANGES 64

/* One POSIX TZ date and time of a change: Jn (1-365, no Feb 29), n (0-365)
 * or Mm.w.d (month, week 1-5 with 5 = last, weekday 0 = Sunday). */
struct tz_date {
    char kind;            /* 'J', 'D' (zero-based day of year) or 'M' */
    int n, m, w, d;
    int32_t secs;         /* local time of day of the change */
};

/* A POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3". */
struct tz_posix {
    int32_t std_off;      /* seconds east of UTC */
    int32_t dst_off;
    int has_dst;
    struct tz_date start; /* when daylight time starts (in standard time) */
    struct tz_date end;   /* when it ends (in daylight time) */
};

struct fy_tz {
    char *name;
    size_t n_trans;
    int64_t *trans;        /* transition instants, strictly ascending */
    unsigned char *ttype;  /* local time type from each transition on */
    size_t n_types;
    int32_t *type_off;     /* UTC offset of each local time type */
    int has_posix;         /* the footer's rule applies after the last transition */
    struct tz_posix posix;
};

static int64_t floor_div(int64_t a, int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- POSIX TZ strings -------------------------------------------------- */

/* A zone abbreviation: "<...>" or three or more letters. */
static int parse_abbr(const char **p) {
    const char *s = *p;

    if (*s == '<') {
        s++;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
               (*s >= '0' && *s <= '9') || *s == '+' || *s == '-')
            s++;
        if (*s != '>' || s - *p < 2) return 0;
        *p = s + 1;
        return 1;
    }
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) s++;
    if (s - *p < 3) return 0;
    *p = s;
    return 1;
}

/* [+-]hh[:mm[:ss]] with hh up to max_h; stores signed seconds. */
static int parse_hms(const char **p, int max_h, int32_t *out) {
    const char *s = *p;
    int sign = 1, h = 0, m = 0, sec = 0, nd = 0;

    if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
    while (*s >= '0' && *s <= '9' && nd < 3) h = h * 10 + (*s++ - '0'), nd++;
    if (nd == 0 || h > max_h || (*s >= '0' && *s <= '9')) return 0;
    if (*s == ':') {
        s++;
        if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9')) return 0;
        m = (s[0] - '0') * 10 + (s[1] - '0');
        s += 2;
        if (*s == ':') {
            s++;
            if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9')) return 0;
            sec = (s[0] - '0') * 10 + (s[1] - '0');
            s += 2;
        }
        if (m > 59 || sec > 59) return 0;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    *p = s;
    return 1;
}

static int parse_int(const char **p, int lo, int hi, int *out) {
    const char *s = *p;
    int v = 0, nd = 0;

    while (*s >= '0' && *s <= '9' && nd < 4) v = v * 10 + (*s++ - '0'), nd++;
    if (nd == 0 || v < lo || v > hi || (*s >= '0' && *s <= '9')) return 0;
    *out = v;
    *p = s;
    return 1;
}

/* date[/time] of a rule; time defaults to 02:00:00. */
static int parse_date(const char **p, struct tz_date *d) {
    const char *s = *p;

    memset(d, 0, sizeof *d);
    if (*s == 'J') {
        s++;
        d->kind = 'J';
        if (!parse_int(&s, 1, 365, &d->n)) return 0;
    } else if (*s == 'M') {
        s++;
        d->kind = 'M';
        if (!parse_int(&s, 1, 12, &d->m) || *s++ != '.' ||
            !parse_int(&s, 1, 5, &d->w) || *s++ != '.' ||
            !parse_int(&s, 0, 6, &d->d))
            return 0;
    } else {
        d->kind = 'D';
        if (!parse_int(&s, 0, 365, &d->n)) return 0;
    }
    d->secs = 7200;
    if (*s == '/') {
        s++;
        if (!parse_hms(&s, 167, &d->secs)) return 0;
    }
    *p = s;
    return 1;
}

/* Parse a POSIX TZ string as RFC 8536 section 3.3 allows. An empty string
 * means "no rule" (*has = 0). Returns 1 on success. */
static int parse_posix(const char *s, struct tz_posix *out, int *has) {
    struct tz_posix r;
    int32_t off;

    memset(&r, 0, sizeof r);
    *has = 0;
    if (*s == '\0') return 1;
    if (!parse_abbr(&s) || !parse_hms(&s, 24, &off)) return 0;
    r.std_off = -off;             /* POSIX counts west of Greenwich */
    if (*s != '\0') {
        if (!parse_abbr(&s)) return 0;
        r.has_dst = 1;
        r.dst_off = r.std_off + 3600;
        if (*s != ',' && *s != '\0') {
            if (!parse_hms(&s, 24, &off)) return 0;
            r.dst_off = -off;
        }
        if (*s == ',') {
            s++;
            if (!parse_date(&s, &r.start) || *s++ != ',' || !parse_date(&s, &r.end))
                return 0;
        } else {
            /* No rule: the POSIX default, the US rules since 2007. */
            r.start = (struct tz_date){.kind = 'M', .m = 3, .w = 2, .d = 0, .secs = 7200};
            r.end = (struct tz_date){.kind = 'M', .m = 11, .w = 1, .d = 0, .secs = 7200};
        }
    }
    if (*s != '\0') return 0;
    *out = r;
    *has = 1;
    return 1;
}

static int is_leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Day number (days since 1970-01-01) of a rule date in year y. */
static int64_t rule_day(const struct tz_date *r, int64_t y) {
    int64_t jan1 = fy_time_days_from_civil(y, 1, 1);

    if (r->kind == 'J') return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
    if (r->kind == 'D') return jan1 + r->n;
    int64_t first = fy_time_days_from_civil(y, (unsigned)r->m, 1);
    int wd1 = (int)(((first + 4) % 7 + 7) % 7);
    int day = (r->d - wd1 + 7) % 7 + (r->w - 1) * 7;
    int dim = fy_time_days_in_month(y, r->m);
    while (day >= dim) day -= 7;
    return first + day;
}

/* The start (daylight) and end (standard) instants of year y's rule. */
static void rule_year(const struct tz_posix *p, int64_t y, int64_t *start, int64_t *end) {
    *start = rule_day(&p->start, y) * 86400 + p->start.secs - p->std_off;
    *end = rule_day(&p->end, y) * 86400 + p->end.secs - p->dst_off;
}

static int64_t year_of(int64_t t) {
    int64_t y;
    unsigned m, d;

    fy_time_civil_from_days(floor_div(t, 86400), &y, &m, &d);
    return y;
}

/* Offset at instant t under rule p: the last change at or before t among
 * those of the years around t (a later year's change wins a tie, so
 * all-year daylight time such as "EST5EDT,0/0,J365/25" stays daylight). */
static int32_t posix_offset(const struct tz_posix *p, int64_t t) {
    int64_t y = year_of(t + p->std_off), best = INT64_MIN, s, e;
    int32_t off = p->std_off;

    if (!p->has_dst) return p->std_off;
    for (int64_t yy = y - 1; yy <= y + 1; yy++) {
        rule_year(p, yy, &s, &e);
        if (s <= t && s >= best) best = s, off = p->dst_off;
        if (e <= t && e >= best) best = e, off = p->std_off;
    }
    return off;
}

/* ---- TZif -------------------------------------------------------------- */

struct tzif_header {
    unsigned char version;
    uint32_t isut, isstd, leap, time, type, chars;
};

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int read_header(const unsigned char *p, size_t len, struct tzif_header *h,
                       char *err, size_t errlen) {
    if (len < HEADER_SIZE || memcmp(p, "TZif", 4) != 0) {
        fy_errf(err, errlen, len < HEADER_SIZE ? "truncated header" : "not a TZif file");
        return FY_ERR;
    }
    h->version = p[4];
    h->isut = be32(p + 20);
    h->isstd = be32(p + 24);
    h->leap = be32(p + 28);
    h->time = be32(p + 32);
    h->type = be32(p + 36);
    h->chars = be32(p + 40);
    if (h->version != 0 && h->version < '2') {
        fy_errf(err, errlen, "unknown TZif version byte 0x%02x", h->version);
        return FY_ERR;
    }
    if (h->type == 0 || h->type > 256) {
        fy_errf(err, errlen, "%u local time types (need 1-256)", h->type);
        return FY_ERR;
    }
    if ((h->isut != 0 && h->isut != h->type) || (h->isstd != 0 && h->isstd != h->type)) {
        fy_errf(err, errlen, "indicator counts do not match the type count");
        return FY_ERR;
    }
    return FY_OK;
}

/* Bytes of the data block after a header, with tsize-byte times. The
 * counts are 32-bit, so the 64-bit sum cannot overflow. */
static uint64_t block_size(const struct tzif_header *h, int tsize) {
    return (uint64_t)h->time * (uint64_t)(tsize + 1) + (uint64_t)h->type * 6 +
           h->chars + (uint64_t)h->leap * (uint64_t)(tsize + 4) + h->isstd + h->isut;
}

/* Read the data block at p (its size already checked) into tz. */
static int read_block(struct fy_tz *tz, const struct tzif_header *h, const unsigned char *p,
                      int tsize, char *err, size_t errlen) {
    const unsigned char *idx = p + (size_t)h->time * (size_t)tsize;
    const unsigned char *types = idx + h->time;

    if (h->leap != 0) {
        fy_errf(err, errlen, "leap-second zones (right/...) are not supported");
        return FY_ERR;
    }
    tz->n_types = h->type;
    tz->type_off = malloc(h->type * sizeof *tz->type_off);
    tz->n_trans = h->time;
    tz->trans = malloc((h->time ? h->time : 1) * sizeof *tz->trans);
    tz->ttype = malloc(h->time ? h->time : 1);
    if (tz->type_off == NULL || tz->trans == NULL || tz->ttype == NULL) {
        fy_errf(err, errlen, "out of memory");
        return FY_ERR;
    }
    for (uint32_t i = 0; i < h->type; i++) {
        int32_t off = (int32_t)be32(types + 6 * (size_t)i);
        if (off < -MAX_OFF || off > MAX_OFF) {
            fy_errf(err, errlen, "local time type %u has offset %ld s (beyond +/-26h)",
                    i, (long)off);
            return FY_ERR;
        }
        if (types[6 * (size_t)i + 5] >= h->chars) {
            fy_errf(err, errlen, "local time type %u names abbreviation %u of %u bytes",
                    i, types[6 * (size_t)i + 5], h->chars);
            return FY_ERR;
        }
        tz->type_off[i] = off;
    }
    for (uint32_t i = 0; i < h->time; i++) {
        tz->trans[i] = tsize == 8 ? be64(p + 8 * (size_t)i) : (int32_t)be32(p + 4 * (size_t)i);
        tz->ttype[i] = idx[i];
        if (idx[i] >= h->type) {
            fy_errf(err, errlen, "transition %u uses type %u of %u", i, idx[i], h->type);
            return FY_ERR;
        }
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
            fy_errf(err, errlen, "transition %u is not after the one before it", i);
            return FY_ERR;
        }
    }
    return FY_OK;
}

/* See fy_tz.h. */
struct fy_tz *fy_tz_parse(const char *name, const void *data, size_t len,
                          char *err, size_t errlen) {
    const unsigned char *p = data;
    struct tzif_header h;
    struct fy_tz *tz = calloc(1, sizeof *tz);
    char detail[160];
    uint64_t size;
    size_t at;

    detail[0] = '\0';
    if (tz == NULL || (tz->name = strdup(name ? name : "")) == NULL) {
        fy_errf(err, errlen, "out of memory");
        goto fail_quiet;
    }
    if (read_header(p, len, &h, detail, sizeof detail) != FY_OK) goto fail;
    size = block_size(&h, 4);
    if (size > len - HEADER_SIZE) {
        snprintf(detail, sizeof detail, "truncated: the version 1 data needs %llu bytes, "
                 "the file has %zu", (unsigned long long)size, len - HEADER_SIZE);
        goto fail;
    }
    if (h.version == 0) {
        if (read_block(tz, &h, p + HEADER_SIZE, 4, detail, sizeof detail) != FY_OK) goto fail;
        return tz;
    }
    at = HEADER_SIZE + (size_t)size;
    if (read_header(p + at, len - at, &h, detail, sizeof detail) != FY_OK) goto fail;
    at += HEADER_SIZE;
    size = block_size(&h, 8);
    if (size > len - at) {
        snprintf(detail, sizeof detail, "truncated: the 64-bit data needs %llu bytes, "
                 "the file has %zu", (unsigned long long)size, len - at);
        goto fail;
    }
    if (read_block(tz, &h, p + at, 8, detail, sizeof detail) != FY_OK) goto fail;
    at += (size_t)size;

    /* The footer: "\n" TZ-string "\n". */
    {
        const unsigned char *nl;
        char rule[256];
        size_t n;

        if (at >= len || p[at] != '\n' ||
            (nl = memchr(p + at + 1, '\n', len - at - 1)) == NULL) {
            snprintf(detail, sizeof detail, "missing footer");
            goto fail;
        }
        n = (size_t)(nl - (p + at + 1));
        if (n >= sizeof rule || memchr(p + at + 1, '\0', n) != NULL) {
            snprintf(detail, sizeof detail, "footer too long or not text");
            goto fail;
        }
        memcpy(rule, p + at + 1, n);
        rule[n] = '\0';
        if (!parse_posix(rule, &tz->posix, &tz->has_posix)) {
            snprintf(detail, sizeof detail, "unreadable TZ rule \"%.64s\" in the footer", rule);
            goto fail;
        }
    }
    return tz;

fail:
    fy_errf(err, errlen, "time zone \"%s\": bad TZif data: %s", tz->name, detail);
fail_quiet:
    fy_tz_free(tz);
    return NULL;
}

static int builtin_utc(const char *name) {
    return strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 || strcmp(name, "Z") == 0;
}

static int valid_name(const char *name) {
    size_t n = strlen(name);

    if (n == 0 || n > FY_TZ_NAME_MAX || name[0] == '/' || strstr(name, "..") != NULL)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
              (*c >= '0' && *c <= '9') || *c == '/' || *c == '_' || *c == '+' || *c == '-'))
            return 0;
    return 1;
}

/* See fy_tz.h. */
struct fy_tz *fy_tz_load(const char *name, char *err, size_t errlen) {
    char path[4096];
    const char *dir = getenv("TZDIR");
    unsigned char *buf = NULL;
    struct fy_tz *tz = NULL;
    struct stat st;
    FILE *fp = NULL;
    size_t n;

    if (name == NULL) name = "UTC";
    if (builtin_utc(name)) {
        static const unsigned char utc[] = {
            'T', 'Z', 'i', 'f', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4,
            0, 0, 0, 0, 0, 0, 'U', 'T', 'C', 0,
        };
        return fy_tz_parse(name, utc, sizeof utc, err, errlen);
    }
    if (!valid_name(name)) {
        fy_errf(err, errlen, "invalid time zone name \"%.*s\" (use a name like "
                "\"Europe/Berlin\": letters, digits, '/', '_', '+', '-', not absolute, "
                "no \"..\")", FY_TZ_NAME_MAX, name);
        return NULL;
    }
    if (dir == NULL || dir[0] == '\0') dir = DEFAULT_TZDIR;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        fy_errf(err, errlen, "time zone path too long for \"%s\"", name);
        return NULL;
    }
    fp = fopen(path, "rb");
    if (fp == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            fy_errf(err, errlen, "unknown time zone \"%s\" (no file %s)", name, path);
        else
            fy_errf(err, errlen, "time zone \"%s\": cannot open %s: %s", name, path,
                    strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fy_errf(err, errlen, "unknown time zone \"%s\" (%s is not a zone file)", name, path);
        goto cleanup;
    }
    if (st.st_size > FY_TZ_FILE_MAX) {
        fy_errf(err, errlen, "time zone \"%s\": %s is too large for a TZif file", name, path);
        goto cleanup;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        fy_errf(err, errlen, "out of memory");
        goto cleanup;
    }
    n = fread(buf, 1, (size_t)st.st_size + 1, fp);
    if (ferror(fp)) {
        fy_errf(err, errlen, "time zone \"%s\": cannot read %s", name, path);
        goto cleanup;
    }
    tz = fy_tz_parse(name, buf, n, err, errlen);

cleanup:
    free(buf);
    fclose(fp);
    return tz;
}

void fy_tz_free(struct fy_tz *tz) {
    if (tz == NULL) return;
    free(tz->name);
    free(tz->trans);
    free(tz->ttype);
    free(tz->type_off);
    free(tz);
}

const char *fy_tz_name(const struct fy_tz *tz) {
    return tz->name;
}

/* ---- offsets and local times ------------------------------------------- */

/* Offsets are looked up on whole seconds; beyond +/-2^55 s (a billion
 * years) nothing changes any more. */
static int64_t clamp_instant(double utc) {
    const double lim = 36028797018963968.0; /* 2^55 */

    if (isnan(utc)) return 0;
    if (utc <= -lim) return -(int64_t)lim;
    if (utc >= lim) return (int64_t)lim;
    return (int64_t)floor(utc);
}

static int32_t offset_at(const struct fy_tz *tz, int64_t t) {
    size_t lo = 0, hi = tz->n_trans;

    if (tz->n_trans == 0) return tz->has_posix ? posix_offset(&tz->posix, t) : tz->type_off[0];
    if (t < tz->trans[0]) return tz->type_off[0];
    if (t > tz->trans[tz->n_trans - 1] && tz->has_posix) return posix_offset(&tz->posix, t);
    while (hi - lo > 1) {               /* largest i with trans[i] <= t */
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t) lo = mid;
        else hi = mid;
    }
    return tz->type_off[tz->ttype[lo]];
}

/* See fy_tz.h. */
int fy_tz_offset(const struct fy_tz *tz, double utc) {
    return offset_at(tz, clamp_instant(utc));
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The instants in (lo, hi] where the offset changes, ascending (at most
 * MAX_CHANGES), with the offset from each on in off[]; *off0 is the offset
 * at lo. Candidates are the table's transitions and the footer rule's
 * changes in the window; offset_at decides which of them change anything. */
static size_t changes(const struct fy_tz *tz, int64_t lo, int64_t hi, int32_t *off0,
                      int64_t at[MAX_CHANGES], int32_t off[MAX_CHANGES]) {
    int64_t cand[MAX_CHANGES];
    size_t nc = 0, n = 0, a = 0, b = tz->n_trans;
    int32_t cur = offset_at(tz, lo);

    while (a < b) {                     /* first transition > lo */
        size_t mid = a + (b - a) / 2;
        if (tz->trans[mid] <= lo) a = mid + 1;
        else b = mid;
    }
    for (; a < tz->n_trans && tz->trans[a] <= hi && nc < MAX_CHANGES - 6; a++)
        cand[nc++] = tz->trans[a];
    if (tz->has_posix && tz->posix.has_dst) {
        int64_t y0 = year_of(lo), s, e;
        for (int64_t y = y0 - 1; y <= y0 + 1; y++) {
            rule_year(&tz->posix, y, &s, &e);
            if (s > lo && s <= hi) cand[nc++] = s;
            if (e > lo && e <= hi) cand[nc++] = e;
        }
    }
    qsort(cand, nc, sizeof cand[0], cmp_i64);
    *off0 = cur;
    for (size_t i = 0; i < nc; i++) {
        int32_t o = offset_at(tz, cand[i]);
        if (o == cur) continue;
        at[n] = cand[i];
        off[n++] = cur = o;
    }
    return n;
}

/* See fy_tz.h. */
int fy_tz_min_offset(const struct fy_tz *tz, double from, double to) {
    int64_t at[MAX_CHANGES], lo = clamp_instant(from), hi = clamp_instant(to);
    int32_t off[MAX_CHANGES], min;
    size_t n = changes(tz, lo, hi < lo ? lo : hi, &min, at, off);

    for (size_t i = 0; i < n; i++)
        if (off[i] < min) min = off[i];
    return min;
}

/* See fy_tz.h. The instants a local time can map to lie within MAX_OFF of
 * it; within that window the offset is piecewise constant, and each piece
 * with offset o holds local - o if that falls inside it. None: a gap. */
int fy_tz_resolve(const struct fy_tz *tz, long long local_secs, double out[2]) {
    int64_t local = local_secs, at[MAX_CHANGES];
    int32_t off[MAX_CHANGES], off0;
    size_t n = changes(tz, local - MAX_OFF - 1, local + MAX_OFF + 1, &off0, at, off);
    int found = 0;

    for (size_t k = 0; k <= n; k++) {
        int32_t o = k == 0 ? off0 : off[k - 1];
        int64_t u = local - o;
        if ((k == 0 || u >= at[k - 1]) && (k == n || u < at[k])) {
            if (found == 0) out[0] = (double)u;
            else out[1] = (double)u;
            found++;
        }
    }
    if (found == 1) return FY_TZ_NORMAL;
    if (found >= 2) return FY_TZ_FOLD;
    for (size_t k = 0; k < n; k++) {
        int32_t before = k == 0 ? off0 : off[k - 1];
        if (at[k] + before <= local && local < at[k] + off[k]) {
            out[0] = (double)at[k];
            return FY_TZ_GAP;
        }
    }
    out[0] = (double)(local - off0);   /* unreachable for consistent data */
    return FY_TZ_NORMAL;
}
