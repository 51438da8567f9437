#!/usr/bin/env python3
"""A fake of HubSpot's CRM API v3, written from HubSpot's public reference
(developers.hubspot.com/docs/api/crm, the usage guidelines on rate limits)
and its OpenAPI documents (Companies, Contacts, Deals, Owners, Properties),
never from the connector. Python standard library only, 127.0.0.1.

What it models, where it matters to a connector:
- auth: a private app token as `Authorization: Bearer`; anything else is
  401 with category INVALID_AUTHENTICATION; a scope the app lacks is 403
  MISSING_SCOPES (control: /__fake/forbid).
- objects (companies, contacts, deals, tickets): each a SimplePublicObject
  { id, properties (strings), createdAt, updatedAt, archived }. Contacts
  keep their last change in `lastmodifieddate`, the others in
  `hs_lastmodifieddate`, as HubSpot's do.
- search: POST /crm/v3/objects/{type}/search with filterGroups (OR of ANDs),
  one sort { propertyName, direction }, properties, limit (at most 200) and
  `after`; at most 10,000 results per search: `after` at or past 10,000 is
  refused with 400. Search answers carry no X-HubSpot-RateLimit-* headers
  (HubSpot's do not); every other answer does.
- batch upsert: POST /crm/v3/objects/{type}/batch/upsert, at most 100
  inputs, `idProperty` a unique property. One invalid input (an unknown
  property, a value outside an enumeration's options) refuses the whole
  batch with 400 VALIDATION_ERROR naming the property, as HubSpot's batch
  endpoints do; nothing of that batch is written.
- properties: GET /crm/v3/properties/{type}/{name}, options with hidden.
- owners: GET /crm/v3/owners/ with email, after, limit (at most 500).
- 429: the next N requests (control: /__fake/ratelimit) get HubSpot's
  RATE_LIMIT body and its headers, with no Retry-After (HubSpot sends none).

Control endpoints under /__fake/: seed, generate, records, requests,
ratelimit, fail, forbid, touch.
"""
import argparse
import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LASTMOD = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate",
           "deals": "hs_lastmodifieddate", "tickets": "hs_lastmodifieddate"}

# Property definitions: name -> (type, fieldType, options or None, unique)
def _opt(value, label, order, hidden=False):
    return {"label": label, "value": value, "displayOrder": order, "hidden": hidden, "description": ""}

COMMON = {
    "hs_object_id": ("number", "number", None, True),
    "createdate": ("datetime", "date", None, False),
    "hs_lastmodifieddate": ("datetime", "date", None, False),
    "hubspot_owner_id": ("enumeration", "select", None, False),
}
PROPS = {
    "companies": dict(COMMON, **{
        "name": ("string", "text", None, False),
        "domain": ("string", "text", None, True),
        "city": ("string", "text", None, False),
        "phone": ("string", "phonenumber", None, False),
        "annualrevenue": ("number", "number", None, False),
        "industry": ("enumeration", "select", [
            _opt("COMPUTER_SOFTWARE", "Computer Software", 0),
            _opt("INFORMATION_TECHNOLOGY_AND_SERVICES", "Information Technology and Services", 1),
            _opt("FINANCIAL_SERVICES", "Financial Services", 2),
            _opt("RETAIL", "Retail", 3)], False),
        "customer_tier": ("enumeration", "select", [
            _opt("gold", "Gold", 0), _opt("silver", "Silver", 1), _opt("bronze", "Bronze", 2),
            _opt("legacy", "Legacy", 3, hidden=True)], False),
    }),
    "contacts": {
        "hs_object_id": ("number", "number", None, True),
        "createdate": ("datetime", "date", None, False),
        "lastmodifieddate": ("datetime", "date", None, False),
        "hubspot_owner_id": ("enumeration", "select", None, False),
        "email": ("string", "text", None, True),
        "firstname": ("string", "text", None, False),
        "lastname": ("string", "text", None, False),
        "lifecyclestage": ("enumeration", "radio", [
            _opt("subscriber", "Subscriber", 0), _opt("lead", "Lead", 1), _opt("customer", "Customer", 2)], False),
    },
    "deals": dict(COMMON, **{
        "dealname": ("string", "text", None, False),
        "amount": ("number", "number", None, False),
        "dealstage": ("enumeration", "radio", [
            _opt("appointmentscheduled", "Appointment Scheduled", 0),
            _opt("closedwon", "Closed Won", 1), _opt("closedlost", "Closed Lost", 2)], False),
        "deal_ref": ("string", "text", None, True),
        "closedate": ("datetime", "date", None, False),
        # A portal's custom deal properties (scripts/hubspot_won_deals.lua,
        # the delivery manager's view): what sales promised, and the
        # Harvest project the deal became.
        "promised_start_date": ("date", "date", None, False),
        "delivery_scope": ("string", "textarea", None, False),
        "project_code": ("string", "text", None, False),
    }),
    "tickets": dict(COMMON, **{
        "subject": ("string", "text", None, False),
        "hs_pipeline_stage": ("enumeration", "select", [_opt("1", "New", 0), _opt("4", "Closed", 1)], False),
    }),
}
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5"}


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def to_ms(v):
    """A datetime filter value: epoch milliseconds or ISO 8601 (both accepted)."""
    if v is None:
        return None
    s = str(v)
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    try:
        return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


