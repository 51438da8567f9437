#!/usr/bin/env python3
"""Generate ferry's shipped sample data under scripts/data/.

Writes, deterministically (fixed seed, no clock, no hash-order dependence):

  scripts/data/crm_accounts.csv       CRM account export (UTF-8 BOM, CRLF, RFC 4180)
  scripts/data/helpdesk_tickets.jsonl helpdesk ticket export (UTF-8, LF, one JSON per line)
  scripts/data/README.md              description + line numbers of the deliberately bad records

Both data files contain exactly four deliberately bad records, at fixed scattered
positions.  The line numbers quoted in README.md are computed by parsing the files
back, so they always match what was written.

Usage:  python3 tests/tools/gen_sample_data.py [OUT_DIR]
        (OUT_DIR defaults to <repo>/scripts/data)

Python 3 standard library only.
"""

import csv
import datetime as dt
import io
import json
import os
import random
import sys

SEED = 20240611

CSV_NAME = "crm_accounts.csv"
JSONL_NAME = "helpdesk_tickets.jsonl"
README_NAME = "README.md"

N_ACCOUNTS = 300
N_TICKETS = 400

CSV_HEADER = [
    "account_id", "name", "domain", "tier", "owner_email", "arr", "employees",
    "country", "created_at", "renewal_date", "health_score", "notes",
]

TIERS = ["Enterprise", "Growth", "Starter"]

OWNERS = [
    "maria.lopez@example.com",
    "james.okafor@example.com",
    "li.wei@example.com",
    "sophie.martin@example.com",
    "raj.patel@example.com",
    "anna.kowalska@example.com",
    "tom.becker@example.com",
    "yuki.tanaka@example.com",
]

# 0-based data-row indices (row 0 is the first record after the header).
CSV_BAD_DATE_IDX = 41        # created_at = "31/02/2023"
CSV_MISSING_ID_IDX = 118     # account_id = ""
CSV_BAD_TIER_IDX = 187       # tier = "Platinum"
CSV_RAGGED_IDX = 263         # last 3 fields dropped
CSV_MULTILINE_NOTE_IDX = [17, 76, 150, 222, 281]

# 0-based line indices in the JSONL file (line index 0 == physical line 1).
JSONL_TRUNCATED_IDX = 57     # not valid JSON
JSONL_BAD_DATE_IDX = 142     # created_at = "yesterday"
JSONL_BAD_PRIO_IDX = 276     # priority = "critical"
JSONL_MISSING_ID_IDX = 350   # no "id" key
N_UNKNOWN_ACCOUNT_REFS = 10
UNKNOWN_ACCOUNT_IDS = [
    "ACC-09999", "ACC-00301", "ACC-00450", "ACC-07777", "ACC-09000",
    "ACC-00999", "ACC-05000", "ACC-08123", "ACC-00302", "ACC-04040",
]

# (name, domain, country) -- hand-picked awkward names; domains are ASCII.
SPECIAL_COMPANIES = [
    ("Smith, Jones & Co", "smithjones.co.uk", "GB"),
    ('The "Best" Widgets', "bestwidgets.com", "US"),
    ("Müller GmbH", "mueller-gmbh.de", "DE"),
    ("Société Générale Conseil", "sg-conseil.fr", "FR"),
    ("北京科技", "bjkeji.cn", "CN"),
    ("Andersson, Berg & Lund AB", "abl.se", "SE"),
    ('Acme "Rocket" Supplies, Inc.', "acmerocket.com", "US"),
    ("Zürich Rückversicherung AG", "zrv.ch", "CH"),
    ("São Paulo Logística Ltda", "splogistica.com.br", "BR"),
    ("Łódź Systemy Sp. z o.o.", "lodzsystemy.pl", "PL"),
    ("Café Olé, Inc.", "cafeole.com", "US"),
    ("東京データ株式会社", "tokyo-data.jp", "JP"),
    ("Dvořák & Syn s.r.o.", "dvorak-syn.cz", "CZ"),
    ("Ærø Fiskeri ApS", "aeroe-fiskeri.dk", "DK"),
    ('O\'Brien "Quality" Plumbing', "obrienplumbing.ie", "IE"),
    ("Crème de la Crème Pâtisserie", "cremedelacreme.fr", "FR"),
]

