/* fy_sig: verifying webhook signatures (GitHub, Slack, Standard Webhooks, Stripe, a token). */
#include "fy_sig.h"
#include "fy_common.h"
#include "fy_time.h"

#include <lauxlib.h>
#include <lua.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>
#include <strings.h>

#define MAC_LEN 32          /* HMAC-SHA256 */
#define MAC_HEX_LEN 64
#define MAC_B64_LEN 44      /* base64 of 32 bytes, one '=' of padding */
#define KEY_MAX (FY_SIG_SECRET_TEXT_MAX / 4 * 3)
#define TS_DIGITS_MAX 18    /* below 1e18: no int64 overflow, and no epoch needs more */
#define TOKEN_HEADER_DEFAULT "X-Webhook-Token"

/* One piece of the signed content. */
struct part {
    const void *p;
    size_t n;
};

static const char *const scheme_names[] = {
    [FY_SIG_NONE] = "none",         [FY_SIG_GITHUB] = "github", [FY_SIG_SLACK] = "slack",
    [FY_SIG_STANDARD] = "standard", [FY_SIG_STRIPE] = "stripe", [FY_SIG_TOKEN] = "token",
    [FY_SIG_WEBSUB] = "websub",
};

const char *fy_sig_scheme_name(enum fy_sig_scheme scheme)
{
    if ((unsigned)scheme >= sizeof scheme_names / sizeof scheme_names[0]) return "?";
    return scheme_names[scheme];
}

/* 1 when c may appear in an HTTP header name (RFC 9110 tchar). */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int fy_sig_parse(struct fy_sig_config *out, const char *scheme, const char *header,
                 int64_t tolerance, char *err, size_t errlen)
{
    struct fy_sig_config c = { .scheme = FY_SIG_NONE, .tolerance = FY_SIG_TOLERANCE_DEFAULT };
    size_t i, n = sizeof scheme_names / sizeof scheme_names[0];

    if (!scheme) {
        fy_errf(err, errlen, "signature: no scheme (use github, slack, standard, stripe, token, websub or none)");
        return FY_ERR;
    }
    for (i = 0; i < n && strcmp(scheme, scheme_names[i]) != 0; i++) {}
    if (i == n) {
        fy_errf(err, errlen, "signature: unknown scheme \"%.32s\" (use github, slack, standard, "
                "stripe, token, websub or none)", scheme);
        return FY_ERR;
    }
    c.scheme = (enum fy_sig_scheme)i;
    if (header && c.scheme != FY_SIG_TOKEN) {
        fy_errf(err, errlen, "signature: header is only for scheme \"token\" (%s has fixed headers)",
                scheme);
        return FY_ERR;
    }
    if (c.scheme == FY_SIG_TOKEN) {
        const char *h = header ? header : TOKEN_HEADER_DEFAULT;
        size_t len = strlen(h);
        for (i = 0; i < len && is_tchar((unsigned char)h[i]); i++) {}
        if (len == 0 || len >= sizeof c.header || i != len) {
            fy_errf(err, errlen, "signature: header must be an HTTP header name of 1 to %d characters",
                    FY_SIG_HEADER_MAX - 1);
            return FY_ERR;
        }
        memcpy(c.header, h, len + 1);
    }
    if (tolerance >= 0) {
        if (tolerance < 1 || tolerance > FY_SIG_TOLERANCE_MAX) {
            fy_errf(err, errlen, "signature: tolerance must be 1 to %d seconds", FY_SIG_TOLERANCE_MAX);
            return FY_ERR;
        }
        c.tolerance = tolerance;
    }
    *out = c;
    return FY_OK;
}

/* The tolerance in the Lua value on top of the stack: whole seconds, as a
 * number or a duration string. FY_OK with *tol, or FY_ERR with err. */
static int lua_tolerance(lua_State *L, int64_t *tol, char *err, size_t errlen)
{
    int isint = 0;
    if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (isint && v >= 1 && v <= FY_SIG_TOLERANCE_MAX) {
            *tol = v;
            return FY_OK;
        }
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        double sec;
        char derr[FY_TIME_ERR_MAX];
        if (fy_duration_parse(s, len, &sec, derr, sizeof derr) != FY_OK) {
            fy_errf(err, errlen, "signature: tolerance: %s", derr);
            return FY_ERR;
        }
        if (sec >= 1 && sec <= FY_SIG_TOLERANCE_MAX && sec == (double)(int64_t)sec) {
            *tol = (int64_t)sec;
            return FY_OK;
        }
    }
    fy_errf(err, errlen, "signature: tolerance must be whole seconds from 1 to %d, as a number or "
            "a duration (\"5m\")", FY_SIG_TOLERANCE_MAX);
    return FY_ERR;
}

