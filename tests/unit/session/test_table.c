/* test_table.c - the sessionizer against the public vectors: events in file
 * order, then shuffled, split and duplicated deliveries, must give exactly
 * the records of sessions.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/err.h"
#include "ingest/event.h"
#include "session/table.h"

#define NOW_MS 1900000000000LL /* far after the data: everything is closed */

static char *read_file(const char *name, size_t *len)
{
    char path[1024];
    const char *dir = getenv("VEX_VECTORS");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/vectors", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

struct collected {
    json_t *records; /* sid -> object of the fields we compare */
};

static int collect(void *ctx, const struct vex_record *r, size_t n)
{
    struct collected *c = ctx;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "attempt_ts", json_integer(r[i].attempt_ts));
        json_object_set_new(o, "last_ts", json_integer(r[i].last_ts));
        json_object_set_new(o, "state", json_string(vex_state_name(r[i].state)));
        json_object_set_new(o, "closed", json_integer(r[i].closed));
        json_object_set_new(o, "played", json_integer(r[i].played));
        json_object_set_new(o, "startup_ms", json_integer(r[i].startup_ms));
        json_object_set_new(o, "play_ms", json_integer(r[i].play_ms));
        json_object_set_new(o, "cirr_ms", json_integer(r[i].cirr_ms));
        json_object_set_new(o, "vrt_ms", json_integer(r[i].vrt_ms));
        json_object_set_new(o, "rebuffers", json_integer(r[i].rebuffers));
        json_object_set_new(o, "seeks", json_integer(r[i].seeks));
        json_object_set_new(o, "ebvs", json_integer(r[i].ebvs));
        json_object_set_new(o, "vsf", json_integer(r[i].vsf));
        json_object_set_new(o, "vpf", json_integer(r[i].vpf));
        json_object_set_new(o, "errors", json_integer(r[i].errors));
        json_object_set_new(o, "warnings", json_integer(r[i].warnings));
        json_object_set_new(o, "kbps_ms", json_real(r[i].kbps_ms));
        json_object_set_new(o, "kbps_known_ms", json_integer(r[i].kbps_known_ms));
        for (int d = 0; d < VEX_DIM_COUNT; d++)
            json_object_set_new(o, vex_dim_name((enum vex_dim)d), json_string(r[i].dims[d]));
        json_object_set_new(o, "streamtype", json_string(r[i].live ? "live" : "vod"));
        json_object_set_new(o, "q", json_real(vex_record_q(&r[i])));
        json_object_set_new(c->records, r[i].sid, o);
    }
    return 0;
}

/* check_against_vectors compares every field of every expected record. */
static void check_against_vectors(struct vex_table *t, int ip_known)
{
    size_t len;
    char *text = read_file("sessions.json", &len);
    json_t *expected = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(expected);
    struct collected c = {json_object()};
    assert_int_equal(vex_table_scan(t, 0, INT64_MAX, NOW_MS, 120000, collect, &c), 0);
    assert_int_equal(json_object_size(c.records), json_object_size(expected));
    const char *sid;
    json_t *exp;
    json_object_foreach(expected, sid, exp) {
        json_t *got = json_object_get(c.records, sid);
        if (!got)
            fail_msg("missing session %s", sid);
        const char *key;
        json_t *ev;
        json_object_foreach(exp, key, ev) {
            if (!strcmp(key, "what") || !strcmp(key, "sid"))
                continue;
            if (!strcmp(key, "ip") && !ip_known)
                continue;
            json_t *gv = json_object_get(got, key);
            if (!gv)
                fail_msg("%s: field %s not produced", sid, key);
            if (json_is_number(ev)) {
                double a = json_number_value(ev), b = json_number_value(gv);
                double tol = 1e-9 * (a < 0 ? -a : a) + 1e-9;
                if ((a - b) > tol || (b - a) > tol)
                    fail_msg("%s.%s: expected %.17g, got %.17g", sid, key, a, b);
            } else if (!json_equal(ev, gv)) {
                char *es = json_dumps(ev, JSON_ENCODE_ANY), *gs = json_dumps(gv, JSON_ENCODE_ANY);
                fail_msg("%s.%s: expected %s, got %s", sid, key, es, gs);
            }
        }
    }
    json_decref(c.records);
    json_decref(expected);
}

