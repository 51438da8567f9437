#!/usr/bin/env python3
"""A fake Jira Cloud site (platform REST API v3 + Jira Service Management).

Python 3 standard library only, independent of ferry, written from
Atlassian's public reference (developer.atlassian.com/cloud/jira/platform/
rest/v3/, .../service-desk/rest/, and the "Rate limiting" page). Listens on
127.0.0.1 only. Every API route wants Basic auth EMAIL:API_TOKEN.

  POST /rest/api/3/search/jql      {"jql", "nextPageToken", "maxResults", "fields"}
       -> {"issues": [...], "nextPageToken"?: str, "isLast": bool}
       The enhanced search: an opaque page token, no startAt and no total;
       without "fields" an issue is only {"id"} (the reference's default);
       "*all" or "*navigable" give every field; maxResults default 50, at
       most 100 here (Jira: 5000 when only ids are asked for). The last page
       has no nextPageToken key (JRACLOUD-92184). JQL: the subset below.
  POST /rest/api/3/search          410: the old search is gone (as announced)
  GET  /rest/api/3/myself          the caller, with its timeZone
  GET  /rest/api/3/users/search?startAt=&maxResults=   a JSON list; users
       whose privacy setting hides their email have no emailAddress key
  GET  /rest/api/3/field           every field: {id, key, name, custom, schema}
  GET  /rest/api/3/field/{id}/context?startAt=&maxResults=        PageBean
  GET  /rest/api/3/field/{id}/context/{ctx}/option?startAt=&maxResults=  PageBean
       of {id, value, disabled}; maxResults default 100
  GET  /rest/api/3/issue/{idOrKey}?fields=a,b
  PUT  /rest/api/3/issue/{idOrKey}  {"fields": {...}} -> 204; 400 with
       {"errorMessages": [], "errors": {FIELD: message}}; 404 for an issue
       it does not hold. A select field takes {"value": "Gold"} or {"id": "..."}
       of an enabled option of its context; anything else is refused.
  GET  /rest/servicedeskapi/organization?start=&limit=&accountId=
       -> {"size", "start", "limit", "isLastPage", "values": [{id, name, _links}], "_links"}

JQL understood (anything else is a 400 naming the problem, as Jira does):
clauses joined by AND; FIELD OP VALUE with OP one of = != > >= < <= ~ IN
"NOT IN" "IS EMPTY" "IS NOT EMPTY"; fields project, key, id, status,
statusCategory, priority, labels, issuetype, updated, created, reporter, a
custom field by name ("Tier"), as cf[10050] or customfield_10050; values
quoted or bare; dates "yyyy-MM-dd HH:mm", "yyyy/MM/dd HH:mm" or "yyyy-MM-dd",
read in the caller's time zone (minute precision, as Jira). ORDER BY a list
of fields, each ASC or DESC. Like the enhanced search, a query without any
restriction (only ORDER BY, or nothing) is refused as unbounded.

Rate limits: every answer carries X-RateLimit-Limit, X-RateLimit-Remaining
and X-RateLimit-NearLimit; a 429 carries Retry-After (seconds), X-RateLimit-
Reset (ISO 8601, yyyy-MM-ddTHH:mmZ), RateLimit-Reason and Remaining 0.

Control endpoints (not Jira's, no auth), under /__fake/:
  POST /__fake/issues   [{"key", "fields": {...}}]   add or replace by key
                        (id assigned; "updated"/"created" default to now)
  GET  /__fake/issues   every issue held
  POST /__fake/touch    {"key", "fields"?: {...}}   an edit in Jira: updated = now
  POST /__fake/users    [{accountId, displayName, emailAddress?, accountType?, active?}]  replace
  POST /__fake/fields   [{"id", "name", "custom", "options"?: [values], "disabled"?: [values]}]
                        add fields; a select field's options go into one global context
  POST /__fake/organizations  [{"id", "name", "members": [accountId]}]  replace
  POST /__fake/fail     {"status": 429|403|500|503, "times": N, "retry_after": "2" | "none",
                         "reset_in": S?, "path": "substring"?}  the next N matching API
                        requests fail; a 429's X-RateLimit-Reset is S (default: the
                        Retry-After, or 60) seconds ahead, rounded up to the minute
  POST /__fake/timezone {"timeZone": "Europe/Berlin"}
  GET  /__fake/requests every API request: {method, path, query, body, status, t}
  POST /__fake/reset-requests

    python3 fake_jira.py [--port 0] [--port-file PATH] [--email E] [--token T]
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import re
import signal
import socketserver
import sys
import threading
import time
import urllib.parse
import zoneinfo

LIMIT = 350            # the burst budget the headers announce


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def jira_time(dt, tz):
    """Jira's own timestamp form: 2026-12-05T10:15:30.123+0100."""
    d = dt.astimezone(tz)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d" % (d.microsecond // 1000) + d.strftime("%z")


