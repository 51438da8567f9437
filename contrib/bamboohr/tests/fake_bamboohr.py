#!/usr/bin/env python3
"""A fake of BambooHR's API, for contrib/bamboohr's tests.

Python 3 standard library only; independent of ferry; 127.0.0.1 only.
Written from BambooHR's public reference (https://documentation.bamboohr.com:
"Technical Overview", "Getting Started", "Planned Changes to the API", and the
OpenAPI document in ../shared/specs/bamboohr/public.yaml), not from the
connector. What the reference says, and this fake does:

  Base       https://{companyDomain}.bamboohr.com/api/v1/...  (the fake also
             answers the older https://api.bamboohr.com/api/gateway.php/{companyDomain}/v1/...)
  Auth       HTTP Basic, the API key as the user name and any password
             ("x"); anything else is 401.
  Format     JSON only when the Accept header asks for application/json (or
             ?format=json where the endpoint takes it); XML otherwise.
  Employees  GET  /v1/employees/directory             {fields, employees}: Active employees only
             GET  /v1/employees/changed?since=&type=  {latest, employees: {id: {id, action, lastChanged}}};
                                                      400 without a valid ISO 8601 since
             GET  /v1/employees/{id}?fields=a,b       one employee's fields
             POST /v1/employees/{id}                  field values; 200 with no body
             POST /v1/reports/custom?format=json      {title?, fields: [...], filters?: {lastChanged:
                                                      {value, includeNull}, employeeIds: [...]}}, with
                                                      Content-Type exactly application/json (else the body
                                                      is read as XML: 400 Malformed XML); every employee,
                                                      Active and Inactive; unknown fields silently omitted;
                                                      values are strings (or null); more than 400 fields is 400
  Lists      GET  /v1/meta/lists                      [{fieldId, alias, name, manageable, multiple,
                                                        options: [{id, name, archived, createdDate, archivedDate}]}]
  Time off   GET  /v1/time_off/requests?start=&end=&status=&employeeId=&type=
                                                      start and end required (YYYY-MM-DD, else 400); a request
                                                      overlapping the window is returned; status a comma list
             GET  /v1/time_off/whos_out?start=&end=   approved time off and holidays; today and 14 days
                                                      when the dates are omitted
  Errors     the reason in an X-BambooHR-Error-Message header on 400/403/404/409,
             the body empty
  Limits     no documented number; throttled requests answer 429 with
             Retry-After (503 before September 16, 2026, also with Retry-After).

What the reference does NOT document, and this fake assumes (the connector
must not depend on more than the status code and the error header):
  - `since` of /employees/changed is inclusive: an employee changed at exactly
    `since` is returned again.
  - lastChanged is "YYYY-MM-DDTHH:MM:SS+00:00" (second resolution); empty
    dates are "0000-00-00", as BambooHR sends them.
  - POST /employees/{id}: an unknown field is 400 "Unknown field: NAME"; a
    field the key may not edit is 403 "... field NAME"; a list field's value
    that is not one of its current options, or a work email another employee
    has, is 409 naming the field.

Test controls (a path BambooHR does not use):
  POST /__fake/seed        {"employees": [...], "deleted": [...], "lists": [...], "timeOff": [...],
                            "holidays": [...]}  replaces those collections
  POST /__fake/touch       {"id": ID, "fields": {...}} an edit made in BambooHR: bumps lastChanged
  POST /__fake/delete      {"id": ID} deletes an employee (changed: action Deleted)
  POST /__fake/fail        {"status": N, "times": N, "path": PREFIX?, "skip": M, "message": TEXT?}
                           after M more matching requests, the next N answer that status
  POST /__fake/ratelimit   {"times": N, "retry_after": S, "status": 429|503}
  GET  /__fake/requests    every API request: method, path, query, body, auth, accept, ctype, t
  GET  /__fake/employees   the employees as the fake holds them

    python3 fake_bamboohr.py --port-file PATH [--port 0] [--key KEY]
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import re
import socketserver
import threading
import time
import urllib.parse

LOCK = threading.Lock()
STATE = {"employees": [], "deleted": [], "lists": [], "timeOff": [], "holidays": [], "requests": [],
         "fail": None, "ratelimit": None, "clock": 0}
# Fields a key of the test may not edit (a 403 names the field).
PROTECTED = {"ssn", "payRate", "sin"}
KNOWN = {"id", "firstName", "lastName", "preferredName", "displayName", "workEmail", "homeEmail", "department",
         "division", "jobTitle", "status", "hireDate", "terminationDate", "location", "supervisor",
         "supervisorId", "supervisorEId", "supervisorEmail", "standardHoursPerWeek", "employmentHistoryStatus",
         "employeeNumber", "workPhone", "mobilePhone", "lastChanged", "ssn", "payRate", "sin", "country", "city"}


def now_iso():
    """A non-decreasing 'now' at second resolution, as BambooHR's lastChanged."""
    t = max(int(time.time()), STATE["clock"])
    STATE["clock"] = t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_time(s):
    try:
        d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        m = re.match(r"^(.*[+-]\d\d)(\d\d)$", s or "")      # +0000
        if not m:
            return None
        try:
            d = datetime.datetime.fromisoformat(m.group(1) + ":" + m.group(2))
        except ValueError:
            return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d


