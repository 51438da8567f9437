#!/usr/bin/env bash
# contrib/stripe end to end: scripts that `require "contrib.stripe"` run with
# `ferry run` against fake_stripe.py (Python standard library, 127.0.0.1,
# written from Stripe's public reference). Checks the rows a SQLite sink
# holds, what the fake holds and was sent (its request log), the quarantine
# (class and Stripe's own error), checkpoints across runs, idempotency keys,
# and that the API key appears nowhere.
. "$(dirname "$0")/../../../tests/e2e/lib.sh"

KEY=sk_test_51StripeFerryTest9c1e77
export STRIPE_API_KEY=$KEY
DATA=$WORK/data
CONF=$WORK/stripe_conf.lua

python3 "$ROOT/contrib/stripe/tests/fake_stripe.py" --port-file "$WORK/stripe.port" --key "$KEY" \
    >"$WORK/fake.out" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/stripe.port" ] && break; sleep 0.05; done
S=http://127.0.0.1:$(cat "$WORK/stripe.port" 2>/dev/null)

NAMES="stripe-invoices s-customers s-resume s-write s-idem s-lookup s-subs s-expand"
{
  echo "return {"
  echo "  data_dir = \"$DATA\","
  echo "  -- the shipped example's https://api.stripe.com, unedited, goes to the fake"
  echo "  http = { rewrite = { [\"https://api.stripe.com\"] = \"$S\" } },"
  echo "  integrations = {"
  for n in $NAMES; do echo "    [\"$n\"] = { secrets = { \"STRIPE_API_KEY\" } },"; done
  echo "  },"
  echo "}"
} >"$CONF"
srun() { run_ferry run "$@" -c "$CONF"; }
# fake_py EXPR: a Python expression over C (customers by id), R (requests,
# each {method, path, query, body, auth, version, idem, replayed, status, t}),
# P (POSTs carried out) and Q(q) (a request's query as a dict of lists)
fake_py() {
    python3 - "$S" "$1" <<'EOF' 2>&1
import json, re, sys, urllib.parse, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + p))
C = {c["id"]: c for c in get("/__fake/customers")}
R = get("/__fake/requests")
P = get("/__fake/applied")
Q = lambda q: urllib.parse.parse_qs(q["query"], keep_blank_values=True)
F = lambda q: urllib.parse.parse_qs(q["body"], keep_blank_values=True)
line = lambda q: q["method"] + " " + q["path"] + ("?" + urllib.parse.unquote(q["query"]) if q["query"] else "")
print(eval(sys.argv[2]))
EOF
}
ctl() { curl -s -o /dev/null -w '%{http_code}' -X POST --data "$2" "$S/__fake/$1"; }
nreq() { fake_py 'len(R)'; }
qpy() { quarantine_py "$DATA" "$1" "$2"; }

# 250 customers (three pages of 100), created a minute apart, every third
# with a CRM company id in its metadata; 230 invoices in usd, jpy and kwd
# (two- zero- and three-decimal currencies), created in the last 20 days;
# 4 subscriptions, one canceled. Times relative to now: events must be
# younger than Stripe's 30 days.
python3 - "$S" <<'EOF'
import json, sys, time, urllib.request
now = int(time.time())
base = now - 20 * 86400
customers = [{"id": "cus_%04d" % i, "object": "customer", "created": base + 60 * i,
              "email": "billing%d@client%d.example" % (i, i), "name": "Client %d" % i, "currency": "usd",
              "metadata": {"crm_company_id": "HS-%d" % (1000 + i)} if i % 3 == 0 else {},
              "livemode": False, "delinquent": False, "balance": 0} for i in range(1, 251)]
customers[1]["email"] = "Shared@Example.com"
customers[2]["email"] = "shared@example.com"
customers[14]["metadata"] = {"crm_company_id": "HS-1012"}         # cus_0015 shares cus_0012's company
curr = ["usd", "jpy", "kwd"]
invoices = []
for i in range(1, 231):
    c = curr[i % 3]
    total = {"usd": 123456 + i, "jpy": 5000 + i, "kwd": 1234 + i}[c]
    st = "paid" if i % 4 else "open"
    fin = base + 3600 * i
    invoices.append({
        "id": "in_%04d" % i, "object": "invoice", "created": base + 3600 * i - 600, "customer": "cus_%04d" % (i % 250 + 1),
        "customer_email": None, "currency": c, "status": st, "number": "INV-%04d" % i,
        "total": total, "subtotal": total, "amount_due": total, "amount_paid": total if st == "paid" else 0,
        "amount_remaining": 0 if st == "paid" else total,
        "period_start": fin - 30 * 86400, "period_end": fin,
        "status_transitions": {"finalized_at": fin, "paid_at": fin + 60 if st == "paid" else None,
                               "voided_at": None, "marked_uncollectible_at": None},
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_%d" % (i % 4 + 1)}},
        "metadata": {"project": "P-%d" % (i % 7)} if i % 2 else {}, "lines": {"object": "list", "data": [],
        "has_more": False}})
