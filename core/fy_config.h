/* Engine configuration: a Lua file that returns a table (config/ferry.lua).
 * Every key has a built-in default, so the engine runs with no file at all.
 * Unknown keys, wrong types and values out of range are errors naming the
 * key, all of them reported at once. */
#ifndef FY_CONFIG_H
#define FY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "fy_log.h"

struct fy_limits {
    size_t memory;           /* bytes one integration's lua_State may hold */
    uint64_t instructions;   /* VM instructions a hook may run without returning or emitting */
    double call_time;        /* seconds a script may run without handing control back */
    double run_time;         /* seconds one run may take, waiting included */
};

/* What the admin grants one integration beyond the sandbox (config key
 * `integrations`, keyed by the integration's name; "*" for any without an
 * entry of its own). */
struct fy_grant {
    char *name;              /* the integration's name, or "*" */
    char *script;            /* if set, the grant holds only for this script file */
    char **secrets;          /* environment variables ctx:secret may read (NULL-terminated) */
    char **dirs;             /* extra directories its readers may open (NULL-terminated) */
    int trusted;             /* lift the file restrictions: io, os, any path */
    char **databases;        /* config `databases` its sinks may write to (NULL-terminated) */
};

/* A PostgreSQL database scripts may load into (config `databases`, keyed by
 * the name scripts use: ferry.sink.postgres { database = NAME }). */
struct fy_database {
    char *name;
    char *url;               /* libpq connection string, URI or key=value; never a password */
    char *password_env;      /* environment variable holding the password; NULL = libpq's own ways */
    double reconnect;        /* seconds a batch keeps trying to reach the server before it fails */
};

/* One alert channel (config `alerts.channels`, keyed by its name). */
enum fy_channel_type { FY_CHANNEL_WEBHOOK, FY_CHANNEL_EMAIL };

struct fy_channel {
    char *name;              /* as scripts name it: "ops" or "webhook:ops" */
    enum fy_channel_type type;
    char *url;               /* webhook: where to POST (a secret); email: the SMTP server, smtp:// or smtps:// */
    char *from;              /* email: the sender's address */
    char **to;               /* email: recipients (NULL-terminated) */
    char *username;          /* email: SMTP login, NULL = none */
    char *password;          /* email: a secret */
    int starttls;            /* email: require STARTTLS on smtp:// */
    int attempts;            /* tries per message, 1 = no retry */
    double base;             /* first backoff cap, seconds; doubles each retry */
};

struct fy_config {
    char *path;              /* file it came from; NULL when built-in defaults */
    char *data_dir;          /* where ferry writes tables, quarantine and state */
    char **script_dirs;      /* where integration scripts live (NULL-terminated) */
    char **connector_dirs;   /* more places like contrib/ for require (NULL-terminated; NULL = none) */
    char *lualib_path;       /* directory holding ferry/prelude.lua etc.; NULL = found next to the binary */
    enum fy_log_level log_level;
    enum fy_log_format log_format;
    struct fy_limits limits;
    int batch_size;          /* records per load call unless a script sets its own */
    double lock_wait;        /* seconds a writer waits for another's data directory */
    char *timezone;          /* schedules' time zone unless a script names one ("UTC") */
    double shutdown_grace;   /* seconds serve lets runs finish after SIGTERM */
    struct {                 /* the admin API of ferry serve */
        char *listen;        /* "127.0.0.1:8787" */
        char *token;         /* bearer token; NULL = none (loopback only) */
        int metrics_open;    /* admin.metrics = "open": /metrics needs no token even off loopback */
    } admin;
    struct {                 /* ferry serve's webhook listener (POST /hooks/PATH) */
        char *listen;        /* "127.0.0.1:8788" */
        size_t max_body;     /* larger bodies are refused with 413, unread */
    } hooks;
    struct fy_grant *grants; /* per-integration grants, ngrants of them */
    struct fy_database *databases;   /* ndatabases of them */
    size_t ndatabases;
    size_t ngrants;
    struct {                 /* defaults for every HTTP client */
        char *ca_file;       /* extra CA bundle; NULL = the system's */
        double timeout;      /* whole request, seconds */
        double connect_timeout;
        size_t max_response_size;
        int max_redirects;
        char **rewrite;      /* URL prefix, its replacement, ..., NULL (longest first); NULL = none */
    } http;
    struct {                 /* where alerts go (fy_notify.c sends, fy_alert.c decides) */
        double repeat;       /* seconds between re-sends of an open alert */
        char *owner;         /* the email channel the target "owner" sends through; NULL = none */
        struct fy_channel *channels;   /* nchannels of them, in name order */
        size_t nchannels;
    } alerts;
};

/* Fill `cfg` with the built-in defaults. */
void fy_config_defaults(struct fy_config *cfg);

/* Load `path` over the defaults. On error returns FY_ERR with every problem
 * found in `err`, one a line ("FILE: KEY: message"), sorted by key; when
 * they do not all fit, whole lines and then "... and N more problems".
 * `cfg` is then left with defaults. */
int fy_config_load(struct fy_config *cfg, const char *path, char *err, size_t errlen);

void fy_config_free(struct fy_config *cfg);

/* The grant that applies to integration `name` (its own entry, else "*"),
 * or NULL when the admin granted it nothing. */
const struct fy_grant *fy_config_grant(const struct fy_config *cfg, const char *name);

/* The database called `name`, or NULL. */
const struct fy_database *fy_config_database(const struct fy_config *cfg, const char *name);

/* The channel called `name` (no "TYPE:" prefix), or NULL. */
const struct fy_channel *fy_config_channel(const struct fy_config *cfg, const char *name);
const char *fy_channel_type_name(enum fy_channel_type type);

/* Does s look like a mailbox, "local@domain", with nothing a mail header or
 * an SMTP command would read as syntax (spaces, <>, quotes, line breaks)? */
int fy_config_is_address(const char *s);

/* Split a listen address "HOST:PORT" ("127.0.0.1:8787", "[::1]:8787",
 * "localhost:0") into host (brackets removed) and port (0-65535); host and
 * port may be NULL to only check it. FY_ERR if malformed. */
int fy_config_parse_listen(const char *s, char *host, size_t hostcap, int *port);

/* Parse "256MB", "1GiB", "512KB" or a plain byte count. FY_ERR if malformed. */
int fy_size_parse(const char *s, size_t *out);

#endif
