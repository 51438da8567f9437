/* The JSON parser thread; see fy_json_worker.h. */
#include "fy_json_worker.h"
#include "fy_common.h"
#include "fy_wake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum job_state { QUEUED, PARSING, PARSED };

struct fy_json_worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;                    /* a job was queued, or stop */
    struct fy_json_job *queue, *queue_tail; /* to parse */
    struct fy_json_job *done, *done_tail;   /* parsed, for the loop */
    int stop;
    struct fy_json_keys *keys;              /* the thread's dictionary, cleared for each job (NULL: none) */
    struct fy_wake wake;                    /* parsed -> loop */
};

/* The tape grows with realloc, within the job's budget; a refusal marks
 * the job over budget (fy_json_parse then fails with "out of memory"). */
static void *grow(struct fy_json_tape *t, void *old, size_t used, size_t size) {
    struct fy_json_job *job = t->ud;
    FY_UNUSED(used);
    size_t had = old == (void *)t->items ? t->icap * sizeof *t->items : t->acap;
    if (size == 0) {
        free(old);
        return NULL;
    }
    void *p = job->bytes - had + size > job->budget ? NULL : realloc(old, size);
    if (p) job->bytes = job->bytes - had + size;
    else job->oom = 1;
    return p;
}

struct fy_json_job *fy_json_job_new(const char *text, size_t len, size_t budget,
                                    void (*done)(struct fy_json_job *, void *), void *arg) {
    struct fy_json_job *job = calloc(1, sizeof *job);
    if (!job) return NULL;
    job->text = malloc(len ? len : 1);
    if (!job->text) {
        free(job);
        return NULL;
    }
    memcpy(job->text, text, len);
    job->len = len;
    job->budget = budget;
    job->done = done;
    job->arg = arg;
    job->tape.grow = grow;
    job->tape.ud = job;
    return job;
}

void fy_json_job_free(struct fy_json_job *job) {
    if (!job) return;
    free(job->text);
    free(job->tape.items);
    free(job->tape.arena);
    free(job);
}

size_t fy_json_job_bytes(const struct fy_json_job *job) {
    return (job->text ? job->len : 0) + job->bytes;
}

/* Parse on the worker's thread; the text goes once the tape is made. The
 * dictionary numbers the object keys and repeated short values of this
 * text only (a page of records repeats them in every record), so the
 * builder pushes them from a table instead of hashing each again. */
static void parse(struct fy_json_job *job, struct fy_json_keys *keys) {
    struct fy_json_tape *t = &job->tape;
    if (keys) fy_json_keys_clear(keys);
    t->keys = keys;
    job->ok = fy_json_parse(t, job->text, job->len, job->err, sizeof job->err) == FY_OK;
    job->nkeys = keys ? fy_json_keys_count(keys) : 0;
    t->keys = NULL;                           /* the thread's: the builder needs only nkeys */
    if (!job->ok) {
        free(t->items);
        free(t->arena);
        t->items = NULL;
        t->arena = NULL;
        t->icap = t->acap = t->nitems = t->alen = 0;
        job->bytes = 0;
    } else if (t->nitems < t->icap) {         /* give back what the last doubling left unused */
        void *p = realloc(t->items, t->nitems * sizeof *t->items);
        if (p) {
            job->bytes -= (t->icap - t->nitems) * sizeof *t->items;
            t->items = p;
            t->icap = t->nitems;
        }
    }
    free(job->text);
    job->text = NULL;
}

static void *worker_main(void *arg) {
    struct fy_json_worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->queue && !w->stop) pthread_cond_wait(&w->work, &w->lock);
        if (w->stop) break;
        struct fy_json_job *job = w->queue;
        w->queue = job->next;
        if (!w->queue) w->queue_tail = NULL;
        job->state = PARSING;
        pthread_mutex_unlock(&w->lock);

        parse(job, w->keys);

        pthread_mutex_lock(&w->lock);
        if (job->cancelled) {
            fy_json_job_free(job);
            continue;
        }
        job->state = PARSED;
        job->next = NULL;
        if (w->done_tail) w->done_tail->next = job;
        else w->done = job;
        w->done_tail = job;
        fy_wake_signal(&w->wake);          /* the loop takes every parsed job at once */
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Hand every parsed job to its `done`, in order, one at a time: a `done`
 * may cancel a job parsed after it (closing its stream), which must then
 * still be in the list for cancel to find. */
static void on_parsed(void *arg) {
    struct fy_json_worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        struct fy_json_job *job = w->done;
        if (job) {
            w->done = job->next;
            if (!w->done) w->done_tail = NULL;
            job->next = NULL;
        }
        pthread_mutex_unlock(&w->lock);
        if (!job) return;
        job->done(job, job->arg);
    }
}

static void free_list(struct fy_json_job *job) {
    while (job) {
        struct fy_json_job *next = job->next;
        fy_json_job_free(job);
        job = next;
    }
}

/* Everything but the thread and the jobs: its wake-up, lock, condition
 * and dictionary. */
static void worker_free(struct fy_json_worker *w) {
    fy_wake_close(&w->wake);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->work);
    fy_json_keys_free(w->keys);
    free(w);
}

struct fy_json_worker *fy_json_worker_create(struct event_base *base, char *err, size_t errlen) {
    struct fy_json_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (fy_wake_open(&w->wake, base, on_parsed, w, err, errlen) != FY_OK) {
        free(w);
        return NULL;
    }
    w->keys = fy_json_keys_new();             /* NULL: keys are plain strings */
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        snprintf(err, errlen, "cannot start the JSON parser thread");
        worker_free(w);
        return NULL;
    }
    return w;
}

void fy_json_worker_destroy(struct fy_json_worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);      /* it finishes the job it has; a cancelled one it frees */
    free_list(w->queue);
    free_list(w->done);
    worker_free(w);
}

void fy_json_worker_submit(struct fy_json_worker *w, struct fy_json_job *job) {
    job->next = NULL;
    job->state = QUEUED;
    pthread_mutex_lock(&w->lock);
    if (w->queue_tail) w->queue_tail->next = job;
    else w->queue = job;
    w->queue_tail = job;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
}

/* Take job out of the list at *head (tail *tail); 1 when it was there. */
static int unlink_job(struct fy_json_job **head, struct fy_json_job **tail, struct fy_json_job *job) {
    struct fy_json_job *prev = NULL;
    for (struct fy_json_job *j = *head; j; prev = j, j = j->next) {
        if (j != job) continue;
        if (prev) prev->next = j->next;
        else *head = j->next;
        if (*tail == j) *tail = prev;
        return 1;
    }
    return 0;
}

void fy_json_worker_cancel(struct fy_json_worker *w, struct fy_json_job *job) {
    pthread_mutex_lock(&w->lock);
    int mine = job->state == PARSING ? 0
             : job->state == QUEUED ? unlink_job(&w->queue, &w->queue_tail, job)
             : unlink_job(&w->done, &w->done_tail, job);
    if (!mine) job->cancelled = 1;      /* being parsed: the worker frees it */
    pthread_mutex_unlock(&w->lock);
    if (mine) fy_json_job_free(job);
}
