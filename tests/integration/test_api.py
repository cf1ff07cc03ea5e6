"""The collector and the metrics API over HTTP against the real server, with
a small hand-made data set whose expected metrics are worked out here by hand
(never by calling vex code)."""

import json
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vexlib  # noqa: E402

T = 1709510400000  # 2024-03-04 00:00 UTC
WEEK = "period=start=1709510400,end=1710115200"


def ev(sid, seq, ts, typ, **kw):
    d = {"sid": sid, "seq": seq, "ts": T + ts, "type": typ}
    d.update(kw)
    return d


# A: plays 40 s with one 3 s rebuffer, 3000 kbps, startup 2 s.
# B: exits before video start. C: start failure. D: live, 1 s seek, then a
# fatal error while playing.
EVENTS = [
    ev("A", 0, 0, "start", cdn="x", platform="web", country="us", subscriberid="u1", kbps=3000),
    ev("A", 1, 2000, "playing"),
    ev("A", 2, 12000, "buffering"),
    ev("A", 3, 15000, "playing"),
    ev("A", 4, 45000, "end"),
    ev("B", 0, 60000, "start", cdn="x", platform="ios", country="us", subscriberid="u2"),
    ev("B", 1, 61000, "end"),
    ev("C", 0, 120000, "start", cdn="y", platform="web", country="de", subscriberid="u1"),
    ev("C", 1, 125000, "error", code="E42"),
    ev("D", 0, 180000, "start", cdn="y", platform="ios", country="de", subscriberid="u3",
       live=True),
    ev("D", 1, 181000, "playing"),
    ev("D", 2, 191000, "seek"),
    ev("D", 3, 192000, "playing"),
    ev("D", 4, 200000, "error", fatal=True),
]


def q_score(startup_s, play, cirr, vrt, kbps_ms, known):
    s_start = 1.0 if startup_s <= 1 else max(0.5, 1 - 0.0625 * (startup_s - 1))
    tot = play + cirr + vrt
    r = (cirr + vrt) / tot if tot else 0.0
    s_smooth = max(0.0, 1 - 5 * r)
    s_quality = 0.6 + 0.4 * min(1.0, (kbps_ms / known) / 6000) if known else 1.0
    return 100 * s_start * s_smooth * s_quality


QA = q_score(2.0, 40000, 3000, 0, 3000 * 40000, 40000)
EXPECTED_TOTALS = {
    "attempts": 4, "viewercount": 2, "endedplays": 2, "errors": 2, "totalstartupfailure": 1,
    "ebvs": 1, "buffcount": 1, "uniqueviewercount": 3,
    "concurviewavg": (45000 + 1000 + 5000 + 20000) / 604800000.0,
    "startupabandonmentrate": 25.0, "failurerate": 25.0, "playbackfailurerate": 50.0,
    "bufferingratio": 100.0 * 4000 / 62000, "sumbuffwaitcirr": 100.0 * 3000 / 62000,
    "vrtbufferingratio": 100.0 * 1000 / 62000, "rebufferfrequency": 3600000.0 / 58000,
    "playdur": 58.0, "latency": 1.5, "median_latency": 1.0, "avgbitrate": 3000.0,
    "qualityofexperience": QA / 3, "median_qualityofexperience": 0.0,
}


