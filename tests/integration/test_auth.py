#!/usr/bin/env python3
"""test_auth.py - accounts, tokens, API keys and tenant isolation over HTTP
against the real `vex serve` (SPEC sections 4.6, 5, 6, 7; issue 3).

Starts $VEX_BIN on a free 127.0.0.1 port with a temporary data dir, sets up
customers and users with the `vex customer` / `vex user` commands (also
while the server runs), and checks every grant, refresh rotation, expiry,
forged tokens (tampered, alg none, HS256 keyed with the public key, signed
by a key made with the `openssl` command), an external issuer, the 401/403/
404 order, API keys, ingest keys and login throttling. Python standard
library only; RS256 signatures are checked by hand with pow()."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

VEX_BIN = os.environ.get("VEX_BIN")
CLIENT_ID = "smartsight-backend"
PERIOD = "start=1700000000,end=1700086400"
METRIC_PATHS = [
    "/mm-apis/session/{}",
    "/mm-apis/qbrData/vod/{}",
    "/mm-apis/qbrData/live/{}",
    "/mm-apis/metricquery/{}",
    "/mm-apis/listsessions/{}",
]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, c, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(c)), b64url_decode(s)


def rsa_verify(n, e, message, sig):
    """RSASSA-PKCS1-v1_5 with SHA-256, by the book (RFC 8017 8.2.2)."""
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(k, "big")
    t = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(message).digest()
    return em == b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(data, *args, stdin=None):
    p = subprocess.run([VEX_BIN, *args, "--data", data], input=stdin, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def cli_ok(data, *args, stdin=None):
    rc, out, err = run_cli(data, *args, stdin=stdin)
    if rc != 0:
        raise AssertionError("vex %s failed (%d): %s" % (" ".join(args), rc, err))
    return out


class Server:
    def __init__(self, data, *flags):
        self.data = data
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(data, "..", "serve-%d.log" % self.port), "w+")
        self.proc = subprocess.Popen(
            [VEX_BIN, "serve", "--data", data, "--listen", "127.0.0.1:%d" % self.port, *flags],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError("vex serve did not start: %s" % self.stop())

    def stop(self):
        """Stops the server with SIGTERM; returns its log when it did not
        exit cleanly (status 0), else None."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        text = self.log.read()
        self.log.close()
        return None if self.proc.returncode == 0 else text

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers, parsed JSON body or None)."""
        h = dict(headers or {})
        data = None
        if isinstance(body, dict):
            data = urllib.parse.urlencode(body).encode()
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(body, str):
            data = body.encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, hdrs, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return status, hdrs, doc

    def token(self, username, password, realm="vex", **extra):
        form = {"grant_type": "password", "username": username, "password": password,
                "client_id": CLIENT_ID, "scope": "openid"}
        form.update(extra)
        return self.request("POST", "/realms/%s/protocol/openid-connect/token" % realm, form)

    def access(self, username, password):
        status, _, doc = self.token(username, password)
        assert status == 200, (status, doc)
        return doc["access_token"]

    def planlevel(self, customer, token=None, api_key=None):
        h = {}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if api_key is not None:
            h["X-API-Key"] = api_key
        return self.request("GET", "/planLevelByCustId/" + customer, headers=h)

    def metrics(self, path, customer, query, token=None):
        h = {"Authorization": "Bearer " + token} if token else {}
        return self.request("GET", path.format(customer) + "?" + query, headers=h)


def openssl(*args, stdin=None):
    p = subprocess.run(["openssl", *args], input=stdin, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout


class OpensslKey:
    """An RSA key made and used only through the `openssl` command."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "other-key.pem")
        openssl("genrsa", "-out", self.path, "2048")
        modulus = openssl("rsa", "-in", self.path, "-noout", "-modulus").decode()
        self.n = int(modulus.strip().split("=", 1)[1], 16)
        self.e = 65537

    def jwks(self, kid):
        n = self.n.to_bytes((self.n.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                          "n": b64url(n), "e": b64url(self.e.to_bytes(3, "big"))}]}

    def sign(self, header, claims):
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        sig = openssl("dgst", "-sha256", "-sign", self.path, stdin=signing_input.encode())
        return signing_input + "." + b64url(sig)


