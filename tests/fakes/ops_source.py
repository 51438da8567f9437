#!/usr/bin/env python3
"""A fake CRM for the operating-model tests: paged records behind a bearer
key that can expire mid-run, change shape, or come back empty.

Python 3 standard library only; independent of ferry.

    python3 tests/fakes/ops_source.py --port-file PATH

GET  /accounts?page=N          {"records": [...], "next": N+1 | null}, 50 a page;
                               401 unless "Authorization: Bearer <key>" holds the
                               accepted key (or, with expire_after_page, from that
                               page on)
POST /_control  {...}          set any of: total (records, default 250),
                               key (accepted key, default "key-one-7f3a9"),
                               expire_after_page (int or null: pages from this one
                               answer 401 until the key is set again),
                               drift (bool: records gain lead_score, and amount
                               becomes a string)
GET  /_requests                {"count": n, "requests": [{path, page, status}...]}
"""
import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PER_PAGE = 50
lock = threading.Lock()
state = {"total": 250, "key": "key-one-7f3a9", "expire_after_page": None, "drift": False}
log = []


def record(i, drift):
    r = {"id": i, "name": "account-%d" % i, "amount": 100.5 + i, "owner_email": "rep%d@example.com" % (i % 7)}
    if drift:
        r["amount"] = "%.2f" % r["amount"]
        r["lead_score"] = i % 100
    return r


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

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_requests":
            with lock:
                return self.reply(200, {"count": len(log), "requests": list(log)})
        if url.path != "/accounts":
            return self.reply(404, {"error": "no such endpoint"})
        q = parse_qs(url.query)
        try:
            page = int(q.get("page", ["1"])[0])
        except ValueError:
            return self.reply(400, {"error": "page must be an integer"})
        with lock:
            key_ok = self.headers.get("Authorization", "") == "Bearer " + state["key"]
            expired = state["expire_after_page"] is not None and page >= state["expire_after_page"]
            status = 200 if key_ok and not expired else 401
            log.append({"path": url.path, "page": page, "status": status})
            total, drift = state["total"], state["drift"]
        if status == 401:
            return self.reply(401, {"error": "invalid_token", "message": "The API key has expired"})
        first = (page - 1) * PER_PAGE + 1
        last = min(total, page * PER_PAGE)
        records = [record(i, drift) for i in range(first, last + 1)]
        self.reply(200, {"records": records, "next": page + 1 if last < total else None})

    def do_POST(self):
        if self.path != "/_control":
            return self.reply(404, {"error": "no such endpoint"})
        n = int(self.headers.get("Content-Length", "0"))
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return self.reply(400, {"error": "not JSON"})
        with lock:
            for k in ("total", "key", "expire_after_page", "drift"):
                if k in body:
                    state[k] = body[k]
            return self.reply(200, dict(state))


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
