#!/usr/bin/env python3
"""CRM-like account records as JSON lines, for the pipeline benchmark.

    gen.py records N [PATH|-]       N records (~600 bytes, 17 fields each) to PATH or stdout
    gen.py owners PATH              the 200 CRM users the records' ownerEmail refer to
    gen.py repeat FILE K [PATH|-]   FILE K times, each pass with new keys (for 10M
                                    records through a FIFO without a 6 GB file)

The output depends only on N and --seed: every run of the bench, and every
contender in it, reads the same bytes. A record looks like

    {"accountId":"001000000000Ax7","accountName":"Nordwind Logistik GmbH",
     "ownerEmail":"maria.schmidt@example.com","tier":"Enterprise",
     "annualRevenue":"1250000.00","employeeCount":"350","industry":"Logistics",
     "countryCode":"DE","city":"Hamburg","billingPostalCode":"20095",
     "websiteUrl":"https://...","phoneNumber":"+49 40 5551234",
     "createdAt":"2019-04-12T08:31:02Z","lastModifiedAt":"2025-11-02T14:05:44Z",
     "isActive":true,"primaryContact":{"firstName":...,"lastName":...,
     "email":...,"title":...},"description":"..."}

Some fields are null (phone, website, postal code, employees, contact,
description), names carry UTF-8 and descriptions escaped quotes. Every 50th
record is an update of an account seen about 1,000 records earlier (same
accountId, new values), so the load's upsert really updates. Ids grow with
the record number, as in an export sorted by id.

Records are made from pools of pre-encoded JSON strings with one string
format each, no json.dumps in the loop: ~40,000 a second. `repeat` copies
bytes and is far faster, so it can feed a reader through a FIFO.
"""
import argparse
import json
import random
import sys

FIRST = ["Anna", "Ben", "Chloé", "David", "Elif", "Felix", "Greta", "Hugo", "Ines", "Jonas",
         "Katja", "Lukas", "Maria", "Nils", "Olga", "Paul", "Quentin", "Rosa", "Sven", "Tanja",
         "Uwe", "Vera", "Wim", "Xenia", "Yusuf", "Zoë", "Amir", "Bianca", "Carlos", "Dana"]
LAST = ["Schmidt", "Müller", "Weber", "Novak", "García", "Rossi", "Dubois", "Jansen", "Kowalski",
        "Andersson", "O'Brien", "Silva", "Nagy", "Popescu", "Horvat", "Berg", "Lund", "Costa",
        "Meier", "Wagner", "Fischer", "Yılmaz", "Hansen", "Peeters", "Moreau", "Ferrari", "Bauer",
        "Keller", "Vogel", "Brandt"]
PREFIX = ["Nordwind", "Blue Harbor", "Alpen", "Quantum", "Helix", "Orbit", "Cedar", "Falcon",
          "Granite", "Lumen", "Maple", "Nimbus", "Polar", "Riverbend", "Summit", "Terra",
          "Vertex", "Zenith", "Aurora", "Brightline", "Crescent", "Delta", "Evergreen", "Fjord"]
SECTOR = ["Logistik", "Software", "Analytics", "Health", "Energy", "Foods", "Robotics",
          "Textiles", "Media", "Capital", "Systems", "Labs", "Mobility", "Pharma", "Retail"]
SUFFIX = ["GmbH", "AG", "Ltd", "Inc.", "S.A.", "B.V.", "SAS", "AB", "Oy", "LLC", "S.r.l.", "Sp. z o.o."]
INDUSTRY = ["Software", "Logistics", "Manufacturing", "Healthcare", "Financial Services",
            "Retail", "Energy", "Education", "Media", "Telecommunications", "Pharmaceuticals"]
TIERS = ["Enterprise"] * 2 + ["Growth"] * 5 + ["Starter"] * 8
PLACES = [("DE", "Hamburg", "+49 40"), ("DE", "München", "+49 89"), ("DE", "Berlin", "+49 30"),
          ("FR", "Lyon", "+33 4"), ("FR", "Paris", "+33 1"), ("NL", "Utrecht", "+31 30"),
          ("GB", "Manchester", "+44 161"), ("IE", "Dublin", "+353 1"), ("ES", "Sevilla", "+34 954"),
          ("IT", "Torino", "+39 011"), ("PL", "Kraków", "+48 12"), ("SE", "Göteborg", "+46 31"),
          ("US", "Austin", "+1 512"), ("US", "Chicago", "+1 312"), ("CA", "Montréal", "+1 514")]
TITLES = ["Head of Operations", "CFO", "VP Sales", "IT Director", "Procurement Manager",
          "Chief Revenue Officer", "Office Manager", "Head of Customer Success", "CTO"]
NOTES = [
    'Renewal in Q3; wants "annual billing" and SSO.',
    "Reference customer. Expansion planned next year.",
    "Migrated from the legacy CRM in 2023.",
    'Champion left; new contact asked for a "fresh demo".',
    "Pays by invoice, 45 days.",
    "Pilot with 20 seats; success criteria agreed.",
    "Strategic account — quarterly business reviews.",
    "Heavy API user; rate limit raised to 50 req/s.",
]
N_OWNERS = 200
FIRST_OWNER_ID = 100001

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def account_id(i):
    """A Salesforce-like 15-character id; ids sort in record order."""
    s = ""
    while i:
        i, r = divmod(i, 62)
        s = B62[r] + s
    return "001" + s.rjust(12, "0")


def slug(s):
    return "".join(c for c in s.lower() if c.isalnum() or c == " ").replace(" ", "-")


