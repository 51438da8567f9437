/* ferry.jsonl: JSON lines, streamed one line at a time.
 *
 *   local r = ferry.jsonl.open(path [, { max_line = bytes, encoding = "utf-8" | "latin1", shapes = bool }])
 *   for line, record, err, raw, truncated in r:rows() do ... end
 *
 * Each non-blank line yields its 1-based line number and the decoded value.
 * A bad line yields line, nil, err and its text, and iteration goes on:
 * - not valid JSON, or holding a NUL byte (never valid in JSON text; the
 *   whole line is kept, by length, never cut at the NUL);
 * - not valid UTF-8 (with encoding "utf-8", the default; "latin1" reads
 *   every byte as Latin-1 instead);
 * - longer than max_line (default 16 MiB): skipped while reading, never held
 *   whole; raw is its first 200 bytes and truncated is true.
 * A read error yields line, nil, err and nothing else, then ends.
 * With { shapes = true } (the caller emits each record unchanged, as
 * ferry.source.jsonl does) the reader thread also hashes each object's
 * shape (fy_json_shape: its field names and types); the loop thread leaves
 * it in the VM with the record it built last (kept alive by the reader
 * until the next one), so the schema drift check skips a record whose
 * shape it has seen known (fy_schema.c).
 *
 * Both cores work: a reader thread, started by the first rows() step, reads
 * the file, checks and parses each line into a tape (fy_json_parse) and
 * hands over chunks of lines; the loop thread only builds the Lua values
 * (fy_json_build), pushing object keys and repeated values seen before
 * from a table instead of hashing them again. At most QUEUE chunks wait, so a file of any size
 * takes the same memory, and every byte the reader thread holds is counted
 * against the integration's memory limit: it asks the loop thread for room
 * (fy_vm_hold) before it grows, and a line that cannot get it ends the
 * reading with the same error as a line too big for the limit always did. */
#include "fy_common.h"
#include "fy_vm.h"
#include "fy_sandbox.h"

#include <limits.h>
#include "fy_config.h"
#include "fy_buf.h"
#include "fy_json.h"
#include "fy_utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READER_MT "ferry.jsonl.reader"
#define DEFAULT_MAX_LINE (16u << 20)
#define READ_SIZE (64u << 10)
#define EXCERPT 200
#define CHUNK_LINES 128           /* a chunk is handed over at this many lines */
#define CHUNK_TEXT (64u << 10)    /* or this many bytes of text */
/* Chunks parsed ahead of the loop thread. Eight (~800 lines of the bench's
 * records, ~0.6 MB): with three, the loop thread ran dry whenever the
 * writer held the second core for a commit, waiting 0.76-1.0 s on the
 * reader per million records; with eight, 0.12-0.18 s. */
#define QUEUE 8
#define GRANT (1u << 20)          /* room is asked for in steps of this */
#define SPARE_MAX (4u << 20)      /* a used chunk bigger than this is freed, not kept */

enum line_kind { J_VALUE, J_BAD, J_NUL, J_UTF8, J_LONG };
enum chunk_end { E_MORE, E_EOF, E_READ, E_NOMEM };

struct jline {
    size_t lineno;
    enum line_kind kind;
    size_t text, len;       /* its text in the chunk's (J_LONG: the first EXCERPT bytes) */
    size_t item;            /* J_VALUE: its first item; J_BAD: its message, in the chunk's text */
    size_t at;              /* J_NUL, J_UTF8: the bad byte (0-based); J_LONG: the line's length */
    uint64_t shape;         /* J_VALUE: fy_json_shape of an object, else 0 */
};

struct reader;

