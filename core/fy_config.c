/* Loading and validating config/ferry.lua; see fy_config.h. */
#include "fy_config.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_secret.h"
#include "fy_time.h"
#include "fy_tz.h"

#include <errno.h>
#include <lauxlib.h>
#include <libgen.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_type { K_STRING, K_STRING_LIST, K_INT, K_SIZE, K_LEVEL, K_FORMAT, K_SECTION, K_DURATION, K_GRANTS, K_ALERTS,
                K_REWRITE, K_DATABASES };

struct key_spec {
    const char *name;        /* dotted path: "limits.memory" */
    enum key_type type;
    const char *help;        /* what a valid value looks like */
};

static const struct key_spec keys[] = {
    {"data_dir", K_STRING, "a directory path"},
    {"script_dirs", K_STRING_LIST, "a list of directory paths"},
    {"connector_dirs", K_STRING_LIST, "a list of directory paths"},
    {"lualib_path", K_STRING, "a directory path"},
    {"batch_size", K_INT, "an integer from 1 to 1000000"},
    {"lock_wait", K_DURATION, "a duration like \"60s\" (0: do not wait)"},
    {"timezone", K_STRING, "a time zone name like \"UTC\" or \"Europe/Berlin\""},
    {"shutdown_grace", K_DURATION, "a duration like \"30s\" (0: stop runs at once)"},
    {"admin", K_SECTION, "a table"},
    {"admin.listen", K_STRING, "HOST:PORT like \"127.0.0.1:8787\" (port 0: any free port)"},
    {"hooks", K_SECTION, "a table"},
    {"hooks.listen", K_STRING, "HOST:PORT like \"127.0.0.1:8788\" (port 0: any free port)"},
    {"hooks.max_body", K_SIZE, "a size like \"1MB\" (at least 1KB)"},
    {"admin.token", K_STRING, "a bearer token (from the environment: os.getenv(\"FERRY_ADMIN_TOKEN\"))"},
    {"admin.metrics", K_STRING, "\"token\" (GET /metrics needs the token off loopback) or \"open\" (it never does)"},
    {"log", K_SECTION, "a table"},
    {"log.level", K_LEVEL, "one of debug, info, warn, error, off"},
    {"log.format", K_FORMAT, "\"json\" or \"text\""},
    {"limits", K_SECTION, "a table"},
    {"limits.memory", K_SIZE, "a size like \"256MB\" (at least 1MB)"},
    {"limits.instructions", K_INT, "an integer of at least 1000"},
    {"limits.call_time", K_DURATION, "a duration like \"60s\""},
    {"limits.run_time", K_DURATION, "a duration like \"6h\""},
    {"integrations", K_GRANTS, "a table of integration names to { secrets = {...}, dirs = {...}, databases = {...}, "
                               "trusted = true }"},
    {"databases", K_DATABASES, "a table of names to { url = \"postgresql://USER@HOST:PORT/DB\", "
                               "password_env = \"ENV_NAME\", reconnect = \"60s\" }"},
    {"http", K_SECTION, "a table"},
    {"http.ca_file", K_STRING, "a path to a PEM CA bundle"},
    {"http.timeout", K_DURATION, "a duration like \"30s\""},
    {"http.connect_timeout", K_DURATION, "a duration like \"10s\""},
    {"http.max_response_size", K_SIZE, "a size like \"64MB\""},
    {"http.max_redirects", K_INT, "an integer from 0 to 50"},
    {"http.rewrite", K_REWRITE, "a table of URL prefixes to URL prefixes: { [\"https://api.hubapi.com\"] = \"http://127.0.0.1:8080\" }"},
    {"alerts", K_ALERTS, "a table: { repeat = \"4h\", channels = { NAME = { type = ... } }, owner = NAME }"},
    {NULL, 0, NULL},
};

void fy_config_defaults(struct fy_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = strdup("data");
    cfg->script_dirs = calloc(2, sizeof(char *));
    cfg->script_dirs[0] = strdup("scripts");
    cfg->log_level = FY_LOG_INFO;
    cfg->log_format = FY_LOG_JSON;
    cfg->limits.memory = 256u << 20;
    cfg->limits.instructions = 200000000;
    cfg->limits.call_time = 60;
    cfg->limits.run_time = 6 * 3600;
    cfg->batch_size = 500;
    cfg->lock_wait = 60;
    cfg->timezone = strdup("UTC");
    cfg->shutdown_grace = 30;
    cfg->admin.listen = strdup("127.0.0.1:8787");
    cfg->hooks.listen = strdup("127.0.0.1:8788");
    cfg->hooks.max_body = 1u << 20;
    cfg->http.timeout = 30;
    cfg->http.connect_timeout = 10;
    cfg->http.max_response_size = 64u << 20;
    cfg->http.max_redirects = 5;
    cfg->alerts.repeat = 4 * 3600;
}

static void free_list(char **list) {
    for (char **d = list; d && *d; d++) free(*d);
    free(list);
}

static void free_grants(struct fy_config *cfg) {
    for (size_t i = 0; i < cfg->ngrants; i++) {
        struct fy_grant *g = &cfg->grants[i];
        free(g->name);
        free(g->script);
        free_list(g->secrets);
        free_list(g->dirs);
        free_list(g->databases);
    }
    free(cfg->grants);
    cfg->grants = NULL;
    cfg->ngrants = 0;
}

const struct fy_grant *fy_config_grant(const struct fy_config *cfg, const char *name) {
    const struct fy_grant *any = NULL;
    for (size_t i = 0; i < cfg->ngrants; i++) {
        if (name && strcmp(cfg->grants[i].name, name) == 0) return &cfg->grants[i];
        if (strcmp(cfg->grants[i].name, "*") == 0) any = &cfg->grants[i];
    }
    return any;
}

static void free_databases(struct fy_config *cfg) {
    for (size_t i = 0; i < cfg->ndatabases; i++) {
        free(cfg->databases[i].name);
        free(cfg->databases[i].url);
        free(cfg->databases[i].password_env);
    }
    free(cfg->databases);
    cfg->databases = NULL;
    cfg->ndatabases = 0;
}

