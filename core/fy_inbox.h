/* The webhook inbox: events a hook accepted, kept in the store (table
 * events) from before their 2xx until the run that handles them commits.
 * An event is pending until the transaction that commits what its run
 * loaded or quarantined marks it done (loaded or skipped) or failed (its
 * record is in the quarantine, replayable from there). Nothing here
 * deletes a row. */
#ifndef FY_INBOX_H
#define FY_INBOX_H

#include <stddef.h>

struct fy_store;

struct fy_event {
    long long id;                   /* set by fy_inbox_add */
    const char *integration, *hook;
    const char *delivery_id;        /* the sender's id (webhook-id...), NULL when none */
    const char *received_at;        /* "2026-12-05T07:00:00.123Z" */
    const char *method;
    const char *headers_json;       /* {"name":"value"...}, secrets removed */
    const char *body;               /* raw bytes */
    size_t body_len;
    const char *status;             /* reads: pending, done, failed */
    const char *run_id;             /* reads: the run that handled it */
};

/* Add a pending event (inside the caller's transaction). *duplicate is set
 * when the integration already has an event with this delivery_id: nothing
 * is added then, and ev->id is the earlier one's. */
int fy_inbox_add(struct fy_store *s, struct fy_event *ev, int *duplicate);

/* Pending events of `integration` with id > after, in id order, at most
 * limit, each handed to fn (its strings live until fn returns). The count,
 * or FY_ERR. */
typedef int (*fy_inbox_fn)(void *arg, const struct fy_event *ev);
int fy_inbox_page(struct fy_store *s, const char *integration, long long after, int limit, fy_inbox_fn fn,
                  void *arg);

/* A pending event handled by run_id: done (1) or failed (0). */
int fy_inbox_mark(struct fy_store *s, long long id, int done, const char *run_id);

/* How many events of `integration` are pending, and when the oldest came
 * (oldest "" when none). */
int fy_inbox_pending(struct fy_store *s, const char *integration, long long *count, char *oldest, size_t cap);

/* Events for `ferry events` and the admin API, newest first: of
 * `integration` (NULL: all) with `status` (NULL: any), id < before (0: no
 * bound), at most limit. */
int fy_inbox_list(struct fy_store *s, const char *integration, const char *status, long long before, int limit,
                  fy_inbox_fn fn, void *arg);

/* ---- reads for `ferry events` and the admin API ---- */

/* How many events of `integration` (NULL: all) have `status` (NULL: any). */
int fy_inbox_count(struct fy_store *s, const char *integration, const char *status, long long *count);

/* Event `id` handed to fn: 1 when found, 0 when not, FY_ERR. */
int fy_inbox_get(struct fy_store *s, long long id, fy_inbox_fn fn, void *arg);

#endif