struct chunk {
    struct chunk *next;
    struct reader *r;
    struct fy_json_tape tape;   /* the items of its J_VALUE lines */
    char *text;                 /* the lines' text, which the tape points into */
    size_t tlen, tcap;
    struct jline *lines;
    size_t nlines, lcap;
    size_t pos;                 /* the next line rows() returns */
    size_t bytes;               /* what its buffers hold, counted in r->used */
    enum chunk_end end;         /* what follows its last line */
    int err;                    /* E_READ: errno */
    size_t end_line;            /* E_READ, E_NOMEM: the line it is about */
    int oom;                    /* the tape could not grow */
};

struct reader {
    /* The reader thread's, once started (the loop thread's after it ends). */
    int fd;                     /* -1 once closed */
    int wake[2];                /* a pipe: reader_stop writes a byte to end a wait in poll */
    char *rbuf;                 /* read buffer, READ_SIZE bytes */
    size_t rpos, rlen;          /* unread bytes are rbuf[rpos..rlen) */
    char *line;                 /* the current line (or an over-long one's first bytes) */
    size_t len, cap;
    size_t total;               /* bytes of the current line before its LF, stored or not */
    int blank;                  /* every byte of the current line so far is whitespace */
    size_t lineno;
    size_t max_line;
    int latin1;                 /* encoding = "latin1" */
    int shapes;                 /* shapes = true */
    int eof;
    struct fy_json_keys *keys;
    struct chunk *building;     /* the chunk lines go into */
    /* Shared, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t to_loop, to_reader;
    struct chunk *ready, *ready_tail;
    int nready;
    struct chunk *spare;        /* handed back, for the reader to reuse */
    int stop;                   /* the loop thread wants the reader to end */
    size_t used;                /* bytes the reader thread holds */
    size_t granted;             /* bytes counted against the memory limit (= held) */
    size_t need;                /* non-zero: the reader waits for granted >= need */
    int refused;                /* the last ask was refused */
    /* The loop thread's. */
    pthread_t thread;
    int started, ended;
    struct fy_vm *vm;           /* whose limits.memory the buffers count against */
    size_t held;                /* bytes counted there */
    struct chunk *cur;          /* the chunk rows() returns lines of */
    size_t lineno_out;          /* the line rows() returned last */
    const void *shape_record;   /* the record kept in uservalue 2, if it has a shape */
};

/* ---- the reader thread's memory: every byte counted before it is used ---- */

/* Make room for n more bytes: wait for the loop thread to count them in the
 * limit when they do not fit what it granted. FY_ERR when refused. */