subs = [{"id": "sub_%d" % i, "object": "subscription", "created": base + 100 * i, "customer": "cus_%04d" % i,
         "status": "canceled" if i == 4 else "active", "currency": "usd", "metadata": {}} for i in range(1, 5)]
req = urllib.request.Request(sys.argv[1] + "/__fake/seed", method="POST", data=json.dumps(
    {"customers": customers, "invoices": invoices, "subscriptions": subs, "events": []}).encode())
urllib.request.urlopen(req)
EOF

EXAMPLE=$ROOT/contrib/stripe/example.lua

# ---------------------------------------------------------------------------
t "the shipped example passes ferry check; ferry connectors lists stripe"
[ -s "$WORK/stripe.port" ] || fail "the fake did not start: $(cat "$WORK/fake.out")"
run_ferry check "$EXAMPLE"
expect_rc 0
expect_in "$out" "ok: stripe-invoices (reporting, owner finance-ops@example.com"
run_ferry connectors
expect_in "$out" "stripe"
expect_in "$out" "secret or restricted key (Bearer); secret STRIPE_API_KEY"

t "run 1 (no cursor) reads every invoice from the list: three pages, Bearer key, Stripe-Version pinned"
srun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 230 · transformed 230 · skipped 0 · loaded 230"
expect_eq "$(fake_py '[line(q) for q in R]')" \
    "['GET /v1/invoices?limit=100', 'GET /v1/invoices?limit=100&starting_after=in_0131', 'GET /v1/invoices?limit=100&starting_after=in_0031']"
expect_eq "$(fake_py 'set((q["auth"], q["version"]) for q in R)')" "{('Bearer $KEY', '2025-03-31.basil')}"

t "money is exact: minor units as integers, major units as decimal strings (usd two decimals, jpy none, kwd three)"
expect_eq "$(sql "$DATA/stripe.db" "SELECT invoice_id, currency, total_minor, total, amount_paid, status FROM invoices WHERE invoice_id IN ('in_0001','in_0002','in_0003','in_0004') ORDER BY 1")" \
"in_0001|jpy|5001|5001|5001|paid
in_0002|kwd|1236|1.236|1.236|paid
in_0003|usd|123459|1234.59|1234.59|paid
in_0004|jpy|5004|5004|0|open"
expect_eq "$(sql "$DATA/stripe.db" "SELECT typeof(total_minor), typeof(total) FROM invoices LIMIT 1")" "integer|text"

t "each row: customer, subscription (basil's parent.subscription_details), month of finalization, metadata"
expect_eq "$(python3 - "$DATA/stripe.db" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
r = db.execute("SELECT customer_id, subscription_id, month, finalized_at, metadata, number FROM invoices WHERE invoice_id = 'in_0001'").fetchone()
print(r[0], r[1], r[2] == r[3][:7], r[4], r[5])
EOF
)" 'cus_0002 sub_2 True {"project":"P-1"} INV-0001'
expect_eq "$(sql "$DATA/stripe.db" "SELECT count(*) FROM invoices WHERE metadata = '{}'")" "115"

t "run 1 checkpoints where events begin: the time the full read started"
run_ferry runs stripe-invoices --json -c "$CONF"
expect_in "$out" '"checkpoint":{"since":'