class State:
    def __init__(self, token):
        self.lock = threading.Lock()
        self.token = token
        self.objects = {t: {} for t in LASTMOD}
        self.next_id = 1001
        self.owners = []
        self.requests = []
        self.ratelimit = {"count": 0, "policy": "TEN_SECONDLY_ROLLING", "interval_ms": 10000}
        self.failures = {"count": 0, "status": 502, "after": 0}   # after: requests let through first
        self.forbid = []            # path substrings answered 403 MISSING_SCOPES
        self.window = []            # request times, for the ten-secondly headers
        self.daily = 0
        self.clock = int(time.time() * 1000)

    def tick(self):
        """A last-modified time after every one given so far (ms)."""
        self.clock = max(self.clock + 1, int(time.time() * 1000))
        return self.clock

    def put(self, otype, props, rid=None, modified_ms=None):
        ms = modified_ms if modified_ms is not None else self.tick()
        if rid is None:
            rid = str(self.next_id)
            self.next_id += 1
        rid = str(rid)
        rec = self.objects[otype].get(rid)
        if rec is None:
            rec = {"id": rid, "properties": {}, "createdAt": iso(ms), "updatedAt": iso(ms), "archived": False}
            rec["properties"]["createdate"] = iso(ms)
            rec["properties"]["hs_object_id"] = rid
            self.objects[otype][rid] = rec
        for k, v in props.items():
            rec["properties"][k] = None if v is None else str(v)
        rec["properties"][LASTMOD[otype]] = iso(ms)
        rec["updatedAt"] = iso(ms)
        return rec


