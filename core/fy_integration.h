/* An integration: one script in its own VM, checked against the contract,
 * run once per trigger. */
#ifndef FY_INTEGRATION_H
#define FY_INTEGRATION_H

#include <stdio.h>

struct fy_engine;
struct fy_vm;
struct fy_run;

struct fy_integration {
    struct fy_engine *engine;
    struct fy_vm *vm;
    char *path;
    char *name;
    char version[17];            /* FNV-1a 64 of the script's bytes, hex */
    int spec_ref;                /* registry ref of the ferry.integration table */
    /* the current run */
    long quarantined_now;        /* rows written to the quarantine */
    int replaying;               /* a replay run (ferry quarantine replay) */
};

/* A replay run: open quarantined records of the integration, all of one
 * class (class_ set), all (class_ NULL, nids 0) or the given ids. */
struct fy_replay {
    const char *class_;
    const long long *ids;
    size_t nids;
};

/* Load and check the script at `path`. On problems returns NULL and prints
 * each one ("FILE:LINE: FIELD: message") to `out`. With `summary`, a valid
 * script prints its one-line summary there. */
struct fy_integration *fy_integration_load(struct fy_engine *e, const char *path, FILE *out, int summary);
void fy_integration_destroy(struct fy_integration *in);

/* Start a run on the engine's loop; its summary is printed to stdout when
 * it ends and its exit code noted on the engine. FY_ERR if it cannot start.
 * With `replay`, the run delivers quarantined records instead of extracting
 * (the caller keeps `replay` alive until the loop has run). */
int fy_integration_run(struct fy_integration *in, const struct fy_replay *replay);

#endif
