#!/usr/bin/env python3
"""A forward HTTP proxy for ferry's tests, on Python's standard library only.

It takes absolute-form requests ("GET http://127.0.0.1:PORT/path HTTP/1.1"),
appends each request line to --log, forwards the request to its origin and
relays the answer. Plain HTTP only (no CONNECT): enough to show that ferry
honours http_proxy / no_proxy from the environment.

    fake_proxy.py --port-file FILE --log FILE
"""
import argparse
import http.client
import http.server
import socketserver
import threading
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
              "te", "trailers", "transfer-encoding", "upgrade"}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_lock = threading.Lock()

    def log_message(self, fmt, *args):   # quiet: the request log is the record
        pass

    def relay(self):
        with self.log_lock, open(self.server.log_path, "a", encoding="utf-8") as f:
            f.write(self.requestline + "\n")
        url = urllib.parse.urlsplit(self.path)
        if url.scheme != "http" or not url.hostname:
            self.send_error(400, "absolute http:// URL expected")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        origin = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        try:
            origin.request(self.command, target, body=body, headers=headers)
            res = origin.getresponse()
            data = res.read()
        except OSError as e:
            self.send_error(502, "origin unreachable: %s" % e)
            return
        finally:
            origin.close()
        self.send_response(res.status, res.reason)
        for k, v in res.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Via", "1.1 fake-proxy")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = relay


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Proxy)
    srv.log_path = args.log
    open(args.log, "w").close()
    with open(args.port_file, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
