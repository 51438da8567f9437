#!/usr/bin/env python3
"""Row count and checksum of the pipeline benchmark's accounts table.

    checksum.py DB    -> {"rows": N, "sha256": "...", "schema": "..."}

Independent of whoever wrote DB: it reads the declared columns (name, type,
NOT NULL, key) and every row in key order, and hashes each value together with
its SQLite storage class, so 1 and 1.0, NULL and "" differ. ferry's
bookkeeping columns (_synced_at, _run_id) are left out: they differ by design.
"""
import hashlib
import json
import sqlite3
import sys

BOOKKEEPING = {"_synced_at", "_run_id"}


def main():
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    cols = [(name, typ.upper(), notnull, pk)
            for _, name, typ, notnull, _, pk in db.execute("PRAGMA table_info(accounts)")
            if name not in BOOKKEEPING]
    if not cols:
        sys.exit(f"{sys.argv[1]}: no accounts table")
    schema = ", ".join(f"{n} {t}{' NOT NULL' if nn else ''}{' KEY' if pk else ''}" for n, t, nn, pk in cols)
    names = [n for n, *_ in cols]
    keys = [n for n, _, _, pk in cols if pk]
    # typeof() next to each value: Python would read 1 (INTEGER) and 1.0 (REAL) as equal.
    select = ", ".join(f'typeof("{n}"), "{n}"' for n in names)
    h = hashlib.sha256(schema.encode())
    rows = 0
    for row in db.execute(f'SELECT {select} FROM accounts ORDER BY {", ".join(keys)}'):
        h.update(repr(row).encode())
        h.update(b"\n")
        rows += 1
    print(json.dumps({"rows": rows, "sha256": h.hexdigest(), "schema": schema}))


if __name__ == "__main__":
    main()
