/* test_wire.c - WAL batch records: round trip and corrupt input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "ingest/wire.h"

static void test_round_trip(void **state)
{
    (void)state;
    const char *body =
        "[{\"sid\":\"s1\",\"seq\":0,\"ts\":1709543700000,\"type\":\"start\",\"kbps\":2500,"
        "\"cdn\":\"cdn-a\",\"ip\":\"1.2.3.4\",\"live\":false},"
        "{\"sid\":\"s1\",\"seq\":7,\"ts\":1709543700001,\"type\":\"error\",\"fatal\":false},"
        "{\"sid\":\"s2\",\"seq\":3,\"ts\":0,\"type\":\"end\",\"subscribertag\":\"\"}]";
    struct vex_event_batch b;
    struct vex_event_error err;
    assert_int_equal(vex_event_batch_parse(body, strlen(body), VEX_BODY_AUTO, &b, &err), 0);
    void *buf;
    size_t len;
    assert_int_equal(vex_wire_encode("cust", "10.1.1.1", 42, b.events, b.count, &buf, &len), 0);
    struct vex_wire_batch w;
    assert_int_equal(vex_wire_decode(buf, len, &w), 0);
    assert_string_equal(w.customer, "cust");
    assert_string_equal(w.ip, "10.1.1.1");
    assert_int_equal(w.received_ms, 42);
    assert_int_equal(w.count, 3);
    assert_int_equal(w.events[0].sid_len, 2);
    assert_memory_equal(w.events[0].sid, "s1", 2);
    assert_int_equal(w.events[0].ts, 1709543700000LL);
    assert_true(w.events[0].has_kbps && w.events[0].kbps == 2500);
    assert_int_equal(w.events[0].live, 0);
    assert_int_equal(w.events[0].dim_len[VEX_DIM_CDN], 5);
    assert_memory_equal(w.events[0].dims[VEX_DIM_CDN], "cdn-a", 5);
    assert_null(w.events[0].dims[VEX_DIM_COUNTRY]);
    assert_int_equal(w.events[1].seq, 7);
    assert_int_equal(w.events[1].fatal, 0);
    assert_int_equal(w.events[1].type, VEX_EV_ERROR);
    assert_int_equal(w.events[2].live, -1);
    assert_null(w.events[2].dims[VEX_DIM_SUBSCRIBERTAG]);
    vex_wire_batch_deinit(&w);

    /* Every truncation is detected. */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(vex_wire_decode(buf, cut, &w), VEX_ECORRUPT);
    free(buf);
    vex_event_batch_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
