/* PostgreSQL: connection, tables and batches; see fy_pg.h. */
#include "fy_pg.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_secret.h"
#include "fy_time.h"

#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fy_pg {
    PGconn *conn;               /* NULL until the first job */
    char *name, *url;
    char *password;             /* from the config's password_env, read on the loop thread; NULL = none */
    double reconnect;           /* seconds a job keeps trying to connect */
    unsigned generation;        /* counts connections made: temporary tables live on one */
    atomic_int stopping;
};

static const struct { const char *name; enum fy_pg_type type; const char *sql; } types[] = {
    {"text", FY_PG_TEXT, "text"},           {"string", FY_PG_TEXT, "text"},
    {"timestamp", FY_PG_TIMESTAMP, "timestamptz"}, {"date", FY_PG_DATE, "date"},
    {"integer", FY_PG_INTEGER, "bigint"},   {"int", FY_PG_INTEGER, "bigint"},
    {"real", FY_PG_REAL, "double precision"}, {"number", FY_PG_REAL, "double precision"},
    {"numeric", FY_PG_NUMERIC, "numeric"},  {"boolean", FY_PG_BOOLEAN, "boolean"},
    {"json", FY_PG_JSON, "jsonb"},
};
#define NTYPES (sizeof types / sizeof types[0])

int fy_pg_type_parse(const char *name, enum fy_pg_type *type, const char **spelled) {
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(types[i].name, name) == 0) {
            *type = types[i].type;
            *spelled = types[i].name;
            return FY_OK;
        }
    return FY_ERR;
}

static const char *sql_type(enum fy_pg_type t) {
    for (size_t i = 0; i < NTYPES; i++) if (types[i].type == t) return types[i].sql;
    return "text";
}

/* Can an existing column of type `typname` (pg_type.typname, category
 * `cat`) hold what a column declared `t` is given? Text goes into any
 * string or enum type (the database checks the values); numbers into
 * numbers that keep them; exact numerics only into numeric. */
static int compatible(enum fy_pg_type t, const char *typname, char cat) {
    switch (t) {
    case FY_PG_TEXT: return cat == 'S' || cat == 'E' || !strcmp(typname, "uuid") || !strcmp(typname, "citext");
    case FY_PG_TIMESTAMP: return !strcmp(typname, "timestamptz") || !strcmp(typname, "timestamp");
    case FY_PG_DATE: return !strcmp(typname, "date");
    case FY_PG_INTEGER:
        return !strcmp(typname, "int8") || !strcmp(typname, "int4") || !strcmp(typname, "int2") ||
               !strcmp(typname, "numeric");
    case FY_PG_REAL: return !strcmp(typname, "float8") || !strcmp(typname, "float4") || !strcmp(typname, "numeric");
    case FY_PG_NUMERIC: return !strcmp(typname, "numeric");
    case FY_PG_BOOLEAN: return !strcmp(typname, "bool");
    case FY_PG_JSON: return !strcmp(typname, "jsonb") || !strcmp(typname, "json");
    }
    return 0;
}

void fy_pg_ident(struct fy_buf *out, const char *name) {
    fy_buf_putc(out, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"') fy_buf_putc(out, '"');
        fy_buf_putc(out, *p);
    }
    fy_buf_putc(out, '"');
}

/* ---- the connection ------------------------------------------------------ */

struct fy_pg *fy_pg_new(const struct fy_database *d) {
    struct fy_pg *pg = calloc(1, sizeof *pg);
    if (!pg) return NULL;
    pg->name = strdup(d->name);
    pg->url = strdup(d->url);
    /* read and registered for redaction here, on the loop thread: the
     * writer thread neither reads the environment nor changes the registry */
    const char *password = d->password_env ? getenv(d->password_env) : NULL;
    if (password && *password) {
        fy_secret_add(password);
        pg->password = strdup(password);
    }
    pg->reconnect = d->reconnect;
    atomic_init(&pg->stopping, 0);
    if (!pg->name || !pg->url || (password && *password && !pg->password)) {
        fy_pg_free(pg);
        return NULL;
    }
    return pg;
}

void fy_pg_free(struct fy_pg *pg) {
    if (!pg) return;
    if (pg->conn) PQfinish(pg->conn);
    free(pg->name);
    free(pg->url);
    if (pg->password) {
        memset(pg->password, 0, strlen(pg->password));
        free(pg->password);
    }
    free(pg);
}

void fy_pg_stop(struct fy_pg *pg) {
    atomic_store(&pg->stopping, 1);
}

