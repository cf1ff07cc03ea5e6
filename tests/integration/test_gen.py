#!/usr/bin/env python3
"""test_gen.py - `vex gen` as a user runs it: usage errors, determinism, the event
format of SPEC section 2 and the start-time window (SPEC section 7, issue 4).

Needs VEX_BIN (the built vex binary). Python standard library only."""
import json
import os
import subprocess
import sys

VEX = os.environ.get("VEX_BIN", "vex")
END = 1709510400  # 2024-03-04 00:00:00 UTC

FIELDS = {"sid", "seq", "ts", "type", "kbps", "fatal", "code", "msg", "cdn", "platform",
          "player", "os", "browser", "device", "country", "asset", "title", "isp",
          "subscriberid", "subscribertag", "ip", "live"}
TYPES = {"start", "playing", "buffering", "seek", "pause", "bitrate", "error", "heartbeat",
         "end"}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args):
    p = subprocess.run([VEX, "gen", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_usage():
    for args in ([], ["--days", "3"], ["--sessions"], ["--sessions", "abc"],
                 ["--sessions", "0"], ["--sessions", "-5"], ["--sessions", "10", "--bogus"],
                 ["--sessions", "10", "extra"], ["--sessions", "10", "--days", "0"],
                 ["--sessions", "10", "--customer", "bad id"]):
        rc, out, err = run(*args)
        check(rc == 2, f"gen {args}: exit {rc}, want 2")
        check(out == b"", f"gen {args}: printed on stdout")
        lines = err.decode().strip().split("\n")
        check(len(lines) == 1 and lines[0].startswith("vex: "),
              f"gen {args}: stderr {err!r} is not one 'vex: ' line")


def test_output():
    args = ["--sessions", "300", "--seed", "42", "--end", str(END), "--days", "2"]
    rc, a, err = run(*args)
    check(rc == 0, f"gen: exit {rc} ({err!r})")
    rc, b, _ = run(*args)
    check(a == b, "same arguments, different output")
    rc, c, _ = run("--sessions=300", "--seed=43", "--end=%d" % END, "--days=2")
    check(rc == 0 and c != a, "another seed gave the same output")
    rc, d, _ = run(*args, "--customer", "acme")

    lo, hi = (END - 2 * 86400) * 1000, END * 1000
    sessions = {}
    order = []
    for line in a.decode().splitlines():
        e = json.loads(line)
        check(set(e) <= FIELDS, f"unknown field in {line}")
        check(isinstance(e["sid"], str) and 1 <= len(e["sid"]) <= 128, f"sid in {line}")
        check(type(e["seq"]) is int and type(e["ts"]) is int, f"seq/ts in {line}")
        check(e["type"] in TYPES, f"type in {line}")
        s = sessions.get(e["sid"])
        if s is None:
            check(e["seq"] == 0 and e["type"] == "start", f"first event {line}")
            check(lo <= e["ts"] < hi, f"start outside the window: {line}")
            s = sessions[e["sid"]] = []
            order.append(e["sid"])
        else:
            check(order[-1] == e["sid"], f"session {e['sid']} not contiguous")
            check(e["seq"] == len(s), f"seq gap at {line}")
            check(e["ts"] >= s[-1]["ts"], f"ts going back at {line}")
        s.append(e)
    check(len(sessions) == 300, f"{len(sessions)} sessions, want 300")

    d_lines = d.decode().splitlines()
    check(len(d_lines) == len(a.decode().splitlines()), "--customer changed the event count")
    check(all(json.loads(x)["sid"].startswith("acme-") for x in d_lines),
          "--customer is not the sid prefix")


def main():
    test_usage()
    test_output()
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