static int reserve(struct reader *r, size_t n) {
    int ok = FY_OK;
    pthread_mutex_lock(&r->mu);
    while (r->used + n > r->granted) {
        if (r->stop || r->refused) {
            r->refused = 0;
            ok = FY_ERR;
            break;
        }
        r->need = r->used + n;
        pthread_cond_signal(&r->to_loop);
        while (r->need && !r->stop) pthread_cond_wait(&r->to_reader, &r->mu);
    }
    if (ok == FY_OK) r->used += n;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void release(struct reader *r, size_t n) {
    pthread_mutex_lock(&r->mu);
    r->used -= n;
    pthread_mutex_unlock(&r->mu);
}

/* realloc within what the limit allows: NULL when refused (old untouched). */
static void *rmem(struct reader *r, void *old, size_t oldsize, size_t size) {
    if (size > oldsize && reserve(r, size - oldsize) != FY_OK) return NULL;
    if (size == 0) {
        free(old);
        release(r, oldsize);
        return NULL;
    }
    void *p = realloc(old, size);
    if (!p) {
        if (size > oldsize) release(r, size - oldsize);
        return NULL;
    }
    if (size < oldsize) release(r, oldsize - size);
    return p;
}

/* The tape's grow function, for chunks (t->ud is the chunk). */
static void *chunk_grow(struct fy_json_tape *t, void *old, size_t used, size_t size) {
    struct chunk *c = t->ud;
    size_t oldsize = old == (void *)t->items ? t->icap * sizeof *t->items : t->acap;
    (void)used;
    void *p = rmem(c->r, old, oldsize, size);
    if (p || !size) c->bytes = c->bytes - oldsize + size;
    else c->oom = 1;
    return p;
}

static void chunk_free(struct reader *r, struct chunk *c) {
    size_t bytes = c->bytes + sizeof *c;
    free(c->tape.items);
    free(c->tape.arena);
    free(c->text);
    free(c->lines);
    free(c);
    release(r, bytes);
}

/* ---- the reader thread ---- */

/* An empty chunk: a spare one handed back, or a new one. NULL when the
 * limit refuses even that. */
static struct chunk *chunk_get(struct reader *r) {
    pthread_mutex_lock(&r->mu);
    struct chunk *c = r->spare, *big = NULL;
    if (c) r->spare = c->next;
    pthread_mutex_unlock(&r->mu);
    if (c && c->bytes > SPARE_MAX) {        /* after a huge line: give its memory back */
        big = c;
        c = NULL;
    }
    if (big) chunk_free(r, big);
    if (c) {
        c->tape.nitems = c->tape.alen = c->tlen = c->nlines = c->pos = 0;
        c->end = E_MORE;
        c->oom = 0;
        c->next = NULL;
        return c;
    }
    if (reserve(r, sizeof *c) != FY_OK) return NULL;
    c = calloc(1, sizeof *c);
    if (!c) {
        release(r, sizeof *c);
        return NULL;
    }
    c->r = r;
    c->tape.keys = r->keys;
    c->tape.shapes = r->shapes;
    c->tape.grow = chunk_grow;
    c->tape.ud = c;
    return c;
}

/* Hand c to the loop thread, waiting while QUEUE chunks already wait. */
static void publish(struct reader *r, struct chunk *c) {
    pthread_mutex_lock(&r->mu);
    while (r->nready == QUEUE && !r->stop) pthread_cond_wait(&r->to_reader, &r->mu);
    if (r->ready_tail) r->ready_tail->next = c;
    else r->ready = c;
    r->ready_tail = c;
    r->nready++;
    pthread_cond_signal(&r->to_loop);
    pthread_mutex_unlock(&r->mu);
}

/* Append n bytes of the current line, storing only what fits in max_line
 * (or, once it is over, nothing more). FY_ERR when the limit refuses. */
static int line_add(struct reader *r, const char *s, size_t n) {
    for (size_t i = 0; r->blank && i < n; i++)
        r->blank = s[i] == ' ' || s[i] == '\t' || s[i] == '\r';
    size_t keep = r->total >= r->max_line ? 0 : r->max_line - r->total;
    if (keep > n) keep = n;
    r->total += n;
    if (!keep) return FY_OK;
    if (r->len + keep > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + keep) cap *= 2;
        if (cap > r->max_line) cap = r->max_line;
        char *nl = rmem(r, r->line, r->cap, cap);
        if (!nl) return FY_ERR;
        r->line = nl;
        r->cap = cap;
    }
    memcpy(r->line + r->len, s, keep);
    r->len += keep;
    return FY_OK;
}

/* read(2) into rbuf, unless reader_stop wakes the reader first (a pipe
 * whose writer is silent would keep read waiting): -2 then. */
