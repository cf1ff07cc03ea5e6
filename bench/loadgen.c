/* loadgen.c - `vex-loadgen`: an HTTP ingest load generator for benchmarks (issue 4).
 *
 * Keeps C keep-alive connections busy POSTing NDJSON batches of realistic events (made
 * in-process by src/gen/) to `POST /v1/events` of a vex server on 127.0.0.1, until a
 * total event count or a time limit is reached, and prints the acknowledged events per
 * second and the latency (median, p99, max) of the 202 answers as one JSON object.
 *
 * One thread drives every connection through libcurl's multi interface: each slot
 * owns an easy handle and its body buffer; when a request finishes, the slot is filled
 * with the next batch and added again, and curl hands it an idle connection from the
 * multi handle's cache, so connections are opened once and reused.
 *
 * Only loopback is accepted as the target: this tool sends as fast as it can and is
 * not meant to be pointed at someone else's server. It prints figures and never
 * passes or fails on time. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "gen/gen.h"

#define USAGE                                                                                 \
    "usage: vex-loadgen (--port PORT | --url http://127.0.0.1:PORT/PATH) --key KEY\n"         \
    "                   [--connections C (1..64, default 16)] [--batch B (default 50)]\n"     \
    "                   [--events N (default 1000000)] [--seconds T (default 30)]\n"          \
    "                   [--seed S] [--end EPOCH] [--days D] [--customer ID]\n"                \
    "Prints one JSON object: events/s and 202-answer latency median/p99/max in ms.\n"

#define CONN_MIN 1
#define CONN_MAX 64
#define BATCH_MAX 1000
#define URL_MAX 256

struct slot {
    CURL *easy;
    char *body;
    size_t nevents;
    double t0; /* when the request was added, seconds (monotonic) */
};

struct run {
    char url[URL_MAX];
    const char *key;
    long connections;
    long batch;
    uint64_t max_events;
    double seconds;
    struct vex_gen_opts gen;
    int have_sessions;

    struct vex_gen *g;
    int gen_done;
    uint64_t sent;      /* events in requests started */
    uint64_t acked;     /* events in requests answered 202 */
    uint64_t requests;  /* requests finished */
    uint64_t rejected;  /* answers other than 202 */
    uint64_t failed;    /* transport errors (no answer) */
    long first_status;  /* first status other than 202, for the report */
    uint32_t *lat_us;   /* latency of each 202 answer */
    size_t nlat, lat_cap;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !*s || *end || v < lo || v > hi)
        return -1;
    *out = (long)v;
    return 0;
}

/* set_url accepts http://127.0.0.1:PORT followed by nothing or a path: the tool
 * refuses every other host, names included (they could resolve anywhere). */
static int set_url(struct run *r, const char *url)
{
    static const char prefix[] = "http://127.0.0.1:";
    if (strncmp(url, prefix, sizeof prefix - 1))
        return -1;
    const char *p = url + sizeof prefix - 1;
    char *end;
    errno = 0;
    long port = strtol(p, &end, 10);
    if (errno || end == p || port < 1 || port > 65535 || (*end && *end != '/'))
        return -1;
    const char *path = *end ? end : "/v1/events";
    int n = snprintf(r->url, sizeof r->url, "http://127.0.0.1:%ld%s", port, path);
    return n > 0 && n < (int)sizeof r->url ? 0 : -1;
}

