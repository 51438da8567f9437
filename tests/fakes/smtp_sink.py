#!/usr/bin/env python3
"""A small SMTP server for ferry's alert tests (Python standard library
only: Python 3.12 has no smtpd, so the protocol is written out here).

Listens on 127.0.0.1 and speaks plain SMTP (RFC 5321): EHLO/HELO, AUTH
PLAIN and LOGIN (RFC 4954), MAIL, RCPT, DATA (dot-stuffing undone), RSET,
NOOP, QUIT. No STARTTLS: the tests cover plain SMTP with AUTH. Each message
accepted is appended to --log as one JSON line:
{"mail_from", "rcpt_to": [...], "data": the message text, "auth_user"}.

    python3 smtp_sink.py --port-file F --log L [--auth USER:PASS] [--mechs "PLAIN LOGIN"] [--fail N]

--auth: AUTH is required and must match (535 otherwise; MAIL before it, 530).
--fail N: the first N messages are answered 451 (try again later) at MAIL.
Writes the bound port to --port-file (atomically) once it listens.
"""
import argparse
import base64
import json
import os
import signal
import socketserver
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--auth", default=None, help="USER:PASS the client must log in with")
    ap.add_argument("--mechs", default="PLAIN LOGIN", help="the AUTH mechanisms to offer")
    ap.add_argument("--fail", type=int, default=0, help="answer the first N messages 451 at MAIL")
    args = ap.parse_args()
    lock = threading.Lock()
    mails = [0]

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line):
            self.wfile.write(line.encode() + b"\r\n")
            self.wfile.flush()

        def readline(self):
            line = self.rfile.readline(65536)
            if not line:
                raise EOFError
            return line.rstrip(b"\r\n").decode("utf-8", "replace")

        def check_login(self, user, password):
            if args.auth is None or args.auth == f"{user}:{password}":
                self.user = user
                self.reply("235 2.7.0 authentication succeeded")
            else:
                self.reply("535 5.7.8 authentication credentials invalid")

        def auth(self, words):
            mech = words[1].upper() if len(words) > 1 else ""
            if mech not in args.mechs.split():
                return self.reply("504 5.5.4 mechanism not supported")
            if mech == "PLAIN":
                blob = words[2] if len(words) > 2 else None
                if blob is None:
                    self.reply("334 ")
                    blob = self.readline()
                try:
                    _, user, password = base64.b64decode(blob).decode().split("\0")
                except Exception:
                    return self.reply("501 5.5.2 cannot decode the response")
                return self.check_login(user, password)
            try:                                                   # LOGIN
                if len(words) > 2:
                    user = base64.b64decode(words[2]).decode()
                else:
                    self.reply("334 VXNlcm5hbWU6")
                    user = base64.b64decode(self.readline()).decode()
                self.reply("334 UGFzc3dvcmQ6")
                password = base64.b64decode(self.readline()).decode()
            except (ValueError, UnicodeDecodeError):
                return self.reply("501 5.5.2 cannot decode the response")
            self.check_login(user, password)

        def data(self):
            self.reply("354 end data with <CR><LF>.<CR><LF>")
            lines = []
            while True:
                raw = self.rfile.readline(1 << 20)
                if not raw:
                    raise EOFError
                line = raw.rstrip(b"\r\n")
                if line == b".":
                    break
                if line.startswith(b"."):
                    line = line[1:]
                lines.append(line.decode("utf-8", "replace"))
            with lock, open(args.log, "a") as f:
                f.write(json.dumps({"mail_from": self.mail_from, "rcpt_to": self.rcpt,
                                    "data": "\r\n".join(lines) + "\r\n", "auth_user": self.user}) + "\n")
            self.reply("250 2.0.0 queued")

        def handle(self):
            self.user = None
            self.mail_from, self.rcpt = None, []
            self.reply("220 127.0.0.1 ESMTP smtp_sink")
            try:
                while True:
                    line = self.readline()
                    words = line.split(" ")
                    verb = words[0].upper()
                    if verb == "EHLO":
                        self.reply("250-127.0.0.1 hello")
                        self.reply("250-8BITMIME")
                        self.reply("250-AUTH " + args.mechs)
                        self.reply("250 SIZE 10485760")
                    elif verb == "HELO":
                        self.reply("250 127.0.0.1")
                    elif verb == "AUTH":
                        self.auth(words)
                    elif verb == "MAIL":
                        if args.auth is not None and self.user is None:
                            self.reply("530 5.7.0 authentication required")
                            continue
                        with lock:
                            mails[0] += 1
                            failing = mails[0] <= args.fail
                        if failing:
                            self.reply("451 4.3.0 try again later")
                            continue
                        self.mail_from = line.split(":", 1)[1].split(">")[0].strip().lstrip("<")
                        self.rcpt = []
                        self.reply("250 2.1.0 ok")
                    elif verb == "RCPT":
                        if self.mail_from is None:
                            self.reply("503 5.5.1 MAIL first")
                            continue
                        self.rcpt.append(line[3:].split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 2.1.5 ok")
                    elif verb == "DATA":
                        if not self.rcpt:
                            self.reply("503 5.5.1 RCPT first")
                            continue
                        self.data()
                        self.mail_from, self.rcpt = None, []
                    elif verb == "RSET":
                        self.mail_from, self.rcpt = None, []
                        self.reply("250 2.0.0 ok")
                    elif verb == "NOOP":
                        self.reply("250 2.0.0 ok")
                    elif verb == "QUIT":
                        self.reply("221 2.0.0 bye")
                        return
                    else:
                        self.reply("502 5.5.2 command not recognized")
            except (EOFError, ConnectionError):
                return

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", 0), Handler)
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
