#!/usr/bin/env python3
"""A fake destination for the lookup and picklist tests: a user directory
to page through, accounts to find by external id in batches, and a picklist
whose options can change. It counts every request per path.

Python 3 standard library only; independent of ferry.

    python3 tests/fakes/lookup_dest.py --port-file PATH

GET  /users?page=N             {"results": [{"id", "email"}...], "next": N+1 | null},
                               1000 a page: users 1..total ("user<i>@example.com",
                               id i), then the extra users (in order)
POST /accounts/find            body {"external_ids": [...]} (at most 1000):
                               {"results": [{"id", "external_id"}...]}, every account
                               with one of those external ids (two accounts may
                               share one)
GET  /picklists/NAME           {"options": [...]}, 404 for an unknown NAME
POST /_control  {...}          set any of: total (users, default 100000),
                               extra_users ([{"id", "email"}...]),
                               accounts ([{"id", "external_id"}...]),
                               picklists ({NAME: [options...]})
GET  /_requests                {"counts": {path: n}, "requests": [{method, path, query, body}...]}
POST /_reset                   clears the request log
"""
import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PER_PAGE = 1000
lock = threading.Lock()
state = {
    "total": 100000,
    "extra_users": [],
    "accounts": [],
    "picklists": {"tier": ["Bronze", "Silver", "Gold"]},
}
log = []


def users_page(page, total, extra):
    """Users of page `page` (from 1): generated ones, then the extra ones."""
    first = (page - 1) * PER_PAGE
    out = []
    for n in range(first, min(first + PER_PAGE, total + len(extra))):
        if n < total:
            out.append({"id": n + 1, "email": "user%d@example.com" % (n + 1)})
        else:
            out.append(extra[n - total])
    more = first + PER_PAGE < total + len(extra)
    return {"results": out, "next": page + 1 if more else None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(n) or b"{}")

    def record(self, url, body=None):
        with lock:
            log.append({"method": self.command, "path": url.path, "query": url.query, "body": body})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_requests":
            with lock:
                counts = {}
                for r in log:
                    counts[r["path"]] = counts.get(r["path"], 0) + 1
                return self.reply(200, {"counts": counts, "requests": list(log)})
        self.record(url)
        if url.path == "/users":
            try:
                page = int(parse_qs(url.query).get("page", ["1"])[0])
            except ValueError:
                return self.reply(400, {"error": "page must be an integer"})
            with lock:
                total, extra = state["total"], list(state["extra_users"])
            return self.reply(200, users_page(page, total, extra))
        if url.path.startswith("/picklists/"):
            with lock:
                options = state["picklists"].get(url.path[len("/picklists/"):])
            if options is None:
                return self.reply(404, {"error": "no such picklist"})
            return self.reply(200, {"options": options})
        self.reply(404, {"error": "no such endpoint"})

    def do_POST(self):
        url = urlsplit(self.path)
        try:
            body = self.body()
        except ValueError:
            return self.reply(400, {"error": "not JSON"})
        if url.path == "/_reset":
            with lock:
                log.clear()
            return self.reply(200, {"ok": True})
        if url.path == "/_control":
            with lock:
                for k in ("total", "extra_users", "accounts", "picklists"):
                    if k in body:
                        state[k] = body[k]
                return self.reply(200, {"ok": True})
        self.record(url, body)
        if url.path == "/accounts/find":
            ids = body.get("external_ids")
            if not isinstance(ids, list) or len(ids) > 1000:
                return self.reply(400, {"error": "external_ids: a list of at most 1000"})
            want = set(ids)
            with lock:
                found = [a for a in state["accounts"] if a["external_id"] in want]
            return self.reply(200, {"results": found})
        self.reply(404, {"error": "no such endpoint"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
