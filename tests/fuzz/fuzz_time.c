/* fuzz_time: the time parsers and formatters of core/fy_time.h.
 *
 * Byte 0 (mod 4) picks what the rest of the input is:
 *   0  a timestamp for fy_time_parse: on success the epoch is finite, the
 *      offset within +/-18:00, the instant agrees with glibc's timegm() on
 *      the fields as written (an independent calendar), and formatting it in that offset (0 and 9
 *      fraction digits) parses back to the same offset and instant (to the
 *      precision written); formatting must succeed when the local time is
 *      inside years 0000-9999;
 *   1  an offset for fy_time_parse_offset: in range, and formatting an
 *      instant in it writes an offset that parses back the same;
 *   2  a duration for fy_duration_parse: finite, 0..FY_DURATION_MAX_SECONDS,
 *      and fy_duration_format of it parses back to it (to the microsecond);
 *   3  raw doubles and ints for fy_time_format and fy_duration_format: the
 *      output fits, is NUL-terminated at the length returned, is produced
 *      whenever the contract says it must be, parses back, and its fields
 *      agree with timegm().
 * Error buffers are malloc'd at a size taken from the input (0 to 40 bytes,
 * sometimes NULL), so writing past errlen shows up under ASan, and a message
 * must always be NUL-terminated within it. */
#include "fy_time.h"
#include "fuzz_common.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#define MIN_SECONDS (-62167219200.0)   /* 0000-01-01T00:00:00 */
#define MAX_SECONDS (253402300799.0)   /* 9999-12-31T23:59:59 */

static char *err_buf(uint8_t b, size_t *len) {
    *len = b % 41;
    if (b >= 246) {           /* sometimes no buffer at all */
        *len = 0;
        return NULL;
    }
    return *len ? malloc(*len) : NULL;
}

static void check_err(const char *err, size_t len, int failed) {
    if (!err || !len || !failed) return;
    FUZZ_CHECK(memchr(err, '\0', len) != NULL, "error message not NUL-terminated within %zu bytes", len);
    FUZZ_CHECK(len == 1 || err[0] != '\0', "failed without a message");
}

/* An ulp-ish tolerance for an instant near e. */
static double slack(double e) { return fabs(e) * 4.5e-16 + 1e-9; }

static int digits_at(const char *s, size_t i, size_t n) {
    int v = 0;
    for (size_t k = 0; k < n; k++) v = v * 10 + (s[i + k] - '0');
    return v;
}

/* Seconds since the epoch of a local date-time written as s (known to be
 * valid: fy_time_parse accepted it or fy_time_format wrote it) in offset
 * `off`, by glibc's timegm, which also carries 24:00 and second 60 over. */
static double reference_epoch(const char *s, size_t len, int off) {
    struct tm tm = {0};
    double frac = 0;
    tm.tm_year = digits_at(s, 0, 4) - 1900;
    tm.tm_mon = digits_at(s, 5, 2) - 1;
    tm.tm_mday = digits_at(s, 8, 2);
    if (len > 10) {
        tm.tm_hour = digits_at(s, 11, 2);
        tm.tm_min = digits_at(s, 14, 2);
        if (len > 16 && s[16] == ':') {
            tm.tm_sec = digits_at(s, 17, 2);
            if (len > 19 && (s[19] == '.' || s[19] == ',')) {
                char f[24] = "0.";
                size_t k = 0;
                while (20 + k < len && k < 17 && s[20 + k] >= '0' && s[20 + k] <= '9') {
                    f[2 + k] = s[20 + k];
                    k++;
                }
                frac = strtod(f, NULL);
            }
        }
    }
    return (double)timegm(&tm) + frac - off * 60.0;
}

static void format_and_reparse(double epoch, int off, int digits) {
    char buf[FY_TIME_FORMAT_MAX];
    size_t n = fy_time_format(epoch, off, digits, buf, sizeof buf);
    double local = epoch + off * 60.0;
    int must = isfinite(epoch) && digits >= 0 && digits <= 9 && off >= -FY_TIME_MAX_OFFSET_MIN &&
               off <= FY_TIME_MAX_OFFSET_MIN && floor(local) >= MIN_SECONDS && ceil(local) + 1 <= MAX_SECONDS;
    if (must) FUZZ_CHECK(n > 0, "format(%.17g, %d, %d) failed", epoch, off, digits);
    if (n == 0) {
        FUZZ_CHECK(buf[0] == '\0', "a failed format left text");
        return;
    }
    FUZZ_CHECK(n < FY_TIME_FORMAT_MAX && strlen(buf) == n, "format length %zu, strlen %zu", n, strlen(buf));
    double e2;
    int off2;
    char err[FY_TIME_ERR_MAX];
    FUZZ_CHECK(fy_time_parse(buf, n, &e2, &off2, err, sizeof err) == FY_OK, "format gave \"%s\": %s", buf, err);
    double ref = reference_epoch(buf, n, off);
    FUZZ_CHECK(fabs(ref - epoch) <= 0.5 * pow(10, -digits) + slack(epoch),
               "format(%.17g, %d, %d) gave \"%s\", which timegm reads as %.17g", epoch, off, digits, buf, ref);
    FUZZ_CHECK(off2 == off, "\"%s\": offset %d, formatted with %d", buf, off2, off);
    double tol = 0.5 * pow(10, -digits) + slack(epoch);
    FUZZ_CHECK(fabs(e2 - epoch) <= tol, "\"%s\" parses to %.17g, formatted from %.17g (%d digits)",
               buf, e2, epoch, digits);
}

