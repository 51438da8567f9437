/* ferry serve; see fy_serve.h. (Being written: the service core lands in
 * the next commits; these answer "not yet" so the admin API can build.) */
#include "fy_serve.h"
#include "fy_common.h"
#include "fy_config.h"

#include <stdio.h>
#include <string.h>

int fy_service_main(struct fy_config *cfg) {
    FY_UNUSED(cfg);
    fprintf(stderr, "ferry serve: not yet\n");
    return FY_EXIT_USAGE;
}
int fy_service_trigger(struct fy_service *svc, const char *name, char run_id[40], char *err, size_t errlen) {
    FY_UNUSED(svc); FY_UNUSED(name); FY_UNUSED(run_id);
    snprintf(err, errlen, "not yet");
    return FY_ERR;
}
int fy_service_replay(struct fy_service *svc, const char *name, const struct fy_replay *replay, char run_id[40],
                      char *err, size_t errlen) {
    FY_UNUSED(svc); FY_UNUSED(name); FY_UNUSED(replay); FY_UNUSED(run_id);
    snprintf(err, errlen, "not yet");
    return FY_ERR;
}
int fy_service_pause(struct fy_service *svc, const char *name, const char *reason, char *err, size_t errlen) {
    FY_UNUSED(svc); FY_UNUSED(name); FY_UNUSED(reason);
    snprintf(err, errlen, "not yet");
    return FY_ERR;
}
int fy_service_resume(struct fy_service *svc, const char *name, char *err, size_t errlen) {
    FY_UNUSED(svc); FY_UNUSED(name);
    snprintf(err, errlen, "not yet");
    return FY_ERR;
}
int fy_service_reset(struct fy_service *svc, const char *name, int *had, char *err, size_t errlen) {
    FY_UNUSED(svc); FY_UNUSED(name); FY_UNUSED(had);
    snprintf(err, errlen, "not yet");
    return FY_ERR;
}
int fy_service_reload(struct fy_service *svc, const char *name, struct fy_buf *out) {
    FY_UNUSED(svc); FY_UNUSED(name); FY_UNUSED(out);
    return FY_ERR;
}
int fy_service_ready(struct fy_service *svc) { FY_UNUSED(svc); return 0; }
int fy_service_running(struct fy_service *svc, const char *name, char run_id[40]) {
    FY_UNUSED(svc); FY_UNUSED(name); FY_UNUSED(run_id);
    return -1;
}
struct fy_store *fy_service_store(struct fy_service *svc) { FY_UNUSED(svc); return NULL; }
const struct fy_config *fy_service_config(struct fy_service *svc) { FY_UNUSED(svc); return NULL; }