def parse_jira_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")


class JQLError(Exception):
    pass


TOKEN_RE = re.compile(r'\s*(?:(\()|(\))|(,)|("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|'
                      r'(!=|>=|<=|!~|=|>|<|~)|([A-Za-z0-9_.\[\]\-/:*@]+))')


def tokenize(q):
    out, pos = [], 0
    while pos < len(q):
        if q[pos:].strip() == "":
            break
        m = TOKEN_RE.match(q, pos)
        if not m or m.end() == pos:
            raise JQLError("Error in the JQL Query: The character '%s' is a reserved JQL character." % q[pos])
        pos = m.end()
        lp, rp, comma, quoted, op, word = m.groups()
        if quoted:
            out.append(("str", quoted[1:-1].replace('\\"', '"').replace("\\'", "'")))
        elif op:
            out.append(("op", op))
        elif word:
            out.append(("word", word))
        else:
            out.append(("punct", lp or rp or comma))
    return out


class Site:
    def __init__(self, email, token):
        self.email, self.token = email, token
        self.lock = threading.Lock()
        self.issues = {}          # key -> issue
        self.next_id = 10000
        self.users = []
        self.fields = [
            {"id": "summary", "key": "summary", "name": "Summary", "custom": False,
             "schema": {"type": "string", "system": "summary"}},
            {"id": "status", "key": "status", "name": "Status", "custom": False,
             "schema": {"type": "status", "system": "status"}},
            {"id": "priority", "key": "priority", "name": "Priority", "custom": False,
             "schema": {"type": "priority", "system": "priority"}},
            {"id": "labels", "key": "labels", "name": "Labels", "custom": False,
             "schema": {"type": "array", "items": "string", "system": "labels"}},
            {"id": "updated", "key": "updated", "name": "Updated", "custom": False,
             "schema": {"type": "datetime", "system": "updated"}},
        ]
        self.contexts = {}        # field id -> [{"id", "name", "isGlobalContext", "options": [...]}]
        self.next_option = 10100
        self.orgs = []
        self.faults = []
        self.requests = []
        self.tz = zoneinfo.ZoneInfo("UTC")
        self.tzname = "UTC"

    # ---------------------------------------------------------- fields
    def field_by_ref(self, ref):
        r = ref.lower()
        m = re.match(r"^cf\[(\d+)\]$", r)
        if m:
            r = "customfield_" + m.group(1)
        for f in self.fields:
            if f["id"].lower() == r or f["name"].lower() == r:
                return f
        return None

    def add_field(self, spec):
        fid = spec["id"]
        f = {"id": fid, "key": fid, "name": spec["name"], "custom": spec.get("custom", True),
             "schema": spec.get("schema") or {"type": "option", "custom":
                       "com.atlassian.jira.plugin.system.customfieldtypes:select",
                       "customId": int(fid.split("_")[-1]) if fid.startswith("customfield_") else None}}
        self.fields = [x for x in self.fields if x["id"] != fid] + [f]
        if "options" in spec:
            opts = []
            for v in spec["options"]:
                self.next_option += 1
                opts.append({"id": str(self.next_option), "value": v,
                             "disabled": v in spec.get("disabled", [])})
            self.contexts[fid] = [{"id": str(10200 + len(self.contexts)), "name": "Default context for " + spec["name"],
                                   "isGlobalContext": True, "isAnyIssueType": True, "options": opts}]

    # ---------------------------------------------------------- issues
    def add_issue(self, spec):
        key = spec["key"]
        old = self.issues.get(key)
        if old:
            iid = old["id"]
        else:
            self.next_id += 1
            iid = str(self.next_id)
        fields = dict(spec.get("fields", {}))
        stamp = jira_time(now_utc(), self.tz)
        fields.setdefault("created", stamp)
        fields.setdefault("updated", stamp)
        fields.setdefault("project", {"key": key.split("-")[0]})
        self.issues[key] = {"id": iid, "key": key, "self": "/rest/api/3/issue/" + iid, "fields": fields}

    def find_issue(self, ref):
        if ref in self.issues:
            return self.issues[ref]
        for i in self.issues.values():
            if i["id"] == ref:
                return i
        return None

    def issue_value(self, issue, name):
        """The values of a JQL field for an issue, as a list of comparable strings/datetimes."""
        f = issue["fields"]
        n = name.lower()
        if n == "key":
            return [issue["key"]]
        if n == "id":
            return [issue["id"]]
        if n == "project":
            return [f.get("project", {}).get("key")]
        if n in ("updated", "created"):
            return [parse_jira_time(f[n])] if f.get(n) else []
        if n == "status":
            s = f.get("status")
            return [s["name"]] if s else []
        if n == "statuscategory":
            s = f.get("status")
            return [s.get("statusCategory", {}).get("name")] if s else []
        if n in ("priority", "issuetype"):
            v = f.get(n)
            return [v["name"]] if v else []
        if n == "labels":
            return list(f.get("labels") or [])
        if n == "reporter":
            v = f.get("reporter")
            return [v["accountId"]] if v else []
        fd = self.field_by_ref(name)
        if not fd:
            raise JQLError("Field '%s' does not exist or you do not have permission to view it." % name)
        v = f.get(fd["id"])
        if v is None:
            return []
        vs = v if isinstance(v, list) else [v]
        out = []
        for x in vs:
            if isinstance(x, dict):
                out.append(x.get("value") or x.get("name") or x.get("id"))
            else:
                out.append(str(x))
        return out

    def parse_date(self, s):
        for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
            try:
                d = datetime.datetime.strptime(s, fmt)
            except ValueError:
                continue
            return d.replace(tzinfo=self.tz)
        raise JQLError("Date value '%s' for field 'updated' is invalid. Valid formats include: "
                       "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'." % s)

    def compile_jql(self, q):
        """-> (predicate(issue), [(field, desc)])"""
        toks = tokenize(q or "")
        order = []
        for i in range(len(toks) - 1):
            if toks[i] == ("word", "ORDER") or (toks[i][0] == "word" and toks[i][1].upper() == "ORDER"):
                if toks[i + 1][0] == "word" and toks[i + 1][1].upper() == "BY":
                    rest = toks[i + 2:]
                    toks = toks[:i]
                    j = 0
                    while j < len(rest):
                        if rest[j][0] not in ("word", "str"):
                            raise JQLError("Error in the JQL Query: expecting a field name in ORDER BY")
                        desc = False
                        fld = rest[j][1]
                        j += 1
                        if j < len(rest) and rest[j][0] == "word" and rest[j][1].upper() in ("ASC", "DESC"):
                            desc = rest[j][1].upper() == "DESC"
                            j += 1
                        order.append((fld, desc))
                        if j < len(rest):
                            if rest[j] != ("punct", ","):
                                raise JQLError("Error in the JQL Query: expecting ',' in ORDER BY")
                            j += 1
                    break
        # AND is the only connective here, so grouping parentheses change
        # nothing: drop them (the ones of an IN list stay)
        flat, in_list = [], False
        for i, t in enumerate(toks):
            if t == ("punct", "(") and i > 0 and toks[i - 1][0] == "word" and toks[i - 1][1].upper() == "IN":
                in_list = True
            elif t == ("punct", ")") and in_list:
                in_list = False
            elif t[0] == "punct" and t[1] in "()":
                continue
            flat.append(t)
        clauses, cur = [], []
        for t in flat:
            if t[0] == "word" and t[1].upper() == "AND":
                clauses.append(cur)
                cur = []
            elif t[0] == "word" and t[1].upper() == "OR":
                raise JQLError("Error in the JQL Query: OR is not supported by this fake")
            else:
                cur.append(t)
        if cur:
            clauses.append(cur)
        preds = [self.compile_clause(c) for c in clauses if c]
        if not preds:
            raise JQLError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
        return (lambda issue: all(p(issue) for p in preds)), order

    def compile_clause(self, c):
        if len(c) < 2 or c[0][0] not in ("word", "str"):
            raise JQLError("Error in the JQL Query: Expecting a field name but got '%s'." % (c[0][1] if c else ""))
        field = c[0][1]
        rest = c[1:]
        words = [t[1].upper() if t[0] == "word" else None for t in rest]
        is_date = field.lower() in ("updated", "created")
        self.issue_value({"id": "", "key": "", "fields": {}}, field)   # unknown field -> JQLError

        def conv(v):
            return self.parse_date(v) if is_date else v.lower()

        def vals(issue):
            vs = self.issue_value(issue, field)
            return vs if is_date else [str(x).lower() for x in vs]

        if words[:2] == ["IS", "EMPTY"]:
            return lambda i: not vals(i)
        if words[:3] == ["IS", "NOT", "EMPTY"]:
            return lambda i: bool(vals(i))
        negate = False
        if words[:2] == ["NOT", "IN"]:
            negate, rest = True, rest[1:]
            words = words[1:]
        if words[:1] == ["IN"]:
            items = [t[1] for t in rest[1:] if t[0] in ("word", "str")]
            if rest[1:2] != [("punct", "(")] or rest[-1] != ("punct", ")"):
                raise JQLError("Error in the JQL Query: Expecting '(' after IN.")
            want = set(conv(x) for x in items)
            return lambda i: (not any(v in want for v in vals(i))) if negate else any(v in want for v in vals(i))
        if len(rest) != 2 or rest[0][0] != "op" or rest[1][0] not in ("word", "str"):
            raise JQLError("Error in the JQL Query: Expecting operator and value after '%s'." % field)
        op, v = rest[0][1], conv(rest[1][1])
        ops = {"=": lambda a: a == v, "!=": lambda a: a != v, ">": lambda a: a > v, ">=": lambda a: a >= v,
               "<": lambda a: a < v, "<=": lambda a: a <= v, "~": lambda a: str(v) in str(a)}
        if op not in ops:
            raise JQLError("Error in the JQL Query: operator '%s' is not supported" % op)
        if op == "!=":
            return lambda i: all(a != v for a in vals(i)) and bool(vals(i))
        f = ops[op]
        return lambda i: any(f(a) for a in vals(i))

    def search(self, body):
        pred, order = self.compile_jql(body.get("jql", ""))
        hits = [i for i in self.issues.values() if pred(i)]
        hits.sort(key=lambda i: int(i["id"]))
        for fld, desc in reversed(order):
            def k(i, fld=fld):
                v = self.issue_value(i, fld)
                if fld.lower() == "key":
                    p, n = v[0].rsplit("-", 1)
                    return (p, int(n))
                return v[0] if v else ""
            hits.sort(key=k, reverse=desc)
        return hits


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    @property
    def site(self):
        return self.server.site

    def send(self, status, obj=None, headers=None, raw=None, ctype="application/json;charset=UTF-8"):
        body = raw if raw is not None else (b"" if obj is None else json.dumps(obj).encode())
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        return status

    def do_GET(self): self.handle_any("GET")
    def do_POST(self): self.handle_any("POST")
    def do_PUT(self): self.handle_any("PUT")
    def do_DELETE(self): self.handle_any("DELETE")

    def handle_any(self, method):
        u = urllib.parse.urlsplit(self.path)
        path, query = u.path, urllib.parse.parse_qs(u.query)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if path.startswith("/__fake/"):
            return self.control(method, path, raw)
        rec = {"method": method, "path": path, "query": {k: v[0] for k, v in query.items()},
               "body": raw.decode("utf-8", "replace"), "t": time.time()}
        with self.site.lock:
            self.site.requests.append(rec)
        rec["status"] = self.api(method, path, query, raw)

    # ---------------------------------------------------------- the API
    def rl_headers(self, remaining=None):
        remaining = LIMIT - 1 if remaining is None else remaining
        return {"X-RateLimit-Limit": str(LIMIT), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-NearLimit": "true" if remaining < LIMIT // 5 else "false"}

    def error(self, status, messages=None, errors=None, headers=None):
        h = self.rl_headers()
        h.update(headers or {})
        return self.send(status, {"errorMessages": messages or [], "errors": errors or {}}, h)

    def ok(self, obj, status=200):
        return self.send(status, obj, self.rl_headers())

    def api(self, method, path, query, raw):
        site = self.site
        # faults first: a rate limit or an outage answers before auth is looked at
        with site.lock:
            for f in site.faults:
                if f["times"] != 0 and f.get("path", "") in path:
                    if f["times"] > 0:
                        f["times"] -= 1
                    fault = dict(f)
                    break
            else:
                fault = None
        if fault:
            st = fault["status"]
            if st == 429:
                # X-RateLimit-Reset is the request time plus Retry-After, at
                # minute precision (rounded up here, so never before the wait)
                wait = fault.get("retry_after", "1")
                secs = int(fault.get("reset_in") or (wait if wait != "none" else 60))
                reset = (now_utc() + datetime.timedelta(seconds=secs + 59)).strftime("%Y-%m-%dT%H:%MZ")
                h = self.rl_headers(0)
                h.update({"X-RateLimit-Reset": reset, "RateLimit-Reason": "jira-burst-based"})
                if wait != "none":
                    h["Retry-After"] = str(int(wait))
                return self.send(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, h)
            if st == 403:
                return self.error(403, ["You do not have permission to perform this operation."])
            return self.error(st, ["Internal server error"])

        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(("%s:%s" % (site.email, site.token)).encode()).decode()
        if auth != want:
            # Jira Cloud answers a bad API token with a plain-text 401
            return self.send(401, raw=b"Client must be authenticated to access this resource.",
                             headers=dict(self.rl_headers(), **{"WWW-Authenticate": 'Basic realm="protected-area"'}),
                             ctype="text/plain;charset=UTF-8")
        body = None
        if method in ("POST", "PUT"):
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return self.error(400, ["Unexpected character ('%s'): was expecting JSON" % raw[:1].decode("latin-1")])

        q = lambda k, d=None: query.get(k, [d])[0]
        with site.lock:
            if path == "/rest/api/3/search/jql" and method == "POST":
                return self.search(body)
            if path in ("/rest/api/3/search", "/rest/api/2/search"):
                return self.error(410, ["The requested API has been removed. Please migrate to the "
                                        "/rest/api/3/search/jql API."])
            if path == "/rest/api/3/myself" and method == "GET":
                return self.ok({"accountId": "ferry-bot", "emailAddress": site.email, "displayName": "ferry",
                                "timeZone": site.tzname, "active": True, "accountType": "atlassian"})
            if path == "/rest/api/3/users/search" and method == "GET":
                start, size = int(q("startAt", 0)), min(int(q("maxResults", 50)), 1000)
                return self.ok(site.users[start:start + size])
            if path == "/rest/api/3/field" and method == "GET":
                return self.ok(site.fields)
            m = re.match(r"^/rest/api/3/field/([^/]+)/context(?:/([^/]+)/option)?$", path)
            if m and method == "GET":
                return self.field_context(m.group(1), m.group(2), q)
            m = re.match(r"^/rest/api/3/issue/([^/]+)$", path)
            if m and method == "GET":
                issue = site.find_issue(m.group(1))
                if not issue:
                    return self.error(404, ["Issue does not exist or you do not have permission to see it."])
                return self.ok(self.shape(issue, (q("fields") or "*all").split(",")))
            if m and method == "PUT":
                return self.edit(m.group(1), body)
            if path == "/rest/servicedeskapi/organization" and method == "GET":
                start, limit = int(q("start", 0)), min(int(q("limit", 50)), 50)
                orgs = site.orgs
                if q("accountId"):
                    orgs = [o for o in orgs if q("accountId") in o.get("members", [])]
                page = orgs[start:start + limit]
                return self.ok({"size": len(page), "start": start, "limit": limit,
                                "isLastPage": start + limit >= len(orgs),
                                "values": [{"id": o["id"], "name": o["name"],
                                            "_links": {"self": "/rest/servicedeskapi/organization/" + o["id"]}}
                                           for o in page],
                                "_links": {"base": "", "context": "", "self": path}})
        return self.error(404, ["null for uri: " + path])

    def shape(self, issue, fields):
        out = {"id": issue["id"], "key": issue["key"], "self": issue["self"]}
        if not fields or fields == [""]:
            return {"id": issue["id"]}
        f = issue["fields"]
        if "*all" in fields or "*navigable" in fields:
            out["fields"] = dict(f)
        else:
            out["fields"] = {}
            for name in fields:
                if name in ("id", "key"):
                    continue
                if name in f:
                    out["fields"][name] = f[name]
        return out

    def search(self, body):
        site = self.site
        if not isinstance(body, dict):
            return self.error(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        unknown = set(body) - {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties",
                               "fieldsByKeys", "failFast", "reconcileIssues"}
        if unknown:
            return self.error(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        try:
            hits = site.search(body)
        except JQLError as e:
            return self.error(400, [str(e)])
        size = max(1, min(int(body.get("maxResults") or 50), 100))
        start = 0
        if body.get("nextPageToken"):
            try:
                start = int(base64.urlsafe_b64decode(body["nextPageToken"].encode()).decode().split(":")[1])
            except Exception:
                return self.error(400, ["The provided next page token is invalid or expired."])
        page = hits[start:start + size]
        fields = body.get("fields")
        out = {"issues": [self.shape(i, fields) for i in page], "isLast": start + size >= len(hits)}
        if not out["isLast"]:
            out["nextPageToken"] = base64.urlsafe_b64encode(("page:%d" % (start + size)).encode()).decode()
        return self.ok(out)

    def field_context(self, fid, ctx_id, q):
        site = self.site
        if not any(f["id"] == fid for f in site.fields):
            return self.error(404, ["The custom field was not found."])
        ctxs = site.contexts.get(fid, [])
        if ctx_id is None:
            items = [{k: v for k, v in c.items() if k != "options"} for c in ctxs]
            default = 50
        else:
            c = next((c for c in ctxs if c["id"] == ctx_id), None)
            if not c:
                return self.error(404, ["The context was not found."])
            items, default = c["options"], 100
        start, size = int(q("startAt", 0)), min(int(q("maxResults", default)), default)
        page = items[start:start + size]
        return self.ok({"maxResults": size, "startAt": start, "total": len(items),
                        "isLast": start + size >= len(items), "values": page})

    def edit(self, ref, body):
        site = self.site
        issue = site.find_issue(ref)
        if not issue:
            return self.error(404, ["Issue does not exist or you do not have permission to see it."])
        if not isinstance(body, dict) or not isinstance(body.get("fields", {}), dict):
            return self.error(400, ["Can not deserialize instance of java.util.LinkedHashMap out of START_ARRAY token"])
        errors, changes = {}, {}
        for fid, value in (body.get("fields") or {}).items():
            fd = next((f for f in site.fields if f["id"] == fid), None)
            if not fd:
                errors[fid] = ("Field '%s' cannot be set. It is not on the appropriate screen, or unknown." % fid)
                continue
            ctxs = site.contexts.get(fid)
            if ctxs is not None and value is not None:
                opts = ctxs[0]["options"]
                if not isinstance(value, dict) or not ("value" in value or "id" in value):
                    errors[fid] = "Could not find valid 'id' or 'value' in the Parent Option object."
                    continue
                o = next((o for o in opts if not o["disabled"] and
                          (("id" in value and o["id"] == str(value["id"])) or
                           ("value" in value and o["value"] == value["value"]))), None)
                if not o:
                    if "id" in value:
                        errors[fid] = "Option id '%s' is not valid" % value["id"]
                    else:
                        errors[fid] = "Option value '%s' is not valid" % value.get("value")
                    continue
                changes[fid] = {"self": "/rest/api/3/customFieldOption/" + o["id"], "value": o["value"], "id": o["id"]}
            else:
                changes[fid] = value
        if errors:
            return self.error(400, [], errors)
        issue["fields"].update(changes)
        issue["fields"]["updated"] = jira_time(now_utc(), site.tz)
        return self.send(204, None, self.rl_headers())

    # ---------------------------------------------------------- control
    def control(self, method, path, raw):
        site = self.site
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self.send(400, {"error": "bad json"})
        with site.lock:
            if path == "/__fake/issues" and method == "POST":
                for spec in body:
                    site.add_issue(spec)
                return self.send(200, {"ok": True})
            if path == "/__fake/issues" and method == "GET":
                return self.send(200, sorted(site.issues.values(), key=lambda i: int(i["id"])))
            if path == "/__fake/touch" and method == "POST":
                issue = site.issues[body["key"]]
                issue["fields"].update(body.get("fields", {}))
                issue["fields"]["updated"] = jira_time(now_utc(), site.tz)
                return self.send(200, issue)
            if path == "/__fake/users" and method == "POST":
                site.users = body
                return self.send(200, {"ok": True})
            if path == "/__fake/fields" and method == "POST":
                for spec in body:
                    site.add_field(spec)
                return self.send(200, {"ok": True})
            if path == "/__fake/organizations" and method == "POST":
                site.orgs = body
                return self.send(200, {"ok": True})
            if path == "/__fake/fail" and method == "POST":
                site.faults.append({"status": body["status"], "times": body.get("times", 1),
                                    "retry_after": str(body.get("retry_after", "1")), "path": body.get("path", ""),
                                    "reset_in": body.get("reset_in")})
                return self.send(200, {"ok": True})
            if path == "/__fake/timezone" and method == "POST":
                site.tz, site.tzname = zoneinfo.ZoneInfo(body["timeZone"]), body["timeZone"]
                return self.send(200, {"ok": True})
            if path == "/__fake/requests" and method == "GET":
                return self.send(200, site.requests)
            if path == "/__fake/reset-requests" and method == "POST":
                site.requests = []
                site.faults = []
                return self.send(200, {"ok": True})
        return self.send(404, {"error": "no such control endpoint"})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--email", default="ferry@example.com")
    ap.add_argument("--token", default=os.environ.get("JIRA_API_TOKEN", "jira-demo-token"))
    opts = ap.parse_args()
    srv = Server(("127.0.0.1", opts.port), Handler)
    srv.site = Site(opts.email, opts.token)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(srv.server_address[1]))
        os.rename(tmp, opts.port_file)
    print("fake jira on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    srv.shutdown()
    srv.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
