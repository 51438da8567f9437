/* Unit tests for fy_json_parse (core/fy_json_decode.c) where the word-at-
 * a-time paths have edges: a special byte at each place of an eight-byte
 * word, strings that end at the end of the input or run past it, UTF-8
 * split across words; the key dictionary and its guesses; the shape hashed
 * while parsing against fy_json_shape's walk of the tape.
 *
 * Every text is parsed from a block of exactly its length, so that a read
 * past the end shows under the sanitizer build. */
#include "fy_json.h"
#include "fy_common.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>

static void *grow(struct fy_json_tape *t, void *old, size_t used, size_t size) {
    (void)t;
    (void)used;
    if (size == 0) {
        free(old);
        return NULL;
    }
    return realloc(old, size);
}

static struct fy_json_tape tape;
static char *text;                  /* the text parsed last, in its own block */
static char err[200];

static void reset(struct fy_json_keys *keys, int shapes) {
    free(tape.items);
    free(tape.arena);
    memset(&tape, 0, sizeof tape);
    tape.grow = grow;
    tape.keys = keys;
    tape.shapes = shapes;
}

/* Parse s[0..len) on a fresh tape (keeping its keys and shapes). */
static int parse(const char *s, size_t len) {
    struct fy_json_keys *keys = tape.keys;
    int shapes = tape.shapes;
    reset(keys, shapes);
    free(text);
    text = malloc(len ? len : 1);
    memcpy(text, s, len);
    err[0] = '\0';
    return fy_json_parse(&tape, text, len, err, sizeof err);
}

static int parse_str(const char *s) {
    return parse(s, strlen(s));
}

/* The one string item of the tape: its bytes, wherever it points. */
static int string_is(const char *want, size_t n) {
    if (tape.nitems != 1) return 0;
    const struct fy_json_item *it = &tape.items[0];
    if (it->type == FY_JT_TEXT) return it->n == n && memcmp(text + it->v.off, want, n) == 0;
    if (it->type == FY_JT_STR) return it->n == n && memcmp(tape.arena + it->v.off, want, n) == 0;
    return 0;
}

/* A byte that is not plain, at each place of the first three words. */
static void test_positions(void) {
    static const struct { const char *bytes, *decoded, *error; int at; } cases[] = {
        { "\x7f", "\x7f", NULL, 0 },                                /* DEL is plain */
        { "\"", NULL, "unexpected data after the value", 1 },
        { "\\n", "\n", NULL, 0 },
        { "\\\"", "\"", NULL, 0 },
        { "\\u00e9", "\xc3\xa9", NULL, 0 },
        { "\x01", NULL, "control character in string (U+0001 must be escaped)", 0 },
        { "\x1f", NULL, "control character in string (U+001F must be escaped)", 0 },
        { "\t", NULL, "control character in string (U+0009 must be escaped)", 0 },
        { "\xc3\xa9", "\xc3\xa9", NULL, 0 },                        /* two bytes, maybe across words */
        { "\xe2\x82\xac", "\xe2\x82\xac", NULL, 0 },
        { "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", NULL, 0 },
        { "\xff", NULL, "invalid UTF-8 in string", 0 },
        { "\x80", NULL, "invalid UTF-8 in string", 0 },
        { "\xe2\x82", NULL, "invalid UTF-8 in string", 0 },         /* cut short by the other text */
        { "\xed\xa0\x80", NULL, "invalid UTF-8 in string", 0 },     /* a surrogate */
    };
    char doc[64], want[64], msg[160], descr[300];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        for (int k = 0; k < 24; k++) {
            int ok = 1;
            for (int tail = 0; tail < 10; tail += 9) {         /* the string's end near the special byte, or not */
                size_t n = 0, w = 0;
                doc[n++] = '"';
                for (int i = 0; i < k; i++) doc[n++] = want[w++] = 'a';
                size_t at = n;
                memcpy(doc + n, cases[c].bytes, strlen(cases[c].bytes));
                n += strlen(cases[c].bytes);
                if (cases[c].decoded) {
                    memcpy(want + w, cases[c].decoded, strlen(cases[c].decoded));
                    w += strlen(cases[c].decoded);
                }
                for (int i = 0; i < tail; i++) doc[n++] = want[w++] = 'b';
                doc[n++] = '"';
                int rc = parse(doc, n);
                if (cases[c].error) {
                    snprintf(msg, sizeof msg, "%s at character %zu", cases[c].error, at + 1 + (size_t)cases[c].at);
                    ok &= rc == FY_ERR && strcmp(err, msg) == 0;
                } else {
                    ok &= rc == FY_OK && string_is(want, w);
                }
            }
            snprintf(descr, sizeof descr, "case %zu with %d bytes before (got: %s)", c, k, err);
            fy_test_cond(descr, ok);
        }
    }
}

