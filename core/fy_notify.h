/* Alert channels: where ferry sends the messages of its alerts.
 *
 * Channels are named in the config (`alerts.channels`), each a webhook
 * (POST JSON with a Slack-compatible `text` and structured fields) or an
 * email (SMTP through libcurl). Scripts name them in policy.alert.to and
 * escalate.to as "NAME" or "TYPE:NAME" ("webhook:ops", "email:oncall");
 * "log" (a line in ferry's log) always exists. A channel's URL and
 * credentials are secrets: registered for redaction, never logged.
 *
 * This module sends one message; fy_alert.c decides what to send, when,
 * and keeps the outbox (alert_sends) that survives a crash. */
#ifndef FY_NOTIFY_H
#define FY_NOTIFY_H

#include <stddef.h>

struct fy_buf;
struct fy_engine;
struct fy_config;

/* One message about one alert. Every string is NUL-terminated; the module
 * copies what it needs before fy_notify_send returns. */
struct fy_notice {
    long long alert_id;
    const char *integration;
    const char *owner;      /* the integration's declared owner (an email address, usually) */
    const char *kind;       /* auth, permission, not_found, failed, suspect, incomplete, stale,
                               schema_drift, picklist_drift, reload_failed, quarantine */
    const char *event;      /* opened, repeat, escalated, resolved */
    const char *subject;    /* one line, e.g. "[ferry] crm-accounts: paused: auth: HTTP 401" */
    const char *text;       /* the plain-text body a person can act on */
    double opened_at;       /* epoch seconds the alert opened */
};

/* Called exactly once per fy_notify_send, from the engine's loop (or before
 * fy_notify_send returns, for "log" and for a target that does not exist),
 * after the channel's own retries: ok 1, or 0 with what went wrong (redacted,
 * one line). */
typedef void (*fy_notify_done_fn)(void *arg, int ok, const char *error);

/* Does `target` name a channel of the config ("log" always does)? FY_ERR
 * with a message naming the known channels when not. */
int fy_notify_known(const struct fy_config *cfg, const char *target, char *err, size_t errlen);

/* Send notice `n` to `target` on the engine's loop. FY_OK when started
 * (done follows); FY_ERR (done already called) when it cannot start. */
int fy_notify_send(struct fy_engine *e, const char *target, const struct fy_notice *n, fy_notify_done_fn done,
                   void *arg);

/* Messages still in flight (fy_engine_dispatch waits for them in ferry run). */
int fy_notify_inflight(struct fy_engine *e);

/* Drop the messages still in flight without calling their callbacks (the
 * outbox in the store still holds them). fy_engine_destroy calls it. */
void fy_notify_destroy(struct fy_engine *e);

/* What goes over the wire, for the tests and for `ferry alerts test`:
 *  - the webhook's JSON body: {"text": "SUBJECT\nTEXT", "ferry": {alert_id,
 *    integration, owner, kind, event, subject, text, opened_at}};
 *  - the email: an RFC 5322 message with CRLF line ends (Date, From, To,
 *    Subject, RFC 2047-encoded when not plain ASCII, Message-ID, MIME
 *    headers; the body 7bit when it is short-lined ASCII, else quoted-
 *    printable), sent at `now` from `from` to the addresses `to`. */
void fy_notify_webhook_body(struct fy_buf *out, const struct fy_notice *n);
void fy_notify_mail(struct fy_buf *out, const struct fy_notice *n, const char *from, char *const *to, double now);

#endif
