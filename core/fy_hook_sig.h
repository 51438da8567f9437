/* Interim: webhook signatures (the real schemes land from their branch). */
#ifndef FY_HOOK_SIG_H
#define FY_HOOK_SIG_H
#include <stddef.h>
struct fy_sig;
int fy_sig_header_is_secret(const struct fy_sig *sig, const char *lower_name);
int fy_sig_verify(const struct fy_sig *sig, const char *secret, size_t secret_len,
                  const char *(*header)(void *arg, const char *name), void *arg, const char *body, size_t len,
                  double now, char **delivery_id, char *why, size_t whycap);
void fy_sig_free(struct fy_sig *sig);
/* Interim parse: only "none". */
struct lua_State;
int fy_sig_from_lua(struct lua_State *L, int idx, struct fy_sig **out, char **scheme, char *err, size_t errlen);
#endif