/* Sleep `secs`, in slices, unless ferry is stopping: 0 when it is. */
static int backoff(struct fy_pg *pg, double secs) {
    while (secs > 0 && !atomic_load(&pg->stopping)) {
        double slice = secs < 0.1 ? secs : 0.1;
        struct timespec ts = {0, (long)(slice * 1e9)};
        nanosleep(&ts, NULL);
        secs -= slice;
    }
    return !atomic_load(&pg->stopping);
}

/* libpq's message without its "FATAL:  " and trailing newline. */
static void conn_message(PGconn *c, char *out, size_t cap) {
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    if (!m || !*m) m = "the server closed the connection";
    const char *f = strstr(m, "FATAL:  ");
    snprintf(out, cap, "%s", f ? f + 8 : m);
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' ')) out[--n] = '\0';
    for (char *p = out; *p; p++) if (*p == '\n') *p = ' ';
}

/* A connection failure that waiting will not mend: wrong credentials, a
 * role or database that does not exist, a refusal by pg_hba. Its class. */
static const char *permanent(const char *msg) {
    if (strstr(msg, "authentication failed") || strstr(msg, "no password supplied") ||
        strstr(msg, "password is required"))
        return "auth";
    if (strstr(msg, "pg_hba.conf") || strstr(msg, "permission denied")) return "permission";
    if (strstr(msg, "does not exist") && !strstr(msg, "No such file")) return "not_found";
    return NULL;
}

static void set_fatal(struct fy_pg_job *j, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_fatal(struct fy_pg_job *j, const char *cls, const char *fmt, ...) {
    /* not redacted here (the registry is the loop thread's): the run's
     * error is redacted where it is logged and stored, as every error is */
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    free(j->job.fatal);
    j->job.fatal = strdup(tmp);
    j->fatal_class = cls;
}

/* The server's notices ("relation already exists, skipping") are not
 * ferry's to print: libpq would write them to stderr. */
static void quiet(void *arg, const char *message) {
    FY_UNUSED(arg);
    FY_UNUSED(message);
}

/* Make sure pg->conn is up: connect, or connect again with backoff (0.25 s
 * doubling to 5 s) for up to `reconnect` seconds. FY_ERR with the job's
 * fatal error set. */
static int ensure_conn(struct fy_pg *pg, struct fy_pg_job *j, double patience) {
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) return FY_OK;
    double deadline = fy_time_now() + patience, delay = 0.25;
    char msg[512];
    for (;;) {
        if (pg->conn) PQfinish(pg->conn);
        /* the string first, so what follows overrides it; no password: libpq's own ways (.pgpass) */
        const char *keys[6] = {"dbname", "client_encoding", "application_name", "connect_timeout", NULL, NULL};
        const char *vals[6] = {pg->url, "UTF8", "ferry", "10", NULL, NULL};
        if (pg->password) keys[4] = "password", vals[4] = pg->password;
        pg->conn = PQconnectdbParams(keys, vals, 1);
        if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) {
            PQsetNoticeProcessor(pg->conn, quiet, NULL);
            PGresult *r = PQexec(pg->conn, "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO'; "
                                           "SET extra_float_digits = 1");
            int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (ok) {
                pg->generation++;
                return FY_OK;
            }
        }
        conn_message(pg->conn, msg, sizeof msg);
        const char *cls = permanent(msg);
        if (cls) {
            set_fatal(j, cls, "PostgreSQL database %s: %s", pg->name, msg);
            return FY_ERR;
        }
        double left = deadline - fy_time_now();
        if (left <= 0 || !backoff(pg, delay < left ? delay : left)) {
            set_fatal(j, "transient", "PostgreSQL database %s: cannot connect%s: %s", pg->name,
                      patience > 0 ? " (gave up reconnecting after databases.reconnect)" : "", msg);
            return FY_ERR;
        }
        if (delay < 5) delay *= 2;
    }
}

/* What to do about a failed statement. */
enum verdict { V_OK, V_RETRY, V_ROW, V_FATAL };

/* ROW: the data of some row (class 22 data exception, 23 integrity
 * constraint, 21000 a key twice); RETRY: the connection, the server going
 * down, a deadlock or serialization failure, resources (class 08, 57P,
 * 40, 53, 55P03); FATAL otherwise, with its class. */
static enum verdict judge(struct fy_pg *pg, PGresult *r, const char **cls) {
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    *cls = "transient";
    if (PQstatus(pg->conn) != CONNECTION_OK || !st) return V_RETRY;
    if (!strncmp(st, "08", 2) || !strncmp(st, "57P", 3) || !strncmp(st, "40", 2) || !strncmp(st, "53", 2) ||
        !strcmp(st, "55P03"))
        return V_RETRY;
    if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2) || !strcmp(st, "21000")) return V_ROW;
    if (!strcmp(st, "42501")) *cls = "permission";
    else if (!strncmp(st, "28", 2)) *cls = "auth";
    else if (!strncmp(st, "42", 2)) *cls = "schema_drift";     /* a table or column gone, a type changed */
    return V_FATAL;
}

