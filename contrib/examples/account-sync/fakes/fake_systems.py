#!/usr/bin/env python3
"""Two fake business systems for the account-sync example.

Python 3 standard library only; independent of ferry. Both listen on
127.0.0.1 only, each on its own port, in one process. Every API route wants
"Authorization: Bearer TOKEN" (401 without it).

  CRM (the source)
    GET  /accounts?after=ID&limit=N   accounts with id > ID in id order, at most
         N (default 50, at most 200): {"accounts": [...], "has_more": bool}.
         An account: id, external_id, name, parent_external_id (or null),
         owner_email, tier (free text, as a sales rep typed it), arr (a
         decimal string or a number), renewal ("31/01/2027"), active
         ("yes"/"no"), updated_at ("2026-03-29 01:30", Berlin wall-clock
         time), description

  CS platform (the destination)
    GET  /users?page=N                1,000 users, 100 a page:
         {"users": [{"id", "email", "name"}], "page": N, "pages": 10}.
         Two users share shared.inbox@example.com (an ambiguous owner)
    GET  /fields/tier/options         ["Bronze", "Silver", "Gold"]
    POST /accounts/search {"external_ids": [...]}
         -> {"accounts": [...]}: the accounts it holds among them (id,
         external_id, name, tier, owner_id, parent_id, arr, renewal_date,
         active, crm_updated_at, notes)
    POST /accounts/batch {"accounts": [...]}  (at most 100)
         upsert by external_id; fields left out are kept. Always 200 with
         {"results": [{"ok": true, "id": ID} |
                      {"ok": false, "status": 422, "error": "..."}]}, one per
         account in order. Refused: no external_id or name, a tier not
         among the options, an owner_id that is no user, a parent_id it
         does not hold, an account locked (a rule of its own that the
         sync cannot know before it asks)

Test hooks (not part of either API, no token):

  CRM   POST /_accounts {"accounts": [...]}   add or replace accounts (by id)
                                              for the next run
  CS    POST /_options ["Bronze", "Gold"]     replace the tier options
        POST /_edit {"external_id", "field", "value"}   edit a held account as
                                              a person in the CS platform would
        POST /_lock {"external_id", "locked": true|false}   lock an account:
                                              its upserts are refused (422)
        GET  /_accounts                       every account it holds, by id
  both  GET  /_requests                       every API request, in order:
                                              {"method", "path", "query",
                                               "bytes" (request body), "status"}

    python3 fake_systems.py [--crm-port 8811] [--cs-port 8812]
        [--port-file PATH] [--crm-token T] [--cs-token T] [--verbose]

The port file (written atomically once both listen) holds
{"crm": PORT, "cs": PORT}. SIGTERM or SIGINT stops both (exit 0).
"""

import argparse
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import urllib.parse


def account(i, ext, name, owner, tier, arr, renewal="31/01/2027", active="yes",
            updated="2026-03-02 09:15", parent=None, description=None):
    return {"id": i, "external_id": ext, "name": name, "parent_external_id": parent,
            "owner_email": owner, "tier": tier, "arr": arr, "renewal": renewal,
            "active": active, "updated_at": updated, "description": description}


# The CRM's accounts on the first run. Each shows one thing (README.md).
CRM_ACCOUNTS = [
    account(1, "ACME-001", "  Acme Corp ", "ana.silva@example.com", "Gold", "125000.50",
            updated="2026-03-29 01:30", description="Signed at the 2025 summit"),
    account(2, "GLOBEX-002", "Globex", "  Ben.Okafor@Example.COM ", "platinum", 48000,
            renewal="15/06/2026", active="Yes", updated="2026-10-25 03:15"),
    account(3, "INITECH-003", "Initech", "carla.mendes@example.com", "silver ", "12000",
            active="no", renewal="01/09/2026"),
    account(4, "UMBRELLA-004", "Umbrella", "new.hire@example.com", "Bronze", "9000.5"),
    account(5, "HOOLI-005", "Hooli", "shared.inbox@example.com", "Gold", "250000"),
    account(6, "STARK-EU-006", "Stark Industries EU", "ana.silva@example.com", "Silver", "30000",
            parent="STARK-HQ"),
    account(7, "WAYNE-007", "Wayne Enterprises", "carla.mendes@example.com", "Gold", "1.2M"),
] + [
    # six accounts a rep marked "Diamond", which the CS platform does not offer
    account(10 + n, "DIAMOND-%03d" % (10 + n), "Diamond Customer %d" % n, "ben.okafor@example.com",
            "Diamond", "%d000" % (50 + n))
    for n in range(6)
]

