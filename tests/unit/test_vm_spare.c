/* Unit tests for spare holds (core/fy_vm.c, struct fy_vm_spare): memory
 * ferry keeps for a script only to save work counts against
 * limits.memory, stays while the script has room, and is given back
 * before one of the script's allocations or holds would be refused. */
#include "fy_config.h"
#include "fy_vm.h"
#include "testhelp.h"

#include <string.h>

#define MB (1024 * 1024)

struct spare {
    struct fy_vm_spare sp;      /* first: drop gets its address */
    struct fy_vm *vm;
    size_t held;
    int dropped;
};

static void drop(struct fy_vm_spare *sp) {
    struct spare *s = (struct spare *)sp;
    s->dropped++;
    fy_vm_hold(s->vm, &s->held, 0);
}

static void spare_init(struct spare *s, struct fy_vm *vm, size_t bytes) {
    memset(s, 0, sizeof *s);
    s->sp.drop = drop;
    s->vm = vm;
    fy_vm_hold(vm, &s->held, bytes);
    fy_vm_spare_add(vm, &s->sp);
}

/* Run `code` in the VM: 1 when it returned without an error. */
static int run(struct fy_vm *vm, const char *code) {
    lua_State *L = vm->L;
    int ok = luaL_loadstring(L, code) == LUA_OK && lua_pcall(L, 0, 0, 0) == LUA_OK;
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    return ok;
}

int main(void) {
    struct fy_config cfg;
    fy_config_defaults(&cfg);
    cfg.limits.memory = 8 * MB;
    char err[256];
    struct fy_vm *vm = fy_vm_create(NULL, &cfg, "lualib", NULL, err, sizeof err);
    fy_test_cond("a bare VM is created", vm != NULL);
    if (!vm) {
        printf("%s\n", err);
        fy_config_free(&cfg);
        return fy_test_report();
    }

    struct spare a, b;
    spare_init(&a, vm, 3 * MB);
    fy_test_cond("a spare hold counts against the limit", vm->ext_used == 3 * MB);

    /* 1 MB string (2 MB while string.rep builds it) fits beside the 3 MB */
    fy_test_cond("an allocation that fits runs", run(vm, "local s = string.rep('x', 1 << 20)"));
    fy_test_cond("... and leaves the spare alone", !a.dropped && a.held == 3 * MB);

    /* 3 MB (6 MB while built) fits only without the spare */
    fy_test_cond("an allocation that needs the spare's room runs", run(vm, "local s = string.rep('x', 3 << 20)"));
    fy_test_cond("... the spare was dropped, once", a.dropped == 1 && a.held == 0 && vm->ext_used == 0);
    fy_test_cond("... and no limit tripped", vm->trip == FY_TRIP_NONE);
    fy_test_cond("a dropped spare is off the list", vm->spares == NULL);

    /* holds (an HTTP body's buffer) get the room too */
    spare_init(&b, vm, 4 * MB);
    fy_test_cond("a hold that fits beside the spare is allowed", fy_vm_may_hold(vm, 2 * MB));
    fy_test_cond("... and leaves it", !b.dropped);
    fy_test_cond("a hold that needs the spare's room is allowed", fy_vm_may_hold(vm, 6 * MB));
    fy_test_cond("... after dropping it", b.dropped == 1 && vm->ext_used == 0);
    fy_test_cond("a hold past the limit with no spare left is refused", !fy_vm_may_hold(vm, 9 * MB));
    fy_test_cond("... and drops nothing more", a.dropped == 1 && b.dropped == 1);

    /* past the limit even without spares: refused, the spare dropped in vain */
    spare_init(&a, vm, 2 * MB);
    fy_test_cond("an allocation past the limit fails", !run(vm, "local s = string.rep('x', 9 << 20)"));
    fy_test_cond("... having dropped the spare", a.dropped == 1);

    /* listing twice and taking off twice are harmless */
    spare_init(&a, vm, 1 * MB);
    fy_vm_spare_add(vm, &a.sp);
    spare_init(&b, vm, 1 * MB);
    fy_vm_spare_remove(vm, &a.sp);
    fy_vm_spare_remove(vm, &a.sp);
    fy_test_cond("taken off, a spare stays", vm->spares == &b.sp && b.sp.next == NULL && !a.sp.listed);
    fy_test_cond("a spare taken off is not dropped", !run(vm, "local s = string.rep('x', 7 << 20)") && !a.dropped &&
                                                         b.dropped == 1);
    fy_vm_hold(vm, &a.held, 0);

    fy_vm_destroy(vm);
    fy_config_free(&cfg);
    return fy_test_report();
}