/* The server's message for r: primary, then detail, on one line, capped. */
static void result_message(PGresult *r, PGconn *c, char *out, size_t cap) {
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *d = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
    if (!m) {
        conn_message(c, out, cap);
        return;
    }
    snprintf(out, cap, "%s%s%s", m, d ? " (" : "", d ? d : "");
    size_t n = strlen(out);
    if (d && n + 1 < cap) out[n++] = ')', out[n] = '\0';
    for (char *p = out; *p; p++) if (*p == '\n') *p = ' ';
}

/* Run sql (no parameters) expecting no rows. */
static PGresult *exec_cmd(struct fy_pg *pg, const char *sql) {
    PGresult *r = PQexec(pg->conn, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
        PQclear(r);
        return NULL;
    }
    return r ? r : PQmakeEmptyPGresult(pg->conn, PGRES_FATAL_ERROR);
}

/* A failed statement of job j: RETRY, or the job's fatal error (FATAL;
 * ROW is fatal too where no row is to blame). Clears r. */
static enum verdict failed(struct fy_pg *pg, struct fy_pg_job *j, PGresult *r, const char *what) {
    const char *cls;
    enum verdict v = judge(pg, r, &cls);
    if (v != V_RETRY) {
        char msg[1024];
        result_message(r, pg->conn, msg, sizeof msg);
        set_fatal(j, cls, "PostgreSQL database %s: %s: %s", pg->name, what, msg);
        if (!strcmp(cls, "schema_drift")) j->drift = 1;
        v = V_FATAL;
    }
    PQclear(r);
    if (PQstatus(pg->conn) == CONNECTION_OK) {
        PGresult *rb = PQexec(pg->conn, "ROLLBACK");
        PQclear(rb);
    }
    return v;
}

/* ---- FY_PG_TABLE: create, or check and extend ---------------------------- */

#define MIGRATE "migrate the table (ALTER TABLE ... ALTER COLUMN ... TYPE ..., or rename it and ferry creates it anew)"

/* The existing table's columns: name, typname, typcategory, format_type,
 * NOT NULL, has a default. */
static const char *COLUMNS_SQL =
    "SELECT a.attname, t.typname, t.typcategory, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
    "a.atthasdef FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

/* Unique indexes (the primary key among them) as lists of column names. */
static const char *UNIQUE_SQL =
    "SELECT array_to_string(array_agg(a.attname ORDER BY a.attname), ',') FROM pg_index i "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
    "WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL "
    "GROUP BY i.indexrelid";

static int key_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The declared keys, sorted and joined by commas (as UNIQUE_SQL lists them). */
static void key_list(const struct fy_pg_table *t, struct fy_buf *out) {
    const char *names[t->ncols];
    int n = 0;
    for (int i = 0; i < t->ncols; i++) if (t->cols[i].key) names[n++] = t->cols[i].name;
    qsort(names, (size_t)n, sizeof *names, key_cmp);
    for (int i = 0; i < n; i++) fy_buf_printf(out, "%s%s", i ? "," : "", names[i]);
}

/* Compare the table with the declaration; drift into msg. found[i] for
 * the declared columns it has, *has_synced / *has_run for ferry's own. */
static void check_columns(struct fy_pg_table *t, PGresult *r, int *found, int *has_synced, int *has_run,
                          struct fy_buf *msg) {
    for (int row = 0; row < PQntuples(r) && !msg->len; row++) {
        const char *name = PQgetvalue(r, row, 0), *typname = PQgetvalue(r, row, 1);
        char cat = PQgetvalue(r, row, 2)[0];
        const char *formatted = PQgetvalue(r, row, 3);
        int notnull = PQgetvalue(r, row, 4)[0] == 't', has_default = PQgetvalue(r, row, 5)[0] == 't';
        int i;
        for (i = 0; i < t->ncols && strcmp(t->cols[i].name, name) != 0; i++) {}
        if (i < t->ncols) {
            struct fy_pg_column *c = &t->cols[i];
            found[i] = 1;
            free(c->cast);
            c->cast = strdup(formatted);
            if (!compatible(c->type, typname, cat))
                fy_buf_printf(msg, "table %s: column %s is %s in the database but declared %s; change the "
                              "declaration, or " MIGRATE, t->name, name, formatted, c->type_name);
        } else if (!strcmp(name, "_synced_at")) {
            *has_synced = 1;
            free(t->synced_cast);
            t->synced_cast = strdup(formatted);
        } else if (!strcmp(name, "_run_id")) {
            *has_run = 1;
            free(t->run_cast);
            t->run_cast = strdup(formatted);
        } else if (notnull && !has_default) {
            fy_buf_printf(msg, "table %s: column %s is NOT NULL without a default in the database but not "
                          "declared, so no row can be written; declare it, or give it a default", t->name, name);
        }
    }
}