def ascii_fold(s):
    return s.translate(str.maketrans("éëíıüçöóá'", "eeiiucooa-")).replace("ß", "ss")


def owners(seed):
    """[(owner_id, email)]: N_OWNERS distinct first.last@example.com users."""
    rng = random.Random(seed * 7919 + 1)
    pairs = sorted({(f, l) for f in FIRST for l in LAST})
    rng.shuffle(pairs)
    return [(FIRST_OWNER_ID + k, ascii_fold(f"{f}.{l}".lower()) + "@example.com")
            for k, (f, l) in enumerate(pairs[:N_OWNERS])]


def q(s):
    """A JSON string literal (UTF-8 kept as is)."""
    return json.dumps(s, ensure_ascii=False)


TEMPLATE = ('{{"accountId":"{id}","accountName":{name},"ownerEmail":"{owner}","tier":"{tier}",'
            '"annualRevenue":"{arr}","employeeCount":{emp},"industry":"{industry}",'
            '"countryCode":"{country}","city":{city},"billingPostalCode":{postal},'
            '"websiteUrl":{web},"phoneNumber":{phone},"createdAt":"{created}",'
            '"lastModifiedAt":"{modified}","isActive":{active},"primaryContact":{contact},'
            '"description":{desc}}}\n')


def records(n, seed):
    """Yield n JSON lines (str, with the newline)."""
    import datetime
    rng = random.Random(seed)
    rand = rng.random

    def pick(seq):                          # rng.choice, without its overhead
        return seq[int(rand() * len(seq))]

    owner_emails = [e for _, e in owners(seed)]
    names = [(q(f"{p} {s} {x}"), slug(ascii_fold(f"{p} {s}"))) for p in PREFIX for s in SECTOR for x in SUFFIX]
    people = [(q(f), q(l), ascii_fold(f"{f}.{l}".lower())) for f in FIRST for l in LAST]
    places = [(c, q(city), tel) for c, city, tel in PLACES]
    notes = [q(t) for t in NOTES]
    titles = [q(t) for t in TITLES]
    day0 = datetime.date(2015, 1, 1)
    days = [(day0 + datetime.timedelta(d)).isoformat() for d in range(11 * 366)]
    for i in range(n):
        ident = i + 1
        if i % 50 == 49 and i >= 1000:      # an update of an account seen earlier
            ident = i + 1 - 1000 + int(rand() * 40)
        name, domain = pick(names)
        country, city, tel = pick(places)
        fn, ln, local = pick(people)
        created = int(rand() * 3650)
        contact = "null" if rand() < 0.02 else (
            f'{{"firstName":{fn},"lastName":{ln},"email":"{local}@{domain}.example",'
            f'"title":{pick(titles)}}}')
        yield TEMPLATE.format(
            id=account_id(ident), name=name, owner=pick(owner_emails), tier=pick(TIERS),
            arr=f"{int(rand() * 499500000 + 500000) / 100:.2f}",
            emp="null" if rand() < 0.03 else f'"{int(rand() * 250000) + 1}"',
            industry=pick(INDUSTRY), country=country, city=city,
            postal="null" if rand() < 0.04 else f'"{int(rand() * 99000) + 1000:05d}"',
            web="null" if rand() < 0.05 else f'"https://www.{domain}.example"',
            phone="null" if rand() < 0.08 else f'"{tel} {int(rand() * 9000000) + 1000000}"',
            created="%sT%02d:%02d:%02dZ" % (days[created], int(rand() * 24), int(rand() * 60), int(rand() * 60)),
            modified="%sT%02d:%02d:%02dZ" % (days[created + 1 + int(rand() * 300)], int(rand() * 24),
                                            int(rand() * 60), int(rand() * 60)),
            active="true" if rand() < 0.9 else "false", contact=contact,
            desc="null" if rand() < 0.10 else pick(notes))


def repeat(src, times, out):
    """Write the records file src `times` times; pass k (from 0) rewrites the
    accountId prefix 001 to 0{k+1:02d}, so every pass brings new keys and pass 0
    is src unchanged. Bytes in, bytes out: fast enough to feed any reader."""
    old = b'{"accountId":"001'
    for k in range(times):
        new = b'{"accountId":"0%02d' % (k + 1)
        with open(src, "rb") as f:
            while True:
                chunk = f.read(1 << 22)
                if not chunk:
                    break
                chunk += f.readline()         # whole lines, so no id is split
                out.write(chunk.replace(old, new) if k else chunk)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=20261126)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("records")
    r.add_argument("n", type=int)
    r.add_argument("path", nargs="?", default="-")
    o = sub.add_parser("owners")
    o.add_argument("path")
    p = sub.add_parser("repeat")
    p.add_argument("src")
    p.add_argument("times", type=int)
    p.add_argument("path", nargs="?", default="-")
    a = ap.parse_args()
    if a.what == "owners":
        with open(a.path, "w", encoding="utf-8") as f:
            f.write("owner_id,email\n")
            for oid, email in owners(a.seed):
                f.write(f"{oid},{email}\n")
        return
    out = sys.stdout.buffer if a.path == "-" else open(a.path, "wb")
    try:
        if a.what == "repeat":
            repeat(a.src, a.times, out)
        else:
            chunk = []
            for line in records(a.n, a.seed):
                chunk.append(line)
                if len(chunk) == 2000:
                    out.write("".join(chunk).encode())
                    chunk.clear()
            out.write("".join(chunk).encode())
        out.flush()
    except BrokenPipeError:                 # the reader stopped early: its failure is reported
        sys.exit(1)


if __name__ == "__main__":
    main()
