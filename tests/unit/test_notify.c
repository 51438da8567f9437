/* Alert channels: the email and webhook texts on the wire, and which
 * targets a config knows. */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_notify.h"
#include "testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[] = "/tmp/ferry-test-notify-XXXXXX";

/* Standard base64 of s[0..n) decoded onto out. */
static void unbase64(const char *s, size_t n, struct fy_buf *out) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *p = strchr(tab, s[i]);
        if (!p) continue;
        v = v << 6 | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            fy_buf_putc(out, (char)(v >> bits & 0xFF));
        }
    }
}

/* The subject as a reader's mail program shows it: encoded-words decoded
 * and joined (the folding between them is not part of the text). */
static void subject_text(const char *mail, struct fy_buf *out) {
    const char *s = strstr(mail, "\r\nSubject: ") + 11;
    const char *end = s;
    while (!(end[0] == '\r' && end[1] == '\n' && end[2] != ' ')) end++;
    for (const char *w = s; w < end;) {
        const char *open = strstr(w, "=?UTF-8?B?");
        if (!open || open >= end) {
            fy_buf_append(out, w, (size_t)(end - w));
            break;
        }
        const char *close = strstr(open + 10, "?=");
        unbase64(open + 10, (size_t)(close - open - 10), out);
        w = close + 2;
        while (w < end && (*w == '\r' || *w == '\n' || *w == ' ')) w++;
    }
}

/* Longest line of text (CRLF ends) and whether every line ends in CRLF. */
static size_t longest_line(const char *text, int *crlf) {
    size_t max = 0;
    *crlf = 1;
    for (const char *l = text; *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (!nl || n == 0 || l[n - 1] != '\r') *crlf = 0;
        if (n > max) max = n;
        l += n + (nl ? 1 : 0);
    }
    return max;
}

static int found(const char *text) { return fy_secret_found(text, strlen(text)); }

static int load(struct fy_config *cfg, const char *text) {
    char err[2048];
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    fy_config_defaults(cfg);
    int rc = fy_config_load(cfg, path, err, sizeof err);
    if (rc != FY_OK) printf("config: %s\n", err);
    return rc;
}

