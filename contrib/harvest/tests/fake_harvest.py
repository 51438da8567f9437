#!/usr/bin/env python3
"""A fake of Harvest's API v2, for contrib/harvest's tests.

Python 3 standard library only; independent of ferry; 127.0.0.1 only.
Written from Harvest's public reference (https://help.getharvest.com/api-v2/:
Overview, Authentication, Pagination, Rate limiting, Clients, Projects,
Project User Assignments, Tasks, Users, Time Entries, Project Budget
Report), not from the connector. What the reference says, and this fake does:

  Auth       every request: Authorization: Bearer TOKEN and Harvest-Account-Id: ID.
             A wrong or missing one is 401 {"error": "invalid_token",
             "error_description": "The access token provided is expired, revoked,
             malformed or invalid for other reasons."}.
  User-Agent required, with the application's name and a contact (an email
             or a URL in parentheses); without one, 400 Bad Request.
  Lists      sorted by creation date, newest first. page, per_page (1..2000,
             default 2000; more is a 422), cursor; updated_since (ISO 8601
             date-time) where the reference lists it. The answer:
             {"<things>": [...], "per_page", "total_pages", "total_entries",
              "next_page", "previous_page", "page",
              "links": {"first", "next", "previous", "last"}}
             links.next is cursor-based (cursor=...&per_page=...&ref=next_cursor,
             the filters kept); for a page reached by cursor, page, next_page
             and previous_page are null. /__fake/paging {"mode": "page"} makes
             it answer as older accounts do: links.next is ?page=N+1.
  Resources  GET  /v2/clients                 ?is_active, updated_since
             GET  /v2/projects                ?is_active, client_id, updated_since
             GET  /v2/projects/{id}
             POST /v2/projects                client_id, name, is_billable, bill_by,
                                              budget_by required -> 201
             PATCH /v2/projects/{id}          any writable field -> 200
             GET  /v2/users                   ?is_active, updated_since
             GET  /v2/tasks                   ?is_active, updated_since
             GET  /v2/user_assignments        ?user_id, is_active, updated_since
             GET  /v2/projects/{id}/user_assignments   ?is_active, updated_since
             GET  /v2/time_entries            ?user_id, client_id, project_id, task_id,
                                              is_billed, is_running, updated_since,
                                              from, to (spent_date, inclusive)
             GET  /v2/reports/project_budget  ?is_active; results computed from
                                              the projects and time entries
  Limits     100 requests per 15 seconds; the reports API 100 per 15 minutes.
             Over the limit: 429 with Retry-After (seconds).
  Errors     422 {"message": "..."} for a refused write; 404 for an unknown id.

What the reference does NOT say, and this fake assumes (the connector must
not depend on more than the status code and some JSON text):
  - the 422 messages' wording ("Name has already been taken", "Client can't
    be blank", "Bill by is not included in the list", "Missing required
    parameter: name"); they name the field in words, as Rails does;
  - 403 and 404 bodies: {"status": 403, "error": "Forbidden"} and
    {"status": 404, "error": "Not Found"};
  - updated_since is inclusive (updated_at >= the value);
  - a User-Agent without a contact in parentheses is a 400.

Test controls (no auth):
  POST /__fake/seed      {"clients": [...], "projects": [...], "users": [...], "tasks": [...],
                          "user_assignments": [...], "time_entries": [...]} replaces those
  POST /__fake/touch     {"kind": "projects", "id": N, "fields": {...}}: an edit in Harvest
                          (merges the fields, updated_at = now)
  POST /__fake/delete    {"kind": "time_entries", "id": N}
  POST /__fake/fail      {"status": 401|403|422|500|..., "times": N, "path": PREFIX?, "skip": M}
  POST /__fake/ratelimit {"times": N, "retry_after": S, "path": PREFIX?}: the next N
                          matching requests are 429 with Retry-After: S
  POST /__fake/paging    {"mode": "cursor" | "page"}
  GET  /__fake/requests  every API request: method, path, query, body, headers, status, t
  GET  /__fake/state     every collection as held

    python3 fake_harvest.py --port-file PATH [--port 0] [--token T] [--account A]
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
KINDS = ("clients", "projects", "users", "tasks", "user_assignments", "time_entries")
STATE = {k: [] for k in KINDS}
STATE.update({"requests": [], "fail": None, "ratelimit": None, "mode": "cursor", "clock": 0.0})
SENT = {"api": [], "reports": []}
LIMITS = {"api": (100, 15), "reports": (100, 15 * 60)}
MAX_PER_PAGE = 2000
UA = re.compile(r"^.+\((mailto:)?[^()\s]+@[^()\s]+\)|^.+\(https?://[^()\s]+\)")


def now_iso():
    """A strictly increasing 'now' at Harvest's resolution (seconds)."""
    t = max(float(int(time.time())), STATE["clock"] + 1.0)
    STATE["clock"] = t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    """An ISO 8601 date-time (or date) -> epoch seconds, or None."""
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}$", s):
            d = datetime.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
        else:
            d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=datetime.timezone.utc)
        return d.timestamp()
    except ValueError:
        return None


