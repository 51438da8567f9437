#!/usr/bin/env bash
# End-to-end: a registered secret (ctx:secret) never shows, in any form it
# takes on the way out (raw, JSON-escaped, percent-encoded in either case,
# form-encoded, base64 standard and URL-safe, inside Basic auth), in the
# logs, errors, run summaries, `ferry runs --json`, the quarantine or the
# store; a URL's userinfo is hidden whole; a checkpoint or state value
# holding a secret fails the run without printing it. In every `ferry run`
# a harmless integration runs beside the attacking one and must finish OK
# with its rows loaded. HTTP goes to tests/fakes/fake_api.py.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

start_fake_api || { echo "not ok secrets: the fake API did not start"; exit 1; }
export FAKE_BASE

# Untrusted scripts, granted only the two variables they read.
printf 'return { integrations = { ["*"] = { secrets = { "FERRY_T_SECRET", "FERRY_T_SHORT" } } } }\n' >"$WORK/grants.lua"
export FERRY_CONFIG=$WORK/grants.lua

# A quote, a backslash, a slash, a plus, a space, '&', '=' and '@' in one secret.
export FERRY_T_SECRET='p4ss"w\rd/+ x&y=z@q'
DB="$WORK/data/ferry.db"

# leaks TEXT: the names of the forms of the secret found in TEXT ("" when none).
leaks() {
    python3 - "$1" <<'EOF'
import base64, json, os, sys, urllib.parse as up
s = os.environ["FERRY_T_SECRET"]
text = sys.argv[1]
def core(b64, prefix):      # the characters of base64(prefix + s) that depend on s alone
    a = len(prefix)
    return b64[(8 * a + 5) // 6:(8 * (a + len(s))) // 6]
forms = {"raw": s, "json": json.dumps(s)[1:-1], "percent": up.quote(s, safe=""),
         "percent-lower": "".join(c.lower() if i and up.quote(s, safe="")[i - 1] == "%" or
                                  (i > 1 and up.quote(s, safe="")[i - 2] == "%") else c
                                  for i, c in enumerate(up.quote(s, safe=""))),
         "form": up.quote_plus(s, safe="")}
for p in ["", "u:", "us:", "user:"]:
    b = base64.b64encode((p + s).encode()).decode()
    forms["base64(%r)" % p] = core(b, p)
    forms["base64url(%r)" % p] = core(base64.urlsafe_b64encode((p + s).encode()).decode(), p)
forms["tail after @"] = "q@127.0.0.1"
print(" ".join(k for k, v in forms.items() if v in text))
EOF
}
expect_no_leak() { local l; l=$(leaks "$1"); [ -z "$l" ] || fail "$2 shows the secret as: $l"; }

# integ NAME BODY: writes $WORK/NAME.lua, an integration called NAME, with
# helpers for the scripts: S (the secret, once ctx:secret ran), pct (lower-case
# percent-encoding), b64 and b64url.
integ() {
    script "$1" "local BASE = \"$FAKE_BASE\"
local function pct(s) return (s:gsub('[^%w]', function(c) return ('%%%02x'):format(c:byte()) end)) end
local A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function b64(s)
  return ((s:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return A:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#s % 3 + 1])
end
local function b64url(s) return (b64(s):gsub('+', '-'):gsub('/', '_'):gsub('=', '')) end
return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
$2
}"
}

# The harmless neighbour: 20 rows into a SQLite table, yielding between them.
integ bystander '
  batch_size = 5,
  extract = function(ctx)
    for i = 1, 20 do
      if i % 5 == 0 then ferry.sleep(0.02) end
      ctx:emit({ id = i, name = "row " .. i })
    end
  end,
  load = ferry.sink.sqlite { path = "bystander.db", table = "rows",
    columns = { { "id", "integer", key = true }, { "name", "text" } } },'
expect_bystander() {
    expect_in "$out" "== bystander  run "
    expect_eq "$(sed -nE 's/^== bystander  run [^ ]+  (.*)/\1/p' <<<"$out")" "OK" "the bystander's status"
    expect_eq "$(sql "$WORK/data/bystander.db" "SELECT count(*) FROM rows")" "20" "rows the bystander loaded"
}

t "secrets: every form of a secret is redacted from logs, errors, the summary, runs --json, the quarantine and the store"
rm -rf "$WORK/data"
integ attacker '
  batch_size = 10,
  policy = { retry = { attempts = 1 }, not_found = "fail" },
  extract = function(ctx)
    local s = ctx:secret("FERRY_T_SECRET")
    ctx.log.info("raw " .. s, { json_field = s, pct = pct(s), b64 = b64(s), b64url = b64url(s),
      basic = "Basic " .. b64("u:" .. s), basic2 = "Basic " .. b64("us:" .. s), basic3 = "Basic " .. b64("user:" .. s) })
    ctx:emit({ id = 1, token = s })
    ctx:emit({ id = 2, auth = "Basic " .. b64("user:" .. s) })
    ctx:emit({ id = 3 })
    ctx:emit({ id = 4 })
    local res, err = ctx.http:get(BASE .. "/status/404", { query = { q = s, page = 1 } })
    if not res then error(err) end
  end,
  transform = function(r, ctx)
    local s = ctx:secret("FERRY_T_SECRET")
    if r.id == 1 then return nil, "bad token " .. pct(s) end
    if r.id == 2 then error("rejected: " .. r.auth .. " " .. b64url(s)) end
    if r.id == 3 then
      local res, err = ctx.http:get(BASE .. "/status/500", { query = { x = s }, retry = { attempts = 1 } })
      return nil, err
    end
    local url = BASE:gsub("//", "//user:" .. s .. "@") .. "/status/404"
    local res, err = ferry.http.get(url, { retry = { attempts = 1 } })
    return nil, "form " .. s:gsub("[^%w ]", function(c) return ("%%%02X"):format(c:byte()) end):gsub(" ", "+")
      .. " url " .. tostring(err)
  end,
  load = function(batch) end,'
run_ferry run --log-level debug attacker.lua bystander.lua
expect_rc 1
expect_in "$out" "== attacker  run "
expect_in "$out" "FAILED"
expect_in "$out" "[REDACTED]"
expect_no_leak "$out" "the summary"
expect_no_leak "$err" "the log"
expect_in "$err" '"json_field":"[REDACTED]"'
expect_bystander
runs=$( (cd "$WORK" && "$FERRY" runs --json attacker) 2>&1)
expect_in "$runs" "[REDACTED]"
expect_no_leak "$runs" "runs --json"
ql=$( (cd "$WORK" && "$FERRY" quarantine list --json attacker) 2>&1)
expect_in "$ql" '"id":4'
expect_no_leak "$ql" "quarantine list --json"
for id in 1 2 3 4; do
    qs=$( (cd "$WORK" && "$FERRY" quarantine show "$id") 2>&1)
    expect_no_leak "$qs" "quarantine show $id"
done
expect_in "$(sql "$DB" "SELECT reason FROM quarantine WHERE record LIKE '%\"id\":4%'")" "[REDACTED]@127.0.0.1"
expect_no_leak "$(sqlite3 "$DB" .dump 2>&1)" "the store"

t "secrets: the server really got the secret (the redaction is only on the way out)"
got=$(python3 -c 'import json, os, sys, urllib.request
R = json.load(urllib.request.urlopen(os.environ["FAKE_BASE"] + "/_requests"))["requests"]
print(any(r["query"].get("q") == [os.environ["FERRY_T_SECRET"]] for r in R))')
expect_eq "$got" "True"

t "secrets: a checkpoint holding a secret fails the run, names the integration, and is neither stored nor shown"
rm -rf "$WORK/data"
integ leaky_cp '
  extract = function(ctx)
    local s = ctx:secret("FERRY_T_SECRET")
    ctx:emit({ id = 1 })
    ctx:checkpoint({ page = 2, token = s })
    ctx:emit({ id = 2 })
  end,
  load = function(batch) end,'
run_ferry run leaky_cp.lua bystander.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$out" "leaky_cp holds a credential"
expect_in "$out" "must not hold a credential"
# the README's message, from ctx:checkpoint itself: the run stops at the call
# (the store's own check, the last line of defence, would stop it later)
expect_in "$out" "ctx:checkpoint: the checkpoint of leaky_cp holds a credential (a value from ctx:secret, or an encoding of it)"
expect_in "$out" "extracted 1 ·"
expect_no_leak "$out" "the summary"
expect_no_leak "$err" "the log"
expect_bystander
expect_eq "$(sql "$DB" "SELECT count(*) FROM checkpoints WHERE integration = 'leaky_cp'")" "0" "checkpoints stored"
runs=$( (cd "$WORK" && "$FERRY" runs --json leaky_cp) 2>&1)
expect_in "$runs" "must not hold a credential"
expect_no_leak "$runs" "runs --json"
expect_no_leak "$(sqlite3 "$DB" .dump 2>&1)" "the store"

t "secrets: a checkpoint holding an encoded secret, taken in transform, fails the run too"
rm -rf "$WORK/data"
integ leaky_cp2 '
  extract = function(ctx) ctx:secret("FERRY_T_SECRET"); ctx:emit({ id = 1 }); ctx:emit({ id = 2 }) end,
  transform = function(r, ctx)
    ctx:checkpoint("after=" .. b64url(ctx:secret("FERRY_T_SECRET")))
    return r
  end,
  load = function(batch) end,'
run_ferry run leaky_cp2.lua bystander.lua
expect_rc 1
expect_in "$out" "leaky_cp2 holds a credential"
expect_no_leak "$out" "the summary"
expect_bystander
expect_eq "$(sql "$DB" "SELECT count(*) FROM checkpoints WHERE integration = 'leaky_cp2'")" "0" "checkpoints stored"
expect_no_leak "$(sqlite3 "$DB" .dump 2>&1)" "the store"

t "secrets: ctx.state holding a secret fails the run and is not stored"
rm -rf "$WORK/data"
integ leaky_state '
  extract = function(ctx)
    local s = ctx:secret("FERRY_T_SECRET")
    ctx.state:set("ok", { n = 1 })
    ctx.state:set("creds", { header = "Basic " .. b64("user:" .. s) })
    ctx:emit({ id = 1 })
  end,
  load = function(batch) end,'
run_ferry run leaky_state.lua bystander.lua
expect_rc 1
expect_in "$out" "leaky_state holds a credential"
expect_in "$out" "state must not hold a credential"
expect_in "$out" "ctx.state:set: the key \"creds\" of leaky_state holds a credential (a value from ctx:secret, or an encoding of it)"
expect_no_leak "$out" "the summary"
expect_bystander
expect_eq "$(sql "$DB" "SELECT group_concat(key) FROM state WHERE integration = 'leaky_state'")" "ok" "state keys stored"
expect_no_leak "$(sqlite3 "$DB" .dump 2>&1)" "the store"

t "secrets: a value shorter than 4 bytes is refused as a secret, with a warning"
rm -rf "$WORK/data"
integ shorty '
  extract = function(ctx) ctx:secret("FERRY_T_SHORT"); ctx:emit({ id = 1 }) end,
  load = function(batch) end,'
# (not hex: "abc" turned up inside a random run id)
FERRY_T_SHORT='q!z' run_ferry run shorty.lua bystander.lua
expect_rc 0
expect_in "$err" "too short to be redacted"
expect_not_in "$err" "q!z"
expect_bystander
done_t
