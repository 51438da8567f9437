#!/usr/bin/env python3
"""Generate the JSON-lines source of tests/e2e/test_crash.sh, and what a
correct load of it must leave behind.

Usage:  python3 tests/tools/gen_crash_data.py OUT_DIR RECORDS SEED [BAD_JSON BAD_TRANSFORM BAD_LOAD]

Writes, deterministically for a given SEED (random.Random(SEED), no clock):

  OUT_DIR/source.jsonl       RECORDS lines; line i is the customer with id i
  OUT_DIR/good_rows.txt      "id|email|name|amount" of every good record, by id
                             (what `sqlite3 -batch DB 'SELECT ... ORDER BY id'` prints)
  OUT_DIR/bad_json.txt       line numbers of the lines that are not valid JSON
  OUT_DIR/bad_transform.txt  ids of the records without an email (the transform
                             rejects them with "email missing")
  OUT_DIR/bad_load.txt       ids of the records whose amount is "n/a" (an INTEGER
                             column of a STRICT table refuses it)

Three kinds of bad records (BAD_JSON, BAD_TRANSFORM and BAD_LOAD of them,
default 300, 300 and 200):

  - a line that is not JSON (cut off, single quotes, a missing comma, a
    trailing comma, a bare key=value line): quarantined at stage extract;
  - a valid record whose email is missing or empty: quarantined at stage
    transform;
  - a record whose amount is the text "n/a": quarantined at stage load.

Line 1 and the last line are bad JSON and the line before the last has no
email, so the first and the last stretch of the file both quarantine. 50
consecutive lines (fewer for a small BAD_JSON) are bad JSON, so one stretch
of the file quarantines more records at extract than a batch holds.

Python 3 standard library only.
"""

import json
import os
import random
import sys

FIRST = ["Ada", "Björn", "Chloé", "Dmitri", "Eun-ji", "Fatima", "Gráinne", "Håkon",
         "Ines", "José", "Kwame", "Łukasz", "Mei", "Nuño", "O'Neil", "Priya", "Zoë"]
LAST = ["Okafor", "Nakamura", "Müller", "Dubois", "García", "O'Brien", "Kowalski",
        "Johansson", "Rossi", "Singh", "Nguyen", "Smith \"Smitty\"", "van der Berg"]


def bad_json_line(rng, i):
    """A non-blank line that no JSON parser accepts."""
    email = f"user{i}@example.com"
    forms = [
        f'{{"id": {i}, "email": "{email}", "name": "cut off',
        f"{{'id': {i}, 'email': '{email}'}}",
        f'{{"id": {i} "email": "{email}"}}',
        f'{{"id": {i}, "email": "{email}",}}',
        f"id={i} email={email}",
        f'{{"id": {i}, "email": "{email}", "amount": }}',
    ]
    line = forms[rng.randrange(len(forms))]
    try:
        json.loads(line)
    except ValueError:
        return line
    raise AssertionError(f"meant to be invalid JSON: {line}")


def main():
    if len(sys.argv) not in (4, 7):
        sys.exit(__doc__)
    out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n_json, n_tr, n_load = map(int, sys.argv[4:7]) if len(sys.argv) == 7 else (300, 300, 200)
    if n < 10 or n_json + n_tr + n_load > n // 2 or n_json < 2 or n_tr < 1 or n_load < 0:
        sys.exit("gen_crash_data: need RECORDS >= 10, BAD_JSON >= 2, BAD_TRANSFORM >= 1, "
                 "BAD_LOAD >= 0, and at most half the records bad")
    rng = random.Random(seed)

    # one stretch of consecutive bad lines, longer than a batch, the rest scattered
    run = min(50, (n_json - 2) // 2)
    start = rng.randrange(2, n - 1 - run)
    bad_json = {1, n} | set(range(start, start + run))
    bad_tr = {n - 1}
    k = n_json - len(bad_json)
    middle = rng.sample(sorted(set(range(2, n - 1)) - bad_json), k + n_tr - 1 + n_load)
    bad_json.update(middle[:k])
    bad_tr.update(middle[k:k + n_tr - 1])
    bad_load = set(middle[k + n_tr - 1:])

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "source.jsonl"), "w", encoding="utf-8", newline="\n") as src, \
         open(os.path.join(out, "good_rows.txt"), "w", encoding="utf-8", newline="\n") as good:
        for i in range(1, n + 1):
            if i in bad_json:
                src.write(bad_json_line(rng, i) + "\n")
                continue
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            amount = rng.randrange(-10**6, 10**9)
            rec = {"id": i, "name": name, "amount": amount,
                   "tags": rng.sample(["vip", "trial", "churn-risk", "eu", "us"], rng.randrange(3))}
            if i in bad_tr:
                if rng.random() < 0.5:
                    rec["email"] = ""
            elif i in bad_load:
                rec["email"] = f"user{i}@example.com"
                rec["amount"] = "n/a"
            else:
                rec["email"] = f"user{i}@example.com"
                good.write(f"{i}|{rec['email']}|{name}|{amount}\n")
            # half the lines escape non-ASCII as \uXXXX, half write UTF-8
            src.write(json.dumps(rec, ensure_ascii=rng.random() < 0.5) + "\n")

    for fname, ids in (("bad_json.txt", bad_json), ("bad_transform.txt", bad_tr), ("bad_load.txt", bad_load)):
        with open(os.path.join(out, fname), "w") as f:
            f.writelines(f"{i}\n" for i in sorted(ids))


if __name__ == "__main__":
    main()