def error_body(message, category, **extra):
    b = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
    b.update(extra)
    return b


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    S = None  # State

    def log_message(self, fmt, *args):
        pass

    # -- plumbing --------------------------------------------------------
    def send(self, status, body, rate_headers=True, extra=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if rate_headers:
            for k, v in self.rate_headers().items():
                self.send_header(k, v)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def rate_headers(self, remaining=None):
        S = self.S
        now = time.time()
        S.window = [t for t in S.window if now - t < 10]
        rem = max(0, 100 - len(S.window)) if remaining is None else remaining
        return {
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, 250000 - S.daily)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(S.ratelimit["interval_ms"]),
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Remaining": str(rem),
            "X-HubSpot-RateLimit-Secondly": "10",
            "X-HubSpot-RateLimit-Secondly-Remaining": str(min(10, rem)),
        }

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None, raw
        try:
            return json.loads(raw), raw
        except ValueError:
            return ValueError, raw

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")

    # -- routing ---------------------------------------------------------
    def route(self, method):
        S = self.S
        u = urlsplit(self.path)
        path, query = u.path, parse_qs(u.query)
        body, raw = self.body_json()
        if path.startswith("/__fake/"):
            with S.lock:
                return self.control(method, path[len("/__fake/"):], body)
        with S.lock:
            S.requests.append({"method": method, "path": path, "query": u.query, "t": time.time(),
                               "body": body if body is not ValueError else raw.decode("utf-8", "replace")})
            S.daily += 1
            search = path.endswith("/search")
            if not search:          # searches are exempt from the ten-secondly limit
                S.window.append(time.time())
            if body is ValueError:
                return self.send(400, error_body("Invalid input JSON on line 1", "VALIDATION_ERROR"))
            auth = self.headers.get("Authorization") or ""
            if auth != "Bearer " + S.token:
                return self.send(401, error_body(
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
                    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION"), rate_headers=False)
            if S.ratelimit["count"] > 0:
                S.ratelimit["count"] -= 1
                pol = S.ratelimit["policy"]
                if search:
                    pol = "SECONDLY"
                msg = {"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
                       "SECONDLY": "You have reached your secondly limit.",
                       "DAILY": "You have reached your daily limit."}[pol]
                return self.send(429, {"status": "error", "message": msg, "errorType": "RATE_LIMIT",
                                       "correlationId": str(uuid.uuid4()), "policyName": pol,
                                       "groupName": "TEN_SECONDLY_ROLLING" if pol != "SECONDLY" else "SECONDLY"},
                                 rate_headers=False, extra=self.rate_headers(remaining=0))
            if S.failures["count"] > 0 and S.failures.get("after", 0) > 0:
                S.failures["after"] -= 1
            elif S.failures["count"] > 0:
                S.failures["count"] -= 1
                return self.send(S.failures["status"], error_body("internal error", "INTERNAL_ERROR"))
            for f in S.forbid:
                if f in path:
                    return self.send(403, error_body(
                        "This app hasn't been granted all required scopes to make this call. Read more about "
                        "required scopes here: https://developers.hubspot.com/scopes.", "MISSING_SCOPES",
                        errors=[{"message": "One or more of the following scopes are required.",
                                 "context": {"requiredGranularScopes": ["crm.objects.%s.read" % f]}}],
                        links={"scopes": "https://developers.hubspot.com/scopes"}), rate_headers=not search)
            m = re.fullmatch(r"/crm/v3/objects/(\w+)/search", path)
            if m and method == "POST":
                return self.search(m.group(1), body)
            m = re.fullmatch(r"/crm/v3/objects/(\w+)/batch/upsert", path)
            if m and method == "POST":
                return self.upsert(m.group(1), body)
            m = re.fullmatch(r"/crm/v3/properties/(\w+)/(\w+)", path)
            if m and method == "GET":
                return self.property(m.group(1), m.group(2))
            if re.fullmatch(r"/crm/v3/owners/?", path) and method == "GET":
                return self.owners(query)
            return self.send(404, error_body("Unable to route %s request to %s" % (method, path), "OBJECT_NOT_FOUND"))

    def unknown_type(self, otype):
        if otype in LASTMOD:
            return False
        self.send(400, error_body("Unable to infer object type from: %s" % otype, "VALIDATION_ERROR"))
        return True

    # -- search ----------------------------------------------------------
    def search(self, otype, req):
        if self.unknown_type(otype):
            return
        req = req or {}
        props = PROPS[otype]
        limit = req.get("limit", 10)
        if not isinstance(limit, int) or limit < 1 or limit > 200:
            return self.send(400, error_body("limit must be between 1 and 200, got %s" % limit, "VALIDATION_ERROR",
                                             errors=[{"message": "limit must be at most 200", "in": "limit"}]),
                             rate_headers=False)
        try:
            after = int(req.get("after") or 0)
        except (TypeError, ValueError):
            return self.send(400, error_body("after is not a valid paging cursor", "VALIDATION_ERROR"), rate_headers=False)
        if after >= 10000:
            return self.send(400, error_body(
                "There was a problem with the request. The search endpoints are limited to 10,000 total results "
                "for any given query; paging past 10,000 is not possible.", "VALIDATION_ERROR",
                errors=[{"message": "after exceeds the 10,000 results limit", "in": "after"}]), rate_headers=False)
        groups = req.get("filterGroups") or []
        for g in groups:
            for f in g.get("filters", []):
                if f.get("propertyName") not in props:
                    return self.send(400, error_body(
                        "There was a problem with the request.", "VALIDATION_ERROR",
                        errors=[{"message": "Unknown property %s for object type %s" % (f.get("propertyName"), otype),
                                 "context": {"propertyName": [str(f.get("propertyName"))]}}]), rate_headers=False)
        recs = [r for r in self.S.objects[otype].values() if not groups or any(match_group(g, r, props) for g in groups)]
        sorts = req.get("sorts") or []
        if sorts:
            s = sorts[0]
            if isinstance(s, str):       # HubSpot ignores a sort given as a bare string
                pass
            else:
                name, desc = s.get("propertyName"), s.get("direction") == "DESCENDING"
                typ = props.get(name, ("string",))[0]
                def key(r):
                    v = r["properties"].get(name)
                    if typ == "datetime":
                        v = to_ms(v)
                    elif typ == "number" and v is not None:
                        v = float(v)
                    return (v is None, v if v is not None else 0)
                recs.sort(key=lambda r: int(r["id"]))
                recs.sort(key=key, reverse=desc)
        else:
            recs.sort(key=lambda r: int(r["id"]))
        page = recs[after:after + limit]
        wanted = req.get("properties") or []
        base = {"hs_object_id", "createdate", LASTMOD[otype]}
        results = []
        for r in page:
            keep = base | set(wanted) if wanted else base | {"name", "email", "firstname", "lastname", "domain", "dealname"}
            results.append({"id": r["id"], "properties": {k: r["properties"].get(k) for k in sorted(keep) if k in props},
                            "createdAt": r["createdAt"], "updatedAt": r["updatedAt"], "archived": False})
        out = {"total": len(recs), "results": results}
        if after + limit < len(recs):
            out["paging"] = {"next": {"after": str(after + limit), "link": "?after=%d" % (after + limit)}}
        return self.send(200, out, rate_headers=False)

    # -- batch upsert ----------------------------------------------------
    def upsert(self, otype, req):
        if self.unknown_type(otype):
            return
        props = PROPS[otype]
        if not isinstance(req, dict) or not isinstance(req.get("inputs"), list):
            return self.send(400, error_body("Invalid input JSON: inputs is required", "VALIDATION_ERROR",
                                             errors=[{"message": "inputs is required", "in": "inputs"}]))
        inputs = req["inputs"]
        if len(inputs) > 100:
            return self.send(400, error_body("Batch input limit exceeded: %d inputs, at most 100" % len(inputs),
                                             "VALIDATION_ERROR"))
        problems = []
        for inp in inputs:
            idp, rid = inp.get("idProperty"), inp.get("id")
            if not idp or idp not in props or not props[idp][3]:
                return self.send(400, error_body(
                    "Unable to perform update/upsert by non-unique %s property %s in portal ID 4242" %
                    (OBJECT_TYPE_IDS[otype], idp), "VALIDATION_ERROR"))
            if rid is None or str(rid) == "":
                return self.send(400, error_body("Each input needs an id: the value of %s" % idp, "VALIDATION_ERROR"))
            for k, v in (inp.get("properties") or {}).items():
                p = props.get(k)
                if p is None:
                    problems.append({"isValid": False, "message": 'Property "%s" does not exist' % k,
                                     "error": "PROPERTY_DOESNT_EXIST", "name": k})
                elif p[2] is not None and v not in (None, "") and str(v) not in [o["value"] for o in p[2]]:
                    problems.append({"isValid": False, "message":
                                     "%s was not one of the allowed options: [%s]" %
                                     (v, ", ".join('label: "%s"\nvalue: "%s"' % (o["label"], o["value"]) for o in p[2])),
                                     "error": "INVALID_OPTION", "name": k})
                elif p[0] == "number" and v not in (None, "") and not re.fullmatch(r"-?\d+(\.\d+)?", str(v)):
                    problems.append({"isValid": False, "error": "INVALID_FLOAT", "name": k,
                                     "message": "%s was not a valid number." % v})
        if problems:
            msg = "Property values were not valid: " + json.dumps(problems, separators=(",", ":"))
            return self.send(400, error_body(msg, "VALIDATION_ERROR", errors=[
                {"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}}
                for p in problems]))
        started = iso(self.S.tick())
        results = []
        for inp in inputs:
            idp, key = inp["idProperty"], str(inp["id"])
            found = None
            for r in self.S.objects[otype].values():
                if (r["id"] if idp == "hs_object_id" else r["properties"].get(idp)) == key:
                    found = r
                    break
            p = dict(inp.get("properties") or {})
            if found is None:
                if idp == "hs_object_id":
                    return self.send(400, error_body("No %s with id %s" % (otype, key), "VALIDATION_ERROR"))
                p[idp] = key
            rec = self.S.put(otype, p, rid=found["id"] if found else None)
            results.append(dict(rec, new=found is None))
        return self.send(200, {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": iso(self.S.tick())})

    # -- properties and owners ------------------------------------------
    def property(self, otype, name):
        if self.unknown_type(otype):
            return
        p = PROPS[otype].get(name)
        if p is None:
            return self.send(404, error_body("Unable to find property %s" % name, "OBJECT_NOT_FOUND"))
        out = {"name": name, "label": name.replace("_", " ").title(), "type": p[0], "fieldType": p[1],
               "groupName": otype[:-1] + "information", "description": "", "options": p[2] or [],
               "hasUniqueValue": p[3], "hidden": False, "formField": True, "displayOrder": -1,
               "createdAt": "2020-01-01T00:00:00.000Z", "updatedAt": "2020-01-01T00:00:00.000Z",
               "modificationMetadata": {"archivable": True, "readOnlyDefinition": True, "readOnlyValue": False}}
        return self.send(200, out)

    def owners(self, query):
        email = (query.get("email") or [None])[0]
        try:
            limit = int((query.get("limit") or ["100"])[0])
            after = int((query.get("after") or ["0"])[0])
        except ValueError:
            return self.send(400, error_body("limit and after must be integers", "VALIDATION_ERROR"))
        if limit < 1 or limit > 500:
            return self.send(400, error_body("limit must be between 1 and 500", "VALIDATION_ERROR"))
        archived = (query.get("archived") or ["false"])[0] == "true"
        rows = [o for o in self.S.owners if o["archived"] == archived]
        if email is not None:
            rows = [o for o in rows if o.get("email", "").lower() == email.lower()]
        page = rows[after:after + limit]
        out = {"results": page}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit), "link": "?after=%d" % (after + limit)}}
        return self.send(200, out)

    # -- control ---------------------------------------------------------
    def control(self, method, what, body):
        S = self.S
        body = body if isinstance(body, (dict, list)) else {}
        if what == "seed" and method == "POST":
            # { objectType: [ { id?, properties, modified? (ms or ISO) } ], owners: [ ... ] }
            out = {}
            for otype, recs in body.items():
                if otype == "owners":
                    for o in recs:
                        o = dict({"firstName": "", "lastName": "", "archived": False, "teams": [],
                                  "createdAt": "2020-01-01T00:00:00.000Z", "updatedAt": "2020-01-01T00:00:00.000Z",
                                  "userId": int(o["id"]) + 1000000}, **o)
                        S.owners.append(o)
                    continue
                out[otype] = [S.put(otype, r.get("properties", {}), rid=r.get("id"),
                                    modified_ms=to_ms(r.get("modified")))["id"] for r in recs]
            return self.send(200, out, rate_headers=False)
        if what == "generate" and method == "POST":
            # { type, count, start (ms), step (ms) }: many records, for paging
            otype, n = body["type"], int(body["count"])
            ms, step = int(body.get("start", 1700000000000)), int(body.get("step", 1))
            for i in range(n):
                S.put(otype, {"name": "gen-%d" % i}, modified_ms=ms + i * step)
            return self.send(200, {"count": n}, rate_headers=False)
        if what == "touch" and method == "POST":
            # { type, id, properties? }: a change made in HubSpot now
            S.put(body["type"], body.get("properties", {}), rid=body["id"])
            return self.send(200, {}, rate_headers=False)
        if what.startswith("records/"):
            return self.send(200, sorted(S.objects[what[8:]].values(), key=lambda r: int(r["id"])), rate_headers=False)
        if what == "requests":
            if method == "DELETE":
                S.requests = []
                return self.send(200, [], rate_headers=False)
            return self.send(200, S.requests, rate_headers=False)
        if what == "ratelimit" and method == "POST":
            S.ratelimit.update({k: v for k, v in body.items() if k in ("count", "policy", "interval_ms")})
            return self.send(200, S.ratelimit, rate_headers=False)
        if what == "fail" and method == "POST":
            S.failures.update(body)
            return self.send(200, S.failures, rate_headers=False)
        if what == "forbid" and method == "POST":
            S.forbid = list(body.get("paths", []))
            return self.send(200, {"paths": S.forbid}, rate_headers=False)
        return self.send(404, {"error": "no such control: " + what}, rate_headers=False)


def match_filter(f, r, props):
    name, op = f.get("propertyName"), f.get("operator", "EQ")
    v = r["properties"].get(name) if name != "hs_object_id" else r["id"]
    typ = props[name][0]
    conv = to_ms if typ == "datetime" else (lambda x: None if x is None else float(x)) if typ == "number" else \
        (lambda x: None if x is None else str(x).lower())
    if op == "HAS_PROPERTY":
        return v not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return v in (None, "")
    if v in (None, ""):
        return False
    a = conv(v)
    if op in ("IN", "NOT_IN"):
        vals = [conv(x) for x in f.get("values", [])]
        return (a in vals) == (op == "IN")
    b = conv(f.get("value"))
    if op == "BETWEEN":
        return b <= a <= conv(f.get("highValue"))
    return {"EQ": a == b, "NEQ": a != b, "GT": a > b, "GTE": a >= b, "LT": a < b, "LTE": a <= b}.get(op, False)


def match_group(g, r, props):
    return all(match_filter(f, r, props) for f in g.get("filters", []))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--token", required=True)
    a = ap.parse_args()
    Handler.S = State(a.token)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.replace(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
