/* Unit tests for core/fy_scripts.c: listing the scripts of script_dirs and
 * the edit distance behind "did you mean". (Finding by name loads scripts
 * and is tested end to end in tests/e2e/test_scripts.sh.) */
#include "fy_config.h"
#include "fy_scripts.h"
#include "testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void touch(const char *dir, const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    if (fp) fclose(fp);
}

int main(void) {
    char root[] = "/tmp/ferry-test-scripts-XXXXXX";
    if (!mkdtemp(root)) return 1;
    char a[600], b[600], sub[700];
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b/", root);            /* a trailing slash is not doubled */
    snprintf(sub, sizeof sub, "%s/a/lib", root);
    mkdir(a, 0700);
    mkdir(b, 0700);
    mkdir(sub, 0700);
    touch(a, "zeta.lua");
    touch(a, "alpha.lua");
    touch(a, ".hidden.lua");
    touch(a, "notes.txt");
    touch(a, ".lua");
    touch(sub, "helper.lua");
    touch(b, "beta.lua");

    struct fy_config cfg;
    fy_config_defaults(&cfg);
    for (char **d = cfg.script_dirs; *d; d++) free(*d);
    free(cfg.script_dirs);
    cfg.script_dirs = calloc(4, sizeof(char *));
    cfg.script_dirs[0] = strdup(a);
    cfg.script_dirs[1] = strdup("/nonexistent/ferry-scripts");
    cfg.script_dirs[2] = strdup(b);

    struct fy_scripts s;
    fy_scripts_list(&cfg, &s);
    char want0[700], want1[700], want2[700];
    snprintf(want0, sizeof want0, "%s/alpha.lua", a);
    snprintf(want1, sizeof want1, "%s/zeta.lua", a);
    snprintf(want2, sizeof want2, "%s/b/beta.lua", root);
    fy_test_cond("list: *.lua directly in each dir, by name, dirs in config order",
                 s.n == 3 && !strcmp(s.paths[0], want0) && !strcmp(s.paths[1], want1) && !strcmp(s.paths[2], want2) &&
                 s.paths[3] == NULL);
    fy_test_cond("list: a missing dir is named with why",
                 s.missing && s.missing[0] && strstr(s.missing[0], "/nonexistent/ferry-scripts (no such directory)") &&
                 !s.missing[1]);
    fy_scripts_free(&s);
    fy_config_free(&cfg);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) printf("could not remove %s\n", root);
    return fy_test_report();
}
