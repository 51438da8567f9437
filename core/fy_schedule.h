/* fy_schedule: when an integration is due. Parses a script's `schedule`
 * and computes the next due instant after a given one; pure arithmetic
 * with the clock passed in, no globals, no libc time zones, thread-safe.
 *
 * Schedules:
 *   "manual"              never due by itself (ferry trigger, webhooks)
 *   "every DURATION"      fixed interval (fy_duration_parse, at least 1s)
 *   "M H DOM MON DOW"     a 5-field cron expression, wall-clock time in the
 *                         schedule's zone (fy_tz):
 *        minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec,
 *        day of week 0-7 or sun-sat (0 and 7 are Sunday); names are
 *        case-insensitive. Each field is a comma list of items: '*', N,
 *        N-M, '*' / S, N-M / S, or N / S (N up to the field's maximum).
 *        When day of month and day of week are both restricted (neither
 *        starts with '*') a day matches if EITHER does (Vixie cron's OR
 *        rule); otherwise both must.
 *   "@hourly" "@daily" "@midnight" "@weekly" "@monthly" "@yearly"
 *   "@annually"           0 * * * *, 0 0 * * *, 0 0 * * *, 0 0 * * 0,
 *                         0 0 1 * *, 0 0 1 1 *, 0 0 1 1 *
 *
 * Daylight saving time, for cron schedules:
 *   - A wall-clock time that does not exist (the spring-forward gap) runs
 *     at the first valid instant after the gap: a 02:30 Europe/Berlin job on
 *     2026-03-29 runs at 03:00 CEST (01:00Z), once. Several non-existent
 *     times that map to the same instant run once.
 *   - A wall-clock time that occurs twice (fall back) runs once, at its
 *     first occurrence; except when the hour field starts with '*' ("0 * *
 *     * *", @hourly, every-15-minutes expressions): such schedules follow
 *     real time and run in both occurrences of the repeated hour, as Vixie
 *     cron runs its wildcard jobs.
 *   - An expression that can never match ("0 0 30 2 *": February has no
 *     30th) is refused by fy_schedule_parse; "0 0 29 2 *" is fine and runs
 *     in leap years. fy_schedule_next looks at most 30 years ahead. */
#ifndef FY_SCHEDULE_H
#define FY_SCHEDULE_H

#include <stddef.h>

#ifndef FY_OK
#define FY_OK 0
#endif
#ifndef FY_ERR
#define FY_ERR -1
#endif

/* How far ahead fy_schedule_next looks for a cron match, in years. */
#define FY_SCHEDULE_HORIZON_YEARS 30

struct fy_schedule;   /* opaque */

/* Parse `expr` (see above) for zone `tz` (NULL: "UTC"; loaded only for a
 * cron expression). Leading and trailing whitespace is ignored. Returns
 * FY_OK with a new schedule in *out (free with fy_schedule_free), or FY_ERR
 * with a message in err naming the field, the item and the allowed range
 * and quoting the expression, e.g.
 *   cron minute: '61' is outside 0-59 in "61 * * * *"
 * An unknown zone is an error too (fy_tz_load's message). */
int fy_schedule_parse(struct fy_schedule **out, const char *expr, const char *tz,
                      char *err, size_t errlen);

/* The first due instant strictly after `after` (UTC epoch seconds).
 * "every": after + interval. manual: INFINITY. cron: the next matching
 * wall-clock minute under the DST rules above, or INFINITY when none comes
 * within FY_SCHEDULE_HORIZON_YEARS or before year 10000, or when `after`
 * is not finite or outside years 1-9999. */
double fy_schedule_next(const struct fy_schedule *s, double after);

/* 1 for "manual", else 0. */
int fy_schedule_manual(const struct fy_schedule *s);

/* The interval of an "every" schedule in seconds; 0 for cron and manual. */
double fy_schedule_interval(const struct fy_schedule *s);

/* Normalised text for status and the check summary: "every 15m" (the
 * duration as fy_duration_format writes it), "cron 0 7 * * 1-5
 * (Europe/Berlin)" (fields separated by one space, macros as written in
 * lower case), "manual". Owned by the schedule. */
const char *fy_schedule_text(const struct fy_schedule *s);

void fy_schedule_free(struct fy_schedule *s);

/* Read a script's schedule from the Lua value at idx (core/fy_lua_schedule.c):
 *   nil                                   manual
 *   "every 15m" | "manual" | cron string  as fy_schedule_parse, zone default_tz
 *   { cron = "0 7 * * 1-5", tz = "Europe/Berlin", jitter = "30s" }
 *   { every = "1h", jitter = "5m" }
 * A table has exactly one of cron and every; tz only with cron (default:
 * default_tz, NULL meaning "UTC"); jitter is optional, a duration >= 0,
 * and for every less than the interval. Stores the schedule in *out and
 * the jitter in seconds (0 when none) in *jitter; returns FY_OK, or FY_ERR
 * with a message in err (table errors start with the key: "tz: ...").
 * Never raises; does not change the Lua stack. */
struct lua_State;
int fy_schedule_from_lua(struct lua_State *L, int idx, const char *default_tz,
                         struct fy_schedule **out, double *jitter, char *err, size_t errlen);

#endif
