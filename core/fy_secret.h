/* Secrets and their redaction. A registered secret (ctx:secret, an OAuth2
 * token) is replaced by "[REDACTED]" in every text fy_redact sees: log
 * lines, run errors, run summaries, quarantine records. It is found in the
 * forms it takes on the way out:
 *   - raw, JSON-escaped (\" \\ \/ \n \u0022 ...), percent-encoded (%XX in
 *     either case, '+' for a space), and any mix of these;
 *   - base64, standard and URL-safe, padded or not, also inside a longer
 *     base64 text (Basic auth "user:secret") at any of the 3 alignments.
 *     Only the characters that depend on the secret alone are replaced, so
 *     up to two characters at each end (a few bits of the secret, mixed
 *     with its neighbours) stay; secrets shorter than 6 bytes are not
 *     looked for in base64 (their few characters would match ordinary text).
 * Not found: a secret escaped twice (JSON inside JSON, percent-encoding of
 * a percent-encoding), non-ASCII characters written as \uXXXX, hex,
 * compressed or encrypted forms. */
#ifndef FY_SECRET_H
#define FY_SECRET_H

#include <stddef.h>

struct fy_buf;

#define FY_SECRET_MIN 4         /* bytes; shorter values are refused */

/* Register a secret value. A value shorter than FY_SECRET_MIN is refused
 * with a warning in the log (redacting 3 bytes everywhere would shred the
 * logs, and such a value is no credential): FY_ERR. FY_OK otherwise
 * (registering a value twice is harmless). */
int fy_secret_add(const char *value);
void fy_secret_clear(void);

/* Replace every form of every registered secret in b. */
void fy_redact(struct fy_buf *b);

/* 1 when text[0..len) holds any form of a registered secret, else 0. */
int fy_secret_found(const char *text, size_t len);

#endif