static ssize_t read_some(struct reader *r) {
    struct pollfd p[2] = {{r->fd, POLLIN, 0}, {r->wake[0], POLLIN, 0}};
    while (poll(p, 2, -1) < 0)
        if (errno != EINTR) return -1;
    if (p[1].revents) return -2;
    ssize_t n;
    do n = read(r->fd, r->rbuf, READ_SIZE);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Read the next line (without its LF) into r->line, memory bounded by
 * max_line: a longer line is read to its end but only its first max_line
 * bytes are stored, and r->total says how long it was. Before a read,
 * which may wait (a pipe), the lines in *c go to the loop thread.
 * Returns 1 for a line, 0 at end of input, -1 on a read error (errno), -2
 * when the limit refuses the line's memory, -3 when reader_stop wants the
 * reader to end; *c is NULL after a hand-over. */
static int line_next(struct reader *r, struct chunk **c) {
    r->len = r->total = 0;
    r->blank = 1;
    for (;;) {
        if (r->rpos == r->rlen) {
            if (r->eof) return r->total ? 1 : 0;
            if (*c && (*c)->nlines) {           /* the read may wait (a pipe): hand over what is here */
                publish(r, *c);
                *c = NULL;
            }
            ssize_t n = read_some(r);
            if (n < 0) return n == -2 ? -3 : -1;
            r->rlen = (size_t)n;
            r->rpos = 0;
            if (n == 0) r->eof = 1;
            continue;
        }
        const char *s = r->rbuf + r->rpos, *nl = memchr(s, '\n', r->rlen - r->rpos);
        size_t n = nl ? (size_t)(nl - s) : r->rlen - r->rpos;
        if (line_add(r, s, n) != FY_OK) return -2;
        r->rpos += n + (nl != NULL);
        if (nl) return 1;
    }
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* n bytes at the end of c's text: where they go, or NULL. */
static char *chunk_text(struct reader *r, struct chunk *c, size_t n) {
    if (c->tcap - c->tlen < n) {
        size_t cap = c->tcap ? c->tcap : 4096;
        while (cap - c->tlen < n) cap *= 2;
        char *t = rmem(r, c->text, c->tcap, cap);
        if (!t) return NULL;
        c->bytes += cap - c->tcap;
        c->text = t;
        c->tcap = cap;
    }
    return c->text + c->tlen;
}

/* The next line record of c, or NULL. */
static struct jline *chunk_line(struct reader *r, struct chunk *c, enum line_kind kind) {
    if (c->nlines == c->lcap) {
        size_t cap = c->lcap ? 2 * c->lcap : 64;
        struct jline *l = rmem(r, c->lines, c->lcap * sizeof *l, cap * sizeof *l);
        if (!l) return NULL;
        c->bytes += (cap - c->lcap) * sizeof *l;
        c->lines = l;
        c->lcap = cap;
    }
    struct jline *l = &c->lines[c->nlines++];
    memset(l, 0, sizeof *l);
    l->lineno = r->lineno;
    l->kind = kind;
    return l;
}

/* Check and parse the line just read into c. FY_ERR when the limit
 * refuses its memory. */
static int take_line(struct reader *r, struct chunk *c) {
    size_t len = r->len;
    if (r->total > r->max_line) {
        size_t keep = len < EXCERPT ? len : EXCERPT;
        char *t = chunk_text(r, c, keep);
        struct jline *l = t ? chunk_line(r, c, J_LONG) : NULL;
        if (!l) return FY_ERR;
        memcpy(t, r->line, keep);
        l->text = c->tlen;
        l->len = keep;
        l->at = r->total;
        c->tlen += keep;
        return FY_OK;
    }
    if (is_blank(r->line, len)) return FY_OK;
    while (len && r->line[len - 1] == '\r') len--;
    const char *nul = memchr(r->line, '\0', len);
    size_t bad = nul || r->latin1 ? len : fy_utf8_check(r->line, len);
    char *t = chunk_text(r, c, r->latin1 ? 2 * len : len);
    struct jline *l = t ? chunk_line(r, c, nul ? J_NUL : bad < len ? J_UTF8 : J_VALUE) : NULL;
    if (!l) return FY_ERR;
    l->text = c->tlen;
    l->len = r->latin1 ? fy_utf8_from_latin1(t, r->line, len) : len;
    if (!r->latin1) memcpy(t, r->line, len);
    c->tlen += l->len;
    if (nul) l->at = (size_t)(nul - r->line);
    if (l->kind != J_VALUE) {
        if (l->kind == J_UTF8) l->at = bad;
        return FY_OK;
    }
    char err[200];
    l->item = c->tape.nitems;
    if (fy_json_parse(&c->tape, c->text + l->text, l->len, err, sizeof err) == FY_OK) {
        l->shape = c->tape.shape;
        return FY_OK;
    }
    size_t n = strlen(err) + 1;
    char *m = c->oom ? NULL : chunk_text(r, c, n);
    if (!m) {
        c->nlines--;
        return FY_ERR;
    }
    memcpy(m, err, n);
    l->kind = J_BAD;
    l->item = c->tlen;
    c->tlen += n;
    return FY_OK;
}

static void *reader_main(void *arg) {
    struct reader *r = arg;
    struct chunk **c = &r->building;                /* in r, so reader_stop frees it */
    for (;;) {
        if (!*c && !(*c = chunk_get(r))) break;
        int rc = line_next(r, c);
        if (!*c && !(*c = chunk_get(r))) break;
        size_t about = r->lineno + 1;               /* the line an error is about */
        if (rc == -3) return NULL;
        if (rc == 1) {
            r->lineno++;
            if (r->blank) continue;                 /* blank whatever its length */
            if (take_line(r, *c) == FY_OK) {
                if ((*c)->nlines >= CHUNK_LINES || (*c)->tlen >= CHUNK_TEXT) {
                    publish(r, *c);
                    *c = NULL;
                }
                continue;
            }
            rc = -2;
        }
        (*c)->end = rc == 0 ? E_EOF : rc == -1 ? E_READ : E_NOMEM;
        (*c)->err = errno;
        (*c)->end_line = about;
        publish(r, *c);
        *c = NULL;
        return NULL;
    }
    /* Not even an empty chunk fits: the loop thread reports it. */
    pthread_mutex_lock(&r->mu);
    r->stop = 2;
    pthread_cond_signal(&r->to_loop);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- the loop thread ---- */

/* Count what the reader thread asks for in the limit (a collection may
 * make room). Called with mu held; releases it while it counts. */
static void serve_need(struct reader *r) {
    size_t want = r->need;
    pthread_mutex_unlock(&r->mu);
    size_t stepped = (want + GRANT - 1) / GRANT * GRANT;
    int ok = fy_vm_try_hold(r->vm, &r->held, stepped) == FY_OK ||
             (stepped > want && fy_vm_try_hold(r->vm, &r->held, want) == FY_OK);
    pthread_mutex_lock(&r->mu);
    r->granted = r->held;
    if (!ok) r->refused = 1;
    r->need = 0;
    pthread_cond_broadcast(&r->to_reader);
}

/* The next chunk of lines, waiting for the reader thread; NULL when it
 * could not make one (out of memory before any line). */
static struct chunk *take(struct reader *r) {
    pthread_mutex_lock(&r->mu);
    struct chunk *c = NULL;
    for (;;) {
        if (r->need) serve_need(r);
        if (r->ready) break;
        if (r->stop) goto out;
        pthread_cond_wait(&r->to_loop, &r->mu);
    }
    c = r->ready;
    r->ready = c->next;
    if (!r->ready) r->ready_tail = NULL;
    r->nready--;
    pthread_cond_signal(&r->to_reader);
    if (r->granted > r->used + 4 * GRANT) {     /* a huge line has gone: give the room back */
        fy_vm_hold(r->vm, &r->held, r->used + GRANT);
        r->granted = r->held;
    }
out:
    pthread_mutex_unlock(&r->mu);
    return c;
}

static void give_back(struct reader *r, struct chunk *c) {
    pthread_mutex_lock(&r->mu);
    c->next = r->spare;
    r->spare = c;
    pthread_mutex_unlock(&r->mu);
}

/* End the reader thread and free all it held; the reader stays ended. */
static void reader_stop(struct reader *r) {
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stop = 1;
        pthread_cond_broadcast(&r->to_reader);
        pthread_mutex_unlock(&r->mu);
        ssize_t w;
        do w = write(r->wake[1], "", 1);            /* it may wait in poll */
        while (w < 0 && errno == EINTR);
        pthread_join(r->thread, NULL);
        r->started = 0;
    }
    struct chunk *lists[] = {r->cur, r->building, r->ready, r->spare};
    r->cur = r->building = r->ready = r->ready_tail = r->spare = NULL;
    r->nready = 0;
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        for (struct chunk *c = lists[i], *next; c; c = next) {
            next = i > 1 ? c->next : NULL;
            chunk_free(r, c);
        }
    if (r->fd >= 0) close(r->fd);
    for (int i = 0; i < 2; i++)
        if (r->wake[i] >= 0) close(r->wake[i]);
    r->fd = r->wake[0] = r->wake[1] = -1;
    free(r->line);
    free(r->rbuf);
    fy_json_keys_free(r->keys);
    r->line = r->rbuf = NULL;
    r->keys = NULL;
    r->cap = 0;
    if (r->vm) fy_vm_hold(r->vm, &r->held, 0);
    if (r->vm && r->shape_record && r->vm->shape_record == r->shape_record) r->vm->shape_record = NULL;
    r->shape_record = NULL;
    r->ended = 1;
}

static int reader_close(lua_State *L) {
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    if (!r->ended) reader_stop(r);
    if (r->vm) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->to_loop);
        pthread_cond_destroy(&r->to_reader);
        r->vm = NULL;
    }
    return 0;
}