static void check_timestamp(const char *s, size_t len, uint8_t eb) {
    size_t errlen;
    char *err = err_buf(eb, &errlen);
    double e = 0;
    int off = 0;
    int rc = fy_time_parse(s, len, &e, &off, err, errlen);
    check_err(err, errlen, rc != FY_OK);
    free(err);
    if (rc != FY_OK) return;
    FUZZ_CHECK(isfinite(e), "non-finite epoch");
    FUZZ_CHECK(off >= -FY_TIME_MAX_OFFSET_MIN && off <= FY_TIME_MAX_OFFSET_MIN, "offset %d", off);
    double ref = reference_epoch(s, len, off);
    FUZZ_CHECK(fabs(ref - e) <= 1e-6 + slack(e), "\"%.*s\" parses to %.17g, timegm says %.17g",
               (int)len, s, e, ref);
    format_and_reparse(e, off, 9);
    format_and_reparse(e, off, 0);
    format_and_reparse(e, 0, 3);
}

static void check_offset(const char *s, size_t len, uint8_t eb) {
    size_t errlen;
    char *err = err_buf(eb, &errlen);
    int off = 0;
    int rc = fy_time_parse_offset(s, len, &off, err, errlen);
    check_err(err, errlen, rc != FY_OK);
    free(err);
    if (rc != FY_OK) return;
    FUZZ_CHECK(off >= -FY_TIME_MAX_OFFSET_MIN && off <= FY_TIME_MAX_OFFSET_MIN, "offset %d", off);
    char buf[FY_TIME_FORMAT_MAX];
    size_t n = fy_time_format(1e9, off, 0, buf, sizeof buf);
    FUZZ_CHECK(n > 0, "cannot format with offset %d", off);
    const char *o = off == 0 ? buf + n - 1 : buf + n - 6;
    int off2 = 99999;
    FUZZ_CHECK(fy_time_parse_offset(o, strlen(o), &off2, NULL, 0) == FY_OK && off2 == off,
               "offset %d written as \"%s\" reads back as %d", off, o, off2);
}

static void duration_reparse(double secs) {
    char buf[FY_DURATION_FORMAT_MAX];
    size_t n = fy_duration_format(secs, buf, sizeof buf);
    int must = isfinite(secs) && fabs(secs) <= FY_DURATION_MAX_SECONDS;
    if (must) FUZZ_CHECK(n > 0, "duration_format(%.17g) failed", secs);
    if (n == 0) return;
    FUZZ_CHECK(n < FY_DURATION_FORMAT_MAX && strlen(buf) == n, "duration length %zu", n);
    double d2;
    char err[FY_TIME_ERR_MAX];
    int rc = fy_duration_parse(buf, n, &d2, err, sizeof err);
    if (secs < 0 && buf[0] == '-') {
        FUZZ_CHECK(rc == FY_ERR, "negative \"%s\" parsed", buf);
        return;
    }
    FUZZ_CHECK(rc == FY_OK, "duration_format(%.17g) gave \"%s\": %s", secs, buf, err);
    FUZZ_CHECK(fabs(d2 - fabs(secs)) <= 5.01e-7 + slack(secs), "\"%s\" parses to %.17g, formatted from %.17g",
               buf, d2, secs);
}

static void check_duration(const char *s, size_t len, uint8_t eb) {
    size_t errlen;
    char *err = err_buf(eb, &errlen);
    double secs = -1;
    int rc = fy_duration_parse(s, len, &secs, err, errlen);
    check_err(err, errlen, rc != FY_OK);
    free(err);
    if (rc != FY_OK) return;
    FUZZ_CHECK(isfinite(secs) && secs >= 0 && secs <= FY_DURATION_MAX_SECONDS, "duration %.17g", secs);
    duration_reparse(secs);
}

static void check_formats(const uint8_t *p, size_t len) {
    uint8_t raw[8 + 8 + 4 + 1] = {0};
    memcpy(raw, p, len < sizeof raw ? len : sizeof raw);
    double epoch, secs;
    int32_t off;
    memcpy(&epoch, raw, 8);
    memcpy(&secs, raw + 8, 8);
    memcpy(&off, raw + 16, 4);
    int digits = (int8_t)raw[20];
    /* mostly in range, so the round trip gets exercised */
    if (!(raw[20] & 0x80)) {
        digits = raw[20] % 10;
        off %= FY_TIME_MAX_OFFSET_MIN + 1;
        if (isfinite(epoch)) epoch = fmod(epoch, MAX_SECONDS + 1e6);
    }
    format_and_reparse(epoch, (int)off, digits);
    duration_reparse(secs);
    if (isfinite(secs)) duration_reparse(fmod(secs, 1e7));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint8_t mode = data[0] & 3, eb = data[1];
    size_t len = size - 2;
    /* an exact-size copy, so reading past len trips ASan */
    char *s = malloc(len ? len : 1);
    memcpy(s, data + 2, len);
    switch (mode) {
    case 0: check_timestamp(s, len, eb); break;
    case 1: check_offset(s, len, eb); break;
    case 2: check_duration(s, len, eb); break;
    default: check_formats(data + 2, len); break;
    }
    free(s);
    return 0;
}