/* The key columns, comma-separated, each cast to its type when `cast`. */
static void put_keys(struct fy_buf *b, const struct fy_pg_table *t, int cast, const char *after) {
    for (int i = 0, first = 1; i < t->ncols; i++) {
        if (!t->cols[i].key) continue;
        fy_buf_puts(b, first ? "" : ", ");
        fy_pg_ident(b, t->cols[i].name);
        if (cast) fy_buf_printf(b, "::%s", t->cols[i].cast);
        fy_buf_puts(b, after);
        first = 0;
    }
}

/* INSERT ... SELECT ... ON CONFLICT from the staging table, each value
 * cast to its column's own type: the database judges every value, so a row
 * it refuses is found by the split in upsert_range. With `dedup`, one row
 * per key (the batch's last): ON CONFLICT cannot update a row twice in one
 * statement. Without it the statement skips a sort, for the usual batch
 * whose keys are all different (has_duplicates). malloc'd. */
static char *upsert_statement(const struct fy_pg_table *t, const char *stage, int dedup) {
    struct fy_buf b = {0};
    fy_buf_puts(&b, "INSERT INTO ");
    fy_pg_ident(&b, t->name);
    fy_buf_puts(&b, " (");
    for (int i = 0; i < t->ncols; i++) {
        fy_pg_ident(&b, t->cols[i].name);
        fy_buf_puts(&b, ", ");
    }
    fy_buf_puts(&b, "\"_synced_at\", \"_run_id\") SELECT ");
    if (dedup) {
        fy_buf_puts(&b, "DISTINCT ON (");
        put_keys(&b, t, 1, "");
        fy_buf_puts(&b, ") ");
    }
    for (int i = 0; i < t->ncols; i++) {
        fy_pg_ident(&b, t->cols[i].name);
        fy_buf_printf(&b, "::%s, ", t->cols[i].cast);
    }
    fy_buf_printf(&b, "$3::%s, $4::%s FROM %s WHERE _n BETWEEN $1 AND $2 ", t->synced_cast, t->run_cast, stage);
    if (dedup) {
        fy_buf_puts(&b, "ORDER BY ");
        put_keys(&b, t, 1, "");
        fy_buf_puts(&b, ", _n DESC ");
    }
    fy_buf_puts(&b, "ON CONFLICT (");
    put_keys(&b, t, 0, "");
    fy_buf_puts(&b, ") DO UPDATE SET ");
    for (int i = 0; i < t->ncols; i++) {
        if (t->cols[i].key) continue;
        fy_pg_ident(&b, t->cols[i].name);
        fy_buf_puts(&b, " = excluded.");
        fy_pg_ident(&b, t->cols[i].name);
        fy_buf_puts(&b, ", ");
    }
    fy_buf_puts(&b, "\"_synced_at\" = excluded.\"_synced_at\", \"_run_id\" = excluded.\"_run_id\"");
    char *sql = strdup(b.data);
    fy_buf_free(&b);
    return sql;
}

/* Build the statements an upsert uses, from the columns' casts. */
static void build_statements(struct fy_pg_table *t) {
    struct fy_buf b = {0}, stage = {0};
    fy_buf_printf(&stage, "ferry_stage_%d", t->id);
    fy_buf_printf(&b, "CREATE TEMPORARY TABLE IF NOT EXISTS %s (_n integer", stage.data);
    for (int i = 0; i < t->ncols; i++) {
        fy_buf_puts(&b, ", ");
        fy_pg_ident(&b, t->cols[i].name);
        fy_buf_puts(&b, " text");
    }
    fy_buf_puts(&b, ") ON COMMIT DELETE ROWS");
    free(t->stage_sql);
    t->stage_sql = strdup(b.data);
    free(t->upsert_sql);
    t->upsert_sql = upsert_statement(t, stage.data, 0);
    free(t->dedup_sql);
    t->dedup_sql = upsert_statement(t, stage.data, 1);
    t->stage_conn = 0;
    fy_buf_free(&b);
    fy_buf_free(&stage);
}

