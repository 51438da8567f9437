/* fy_scripts: the integration scripts of the config's script_dirs, and
 * finding one by what a user types — a path, a file name or an
 * integration name. `ferry run`, `ferry check` (and later `ferry serve`)
 * share it, so they agree on which scripts exist.
 *
 * A script is a `*.lua` file directly in a script dir (helper modules go in
 * a subdirectory, where `require` still finds them). Finding a script only
 * yields its path: the caller loads it with fy_integration_load exactly as
 * a path typed by the user, so its grants are bound the same way. */
#ifndef FY_SCRIPTS_H
#define FY_SCRIPTS_H

#include <stddef.h>

#include "fy_buf.h"

struct fy_config;
struct fy_engine;

struct fy_scripts {
    char **paths;            /* DIR/FILE.lua, dir by dir in config order, by name within a dir */
    size_t n;
    char **missing;          /* script dirs that could not be read: "DIR (why)"; NULL-terminated */
};

/* List the scripts of cfg->script_dirs into `out` (zeroed first). A script
 * dir that is missing or unreadable is named in out->missing, not an error. */
void fy_scripts_list(const struct fy_config *cfg, struct fy_scripts *out);
void fy_scripts_free(struct fy_scripts *s);

/* Is this file name (no directory) a script's: "*.lua", not hidden? */
int fy_scripts_is_script(const char *name);

/* The script `arg` names, as a path (malloc'd), in this order:
 *  1. `arg` itself when it holds a '/' or exists as given (as before
 *     script_dirs were searched);
 *  2. a script in the script dirs whose file name is `arg` or `arg`.lua;
 *  3. the script that defines the integration named `arg` (every script
 *     is loaded to learn its name; one that fails to load is skipped).
 * NULL when none or more than one matches: `err` then holds the reason,
 * lines joined by '\n' — where it looked, a "did you mean" for a close
 * name, the scripts that could not be loaded; or the two files that
 * claim the same name. */
char *fy_scripts_find(struct fy_engine *e, const char *arg, struct fy_buf *err);


#endif