def ndjson(events):
    return "".join(json.dumps(e) + "\n" for e in events)


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = vexlib.Server(extra=["--body-limit", "100000"])
        cls.key = vexlib.setup_customer(cls.srv.data, "handco", 2, "hand", "hand-pass")
        cls.srv.start()
        cls.token = cls.srv.token("hand", "hand-pass")

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def metrics(self, qs, endpoint="session", status=200):
        st, body = self.srv.get("/mm-apis/%s/handco?%s" % (endpoint, qs), token=self.token)
        self.assertEqual(st, status, body)
        return body

    def totals(self, names):
        body = self.metrics("planlevel=2&%s&metrics=%s" % (WEEK, ",".join(names)))
        self.assertEqual(body["totalcount"], 1)
        return body["response"][0]

    def test_1_ingest_shuffled_split_duplicated(self):
        rnd = random.Random(5)
        # Shuffle, keep every copy, add retries, split in uneven batches.
        order = EVENTS[:] + rnd.sample(EVENTS, 6)
        rnd.shuffle(order)
        i = 0
        while i < len(order):
            n = rnd.randint(1, 5)
            chunk = order[i:i + n]
            if n % 2:
                st, ans = self.srv.post_events(self.key, json.dumps(chunk), "application/json")
            else:
                st, ans = self.srv.post_events(self.key, ndjson(chunk))
            self.assertEqual((st, ans), (202, {"accepted": len(chunk)}))
            i += n
        got = self.totals(list(EXPECTED_TOTALS))
        for k, v in EXPECTED_TOTALS.items():
            self.assertTrue(vexlib.close_enough(v, got[k]), (k, got[k], v))
            if isinstance(v, int):
                self.assertIs(type(got[k]), int, k)

        by_cdn = self.metrics("planlevel=2&%s&metrics=attempts,viewercount,ebvs,"
                              "totalstartupfailure&aggby=cdn" % WEEK)
        self.assertEqual(by_cdn["response"], [
            {"cdn": "x", "attempts": 2, "viewercount": 1, "ebvs": 1, "totalstartupfailure": 0,
             "totalpages": 1},
            {"cdn": "y", "attempts": 2, "viewercount": 1, "ebvs": 0, "totalstartupfailure": 1,
             "totalpages": 1}])
        live = self.metrics("planlevel=2&%s&metrics=attempts,playdur" % WEEK, endpoint="qbrData/live")
        self.assertEqual(live["response"][0]["attempts"], 1)
        self.assertEqual(live["response"][0]["playdur"], 18.0)
        sess = self.metrics("%s&metrics=sessionid,status,watchtime,qualityofexperience"
                            "&orderby=sessionid&order=asc" % WEEK, endpoint="listsessions")
        self.assertEqual([r["sessionid"] for r in sess["response"]], ["A", "B", "C", "D"])
        self.assertEqual(sess["response"][0]["watchtime"], 40.0)
        self.assertTrue(vexlib.close_enough(sess["response"][0]["qualityofexperience"], QA))

    def test_2_bad_batches_change_nothing(self):
        before = self.totals(["attempts", "playdur"])
        bad = [ev("E", 0, 0, "start"), ev("E", 1, 1000, "playing"), {"sid": "E", "seq": 2,
                                                                      "ts": "x", "type": "end"}]
        st, body = self.srv.post_events(self.key, json.dumps(bad), "application/json")
        self.assertEqual(st, 400)
        self.assertEqual((body["error"], body["index"], body["field"]), ("invalid_event", 2, "ts"))
        st, body = self.srv.post_events(self.key, ndjson(bad[:2]) + "{not json\n")
        self.assertEqual((st, body["error"]), (400, "bad_json"))
        st, body = self.srv.post_events(self.key, '[{"sid":"E","seq":1.5,"ts":1,"type":"end"}]',
                                        "application/json")
        self.assertEqual((st, body["field"]), (400, "seq"))
        st, body = self.srv.post_events(self.key, "[]", "application/json")
        self.assertEqual((st, body), (202, {"accepted": 0}))
        st, body = self.srv.post_events("wrong-key", ndjson(bad[:2]))
        self.assertEqual(st, 401)
        self.assertIn("message", body)
        st, body = self.srv.request("POST", "/v1/events", ndjson(bad[:2]).encode())
        self.assertEqual(st, 401)
        big = ndjson([ev("F%d" % i, 0, i, "start", title="x" * 200) for i in range(500)])
        st, body = self.srv.post_events(self.key, big)
        self.assertEqual((st, body["error"]), (413, "payload_too_large"))
        st, body = self.srv.request("GET", "/v1/events")
        self.assertEqual(st, 405)
        st, body = self.srv.request("GET", "/no/such/path")
        self.assertEqual((st, body["error"]), (404, "not_found"))
        self.assertEqual(self.totals(["attempts", "playdur"]), before)

    def test_2b_cors(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        c.request("OPTIONS", "/v1/events", headers={
            "Origin": "http://player.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-vex-key"})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 204)
        self.assertEqual(r.getheader("Access-Control-Allow-Origin"), "*")
        self.assertIn("POST", r.getheader("Access-Control-Allow-Methods"))
        self.assertIn("X-Vex-Key", r.getheader("Access-Control-Allow-Headers"))
        c.request("POST", "/v1/events", body="[]", headers={
            "X-Vex-Key": self.key, "Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 202)
        self.assertEqual(r.getheader("Access-Control-Allow-Origin"), "*")
        c.close()

    def test_2c_load_through_server_splits_past_body_limit(self):
        # 600 sessions of 3 events, about 160 kB, into a server whose body
        # limit is 100 kB: vex load must split its chunks and lose nothing.
        base = 1714521600000  # 2024-05-01, outside the other tests' week
        lines = []
        for i in range(600):
            sid = "bulk-%03d" % i
            lines.append(json.dumps({"sid": sid, "seq": 0, "ts": base + i * 1000, "type": "start",
                                     "cdn": "bulk", "title": "t" * 40}))
            lines.append(json.dumps({"sid": sid, "seq": 1, "ts": base + i * 1000 + 500,
                                     "type": "playing"}))
            lines.append(json.dumps({"sid": sid, "seq": 2, "ts": base + i * 1000 + 2500,
                                     "type": "end"}))
        path = os.path.join(self.srv.data, "bulk.ndjson")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.assertGreater(os.path.getsize(path), 150000)
        p = vexlib.run(["load", "--customer", "handco", path], self.srv.data)
        self.assertEqual(json.loads(p.stdout), {"accepted": 1800})
        body = self.metrics("planlevel=2&period=start=1714521600,end=1714608000"
                            "&metrics=attempts,viewercount,playdur")
        self.assertEqual(body["response"][0], {"attempts": 600, "viewercount": 600,
                                               "playdur": 1200.0, "totalpages": 1})

    def test_3_parameter_errors(self):
        for qs, status in [
            ("planlevel=2&%s&metrics=nosuch" % WEEK, 400),
            ("planlevel=2&period=start=10,end=5&metrics=attempts", 400),
            ("planlevel=2&%s&metrics=attempts&limit=0" % WEEK, 400),
            ("planlevel=2&%s&metrics=attempts&filter=nosuch=1" % WEEK, 400),
            ("planlevel=2&%s&metrics=attempts&qoefilter=latency>>1" % WEEK, 400),
            ("planlevel=3&%s&metrics=attempts" % WEEK, 403),
            ("planlevel=2&%s" % WEEK, 400),
        ]:
            body = self.metrics(qs, status=status)
            self.assertIn("error", body)
            self.assertIn("message", body)

    def test_4_read_your_writes_and_live(self):
        now = int(time.time() * 1000)
        st, _ = self.srv.post_events(self.key, ndjson([
            {"sid": "LIVE1", "seq": 0, "ts": now - 5000, "type": "start", "cdn": "z"},
            {"sid": "LIVE1", "seq": 1, "ts": now - 4000, "type": "playing"}]))
        self.assertEqual(st, 202)
        s = now // 1000 - 3600
        period = "period=start=%d,end=%d" % (s, s + 7200)
        started = self.metrics("planlevel=2&%s&metrics=attempts,viewercount,ebvs,endedplays"
                               % period)
        self.assertEqual(started["response"][0], {"attempts": 1, "viewercount": 1, "ebvs": 0,
                                                  "endedplays": 0, "totalpages": 1})
        ended = self.metrics("%s&metrics=attempts" % period, endpoint="metricquery")
        self.assertEqual(ended["response"][0]["attempts"], 0)
        rows = self.metrics("%s&metrics=sessionid,status&allstatus=1" % period,
                            endpoint="listsessions")["response"]
        self.assertEqual([(r["sessionid"], r["status"]) for r in rows], [("LIVE1", "RUNNING")])

    def test_5_late_event_after_restart_replaces(self):
        # G ends only after a restart (checkpoint + reload): one session, updated.
        evs = [ev("G", 0, 300000, "start", cdn="g"), ev("G", 1, 301000, "playing")]
        self.assertEqual(self.srv.post_events(self.key, ndjson(evs))[0], 202)
        self.srv.stop()
        self.srv.start()
        self.__class__.token = self.srv.token("hand", "hand-pass")
        self.assertEqual(self.srv.post_events(self.key, ndjson(
            [ev("G", 2, 331000, "end")]))[0], 202)
        body = self.metrics("planlevel=2&%s&metrics=attempts,playdur,endedplays&filter=cdn=g"
                            % WEEK)
        self.assertEqual(body["response"][0], {"attempts": 1, "playdur": 30.0, "endedplays": 1,
                                               "totalpages": 1})


class TimeoutAndCliTest(unittest.TestCase):
    def test_timeout_ebvs(self):
        srv = vexlib.Server(extra=["--session-timeout", "1"])
        try:
            key = vexlib.setup_customer(srv.data, "toc", 1, "tu", "tu-pass")
            srv.start()
            now = int(time.time() * 1000)
            self.assertEqual(srv.post_events(key, ndjson([
                {"sid": "W", "seq": 0, "ts": now, "type": "start"}]))[0], 202)
            s = now // 1000 - 60
            qs = "planlevel=1&period=start=%d,end=%d&metrics=attempts,ebvs" % (s, s + 120)
            tok = srv.token("tu", "tu-pass")
            st, body = srv.get("/mm-apis/session/toc?" + qs, token=tok)
            self.assertEqual(body["response"][0]["ebvs"], 0)  # live: never an EBVS
            time.sleep(2.2)
            st, body = srv.get("/mm-apis/session/toc?" + qs, token=tok)
            self.assertEqual(body["response"][0]["ebvs"], 1)  # closed by the timeout
        finally:
            srv.cleanup()

    def test_load_and_query_match_http(self):
        """vex load + vex query on one data dir == HTTP ingest + API on another."""
        http = vexlib.Server()
        cli = vexlib.Server()
        try:
            key = vexlib.setup_customer(http.data, "same", 1, "su", "su-pass")
            vexlib.setup_customer(cli.data, "same", 1, "su", "su-pass")
            http.start()
            self.assertEqual(http.post_events(key, ndjson(EVENTS))[0], 202)
            path = os.path.join(cli.data, "in.ndjson")
            with open(path, "w") as f:
                f.write(ndjson(EVENTS))
            vexlib.run(["load", "--customer", "same", path], cli.data)
            tok = http.token("su", "su-pass")
            for m in ["attempts,viewercount,ebvs,errors,playdur,latency,qualityofexperience",
                      "attempts,bufferingratio&aggby=cdn,platform",
                      "attempts&aggby=timestamp&granularity=hour",
                      "concurviewavg,endedplays,avgbitrate,uniqueviewercount"]:
                qs = "planlevel=1&%s&metrics=%s" % (WEEK, m)
                st, want = http.get("/mm-apis/session/same?" + qs, token=tok)
                self.assertEqual(st, 200)
                got = json.loads(vexlib.run(["query", "same", qs], cli.data).stdout)
                self.assertEqual(got, want)
            p = vexlib.run(["query", "same", "planlevel=1&metrics=attempts"], cli.data, check=False)
            self.assertEqual(p.returncode, 1)
            p = vexlib.run(["query", "same"], cli.data, check=False)
            self.assertEqual(p.returncode, 2)
            p = vexlib.run(["load", "--customer", "nobody", path], cli.data, check=False)
            self.assertEqual(p.returncode, 1)
            with open(path, "a") as f:
                f.write('{"sid":"Z","seq":0,"ts":1,"type":"bogus"}\n')
            p = vexlib.run(["load", "--customer", "same", path], cli.data, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("type", p.stderr)
        finally:
            http.cleanup()
            cli.cleanup()


if __name__ == "__main__":
    unittest.main()
