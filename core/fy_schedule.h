/* Schedules: "manual", "every DURATION" and cron. (Interim: "every" and
 * "manual" only; the cron and time zone work lands from its branch.) */
#ifndef FY_SCHEDULE_H
#define FY_SCHEDULE_H

#include <stddef.h>

struct fy_schedule;
struct lua_State;

int fy_schedule_parse(struct fy_schedule **out, const char *expr, const char *tz, char *err, size_t errlen);
double fy_schedule_next(const struct fy_schedule *s, double after);
int fy_schedule_manual(const struct fy_schedule *s);
double fy_schedule_interval(const struct fy_schedule *s);
const char *fy_schedule_text(const struct fy_schedule *s);
void fy_schedule_free(struct fy_schedule *s);
int fy_schedule_from_lua(struct lua_State *L, int idx, const char *default_tz, struct fy_schedule **out,
                         double *jitter, char *err, size_t errlen);

#endif