const struct fy_database *fy_config_database(const struct fy_config *cfg, const char *name) {
    for (size_t i = 0; name && i < cfg->ndatabases; i++)
        if (strcmp(cfg->databases[i].name, name) == 0) return &cfg->databases[i];
    return NULL;
}

static void free_channels(struct fy_config *cfg) {
    for (size_t i = 0; i < cfg->alerts.nchannels; i++) {
        struct fy_channel *c = &cfg->alerts.channels[i];
        free(c->name);
        free(c->url);
        free(c->from);
        free_list(c->to);
        free(c->username);
        free(c->password);
    }
    free(cfg->alerts.channels);
    cfg->alerts.channels = NULL;
    cfg->alerts.nchannels = 0;
}

const struct fy_channel *fy_config_channel(const struct fy_config *cfg, const char *name) {
    for (size_t i = 0; i < cfg->alerts.nchannels; i++)
        if (strcmp(cfg->alerts.channels[i].name, name) == 0) return &cfg->alerts.channels[i];
    return NULL;
}

const char *fy_channel_type_name(enum fy_channel_type type) {
    return type == FY_CHANNEL_EMAIL ? "email" : "webhook";
}

void fy_config_free(struct fy_config *cfg) {
    free_grants(cfg);
    free_databases(cfg);
    free_channels(cfg);
    free(cfg->alerts.owner);
    free(cfg->path);
    free(cfg->data_dir);
    free(cfg->lualib_path);
    free(cfg->http.ca_file);
    free(cfg->timezone);
    free(cfg->admin.listen);
    free(cfg->admin.token);
    free(cfg->hooks.listen);
    free_list(cfg->script_dirs);
    free_list(cfg->connector_dirs);
    free_list(cfg->http.rewrite);
    memset(cfg, 0, sizeof *cfg);
}

int fy_config_parse_listen(const char *s, char *host, size_t hostcap, int *port) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5) return FY_ERR;
    const char *h = s, *he = colon;
    if (*h == '[') {                                  /* [::1]:8787 */
        if (he[-1] != ']') return FY_ERR;
        h++;
        he--;
    }
    if (he <= h) return FY_ERR;
    long p = 0;
    for (const char *c = colon + 1; *c; c++) {
        if (*c < '0' || *c > '9') return FY_ERR;
        p = p * 10 + (*c - '0');
    }
    if (p > 65535) return FY_ERR;
    for (const char *c = h; c < he; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '.' ||
              *c == '-' || *c == ':'))
            return FY_ERR;
    if (host) {
        if ((size_t)(he - h) >= hostcap) return FY_ERR;
        memcpy(host, h, (size_t)(he - h));
        host[he - h] = '\0';
    }
    if (port) *port = (int)p;
    return FY_OK;
}

int fy_size_parse(const char *s, size_t *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return FY_ERR;
    while (*end == ' ') end++;
    double mul = 1;
    if (*end == '\0' || strcasecmp(end, "b") == 0) mul = 1;
    else if (strcasecmp(end, "kb") == 0 || strcasecmp(end, "kib") == 0 || strcasecmp(end, "k") == 0)
        mul = 1024.0;
    else if (strcasecmp(end, "mb") == 0 || strcasecmp(end, "mib") == 0 || strcasecmp(end, "m") == 0)
        mul = 1024.0 * 1024;
    else if (strcasecmp(end, "gb") == 0 || strcasecmp(end, "gib") == 0 || strcasecmp(end, "g") == 0)
        mul = 1024.0 * 1024 * 1024;
    else return FY_ERR;
    if (!isfinite(v) || v * mul >= 0x1p62) return FY_ERR;   /* 4 EiB: nonsense, and no UB */
    *out = (size_t)(v * mul);
    return FY_OK;
}

static const struct key_spec *find_key(const char *name) {
    for (const struct key_spec *k = keys; k->name; k++)
        if (strcmp(k->name, name) == 0) return k;
    return NULL;
}

/* List the keys valid under `prefix` ("" or "log.") into buf, for error messages. */
static void known_keys(const char *prefix, char *buf, size_t cap) {
    size_t n = 0, plen = strlen(prefix);
    buf[0] = '\0';
    for (const struct key_spec *k = keys; k->name; k++) {
        if (strncmp(k->name, prefix, plen) != 0 || strchr(k->name + plen, '.')) continue;
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? ", " : "", k->name + plen);
        if (n >= cap) break;
    }
}

static void replace(char **slot, const char *v) {
    free(*slot);
    *slot = strdup(v);
}

/* One load of a config file: the config being filled and every problem
 * found so far, so one run of ferry shows all of them. */
struct problem {
    char *key;               /* the key path it is about: its place in the report */
    char *text;              /* "PATH: KEY: message" */
    int seq;                 /* order found, among problems of the same key */
};

struct load {
    struct fy_config *cfg;
    const char *path;        /* the file, as named */
    struct problem *problems;
    int n;
    int lost;                /* problems found but not kept (out of memory): still a failed load */
};

/* Report a problem with `key` (a dotted key path; "" for the file). */
static void problem(struct load *ld, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(struct load *ld, const char *key, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct problem *p = realloc(ld->problems, (size_t)(ld->n + 1) * sizeof *p);
    char *k = strdup(key);
    if (!p || !k) {
        if (p) ld->problems = p;
        free(k);
        ld->lost++;
        return;
    }
    ld->problems = p;
    struct fy_buf text = {0};
    fy_buf_printf(&text, "%s: %s", ld->path, msg);
    p[ld->n] = (struct problem){.key = k, .text = text.data, .seq = ld->n};
    ld->n++;
}

/* The list of strings on top of the stack as a NULL-terminated array, or
 * NULL after reporting each bad entry under `key`. */
static char **string_list(lua_State *L, struct load *ld, const char *key) {
    if (!lua_istable(L, -1)) {
        problem(ld, key, "%s: expected a list of strings, got %s", key, luaL_typename(L, -1));
        return NULL;
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n > 10000) {
        problem(ld, key, "%s: more than 10000 entries", key);
        return NULL;
    }
    char **list = calloc((size_t)n + 1, sizeof(char *));
    if (!list) {
        problem(ld, key, "%s: out of memory", key);
        return NULL;
    }
    int bad = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING || !*lua_tostring(L, -1)) {
            char item[256];
            snprintf(item, sizeof item, "%s[%05lld]", key, (long long)i);   /* sorts 2 before 10 */
            problem(ld, item, "%s[%lld]: expected a non-empty string, got %s", key, (long long)i,
                    luaL_typename(L, -1));
            bad = 1;
        } else if (!bad) {
            list[i - 1] = strdup(lua_tostring(L, -1));
        }
        lua_pop(L, 1);
    }
    if (bad) {
        free_list(list);
        return NULL;
    }
    return list;
}

