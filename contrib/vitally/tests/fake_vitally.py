#!/usr/bin/env python3
"""A fake of Vitally's REST API, for contrib/vitally's tests.

Python 3 standard library only; independent of ferry; 127.0.0.1 only.
Written from Vitally's public reference (https://docs.vitally.io, "REST API"
pages: overview, Accounts, Users, Admins, Custom Traits), not from the
connector. What the reference says, and this fake does:

  Auth       Authorization: Basic base64(API_KEY + ":")   (the key is the
             user name, the password empty); anything else is 401.
  Paging     list endpoints take limit (max and default 100), from (the
             cursor of the previous answer) and sortBy ("updatedAt", the
             default, or "createdAt"), sorted by that field DESCENDING, and
             answer {"results": [...], "next": CURSOR | null}.
  Accounts   GET  /resources/accounts            ?status=active|churned|activeOrChurned (default active)
             GET  /resources/accounts/{id}       id = Vitally's id or the externalId
             PUT  /resources/accounts/{id}       {name?, traits?, organizationId?}; traits are
                                                 merged, a null trait removed
             POST /resources/accounts            {externalId, name, traits?}
  Users      GET  /resources/users, GET /resources/users/search?email=
  Admins     GET  /resources/admins/search?email=   (the team: CSMs)
  Traits     GET  /resources/customFields?model=accounts
             [{id, createdAt, label, path, type, options?: [{label, value}]}], by label
  Limits     RateLimit-Limit: 1000, 1000;window=60, RateLimit-Remaining and
             RateLimit-Reset (seconds until the earliest request leaves the
             window) on every answer; 429 Too Many Requests over the limit.

What the reference does NOT document, and this fake assumes (the connector
must not depend on more than the status code and some JSON text):
  - error bodies: {"error": "<message>"}; a 400 for a trait names the trait
    path ("Invalid value for trait vitally.custom.tier: ...").
  - a select trait refuses a value that is not one of its options' values
    (400), a number trait a value that is not a number (400).
  - the 429 carries no Retry-After, only the RateLimit-* headers.
  - 403 (a key without access) answers {"error": "Forbidden"}.

Test controls (a path Vitally does not use):
  POST /__fake/seed        {"accounts": [...], "users": [...], "admins": [...],
                            "customFields": [...]}  replaces those collections
  POST /__fake/touch       {"id": ID-or-externalId, "traits": {...}} an edit made in
                           Vitally: merges traits, bumps updatedAt
  POST /__fake/fail        {"status": 401|403|500|..., "times": N, "path": PREFIX?, "skip": M}
                           after M more matching requests, the next N answer that status
  POST /__fake/ratelimit   {"times": N, "reset": SECONDS} the next N requests are 429
                           with RateLimit-Remaining: 0, RateLimit-Reset: SECONDS
  GET  /__fake/requests    every API request: method, path, query, body, auth, t (time.time())
  GET  /__fake/accounts    the accounts as the fake holds them

    python3 fake_vitally.py --port-file PATH [--port 0] [--key KEY]
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import socketserver
import threading
import time
import urllib.parse

LOCK = threading.Lock()
STATE = {"accounts": [], "users": [], "admins": [], "customFields": [], "requests": [],
         "fail": None, "ratelimit": None, "clock": 0.0}
WINDOW, LIMIT = 60, 1000
SENT = []          # times of answered API requests, for RateLimit-Remaining


def now_iso():
    """A strictly increasing 'now', so every edit has its own updatedAt."""
    t = max(time.time(), STATE["clock"] + 0.001)
    STATE["clock"] = t
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def cursor_of(item, sort):
    raw = json.dumps([item.get(sort), item["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def page(items, q, sort_default="updatedAt"):
    """Vitally's paging: sorted by sortBy descending, keyset cursor in from."""
    sort = q.get("sortBy", sort_default)
    if sort not in ("updatedAt", "createdAt"):
        return 400, {"error": "Invalid sortBy: must be one of createdAt, updatedAt"}
    try:
        limit = int(q.get("limit", "100"))
    except ValueError:
        return 400, {"error": "Invalid limit: must be a number"}
    if limit < 1 or limit > 100:
        return 400, {"error": "Invalid limit: must be between 1 and 100"}
    rows = sorted(items, key=lambda a: (a.get(sort) or "", a["id"]), reverse=True)
    if "from" in q:
        try:
            after = json.loads(base64.urlsafe_b64decode(q["from"].encode()))
        except Exception:
            return 400, {"error": "Invalid from cursor"}
        rows = [a for a in rows if [a.get(sort) or "", a["id"]] < [after[0] or "", after[1]]]
    out = rows[:limit]
    nxt = cursor_of(out[-1], sort) if len(rows) > limit else None
    return 200, {"results": out, "next": nxt}