/* Strings that end where the input ends, or run past it. */
static void test_ends(void) {
    char doc[64], descr[120];
    for (int len = 0; len < 40; len++) {
        doc[0] = '"';
        memset(doc + 1, 'x', (size_t)len);
        doc[len + 1] = '"';
        snprintf(descr, sizeof descr, "a %d-byte string ending at the input's end", len);
        fy_test_cond(descr, parse(doc, (size_t)len + 2) == FY_OK && string_is(doc + 1, (size_t)len));
        snprintf(descr, sizeof descr, "a %d-byte string with no closing quote", len);
        fy_test_cond(descr, parse(doc, (size_t)len + 1) == FY_ERR && strcmp(err, "unterminated string at character 1") == 0);
        doc[len + 1] = '\\';
        snprintf(descr, sizeof descr, "a %d-byte string ending in a backslash", len);
        fy_test_cond(descr, parse(doc, (size_t)len + 2) == FY_ERR && strcmp(err, "unterminated string at character 1") == 0);
        doc[len + 1] = '\xc3';
        char msg[80];
        snprintf(msg, sizeof msg, "invalid UTF-8 in string at character %d", len + 2);
        snprintf(descr, sizeof descr, "a %d-byte string ending in half a character", len);
        fy_test_cond(descr, parse(doc, (size_t)len + 2) == FY_ERR && strcmp(err, msg) == 0);
    }
}

/* The key item of {"KEY":1} (its first key), or NULL. */
static const struct fy_json_item *first_key(const char *doc, size_t len) {
    return parse(doc, len) == FY_OK ? &tape.items[1] : NULL;
}

static void test_keys(void) {
    struct fy_json_keys *keys = fy_json_keys_new();
    char doc[128], descr[120];
    reset(keys, 0);

    fy_test_cond("keys: first seen", parse_str("{\"id\":1,\"name\":2}") == FY_OK && tape.items[1].type == FY_JT_KEY_NEW
                 && tape.items[1].n == 0 && tape.items[1].len == 2 && tape.items[3].type == FY_JT_KEY_NEW && tape.items[3].n == 1);
    fy_test_cond("keys: seen before", parse_str("{\"id\":3,\"name\":4}") == FY_OK && tape.items[1].type == FY_JT_KEY
                 && tape.items[1].n == 0 && tape.items[3].type == FY_JT_KEY && tape.items[3].n == 1);
    fy_test_cond("keys: in another order", parse_str("{\"name\":3,\"id\":4}") == FY_OK && tape.items[1].type == FY_JT_KEY
                 && tape.items[1].n == 1 && tape.items[3].type == FY_JT_KEY && tape.items[3].n == 0);
    fy_test_cond("keys: a prefix of the key guessed is another key", parse_str("{\"name\":3,\"i\":4}") == FY_OK
                 && tape.items[3].type == FY_JT_KEY_NEW && tape.items[3].n == 2);
    fy_test_cond("keys: the key guessed is a prefix of it", parse_str("{\"name\":3,\"idx\":4}") == FY_OK
                 && tape.items[3].type == FY_JT_KEY_NEW && tape.items[3].n == 3);
    fy_test_cond("keys: a failed text forgets its new keys", parse_str("{\"name\":3,\"zz\":") == FY_ERR
                 && parse_str("{\"name\":3,\"q\":1}") == FY_OK && tape.items[3].type == FY_JT_KEY_NEW && tape.items[3].n == 4);
    fy_test_cond("keys: the same key twice in a text", parse_str("{\"dup\":1,\"dup\":2}") == FY_OK
                 && tape.items[1].type == FY_JT_KEY_NEW && tape.items[3].type == FY_JT_KEY && tape.items[1].n == tape.items[3].n);

    /* keys of every length, each differing from the next in its last byte
     * only, read where 8 bytes follow them and where fewer do */
    for (int len = 0; len <= FY_JSON_KEY_MAX + 1; len++) {
        for (int last = 'A'; last <= 'B'; last++) {
            size_t n = 0;
            doc[n++] = '{';
            doc[n++] = '"';
            for (int i = 0; i < len; i++) doc[n++] = (char)(i == len - 1 ? last : 'a' + i % 26);
            memcpy(doc + n, "\":1}", 4);
            const struct fy_json_item *near = first_key(doc, n + 4);
            int near_type = near ? near->type : -1;
            uint32_t near_n = near ? near->n : 0;
            memcpy(doc + n, "\":\"a long value after the key\"}", 31);
            const struct fy_json_item *far = first_key(doc, n + 31);
            snprintf(descr, sizeof descr, "keys: %d bytes ending in %c, near the input's end and not", len, last);
            if (len > FY_JSON_KEY_MAX)
                fy_test_cond(descr, near_type == FY_JT_TEXT && far && far->type == FY_JT_TEXT && far->n == (uint32_t)len);
            else
                fy_test_cond(descr, (near_type == FY_JT_KEY_NEW || near_type == FY_JT_KEY) && far
                             && far->type == FY_JT_KEY && far->n == near_n && far->len == len);
        }
    }
    reset(NULL, 0);
    fy_json_keys_free(keys);
}