def setup_accounts(data):
    cli_ok(data, "customer", "add", "acme", "--plan", "3", "--key", "acme-ingest-1")
    cli_ok(data, "customer", "add", "--plan", "2", "beta")
    cli_ok(data, "user", "add", "alice", "--password-stdin", "--customers", "acme",
           stdin="alice-pw\n")
    cli_ok(data, "user", "--customers=beta", "add", "bob", "--password-stdin", stdin="bob-pw\n")
    cli_ok(data, "user", "add", "root", "--admin", "--password-stdin", stdin="root-pw\n")
    cli_ok(data, "user", "add", "victim", "--password-stdin", "--customers", "acme",
           stdin="victim-pw\n")


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vex-auth-it-")
        cls.data = os.path.join(cls.tmp, "data")
        setup_accounts(cls.data)
        cls.srv = Server(cls.data)

    @classmethod
    def tearDownClass(cls):
        failure = cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if failure is not None:
            raise AssertionError("vex serve did not exit cleanly:\n" + failure)

    # ---- grants ----

    def test_password_grant(self):
        status, _, doc = self.srv.token("alice", "alice-pw")
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["token_type"], "Bearer")
        self.assertEqual(doc["expires_in"], 900)
        self.assertEqual(doc["refresh_expires_in"], 1800)
        self.assertEqual(doc["scope"], "openid")
        self.assertTrue(doc["refresh_token"])
        header, claims, sig = jwt_parts(doc["access_token"])
        self.assertEqual(header["alg"], "RS256")
        self.assertEqual(claims["iss"], self.srv.base + "/realms/vex")
        self.assertEqual(claims["preferred_username"], "alice")
        self.assertEqual(claims["customers"], ["acme"])
        self.assertEqual(claims["exp"] - claims["iat"], 900)
        self.assertTrue(claims["sub"])
        # The signature checks out against the published JWKS.
        status, _, jwks = self.srv.request("GET", "/realms/vex/protocol/openid-connect/certs")
        self.assertEqual(status, 200)
        key = [k for k in jwks["keys"] if k["kid"] == header["kid"]][0]
        self.assertEqual((key["kty"], key["use"], key["alg"]), ("RSA", "sig", "RS256"))
        n = int.from_bytes(b64url_decode(key["n"]), "big")
        e = int.from_bytes(b64url_decode(key["e"]), "big")
        signing_input = doc["access_token"].rsplit(".", 1)[0].encode()
        self.assertTrue(rsa_verify(n, e, signing_input, sig))
        self.assertFalse(rsa_verify(n, e, signing_input + b"x", sig))

    def test_any_realm(self):
        status, _, doc = self.srv.token("alice", "alice-pw", realm="some-realm")
        self.assertEqual(status, 200)
        _, claims, _ = jwt_parts(doc["access_token"])
        self.assertEqual(claims["iss"], self.srv.base + "/realms/some-realm")
        status, _, body = self.srv.planlevel("acme", doc["access_token"])
        self.assertEqual((status, body), (200, {"customerid": "acme", "planlevel": 3}))
        status, _, jwks = self.srv.request("GET", "/realms/x/protocol/openid-connect/certs")
        self.assertEqual(status, 200)
        self.assertEqual(len(jwks["keys"]), 1)

    def test_bad_credentials(self):
        for user, pw in (("alice", "wrong"), ("nobody", "alice-pw"), ("alice", "")):
            status, _, doc = self.srv.token(user, pw)
            self.assertEqual(status, 401, (user, pw))
            self.assertEqual(doc["error"], "invalid_grant")
            self.assertTrue(doc["error_description"])
            self.assertTrue(doc["message"])
        status, _, doc = self.srv.token("alice", "alice-pw", client_id="someone-else")
        self.assertEqual((status, doc["error"]), (401, "invalid_client"))
        status, _, doc = self.srv.request("POST", "/realms/vex/protocol/openid-connect/token",
                                          {"username": "alice", "password": "alice-pw"})
        self.assertEqual((status, doc["error"]), (400, "invalid_request"))
        status, _, doc = self.srv.token("alice", "alice-pw", grant_type="client_credentials")
        self.assertEqual((status, doc["error"]), (400, "unsupported_grant_type"))

    def test_refresh_rotation(self):
        status, _, first = self.srv.token("alice", "alice-pw", scope="openid email")
        self.assertEqual(status, 200)
        form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                "client_id": CLIENT_ID}
        path = "/realms/vex/protocol/openid-connect/token"
        status, _, second = self.srv.request("POST", path, form)
        self.assertEqual(status, 200, second)
        self.assertEqual(second["token_type"], "Bearer")
        self.assertEqual(second["scope"], "openid email")
        self.assertNotEqual(second["refresh_token"], first["refresh_token"])
        self.assertEqual(self.srv.planlevel("acme", second["access_token"])[0], 200)
        # The used refresh token stops working.
        status, _, doc = self.srv.request("POST", path, form)
        self.assertEqual((status, doc["error"]), (401, "invalid_grant"))
        # Without client_id, and with a token that never existed.
        status, _, doc = self.srv.request("POST", path, {"grant_type": "refresh_token",
                                                         "refresh_token": "vrt_nothing"})
        self.assertEqual((status, doc["error"]), (401, "invalid_grant"))

    def test_legacy_token(self):
        status, _, doc = self.srv.request("POST", "/generateOAuthToken", {
            "grant_type": "password", "username": "bob", "password": "bob-pw",
            "client_id": CLIENT_ID, "scope": "openid"})
        self.assertEqual(status, 201, doc)
        self.assertEqual(set(doc), {"access_token", "token_type", "refresh_token", "expires_in",
                                    "scope"})
        self.assertEqual(doc["token_type"], "bearer")
        self.assertEqual(doc["expires_in"], 900)
        status, _, body = self.srv.planlevel("beta", doc["access_token"])
        self.assertEqual((status, body), (200, {"customerid": "beta", "planlevel": 2}))
        status, _, doc = self.srv.request("POST", "/generateOAuthToken", {
            "grant_type": "password", "username": "bob", "password": "nope",
            "client_id": CLIENT_ID})
        self.assertEqual((status, doc["error"]), (401, "invalid_grant"))

    # ---- the checks of SPEC 4.6 ----

    def test_planlevel_and_isolation(self):
        alice = self.srv.access("alice", "alice-pw")
        root = self.srv.access("root", "root-pw")
        self.assertEqual(self.srv.planlevel("acme", alice)[2],
                         {"customerid": "acme", "planlevel": 3})
        status, _, doc = self.srv.planlevel("beta", alice)
        self.assertEqual((status, doc["error"]), (403, "forbidden"))
        self.assertTrue(doc["message"])
        # Unknown customer: 403 for a user, 404 for an admin.
        self.assertEqual(self.srv.planlevel("nosuch", alice)[0], 403)
        status, _, doc = self.srv.planlevel("nosuch", root)
        self.assertEqual((status, doc["error"]), (404, "not_found"))
        self.assertEqual(self.srv.planlevel("beta", root)[2],
                         {"customerid": "beta", "planlevel": 2})

    def test_metrics_endpoints_refuse_without_credentials(self):
        query = "planlevel=3&period=%s&metrics=attempts" % PERIOD
        for path in METRIC_PATHS + ["/planLevelByCustId/{}"]:
            for cust in ("acme", "nosuch"):
                full = path.format(cust) + ("?" + query if "mm-apis" in path else "")
                status, hdrs, doc = self.srv.request("GET", full)
                self.assertEqual(status, 401, full)
                self.assertEqual(doc["error"], "unauthorized", full)
                self.assertTrue(doc["message"])
                self.assertIn("Bearer", hdrs.get("WWW-Authenticate", ""))
                for bad in ({"Authorization": "Bearer not.a.token"},
                            {"Authorization": "Basic YWxpY2U6YWxpY2UtcHc="},
                            {"X-API-Key": "vak_unknown"}):
                    status, _, doc = self.srv.request("GET", full, headers=bad)
                    self.assertEqual(status, 401, (full, bad))
        # 401 comes before 400: a bad query without credentials is still 401.
        status, _, _ = self.srv.request("GET", "/mm-apis/session/acme?bogus=1")
        self.assertEqual(status, 401)

    def test_metrics_order(self):
        alice = self.srv.access("alice", "alice-pw")
        root = self.srv.access("root", "root-pw")
        good = "planlevel=3&period=%s&metrics=attempts" % PERIOD
        status, _, doc = self.srv.metrics("/mm-apis/session/{}", "acme", good, alice)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["response"][0]["attempts"], 0)
        # Someone else's customer: 403 even with a bad query (403 before 400).
        for path in METRIC_PATHS:
            status, _, doc = self.srv.metrics(path, "beta", good, alice)
            self.assertEqual((status, doc["error"]), (403, "forbidden"), path)
            status, _, _ = self.srv.metrics(path, "beta", "bogus=1", alice)
            self.assertEqual(status, 403, path)
            status, _, _ = self.srv.metrics(path, "nosuch", good, root)
            self.assertEqual(status, 404, path)
        # Wrong plan level: 403; not an integer: 400.
        wrong = "planlevel=2&period=%s&metrics=attempts" % PERIOD
        status, _, doc = self.srv.metrics("/mm-apis/session/{}", "acme", wrong, alice)
        self.assertEqual(status, 403, doc)
        status, _, _ = self.srv.metrics("/mm-apis/session/{}", "acme",
                                        "planlevel=x&period=%s&metrics=attempts" % PERIOD,
                                        alice)
        self.assertEqual(status, 400)

    def test_forged_tokens(self):
        alice = self.srv.access("alice", "alice-pw")
        h64, c64, s64 = alice.split(".")
        header, claims, _ = jwt_parts(alice)
        self.assertEqual(self.srv.planlevel("acme", alice)[0], 200)
        evil = dict(claims, customers=["beta"])
        evil64 = b64url(json.dumps(evil).encode())
        # Tampered payload, original signature.
        self.assertEqual(self.srv.planlevel("beta", "%s.%s.%s" % (h64, evil64, s64))[0], 401)
        # alg none, with and without a signature part.
        none64 = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        for tok in ("%s.%s." % (none64, evil64), "%s.%s.%s" % (none64, evil64, s64)):
            self.assertEqual(self.srv.planlevel("beta", tok)[0], 401)
        # HS256 keyed with the public key, as JWKS text and as the modulus.
        _, _, jwks = self.srv.request("GET", "/realms/vex/protocol/openid-connect/certs")
        hs64 = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}).encode())
        for secret in (json.dumps(jwks).encode(), json.dumps(jwks["keys"][0]).encode(),
                       b64url_decode(jwks["keys"][0]["n"])):
            mac = hmac.new(secret, ("%s.%s" % (hs64, evil64)).encode(), hashlib.sha256).digest()
            self.assertEqual(self.srv.planlevel("beta", "%s.%s.%s" % (hs64, evil64,
                                                                      b64url(mac)))[0], 401)
        # A token in our issuer's name signed by a key made with openssl.
        other = OpensslKey(self.tmp)
        forged = other.sign({"alg": "RS256", "typ": "JWT", "kid": header["kid"]}, evil)
        self.assertEqual(self.srv.planlevel("beta", forged)[0], 401)
        self.assertEqual(self.srv.planlevel("acme", forged)[0], 401)

    # ---- keys ----

    def test_api_keys(self):
        key = cli_ok(self.data, "user", "apikey", "alice").strip()
        self.assertTrue(key.startswith("vak_"))
        status, _, doc = self.srv.planlevel("acme", api_key=key)
        self.assertEqual((status, doc), (200, {"customerid": "acme", "planlevel": 3}))
        self.assertEqual(self.srv.planlevel("beta", api_key=key)[0], 403)
        status, _, doc = self.srv.request(
            "GET", "/mm-apis/session/acme?planlevel=3&period=%s&metrics=attempts" % PERIOD,
            headers={"X-API-Key": key})
        self.assertEqual(status, 200, doc)
        # Revoked while the server runs: 401 at once.
        cli_ok(self.data, "user", "apikey", "revoke", key)
        status, _, doc = self.srv.planlevel("acme", api_key=key)
        self.assertEqual((status, doc["error"]), (401, "unauthorized"))
        rc, _, err = run_cli(self.data, "user", "apikey", "revoke", key)
        self.assertEqual(rc, 1, err)

    def test_ingest_keys(self):
        def post(key, sid):
            event = json.dumps({"sid": sid, "seq": 0, "ts": 1700000100000, "type": "start"})
            return self.srv.request("POST", "/v1/events", event,
                                    {"Content-Type": "application/json", "X-Vex-Key": key})[0]

        cli_ok(self.data, "customer", "add", "gamma", "--plan", "1", "--key", "gamma-k1")
        cli_ok(self.data, "customer", "add", "delta", "--plan", "1", "--key", "delta-k1")
        self.assertEqual(post("gamma-k1", "g1"), 202)
        self.assertEqual(post("delta-k1", "d1"), 202)
        self.assertEqual(post("delta-k1", "d2"), 202)
        self.assertEqual(post("no-such-key", "x"), 401)
        # A second key; the first revoked while the server runs.
        key2 = cli_ok(self.data, "customer", "key", "add", "gamma").strip()
        cli_ok(self.data, "customer", "key", "revoke", "gamma-k1")
        self.assertEqual(post("gamma-k1", "g2"), 401)
        self.assertEqual(post(key2, "g3"), 202)
        # Each key wrote only into its own customer.
        root = self.srv.access("root", "root-pw")
        counts = {}
        for cust in ("gamma", "delta"):
            status, _, doc = self.srv.metrics(
                "/mm-apis/session/{}", cust, "planlevel=1&period=%s&metrics=attempts" % PERIOD,
                root)
            self.assertEqual(status, 200, doc)
            counts[cust] = doc["response"][0]["attempts"]
        self.assertEqual(counts, {"gamma": 2, "delta": 2})

    def test_login_throttling(self):
        for _ in range(5):
            self.assertEqual(self.srv.token("victim", "guess")[0], 401)
        status, hdrs, doc = self.srv.token("victim", "guess")
        self.assertEqual(status, 429, doc)
        self.assertGreaterEqual(int(hdrs["Retry-After"]), 1)
        self.assertTrue(doc["error"])
        self.assertTrue(doc["message"])
        # While locked, even the right password is refused.
        self.assertEqual(self.srv.token("victim", "victim-pw")[0], 429)

    # ---- the accounts database and the CLI ----

    def test_cli_while_serving(self):
        root = self.srv.access("root", "root-pw")
        self.assertEqual(self.srv.planlevel("late", root)[0], 404)
        key = cli_ok(self.data, "customer", "add", "late", "--plan", "4").strip()
        self.assertTrue(key.startswith("vik_"))
        self.assertEqual(self.srv.planlevel("late", root)[2],
                         {"customerid": "late", "planlevel": 4})
        cli_ok(self.data, "customer", "set-plan", "late", "6")
        self.assertEqual(self.srv.planlevel("late", root)[2]["planlevel"], 6)
        listing = cli_ok(self.data, "customer", "list")
        self.assertIn("late\t6\t1\n", listing)
        cli_ok(self.data, "customer", "remove", "late")
        self.assertEqual(self.srv.planlevel("late", root)[0], 404)
        # A user added while serving logs in at once; passwd changes it.
        cli_ok(self.data, "user", "add", "carol", "--customers", "acme,beta",
               "--password-stdin", stdin="carol-pw\n")
        carol = self.srv.access("carol", "carol-pw")
        self.assertEqual(self.srv.planlevel("beta", carol)[0], 200)
        cli_ok(self.data, "user", "passwd", "carol", "--password-stdin", stdin="carol-2\r\n")
        self.assertEqual(self.srv.token("carol", "carol-pw")[0], 401)
        self.assertEqual(self.srv.token("carol", "carol-2")[0], 200)
        cli_ok(self.data, "user", "remove", "carol")
        self.assertEqual(self.srv.token("carol", "carol-2")[0], 401)

    def test_cli_exit_status(self):
        cases = [
            (2, ("customer", "add", "x1")),                       # no --plan
            (2, ("customer", "add", "bad id", "--plan", "1")),
            (2, ("customer", "add", "x1", "--plan", "one")),
            (2, ("customer", "frobnicate")),
            (1, ("customer", "add", "acme", "--plan", "1")),      # exists
            (1, ("customer", "set-plan", "nosuch", "1")),
            (1, ("customer", "remove", "nosuch")),
            (2, ("user", "add", "u1", "--customers", "acme")),    # no --password-stdin
            (2, ("user", "add", "u1", "--password-stdin")),       # neither --customers nor --admin
            (2, ("user", "add", "u1", "--password-stdin", "--admin", "--customers", "acme")),
            (1, ("user", "apikey", "nosuch")),
            (1, ("user", "remove", "nosuch")),
        ]
        for want, args in cases:
            rc, _, err = run_cli(self.data, *args, stdin="pw\n")
            self.assertEqual(rc, want, (args, err))
            self.assertEqual(len(err.splitlines()), 1, (args, err))
            self.assertTrue(err.startswith("vex: "), (args, err))
        rc, _, err = run_cli(self.data, "user", "add", "u2", "--admin", "--password-stdin",
                             stdin="")
        self.assertEqual(rc, 2, err)

    def test_passwords_stored_as_argon2id(self):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.data, "accounts.db"),
                             uri=True)
        try:
            rows = db.execute("SELECT name, pwhash FROM users").fetchall()
            text = "\n".join(str(r) for r in db.execute(
                "SELECT * FROM users UNION ALL SELECT user, customer, 0, 0, 0"
                " FROM user_customers").fetchall())
        finally:
            db.close()
        self.assertGreaterEqual(len(rows), 4)
        for name, pwhash in rows:
            self.assertTrue(pwhash.startswith("$argon2id$v=19$"), name)
        for pw in ("alice-pw", "bob-pw", "root-pw", "victim-pw"):
            self.assertNotIn(pw, text)


