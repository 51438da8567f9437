/* Alert channels; see fy_notify.h. Placeholder with the "log" channel only:
 * the webhook and email channels land from the `notify` branch. */
#include "fy_notify.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_log.h"

#include <stdio.h>
#include <string.h>

int fy_notify_known(const struct fy_config *cfg, const char *target, char *err, size_t errlen) {
    FY_UNUSED(cfg);
    if (strcmp(target, "log") == 0) return FY_OK;
    snprintf(err, errlen, "unknown alert channel '%s' (channels: log)", target);
    return FY_ERR;
}

int fy_notify_send(struct fy_engine *e, const char *target, const struct fy_notice *n, fy_notify_done_fn done,
                   void *arg) {
    FY_UNUSED(e);
    if (strcmp(target, "log") != 0) {
        done(arg, 0, "no such channel");
        return FY_ERR;
    }
    struct fy_buf f = {0};
    fy_buf_puts(&f, "\"kind\":");
    fy_buf_json_string(&f, n->kind, strlen(n->kind));
    fy_buf_puts(&f, ",\"event\":");
    fy_buf_json_string(&f, n->event, strlen(n->event));
    fy_buf_printf(&f, ",\"alert\":%lld,\"subject\":", n->alert_id);
    fy_buf_json_string(&f, n->subject, strlen(n->subject));
    fy_log_write(strcmp(n->event, "resolved") ? FY_LOG_WARN : FY_LOG_INFO, n->integration, NULL,
                 strcmp(n->event, "resolved") ? "alert" : "alert resolved", f.data);
    fy_buf_free(&f);
    done(arg, 1, NULL);
    return FY_OK;
}

int fy_notify_inflight(struct fy_engine *e) {
    FY_UNUSED(e);
    return 0;
}