t "run 2 reads the Events API (invoice.*) and the current state of each invoice named, once each"
EVT_TOP=$(python3 - "$S" <<'EOF'
import json, sys, time, urllib.request
S = sys.argv[1]
post = lambda p, b: urllib.request.urlopen(urllib.request.Request(S + p, method="POST", data=json.dumps(b).encode()))
now = int(time.time())
post("/__fake/update", {"coll": "invoices", "id": "in_0004", "set": {"status": "paid", "amount_paid": 5004, "amount_remaining": 0}})
post("/__fake/add", {"invoices": [{"id": "in_0231", "object": "invoice", "created": now, "customer": "cus_0007", "currency": "usd",
     "status": "draft", "total": 999, "subtotal": 999, "amount_due": 999, "amount_paid": 0, "amount_remaining": 999,
     "period_start": now, "period_end": now, "status_transitions": {"finalized_at": None, "paid_at": None}, "metadata": {}}]})
ev = lambda i, t, o, c: {"id": "evt_%03d" % i, "object": "event", "type": t, "created": c, "data": {"object": o}}
post("/__fake/add", {"events": [
    ev(1, "invoice.finalized", {"id": "in_0004", "object": "invoice", "status": "open"}, now - 5),
    ev(2, "invoice.paid", {"id": "in_0004", "object": "invoice", "status": "paid"}, now - 4),
    ev(3, "invoice.created", {"id": "in_0231", "object": "invoice", "status": "draft"}, now - 3),
    ev(4, "customer.updated", {"id": "cus_0001", "object": "customer"}, now - 2),
    ev(5, "invoice.deleted", {"id": "in_gone", "object": "invoice"}, now - 1)]})
print(now - 1)
EOF
)
before=$(nreq)
srun "$EXAMPLE" --log-level info
expect_rc 0
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 2"
expect_eq "$(fake_py "sorted(re.sub('created\\[gte\\]=[0-9]+', 'created[gte]=N', line(q)) for q in R[$before:])")" \
    "['GET /v1/events?created[gte]=N&limit=100&types[]=invoice.*', 'GET /v1/invoices/in_0004', 'GET /v1/invoices/in_0231', 'GET /v1/invoices/in_gone']"
expect_eq "$(sql "$DATA/stripe.db" "SELECT invoice_id, status, amount_paid, total FROM invoices WHERE invoice_id IN ('in_0004', 'in_0231') ORDER BY 1")" \
"in_0004|paid|5004|5004
in_0231|draft|0.00|9.99"
expect_in "$out$err" "a changed object no longer exists"

t "run 3 asks for events from the newest one run 2 saw (gte: that second again); nothing new, nothing loaded"
before=$(nreq)
srun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 0"
expect_eq "$(fake_py "[line(q) for q in R[$before:]]")" \
    "['GET /v1/events?created[gte]=$EVT_TOP&limit=100&types[]=invoice.*', 'GET /v1/invoices/in_gone']"

# ---------------------------------------------------------------------------
script customers "local stripe = require 'contrib.stripe'
local billing = stripe.connect {}
return ferry.integration { name = 's-customers', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'stripe', freshness = '1h',
  extract = billing:stream('customers'),
  transform = function(c) return { id = c.id, email = c.email, crm = c.metadata.crm_company_id, created = c.created } end,
  load = ferry.sink.sqlite { path = 'customers.db', table = 'customers', columns = { { 'id', 'text', key = true },
    { 'email', 'text' }, { 'crm', 'text' }, { 'created', 'integer' } } },
}"
t "the customers stream: every customer over three pages; the cursor is the newest created"
before=$(nreq)
srun "$WORK/customers.lua"
expect_rc 0
expect_in "$out" "extracted 250 · transformed 250 · skipped 0 · loaded 250"
TOP=$(sql "$DATA/customers.db" "SELECT max(created) FROM customers")
run_ferry runs s-customers --json -c "$CONF"
expect_in "$out" "\"checkpoint\":{\"since\":$TOP}"
expect_eq "$(fake_py "[line(q) for q in R[$before:]]")" \
    "['GET /v1/customers?limit=100', 'GET /v1/customers?limit=100&starting_after=cus_0151', 'GET /v1/customers?limit=100&starting_after=cus_0051']"

t "run 2 asks for created >= that mark only: the two new customers and the one of that very second"
python3 - "$S" "$TOP" <<'EOF'
import json, sys, urllib.request
top = int(sys.argv[2])
new = [{"id": "cus_n%d" % i, "object": "customer", "created": top + i, "email": "new%d@example.com" % i, "metadata": {}}
       for i in (1, 2)]
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/__fake/add", method="POST",
                                              data=json.dumps({"customers": new}).encode()))
EOF
before=$(nreq)
srun "$WORK/customers.lua"
expect_rc 0
expect_in "$out" "extracted 3 · transformed 3"
expect_eq "$(fake_py "[line(q) for q in R[$before:]]")" "['GET /v1/customers?created[gte]=$TOP&limit=100']"
run_ferry runs s-customers --json -c "$CONF"
expect_in "$out" "\"checkpoint\":{\"since\":$((TOP + 2))}"

