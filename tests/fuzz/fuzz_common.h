/* Helpers shared by the libFuzzer harnesses in tests/fuzz/.
 *
 * - a lua_State whose allocator is capped, with a struct fy_vm as its
 *   allocator data so fy_vm_of(L) works in the bindings, as in ferry;
 * - an in-memory file with a path, for APIs that take a path, and a real
 *   file in a private temporary directory for those that resolve the path
 *   (the sandbox's realpath() cannot follow /proc/self/fd to a memfd);
 * - FUZZ_CHECK, which aborts with a message (libFuzzer reports it as a
 *   crash and saves the input).
 *
 * Everything is static: each harness is one translation unit. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "fy_vm.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...) do { \
    if (!(cond)) { \
        fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__); \
        fputc('\n', stderr); \
        abort(); \
    } \
} while (0)

/* FNV-1a over the input: a deterministic choice per input (memory caps,
 * options) that does not spend input bytes. */
static inline uint64_t fuzz_hash(const uint8_t *data, size_t size) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
    return h;
}

/* vm_alloc's contract (core/fy_vm.c): frees and shrinks always succeed, a
 * growth past mem_limit fails. */
static inline void *fuzz_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    struct fy_vm *vm = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        vm->mem_used -= old;
        return NULL;
    }
    if (nsize > old && vm->mem_used - old + nsize > vm->mem_limit) return NULL;
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    vm->mem_used = vm->mem_used - old + nsize;
    if (vm->mem_used > vm->mem_peak) vm->mem_peak = vm->mem_used;
    return p;
}

static inline int fuzz_panic(lua_State *L) {
    fprintf(stderr, "fuzz: Lua panic: %s\n", lua_tostring(L, -1));
    abort();
}

/* A fresh state capped at `limit` bytes, without the standard library
 * (ferry's json and jsonl modules need none of it, and opening it would
 * cost most of the time of a run). Destroy with fuzz_lua_close. */
static inline lua_State *fuzz_lua_open(struct fy_vm *vm, size_t limit) {
    memset(vm, 0, sizeof *vm);
    vm->mem_limit = (size_t)-1;
    vm->step_limit = UINT64_MAX;
    vm->L = lua_newstate(fuzz_alloc, vm);
    FUZZ_CHECK(vm->L != NULL, "cannot create a Lua state");
    lua_atpanic(vm->L, fuzz_panic);
    *(void **)lua_getextraspace(vm->L) = NULL;   /* not a run, as in fy_vm_create */
    vm->mem_limit = limit;
    return vm->L;
}

static inline void fuzz_lua_close(struct fy_vm *vm) {
    lua_close(vm->L);
    FUZZ_CHECK(vm->mem_used == 0, "%zu bytes still counted after lua_close", vm->mem_used);
}

/* Is the error on top of L a memory error ("not enough memory" from Lua, or
 * a binding's message quoting it)? Those are allowed anywhere under a cap. */
static inline int fuzz_is_oom(lua_State *L, int status) {
    if (status == LUA_ERRMEM) return 1;
    const char *m = lua_tostring(L, -1);
    return m && (strstr(m, "not enough memory") || strstr(m, "out of memory") || strstr(m, "memory limit"));
}

/* An in-memory file reachable by path (/proc/self/fd/N), rewritten for each
 * input. The path is valid until the process exits. */
static inline const char *fuzz_memfile(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        FUZZ_CHECK(fd >= 0, "memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate failed");
    size_t off = 0;
    while (off < size) {
        ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);
        FUZZ_CHECK(n > 0, "pwrite failed");
        off += (size_t)n;
    }
    return path;
}

static char fuzz_tmp_dir[64], fuzz_tmp_path[96];

static inline void fuzz_tmp_cleanup(void) {
    unlink(fuzz_tmp_path);
    rmdir(fuzz_tmp_dir);
}

/* Write the input to DIR/input, DIR a private directory made on first use
 * (removed at exit); returns the path. fuzz_tmp_dir names DIR. */
static inline const char *fuzz_tmpfile(const uint8_t *data, size_t size) {
    if (!fuzz_tmp_dir[0]) {
        const char *t = getenv("TMPDIR");              /* else RAM-backed if there is one */
        if (!t || strlen(t) >= 32) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_tmp_dir, sizeof fuzz_tmp_dir, "%s/ferry-fuzz-XXXXXX", t);
        FUZZ_CHECK(mkdtemp(fuzz_tmp_dir) != NULL, "mkdtemp %s failed", fuzz_tmp_dir);
        snprintf(fuzz_tmp_path, sizeof fuzz_tmp_path, "%s/input", fuzz_tmp_dir);
        atexit(fuzz_tmp_cleanup);
    }
    FILE *fp = fopen(fuzz_tmp_path, "wb");
    FUZZ_CHECK(fp != NULL, "cannot write %s", fuzz_tmp_path);
    FUZZ_CHECK(fwrite(data, 1, size, fp) == size && fclose(fp) == 0, "cannot write %s", fuzz_tmp_path);
    return fuzz_tmp_path;
}

#endif
