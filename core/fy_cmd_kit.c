/* The connector kit's commands: `ferry connectors` (what is installed) and
 * `ferry test` (a script's or connector's own tests against fixtures).
 * The Lua halves are lualib/ferry/connectors.lua and lualib/ferry/test.lua. */
#include "fy_buf.h"
#include "fy_cmd.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_run.h"
#include "fy_vm.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <lauxlib.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct found {
    char *name, *dir;
};

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct found *)a)->name, ((const struct found *)b)->name);
}

/* The connectors in dir: its subfolders with an init.lua, sorted. */
static void list_connectors(const char *dir, struct found **out, size_t *n, size_t *cap) {
    DIR *d = opendir(dir);
    if (!d) return;
    size_t first = *n;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char init[4096];
        struct stat st;
        snprintf(init, sizeof init, "%s/%s/init.lua", dir, de->d_name);
        if (stat(init, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            struct found *grown = realloc(*out, *cap * sizeof **out);
            if (!grown) break;
            *out = grown;
        }
        (*out)[(*n)++] = (struct found){strdup(de->d_name), strdup(dir)};
    }
    closedir(d);
    if (*n > first) qsort(*out + first, *n - first, sizeof **out, by_name);
}

/* Ask a fresh VM what connector `f` says about itself; leaves the row (a
 * table) in the registry list `rows` of L at index i. */
static void describe(struct fy_engine *e, const struct found *f, lua_State *L, int rows, int i) {
    char err[FY_ERRLEN];
    struct fy_vm *vm = fy_vm_create(e, &e->cfg, e->lualib, NULL, err, sizeof err);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, f->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, f->dir);
    lua_setfield(L, -2, "dir");
    if (!vm) {
        lua_pushstring(L, err);
        lua_setfield(L, -2, "error");
        lua_rawseti(L, rows, i);
        return;
    }
    lua_State *V = vm->L;
    lua_getglobal(V, "require");
    lua_pushliteral(V, "ferry.connectors");
    int ok = lua_pcall(V, 1, 1, 0) == LUA_OK;
    if (ok) {
        lua_getfield(V, -1, "describe");
        lua_pushstring(V, f->name);
        lua_pushstring(V, f->dir);
        ok = lua_pcall(V, 2, 1, 0) == LUA_OK;
    }
    /* copy the answer's plain fields across: the two states share nothing */
    if (!ok) {
        lua_pushstring(L, lua_tostring(V, -1) ? lua_tostring(V, -1) : "error");
        lua_setfield(L, -2, "error");
    } else if (lua_getfield(V, -1, "error") == LUA_TSTRING) {
        lua_pushstring(L, lua_tostring(V, -1));
        lua_setfield(L, -2, "error");
    } else if (lua_getfield(V, -2, "about") == LUA_TTABLE) {
        int a = lua_gettop(V);
        lua_createtable(L, 0, 8);
        static const char *strings[] = {"name", "system", "version", "api", "docs", "auth", "description", NULL};
        for (int k = 0; strings[k]; k++) {
            if (lua_getfield(V, a, strings[k]) == LUA_TSTRING) {
                lua_pushstring(L, lua_tostring(V, -1));
                lua_setfield(L, -2, strings[k]);
            }
            lua_pop(V, 1);
        }
        static const char *lists[] = {"streams", "operations", NULL};
        for (int k = 0; lists[k]; k++) {
            lua_newtable(L);
            if (lua_getfield(V, a, lists[k]) == LUA_TTABLE) {
                lua_Integer n = (lua_Integer)lua_rawlen(V, -1);
                for (lua_Integer j = 1; j <= n; j++) {
                    lua_rawgeti(V, -1, j);
                    if (lua_type(V, -1) == LUA_TSTRING) {
                        lua_pushstring(L, lua_tostring(V, -1));
                        lua_rawseti(L, -2, j);
                    }
                    lua_pop(V, 1);
                }
            }
            lua_pop(V, 1);
            lua_setfield(L, -2, lists[k]);
        }
        lua_setfield(L, -2, "about");
    }
    lua_rawseti(L, rows, i);
    fy_vm_destroy(vm);
}