# Users of the CS platform: ids 1..1000. A few have the owners' emails.
NAMED_USERS = {
    101: "ana.silva@example.com",
    102: "ben.okafor@example.com",
    103: "carla.mendes@example.com",
    500: "shared.inbox@example.com",
    501: "shared.inbox@example.com",
}
USERS = [{"id": i, "email": NAMED_USERS.get(i, "user%04d@example.com" % i), "name": "User %d" % i}
         for i in range(1, 1001)]
USERS_PAGE = 100

ACCOUNT_FIELDS = ("external_id", "name", "tier", "owner_id", "parent_id", "arr", "renewal_date",
                  "active", "crm_updated_at", "notes")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, opts, token):
        super().__init__(addr, Handler)
        self.opts = opts
        self.token = token
        self.lock = threading.Lock()
        self.requests = []

    def route(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        raw = h.body()
        if path.startswith("/_"):                   # test hooks: no token, not logged
            return self.hook(h, method, path, raw)
        if h.headers.get("Authorization") != "Bearer " + self.token:
            status, obj = 401, {"error": "invalid or missing bearer token"}
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = ValueError
            if body is ValueError:
                status, obj = 400, {"error": "the body is not JSON"}
            else:
                status, obj = self.api(method, path, query, body)
        with self.lock:
            self.requests.append({"method": method, "path": path, "query": url.query,
                                  "bytes": len(raw), "status": status})
        h.send(status, obj)

    def hook(self, h, method, path, raw):
        if method == "GET" and path == "/_requests":
            with self.lock:
                return h.send(200, list(self.requests))
        return h.send(404, {"error": "no such test hook"})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-systems/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("%s: %s\n" % (self.server.name, fmt % args))

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.server.route(self, "GET")

    def do_POST(self):
        self.server.route(self, "POST")


def int_arg(query, name, default):
    try:
        return int(query.get(name, [default])[0])
    except ValueError:
        return None


class CRM(Server):
    name = "crm"

    def __init__(self, addr, opts):
        super().__init__(addr, opts, opts.crm_token)
        self.accounts = {a["id"]: dict(a) for a in CRM_ACCOUNTS}

    def api(self, method, path, query, body):
        if method != "GET" or path != "/accounts":
            return 404, {"error": "no such endpoint"}
        after, limit = int_arg(query, "after", 0), int_arg(query, "limit", 50)
        if after is None or limit is None or not 1 <= limit <= 200:
            return 400, {"error": "after must be an id and limit from 1 to 200"}
        with self.lock:
            ids = sorted(i for i in self.accounts if i > after)
            page = [dict(self.accounts[i]) for i in ids[:limit]]
        return 200, {"accounts": page, "has_more": len(ids) > limit}

    def hook(self, h, method, path, raw):
        if method == "POST" and path == "/_accounts":
            accounts = json.loads(raw)["accounts"]
            with self.lock:
                for a in accounts:
                    self.accounts[a["id"]] = a
            return h.send(200, {"accounts": len(self.accounts)})
        return super().hook(h, method, path, raw)


class CS(Server):
    name = "cs"

    def __init__(self, addr, opts):
        super().__init__(addr, opts, opts.cs_token)
        self.options = ["Bronze", "Silver", "Gold"]
        self.accounts = {}                  # external_id -> account
        self.next_id = 5001
        self.user_ids = {u["id"] for u in USERS}
        self.locked = set()                 # external ids whose upserts are refused

    def api(self, method, path, query, body):
        if method == "GET" and path == "/users":
            page = int_arg(query, "page", 1)
            pages = (len(USERS) + USERS_PAGE - 1) // USERS_PAGE
            if page is None or page < 1:
                return 400, {"error": "page must be a number from 1"}
            return 200, {"users": USERS[(page - 1) * USERS_PAGE:page * USERS_PAGE], "page": page, "pages": pages}
        if method == "GET" and path == "/fields/tier/options":
            with self.lock:
                return 200, list(self.options)
        if method == "POST" and path == "/accounts/search":
            ids = body.get("external_ids") if isinstance(body, dict) else None
            if not isinstance(ids, list):
                return 400, {"error": "expected {\"external_ids\": [...]}"}
            with self.lock:
                return 200, {"accounts": [dict(self.accounts[e]) for e in ids if e in self.accounts]}
        if method == "POST" and path == "/accounts/batch":
            accounts = body.get("accounts") if isinstance(body, dict) else None
            if not isinstance(accounts, list) or len(accounts) > 100:
                return 400, {"error": "expected {\"accounts\": [...]}, at most 100"}
            with self.lock:
                return 200, {"results": [self.upsert(a) for a in accounts]}
        return 404, {"error": "no such endpoint"}

    def refuse(self, why):
        return {"ok": False, "status": 422, "error": why}

    def upsert(self, a):
        """One account of a batch, under the lock: its result."""
        if not isinstance(a, dict) or not isinstance(a.get("external_id"), str) or not a["external_id"]:
            return self.refuse("external_id is required")
        unknown = sorted(set(a) - set(ACCOUNT_FIELDS))
        if unknown:
            return self.refuse("unknown field %s" % unknown[0])
        if a["external_id"] in self.locked:
            return self.refuse("account %s is locked while its renewal is in progress" % a["external_id"])
        held = self.accounts.get(a["external_id"])
        name = a.get("name", held and held["name"])
        if not isinstance(name, str) or not name:
            return self.refuse("name is required")
        if "tier" in a and a["tier"] is not None and a["tier"] not in self.options:
            return self.refuse("tier %r is not an option (%s)" % (a["tier"], ", ".join(self.options)))
        if a.get("owner_id") is not None and a["owner_id"] not in self.user_ids:
            return self.refuse("owner_id %r is not a user" % a["owner_id"])
        if a.get("parent_id") is not None and a["parent_id"] not in {x["id"] for x in self.accounts.values()}:
            return self.refuse("parent_id %r is not an account" % a["parent_id"])
        if held is None:
            held = {f: None for f in ACCOUNT_FIELDS}
            held["id"] = self.next_id
            self.next_id += 1
            self.accounts[a["external_id"]] = held
        held.update(a)
        return {"ok": True, "id": held["id"]}

    def hook(self, h, method, path, raw):
        if method == "POST" and path == "/_options":
            with self.lock:
                self.options = list(json.loads(raw))
                return h.send(200, self.options)
        if method == "POST" and path == "/_edit":
            e = json.loads(raw)
            with self.lock:
                held = self.accounts.get(e["external_id"])
                if held is None or e["field"] not in ACCOUNT_FIELDS:
                    return h.send(404, {"error": "no such account or field"})
                held[e["field"]] = e["value"]
                return h.send(200, held)
        if method == "POST" and path == "/_lock":
            e = json.loads(raw)
            with self.lock:
                (self.locked.add if e.get("locked", True) else self.locked.discard)(e["external_id"])
                return h.send(200, sorted(self.locked))
        if method == "GET" and path == "/_accounts":
            with self.lock:
                return h.send(200, sorted(self.accounts.values(), key=lambda x: x["id"]))
        return super().hook(h, method, path, raw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--crm-port", type=int, default=8811)
    ap.add_argument("--cs-port", type=int, default=8812)
    ap.add_argument("--port-file")
    ap.add_argument("--crm-token", default=os.environ.get("CRM_TOKEN", "crm-demo-token"))
    ap.add_argument("--cs-token", default=os.environ.get("CS_TOKEN", "cs-demo-token"))
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()

    crm = CRM(("127.0.0.1", opts.crm_port), opts)
    cs = CS(("127.0.0.1", opts.cs_port), opts)
    ports = {"crm": crm.server_address[1], "cs": cs.server_address[1]}
    for s in (crm, cs):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ports, f)
        os.rename(tmp, opts.port_file)
    print("crm on 127.0.0.1:%d, cs platform on 127.0.0.1:%d" % (ports["crm"], ports["cs"]), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for s in (crm, cs):
        s.shutdown()
        s.server_close()


if __name__ == "__main__":
    main()