static int jsonl_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    char real[PATH_MAX];
    if (fy_sandbox_lua_path(L, path, FY_PATH_READ, real, sizeof real) != FY_OK) return 2;
    path = real;
    size_t max_line = DEFAULT_MAX_LINE;
    int latin1 = 0, shapes = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "max_line");
        if (!lua_isnil(L, -1)) {
            lua_Integer n = luaL_checkinteger(L, -1);
            if (n < 1) return luaL_error(L, "ferry.jsonl.open: max_line must be at least 1");
            max_line = (size_t)n;
        }
        lua_getfield(L, 2, "encoding");
        static const char *const encodings[] = {"utf-8", "latin1", NULL};
        if (!lua_isnil(L, -1)) latin1 = luaL_checkoption(L, -1, NULL, encodings) == 1;
        lua_getfield(L, 2, "shapes");
        shapes = lua_toboolean(L, -1);
        lua_pop(L, 3);
    }
    struct reader *r = lua_newuserdatauv(L, sizeof *r, 2);
    memset(r, 0, sizeof *r);
    r->fd = r->wake[0] = r->wake[1] = -1;
    r->ended = 1;                                   /* until it is set up */
    luaL_setmetatable(L, READER_MT);
    lua_newtable(L);                                /* uservalue 1: string number + 1 -> the string */
    lua_setiuservalue(L, -2, 1);
    r->max_line = max_line;
    r->latin1 = latin1;
    r->shapes = shapes;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
        return 2;
    }
    r->rbuf = malloc(READ_SIZE);
    r->keys = fy_json_keys_new();
    if (!r->rbuf || !r->keys || pipe2(r->wake, O_CLOEXEC) != 0) {
        for (int i = 0; i < 2; i++)
            if (r->wake[i] >= 0) close(r->wake[i]);
        close(r->fd);
        r->fd = r->wake[0] = r->wake[1] = -1;
        free(r->rbuf);
        fy_json_keys_free(r->keys);
        r->rbuf = NULL;
        r->keys = NULL;
        return luaL_error(L, "ferry.jsonl.open: out of memory or file descriptors");
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->to_loop, NULL);
    pthread_cond_init(&r->to_reader, NULL);
    r->vm = fy_vm_of(L);
    r->ended = 0;
    /* the read buffer and the key dictionary count from the start */
    r->used = READ_SIZE + fy_json_keys_size();
    fy_vm_try_hold(r->vm, &r->held, r->used);    /* refused: the first line asks again */
    r->granted = r->held;
    return 1;
}
/* The string at idx held bytes that are not UTF-8: the line is decoded
 * with each replaced by U+FFFD to find the field (never converts a number). */
