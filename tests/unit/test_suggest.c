/* Unit tests for core/fy_suggest.c: the "did you mean" behind unknown
 * commands and integration names. */
#include "fy_suggest.h"
#include "testhelp.h"

#include <stdint.h>
#include <string.h>

static const char *suggest(const char *word, const char *const *names) {
    struct fy_suggest s;
    fy_suggest_init(&s, word);
    for (; *names; names++) fy_suggest_offer(&s, *names);
    return s.best;
}

int main(void)
{
    fy_test_cond("distance: equal", fy_suggest_distance("run", "run") == 0);
    fy_test_cond("distance: one swap", fy_suggest_distance("rnu", "run") == 1);
    fy_test_cond("distance: one insertion", fy_suggest_distance("rn", "run") == 1);
    fy_test_cond("distance: one substitution", fy_suggest_distance("rum", "run") == 1);
    fy_test_cond("distance: from empty", fy_suggest_distance("", "status") == 6);
    fy_test_cond("distance: kitten/sitting", fy_suggest_distance("kitten", "sitting") == 3);
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    fy_test_cond("distance: over 64 bytes is no typo", fy_suggest_distance(longname, "a") == SIZE_MAX);

    static const char *const cmds[] = {"run", "check", "status", "runs", "reset", "quarantine", NULL};
    const char *b = suggest("rnu", cmds);
    fy_test_cond("rnu -> run", b && !strcmp(b, "run"));
    b = suggest("stauts", cmds);
    fy_test_cond("stauts -> status", b && !strcmp(b, "status"));
    b = suggest("quarantien", cmds);
    fy_test_cond("quarantien -> quarantine", b && !strcmp(b, "quarantine"));
    fy_test_cond("nothing close -> none", suggest("backup", cmds) == NULL);
    fy_test_cond("short words need a close match", suggest("xy", cmds) == NULL);
    b = suggest("crm_acounts", (const char *const[]){"helpdesk_tickets", "crm_accounts", NULL});
    fy_test_cond("crm_acounts -> crm_accounts", b && !strcmp(b, "crm_accounts"));
    fy_test_cond("the word itself is no suggestion", suggest("run", (const char *const[]){"run", NULL}) == NULL);
    return fy_test_report();
}
