/* The connector kit's commands: `ferry connectors` (what is installed) and
 * `ferry test` (a script's or connector's own tests against fixtures).
 * The Lua halves are lualib/ferry/connectors.lua and lualib/ferry/test.lua. */
#include "fy_buf.h"
#include "fy_cmd.h"
#include "fy_common.h"
#include "fy_config.h"
#include "fy_engine.h"
#include "fy_vm.h"

#include <dirent.h>
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
    qsort(*out + first, *n - first, sizeof **out, by_name);
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
