/* http.c - `vex-bench-http`: query latency over one keep-alive HTTP connection
 * (issue 4), the same client for vex and for ClickHouse so their figures compare.
 *
 * Reads a list of queries ("name<TAB>path-and-query" per line) and, for each in turn,
 * sends it `warmup` times unmeasured and then `runs` times measured, all with one
 * libcurl easy handle, so every request after the first reuses the same TCP
 * connection, as a dashboard's HTTP client does. Prints one JSON object with, per
 * query, the HTTP status, the answer's size and the median, p99 (nearest rank), min,
 * mean and max wall time in milliseconds from sending the request to the last byte of
 * the answer. With --save DIR the last answer of each query is written to
 * DIR/<name>.json, so a caller can check that both servers computed the same thing.
 *
 * Only loopback targets are accepted. It prints figures and never passes or fails on
 * time; the exit status is 1 when an answer was not 200 or the transfer failed. */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USAGE                                                                                \
    "usage: vex-bench-http --url http://127.0.0.1:PORT --queries FILE [--header 'H: V']...\n" \
    "                      [--runs N (default 50)] [--warmup W (default 3)] [--save DIR]\n"   \
    "                      [--timeout SECONDS (default 60)]\n"                               \
    "FILE has one query a line: NAME<TAB>/path?query. Prints one JSON object with the\n"     \
    "median, p99, min, mean and max latency in ms of each query.\n"

#define MAX_HEADERS 16
#define MAX_QUERIES 256
#define MAX_RUNS 100000
#define BODY_MAX (256u << 20) /* answers past this are an error, not a reason to swap */

struct body {
    char *p;
    size_t len, cap;
    int overflow;
};

struct query {
    char *name;
    char *path;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t len = size * n;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len + 1)
            cap *= 2;
        if (cap > BODY_MAX) {
            b->overflow = 1;
            return 0;
        }
        char *q = realloc(b->p, cap);
        if (!q)
            return 0;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = '\0';
    return len;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* JSON string output for names and messages (they come from our own files). */
static void put_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int read_queries(const char *path, struct query *qs, size_t *nq)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "vex-bench-http: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    *nq = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || tab[1] != '/') {
            fprintf(stderr, "vex-bench-http: %s: want NAME<TAB>/path, got '%s'\n", path, line);
            rc = -1;
            break;
        }
        if (*nq == MAX_QUERIES) {
            fprintf(stderr, "vex-bench-http: more than %d queries\n", MAX_QUERIES);
            rc = -1;
            break;
        }
        *tab = '\0';
        qs[*nq].name = strdup(line);
        qs[*nq].path = strdup(tab + 1);
        if (!qs[*nq].name || !qs[*nq].path) {
            free(qs[*nq].name);
            free(qs[*nq].path);
            qs[*nq].name = qs[*nq].path = NULL;
            rc = -1;
            break;
        }
        for (char *c = qs[*nq].name; *c; c++)
            if (*c == '/' || *c == '.')
                *c = '_'; /* the name also names a file under --save */
        (*nq)++;
    }
    free(line);
    fclose(f);
    if (!rc && !*nq) {
        fprintf(stderr, "vex-bench-http: %s holds no query\n", path);
        rc = -1;
    }
    return rc;
}

