/* cmd_load.c - `vex load --customer ID FILE|-`: bulk import of NDJSON
 * events through the sessionizer.
 *
 * The input is validated whole before anything is stored (a bad line stores
 * nothing), then ingested in chunks in input order, so that the earlier copy
 * of a duplicated seq counts as received first. When `vex serve` holds the
 * data dir, the chunks go through it; otherwise the store is opened here. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth/accounts.h"
#include "backend/embedded.h"
#include "cli/cli.h"
#include "cli/local.h"
#include "core/err.h"
#include "ingest/event.h"
#include "store/wal.h"

#define CHUNK_BYTES (4u << 20)

struct input {
    char *data;
    size_t len;
    int mapped;
};

static int read_input(const char *path, struct input *in)
{
    memset(in, 0, sizeof *in);
    if (strcmp(path, "-")) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st)) {
            if (fd >= 0)
                close(fd);
            return VEX_ENOENT;
        }
        in->len = (size_t)st.st_size;
        if (in->len) {
            in->data = mmap(NULL, in->len, PROT_READ, MAP_PRIVATE, fd, 0);
            if (in->data == MAP_FAILED) {
                close(fd);
                return VEX_EIO;
            }
            in->mapped = 1;
            madvise(in->data, in->len, MADV_SEQUENTIAL);
        }
        close(fd);
        return 0;
    }
    size_t cap = 1 << 20;
    in->data = malloc(cap);
    if (!in->data)
        return VEX_ENOMEM;
    for (;;) {
        if (in->len == cap) {
            char *p = realloc(in->data, cap * 2);
            if (!p)
                return VEX_ENOMEM;
            in->data = p;
            cap *= 2;
        }
        ssize_t n = read(0, in->data + in->len, cap - in->len);
        if (n < 0)
            return VEX_EIO;
        if (n == 0)
            break;
        in->len += (size_t)n;
    }
    return 0;
}

static void free_input(struct input *in)
{
    if (in->mapped)
        munmap(in->data, in->len);
    else
        free(in->data);
}

/* next_chunk returns the end of the chunk starting at `pos`: about
 * CHUNK_BYTES, ending after a newline (or at the end of the input). */
static size_t next_chunk(const struct input *in, size_t pos)
{
    if (in->len - pos <= CHUNK_BYTES)
        return in->len;
    const char *nl = memchr(in->data + pos + CHUNK_BYTES, '\n', in->len - pos - CHUNK_BYTES);
    return nl ? (size_t)(nl - in->data) + 1 : in->len;
}

static size_t count_lines(const char *p, size_t n)
{
    size_t k = 0;
    for (const char *q = p; (q = memchr(q, '\n', (size_t)(p + n - q))); q++)
        k++;
    return k;
}

static int is_blank_chunk(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", p[i]))
            return 0;
    return 1;
}

/* post_lines sends whole lines to the running server. A server configured
 * with a body limit below the chunk size answers 413: then the lines go in
 * two halves, down to a single line (which then is too large, and said so). */
static int post_lines(const struct vex_local *loc, const char *customer, const char *p,
                      size_t len, long *status)
{
    char hc[128];
    snprintf(hc, sizeof hc, "X-Vex-Customer: %s", customer);
    const char *hdrs[] = {hc, "X-Vex-Load: 1", "Content-Type: application/x-ndjson", NULL};
    char *body = NULL;
    int rc = vex_local_http(loc, "POST", "/v1/events", hdrs, p, len, status, &body);
    if (!rc && *status == 413) {
        const char *mid = memchr(p + len / 2, '\n', len - len / 2);
        if (!mid || (size_t)(mid + 1 - p) >= len)
            mid = memchr(p, '\n', len);
        if (mid && (size_t)(mid + 1 - p) < len) {
            size_t first = (size_t)(mid + 1 - p);
            free(body);
            rc = post_lines(loc, customer, p, first, status);
            if (!rc && *status == 202)
                rc = post_lines(loc, customer, p + first, len - first, status);
            return rc;
        }
    }
    if (!rc && *status != 202)
        vex_cli_fail(1, "server answered %ld: %s", *status, body ? body : "");
    free(body);
    return rc;
}

