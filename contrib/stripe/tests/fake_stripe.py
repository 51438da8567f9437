#!/usr/bin/env python3
"""A fake of Stripe's API (v1), for contrib/stripe's tests.

Python 3 standard library only; independent of ferry; 127.0.0.1 only.
Written from Stripe's public reference (https://docs.stripe.com/api: Authentication,
Errors, Idempotent requests, Pagination, Expanding responses, Versioning,
Customers, Invoices, Subscriptions, Events; https://docs.stripe.com/rate-limits),
not from the connector. What the reference says, and this fake does:

  Auth       Authorization: Bearer KEY (or HTTP Basic with the key as the user
             name); anything else is 401 invalid_request_error.
  Versions   Stripe-Version: YYYY-MM-DD[.name] pins the answer's shape; a
             malformed one is 400. Every answer carries Stripe-Version and Request-Id.
  Bodies     requests are application/x-www-form-urlencoded, nested as
             metadata[key]=value; an empty value unsets a metadata key; an
             unknown parameter is 400 parameter_unknown naming it in error.param.
  Lists      GET /v1/customers | /v1/invoices | /v1/subscriptions | /v1/events:
             {"object": "list", "url", "has_more", "data"}, newest created first;
             limit 1..100 (default 10), starting_after / ending_before = an
             object id, created[gt|gte|lt|lte] (or created=N), expand[]=data.FIELD.
             customers: email (exact, case-sensitive); invoices: customer,
             status, subscription; subscriptions: customer, status (default:
             every status but canceled; "all"); events: type, types[] (a
             trailing ".*" is a wildcard), kept 30 days.
  Objects    GET /v1/customers/{id} | /v1/invoices/{id} | /v1/subscriptions/{id},
             expand[]=customer; a missing one is 404 resource_missing.
             POST /v1/customers/{id}: email, name, description, metadata[k]
             (keys <= 40 characters, values <= 500, at most 50 keys).
  Errors     {"error": {"type", "code", "param", "message", "doc_url"}}; types
             api_error, card_error, idempotency_error, invalid_request_error.
  Idempotency  Idempotency-Key on a POST: the first answer is saved and
             replayed for the same key (Idempotent-Replayed: true); the same key
             with other parameters is an idempotency_error.
  Limits     429 with error.code "rate_limit" over the limit (the reference
             documents no Retry-After nor remaining-count headers; the fake
             sends Stripe-Rate-Limited-Reason only).

Assumptions (not in the reference, kept minimal): a reused key with other
parameters answers 409 (the status code table's "perhaps due to using the
same idempotent key"); a restricted key without the permission is 403 with
Stripe's permission wording; a starting_after id that is not in the list is
400 resource_missing on param starting_after.

Test controls (a path Stripe does not use):
  POST /__fake/seed       {"customers": [...], "invoices": [...], "subscriptions": [...],
                           "events": [...]} replaces those collections
  POST /__fake/add        the same shape, appended (objects created "later")
  POST /__fake/update     {"coll": "invoices", "id": ID, "set": {...} | "delete": true} an
                          edit made in Stripe (events are added with /__fake/add)
  POST /__fake/fail       {"status": N, "times": N, "path": PREFIX?, "skip": M,
                           "error": {...}?, "headers": {...}?, "process": bool} after M more
                           matching requests, the next N answer that status and error
                           (with "process": carried out first, the answer lost)
  POST /__fake/ratelimit  {"times": N, "retry_after": S?} the next N requests are 429
  POST /__fake/restrict   {"write": false} the key may read but not write (403 on POST)
  GET  /__fake/requests   every API request: method, path, query, body, auth,
                          version, idem, replayed, status, t (time.time())
  GET  /__fake/customers  the customers as the fake holds them
  GET  /__fake/applied    every POST carried out (not replayed): path, idem

    python3 fake_stripe.py --port-file PATH [--port 0] [--key KEY]
"""

import argparse
import base64
import fnmatch
import http.server
import json
import os
import re
import socketserver
import threading
import time
import urllib.parse

LOCK = threading.Lock()
STATE = {"customers": [], "invoices": [], "subscriptions": [], "events": [], "requests": [],
         "fail": None, "ratelimit": None, "idem": {}, "write": True, "applied": []}
PREFIX = {"customers": "customer", "invoices": "invoice", "subscriptions": "subscription", "events": "event"}
LIST_PARAMS = {"limit", "starting_after", "ending_before", "expand[]", "created", "created[gt]", "created[gte]",
               "created[lt]", "created[lte]"}
EXTRA_PARAMS = {"customers": {"email", "test_clock"}, "invoices": {"customer", "status", "subscription"},
                "subscriptions": {"customer", "status", "price"}, "events": {"type", "types[]"}}
