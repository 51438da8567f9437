/* Structured logs: one JSON object per line on stderr (or readable text).
 * Every line has time, level and msg; integration and run when known. */
#ifndef FY_LOG_H
#define FY_LOG_H

#include <stdio.h>

enum fy_log_level { FY_LOG_DEBUG, FY_LOG_INFO, FY_LOG_WARN, FY_LOG_ERROR, FY_LOG_OFF };
enum fy_log_format { FY_LOG_JSON, FY_LOG_TEXT };

void fy_log_setup(enum fy_log_level level, enum fy_log_format format, FILE *out);
int fy_log_enabled(enum fy_log_level level);

/* Parse "debug"/"info"/"warn"/"error"/"off" and "json"/"text". FY_ERR if unknown. */
int fy_log_level_parse(const char *s, enum fy_log_level *out);
int fy_log_format_parse(const char *s, enum fy_log_format *out);
const char *fy_log_level_name(enum fy_log_level level);

/* Write one log line. `integration` and `run_id` may be NULL. `fields_json` is
 * NULL or the members of a JSON object without braces ("\"page\":3,\"n\":10"),
 * already encoded by the caller. */
void fy_log_write(enum fy_log_level level, const char *integration, const char *run_id,
                  const char *msg, const char *fields_json);

/* printf-style convenience for the engine's own messages (no extra fields). */
void fy_log(enum fy_log_level level, const char *integration, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every line goes through fy_redact (fy_secret.h) before it is written. */
#include "fy_secret.h"

#endif
