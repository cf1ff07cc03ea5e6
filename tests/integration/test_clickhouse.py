"""Scale-out on ClickHouse (issue 5, docs/scale-out.md).

ClickHouse comes from VEX_CLICKHOUSE_URL (http://HOST:PORT) when set; otherwise
this test starts Debian's clickhouse-server itself with scripts/clickhouse.sh
on free loopback ports in a temporary directory, and fails when it cannot. The
fault test always starts a private instance, since it stops and restarts it.
Every test uses databases of its own.

1. differential: 20,000 generated sessions (plus a few with awkward dimension
   values) loaded into an embedded node and a ClickHouse-backed node give the
   same answer to a battery of queries over all five endpoints.
2. fault: ClickHouse stops in the middle of HTTP ingest, the node is SIGKILLed
   and restarted while it is down, ingest answers 202 throughout; once
   ClickHouse is back every acknowledged batch is counted exactly once. With a
   small backlog bound, ingest answers 503 past it and rejected batches leave
   nothing behind.
3. two nodes sharing ClickHouse through a Distributed table, each receiving
   the events of half of the sessions, answer as one embedded node that
   received everything; a live session posted to one node shows on the other.
4. schema: a database holding tables of another schema makes `vex serve` exit
   1 with a message naming the problem; bad store URLs exit 2; the config
   file's `store clickhouse=...` works."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import vexlib  # noqa: E402

SCRIPT = os.path.join(vexlib.SRC, "scripts", "clickhouse.sh")
END = 1709510400  # 2024-03-04 00:00 UTC: every generated session is long closed
START = END - 2 * 86400
RUN = "%d_%d" % (os.getpid(), int(time.time()) % 100000)

# The sessions table as docs/scale-out.md documents it, written out by hand.
SCHEMA = ([("customer", "String"), ("sid", "String")]
          + [(d, "String") for d in ("cdn", "platform", "player", "os", "browser", "device",
                                     "country", "asset", "title", "isp", "subscriberid",
                                     "subscribertag", "ip")]
          + [("live", "UInt8"), ("attempt_ts", "Int64"), ("last_ts", "Int64"),
             ("startup_ms", "Int64"), ("play_ms", "Int64"), ("cirr_ms", "Int64"),
             ("vrt_ms", "Int64"), ("kbps_ms", "Float64"), ("kbps_known_ms", "Int64"),
             ("rebuffers", "UInt32"), ("seeks", "UInt32"), ("warnings", "UInt32"),
             ("state", "UInt8"), ("played", "UInt8"), ("vsf", "UInt8"), ("vpf", "UInt8"),
             ("errors", "UInt8"), ("version", "UInt64")])

ALL_METRICS = ("attempts,viewercount,endedplays,errors,totalstartupfailure,ebvs,buffcount,"
               "uniqueviewercount,concurviewavg,startupabandonmentrate,failurerate,"
               "playbackfailurerate,bufferingratio,sumbuffwaitcirr,vrtbufferingratio,"
               "rebufferfrequency,playdur,latency,avg_latency,median_latency,p95_latency,"
               "p99_latency,avgbitrate,qualityofexperience,avg_qualityofexperience,"
               "median_qualityofexperience")

ENDPOINTS = {"session": "/mm-apis/session/", "vod": "/mm-apis/qbrData/vod/",
             "live": "/mm-apis/qbrData/live/", "metricquery": "/mm-apis/metricquery/",
             "listsessions": "/mm-apis/listsessions/"}

# Sessions whose cdn would break naive SQL or TSV; each is one closed session
# with 30 s of play, so a filter on one of them counts exactly 1 attempt.
AWKWARD_CDNS = ["a'b", "x\\y", "-- c", "' UNION SELECT 1 --", "tab\there", "nl\nthere",
                "caf\u00e9", "q\"uote"]


class ClickHouse:
    """A clickhouse-server of this test, run by scripts/clickhouse.sh."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vex-ch-")
        self.http = vexlib.free_port()
        self.tcp = vexlib.free_port()
        while self.tcp == self.http:
            self.tcp = vexlib.free_port()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http

    def start(self):
        p = subprocess.run([SCRIPT, "start", self.dir, str(self.http), str(self.tcp)],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError("cannot start ClickHouse with %s (exit %d): %s %s"
                                 % (SCRIPT, p.returncode, p.stdout, p.stderr))

    def stop(self):
        p = subprocess.run([SCRIPT, "stop", self.dir], capture_output=True, text=True,
                           timeout=120)
        if p.returncode != 0:
            raise AssertionError("cannot stop ClickHouse: %s %s" % (p.stdout, p.stderr))

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def ch_sql(url, stmt):
    """Runs one statement over ClickHouse's HTTP interface; returns the text."""
    req = urllib.request.Request(url + "/", data=stmt.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        raise AssertionError("ClickHouse refused %r: %s" % (stmt, e.read().decode()))


CH = None  # the shared instance when VEX_CLICKHOUSE_URL is unset
CH_URL = os.environ.get("VEX_CLICKHOUSE_URL", "").rstrip("/")
CLUSTER = os.environ.get("VEX_CLICKHOUSE_CLUSTER", "vex_local")
DATABASES = []  # made by this run


def setUpModule():
    global CH, CH_URL
    if not CH_URL:
        CH = ClickHouse()
        CH.start()
        CH_URL = CH.url


def tearDownModule():
    if CH:
        CH.cleanup()
    else:  # someone else's ClickHouse: leave it as it was
        for db in DATABASES:
            ch_sql(CH_URL, "DROP DATABASE IF EXISTS %s" % db)


def database(name):
    """A fresh database name of this run (dropped first if a previous run left it)."""
    db = "vex_it_%s_%s" % (name, RUN)
    ch_sql(CH_URL, "DROP DATABASE IF EXISTS %s" % db)
    DATABASES.append(db)
    return db


def node(data=None, store=None, extra=()):
    args = list(extra)
    if store:
        args += ["--store", store]
    return vexlib.Server(data=data, extra=args)


def session_lines(sid, ts, cdn, play_ms=30000):
    """One closed session: start -> playing (+1 s) -> end (+1 s + play)."""
    return [json.dumps({"sid": sid, "seq": 0, "ts": ts, "type": "start", "cdn": cdn,
                        "country": "zz"}),
            json.dumps({"sid": sid, "seq": 1, "ts": ts + 1000, "type": "playing",
                        "kbps": 3000}),
            json.dumps({"sid": sid, "seq": 2, "ts": ts + 1000 + play_ms, "type": "end"})]


def get(srv, token, ep, customer, qs):
    return srv.get(ENDPOINTS[ep] + customer + "?" + qs, token=token)


def compare(case, expected, got, what):
    """expected/got are (status, body) of the same request on two nodes."""
    case.assertEqual(got[0], expected[0], "%s: status %r vs %r (%r)" % (what, got, expected,
                                                                        got[1]))
    if expected[0] != 200:
        case.assertEqual(got[1], expected[1], what)
        return
    msg = vexlib.compare_envelope(expected[1], got[1])
    case.assertIsNone(msg, "%s: %s" % (what, msg))


def battery(customer="acme"):
    """(endpoint, customer, query string) of the differential comparison."""
    base = "planlevel=1&period=start=%d,end=%d" % (START, END)
    narrow = "planlevel=1&period=start=%d,end=%d" % (START + 30000, START + 30000 + 6 * 3600)
    q = [
        ("session", base + "&metrics=" + ALL_METRICS),
        ("session", base + "&metrics=" + ALL_METRICS + "&aggby=cdn"),
        ("session", base + "&metrics=attempts,playdur,concurviewavg,endedplays,median_latency"
                           "&aggby=timestamp&granularity=hour"),
        ("session", narrow + "&metrics=attempts,concurviewavg,endedplays,bufferingratio"
                             "&aggby=timestamp&granularity=5minute"),
        ("session", base + "&metrics=attempts,endedplays,concurviewavg&aggby=timestamp,cdn"
                           "&granularity=day&limit=50"),
        ("session", base + "&metrics=attempts,viewercount,uniqueviewercount"
                           "&aggby=country,platform&orderby=attempts&limit=5&offset=3"),
        ("session", base + "&metrics=attempts,qualityofexperience&aggby=device&dimension=os"
                           "&orderby=qualityofexperience&order=asc"),
        ("session", base + "&metrics=sessionid,starttime,endtime,watchtime,status,assetname,"
                           "ipaddress,subscriberid,attempts,playdur,latency&aggby=sessionid"
                           "&orderby=endtime&orderas=asc&limit=100&offset=50"),
        ("session", base + "&metrics=attempts,playdur&dimension=microscope&limit=20"
                           "&orderby=playdur"),
        ("session", base + "&metrics=attempts,ebvs,errors&sessiontype=ended&allstatus=0"
                           "&aggby=streamtype"),
        ("session", base + "&metrics=attempts&sessiontype=started&allstatus=0&aggby=browser"),
        ("session", base + "&metrics=" + ALL_METRICS
         + "&qoefilter=latency%3E3%20AND%20bufferingratio%3E5"),
        ("session", base + "&metrics=attempts,playdur&qoefilter=playdur>=100,avgbitrate<3000"
                           "&aggby=cdn"),
        ("session", base + "&metrics=attempts,playdur,errors&filter=cdn!=skyedge|fastpath,"
                           "country=us&aggby=platform"),
        ("session", base + "&metrics=attempts,playdur&filter=[cdn=a%27b|x%5Cy][country=zz]"),
        ("session", base + "&metrics=attempts,uniqueviewercount&aggby=subscribertag"),
        ("vod", base + "&metrics=" + ALL_METRICS + "&aggby=cdn"),
        ("live", base + "&metrics=" + ALL_METRICS + "&aggby=title&limit=10&orderby=attempts"),
        ("metricquery", base + "&metrics=" + ALL_METRICS + "&aggby=isp"),
        ("metricquery", base + "&metrics=attempts,playdur&sessiontype=started&allstatus=1"
                               "&aggby=player"),
        ("listsessions", base + "&metrics=sessionid,status,starttime,endtime,cdn,attempts"
                                "&orderby=starttime&limit=200&offset=1000"),
        # Every per-session metric as a qoefilter (the SQL repeats metric.c's
        # formulas), percentiles and Q by group, buckets with sessionid,
        # sessiontype=ended with buckets, streamtype filters, an empty period.
        ("session", base + "&metrics=attempts,playdur,qualityofexperience&aggby=cdn"
                           "&qoefilter=qualityofexperience>50%20AND%20avgbitrate>=2500"),
        ("session", base + "&metrics=attempts,median_qualityofexperience&aggby=platform"
                           "&qoefilter=median_qualityofexperience<=80,rebufferfrequency>10"),
        ("session", base + "&metrics=attempts,endedplays,concurviewavg&aggby=country"
                           "&qoefilter=endedplays=1,concurviewavg>0.0001"),
        ("session", base + "&metrics=attempts,ebvs,errors&qoefilter=startupabandonmentrate=100"),
        ("session", base + "&metrics=attempts,errors&aggby=cdn"
                           "&qoefilter=playbackfailurerate!=0%20and%20failurerate=0"),
        ("session", base + "&metrics=attempts,bufferingratio&aggby=player"
                           "&qoefilter=sumbuffwaitcirr<1,vrtbufferingratio>0.5,buffcount>=1"),
        ("session", base + "&metrics=attempts,uniqueviewercount"
                           "&qoefilter=uniqueviewercount=1,ebvs=0,errors=0,totalstartupfailure=0,"
                           "viewercount=1,attempts=1"),
        ("session", base + "&metrics=attempts,latency&aggby=device"
                           "&qoefilter=p95_latency>2.5,median_latency<=6,p99_latency!=3,"
                           "latency>=0.5,playdur>100.25,bufferingratio<3"),
        ("session", base + "&metrics=median_latency,p95_latency,p99_latency,"
                           "median_qualityofexperience,qualityofexperience&aggby=cdn,streamtype"),
        ("session", base + "&metrics=attempts,endedplays,concurviewavg,playdur"
                           "&aggby=timestamp,sessionid&granularity=day&orderby=playdur&limit=50"),
        ("session", base + "&metrics=attempts,endedplays,concurviewavg,ebvs&sessiontype=ended"
                           "&allstatus=0&aggby=timestamp&granularity=hour"),
        ("session", narrow + "&metrics=attempts,endedplays,concurviewavg&aggby=timestamp,platform"
                             "&granularity=minute&sessiontype=started&allstatus=0"),
        ("session", base + "&metrics=attempts,playdur&filter=streamtype=live|vod|xyz"
                           "&aggby=streamtype"),
        ("session", base + "&metrics=attempts,playdur&filter=streamtype!=live,subscriberid!="
                           "&aggby=cdn"),
        ("session", base + "&metrics=attempts,uniqueviewercount&filter=subscriberid="),
        ("session", "planlevel=1&period=start=%d,end=%d&metrics=%s" % (END + 86400 * 400,
                                                                   END + 86400 * 401,
                                                                   ALL_METRICS)),
        ("session", "planlevel=1&period=start=%d,end=%d&metrics=%s&aggby=cdn"
         % (END + 86400 * 400, END + 86400 * 401, ALL_METRICS)),
        ("live", base + "&metrics=attempts,concurviewavg,endedplays&aggby=timestamp,title"
                        "&granularity=day&limit=30&orderby=concurviewavg"),
        # Per-session rows are ordered and paged in ClickHouse: every kind of
        # orderby column, both directions, a page past the end.
        ("listsessions", base + "&metrics=sessionid,status,cdn,qualityofexperience"
                                "&orderby=qualityofexperience&limit=25&offset=40"),
        ("listsessions", base + "&metrics=sessionid,ipaddress,assetname,watchtime,timestamp"
                                "&orderby=assetname&order=asc&limit=30&offset=7"),
        ("listsessions", base + "&metrics=sessionid,status&orderby=status&limit=20"),
        ("listsessions", base + "&metrics=sessionid,cdn,playdur&orderby=sessionid&order=desc"
                                "&limit=15&offset=3"),
        ("listsessions", base + "&metrics=sessionid,endedplays,concurviewavg,latency"
                                "&orderby=concurviewavg&limit=10"),
        ("listsessions", base + "&metrics=sessionid,timestamp&orderby=timestamp&orderas=asc"
                                "&limit=10000&offset=19990"),
        ("session", base + "&metrics=attempts,bufferingratio&aggby=sessionid,cdn&orderby=cdn"
                           "&limit=12&offset=100&qoefilter=bufferingratio>1"),
        ("session", base + "&metrics=attempts&dimension=microscope&offset=5000000"),
        # Filter values that would change naive SQL; each counts what the
        # embedded store counts (1 for the awkward sessions, 0 for the rest).
        ("session", base + "&metrics=attempts&filter=cdn=%00"),
        ("session", base + "&metrics=attempts&filter=cdn=%FF"),
        ("session", base + "&metrics=attempts&filter=cdn=%27%20OR%201=1%20--"),
        ("session", base + "&metrics=attempts&filter=cdn=%27%20OR%201%3D1%20--"),
        ("session", base + "&metrics=attempts&filter=cdn!=a%27b|%27%20UNION%20SELECT%201%20--"),
    ]
    for cdn in AWKWARD_CDNS:
        q.append(("session", base + "&metrics=attempts,playdur&filter=cdn="
                  + urllib.parse.quote(cdn, safe="")))
    return [(ep, customer, qs) for ep, qs in q]


METRIC_NAMES = ALL_METRICS.split(",")
DIMS = ["cdn", "platform", "player", "os", "browser", "device", "country", "asset", "title",
        "isp", "subscriberid", "subscribertag", "streamtype"]
FIELDS = ["sessionid", "subscriberid", "ipaddress", "timestamp", "starttime", "endtime",
          "watchtime", "assetname", "status"]


def random_battery(values, n, seed):
    """n random valid-looking queries (seeded): endpoints, periods, metric sets,
    group keys, buckets, session types, filters on values that occur
    (`values`: dimension -> list), qoefilters, orderby, paging. Queries the
    parser refuses are compared too (same status and body)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        ep = rnd.choice(["session", "session", "session", "vod", "live", "metricquery",
                         "listsessions"])
        s = START + rnd.randrange(0, 36) * 3600
        e = rnd.choice([END, s + rnd.choice([600, 3600, 6 * 3600, 86400])])
        p = ["planlevel=1", "period=start=%d,end=%d" % (s, e)]
        keys = []
        if ep == "listsessions" or rnd.random() < 0.15:
            keys = ["sessionid"] if ep != "listsessions" else []
            per_session = True
        else:
            per_session = False
            keys = rnd.sample(DIMS + ["timestamp"] * 3, rnd.choice([0, 1, 1, 2]))
        metrics = rnd.sample(METRIC_NAMES, rnd.randint(1, 5))
        if per_session:
            metrics += rnd.sample(FIELDS, rnd.randint(1, 3))
            if rnd.random() < 0.3:
                keys.append("timestamp")
        keys = list(dict.fromkeys(keys))
        p.append("metrics=" + ",".join(dict.fromkeys(metrics)))
        if keys:
            p.append("aggby=" + ",".join(keys))
        if "timestamp" in keys:
            p.append("granularity=" + rnd.choice(["hour", "day", "10minute", "auto"]))
        if rnd.random() < 0.4:
            p.append("sessiontype=" + rnd.choice(["started", "ended"]))
            p.append("allstatus=" + rnd.choice(["0", "1"]))
        if rnd.random() < 0.5:
            conds = []
            for dim in rnd.sample(sorted(values), rnd.randint(1, 2)):
                vals = rnd.sample(values[dim], min(len(values[dim]), rnd.randint(1, 3)))
                conds.append("%s%s%s" % (dim, rnd.choice(["=", "!="]),
                                          "|".join(urllib.parse.quote(v, safe="")
                                                   for v in vals)))
            p.append("filter=" + ",".join(conds))
        if rnd.random() < 0.35:
            m = rnd.choice(METRIC_NAMES)
            op = rnd.choice([">", ">=", "<", "<=", "=", "!="])
            v = rnd.choice(["0", "1", "2.5", "5", "50", "100", "3000", "0.001"])
            p.append("qoefilter=" + urllib.parse.quote("%s%s%s" % (m, op, v), safe=""))
        cols = keys + metrics
        if rnd.random() < 0.6:
            p.append("orderby=" + rnd.choice(cols))
            if rnd.random() < 0.5:
                p.append("order=" + rnd.choice(["asc", "DESC"]))
        if rnd.random() < 0.5:
            p.append("limit=%d" % rnd.choice([1, 7, 50, 1000]))
            p.append("offset=%d" % rnd.choice([0, 3, 40, 100000]))
        out.append((ep, "acme", "&".join(p)))
    return out


def wait_until(fn, what, deadline_s=120):
    """Polls fn() until it returns a true value; fails with `what` after the
    deadline (a liveness bound, not a timing assertion)."""
    deadline = time.time() + deadline_s
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError("%s: not reached within %d s (last: %r)" % (what, deadline_s, last))


def first_query_matches(emb, etok, chn, ctok, customer="acme"):
    ep, cu, qs = battery(customer)[1]  # every metric by cdn: any stale session shows
    e = get(emb, etok, ep, cu, qs)
    g = get(chn, ctok, ep, cu, qs)
    return g[0] == 200 and vexlib.compare_envelope(e[1], g[1]) is None


class DifferentialTest(unittest.TestCase):
    def move_session(self, emb, chn, keys, ctok):
        """A session whose attempt_ts moves to the next day (its seq 0 arrives
        after seq 1, with a later ts) after ClickHouse got its first version:
        the two versions sit in different partitions, and only the newer one,
        outside the period [START, END), may count."""
        first = json.dumps({"sid": "move-1", "seq": 1, "ts": END * 1000 - 3600000,
                            "type": "playing", "cdn": "movecdn"}) + "\n"
        second = json.dumps({"sid": "move-1", "seq": 0, "ts": END * 1000 + 3600000,
                             "type": "start", "cdn": "movecdn"}) + "\n"
        qs = ("planlevel=1&period=start=%d,end=%d&metrics=attempts&filter=cdn=movecdn"
              % (START, END))
        for srv, key in zip((emb, chn), keys):
            self.assertEqual(srv.post_events(key, first)[0], 202)
        def pushed():
            st, body = get(chn, ctok, "session", "acme", qs)
            return st == 200 and body["response"][0]["attempts"] == 1

        wait_until(pushed, "the first version of move-1 in ClickHouse")
        for srv, key in zip((emb, chn), keys):
            self.assertEqual(srv.post_events(key, second)[0], 202)

    def test_battery(self):
        tmp = tempfile.mkdtemp(prefix="vex-chdiff-")
        db = database("diff")
        emb = node()
        chn = node(store="clickhouse=%s/%s?push_interval_ms=300" % (CH_URL, db))
        try:
            events = os.path.join(tmp, "gen.ndjson")
            with open(events, "w") as f:
                subprocess.run([vexlib.VEX, "gen", "--sessions", "20000", "--days", "2",
                                "--seed", "3", "--end", str(END)], stdout=f, check=True,
                               timeout=300)
            awkward = os.path.join(tmp, "awkward.ndjson")
            with open(awkward, "w") as f:
                for i, cdn in enumerate(AWKWARD_CDNS):
                    ts = START * 1000 + 3600000 + i * 1000
                    f.write("\n".join(session_lines("awk-%d" % i, ts, cdn)) + "\n")
            tokens, keys = [], []
            for srv in (emb, chn):
                keys.append(vexlib.setup_customer(srv.data, "acme", 1, "alice", "s3cret-pass"))
                vexlib.setup_customer(srv.data, "empty", 1, "bob", "s3cret-pass")
                srv.start()
                for f in (events, awkward):
                    vexlib.run(["load", "--customer", "acme", f], srv.data)
                tokens.append(srv.token("alice", "s3cret-pass"))
            etok, ctok = tokens
            self.move_session(emb, chn, keys, ctok)
            # The embedded node counts what was generated (hand-known totals).
            st, body = get(emb, etok, "session", "acme",
                           "planlevel=1&period=start=%d,end=%d&metrics=attempts" % (START, END))
            self.assertEqual(body["response"][0]["attempts"], 20000 + len(AWKWARD_CDNS))
            wait_until(lambda: first_query_matches(emb, etok, chn, ctok),
                       "ClickHouse node converges to the embedded node")
            for ep, cu, qs in battery():
                compare(self, get(emb, etok, ep, cu, qs), get(chn, ctok, ep, cu, qs),
                        "%s %s" % (ep, qs))
            # Random combinations of every parameter, on values that occur.
            values = {}
            for dim in ("cdn", "platform", "country", "device", "streamtype"):
                st, body = get(emb, etok, "session", "acme",
                               "planlevel=1&period=start=%d,end=%d&metrics=attempts&aggby=%s"
                               "&orderby=attempts&limit=6" % (START, END, dim))
                self.assertEqual(st, 200)
                values[dim] = [r[dim] for r in body["response"]]
            statuses = {}
            for ep, cu, qs in random_battery(values, 150, seed=20261126):
                e = get(emb, etok, ep, cu, qs)
                statuses[e[0]] = statuses.get(e[0], 0) + 1
                compare(self, e, get(chn, ctok, ep, cu, qs), "random: %s %s" % (ep, qs))
            # Most of them are answered, not refused.
            self.assertGreater(statuses.get(200, 0), 100, statuses)
            # The awkward values survived the round trip through ClickHouse.
            for cdn in AWKWARD_CDNS:
                st, body = get(chn, ctok, "session", "acme",
                               "planlevel=1&period=start=%d,end=%d&metrics=attempts,playdur"
                               "&filter=cdn=%s" % (START, END, urllib.parse.quote(cdn, safe="")))
                self.assertEqual((st, body["response"][0]["attempts"]), (200, 1), cdn)
                self.assertEqual(body["response"][0]["playdur"], 30.0, cdn)
            # A customer without sessions: the single row of zeros, on both.
            bob = [srv.token("bob", "s3cret-pass") for srv in (emb, chn)]
            for ep, cu, qs in battery("empty")[:3]:
                compare(self, get(emb, bob[0], ep, cu, qs), get(chn, bob[1], ep, cu, qs),
                        "empty %s %s" % (ep, qs))
            # ClickHouse holds each session once after FINAL: the generated
            # ones, the awkward ones and move-1.
            n = ch_sql(CH_URL, "SELECT count(), uniqExact(sid) FROM %s.sessions FINAL "
                               "WHERE customer = 'acme'" % db).split()
            self.assertEqual(n, [str(20000 + len(AWKWARD_CDNS) + 1)] * 2)
            # move-1 left a version in each of two partitions, and does not count.
            parts = ch_sql(CH_URL, "SELECT count(), uniqExact(_partition_id) FROM %s.sessions "
                                   "WHERE sid = 'move-1'" % db).split()
            self.assertEqual(parts, ["2", "2"])
            st, body = get(chn, ctok, "session", "acme", "planlevel=1&period=start=%d,end=%d"
                           "&metrics=attempts&filter=cdn=movecdn" % (START, END))
            self.assertEqual(body["response"][0]["attempts"], 0)
            # The table vex created is the documented schema.
            desc = [tuple(line.split("\t")[:2]) for line in
                    ch_sql(CH_URL, "DESCRIBE TABLE %s.sessions" % db).splitlines()]
            self.assertEqual(desc, SCHEMA)
        finally:
            emb.cleanup()
            chn.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


SESSIONS_PER_BATCH = 4
PLAY_MS = 30000
T0 = 1709510400000


def batch_body(b):
    """Batch b: SESSIONS_PER_BATCH closed sessions on cdn "b<b>" with 30 s of
    play each, unique session ids."""
    lines = []
    for s in range(SESSIONS_PER_BATCH):
        lines += session_lines("f-%d-%d" % (b, s), T0 + b * 1000, "b%d" % b, PLAY_MS)
    return "\n".join(lines) + "\n"


BY_CDN = ("/mm-apis/session/faultco?planlevel=1&period=start=1709510400,end=1710115200"
          "&metrics=attempts,playdur,endedplays&aggby=cdn&limit=10000")


class FaultTest(unittest.TestCase):
    def setUp(self):
        self.ch = ClickHouse()
        self.ch.start()
        self.url = "clickhouse=%s/fault?push_interval_ms=200" % self.ch.url

    def tearDown(self):
        self.ch.cleanup()

    def wait_all(self, srv, token, acked):
        """Waits until every acknowledged batch is counted; returns the rows."""
        last = []

        def all_there():
            st, body = srv.get(BY_CDN, token=token)
            if st != 200:
                last[:] = [st, body]
                return None
            rows = {r["cdn"]: r for r in body["response"]}
            missing = [b for b in sorted(acked) if "b%d" % b not in rows]
            last[:] = [len(rows), missing[:20]]
            return None if missing else rows

        try:
            return wait_until(all_there, "every acknowledged batch in ClickHouse")
        except AssertionError as e:
            with open(os.path.join(srv.data, "serve.log")) as f:
                log = f.read()[-3000:]
            raise AssertionError("%s; last answer %r; log:\n%s" % (e, last, log))

    def check_exactly_once(self, rows, acked, attempted):
        for b in sorted(attempted):
            r = rows.get("b%d" % b)
            if b in acked:
                self.assertIsNotNone(r, "acknowledged batch %d lost" % b)
            if r is None:
                continue
            self.assertEqual(r["attempts"], SESSIONS_PER_BATCH, r)
            self.assertEqual(r["endedplays"], SESSIONS_PER_BATCH, r)
            self.assertEqual(r["playdur"], SESSIONS_PER_BATCH * PLAY_MS / 1000.0, r)
        self.assertTrue(set(rows) <= {"b%d" % b for b in attempted}, sorted(rows))

    def test_clickhouse_down_and_node_killed(self):
        srv = node(store=self.url)
        acked, attempted, statuses = set(), set(), []
        lock = threading.Lock()
        next_batch = [0]
        stop = threading.Event()
        try:
            key = vexlib.setup_customer(srv.data, "faultco", 1, "fuser", "fault-pass")
            srv.start()

            def poster():
                while not stop.is_set():
                    with lock:
                        b = next_batch[0]
                        next_batch[0] += 1
                        attempted.add(b)
                    try:
                        st, _ = srv.post_events(key, batch_body(b))
                    except OSError:
                        time.sleep(0.05)  # the node is down for a moment
                        continue
                    with lock:
                        statuses.append(st)
                        if st == 202:
                            acked.add(b)
                    time.sleep(0.02)  # a few hundred batches in all: one page of rows

            threads = [threading.Thread(target=poster) for _ in range(3)]
            for t in threads:
                t.start()
            time.sleep(0.7)
            self.ch.stop()          # ClickHouse goes away in the middle of ingest
            time.sleep(1.0)
            with lock:
                during_outage = len(acked)
            srv.kill()              # and the node dies while it is away
            srv.start()             # it comes back without ClickHouse
            time.sleep(1.0)
            self.ch.start()
            time.sleep(1.0)
            stop.set()
            for t in threads:
                t.join(timeout=60)
            # Ingest answered 202 to every request it answered.
            self.assertEqual(set(statuses), {202})
            self.assertGreater(len(acked), during_outage)
            self.assertGreater(during_outage, 5)

            token = srv.token("fuser", "fault-pass")

            rows = self.wait_all(srv, token, acked)
            self.check_exactly_once(rows, acked, attempted)
            # And in ClickHouse itself, after FINAL: one row per session.
            n = ch_sql(self.ch.url, "SELECT count(), uniqExact(sid) FROM fault.sessions FINAL "
                                    "WHERE customer = 'faultco'").split()
            self.assertEqual(n[0], n[1])
            self.assertEqual(int(n[0]), SESSIONS_PER_BATCH * len(rows))
        finally:
            stop.set()
            srv.cleanup()

    def test_backlog_bound(self):
        srv = node(store=self.url + "&max_backlog_bytes=20000")
        try:
            key = vexlib.setup_customer(srv.data, "faultco", 1, "fuser", "fault-pass")
            srv.start()
            self.ch.stop()
            acked, refused = [], []
            for b in range(2000):
                st, body = srv.post_events(key, batch_body(b))
                if st == 202:
                    acked.append(b)
                elif st == 503:
                    self.assertEqual(body["error"], "unavailable", body)
                    refused.append(b)
                    break
                else:
                    self.fail("status %d: %r" % (st, body))
            self.assertTrue(refused, "no 503 past a 20,000-byte backlog")
            self.assertGreater(len(acked), 2)
            self.ch.start()
            nb = [refused[-1] + 1]

            def accepted_again():
                st, _ = srv.post_events(key, batch_body(nb[0]))
                if st == 202:
                    acked.append(nb[0])
                    return True
                refused.append(nb[0])
                nb[0] += 1
                return False

            wait_until(accepted_again, "ingest accepted again once ClickHouse is back")
            token = srv.token("fuser", "fault-pass")

            rows = self.wait_all(srv, token, acked)
            self.check_exactly_once(rows, set(acked), set(acked) | set(refused))
            for b in refused:  # a refused batch changed nothing
                self.assertNotIn("b%d" % b, rows)
        finally:
            srv.cleanup()


class TwoNodesTest(unittest.TestCase):
    def test_split_sessions(self):
        tmp = tempfile.mkdtemp(prefix="vex-ch2-")
        db = database("two")
        store = "clickhouse=%s/%s?cluster=%s&push_interval_ms=300" % (CH_URL, db, CLUSTER)
        # The two ClickHouse nodes share one signing key and issuer, so a
        # token from either is good on both (docs/scale-out.md).
        shared = ("--issuer", "http://vex.example")
        a, b = node(store=store, extra=shared), node(store=store, extra=shared)
        emb = node()
        try:
            events = os.path.join(tmp, "gen.ndjson")
            with open(events, "w") as f:
                subprocess.run([vexlib.VEX, "gen", "--sessions", "4000", "--days", "2",
                                "--seed", "5", "--end", str(END)], stdout=f, check=True,
                               timeout=300)
            # Route each session to one node by a hash of its id, as a load
            # balancer would.
            halves = [os.path.join(tmp, "a.ndjson"), os.path.join(tmp, "b.ndjson")]
            outs = [open(h, "w") for h in halves]
            sids = [set(), set()]
            with open(events) as f:
                for line in f:
                    sid = json.loads(line)["sid"]
                    k = zlib.crc32(sid.encode()) % 2
                    sids[k].add(sid)
                    outs[k].write(line)
            for o in outs:
                o.close()
            self.assertEqual(len(sids[0]) + len(sids[1]), 4000)
            self.assertTrue(sids[0] and sids[1])
            keys = []
            for srv in (a, b, emb):
                keys.append(vexlib.setup_customer(srv.data, "acme", 1, "alice", "s3cret-pass"))
                if srv is b:
                    shutil.copy(os.path.join(a.data, "jwt-signing-key.pem"), b.data)
                srv.start()
            vexlib.run(["load", "--customer", "acme", halves[0]], a.data)
            vexlib.run(["load", "--customer", "acme", halves[1]], b.data)
            vexlib.run(["load", "--customer", "acme", events], emb.data)
            toks = [srv.token("alice", "s3cret-pass") for srv in (a, b, emb)]
            wait_until(lambda: first_query_matches(emb, toks[2], a, toks[0]),
                       "node A sees every session")
            for ep, cu, qs in battery():
                e = get(emb, toks[2], ep, cu, qs)
                compare(self, e, get(a, toks[0], ep, cu, qs), "node A: %s %s" % (ep, qs))
                compare(self, e, get(b, toks[1], ep, cu, qs), "node B: %s %s" % (ep, qs))
            # A token issued by node A is good on node B, and the other way.
            ep, cu, qs = battery()[0]
            compare(self, get(emb, toks[2], ep, cu, qs), get(b, toks[0], ep, cu, qs),
                    "node A's token on node B")
            compare(self, get(emb, toks[2], ep, cu, qs), get(a, toks[1], ep, cu, qs),
                    "node B's token on node A")
            # The embedded node has its own key: node A's token means nothing there.
            self.assertEqual(get(emb, toks[0], ep, cu, qs)[0], 401)
            # Rows went through the Distributed table to the local one.
            n = ch_sql(CH_URL, "SELECT uniqExact(sid) FROM %s.sessions WHERE customer = 'acme'"
                       % db).strip()
            self.assertEqual(n, "4000")
            engine = ch_sql(CH_URL, "SELECT engine FROM system.tables WHERE database = '%s' "
                                    "AND name = 'sessions_dist'" % db).strip()
            self.assertEqual(engine, "Distributed")

            # A live session posted to node A is visible, live, on node B.
            now = int(time.time() * 1000)
            body = "\n".join([
                json.dumps({"sid": "live-1", "seq": 0, "ts": now, "type": "start",
                            "cdn": "livecdn", "live": True}),
                json.dumps({"sid": "live-1", "seq": 1, "ts": now + 500, "type": "playing"}),
            ]) + "\n"
            st, _ = a.post_events(keys[0], body)
            self.assertEqual(st, 202)
            qs = ("period=start=%d,end=%d&metrics=sessionid,status,cdn&allstatus=1"
                  "&sessiontype=started&filter=cdn=livecdn" % (now // 1000 - 3600,
                                                               now // 1000 + 3600))

            def live_on_b():
                st, body = get(b, toks[1], "listsessions", "acme", qs)
                return body["response"] if st == 200 and body["response"] else None

            rows = wait_until(live_on_b, "the live session shows on node B")
            self.assertEqual(rows, [{"sessionid": "live-1", "status": "RUNNING",
                                     "cdn": "livecdn", "totalpages": 1}])
            # `vex query` on node A's data dir without node A running answers
            # from ClickHouse: every session, not only the half A took.
            a.stop()
            for ep, cu, qs in battery()[:2]:
                if ep != "session":
                    continue
                out = vexlib.run(["query", cu, qs], a.data).stdout
                msg = vexlib.compare_envelope(get(emb, toks[2], ep, cu, qs)[1], json.loads(out))
                self.assertIsNone(msg, "vex query on node A's data dir: %s: %s" % (qs, msg))
        finally:
            for srv in (a, b, emb):
                srv.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


class SchemaTest(unittest.TestCase):
    def serve(self, store, extra=()):
        data = tempfile.mkdtemp(prefix="vex-chs-")
        try:
            args = [vexlib.VEX, "serve", "--data", data, "--listen",
                    "127.0.0.1:%d" % vexlib.free_port()] + list(extra)
            if store is not None:
                args += ["--store", store]
            p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            try:
                out, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGTERM)
                out, err = p.communicate(timeout=60)
                return "running", err
            return p.returncode, err
        finally:
            shutil.rmtree(data, ignore_errors=True)

    def test_foreign_sessions_table(self):
        db = database("bad1")
        ch_sql(CH_URL, "CREATE DATABASE %s" % db)
        ch_sql(CH_URL, "CREATE TABLE %s.sessions (customer String, x UInt8) "
                       "ENGINE = MergeTree ORDER BY customer" % db)
        rc, err = self.serve("clickhouse=%s/%s" % (CH_URL, db))
        self.assertEqual(rc, 1, err)
        self.assertIn("%s.sessions" % db, err)
        self.assertIn("schema", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        # The foreign database is left as it was.
        self.assertEqual(ch_sql(CH_URL, "SELECT name FROM system.tables WHERE database = '%s'"
                                % db).split(), ["sessions"])

    def test_right_columns_wrong_engine(self):
        db = database("bad2")
        ch_sql(CH_URL, "CREATE DATABASE %s" % db)
        cols = ", ".join("%s %s" % c for c in SCHEMA)
        ch_sql(CH_URL, "CREATE TABLE %s.sessions (%s) ENGINE = MergeTree ORDER BY (customer, sid)"
               % (db, cols))
        rc, err = self.serve("clickhouse=%s/%s" % (CH_URL, db))
        self.assertEqual(rc, 1, err)
        self.assertIn("ReplacingMergeTree", err)

    def test_extra_column(self):
        db = database("bad5")
        ch_sql(CH_URL, "CREATE DATABASE %s" % db)
        cols = ", ".join("%s %s" % c for c in SCHEMA + [("extra", "String")])
        ch_sql(CH_URL, "CREATE TABLE %s.sessions (%s) ENGINE = ReplacingMergeTree(version) "
                       "ORDER BY (customer, sid)" % (db, cols))
        rc, err = self.serve("clickhouse=%s/%s" % (CH_URL, db))
        self.assertEqual(rc, 1, err)
        self.assertIn("column 34 'extra String'", err)

    def test_newer_schema_version(self):
        db = database("bad3")
        ch_sql(CH_URL, "CREATE DATABASE %s" % db)
        ch_sql(CH_URL, "CREATE TABLE %s.vex_meta (key String, value String) "
                       "ENGINE = ReplacingMergeTree() ORDER BY key" % db)
        ch_sql(CH_URL, "INSERT INTO %s.vex_meta VALUES ('schema', '2')" % db)
        rc, err = self.serve("clickhouse=%s/%s" % (CH_URL, db))
        self.assertEqual(rc, 1, err)
        self.assertIn("schema version '2'", err)

    def test_unknown_cluster(self):
        db = database("bad4")
        rc, err = self.serve("clickhouse=%s/%s?cluster=no_such_cluster" % (CH_URL, db))
        self.assertEqual(rc, 1, err)
        self.assertIn("no_such_cluster", err)

    def test_bad_store_values(self):
        for store in ("mysql=http://127.0.0.1:1/x", "clickhouse=ftp://127.0.0.1/x",
                      "clickhouse=http://127.0.0.1:8123/bad-name",
                      "clickhouse=http://127.0.0.1:8123/db?unknown=1"):
            rc, err = self.serve(store)
            self.assertEqual(rc, 2, (store, err))

    def test_config_file_and_existing_schema(self):
        db = database("cfg")
        data = tempfile.mkdtemp(prefix="vex-chcfg-")
        try:
            cfg = os.path.join(data, "vex.conf")
            with open(cfg, "w") as f:
                f.write("# scale-out\nstore clickhouse=%s/%s\nsession-timeout = 120\n"
                        % (CH_URL, db))
            for _ in range(2):  # creates the tables, then accepts its own schema
                srv = vexlib.Server(data=data, extra=["--config", cfg])
                srv.start()
                srv.stop()
            names = ch_sql(CH_URL, "SELECT name FROM system.tables WHERE database = '%s' "
                                   "ORDER BY name" % db).split()
            self.assertEqual(names, ["sessions", "vex_meta"])
            self.assertEqual(ch_sql(CH_URL, "SELECT value FROM %s.vex_meta FINAL WHERE "
                                            "key = 'schema'" % db).strip(), "1")
        finally:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