EVENT_DAYS = 30


def err(status, etype, message, code=None, param=None):
    e = {"type": etype, "message": message}
    if code:
        e["code"] = code
        e["doc_url"] = "https://docs.stripe.com/error-codes/" + code.replace("_", "-")
    if param:
        e["param"] = param
    return status, {"error": e}


def missing(kind, oid, param="id"):
    return err(404, "invalid_request_error", "No such %s: '%s'" % (kind, oid), "resource_missing", param)


def find(coll, oid):
    for o in STATE[coll]:
        if o.get("id") == oid:
            return o
    return None


def expand_one(obj, fields):
    """A copy of obj with each field (an id) replaced by the object it names."""
    obj = dict(obj)
    for f in fields:
        if f == "customer" and isinstance(obj.get("customer"), str):
            c = find("customers", obj["customer"])
            if c is not None:
                obj["customer"] = c
        elif f in ("subscription",) and isinstance(obj.get(f), str):
            s = find("subscriptions", obj[f])
            if s is not None:
                obj[f] = s
    return obj


def listing(coll, q, lists):
    """Stripe's list contract over STATE[coll]; q: single values, lists: repeated keys."""
    for k in list(q) + list(lists):
        if k not in LIST_PARAMS and k not in EXTRA_PARAMS[coll]:
            return err(400, "invalid_request_error", "Received unknown parameter: %s" % k, "parameter_unknown", k)
    try:
        limit = int(q.get("limit", "10"))
    except ValueError:
        return err(400, "invalid_request_error", "Invalid integer: %s" % q["limit"], "parameter_invalid_integer",
                   "limit")
    if limit < 1 or limit > 100:
        return err(400, "invalid_request_error",
                   "This value must be greater than or equal to 1 and less than or equal to 100.",
                   "parameter_invalid_integer", "limit")
    if "starting_after" in q and "ending_before" in q:
        return err(400, "invalid_request_error", "You may only specify one of these parameters: "
                   "ending_before, starting_after.", None, "starting_after")
    rows = list(STATE[coll])
    now = time.time()
    if coll == "events":
        rows = [e for e in rows if e["created"] >= now - EVENT_DAYS * 86400]
    for op in ("gt", "gte", "lt", "lte"):
        key = "created[%s]" % op
        if key in q:
            try:
                v = int(q[key])
            except ValueError:
                return err(400, "invalid_request_error", "Invalid integer: %s" % q[key],
                           "parameter_invalid_integer", key)
            test = {"gt": lambda c: c > v, "gte": lambda c: c >= v, "lt": lambda c: c < v,
                    "lte": lambda c: c <= v}[op]
            rows = [o for o in rows if test(o["created"])]
    if "created" in q:
        rows = [o for o in rows if o["created"] == int(q["created"])]
    if coll == "customers" and "email" in q:
        rows = [o for o in rows if o.get("email") == q["email"]]
    for f in ("customer", "subscription"):
        if f in q and f in EXTRA_PARAMS[coll]:
            rows = [o for o in rows if (o.get(f) if isinstance(o.get(f), str) else (o.get(f) or {}).get("id")) == q[f]]
    if coll == "invoices" and "status" in q:
        rows = [o for o in rows if o.get("status") == q["status"]]
    if coll == "subscriptions":
        st = q.get("status")
        if st is None:
            rows = [o for o in rows if o.get("status") != "canceled"]
        elif st != "all":
            rows = [o for o in rows if o.get("status") == st]
    if coll == "events":
        types = lists.get("types[]", []) + ([q["type"]] if "type" in q else [])
        if types:
            rows = [e for e in rows if any(fnmatch.fnmatchcase(e["type"], t) for t in types)]
    rows.sort(key=lambda o: (o["created"], o["id"]), reverse=True)
    if "starting_after" in q:
        ids = [o["id"] for o in rows]
        if q["starting_after"] not in ids:
            kind = PREFIX[coll]
            return err(400, "invalid_request_error", "No such %s: '%s'" % (kind, q["starting_after"]),
                       "resource_missing", "starting_after")
        rows = rows[ids.index(q["starting_after"]) + 1:]
        page = rows[:limit]
    elif "ending_before" in q:
        ids = [o["id"] for o in rows]
        if q["ending_before"] not in ids:
            return err(400, "invalid_request_error", "No such %s: '%s'" % (PREFIX[coll], q["ending_before"]),
                       "resource_missing", "ending_before")
        rows = rows[:ids.index(q["ending_before"])]
        page = rows[-limit:]
    else:
        page = rows[:limit]
    fields = [e[len("data."):] for e in lists.get("expand[]", []) if e.startswith("data.")]
    data = [expand_one(o, fields) for o in page]
    return 200, {"object": "list", "url": "/v1/" + coll, "has_more": len(rows) > len(page), "data": data}