static int fail_usage(const char *fmt, const char *arg)
{
    fputs("vex-loadgen: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    return 2;
}

static int parse_args(struct run *r, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            return fail_usage("unknown argument or missing value: '%s'", a);
        const char *v = argv[++i];
        long x;
        if (!strcmp(a, "--port")) {
            char url[64];
            if (parse_long(v, 1, 65535, &x) < 0)
                return fail_usage("--port needs 1..65535, not '%s'", v);
            snprintf(url, sizeof url, "http://127.0.0.1:%ld/v1/events", x);
            set_url(r, url);
        } else if (!strcmp(a, "--url")) {
            if (set_url(r, v) < 0)
                return fail_usage("--url must be http://127.0.0.1:PORT[/PATH] (loopback "
                                  "only), not '%s'",
                                  v);
        } else if (!strcmp(a, "--key")) {
            if (!*v || strpbrk(v, "\r\n"))
                return fail_usage("--key needs a key, not '%s'", v);
            r->key = v;
        } else if (!strcmp(a, "--connections")) {
            if (parse_long(v, CONN_MIN, CONN_MAX, &r->connections) < 0)
                return fail_usage("--connections needs 1..64, not '%s'", v);
        } else if (!strcmp(a, "--batch")) {
            if (parse_long(v, 1, BATCH_MAX, &r->batch) < 0)
                return fail_usage("--batch needs 1..1000, not '%s'", v);
        } else if (!strcmp(a, "--events")) {
            if (parse_long(v, 1, 1000000000000L, &x) < 0)
                return fail_usage("--events needs a positive integer, not '%s'", v);
            r->max_events = (uint64_t)x;
        } else if (!strcmp(a, "--seconds")) {
            if (parse_long(v, 1, 86400, &x) < 0)
                return fail_usage("--seconds needs 1..86400, not '%s'", v);
            r->seconds = (double)x;
        } else if (!strcmp(a, "--sessions")) {
            if (parse_long(v, 1, 1000000000000L, &x) < 0)
                return fail_usage("--sessions needs a positive integer, not '%s'", v);
            r->gen.sessions = (uint64_t)x;
            r->have_sessions = 1;
        } else if (!strcmp(a, "--seed")) {
            if (parse_long(v, 0, INT64_MAX, &x) < 0)
                return fail_usage("--seed needs a non-negative integer, not '%s'", v);
            r->gen.seed = (uint64_t)x;
        } else if (!strcmp(a, "--end")) {
            if (parse_long(v, 0, INT64_MAX, &x) < 0)
                return fail_usage("--end needs epoch seconds, not '%s'", v);
            r->gen.end = x;
        } else if (!strcmp(a, "--days")) {
            if (parse_long(v, 1, VEX_GEN_DAYS_MAX, &x) < 0)
                return fail_usage("--days needs 1..3660, not '%s'", v);
            r->gen.days = (uint32_t)x;
        } else if (!strcmp(a, "--customer")) {
            r->gen.customer = v;
        } else {
            return fail_usage("unknown argument '%s' (see --help)", a);
        }
    }
    if (!r->url[0])
        return fail_usage("%s", "--port or --url is required (see --help)");
    if (!r->key)
        return fail_usage("%s", "--key is required (see --help)");
    /* Enough sessions that the generator outlasts the event limit (about 100 events
     * a session on average; 50 leaves room). */
    if (!r->have_sessions)
        r->gen.sessions = r->max_events / 50 + 1;
    const char *why = vex_gen_check(&r->gen);
    if (why)
        return fail_usage("%s", why);
    return 0;
}

/* start fills a slot with the next batch and adds it; 0 when there was nothing left
 * to send, 1 when a request was started, -1 on error. */
static int start(struct run *r, CURLM *multi, struct slot *s)
{
    if (r->gen_done || r->sent >= r->max_events)
        return 0;
    uint64_t want = (uint64_t)r->batch;
    if (want > r->max_events - r->sent)
        want = r->max_events - r->sent;
    size_t len = 0, n = 0;
    int rc = vex_gen_next(r->g, s->body, (size_t)r->batch * VEX_GEN_LINE_MAX, (size_t)want,
                          &len, &n);
    if (rc < 0)
        return -1;
    if (!n) {
        r->gen_done = 1;
        return 0;
    }
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    s->nevents = n;
    s->t0 = now_s();
    r->sent += n;
    return curl_multi_add_handle(multi, s->easy) == CURLM_OK ? 1 : -1;
}

