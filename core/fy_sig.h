/* fy_sig: verifying webhook signatures, as pure functions (no loop, no
 * globals, the clock passed in). The hooks listener parses a script's
 * `signature` declaration once with fy_sig_parse / fy_sig_parse_lua, checks
 * the secret once with fy_sig_secret_check, then calls fy_sig_verify for
 * each POST before it stores the event.
 *
 * Schemes (HMAC-SHA256 everywhere; every comparison constant-time):
 *   github    X-Hub-Signature-256: sha256=HEX          over the raw body
 *   slack     X-Slack-Request-Timestamp: TS
 *             X-Slack-Signature: v0=HEX                over "v0:" TS ":" body
 *   standard  webhook-id: ID, webhook-timestamp: TS     (Standard Webhooks)
 *             webhook-signature: v1,B64 [v1,B64 ...]   over ID "." TS "." body
 *             The secret is "whsec_" + base64 of the key (or the base64 alone).
 *   stripe    Stripe-Signature: t=TS,v1=HEX[,v1=HEX][,v0=...]  over TS "." body
 *             The secret ("whsec_...") is the HMAC key as it is, not decoded.
 *   websub    X-Hub-Signature: sha256=HEX              over the raw body (WebSub's
 *             method=signature; Jira Cloud's admin webhooks sign so)
 *   token     a header (default X-Webhook-Token) equal to the secret; when the
 *             header is "Authorization" its value is "Bearer SECRET".
 *   none      no verification at all (the listener decides whether to allow it).
 * Hex may be upper or lower case. Where a header lists several signatures
 * (standard, stripe) any one matching is enough, for key rotation; entries of
 * other versions are ignored, and only the first FY_SIG_ENTRIES_MAX
 * signatures of the right version are looked at.
 *
 * Timestamps (slack, standard, stripe) are decimal epoch seconds; one more
 * than `tolerance` seconds away from `now`, in either direction, is refused
 * (Stripe's own libraries refuse only old ones; a future one is refused here
 * too, as no honest sender signs ahead of its clock by minutes). The
 * signature is checked first, so "timestamp too old" means a genuinely signed
 * request that came late or again (a replay, or a clock off).
 *
 * Header values longer than FY_SIG_VALUE_MAX bytes are refused as malformed
 * without being copied. When a header is sent more than once, the getter
 * decides which value is seen (evhttp_find_header gives the first); senders
 * put several signatures in one value, so a second copy is not needed. */
#ifndef FY_SIG_H
#define FY_SIG_H

#include <stddef.h>
#include <stdint.h>

#ifndef FY_OK
#define FY_OK 0
#endif
#ifndef FY_ERR
#define FY_ERR -1
#endif

struct lua_State;

#define FY_SIG_TOLERANCE_DEFAULT 300  /* seconds, 5 minutes, as every vendor says */
#define FY_SIG_TOLERANCE_MAX 86400    /* a larger tolerance is refused by the parsers */
#define FY_SIG_VALUE_MAX 4096         /* bytes of one header value, at most */
#define FY_SIG_ENTRIES_MAX 16         /* signatures of one header looked at, at most */
#define FY_SIG_HEADER_MAX 64          /* token scheme: longest header name, NUL included */
#define FY_SIG_ID_MAX 256             /* standard: longest webhook-id, NUL included */
#define FY_SIG_REASON_MAX 96
#define FY_SIG_SECRET_TEXT_MAX 1024   /* standard: longest secret text (before decoding) */

enum fy_sig_scheme {
    FY_SIG_NONE,
    FY_SIG_GITHUB,
    FY_SIG_SLACK,
    FY_SIG_STANDARD,
    FY_SIG_STRIPE,
    FY_SIG_TOKEN,
    FY_SIG_WEBSUB
};

/* What fy_sig_verify found. Every failure but FY_SIG_SECRET is the
 * client's: answer 401. FY_SIG_SECRET is the server's (an empty or
 * undecodable secret, or OpenSSL failing): answer 500 and log it;
 * fy_sig_secret_check at load time keeps the secret from being the cause. */