def form_params(raw):
    """(scalars, metadata updates, lists) of a form body, or raises ValueError."""
    pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    scal, meta, lists = {}, {}, {}
    for k, v in pairs:
        m = re.fullmatch(r"metadata\[(.*)\]", k)
        if m:
            meta[m.group(1)] = v
        elif k.endswith("[]"):
            lists.setdefault(k, []).append(v)
        else:
            scal[k] = v
    return scal, meta, lists


def update_customer(cid, raw):
    c = find("customers", cid)
    if c is None or c.get("deleted"):
        return missing("customer", cid)
    try:
        scal, meta, lists = form_params(raw)
    except ValueError:
        return err(400, "invalid_request_error", "Invalid form body", None, None)
    for k in list(scal) + list(lists):
        if k not in ("email", "name", "description", "phone", "metadata"):
            return err(400, "invalid_request_error", "Received unknown parameter: %s" % k, "parameter_unknown", k)
    if "email" in scal and scal["email"] and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", scal["email"]):
        return err(400, "invalid_request_error", "Invalid email address: %s" % scal["email"], "email_invalid", "email")
    md = dict(c.get("metadata") or {})
    for k, v in meta.items():
        if len(k) > 40:
            return err(400, "invalid_request_error", "Metadata keys can have up to 40 characters; '%s' has %d."
                       % (k, len(k)), "parameter_invalid_string_too_long", "metadata[%s]" % k)
        if len(v) > 500:
            return err(400, "invalid_request_error", "Metadata values can have up to 500 characters, but you "
                       "passed in a value that is %d characters. Invalid value: %s..." % (len(v), v[:20]),
                       "parameter_invalid_string_too_long", "metadata[%s]" % k)
        if v == "":
            md.pop(k, None)
        else:
            md[k] = v
    if len(md) > 50:
        return err(400, "invalid_request_error", "You can have up to 50 metadata keys.", None, "metadata")
    for k in ("email", "name", "description", "phone"):
        if k in scal:
            c[k] = scal[k] or None
    c["metadata"] = md
    return 200, c


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", "req_%012d" % len(STATE["requests"]))
        if self.headers.get("Stripe-Version"):
            self.send_header("Stripe-Version", self.headers["Stripe-Version"])
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        with LOCK:
            if path.startswith("/__fake/"):
                status, obj = self.control(method, path, raw)
                return self.send(status, obj)
            rec = {"method": method, "path": path, "query": url.query, "body": raw.decode("utf-8", "replace"),
                   "auth": self.headers.get("Authorization") or "", "version": self.headers.get("Stripe-Version"),
                   "idem": self.headers.get("Idempotency-Key"), "ctype": self.headers.get("Content-Type"),
                   "replayed": False, "t": time.time()}
            STATE["requests"].append(rec)
            status, obj, headers = self.api(method, path, url.query, raw, rec)
            rec["status"] = status
            return self.send(status, obj, headers)

    def control(self, method, path, raw):
        body = json.loads(raw or b"{}") if method == "POST" else {}
        if path in ("/__fake/seed", "/__fake/add") and method == "POST":
            for k in ("customers", "invoices", "subscriptions", "events"):
                if k in body:
                    STATE[k] = body[k] if path == "/__fake/seed" else STATE[k] + body[k]
            return 200, {"ok": True}
        if path == "/__fake/update" and method == "POST":
            o = find(body["coll"], body["id"])
            if o is None:
                return 404, {"error": {"type": "invalid_request_error", "message": "no such object"}}
            if body.get("delete"):
                STATE[body["coll"]].remove(o)
            else:
                o.update(body.get("set") or {})
            return 200, {"ok": True}
        if path == "/__fake/fail" and method == "POST":
            STATE["fail"] = body if body.get("times", 0) > 0 else None
            return 200, {"ok": True}
        if path == "/__fake/ratelimit" and method == "POST":
            STATE["ratelimit"] = body if body.get("times", 0) > 0 else None
            return 200, {"ok": True}
        if path == "/__fake/restrict" and method == "POST":
            STATE["write"] = bool(body.get("write", True))
            return 200, {"ok": True}
        if path == "/__fake/requests":
            return 200, STATE["requests"]
        if path == "/__fake/customers":
            return 200, STATE["customers"]
        if path == "/__fake/applied":
            return 200, STATE["applied"]
        return 404, {"error": {"type": "invalid_request_error", "message": "unknown control " + path}}

    def authorized(self):
        h = self.headers.get("Authorization") or ""
        if h == "Bearer " + self.server.key:
            return True
        if h.startswith("Basic "):
            try:
                return base64.b64decode(h[6:]).decode().split(":", 1)[0] == self.server.key
            except Exception:
                return False
        return False

    def api(self, method, path, query, raw, rec):
        """(status, body, extra headers) for one API request."""
        rl = STATE["ratelimit"]
        if rl:
            rl["times"] -= 1
            if rl["times"] <= 0:
                STATE["ratelimit"] = None
            hdrs = [("Stripe-Rate-Limited-Reason", "global-rate")]
            if rl.get("retry_after"):
                hdrs.append(("Retry-After", str(rl["retry_after"])))
            s, b = err(429, "invalid_request_error", "Request rate limit exceeded. Learn more about rate limits "
                       "here https://stripe.com/docs/rate-limits.", "rate_limit")
            return s, b, hdrs
        f = STATE["fail"]
        if f and path.startswith(f.get("path", "/")) and f.get("skip", 0) > 0:
            f["skip"] -= 1
        elif f and path.startswith(f.get("path", "/")) and not f.get("process"):
            f["times"] -= 1
            if f["times"] <= 0:
                STATE["fail"] = None
            e = f.get("error") or {"type": "api_error", "message": "An unknown error occurred"}
            return f["status"], {"error": e}, list((f.get("headers") or {}).items())
        if not self.authorized():
            shown = (self.headers.get("Authorization") or "")[-4:]
            s, b = err(401, "invalid_request_error",
                       "Invalid API Key provided: sk_test_" + "*" * 20 + shown if shown else
                       "You did not provide an API key. You need to provide your API key in the Authorization "
                       "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
            return s, b, []
        version = self.headers.get("Stripe-Version")
        if version is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?", version):
            s, b = err(400, "invalid_request_error", "Invalid Stripe API version: %s" % version, None, None)
            return s, b, []
        if method == "POST" and not STATE["write"]:
            s, b = err(403, "invalid_request_error", "The provided key 'rk_test_***' does not have the required "
                       "permissions for this endpoint on account 'acct_fake'. Having the 'rak_customer_write' "
                       "permission would allow this request to continue.")
            return s, b, []
        idem = self.headers.get("Idempotency-Key") if method == "POST" else None
        if idem:
            saved = STATE["idem"].get(idem)
            if saved:
                if saved[0] != (path, raw):
                    s, b = err(409, "idempotency_error", "Keys for idempotent requests can only be used with the "
                               "same parameters they were first used with. Try using a key other than '%s' if you "
                               "meant to execute a different request." % idem)
                    return s, b, []
                rec["replayed"] = True
                return saved[1], saved[2], [("Idempotent-Replayed", "true"), ("Original-Request", saved[3])]
        status, obj = self.route(method, path, query, raw)
        if idem:
            STATE["idem"][idem] = ((path, raw), status, json.loads(json.dumps(obj)),
                                   "req_%012d" % (len(STATE["requests"]) - 1))
        if method == "POST" and status == 200:
            STATE["applied"].append({"path": path, "idem": idem})
        if f and f.get("process") and path.startswith(f.get("path", "/")):
            # the request was carried out, but its answer is lost on the way
            f["times"] -= 1
            if f["times"] <= 0:
                STATE["fail"] = None
            return f["status"], {"error": f.get("error") or {"type": "api_error", "message": "An unknown error "
                                 "occurred"}}, []
        return status, obj, []

    def route(self, method, path, query, raw):
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        q, lists = {}, {}
        for k, v in pairs:
            if k.endswith("[]"):
                lists.setdefault(k, []).append(v)
            else:
                q[k] = v
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] != ["v1"] or len(parts) < 2 or parts[1] not in PREFIX:
            return err(404, "invalid_request_error", "Unrecognized request URL (%s: %s). Please see "
                       "https://stripe.com/docs or we can help at https://support.stripe.com/." % (method, path))
        coll = parts[1]
        if len(parts) == 2 and method == "GET":
            return listing(coll, q, lists)
        if len(parts) == 3 and method == "GET":
            o = find(coll, parts[2])
            if o is None:
                return missing(PREFIX[coll], parts[2])
            return 200, expand_one(o, lists.get("expand[]", []))
        if len(parts) == 3 and method == "POST" and coll == "customers":
            return update_customer(parts[2], raw)
        return err(404, "invalid_request_error", "Unrecognized request URL (%s: %s)." % (method, path))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--key", default="sk_test_fake_stripe")
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
