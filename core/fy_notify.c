/* Alert channels: sending one message to "log", a webhook or an email
 * channel; see fy_notify.h.
 *
 * Webhooks go through fy_http (its retries, backoff and Retry-After).
 * Email goes over SMTP on the same libcurl multi (fy_http_add_easy), with
 * retries of its own here, so neither ever blocks the loop. Every error a
 * callback sees names the channel ("webhook ops"), never its URL, and has
 * been through fy_redact. */
#include "fy_notify.h"
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_http.h"
#include "fy_log.h"
#include "fy_secret.h"
#include "fy_suggest.h"
#include "fy_time.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct message;

struct fy_notify {
    struct fy_engine *engine;
    struct message *messages;     /* in flight */
    int inflight;
};

/* One message on its way; freed once its callback has run. */
struct message {
    struct fy_notify *nf;
    struct message *prev, *next;
    const struct fy_channel *ch;  /* in the engine's config */
    char label[128];              /* "webhook ops", "email oncall": how messages name it */
    char *integration;            /* for its log lines */
    fy_notify_done_fn done;
    void *arg;
    int attempt;                  /* attempts made */
    /* email */
    CURL *easy;
    struct curl_slist *rcpt;
    struct fy_buf mail;           /* the whole message, CRLF lines */
    size_t sent;                  /* bytes of it curl has read */
    struct event *wait;           /* backoff before the next attempt */
    char errbuf[CURL_ERROR_SIZE];
};

/* Where a target sends: the log, or a channel (for "owner", the owner
 * channel, to the integration's owner). */
struct target {
    int log;
    int owner;
    const struct fy_channel *ch;
};

/* ---- targets -------------------------------------------------------------- */

/* "known: log, owner, ops (webhook), oncall (email)" into b. */
static void known_list(const struct fy_config *cfg, struct fy_buf *b) {
    fy_buf_puts(b, "known: log");
    if (cfg->alerts.owner) fy_buf_puts(b, ", owner");
    for (size_t i = 0; i < cfg->alerts.nchannels; i++)
        fy_buf_printf(b, ", %s (%s)", cfg->alerts.channels[i].name, fy_channel_type_name(cfg->alerts.channels[i].type));
}

static int resolve(const struct fy_config *cfg, const char *target, struct target *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    if (!strcmp(target, "log")) {
        t->log = 1;
        return FY_OK;
    }
    if (!strcmp(target, "owner")) {
        if (!cfg->alerts.owner || !(t->ch = fy_config_channel(cfg, cfg->alerts.owner))) {
            fy_errf(err, errlen, "alert target 'owner' needs alerts.owner in the config: the email channel that "
                    "sends to the integration's owner");
            return FY_ERR;
        }
        t->owner = 1;
        return FY_OK;
    }
    const char *name = target, *colon = strchr(target, ':');
    size_t tlen = colon ? (size_t)(colon - target) : 0;
    if (colon) {
        name = colon + 1;
        if (!((tlen == 7 && !strncmp(target, "webhook", 7)) || (tlen == 5 && !strncmp(target, "email", 5)))) {
            fy_errf(err, errlen, "alert target '%s': the type before ':' is webhook or email (or write the "
                    "channel's name alone)", target);
            return FY_ERR;
        }
    }
    t->ch = fy_config_channel(cfg, name);
    if (t->ch && colon && strncmp(target, fy_channel_type_name(t->ch->type), tlen) != 0) {
        fy_errf(err, errlen, "alert target '%s': %s is %s channel, not %.*s", target, name,
                t->ch->type == FY_CHANNEL_EMAIL ? "an email" : "a webhook", (int)tlen, target);
        return FY_ERR;
    }
    if (t->ch) return FY_OK;
    struct fy_suggest sg;
    struct fy_buf known = {0};
    fy_suggest_init(&sg, name);
    for (size_t i = 0; i < cfg->alerts.nchannels; i++) fy_suggest_offer(&sg, cfg->alerts.channels[i].name);
    known_list(cfg, &known);
    fy_errf(err, errlen, "unknown alert channel '%s' (not in the config's alerts.channels)%s%s%s; %s", target,
            sg.best ? ": did you mean '" : "", sg.best ? sg.best : "", sg.best ? "'?" : "", known.data);
    fy_buf_free(&known);
    return FY_ERR;
}