script resume "local stripe = require 'contrib.stripe'
local billing = stripe.connect {}
return ferry.integration { name = 's-resume', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'stripe', freshness = '1h',
  extract = billing:stream('customers', { since = '2000-01-01T00:00:00Z' }),
  load = ferry.sink.sqlite { path = 'resume.db', table = 'customers', columns = { { 'id', 'text', key = true } } },
}"
t "a walk that fails on page 3 checkpointed page 2's last id; the next run resumes there, same created filter"
ctl fail '{"status":500,"times":1,"skip":2,"path":"/v1/customers"}' >/dev/null
before=$(nreq)
srun "$WORK/resume.lua"
expect_in "$out$err" "transient"
expect_in "$out$err" "stripe GET /v1/customers: 500 api_error: An unknown error occurred"
run_ferry runs s-resume --json -c "$CONF"
expect_in "$out" '"since":946684800'
expect_in "$out" "\"top\":$((TOP + 2))"
expect_in "$out" '"after":"cus_0053"'
before=$(nreq)
srun "$WORK/resume.lua"
expect_rc 0
expect_eq "$(fake_py "[line(q) for q in R[$before:]]")" "['GET /v1/customers?created[gte]=946684800&limit=100&starting_after=cus_0053']"
expect_eq "$(sql "$DATA/resume.db" "SELECT count(*) FROM customers")" "252"

# ---------------------------------------------------------------------------
script write "local stripe = require 'contrib.stripe'
local billing = stripe.connect {}
return ferry.integration { name = 's-write', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'crm', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ id = 'cus_0001', metadata = { crm_company_id = 'HS-9001', psa_client = 'C-17' } })
    ctx:emit({ id = 'cus_0003', metadata = { crm_company_id = ferry.json.null }, name = 'Client Three Ltd' })
    ctx:emit({ id = 'cus_nope', metadata = { crm_company_id = 'HS-1' } })
    ctx:emit({ id = 'cus_0004', metadata = { ['a_metadata_key_that_is_longer_than_forty_chars'] = 'x' } })
    ctx:emit({ metadata = { crm_company_id = 'HS-2' } })
    ctx:emit({ id = 'cus_0005', balance = 100 })
    ctx:emit({ id = 'cus_0006', email = 'not-an-email' })
  end,
  load = billing:update_customers {},
}"
t "a batch write: one POST per customer, form-encoded metadata[key], an Idempotency-Key on each; good ones applied"
before=$(nreq)
srun "$WORK/write.lua"
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 5"
expect_eq "$(fake_py 'sorted(C["cus_0001"]["metadata"].items())')" "[('crm_company_id', 'HS-9001'), ('psa_client', 'C-17')]"
expect_eq "$(fake_py '(C["cus_0003"]["metadata"], C["cus_0003"]["name"])')" "({}, 'Client Three Ltd')" "a null unsets the key"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:])")" \
    "['POST /v1/customers/cus_0001', 'POST /v1/customers/cus_0003', 'POST /v1/customers/cus_0004', 'POST /v1/customers/cus_0006', 'POST /v1/customers/cus_nope']"
expect_eq "$(fake_py "[q['body'] for q in R[$before:] if q['path'].endswith('cus_0001')]")" \
    "['metadata%5Bcrm_company_id%5D=HS-9001&metadata%5Bpsa_client%5D=C-17']"
expect_eq "$(fake_py "set(q['ctype'] for q in R[$before:])")" "{'application/x-www-form-urlencoded'}"
expect_eq "$(fake_py "all(re.fullmatch(r'ferry-.+-cus_\\w+-[0-9a-f]{16}', q['idem'] or '') for q in R[$before:])")" "True"
expect_eq "$(fake_py "len(set(q['idem'] for q in R[$before:]))")" "5" "a key per record"

