#!/usr/bin/env python3
"""Configurable fake HTTP(S) business API for testing ferry's HTTP client.

Python 3 standard library only; independent of ferry.

    python3 tests/fakes/fake_api.py [--tls CERT KEY] [--port-file PATH]
                                    [--host 127.0.0.1] [--port 0] [--verbose]

Binds an ephemeral port by default, writes it (atomically) to --port-file and
prints "listening on PORT" on stdout.  SIGTERM / SIGINT stop it cleanly
(exit status 0).  See tests/fakes/README.md for the list of routes.
"""

import argparse
import base64
import binascii
import datetime
import email.utils
import gzip
import http.server
import itertools
import json
import math
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import zlib
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

SERVER_VERSION = "ferry-fake-api/1.0"

# Records bodies up to this many bytes in the request log.
MAX_LOGGED_BODY = 1 << 20
# Largest request body we accept (a fake; protects against runaway clients).
MAX_REQUEST_BODY = 64 << 20
# Largest /json?size= we build in memory.
MAX_JSON_SIZE = 64 << 20
STREAM_CHUNK = 64 * 1024

OAUTH_CLIENT_ID = "ferry-client"
OAUTH_CLIENT_SECRET = "s3cr3t-value"

DATASET_TOTAL = 95
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

GZIP_PAYLOAD = json.dumps({"compressed": True, "pad": "x" * 2000}).encode()


class BadRequest(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


# --------------------------------------------------------------------------
# Shared state
# --------------------------------------------------------------------------

class State:
    """Everything routes remember between requests. /_reset clears it."""

    def __init__(self):
        self.lock = threading.Lock()
        self._seq = itertools.count(1)
        self._conn_seq = itertools.count(1)
        self.reset()

    def reset(self):
        with self.lock:
            self.log = []
            self.counters = {}          # (namespace, key) -> int
            self.deadlines = {}         # (namespace, key) -> monotonic deadline
            self.tokens = {}            # token -> {"expires_at": mono, "revoked": bool}
            self.tokens_issued = 0

    def next_conn_id(self):
        with self.lock:
            return next(self._conn_seq)

    def add_log(self, entry):
        with self.lock:
            entry["id"] = next(self._seq)
            self.log.append(entry)

    def set_log_status(self, entry, status):
        with self.lock:
            entry["status"] = status

    def bump(self, namespace, key):
        """Increments and returns the per-key attempt counter (1-based)."""
        with self.lock:
            k = (namespace, key)
            n = self.counters.get(k, 0) + 1
            self.counters[k] = n
            return n

    def snapshot(self, path_prefix=None, method=None):
        with self.lock:
            out = []
            for e in self.log:
                if path_prefix and not e["path"].startswith(path_prefix):
                    continue
                if method and e["method"] != method.upper():
                    continue
                out.append(dict(e))
            return out


# --------------------------------------------------------------------------
# Deterministic data
# --------------------------------------------------------------------------

_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret",
          "Ken", "Dennis", "Radia", "Linus", "Frances", "John", "Hedy"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth",
         "Hamilton", "Thompson", "Ritchie", "Perlman", "Torvalds", "Allen",
         "Backus", "Lamarr"]
_COMPANY = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Ind",
            "Wayne Ent", "Soylent", "Tyrell", "Cyberdyne", "Vandelay"]
_TITLE = ["CTO", "VP Sales", "Head of Ops", "Engineer", "Buyer", "CFO",
          "Office Manager", "Analyst"]
_STAGE = ["lead", "marketingqualifiedlead", "salesqualifiedlead",
          "opportunity", "customer", "evangelist"]
_SOURCE = ["web", "referral", "trade_show", "cold_call", "partner", "ads"]
_CITY = [("Paris", "FR"), ("Berlin", "DE"), ("Lyon", "FR"), ("Madrid", "ES"),
         ("Austin", "US"), ("Toronto", "CA"), ("Osaka", "JP"),
         ("Milan", "IT"), ("Leeds", "GB")]