int fy_cmd_connectors(int argc, char **argv, struct fy_config *cfg) {
    FY_UNUSED(argv);
    if (argc > 0) {
        fprintf(stderr, "ferry connectors: takes no arguments\n");
        return FY_EXIT_USAGE;
    }
    struct fy_engine *e = fy_cmd_engine(cfg);
    if (!e) return FY_EXIT_USAGE;
    /* where require "contrib.X" looks, in its order (fy_vm.c) */
    char *lib = strdup(e->lualib), *parent = dirname(lib), contrib[4096];
    snprintf(contrib, sizeof contrib, "%s/contrib", parent);
    struct found *all = NULL;
    size_t n = 0, cap = 0;
    list_connectors(contrib, &all, &n, &cap);
    for (char **d = e->cfg.connector_dirs; d && *d; d++) list_connectors(*d, &all, &n, &cap);
    free(lib);

    /* the rendering is Lua's (connectors.lua), in a VM of its own */
    char err[FY_ERRLEN];
    struct fy_vm *vm = fy_vm_create(e, &e->cfg, e->lualib, NULL, err, sizeof err);
    int rc = FY_EXIT_OK;
    if (!vm) {
        fprintf(stderr, "ferry: %s\n", err);
        rc = FY_EXIT_USAGE;
        goto done;
    }
    lua_State *L = vm->L;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.connectors");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "ferry: %s\n", lua_tostring(L, -1));
        rc = FY_EXIT_USAGE;
        goto done;
    }
    lua_getfield(L, -1, "render");
    lua_createtable(L, (int)n, 0);
    int rows = lua_gettop(L);
    for (size_t i = 0; i < n; i++) {
        describe(e, &all[i], L, rows, (int)i + 1);
        lua_rawgeti(L, rows, (lua_Integer)i + 1);
        if (lua_getfield(L, -1, "error") != LUA_TNIL) rc = FY_EXIT_FAILED;
        lua_pop(L, 1);
        for (size_t j = 0; j < i; j++)           /* require finds the first of a name */
            if (strcmp(all[j].name, all[i].name) == 0) {
                lua_pushstring(L, all[j].dir);
                lua_setfield(L, -2, "shadowed_by");
                break;
            }
        lua_pop(L, 1);
    }
    lua_pushboolean(L, fy_flags.json);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        fprintf(stderr, "ferry: %s\n", lua_tostring(L, -1));
        rc = FY_EXIT_FAILED;
    } else {
        fputs(lua_tostring(L, -1), stdout);
    }
done:
    fy_vm_destroy(vm);
    for (size_t i = 0; i < n; i++) free(all[i].name), free(all[i].dir);
    free(all);
    fy_engine_destroy(e);
    return rc;
}

/* ---- ferry test ------------------------------------------------------------ */

int luaopen_ferry_test_core(lua_State *L);

struct files {
    char **paths;
    size_t n, cap;
};

static void add_file(struct files *f, const char *path) {
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        char **grown = realloc(f->paths, f->cap * sizeof *f->paths);
        if (!grown) return;
        f->paths = grown;
    }
    f->paths[f->n++] = strdup(path);
}

static int by_path(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_test_file(const char *name) {
    size_t n = strlen(name);
    return n > 9 && strcmp(name + n - 9, "_test.lua") == 0;
}

/* The *_test.lua files under dir (not in data/, node_modules/ or hidden
 * folders), `depth` levels down at most. */
static void find_tests(const char *dir, int depth, struct files *f) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strcmp(de->d_name, "data") || !strcmp(de->d_name, "node_modules")) continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode) && depth > 0) find_tests(path, depth - 1, f);
        else if (S_ISREG(st.st_mode) && is_test_file(de->d_name)) add_file(f, path);
    }
    closedir(d);
}

struct outcome {
    long long passed, failed;
};

static void test_done(struct fy_run *run, int nres, void *arg) {
    struct outcome *o = arg;
    if (run->error) {
        printf("not ok %s\n", run->error);
        o->failed++;
    } else if (nres >= 2) {
        o->passed += lua_tointeger(run->co, -nres);
        o->failed += lua_tointeger(run->co, -nres + 1);
    }
    lua_pop(run->co, nres);
}

