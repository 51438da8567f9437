/* Unit tests for core/fy_utf8.c: what counts as UTF-8 (RFC 3629), Latin-1
 * to UTF-8, replacing bad bytes with U+FFFD, and one-line excerpts. */
#include "fy_utf8.h"
#include "fy_buf.h"
#include "testhelp.h"

#include <string.h>

/* fy_utf8_check over a literal (which may hold NULs). */
#define CHECK(lit) fy_utf8_check(lit, sizeof lit - 1)

static void test_check(void)
{
    static const struct { const char *s; size_t len, want; const char *what; } cases[] = {
        { "", 0, 0, "empty" },
        { "plain ascii", 11, 11, "ASCII" },
        { "a\0b", 3, 3, "NUL is valid UTF-8 (the JSON reader rejects it itself)" },
        { "caf\xc3\xa9", 5, 5, "two-byte" },
        { "\xe2\x82\xac", 3, 3, "three-byte (euro)" },
        { "\xf0\x9f\x98\x80", 4, 4, "four-byte (emoji)" },
        { "\xf4\x8f\xbf\xbf", 4, 4, "U+10FFFF, the last code point" },
        { "M\xfcller", 7, 1, "a Latin-1 byte" },
        { "\xc0\xaf", 2, 0, "overlong two-byte" },
        { "\xe0\x80\xaf", 3, 0, "overlong three-byte" },
        { "\xf0\x80\x80\xaf", 4, 0, "overlong four-byte" },
        { "\xed\xa0\x80", 3, 0, "a surrogate (U+D800)" },
        { "\xf4\x90\x80\x80", 4, 0, "above U+10FFFF" },
        { "\xf5\x80\x80\x80", 4, 0, "F5 never starts a sequence" },
        { "ok\xc3", 3, 2, "cut short at the end" },
        { "ok\xe2\x82", 4, 2, "three-byte cut short" },
        { "\xe2\x28\xa1", 3, 0, "bad continuation" },
        { "\x80", 1, 0, "a lone continuation byte" },
        { "12345678\xff", 9, 8, "a bad byte right after an eight-byte ASCII run" },
        { "1234567\xc3\xa9" "abcdefgh\xfe", 18, 17, "a sequence across the eight-byte boundary, then a bad byte" },
    };
    char descr[160];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = fy_utf8_check(cases[i].s, cases[i].len);

        snprintf(descr, sizeof descr, "check: %s (got %zu, want %zu)", cases[i].what, got, cases[i].want);
        fy_test_cond(descr, got == cases[i].want);
    }
    fy_test_cond("check: CHECK macro on a literal", CHECK("x\xc3\xa9y") == 4);

    /* the 32- and 8-byte ASCII steps: a bad byte, or a good sequence, at
     * each place of the first 70 bytes */
    char buf[80];
    int ok_bad = 1, ok_good = 1;
    for (size_t at = 0; at < 70; at++) {
        memset(buf, 'a', sizeof buf);
        buf[at] = (char)0xff;
        ok_bad &= fy_utf8_check(buf, sizeof buf) == at && fy_utf8_check(buf, at + 1) == at;
        memset(buf, 'a', sizeof buf);
        memcpy(buf + at, "\xe2\x82\xac", 3);
        ok_good &= fy_utf8_check(buf, sizeof buf) == sizeof buf && fy_utf8_check(buf, at + 2) == at;
    }
    fy_test_cond("check: a bad byte at each place of the 32- and 8-byte steps", ok_bad);
    fy_test_cond("check: a sequence across each step's boundary, whole or cut short", ok_good);
}

static void test_latin1(void)
{
    char out[32];
    size_t n = fy_utf8_from_latin1(out, "M\xfcller \xe9t\xe9 \xff", 12);

    fy_test_cond("latin1: bytes >= 0x80 become two-byte sequences",
                 n == 16 && memcmp(out, "M\xc3\xbcller \xc3\xa9t\xc3\xa9 \xc3\xbf", 16) == 0);
    fy_test_cond("latin1: the result is UTF-8", fy_utf8_check(out, n) == n);
    n = fy_utf8_from_latin1(out, "\xc3\xa9", 2);
    fy_test_cond("latin1: every byte is Latin-1, even where it reads as UTF-8",
                 n == 4 && memcmp(out, "\xc3\x83\xc2\xa9", 4) == 0);
}

static void test_sanitize(void)
{
    struct fy_buf b = {0};

    fy_utf8_sanitize(&b, "ok \xc3\xa9", 5);
    fy_test_cond("sanitize: valid text is unchanged", b.len == 5 && memcmp(b.data, "ok \xc3\xa9", 5) == 0);
    fy_buf_reset(&b);
    fy_utf8_sanitize(&b, "M\xfcller\xc3", 8);
    fy_test_cond("sanitize: each bad byte becomes U+FFFD",
                 b.len == 12 && memcmp(b.data, "M\xef\xbf\xbdller\xef\xbf\xbd", 12) == 0);
    fy_test_cond("sanitize: the result is UTF-8", fy_utf8_check(b.data, b.len) == b.len);
    fy_buf_free(&b);
}