/* One grant, { secrets = {...}, dirs = {...}, trusted = bool, script = path },
 * the table on top of the stack, into g. */
static void apply_grant(lua_State *L, struct load *ld, struct fy_grant *g) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        char key[200];
        const char *field = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        snprintf(key, sizeof key, "integrations[\"%.100s\"].%.40s", g->name, field);
        if (!strcmp(field, "secrets")) {
            free_list(g->secrets);
            g->secrets = string_list(L, ld, key);
        } else if (!strcmp(field, "dirs")) {
            free_list(g->dirs);
            g->dirs = string_list(L, ld, key);
        } else if (!strcmp(field, "databases")) {
            free_list(g->databases);
            g->databases = string_list(L, ld, key);
        } else if (!strcmp(field, "trusted")) {
            if (lua_type(L, -1) != LUA_TBOOLEAN)
                problem(ld, key, "%s: expected true or false, got %s", key, luaL_typename(L, -1));
            g->trusted = lua_toboolean(L, -1);
        } else if (!strcmp(field, "script")) {
            if (lua_type(L, -1) != LUA_TSTRING)
                problem(ld, key, "%s: expected the path of the script, got %s", key, luaL_typename(L, -1));
            else
                replace(&g->script, lua_tostring(L, -1));
        } else {
            problem(ld, key, "unknown key '%s' (known keys: secrets, dirs, databases, trusted, script)", key);
        }
        lua_pop(L, 1);
    }
}

/* integrations = { [name] = { ... } }, the table on top of the stack. */
static void apply_grants(lua_State *L, struct load *ld) {
    struct fy_config *cfg = ld->cfg;
    free_grants(cfg);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1)) {
            problem(ld, "integrations", "integrations: expected [\"name\"] = { secrets = ..., dirs = ..., trusted = ... }, "
                    "got a %s key with a %s value", luaL_typename(L, -2), luaL_typename(L, -1));
            lua_pop(L, 1);
            continue;
        }
        struct fy_grant *grants = realloc(cfg->grants, (cfg->ngrants + 1) * sizeof *grants);
        if (!grants) {
            problem(ld, "integrations", "integrations: out of memory");
            lua_pop(L, 2);
            return;
        }
        cfg->grants = grants;
        struct fy_grant *g = &grants[cfg->ngrants++];
        memset(g, 0, sizeof *g);
        g->name = strdup(lua_tostring(L, -2));
        apply_grant(L, ld, g);
        lua_pop(L, 1);
    }
}

/* ---- databases: where ferry.sink.postgres loads ------------------------- */

/* A libpq connection string that parses and holds no password: the password
 * comes from password_env (or libpq's password file), never from a file
 * that is copied around and shown. */
static void check_url(struct load *ld, const char *key, const char *url) {
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (!opts) {
        size_t n = msg ? strlen(msg) : 0;
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
        problem(ld, key, "%s: not a PostgreSQL connection string (%s)", key, msg ? msg : "out of memory");
        PQfreemem(msg);
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            problem(ld, key, "%s: holds a password; put it in an environment variable and name that in "
                    "password_env", key);
    PQconninfoFree(opts);
}

/* One database, { url, password_env, reconnect }, the table on top. */
static void apply_database(lua_State *L, struct load *ld, struct fy_database *d) {
    char key[200];
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *field = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        snprintf(key, sizeof key, "databases[\"%.100s\"].%.40s", d->name, field);
        int is_string = lua_type(L, -1) == LUA_TSTRING && *lua_tostring(L, -1);
        if (!strcmp(field, "url")) {
            if (!is_string) problem(ld, key, "%s: expected a connection string like "
                                    "\"postgresql://ferry@127.0.0.1:5432/reporting\", got %s", key, luaL_typename(L, -1));
            else {
                replace(&d->url, lua_tostring(L, -1));
                check_url(ld, key, d->url);
            }
        } else if (!strcmp(field, "password_env")) {
            if (!is_string) problem(ld, key, "%s: expected the name of an environment variable, got %s", key,
                                    luaL_typename(L, -1));
            else replace(&d->password_env, lua_tostring(L, -1));
        } else if (!strcmp(field, "reconnect")) {
            double secs;
            char derr[128];
            if (lua_type(L, -1) == LUA_TNUMBER) secs = lua_tonumber(L, -1);
            else if (lua_type(L, -1) != LUA_TSTRING ||
                     fy_duration_parse(lua_tostring(L, -1), lua_rawlen(L, -1), &secs, derr, sizeof derr) != FY_OK)
                secs = -1;
            if (!(secs >= 0 && secs <= 86400)) problem(ld, key, "%s: expected a duration like \"60s\" (0: do not "
                                                      "reconnect)", key);
            else d->reconnect = secs;
        } else {
            problem(ld, key, "unknown key '%s' (known keys: url, password_env, reconnect)", key);
        }
        lua_pop(L, 1);
    }
    if (!d->url) {
        snprintf(key, sizeof key, "databases[\"%.100s\"].url", d->name);
        problem(ld, key, "%s: missing (the server to connect to)", key);
    }
}

/* databases = { [name] = { ... } }, the table on top of the stack. */
static void apply_databases(lua_State *L, struct load *ld) {
    struct fy_config *cfg = ld->cfg;
    free_databases(cfg);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1)) {
            problem(ld, "databases", "databases: expected [\"name\"] = { url = ..., password_env = ... }, "
                    "got a %s key with a %s value", luaL_typename(L, -2), luaL_typename(L, -1));
            lua_pop(L, 1);
            continue;
        }
        struct fy_database *dbs = realloc(cfg->databases, (cfg->ndatabases + 1) * sizeof *dbs);
        if (!dbs) {
            problem(ld, "databases", "databases: out of memory");
            lua_pop(L, 2);
            return;
        }
        cfg->databases = dbs;
        struct fy_database *d = &dbs[cfg->ndatabases++];
        memset(d, 0, sizeof *d);
        d->name = strdup(lua_tostring(L, -2));
        d->reconnect = 60;
        apply_database(L, ld, d);
        lua_pop(L, 1);
    }
}