def parse_date(s):
    try:
        return datetime.date.fromisoformat(s)
    except (TypeError, ValueError):
        return None


def find(eid):
    for e in STATE["employees"]:
        if str(e["id"]) == str(eid):
            return e
    return None


def as_text(v):
    """Custom report values are strings (the reference's schema), or null."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def list_options(field):
    for lst in STATE["lists"]:
        if lst.get("alias") == field:
            return [o["name"] for o in lst.get("options", []) if o.get("archived") != "yes"]
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, obj, headers=(), xml=False):
        if obj is None:
            body = b""
        elif xml:
            body = ("<?xml version=\"1.0\"?>\n<response>%s</response>\n" % json.dumps(obj)[:200]).encode()
        else:
            body = json.dumps(obj).encode()
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "text/xml; charset=utf-8" if xml else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

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
                                      "auth": self.headers.get("Authorization") or "",
                                      "accept": self.headers.get("Accept") or "",
                                      "ctype": self.headers.get("Content-Type") or "", "t": time.time()})
            status, obj, headers = self.api(method, path, q, raw)
            wants_json = "application/json" in (self.headers.get("Accept") or "") or q.get("format", "").lower() == "json"
            if status >= 400:
                obj = None               # BambooHR's errors: the reason in the header, the body empty
            return self.send(status, obj, headers, xml=not wants_json)

    def control(self, method, path, raw):
        body = json.loads(raw or b"{}") if method == "POST" else {}
        if path == "/__fake/seed" and method == "POST":
            for k in ("employees", "deleted", "lists", "timeOff", "holidays"):
                if k in body:
                    STATE[k] = body[k]
            return 200, {"ok": True}
        if path == "/__fake/touch" and method == "POST":
            e = find(body["id"])
            if e is None:
                return 404, {"error": "no such employee"}
            e.update(body.get("fields") or {})
            e["lastChanged"] = now_iso()
            e["action"] = "Updated"
            return 200, e
        if path == "/__fake/delete" and method == "POST":
            e = find(body["id"])
            if e is None:
                return 404, {"error": "no such employee"}
            STATE["employees"].remove(e)
            STATE["deleted"].append({"id": str(e["id"]), "lastChanged": now_iso()})
            return 200, {"ok": True}
        if path == "/__fake/fail" and method == "POST":
            STATE["fail"] = body if body.get("times", 0) > 0 else None
            return 200, {"ok": True}
        if path == "/__fake/ratelimit" and method == "POST":
            STATE["ratelimit"] = body if body.get("times", 0) > 0 else None
            return 200, {"ok": True}
        if path == "/__fake/requests":
            return 200, STATE["requests"]
        if path == "/__fake/employees":
            return 200, STATE["employees"]
        return 404, {"error": "unknown control " + path}

    def api(self, method, path, q, raw):
        """(status, body, headers) for one API request."""
        rl = STATE["ratelimit"]
        if rl:
            rl["times"] -= 1
            if rl["times"] <= 0:
                STATE["ratelimit"] = None
            return rl.get("status", 429), None, [("Retry-After", str(rl.get("retry_after", 1)))]
        f = STATE["fail"]
        if f and path.startswith(f.get("path", "/")) and f.get("skip", 0) > 0:
            f["skip"] -= 1
        elif f and path.startswith(f.get("path", "/")):
            f["times"] -= 1
            if f["times"] <= 0:
                STATE["fail"] = None
            h = [("X-BambooHR-Error-Message", f["message"])] if f.get("message") else []
            return f["status"], None, h
        auth = self.headers.get("Authorization") or ""
        user = None
        if auth.startswith("Basic "):
            try:
                user = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except Exception:
                user = None
        if user != self.server.key:
            return 401, None, []
        m = re.match(r"^/api/(?:gateway\.php/[^/]+/)?v1/(.*?)/?$", path)
        if not m:
            return 404, None, [("X-BambooHR-Error-Message", "Not found")]
        status, obj = self.route(method, m.group(1).split("/"), q, raw)
        if isinstance(obj, str):
            return status, None, [("X-BambooHR-Error-Message", obj)]
        return status, obj, []

    def route(self, method, parts, q, raw):
        if parts == ["employees", "directory"] and method == "GET":
            fields = ["displayName", "firstName", "lastName", "jobTitle", "workEmail", "department", "location",
                      "division", "supervisor"]
            rows = [dict([("id", str(e["id"]))] + [(k, e.get(k)) for k in fields])
                    for e in STATE["employees"] if e.get("status") == "Active"]
            if not rows:
                return 404, "The directory is empty"
            return 200, {"fields": [{"id": k, "type": "text", "name": k} for k in fields], "employees": rows}
        if parts == ["employees", "changed"] and method == "GET":
            since = parse_time(q.get("since", ""))
            if since is None:
                return 400, "The since parameter is missing or not a valid ISO 8601 date"
            kind = q.get("type", "all")
            if kind not in ("inserted", "updated", "deleted", "all"):
                return 400, "Invalid type: inserted, updated, deleted or all"
            out = {}
            rows = [(e, e.get("action", "Inserted")) for e in STATE["employees"]] + \
                   [(d, "Deleted") for d in STATE["deleted"]]
            for e, action in rows:
                t = parse_time(e.get("lastChanged") or "")
                if t is None or t < since or (kind != "all" and action.lower() != kind):
                    continue
                out[str(e["id"])] = {"id": str(e["id"]), "action": action, "lastChanged": e["lastChanged"]}
            latest = max((v["lastChanged"] for v in out.values()), key=lambda s: parse_time(s), default=None)
            return 200, {"latest": latest or q["since"], "employees": out}
        if parts == ["reports", "custom"] and method == "POST":
            if self.headers.get("Content-Type") != "application/json":
                return 400, "Malformed XML"
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, "Malformed JSON"
            fields = body.get("fields")
            if not isinstance(fields, list) or not fields:
                return 400, "A report needs a list of fields"
            if len(fields) > 400:
                return 400, "Too many fields: the maximum is 400"
            filters = body.get("filters") or {}
            ids = filters.get("employeeIds")
            lc = filters.get("lastChanged") or {}
            since = parse_time(lc["value"]) if lc.get("value") else None
            known = [f for f in fields if f in KNOWN]
            rows = []
            for e in STATE["employees"]:
                if ids is not None and int(e["id"]) not in [int(i) for i in ids]:
                    continue
                if since is not None:
                    t = parse_time(e.get("lastChanged") or "")
                    if (t is None and lc.get("includeNull") == "no") or (t is not None and t < since):
                        continue
                row = {"id": str(e["id"])}
                for f in known:
                    row[f] = as_text(e.get(f))
                rows.append(row)
            return 200, {"title": body.get("title", "Report"),
                         "fields": [{"id": f, "type": "text", "name": f} for f in known], "employees": rows}
        if len(parts) == 2 and parts[0] == "employees" and re.match(r"^\d+$", parts[1]):
            e = find(parts[1])
            if e is None:
                return 404, "Employee not found"
            if method == "GET":
                fields = (q.get("fields") or "firstName,lastName").split(",")
                out = {"id": str(e["id"])}
                for f in fields:
                    if f in KNOWN:
                        out[f] = as_text(e.get(f))
                return 200, out
            if method == "POST":
                if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                    return 400, "Malformed XML"
                try:
                    body = json.loads(raw)
                except ValueError:
                    return 400, "Malformed JSON"
                if not isinstance(body, dict) or not body:
                    return 400, "No fields to update"
                for k, v in body.items():
                    if k not in KNOWN or k in ("id", "lastChanged", "displayName"):
                        return 400, "Unknown field: %s" % k
                    if k in PROTECTED:
                        return 403, "You do not have permission to update field %s" % k
                    opts = list_options(k)
                    if opts is not None and v not in opts:
                        return 409, "Invalid value for field %s: \"%s\" is not one of its options" % (k, v)
                    if k == "workEmail":
                        for o in STATE["employees"]:
                            if o is not e and (o.get("workEmail") or "").lower() == str(v).lower():
                                return 409, "Invalid value for field workEmail: %s belongs to another employee" % v
                e.update(body)
                e["lastChanged"] = now_iso()
                e["action"] = "Updated"
                return 200, None
        if parts == ["meta", "lists"] and method == "GET":
            return 200, STATE["lists"]
        if parts == ["time_off", "requests"] and method == "GET":
            start, end = parse_date(q.get("start")), parse_date(q.get("end"))
            if start is None or end is None:
                return 400, "Both start and end are required, as YYYY-MM-DD"
            want = set(s for s in q.get("status", "").split(",") if s)
            for s in want:
                if s not in ("approved", "denied", "superceded", "requested", "canceled"):
                    return 400, "Invalid status: %s" % s
            out = []
            for r in STATE["timeOff"]:
                if parse_date(r["end"]) < start or parse_date(r["start"]) > end:
                    continue
                if want and r["status"]["status"] not in want:
                    continue
                if q.get("employeeId") and str(r["employeeId"]) != q["employeeId"]:
                    continue
                if q.get("type") and str(r["type"]["id"]) not in q["type"].split(","):
                    continue
                out.append(r)
            return 200, out
        if parts == ["time_off", "whos_out"] and method == "GET":
            start = parse_date(q["start"]) if "start" in q else datetime.date.today()
            end = parse_date(q["end"]) if "end" in q else start + datetime.timedelta(days=14)
            if start is None or end is None:
                return 400, "Invalid date: YYYY-MM-DD"
            out = []
            for r in STATE["timeOff"]:
                if r["status"]["status"] == "approved" and not (
                        parse_date(r["end"]) < start or parse_date(r["start"]) > end):
                    out.append({"id": r["id"], "type": "timeOff", "employeeId": r["employeeId"], "name": r["name"],
                                "start": r["start"], "end": r["end"]})
            for h in STATE["holidays"]:
                if not (parse_date(h["end"]) < start or parse_date(h["start"]) > end):
                    out.append(dict(h, type="holiday"))
            return 200, sorted(out, key=lambda r: (r["start"], r["id"]))
        return 404, "Not found"


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--key", default="fake_bamboohr_key")
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
