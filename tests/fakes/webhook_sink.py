#!/usr/bin/env python3
"""A webhook receiver for ferry's alert tests (Python standard library only).

Listens on 127.0.0.1 and records every POST as one JSON line in --log:
{"path", "headers" (lower-case names), "body" (text), "status" (what it
answered)}. The first --fail N requests are answered --fail-code (500, or
429 with "Retry-After: --retry-after"; with --echo-path their body quotes
the request's path); later ones 200 "ok". Failed
requests are recorded too, so a test can count the attempts.

    python3 webhook_sink.py --port-file F --log L [--fail N] [--fail-code 500|429] [--retry-after S]

Writes the bound port to --port-file (atomically) once it listens; exits 0
on SIGTERM or SIGINT.
"""
import argparse
import http.server
import json
import os
import signal
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail", type=int, default=0, help="answer the first N requests with --fail-code")
    ap.add_argument("--fail-code", type=int, default=500)
    ap.add_argument("--retry-after", default="1", help="Retry-After of a 429")
    ap.add_argument("--body", default="ok", help="the body of a 200")
    ap.add_argument("--echo-path", action="store_true",
                    help="a failure's body quotes the request's path, as some proxies' error pages do")
    args = ap.parse_args()
    lock = threading.Lock()
    seen = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):      # quiet
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace")
            with lock:
                seen[0] += 1
                failing = seen[0] <= args.fail
                status = args.fail_code if failing else 200
                with open(args.log, "a") as f:
                    f.write(json.dumps({"path": self.path, "status": status, "body": body,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}}) + "\n")
            reply = (b"server_error" if status >= 500 else b"rate_limited") if failing else args.body.encode()
            if failing and args.echo_path:
                reply += b": no route for " + self.path.encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", args.retry_after)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