ADJECTIVES = [
    "Blue", "Northern", "Silver", "Bright", "Summit", "Harbor", "Granite", "Quantum",
    "Evergreen", "Redwood", "Atlas", "Pioneer", "Cobalt", "Lumen", "Vertex", "Meridian",
    "Copper", "Iron", "Crystal", "Falcon", "Orchid", "Polar", "Sable", "Tidal",
]
NOUNS = [
    "Analytics", "Logistics", "Dynamics", "Health", "Robotics", "Foods", "Energy",
    "Software", "Systems", "Labs", "Networks", "Capital", "Media", "Freight",
    "Biotech", "Retail", "Partners", "Solutions", "Works", "Devices",
]
SUFFIXES = ["Inc.", ", Inc.", "LLC", "Ltd", "Group", "Corp.", "", "", "", "Holdings"]

COUNTRIES = ["US", "US", "US", "GB", "DE", "FR", "CA", "AU", "NL", "JP", "IN", "BR",
             "ES", "IT", "SE", "SG", "MX", "IE", "CH", "PL"]
TLD_BY_COUNTRY = {
    "US": "com", "GB": "co.uk", "DE": "de", "FR": "fr", "CA": "ca", "AU": "com.au",
    "NL": "nl", "JP": "jp", "IN": "in", "BR": "com.br", "ES": "es", "IT": "it",
    "SE": "se", "SG": "sg", "MX": "mx", "IE": "ie", "CH": "ch", "PL": "pl",
}
REGION_BY_COUNTRY = {
    "US": "amer", "CA": "amer", "BR": "latam", "MX": "latam",
    "GB": "emea", "DE": "emea", "FR": "emea", "NL": "emea", "ES": "emea", "IT": "emea",
    "SE": "emea", "IE": "emea", "CH": "emea", "PL": "emea", "CZ": "emea", "DK": "emea",
    "JP": "apac", "IN": "apac", "SG": "apac", "AU": "apac", "CN": "apac",
}

MULTILINE_NOTES = [
    'Customer asked for a "priority" SLA.\nEscalated to VP Sales on renewal call.\nFollow up in Q3.',
    'Migrated from legacy CRM.\nOld ID: "L-7731", keep for reference.',
    'Champion left the company.\nNew contact: "Dana" (procurement).\nRisk: churn, see health score.',
    'Billing dispute resolved.\nCredit note issued, "do not chase" until next invoice.',
    'Multi-entity account:\n- HQ billing\n- EU subsidiary, separate PO\nSee contract, section "4.2".',
]
SHORT_NOTES = [
    "Prefers email contact", "Pilot in progress", 'Referred by "Acme Rocket"',
    "Needs SSO", "Net-60 payment terms", "Reseller account, see partner portal",
]

# Tickets ------------------------------------------------------------------

STATUSES = ["new", "open", "pending", "solved", "closed"]
STATUS_WEIGHTS = [10, 25, 15, 30, 20]
PRIORITIES = ["low", "normal", "high", "urgent"]
PRIORITY_WEIGHTS = [25, 45, 22, 8]
PRODUCTS = ["billing", "api", "sso", "reporting", "integrations", "mobile"]
TAGS = ["vip", "bug", "how-to", "billing", "outage", "feature-request", "sso",
        "api", "escalated", "follow-up", "refund", "onboarding"]
