/* The webhook listener of ferry serve: POST /hooks/PATH on its own
 * address (config hooks.listen, loopback by default), separate from the
 * admin API so one can be exposed and the other not.
 *
 * A request is checked (the hook exists, POST, size, signature, JSON when
 * the hook wants it) and its event stored in the inbox (fy_inbox.h) before
 * the answer: 202 means durably stored. Requests that arrive together are
 * stored in one transaction (group commit), then each is answered; the
 * integration's event run starts when it is idle (fy_serve.c). */
#ifndef FY_HOOKS_H
#define FY_HOOKS_H

#include <stddef.h>

struct event_base;
struct fy_hooks;
struct fy_service;

/* Listen on `listen` ("HOST:PORT"); the address bound goes to bound. NULL
 * with err when it cannot. */
struct fy_hooks *fy_hooks_create(struct fy_service *svc, struct event_base *base, const char *listen,
                                 size_t max_body, char *bound, size_t boundcap, char *err, size_t errlen);

/* Stop accepting; events not yet stored are answered 503 (the sender
 * retries them). Safe on NULL. */
void fy_hooks_destroy(struct fy_hooks *h);

#endif