int fy_notify_known(const struct fy_config *cfg, const char *target, char *err, size_t errlen) {
    struct target t;
    return resolve(cfg, target, &t, err, errlen);
}

/* ---- messages ------------------------------------------------------------- */

static struct fy_notify *notify_of(struct fy_engine *e) {
    if (!e->notify && (e->notify = calloc(1, sizeof *e->notify))) e->notify->engine = e;
    return e->notify;
}

static void message_free(struct message *m) {
    if (m->easy) curl_easy_cleanup(m->easy);
    curl_slist_free_all(m->rcpt);
    fy_buf_free(&m->mail);
    if (m->wait) event_free(m->wait);
    free(m->integration);
    free(m);
}

static void unlink_message(struct message *m) {
    struct fy_notify *nf = m->nf;
    if (m->prev) m->prev->next = m->next;
    else nf->messages = m->next;
    if (m->next) m->next->prev = m->prev;
    nf->inflight--;
}

/* The message is done: its callback learns how (error redacted, on one
 * line), then it is freed. */
static void finish(struct message *m, int ok, const char *error) {
    struct fy_buf e = {0};
    if (!ok) {
        fy_buf_printf(&e, "%s: %s", m->label, error ? error : "failed");
        for (size_t i = 0; i < e.len; i++)
            if (e.data[i] == '\n' || e.data[i] == '\r') e.data[i] = ' ';
        fy_redact(&e);
    }
    unlink_message(m);
    if (ok) fy_log(FY_LOG_INFO, m->integration, "alert message sent to %s", m->label);
    m->done(m->arg, ok, ok ? NULL : e.data);
    fy_buf_free(&e);
    message_free(m);
}

/* "log": one line, done at once: at warn ("alert"), or at info for a
 * resolution ("alert resolved"). */
static void send_log(const struct fy_notice *n) {
    int resolved = n->event && !strcmp(n->event, "resolved");
    struct fy_buf f = {0};
    fy_buf_puts(&f, "\"kind\":");
    fy_buf_json_string(&f, n->kind ? n->kind : "", n->kind ? strlen(n->kind) : 0);
    fy_buf_puts(&f, ",\"event\":");
    fy_buf_json_string(&f, n->event ? n->event : "", n->event ? strlen(n->event) : 0);
    fy_buf_printf(&f, ",\"alert\":%lld,\"subject\":", n->alert_id);
    fy_buf_json_string(&f, n->subject ? n->subject : "", n->subject ? strlen(n->subject) : 0);
    fy_log_write(resolved ? FY_LOG_INFO : FY_LOG_WARN, n->integration, NULL, resolved ? "alert resolved" : "alert",
                 f.data);
    fy_buf_free(&f);
}

/* ---- webhook -------------------------------------------------------------- */

static void webhook_attempt(const struct fy_http_result *res, double retry_in, void *arg) {
    struct message *m = arg;
    m->attempt = res->attempts;
    if (res->ok || retry_in < 0) return;
    char in[FY_DURATION_FORMAT_MAX];
    fy_duration_format(retry_in, in, sizeof in);
    fy_log(FY_LOG_WARN, m->integration, "alert message to %s: attempt %d of %d failed: %s; retrying in %s",
           m->label, res->attempts, m->ch->attempts, res->message ? res->message : "?", in);
}

static void webhook_done(const struct fy_http_result *res, void *arg) {
    struct message *m = arg;
    if (res->ok && res->status >= 200 && res->status < 300) {
        finish(m, 1, NULL);
        return;
    }
    struct fy_buf why = {0};
    if (res->ok) fy_buf_printf(&why, "HTTP %ld: the webhook answered with a redirect (not followed)", res->status);
    else fy_buf_puts(&why, res->message ? res->message : "failed");
    if (res->status >= 400 && res->body && res->body->len) {         /* Slack says why: "invalid_token" */
        size_t n = strcspn(res->body->data, "\r\n");
        fy_buf_printf(&why, " (%.*s%s)", (int)(n > 200 ? 200 : n), res->body->data, n > 200 ? "..." : "");
    }
    fy_buf_printf(&why, "; gave up after %d attempt%s", res->attempts, res->attempts == 1 ? "" : "s");
    finish(m, 0, why.data);
    fy_buf_free(&why);
}