int fy_sig_parse_lua(struct fy_sig_config *out, struct lua_State *L, int idx,
                     char *err, size_t errlen)
{
    char scheme[16] = "", header[FY_SIG_HEADER_MAX] = "";
    int have_scheme = 0, have_header = 0;
    int64_t tol = -1;

    if (lua_type(L, idx) == LUA_TSTRING)
        return fy_sig_parse(out, lua_tostring(L, idx), NULL, -1, err, errlen);
    if (lua_type(L, idx) != LUA_TTABLE) {
        fy_errf(err, errlen, "signature: expected a scheme name or a table, got %s",
                luaL_typename(L, idx));
        return FY_ERR;
    }
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int rc = FY_OK;
        if (k && (!strcmp(k, "scheme") || !strcmp(k, "header"))) {
            int is_scheme = k[0] == 's';
            char *dst = is_scheme ? scheme : header;
            size_t cap = is_scheme ? sizeof scheme : sizeof header, len = 0;
            const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (!v || len >= cap || strlen(v) != len) {
                fy_errf(err, errlen, "signature: %s must be a string of at most %zu characters",
                        k, cap - 1);
                rc = FY_ERR;
            } else {
                memcpy(dst, v, len + 1);
                *(is_scheme ? &have_scheme : &have_header) = 1;
            }
        } else if (k && !strcmp(k, "tolerance")) {
            rc = lua_tolerance(L, &tol, err, errlen);
        } else {
            fy_errf(err, errlen, "signature: unknown key %s%.32s%s (use scheme, header, tolerance)",
                    k ? "\"" : "", k ? k : "(not a string)", k ? "\"" : "");
            rc = FY_ERR;
        }
        lua_pop(L, 1);
        if (rc != FY_OK) {
            lua_pop(L, 1);
            return FY_ERR;
        }
    }
    if (!have_scheme) {
        fy_errf(err, errlen, "signature: the table needs scheme = \"github\" | \"slack\" | "
                "\"standard\" | \"stripe\" | \"token\" | \"websub\" | \"none\"");
        return FY_ERR;
    }
    return fy_sig_parse(out, scheme, have_header ? header : NULL, tol, err, errlen);
}

/* Decode a Standard Webhooks secret s[0..len): "whsec_" + base64, or the
 * base64 alone, standard alphabet with its padding. Validated strictly here
 * (EVP_DecodeBlock skips whitespace and counts padding as zero bytes), then
 * decoded by OpenSSL. FY_OK with key[0..*klen), or FY_ERR. */
static int std_key(const char *s, size_t len, unsigned char key[KEY_MAX], size_t *klen)
{
    size_t i, pad = 0;
    int n;

    if (len >= 6 && memcmp(s, "whsec_", 6) == 0) {
        s += 6;
        len -= 6;
    }
    if (len == 0 || len % 4 != 0 || len > FY_SIG_SECRET_TEXT_MAX) return FY_ERR;
    while (pad < 2 && s[len - 1 - pad] == '=') pad++;
    for (i = 0; i < len - pad; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return FY_ERR;
    }
    n = EVP_DecodeBlock(key, (const unsigned char *)s, (int)len);
    if (n < 0 || (size_t)n < pad || (size_t)n - pad == 0) return FY_ERR;
    *klen = (size_t)n - pad;
    return FY_OK;
}