static int not_utf8(lua_State *L, int idx) {
    size_t n;
    if (lua_type(L, idx) != LUA_TSTRING) return 0;
    const char *s = lua_tolstring(L, idx, &n);
    return memmem(s, n, "\xEF\xBF\xBD", 3) != NULL;
}

/* Write into out the path ("contact.name", "tags[2]": 0-based, as in JSON
 * paths) of a string value in the decoded value at idx whose text is not
 * UTF-8, so the reason names the field: returns 1; or the path of the object
 * holding such a key: returns 2; 0 when none is found. The search stops at
 * depth 32. */
static int bad_text_field(lua_State *L, int idx, char *out, size_t cap, int depth) {
    if (lua_type(L, idx) != LUA_TTABLE || depth > 32) return 0;
    size_t used = strlen(out);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int found = 0;
        if (not_utf8(L, -2))
            found = 2;                                   /* the key itself: name its object */
        else if (lua_type(L, -2) == LUA_TNUMBER)
            snprintf(out + used, cap - used, "[%lld]", (long long)lua_tointeger(L, -2) - 1);
        else
            snprintf(out + used, cap - used, "%s%s", used ? "." : "", lua_tostring(L, -2));
        if (!found && not_utf8(L, -1)) found = 1;
        if (!found) found = bad_text_field(L, lua_gettop(L), out, cap, depth + 1);
        if (found) {
            lua_pop(L, 2);
            return found;
        }
        out[used] = '\0';
        lua_pop(L, 1);
    }
    return 0;
}

