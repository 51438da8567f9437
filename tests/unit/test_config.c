/* Configuration loading: defaults, every key, and the errors that name it. */
#include "fy_common.h"
#include "fy_config.h"
#include "testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[] = "/tmp/ferry-test-config-XXXXXX";

/* Write `text` to the temp config and load it; returns the rc, err filled. */
static int load(struct fy_config *cfg, const char *text, char *err, size_t errlen) {
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    fy_config_defaults(cfg);
    return fy_config_load(cfg, path, err, errlen);
}

int main(void) {
    const struct fy_grant *g;
    struct fy_config cfg;
    char err[512];
    int fd = mkstemp(path);
    close(fd);

    fy_config_defaults(&cfg);
    fy_test_cond("default data_dir", strcmp(cfg.data_dir, "data") == 0);
    fy_test_cond("default batch size", cfg.batch_size == 500);
    fy_test_cond("default memory limit 256 MiB", cfg.limits.memory == 256u << 20);
    fy_test_cond("default script dir", strcmp(cfg.script_dirs[0], "scripts") == 0 && !cfg.script_dirs[1]);
    fy_config_free(&cfg);

    int rc = load(&cfg, "return { data_dir = '/var/lib/ferry', batch_size = 42, script_dirs = { 'a', 'b' },\n"
                        "  log = { level = 'warn', format = 'text' },\n"
                        "  limits = { memory = '64MB', instructions = 5000 } }\n", err, sizeof err);
    fy_test_cond("full config loads", rc == FY_OK);
    fy_test_cond("data_dir set", strcmp(cfg.data_dir, "/var/lib/ferry") == 0);
    fy_test_cond("batch_size set", cfg.batch_size == 42);
    fy_test_cond("script_dirs set, relative to the config's directory",
                 !strcmp(cfg.script_dirs[0], "/tmp/a") && !strcmp(cfg.script_dirs[1], "/tmp/b") && !cfg.script_dirs[2]);
    fy_test_cond("log level", cfg.log_level == FY_LOG_WARN);
    fy_test_cond("log format", cfg.log_format == FY_LOG_TEXT);
    fy_test_cond("memory 64MB", cfg.limits.memory == 64u << 20);
    fy_test_cond("instructions", cfg.limits.instructions == 5000);
    fy_test_cond("path remembered", cfg.path && strcmp(cfg.path, path) == 0);
    fy_config_free(&cfg);

    rc = load(&cfg, "return { data_dir = './d', lualib_path = '../lib', http = { ca_file = 'ca.pem' },\n"
                    "  integrations = { x = { dirs = { '/abs', 'rel', '.' }, script = 's/x.lua' } } }", err, sizeof err);
    g = fy_config_grant(&cfg, "x");
    fy_test_cond("every relative path follows the config file's directory",
                 rc == FY_OK && !strcmp(cfg.data_dir, "/tmp/d") && !strcmp(cfg.lualib_path, "/lib") &&
                 !strcmp(cfg.http.ca_file, "/tmp/ca.pem") && g && !strcmp(g->script, "/tmp/s/x.lua") &&
                 !strcmp(g->dirs[0], "/abs") && !strcmp(g->dirs[1], "/tmp/rel") && !strcmp(g->dirs[2], "/tmp"));
    fy_test_cond("the defaults too, when a config file is used", !strcmp(cfg.script_dirs[0], "/tmp/scripts"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { data_dir = '.././../x/../y', script_dirs = { './', '..', 'a/../b' } }", err, sizeof err);
    fy_test_cond("leading ./ and ../ are taken off against the config's directory, the rest kept",
                 rc == FY_OK && !strcmp(cfg.data_dir, "/x/../y") && !strcmp(cfg.script_dirs[0], "/tmp") &&
                 !strcmp(cfg.script_dirs[1], "/") && !strcmp(cfg.script_dirs[2], "/tmp/a/../b"));
    fy_config_free(&cfg);

    setenv("FERRY_TEST_DIR", "/from/env", 1);
    rc = load(&cfg, "return { data_dir = os.getenv('FERRY_TEST_DIR') or 'x' }", err, sizeof err);
    fy_test_cond("os.getenv is available", rc == FY_OK && strcmp(cfg.data_dir, "/from/env") == 0);
    fy_config_free(&cfg);

    fy_config_defaults(&cfg);
    fy_test_cond("default call_time 60 s, run_time 6 h", cfg.limits.call_time == 60 && cfg.limits.run_time == 21600);
    fy_test_cond("no grants by default", cfg.ngrants == 0 && fy_config_grant(&cfg, "x") == NULL);
    fy_config_free(&cfg);

    rc = load(&cfg, "return { limits = { call_time = '2s', run_time = '1h' },\n"
                    "  integrations = { crm = { secrets = { 'CRM_KEY', 'CRM_ID' }, dirs = { '/srv/x' } },\n"
                    "    ['*'] = { trusted = true }, pinned = { script = '/s/p.lua', trusted = false } } }", err, sizeof err);
    fy_test_cond("grants and time limits load", rc == FY_OK);
    fy_test_cond("call_time and run_time", cfg.limits.call_time == 2 && cfg.limits.run_time == 3600);
    g = fy_config_grant(&cfg, "crm");
    fy_test_cond("a named grant", g && !strcmp(g->name, "crm") && !g->trusted);
    fy_test_cond("its secrets", g && !strcmp(g->secrets[0], "CRM_KEY") && !strcmp(g->secrets[1], "CRM_ID") && !g->secrets[2]);
    fy_test_cond("its dirs", g && !strcmp(g->dirs[0], "/srv/x") && !g->dirs[1]);
    g = fy_config_grant(&cfg, "other");
    fy_test_cond("an integration without an entry gets '*'", g && !strcmp(g->name, "*") && g->trusted);
    g = fy_config_grant(&cfg, "pinned");
    fy_test_cond("a pinned grant keeps its script", g && g->script && !strcmp(g->script, "/s/p.lua") && !g->trusted);
    fy_config_free(&cfg);

    rc = load(&cfg, "return { integrations = { crm = { secret = { 'X' } } } }", err, sizeof err);
    fy_test_cond("a misspelt grant key is an error naming it",
                 rc == FY_ERR && strstr(err, "integrations[\"crm\"].secret") && strstr(err, "known keys: secrets"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { integrations = { crm = { trusted = 'yes' } } }", err, sizeof err);
    fy_test_cond("trusted must be a boolean", rc == FY_ERR && strstr(err, "expected true or false"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { integrations = { crm = { secrets = { 1 } } } }", err, sizeof err);
    fy_test_cond("secrets must be strings", rc == FY_ERR && strstr(err, "secrets[1]"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { limits = { run_time = 'soon' } }", err, sizeof err);
    fy_test_cond("a bad run_time names the key", rc == FY_ERR && strstr(err, "limits.run_time"));
    fy_config_free(&cfg);

    rc = load(&cfg, "return { data_dri = 'x' }", err, sizeof err);
    fy_test_cond("unknown key rejected", rc == FY_ERR);
    fy_test_cond("unknown key named", strstr(err, "unknown key 'data_dri'") != NULL);
    fy_test_cond("error names the file", strstr(err, path) != NULL);
    fy_test_cond("defaults restored after an error", strcmp(cfg.data_dir, "data") == 0);
    fy_config_free(&cfg);

    rc = load(&cfg, "return { log = { levle = 'info' } }", err, sizeof err);
    fy_test_cond("nested unknown key named with its section", rc == FY_ERR && strstr(err, "'log.levle'"));
    fy_test_cond("nested unknown key lists the known ones", strstr(err, "level, format") != NULL);
    fy_config_free(&cfg);

    rc = load(&cfg, "return { batch_size = 'ten' }", err, sizeof err);
    fy_test_cond("wrong type names the key", rc == FY_ERR && strstr(err, "batch_size: expected an integer"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { batch_size = 0 }", err, sizeof err);
    fy_test_cond("out of range value rejected", rc == FY_ERR && strstr(err, "batch_size"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { limits = { memory = 'lots' } }", err, sizeof err);
    fy_test_cond("bad size names limits.memory", rc == FY_ERR && strstr(err, "limits.memory"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { limits = { memory = '10KB' } }", err, sizeof err);
    fy_test_cond("tiny memory limit rejected", rc == FY_ERR && strstr(err, "limits.memory"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { log = { level = 'loud' } }", err, sizeof err);
    fy_test_cond("bad log level shows the value", rc == FY_ERR && strstr(err, "log.level") && strstr(err, "loud"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { log = 'info' }", err, sizeof err);
    fy_test_cond("section must be a table", rc == FY_ERR && strstr(err, "log: expected a table"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { script_dirs = { 'a', 3 } }", err, sizeof err);
    fy_test_cond("list element type named with its index", rc == FY_ERR && strstr(err, "script_dirs[2]"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return {\n data_dir = \n", err, sizeof err);
    fy_test_cond("syntax error reported with file and line", rc == FY_ERR && strstr(err, path) && strstr(err, ":3:"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return 42", err, sizeof err);
    fy_test_cond("non-table config rejected", rc == FY_ERR && strstr(err, "must return a table"));
    fy_config_free(&cfg);
    rc = load(&cfg, "os.execute('true') return {}", err, sizeof err);
    fy_test_cond("config cannot run programs", rc == FY_ERR);
    fy_config_free(&cfg);

    rc = load(&cfg, "return { http = { timeout = '90s', connect_timeout = 2, max_response_size = '1MB',\n"
                    "  max_redirects = 0, ca_file = '/etc/ca.pem' } }", err, sizeof err);
    fy_test_cond("http section loads", rc == FY_OK);
    fy_test_cond("http.timeout from a duration", cfg.http.timeout == 90);
    fy_test_cond("http.connect_timeout from a number", cfg.http.connect_timeout == 2);
    fy_test_cond("http.max_response_size", cfg.http.max_response_size == 1u << 20);
    fy_test_cond("http.max_redirects 0 allowed", cfg.http.max_redirects == 0);
    fy_test_cond("http.ca_file", cfg.http.ca_file && strcmp(cfg.http.ca_file, "/etc/ca.pem") == 0);
    fy_config_free(&cfg);
    rc = load(&cfg, "return { http = { timeout = '15x' } }", err, sizeof err);
    fy_test_cond("bad http.timeout names key and value", rc == FY_ERR && strstr(err, "http.timeout") && strstr(err, "15x"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { http = { max_redirects = 99 } }", err, sizeof err);
    fy_test_cond("http.max_redirects out of range", rc == FY_ERR && strstr(err, "http.max_redirects"));
    fy_config_free(&cfg);
    fy_config_defaults(&cfg);
    fy_test_cond("default http timeout 30s", cfg.http.timeout == 30 && cfg.http.max_redirects == 5);
    fy_config_free(&cfg);

    /* Every mistake is reported, each on its own line naming its key. */
    {
        char err[4096];
        rc = load(&cfg, "return { data_dri = 'x', batch_size = 'ten', log = { levle = 'info', format = 'xml' },\n"
                        "  limits = { memory = 'lots' }, script_dirs = { 'a', 7, false },\n"
                        "  integrations = { crm = { secret = { 'K' }, trusted = 'yes' } } }", err, sizeof err);
        int lines = 1;
        for (const char *c = err; *c; c++) lines += *c == '\n';
        fy_test_cond("several mistakes: all reported", rc == FY_ERR && strstr(err, "'data_dri'") &&
                     strstr(err, "batch_size:") && strstr(err, "'log.levle'") && strstr(err, "log.format:") &&
                     strstr(err, "limits.memory:") && strstr(err, "script_dirs[2]") && strstr(err, "script_dirs[3]") &&
                     strstr(err, "integrations[\"crm\"].secret'") && strstr(err, "integrations[\"crm\"].trusted:"));
        fy_test_cond("several mistakes: one line each", lines == 9);
        if (lines != 9) printf("  err: %s\n", err);
        fy_test_cond("several mistakes: in the order of their keys",
                     strstr(err, "batch_size") < strstr(err, "data_dri") && strstr(err, "data_dri") < strstr(err, "limits.") &&
                     strstr(err, "limits.") < strstr(err, "log.format") && strstr(err, "log.format") < strstr(err, "log.levle") &&
                     strstr(err, "log.levle") < strstr(err, "script_dirs[2]") &&
                     strstr(err, "script_dirs[2]") < strstr(err, "script_dirs[3]"));
    }
    fy_test_cond("several mistakes: the defaults are kept", cfg.batch_size == 500 && !strcmp(cfg.data_dir, "data"));
    fy_config_free(&cfg);
    {
        char small[300];
        rc = load(&cfg, "return { a = 1, b = 2, c = 3, d = 4, e = 5, f = 6 }", small, sizeof small);
        fy_test_cond("too many mistakes for the buffer: whole lines and a count of the rest",
                     rc == FY_ERR && strstr(small, "more") && small[strlen(small) - 1] != '\n');
        if (!strstr(small, "more")) printf("  err: %s\n", small);
    }
    fy_config_free(&cfg);

    fy_config_defaults(&cfg);
    rc = fy_config_load(&cfg, "/nonexistent/ferry.lua", err, sizeof err);
    fy_test_cond("missing file named", rc == FY_ERR && strstr(err, "/nonexistent/ferry.lua"));
    fy_config_free(&cfg);

    /* ferry serve's keys */
    rc = load(&cfg, "return {}", err, sizeof err);
    fy_test_cond("serve defaults: UTC, 30 s grace, admin on 127.0.0.1:8787 without a token",
                 rc == FY_OK && !strcmp(cfg.timezone, "UTC") && cfg.shutdown_grace == 30 &&
                 !strcmp(cfg.admin.listen, "127.0.0.1:8787") && !cfg.admin.token);
    fy_config_free(&cfg);
    rc = load(&cfg, "return { timezone = 'Europe/Berlin', shutdown_grace = 0, "
                    "admin = { listen = '[::1]:0', token = 's3cret' } }", err, sizeof err);
    fy_test_cond("serve keys load (a grace of 0 stops runs at once)",
                 rc == FY_OK && !strcmp(cfg.timezone, "Europe/Berlin") && cfg.shutdown_grace == 0 &&
                 !strcmp(cfg.admin.listen, "[::1]:0") && !strcmp(cfg.admin.token, "s3cret"));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { timezone = 'Europe/Berln' }", err, sizeof err);
    fy_test_cond("an unknown time zone is a config error naming it",
                 rc == FY_ERR && strstr(err, "timezone: unknown time zone \"Europe/Berln\""));
    fy_config_free(&cfg);
    rc = load(&cfg, "return { admin = { listen = '127.0.0.1' } }", err, sizeof err);
    fy_test_cond("a listen address without a port is a config error",
                 rc == FY_ERR && strstr(err, "admin.listen: expected HOST:PORT"));
    fy_config_free(&cfg);
    char host[64];
    int port;
    fy_test_cond("listen 127.0.0.1:8787", fy_config_parse_listen("127.0.0.1:8787", host, sizeof host, &port) == FY_OK &&
                 !strcmp(host, "127.0.0.1") && port == 8787);
    fy_test_cond("listen [::1]:0", fy_config_parse_listen("[::1]:0", host, sizeof host, &port) == FY_OK &&
                 !strcmp(host, "::1") && port == 0);
    fy_test_cond("listen port over 65535", fy_config_parse_listen("localhost:65536", NULL, 0, NULL) == FY_ERR);
    fy_test_cond("listen empty host", fy_config_parse_listen(":80", NULL, 0, NULL) == FY_ERR);
    fy_test_cond("listen bad port", fy_config_parse_listen("h:8o", NULL, 0, NULL) == FY_ERR);
    fy_test_cond("listen odd host characters", fy_config_parse_listen("a b:80", NULL, 0, NULL) == FY_ERR);

    size_t sz;
    fy_test_cond("size 1GiB", fy_size_parse("1GiB", &sz) == FY_OK && sz == 1u << 30);
    fy_test_cond("size 512kb", fy_size_parse("512kb", &sz) == FY_OK && sz == 512u << 10);
    fy_test_cond("size plain bytes", fy_size_parse("2048", &sz) == FY_OK && sz == 2048);
    fy_test_cond("size bad unit", fy_size_parse("5 parsecs", &sz) == FY_ERR);

    unlink(path);
    return fy_test_report();
}
