"""Durability: batches are posted by several clients while SIGKILL hits the
server at random moments (10 rounds). After a restart every acknowledged batch
is counted exactly once and every batch is all-or-nothing."""

import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vexlib  # noqa: E402

SESSIONS_PER_BATCH = 4
PLAY_MS = 30000
T0 = 1709510400000  # 2024-03-04


def batch_body(b):
    """Batch b: SESSIONS_PER_BATCH sessions, all on cdn "b<b>", each start ->
    playing (+1 s) -> end (+31 s): 30 s of play. Events of a session are
    shuffled to exercise the sessionizer too."""
    lines = []
    for s in range(SESSIONS_PER_BATCH):
        sid = "crash-%d-%d" % (b, s)
        ts = T0 + b * 1000
        evs = [
            '{"sid":"%s","seq":0,"ts":%d,"type":"start","cdn":"b%d"}' % (sid, ts, b),
            '{"sid":"%s","seq":1,"ts":%d,"type":"playing"}' % (sid, ts + 1000),
            '{"sid":"%s","seq":2,"ts":%d,"type":"end"}' % (sid, ts + 1000 + PLAY_MS),
        ]
        random.shuffle(evs)
        lines.extend(evs)
    return "\n".join(lines) + "\n"


class CrashTest(unittest.TestCase):
    def test_kill_rounds(self):
        random.seed(7)
        srv = vexlib.Server()
        acked = set()
        attempted = set()
        lock = threading.Lock()
        next_batch = [0]
        try:
            key = vexlib.setup_customer(srv.data, "crashco", 1, "cuser", "crash-pass")
            for rnd in range(10):
                srv.start()
                stop = threading.Event()

                def poster():
                    while not stop.is_set():
                        with lock:
                            b = next_batch[0]
                            next_batch[0] += 1
                            attempted.add(b)
                        try:
                            st, _ = srv.post_events(key, batch_body(b))
                        except OSError:
                            return
                        if st == 202:
                            with lock:
                                acked.add(b)
                        else:
                            return

                threads = [threading.Thread(target=poster) for _ in range(4)]
                for t in threads:
                    t.start()
                time.sleep(random.uniform(0.05, 0.6))
                srv.kill()
                stop.set()
                for t in threads:
                    t.join(timeout=60)
            self.assertGreater(len(acked), 20)

            srv.start()
            token = srv.token("cuser", "crash-pass")
            rows = {}
            offset = 0
            while True:  # page through: a fast machine posts more than one page of batches
                st, body = srv.get("/mm-apis/session/crashco?planlevel=1&period=start=1709510400,"
                                   "end=1710115200&metrics=attempts,playdur,endedplays&aggby=cdn"
                                   "&limit=10000&offset=%d" % offset, token=token)
                self.assertEqual(st, 200, body)
                rows.update({r["cdn"]: r for r in body["response"]})
                offset += 10000
                if offset >= body["totalcount"]:
                    break
            self.assertEqual(len(rows), body["totalcount"])
            for b in sorted(attempted):
                r = rows.get("b%d" % b)
                if b in acked:
                    self.assertIsNotNone(r, "acknowledged batch %d lost" % b)
                if r is None:
                    continue
                # All or nothing, and exactly once.
                self.assertEqual(r["attempts"], SESSIONS_PER_BATCH, r)
                self.assertEqual(r["endedplays"], SESSIONS_PER_BATCH, r)
                self.assertEqual(r["playdur"], SESSIONS_PER_BATCH * PLAY_MS / 1000.0, r)
            self.assertTrue(set(rows) <= {"b%d" % b for b in attempted})
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
