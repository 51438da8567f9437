/* The scripts of script_dirs and finding one by name; see fy_scripts.h. */
#include "fy_scripts.h"
#include "fy_suggest.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_integration.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append `s` (taken) to the NULL-terminated list *list of *n entries. */
static void push(char ***list, size_t *n, char *s) {
    char **l = realloc(*list, (*n + 2) * sizeof *l);
    if (!l) {
        free(s);
        return;
    }
    l[(*n)++] = s;
    l[*n] = NULL;
    *list = l;
}

int fy_scripts_is_script(const char *name) {
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".lua") == 0;
}

/* The scripts directly in `dir`, sorted by name, appended to out. */
static void list_dir(const char *dir, struct fy_scripts *out, size_t *nmissing) {
    DIR *d = opendir(dir);
    if (!d) {
        struct fy_buf b = {0};
        fy_buf_printf(&b, "%s (%s)", dir, errno == ENOENT ? "no such directory" : strerror(errno));
        push(&out->missing, nmissing, b.data);
        return;
    }
    size_t first = out->n;
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/') dlen--;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!fy_scripts_is_script(de->d_name)) continue;
        struct fy_buf path = {0};
        fy_buf_printf(&path, "%.*s/%s", (int)dlen, dir, de->d_name);
        struct stat st;
        if (stat(path.data, &st) != 0 || !S_ISREG(st.st_mode)) {
            fy_buf_free(&path);
            continue;
        }
        push(&out->paths, &out->n, path.data);
    }
    closedir(d);
    if (out->n > first) qsort(out->paths + first, out->n - first, sizeof *out->paths, by_name);
}

void fy_scripts_list(const struct fy_config *cfg, struct fy_scripts *out) {
    size_t nmissing = 0;
    memset(out, 0, sizeof *out);
    for (char **d = cfg->script_dirs; d && *d; d++) list_dir(*d, out, &nmissing);
}