static enum verdict do_table(struct fy_pg *pg, struct fy_pg_job *j) {
    struct fy_pg_table *t = j->t;
    struct fy_buf sql = {0}, msg = {0}, keys = {0};
    int *found = calloc((size_t)t->ncols, sizeof *found), has_synced = 0, has_run = 0;
    enum verdict v = V_FATAL;
    const char *param[1] = {NULL};
    fy_pg_ident(&sql, t->name);                 /* to_regclass: found as CREATE TABLE would make it */
    char *regname = strdup(sql.data);
    fy_buf_reset(&sql);
    param[0] = regname;
    PGresult *r = exec_cmd(pg, "BEGIN");
    if (r) {
        v = failed(pg, j, r, "cannot begin a transaction");
        goto out;
    }
    /* one ferry at a time creates or alters a table */
    if ((r = exec_cmd(pg, "SELECT pg_advisory_xact_lock(hashtext('ferry.sink.postgres'))"))) {
        v = failed(pg, j, r, "cannot lock");
        goto out;
    }
    r = PQexecParams(pg->conn, COLUMNS_SQL, 1, NULL, param, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        v = failed(pg, j, r, "cannot read the table's columns");
        goto out;
    }
    int exists = PQntuples(r) > 0;
    check_columns(t, r, found, &has_synced, &has_run, &msg);
    PQclear(r);
    if (exists && !msg.len) {
        r = PQexecParams(pg->conn, UNIQUE_SQL, 1, NULL, param, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            v = failed(pg, j, r, "cannot read the table's indexes");
            goto out;
        }
        key_list(t, &keys);
        int unique = 0;
        for (int row = 0; row < PQntuples(r); row++) unique |= strcmp(PQgetvalue(r, row, 0), keys.data) == 0;
        PQclear(r);
        if (!unique)
            fy_buf_printf(&msg, "table %s: no primary key or unique index on (%s), the declared key: rows are "
                          "upserted by it (ON CONFLICT); add one (CREATE UNIQUE INDEX ON %s (%s)), or declare "
                          "the table's key", t->name, keys.data, t->name, keys.data);
    }
    if (msg.len) {
        set_fatal(j, "schema_drift", "%s", msg.data);
        j->drift = 1;
        r = PQexec(pg->conn, "ROLLBACK");
        PQclear(r);
        goto out;
    }
    if (!exists) {
        fy_buf_puts(&sql, "CREATE TABLE ");
        fy_pg_ident(&sql, t->name);
        fy_buf_puts(&sql, " (");
        for (int i = 0; i < t->ncols; i++) {
            fy_pg_ident(&sql, t->cols[i].name);
            fy_buf_printf(&sql, " %s%s, ", sql_type(t->cols[i].type), t->cols[i].key ? " NOT NULL" : "");
        }
        fy_buf_puts(&sql, "\"_synced_at\" timestamptz NOT NULL, \"_run_id\" text NOT NULL, PRIMARY KEY (");
        for (int i = 0, first = 1; i < t->ncols; i++) {
            if (!t->cols[i].key) continue;
            fy_buf_puts(&sql, first ? "" : ", ");
            fy_pg_ident(&sql, t->cols[i].name);
            first = 0;
        }
        fy_buf_puts(&sql, "))");
    } else {
        /* what the table lacks: declared columns added since, and ferry's
         * own two when the table was made by hand (with its constraints) */
        for (int i = 0; i < t->ncols; i++) {
            if (found[i]) continue;
            fy_buf_puts(&sql, "ALTER TABLE ");
            fy_pg_ident(&sql, t->name);
            fy_buf_puts(&sql, " ADD COLUMN ");
            fy_pg_ident(&sql, t->cols[i].name);
            fy_buf_printf(&sql, " %s; ", sql_type(t->cols[i].type));
        }
        if (!has_synced) {
            fy_buf_puts(&sql, "ALTER TABLE ");
            fy_pg_ident(&sql, t->name);
            fy_buf_puts(&sql, " ADD COLUMN \"_synced_at\" timestamptz; ");
        }
        if (!has_run) {
            fy_buf_puts(&sql, "ALTER TABLE ");
            fy_pg_ident(&sql, t->name);
            fy_buf_puts(&sql, " ADD COLUMN \"_run_id\" text; ");
        }
    }
    if (sql.len && (r = exec_cmd(pg, sql.data))) {
        v = failed(pg, j, r, exists ? "cannot add the new columns" : "cannot create the table");
        goto out;
    }
    if ((r = exec_cmd(pg, "COMMIT"))) {
        v = failed(pg, j, r, "cannot commit");
        goto out;
    }
    for (int i = 0; i < t->ncols; i++)
        if (!found[i]) {
            free(t->cols[i].cast);
            t->cols[i].cast = strdup(sql_type(t->cols[i].type));
        }
    if (!has_synced) {
        free(t->synced_cast);
        t->synced_cast = strdup("timestamptz");
    }
    if (!has_run) {
        free(t->run_cast);
        t->run_cast = strdup("text");
    }
    build_statements(t);
    v = V_OK;
out:
    free(regname);
    free(found);
    fy_buf_free(&sql);
    fy_buf_free(&msg);
    fy_buf_free(&keys);
    return v;
}