/* Yield line, nil, "line N: <why>", raw (the line's text as read). */
static int bad_line(lua_State *L, size_t lineno, const char *raw, size_t len, const char *why) {
    lua_pushinteger(L, (lua_Integer)lineno);
    lua_pushnil(L);
    lua_pushfstring(L, "line %I: %s", (lua_Integer)lineno, why);
    lua_pushlstring(L, raw, len);
    return 4;
}

/* A line that is not UTF-8: decode it with each bad byte replaced by
 * U+FFFD, to name the field (upvalue 2 is ferry.json.decode). */
static int bad_utf8(lua_State *L, size_t lineno, const char *text, size_t len, size_t at) {
    char why[512], field[256] = "";
    struct fy_buf fixed = {0};
    fy_utf8_sanitize(&fixed, text, len);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushlstring(L, fixed.data ? fixed.data : "", fixed.len);
    fy_buf_free(&fixed);
    lua_call(L, 1, 1);
    int found = lua_isnil(L, -1) ? 0 : bad_text_field(L, lua_gettop(L), field, sizeof field, 0);
    lua_pop(L, 1);
    char what[300] = "";
    if (found == 1) snprintf(what, sizeof what, "field '%s' is ", field);
    else if (found == 2 && *field) snprintf(what, sizeof what, "a key in '%s' is ", field);
    else if (found == 2) snprintf(what, sizeof what, "a key is ");
    snprintf(why, sizeof why, "%snot valid UTF-8 (byte 0x%02X at byte %zu; encoding = \"latin1\" "
             "reads Latin-1)", what, (unsigned char)text[at], at + 1);
    return bad_line(L, lineno, text, len, why);
}

/* After the last line: line, nil, err for an end that lost lines; the
 * reader thread is gone either way. */
static int reading_ended(lua_State *L, struct reader *r, struct chunk *c) {
    enum chunk_end end = c ? c->end : E_NOMEM;
    size_t line = c ? c->end_line : r->lineno + 1;  /* (no thread left to race) */
    int err = c ? c->err : 0;
    reader_stop(r);
    if (end == E_EOF) return 0;
    lua_pushinteger(L, (lua_Integer)line);
    lua_pushnil(L);
    if (end == E_READ)
        lua_pushfstring(L, "line %I: read error: %s", (lua_Integer)line, strerror(err));
    else
        lua_pushfstring(L, "line %I: the line does not fit in the integration's memory limit "
                        "(limits.memory in the config); the rest of the file was not read", (lua_Integer)line);
    return 3;
}

