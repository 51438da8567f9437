/* Interim: no signature schemes yet; see fy_hook_sig.h. */
#include "fy_hook_sig.h"
#include "fy_common.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>
int fy_sig_header_is_secret(const struct fy_sig *sig, const char *lower_name) {
    FY_UNUSED(sig);
    return !strcmp(lower_name, "authorization") || !strcmp(lower_name, "cookie");
}
int fy_sig_verify(const struct fy_sig *sig, const char *secret, size_t secret_len,
                  const char *(*header)(void *arg, const char *name), void *arg, const char *body, size_t len,
                  double now, char **delivery_id, char *why, size_t whycap) {
    FY_UNUSED(secret); FY_UNUSED(secret_len); FY_UNUSED(body); FY_UNUSED(len); FY_UNUSED(now);
    const char *id = header(arg, "webhook-id");
    *delivery_id = id ? strdup(id) : NULL;
    if (sig) { snprintf(why, whycap, "signature schemes are not built yet"); return FY_ERR; }
    return FY_OK;
}
void fy_sig_free(struct fy_sig *sig) { FY_UNUSED(sig); }
#include <lauxlib.h>
#include <stdlib.h>
int fy_sig_from_lua(struct lua_State *L, int idx, struct fy_sig **out, char **scheme, char *err, size_t errlen) {
    *out = NULL;
    const char *s = lua_isnil(L, idx) ? "none" : lua_tostring(L, idx);
    *scheme = strdup(s ? s : "?");
    if (s && !strcmp(s, "none")) return FY_OK;
    snprintf(err, errlen, "signature scheme %s is not built yet", s ? s : "?");
    return FY_ERR;
}
