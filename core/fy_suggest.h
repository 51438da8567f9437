/* fy_suggest: "did you mean ...?" for names a user typed (commands,
 * integrations, scripts). */
#ifndef FY_SUGGEST_H
#define FY_SUGGEST_H

#include <stddef.h>

/* The edit distance between a and b (insertions, deletions, substitutions
 * and swaps of two neighbours each cost 1), or SIZE_MAX when either is
 * longer than 64 bytes: a name that long is not a typo of another. */
size_t fy_suggest_distance(const char *a, const char *b);

/* Incremental use: start with fy_suggest_init, offer each candidate, then
 * read best (NULL when none was close enough). Close enough is a distance of
 * at most 1 for names up to 4 bytes, 2 up to 8, 3 beyond; ties keep the
 * first candidate offered. */
struct fy_suggest {
    const char *word;
    const char *best;
    size_t dist;
};
void fy_suggest_init(struct fy_suggest *s, const char *word);
void fy_suggest_offer(struct fy_suggest *s, const char *candidate);

#endif
