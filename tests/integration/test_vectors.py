"""The public vectors end to end through the real binary: events in through
`vex load` and through HTTP, every query of queries.json out through the API
and through `vex query`, across a clean restart and a SIGKILL."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vexlib  # noqa: E402

CUSTOMER = "vec-cust"
PATHS = {
    "session": "/mm-apis/session/%s",
    "vod": "/mm-apis/qbrData/vod/%s",
    "live": "/mm-apis/qbrData/live/%s",
    "metricquery": "/mm-apis/metricquery/%s",
    "listsessions": "/mm-apis/listsessions/%s",
}


def load_queries():
    with open(os.path.join(vexlib.VECTORS, "queries.json")) as f:
        return json.load(f)


def expected_for_http(q):
    """Over HTTP, v18-no-dimensions gets the client address as its ip."""
    exp = json.loads(json.dumps(q["response"]))
    for row in exp.get("response", []):
        if row.get("sessionid") == "v18-no-dimensions" and "ipaddress" in row:
            row["ipaddress"] = "127.0.0.1"
    return exp


class VectorsTest(unittest.TestCase):
    def check_all(self, srv, token, http_ingest):
        failures = []
        for q in load_queries():
            path = q["path"].replace("<customer-id>", CUSTOMER)
            st, body = srv.get(path + "?" + q["query"], token=token)
            if st != q["status"]:
                failures.append("%s: status %d != %d (%s)" % (q["name"], st, q["status"], body))
                continue
            if st != 200:
                if not (isinstance(body, dict) and "error" in body and "message" in body):
                    failures.append("%s: error body %r" % (q["name"], body))
                continue
            exp = expected_for_http(q) if http_ingest else q["response"]
            msg = vexlib.compare_envelope(exp, body)
            if msg:
                failures.append("%s: %s" % (q["name"], msg))
        self.assertEqual(failures, [])

    def check_cli_query(self, data):
        """`vex query` prints what /mm-apis/session answers."""
        n = 0
        for q in load_queries():
            if q["endpoint"] != "session":
                continue
            p = vexlib.run(["query", CUSTOMER, q["query"]], data, check=False)
            if q["status"] == 200:
                self.assertEqual(p.returncode, 0, p.stderr)
                msg = vexlib.compare_envelope(q["response"], json.loads(p.stdout))
                self.assertIsNone(msg, q["name"])
                n += 1
            else:
                self.assertEqual(p.returncode, 1, q["name"])
                self.assertIn("error", json.loads(p.stdout))
        self.assertGreater(n, 20)

    def test_load_then_serve(self):
        srv = vexlib.Server()
        try:
            vexlib.setup_customer(srv.data, CUSTOMER, 1, "vuser", "vector-pass")
            p = vexlib.run(["load", "--customer", CUSTOMER,
                            os.path.join(vexlib.VECTORS, "events.ndjson")], srv.data)
            with open(os.path.join(vexlib.VECTORS, "events.ndjson")) as f:
                n_events = sum(1 for line in f if line.strip())
            self.assertEqual(json.loads(p.stdout)["accepted"], n_events)
            self.check_cli_query(srv.data)  # directly on the data dir
            srv.start()
            token = srv.token("vuser", "vector-pass")
            self.check_all(srv, token, http_ingest=False)
            self.check_cli_query(srv.data)  # through the running server
            srv.stop()
            srv.start()
            self.check_all(srv, srv.token("vuser", "vector-pass"), http_ingest=False)
        finally:
            srv.cleanup()

    def test_http_ingest_restart_and_kill(self):
        srv = vexlib.Server()
        try:
            key = vexlib.setup_customer(srv.data, CUSTOMER, 1, "vuser", "vector-pass")
            srv.start()
            with open(os.path.join(vexlib.VECTORS, "events.ndjson")) as f:
                lines = [line for line in f if line.strip()]
            # In order, in batches of various sizes, NDJSON and JSON arrays.
            i, k = 0, 0
            sizes = [1, 7, 30, 3, 50]
            while i < len(lines):
                chunk = lines[i:i + sizes[k % len(sizes)]]
                if k % 2:
                    body = "[" + ",".join(c.strip() for c in chunk) + "]"
                    st, ans = srv.post_events(key, body, "application/json")
                else:
                    st, ans = srv.post_events(key, "".join(chunk))
                self.assertEqual((st, ans), (202, {"accepted": len(chunk)}))
                i += len(chunk)
                k += 1
            # Retries of everything change nothing.
            st, ans = srv.post_events(key, "".join(lines))
            self.assertEqual(st, 202)
            token = srv.token("vuser", "vector-pass")
            self.check_all(srv, token, http_ingest=True)
            srv.stop()
            srv.start()
            self.check_all(srv, srv.token("vuser", "vector-pass"), http_ingest=True)
            srv.kill()
            srv.start()
            self.check_all(srv, srv.token("vuser", "vector-pass"), http_ingest=True)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