/* ---- alerts: channels and where alerts go ------------------------------ */

/* A duration (a number of seconds or "4h") on top of the stack into *secs,
 * when it is one and in (0, max]. */
static int duration_value(lua_State *L, double max, double *secs) {
    char derr[128];
    if (lua_type(L, -1) == LUA_TNUMBER) *secs = lua_tonumber(L, -1);
    else if (lua_type(L, -1) != LUA_TSTRING) return FY_ERR;
    else if (fy_duration_parse(lua_tostring(L, -1), lua_rawlen(L, -1), secs, derr, sizeof derr) != FY_OK)
        return FY_ERR;
    return *secs > 0 && *secs <= max ? FY_OK : FY_ERR;       /* also refuses NaN */
}

/* The value on top of the stack as an error message shows it: a string
 * quoted, a number as written, else its type. */
static const char *shown(lua_State *L, char *buf, size_t cap) {
    if (lua_type(L, -1) == LUA_TSTRING) snprintf(buf, cap, "\"%.100s\"", lua_tostring(L, -1));
    else if (lua_isinteger(L, -1)) snprintf(buf, cap, "%lld", (long long)lua_tointeger(L, -1));
    else if (lua_type(L, -1) == LUA_TNUMBER) snprintf(buf, cap, "%g", lua_tonumber(L, -1));
    else snprintf(buf, cap, "%s", luaL_typename(L, -1));
    return buf;
}

int fy_config_is_address(const char *s) {
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@') || strlen(s) > 254) return 0;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c <= ' ' || strchr("<>\"(),;:[]\\\x7f", *c)) return 0;
    return 1;
}

/* A channel's name is how scripts write it in policy.alert.to: a word, so
 * "TYPE:NAME" stays unambiguous; "log" and "owner" are taken. */
static int channel_name_ok(const char *s) {
    if (!*s || strlen(s) > 64 || !strcmp(s, "log") || !strcmp(s, "owner")) return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '-' || *c == '.'))
            return 0;
    return 1;
}

/* retry = { attempts = N, base = "2s" }, on top of the stack, into ch. */
static void apply_channel_retry(lua_State *L, struct load *ld, struct fy_channel *ch, const char *key) {
    if (!lua_istable(L, -1)) {
        problem(ld, key, "%s: expected { attempts = 3, base = \"1s\" }, got %s", key, luaL_typename(L, -1));
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        char sub[256], got[128];
        const char *f = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        snprintf(sub, sizeof sub, "%.200s.%.40s", key, f);
        if (!strcmp(f, "attempts")) {
            lua_Integer n = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
            if (n < 1 || n > 10)
                problem(ld, sub, "%s: expected an integer from 1 to 10 (1: no retry), got %s", sub,
                        shown(L, got, sizeof got));
            else
                ch->attempts = (int)n;
        } else if (!strcmp(f, "base")) {
            if (duration_value(L, 3600, &ch->base) != FY_OK)
                problem(ld, sub, "%s: expected a duration like \"2s\" (at most 1h), got %s", sub,
                        shown(L, got, sizeof got));
        } else {
            problem(ld, sub, "unknown key '%s' (known keys in retry: attempts, base)", sub);
        }
        lua_pop(L, 1);
    }
}

/* The recipients: one address or a list of them. */
static void apply_channel_to(lua_State *L, struct load *ld, struct fy_channel *ch, const char *key) {
    char **to = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        to = calloc(2, sizeof *to);
        if (to) to[0] = strdup(lua_tostring(L, -1));
    } else {
        to = string_list(L, ld, key);
        if (!to) return;
    }
    if (!to || !to[0]) {
        problem(ld, key, "%s: expected at least one address", key);
        free_list(to);
        return;
    }
    for (char **a = to; *a; a++) {
        if (fy_config_is_address(*a)) continue;
        problem(ld, key, "%s: \"%s\" is not an email address (expected name@domain)", key, *a);
        free_list(to);
        return;
    }
    free_list(ch->to);
    ch->to = to;
}

/* The table of one channel, on top of the stack, into ch; `key` is
 * "alerts.channels.NAME". Its type decides which other keys it takes. */