/* fy_utf8_excerpt of a literal into a fresh buffer: is it `want`, cut or not? */
static int excerpt_is(const char *s, size_t n, size_t max, const char *want, int cut)
{
    struct fy_buf b = {0};
    fy_buf_puts(&b, "> ");                      /* appends after what b holds */
    int got = fy_utf8_excerpt(&b, s, n, max);
    int ok = got == cut && b.len == 2 + strlen(want) && memcmp(b.data + 2, want, strlen(want)) == 0;
    if (!ok) printf("  excerpt: got '%s' (cut %d)\n", b.data ? b.data + 2 : "", got);
    fy_buf_free(&b);
    return ok;
}
#define EXCERPT(lit, max, want, cut) excerpt_is(lit, sizeof lit - 1, max, want, cut)
#define ELLIPSIS "\xe2\x80\xa6"

/* Every cut of a text mixing 1- to 4-byte characters and whitespace is
 * valid UTF-8 and at most max bytes plus the ellipsis. */
static int excerpt_valid_at_every_max(void)
{
    static const char text[] = "\xc3\xbc \xe2\x80\x93\t\xf0\x9f\x98\x80 \xd0\x97\xd0\xb0 Ca n\xe2\x80\x99" "est";
    int all = 1;
    for (size_t max = 0; max < sizeof text; max++) {
        struct fy_buf b = {0};
        fy_utf8_excerpt(&b, text, sizeof text - 1, max);
        if (b.len && fy_utf8_check(b.data, b.len) != b.len) all = 0;
        if (b.len > max + 3) all = 0;
        fy_buf_free(&b);
    }
    return all;
}

static void test_excerpt(void)
{
    fy_test_cond("excerpt: short text is unchanged", EXCERPT("a 404 page", 200, "a 404 page", 0));
    fy_test_cond("excerpt: empty", EXCERPT("", 10, "", 0));
    fy_test_cond("excerpt: whitespace runs become one space, the ends are trimmed",
                 EXCERPT("\n\t<html>\r\n  <body>\n\n\tNot found\v\f</body>  \n", 200,
                         "<html> <body> Not found </body>", 0));
    fy_test_cond("excerpt: only whitespace is empty", EXCERPT(" \n\t ", 10, "", 0));
    fy_test_cond("excerpt: cut at max bytes with an ellipsis", EXCERPT("abcdefghij", 4, "abcd" ELLIPSIS, 1));
    fy_test_cond("excerpt: exactly max bytes is not cut", EXCERPT("abcd", 4, "abcd", 0));
    fy_test_cond("excerpt: trailing whitespace past max is no cut", EXCERPT("abcd \n\n", 4, "abcd", 0));
    fy_test_cond("excerpt: a cut after a space drops the space", EXCERPT("abc defgh", 4, "abc" ELLIPSIS, 1));
    fy_test_cond("excerpt: a two-byte character is never split",
                 EXCERPT("abc\xc3\xbc\xc3\xbc", 4, "abc" ELLIPSIS, 1));
    fy_test_cond("excerpt: a character that fits whole stays",
                 EXCERPT("abc\xc3\xbcx", 5, "abc\xc3\xbc" ELLIPSIS, 1));
    fy_test_cond("excerpt: a three-byte character is never split (2 of 3 bytes would fit)",
                 EXCERPT("ab\xe2\x80\x93" "cd", 4, "ab" ELLIPSIS, 1));
    fy_test_cond("excerpt: a four-byte character is never split (3 of 4 bytes would fit)",
                 EXCERPT("a\xf0\x9f\x98\x80" "b", 4, "a" ELLIPSIS, 1));
    fy_test_cond("excerpt: a cut never leaves broken UTF-8 at any length", excerpt_valid_at_every_max());
    fy_test_cond("excerpt: bytes that are not UTF-8 are copied as they are",
                 EXCERPT("M\xfcller  \x80x", 200, "M\xfcller \x80x", 0));
    fy_test_cond("excerpt: a stray continuation byte at the cut is kept, not taken for a character",
                 EXCERPT("abc\x80\x80\x80\x80", 5, "abc\x80\x80" ELLIPSIS, 1));
    fy_test_cond("excerpt: max 0 of some text is the ellipsis alone", EXCERPT("abc", 0, ELLIPSIS, 1));
}

int main(void)
{
    test_check();
    test_latin1();
    test_sanitize();
    test_excerpt();
    return fy_test_report();
}