def crm_record(i):
    first = _FIRST[i % len(_FIRST)]
    last = _LAST[(i * 7) % len(_LAST)]
    city, country = _CITY[(i * 5) % len(_CITY)]
    created = 1704067200 + i * 3600          # 2024-01-01T00:00:00Z + i hours
    updated = created + (i % 50) * 86400
    return {
        "id": i,
        "first_name": first,
        "last_name": last,
        "email": "%s.%s%d@example.com" % (first.lower(), last.lower(), i),
        "phone": "+33 1 %02d %02d %02d %02d" % (i % 100, (i * 3) % 100,
                                                (i * 7) % 100, (i * 11) % 100),
        "company": _COMPANY[(i * 3) % len(_COMPANY)],
        "job_title": _TITLE[i % len(_TITLE)],
        "lifecycle_stage": _STAGE[i % len(_STAGE)],
        "lead_source": _SOURCE[(i * 2) % len(_SOURCE)],
        "city": city,
        "country": country,
        "annual_revenue": (i * 7919) % 5000000 + 10000,
        "owner_id": 100 + i % 9,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(updated)),
    }


_json_cache = {}
_json_cache_lock = threading.Lock()


def json_of_size(size):
    """A JSON object of exactly `size` bytes when size >= ~60, deterministic."""
    with _json_cache_lock:
        cached = _json_cache.get(size)
    if cached is not None:
        return cached

    def render(recs, pad):
        return ('{"object":"contact","count":%d,"records":[%s],"pad":"%s"}'
                % (len(recs), ",".join(recs), "x" * pad)).encode()

    # len(render(recs, 0)) == fixed + len(str(k)) + sum(len(r)) + max(k - 1, 0)
    fixed = len(render([], 0)) - 1
    recs = []
    total = 0
    i = 1
    while True:
        r = json.dumps(crm_record(i), separators=(",", ":"))
        k = len(recs) + 1
        if fixed + len(str(k)) + total + len(r) + (k - 1) > size:
            break
        recs.append(r)
        total += len(r)
        i += 1
    body = render(recs, max(0, size - len(render(recs, 0))))
    if size <= 1 << 20:
        with _json_cache_lock:
            if len(_json_cache) > 64:
                _json_cache.clear()
            _json_cache[size] = body
    return body


def dataset(total):
    return [{"id": i, "name": "rec-%d" % i} for i in range(1, total + 1)]