static void apply_channel(lua_State *L, struct load *ld, struct fy_channel *ch, const char *key) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s.type", key);
    lua_getfield(L, -1, "type");
    const char *type = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int ok_type = type && (!strcmp(type, "webhook") || !strcmp(type, "email"));
    if (!ok_type) {
        if (type) problem(ld, sub, "%s: expected \"webhook\" or \"email\", got \"%s\"", sub, type);
        else problem(ld, sub, "%s: expected \"webhook\" or \"email\", got %s", sub, luaL_typename(L, -1));
        lua_pop(L, 1);
        return;
    }
    ch->type = !strcmp(type, "email") ? FY_CHANNEL_EMAIL : FY_CHANNEL_WEBHOOK;
    lua_pop(L, 1);
    int email = ch->type == FY_CHANNEL_EMAIL;
    const char *known = email ? "type, smtp, from, to, username, password, starttls, retry" : "type, url, retry";
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *f = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        snprintf(sub, sizeof sub, "%s.%.40s", key, f);
        int str = lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0;
        const char *v = str ? lua_tostring(L, -1) : NULL;
        if (!strcmp(f, "type")) {
        } else if (!strcmp(f, "retry")) {
            apply_channel_retry(L, ld, ch, sub);
        } else if (!email && !strcmp(f, "url")) {
            /* the URL is the webhook's credential: never quote it */
            if (!str || (strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8)) || strpbrk(v, " \t\r\n"))
                problem(ld, sub, "%s: expected an http:// or https:// URL, got %s (the value is a secret: not shown)",
                        sub, str ? "a text of another form" : luaL_typename(L, -1));
            else
                replace(&ch->url, v);
        } else if (email && !strcmp(f, "smtp")) {
            if (!str || (strncasecmp(v, "smtp://", 7) && strncasecmp(v, "smtps://", 8)) || strpbrk(v, " \t\r\n"))
                problem(ld, sub, "%s: expected the server as smtp://HOST:PORT or smtps://HOST:PORT, got %s", sub,
                        str ? "a text of another form" : luaL_typename(L, -1));
            else if (strchr(v, '@'))
                problem(ld, sub, "%s: put the login in username and password, not in the URL", sub);
            else
                replace(&ch->url, v);
        } else if (email && !strcmp(f, "from")) {
            if (!str || !fy_config_is_address(v))
                problem(ld, sub, "%s: expected the sender's email address (name@domain), got %s%s%s", sub,
                        str ? "\"" : "", str ? v : luaL_typename(L, -1), str ? "\"" : "");
            else
                replace(&ch->from, v);
        } else if (email && !strcmp(f, "to")) {
            apply_channel_to(L, ld, ch, sub);
        } else if (email && (!strcmp(f, "username") || !strcmp(f, "password"))) {
            if (!str) problem(ld, sub, "%s: expected a non-empty string, got %s", sub, luaL_typename(L, -1));
            else replace(f[0] == 'u' ? &ch->username : &ch->password, v);
        } else if (email && !strcmp(f, "starttls")) {
            if (lua_type(L, -1) != LUA_TBOOLEAN)
                problem(ld, sub, "%s: expected true or false, got %s", sub, luaL_typename(L, -1));
            ch->starttls = lua_toboolean(L, -1);
        } else {
            problem(ld, sub, "unknown key '%s' (known keys for %s channel: %s)", sub, email ? "an email" : "a webhook",
                    known);
        }
        lua_pop(L, 1);
    }
    /* What a channel cannot do without. A value from os.getenv of a variable
     * that is not set is nil, so the key is simply absent: say so. */
    static const char *unset = " (is the environment variable it comes from set?)";
    if (!email) {
        lua_getfield(L, -1, "url");
        if (lua_isnil(L, -1)) problem(ld, key, "%s.url: missing: the URL to POST to%s", key, unset);
        lua_pop(L, 1);
    }
    if (email) {
        static const char *need[] = {"smtp", "from", "to"};
        for (size_t i = 0; i < 3; i++) {
            lua_getfield(L, -1, need[i]);
            if (lua_isnil(L, -1)) problem(ld, key, "%s.%s: missing: %s", key, need[i],
                                          i == 0 ? "the server, smtp://HOST:PORT or smtps://HOST:PORT"
                                          : i == 1 ? "the sender's address" : "the recipients' addresses");
            lua_pop(L, 1);
        }
        lua_getfield(L, -1, "username");
        int has_user = !lua_isnil(L, -1);
        lua_getfield(L, -2, "password");
        int has_pw = !lua_isnil(L, -1);
        lua_pop(L, 2);
        if (has_user != has_pw)
            problem(ld, key, "%s.%s: missing: username and password go together%s", key,
                    has_user ? "password" : "username", unset);
    }
}

static int channel_cmp(const void *a, const void *b) {
    return strcmp(((const struct fy_channel *)a)->name, ((const struct fy_channel *)b)->name);
}

/* alerts.channels = { NAME = { type = ..., ... } }, on top of the stack. */
static void apply_channels(lua_State *L, struct load *ld) {
    struct fy_config *cfg = ld->cfg;
    free_channels(cfg);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        char key[128];
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        snprintf(key, sizeof key, "alerts.channels.%.64s", name ? name : "?");
        if (!name || !channel_name_ok(name)) {
            if (name)
                problem(ld, key, "%s: a channel's name is a word of letters, digits, '_', '-' or '.' and not "
                        "\"log\" or \"owner\", got \"%.64s\"", key, name);
            else
                problem(ld, "alerts.channels", "alerts.channels: expected NAME = { type = ... }, got a %s key",
                        luaL_typename(L, -2));
        } else if (!lua_istable(L, -1)) {
            problem(ld, key, "%s: expected a table { type = \"webhook\" | \"email\", ... }, got %s", key,
                    luaL_typename(L, -1));
        } else {
            struct fy_channel *chs = realloc(cfg->alerts.channels, (cfg->alerts.nchannels + 1) * sizeof *chs);
            if (!chs) {
                problem(ld, "alerts.channels", "alerts.channels: out of memory");
                lua_pop(L, 2);
                return;
            }
            cfg->alerts.channels = chs;
            struct fy_channel *ch = &chs[cfg->alerts.nchannels++];
            *ch = (struct fy_channel){.name = strdup(name), .attempts = 3, .base = 1};
            apply_channel(L, ld, ch, key);
        }
        lua_pop(L, 1);
    }
    if (cfg->alerts.nchannels)
        qsort(cfg->alerts.channels, cfg->alerts.nchannels, sizeof *cfg->alerts.channels, channel_cmp);
}

/* alerts = { repeat = ..., channels = ..., owner = ... }, on top of the stack. */
static void apply_alerts(lua_State *L, struct load *ld) {
    struct fy_config *cfg = ld->cfg;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        char key[128], got[128];
        const char *f = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        snprintf(key, sizeof key, "alerts.%.64s", f);
        if (!strcmp(f, "repeat")) {
            if (duration_value(L, 1e9, &cfg->alerts.repeat) != FY_OK)
                problem(ld, key, "%s: expected a duration like \"4h\", got %s", key, shown(L, got, sizeof got));
        } else if (!strcmp(f, "channels")) {
            if (!lua_istable(L, -1))
                problem(ld, key, "%s: expected a table of NAME = { type = ... }, got %s", key, luaL_typename(L, -1));
            else
                apply_channels(L, ld);
        } else if (!strcmp(f, "owner")) {
            if (lua_type(L, -1) != LUA_TSTRING || !lua_rawlen(L, -1))
                problem(ld, key, "%s: expected the name of an email channel, got %s", key, luaL_typename(L, -1));
            else
                replace(&cfg->alerts.owner, lua_tostring(L, -1));
        } else {
            problem(ld, key, "unknown key '%s' (known keys in alerts: repeat, channels, owner)", key);
        }
        lua_pop(L, 1);
    }
    if (!cfg->alerts.owner) return;
    const struct fy_channel *ch = fy_config_channel(cfg, cfg->alerts.owner);
    if (!ch)
        problem(ld, "alerts.owner", "alerts.owner: no channel \"%s\" in alerts.channels", cfg->alerts.owner);
    else if (ch->type != FY_CHANNEL_EMAIL)
        problem(ld, "alerts.owner", "alerts.owner: \"%s\" is a webhook channel; the owner is sent email through an "
                "email channel", cfg->alerts.owner);
}