t "the refused records are quarantined with Stripe's type, code, message and the param as field"
expect_eq "$(qpy s-write '"\n".join("%s %s %s" % (q["record"].get("id"), q["class"], q["reason"]) for q in L)')" \
"cus_nope lookup_missing stripe POST /v1/customers/cus_nope: 404 invalid_request_error resource_missing: No such customer: 'cus_nope' (param id) (retried on later runs)
cus_0004 validation stripe POST /v1/customers/cus_0004: 400 invalid_request_error parameter_invalid_string_too_long: Metadata keys can have up to 40 characters; 'a_metadata_key_that_is_longer_than_forty_chars' has 46. (param metadata[a_metadata_key_that_is_longer_than_forty_chars])
None validation stripe: field id: the customer's id is required
cus_0005 validation stripe: field balance: not a customer field this connector writes (email, name, description, phone, metadata)
cus_0006 validation stripe POST /v1/customers/cus_0006: 400 invalid_request_error email_invalid: Invalid email address: not-an-email (param email)"

script idem "local stripe = require 'contrib.stripe'
local billing = stripe.connect {}
return ferry.integration { name = 's-idem', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'crm', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ id = 'cus_0010', metadata = { crm_company_id = 'HS-7010' } })
    ctx:emit({ id = 'cus_0011', metadata = { crm_company_id = 'HS-7011' } })
  end,
  load = billing:update_customers { concurrency = 1 },
}"
t "an answer lost after Stripe applied the update (503): the retry carries the same key and is replayed, applied once"
ctl fail '{"status":503,"times":1,"path":"/v1/customers/cus_0010","process":true}' >/dev/null
before=$(nreq); applied=$(fake_py 'len(P)')
srun "$WORK/idem.lua"
expect_rc 0
expect_in "$out" "loaded 2 · quarantined 0"
expect_eq "$(fake_py "[(q['status'], q['replayed']) for q in R[$before:] if q['path'].endswith('cus_0010')]")" "[(503, False), (200, True)]"
expect_eq "$(fake_py "len(set(q['idem'] for q in R[$before:] if q['path'].endswith('cus_0010')))")" "1" "one key, sent twice"
expect_eq "$(fake_py "[p['path'] for p in P[$applied:]]")" "['/v1/customers/cus_0010', '/v1/customers/cus_0011']" "each applied once"

t "a 409 idempotency_error is not retried: the record is quarantined as validation with Stripe's message"
ctl fail '{"status":409,"times":1,"path":"/v1/customers/cus_0011","error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}' >/dev/null
before=$(nreq)
srun "$WORK/idem.lua"
expect_rc 3
expect_eq "$(fake_py "len([q for q in R[$before:] if q['path'].endswith('cus_0011')])")" "1"
expect_eq "$(qpy s-idem '[(q["class"], q["reason"]) for q in L]')" \
    "[('validation', 'stripe POST /v1/customers/cus_0011: 409 idempotency_error: Keys for idempotent requests can only be used with the same parameters they were first used with.')]"

# ---------------------------------------------------------------------------
script lookup "local stripe = require 'contrib.stripe'
local billing = stripe.connect {}
local by_crm = billing:customers_by_metadata('crm_company_id')
local by_email = billing:customers()
local crm_of = billing:customer_metadata('crm_company_id')
return ferry.integration { name = 's-lookup', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'crm', freshness = '1h',
  extract = function(ctx)
    for _, r in ipairs {
      { key = 'A', crm = 'HS-1009', email = 'BILLING12@client12.example', id = 'cus_0020', one = 'billing30@client30.example' },
      { key = 'B', crm = 'HS-4242', email = 'billing12@client12.example', id = 'cus_0020', one = 'billing30@client30.example' },
      { key = 'C', crm = 'HS-1012', email = 'billing12@client12.example', id = 'cus_0020', one = 'billing30@client30.example' },
      { key = 'D', crm = 'HS-1009', email = 'shared@example.com', id = 'cus_0020', one = 'billing30@client30.example' },
      { key = 'E', crm = 'HS-1009', email = 'billing12@client12.example', id = 'cus_zzzz', one = 'billing30@client30.example' },
      { key = 'F', crm = 'HS-1009', email = 'billing12@client12.example', id = 'cus_0020', one = 'BILLING30@client30.example' },
    } do ctx:emit(r) end
  end,
  transform = function(r, ctx)
    local cid, err = by_crm:get(r.crm, ctx)
    if not cid then return nil, err end
    local eid, eerr = by_email:get(r.email, ctx)
    if not eid then return nil, eerr end
    local c, cerr = billing:customer(ctx, r.id)
    if not c then return nil, cerr end
    local one = billing:customer_by_email(ctx, r.one)
    local crm, merr = crm_of:get(r.key == 'F' and 'cus_0001' or 'cus_0015', ctx)
    if not crm then return nil, merr end
    return { key = r.key, by_crm = cid, by_email = eid, name = c.name, one = one and one.id or 'none', crm = crm }
  end,
  load = ferry.sink.sqlite { path = 'lookup.db', table = 'rows', columns = { { 'key', 'text', key = true },
    { 'by_crm', 'text' }, { 'by_email', 'text' }, { 'name', 'text' }, { 'one', 'text' }, { 'crm', 'text' } } },
}"
t "lookups: metadata key -> customer and back, email -> customer (any case), customer by id, one by exact email"
before=$(nreq)
srun "$WORK/lookup.lua"
expect_rc 3
expect_eq "$(sql "$DATA/lookup.db" "SELECT key, by_crm, by_email, name, one, crm FROM rows ORDER BY key")" \
"A|cus_0009|cus_0012|Client 20|cus_0030|HS-1012
F|cus_0009|cus_0012|Client 20|none|HS-9001"
expect_eq "$(qpy s-lookup '"\n".join("%s %s %s" % (q["record"]["key"], q["class"], q["reason"]) for q in L)')" \
"B lookup_missing lookup stripe_customers_by_crm_company_id: no match for \"HS-4242\" (retried on later runs)
C lookup_ambiguous lookup stripe_customers_by_crm_company_id: \"HS-1012\" matches 2 entries (cus_0015, cus_0012); none is picked
D lookup_ambiguous lookup stripe_customers: \"shared@example.com\" matches 2 entries (cus_0003, cus_0002); none is picked
E lookup_missing stripe: no customer \"cus_zzzz\""

