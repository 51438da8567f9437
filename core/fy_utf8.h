/* fy_utf8: checking text for UTF-8 and making it so. Sources check what they
 * read (a record whose text is not UTF-8 is quarantined, naming where), read
 * Latin-1 on request, and reports print only valid UTF-8.
 *
 * Valid means RFC 3629: shortest forms only, no surrogates, nothing above
 * U+10FFFF. */
#ifndef FY_UTF8_H
#define FY_UTF8_H

#include <stddef.h>

struct fy_buf;

/* Offset of the first byte of s[0..n) that does not begin a valid UTF-8
 * sequence (or begins one cut short), or n when all of it is valid. */
size_t fy_utf8_check(const char *s, size_t n);

/* Write s[0..n), read as Latin-1 (ISO 8859-1), into out as UTF-8 and return
 * its length. out must hold 2 * n bytes. */
size_t fy_utf8_from_latin1(char *out, const char *s, size_t n);

/* Append s[0..n) to b with each byte that is not part of valid UTF-8
 * replaced by U+FFFD. */
void fy_utf8_sanitize(struct fy_buf *b, const char *s, size_t n);

#endif