/* A loaded config's channel secrets go to redaction at once, so no log line,
 * error or stored text that follows can show them: a webhook's URL (and its
 * path, the part that carries the token in Slack's and Teams' URLs) and an
 * SMTP password. */
static void register_alert_secrets(const struct fy_config *cfg) {
    for (size_t i = 0; i < cfg->alerts.nchannels; i++) {
        const struct fy_channel *ch = &cfg->alerts.channels[i];
        if (ch->password) fy_secret_add(ch->password);
        if (ch->type != FY_CHANNEL_WEBHOOK || !ch->url) continue;
        fy_secret_add(ch->url);
        const char *path = strchr(strstr(ch->url, "://") + 3, '/');
        if (path && strlen(path) >= 8) fy_secret_add(path);
    }
}

/* Where the K_STRING key `name` is kept. */
static char **string_slot(struct fy_config *cfg, const char *name) {
    if (strcmp(name, "data_dir") == 0) return &cfg->data_dir;
    if (strcmp(name, "lualib_path") == 0) return &cfg->lualib_path;
    if (strcmp(name, "timezone") == 0) return &cfg->timezone;
    if (strcmp(name, "admin.listen") == 0) return &cfg->admin.listen;
    if (strcmp(name, "admin.token") == 0) return &cfg->admin.token;
    if (strcmp(name, "hooks.listen") == 0) return &cfg->hooks.listen;
    return &cfg->http.ca_file;
}

/* An http(s) URL prefix: scheme, host, an optional port and path; no
 * query, fragment, credentials or white space. */
static int url_prefix(const char *v) {
    const char *rest = strncasecmp(v, "https://", 8) == 0 ? v + 8 : strncasecmp(v, "http://", 7) == 0 ? v + 7 : NULL;
    return rest && *rest && *rest != '/' && !strpbrk(v, " \t\r\n?#@");
}

/* http.rewrite: requests whose URL starts with a key go to its value
 * instead (a vendor's sandbox, a proxy, `ferry test`'s fixture server).
 * Kept as from, to, from, to, ..., NULL, longest prefix first. */
static void apply_rewrite(lua_State *L, struct load *ld) {
    size_t n = 0, cap = 0;
    char **list = NULL;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING ||
            !url_prefix(lua_tostring(L, -2)) || !url_prefix(lua_tostring(L, -1))) {
            problem(ld, "http.rewrite", "http.rewrite: expected URL prefixes like \"https://api.example.com\" "
                    "= \"http://127.0.0.1:8080\" (no query or credentials), got %s = %s",
                    lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2),
                    lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
            lua_pop(L, 1);
            continue;
        }
        if (n + 3 > cap) {
            cap = cap ? cap * 2 : 8;
            char **grown = realloc(list, cap * sizeof *list);
            if (!grown) break;
            list = grown;
        }
        list[n++] = strdup(lua_tostring(L, -2));
        list[n++] = strdup(lua_tostring(L, -1));
        list[n] = NULL;
        lua_pop(L, 1);
    }
    /* longest prefix first, so "https://a.example.com/v2" wins over "https://a.example.com" */
    for (size_t i = 2; i < n; i += 2)
        for (size_t j = i; j >= 2 && strlen(list[j]) > strlen(list[j - 2]); j -= 2) {
            char *f = list[j], *t = list[j + 1];
            list[j] = list[j - 2], list[j + 1] = list[j - 1];
            list[j - 2] = f, list[j - 1] = t;
        }
    free_list(ld->cfg->http.rewrite);
    ld->cfg->http.rewrite = list;
}