int vex_cmd_load(int argc, char **argv, const char *data_dir)
{
    const char *customer = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--customer") && i + 1 < argc)
            customer = argv[++i];
        else if (!strncmp(argv[i], "--customer=", 11))
            customer = argv[i] + 11;
        else if (!file && (argv[i][0] != '-' || !strcmp(argv[i], "-")))
            file = argv[i];
        else
            return vex_cli_fail(VEX_EXIT_USAGE, "usage: vex load --customer ID FILE.ndjson|-");
    }
    if (!customer || !file)
        return vex_cli_fail(VEX_EXIT_USAGE, "usage: vex load --customer ID FILE.ndjson|-");

    struct input in;
    int rc = read_input(file, &in);
    if (rc)
        return vex_cli_fail(VEX_EXIT_FAIL, "cannot read %s: %s", file, vex_strerror(rc));

    /* Pass 1: validate everything. */
    size_t events = 0, lines_before = 0;
    for (size_t pos = 0; pos < in.len;) {
        size_t end = next_chunk(&in, pos);
        struct vex_event_batch b;
        struct vex_event_error err;
        rc = vex_event_batch_parse(in.data + pos, end - pos, VEX_BODY_NDJSON, &b, &err);
        if (rc == VEX_EINVAL) {
            free_input(&in);
            if (err.index >= 0)
                return vex_cli_fail(VEX_EXIT_FAIL,
                                    "event %zu: field '%s': %s; nothing was loaded",
                                    events + (size_t)err.index, err.field, err.message);
            return vex_cli_fail(VEX_EXIT_FAIL, "after line %zu: %s; nothing was loaded",
                                lines_before, err.message);
        }
        if (rc) {
            free_input(&in);
            return vex_cli_fail(VEX_EXIT_FAIL, "%s", vex_strerror(rc));
        }
        events += b.count;
        lines_before += count_lines(in.data + pos, end - pos);
        vex_event_batch_destroy(&b);
        pos = end;
    }

    struct vex_local loc;
    rc = vex_local_acquire(data_dir, &loc);
    if (rc) {
        free_input(&in);
        return vex_cli_fail(VEX_EXIT_FAIL, "data dir %s is busy and no server address is known",
                            data_dir);
    }
    struct vex_accounts *acc = NULL;
    struct vex_engine *eng = NULL;
    int status = VEX_EXIT_FAIL;
    if (loc.lock_fd >= 0) {
        int64_t plan;
        if ((rc = vex_accounts_open(data_dir, &acc))) {
            vex_cli_fail(1, "cannot open accounts: %s", vex_strerror(rc));
            goto out;
        }
        if (vex_accounts_customer_get(acc, customer, &plan)) {
            vex_cli_fail(1, "unknown customer '%s' (add it with vex customer add)", customer);
            goto out;
        }
        struct vex_engine_options eo = {.data_dir = data_dir,
                                        .fsync_policy = VEX_WAL_SYNC_ALWAYS};
        if ((rc = vex_engine_open(&eo, &eng))) {
            vex_cli_fail(1, "cannot open the store: %s", vex_strerror(rc));
            goto out;
        }
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
    }

    /* Pass 2: store, chunk by chunk. */
    size_t stored = 0;
    for (size_t pos = 0; pos < in.len;) {
        size_t end = next_chunk(&in, pos);
        if (eng) {
            struct vex_event_batch b;
            struct vex_event_error err;
            rc = vex_event_batch_parse(in.data + pos, end - pos, VEX_BODY_NDJSON, &b, &err);
            if (!rc && b.count)
                rc = vex_engine_ingest(eng, customer, b.events, b.count, "");
            if (!rc)
                stored += b.count;
            vex_event_batch_destroy(&b);
        } else {
            if (is_blank_chunk(in.data + pos, end - pos)) {
                pos = end;
                continue;
            }
            long st = 0;
            rc = post_lines(&loc, customer, in.data + pos, end - pos, &st);
            if (!rc && st != 202)
                goto out; /* post_lines said why */
        }
        if (rc) {
            vex_cli_fail(1, "storing failed after %zu events: %s", stored, vex_strerror(rc));
            goto out;
        }
        pos = end;
    }
    printf("{\"accepted\": %zu}\n", events);
    status = VEX_EXIT_OK;
out:
    vex_engine_close(eng);
    vex_accounts_close(acc);
    if (loc.lock_fd < 0)
        curl_global_cleanup();
    vex_local_release(&loc);
    free_input(&in);
    return status;
}
