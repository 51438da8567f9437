#!/usr/bin/env python3
"""Two fake business systems for the ticket-enrichment example.

Python 3 standard library only; independent of ferry. Both listen on
127.0.0.1 only, each on its own port, in one process:

  CRM        GET /accounts/{id}             -> {"id","name","tier","health_score"}
             (Authorization: Bearer CRM_TOKEN; 401 without it, 404 unknown id)
  helpdesk   PUT /api/v2/tickets/{id}       Zendesk-like ticket update:
             {"ticket":{"custom_fields":[{"id":..,"value":..}],
                        "tags":[..] | "additional_tags":[..]}}
             (HTTP Basic "EMAIL/token:HELPDESK_TOKEN", as Zendesk's API tokens;
             401 without it, 422 for an unknown custom field or a tier the
             dropdown does not offer)
             GET /api/v2/tickets/{id}       the ticket as the fake holds it

Test hooks (not part of either API):

  CRM        POST /_faults {"status":503,"times":N,"retry_after":"1"}
             the next N account lookups answer that status (times -1: until
             cleared; {"status":0} clears)
             GET /_requests                 every account lookup: path, status
  helpdesk   GET /_received                 every accepted PUT: ticket id, body

    python3 fake_systems.py [--crm-port 8801] [--helpdesk-port 8802]
        [--port-file PATH] [--crm-token T] [--helpdesk-email E] [--helpdesk-token T]

The port file (written atomically once both listen) holds
{"crm": PORT, "helpdesk": PORT}. SIGTERM or SIGINT stops both (exit 0).
"""

import argparse
import base64
import http.server
import json
import os
import re
import signal
import socketserver
import sys
import threading

# The CRM's accounts. Organization ids in the helpdesk are the CRM's
# account ids (a real setup keeps that mapping in an external_id field).
ACCOUNTS = {
    1001: {"id": 1001, "name": "Acme Corp", "tier": "Enterprise", "health_score": 82},
    1002: {"id": 1002, "name": "Globex", "tier": "Growth", "health_score": 41},
    1003: {"id": 1003, "name": "Initech", "tier": "Starter", "health_score": 67},
    1004: {"id": 1004, "name": "Umbrella", "tier": "Platinum", "health_score": 90},
}

# The helpdesk's ticket fields the example writes (Zendesk custom field ids).
TIER_FIELD, HEALTH_FIELD = 360001, 360002
TIER_OPTIONS = ("enterprise", "growth", "starter")