/* Apply the value on top of L's stack to the key `k`, or report why not. */
static void apply(lua_State *L, struct load *ld, const struct key_spec *k) {
    struct fy_config *cfg = ld->cfg;
    const char *got = luaL_typename(L, -1);
    switch (k->type) {
    case K_STRING: {
        if (lua_type(L, -1) != LUA_TSTRING) goto bad_type;
        const char *v = lua_tostring(L, -1);
        char why[256];
        if (strcmp(k->name, "admin.metrics") == 0) {     /* kept as a flag, not a string */
            if (strcmp(v, "token") && strcmp(v, "open")) goto bad_value;
            cfg->admin.metrics_open = strcmp(v, "open") == 0;
            return;
        }
        if (strcmp(k->name, "timezone") == 0) {
            struct fy_tz *tz = fy_tz_load(v, why, sizeof why);
            if (!tz) {
                problem(ld, k->name, "%s: %s", k->name, why);
                return;
            }
            fy_tz_free(tz);
        } else if ((strcmp(k->name, "admin.listen") == 0 || strcmp(k->name, "hooks.listen") == 0) &&
                   fy_config_parse_listen(v, NULL, 0, NULL) != FY_OK) {
            goto bad_value;
        }
        replace(string_slot(cfg, k->name), v);
        return;
    }
    case K_STRING_LIST: {
        if (!lua_istable(L, -1)) goto bad_type;
        char **dirs = string_list(L, ld, k->name);
        if (!dirs) return;
        char ***slot = strcmp(k->name, "connector_dirs") == 0 ? &cfg->connector_dirs : &cfg->script_dirs;
        free_list(*slot);
        *slot = dirs;
        return;
    }
    case K_INT: {
        if (!lua_isinteger(L, -1)) goto bad_type;
        lua_Integer v = lua_tointeger(L, -1);
        if (strcmp(k->name, "batch_size") == 0) {
            if (v < 1 || v > 1000000) goto bad_value;
            cfg->batch_size = (int)v;
        } else if (strcmp(k->name, "http.max_redirects") == 0) {
            if (v < 0 || v > 50) goto bad_value;
            cfg->http.max_redirects = (int)v;
        } else {
            if (v < 1000) goto bad_value;
            cfg->limits.instructions = (uint64_t)v;
        }
        return;
    }
    case K_SIZE: {
        size_t v;
        if (lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0)
            v = (size_t)lua_tointeger(L, -1);
        else if (lua_type(L, -1) != LUA_TSTRING)
            goto bad_type;
        else if (fy_size_parse(lua_tostring(L, -1), &v) != FY_OK)
            goto bad_value;
        if (strcmp(k->name, "http.max_response_size") == 0) {
            if (v < 1024) goto bad_value;
            cfg->http.max_response_size = v;
            return;
        }
        if (strcmp(k->name, "hooks.max_body") == 0) {
            if (v < 1024) goto bad_value;
            cfg->hooks.max_body = v;
            return;
        }
        if (v < (1u << 20)) goto bad_value;
        cfg->limits.memory = v;
        return;
    }
    case K_DURATION: {
        double secs;
        char derr[128];
        if (lua_type(L, -1) == LUA_TNUMBER) secs = lua_tonumber(L, -1);
        else if (lua_type(L, -1) != LUA_TSTRING) goto bad_type;
        else if (fy_duration_parse(lua_tostring(L, -1), lua_rawlen(L, -1), &secs, derr, sizeof derr) != FY_OK)
            goto bad_value;
        int zero_ok = strcmp(k->name, "lock_wait") == 0 || strcmp(k->name, "shutdown_grace") == 0;
        if (!(secs > 0 || (zero_ok && secs == 0)) || secs > 1e9) goto bad_value;  /* NaN, negative, past 30 years */
        if (strcmp(k->name, "lock_wait") == 0) cfg->lock_wait = secs;
        else if (strcmp(k->name, "shutdown_grace") == 0) cfg->shutdown_grace = secs;
        else if (strcmp(k->name, "http.timeout") == 0) cfg->http.timeout = secs;
        else if (strcmp(k->name, "limits.call_time") == 0) cfg->limits.call_time = secs;
        else if (strcmp(k->name, "limits.run_time") == 0) cfg->limits.run_time = secs;
        else cfg->http.connect_timeout = secs;
        return;
    }
    case K_LEVEL:
        if (lua_type(L, -1) != LUA_TSTRING) goto bad_type;
        if (fy_log_level_parse(lua_tostring(L, -1), &cfg->log_level) != FY_OK) goto bad_value;
        return;
    case K_FORMAT:
        if (lua_type(L, -1) != LUA_TSTRING) goto bad_type;
        if (fy_log_format_parse(lua_tostring(L, -1), &cfg->log_format) != FY_OK) goto bad_value;
        return;
    case K_GRANTS:
        if (!lua_istable(L, -1)) goto bad_type;
        apply_grants(L, ld);
        return;
    case K_ALERTS:
        if (!lua_istable(L, -1)) goto bad_type;
        apply_alerts(L, ld);
        return;
    case K_REWRITE:
        if (!lua_istable(L, -1)) goto bad_type;
        apply_rewrite(L, ld);
        return;
    case K_DATABASES:
        if (!lua_istable(L, -1)) goto bad_type;
        apply_databases(L, ld);
        return;
    case K_SECTION:
        break;
    }
    return;
bad_type:
    problem(ld, k->name, "%s: expected %s, got %s", k->name, k->help, got);
    return;
bad_value:
    if (lua_type(L, -1) == LUA_TSTRING) {
        problem(ld, k->name, "%s: expected %s, got \"%s\"", k->name, k->help, lua_tostring(L, -1));
    } else {
        problem(ld, k->name, "%s: expected %s, got %s", k->name, k->help, luaL_tolstring(L, -1, NULL));
        lua_pop(L, 1);
    }
}

/* Walk the table on top of the stack; `prefix` is "" or "section.". */
static void walk(lua_State *L, struct load *ld, const char *prefix) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        char name[128], known[512];
        if (lua_type(L, -2) != LUA_TSTRING) {
            problem(ld, prefix, "%skeys must be names, got a %s key", prefix, luaL_typename(L, -2));
            lua_pop(L, 1);
            continue;
        }
        snprintf(name, sizeof name, "%s%s", prefix, lua_tostring(L, -2));
        const struct key_spec *k = find_key(name);
        if (!k) {
            known_keys(prefix, known, sizeof known);
            problem(ld, name, "unknown key '%s' (known keys%s%.*s: %s)", name, *prefix ? " in " : "",
                    *prefix ? (int)strlen(prefix) - 1 : 0, prefix, known);
        } else if (k->type != K_SECTION) {
            apply(L, ld, k);
        } else if (!lua_istable(L, -1)) {
            problem(ld, name, "%s: expected a table, got %s", name, luaL_typename(L, -1));
        } else {
            char sub[140];
            snprintf(sub, sizeof sub, "%s.", name);
            walk(L, ld, sub);
        }
        lua_pop(L, 1);
    }
}

static int problem_cmp(const void *a, const void *b) {
    const struct problem *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->seq - y->seq;
}

/* Copy the problems into err, in the order of their keys (a table's keys
 * come out of Lua in no fixed order), one a line: whole lines while they
 * fit, then how many were left out. Frees them. */
static void report(struct load *ld, char *err, size_t errlen) {
    if (ld->n) qsort(ld->problems, (size_t)ld->n, sizeof *ld->problems, problem_cmp);
    int total = ld->n + ld->lost;
    size_t used = 0;
    int shown = 0;
    for (; err && shown < ld->n; shown++) {
        const char *line = ld->problems[shown].text;
        size_t n = line ? strlen(line) : 0;
        char tail[64];
        int rest = total - shown - 1;
        int tlen = rest ? snprintf(tail, sizeof tail, "\n... and %d more problem%s", rest, rest == 1 ? "" : "s") : 0;
        if (used + (shown ? 1 : 0) + n + (size_t)tlen >= errlen) break;
        if (shown) err[used++] = '\n';
        memcpy(err + used, line, n);
        used += n;
    }
    if (err && errlen) {
        if (!shown && ld->n)                         /* not even the first line fits: cut it */
            snprintf(err, errlen, "%s", ld->problems[0].text ? ld->problems[0].text : "");
        else if (!shown && total)
            snprintf(err, errlen, "%s: out of memory while reading the config", ld->path);
        else if (shown < total)
            snprintf(err + used, errlen - used, "\n... and %d more problem%s", total - shown,
                     total - shown == 1 ? "" : "s");
        else
            err[used] = '\0';
    }
    for (int i = 0; i < ld->n; i++) {
        free(ld->problems[i].key);
        free(ld->problems[i].text);
    }
    free(ld->problems);
    ld->problems = NULL;
    ld->n = ld->lost = 0;
}

