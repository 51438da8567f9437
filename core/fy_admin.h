/* The admin API of ferry serve (interim: lands from its branch). */
#ifndef FY_ADMIN_H
#define FY_ADMIN_H

#include <stddef.h>

struct event_base;
struct fy_admin;
struct fy_service;

struct fy_admin *fy_admin_create(struct fy_service *svc, struct event_base *base, const char *listen,
                                 const char *token, char *bound, size_t boundcap, char *err, size_t errlen);
void fy_admin_destroy(struct fy_admin *a);

#endif
