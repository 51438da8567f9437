/* fy_suggest: "did you mean ...?" for names a user typed (commands,
 * integrations, scripts). */
#ifndef FY_SUGGEST_H
#define FY_SUGGEST_H

#include <stddef.h>

/* The edit distance between a and b (insertions, deletions, substitutions
 * and swaps of two neighbours each cost 1), or SIZE_MAX when either is
 * longer than 64 bytes: a name that long is not a typo of another. */
size_t fy_suggest_distance(const char *a, const char *b);

/* The largest distance at which a name counts as a typo of word: 1 for
 * words up to 4 bytes, 2 up to 8, 3 beyond. */
size_t fy_suggest_limit(const char *word);

/* Incremental use: start with fy_suggest_init, offer each candidate, then
 * read best (NULL when none was within fy_suggest_limit); ties keep the
 * first candidate offered. */
struct fy_suggest {
    const char *word;
    const char *best;
    size_t dist;
};
void fy_suggest_init(struct fy_suggest *s, const char *word);
void fy_suggest_offer(struct fy_suggest *s, const char *candidate);

#endif
