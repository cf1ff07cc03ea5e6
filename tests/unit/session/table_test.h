/* table_test.h - what the session table tests share: an event built from
 * its few fields, and applying one that must be accepted. Include after
 * <cmocka.h>. */
#ifndef VEX_TESTS_SESSION_TABLE_TEST_H
#define VEX_TESTS_SESSION_TABLE_TEST_H

#include <string.h>

#include "ingest/event.h"
#include "session/table.h"

/* tt_event returns an event of type `type` with no dimensions, no `live`
 * and no bitrate. */
static inline struct vex_event tt_event(const char *sid, int64_t seq, int type, int64_t ts)
{
    struct vex_event e;
    memset(&e, 0, sizeof e);
    e.sid = sid;
    e.sid_len = (uint32_t)strlen(sid);
    e.type = (uint8_t)type;
    e.live = -1;
    e.seq = seq;
    e.ts = ts;
    return e;
}

/* tt_apply applies tt_event(...) at server time now_ms and asserts it was taken. */
static inline void tt_apply(struct vex_table *t, const char *sid, int64_t seq, int type,
                            int64_t ts, int64_t now_ms)
{
    struct vex_event e = tt_event(sid, seq, type, ts);
    assert_int_equal(vex_table_apply(t, &e, "", now_ms), 0);
}

#endif
