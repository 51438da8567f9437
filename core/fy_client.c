/* The CLI's side of the admin API; see fy_client.h. */
#include "fy_client.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_json.h"
#include "fy_vm.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Seconds a call may take: a reload of every script is the slowest. */
#define CLIENT_TIMEOUT 60

/* Decode json and push the value of key (a table as JSON text) as a
 * malloc'd string; NULL when missing or not JSON. */
static char *field_of(const char *json, size_t len, const char *key) {
    lua_State *L = luaL_newstate();
    char err[128], *v = NULL;
    if (!L) return NULL;
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    if (fy_json_decode(L, json, len, err, sizeof err) != FY_OK || lua_type(L, -1) != LUA_TTABLE) goto done;
    int t = lua_getfield(L, -1, key);
    if (t == LUA_TNIL) goto done;
    if (t == LUA_TTABLE) {
        struct fy_buf b = {0};
        if (fy_json_encode(L, -1, &b, err, sizeof err) == FY_OK) v = b.data;
        else fy_buf_free(&b);
    } else if (t == LUA_TLIGHTUSERDATA) {
        v = strdup("null");
    } else if (t == LUA_TBOOLEAN) {
        v = strdup(lua_toboolean(L, -1) ? "true" : "false");
    } else {
        v = strdup(luaL_tolstring(L, -1, NULL));
    }
done:
    lua_close(L);
    return v;
}

char *fy_client_field(const char *json, const char *key) {
    return json ? field_of(json, strlen(json), key) : NULL;
}

int fy_client_each(const char *json, void (*fn)(void *arg, const char *item), void *arg) {
    lua_State *L = luaL_newstate();
    char err[128];
    int n = FY_ERR;
    if (!L) return FY_ERR;
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &fy_json_array_mt_key);
    if (fy_json_decode(L, json, strlen(json), err, sizeof err) != FY_OK || lua_type(L, -1) != LUA_TTABLE) goto done;
    n = (int)lua_rawlen(L, -1);
    for (int i = 1; i <= n; i++) {
        struct fy_buf b = {0};
        lua_rawgeti(L, -1, i);
        if (fy_json_encode(L, -1, &b, err, sizeof err) != FY_OK) fy_buf_reset(&b);
        fn(arg, b.data ? b.data : "null");
        fy_buf_free(&b);
        lua_pop(L, 1);
    }
done:
    lua_close(L);
    return n;
}

char *fy_client_error(const char *body) {
    char *e = fy_client_field(body, "error");
    if (e) return e;
    e = strdup(body ? body : "");
    size_t n = strlen(e);
    while (n && (e[n - 1] == '\n' || e[n - 1] == '\r')) e[--n] = '\0';
    return e;
}

/* Is DATA_DIR/ferry.lock held by another process? A shared, non-blocking
 * try: it fails only while a writer holds it exclusively. */
static int lock_held(const char *data_dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ferry.lock", data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);                          /* drops our lock, if we took it */
    return held;
}

int fy_client_find(const struct fy_config *cfg, struct fy_client *c) {
    char path[4096], text[1024];
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    snprintf(path, sizeof path, "%s/serve.json", cfg->data_dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *pid = field_of(text, n, "pid"), *admin = field_of(text, n, "admin"), *at = field_of(text, n, "started_at");
    int found = 0;
    if (pid && admin && (c->pid = strtol(pid, NULL, 10)) > 0 && strlen(admin) < sizeof c->admin &&
        (kill((pid_t)c->pid, 0) == 0 || errno == EPERM) && lock_held(cfg->data_dir)) {
        snprintf(c->admin, sizeof c->admin, "%s", admin);
        snprintf(c->started_at, sizeof c->started_at, "%s", at ? at : "");
        /* a wildcard address is reached on loopback */
        const char *host = admin, *port = strrchr(admin, ':');
        if (!strncmp(admin, "0.0.0.0:", 8)) host = "127.0.0.1";
        else if (!strncmp(admin, "[::]:", 5)) host = "[::1]";
        else port = "";
        snprintf(c->url, sizeof c->url, "http://%s%s", host, port);
        found = 1;
    }
    free(pid);
    free(admin);
    free(at);
    return found;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    fy_buf_append(arg, p, size * n);
    return size * n;
}

int fy_client_call(const struct fy_client *c, const char *method, const char *path, const char *body, long *status,
                   struct fy_buf *resp, char *err, size_t errlen) {
    char url[512], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL;
    struct fy_buf auth = {0};
    CURL *curl = curl_easy_init();
    int rc = FY_ERR;
    *status = 0;
    if (!curl) {
        snprintf(err, errlen, "cannot start an HTTP client");
        return FY_ERR;
    }
    snprintf(url, sizeof url, "%s%s", c->url, path);
    if (c->cfg->admin.token && *c->cfg->admin.token) {
        fy_buf_printf(&auth, "Authorization: Bearer %s", c->cfg->admin.token);
        h = curl_slist_append(h, auth.data);
    }
    h = curl_slist_append(h, "Accept: application/json");
    if (body) h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    else if (!strcmp(method, "POST")) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");            /* never through an http_proxy of the environment */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)CLIENT_TIMEOUT);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "no answer from the service at %s: %s", c->url, *errbuf ? errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        if (!resp->data) fy_buf_puts(resp, "");
        rc = FY_OK;
    }
    curl_slist_free_all(h);
    if (auth.data) memset(auth.data, 0, auth.len);      /* the token does not linger */
    fy_buf_free(&auth);
    curl_easy_cleanup(curl);
    return rc;
}