SUBJECTS = [
    "Cannot log in after password reset",
    'Invoice shows wrong "VAT" number',
    "API returns 502 on /v2/orders",
    "Export to CSV drops the last column",
    "Facturation : numéro de TVA incorrect",
    "Zugriff verweigert – Rechnung nicht abrufbar",
    "請求書をダウンロードできません",
    "无法同步联系人",
    'Webhook payload has "null" customer name',
    "Feature request: dark mode 🌙",
    "SSO error: \"SAMLResponse\" signature invalid",
    "Report totals don't match dashboard",
    "Mobile app crashes on launch (iOS 17)",
    "Please cancel my subscription",
    "Integration with Salesforce stopped syncing",
    "Déjà vu: duplicate charges again",
    "Refund request for order #4471",
    "Rate limit hit — 429 Too Many Requests",
    "How do I add a new user?",
    "Emoji in company name breaks PDF 🚀",
]
FIRST_NAMES = ["alex", "sam", "jordan", "priya", "chen", "fatima", "lukas", "olga",
               "diego", "amara", "kenji", "noah", "zoe", "ines", "omar", "hana"]
LAST_NAMES = ["smith", "nguyen", "garcia", "schmidt", "rossi", "kim", "dubois",
              "silva", "novak", "ali", "johansson", "sato", "brown", "khan"]
OFFSETS = ["Z", "Z", "Z", "+02:00", "+01:00", "-05:00", "-08:00", "+05:30",
           "+09:00", "-03:00", "+10:00", "+00:00"]

UTC = dt.timezone.utc


# --------------------------------------------------------------------------
# helpers

def _slug(text):
    out = []
    for ch in text.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
    return "".join(out)