int main(void) {
    int fd = mkstemp(path);
    close(fd);
    char *to[] = {"a@example.com", "b@example.com", NULL};
    struct fy_notice n = {.alert_id = 42, .integration = "crm-accounts", .owner = "cs@example.com", .kind = "auth",
                          .event = "opened", .subject = "[ferry] crm-accounts: paused: auth: HTTP 401",
                          .text = "The key expired.\nRun: ferry resume crm-accounts\n", .opened_at = 1764900000};
    struct fy_buf m = {0}, s = {0};
    int crlf;

    fy_notify_mail(&m, &n, "ferry@example.com", to, 1764903600.5);
    fy_test_cond("Date in RFC 5322 form, UTC", strstr(m.data, "Date: Fri, 05 Dec 2025 03:00:00 +0000\r\n") == m.data);
    fy_test_cond("From", strstr(m.data, "\r\nFrom: ferry <ferry@example.com>\r\n") != NULL);
    fy_test_cond("To: every recipient", strstr(m.data, "\r\nTo: a@example.com,\r\n b@example.com\r\n") != NULL);
    fy_test_cond("a plain subject as it is",
                 strstr(m.data, "\r\nSubject: [ferry] crm-accounts: paused: auth: HTTP 401\r\n") != NULL);
    fy_test_cond("Message-ID in the sender's domain",
                 strstr(m.data, "\r\nMessage-ID: <ferry.42.") && strstr(m.data, "@example.com>\r\n"));
    fy_test_cond("MIME headers", strstr(m.data, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    fy_test_cond("ASCII text goes 7bit, as it is, CRLF lines",
                 strstr(m.data, "Content-Transfer-Encoding: 7bit\r\n\r\nThe key expired.\r\nRun: ferry resume "
                                "crm-accounts\r\n"));
    fy_test_cond("the footer names the alert", strstr(m.data, "\r\n-- \r\nferry alert 42: crm-accounts, auth, opened; "
                                                              "opened 2025-12-05T02:00:00Z\r\n"));
    longest_line(m.data, &crlf);
    fy_test_cond("every line ends in CRLF", crlf);
    fy_test_cond("the message ends with a line end", m.len > 2 && !strcmp(m.data + m.len - 2, "\r\n"));

    /* A subject that is not ASCII, long, and tries to add a header. */
    fy_buf_reset(&m);
    n.subject = "[ferry] Kundenstämme: Zugriff verweigert — 認証エラー, überprüfen Sie den Schlüssel "
                "der Integration\r\nBcc: evil@example.com";
    n.text = "Größe: 5 €\nA line with a trailing space \nx=1\n"
             "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\n";
    fy_notify_mail(&m, &n, "ferry@example.com", to, 1764903600);
    subject_text(m.data, &s);
    fy_test_cond("a non-ASCII subject is encoded-words", strstr(m.data, "\r\nSubject: =?UTF-8?B?") != NULL);
    fy_test_cond("which decode to the subject, its line break a space",
                 !strcmp(s.data, "[ferry] Kundenstämme: Zugriff verweigert — 認証エラー, überprüfen Sie den Schlüssel "
                                 "der Integration  Bcc: evil@example.com"));
    fy_test_cond("no header smuggled in", !strstr(m.data, "\r\nBcc:"));
    int raw8 = 0;
    const char *body = strstr(m.data, "\r\n\r\n");
    for (const char *c = m.data; c < body; c++)
        if ((unsigned char)*c > 127) raw8 = 1;
    fy_test_cond("headers are ASCII", !raw8);
    fy_test_cond("lines within 78 characters", longest_line(m.data, &crlf) <= 78 && crlf);
    fy_test_cond("a body that is not ASCII is quoted-printable",
                 strstr(m.data, "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=B6=C3=9Fe: 5 =E2=82=AC\r\n"));
    fy_test_cond("a trailing space is encoded", strstr(m.data, "\r\nA line with a trailing space=20\r\n"));
    fy_test_cond("'=' is encoded", strstr(m.data, "\r\nx=3D1\r\n"));
    fy_test_cond("long lines get soft breaks",
                 strstr(m.data, "\r\n012345678901234567890123456789012345678901234567890123456789012345678901234=\r\n"
                                "5678901234567890123456789\r\n"));

    /* The webhook's JSON. */
    struct fy_buf w = {0};
    n.subject = "[ferry] x: \"quoted\"";
    n.text = "line 1\nline 2";
    n.owner = NULL;
    fy_notify_webhook_body(&w, &n);
    fy_test_cond("webhook JSON: Slack's text, then ferry's fields, owner null",
                 !strcmp(w.data, "{\"text\":\"[ferry] x: \\\"quoted\\\"\\nline 1\\nline 2\",\"ferry\":{\"alert_id\":42,"
                                 "\"integration\":\"crm-accounts\",\"owner\":null,\"kind\":\"auth\",\"event\":\"opened\","
                                 "\"subject\":\"[ferry] x: \\\"quoted\\\"\",\"text\":\"line 1\\nline 2\","
                                 "\"opened_at\":\"2025-12-05T02:00:00Z\"}}"));

    /* Targets. */
    struct fy_config cfg;
    char err[512];
    fy_test_cond("config with channels loads",
                 load(&cfg, "return { alerts = { channels = {\n"
                            "  ops = { type = 'webhook', url = 'https://hooks.example.com/services/T/B/secret-path' },\n"
                            "  oncall = { type = 'email', smtp = 'smtps://mail.example.com', from = 'f@example.com',\n"
                            "             to = 'o@example.com' } }, owner = 'oncall' } }") == FY_OK);
    fy_test_cond("channels sorted by name", cfg.alerts.nchannels == 2 && !strcmp(cfg.alerts.channels[0].name, "oncall"));
    fy_test_cond("a single address is a list of one", !strcmp(cfg.alerts.channels[0].to[0], "o@example.com") &&
                                                          !cfg.alerts.channels[0].to[1]);
    fy_test_cond("defaults: 3 attempts, 1 s, repeat 4h",
                 cfg.alerts.channels[1].attempts == 3 && cfg.alerts.channels[1].base == 1 && cfg.alerts.repeat == 14400);
    fy_test_cond("log", fy_notify_known(&cfg, "log", err, sizeof err) == FY_OK);
    fy_test_cond("owner", fy_notify_known(&cfg, "owner", err, sizeof err) == FY_OK);
    fy_test_cond("NAME", fy_notify_known(&cfg, "ops", err, sizeof err) == FY_OK);
    fy_test_cond("TYPE:NAME", fy_notify_known(&cfg, "webhook:ops", err, sizeof err) == FY_OK &&
                                  fy_notify_known(&cfg, "email:oncall", err, sizeof err) == FY_OK);
    fy_test_cond("the wrong type", fy_notify_known(&cfg, "email:ops", err, sizeof err) == FY_ERR &&
                                       strstr(err, "ops is a webhook channel, not email"));
    fy_test_cond("unknown, with a suggestion and the known ones",
                 fy_notify_known(&cfg, "oncal", err, sizeof err) == FY_ERR && strstr(err, "did you mean 'oncall'?") &&
                     strstr(err, "known: log, owner, oncall (email), ops (webhook)"));
    fy_test_cond("log takes no name", fy_notify_known(&cfg, "log:ops", err, sizeof err) == FY_ERR);
    fy_test_cond("a webhook URL is a secret from the moment the config loads",
                 found("see https://hooks.example.com/services/T/B/secret-path") &&
                     found("GET /services/T/B/secret-path HTTP/1.1") && !found("GET /services/T/B/"));
    fy_config_free(&cfg);
    fy_test_cond("config without owner loads", load(&cfg, "return { alerts = { ['repeat'] = '30m' } }") == FY_OK);
    fy_test_cond("repeat", cfg.alerts.repeat == 1800);
    fy_test_cond("'owner' needs alerts.owner", fy_notify_known(&cfg, "owner", err, sizeof err) == FY_ERR &&
                                                   strstr(err, "needs alerts.owner"));
    fy_config_free(&cfg);

    fy_buf_free(&m);
    fy_buf_free(&s);
    fy_buf_free(&w);
    unlink(path);
    return fy_test_report();
}