/* Make the relative path in *slot relative to `dir` (a real path, without
 * symlinks) instead of the working directory. Leading "./" and "../" are
 * taken off against `dir`, so "../data" from /srv/ferry/config reads
 * /srv/ferry/data; "." and "" are `dir` itself. */
static void anchor(char **slot, const char *dir) {
    const char *rel = *slot;
    if (!rel || rel[0] == '/') return;
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s", dir);
    for (;;) {
        if (rel[0] == '.' && (rel[1] == '/' || rel[1] == '\0')) {
            rel += 1;
        } else if (rel[0] == '.' && rel[1] == '.' && (rel[2] == '/' || rel[2] == '\0')) {
            char *slash = strrchr(base, '/');
            if (slash && slash != base) *slash = '\0';
            else snprintf(base, sizeof base, "/");
            rel += 2;
        } else {
            break;
        }
        while (*rel == '/') rel++;
    }
    struct fy_buf b = {0};
    if (!*rel) fy_buf_puts(&b, base);
    else fy_buf_printf(&b, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", rel);
    free(*slot);
    *slot = b.data;
}

/* Every path setting of cfg, built-in defaults included, made relative to
 * the directory of the config file `path`: the same config used from any
 * working directory reaches the same store, scripts and grants. */
static int anchor_paths(struct fy_config *cfg, const char *path, struct load *ld) {
    char *copy = strdup(path), dir[PATH_MAX];
    char *d = copy ? dirname(copy) : NULL;
    if (!d || !realpath(d, dir)) {
        problem(ld, "", "cannot find the directory of the config file: %s", strerror(errno));
        free(copy);
        return FY_ERR;
    }
    free(copy);
    anchor(&cfg->data_dir, dir);
    anchor(&cfg->lualib_path, dir);
    anchor(&cfg->http.ca_file, dir);
    for (char **s = cfg->script_dirs; s && *s; s++) anchor(s, dir);
    for (char **s = cfg->connector_dirs; s && *s; s++) anchor(s, dir);
    for (size_t i = 0; i < cfg->ngrants; i++) {
        anchor(&cfg->grants[i].script, dir);
        for (char **s = cfg->grants[i].dirs; s && *s; s++) anchor(s, dir);
    }
    return FY_OK;
}

#define CONFIG_MAX_STEPS 100000000    /* a config computes a few values, never loops */
#define CONFIG_MAX_SECONDS 5.0

static double config_deadline;          /* configs load one at a time, at start */

/* Count the config's instructions (in the state's extra space) and watch
 * the clock (an instruction may copy a long string): stop one that loops. */
static void config_hook(lua_State *L, lua_Debug *ar) {
    FY_UNUSED(ar);
    long *steps = lua_getextraspace(L);
    if ((*steps += 1000) > CONFIG_MAX_STEPS || fy_time_monotonic() > config_deadline)
        luaL_error(L, "the config ran more than %d instructions or %d s (a loop?)", CONFIG_MAX_STEPS,
                   (int)CONFIG_MAX_SECONDS);
}

/* The error value on top of L as text, whatever its type. */
static const char *error_text(lua_State *L) {
    if (lua_type(L, -1) == LUA_TSTRING) return lua_tostring(L, -1);
    return lua_type(L, -1) == LUA_TNIL ? "the config raised an error without a message"
                                       : "the config raised an error that is not a string";
}

int fy_config_load(struct fy_config *cfg, const char *path, char *err, size_t errlen) {
    struct load ld = {.cfg = cfg, .path = path};
    int rc = FY_ERR;
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "%s: out of memory", path);
        return FY_ERR;
    }
    luaL_openlibs(L);
    if (!lua_gethook(L)) {                        /* (a fuzz harness sets a tighter one) */
        *(long *)lua_getextraspace(L) = 0;
        config_deadline = fy_time_monotonic() + CONFIG_MAX_SECONDS;
        lua_sethook(L, config_hook, LUA_MASKCOUNT, 1000);
    }
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        snprintf(err, errlen, "%s", error_text(L));
        goto cleanup;
    }
    /* The config runs with a small environment: it may read the process
     * environment and compute values, nothing else. */
    lua_newtable(L);
    static const char *safe[] = {"tostring", "tonumber", "type", "pairs", "ipairs", "error", NULL};
    for (const char **s = safe; *s; s++) {
        lua_getglobal(L, *s);
        lua_setfield(L, -2, *s);
    }
    lua_newtable(L);
    lua_getglobal(L, "os");
    lua_getfield(L, -1, "getenv");
    lua_setfield(L, -3, "getenv");
    lua_pop(L, 1);
    lua_setfield(L, -2, "os");
    lua_setupvalue(L, -2, 1);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        if (lua_type(L, -1) == LUA_TSTRING) snprintf(err, errlen, "%s", lua_tostring(L, -1));
        else snprintf(err, errlen, "%s: %s", path, error_text(L));
        goto cleanup;
    }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: must return a table of settings, got %s", path, luaL_typename(L, -1));
        goto cleanup;
    }
    walk(L, &ld, "");
    if (!ld.n && !ld.lost) anchor_paths(cfg, path, &ld);
    if (ld.n || ld.lost) {
        report(&ld, err, errlen);
        goto cleanup;
    }
    replace(&cfg->path, path);
    register_alert_secrets(cfg);
    rc = FY_OK;
cleanup:
    lua_close(L);
    report(&ld, NULL, 0);                          /* frees what an early error left */
    if (rc != FY_OK) {
        fy_config_free(cfg);
        fy_config_defaults(cfg);
    }
    return rc;
}