def _fmt_utc(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_offset(t_utc, offset):
    """Render a UTC instant in the given offset ("Z" or "+HH:MM")."""
    if offset == "Z":
        return t_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = 1 if offset[0] == "+" else -1
    hh, mm = int(offset[1:3]), int(offset[4:6])
    tz = dt.timezone(sign * dt.timedelta(hours=hh, minutes=mm))
    local = t_utc.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + offset


def _parse_iso(s):
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return dt.datetime.fromisoformat(s)


def _rand_instant(rng, start, end):
    """Random UTC instant in [start, end), at minute granularity."""
    span = int((end - start).total_seconds() // 60)
    return start + dt.timedelta(minutes=rng.randrange(span))


# --------------------------------------------------------------------------
# CRM accounts

def _company_names(rng, n):
    names = list(SPECIAL_COMPANIES)
    seen = {c[0] for c in names}
    while len(names) < n:
        adj, noun, suf = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(SUFFIXES)
        base = "%s %s" % (adj, noun)
        if suf.startswith(","):
            name = base + suf
        elif suf:
            name = base + " " + suf
        else:
            name = base
        if name in seen:
            continue
        seen.add(name)
        country = rng.choice(COUNTRIES)
        domain = _slug(adj + noun) + "." + TLD_BY_COUNTRY[country]
        names.append((name, domain, country))
    # Spread the awkward names through the file instead of bunching them at the top.
    rng.shuffle(names)
    # Domains must be unique: disambiguate collisions deterministically.
    used = {}
    out = []
    for name, domain, country in names:
        if domain in used:
            used[domain] += 1
            head, _, tail = domain.partition(".")
            domain = "%s%d.%s" % (head, used[domain], tail)
        else:
            used[domain] = 1
        out.append((name, domain, country))
    return out


def build_accounts(rng):
    """Return (rows, meta). rows are lists of strings ready for csv.writer."""
    companies = _company_names(rng, N_ACCOUNTS)
    rows = []
    meta = []  # per row: dict(account_id, valid, kind)
    created_lo = dt.datetime(2019, 1, 1, tzinfo=UTC)
    created_hi = dt.datetime(2026, 1, 1, tzinfo=UTC)
    renew_floor = dt.date(2026, 1, 1)
    multiline = dict(zip(CSV_MULTILINE_NOTE_IDX, MULTILINE_NOTES))

    for i in range(N_ACCOUNTS):
        account_id = "ACC-%05d" % (i + 1)
        name, domain, country = companies[i]
        tier = rng.choices(TIERS, weights=[20, 35, 45])[0]
        owner = rng.choice(OWNERS)
        if tier == "Enterprise":
            arr_cents = rng.randrange(150_000, 2_500_000) * 100 + rng.choice([0, 0, 50])
            employees = rng.randrange(1000, 60000)
        elif tier == "Growth":
            arr_cents = rng.randrange(25_000, 150_000) * 100 + rng.choice([0, 0, 0, 99])
            employees = rng.randrange(100, 1000)
        else:
            arr_cents = rng.randrange(1_200, 25_000) * 100
            employees = rng.randrange(2, 100)
        arr = "%d.%02d" % (arr_cents // 100, arr_cents % 100)
        created = _rand_instant(rng, created_lo, created_hi)
        created_s = _fmt_utc(created)
        # next contract anniversary on/after renew_floor (Feb 29 -> Feb 28)
        cd = created.date()
        year = renew_floor.year
        while True:
            day = 28 if (cd.month, cd.day) == (2, 29) else cd.day
            renewal = dt.date(year, cd.month, day)
            if renewal >= renew_floor:
                break
            year += 1
        health = rng.randint(0, 100)
        if i in multiline:
            notes = multiline[i]
        elif rng.random() < 0.06:
            notes = rng.choice(SHORT_NOTES)
        else:
            notes = ""

        kind = "ok"
        if i == CSV_BAD_DATE_IDX:
            created_s, kind = "31/02/2023", "bad_date"
        elif i == CSV_MISSING_ID_IDX:
            account_id, kind = "", "missing_id"
        elif i == CSV_BAD_TIER_IDX:
            tier, kind = "Platinum", "bad_tier"
        elif i == CSV_RAGGED_IDX:
            kind = "ragged"

        row = [account_id, name, domain, tier, owner, arr, str(employees), country,
               created_s, renewal.isoformat(), str(health), notes]
        if kind == "ragged":
            row = row[:-3]
        rows.append(row)
        meta.append({"account_id": account_id, "name": name, "domain": domain,
                     "country": country, "tier": tier, "created": created, "kind": kind})
    assert set(CSV_MULTILINE_NOTE_IDX).isdisjoint(
        {CSV_BAD_DATE_IDX, CSV_MISSING_ID_IDX, CSV_BAD_TIER_IDX, CSV_RAGGED_IDX})
    return rows, meta


def write_csv(path, rows):
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(CSV_HEADER)
    w.writerows(rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\ufeff")
        f.write(buf.getvalue())


# --------------------------------------------------------------------------
# Helpdesk tickets

def build_tickets(rng, accounts):
    valid_accounts = [a for a in accounts if a["kind"] == "ok"]
    country_of = {a["account_id"]: a["country"] for a in valid_accounts}
    reserved = {JSONL_TRUNCATED_IDX, JSONL_BAD_DATE_IDX, JSONL_BAD_PRIO_IDX,
                JSONL_MISSING_ID_IDX}
    candidates = [i for i in range(N_TICKETS) if i not in reserved]
    unknown_positions = sorted(rng.sample(candidates, N_UNKNOWN_ACCOUNT_REFS))
    unknown_for = dict(zip(unknown_positions, UNKNOWN_ACCOUNT_IDS))

    t_lo = dt.datetime(2026, 1, 5, tzinfo=UTC)
    t_hi = dt.datetime(2026, 11, 30, tzinfo=UTC)
    next_id = 48201
    lines = []   # raw text lines (without "\n")
    meta = []
    for i in range(N_TICKETS):
        tid = next_id
        next_id += rng.randint(1, 4)

        if i in unknown_for:
            account_id = unknown_for[i]
            domain = "unknown-customer.example"
        else:
            acct = rng.choice(valid_accounts)
            account_id, domain = acct["account_id"], acct["domain"]
        requester = "%s.%s@%s" % (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), domain)
        status = rng.choices(STATUSES, weights=STATUS_WEIGHTS)[0]
        priority = rng.choices(PRIORITIES, weights=PRIORITY_WEIGHTS)[0]
        subject = rng.choice(SUBJECTS)
        offset = rng.choice(OFFSETS)
        created = _rand_instant(rng, t_lo, t_hi)
        if status == "new" and rng.random() < 0.5:
            updated = created
        else:
            updated = created + dt.timedelta(minutes=rng.randrange(1, 60 * 24 * 21))
        tags = sorted(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2, 3])))
        satisfaction = None
        if status in ("solved", "closed"):
            satisfaction = rng.choices([None, "good", "bad"], weights=[50, 38, 12])[0]
        product = rng.choice(PRODUCTS)
        region = REGION_BY_COUNTRY.get(country_of.get(account_id, ""), "unknown")
        custom = {"product": product, "region": region}
        if rng.random() < 0.2:
            custom["channel"] = rng.choice(["email", "web", "chat", "phone"])

        kind = "ok"
        created_s = _fmt_offset(created, offset)
        if i == JSONL_TRUNCATED_IDX:
            subject, kind = "Printer on fire — again", "truncated"
        elif i == JSONL_BAD_DATE_IDX:
            created_s, kind = "yesterday", "bad_date"
        elif i == JSONL_BAD_PRIO_IDX:
            priority, kind = "critical", "bad_priority"
        elif i == JSONL_MISSING_ID_IDX:
            kind = "missing_id"

        ticket = {
            "id": tid,
            "subject": subject,
            "status": status,
            "priority": priority,
            "requester_email": requester,
            "account_id": account_id,
            "created_at": created_s,
            "updated_at": _fmt_offset(updated, offset),
            "tags": tags,
            "satisfaction": satisfaction,
            "custom_fields": custom,
        }
        if kind == "missing_id":
            del ticket["id"]
        line = json.dumps(ticket, ensure_ascii=False)
        if kind == "truncated":
            cut = line.index("Printer on fi") + len("Printer on fi")
            line = line[:cut]
        assert "\n" not in line and "\r" not in line
        lines.append(line)
        meta.append({"id": None if kind == "missing_id" else tid,
                     "account_id": account_id, "kind": kind})
    return lines, meta