t "the bulk lookups read all customers once (three pages each); by id and by email are one GET each"
expect_eq "$(fake_py "sorted(set(line(q) for q in R[$before:] if 'limit=100' in q['query']))")" \
    "['GET /v1/customers?limit=100', 'GET /v1/customers?limit=100&starting_after=cus_0053', 'GET /v1/customers?limit=100&starting_after=cus_0153']"
expect_eq "$(fake_py "len([q for q in R[$before:] if 'limit=100' in q['query']])")" "9" "three lookups, three pages each"
expect_eq "$(fake_py "sorted(set(line(q) for q in R[$before:] if 'limit=100' not in q['query']))")" \
    "['GET /v1/customers/cus_0020', 'GET /v1/customers/cus_zzzz', 'GET /v1/customers?email=BILLING30@client30.example&limit=1', 'GET /v1/customers?email=billing30@client30.example&limit=1']"

# ---------------------------------------------------------------------------
script subs "local stripe = require 'contrib.stripe'
local billing = stripe.connect {}
return ferry.integration { name = 's-subs', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'stripe', freshness = '1h',
  extract = billing:stream('subscriptions'),
  transform = function(s) return { id = s.id, customer = s.customer, status = s.status } end,
  load = ferry.sink.sqlite { path = 'subs.db', table = 'subs', columns = { { 'id', 'text', key = true },
    { 'customer', 'text' }, { 'status', 'text' } } },
}"
t "the subscriptions stream asks for status=all: canceled ones are read too (Stripe's default leaves them out)"
before=$(nreq)
srun "$WORK/subs.lua"
expect_rc 0
expect_eq "$(sql "$DATA/subs.db" "SELECT id, status FROM subs ORDER BY id")" "sub_1|active
sub_2|active
sub_3|active
sub_4|canceled"
expect_eq "$(fake_py "[line(q) for q in R[$before:]]")" "['GET /v1/subscriptions?limit=100&status=all']"

script expand "local stripe = require 'contrib.stripe'
local billing = stripe.connect {}
return ferry.integration { name = 's-expand', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'stripe', freshness = '1h',
  extract = billing:stream('invoices', { expand = { 'customer' }, query = { status = 'open' } }),
  transform = stripe.invoice_row,
  load = ferry.sink.sqlite { path = 'expand.db', table = 'invoices', columns = { { 'invoice_id', 'text', key = true },
    { 'customer_id', 'text' }, { 'customer_email', 'text' }, { 'status', 'text' } } },
}"
t "expand = { 'customer' } sends expand[]=data.customer; invoice_row takes the id and email from the object"
before=$(nreq)
srun "$WORK/expand.lua"
expect_rc 0
expect_in "$out" "extracted 56" "57 open, one paid since"
expect_eq "$(fake_py "[line(q) for q in R[$before:]]")" "['GET /v1/invoices?expand[]=data.customer&limit=100&status=open']"
expect_eq "$(sql "$DATA/expand.db" "SELECT invoice_id, customer_id, customer_email, status FROM invoices WHERE invoice_id = 'in_0008'")" \
    "in_0008|cus_0009|billing9@client9.example|open"