void fy_scripts_free(struct fy_scripts *s) {
    for (size_t i = 0; i < s->n; i++) free(s->paths[i]);
    free(s->paths);
    for (char **m = s->missing; m && *m; m++) free(*m);
    free(s->missing);
    memset(s, 0, sizeof *s);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The closest of the candidates seen so far to what the user typed. */
struct guess {
    const char *want;        /* what was typed, without .lua */
    char *name;              /* the best candidate (malloc'd) and its script */
    char *path;
    size_t dist;
};

static void consider(struct guess *g, const char *name, size_t len, const char *path) {
    char cand[256];
    snprintf(cand, sizeof cand, "%.*s", (int)len, name);
    size_t d = fy_suggest_distance(g->want, cand);
    if (d > fy_suggest_limit(g->want) || (g->name && d >= g->dist) || d == 0) return;
    free(g->name);
    free(g->path);
    g->name = strdup(cand);
    g->path = strdup(path);
    g->dist = d;
}

/* Step 2: scripts whose file name is `file`. Returns the one match, or NULL
 * (ambiguity explained in err, *ambiguous set). */
static char *find_file(const struct fy_scripts *all, const char *file, struct fy_buf *err, int *ambiguous) {
    char *found = NULL, real_found[PATH_MAX] = "";
    for (size_t i = 0; i < all->n; i++) {
        if (strcmp(base_name(all->paths[i]), file) != 0) continue;
        char real[PATH_MAX];
        if (!realpath(all->paths[i], real)) snprintf(real, sizeof real, "%s", all->paths[i]);
        if (!found) {
            found = all->paths[i];
            snprintf(real_found, sizeof real_found, "%s", real);
        } else if (strcmp(real, real_found) != 0) {   /* a dir listed twice is one script */
            if (!*ambiguous)
                fy_buf_printf(err, "%s names more than one script: %s", file, found);
            fy_buf_printf(err, " and %s", all->paths[i]);
            *ambiguous = 1;
        }
    }
    if (*ambiguous) {
        fy_buf_puts(err, "\nname the one to use by its path");
        return NULL;
    }
    return found ? strdup(found) : NULL;
}

/* Step 3: load every script to learn its integration's name. Returns the
 * one defining `name`, or NULL (ambiguity explained in err, *ambiguous
 * set). Scripts that fail to load are listed in `broken`; every name
 * found is offered to `g`. */
static char *find_integration(struct fy_engine *e, const struct fy_scripts *all, const char *name,
                              struct fy_buf *err, int *ambiguous, struct fy_buf *broken, int *nbroken,
                              struct guess *g) {
    char *found = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *sink = open_memstream(&text, &len);       /* a failing script's problems: ferry check shows them */
    if (!sink) return NULL;
    for (size_t i = 0; i < all->n; i++) {
        struct fy_integration *in = fy_integration_load(e, all->paths[i], sink, 0);
        if (!in) {
            fy_buf_printf(broken, "%s%s", *nbroken ? ", " : "", all->paths[i]);
            (*nbroken)++;
            continue;
        }
        consider(g, in->name, strlen(in->name), all->paths[i]);
        if (strcmp(in->name, name) == 0) {
            if (!found) {
                found = strdup(all->paths[i]);
            } else {
                if (!*ambiguous)
                    fy_buf_printf(err, "integration %s is defined by more than one script: %s", name, found);
                fy_buf_printf(err, " and %s", all->paths[i]);
                *ambiguous = 1;
            }
        }
        fy_integration_destroy(in);
    }
    fclose(sink);
    free(text);
    if (*ambiguous) {
        fy_buf_puts(err, "\nan integration's name must be unique: rename one, or name the one to use by its path");
        free(found);
        return NULL;
    }
    return found;
}

char *fy_scripts_find(struct fy_engine *e, const char *arg, struct fy_buf *err) {
    if (strchr(arg, '/') || access(arg, F_OK) == 0) return strdup(arg);
    struct fy_scripts all;
    fy_scripts_list(&e->cfg, &all);
    size_t alen = strlen(arg);
    int has_ext = alen > 4 && strcmp(arg + alen - 4, ".lua") == 0;
    struct fy_buf file = {0}, broken = {0};
    fy_buf_printf(&file, "%s%s", arg, has_ext ? "" : ".lua");
    int ambiguous = 0, nbroken = 0;
    struct guess g = {.want = NULL};
    char want[256];
    snprintf(want, sizeof want, "%.*s", (int)(has_ext ? alen - 4 : alen), arg);
    g.want = want;

    char *path = find_file(&all, file.data, err, &ambiguous);
    if (!path && !ambiguous)
        path = find_integration(e, &all, arg, err, &ambiguous, &broken, &nbroken, &g);
    if (!path && !ambiguous) {
        for (size_t i = 0; i < all.n; i++) {
            const char *b = base_name(all.paths[i]);
            consider(&g, b, strlen(b) - 4, all.paths[i]);
        }
        char cwd[PATH_MAX];
        fy_buf_printf(err, "no script '%s'. Looked for:\n  %s in the working directory %s\n", arg, arg,
                      getcwd(cwd, sizeof cwd) ? cwd : ".");
        for (char **d = e->cfg.script_dirs; d && *d; d++) {
            const char *why = "";
            for (char **m = all.missing; m && *m && !*why; m++)
                if (!strncmp(*m, *d, strlen(*d)) && !strncmp(*m + strlen(*d), " (", 2)) why = *m + strlen(*d);
            fy_buf_printf(err, "  %s in %s%s\n", file.data, *d, why);
        }
        fy_buf_printf(err, "  a script defining the integration %s, among the %zu script%s there", arg, all.n,
                      all.n == 1 ? "" : "s");
        if (nbroken)
            fy_buf_printf(err, "\n  (%d of them could not be loaded, so their names are unknown: %s; see "
                          "'ferry check')", nbroken, broken.data);
        fy_buf_printf(err, "\nscript_dirs come from %s", e->cfg.path ? e->cfg.path : "the built-in defaults (no config file)");
        if (g.name) fy_buf_printf(err, "\ndid you mean %s (%s)?", g.name, g.path);
    }
    free(g.name);
    free(g.path);
    fy_buf_free(&file);
    fy_buf_free(&broken);
    fy_scripts_free(&all);
    return path;
}
