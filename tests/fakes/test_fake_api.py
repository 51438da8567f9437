#!/usr/bin/env python3
"""Self-test for tests/fakes/fake_api.py (standard library only).

    python3 tests/fakes/test_fake_api.py [-v] [-k SUBSTRING]

Starts the fake as a subprocess, plain HTTP and then HTTPS (certificates from
make_cert.sh), exercises every route, and exits non-zero on any failure.
"""

import base64
import concurrent.futures
import email.utils
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_api.py")
MAKE_CERT = os.path.join(HERE, "make_cert.sh")

VERBOSE = "-v" in sys.argv
ONLY = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None


# --------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------

class Server:
    def __init__(self, workdir, tls=None, extra_args=()):
        self.workdir = workdir
        self.tls = tls
        self.port_file = os.path.join(workdir, "port-%s" % ("tls" if tls else "plain"))
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        args = [sys.executable, FAKE, "--port-file", self.port_file]
        if tls:
            args += ["--tls", os.path.join(tls, "server.pem"),
                     os.path.join(tls, "server.key")]
        args += list(extra_args)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("fake_api exited: %s" % self.proc.stderr.read())
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("fake_api did not write its port file")
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read().strip())
        self.stdout_line = self.proc.stdout.readline().strip()
        self.scheme = "https" if tls else "http"
        self.base = "%s://127.0.0.1:%d" % (self.scheme, self.port)
        if tls:
            self.ctx = ssl.create_default_context(cafile=os.path.join(tls, "ca.pem"))
        else:
            self.ctx = None
        handlers = []
        if self.ctx:
            handlers.append(urllib.request.HTTPSHandler(context=self.ctx))
        self.opener = urllib.request.build_opener(*handlers)
        self.noredirect = urllib.request.build_opener(NoRedirect, *handlers)

    def conn(self, timeout=10, host="127.0.0.1"):
        if self.tls:
            return http.client.HTTPSConnection(host, self.port, timeout=timeout,
                                               context=self.ctx)
        return http.client.HTTPConnection(host, self.port, timeout=timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        return self.proc.returncode, err


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def call(srv, method, path, body=None, headers=None, timeout=10, opener=None,
         url=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
    elif isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request(url or srv.base + path, data=body,
                                 headers=headers or {}, method=method)
    try:
        with (opener or srv.opener).open(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        data = e.read()
        e.close()
        return Resp(e.code, e.headers, data)


def get(srv, path, **kw):
    return call(srv, "GET", path, **kw)


def post(srv, path, body=None, **kw):
    return call(srv, "POST", path, body=body if body is not None else b"", **kw)


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def ok(cond, what):
    if not cond:
        raise AssertionError(what)


def requests_log(srv, prefix=None):
    q = "?path_prefix=" + urllib.parse.quote(prefix) if prefix else ""
    r = get(srv, "/_requests" + q)
    eq(r.status, 200, "/_requests status")
    return r.json()["requests"]


# --------------------------------------------------------------------------
# Tests (each takes a started Server)
# --------------------------------------------------------------------------

def t_startup(srv):
    eq(srv.stdout_line, "listening on %d" % srv.port, "stdout line")
    ok(srv.port > 0, "port > 0")
    ok(not [f for f in os.listdir(srv.workdir) if ".tmp." in f], "no tmp port files")


def t_echo(srv):
    r = get(srv, "/echo?a=1&a=2&b=", headers={"X-Thing": "Hello"})
    eq(r.status, 200, "status")
    eq(r.headers["Content-Type"], "application/json", "content-type")
    j = r.json()
    eq(j["method"], "GET", "method")
    eq(j["path"], "/echo", "path")
    eq(j["query"], {"a": ["1", "2"], "b": [""]}, "query")
    eq(j["headers"]["x-thing"], "Hello", "header lowercased")
    eq(j["body"], "", "body")
    eq(j["json"], None, "json")
    r = call(srv, "PUT", "/echo", body={"k": [1, 2]})
    j = r.json()
    eq(j["method"], "PUT", "method")
    eq(j["json"], {"k": [1, 2]}, "json body")
    eq(j["body"], '{"k": [1, 2]}', "text body")
    r = post(srv, "/echo", body="not json")
    eq(r.json()["json"], None, "non-JSON body")
    eq(r.json()["body"], "not json", "text")


def t_json(srv):
    r = get(srv, "/json")
    eq(r.status, 200, "status")
    eq(r.headers["Content-Type"], "application/json", "ctype")
    eq(len(r.body), 10240, "default size")
    j = r.json()
    ok(j["count"] > 10 and len(j["records"]) == j["count"], "records")
    rec = j["records"][0]
    eq(len(rec), 15, "fields per record")
    ok({"id", "email", "company", "created_at"} <= set(rec), "CRM-like fields")
    r2 = get(srv, "/json")
    eq(r2.body, r.body, "deterministic")
    r = get(srv, "/json?size=200000")
    eq(len(r.body), 200000, "size=200000")
    r.json()
    eq(get(srv, "/json?size=abc").status, 400, "bad size -> 400")


def t_status(srv):
    for code in (200, 400, 403, 404, 409, 422, 429, 500, 502, 503):
        r = get(srv, "/status/%d" % code)
        eq(r.status, code, "status")
        eq(r.headers["Content-Type"], "application/json", "ctype")
        eq(r.json()["status"], code, "body status")
        ok(r.json()["error"], "error text")
    r = get(srv, "/status/401")
    eq(r.status, 401, "401")
    ok(r.headers["WWW-Authenticate"].startswith("Bearer"), "WWW-Authenticate")
    r = get(srv, "/status/204")
    eq((r.status, r.body), (204, b""), "204 no body")
    r = get(srv, "/status/503?retry_after=7")
    eq(r.headers["Retry-After"], "7", "optional retry_after")


def t_flaky(srv):
    got = [get(srv, "/flaky?key=fk1&fail=2&code=503") for _ in range(4)]
    eq([g.status for g in got], [503, 503, 200, 200], "statuses")
    eq(got[2].json(), {"ok": True, "attempt": 3}, "third attempt body")
    eq(got[0].json()["status"], 503, "error body")
    got = [get(srv, "/flaky?key=fk2&fail=1&code=500").status for _ in range(2)]
    eq(got, [500, 200], "code=500")
    eq(get(srv, "/flaky?key=fk3&fail=0").status, 200, "fail=0")


def t_retry_after(srv):
    r = get(srv, "/retry-after?key=ra1&mode=seconds&value=2&code=429&times=1")
    eq(r.status, 429, "first")
    eq(r.headers["Retry-After"], "2", "Retry-After seconds")
    eq(get(srv, "/retry-after?key=ra1&mode=seconds&value=2").status, 200, "then 200")
    now = time.time()
    r = get(srv, "/retry-after?key=ra2&mode=date&value=5&code=503&times=2")
    eq(r.status, 503, "date mode code")
    when = email.utils.parsedate_to_datetime(r.headers["Retry-After"]).timestamp()
    ok(r.headers["Retry-After"].endswith("GMT"), "HTTP-date in GMT")
    ok(now + 4 <= when <= now + 7, "date ~5s ahead (%s vs %s)" % (when, now))
    eq(get(srv, "/retry-after?key=ra2&mode=date&value=5&code=503&times=2").status,
       503, "second (times=2)")
    eq(get(srv, "/retry-after?key=ra2&mode=date&value=5&code=503&times=2").status,
       200, "third")


def t_ratelimit(srv):
    now = time.time()
    r = get(srv, "/ratelimit-headers?key=rl1&reset=3&style=github")
    eq(r.status, 200, "first 200")
    eq(r.headers["X-RateLimit-Remaining"], "0", "remaining")
    reset = int(r.headers["X-RateLimit-Reset"])
    ok(now + 2 <= reset <= now + 5, "reset epoch ~now+3")
    r = get(srv, "/ratelimit-headers?key=rl1&reset=3&style=github")
    eq(r.status, 200, "later 200")
    eq(r.headers.get("X-RateLimit-Remaining"), None, "no header later")
    r = get(srv, "/ratelimit-headers?key=rl2&reset=4&style=ietf")
    eq(r.headers["RateLimit-Remaining"], "0", "ietf remaining")
    eq(r.headers["RateLimit-Reset"], "4", "ietf delta")
    eq(r.headers.get("X-RateLimit-Reset"), None, "no github header in ietf")
    # enforce=1: calling back early is a 429; after the reset it is fine
    get(srv, "/ratelimit-headers?key=rl3&reset=1&style=ietf&enforce=1")
    eq(get(srv, "/ratelimit-headers?key=rl3&reset=1&enforce=1").status, 429, "early")
    time.sleep(1.1)
    eq(get(srv, "/ratelimit-headers?key=rl3&reset=1&enforce=1").status, 200, "after")


def t_hang_timeout(srv):
    t0 = time.monotonic()
    try:
        get(srv, "/hang?seconds=3", timeout=0.5)
        raise AssertionError("expected a client timeout")
    except (socket.timeout, TimeoutError, urllib.error.URLError) as e:
        reason = getattr(e, "reason", e)
        ok(isinstance(reason, (socket.timeout, TimeoutError)), "timeout: %r" % e)
    ok(time.monotonic() - t0 < 2, "timed out quickly")
    r = get(srv, "/hang?seconds=0.2")
    eq(r.json(), {"slept": 0.2}, "short hang answers")


def t_hang_does_not_block(srv):
    res = {}

    def slow():
        res["r"] = get(srv, "/hang?seconds=2.5")

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    for _ in range(5):
        eq(get(srv, "/echo").status, 200, "echo during hang")
    ok(time.monotonic() - t0 < 1.5, "other requests not blocked by /hang")
    th.join(10)
    eq(res["r"].status, 200, "hang finished")
    # 64 hangs in parallel take ~1s, not 64s
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        statuses = list(ex.map(lambda _: get(srv, "/hang?seconds=1", timeout=20).status,
                               range(64)))
    eq(statuses, [200] * 64, "64 hangs")
    ok(time.monotonic() - t0 < 6, "64 hangs ran concurrently (%.1fs)" % (time.monotonic() - t0))


def t_slow_body(srv):
    c = srv.conn()
    t0 = time.monotonic()
    c.request("GET", "/slow-body?seconds=1.5")
    r = c.getresponse()
    t_headers = time.monotonic() - t0
    ok(t_headers < 1.0, "headers arrive before the pause (%.2fs)" % t_headers)
    cl = int(r.getheader("Content-Length"))
    first = r.read(cl // 2)
    ok(time.monotonic() - t0 < 1.0, "first half before the pause")
    rest = r.read()
    ok(time.monotonic() - t0 >= 1.4, "second half after the pause")
    body = first + rest
    eq(len(body), cl, "full body")
    eq(json.loads(body)["slow"], True, "valid JSON")
    c.close()


def t_close_mid_body(srv):
    c = srv.conn()
    c.request("GET", "/close-mid-body")
    r = c.getresponse()
    eq(r.status, 200, "status")
    eq(r.getheader("Content-Length"), "10000", "declared length")
    try:
        data = r.read()
        raise AssertionError("expected IncompleteRead, got %d bytes" % len(data))
    except http.client.IncompleteRead as e:
        eq(len(e.partial), 100, "partial bytes")
    c.close()


def t_invalid_json(srv):
    r = get(srv, "/invalid-json")
    eq((r.status, r.headers["Content-Type"], r.body),
       (200, "application/json", b'{"a": 1,'), "invalid json")


def t_big(srv):
    n = 5 * 1000 * 1000 + 3
    r = get(srv, "/big?bytes=%d" % n, timeout=30)
    eq(len(r.body), n, "length")
    eq(r.headers["Content-Length"], str(n), "content-length")
    eq(len(json.loads(r.body)["big"]), n - 10, "valid JSON")
    c = srv.conn(timeout=30)
    c.request("GET", "/big?bytes=300000&chunked=1")
    resp = c.getresponse()
    eq(resp.getheader("Transfer-Encoding"), "chunked", "chunked variant")
    eq(len(resp.read()), 300000, "chunked length")
    c.request("GET", "/big?bytes=5")      # same connection after a chunked body
    eq(c.getresponse().read(), b"xxxxx", "tiny")
    c.close()


def t_gzip_deflate(srv):
    expected = {"compressed": True, "pad": "x" * 2000}
    r = get(srv, "/gzip", headers={"Accept-Encoding": "gzip, deflate"})
    eq(r.headers["Content-Encoding"], "gzip", "gzip encoding")
    eq(int(r.headers["Content-Length"]), len(r.body), "compressed length")
    ok(len(r.body) < 200, "actually compressed")
    eq(json.loads(gzip.decompress(r.body)), expected, "gzip body")
    r = get(srv, "/gzip")
    eq(r.headers.get("Content-Encoding"), None, "no AE -> identity")
    eq(r.json(), expected, "identity body")
    r = get(srv, "/gzip", headers={"Accept-Encoding": "gzip;q=0, identity"})
    eq(r.headers.get("Content-Encoding"), None, "q=0 refuses gzip")
    r = get(srv, "/deflate", headers={"Accept-Encoding": "deflate"})
    eq(r.headers["Content-Encoding"], "deflate", "deflate encoding")
    eq(json.loads(zlib.decompress(r.body)), expected, "deflate body")
    r = get(srv, "/deflate", headers={"Accept-Encoding": "gzip"})
    eq(r.headers.get("Content-Encoding"), None, "deflate not accepted")
    r = get(srv, "/gzip?force=1")
    eq(r.headers["Content-Encoding"], "gzip", "force")


def t_redirect(srv):
    r = get(srv, "/redirect?n=3")
    eq((r.status, r.json()["redirected"]), (200, True), "followed")
    r = get(srv, "/redirect?n=3", opener=srv.noredirect)
    eq(r.status, 302, "302")
    eq(r.headers["Location"], "/redirect?n=2", "Location")
    r = get(srv, "/redirect?n=0", opener=srv.noredirect)
    eq(r.json(), {"redirected": True, "method": "GET"}, "n=0")
    r = get(srv, "/redirect?n=2&code=307&absolute=1", opener=srv.noredirect)
    eq(r.status, 307, "307")
    eq(r.headers["Location"], srv.base + "/redirect?n=1&code=307&absolute=1", "abs")
    r = get(srv, "/redirect-loop", opener=srv.noredirect)
    eq((r.status, r.headers["Location"]), (302, "/redirect-loop"), "loop")
    r = get(srv, "/redirect-loop")       # urllib gives up on the loop
    eq(r.status, 302, "urllib detects the loop")
    eq(len(requests_log(srv, "/redirect-loop")) >= 5, True, "loop followed a few times")


def t_headers(srv):
    c = srv.conn()
    c.request("GET", "/headers")
    r = c.getresponse()
    r.read()
    eq(r.msg.get_all("Set-Cookie"), ["a=1; Path=/", "b=2; Path=/"], "cookies")
    eq(r.msg.get_all("X-Multi"), ["one", "two"], "X-Multi")
    eq(r.getheader("X-Request-Id"), "abc", "X-Request-Id")
    c.close()


def t_methods(srv):
    for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"):
        r = call(srv, m, "/methods", body=b"x" if m in ("POST", "PUT", "PATCH") else None)
        eq((r.status, r.json()), (200, {"method": m}), m)
    r = call(srv, "HEAD", "/methods")
    eq((r.status, r.body), (200, b""), "HEAD")
    got = [post(srv, "/methods?fail=2&key=mk1&code=503", body=b"{}") for _ in range(3)]
    eq([g.status for g in got], [503, 503, 200], "POST fail=2")
    eq(got[2].json(), {"method": "POST", "attempt": 3}, "attempt")


def collect(srv, first, nxt, extract):
    ids, url, pages = [], first, 0
    while url is not None:
        r = get(srv, None, url=url) if url.startswith("http") else get(srv, url)
        eq(r.status, 200, "page status " + url)
        ids += [rec["id"] for rec in extract(r)]
        url = nxt(r)
        pages += 1
        ok(pages < 50, "too many pages")
    return ids, pages


def t_pages(srv):
    want = list(range(1, 96))
    # page number
    r = get(srv, "/pages/number")
    j = r.json()
    eq((j["page"], j["per_page"], j["total"], j["total_pages"]), (1, 10, 95, 10), "meta")
    eq(j["data"][0], {"id": 1, "name": "rec-1"}, "record shape")
    ids = []
    for p in range(1, 8):
        j = get(srv, "/pages/number?page=%d&per_page=15" % p).json()
        eq(j["total_pages"], 7, "total_pages")
        ids += [d["id"] for d in j["data"]]
    eq(ids, want, "page-number ids")
    eq(get(srv, "/pages/number?page=8&per_page=15").json()["data"], [], "past end")
    # offset
    ids, off = [], 0
    while True:
        j = get(srv, "/pages/offset?offset=%d&limit=20" % off).json()
        eq((j["offset"], j["limit"], j["count"]), (off, 20, 95), "offset meta")
        if not j["results"]:
            break
        ids += [d["id"] for d in j["results"]]
        off += len(j["results"])
    eq(ids, want, "offset ids")
    eq(len(get(srv, "/pages/offset").json()["results"]), 10, "offset default")
    # cursor
    ids, pages = collect(
        srv, "/pages/cursor",
        lambda r: (None if r.json()["next_cursor"] is None else
                   "/pages/cursor?cursor=" + urllib.parse.quote(r.json()["next_cursor"])),
        lambda r: r.json()["items"])
    eq((ids, pages), (want, 10), "cursor")
    eq(get(srv, "/pages/cursor?cursor=%21bogus").status, 400, "bad cursor")
    # hubspot
    ids, pages = collect(
        srv, "/pages/hubspot?limit=25",
        lambda r: ("/pages/hubspot?limit=25&after=" + r.json()["paging"]["next"]["after"]
                   if "paging" in r.json() else None),
        lambda r: r.json()["results"])
    eq((ids, pages), (want, 4), "hubspot")
    ok(isinstance(get(srv, "/pages/hubspot").json()["paging"]["next"]["after"], str),
       "after is a string")
    # zendesk
    def zd_next(r):
        m = r.json()["meta"]
        ok(isinstance(m["after_cursor"], str), "after_cursor str")
        if not m["has_more"]:
            return None
        return "/pages/zendesk?page%5Bsize%5D=30&page%5Bafter%5D=" + \
            urllib.parse.quote(m["after_cursor"])
    ids, pages = collect(srv, "/pages/zendesk?page[size]=30", zd_next,
                         lambda r: r.json()["tickets"])
    eq((ids, pages), (want, 4), "zendesk")
    # link header
    r = get(srv, "/pages/link?page=1&per_page=40")
    eq(r.headers["Link"],
       '<%s/pages/link?page=2&per_page=40>; rel="next", '
       '<%s/pages/link?page=1&per_page=40>; rel="first"' % (srv.base, srv.base),
       "Link header")
    ok(isinstance(r.json(), list), "array body")

    def link_next(r):
        for part in r.headers["Link"].split(","):
            url, _, rel = part.strip().partition(";")
            if 'rel="next"' in rel:
                return url.strip()[1:-1]
        return None
    ids, pages = collect(srv, "/pages/link?per_page=40", link_next, lambda r: r.json())
    eq((ids, pages), (want, 3), "link")
    r = get(srv, "/pages/link?page=3&per_page=40")
    ok('rel="next"' not in r.headers["Link"], "no next on last page")
    ok('rel="first"' in r.headers["Link"], "first on last page")
    # absolute URLs follow the Host header
    c = srv.conn(host="localhost") if srv.tls else srv.conn()
    c.request("GET", "/pages/link", headers={"Host": "localhost:%d" % srv.port})
    resp = c.getresponse()
    resp.read()
    ok(("%s://localhost:%d/pages/link?page=2" % (srv.scheme, srv.port))
       in resp.getheader("Link"), "Link uses Host")
    c.close()


def t_oauth(srv):
    form = "grant_type=client_credentials&client_id=ferry-client&client_secret=s3cr3t-value"
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    r = post(srv, "/oauth/token", body=form, headers=ctype)
    eq(r.status, 200, "token")
    j = r.json()
    eq((j["token_type"], j["expires_in"]), ("Bearer", 3600), "token fields")
    ok(j["access_token"].startswith("tok-"), "tok-<n>")
    tok1 = j["access_token"]
    basic = base64.b64encode(b"ferry-client:s3cr3t-value").decode()
    r = post(srv, "/oauth/token?expires_in=1", body="grant_type=client_credentials",
             headers=dict(ctype, Authorization="Basic " + basic))
    eq(r.status, 200, "basic auth token")
    short = r.json()
    eq(short["expires_in"], 1, "expires_in option")
    ok(short["access_token"] != tok1, "distinct tokens")
    bad = post(srv, "/oauth/token", body=form.replace("s3cr3t", "wrong"), headers=ctype)
    eq((bad.status, bad.json()), (401, {"error": "invalid_client"}), "bad secret")
    bad = post(srv, "/oauth/token", body="grant_type=client_credentials",
               headers=dict(ctype, Authorization="Basic " +
                            base64.b64encode(b"ferry-client:nope").decode()))
    eq(bad.status, 401, "bad basic")
    eq(post(srv, "/oauth/token", body=form.replace("client_credentials", "password"),
            headers=ctype).status, 400, "bad grant")
    # protected
    r = get(srv, "/oauth/protected", headers={"Authorization": "Bearer " + tok1})
    eq((r.status, r.json()), (200, {"ok": True, "token": tok1}), "protected ok")
    r = get(srv, "/oauth/protected")
    eq(r.status, 401, "no token")
    ok(r.headers["WWW-Authenticate"].startswith("Bearer"), "challenge")
    eq(get(srv, "/oauth/protected",
           headers={"Authorization": "Bearer tok-99999"}).status, 401, "unknown token")
    eq(get(srv, "/oauth/protected", headers={
        "Authorization": "Bearer " + short["access_token"]}).status, 200, "short ok")
    time.sleep(1.1)
    r = get(srv, "/oauth/protected",
            headers={"Authorization": "Bearer " + short["access_token"]})
    eq(r.status, 401, "expired")
    eq(r.json()["error_description"], "token expired", "expired reason")
    # revoke-all then refresh
    r = post(srv, "/oauth/revoke-all")
    eq(r.status, 200, "revoke")
    ok(r.json()["revoked"] >= 1, "revoked count")
    r = get(srv, "/oauth/protected", headers={"Authorization": "Bearer " + tok1})
    eq((r.status, r.json()["error_description"]), (401, "token revoked"), "revoked")
    tok3 = post(srv, "/oauth/token", body=form, headers=ctype).json()["access_token"]
    eq(get(srv, "/oauth/protected",
           headers={"Authorization": "Bearer " + tok3}).status, 200, "new token")
    ok(get(srv, "/_stats").json()["tokens_issued"] >= 3, "stats")


def t_auth(srv):
    eq(get(srv, "/auth/bearer?expect=abc",
           headers={"Authorization": "Bearer abc"}).status, 200, "bearer ok")
    r = get(srv, "/auth/bearer?expect=abc", headers={"Authorization": "Bearer abd"})
    eq(r.status, 401, "bearer bad")
    ok("Bearer" in r.headers["WWW-Authenticate"], "bearer challenge")
    eq(get(srv, "/auth/bearer?expect=abc").status, 401, "bearer missing")
    b = base64.b64encode(b"alice:p@ss:word").decode()
    eq(get(srv, "/auth/basic?user=alice&pass=p%40ss%3Aword",
           headers={"Authorization": "Basic " + b}).status, 200, "basic ok")
    eq(get(srv, "/auth/basic?user=alice&pass=other",
           headers={"Authorization": "Basic " + b}).status, 401, "basic bad")
    eq(get(srv, "/auth/apikey?header=X-Api-Key&expect=K1",
           headers={"X-Api-Key": "K1"}).status, 200, "apikey ok")
    eq(get(srv, "/auth/apikey?header=X-Custom&expect=K1",
           headers={"x-custom": "K1"}).status, 200, "apikey header case-insensitive")
    eq(get(srv, "/auth/apikey?header=X-Api-Key&expect=K1",
           headers={"X-Api-Key": "K2"}).status, 401, "apikey bad")
    eq(get(srv, "/auth/apikey-query?param=api_key&expect=K1&api_key=K1").status,
       200, "query ok")
    eq(get(srv, "/auth/apikey-query?param=token&expect=K1&token=nope").status,
       401, "query bad")


def t_not_found(srv):
    r = get(srv, "/no/such/route")
    eq(r.status, 404, "404")
    eq(r.headers["Content-Type"], "application/json", "json 404")
    eq(r.json()["status"], 404, "404 body")


def t_request_log(srv):
    eq(post(srv, "/_reset").status, 200, "reset")
    eq(requests_log(srv), [], "empty after reset")
    get(srv, "/echo?x=1")
    post(srv, "/echo", body=b"\xff\xfe\x00binary")
    get(srv, "/status/418")
    log = requests_log(srv)
    eq([e["path"] for e in log], ["/echo", "/echo", "/status/418"], "control routes excluded")
    e0, e1, e2 = log
    eq((e0["method"], e0["query"]), ("GET", {"x": ["1"]}), "method/query")
    ok("host" in e0["headers"], "headers lowercased")
    eq(e1["body_encoding"], "base64", "binary body encoded")
    eq(base64.b64decode(e1["body"]), b"\xff\xfe\x00binary", "binary body")
    eq(e2["status"], 418, "response status recorded")
    ok(e0["t_mono"] <= e1["t_mono"] <= e2["t_mono"], "monotonic timestamps")
    ok(abs(e0["t_wall"] - time.time()) < 10, "wall time")
    ok(e0["t_mono"] <= time.monotonic(), "CLOCK_MONOTONIC shared with this process")
    eq(len(requests_log(srv, "/status")), 1, "prefix filter")
    # reset clears per-key state
    eq(get(srv, "/flaky?key=rst&fail=1").status, 503, "flaky 1")
    eq(get(srv, "/flaky?key=rst&fail=1").status, 200, "flaky 2")
    post(srv, "/_reset")
    eq(get(srv, "/flaky?key=rst&fail=1").status, 503, "flaky restarts after reset")
    eq(get(srv, "/_reset").status, 405, "reset needs POST")


def t_keepalive(srv):
    post(srv, "/_reset")
    c = srv.conn()
    c.request("GET", "/json?size=500")
    r = c.getresponse()
    eq(len(r.read()), 500, "1")
    sock = c.sock
    ok(sock is not None, "socket open")
    steps = [
        ("POST", "/echo", b'{"a":1}', {"Content-Type": "application/json"}, 200),
        ("GET", "/nope", None, {}, 404),
        ("GET", "/status/204", None, {}, 204),
        ("HEAD", "/json", None, {}, 200),
        ("GET", "/gzip", None, {"Accept-Encoding": "gzip"}, 200),
        ("GET", "/status/503", None, {}, 503),
        ("PUT", "/methods", b"x" * 5000, {}, 200),
        ("GET", "/headers", None, {}, 200),
    ]
    for m, p, b, h, code in steps:
        c.request(m, p, body=b, headers=h)
        r = c.getresponse()
        data = r.read()
        eq(r.status, code, "%s %s" % (m, p))
        ok(not r.will_close, "server keeps %s %s alive" % (m, p))
        ok(c.sock is sock, "same socket after %s %s" % (m, p))
        if m == "HEAD":
            eq(data, b"", "HEAD no body")
    c.close()
    log = requests_log(srv)
    eq(len(log), 1 + len(steps), "all logged")
    eq(len({e["conn_id"] for e in log}), 1, "one server-side connection")
    # explicit Connection: close is honoured
    c = srv.conn()
    c.request("GET", "/echo", headers={"Connection": "close"})
    r = c.getresponse()
    r.read()
    ok(r.will_close, "Connection: close honoured")
    c.close()


def t_chunked_upload(srv):
    c = srv.conn()
    c.request("POST", "/echo", body=iter([b'{"part":', b' "one"}']),
              headers={"Content-Type": "application/json"}, encode_chunked=True)
    r = c.getresponse()
    eq(json.loads(r.read())["json"], {"part": "one"}, "chunked request body")
    c.request("GET", "/echo")                 # connection still in sync
    eq(c.getresponse().status, 200, "after chunked")
    c.close()


def t_64_clients(srv):
    barrier = threading.Barrier(64)

    def client(i):
        c = srv.conn(timeout=30)
        barrier.wait(30)
        out = []
        for k in range(5):
            body = json.dumps({"client": i, "k": k}).encode()
            c.request("POST", "/echo", body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            out.append(json.loads(r.read())["json"] == {"client": i, "k": k})
            c.request("GET", "/json?size=4096")
            r = c.getresponse()
            out.append(r.status == 200 and len(r.read()) == 4096)
        c.close()
        return all(out)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        results = list(ex.map(client, range(64)))
    eq(results, [True] * 64, "64 concurrent keep-alive clients")
    ok(time.monotonic() - t0 < 30, "in reasonable time")
    eq(get(srv, "/echo").status, 200, "still healthy")


def t_tls_only(srv):
    if not srv.tls:
        return
    r = get(srv, None, url="https://localhost:%d/echo" % srv.port)
    eq(r.status, 200, "hostname localhost verifies")
    # a client offering h2 (as an nghttp2-enabled libcurl does) gets http/1.1
    actx = ssl.create_default_context(cafile=os.path.join(srv.tls, "ca.pem"))
    actx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
        with actx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            eq(s.selected_alpn_protocol(), "http/1.1", "ALPN")
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Connection: close\r\n\r\n")
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            ok(data.startswith(b"HTTP/1.1 200"), "raw TLS request")
    bare = ssl.create_default_context()   # system CAs only: must be rejected
    try:
        urllib.request.urlopen(srv.base + "/echo", context=bare, timeout=5)
        raise AssertionError("untrusted cert accepted")
    except urllib.error.URLError as e:
        ok(isinstance(e.reason, ssl.SSLCertVerificationError), "verify error %r" % e)
    # a plain-HTTP client on the TLS port must not wedge the server
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
    eq(get(srv, "/echo").status, 200, "healthy after garbage handshake")


TESTS = [t_startup, t_echo, t_json, t_status, t_flaky, t_retry_after, t_ratelimit,
         t_hang_timeout, t_hang_does_not_block, t_slow_body, t_close_mid_body,
         t_invalid_json, t_big, t_gzip_deflate, t_redirect, t_headers, t_methods,
         t_pages, t_oauth, t_auth, t_not_found, t_request_log, t_keepalive,
         t_chunked_upload, t_64_clients, t_tls_only]


def run_suite(label, srv, counts):
    for t in TESTS:
        name = "%s %s" % (label, t.__name__[2:])
        if ONLY and ONLY not in name:
            continue
        t0 = time.monotonic()
        try:
            t(srv)
        except Exception as e:  # noqa: BLE001 - report everything
            counts["failed"] += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            continue
        counts["passed"] += 1
        if VERBOSE:
            print("ok   %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)


def main():
    counts = {"passed": 0, "failed": 0}
    work = tempfile.mkdtemp(prefix="fake-api-test.")
    try:
        certs = os.path.join(work, "certs")
        subprocess.run(["sh", MAKE_CERT, certs], check=True,
                       stdout=subprocess.DEVNULL)
        for f in ("ca.pem", "server.pem", "server.key"):
            ok(os.path.exists(os.path.join(certs, f)), "make_cert.sh wrote " + f)

        for label, tls, sig in (("http", None, signal.SIGTERM),
                                ("https", certs, signal.SIGINT)):
            srv = Server(work, tls=tls)
            try:
                run_suite(label, srv, counts)
            finally:
                rc, err = srv.stop(sig)
            name = "%s clean exit on %s" % (label, signal.Signals(sig).name)
            if rc == 0 and not err.strip():
                counts["passed"] += 1
                if VERBOSE:
                    print("ok   " + name)
            else:
                counts["failed"] += 1
                print("FAIL %s: rc=%s stderr=%r" % (name, rc, err[-2000:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("fake_api self-test: %d passed, %d failed" % (counts["passed"], counts["failed"]))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