static void test_file_order(void **state)
{
    (void)state;
    size_t len;
    char *text = read_file("events.ndjson", &len);
    struct vex_event_batch b;
    struct vex_event_error err;
    assert_int_equal(vex_event_batch_parse(text, len, VEX_BODY_NDJSON, &b, &err), 0);
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    for (size_t i = 0; i < b.count; i++)
        assert_int_equal(vex_table_apply(t, &b.events[i], "", 1000), 0);
    check_against_vectors(t, 1);
    assert_int_equal(vex_table_count(t), 26);
    vex_table_destroy(t);
    vex_event_batch_destroy(&b);
    free(text);
}

/* A permutation that keeps the relative order of events of the same sid and
 * seq (the first copy received must stay first), with every event also
 * delivered a second time somewhere after its first copy. */
static void test_shuffled_and_duplicated(void **state)
{
    (void)state;
    size_t len;
    char *text = read_file("events.ndjson", &len);
    struct vex_event_batch b;
    struct vex_event_error err;
    assert_int_equal(vex_event_batch_parse(text, len, VEX_BODY_NDJSON, &b, &err), 0);
    srand(12345);
    for (int round = 0; round < 20; round++) {
        size_t n = b.count;
        size_t *order = malloc(2 * n * sizeof *order);
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)rand() % (i + 1);
            size_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        /* Restore file order among copies of the same (sid, seq). */
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                const struct vex_event *a = &b.events[order[i]], *c = &b.events[order[j]];
                if (a->seq == c->seq && a->sid_len == c->sid_len &&
                    !memcmp(a->sid, c->sid, a->sid_len) && order[i] > order[j]) {
                    size_t tmp = order[i];
                    order[i] = order[j];
                    order[j] = tmp;
                }
            }
        for (size_t i = 0; i < n; i++)
            order[n + i] = order[(size_t)rand() % n]; /* retries, after every first copy */
        struct vex_table *t;
        assert_int_equal(vex_table_create(&t), 0);
        for (size_t i = 0; i < 2 * n; i++)
            assert_int_equal(vex_table_apply(t, &b.events[order[i]], "", 1000), 0);
        check_against_vectors(t, 1);
        vex_table_destroy(t);
        free(order);
    }
    vex_event_batch_destroy(&b);
    free(text);
}

/* Reverse seq order for one session: every event arrives before its
 * predecessors. */
static void test_reverse_order(void **state)
{
    (void)state;
    size_t len;
    char *text = read_file("events.ndjson", &len);
    struct vex_event_batch b;
    struct vex_event_error err;
    assert_int_equal(vex_event_batch_parse(text, len, VEX_BODY_NDJSON, &b, &err), 0);
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    /* v15 has two copies of seq 2: the first in the file must be received
     * first, so deliver the file's events backwards except for that pair. */
    for (size_t i = b.count; i-- > 0;) {
        const struct vex_event *e = &b.events[i];
        if (e->sid_len == 14 && !memcmp(e->sid, "v15-duplicates", 14))
            continue;
        assert_int_equal(vex_table_apply(t, e, "", 1000), 0);
    }
    for (size_t i = 0; i < b.count; i++) {
        const struct vex_event *e = &b.events[i];
        if (e->sid_len == 14 && !memcmp(e->sid, "v15-duplicates", 14))
            assert_int_equal(vex_table_apply(t, e, "", 1000), 0);
    }
    check_against_vectors(t, 1);
    vex_table_destroy(t);
    vex_event_batch_destroy(&b);
    free(text);
}

/* The ip of a session without `ip` is the address that delivered its
 * lowest-seq event, even when that event arrives last. */
