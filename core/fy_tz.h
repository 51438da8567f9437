/* fy_tz: time zone rules read from the system's tzdata, per zone, without
 * touching the process's TZ.
 *
 * glibc answers "what is the local time in Europe/Berlin" only for the one
 * zone named by TZ (setenv + tzset + localtime_r), which is process-wide
 * state: a service that runs schedules in several zones cannot use it, and
 * changing TZ under other threads is undefined. So ferry reads the TZif
 * files (RFC 8536) itself: the transition table of the 64-bit data block
 * and, for instants after the last transition, the POSIX TZ rule in the
 * footer (which "slim" tzdata files depend on). A zone is immutable once
 * loaded; every function here is thread-safe.
 *
 * Instants are seconds since the epoch (UTC, no leap seconds). "Local
 * seconds" are wall-clock time counted the same way as if the zone were UTC:
 * 2026-03-29T02:30 local is days_from_civil(2026, 3, 29) * 86400 + 9000. */
#ifndef FY_TZ_H
#define FY_TZ_H

#include <stddef.h>

#ifndef FY_OK
#define FY_OK 0
#endif
#ifndef FY_ERR
#define FY_ERR -1
#endif

/* Largest TZif file read (the biggest in tzdata is under 4 KB fat). */
#define FY_TZ_FILE_MAX (1024 * 1024)
/* Longest zone name accepted. */
#define FY_TZ_NAME_MAX 128

struct fy_tz;

/* Load zone `name`. "UTC", "Etc/UTC" and "Z" are built in; any other name is
 * read from $TZDIR (when set and non-empty) or /usr/share/zoneinfo. A name
 * must be relative, free of "..", and made of [A-Za-z0-9/_+-] only. Returns
 * the zone (free with fy_tz_free), or NULL with a message in err: an invalid
 * name, a zone with no file ("unknown time zone \"Mars/Base\" (no file
 * /usr/share/zoneinfo/Mars/Base)"), or a file that is not a usable TZif. */
struct fy_tz *fy_tz_load(const char *name, char *err, size_t errlen);

/* Build a zone called `name` from the TZif bytes data[0..len) (what
 * fy_tz_load does after reading the file). Versions 1-4; leap-second files
 * (the right/ zones) are refused. Any truncation, inconsistent count, index
 * out of range, unsorted transition or unreadable footer is an error in err
 * (NULL returned); nothing is read outside data[0..len). */
struct fy_tz *fy_tz_parse(const char *name, const void *data, size_t len,
                          char *err, size_t errlen);

void fy_tz_free(struct fy_tz *tz);

/* The name the zone was loaded under. */
const char *fy_tz_name(const struct fy_tz *tz);

/* The UTC offset (seconds east of UTC) in effect at instant `utc`. Before
 * the first transition the file's first local time type applies; after the
 * last, the footer's rule (or the last type when there is none). NaN counts
 * as 0; infinities as far past / far future. */
int fy_tz_offset(const struct fy_tz *tz, double utc);

/* The smallest UTC offset in effect at any instant of [from, to] (a window
 * of days, not years: at most 64 changes in it are looked at). */
int fy_tz_min_offset(const struct fy_tz *tz, double from, double to);

/* What fy_tz_resolve found for a wall-clock time. */
enum fy_tz_kind {
    FY_TZ_GAP = 0,     /* skipped (spring forward): out[0] = the gap's end */
    FY_TZ_NORMAL = 1,  /* exactly one instant: out[0] */
    FY_TZ_FOLD = 2     /* repeated (fall back): out[0] earlier, out[1] later */
};

/* Map the wall-clock time `local_secs` in zone tz to UTC. Returns
 * FY_TZ_NORMAL with the instant in out[0]; FY_TZ_FOLD when the time occurs
 * twice, with the first occurrence in out[0] and the last in out[1];
 * FY_TZ_GAP when it does not occur at all, with out[0] the first valid
 * instant after the gap, i.e. the transition that opened it (02:30 on a
 * Berlin spring-forward day gives 01:00Z, which is 03:00 CEST). */
int fy_tz_resolve(const struct fy_tz *tz, long long local_secs, double out[2]);

#endif
