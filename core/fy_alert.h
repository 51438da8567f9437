/* Alerts: what ferry tells people, and when.
 *
 * An alert is keyed by integration and kind (auth, failed, stale, ...).
 * Raising one that is open only counts it (deduplicated); a new one is
 * stored and its "opened" messages go out. While open it is re-sent every
 * `repeat` unless acknowledged, escalated once to `escalate_to` when still
 * open past `escalate_after`, and resolved with a message when its
 * condition clears (a good run, a resume, a fixed script).
 *
 * Every message is a row in the store's outbox (alert_sends) before it is
 * sent, and is retried with backoff until delivered (or given up after
 * several tries), so a crash or a channel that is down loses none.
 * Sending itself is fy_notify.c's.
 *
 * Every function takes `now` (epoch seconds), so the timing is tested with
 * a clock of the test's own. */
#ifndef FY_ALERT_H
#define FY_ALERT_H

#include <stddef.h>

struct fy_engine;
struct fy_store;
struct lua_State;

/* Where an integration's alerts go and when (its policy.alert). */
struct fy_alert_policy {
    char **to;                  /* targets: "log", channel names, "owner" */
    int nto;
    double repeat;              /* seconds between re-sends of an open alert; 0: never */
    char *escalate_to;          /* NULL: no escalation */
    double escalate_after;      /* seconds open before escalating */
    long long quarantine_open;  /* alert when this many records are open in the quarantine; 0: never */
    double probe;               /* policy.pause.probe: seconds between probe runs while paused; 0: none */
    int drift_pauses;           /* policy.schema_drift = "pause": a source that changed shape pauses it */
};

/* Read policy.alert and policy.pause from the spec table at `spec` on L
 * (checked by the contract already); `default_repeat` when it names no
 * repeat. Targets not known to the config are problems: FY_ERR with err. */
int fy_alert_policy_read(struct lua_State *L, int spec, const struct fy_engine *e, double default_repeat,
                         struct fy_alert_policy *p, char *err, size_t errlen);
void fy_alert_policy_free(struct fy_alert_policy *p);

/* Open the alert (integration, kind), or count one more occurrence of the
 * open one. `summary` is one line; `detail` the body a person acts on.
 * Returns the alert's id (> 0), or 0 when it could not be stored. */
long long fy_alert_raise(struct fy_engine *e, const char *integration, const char *owner,
                         const struct fy_alert_policy *p, const char *kind, const char *summary, const char *detail,
                         double now);

/* Resolve the open alert (integration, kind), if any, with `resolution`
 * (what cleared it). 1 when one was resolved, 0 when none was open. */
int fy_alert_resolve(struct fy_engine *e, const char *integration, const char *kind, const char *resolution,
                     double now);

/* The same, queueing the messages without sending them (a command with no
 * loop: they go out with the next ferry run or serve). */
int fy_alert_resolve_store(struct fy_store *s, const char *integration, const char *kind, const char *resolution,
                           double now);

/* Is (integration, kind) open? */
int fy_alert_is_open(struct fy_store *s, const char *integration, const char *kind);

/* Re-sends and escalations that are due, then the outbox. */
void fy_alert_tick(struct fy_engine *e, double now);

/* Send the outbox's messages that are due (new, or a retry whose wait is
 * over) through fy_notify. */
void fy_alert_pump(struct fy_engine *e, double now);

/* Acknowledge alert `id`: no more re-sends; an escalation already due
 * still goes out. FY_ERR with err when there is no such open alert. */
int fy_alert_ack(struct fy_store *s, long long id, const char *reason, double now, char *err, size_t errlen);

#endif
