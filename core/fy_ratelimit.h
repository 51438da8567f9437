/* Token buckets: N requests per second with a burst, shared by every run and
 * request that names the same key (an integration, a host). A request that
 * finds the bucket empty waits in FIFO order on the event loop; a 429 or a
 * "remaining: 0" header blocks the bucket until the server's reset time. */
#ifndef FY_RATELIMIT_H
#define FY_RATELIMIT_H

struct event_base;
struct fy_bucket;

struct fy_bucket_waiter {
    struct fy_bucket_waiter *next;
    void (*ready)(struct fy_bucket_waiter *w);   /* a token was taken for w */
};

/* rate: tokens per second (0 = unlimited, still honours blocks); burst >= 1. */
struct fy_bucket *fy_bucket_create(struct event_base *base, const char *key, double rate, double burst);
void fy_bucket_destroy(struct fy_bucket *b);
const char *fy_bucket_key(const struct fy_bucket *b);
void fy_bucket_set_rate(struct fy_bucket *b, double rate, double burst);

/* Take a token: 1 when taken now; 0 when w was queued (w->ready is called
 * from the loop once a token is taken for it). */
int fy_bucket_acquire(struct fy_bucket *b, struct fy_bucket_waiter *w);
/* Remove a queued waiter (no-op when it is not queued). */
void fy_bucket_cancel(struct fy_bucket *b, struct fy_bucket_waiter *w);
/* Hand out no token before `until` (monotonic seconds). */
void fy_bucket_block_until(struct fy_bucket *b, double until);

#endif