/* The record on top of the stack, of shape `shape` (0: none), is the one
 * the drift check may take the shape of: uservalue 2 keeps it alive. */
static void keep_shape(lua_State *L, struct reader *r, uint64_t shape) {
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, lua_upvalueindex(1), 2);
    r->shape_record = shape ? lua_topointer(L, -1) : NULL;
    if (!r->vm) return;
    r->vm->shape_record = r->shape_record;
    r->vm->shape = shape;
}

/* Iterator step. Upvalues: the reader, ferry.json.decode, the key table,
 * the array metatable. */
static int rows_next(lua_State *L) {
    struct reader *r = luaL_checkudata(L, lua_upvalueindex(1), READER_MT);
    if (r->ended) return 0;
    if (!r->started) {
        if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
            reader_stop(r);
            return luaL_error(L, "ferry.jsonl: cannot start the reader thread");
        }
        r->started = 1;
    }
    for (;;) {
        struct chunk *c = r->cur;
        if (!c || c->pos == c->nlines) {
            if (c && c->end != E_MORE) return reading_ended(L, r, c);
            if (c) give_back(r, c);
            r->cur = NULL;
            if (!(c = take(r))) {
                pthread_join(r->thread, NULL);      /* it stopped itself: out of memory */
                r->started = 0;
                return reading_ended(L, r, NULL);
            }
            r->cur = c;
            continue;
        }
        struct jline *l = &c->lines[c->pos++];
        const char *text = c->text + l->text;
        r->lineno_out = l->lineno;
        char why[128];
        switch (l->kind) {
        case J_VALUE: {
            lua_pushinteger(L, (lua_Integer)l->lineno);
            size_t at = l->item;
            fy_json_build(L, &c->tape, &at, text, lua_upvalueindex(3), lua_upvalueindex(4));
            if (r->shapes) keep_shape(L, r, l->shape);
            return 2;
        }
        case J_BAD:
            lua_pushinteger(L, (lua_Integer)l->lineno);
            lua_pushnil(L);
            lua_pushfstring(L, "line %I: invalid JSON: %s", (lua_Integer)l->lineno, c->text + l->item);
            lua_pushlstring(L, text, l->len);
            return 4;
        case J_NUL:
            snprintf(why, sizeof why, "NUL byte at byte %zu (not allowed in JSON text)", l->at + 1);
            return bad_line(L, l->lineno, text, l->len, why);
        case J_UTF8:
            return bad_utf8(L, l->lineno, text, l->len, l->at);
        case J_LONG:
            snprintf(why, sizeof why, "longer than %zu bytes (%zu bytes); skipped", r->max_line, l->at);
            bad_line(L, l->lineno, text, l->len, why);
            lua_pushboolean(L, 1);
            return 5;
        }
    }
}

static int reader_rows(lua_State *L) {
    luaL_checkudata(L, 1, READER_MT);
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "ferry.json");
    lua_getfield(L, -1, "decode");
    lua_replace(L, 2);
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    lua_pushcclosure(L, rows_next, 4);
    return 1;
}

static int reader_line(lua_State *L) {
    struct reader *r = luaL_checkudata(L, 1, READER_MT);
    lua_pushinteger(L, (lua_Integer)r->lineno_out);
    return 1;
}

int luaopen_ferry_jsonl(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"rows", reader_rows}, {"line", reader_line}, {"close", reader_close}, {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {{"open", jsonl_open}, {NULL, NULL}};
    fy_vm_new_class(L, READER_MT, methods, reader_close);
    luaL_newlib(L, funcs);
    return 1;
}
