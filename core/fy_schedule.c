/* Interim schedules; see fy_schedule.h. */
#include "fy_schedule.h"
#include "fy_common.h"
#include "fy_time.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fy_schedule {
    double every;
    char text[64];
};

int fy_schedule_parse(struct fy_schedule **out, const char *expr, const char *tz, char *err, size_t errlen) {
    FY_UNUSED(tz);
    struct fy_schedule *s = calloc(1, sizeof *s);
    if (strcmp(expr, "manual") == 0) {
        snprintf(s->text, sizeof s->text, "manual");
    } else if (strncmp(expr, "every ", 6) == 0 &&
               fy_duration_parse(expr + 6, strlen(expr + 6), &s->every, err, errlen) == FY_OK && s->every >= 1) {
        snprintf(s->text, sizeof s->text, "%s", expr);
    } else {
        snprintf(err, errlen, "unsupported schedule \"%s\"", expr);
        free(s);
        return FY_ERR;
    }
    *out = s;
    return FY_OK;
}

double fy_schedule_next(const struct fy_schedule *s, double after) { return s->every ? after + s->every : INFINITY; }
int fy_schedule_manual(const struct fy_schedule *s) { return s->every == 0; }
double fy_schedule_interval(const struct fy_schedule *s) { return s->every; }
const char *fy_schedule_text(const struct fy_schedule *s) { return s->text; }
void fy_schedule_free(struct fy_schedule *s) { free(s); }

int fy_schedule_from_lua(struct lua_State *L, int idx, const char *default_tz, struct fy_schedule **out,
                         double *jitter, char *err, size_t errlen) {
    *jitter = 0;
    if (lua_isnoneornil(L, idx)) return fy_schedule_parse(out, "manual", default_tz, err, errlen);
    if (lua_type(L, idx) != LUA_TSTRING) {
        snprintf(err, errlen, "schedule: expected a string");
        return FY_ERR;
    }
    return fy_schedule_parse(out, lua_tostring(L, idx), default_tz, err, errlen);
}
