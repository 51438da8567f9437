/* Unit tests for the JSON parser thread (core/fy_json_worker.c): jobs come
 * back in order with their tapes, or their errors, or over budget; a
 * cancelled job's `done` never runs, whether it was waiting, being parsed
 * or parsed and not yet delivered; destroying the worker with jobs in it
 * frees them. Under the sanitizer build these are the leak and
 * use-after-free checks of the cancel paths. */
#include "fy_json_worker.h"
#include "fy_common.h"
#include "testhelp.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXJOBS 64

static struct fy_json_job *delivered[MAXJOBS];
static int ndelivered;

static void done(struct fy_json_job *job, void *arg) {
    (void)arg;
    if (ndelivered < MAXJOBS) delivered[ndelivered++] = job;
    else fy_json_job_free(job);
}

static void free_delivered(void) {
    for (int i = 0; i < ndelivered; i++) fy_json_job_free(delivered[i]);
    ndelivered = 0;
}

/* Run the loop until `n` jobs were delivered (or 10 s passed). */
static void wait_for(struct event_base *base, int n) {
    time_t until = time(NULL) + 10;
    while (ndelivered < n && time(NULL) < until) event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static void nap_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* A JSON array of n objects, malloc'd; *len its length. */
static char *records(int n, size_t *len) {
    size_t cap = 64 + (size_t)n * 80, at = 0;
    char *s = malloc(cap);
    s[at++] = '[';
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s{\"id\":%d,\"name\":\"Account %d\",\"tier\":\"growth\"}",
                               i ? "," : "", i, i);
    s[at++] = ']';
    *len = at;
    return s;
}

static void test_order_and_results(struct fy_json_worker *w, struct event_base *base) {
    size_t len, i;
    char *big = records(2000, &len);
    char *nums = malloc(200001);                  /* [1,1,...]: 16 bytes of tape for every 2 of text */
    for (i = 0; i < 200000; i += 2) memcpy(nums + i, i ? ",1" : "[1", 2);
    nums[i] = ']';
    struct fy_json_job *a = fy_json_job_new(big, len, 3 * len, done, NULL);
    struct fy_json_job *b = fy_json_job_new(big, len - 1, 3 * len, done, NULL);    /* the last ] cut */
    struct fy_json_job *c = fy_json_job_new(nums, 200001, 3 * 200001, done, NULL);
    free(nums);
    free(big);                                    /* the job has its own copy */
    fy_json_worker_submit(w, a);
    fy_json_worker_submit(w, b);
    fy_json_worker_submit(w, c);
    wait_for(base, 3);
    fy_test_cond("three jobs delivered", ndelivered == 3);
    fy_test_cond("in the order submitted", ndelivered == 3 && delivered[0] == a && delivered[1] == b && delivered[2] == c);
    fy_test_cond("the records parsed", a->ok && a->tape.items[0].type == FY_JT_ARRAY && a->tape.items[0].n == 2000);
    fy_test_cond("keys numbered for the builder", a->nkeys >= 3);
    fy_test_cond("the text is freed, the tape counted", fy_json_job_bytes(a) > 0 && fy_json_job_bytes(a) <= 3 * len);
    fy_test_cond("invalid JSON: not ok, not over budget", !b->ok && !b->oom);
    char where[64];
    snprintf(where, sizeof where, "at character %zu", len);
    fy_test_cond("the error says where the text ends", strstr(b->err, where) != NULL);
    fy_test_cond("an invalid text holds nothing", fy_json_job_bytes(b) == 0);
    fy_test_cond("a tape past three times the text is over budget", !c->ok && c->oom);
    fy_test_cond("over budget holds nothing", fy_json_job_bytes(c) == 0);
    free_delivered();
}

static void test_cancel(struct fy_json_worker *w, struct event_base *base) {
    size_t len;
    char *big = records(200000, &len);            /* ~10 MB: long enough to be cancelled mid-parse */
    struct fy_json_job *jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = fy_json_job_new(big, len, 3 * len, done, NULL);
        fy_json_worker_submit(w, jobs[i]);
    }
    nap_ms(5);
    fy_json_worker_cancel(w, jobs[0]);            /* most likely being parsed */
    fy_json_worker_cancel(w, jobs[7]);            /* waiting */
    fy_json_worker_cancel(w, jobs[3]);
    wait_for(base, 5);
    fy_test_cond("the others delivered", ndelivered == 5);
    int seen_cancelled = 0;
    for (int i = 0; i < ndelivered; i++)
        if (delivered[i] == jobs[0] || delivered[i] == jobs[3] || delivered[i] == jobs[7]) seen_cancelled = 1;
    fy_test_cond("no cancelled job delivered", !seen_cancelled);
    free_delivered();

    /* parsed, not yet delivered: the loop has not run since */
    struct fy_json_job *j = fy_json_job_new("[1,2,3]", 7, 21, done, NULL);
    fy_json_worker_submit(w, j);
    nap_ms(50);
    fy_json_worker_cancel(w, j);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    fy_test_cond("a parsed job cancelled before delivery is not delivered", ndelivered == 0);

    /* destroyed with jobs in it: freed without their done (the sanitizer build checks the leaks) */
    for (int i = 0; i < 4; i++) fy_json_worker_submit(w, fy_json_job_new(big, len, 3 * len, done, NULL));
    free(big);
}

int main(void) {
    struct event_base *base = event_base_new();
    char err[FY_ERRLEN];
    struct fy_json_worker *w = fy_json_worker_create(base, err, sizeof err);
    fy_test_cond("the worker starts", w != NULL);
    if (!w) return fy_test_report();
    test_order_and_results(w, base);
    test_cancel(w, base);
    fy_json_worker_destroy(w);
    fy_test_cond("no done after destroy", ndelivered == 0);
    event_base_free(base);
    return fy_test_report();
}