def write_jsonl(path, lines):
    with open(path, "w", encoding="utf-8", newline="") as f:
        for line in lines:
            f.write(line + "\n")


# --------------------------------------------------------------------------
# Read-back / verification (also feeds the README line numbers)

def scan_csv(path):
    """Parse the CSV back; return list of (start_line, end_line, record)."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw.startswith(b"\xef\xbb\xbf"), "missing BOM"
    text = raw[3:].decode("utf-8")
    # Every record terminator must be CRLF; bare LF only inside quoted notes.
    out = []
    reader = csv.reader(io.StringIO(text, newline=""))
    prev = 0
    for rec in reader:
        out.append((prev + 1, reader.line_num, rec))
        prev = reader.line_num
    return out, text


def verify_and_describe(csv_path, jsonl_path, acct_meta, ticket_meta):
    records, text = scan_csv(csv_path)
    header = records[0][2]
    assert header == CSV_HEADER, header
    data = records[1:]
    assert len(data) == N_ACCOUNTS, len(data)
    # Cross-check line_num against raw newline counting.
    phys_lines = text.split("\n")
    assert text.endswith("\r\n")
    assert text.count("\n") == records[-1][1]
    for start, _end, rec in records:
        # the physical line where the record starts begins with its first field
        assert phys_lines[start - 1].startswith(rec[0]), (start, rec[0])

    bad_csv = []
    ids = []
    for (start, end, rec), m in zip(data, acct_meta):
        if m["kind"] == "ok":
            assert len(rec) == len(CSV_HEADER)
            assert rec[3] in TIERS
            dt.datetime.strptime(rec[8], "%Y-%m-%dT%H:%M:%SZ")
            dt.date.fromisoformat(rec[9])
            assert 0 <= int(rec[10]) <= 100
            ids.append(rec[0])
        else:
            bad_csv.append({"line": start, "kind": m["kind"], "account_id": rec[0],
                            "name": rec[1], "fields": len(rec)})
    assert len(ids) == len(set(ids)) == N_ACCOUNTS - 4
    assert [b["kind"] for b in bad_csv] == ["bad_date", "missing_id", "bad_tier", "ragged"]
    multiline_lines = [s for s, e, _ in data if e > s]
    assert len(multiline_lines) == len(CSV_MULTILINE_NOTE_IDX)

    # JSONL
    with open(jsonl_path, "rb") as f:
        raw = f.read()
    assert b"\r" not in raw and raw.endswith(b"\n")
    jlines = raw.decode("utf-8").split("\n")[:-1]
    assert len(jlines) == N_TICKETS
    known = set(ids)
    bad_jsonl = []
    tids = []
    unknown_refs = []
    for n, (line, m) in enumerate(zip(jlines, ticket_meta), start=1):
        try:
            obj = json.loads(line)
        except ValueError:
            assert m["kind"] == "truncated"
            bad_jsonl.append({"line": n, "kind": "truncated", "id": m["id"]})
            continue
        assert m["kind"] != "truncated"
        if "id" in obj:
            tids.append(obj["id"])
        problems = []
        if "id" not in obj:
            problems.append("missing_id")
        if obj["priority"] not in PRIORITIES:
            problems.append("bad_priority")
        try:
            c = _parse_iso(obj["created_at"])
        except ValueError:
            problems.append("bad_date")
            c = None
        u = _parse_iso(obj["updated_at"])
        assert u.tzinfo is not None
        if c is not None:
            assert c.tzinfo is not None and u >= c, (n, obj)
        assert obj["status"] in STATUSES
        assert obj["satisfaction"] in (None, "good", "bad")
        assert isinstance(obj["tags"], list) and isinstance(obj["custom_fields"], dict)
        if obj["account_id"] not in known:
            unknown_refs.append((n, obj["account_id"]))
        if problems:
            assert problems == [m["kind"]], (n, problems, m)
            bad_jsonl.append({"line": n, "kind": m["kind"], "id": obj.get("id"),
                              "account_id": obj["account_id"]})
        else:
            assert m["kind"] == "ok"
    all_ids = tids + [b["id"] for b in bad_jsonl if b["kind"] == "truncated"]
    assert len(all_ids) == len(set(all_ids))
    assert [b["kind"] for b in bad_jsonl] == ["truncated", "bad_date", "bad_priority", "missing_id"]
    assert len(unknown_refs) == N_UNKNOWN_ACCOUNT_REFS

    return {
        "csv_physical_lines": text.count("\n"),
        "csv_records": len(data),
        "csv_bad": bad_csv,
        "csv_multiline_lines": multiline_lines,
        "jsonl_lines": len(jlines),
        "jsonl_bad": bad_jsonl,
        "jsonl_unknown_refs": unknown_refs,
    }


# --------------------------------------------------------------------------
# README

def write_readme(path, info):
    b = {x["kind"]: x for x in info["csv_bad"]}
    j = {x["kind"]: x for x in info["jsonl_bad"]}
    ml = ", ".join(str(n) for n in info["csv_multiline_lines"])
    unk = ", ".join("%d (`%s`)" % (n, a) for n, a in info["jsonl_unknown_refs"])
    text = f"""# Sample data

