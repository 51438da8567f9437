/* Structured logging; see fy_log.h. */
#include "fy_log.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_time.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    enum fy_log_level level;
    enum fy_log_format format;
    FILE *out;
} logger = {FY_LOG_INFO, FY_LOG_JSON, NULL};

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void fy_log_setup(enum fy_log_level level, enum fy_log_format format, FILE *out) {
    logger.level = level;
    logger.format = format;
    logger.out = out;
}

int fy_log_enabled(enum fy_log_level level) { return level >= logger.level && level < FY_LOG_OFF; }

int fy_log_level_parse(const char *s, enum fy_log_level *out) {
    for (int i = 0; i <= FY_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) { *out = (enum fy_log_level)i; return FY_OK; }
    }
    return FY_ERR;
}

int fy_log_format_parse(const char *s, enum fy_log_format *out) {
    if (strcmp(s, "json") == 0) *out = FY_LOG_JSON;
    else if (strcmp(s, "text") == 0) *out = FY_LOG_TEXT;
    else return FY_ERR;
    return FY_OK;
}

const char *fy_log_level_name(enum fy_log_level level) { return level_names[level]; }

void fy_log_write(enum fy_log_level level, const char *integration, const char *run_id,
                  const char *msg, const char *fields_json) {
    if (!fy_log_enabled(level)) return;
    char ts[40];
    struct fy_buf b = {0};
    fy_time_format(fy_time_now(), 0, 3, ts, sizeof ts);
    if (logger.format == FY_LOG_JSON) {
        fy_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\"", ts, level_names[level]);
        if (integration) {
            fy_buf_puts(&b, ",\"integration\":");
            fy_buf_json_string(&b, integration, strlen(integration));
        }
        if (run_id) fy_buf_printf(&b, ",\"run\":\"%s\"", run_id);
        fy_buf_puts(&b, ",\"msg\":");
        fy_buf_json_string(&b, msg, strlen(msg));
        if (fields_json && *fields_json) {
            fy_buf_putc(&b, ',');
            fy_buf_puts(&b, fields_json);
        }
        fy_buf_puts(&b, "}\n");
    } else {
        fy_buf_printf(&b, "%s %-5s", ts, level_names[level]);
        if (integration) fy_buf_printf(&b, " [%s%s%s]", integration, run_id ? " " : "",
                                       run_id ? run_id : "");
        fy_buf_putc(&b, ' ');
        for (const char *m = msg; *m; m++) {          /* one line per entry, always */
            if (*m == '\n') fy_buf_puts(&b, "\\n");
            else if (*m == '\r') fy_buf_puts(&b, "\\r");
            else fy_buf_putc(&b, *m);
        }
        if (fields_json && *fields_json) fy_buf_printf(&b, " {%s}", fields_json);
        fy_buf_putc(&b, '\n');
    }
    fy_redact(&b);
    /* One write per line so concurrent writers never interleave mid-line. */
    FILE *out = logger.out ? logger.out : stderr;
    fwrite(b.data, 1, b.len, out);
    fflush(out);
    fy_buf_free(&b);
}

void fy_log(enum fy_log_level level, const char *integration, const char *fmt, ...) {
    if (!fy_log_enabled(level)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fy_log_write(level, integration, NULL, msg, NULL);
}