int fy_sig_secret_check(const struct fy_sig_config *cfg, const void *secret, size_t len,
                        char *err, size_t errlen)
{
    unsigned char key[KEY_MAX];
    size_t klen;
    int rc = FY_OK;

    if (cfg->scheme == FY_SIG_NONE) return FY_OK;
    if (len == 0) {
        fy_errf(err, errlen, "the %s signature secret is empty", fy_sig_scheme_name(cfg->scheme));
        return FY_ERR;
    }
    if (cfg->scheme == FY_SIG_STANDARD && std_key(secret, len, key, &klen) != FY_OK) {
        fy_errf(err, errlen, "the standard signature secret is not \"whsec_\" followed by base64 "
                "(at most %d characters)", FY_SIG_SECRET_TEXT_MAX);
        rc = FY_ERR;
    }
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

/* HMAC-SHA256 under key[0..klen) of the concatenated parts into mac.
 * FY_OK, or FY_ERR when OpenSSL fails. */
static int hmac_sha256(const void *key, size_t klen, const struct part *parts, int nparts,
                       unsigned char mac[MAC_LEN])
{
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t outl = 0;
    int rc = FY_ERR;

    if (!ctx || !EVP_MAC_init(ctx, key, klen, params)) goto cleanup;
    for (int i = 0; i < nparts; i++)
        if (parts[i].n && !EVP_MAC_update(ctx, parts[i].p, parts[i].n)) goto cleanup;
    if (!EVP_MAC_final(ctx, mac, &outl, MAC_LEN) || outl != MAC_LEN) goto cleanup;
    rc = FY_OK;
cleanup:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return rc;
}

/* Decode exactly MAC_HEX_LEN hex digits (either case) of s[0..len) into
 * out. FY_OK, or FY_ERR on another length or a non-hex character. */
static int hex_mac(const char *s, size_t len, unsigned char out[MAC_LEN])
{
    if (len != MAC_HEX_LEN) return FY_ERR;
    for (size_t i = 0; i < MAC_LEN; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            unsigned char c = (unsigned char)s[2 * i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) return FY_ERR;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return FY_OK;
}

/* Epoch seconds from s[0..len): 1 to TS_DIGITS_MAX decimal digits, nothing
 * else (no sign, no space). FY_OK with *ts, or FY_ERR. */
static int parse_ts(const char *s, size_t len, int64_t *ts)
{
    int64_t v = 0;
    if (len == 0 || len > TS_DIGITS_MAX) return FY_ERR;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return FY_ERR;
        v = v * 10 + (s[i] - '0');
    }
    *ts = v;
    return FY_OK;
}

static enum fy_sig_status fail(struct fy_sig_outcome *out, enum fy_sig_status st,
                               const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record a failure's reason in out; returns st. */
static enum fy_sig_status fail(struct fy_sig_outcome *out, enum fy_sig_status st,
                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->id[0] = '\0';
    out->timestamp = 0;
    return st;
}

/* Header `name` into *v and *len. FY_SIG_OK, or FY_SIG_MISSING, or
 * FY_SIG_MALFORMED when longer than FY_SIG_VALUE_MAX (never read further). */
static enum fy_sig_status get_header(fy_sig_header_fn get, void *ud, const char *name,
                                     const char **v, size_t *len, struct fy_sig_outcome *out)
{
    *v = get(ud, name);
    if (!*v) return fail(out, FY_SIG_MISSING, "missing header %s", name);
    *len = strnlen(*v, FY_SIG_VALUE_MAX + 1);
    if (*len > FY_SIG_VALUE_MAX)
        return fail(out, FY_SIG_MALFORMED, "header %s is over %d bytes", name, FY_SIG_VALUE_MAX);
    return FY_SIG_OK;
}

/* A timestamp header's value parsed into *ts. */
static enum fy_sig_status get_ts(fy_sig_header_fn get, void *ud, const char *name,
                                 const char **v, size_t *len, int64_t *ts,
                                 struct fy_sig_outcome *out)
{
    enum fy_sig_status st = get_header(get, ud, name, v, len, out);
    if (st != FY_SIG_OK) return st;
    if (parse_ts(*v, *len, ts) != FY_OK)
        return fail(out, FY_SIG_MALFORMED, "header %s is not epoch seconds", name);
    return FY_SIG_OK;
}

/* Whether the signed timestamp ts is within tol seconds of now. The
 * differences are taken in uint64_t, which cannot overflow for a > b. */
static enum fy_sig_status check_time(int64_t ts, int64_t now, int64_t tol,
                                     struct fy_sig_outcome *out)
{
    if (now > ts && (uint64_t)now - (uint64_t)ts > (uint64_t)tol)
        return fail(out, FY_SIG_STALE, "timestamp too old (tolerance %llds)", (long long)tol);
    if (ts > now && (uint64_t)ts - (uint64_t)now > (uint64_t)tol)
        return fail(out, FY_SIG_FUTURE, "timestamp too far in the future (tolerance %llds)",
                    (long long)tol);
    out->timestamp = ts;
    return FY_SIG_OK;
}

/* GitHub and Slack: one "PREFIXHEX" value against mac. */
static enum fy_sig_status match_prefixed_hex(const char *name, const char *prefix, const char *v,
                                             size_t len, const unsigned char mac[MAC_LEN],
                                             struct fy_sig_outcome *out)
{
    unsigned char given[MAC_LEN];
    size_t pl = strlen(prefix);
    if (len < pl || strncasecmp(v, prefix, pl) != 0 || hex_mac(v + pl, len - pl, given) != FY_OK)
        return fail(out, FY_SIG_MALFORMED, "header %s is not %s followed by 64 hex digits", name,
                    prefix);
    if (CRYPTO_memcmp(given, mac, MAC_LEN) != 0)
        return fail(out, FY_SIG_MISMATCH, "signature does not match");
    return FY_SIG_OK;
}

/* github (X-Hub-Signature-256) and websub (X-Hub-Signature): "sha256=" and
 * the hex HMAC of the raw body, in the header `name`. */
static enum fy_sig_status verify_hub(const char *name, const void *secret, size_t slen, fy_sig_header_fn get,
                                     void *ud, const void *body, size_t blen,
                                     struct fy_sig_outcome *out)
{
    const char *v;
    size_t len;
    unsigned char mac[MAC_LEN];
    struct part parts[] = { { body, blen } };
    enum fy_sig_status st = get_header(get, ud, name, &v, &len, out);

    if (st != FY_SIG_OK) return st;
    if (hmac_sha256(secret, slen, parts, 1, mac) != FY_OK)
        return fail(out, FY_SIG_SECRET, "cannot compute HMAC-SHA256");
    return match_prefixed_hex(name, "sha256=", v, len, mac, out);
}

static enum fy_sig_status verify_slack(const struct fy_sig_config *cfg, const void *secret,
                                       size_t slen, fy_sig_header_fn get, void *ud,
                                       const void *body, size_t blen, int64_t now,
                                       struct fy_sig_outcome *out)
{
    const char *name = "X-Slack-Signature", *tv, *v;
    size_t tlen, len;
    int64_t ts;
    unsigned char mac[MAC_LEN];
    enum fy_sig_status st = get_ts(get, ud, "X-Slack-Request-Timestamp", &tv, &tlen, &ts, out);

    if (st != FY_SIG_OK || (st = get_header(get, ud, name, &v, &len, out)) != FY_SIG_OK) return st;
    struct part parts[] = { { "v0:", 3 }, { tv, tlen }, { ":", 1 }, { body, blen } };
    if (hmac_sha256(secret, slen, parts, 4, mac) != FY_OK)
        return fail(out, FY_SIG_SECRET, "cannot compute HMAC-SHA256");
    if ((st = match_prefixed_hex(name, "v0=", v, len, mac, out)) != FY_SIG_OK) return st;
    return check_time(ts, now, cfg->tolerance, out);
}

static enum fy_sig_status verify_standard(const struct fy_sig_config *cfg, const void *secret,
                                          size_t slen, fy_sig_header_fn get, void *ud,
                                          const void *body, size_t blen, int64_t now,
                                          struct fy_sig_outcome *out)
{
    const char *name = "webhook-signature", *id, *tv, *v, *end;
    size_t idlen, tlen, len, klen, i;
    int64_t ts;
    unsigned char key[KEY_MAX], mac[MAC_LEN];
    unsigned char want[MAC_B64_LEN + 1];
    int seen = 0, matched = 0;
    enum fy_sig_status st;

    if ((st = get_header(get, ud, "webhook-id", &id, &idlen, out)) != FY_SIG_OK) return st;
    for (i = 0; i < idlen && id[i] > ' ' && id[i] < 0x7f; i++) {}
    if (idlen == 0 || idlen >= FY_SIG_ID_MAX || i != idlen)
        return fail(out, FY_SIG_MALFORMED, "header webhook-id is not 1 to %d printable characters",
                    FY_SIG_ID_MAX - 1);
    if ((st = get_ts(get, ud, "webhook-timestamp", &tv, &tlen, &ts, out)) != FY_SIG_OK ||
        (st = get_header(get, ud, name, &v, &len, out)) != FY_SIG_OK)
        return st;
    if (std_key(secret, slen, key, &klen) != FY_OK)
        return fail(out, FY_SIG_SECRET, "the configured secret is not whsec_ base64");
    struct part parts[] = { { id, idlen }, { ".", 1 }, { tv, tlen }, { ".", 1 }, { body, blen } };
    int rc = hmac_sha256(key, klen, parts, 5, mac);
    OPENSSL_cleanse(key, sizeof key);
    if (rc != FY_OK) return fail(out, FY_SIG_SECRET, "cannot compute HMAC-SHA256");
    if (EVP_EncodeBlock(want, mac, MAC_LEN) != MAC_B64_LEN)
        return fail(out, FY_SIG_SECRET, "cannot encode base64");

    /* Space-separated "VERSION,SIGNATURE" entries; only v1 is ours. */
    for (end = v + len; v < end && seen < FY_SIG_ENTRIES_MAX; v += len) {
        while (v < end && *v == ' ') v++;
        for (len = 0; v + len < end && v[len] != ' '; len++) {}
        if (len < 3 || memcmp(v, "v1,", 3) != 0) continue;
        seen++;
        if (len - 3 == MAC_B64_LEN && CRYPTO_memcmp(v + 3, want, MAC_B64_LEN) == 0) matched = 1;
    }
    if (!seen) return fail(out, FY_SIG_MALFORMED, "header %s has no v1,BASE64 entry", name);
    if (!matched) return fail(out, FY_SIG_MISMATCH, "signature does not match");
    if ((st = check_time(ts, now, cfg->tolerance, out)) != FY_SIG_OK) return st;
    memcpy(out->id, id, idlen);
    out->id[idlen] = '\0';
    return FY_SIG_OK;
}

static enum fy_sig_status verify_stripe(const struct fy_sig_config *cfg, const void *secret,
                                        size_t slen, fy_sig_header_fn get, void *ud,
                                        const void *body, size_t blen, int64_t now,
                                        struct fy_sig_outcome *out)
{
    const char *name = "Stripe-Signature", *v, *end, *tv = NULL;
    const char *cand[FY_SIG_ENTRIES_MAX];
    size_t len, tlen = 0, ncand = 0;
    int64_t ts = 0;
    unsigned char mac[MAC_LEN], given[MAC_LEN];
    int matched = 0;
    enum fy_sig_status st = get_header(get, ud, name, &v, &len, out);

    if (st != FY_SIG_OK) return st;
    /* Comma-separated "KEY=VALUE" items: one t, any number of v1 (the first
     * FY_SIG_ENTRIES_MAX are kept), others ignored. */
    for (end = v + len; v < end; v += len < (size_t)(end - v) ? len + 1 : len) {
        while (v < end && *v == ' ') v++;
        for (len = 0; v + len < end && v[len] != ','; len++) {}
        if (len >= 2 && v[0] == 't' && v[1] == '=') {
            if (tv || parse_ts(v + 2, len - 2, &ts) != FY_OK)
                return fail(out, FY_SIG_MALFORMED, "header %s has a bad or repeated t=", name);
            tv = v + 2;
            tlen = len - 2;
        } else if (len >= 3 && memcmp(v, "v1=", 3) == 0 && ncand < FY_SIG_ENTRIES_MAX) {
            cand[ncand++] = v + 3;
            if (len - 3 != MAC_HEX_LEN) cand[ncand - 1] = NULL;  /* cannot match */
        }
    }
    if (!tv) return fail(out, FY_SIG_MALFORMED, "header %s has no t=TIMESTAMP", name);
    if (!ncand) return fail(out, FY_SIG_MALFORMED, "header %s has no v1=HEX", name);
    struct part parts[] = { { tv, tlen }, { ".", 1 }, { body, blen } };
    if (hmac_sha256(secret, slen, parts, 3, mac) != FY_OK)
        return fail(out, FY_SIG_SECRET, "cannot compute HMAC-SHA256");
    for (size_t i = 0; i < ncand; i++)
        if (cand[i] && hex_mac(cand[i], MAC_HEX_LEN, given) == FY_OK &&
            CRYPTO_memcmp(given, mac, MAC_LEN) == 0)
            matched = 1;
    if (!matched) return fail(out, FY_SIG_MISMATCH, "signature does not match");
    return check_time(ts, now, cfg->tolerance, out);
}

/* Token: the header's value (after "Bearer " for Authorization) equals the
 * secret. Compared as SHA-256 digests, so neither the length nor the
 * content leaks through timing. */
static enum fy_sig_status verify_token(const struct fy_sig_config *cfg, const void *secret,
                                       size_t slen, fy_sig_header_fn get, void *ud,
                                       struct fy_sig_outcome *out)
{
    const char *name = cfg->header[0] ? cfg->header : TOKEN_HEADER_DEFAULT, *v;
    size_t len;
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int la = 0, lb = 0;
    enum fy_sig_status st = get_header(get, ud, name, &v, &len, out);

    if (st != FY_SIG_OK) return st;
    if (strcasecmp(name, "Authorization") == 0) {
        if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
            return fail(out, FY_SIG_MALFORMED, "header Authorization is not Bearer TOKEN");
        for (v += 7, len -= 7; len && *v == ' '; v++, len--) {}
    }
    if (!EVP_Digest(secret, slen, a, &la, EVP_sha256(), NULL) ||
        !EVP_Digest(v, len, b, &lb, EVP_sha256(), NULL))
        return fail(out, FY_SIG_SECRET, "cannot compute SHA-256");
    if (la != lb || CRYPTO_memcmp(a, b, la) != 0)
        return fail(out, FY_SIG_MISMATCH, "token does not match");
    return FY_SIG_OK;
}

enum fy_sig_status fy_sig_verify(const struct fy_sig_config *cfg,
                                 const void *secret, size_t secret_len,
                                 fy_sig_header_fn get, void *ud,
                                 const void *body, size_t body_len,
                                 int64_t now, struct fy_sig_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (cfg->scheme == FY_SIG_NONE) return FY_SIG_OK;
    if (!secret || secret_len == 0) return fail(out, FY_SIG_SECRET, "no secret configured");
    switch (cfg->scheme) {
    case FY_SIG_GITHUB:
        return verify_hub("X-Hub-Signature-256", secret, secret_len, get, ud, body, body_len, out);
    case FY_SIG_WEBSUB:
        return verify_hub("X-Hub-Signature", secret, secret_len, get, ud, body, body_len, out);
    case FY_SIG_SLACK:
        return verify_slack(cfg, secret, secret_len, get, ud, body, body_len, now, out);
    case FY_SIG_STANDARD:
        return verify_standard(cfg, secret, secret_len, get, ud, body, body_len, now, out);
    case FY_SIG_STRIPE:
        return verify_stripe(cfg, secret, secret_len, get, ud, body, body_len, now, out);
    case FY_SIG_TOKEN:
        return verify_token(cfg, secret, secret_len, get, ud, out);
    default:
        return fail(out, FY_SIG_SECRET, "unknown signature scheme");
    }
}

int fy_sig_header_is_secret(const struct fy_sig_config *cfg, const char *name)
{
    static const char *const always[] = { "Authorization", "Cookie", "Proxy-Authorization" };
    const char *own[2] = { NULL, NULL };

    if (!name) return 0;
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (strcasecmp(name, always[i]) == 0) return 1;
    switch (cfg ? cfg->scheme : FY_SIG_NONE) {
    case FY_SIG_GITHUB:   own[0] = "X-Hub-Signature-256"; own[1] = "X-Hub-Signature"; break;
    case FY_SIG_SLACK:    own[0] = "X-Slack-Signature"; break;
    case FY_SIG_STANDARD: own[0] = "webhook-signature"; break;
    case FY_SIG_STRIPE:   own[0] = "Stripe-Signature"; break;
    case FY_SIG_TOKEN:    own[0] = cfg->header[0] ? cfg->header : TOKEN_HEADER_DEFAULT; break;
    case FY_SIG_WEBSUB:   own[0] = "X-Hub-Signature"; break;
    default: break;
    }
    for (int i = 0; i < 2; i++)
        if (own[i] && strcasecmp(name, own[i]) == 0) return 1;
    return 0;
}