Generated by `tests/tools/gen_sample_data.py` (fixed seed, deterministic); do not edit
by hand - change the generator and re-run `python3 tests/tools/gen_sample_data.py`.
Line numbers below are physical line numbers in the file (1-based) and are computed
by the generator by parsing the files back.

**`{CSV_NAME}`** is a CRM account export as Excel/Salesforce writes it: UTF-8 with a
BOM, CRLF record terminators, RFC 4180 quoting, a header row (line 1) and
{info["csv_records"]} data records spread over {info["csv_physical_lines"]} physical lines, because
the `notes` of 5 records contain embedded (LF) newlines and quotes (those records start
on lines {ml}). Columns: `account_id` (`ACC-00001`...), `name` (includes commas,
double quotes and non-ASCII, e.g. `Smith, Jones & Co`, `The "Best" Widgets`,
`Müller GmbH`, `北京科技`), `domain`, `tier` (`Enterprise`|`Growth`|`Starter`),
`owner_email` (8 owners), `arr` (decimal string, 2 places), `employees` (integer),
`country` (ISO 3166-1 alpha-2), `created_at` (`YYYY-MM-DDTHH:MM:SSZ`), `renewal_date`
(`YYYY-MM-DD`), `health_score` (0-100), `notes` (mostly empty). All other account_ids
are unique. Deliberately bad records (exactly 4):
line {b["bad_date"]["line"]} (`{b["bad_date"]["account_id"]}`) has `created_at` = `31/02/2023` (unparseable date);
line {b["missing_id"]["line"]} (no id; name `{b["missing_id"]["name"]}`) has an empty `account_id`;
line {b["bad_tier"]["line"]} (`{b["bad_tier"]["account_id"]}`) has `tier` = `Platinum` (unknown tier);
line {b["ragged"]["line"]} (`{b["ragged"]["account_id"]}`) is ragged: {b["ragged"]["fields"]} fields instead of {len(CSV_HEADER)} (`renewal_date`, `health_score`, `notes` missing).