# ---------------------------------------------------------------------------
t "money: stripe.major in exact decimal strings; a float amount or a missing currency is an error"
cat >"$WORK/money.lua" <<'EOF'
local stripe = require "contrib.stripe"
print(stripe.major(123456, "usd"), stripe.major(-5, "USD"), stripe.major(500, "jpy"), stripe.major(1234, "kwd"),
      stripe.major(0, "eur"), stripe.major(100, "isk"), stripe.major(9007199254740993, "usd"), stripe.major(ferry.json.null, "usd"))
print(select(2, pcall(stripe.major, 12.5, "usd")))
print(select(2, pcall(stripe.major, 100)))
EOF
run_ferry lua "$WORK/money.lua"
expect_rc 0
expect_eq "$out" "1234.56	-0.05	500	1.234	0.00	1.00	90071992547409.93	nil
contrib.stripe: major: 12.5 is not an integer amount in minor units
contrib.stripe: major: the amount's currency is required"

t "connect and stream: mistakes named at load time"
cat >"$WORK/connect.lua" <<'EOF'
local s = require "contrib.stripe"
print(s.connect {}.base_url, s.connect {}.stripe_version, s.connect { stripe_version = "2024-06-20" }.stripe_version)
print(select(2, pcall(s.connect, { token = "X" })))
print(select(2, pcall(s.connect, { stripe_version = "latest" })))
print(select(2, pcall(function() return s.connect {}:stream("charges") end)))
print(select(2, pcall(function() return s.connect {}:stream("invoices", { changes = true, full = true }) end)))
print(select(2, pcall(function() return s.connect {}:stream("invoices", { sinse = 1 }) end)))
print(select(2, pcall(function() return s.connect {}:stream("invoices", { since = "yesterday" }) end)))
EOF
run_ferry lua "$WORK/connect.lua"
expect_rc 0
expect_eq "$out" "https://api.stripe.com	2025-03-31.basil	2024-06-20
contrib.stripe: connect: unknown option 'token'
contrib.stripe: connect: stripe_version 'latest': a version such as \"2025-03-31.basil\"
contrib.stripe: unknown stream 'charges' (customers, invoices, subscriptions)
contrib.stripe: stream: full or changes, not both
contrib.stripe: stream: unknown option 'sinse'
$WORK/connect.lua:8: contrib.stripe: since: an ISO time or epoch seconds, got \"yesterday\""

# ---------------------------------------------------------------------------
t "a 401 is class auth, with Stripe's message; the key appears in no output, log or file of the data dir"
ctl fail '{"status":401,"times":1,"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_********************e77"}}' >/dev/null
srun "$WORK/customers.lua" --log-level debug
expect_in "$out$err" "auth"
expect_in "$out$err" "stripe GET /v1/customers: 401 invalid_request_error: Invalid API Key provided"
expect_in "$out$err" "check the key"
expect_not_in "$out$err" "$KEY"
grep -rqaF -e "$KEY" "$DATA" && fail "the key is in the data dir: $(grep -rlaF -e "$KEY" "$DATA")"

t "a restricted key without write permission: 403 is class permission and fails the batch, not a record"
run_ferry resume s-customers -c "$CONF" >/dev/null
ctl restrict '{"write":false}' >/dev/null
srun "$WORK/idem.lua"
expect_in "$out$err" "permission"
expect_in "$out$err" "does not have the required permissions for this endpoint"
expect_in "$out$err" "a restricted key needs this resource's permission"
ctl restrict '{"write":true}' >/dev/null

t "a 429 storm: the run still succeeds, and no retry came sooner than a second (Stripe sends no Retry-After)"
ctl ratelimit '{"times":3}' >/dev/null
before=$(nreq)
srun "$WORK/customers.lua"
expect_rc 0
gaps=$(fake_py "[round(b['t'] - a['t'], 3) for a, b in zip(R[$before:], R[$before + 1:$before + 4])]")
expect_eq "$(fake_py "[q['status'] for q in R[$before:]]")" "[429, 429, 429, 200]"
expect_eq "$(python3 -c "print(all(g >= 1.0 for g in $gaps))")" "True" "gaps after each 429: $gaps"

done_t
