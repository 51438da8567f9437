/* ferry.test.core: what `ferry test` gives a test file beyond a script's
 * sandbox (lualib/ferry/test.lua builds the API on it):
 *
 *   s = server(handler)        -- HTTP on 127.0.0.1, any free port; each request
 *                              -- calls handler(method, uri, headers, body) ->
 *                              -- status, headers { name = value }, body
 *   s:port(); s:close()
 *   text = read(path)          -- a fixture file (relative: beside the test file),
 *                              -- within what the sandbox lets a script read
 *   dir = system(name, { script_dir = , secrets = { NAME... }, rewrite = { { from, to }... } })
 *                              -- writes ROOT/name/ferry.lua, a config for runs of
 *                              -- the script under test; returns ROOT/name
 *   code, out, err, timed_out = ferry(name, { "run", "SCRIPT", ... }, env, timeout [, stdin])
 *                              -- runs this ferry binary on that config (yields the
 *                              -- test's run until it exits)
 *
 * The runs are separate processes with the config written here, which only
 * ever grants the secrets named: a test cannot give its script more than a
 * config's "*" grant of secrets. The fixture server's handler runs on the
 * test's main Lua thread while the test's run waits. */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_run.h"
#include "fy_sandbox.h"
#include "fy_vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVER_MT "ferry.test.server"

extern char **environ;

/* ---- the fixture server -------------------------------------------------- */

struct server {
    struct evhttp *http;
    struct fy_vm *vm;
    lua_State *L;               /* the VM's main thread */
    int handler;                /* registry ref */
    int port;
};

static void reply(struct evhttp_request *req, int code, const char *body, size_t len) {
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Fixture", b);
    if (b) evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg) {
    struct server *s = arg;
    lua_State *L = s->L;
    int top = lua_gettop(L);
    static const char *methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH"};
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *method = "GET";
    for (int i = 0; i < 9; i++)
        if (cmd == (enum evhttp_cmd_type)(1 << i)) method = methods[i];
    fy_vm_guard_reset(s->vm);                   /* the handler's own budget, as a hook call has */
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->handler);
    lua_pushstring(L, method);
    lua_pushstring(L, evhttp_request_get_uri(req));
    lua_newtable(L);
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const char *p = kv->key; *p; p++) luaL_addchar(&b, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
        luaL_pushresult(&b);
        lua_pushstring(L, kv->value);
        lua_rawset(L, -3);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    lua_pushlstring(L, len ? (const char *)evbuffer_pullup(in, -1) : "", len);
    if (lua_pcall(L, 4, 3, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        char body[1024];
        int n = snprintf(body, sizeof body, "ferry test: the fixture handler failed: %s", msg ? msg : "?");
        reply(req, 500, body, n > 0 && (size_t)n < sizeof body ? (size_t)n : strlen(body));
        lua_settop(L, top);
        return;
    }
    int code = (int)luaL_optinteger(L, top + 1, 200);
    if (code < 100 || code > 599) code = 500;
    if (lua_istable(L, top + 2)) {
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        lua_pushnil(L);
        while (lua_next(L, top + 2)) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING)
                evhttp_add_header(out, lua_tostring(L, -2), lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    size_t blen = 0;
    const char *body = lua_tolstring(L, top + 3, &blen);
    reply(req, code, body ? body : "", body ? blen : 0);
    lua_settop(L, top);
}

static struct server *check_server(lua_State *L) {
    return luaL_checkudata(L, 1, SERVER_MT);
}

static int server_close(lua_State *L) {
    struct server *s = check_server(L);
    if (s->http) evhttp_free(s->http);
    s->http = NULL;
    if (s->handler != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, s->handler);
    s->handler = LUA_NOREF;
    return 0;
}

static int server_port(lua_State *L) {
    lua_pushinteger(L, check_server(L)->port);
    return 1;
}

static int l_server(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    struct fy_vm *vm = fy_vm_of(L);
    if (!vm || !vm->engine) return luaL_error(L, "ferry.test: no engine");
    struct server *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->handler = LUA_NOREF;
    luaL_setmetatable(L, SERVER_MT);
    if (!(s->http = evhttp_new(vm->engine->base))) return luaL_error(L, "ferry.test: out of memory");
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    if (!sock) return luaL_error(L, "ferry.test: cannot listen on 127.0.0.1");
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sa, &sl) != 0)
        return luaL_error(L, "ferry.test: getsockname: %s", strerror(errno));
    s->port = ntohs(sa.sin_port);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    s->vm = vm;
    s->L = vm->L;
    lua_pushvalue(L, 1);
    s->handler = luaL_ref(L, LUA_REGISTRYINDEX);
    evhttp_set_gencb(s->http, on_request, s);
    return 1;
}