static int send_webhook(struct message *m, const struct fy_notice *n, char *err, size_t errlen) {
    const struct fy_config *cfg = &m->nf->engine->cfg;
    struct fy_http *h = fy_engine_http(m->nf->engine, err, errlen);
    if (!h) return FY_ERR;
    struct fy_buf body = {0};
    fy_notify_webhook_body(&body, n);
    struct fy_http_opts o = {
        .method = "POST",
        .url = m->ch->url,
        .headers = curl_slist_append(NULL, "Content-Type: application/json"),
        .body = body.data,
        .body_len = body.len,
        .timeout = cfg->http.timeout,
        .connect_timeout = cfg->http.connect_timeout,
        .max_size = 1u << 20,
        .ca_file = cfg->http.ca_file,
        .idempotent = 1,                 /* a message twice beats none: retry the POST */
        .retry = {.attempts = m->ch->attempts, .base = m->ch->base, .max = 60, .retry_500 = 1},
        .owner = m,
        .on_attempt = webhook_attempt,
    };
    int rc = fy_http_start(h, &o, webhook_done, m, err, errlen);
    fy_buf_free(&body);
    return rc;
}

/* ---- email ---------------------------------------------------------------- */

static size_t mail_read(char *buf, size_t size, size_t nitems, void *arg) {
    struct message *m = arg;
    size_t n = m->mail.len - m->sent, cap = size * nitems;
    if (n > cap) n = cap;
    memcpy(buf, m->mail.data + m->sent, n);
    m->sent += n;
    return n;
}

static void email_done(CURL *easy, CURLcode code, void *arg);

static void email_attempt(struct message *m) {
    char err[FY_ERRLEN];
    struct fy_http *h = fy_engine_http(m->nf->engine, err, sizeof err);
    m->sent = 0;
    m->errbuf[0] = '\0';
    m->attempt++;
    if (!h || fy_http_add_easy(h, m->easy, email_done, m, err, sizeof err) != FY_OK) finish(m, 0, err);
}

static void email_wait_done(evutil_socket_t fd, short what, void *arg) {
    FY_UNUSED(fd);
    FY_UNUSED(what);
    email_attempt(arg);
}

/* Is this failure worth another try? Connection trouble and the server's
 * 4xx ("try again later") are; a refused login, a 5xx, a bad address or
 * a TLS problem will fail the same way again. */
static int email_retryable(CURLcode code, long reply) {
    if (reply >= 500) return 0;
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
        return 1;
    default:
        return 0;
    }
}

static void email_done(CURL *easy, CURLcode code, void *arg) {
    struct message *m = arg;
    long reply = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply);
    if (code == CURLE_OK) {
        finish(m, 1, NULL);
        return;
    }
    char why[CURL_ERROR_SIZE + 128];
    const char *what = m->errbuf[0] ? m->errbuf : curl_easy_strerror(code);
    if (code == CURLE_LOGIN_DENIED)
        snprintf(why, sizeof why, "the server refused the login (username and password): %s", what);
    else if (code == CURLE_USE_SSL_FAILED)
        snprintf(why, sizeof why, "the server does not offer STARTTLS (the channel says starttls = true): %s", what);
    else
        snprintf(why, sizeof why, "%s", what);
    if (email_retryable(code, reply) && m->attempt < m->ch->attempts) {
        uint32_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint32_t)rand();
        double wait = fmin(60, m->ch->base * pow(2, m->attempt - 1)) * (0.5 + 0.5 * (r / 4294967296.0));
        struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
        if ((m->wait || (m->wait = evtimer_new(m->nf->engine->base, email_wait_done, m))) &&
            evtimer_add(m->wait, &tv) == 0) {
            char in[FY_DURATION_FORMAT_MAX];
            fy_duration_format(wait, in, sizeof in);
            fy_log(FY_LOG_WARN, m->integration, "alert message to %s: attempt %d of %d failed: %s; retrying in %s",
                   m->label, m->attempt, m->ch->attempts, why, in);
            return;
        }
    }
    size_t n = strlen(why);
    snprintf(why + n, sizeof why - n, "; gave up after %d attempt%s", m->attempt, m->attempt == 1 ? "" : "s");
    finish(m, 0, why);
}