/* The shape hashed while parsing, against fy_json_shape's walk, with and
 * without a key dictionary. */
static uint64_t shape_of(const char *doc, struct fy_json_keys *keys, int *same) {
    reset(keys, 1);
    if (parse_str(doc) != FY_OK) {
        *same = 0;
        return 0;
    }
    *same = tape.shape == fy_json_shape(&tape, 0, text);
    return tape.shape;
}

static void test_shapes(void) {
    static const char *docs[] = {
        "{\"a\":1,\"b\":\"x\"}",
        "{\"a\":2,\"b\":\"yy\"}",
        "{\"\\u0061\":3,\"b\":\"z\"}",
        "{\"a\":1.0,\"b\":\"x\"}",
        "{\"a\":1.5,\"b\":\"x\"}",
        "{\"a\":\"1\",\"b\":\"x\"}",
        "{\"b\":\"x\",\"a\":1}",
        "{\"a\":1,\"b\":\"x\",\"c\":null}",
        "{}",
        "{\"a\":{}}",
        "{\"a\":{\"b\":1}}",
        "{\"a\":{\"b\":\"x\"}}",
        "{\"a\":{\"b\":{\"c\":1}}}",
        "{\"a\":{\"b\":{\"c\":\"x\"}}}",
        "{\"a\":[{\"c\":1}]}",
        "{\"a\":[{\"c\":\"x\"}]}",
        "{\"a\":[],\"t\":true,\"f\":false,\"n\":null,\"big\":123456789012345678901234567890}",
        "{\"a_key_longer_than_the_dictionary_keeps_at_all_xxxxx\":1}",
        "{\"a_key_longer_than_the_dictionary_keeps_at_all_xxx\\u0078x\":1}",
        "[{\"a\":1}]",
        "\"a\"",
    };
    enum { N = sizeof docs / sizeof *docs };
    uint64_t with[N], without[N];
    char descr[200];
    struct fy_json_keys *keys = fy_json_keys_new();
    for (int round = 0; round < 2; round++) {           /* keys first seen, then seen before */
        for (int i = 0; i < N; i++) {
            int same1, same2;
            with[i] = shape_of(docs[i], keys, &same1);
            without[i] = shape_of(docs[i], NULL, &same2);
            snprintf(descr, sizeof descr, "shape of %s: hashed while parsing as the walk does, with keys or not (round %d)", docs[i], round);
            fy_test_cond(descr, same1 && same2 && with[i] == without[i]);
        }
    }
    fy_test_cond("shape: the same names and types", with[0] == with[1] && with[0] == with[2] && with[0] == with[3]);
    fy_test_cond("shape: another type", with[0] != with[4] && with[0] != with[5]);
    fy_test_cond("shape: the order counts", with[0] != with[6]);
    fy_test_cond("shape: a field more", with[0] != with[7]);
    fy_test_cond("shape: empty objects", with[8] != 0 && with[8] != with[9] && with[9] != with[10]);
    fy_test_cond("shape: one level down", with[10] != with[11]);
    fy_test_cond("shape: not two levels down", with[12] == with[13]);
    fy_test_cond("shape: not inside arrays", with[14] == with[15]);
    fy_test_cond("shape: a long key, escaped or not", with[17] == with[18]);
    fy_test_cond("shape: 0 for what is not an object", with[19] == 0 && with[20] == 0);
    reset(NULL, 0);
    fy_json_keys_free(keys);
}

int main(void) {
    test_positions();
    test_ends();
    test_keys();
    test_shapes();
    reset(NULL, 0);
    free(text);
    return fy_test_report();
}