/* ---- systems: a config per script under test ----------------------------- */

/* A system's name: letters, digits, '-', '_' (it names a directory). */
static const char *check_name(lua_State *L, int idx) {
    const char *name = luaL_checkstring(L, idx);
    size_t n = strlen(name);
    luaL_argcheck(L, n > 0 && n <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n,
                  idx, "a name of letters, digits, '-' and '_'");
    return name;
}

/* s as a Lua string literal; control characters refused. */
static int quote(struct fy_buf *b, const char *s) {
    fy_buf_putc(b, '"');
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return FY_ERR;
        if (*s == '"' || *s == '\\') fy_buf_putc(b, '\\');
        fy_buf_putc(b, *s);
    }
    fy_buf_putc(b, '"');
    return FY_OK;
}

static int env_name_ok(const char *s) {
    if (!*s || (*s >= '0' && *s <= '9')) return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

static int l_system(lua_State *L) {
    struct fy_vm *vm = fy_vm_of(L);
    const char *name = check_name(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    const struct fy_config *cfg = vm->cfg;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", cfg->data_dir, name);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return luaL_error(L, "ferry.test: mkdir %s: %s", dir, strerror(errno));
    struct fy_buf b = {0};
    int ok = FY_OK;
    fy_buf_printf(&b, "-- written by ferry test for one system under test\nreturn {\n  data_dir = ");
    ok |= quote(&b, dir);
    fy_buf_printf(&b, ",\n  lualib_path = ");
    ok |= quote(&b, vm->engine->lualib);
    fy_buf_printf(&b, ",\n  lock_wait = \"0s\",\n  log = { level = \"info\", format = \"json\" },\n  script_dirs = { ");
    lua_getfield(L, 2, "script_dir");
    ok |= quote(&b, luaL_checkstring(L, -1));
    lua_pop(L, 1);
    fy_buf_printf(&b, " },\n  connector_dirs = { ");
    for (char **d = cfg->connector_dirs; d && *d; d++) {
        ok |= quote(&b, *d);
        fy_buf_printf(&b, ", ");
    }
    fy_buf_printf(&b, "},\n  integrations = { [\"*\"] = { secrets = { ");
    if (lua_getfield(L, 2, "secrets") == LUA_TTABLE) {
        for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
            if (!env_name_ok(lua_tostring(L, -1))) ok = FY_ERR;
            ok |= quote(&b, lua_tostring(L, -1));
            fy_buf_printf(&b, ", ");
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    fy_buf_printf(&b, "} } },\n  http = { rewrite = {\n");
    if (lua_getfield(L, 2, "rewrite") == LUA_TTABLE) {
        for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            const char *from = lua_tostring(L, -2), *to = lua_tostring(L, -1);
            if (!from || !to) ok = FY_ERR;
            else {
                fy_buf_printf(&b, "    [");
                ok |= quote(&b, from);
                fy_buf_printf(&b, "] = ");
                ok |= quote(&b, to);
                fy_buf_printf(&b, ",\n");
            }
            lua_pop(L, 3);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    fy_buf_printf(&b, "  } },\n}\n");
    if (ok != FY_OK || !b.data) {
        fy_buf_free(&b);
        return luaL_error(L, "ferry.test: system %s: a path, secret name or URL with control characters, or a "
                          "secret name that is not an environment variable's", name);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/ferry.lua", dir);
    FILE *f = fopen(path, "w");
    int wrote = f && fwrite(b.data, 1, b.len, f) == b.len;
    if (f && fclose(f) != 0) wrote = 0;
    fy_buf_free(&b);
    if (!wrote) return luaL_error(L, "ferry.test: cannot write %s: %s", path, strerror(errno));
    lua_pushstring(L, dir);
    return 1;
}

/* ---- running ferry on a system ------------------------------------------- */

struct child {
    struct fy_run *run;
    pid_t pid;
    struct event *ev[2], *timer;
    struct fy_buf out[2];
    int open;                   /* pipes still open */
    int timed_out;
};

static void child_free(struct child *c) {
    for (int i = 0; i < 2; i++) {
        if (c->ev[i]) {
            close(event_get_fd(c->ev[i]));
            event_free(c->ev[i]);
        }
        fy_buf_free(&c->out[i]);
    }
    if (c->timer) event_free(c->timer);
    free(c);
}

static void child_finish(struct child *c) {
    int st = 0, code;
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {}
    code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    lua_State *co = c->run->co;
    lua_pushinteger(co, code);
    lua_pushlstring(co, c->out[0].data ? c->out[0].data : "", c->out[0].len);
    lua_pushlstring(co, c->out[1].data ? c->out[1].data : "", c->out[1].len);
    lua_pushboolean(co, c->timed_out);
    struct fy_run *run = c->run;
    child_free(c);
    run->waiting = 0;
    fy_run_resume(run, 4);
}

static void child_read(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(what);
    struct child *c = arg;
    int i = c->ev[1] && event_get_fd(c->ev[1]) == fd;
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
        if (c->out[i].len < (64u << 20)) fy_buf_append(&c->out[i], buf, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    event_del(c->ev[i]);
    if (--c->open == 0) {
        if (c->timer) evtimer_del(c->timer);
        child_finish(c);
    }
}

static void child_timeout(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    struct child *c = arg;
    c->timed_out = 1;
    kill(c->pid, SIGKILL);                      /* its pipes close; child_read finishes */
}

static const char *COMMANDS[] = {"run", "check", "runs", "quarantine", "status", "reset", "events", NULL};
static const char *KEEP_ENV[] = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "ASAN_OPTIONS",
                                 "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL};

static int l_ferry(lua_State *L) {
    struct fy_vm *vm = fy_vm_of(L);
    struct fy_run *run = fy_run_of(L);
    if (!run || !run->engine || !lua_isyieldable(L)) return luaL_error(L, "ferry.test: only inside the test's run");
    const char *name = check_name(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    double timeout = luaL_optnumber(L, 4, 300);
    char cfgpath[4200];
    snprintf(cfgpath, sizeof cfgpath, "%s/%s/ferry.lua", vm->cfg->data_dir, name);
    if (access(cfgpath, R_OK) != 0) return luaL_error(L, "ferry.test: no system %s", name);

    /* argv: ferry CMD ARGS... -c CONFIG */
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    luaL_argcheck(L, n >= 1 && n < 64, 2, "a command and its arguments");
    const char *argv[70];
    char exe[4096];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el <= 0) return luaL_error(L, "ferry.test: cannot find the ferry binary");
    exe[el] = '\0';
    argv[0] = exe;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        argv[i] = lua_tostring(L, -1);           /* anchored by the table */
        lua_pop(L, 1);
        if (!argv[i]) return luaL_argerror(L, 2, "strings only");
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
            return luaL_argerror(L, 2, "the config is the system's");
    }
    int known = 0;
    for (int i = 0; COMMANDS[i]; i++) known |= !strcmp(argv[1], COMMANDS[i]);
    if (!known)
        return luaL_error(L, "ferry.test: '%s' is not one of run, check, runs, quarantine, status, reset, events",
                          argv[1]);
    argv[n + 1] = "-c";
    argv[n + 2] = cfgpath;
    argv[n + 3] = NULL;

    /* env: a few of ours, and what the test gives (its secrets) */
    lua_newtable(L);
    int envt = lua_gettop(L), ne = 0;
    for (int i = 0; KEEP_ENV[i]; i++) {
        const char *v = getenv(KEEP_ENV[i]);
        if (v) {
            lua_pushfstring(L, "%s=%s", KEEP_ENV[i], v);
            lua_rawseti(L, envt, ++ne);
        }
    }
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            if (lua_type(L, -2) != LUA_TSTRING || !env_name_ok(lua_tostring(L, -2)) || lua_type(L, -1) != LUA_TSTRING)
                return luaL_argerror(L, 3, "environment variable names to strings");
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
            lua_rawseti(L, envt, ++ne);
            lua_pop(L, 1);
        }
    }
    if (ne > 60) return luaL_argerror(L, 3, "too many variables");
    const char *envp[64];
    for (int i = 0; i < ne; i++) {
        lua_rawgeti(L, envt, i + 1);
        envp[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    envp[ne] = NULL;

    /* stdin: the given text from a file in the system's folder, else nothing */
    char inpath[4300] = "/dev/null";
    size_t inlen = 0;
    const char *input = luaL_optlstring(L, 5, NULL, &inlen);
    if (input) {
        snprintf(inpath, sizeof inpath, "%s/%s/stdin", vm->cfg->data_dir, name);
        FILE *f = fopen(inpath, "wb");
        int wrote = f && fwrite(input, 1, inlen, f) == inlen;
        if (f && fclose(f) != 0) wrote = 0;
        if (!wrote) return luaL_error(L, "ferry.test: cannot write %s: %s", inpath, strerror(errno));
    }

    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0) return luaL_error(L, "ferry.test: pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) != 0) {
        close(po[0]), close(po[1]);
        return luaL_error(L, "ferry.test: pipe: %s", strerror(errno));
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return luaL_error(L, "ferry.test: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int in = open(inpath, O_RDONLY);
        if (in >= 0) dup2(in, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execve(exe, (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct child *c = calloc(1, sizeof *c);
    if (!c) {
        close(po[0]), close(pe[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return luaL_error(L, "ferry.test: out of memory");
    }
    c->run = run;
    c->pid = pid;
    c->open = 2;
    fcntl(po[0], F_SETFL, O_NONBLOCK);
    fcntl(pe[0], F_SETFL, O_NONBLOCK);
    c->ev[0] = event_new(run->engine->base, po[0], EV_READ | EV_PERSIST, child_read, c);
    c->ev[1] = event_new(run->engine->base, pe[0], EV_READ | EV_PERSIST, child_read, c);
    c->timer = evtimer_new(run->engine->base, child_timeout, c);
    struct timeval tv = {(time_t)timeout, 0};
    if (!c->ev[0] || !c->ev[1] || !c->timer || event_add(c->ev[0], NULL) || event_add(c->ev[1], NULL) ||
        evtimer_add(c->timer, &tv)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (!c->ev[0]) close(po[0]);
        if (!c->ev[1]) close(pe[0]);
        child_free(c);
        return luaL_error(L, "ferry.test: cannot watch the child");
    }
    lua_settop(L, 0);
    run->waiting = 1;
    return lua_yield(L, 0);
}

/* ---- fixtures ------------------------------------------------------------ */

static int l_read(lua_State *L) {
    char path[4096];
    if (fy_sandbox_lua_path(L, luaL_checkstring(L, 1), FY_PATH_READ, path, sizeof path) != FY_OK)
        return lua_error(L);                    /* (fail, message) pushed: raise the message */
    FILE *f = fopen(path, "rb");
    if (!f) return luaL_error(L, "ferry.test: cannot read %s: %s", lua_tostring(L, 1), strerror(errno));
    struct fy_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (64u << 20)) fy_buf_append(&b, chunk, n);
    int bad = ferror(f) || b.len >= (64u << 20);
    fclose(f);
    if (bad) {
        fy_buf_free(&b);
        return luaL_error(L, "ferry.test: %s: unreadable or larger than 64MB", lua_tostring(L, 1));
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    fy_buf_free(&b);
    return 1;
}

int luaopen_ferry_test_core(lua_State *L) {
    static const luaL_Reg server_methods[] = {{"port", server_port}, {"close", server_close}, {NULL, NULL}};
    luaL_newmetatable(L, SERVER_MT);
    lua_newtable(L);
    luaL_setfuncs(L, server_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, server_close);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {{"server", l_server}, {"read", l_read}, {"system", l_system}, {"ferry", l_ferry}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}
