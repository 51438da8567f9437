/* Interim admin API: binds nothing; see fy_admin.h. */
#include "fy_admin.h"
#include "fy_common.h"

#include <stdio.h>
#include <stdlib.h>

struct fy_admin { int unused; };

struct fy_admin *fy_admin_create(struct fy_service *svc, struct event_base *base, const char *listen,
                                 const char *token, char *bound, size_t boundcap, char *err, size_t errlen) {
    FY_UNUSED(svc); FY_UNUSED(base); FY_UNUSED(token); FY_UNUSED(err); FY_UNUSED(errlen);
    snprintf(bound, boundcap, "%s", listen);
    return calloc(1, sizeof(struct fy_admin));
}

void fy_admin_destroy(struct fy_admin *a) { free(a); }