/* ---- FY_PG_UPSERT -------------------------------------------------------- */

/* A text value for COPY's text format: \ tab newline and carriage return
 * escaped (the loop thread refused NUL and invalid UTF-8 when packing). */
static void copy_text(struct fy_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '\\': fy_buf_append(b, "\\\\", 2); break;
        case '\t': fy_buf_append(b, "\\t", 2); break;
        case '\n': fy_buf_append(b, "\\n", 2); break;
        case '\r': fy_buf_append(b, "\\r", 2); break;
        default: fy_buf_putc(b, c);
        }
    }
}

/* A double as the shortest text that reads back as the same double. */
static void put_real(struct fy_buf *b, double d) {
    if (isnan(d)) { fy_buf_puts(b, "NaN"); return; }
    if (isinf(d)) { fy_buf_puts(b, d > 0 ? "Infinity" : "-Infinity"); return; }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    fy_buf_puts(b, tmp);
}

/* The batch as COPY text: "_n \t cell \t cell ... \n" per row not skipped. */
static void copy_rows(const struct fy_pg_job *j, struct fy_buf *b) {
    const struct fy_wjob *job = &j->job;
    for (int r = 0; r < job->nrows; r++) {
        if (job->skip[r]) continue;
        fy_buf_printf(b, "%d", r + 1);
        const struct fy_cell *c = job->cells + (size_t)r * (size_t)job->ncells;
        for (int i = 0; i < job->ncells; i++) {
            fy_buf_putc(b, '\t');
            switch (c[i].type) {
            case FY_CELL_NULL: fy_buf_append(b, "\\N", 2); break;
            case FY_CELL_BOOL: fy_buf_puts(b, c[i].v.i ? "true" : "false"); break;
            case FY_CELL_INT: fy_buf_printf(b, "%lld", (long long)c[i].v.i); break;
            case FY_CELL_REAL: put_real(b, c[i].v.d); break;
            case FY_CELL_TEXT: copy_text(b, job->arena + c[i].v.s.off, c[i].v.s.len); break;
            }
        }
        fy_buf_putc(b, '\n');
    }
}

static enum verdict copy_in(struct fy_pg *pg, struct fy_pg_job *j) {
    struct fy_buf b = {0}, sql = {0};
    fy_buf_printf(&sql, "COPY ferry_stage_%d FROM STDIN", j->t->id);
    PGresult *r = PQexec(pg->conn, sql.data);
    fy_buf_free(&sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) return failed(pg, j, r, "cannot start COPY");
    PQclear(r);
    copy_rows(j, &b);
    int ok = 1;
    for (size_t off = 0; ok && off < b.len; off += 1 << 20) {
        size_t n = b.len - off < (1u << 20) ? b.len - off : 1u << 20;
        ok = PQputCopyData(pg->conn, b.data + off, (int)n) == 1;
    }
    fy_buf_free(&b);
    if (PQputCopyEnd(pg->conn, ok ? NULL : "ferry: the connection failed while sending") != 1) ok = 0;
    r = PQgetResult(pg->conn);
    enum verdict v = PQresultStatus(r) == PGRES_COMMAND_OK ? V_OK : failed(pg, j, r, "cannot COPY the batch");
    if (v == V_OK) PQclear(r);
    while ((r = PQgetResult(pg->conn))) PQclear(r);
    if (v == V_OK && !ok) v = V_RETRY;
    return v;
}

/* A hash of row r's key cells. */
static uint64_t key_hash(const struct fy_pg_table *t, const struct fy_wjob *job, int r) {
    uint64_t h = 1469598103934665603ull;            /* FNV-1a */
    const struct fy_cell *c = job->cells + (size_t)r * (size_t)job->ncells;
    for (int i = 0; i < t->ncols; i++) {
        if (!t->cols[i].key) continue;
        const unsigned char *p;
        size_t n;
        if (c[i].type == FY_CELL_TEXT) p = (const unsigned char *)job->arena + c[i].v.s.off, n = c[i].v.s.len;
        else p = (const unsigned char *)&c[i].v, n = sizeof c[i].v;
        h = (h ^ (uint64_t)c[i].type) * 1099511628211ull;
        for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ull;
    }
    return h;
}