class ExpiryTest(unittest.TestCase):
    """Short lifetimes: access tokens 2 s, refresh tokens 3 s."""

    def test_tokens_expire(self):
        tmp = tempfile.mkdtemp(prefix="vex-auth-exp-")
        data = os.path.join(tmp, "data")
        try:
            setup_accounts(data)
            srv = Server(data, "--access-ttl", "2", "--refresh-ttl", "3")
            try:
                status, _, doc = srv.token("alice", "alice-pw")
                self.assertEqual(status, 200)
                self.assertEqual((doc["expires_in"], doc["refresh_expires_in"]), (2, 3))
                self.assertEqual(srv.planlevel("acme", doc["access_token"])[0], 200)
                time.sleep(3.5)
                status, _, body = srv.planlevel("acme", doc["access_token"])
                self.assertEqual((status, body["error"]), (401, "unauthorized"))
                status, _, body = srv.request(
                    "POST", "/realms/vex/protocol/openid-connect/token",
                    {"grant_type": "refresh_token", "refresh_token": doc["refresh_token"]})
                self.assertEqual((status, body["error"]), (401, "invalid_grant"))
            finally:
                self.assertIsNone(srv.stop())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class ExternalIssuerTest(unittest.TestCase):
    """A token of another issuer, signed with a key made by `openssl`: refused
    until that issuer and its JWKS file are configured, then accepted, with
    the configured claim naming the customers."""

    def test_external_issuer(self):
        tmp = tempfile.mkdtemp(prefix="vex-auth-ext-")
        data = os.path.join(tmp, "data")
        try:
            setup_accounts(data)
            key = OpensslKey(tmp)
            issuer = "https://idp.example.test/realms/corp"
            now = int(time.time())
            token = key.sign({"alg": "RS256", "typ": "JWT", "kid": "corp-1"},
                             {"iss": issuer, "sub": "u-1", "exp": now + 600, "iat": now,
                              "tenants": ["acme"]})
            srv = Server(data)
            try:
                self.assertEqual(srv.planlevel("acme", token)[0], 401)
            finally:
                self.assertIsNone(srv.stop())
            jwks_path = os.path.join(tmp, "corp-jwks.json")
            with open(jwks_path, "w") as f:
                json.dump(key.jwks("corp-1"), f)
            srv = Server(data, "--external-issuer", issuer, "--external-jwks", jwks_path,
                         "--external-claim", "tenants")
            try:
                self.assertEqual(srv.planlevel("acme", token)[2],
                                 {"customerid": "acme", "planlevel": 3})
                self.assertEqual(srv.planlevel("beta", token)[0], 403)
                # Expired, or naming a kid the JWKS does not have: refused.
                old = key.sign({"alg": "RS256", "kid": "corp-1"},
                               {"iss": issuer, "exp": now - 10, "tenants": ["acme"]})
                self.assertEqual(srv.planlevel("acme", old)[0], 401)
                other_kid = key.sign({"alg": "RS256", "kid": "corp-2"},
                                     {"iss": issuer, "exp": now + 600, "tenants": ["acme"]})
                self.assertEqual(srv.planlevel("acme", other_kid)[0], 401)
                # Our own tokens keep working next to it.
                alice = srv.access("alice", "alice-pw")
                self.assertEqual(srv.planlevel("acme", alice)[0], 200)
            finally:
                self.assertIsNone(srv.stop())

            # The JWKS at a URL instead of a file (fetched when first needed).
            body = json.dumps(key.jwks("corp-1")).encode()

            class Jwks(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200 if self.path == "/certs" else 404)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)

                def log_message(self, *args):
                    pass

            idp = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
            threading.Thread(target=idp.serve_forever, daemon=True).start()
            url = "http://127.0.0.1:%d/certs" % idp.server_address[1]
            srv = Server(data, "--external-issuer", issuer, "--external-jwks", url,
                         "--external-claim", "tenants")
            try:
                self.assertEqual(srv.planlevel("acme", token)[0], 200)
                self.assertEqual(srv.planlevel("beta", token)[0], 403)
                self.assertEqual(srv.planlevel("acme", other_kid)[0], 401)
            finally:
                self.assertIsNone(srv.stop())
                idp.shutdown()
                idp.server_close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if not VEX_BIN:
        sys.exit("test_auth.py: set VEX_BIN to the vex binary")
    unittest.main(verbosity=2)