def enc_cursor(item):
    return base64.urlsafe_b64encode(json.dumps({"after": {"id": item["id"]}}).encode()).decode().rstrip("=")


def dec_cursor(c):
    try:
        return json.loads(base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)))["after"]["id"]
    except Exception:
        return None


def truthy(v):
    return str(v).lower() in ("true", "1", "yes")


def by_id(kind, i):
    for r in STATE[kind]:
        if str(r["id"]) == str(i):
            return r
    return None


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

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

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
            rec = {"method": method, "path": path, "query": url.query, "body": raw.decode("utf-8", "replace"),
                   "headers": {k.lower(): v for k, v in self.headers.items()}, "t": time.time()}
            STATE["requests"].append(rec)
            status, obj, headers = self.api(method, path, q, raw)
            rec["status"] = status
            return self.send(status, obj, headers)

    def control(self, method, path, raw):
        body = json.loads(raw or b"{}") if method == "POST" else {}
        if path == "/__fake/seed" and method == "POST":
            for k in KINDS:
                if k in body:
                    STATE[k] = body[k]
            return 200, {"ok": True}
        if path == "/__fake/touch" and method == "POST":
            r = by_id(body["kind"], body["id"])
            if r is None:
                return 404, {"error": "no such record"}
            r.update(body.get("fields") or {})
            r["updated_at"] = now_iso()
            return 200, r
        if path == "/__fake/delete" and method == "POST":
            STATE[body["kind"]] = [r for r in STATE[body["kind"]] if str(r["id"]) != str(body["id"])]
            return 200, {"ok": True}
        if path == "/__fake/fail" and method == "POST":
            STATE["fail"] = body if body.get("times", 0) > 0 else None
            return 200, {"ok": True}
        if path == "/__fake/ratelimit" and method == "POST":
            STATE["ratelimit"] = body if body.get("times", 0) > 0 else None
            return 200, {"ok": True}
        if path == "/__fake/paging" and method == "POST":
            STATE["mode"] = body.get("mode", "cursor")
            return 200, {"ok": True}
        if path == "/__fake/requests":
            return 200, STATE["requests"]
        if path == "/__fake/state":
            return 200, {k: STATE[k] for k in KINDS}
        return 404, {"error": "unknown control " + path}

    def api(self, method, path, q, raw):
        """(status, body, headers) for one API request."""
        bucket = "reports" if path.startswith("/v2/reports/") else "api"
        t = time.time()
        limit, window = LIMITS[bucket]
        SENT[bucket][:] = [s for s in SENT[bucket] if s > t - window]
        rl = STATE["ratelimit"]
        if rl and path.startswith(rl.get("path", "/")):
            rl["times"] -= 1
            if rl["times"] <= 0:
                STATE["ratelimit"] = None
            return 429, {"message": "Too Many Requests"}, [("Retry-After", str(rl.get("retry_after", 1)))]
        if len(SENT[bucket]) >= limit:
            wait = int(SENT[bucket][0] + window - t) + 1
            return 429, {"message": "Too Many Requests"}, [("Retry-After", str(wait))]
        SENT[bucket].append(t)
        f = STATE["fail"]
        if f and path.startswith(f.get("path", "/")) and f.get("skip", 0) > 0:
            f["skip"] -= 1
        elif f and path.startswith(f.get("path", "/")):
            f["times"] -= 1
            if f["times"] <= 0:
                STATE["fail"] = None
            bodies = {401: {"error": "invalid_token", "error_description": "The access token provided is "
                            "expired, revoked, malformed or invalid for other reasons."},
                      403: {"status": 403, "error": "Forbidden"}, 404: {"status": 404, "error": "Not Found"},
                      422: {"message": "per_page must be between 1 and 2000"},
                      500: {"status": 500, "error": "Internal Server Error"},
                      503: {"status": 503, "error": "Service Unavailable"}}
            return f["status"], bodies.get(f["status"], {"error": "Error"}), []
        if not UA.match(self.headers.get("User-Agent") or ""):
            return 400, {"status": 400, "error": "Bad Request"}, []
        if (self.headers.get("Authorization") != "Bearer " + self.server.token
                or self.headers.get("Harvest-Account-Id") != self.server.account):
            return 401, {"error": "invalid_token", "error_description": "The access token provided is expired, "
                         "revoked, malformed or invalid for other reasons."}, []
        status, obj = self.route(method, path, q, raw)
        return status, obj, []

    # -- lists -------------------------------------------------------------

    def page(self, name, rows, q, path):
        """Harvest's paging over rows (already filtered), newest created first."""
        try:
            per_page = int(q.get("per_page", MAX_PER_PAGE))
        except ValueError:
            return 422, {"message": "per_page must be a number"}
        if per_page < 1 or per_page > MAX_PER_PAGE:
            return 422, {"message": "per_page must be between 1 and %d" % MAX_PER_PAGE}
        rows = sorted(rows, key=lambda r: (r.get("created_at") or "", r["id"]), reverse=True)
        total = len(rows)
        pages = max((total + per_page - 1) // per_page, 1)
        host = "http://" + (self.headers.get("Host") or "127.0.0.1")
        keep = {k: v for k, v in q.items() if k not in ("page", "cursor", "ref", "per_page")}

        def link(**extra):
            p = dict(keep)
            p.update(extra)
            return host + path + "?" + urllib.parse.urlencode(p)

        if "cursor" in q:
            after = dec_cursor(q["cursor"])
            if after is None:
                return 422, {"message": "cursor is invalid"}
            idx = next((i for i, r in enumerate(rows) if r["id"] == after), None)
            if idx is None:
                return 422, {"message": "cursor is invalid"}
            start = idx + 1
            page_no = None
        else:
            try:
                page_no = int(q.get("page", "1"))
            except ValueError:
                return 422, {"message": "page must be a number"}
            start = (page_no - 1) * per_page
        out = rows[start:start + per_page]
        more = start + per_page < total
        last = not more
        nxt = None
        if more:
            if STATE["mode"] == "page":
                cur = page_no or (start // per_page + 1)
                nxt = link(page=cur + 1, per_page=per_page)
            else:
                nxt = link(cursor=enc_cursor(out[-1]), per_page=per_page, ref="next_cursor")
        shown = page_no if page_no is not None else (pages if last else None)
        body = {name: out, "per_page": per_page, "total_pages": pages, "total_entries": total,
                "page": shown, "next_page": (shown + 1) if (shown and more) else None,
                "previous_page": (shown - 1) if (shown and shown > 1) else None,
                "links": {"first": link(page=1, per_page=per_page, ref="first"), "next": nxt,
                          "previous": None, "last": link(page=pages, per_page=per_page, ref="last")}}
        return 200, body

    def filtered(self, kind, q, filters):
        """STATE[kind] filtered by updated_since and the simple equality filters named."""
        rows = STATE[kind]
        if "updated_since" in q:
            since = parse_iso(q["updated_since"])
            if since is None:
                return None, "updated_since must be an ISO 8601 date and time"
            rows = [r for r in rows if parse_iso(r.get("updated_at") or "1970-01-01") >= since]
        for name, get in filters.items():
            if name in q:
                want = q[name]
                rows = [r for r in rows if str(get(r)).lower() == str(want).lower()]
        return rows, None

    # -- routes ------------------------------------------------------------

    def route(self, method, path, q, raw):
        parts = path.strip("/").split("/")
        if parts[:1] != ["v2"] or len(parts) < 2:
            return 404, {"status": 404, "error": "Not Found"}
        res, rest = parts[1], parts[2:]
        active = {"is_active": lambda r: r.get("is_active")}
        if method == "GET" and not rest and res in ("clients", "users", "tasks"):
            rows, why = self.filtered(res, q, active)
            return (422, {"message": why}) if why else self.page(res, rows, q, path)
        if res == "projects" and not rest and method == "GET":
            rows, why = self.filtered("projects", q, dict(active, client_id=lambda r: (r.get("client") or {}).get("id")))
            return (422, {"message": why}) if why else self.page("projects", rows, q, path)
        if res == "projects" and not rest and method == "POST":
            return self.create_project(raw)
        if res == "projects" and len(rest) == 1:
            p = by_id("projects", rest[0])
            if p is None:
                return 404, {"status": 404, "error": "Not Found"}
            if method == "GET":
                return 200, p
            if method == "PATCH":
                return self.update_project(p, raw)
        if res == "projects" and len(rest) == 2 and rest[1] == "user_assignments" and method == "GET":
            if by_id("projects", rest[0]) is None:
                return 404, {"status": 404, "error": "Not Found"}
            rows, why = self.filtered("user_assignments", q, active)
            rows = [r for r in (rows or []) if str(r["project"]["id"]) == rest[0]]
            return (422, {"message": why}) if why else self.page("user_assignments", rows, q, path)
        if res == "user_assignments" and not rest and method == "GET":
            rows, why = self.filtered("user_assignments", q, dict(active, user_id=lambda r: r["user"]["id"]))
            return (422, {"message": why}) if why else self.page("user_assignments", rows, q, path)
        if res == "time_entries" and not rest and method == "GET":
            rows, why = self.filtered("time_entries", q, {
                "user_id": lambda r: r["user"]["id"], "client_id": lambda r: r["client"]["id"],
                "project_id": lambda r: r["project"]["id"], "task_id": lambda r: r["task"]["id"],
                "is_billed": lambda r: r.get("is_billed"), "is_running": lambda r: r.get("is_running")})
            if why:
                return 422, {"message": why}
            for k, keep in (("from", lambda d, v: d >= v), ("to", lambda d, v: d <= v)):
                if k in q:
                    if not re.match(r"^\d{4}-\d{2}-\d{2}$", q[k]):
                        return 422, {"message": "%s must be a date (YYYY-MM-DD)" % k}
                    rows = [r for r in rows if keep(r["spent_date"], q[k])]
            return self.page("time_entries", rows, q, path)
        if res == "reports" and rest == ["project_budget"] and method == "GET":
            status, body = self.page("results", self.budget_rows(q), q, path)
            for r in body.get("results", []):
                r.pop("created_at", None)
                r.pop("id", None)
            return status, body
        return 404, {"status": 404, "error": "Not Found"}

    def budget_rows(self, q):
        out = []
        for p in STATE["projects"]:
            if (p.get("budget_by") or "none") == "none":
                continue
            if "is_active" in q and truthy(q["is_active"]) != bool(p.get("is_active")):
                continue
            entries = [e for e in STATE["time_entries"] if e["project"]["id"] == p["id"]]
            if p["budget_by"] in ("project_cost", "task_fees"):
                budget = p.get("cost_budget")
                spent = sum(e["hours"] * (e.get("billable_rate") or 0) for e in entries if e.get("billable"))
            else:
                budget = p.get("budget")
                spent = sum(e["hours"] for e in entries)
            spent = round(spent, 2)
            out.append({"client_id": p["client"]["id"], "client_name": p["client"]["name"], "project_id": p["id"],
                        "project_name": p["name"], "budget_is_monthly": bool(p.get("budget_is_monthly")),
                        "budget_by": p["budget_by"], "is_active": bool(p.get("is_active")), "budget": budget,
                        "budget_spent": spent,
                        "budget_remaining": None if budget is None else round(budget - spent, 2),
                        "created_at": p.get("created_at"), "id": p["id"]})   # for the order; dropped
        return out

    WRITABLE = ("client_id", "name", "code", "is_active", "is_billable", "is_fixed_fee", "bill_by", "hourly_rate",
                "budget", "budget_by", "budget_is_monthly", "notify_when_over_budget",
                "over_budget_notification_percentage", "show_budget_to_all", "cost_budget",
                "cost_budget_include_expenses", "fee", "notes", "starts_on", "ends_on")
    BILL_BY = ("Project", "Tasks", "People", "none")
    BUDGET_BY = ("project", "project_cost", "task", "task_fees", "person", "none")

    def check_project(self, body, current):
        """None, or the 422 message for the first field Harvest would refuse."""
        if "name" in body:
            for p in STATE["projects"]:
                if p["name"] == body["name"] and (current is None or p["id"] != current["id"]):
                    return "Name has already been taken"
        if "client_id" in body and by_id("clients", body["client_id"]) is None:
            return "Client can't be blank"
        if "bill_by" in body and body["bill_by"] not in self.BILL_BY:
            return "Bill by is not included in the list"
        if "budget_by" in body and body["budget_by"] not in self.BUDGET_BY:
            return "Budget by is not included in the list"
        for k in ("budget", "cost_budget", "hourly_rate", "fee"):
            v = body.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                return "%s is not a number" % k.replace("_", " ").capitalize()
        for k in ("starts_on", "ends_on"):
            v = body.get(k)
            if v is not None and not re.match(r"^\d{4}-\d{2}-\d{2}$", str(v)):
                return "%s is not a valid date" % k.replace("_", " ").capitalize()
        return None

    def json_body(self, raw):
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return None, "Content-Type must be application/json"
        try:
            body = json.loads(raw)
        except ValueError:
            return None, "Invalid JSON body"
        if not isinstance(body, dict):
            return None, "Invalid JSON body"
        return body, None

    def create_project(self, raw):
        body, why = self.json_body(raw)
        if why:
            return 422, {"message": why}
        for k in ("client_id", "name", "is_billable", "bill_by", "budget_by"):
            if body.get(k) is None:
                return 422, {"message": "Missing required parameter: %s" % k}
        unknown = [k for k in body if k not in self.WRITABLE]
        if unknown:
            return 422, {"message": "Unknown parameter: %s" % unknown[0]}
        msg = self.check_project(body, None)
        if msg:
            return 422, {"message": msg}
        c = by_id("clients", body["client_id"])
        t = now_iso()
        p = {"id": max([x["id"] for x in STATE["projects"]] + [14300000]) + 1, "is_active": True,
             "is_fixed_fee": False, "hourly_rate": None, "budget": None, "cost_budget": None, "fee": None,
             "code": None, "notes": "", "starts_on": None, "ends_on": None, "budget_is_monthly": False,
             "created_at": t, "updated_at": t}
        p.update({k: v for k, v in body.items() if k != "client_id"})
        p["client"] = {"id": c["id"], "name": c["name"], "currency": c.get("currency", "USD")}
        STATE["projects"].append(p)
        return 201, p

    def update_project(self, p, raw):
        body, why = self.json_body(raw)
        if why:
            return 422, {"message": why}
        unknown = [k for k in body if k not in self.WRITABLE]
        if unknown:
            return 422, {"message": "Unknown parameter: %s" % unknown[0]}
        msg = self.check_project(body, p)
        if msg:
            return 422, {"message": msg}
        for k, v in body.items():
            if k == "client_id":
                c = by_id("clients", v)
                p["client"] = {"id": c["id"], "name": c["name"], "currency": c.get("currency", "USD")}
            else:
                p[k] = v
        p["updated_at"] = now_iso()
        return 200, p


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--token", default="hv_fake_token")
    ap.add_argument("--account", default="123456")
    opts = ap.parse_args()
    srv = Server(("127.0.0.1", opts.port), Handler)
    srv.token, srv.account = opts.token, opts.account
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, opts.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
