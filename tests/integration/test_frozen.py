"""Frozen blocks end to end (issue 4): a store whose sessions last changed days ago,
opened as the server opens it, then late events for some of those sessions.

The store is made by vex-bench-mkstore (built beside vex): 40,000 closed sessions of
customer `bench` over the seven whole UTC days that ended at the last midnight at
least 12 hours ago (so that no session, a few hours long at most, is still open, and
the first day is whole, whatever the time of day), each recorded as last changed half
a second after its last event, so at least every day but the last is older than the
24 h window of SPEC section 2 and freezes when the store is opened (about 5,700
sessions a day, more than a block's 4,096). vex-bench-mem reports how many sessions are frozen. The
expected totals are the store maker's own counts (its JSON summary), not vex's:
attempts = sessions, viewercount = played, totalstartupfailure = vsf, ebvs = ebvs.

Then `vex load` delivers, three days late, an `end` (seq 1,000,000) for the first 300
sessions (the first hours of the week, frozen) and one new session that starts, plays
and ends in the week. By hand: a late `end` adds no attempt, no play, no start
failure and no EBVS (an EBVS that ends is still one), so the totals move by the new
session only: attempts + 1, viewercount + 1. The frozen sessions touched lose their
block (fewer frozen sessions after), and every later open (`vex query` opens the store
again each time) gives the same answer."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from vexlib import VEX, run

BENCH = os.path.join(os.path.dirname(os.path.abspath(VEX)), "bench")
SESSIONS = 40000


def tool(name, *args):
    p = subprocess.run([os.path.join(BENCH, name)] + list(args), capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (name, p.returncode, p.stderr))
    return json.loads(p.stdout)


class FrozenTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vex-frozen-")
        self.data = os.path.join(self.tmp, "data")
        end = (int(time.time()) - 12 * 3600) // 86400 * 86400
        self.made = tool("vex-bench-mkstore", "--data", self.data, "--customer", "bench",
                         "--sessions", str(SESSIONS), "--days", "7", "--seed", "1",
                         "--end", str(end))
        run(["customer", "add", "bench", "--plan", "1"], self.data)
        self.period = "planlevel=1&period=start=%d,end=%d" % (self.made["start"],
                                                             self.made["end"])

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def totals(self):
        q = self.period + "&metrics=attempts,viewercount,totalstartupfailure,ebvs"
        out = json.loads(run(["query", "bench", q], self.data).stdout)
        row = out["response"][0]
        return (row["attempts"], row["viewercount"], row["totalstartupfailure"], row["ebvs"])

    def by_cdn_attempts(self):
        q = self.period + "&metrics=attempts&aggby=cdn&limit=1000"
        out = json.loads(run(["query", "bench", q], self.data).stdout)
        return sum(r["attempts"] for r in out["response"]), len(out["response"])

    def test_old_sessions_then_late_events(self):
        m = self.made
        self.assertEqual(m["sessions"], SESSIONS)
        self.assertEqual(m["open"], 0)
        mem = tool("vex-bench-mem", self.data)
        self.assertEqual(mem["rows"], SESSIONS)
        # Five whole days at least are older than 24 h and hold ~5,700 sessions each.
        frozen = mem["frozen_rows"]
        self.assertGreater(frozen, 5 * 4096)
        self.assertLessEqual(frozen, SESSIONS)

        want = (SESSIONS, m["played"], m["vsf"], m["ebvs"])
        self.assertEqual(self.totals(), want)
        self.assertEqual(self.by_cdn_attempts()[0], SESSIONS)

        start_ms = m["start"] * 1000
        lines = [json.dumps({"sid": "bench-m1-%d" % i, "seq": 1000000, "type": "end",
                             "ts": start_ms + 3 * 86400000}) for i in range(300)]
        for seq, typ, dt in ((0, "start", 0), (1, "playing", 1500), (2, "end", 61500)):
            lines.append(json.dumps({"sid": "late-new", "seq": seq, "type": typ,
                                     "ts": start_ms + 3600000 + dt, "cdn": "latecdn"}))
        events = os.path.join(self.tmp, "late.ndjson")
        with open(events, "w") as f:
            f.write("\n".join(lines) + "\n")
        run(["load", "--customer", "bench", events], self.data)

        want = (SESSIONS + 1, m["played"] + 1, m["vsf"], m["ebvs"])
        self.assertEqual(self.totals(), want)
        total, groups = self.by_cdn_attempts()
        self.assertEqual(total, SESSIONS + 1)
        mem = tool("vex-bench-mem", self.data)
        self.assertEqual(mem["rows"], SESSIONS + 1)
        # The 300 sessions just changed cannot freeze for 24 h, nor can the new one.
        self.assertLessEqual(mem["frozen_rows"], frozen - 300)
        # Opened once more: the same answer.
        self.assertEqual(self.totals(), want)


if __name__ == "__main__":
    unittest.main()