TICKET_PATH = re.compile(r"^/api/v2/tickets/([0-9]+)(?:\.json)?$")
ACCOUNT_PATH = re.compile(r"^/accounts/([^/]+)$")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


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

    def send(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.server.route(self, "GET")

    def do_PUT(self):
        self.server.route(self, "PUT")

    def do_POST(self):
        self.server.route(self, "POST")


class CRM(Server):
    name = "crm"

    def __init__(self, addr, opts):
        super().__init__(addr, Handler)
        self.opts = opts
        self.lock = threading.Lock()
        self.fault = {"status": 0, "times": 0, "retry_after": None}
        self.requests = []

    def route(self, h, method):
        path = h.path.split("?", 1)[0]
        if method == "POST" and path == "/_faults":
            f = json.loads(h.body() or b"{}")
            with self.lock:
                self.fault = {"status": int(f.get("status", 0)), "times": int(f.get("times", 1)),
                              "retry_after": f.get("retry_after")}
            return h.send(200, self.fault)
        if method == "GET" and path == "/_requests":
            with self.lock:
                return h.send(200, list(self.requests))
        m = ACCOUNT_PATH.match(path)
        if not m or method != "GET":
            return h.send(404, {"error": "no such endpoint"})
        status, obj, headers = self.lookup(h, m.group(1))
        with self.lock:
            self.requests.append({"path": path, "status": status})
        h.send(status, obj, headers)

    def lookup(self, h, ident):
        if h.headers.get("Authorization") != "Bearer " + self.opts.crm_token:
            return 401, {"error": "invalid or missing bearer token"}, ()
        with self.lock:
            f = self.fault
            if f["status"] and f["times"] != 0:
                if f["times"] > 0:
                    f["times"] -= 1
                headers = [("Retry-After", str(f["retry_after"]))] if f["retry_after"] else []
                return f["status"], {"error": "fault injected: HTTP %d" % f["status"]}, headers
        acct = ACCOUNTS.get(int(ident)) if ident.isdigit() else None
        if acct is None:
            return 404, {"error": "account %s not found" % ident}, ()
        return 200, acct, ()


class Helpdesk(Server):
    name = "helpdesk"

    def __init__(self, addr, opts):
        super().__init__(addr, Handler)
        self.opts = opts
        self.lock = threading.Lock()
        self.tickets = {}           # id -> {"id", "custom_fields": {id: value}, "tags": set}
        self.received = []
        user = "%s/token:%s" % (opts.helpdesk_email, opts.helpdesk_token)
        self.auth = "Basic " + base64.b64encode(user.encode()).decode()

    def route(self, h, method):
        path = h.path.split("?", 1)[0]
        if method == "GET" and path == "/_received":
            with self.lock:
                return h.send(200, list(self.received))
        m = TICKET_PATH.match(path)
        if not m or method not in ("GET", "PUT"):
            return h.send(404, {"error": "InvalidEndpoint"})
        if h.headers.get("Authorization") != self.auth:
            return h.send(401, {"error": "Couldn't authenticate you"})
        tid = int(m.group(1))
        if method == "GET":
            with self.lock:
                t = self.tickets.get(tid)
                if t is None:
                    return h.send(404, {"error": "RecordNotFound"})
                return h.send(200, {"ticket": self.show(t)})
        raw = h.body()
        try:
            upd = json.loads(raw)["ticket"]
            fields = upd.get("custom_fields", [])
            tags = upd.get("tags")
            more = upd.get("additional_tags", [])
            assert isinstance(fields, list) and isinstance(more, list)
            assert tags is None or isinstance(tags, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return h.send(400, {"error": "InvalidValue", "description": "expected {\"ticket\":{...}}"})
        for f in fields:
            fid, value = f.get("id") if isinstance(f, dict) else None, f.get("value") if isinstance(f, dict) else None
            if fid not in (TIER_FIELD, HEALTH_FIELD):
                return h.send(422, {"error": "RecordInvalid", "details": {"custom_fields": "unknown field %r" % fid}})
            if fid == TIER_FIELD and value not in TIER_OPTIONS:
                return h.send(422, {"error": "RecordInvalid",
                                    "details": {"custom_fields": "%r is not an option of field %d" % (value, fid)}})
        with self.lock:
            t = self.tickets.setdefault(tid, {"id": tid, "custom_fields": {}, "tags": set()})
            for f in fields:
                t["custom_fields"][f["id"]] = f["value"]
            if tags is not None:
                t["tags"] = set(tags)
            t["tags"].update(more)
            self.received.append({"ticket": tid, "body": json.loads(raw)})
            shown = self.show(t)
        h.send(200, {"ticket": shown})

    @staticmethod
    def show(t):
        return {"id": t["id"], "tags": sorted(t["tags"]),
                "custom_fields": [{"id": k, "value": v} for k, v in sorted(t["custom_fields"].items())]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--crm-port", type=int, default=8801)
    ap.add_argument("--helpdesk-port", type=int, default=8802)
    ap.add_argument("--port-file")
    ap.add_argument("--crm-token", default=os.environ.get("CRM_TOKEN", "crm-demo-token"))
    ap.add_argument("--helpdesk-email", default="ferry@example.com")
    ap.add_argument("--helpdesk-token", default=os.environ.get("HELPDESK_TOKEN", "helpdesk-demo-token"))
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()

    crm = CRM(("127.0.0.1", opts.crm_port), opts)
    desk = Helpdesk(("127.0.0.1", opts.helpdesk_port), opts)
    ports = {"crm": crm.server_address[1], "helpdesk": desk.server_address[1]}
    for s in (crm, desk):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ports, f)
        os.rename(tmp, opts.port_file)
    print("crm on 127.0.0.1:%d, helpdesk on 127.0.0.1:%d" % (ports["crm"], ports["helpdesk"]), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for s in (crm, desk):
        s.shutdown()
        s.server_close()


if __name__ == "__main__":
    main()