static int same_key(const struct fy_pg_table *t, const struct fy_wjob *job, int a, int b) {
    const struct fy_cell *x = job->cells + (size_t)a * (size_t)job->ncells;
    const struct fy_cell *y = job->cells + (size_t)b * (size_t)job->ncells;
    for (int i = 0; i < t->ncols; i++) {
        if (!t->cols[i].key) continue;
        if (x[i].type != y[i].type) return 0;
        if (x[i].type == FY_CELL_TEXT) {
            if (x[i].v.s.len != y[i].v.s.len ||
                memcmp(job->arena + x[i].v.s.off, job->arena + y[i].v.s.off, x[i].v.s.len) != 0)
                return 0;
        } else if (memcmp(&x[i].v, &y[i].v, sizeof x[i].v) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Does a key come twice among the staged rows (as sent: "1" and 1 are
 * two keys here and one to an integer column; the database then refuses
 * the pair, and the split finds them)? */
static int has_duplicates(const struct fy_pg_table *t, const struct fy_wjob *job) {
    size_t cap = 16;
    while (cap < (size_t)job->nrows * 2) cap *= 2;
    int *slots = malloc(cap * sizeof *slots), dup = 0;
    if (!slots) return 1;                             /* the statement that is always right */
    for (size_t i = 0; i < cap; i++) slots[i] = -1;
    for (int r = 0; r < job->nrows && !dup; r++) {
        if (job->skip[r]) continue;
        size_t at = (size_t)key_hash(t, job, r) & (cap - 1);
        while (slots[at] >= 0 && !(dup = same_key(t, job, slots[at], r))) at = (at + 1) & (cap - 1);
        slots[at] = r;
    }
    free(slots);
    return dup;
}

/* Rows in [a, b] that were staged (not failed while packing). */
static int staged(const struct fy_wjob *job, int a, int b) {
    int n = 0;
    for (int r = a; r <= b; r++) n += !job->skip[r - 1];
    return n;
}

/* Insert rows a..b of the stage under a savepoint. A refusal because of a
 * row's data splits the range in two, down to the row to blame, which
 * fails with the database's message; the others load. V_OK: done. */
static enum verdict upsert_range(struct fy_pg *pg, struct fy_pg_job *j, int a, int b) {
    struct fy_wjob *job = &j->job;
    int n = staged(job, a, b);
    if (n == 0) return V_OK;
    PGresult *r = exec_cmd(pg, "SAVEPOINT ferry_rows");
    if (r) return failed(pg, j, r, "cannot make a savepoint");
    char sa[16], sb[16];
    snprintf(sa, sizeof sa, "%d", a);
    snprintf(sb, sizeof sb, "%d", b);
    const char *params[4] = {sa, sb, j->synced, j->run_id};
    char name[32];
    snprintf(name, sizeof name, "ferry_%s_%d", j->dedup ? "dd" : "up", j->t->id);
    r = PQexecPrepared(pg->conn, name, 4, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        if ((r = exec_cmd(pg, "RELEASE SAVEPOINT ferry_rows"))) return failed(pg, j, r, "cannot release a savepoint");
        job->loaded += n;
        return V_OK;
    }
    const char *cls;
    if (judge(pg, r, &cls) != V_ROW) return failed(pg, j, r, "cannot write the batch");
    char msg[1024];
    result_message(r, pg->conn, msg, sizeof msg);
    PQclear(r);
    if ((r = exec_cmd(pg, "ROLLBACK TO SAVEPOINT ferry_rows"))) return failed(pg, j, r, "cannot roll back");
    if (n == 1) {
        int row = a;
        while (job->skip[row - 1]) row++;
        fy_wjob_fail(job, row, msg);
        return V_OK;
    }
    int mid = a + (b - a) / 2;
    enum verdict v = upsert_range(pg, j, a, mid);
    return v == V_OK ? upsert_range(pg, j, mid + 1, b) : v;
}

static enum verdict do_upsert(struct fy_pg *pg, struct fy_pg_job *j) {
    PGresult *r;
    if (!j->t->upsert_sql) {
        set_fatal(j, "transient", "table %s: not ready (its creation failed)", j->t->name);
        return V_FATAL;
    }
    if (j->t->stage_conn != pg->generation) {
        /* once per connection: the staging table, and the two statements
         * prepared, so a batch is not parsed and planned anew each time */
        char name[32];
        if ((r = exec_cmd(pg, j->t->stage_sql))) return failed(pg, j, r, "cannot create the staging table");
        for (int dedup = 0; dedup < 2; dedup++) {
            snprintf(name, sizeof name, "ferry_%s_%d", dedup ? "dd" : "up", j->t->id);
            r = PQprepare(pg->conn, name, dedup ? j->t->dedup_sql : j->t->upsert_sql, 4, NULL);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) return failed(pg, j, r, "cannot prepare the upsert");
            PQclear(r);
        }
        j->t->stage_conn = pg->generation;
    }
    if ((r = exec_cmd(pg, "BEGIN"))) return failed(pg, j, r, "cannot begin a transaction");
    enum verdict v = copy_in(pg, j);
    if (v != V_OK) return v;
    j->dedup = has_duplicates(j->t, &j->job);
    if ((v = upsert_range(pg, j, 1, j->job.nrows)) != V_OK) return v;
    if ((r = exec_cmd(pg, "COMMIT"))) return failed(pg, j, r, "cannot commit");
    return V_OK;
}

/* ---- FY_PG_QUERY, FY_PG_FRESHNESS ---------------------------------------- */

static enum verdict do_query(struct fy_pg *pg, struct fy_pg_job *j) {
    /* without parameters, several statements may go at once (a view and its comment) */
    PGresult *r = j->nparams ? PQexecParams(pg->conn, j->sql, j->nparams, NULL, (const char *const *)j->params,
                                            NULL, NULL, 0)
                             : PQexec(pg->conn, j->sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK) {
        j->res = r;
        return V_OK;
    }
    return failed(pg, j, r, "query failed");
}

static enum verdict do_freshness(struct fy_pg *pg, struct fy_pg_job *j) {
    const struct fy_freshness *f = j->fresh;
    PGresult *r = exec_cmd(pg, "CREATE TABLE IF NOT EXISTS ferry_freshness (integration text PRIMARY KEY, "
                               "last_good_run text, last_good_at timestamptz, age_seconds double precision, "
                               "status text, run_id text, updated_at timestamptz)");
    if (r) return failed(pg, j, r, "cannot create ferry_freshness");
    char age[40];
    snprintf(age, sizeof age, "%.3f", f->age_seconds);
    const char *params[7] = {f->integration, *f->last_good_run ? f->last_good_run : NULL,
                             *f->last_good_at ? f->last_good_at : NULL, f->age_seconds >= 0 ? age : NULL,
                             f->status, f->run_id, f->updated_at};
    r = PQexecParams(pg->conn,
                     "INSERT INTO ferry_freshness (integration, last_good_run, last_good_at, age_seconds, status, "
                     "run_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (integration) DO UPDATE "
                     "SET last_good_run = excluded.last_good_run, last_good_at = excluded.last_good_at, "
                     "age_seconds = excluded.age_seconds, status = excluded.status, run_id = excluded.run_id, "
                     "updated_at = excluded.updated_at",
                     7, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return failed(pg, j, r, "cannot write ferry_freshness");
    PQclear(r);
    return V_OK;
}

/* ---- the job ------------------------------------------------------------- */

/* Undo what an attempt at the job wrote into it: rows loaded, and rows
 * the database refused (those refused while packing, the first `keep`
 * failures, stay). */
static void forget_rows(struct fy_wjob *job, int keep) {
    job->loaded = 0;
    for (int i = keep; i < job->nfails; i++) {
        job->skip[job->fails[i].row - 1] = 0;
        free(job->fails[i].reason);
    }
    job->nfails = keep;
}

void fy_pg_write(void *arg, struct fy_wjob *job) {
    struct fy_pg *pg = arg;
    struct fy_pg_job *j = (struct fy_pg_job *)job;
    int packed_fails = job->nfails, attempts = 0;
    /* a freshness row is not worth waiting for a server that is down */
    double patience = j->op == FY_PG_FRESHNESS ? 0 : pg->reconnect;
    double deadline = fy_time_now() + patience;
    for (;;) {
        if (ensure_conn(pg, j, attempts ? deadline - fy_time_now() : patience) != FY_OK) return;
        enum verdict v = V_FATAL;
        switch (j->op) {
        case FY_PG_TABLE: v = do_table(pg, j); break;
        case FY_PG_UPSERT: v = do_upsert(pg, j); break;
        case FY_PG_QUERY: v = do_query(pg, j); break;
        case FY_PG_FRESHNESS: v = do_freshness(pg, j); break;
        }
        if (v != V_RETRY) {
            if (j->job.fatal) forget_rows(job, packed_fails);
            return;
        }
        /* the connection went, or the server asked to try again: all of
         * the job again, from a clean slate (its transaction is gone) */
        attempts++;
        forget_rows(job, packed_fails);
        if (fy_time_now() >= deadline || !backoff(pg, attempts < 4 ? 0.25 * attempts : 1)) {
            char msg[512];
            conn_message(pg->conn, msg, sizeof msg);
            set_fatal(j, "transient", "PostgreSQL database %s: gave up after %d attempts: %s", pg->name, attempts,
                      msg);
            return;
        }
    }
}

void fy_pg_job_free(struct fy_pg_job *j) {
    if (!j) return;
    free(j->run_id);
    free(j->sql);
    for (int i = 0; i < j->nparams; i++) free(j->params[i]);
    free(j->params);
    if (j->res) PQclear(j->res);
    fy_wjob_free(&j->job);
}