def encode_cursor(prefix, offset):
    raw = ("%s:%d" % (prefix, offset)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(prefix, value):
    try:
        pad = "=" * (-len(value) % 4)
        raw = base64.urlsafe_b64decode(value + pad).decode()
        p, _, off = raw.partition(":")
        if p != prefix:
            raise ValueError
        off = int(off)
        if off < 0:
            raise ValueError
        return off
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("invalid cursor %r" % value)


def accepts_encoding(header, coding):
    """True if an Accept-Encoding header value accepts `coding` (q > 0)."""
    if not header:
        return False
    for part in header.split(","):
        bits = [b.strip() for b in part.split(";")]
        name = bits[0].lower()
        q = 1.0
        for b in bits[1:]:
            if b.lower().startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        if name in (coding, "x-" + coding, "*") and q > 0:
            return True
    return False


# --------------------------------------------------------------------------
# Handler
# --------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_VERSION
    sys_version = ""
    # Idle keep-alive connections (and stalled clients) are dropped after this.
    timeout = 300

    # Any method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, custom ones)
    # is dispatched to the same router.
    def __getattr__(self, name):
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    # ---- plumbing ---------------------------------------------------------

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        self.conn_id = self.server.state.next_conn_id()

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_api: %s - %s\n"
                             % (self.address_string(), fmt % args))

    def parse_request(self):
        # Stamp the request as soon as its request line is in.
        self.t_mono = time.monotonic()
        self.t_wall = time.time()
        self._headers_sent = False
        self._status = None
        return super().parse_request()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                total += size
                if total > MAX_REQUEST_BODY:
                    raise BadRequest("request body too large", 413)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)   # CRLF after the chunk
            return b"".join(chunks)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            raise BadRequest("bad Content-Length")
        if n < 0:
            raise BadRequest("bad Content-Length")
        if n > MAX_REQUEST_BODY:
            raise BadRequest("request body too large", 413)
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("short request body")
        return data

    def _write(self, data):
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _start(self, status, headers=(), content_length=None,
               content_type="application/json", body=None):
        self._status = status
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection and not any(k.lower() == "connection"
                                             for k, _ in headers):
            # The client asked for close (or spoke HTTP/1.0): say so.
            self.send_header("Connection", "close")
        if content_length is not None:
            self.send_header("Content-Length", str(content_length))
        # end_headers(), but with a small body in the same write: two small
        # writes would trip Nagle + delayed ACK (40 ms stalls on keep-alive).
        self._headers_buffer.append(b"\r\n")
        if body and self.command != "HEAD" and len(body) <= STREAM_CHUNK:
            self._headers_buffer.append(body)
            body = None
        self.flush_headers()
        self._headers_sent = True
        if body:
            self._write(body)

    def send_raw(self, status, body, headers=(), content_type="application/json"):
        if isinstance(body, str):
            body = body.encode()
        if status in (204, 304):
            self._start(status, headers, None, None)
            self.wfile.flush()
            return
        self._start(status, headers, len(body), content_type, body)

    def send_json(self, status, obj, headers=()):
        self.send_raw(status, json.dumps(obj).encode(), headers)

    def send_err(self, status, message, headers=(), **extra):
        obj = {"error": message, "status": status}
        obj.update(extra)
        self.send_json(status, obj, headers)

    def host_base(self):
        host = self.headers.get("Host")
        if not host:
            h, p = self.server.server_address[:2]
            host = "[%s]:%d" % (h, p) if ":" in h else "%s:%d" % (h, p)
        return "%s://%s" % ("https" if self.server.ssl_context else "http", host)

    # query helpers
    def q(self, name, default=None):
        v = self.query.get(name)
        return v[-1] if v else default

    def q_int(self, name, default, lo=None, hi=None):
        v = self.q(name)
        if v is None or v == "":
            return default
        try:
            n = int(v)
        except ValueError:
            raise BadRequest("query parameter %s must be an integer" % name)
        if lo is not None and n < lo:
            raise BadRequest("query parameter %s must be >= %d" % (name, lo))
        if hi is not None and n > hi:
            raise BadRequest("query parameter %s must be <= %d" % (name, hi))
        return n

    def q_float(self, name, default, lo=0.0, hi=3600.0):
        v = self.q(name)
        if v is None or v == "":
            return default
        try:
            f = float(v)
        except ValueError:
            raise BadRequest("query parameter %s must be a number" % name)
        if not (lo <= f <= hi):
            raise BadRequest("query parameter %s out of range" % name)
        return f

    def headers_dict(self):
        d = {}
        for k, v in self.headers.items():
            k = k.lower()
            d[k] = d[k] + ", " + v if k in d else v
        return d

    # ---- dispatch ---------------------------------------------------------

    def _dispatch(self):
        split = urlsplit(self.path)
        self.route_path = unquote(split.path) or "/"
        self.query_string = split.query
        self.query = parse_qs(split.query, keep_blank_values=True)
        control = self.route_path.startswith("/_")
        entry = None
        try:
            self.body = self._read_body()
        except BadRequest as e:
            self.close_connection = True
            self.send_err(e.status, e.message)
            return
        except (ValueError, ConnectionError, OSError):
            self.close_connection = True
            return

        if not control:
            entry = self._log_entry()
            self.server.state.add_log(entry)

        try:
            self.route()
        except BadRequest as e:
            if not self._headers_sent:
                self.send_err(e.status, e.message)
            else:
                self.close_connection = True
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: answer 500, keep going
            if self.server.verbose:
                import traceback
                traceback.print_exc()
            if not self._headers_sent:
                try:
                    self.send_err(500, "fake server error: %r" % (e,))
                except OSError:
                    self.close_connection = True
            else:
                self.close_connection = True
        finally:
            if entry is not None:
                self.server.state.set_log_status(entry, self._status)
            try:
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    def _log_entry(self):
        body = self.body
        logged = body[:MAX_LOGGED_BODY]
        entry = {
            "method": self.command,
            "path": self.route_path,
            "query": self.query,
            "query_string": self.query_string,
            "headers": self.headers_dict(),
            "header_list": [[k, v] for k, v in self.headers.items()],
            "body_length": len(body),
            "t_mono": self.t_mono,
            "t_wall": self.t_wall,
            "conn_id": self.conn_id,
            "client_port": self.client_address[1],
            "http_version": self.request_version,
            "tls": self.server.ssl_context is not None,
            "status": None,
        }
        try:
            entry["body"] = logged.decode("utf-8")
            entry["body_encoding"] = "utf-8"
        except UnicodeDecodeError:
            entry["body"] = base64.b64encode(logged).decode()
            entry["body_encoding"] = "base64"
        if len(body) > MAX_LOGGED_BODY:
            entry["body_truncated"] = True
        return entry

    def route(self):
        p = self.route_path
        if len(p) > 1 and p.endswith("/"):
            p = p.rstrip("/")
        exact = ROUTES.get(p)
        if exact:
            return exact(self)
        if p.startswith("/status/"):
            return self.r_status(p[len("/status/"):])
        if p.startswith("/html/"):
            return self.r_html_error(p[len("/html/"):])
        self.send_err(404, "not found", path=self.route_path)

    # ---- control routes ---------------------------------------------------

    def r_requests(self):
        reqs = self.server.state.snapshot(self.q("path_prefix"), self.q("method"))
        self.send_json(200, {"count": len(reqs), "requests": reqs})

    def r_reset(self):
        if self.command != "POST":
            return self.send_err(405, "use POST", headers=[("Allow", "POST")])
        self.server.state.reset()
        self.send_json(200, {"reset": True})

    def r_stats(self):
        st = self.server.state
        with st.lock:
            obj = {
                "requests_logged": len(st.log),
                "tokens_issued": st.tokens_issued,
                "tokens_active": sum(1 for t in st.tokens.values()
                                     if not t["revoked"]
                                     and t["expires_at"] > time.monotonic()),
                "counters": {"%s:%s" % k: v for k, v in st.counters.items()},
            }
        self.send_json(200, obj)

    def r_health(self):
        self.send_json(200, {"ok": True})

    # ---- basic routes -----------------------------------------------------

    def r_echo(self):
        body = self.body
        obj = {
            "method": self.command,
            "path": self.route_path,
            "query": self.query,
            "headers": self.headers_dict(),
            "body": body.decode("utf-8", errors="replace"),
            "json": None,
        }
        try:
            obj["json"] = json.loads(body) if body else None
        except ValueError:
            obj["json"] = None
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            obj["body_base64"] = base64.b64encode(body).decode()
        self.send_json(200, obj)

    def r_json(self):
        """A JSON object of `size` bytes (shape=numbers: an array of ones);
        invalid=1 cuts its last byte (the text ends inside the value);
        type= sets its Content-Type."""
        size = self.q_int("size", 10240, 0, MAX_JSON_SIZE)
        if self.q("shape") == "numbers":
            body = ("[" + ",".join(["1"] * max(size // 2, 1)) + "]").encode()
        else:
            body = json_of_size(size)
        if self.q("invalid") in ("1", "true", "yes"):
            body = body[:-1]
        self.send_raw(200, body, content_type=self.q("type") or "application/json")

    def r_status(self, code_s):
        try:
            code = int(code_s)
        except ValueError:
            raise BadRequest("status must be an integer")
        if not 200 <= code <= 599:
            raise BadRequest("status must be in 200..599")
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = "status %d" % code
        headers = []
        if code == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="fake-api"'))
        loc = self.q("location")
        if loc:
            headers.append(("Location", loc))
        ra = self.q("retry_after")
        if ra is not None:
            headers.append(("Retry-After", ra))
        pad = self.q_int("pad", 0, 0, 1 << 20)     # a long message, as vendors' validation errors are
        self.send_err(code, reason + ("; allowed: " + "x" * pad if pad else ""), headers)

    def r_html_error(self, code_s):
        """An error page as a web server or proxy sends it: HTML, many lines,
        tabs, non-ASCII text, the requested path and query echoed back."""
        try:
            code = int(code_s)
        except ValueError:
            raise BadRequest("status must be an integer")
        if not 400 <= code <= 599:
            raise BadRequest("status must be in 400..599")
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = "Error"
        target = self.path.replace("&", "&amp;").replace("<", "&lt;")
        page = (
            "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n"
            "\t<meta charset=\"utf-8\">\n\t<title>%d %s</title>\n</head>\n<body>\n"
            "\t<h1>%s</h1>\n"
            "\t<p>Die angeforderte Seite wurde auf diesem Server nicht gefunden – "
            "überprüfen Sie die Adresse. Ça n’existe pas ici. "
            "Запрошенная страница не найдена.</p>\n"
            "\t<p>The requested URL %s was not found on this server.</p>\n"
            "\t<hr>\n\t<address>ferry-fake-api/1.0 at 127.0.0.1</address>\n"
            "%s"
            "\t<!-- end of the fake error page -->\n</body>\n</html>\n"
        ) % (code, reason, reason, target, "\t<!-- padding -->\n" * 40)
        self.send_raw(code, page, content_type="text/html; charset=utf-8")

    def r_flaky(self):
        key = self.q("key", "default")
        fail = self.q_int("fail", 1, 0)
        code = self.q_int("code", 503, 200, 599)
        n = self.server.state.bump("flaky", key)
        if n <= fail:
            return self.send_err(code, "flaky failure", attempt=n, key=key)
        self.send_json(200, {"ok": True, "attempt": n})

    def r_retry_after(self):
        key = self.q("key", "default")
        mode = self.q("mode", "seconds")
        value = self.q("value", "1")
        code = self.q_int("code", 429, 200, 599)
        times = self.q_int("times", 1, 0)
        n = self.server.state.bump("retry-after", key)
        if n > times:
            return self.send_json(200, {"ok": True, "attempt": n})
        if mode == "seconds":
            ra = value          # passed through verbatim (lets tests send junk)
        elif mode == "date":
            try:
                secs = float(value)
            except ValueError:
                raise BadRequest("value must be a number in date mode")
            # HTTP-dates have 1 s resolution: round up so the date is never
            # earlier than now + value.
            ra = email.utils.formatdate(math.ceil(time.time() + secs), usegmt=True)
        else:
            raise BadRequest("mode must be seconds or date")
        self.send_err(code, "retry later", [("Retry-After", ra)],
                      attempt=n, retry_after=ra)

    def r_ratelimit_headers(self):
        key = self.q("key", "default")
        reset = self.q_int("reset", 2, 0, 3600)
        style = self.q("style", "github")
        enforce = self.q("enforce") in ("1", "true", "yes")
        first = self.q_int("first", 200, 200, 429)
        if style not in ("github", "ietf", "atlassian", "hubspot"):
            raise BadRequest("style must be github, ietf, atlassian or hubspot")
        st = self.server.state
        n = st.bump("ratelimit", key)
        now = time.monotonic()
        if n == 1:
            with st.lock:
                st.deadlines[("ratelimit", key)] = now + reset
            if style == "github":
                headers = [("X-RateLimit-Limit", "60"),
                           ("X-RateLimit-Remaining", "0"),
                           ("X-RateLimit-Reset", str(math.ceil(time.time() + reset)))]
            elif style == "atlassian":      # an ISO 8601 time, milliseconds
                at = datetime.datetime.fromtimestamp(time.time() + reset, datetime.timezone.utc)
                headers = [("X-RateLimit-Limit", "60"),
                           ("X-RateLimit-Remaining", "0"),
                           ("X-RateLimit-Reset", at.strftime("%Y-%m-%dT%H:%M:%S.") +
                            "%03dZ" % (at.microsecond // 1000))]
            elif style == "hubspot":        # the window's length, ms
                headers = [("X-HubSpot-RateLimit-Max", "100"),
                           ("X-HubSpot-RateLimit-Remaining", "0" if first == 200 else "37"),
                           ("X-HubSpot-RateLimit-Interval-Milliseconds", str(reset * 1000))]
            else:
                headers = [("RateLimit-Limit", "60"),
                           ("RateLimit-Remaining", "0"),
                           ("RateLimit-Reset", str(reset))]
            if first == 429:
                return self.send_json(429, {"status": "error", "errorType": "RATE_LIMIT",
                                            "message": "You have reached your secondly limit."},
                                      headers)
            return self.send_json(200, {"ok": True, "attempt": n, "page": n},
                                  headers)
        if enforce:
            with st.lock:
                deadline = st.deadlines.get(("ratelimit", key), 0)
            if now < deadline:
                return self.send_err(429, "rate limit exceeded", attempt=n,
                                     early_by=round(deadline - now, 3))
        self.send_json(200, {"ok": True, "attempt": n, "page": n})

    def r_hang(self):
        secs = self.q_float("seconds", 10.0)
        time.sleep(secs)
        self.send_json(200, {"slept": secs})

    def r_slow_body(self):
        secs = self.q_float("seconds", 2.0)
        body = json.dumps({"slow": True, "pad": "y" * 400}).encode()
        half = len(body) // 2
        self._start(200, (), len(body))
        self._write(body[:half])
        self.wfile.flush()
        time.sleep(secs)
        self._write(body[half:])

    def r_close_mid_body(self):
        chunk = (b'{"data":"' + b"z" * 200)[:100]
        self._start(200, [("Connection", "close")], 10000)
        self._write(chunk)
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def r_invalid_json(self):
        self.send_raw(200, b'{"a": 1,')

    def r_big(self):
        n = self.q_int("bytes", 1 << 20, 0, 1 << 40)
        chunked = self.q("chunked") in ("1", "true", "yes")

        def pieces():
            # {"big":"xxxx...x"} when n >= 10, else n x's
            if n >= 10:
                head, tail = b'{"big":"', b'"}'
            else:
                head, tail = b"", b""
            fill = n - len(head) - len(tail)
            yield head
            block = b"x" * STREAM_CHUNK
            while fill > 0:
                k = min(fill, STREAM_CHUNK)
                yield block[:k]
                fill -= k
            yield tail

        if chunked:
            self._start(200, [("Transfer-Encoding", "chunked")])
            for p in pieces():
                if p:
                    self._write(b"%x\r\n%s\r\n" % (len(p), p))
            self._write(b"0\r\n\r\n")
        else:
            self._start(200, (), n)
            for p in pieces():
                self._write(p)

    def _compressed(self, coding, compress):
        force = self.q("force") in ("1", "true", "yes")
        ae = self.headers.get("Accept-Encoding", "")
        if force or accepts_encoding(ae, coding):
            self.send_raw(200, compress(GZIP_PAYLOAD),
                          [("Content-Encoding", coding),
                           ("Vary", "Accept-Encoding")])
        else:
            self.send_raw(200, GZIP_PAYLOAD, [("Vary", "Accept-Encoding")])

    def r_gzip(self):
        self._compressed("gzip", lambda b: gzip.compress(b, mtime=0))

    def r_deflate(self):
        self._compressed("deflate", zlib.compress)

    def _redirect_code(self):
        code = self.q_int("code", 302)
        if code not in (301, 302, 303, 307, 308):
            raise BadRequest("code must be 301, 302, 303, 307 or 308")
        return code

    def r_redirect(self):
        n = self.q_int("n", 1, 0, 1000)
        if n == 0:
            return self.send_json(200, {"redirected": True,
                                        "method": self.command})
        code = self._redirect_code()
        extra = ""
        if code != 302:
            extra += "&code=%d" % code
        absolute = self.q("absolute") in ("1", "true", "yes")
        if absolute:
            extra += "&absolute=1"
        loc = "/redirect?n=%d%s" % (n - 1, extra)
        if absolute:
            loc = self.host_base() + loc
        self.send_err(code, "redirect", [("Location", loc)], location=loc)

    def r_redirect_loop(self):
        self.send_err(302, "redirect loop", [("Location", "/redirect-loop")],
                      location="/redirect-loop")

    def r_headers(self):
        self.send_json(200, {"ok": True}, [
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", "b=2; Path=/"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("X-Request-Id", "abc"),
        ])

    def r_methods(self):
        fail = self.q_int("fail", 0, 0)
        if fail:
            key = self.q("key", "default")
            code = self.q_int("code", 503, 200, 599)
            n = self.server.state.bump("methods", key)
            if n <= fail:
                return self.send_err(code, "methods failure",
                                     method=self.command, attempt=n)
            return self.send_json(200, {"method": self.command, "attempt": n})
        self.send_json(200, {"method": self.command})

    # ---- pagination -------------------------------------------------------

    def _page_params(self, size_name):
        total = self.q_int("total", DATASET_TOTAL, 0, 100000)
        size = self.q_int(size_name, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        return dataset(total), total, size

    def r_pages_number(self):
        data, total, per = self._page_params("per_page")
        page = self.q_int("page", 1, 1)
        start = (page - 1) * per
        self.send_json(200, {
            "data": data[start:start + per],
            "page": page,
            "per_page": per,
            "total": total,
            "total_pages": math.ceil(total / per),
        })

    def r_pages_offset(self):
        data, total, limit = self._page_params("limit")
        off = self.q_int("offset", 0, 0)
        self.send_json(200, {
            "results": data[off:off + limit],
            "offset": off,
            "limit": limit,
            "count": total,
        })

    def r_pages_cursor(self):
        data, total, limit = self._page_params("limit")
        c = self.q("cursor")
        off = decode_cursor("cursor", c) if c else 0
        end = off + limit
        self.send_json(200, {
            "items": data[off:end],
            "next_cursor": encode_cursor("cursor", end) if end < total else None,
        })

    def r_pages_hubspot(self):
        data, total, limit = self._page_params("limit")
        a = self.q("after")
        if a:
            try:
                off = int(a)
            except ValueError:
                raise BadRequest("invalid after %r" % a)
            if off < 0:
                raise BadRequest("invalid after %r" % a)
        else:
            off = 0
        end = off + limit
        obj = {"results": data[off:end]}
        if end < total:
            obj["paging"] = {"next": {"after": str(end)}}
        self.send_json(200, obj)

    def r_pages_zendesk(self):
        data, total, size = self._page_params("page[size]")
        a = self.q("page[after]")
        off = decode_cursor("zd", a) if a else 0
        end = min(off + size, max(total, off))
        has_more = end < total
        after = encode_cursor("zd", end)
        obj = {
            "tickets": data[off:off + size],
            "meta": {"has_more": has_more, "after_cursor": after,
                     "before_cursor": encode_cursor("zd", off)},
            "links": {"next": ("%s/pages/zendesk?page[size]=%d&page[after]=%s"
                               % (self.host_base(), size, after))
                      if has_more else None},
        }
        self.send_json(200, obj)

    def r_pages_link(self):
        data, total, per = self._page_params("per_page")
        page = self.q_int("page", 1, 1)
        start = (page - 1) * per
        base = self.host_base() + "/pages/link"
        extra = "" if total == DATASET_TOTAL else "&total=%d" % total
        links = []
        if start + per < total:
            links.append('<%s?page=%d&per_page=%d%s>; rel="next"'
                         % (base, page + 1, per, extra))
        links.append('<%s?page=1&per_page=%d%s>; rel="first"' % (base, per, extra))
        self.send_json(200, data[start:start + per], [("Link", ", ".join(links))])

    # ---- OAuth2 client credentials ---------------------------------------

    def _form(self):
        ctype = (self.headers.get("Content-Type") or "").lower()
        text = self.body.decode("utf-8", errors="replace")
        if "json" in ctype:
            try:
                obj = json.loads(text)
            except ValueError:
                raise BadRequest("invalid JSON body")
            if not isinstance(obj, dict):
                raise BadRequest("JSON body must be an object")
            return {k: str(v) for k, v in obj.items()}
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def _basic_credentials(self):
        auth = self.headers.get("Authorization") or ""
        scheme, _, val = auth.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            raw = base64.b64decode(val.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return ("", "")
        u, _, p = raw.partition(":")
        return u, p

    def r_oauth_token(self):
        if self.command != "POST":
            return self.send_err(405, "use POST", headers=[("Allow", "POST")])
        expires_in = self.q_int("expires_in", 3600, 0)
        form = self._form()
        grant = form.get("grant_type")
        basic = self._basic_credentials()
        if basic is not None:
            # RFC 6749 2.3.1: id and secret are form-urlencoded before base64.
            cid, secret = unquote_plus(basic[0]), unquote_plus(basic[1])
        else:
            cid, secret = form.get("client_id"), form.get("client_secret")
        if cid != OAUTH_CLIENT_ID or secret != OAUTH_CLIENT_SECRET:
            return self.send_json(401, {"error": "invalid_client"},
                                  [("WWW-Authenticate", 'Basic realm="fake-api"'),
                                   ("Cache-Control", "no-store")])
        if grant != "client_credentials":
            return self.send_json(400, {"error": "unsupported_grant_type"},
                                  [("Cache-Control", "no-store")])
        st = self.server.state
        with st.lock:
            st.tokens_issued += 1
            tok = "tok-%d" % st.tokens_issued
            st.tokens[tok] = {"expires_at": time.monotonic() + expires_in,
                              "revoked": False}
        obj = {"access_token": tok, "token_type": "Bearer",
               "expires_in": expires_in}
        if form.get("scope"):
            obj["scope"] = form["scope"]
        self.send_json(200, obj, [("Cache-Control", "no-store"),
                                  ("Pragma", "no-cache")])

    def _bearer(self):
        auth = self.headers.get("Authorization") or ""
        scheme, _, val = auth.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return val.strip()

    def r_oauth_protected(self):
        tok = self._bearer()
        st = self.server.state
        why = "missing bearer token"
        if tok is not None:
            with st.lock:
                info = st.tokens.get(tok)
            if info is None:
                why = "unknown token"
            elif info["revoked"]:
                why = "token revoked"
            elif time.monotonic() >= info["expires_at"]:
                why = "token expired"
            else:
                return self.send_json(200, {"ok": True, "token": tok})
        self.send_json(401, {"error": "invalid_token", "error_description": why},
                       [("WWW-Authenticate",
                         'Bearer realm="fake-api", error="invalid_token", '
                         'error_description="%s"' % why)])

    def r_oauth_revoke_all(self):
        if self.command != "POST":
            return self.send_err(405, "use POST", headers=[("Allow", "POST")])
        st = self.server.state
        with st.lock:
            n = 0
            for info in st.tokens.values():
                if not info["revoked"]:
                    info["revoked"] = True
                    n += 1
        self.send_json(200, {"revoked": n})

    # ---- simple auth checks ----------------------------------------------

    def _unauthorized(self, challenge, kind):
        self.send_json(401, {"error": "unauthorized", "auth": kind},
                       [("WWW-Authenticate", challenge)])

    def r_auth_bearer(self):
        expect = self.q("expect")
        tok = self._bearer()
        if expect is not None and tok == expect:
            return self.send_json(200, {"ok": True, "auth": "bearer"})
        self._unauthorized('Bearer realm="fake-api"', "bearer")

    def r_auth_basic(self):
        user, pw = self.q("user"), self.q("pass")
        creds = self._basic_credentials()
        if user is not None and pw is not None and creds == (user, pw):
            return self.send_json(200, {"ok": True, "auth": "basic", "user": user})
        self._unauthorized('Basic realm="fake-api"', "basic")

    def r_auth_apikey(self):
        header = self.q("header", "X-Api-Key")
        expect = self.q("expect")
        got = self.headers.get(header)
        if expect is not None and got == expect:
            return self.send_json(200, {"ok": True, "auth": "apikey"})
        self._unauthorized('ApiKey header="%s"' % header, "apikey")

    def r_auth_apikey_query(self):
        param = self.q("param", "api_key")
        expect = self.q("expect")
        got = self.q(param)
        if expect is not None and got == expect:
            return self.send_json(200, {"ok": True, "auth": "apikey-query"})
        self._unauthorized('ApiKey param="%s"' % param, "apikey-query")


ROUTES = {
    "/_requests": Handler.r_requests,
    "/_reset": Handler.r_reset,
    "/_stats": Handler.r_stats,
    "/_health": Handler.r_health,
    "/echo": Handler.r_echo,
    "/json": Handler.r_json,
    "/flaky": Handler.r_flaky,
    "/retry-after": Handler.r_retry_after,
    "/ratelimit-headers": Handler.r_ratelimit_headers,
    "/hang": Handler.r_hang,
    "/slow-body": Handler.r_slow_body,
    "/close-mid-body": Handler.r_close_mid_body,
    "/invalid-json": Handler.r_invalid_json,
    "/big": Handler.r_big,
    "/gzip": Handler.r_gzip,
    "/deflate": Handler.r_deflate,
    "/redirect": Handler.r_redirect,
    "/redirect-loop": Handler.r_redirect_loop,
    "/headers": Handler.r_headers,
    "/methods": Handler.r_methods,
    "/pages/number": Handler.r_pages_number,
    "/pages/offset": Handler.r_pages_offset,
    "/pages/cursor": Handler.r_pages_cursor,
    "/pages/hubspot": Handler.r_pages_hubspot,
    "/pages/zendesk": Handler.r_pages_zendesk,
    "/pages/link": Handler.r_pages_link,
    "/oauth/token": Handler.r_oauth_token,
    "/oauth/protected": Handler.r_oauth_protected,
    "/oauth/revoke-all": Handler.r_oauth_revoke_all,
    "/auth/bearer": Handler.r_auth_bearer,
    "/auth/basic": Handler.r_auth_basic,
    "/auth/apikey": Handler.r_auth_apikey,
    "/auth/apikey-query": Handler.r_auth_apikey_query,
}


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------

class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, ssl_context=None, verbose=False):
        self.ssl_context = ssl_context
        self.verbose = verbose
        self.state = State()
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler)

    def server_bind(self):
        # Skip HTTPServer's reverse DNS lookup (getfqdn), which can be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address):
        # Runs in the per-connection thread, so a slow TLS handshake never
        # blocks accept().
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(15)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            if self.verbose:
                sys.stderr.write("fake_api: TLS handshake failed: %s\n" % e)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            tls.close()

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def make_ssl_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    try:
        ctx.set_alpn_protocols(["http/1.1"])
    except NotImplementedError:
        pass
    return ctx


def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, ".%s.tmp.%d" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake HTTP(S) business API for ferry tests")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                    help="serve HTTPS with this certificate and key")
    ap.add_argument("--port-file", help="write the bound port here (atomically)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = ephemeral (default)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)

    ctx = make_ssl_context(*args.tls) if args.tls else None
    server = FakeServer((args.host, args.port), ctx, args.verbose)
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         name="serve_forever", daemon=True)
    t.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    print("listening on %d" % port, flush=True)

    while not stop.wait(0.5):
        if not t.is_alive():
            break
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