/* Set up the message's handle once; every attempt re-reads the same mail. */
static int send_email(struct message *m, const struct fy_notice *n, char *const *to, char *err, size_t errlen) {
    const struct fy_config *cfg = &m->nf->engine->cfg;
    const struct fy_channel *ch = m->ch;
    fy_notify_mail(&m->mail, n, ch->from, to, fy_time_now());
    for (char *const *a = to; *a; a++) {
        struct curl_slist *l = curl_slist_append(m->rcpt, *a);
        if (!l) goto oom;
        m->rcpt = l;
    }
    if (!(m->easy = curl_easy_init())) goto oom;
    CURL *e = m->easy;
    char from[320];
    snprintf(from, sizeof from, "<%s>", ch->from);
    curl_easy_setopt(e, CURLOPT_URL, ch->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, m->rcpt);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(e, CURLOPT_READDATA, m);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, m->errbuf);
    curl_easy_setopt(e, CURLOPT_USE_SSL, ch->starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    if (ch->username) curl_easy_setopt(e, CURLOPT_USERNAME, ch->username);
    if (ch->password) curl_easy_setopt(e, CURLOPT_PASSWORD, ch->password);
    if (cfg->http.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, cfg->http.ca_file);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(cfg->http.timeout * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->http.connect_timeout * 1000));
    struct fy_http *h = fy_engine_http(m->nf->engine, err, errlen);
    if (!h) return FY_ERR;
    m->attempt = 1;
    return fy_http_add_easy(h, e, email_done, m, err, errlen);
oom:
    fy_errf(err, errlen, "out of memory");
    return FY_ERR;
}

/* ---- the interface -------------------------------------------------------- */

int fy_notify_send(struct fy_engine *e, const char *target, const struct fy_notice *n, fy_notify_done_fn done,
                   void *arg) {
    char err[FY_ERRLEN];
    struct target t;
    if (resolve(&e->cfg, target, &t, err, sizeof err) != FY_OK) {
        done(arg, 0, err);
        return FY_ERR;
    }
    if (t.log) {
        send_log(n);
        done(arg, 1, NULL);
        return FY_OK;
    }
    char *owner_to[2] = {(char *)n->owner, NULL};
    if (t.owner && (!n->owner || !fy_config_is_address(n->owner))) {
        struct fy_buf b = {0};
        if (n->owner) fy_buf_printf(&b, "owner: the integration's owner '%s' is not an email address", n->owner);
        else fy_buf_puts(&b, "owner: the integration declares no owner to send the alert to");
        fy_redact(&b);
        done(arg, 0, b.data);
        fy_buf_free(&b);
        return FY_ERR;
    }
    struct fy_notify *nf = notify_of(e);
    struct message *m = nf ? calloc(1, sizeof *m) : NULL;
    if (!m) {
        done(arg, 0, "out of memory");
        return FY_ERR;
    }
    *m = (struct message){.nf = nf, .ch = t.ch, .done = done, .arg = arg,
                          .integration = n->integration ? strdup(n->integration) : NULL};
    if (t.owner) snprintf(m->label, sizeof m->label, "owner (email %s)", t.ch->name);
    else snprintf(m->label, sizeof m->label, "%s %s", fy_channel_type_name(t.ch->type), t.ch->name);
    m->next = nf->messages;
    if (nf->messages) nf->messages->prev = m;
    nf->messages = m;
    nf->inflight++;
    int rc = t.ch->type == FY_CHANNEL_WEBHOOK ? send_webhook(m, n, err, sizeof err)
                                              : send_email(m, n, t.owner ? owner_to : t.ch->to, err, sizeof err);
    if (rc != FY_OK) {
        if (m->easy && m->nf->engine->http) fy_http_remove_easy(m->nf->engine->http, m->easy);
        finish(m, 0, err);                          /* before returning: done is called, as promised */
        return FY_ERR;
    }
    return FY_OK;
}

int fy_notify_inflight(struct fy_engine *e) { return e->notify ? e->notify->inflight : 0; }

void fy_notify_destroy(struct fy_engine *e) {
    struct fy_notify *nf = e->notify;
    if (!nf) return;
    while (nf->messages) {
        struct message *m = nf->messages;
        unlink_message(m);
        if (e->http) {
            fy_http_cancel(e->http, m);
            if (m->easy) fy_http_remove_easy(e->http, m->easy);
        }
        message_free(m);
    }
    free(nf);
    e->notify = NULL;
}