enum fy_sig_status {
    FY_SIG_OK = 0,
    FY_SIG_MISSING,     /* a header the scheme needs is absent */
    FY_SIG_MALFORMED,   /* a header is there but not in the scheme's form, or too long */
    FY_SIG_MISMATCH,    /* well formed, but no signature matches the secret and body */
    FY_SIG_STALE,       /* signed, but the timestamp is older than the tolerance */
    FY_SIG_FUTURE,      /* signed, but the timestamp is further ahead than the tolerance */
    FY_SIG_SECRET       /* the configured secret is unusable */
};

/* A parsed `signature` declaration. Plain data: copy it freely. */
struct fy_sig_config {
    enum fy_sig_scheme scheme;
    char header[FY_SIG_HEADER_MAX]; /* token: the header that carries it; "" otherwise */
    int64_t tolerance;              /* seconds, for slack, standard and stripe */
};

/* What fy_sig_verify tells its caller besides the status. */
struct fy_sig_outcome {
    char reason[FY_SIG_REASON_MAX]; /* short, safe to log and to send in a 401 body:
                                     * names headers, never quotes the secret, a
                                     * signature, or anything the client sent */
    char id[FY_SIG_ID_MAX];         /* standard, on FY_SIG_OK: the webhook-id (to
                                     * deduplicate on); "" otherwise */
    int64_t timestamp;              /* the signed timestamp on FY_SIG_OK; 0 if none */
};

/* Returns the value of header `name` (matched case-insensitively) as a
 * NUL-terminated string that stays valid during fy_sig_verify, or NULL when
 * the request has no such header. */
typedef const char *(*fy_sig_header_fn)(void *ud, const char *name);

/* Fill *out from plain strings: scheme is "github", "slack", "standard",
 * "stripe", "token" or "none" (lower case); header is only for "token" (NULL:
 * X-Webhook-Token; 1..63 characters of an HTTP token); tolerance in seconds,
 * 1..FY_SIG_TOLERANCE_MAX, or < 0 for the default (5 minutes). Returns FY_OK,
 * or FY_ERR with a message in err and *out untouched. */
int fy_sig_parse(struct fy_sig_config *out, const char *scheme, const char *header,
                 int64_t tolerance, char *err, size_t errlen);

/* Fill *out from the Lua value at index idx, the script's `signature`:
 *   signature = "github"
 *   signature = { scheme = "token", header = "X-Webhook-Token" }
 *   signature = { scheme = "slack", tolerance = "10m" }   -- or 600 (seconds)
 * A table has exactly these keys (scheme required); anything else, or a
 * value of another type, is an error. Does not raise; leaves the stack as it
 * was. Returns FY_OK, or FY_ERR with a message in err. */
int fy_sig_parse_lua(struct fy_sig_config *out, struct lua_State *L, int idx,
                     char *err, size_t errlen);

/* The name a script writes for a scheme ("github", ...). */
const char *fy_sig_scheme_name(enum fy_sig_scheme scheme);

/* Check that secret[0..len) is usable with cfg's scheme: not empty (unless
 * the scheme is none), and for standard a valid "whsec_" + base64 (or bare
 * base64) text of at most FY_SIG_SECRET_TEXT_MAX characters. Returns FY_OK,
 * or FY_ERR with a message in err that never quotes the secret. */
int fy_sig_secret_check(const struct fy_sig_config *cfg, const void *secret, size_t len,
                        char *err, size_t errlen);

/* Verify one request against cfg and secret[0..secret_len) (bytes, as read
 * from the environment; not kept). get(ud, name) returns headers; body is
 * the raw body, exactly as received; now is the current epoch second.
 * Returns an fy_sig_status and fills *out (reason "" on FY_SIG_OK, id for
 * standard, the timestamp). Copies nothing of the request but the id; time
 * is one HMAC over the body plus work bounded by FY_SIG_VALUE_MAX, whatever
 * the headers hold. Thread-safe (OpenSSL's own allocations aside). */
enum fy_sig_status fy_sig_verify(const struct fy_sig_config *cfg,
                                 const void *secret, size_t secret_len,
                                 fy_sig_header_fn get, void *ud,
                                 const void *body, size_t body_len,
                                 int64_t now, struct fy_sig_outcome *out);

/* 1 when header `name` must not be stored with the event: the signature or
 * token header of cfg's scheme (cfg may be NULL), and always Authorization,
 * Cookie and Proxy-Authorization; 0 otherwise. Case-insensitive. */
int fy_sig_header_is_secret(const struct fy_sig_config *cfg, const char *name);

#endif
