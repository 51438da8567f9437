/* Definitions every ferry module shares. */
#ifndef FY_COMMON_H
#define FY_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#ifndef FY_OK
#define FY_OK 0
#define FY_ERR -1
#endif

#ifndef FY_VERSION
#define FY_VERSION "0.1.0"
#endif

#define FY_UNUSED(x) ((void)(x))
#define FY_ERRLEN 512

/* Exit codes of the CLI, shared by every command. */
enum fy_exit {
    FY_EXIT_OK = 0,          /* everything loaded */
    FY_EXIT_FAILED = 1,      /* a run failed, or `check` found problems */
    FY_EXIT_USAGE = 2,       /* bad command line, config or script contract */
    FY_EXIT_PARTIAL = 3,     /* the run finished, some records were quarantined */
    FY_EXIT_SUSPECT = 4      /* the run finished with a verdict (suspect, incomplete): do not trust it yet */
};

/* A printf-style message into err, when there is somewhere to put it
 * (err NULL or errlen 0: nothing). */
static inline void fy_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void fy_errf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Peak resident set size of this process in bytes. */
static inline size_t fy_peak_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024;
}

/* FNV-1a 64 of n bytes, continuing from h (FY_FNV1A_INIT to start): the
 * script version and the quarantine's record fingerprints. */
#define FY_FNV1A_INIT 1469598103934665603ULL
static inline uint64_t fy_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

#endif
