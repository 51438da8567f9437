#!/usr/bin/env python3
"""A webhook sender as real ones behave, for the crash and reload tests of
ferry's webhook listener (tests/e2e/test_hooks_crash.sh). Standard library
only, 127.0.0.1 only; not ferry.

    hook_sender.py --serve-json DATA/serve.json --path burst --count 20000 \
        --threads 8 --out DIR

posts {"id": I, "n": I} for I in 0..count-1 to POST /hooks/PATH with the
header webhook-id: I (each id its own delivery), from --threads threads,
each with one keep-alive connection. A request that gets no answer (refused,
reset, timeout) or a status that is not 2xx is sent again after a short
pause, on a new connection to the address serve.json names *then* (a
restarted ferry listens on a new port), until it gets a 2xx: at-least-once,
as GitHub, Stripe and Svix retry.

--forever: post ids count, count+1, ... until the file --stop-file appears
(then finish the request in flight and stop); for load that goes on while
something else happens.

Writes into --out:
  acked     one line per id that got a 2xx: "ID STATUS duplicate|new tries"
  statuses  JSON: {status or "error:KIND": count} over every attempt
  progress  the number of ids acked so far (rewritten as it grows)
Exits 0 when every id it took got a 2xx.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time


def address(serve_json):
    """The hooks address ferry wrote, or None while there is none."""
    try:
        with open(serve_json) as f:
            host, port = json.load(f)["hooks"].rsplit(":", 1)
        return host, int(port)
    except (OSError, ValueError, KeyError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve-json", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--out", required=True)
    ap.add_argument("--forever", action="store_true")
    ap.add_argument("--stop-file")
    ap.add_argument("--pause", type=float, default=0.0, help="seconds each thread waits between events")
    ap.add_argument("--deadline", type=float, default=120.0, help="give up after this many seconds")
    a = ap.parse_args()

    lock = threading.Lock()
    next_id = [0]
    acked = []                      # (id, status, duplicate, tries)
    statuses = {}
    t_end = time.monotonic() + a.deadline

    def take():
        with lock:
            if a.forever:
                if os.path.exists(a.stop_file):
                    return None
            elif next_id[0] >= a.count:
                return None
            i = next_id[0]
            next_id[0] += 1
            return i

    def count(key):
        with lock:
            statuses[key] = statuses.get(key, 0) + 1

    def worker():
        conn = None
        while True:
            i = take()
            if i is None:
                break
            body = json.dumps({"id": i, "n": i}).encode()
            tries = 0
            while True:
                if time.monotonic() > t_end:
                    print(f"hook_sender: gave up on id {i} after {tries} tries", file=sys.stderr)
                    os._exit(2)
                tries += 1
                if conn is None:
                    addr = address(a.serve_json)
                    if addr is None:
                        count("error:no-address")
                        time.sleep(0.02)
                        continue
                    conn = http.client.HTTPConnection(addr[0], addr[1], timeout=5)
                try:
                    conn.request("POST", "/hooks/" + a.path, body,
                                 {"Content-Type": "application/json", "webhook-id": str(i)})
                    resp = conn.getresponse()
                    answer = resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException) as e:
                    count("error:" + type(e).__name__)
                    conn.close()
                    conn = None
                    time.sleep(0.02)
                    continue
                count(str(status))
                if 200 <= status < 300:
                    dup = b'"duplicate":true' in answer
                    with lock:
                        acked.append((i, status, dup, tries))
                        n = len(acked)
                    if n % 250 == 0:
                        tmp = os.path.join(a.out, "progress.tmp")
                        with open(tmp, "w") as f:
                            f.write(f"{n}\n")
                        os.replace(tmp, os.path.join(a.out, "progress"))
                    break
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                time.sleep(0.02)
            if a.pause:
                time.sleep(a.pause)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(os.path.join(a.out, "acked"), "w") as f:
        for i, status, dup, tries in sorted(acked):
            f.write(f"{i} {status} {'duplicate' if dup else 'new'} {tries}\n")
    with open(os.path.join(a.out, "statuses"), "w") as f:
        json.dump(statuses, f, sort_keys=True)
    with open(os.path.join(a.out, "progress"), "w") as f:
        f.write(f"{len(acked)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
