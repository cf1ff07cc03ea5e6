/* bench_decode.c - `vex-bench-decode FILE.ndjson [runs [jansson|vex [chunk KiB]]]`: events per second of the
 * event decoder (vex_event_batch_parse) against the jansson decoding it replaced.
 *
 * The file (e.g. the output of `vex gen --sessions 20000`) is read into memory
 * and decoded whole, in chunks of about 4 MiB (or the KiB given) cut at line
 * ends as `vex load` does, `runs` times (default 5) per decoder; the median run is reported. The
 * jansson side loads each line with json_loadb and reads the fields the way
 * event.c did before, so both sides do the same job. It prints figures and
 * never passes or fails on time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/err.h"
#include "ingest/event.h"

static size_t chunk_bytes = 4u << 20;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The end of the chunk that starts at pos: about CHUNK bytes, at a line end. */
static size_t chunk_end(const char *data, size_t len, size_t pos)
{
    if (len - pos <= chunk_bytes)
        return len;
    const char *nl = memchr(data + pos + chunk_bytes, '\n', len - pos - chunk_bytes);
    return nl ? (size_t)(nl - data) + 1 : len;
}

static size_t run_fast(const char *data, size_t len)
{
    size_t events = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = chunk_end(data, len, pos);
        struct vex_event_batch b;
        struct vex_event_error err;
        int rc = vex_event_batch_parse(data + pos, end - pos, VEX_BODY_NDJSON, &b, &err);
        if (rc) {
            fprintf(stderr, "decode failed: %s %s\n", err.code, err.message);
            exit(1);
        }
        events += b.count;
        vex_event_batch_destroy(&b);
        pos = end;
    }
    return events;
}

/* What event.c did per event with jansson: look every known field up. */
static int jansson_event(json_t *o, struct vex_event *ev)
{
    memset(ev, 0, sizeof *ev);
    json_t *v = json_object_get(o, "sid");
    if (!json_is_string(v))
        return -1;
    ev->sid = json_string_value(v);
    ev->sid_len = (uint32_t)json_string_length(v);
    ev->seq = json_integer_value(json_object_get(o, "seq"));
    ev->ts = json_integer_value(json_object_get(o, "ts"));
    v = json_object_get(o, "type");
    int t =
        json_is_string(v) ? vex_event_type_lookup(json_string_value(v), json_string_length(v)) : -1;
    if (t < 0)
        return -1;
    ev->type = (uint8_t)t;
    if ((v = json_object_get(o, "kbps")) && json_is_number(v)) {
        ev->has_kbps = 1;
        ev->kbps = json_number_value(v);
    }
    v = json_object_get(o, "fatal");
    ev->fatal = !v || json_is_true(v);
    v = json_object_get(o, "live");
    ev->live = v ? json_is_true(v) : -1;
    if ((v = json_object_get(o, "code")) && !json_is_string(v) && !json_is_null(v))
        return -1;
    if ((v = json_object_get(o, "msg")) && !json_is_string(v) && !json_is_null(v))
        return -1;
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if ((v = json_object_get(o, vex_dim_name((enum vex_dim)d))) && json_is_string(v)) {
            ev->dims[d] = json_string_value(v);
            ev->dim_len[d] = (uint16_t)json_string_length(v);
        }
    }
    return 0;
}

static size_t run_jansson(const char *data, size_t len)
{
    size_t events = 0, cap = 1024;
    json_t **docs = malloc(cap * sizeof *docs);
    struct vex_event *evs = malloc(cap * sizeof *evs);
    if (!docs || !evs)
        exit(1);
    for (size_t pos = 0; pos < len;) {
        size_t end = chunk_end(data, len, pos), n = 0;
        /* Like the old decoder, keep a chunk's documents alive until its end. */
        for (size_t p = pos; p < end;) {
            const char *nl = memchr(data + p, '\n', end - p);
            size_t e = nl ? (size_t)(nl - data) : end;
            if (e > p) {
                json_error_t jerr;
                json_t *doc = json_loadb(data + p, e - p, 0, &jerr);
                if (!doc) {
                    fprintf(stderr, "jansson: %s\n", jerr.text);
                    exit(1);
                }
                if (n == cap) {
                    cap *= 2;
                    docs = realloc(docs, cap * sizeof *docs);
                    evs = realloc(evs, cap * sizeof *evs);
                    if (!docs || !evs)
                        exit(1);
                }
                docs[n] = doc;
                if (jansson_event(doc, &evs[n]))
                    exit(1);
                n++;
            }
            p = e + 1;
        }
        for (size_t i = 0; i < n; i++)
            json_decref(docs[i]);
        events += n;
        pos = end;
    }
    free(docs);
    free(evs);
    return events;
}

static void measure(const char *name, size_t (*fn)(const char *, size_t), const char *data,
                    size_t len, int runs)
{
    double t[64];
    size_t events = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        events = fn(data, len);
        t[r] = now_s() - t0;
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    double med = t[runs / 2];
    printf("%-8s %zu events in %.3f s (median of %d): %.2f M events/s, %.0f MB/s\n", name, events,
           med, runs, (double)events / med / 1e6, (double)len / med / 1e6);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vex-bench-decode FILE.ndjson [runs (1..64, default 5) "
                        "[jansson|vex|both (default both) [chunk KiB (default 4096)]]]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 64)
        runs = 5;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(size > 0 ? (size_t)size : 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    printf("%s: %.1f MB\n", argv[1], (double)size / 1e6);
    const char *only = argc > 3 ? argv[3] : "";
    if (argc > 4 && atol(argv[4]) > 0)
        chunk_bytes = (size_t)atol(argv[4]) << 10;
    if (strcmp(only, "vex"))
        measure("jansson", run_jansson, data, (size_t)size, runs);
    if (strcmp(only, "jansson"))
        measure("vex", run_fast, data, (size_t)size, runs);
    free(data);
    return 0;
}