/* One test file in a VM of its own: its cases' lines on stdout. */
static void run_file(struct fy_engine *e, const char *path, int index, struct outcome *o) {
    char err[FY_ERRLEN];
    struct fy_vm *vm = fy_vm_create(e, &e->cfg, e->lualib, path, err, sizeof err);
    if (!vm) {
        printf("not ok %s: %s\n", path, err);
        o->failed++;
        return;
    }
    lua_State *L = vm->L;
    luaL_requiref(L, "ferry.test.core", luaopen_ferry_test_core, 0);
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.test");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        printf("not ok %s: %s\n", path, lua_tostring(L, -1));
        o->failed++;
        fy_vm_destroy(vm);
        return;
    }
    lua_getglobal(L, "ferry");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "test");                 /* ferry.test, in test files only */
    lua_pop(L, 1);
    struct fy_run *run = fy_run_create(e, vm, test_done, o);
    if (!run) {
        printf("not ok %s: cannot start a run\n", path);
        o->failed++;
    } else if (fy_vm_loadfile(vm, path) != LUA_OK) {
        printf("not ok %s: %s\n", path, lua_tostring(L, -1));
        o->failed++;
    } else {
        lua_getfield(L, -2, "main");
        lua_insert(L, -2);                       /* main, chunk */
        lua_xmove(L, run->co, 2);
        lua_pushstring(run->co, path);
        lua_pushfstring(run->co, "f%d", index);
        e->active_runs++;
        fy_run_resume(run, 3);
        fy_engine_dispatch(e);
    }
    fy_run_destroy(run);
    fy_vm_destroy(vm);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    FY_UNUSED(st);
    FY_UNUSED(flag);
    FY_UNUSED(ftw);
    remove(path);
    return 0;
}

int fy_cmd_test(int argc, char **argv, struct fy_config *cfg) {
    struct files f = {0};
    for (int i = 0; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "ferry test: %s: no such file or directory\n", argv[i]);
            for (size_t j = 0; j < f.n; j++) free(f.paths[j]);
            free(f.paths);
            return FY_EXIT_USAGE;
        }
        if (S_ISDIR(st.st_mode)) {
            size_t first = f.n;
            find_tests(argv[i], 6, &f);
            if (f.n > first) qsort(f.paths + first, f.n - first, sizeof *f.paths, by_path);
        } else {
            add_file(&f, argv[i]);
        }
    }
    if (argc == 0) {                             /* beside the scripts and the connectors */
        for (char **d = cfg->script_dirs; d && *d; d++) find_tests(*d, 6, &f);
        char *lualib = fy_engine_find_lualib(cfg);
        if (lualib) {
            char contrib[4096];
            snprintf(contrib, sizeof contrib, "%s/contrib", dirname(lualib));
            find_tests(contrib, 6, &f);
            free(lualib);
        }
        for (char **d = cfg->connector_dirs; d && *d; d++) find_tests(*d, 6, &f);
        if (f.n) qsort(f.paths, f.n, sizeof *f.paths, by_path);
    }
    if (f.n == 0) {
        fprintf(stderr, "ferry test: no test files (*_test.lua)%s\n",
                argc ? " there" : " beside the scripts of script_dirs or in the connectors' folders");
        free(f.paths);
        return FY_EXIT_USAGE;
    }

    /* every system under test lives in one temporary directory, the
     * test files' data directory */
    const char *tmp = getenv("TMPDIR");
    char root[4096];
    snprintf(root, sizeof root, "%s/ferry-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        fprintf(stderr, "ferry test: cannot make a directory in %s: %s\n", tmp && *tmp ? tmp : "/tmp", strerror(errno));
        for (size_t j = 0; j < f.n; j++) free(f.paths[j]);
        free(f.paths);
        return FY_EXIT_USAGE;
    }
    free(cfg->data_dir);
    cfg->data_dir = strdup(root);
    struct fy_engine *e = fy_cmd_engine(cfg);
    struct outcome o = {0};
    if (e) {
        for (size_t i = 0; i < f.n; i++) run_file(e, f.paths[i], (int)i + 1, &o);
        fy_engine_destroy(e);
    }
    if (getenv("FERRY_TEST_KEEP")) fprintf(stderr, "ferry test: kept the systems under test in %s\n", root);
    else nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t j = 0; j < f.n; j++) free(f.paths[j]);
    free(f.paths);
    printf("%lld passed, %lld failed\n", o.passed, o.failed);
    if (!e) return FY_EXIT_USAGE;
    return o.failed ? FY_EXIT_FAILED : FY_EXIT_OK;
}
