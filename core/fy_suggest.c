/* Optimal string alignment distance over two rows plus the one before, in
 * bytes: names are ASCII in practice, and a multi-byte typo only costs more. */
#include "fy_suggest.h"

#include <stdint.h>
#include <string.h>

#define MAXN 64

size_t fy_suggest_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > MAXN || m > MAXN) return SIZE_MAX;
    size_t rows[3][MAXN + 1], *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++) prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t d = prev[j - 1] + cost;
            if (prev[j] + 1 < d) d = prev[j] + 1;
            if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

size_t fy_suggest_limit(const char *word) {
    size_t n = strlen(word);
    return n <= 4 ? 1 : n <= 8 ? 2 : 3;
}

void fy_suggest_init(struct fy_suggest *s, const char *word) {
    s->word = word;
    s->best = NULL;
    s->dist = fy_suggest_limit(word) + 1;                /* the first distance too far */
}

void fy_suggest_offer(struct fy_suggest *s, const char *candidate) {
    if (!candidate || !strcmp(candidate, s->word)) return;
    size_t d = fy_suggest_distance(s->word, candidate);
    if (d < s->dist) {
        s->dist = d;
        s->best = candidate;
    }
}
