"""Smoke run of the issue 4 benchmarks (bench/run --quick), so that they keep working.

It runs the whole harness at a tiny size with ClickHouse (Debian's clickhouse-server,
started by bench/run through scripts/clickhouse.sh on free loopback ports; the test
fails when it is not installed): a 5,000-session store made by vex-bench-mkstore,
vex serve and ClickHouse answering the thirteen queries, vex load, and HTTP ingest
with vex-loadgen at 8, 32 and 64 connections. It asserts that the run completes and
that results.json holds every figure, plus what is known by hand about the data: 5,000
sessions in the week, so 5,000 attempts in both servers' answers and in ClickHouse's
table, and 168 hourly buckets (7 x 24; each hour of the diurnal curve gets some of the
5,000 stratified start times) that add up to 5,000. It never looks at timings beyond
their being present and positive."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

VEX = os.environ.get("VEX_BIN", "build/vex")
SRC = os.environ.get("VEX_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))

QUERIES = ["plays", "attempts", "concurrent", "endedplays", "errors", "ebvs",
           "bufferingratio", "startup", "q_by_cdn", "cirr", "vrt", "cdn_platform", "hourly"]
# The figures of the table, written out here: a figure that disappears from the harness
# fails the test.
FIGURES = (["query %s, 5.00k sessions" % q for q in QUERIES]
           + ["totals queries (worst of 10), 5.00k sessions",
              "disk bytes per session, 5.00k sessions",
              "server RSS, 5.00k sessions loaded",
              "server start (load the store), 5.00k sessions",
              "bulk load (vex load), events/s",
              "HTTP ingest, 8 connections, events/s",
              "HTTP ingest, 32 connections, events/s",
              "HTTP ingest, 64 connections, events/s",
              "HTTP ingest, best, events/s"])
SESSIONS = 5000
WEEK = 7 * 86400


class BenchSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vex-bench-smoke-")
        cls.out = os.path.join(cls.tmp, "results.json")
        cls.work = os.path.join(cls.tmp, "work")
        build = os.path.dirname(os.path.abspath(VEX))
        cls.proc = subprocess.run(
            [sys.executable, os.path.join(SRC, "bench", "run"), "--quick", "--build", build,
             "--out", cls.out, "--workdir", cls.work, "--keep", "--deadline", "450"],
            capture_output=True, text=True, timeout=540)
        cls.res = None
        if os.path.exists(cls.out):
            with open(cls.out) as f:
                cls.res = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def answer(self, server, name):
        path = os.path.join(self.work, "size-%d" % SESSIONS, server + "-answers", name + ".json")
        with open(path) as f:
            doc = json.load(f)
        return doc["response"] if server == "vex" else doc["data"]

    def test_completes(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr[-3000:])
        self.assertIsNotNone(self.res)
        self.assertIn("| figure", self.proc.stdout)

    def test_every_figure_present(self):
        self.assertIsNotNone(self.res, self.proc.stderr[-3000:])
        figs = {f["figure"]: f for f in self.res["figures"]}
        self.assertEqual(sorted(figs), sorted(FIGURES))
        for name in FIGURES:
            f = figs[name]
            self.assertIsInstance(f["vex"], (int, float), name)
            self.assertGreater(f["vex"], 0, name)
            for k in ("clickhouse", "ratio", "target", "met"):
                self.assertIn(k, f, name)
        for q in QUERIES:
            f = figs["query %s, 5.00k sessions" % q]
            self.assertGreater(f["clickhouse"], 0, q)
            self.assertGreater(f["vex_p99"], 0, q)
            self.assertGreater(f["clickhouse_p99"], 0, q)
            self.assertIsNotNone(f["ratio"], q)
        disk = figs["disk bytes per session, 5.00k sessions"]
        self.assertGreater(disk["clickhouse"], 0)
        self.assertIn(figs["bulk load (vex load), events/s"]["met"], (True, False))

    def test_sizes_and_runs(self):
        self.assertIsNotNone(self.res, self.proc.stderr[-3000:])
        self.assertEqual(len(self.res["sizes"]), 1)
        s = self.res["sizes"][0]
        self.assertEqual(s["sessions"], SESSIONS)
        self.assertEqual(s["store"]["sessions"], SESSIONS)
        self.assertEqual(s["clickhouse"]["rows"], SESSIONS)
        for server in (s["vex"]["queries"], s["clickhouse"]["queries"]):
            self.assertEqual(sorted(server), sorted(QUERIES))
            for q in QUERIES:
                self.assertEqual(server[q]["status"], 200, q)
                self.assertEqual(server[q]["n"], 3, q)  # --quick: 3 measured runs
        for q in QUERIES:
            self.assertTrue(s["agreement"][q]["agree"], (q, s["agreement"][q]))
        ing = self.res["ingest"]
        self.assertGreater(ing["load"]["events"], 0)
        self.assertEqual([h["connections"] for h in ing["http"]], [8, 32, 64])
        for h in ing["http"]:
            self.assertEqual(h["events_acked"], h["events_sent"])
            self.assertEqual(h["rejected"] + h["failed"], 0)

    def test_answers_known_by_hand(self):
        self.assertIsNotNone(self.res, self.proc.stderr[-3000:])
        self.assertEqual(self.answer("vex", "attempts")[0]["attempts"], SESSIONS)
        self.assertEqual(int(self.answer("ch", "attempts")[0]["attempts"]), SESSIONS)
        period = self.res["params"]["period"]
        self.assertEqual(period["end"] - period["start"], WEEK)
        for server in ("vex", "ch"):
            rows = self.answer(server, "hourly")
            self.assertEqual(len(rows), 168, server)
            self.assertEqual(sum(int(r["attempts"]) for r in rows), SESSIONS, server)
            stamps = [int(r["timestamp"]) for r in rows]
            self.assertEqual(stamps, [period["start"] + 3600 * h for h in range(168)], server)


if __name__ == "__main__":
    unittest.main()