**`{JSONL_NAME}`** is a Zendesk-like helpdesk export: UTF-8 (no BOM), LF line endings,
one JSON object per line, {info["jsonl_lines"]} lines. Fields: `id` (unique integer),
`subject` (some with non-ASCII/emoji and quotes), `status`
(`new`|`open`|`pending`|`solved`|`closed`), `priority` (`low`|`normal`|`high`|`urgent`),
`requester_email`, `account_id` (references a valid account in `{CSV_NAME}`, except
{len(info["jsonl_unknown_refs"])} tickets referencing accounts that do not exist, on lines {unk}),
`created_at`/`updated_at` (ISO 8601 with `Z` or a `+HH:MM`/`-HH:MM` offset; `updated_at`
is never before `created_at`), `tags` (array, possibly empty), `satisfaction` (`null`,
`"good"` or `"bad"`), `custom_fields` (object with `product`, `region`, sometimes
`channel`). Deliberately bad lines (exactly 4):
line {j["truncated"]["line"]} (id {j["truncated"]["id"]}) is not valid JSON (object truncated inside `subject`);
line {j["bad_date"]["line"]} (id {j["bad_date"]["id"]}) has `created_at` = `"yesterday"`;
line {j["bad_priority"]["line"]} (id {j["bad_priority"]["id"]}) has `priority` = `"critical"` (unknown);
line {j["missing_id"]["line"]} (no id; account `{j["missing_id"]["account_id"]}`) has no `id` field.
"""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


# --------------------------------------------------------------------------

def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    out_dir = argv[1] if len(argv) > 1 else os.path.join(repo, "scripts", "data")
    os.makedirs(out_dir, exist_ok=True)

    rng = random.Random(SEED)
    rows, acct_meta = build_accounts(rng)
    lines, ticket_meta = build_tickets(rng, acct_meta)

    csv_path = os.path.join(out_dir, CSV_NAME)
    jsonl_path = os.path.join(out_dir, JSONL_NAME)
    write_csv(csv_path, rows)
    write_jsonl(jsonl_path, lines)
    info = verify_and_describe(csv_path, jsonl_path, acct_meta, ticket_meta)
    write_readme(os.path.join(out_dir, README_NAME), info)

    print("%s: %d records, %d physical lines" % (CSV_NAME, info["csv_records"],
                                                  info["csv_physical_lines"]))
    for bad in info["csv_bad"]:
        print("  line %d  %-10s account_id=%r" % (bad["line"], bad["kind"], bad["account_id"]))
    print("%s: %d lines" % (JSONL_NAME, info["jsonl_lines"]))
    for bad in info["jsonl_bad"]:
        print("  line %d  %-12s id=%r" % (bad["line"], bad["kind"], bad["id"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