static void finish(struct run *r, struct slot *s, CURLcode res)
{
    double lat = now_s() - s->t0;
    long status = 0;
    r->requests++;
    if (res != CURLE_OK) {
        r->failed++;
        return;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 202) {
        r->rejected++;
        if (!r->first_status)
            r->first_status = status;
        return;
    }
    r->acked += s->nevents;
    if (r->nlat == r->lat_cap) {
        size_t cap = r->lat_cap ? r->lat_cap * 2 : 65536;
        uint32_t *p = realloc(r->lat_us, cap * sizeof *p);
        if (!p)
            return; /* the figure loses a sample, the run goes on */
        r->lat_us = p;
        r->lat_cap = cap;
    }
    double us = lat * 1e6;
    r->lat_us[r->nlat++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* percentile_ms is the nearest-rank percentile p (0..1] of the sorted latencies. */
static double percentile_ms(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1] / 1000.0;
}

int main(int argc, char **argv)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.connections = 16;
    r.batch = 50;
    r.max_events = 1000000;
    r.seconds = 30;
    vex_gen_opts_default(&r.gen);
    int rc = parse_args(&r, argc, argv);
    if (rc)
        return rc;

    int status = 1;
    struct slot *slots = calloc((size_t)r.connections, sizeof *slots);
    struct curl_slist *headers = NULL;
    CURLM *multi = NULL;
    char keyhdr[512];
    if (!slots || vex_gen_create(&r.gen, &r.g) < 0
        || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "vex-loadgen: out of memory\n");
        goto out;
    }
    snprintf(keyhdr, sizeof keyhdr, "X-Vex-Key: %s", r.key);
    headers = curl_slist_append(headers, keyhdr);
    headers = curl_slist_append(headers, "Content-Type: application/x-ndjson");
    /* no "Expect: 100-continue" round trip before each body */
    headers = curl_slist_append(headers, "Expect:");
    multi = curl_multi_init();
    if (!headers || !multi)
        goto out;
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, r.connections);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, r.connections);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    for (long i = 0; i < r.connections; i++) {
        struct slot *s = &slots[i];
        s->body = malloc((size_t)r.batch * VEX_GEN_LINE_MAX);
        s->easy = curl_easy_init();
        if (!s->body || !s->easy)
            goto out;
        curl_easy_setopt(s->easy, CURLOPT_URL, r.url);
        curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(s->easy, CURLOPT_NOPROXY, "*"); /* never through a proxy */
        curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    }

    double t_start = now_s(), deadline = t_start + r.seconds;
    int running = 0;
    for (long i = 0; i < r.connections; i++) {
        int k = start(&r, multi, &slots[i]);
        if (k < 0)
            goto out;
        running += k;
    }
    while (running) {
        int still;
        curl_multi_perform(multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct slot *s;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(multi, s->easy);
            running--;
            finish(&r, s, res);
            /* After the time limit, let the requests in flight finish, send no more. */
            if (now_s() < deadline) {
                int k = start(&r, multi, s);
                if (k < 0)
                    goto out;
                running += k;
            }
        }
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double elapsed = now_s() - t_start;

    if (r.nlat)
        qsort(r.lat_us, r.nlat, sizeof *r.lat_us, cmp_u32);
    printf("{\"url\":\"%s\",\"connections\":%ld,\"batch\":%ld,\"requests\":%" PRIu64
           ",\"events_sent\":%" PRIu64 ",\"events_acked\":%" PRIu64 ",\"rejected\":%" PRIu64
           ",\"first_rejected_status\":%ld,\"failed\":%" PRIu64 ",\"seconds\":%.3f"
           ",\"events_per_s\":%.0f,\"latency_ms\":{\"median\":%.3f,\"p99\":%.3f,"
           "\"max\":%.3f}}\n",
           r.url, r.connections, r.batch, r.requests, r.sent, r.acked, r.rejected,
           r.first_status, r.failed, elapsed, elapsed > 0 ? (double)r.acked / elapsed : 0.0,
           percentile_ms(r.lat_us, r.nlat, 0.5), percentile_ms(r.lat_us, r.nlat, 0.99),
           percentile_ms(r.lat_us, r.nlat, 1.0));
    /* The run "worked" when every request was acknowledged. */
    status = r.rejected || r.failed ? 1 : 0;
    if (status)
        fprintf(stderr, "vex-loadgen: %" PRIu64 " request(s) rejected, %" PRIu64 " failed\n",
                r.rejected, r.failed);
out:
    if (slots) {
        for (long i = 0; i < r.connections; i++) {
            if (slots[i].easy) {
                if (multi)
                    curl_multi_remove_handle(multi, slots[i].easy);
                curl_easy_cleanup(slots[i].easy);
            }
            free(slots[i].body);
        }
    }
    if (multi)
        curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(slots);
    free(r.lat_us);
    vex_gen_destroy(r.g);
    return status;
}