static int loopback(const char *url)
{
    static const char *const ok[] = {"http://127.0.0.1:", "http://127.0.0.1/",
                                     "http://localhost:", "http://localhost/"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strncmp(url, ok[i], strlen(ok[i])))
            return 1;
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    if (!s)
        return -1;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *base = NULL, *qfile = NULL, *save = NULL;
    const char *headers[MAX_HEADERS];
    size_t nheaders = 0;
    long runs = 50, warmup = 3, timeout = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            return 0;
        }
        int bad = !v;
        if (!bad && !strcmp(a, "--url"))
            base = v;
        else if (!bad && !strcmp(a, "--queries"))
            qfile = v;
        else if (!bad && !strcmp(a, "--save"))
            save = v;
        else if (!bad && !strcmp(a, "--header") && nheaders < MAX_HEADERS)
            headers[nheaders++] = v;
        else if (!bad && !strcmp(a, "--runs"))
            bad = parse_long(v, 1, MAX_RUNS, &runs);
        else if (!bad && !strcmp(a, "--warmup"))
            bad = parse_long(v, 0, MAX_RUNS, &warmup);
        else if (!bad && !strcmp(a, "--timeout"))
            bad = parse_long(v, 1, 3600, &timeout);
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "vex-bench-http: bad argument '%s%s%s'\n%s", a, v ? " " : "",
                    v ? v : "", USAGE);
            return 2;
        }
        i++;
    }
    if (!base || !qfile) {
        fprintf(stderr, "vex-bench-http: --url and --queries are required\n%s", USAGE);
        return 2;
    }
    if (!loopback(base)) {
        fprintf(stderr, "vex-bench-http: --url must be http://127.0.0.1:PORT (loopback only)\n");
        return 2;
    }
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;

    struct query *qs = calloc(MAX_QUERIES, sizeof *qs);
    double *lat = malloc((size_t)runs * sizeof *lat);
    struct body body = {0};
    struct curl_slist *hl = NULL;
    CURL *h = NULL;
    char *url = NULL;
    size_t nq = 0;
    int status = 1, curl_ready = 0;
    if (!qs || !lat) {
        fprintf(stderr, "vex-bench-http: out of memory\n");
        goto out;
    }
    if (read_queries(qfile, qs, &nq))
        goto out;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(h = curl_easy_init())) {
        fprintf(stderr, "vex-bench-http: cannot set up libcurl\n");
        goto out;
    }
    curl_ready = 1;
    for (size_t i = 0; i < nheaders; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    /* Both servers compress only when asked; nobody asks, so sizes compare. */

    status = 0;
    printf("{\"url\":");
    put_json_str(stdout, base);
    printf(",\"runs\":%ld,\"warmup\":%ld,\"queries\":[", runs, warmup);
    for (size_t q = 0; q < nq; q++) {
        size_t need = blen + strlen(qs[q].path) + 1;
        char *u = realloc(url, need);
        if (!u) {
            status = 1;
            break;
        }
        url = u;
        memcpy(url, base, blen);
        strcpy(url + blen, qs[q].path);
        curl_easy_setopt(h, CURLOPT_URL, url);
        long code = 0;
        CURLcode cc = CURLE_OK;
        long n = 0;
        for (long k = 0; k < warmup + runs; k++) {
            body.len = 0;
            body.overflow = 0;
            double t = now_ms();
            cc = curl_easy_perform(h);
            double dt = now_ms() - t;
            if (cc != CURLE_OK)
                break;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            if (code != 200)
                break;
            if (k >= warmup)
                lat[n++] = dt;
        }
        printf("%s{\"name\":", q ? "," : "");
        put_json_str(stdout, qs[q].name);
        printf(",\"status\":%ld,\"bytes\":%zu", code, body.len);
        if (cc != CURLE_OK || code != 200) {
            status = 1;
            printf(",\"error\":");
            if (cc != CURLE_OK) {
                put_json_str(stdout, body.overflow ? "answer too large" : curl_easy_strerror(cc));
            } else {
                char msg[512];
                snprintf(msg, sizeof msg, "%.*s", (int)(body.len < 400 ? body.len : 400),
                         body.p ? body.p : "");
                put_json_str(stdout, msg);
            }
            fprintf(stderr, "vex-bench-http: %s: %s (HTTP %ld)\n", qs[q].name,
                    cc != CURLE_OK ? curl_easy_strerror(cc) : "not 200", code);
        }
        if (n) {
            qsort(lat, (size_t)n, sizeof *lat, cmp_double);
            double sum = 0;
            for (long k = 0; k < n; k++)
                sum += lat[k];
            double median = n % 2 ? lat[n / 2] : (lat[n / 2 - 1] + lat[n / 2]) / 2;
            long r99 = (long)ceil(0.99 * (double)n); /* nearest rank, 1-based */
            printf(",\"n\":%ld,\"median_ms\":%.3f,\"p99_ms\":%.3f,\"min_ms\":%.3f"
                   ",\"mean_ms\":%.3f,\"max_ms\":%.3f",
                   n, median, lat[r99 - 1], lat[0], sum / (double)n, lat[n - 1]);
        }
        printf("}");
        fflush(stdout);
        if (save && body.p && code == 200) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.json", save, qs[q].name);
            FILE *f = fopen(path, "w");
            if (!f || fwrite(body.p, 1, body.len, f) != body.len) {
                fprintf(stderr, "vex-bench-http: cannot write %s\n", path);
                status = 1;
            }
            if (f)
                fclose(f);
        }
    }
    printf("]}\n");
out:
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hl);
    if (curl_ready)
        curl_global_cleanup();
    for (size_t q = 0; qs && q < nq; q++) {
        free(qs[q].name);
        free(qs[q].path);
    }
    free(qs);
    free(lat);
    free(body.p);
    free(url);
    return status;
}
