/* bench_mem.c - `vex-bench-mem DATA_DIR`: where the server's memory goes once a
 * store is loaded (issue 4, RSS target): opens the embedded engine over the data
 * dir as `vex serve` does (segments loaded, log replayed, sessions frozen), then
 * prints one JSON object with the session table's breakdown (columns, sessionizer
 * bookkeeping, string pools, frozen blocks) in bytes and bytes per session, and the
 * process's VmRSS and VmHWM. It prints figures and never passes or fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/embedded.h"
#include "core/err.h"

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, k) && line[k] == ':')
            v = atol(line + k + 1);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: vex-bench-mem DATA_DIR\n");
        return 2;
    }
    struct vex_engine_options o = {.data_dir = argv[1], .fsync_policy = 0};
    struct vex_engine *e;
    int rc = vex_engine_open(&o, &e);
    if (rc) {
        fprintf(stderr, "vex-bench-mem: %s: %s\n", argv[1], vex_strerror(rc));
        return 1;
    }
    struct vex_table_mem m;
    vex_engine_memory(e, &m);
    long rss = status_kb("VmRSS"), hwm = status_kb("VmHWM");
    double n = m.rows ? (double)m.rows : 1;
    printf("{\"rows\":%zu,\"cap\":%zu,\"sids\":%zu,\"vals\":%zu,\"frozen_rows\":%zu,", m.rows,
           m.cap, m.sids, m.vals, m.frozen_rows);
#define F(name) printf("\"%s\":%zu,\"%s_per_session\":%.1f,", #name, m.name, #name, m.name / n)
    F(record_cols);
    F(dim_cols);
    F(wide);
    F(sessionizer);
    F(sid_pool);
    F(val_pool);
    F(ext);
    F(frozen);
#undef F
    size_t sum = m.record_cols + m.dim_cols + m.wide + m.sessionizer + m.sid_pool + m.val_pool +
                 m.ext + m.frozen;
    printf("\"table\":%zu,\"table_per_session\":%.1f,\"rss\":%ld,\"rss_per_session\":%.1f,"
           "\"hwm\":%ld}\n",
           sum, sum / n, rss * 1024, rss * 1024.0 / n, hwm * 1024);
    vex_engine_close(e);
    return 0;
}
