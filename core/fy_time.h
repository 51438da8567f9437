/* fy_time: timestamps and durations without locale, libc time zones or mktime.
 *
 * Timestamps are RFC 3339 / ISO 8601 extended-format strings; instants are
 * doubles counting seconds since 1970-01-01T00:00:00Z (POSIX time: no leap
 * seconds). Calendar arithmetic is proleptic Gregorian over years 0000-9999,
 * done with integer days-from-civil, so everything here is thread-safe and
 * independent of TZ and the C locale.
 *
 * Durations are strings like "1h30m", "90s", "500ms", "1.5h", "15 minutes". */
#ifndef FY_TIME_H
#define FY_TIME_H

#include <stddef.h>
#include <stdint.h>

#ifndef FY_OK
#define FY_OK 0
#endif
#ifndef FY_ERR
#define FY_ERR -1
#endif

/* Largest offset from UTC accepted anywhere, in minutes (+/-18:00). */
#define FY_TIME_MAX_OFFSET_MIN (18 * 60)
/* Buffer size that always fits fy_time_format output plus the NUL
 * ("9999-12-31T23:59:59.999999999+18:00" is 35 characters). */
#define FY_TIME_FORMAT_MAX 40
/* Largest duration fy_duration_parse accepts and fy_duration_format prints
 * (1e12 s, about 31,700 years). */
#define FY_DURATION_MAX_SECONDS 1e12
/* Buffer size that always fits fy_duration_format output plus the NUL. */
#define FY_DURATION_FORMAT_MAX 48
/* A comfortable size for the err buffers below; longer messages are cut. */
#define FY_TIME_ERR_MAX 256

/* Parse an RFC 3339 / ISO 8601 date or date-time from s[0..len) (need not be
 * NUL-terminated). Accepted:
 *   date       YYYY-MM-DD                          midnight UTC, offset 0
 *   date-time  date ('T' | 't' | ' ') HH:MM[:SS[(.|,)fraction]][offset]
 *   offset     'Z' | 'z' | +HH:MM | +HHMM | +HH    (or '-'); within +/-18:00
 * A date-time without an offset is taken as UTC (offset 0). The fraction may
 * have any number of digits (digits past the 15th are ignored) and needs
 * seconds. Ranges: month 1-12, day within the month (leap years included),
 * hour 0-23, minute 0-59, second 0-60; 24:00[:00[.000]] is accepted as the
 * end of that day (= next day 00:00). Second 60 (leap second) is accepted
 * anywhere and maps to the following minute's :00, as POSIX time has no leap
 * seconds. "-00:00" means offset 0. No leading or trailing whitespace.
 * On success stores seconds since the epoch (with fraction) in *epoch and the
 * offset as written, in minutes, in *offset_min, and returns FY_OK. On failure
 * returns FY_ERR and writes a message naming the problem and quoting the input
 * into err (if err and errlen are non-zero), e.g.
 *   invalid month 13 in "2026-13-01" */
int fy_time_parse(const char *s, size_t len, double *epoch, int *offset_min,
                  char *err, size_t errlen);

/* Parse a UTC offset on its own: "Z", "z", "+HH:MM", "+HHMM", "+HH" (or '-'),
 * within +/-18:00. Returns FY_OK with *offset_min, or FY_ERR with err. */
int fy_time_parse_offset(const char *s, size_t len, int *offset_min,
                         char *err, size_t errlen);

/* Format epoch as RFC 3339 in the given offset (minutes east of UTC, within
 * +/-18:00): "2026-11-26T14:03:05Z" for offset 0, "2026-11-26T16:03:05+02:00"
 * otherwise. frac_digits (0-9) fractional second digits are written; the
 * instant is rounded to nearest at that precision (so 05.9996 with 3 digits
 * gives 06.000, and with 0 digits 05.6 gives 06). Returns the length written,
 * NUL included in the buffer but not in the length; returns 0 (and writes ""
 * if buflen > 0) when epoch is not finite, the local time falls outside years
 * 0000-9999, offset or frac_digits is out of range, or buflen is too small.
 * FY_TIME_FORMAT_MAX bytes are always enough. */
size_t fy_time_format(double epoch, int offset_min, int frac_digits,
                      char *buf, size_t buflen);

/* Parse a duration from s[0..len): one or more <number><unit> components,
 * number = digits[.digits], unit = ms | s | m | h | d | w (w = 7 days) or a
 * long name: millisecond(s), second(s), sec(s), minute(s), min(s), hour(s),
 * hr(s), day(s), week(s) (all case-sensitive, lower case). Examples: "90s",
 * "15m", "1h30m", "1.5h", "500ms", "2h 30m", "15 minutes", "2 hours 30 min".
 * Components go from the largest unit to the smallest, each unit at most once
 * whatever its spelling ("30m1h", "1m1m" and "1 hour 1h" are errors);
 * whitespace may separate components and a number from its unit, but may not
 * lead or trail. Errors (FY_ERR, with err): empty input, a negative value, a
 * bare number ("missing unit in \"15\""), an unknown unit ("unknown unit 'x'
 * in \"15x\" (use ms, s, m, h, d, w, or seconds, minutes, hours, days,
 * weeks)"), a total above FY_DURATION_MAX_SECONDS. On success stores the
 * total in *seconds and returns FY_OK. */
int fy_duration_parse(const char *s, size_t len, double *seconds,
                      char *err, size_t errlen);

/* Format seconds as a compact duration that fy_duration_parse reads back:
 * units d, h, m, s (largest first, zero components left out; weeks are not
 * used, so 604800 -> "7d"), and the sub-second part as a decimal fraction of
 * the seconds ("1m30.5s") or, below one second, as milliseconds ("500ms",
 * "0.25ms"). Rounded to whole microseconds; 0 -> "0s"; a negative value gets
 * a leading '-' (which fy_duration_parse rejects). Returns the length, or 0
 * (writing "" if buflen > 0) when seconds is not finite, exceeds
 * FY_DURATION_MAX_SECONDS in magnitude, or buflen is too small.
 * FY_DURATION_FORMAT_MAX bytes are always enough. */
size_t fy_duration_format(double seconds, char *buf, size_t buflen);

/* Civil-date arithmetic (proleptic Gregorian, exact integers, any year
 * that fits): days since 1970-01-01 of y-m-d (m 1-12, d 1-31), its inverse,
 * and the length of month m (1-12) of year y. Days of the week follow from
 * the day number: (days + 4) mod 7 is 0 for Sunday. */
int64_t fy_time_days_from_civil(int64_t y, unsigned m, unsigned d);
void fy_time_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
int fy_time_days_in_month(int64_t y, int m);

/* Current wall-clock time (CLOCK_REALTIME) as seconds since the epoch. */
double fy_time_now(void);

/* A clock that never goes back (CLOCK_MONOTONIC), in seconds: for
 * timeouts, deadlines and durations. */
double fy_time_monotonic(void);

/* Lua binding (core/fy_lua_time.c): pushes the ferry.time table. */
struct lua_State;
int luaopen_ferry_time(struct lua_State *L);

#endif
