#!/usr/bin/env python3
"""The pipeline benchmark's Python baseline: the job of ferry_pipeline.lua
written the way one would with the standard library only.

    baseline_py.py INPUT OWNERS_CSV DB

Reads JSON lines (a file or a FIFO), maps each record exactly as the ferry
script does (10 renames, 2 conversions, the owner lookup, 4 fields passed
through) and upserts into accounts(account_id) of DB, one transaction per
1,000 rows, with the table, PRAGMAs and upsert statement ferry's SQLite sink
uses (WAL, synchronous=NORMAL, STRICT, ON CONFLICT DO UPDATE). A record that
cannot be mapped is counted and skipped, as ferry would quarantine it.
"""
import csv
import datetime
import json
import sqlite3
import sys

BATCH = 1000
COLUMNS = [  # (name, SQL type), in ferry's declaration order; account_id is the key
    ("account_id", "TEXT"), ("account_name", "TEXT"), ("owner_id", "INTEGER"), ("tier", "TEXT"),
    ("arr", "REAL"), ("employees", "INTEGER"), ("industry", "TEXT"), ("country", "TEXT"),
    ("city", "TEXT"), ("postal_code", "TEXT"), ("website", "TEXT"), ("phone", "TEXT"),
    ("created_at", "TEXT"), ("updated_at", "TEXT"), ("is_active", "INTEGER"),
    ("contact_email", "TEXT"), ("description", "TEXT"),
]
NAMES = [n for n, _ in COLUMNS] + ["_synced_at", "_run_id"]
CREATE = ('CREATE TABLE IF NOT EXISTS "accounts" ('
          + ", ".join(f'"{n}" {t}' + (" NOT NULL" if n == "account_id" else "") for n, t in COLUMNS)
          + ', "_synced_at" TEXT NOT NULL, "_run_id" TEXT NOT NULL, PRIMARY KEY ("account_id")) STRICT')
UPSERT = ('INSERT INTO "accounts" (' + ", ".join(f'"{n}"' for n in NAMES) + ") VALUES ("
          + ", ".join("?" * len(NAMES)) + ') ON CONFLICT ("account_id") DO UPDATE SET '
          + ", ".join(f'"{n}" = excluded."{n}"' for n in NAMES if n != "account_id"))


def load_owners(path):
    """email -> owner_id from the CRM user export."""
    with open(path, newline="", encoding="utf-8") as f:
        return {row["email"]: int(row["owner_id"]) for row in csv.DictReader(f)}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def main():
    src, owners_csv, db_path = sys.argv[1:4]
    owner_ids = load_owners(owners_csv)
    run_id = "baseline-py-" + now()
    db = sqlite3.connect(db_path, isolation_level=None)   # transactions are ours
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(CREATE)

    rows, loaded, rejected = [], 0, 0

    def flush():
        nonlocal loaded
        synced = now()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(UPSERT, [row + (synced, run_id) for row in rows])
        db.execute("COMMIT")
        loaded += len(rows)
        rows.clear()

    with open(src, "rb") as f:
        for line in f:
            if line.isspace():
                continue
            try:
                r = json.loads(line)
                account_id = r["accountId"]
                if not isinstance(account_id, str) or not account_id:
                    raise ValueError("missing accountId (the key)")
                owner_id = owner_ids[r["ownerEmail"]]          # KeyError: lookup_missing
                arr = float(r["annualRevenue"])
                employees = r.get("employeeCount")
                if employees is not None:
                    employees = int(employees)
                contact = r.get("primaryContact")
                rows.append((
                    account_id,                                 # renamed: accountId
                    r.get("accountName"),                       # renamed
                    owner_id,                                   # looked up: ownerEmail
                    r.get("tier"),
                    arr,                                        # converted: annualRevenue
                    employees,                                  # converted: employeeCount
                    r.get("industry"),
                    r.get("countryCode"),                       # renamed
                    r.get("city"),
                    r.get("billingPostalCode"),                 # renamed
                    r.get("websiteUrl"),                        # renamed
                    r.get("phoneNumber"),                       # renamed
                    r.get("createdAt"),                         # renamed
                    r.get("lastModifiedAt"),                    # renamed
                    r.get("isActive"),                          # renamed
                    contact.get("email") if contact else None,  # renamed: primaryContact.email
                    r.get("description"),
                ))
            except (ValueError, KeyError, TypeError, AttributeError):
                rejected += 1
                continue
            if len(rows) == BATCH:
                flush()
    if rows:
        flush()
    db.close()
    print(f"python: loaded {loaded}, rejected {rejected}")
    sys.exit(3 if rejected else 0)


if __name__ == "__main__":
    main()