def find_account(key):
    for a in STATE["accounts"]:
        if a["id"] == key or a.get("externalId") == key:
            return a
    return None


def check_traits(traits):
    """None, or the 400 message for the first trait Vitally would refuse."""
    fields = {f["path"]: f for f in STATE["customFields"] if f.get("model", "accounts") == "accounts"}
    for path, value in traits.items():
        f = fields.get(path)
        if f is None or value is None:
            continue
        if f.get("options"):
            allowed = [o["value"] for o in f["options"]]
            if value not in allowed:
                return "Invalid value for trait %s: %s is not one of the options %s" % (
                    path, json.dumps(value), ", ".join(json.dumps(v) for v in allowed))
        elif f["type"] == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return "Invalid value for trait %s: expected a number, got %s" % (path, json.dumps(value))
    return None


def apply_traits(acct, traits):
    t = acct.setdefault("traits", {})
    for k, v in traits.items():
        if v is None:
            t.pop(k, None)
        else:
            t[k] = v
    acct["updatedAt"] = now_iso()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        with LOCK:
            if path.startswith("/__fake/"):
                status, obj = self.control(method, path, raw)
                return self.send(status, obj)
            STATE["requests"].append({"method": method, "path": path, "query": url.query,
                                      "body": raw.decode("utf-8", "replace"),
                                      "auth": self.headers.get("Authorization") or "", "t": time.time()})
            status, obj, extra = self.api(method, path, q, raw)
            return self.send(status, obj, self.limit_headers(status, extra))

    def limit_headers(self, status, extra):
        t = time.time()
        SENT[:] = [s for s in SENT if s > t - WINDOW]
        SENT.append(t)
        if extra is not None:
            remaining, reset = 0, extra
        else:
            remaining, reset = max(LIMIT - len(SENT), 0), max(int(SENT[0] + WINDOW - t), 0)
        return [("RateLimit-Limit", "%d, %d;window=%d" % (LIMIT, LIMIT, WINDOW)),
                ("RateLimit-Remaining", str(remaining)), ("RateLimit-Reset", str(reset))]

    def control(self, method, path, raw):
        body = json.loads(raw or b"{}") if method == "POST" else {}
        if path == "/__fake/seed" and method == "POST":
            for k in ("accounts", "users", "admins", "customFields"):
                if k in body:
                    STATE[k] = body[k]
            return 200, {"ok": True}
        if path == "/__fake/touch" and method == "POST":
            a = find_account(body["id"])
            if a is None:
                return 404, {"error": "no such account"}
            apply_traits(a, body.get("traits") or {})
            return 200, a
        if path == "/__fake/fail" and method == "POST":
            STATE["fail"] = body if body.get("times", 0) > 0 else None
            return 200, {"ok": True}
        if path == "/__fake/ratelimit" and method == "POST":
            STATE["ratelimit"] = body if body.get("times", 0) > 0 else None
            return 200, {"ok": True}
        if path == "/__fake/requests":
            return 200, STATE["requests"]
        if path == "/__fake/accounts":
            return 200, STATE["accounts"]
        return 404, {"error": "unknown control " + path}

    def api(self, method, path, q, raw):
        """(status, body, ratelimit reset or None) for one API request."""
        rl = STATE["ratelimit"]
        if rl:
            rl["times"] -= 1
            if rl["times"] <= 0:
                STATE["ratelimit"] = None
            return 429, {"error": "Too Many Requests"}, int(rl.get("reset", 1))
        f = STATE["fail"]
        if f and path.startswith(f.get("path", "/")) and f.get("skip", 0) > 0:
            f["skip"] -= 1
        elif f and path.startswith(f.get("path", "/")):
            f["times"] -= 1
            if f["times"] <= 0:
                STATE["fail"] = None
            msgs = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error",
                    503: "Service Unavailable"}
            return f["status"], {"error": msgs.get(f["status"], "Error")}, None
        want = "Basic " + base64.b64encode((self.server.key + ":").encode()).decode()
        if self.headers.get("Authorization") != want:
            return 401, {"error": "Unauthorized"}, None
        status, obj = self.route(method, path, q, raw)
        return status, obj, None

    def route(self, method, path, q, raw):
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] != ["resources"] or len(parts) < 2:
            return 404, {"error": "Not Found"}
        res = parts[1]
        if res == "accounts" and len(parts) == 2 and method == "GET":
            status = q.get("status", "active")
            if status not in ("active", "churned", "activeOrChurned"):
                return 400, {"error": "Invalid status: must be one of active, churned, activeOrChurned"}
            rows = [a for a in STATE["accounts"]
                    if status == "activeOrChurned" or (status == "churned") == bool(a.get("churnedAt"))]
            return page(rows, q)
        if res == "accounts" and len(parts) == 2 and method == "POST":
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, {"error": "Invalid JSON body"}
            for k in ("externalId", "name"):
                if not body.get(k):
                    return 400, {"error": "%s is required" % k}
            if find_account(body["externalId"]):
                return 400, {"error": "An account with externalId %s already exists" % body["externalId"]}
            msg = check_traits(body.get("traits") or {})
            if msg:
                return 400, {"error": msg}
            t = now_iso()
            a = {"id": "acc-%d" % (len(STATE["accounts"]) + 1000), "externalId": body["externalId"],
                 "name": body["name"], "traits": {}, "createdAt": t, "updatedAt": t, "healthScore": None,
                 "nextRenewalDate": None, "segments": []}
            apply_traits(a, body.get("traits") or {})
            STATE["accounts"].append(a)
            return 200, a
        if res == "accounts" and len(parts) == 3:
            a = find_account(parts[2])
            if a is None:
                return 404, {"error": "Account not found"}
            if method == "GET":
                return 200, a
            if method == "PUT":
                try:
                    body = json.loads(raw)
                except ValueError:
                    return 400, {"error": "Invalid JSON body"}
                if not isinstance(body, dict):
                    return 400, {"error": "Invalid body: expected an object"}
                for k in body:
                    if k not in ("name", "traits", "organizationId", "accountOwnerId"):
                        return 400, {"error": "%s is not editable via the REST API" % k}
                traits = body.get("traits") or {}
                if not isinstance(traits, dict):
                    return 400, {"error": "traits must be an object"}
                msg = check_traits(traits)
                if msg:
                    return 400, {"error": msg}
                if "name" in body:
                    a["name"] = body["name"]
                apply_traits(a, traits)
                return 200, a
        if res == "users" and len(parts) == 2 and method == "GET":
            return page(STATE["users"], q)
        if res in ("users", "admins") and parts[2:] == ["search"] and method == "GET":
            email = q.get("email")
            if not email:
                return 400, {"error": "email is required"}
            for u in STATE[res]:
                if (u.get("email") or "").lower() == email.lower():
                    return 200, u
            return 404, {"error": "%s not found" % res[:-1].capitalize()}
        if res == "customFields" and len(parts) == 2 and method == "GET":
            model = q.get("model")
            if not model:
                return 400, {"error": "model is required"}
            rows = [dict((k, v) for k, v in f.items() if k != "model") for f in STATE["customFields"]
                    if f.get("model", "accounts") == model]
            return 200, sorted(rows, key=lambda f: f["label"])
        return 404, {"error": "Not Found"}


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--key", default="sk_live_fake_vitally")
    opts = ap.parse_args()
    srv = Server(("127.0.0.1", opts.port), Handler)
    srv.key = opts.key
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, opts.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