static void test_ip_fallback(void **state)
{
    (void)state;
    const char *late = "{\"sid\":\"s\",\"seq\":1,\"ts\":2000,\"type\":\"playing\"}";
    const char *early = "{\"sid\":\"s\",\"seq\":0,\"ts\":1000,\"type\":\"start\"}";
    struct vex_event_batch b1, b2;
    struct vex_event_error err;
    assert_int_equal(vex_event_batch_parse(late, strlen(late), VEX_BODY_AUTO, &b1, &err), 0);
    assert_int_equal(vex_event_batch_parse(early, strlen(early), VEX_BODY_AUTO, &b2, &err), 0);
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    assert_int_equal(vex_table_apply(t, &b1.events[0], "10.0.0.1", 1), 0);
    assert_int_equal(vex_table_apply(t, &b2.events[0], "10.0.0.2", 2), 0);
    struct collected c = {json_object()};
    assert_int_equal(vex_table_scan(t, 0, INT64_MAX, 3, 120000, collect, &c), 0);
    json_t *r = json_object_get(c.records, "s");
    assert_string_equal(json_string_value(json_object_get(r, "ip")), "10.0.0.2");
    /* Live: last_ts 2000, now 3 ms later is not past the timeout. */
    assert_int_equal(json_integer_value(json_object_get(r, "closed")), 0);
    assert_int_equal(json_integer_value(json_object_get(r, "startup_ms")), 1000);
    json_decref(c.records);
    vex_table_destroy(t);
    vex_event_batch_destroy(&b1);
    vex_event_batch_destroy(&b2);
}

/* Export and import keep a session with pending (out-of-order) events able
 * to take the missing ones. */
static void test_export_import(void **state)
{
    (void)state;
    const char *evs =
        "{\"sid\":\"x\",\"seq\":0,\"ts\":1000,\"type\":\"start\",\"cdn\":\"a\"}\n"
        "{\"sid\":\"x\",\"seq\":2,\"ts\":5000,\"type\":\"buffering\"}\n"
        "{\"sid\":\"x\",\"seq\":3,\"ts\":6000,\"type\":\"playing\"}\n";
    const char *missing = "{\"sid\":\"x\",\"seq\":1,\"ts\":2000,\"type\":\"playing\"}";
    struct vex_event_batch b, m;
    struct vex_event_error err;
    assert_int_equal(vex_event_batch_parse(evs, strlen(evs), VEX_BODY_AUTO, &b, &err), 0);
    assert_int_equal(vex_event_batch_parse(missing, strlen(missing), VEX_BODY_AUTO, &m, &err), 0);
    struct vex_table *t, *t2;
    assert_int_equal(vex_table_create(&t), 0);
    assert_int_equal(vex_table_create(&t2), 0);
    for (size_t i = 0; i < b.count; i++)
        assert_int_equal(vex_table_apply(t, &b.events[i], "", 1), 0);
    struct vex_session_state st;
    vex_table_export(t, 0, &st);
    assert_int_equal(st.prefix_next, 1);
    assert_int_equal(st.npending, 2);
    assert_int_equal(vex_table_import(t2, &st), 0);
    assert_int_equal(vex_table_import(t2, &st), VEX_EEXIST);
    assert_int_equal(vex_table_apply(t2, &m.events[0], "", 2), 0);
    struct collected c = {json_object()};
    assert_int_equal(vex_table_scan(t2, 0, INT64_MAX, 3, 120000, collect, &c), 0);
    json_t *r = json_object_get(c.records, "x");
    /* start 1000 -> playing 2000 (startup 1000) -> buffering 5000 (play 3000)
     * -> playing 6000 (cirr 1000). */
    assert_int_equal(json_integer_value(json_object_get(r, "startup_ms")), 1000);
    assert_int_equal(json_integer_value(json_object_get(r, "play_ms")), 3000);
    assert_int_equal(json_integer_value(json_object_get(r, "cirr_ms")), 1000);
    assert_int_equal(json_integer_value(json_object_get(r, "rebuffers")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "cdn")), "a");
    json_decref(c.records);
    vex_table_destroy(t);
    vex_table_destroy(t2);
    vex_event_batch_destroy(&b);
    vex_event_batch_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_order),
        cmocka_unit_test(test_shuffled_and_duplicated),
        cmocka_unit_test(test_reverse_order),
        cmocka_unit_test(test_ip_fallback),
        cmocka_unit_test(test_export_import),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
