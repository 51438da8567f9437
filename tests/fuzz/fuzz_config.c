/* fuzz_config: the config loader (fy_config_load) over arbitrary file text.
 *
 * The input is written to an in-memory file and loaded. Checked: no crash,
 * leak or UB, and either
 *  - FY_OK with every setting inside the range fy_config.c promises
 *    (batch_size 1..1000000, max_redirects 0..50, limits.memory >= 1 MiB,
 *    limits.instructions >= 1000, max_response_size >= 1024, timeouts
 *    positive and finite and no longer than FY_DURATION_MAX_SECONDS, the
 *    most a duration string may say, the log enums valid, strings set), or
 *  - FY_ERR with a non-empty message (without "(null)", unless the input
 *    says so itself) and cfg back at the
 *    built-in defaults.
 *
 * The config is Lua and fy_config_load makes its own state with
 * luaL_newstate, so this harness is linked with -Wl,--wrap=luaL_newstate:
 * the state it gets is capped at 16 MiB and stopped after about 20,000 VM
 * instructions (plenty for a config; more lets string-building loops churn
 * gigabytes through ASan's allocator), so `while true do end` or a runaway allocation is an
 * error, not a hang or an OOM of the fuzzer. (ferry itself runs the config
 * without limits; see tests/fuzz/README.md.) */
#include "fy_config.h"
#include "fy_time.h"
#include "fuzz_common.h"

#include <math.h>

#define CAP (16u << 20)
#define STEP_CAP 20000

static struct fy_vm cfg_vm;          /* allocator data of the wrapped state */

static void cap_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    cfg_vm.steps += 1000;
    if (cfg_vm.steps > STEP_CAP) luaL_error(L, "fuzz: instruction cap reached");
}

lua_State *__wrap_luaL_newstate(void);
lua_State *__wrap_luaL_newstate(void) {
    memset(&cfg_vm, 0, sizeof cfg_vm);
    cfg_vm.mem_limit = CAP;
    lua_State *L = lua_newstate(fuzz_alloc, &cfg_vm);
    if (!L) return NULL;
    lua_atpanic(L, fuzz_panic);
    lua_sethook(L, cap_hook, LUA_MASKCOUNT, 1000);
    return L;
}

static void expect_defaults(const struct fy_config *c) {
    struct fy_config d;
    fy_config_defaults(&d);
    FUZZ_CHECK(c->path == NULL, "path set after an error");
    FUZZ_CHECK(c->data_dir && strcmp(c->data_dir, d.data_dir) == 0, "data_dir not the default");
    FUZZ_CHECK(c->script_dirs && c->script_dirs[0] && strcmp(c->script_dirs[0], d.script_dirs[0]) == 0 &&
               !c->script_dirs[1], "script_dirs not the default");
    FUZZ_CHECK(c->lualib_path == NULL && c->http.ca_file == NULL, "paths set after an error");
    FUZZ_CHECK(c->log_level == d.log_level && c->log_format == d.log_format &&
               c->limits.memory == d.limits.memory && c->limits.instructions == d.limits.instructions &&
               c->batch_size == d.batch_size && c->http.timeout == d.http.timeout &&
               c->http.connect_timeout == d.http.connect_timeout &&
               c->http.max_response_size == d.http.max_response_size &&
               c->http.max_redirects == d.http.max_redirects, "settings not the defaults after an error");
    fy_config_free(&d);
}

static void expect_sane(const struct fy_config *c, const char *path) {
    FUZZ_CHECK(c->path && strcmp(c->path, path) == 0, "path not recorded");
    FUZZ_CHECK(c->data_dir != NULL, "no data_dir");
    FUZZ_CHECK(c->script_dirs != NULL, "no script_dirs");
    for (char **d = c->script_dirs; *d; d++) (void)strlen(*d);
    FUZZ_CHECK(c->batch_size >= 1 && c->batch_size <= 1000000, "batch_size %d", c->batch_size);
    FUZZ_CHECK(c->http.max_redirects >= 0 && c->http.max_redirects <= 50, "max_redirects %d",
               c->http.max_redirects);
    FUZZ_CHECK(c->limits.memory >= (1u << 20), "limits.memory %zu", c->limits.memory);
    FUZZ_CHECK(c->limits.instructions >= 1000, "limits.instructions %llu",
               (unsigned long long)c->limits.instructions);
    FUZZ_CHECK(c->http.max_response_size >= 1024, "max_response_size %zu", c->http.max_response_size);
    FUZZ_CHECK(isfinite(c->http.timeout) && c->http.timeout > 0 &&
               c->http.timeout <= FY_DURATION_MAX_SECONDS, "http.timeout %g", c->http.timeout);
    FUZZ_CHECK(isfinite(c->http.connect_timeout) && c->http.connect_timeout > 0 &&
               c->http.connect_timeout <= FY_DURATION_MAX_SECONDS, "http.connect_timeout %g",
               c->http.connect_timeout);
    FUZZ_CHECK(c->log_level >= FY_LOG_DEBUG && c->log_level <= FY_LOG_OFF, "log level %d", (int)c->log_level);
    FUZZ_CHECK(c->log_format == FY_LOG_JSON || c->log_format == FY_LOG_TEXT, "log format %d",
               (int)c->log_format);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_memfile(data, size);
    struct fy_config cfg;
    char err[512] = "";
    fy_config_defaults(&cfg);
    int rc = fy_config_load(&cfg, path, err, sizeof err);
    FUZZ_CHECK(cfg_vm.mem_used == 0, "%zu bytes of the config's Lua state not freed", cfg_vm.mem_used);
    if (rc == FY_OK) {
        expect_sane(&cfg, path);
    } else {
        FUZZ_CHECK(rc == FY_ERR, "fy_config_load returned %d", rc);
        FUZZ_CHECK(err[0] != '\0', "an error without a message");
        FUZZ_CHECK(!strstr(err, "(null)") || memmem(data, size, "(null)", 6),
                   "message holds (null): %s", err);
        expect_defaults(&cfg);
    }
    fy_config_free(&cfg);
    return 0;
}
