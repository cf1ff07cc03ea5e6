"""Helpers for integration tests: run the real `vex` binary, start `vex serve`
on a free loopback port with a temporary data dir, talk HTTP to it.

Standard library only. Expected values in tests come from the tests' own data,
never from vex's code."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

VEX = os.environ.get("VEX_BIN", "build/vex")
SRC = os.environ.get("VEX_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
VECTORS = os.environ.get("VEX_VECTORS", os.path.join(SRC, "tests", "vectors"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(args, data, stdin=None, check=True):
    """Runs `vex ARGS --data DATA`; returns CompletedProcess."""
    p = subprocess.run([VEX] + list(args) + ["--data", data], input=stdin,
                       capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError("vex %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return p


class Server:
    """A `vex serve` process on 127.0.0.1:<free port>."""

    def __init__(self, data=None, extra=()):
        self.own_dir = data is None
        self.data = data or tempfile.mkdtemp(prefix="vex-it-")
        self.extra = list(extra)
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        self.log = open(os.path.join(self.data, "serve.log"), "ab")
        self.proc = subprocess.Popen(
            [VEX, "serve", "--data", self.data, "--listen", "127.0.0.1:%d" % self.port]
            + self.extra, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("vex serve exited with %d" % self.proc.returncode)
            try:
                st, _ = self.request("GET", "/healthz")
                if st == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("vex serve did not answer /healthz")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data, ignore_errors=True)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, timeout=60):
        """Returns (status, parsed JSON body or raw text)."""
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def post_events(self, key, body, ctype="application/x-ndjson"):
        if isinstance(body, str):
            body = body.encode()
        return self.request("POST", "/v1/events", body,
                            {"X-Vex-Key": key, "Content-Type": ctype})

    def token(self, user, password, realm="vex"):
        form = urllib.parse.urlencode({"grant_type": "password", "username": user,
                                       "password": password,
                                       "client_id": "smartsight-backend"}).encode()
        st, body = self.request("POST", "/realms/%s/protocol/openid-connect/token" % realm, form,
                                {"Content-Type": "application/x-www-form-urlencoded"})
        assert st == 200, (st, body)
        return body["access_token"]

    def get(self, path, token=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        return self.request("GET", path, None, h)


def setup_customer(data, customer="acme", plan=1, user="alice", password="s3cret-pass"):
    """Adds a customer and a user who may read it; returns the ingest key."""
    key = run(["customer", "add", customer, "--plan", str(plan)], data).stdout.strip()
    run(["user", "add", user, "--password-stdin", "--customers", customer], data,
        stdin=password + "\n")
    return key


def close_enough(a, b, rel=1e-9):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-9
    return a == b


PERCENTILES = {"median_latency", "p95_latency", "p99_latency", "median_qualityofexperience"}
INTEGER_KEYS = {"attempts", "viewercount", "endedplays", "errors", "totalstartupfailure", "ebvs",
                "buffcount", "uniqueviewercount", "totalcount", "pagecount", "totalrecords",
                "totalpages", "timestamp", "starttime", "endtime"}


def compare_envelope(expected, got):
    """Returns None when equal per the vectors' rules, else a message."""
    if not isinstance(got, dict):
        return "not an object: %r" % (got,)
    if set(expected) != set(got):
        return "envelope keys %s != %s" % (sorted(got), sorted(expected))
    for k in ("totalcount", "pagecount", "totalrecords"):
        if got[k] != expected[k] or type(got[k]) is not int:
            return "%s: %r != %r" % (k, got[k], expected[k])
    if len(got["response"]) != len(expected["response"]):
        return "rows %d != %d" % (len(got["response"]), len(expected["response"]))
    for i, (er, gr) in enumerate(zip(expected["response"], got["response"])):
        if set(er) != set(gr):
            return "row %d keys %s != %s" % (i, sorted(gr), sorted(er))
        for k, ev in er.items():
            gv = gr[k]
            if k in INTEGER_KEYS and type(gv) is not int:
                return "row %d %s: %r is not an integer" % (i, k, gv)
            if isinstance(ev, float) and type(gv) is not float:
                return "row %d %s: %r is not a JSON real" % (i, k, gv)
            rel = 0.01 if k in PERCENTILES else 1e-9
            if not close_enough(ev, gv, rel):
                return "row %d %s: %r != %r" % (i, k, gv, ev)
    return None
