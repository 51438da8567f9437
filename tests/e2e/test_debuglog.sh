#!/usr/bin/env bash
# End-to-end: what --log-level debug adds. Each HTTP attempt (method,
# redacted URL, status, attempt number, elapsed ms, bytes received), the
# body of an HTTP error response, each batch loaded and each checkpoint
# committed, each with the integration and run; never a secret. At info
# none of these lines is written. HTTP goes to tests/fakes/fake_api.py.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

start_fake_api || { echo "not ok debuglog: the fake API did not start"; exit 1; }
BASE=$FAKE_BASE

printf 'return { integrations = { ["*"] = { trusted = true, secrets = { "FERRY_T_TOKEN" } } } }\n' >"$WORK/grants.lua"
export FERRY_CONFIG=$WORK/grants.lua
export FERRY_T_TOKEN=tok-debug-s3cret-42
UNREGISTERED=plain-unregistered-value-xyz

# One 503 then a 200 (a retry), a 404 whose body echoes the token, a
# credential in the query that is no registered secret; 3 records in
# batches of 2, a checkpoint after them.
script dbg "return ferry.integration {
  $HEADER
  batch_size = 2,
  policy = { retry = { attempts = 3, base = \"10ms\", max = \"50ms\" } },
  extract = function(ctx)
    local tok = ctx:secret(\"FERRY_T_TOKEN\")
    assert(ctx.http:get(\"$BASE/flaky\", { query = { key = ctx.run_id, fail = 1, code = 503 } }))
    local res, err = ctx.http:get(\"$BASE/gone/\" .. tok, { auth = { bearer = tok } })
    assert(not res and err.status == 404)
    assert(ctx.http:get(\"$BASE/echo\", { query = { access_token = \"$UNREGISTERED\", page = 2 } }))
    for i = 1, 3 do ctx:emit({ id = i, name = \"n\" .. i }) end
    ctx:checkpoint({ page = 3 })
  end,
  load = ferry.sink.sqlite { path = \"dbg.db\", table = \"items\",
                             columns = { { \"id\", \"integer\", key = true }, { \"name\", \"text\" } } },
}"

# lines MSG: the JSON log lines of $err whose msg is MSG
lines() { grep -F "\"msg\":\"$1\"" <<<"$err"; }
# field MSG PY: a Python expression over L, the decoded lines whose msg is MSG
field() {
    python3 - "$1" "$2" "$err" <<'EOF' 2>&1
import json, sys
L = [d for d in (json.loads(l) for l in sys.argv[3].splitlines() if l.startswith("{")) if d["msg"] == sys.argv[1]]
print(eval(sys.argv[2]))
EOF
}

t "debug: each HTTP attempt is logged with method, redacted URL, status, attempt, elapsed ms and bytes"
run_ferry run --log-level debug dbg.lua
expect_rc 0
RUN=$(sed -nE 's/^== t  run ([^ ]+)  .*/\1/p' <<<"$out")
expect_eq "$(field 'http request failed' '[(d["integration"], d["run"], d["method"], d["url"].split("?")[0], d["status"], d["attempt"], d["class"], d["retry_in_ms"] >= 0) for d in L if "/flaky" in d["url"]]')" \
    "[('t', '$RUN', 'GET', '$BASE/flaky', 503, 1, 'transient', True)]"
expect_eq "$(field 'http request' '[(d["integration"], d["run"], d["status"], d["attempt"], d["elapsed_ms"] > 0, d["bytes"] > 0) for d in L if "/flaky" in d["url"]]')" \
    "[('t', '$RUN', 200, 2, True, True)]"
expect_eq "$(field 'http request failed' '[(d["status"], d["attempt"], d["class"], "retry_in_ms" in d) for d in L if "/gone/" in d["url"]]')" \
    "[(404, 1, 'not_found', False)]"

t "debug: a credential in the URL is redacted, registered or not"
expect_in "$(lines 'http request')" "access_token=REDACTED&page=2"
expect_not_in "$err" "$UNREGISTERED"
expect_in "$(lines 'http request failed')" "/gone/[REDACTED]"

t "debug: the body of an HTTP error response is logged in full, its secret redacted"
expect_eq "$(field 'http error response' '[(d["status"], d["truncated"], json.loads(d["body"])) for d in L if "/gone/" in d["url"]]')" \
    "[(404, False, {'error': 'not found', 'status': 404, 'path': '/gone/[REDACTED]'})]"
expect_eq "$(field 'http error response' '[(d["status"], "fail" in d["body"] or "error" in d["body"]) for d in L if "/flaky" in d["url"]]')" \
    "[(503, True)]"

t "debug: each batch loaded is logged with its number, records and destination"
expect_eq "$(field 'batch loaded' '[(d["integration"], d["run"], d["batch"], d["records"], d["loaded"], d["destination"]) for d in L]')" \
    "[('t', '$RUN', 1, 2, 2, 'sqlite dbg.db, table items'), ('t', '$RUN', 2, 1, 1, 'sqlite dbg.db, table items')]"

t "debug: each checkpoint committed is logged with its value"
expect_eq "$(field 'checkpoint committed' '[(d["integration"], d["run"], d["checkpoint"]) for d in L]')" \
    "[('t', '$RUN', {'page': 3})]"

t "debug: no line holds the secret, in any of the outputs"
expect_not_in "$err" "$FERRY_T_TOKEN"
expect_not_in "$out" "$FERRY_T_TOKEN"
expect_eq "$(grep -c '^{' <<<"$err")" "$(wc -l <<<"$err" | tr -d ' ')" "every line is one JSON object"

t "debug: at info, none of these lines is written"
run_ferry run dbg.lua
expect_rc 0
for m in 'http request' 'http request failed' 'http error response' 'batch loaded' 'checkpoint committed'; do
    expect_not_in "$err" "\"msg\":\"$m\""
done
expect_in "$err" '"msg":"run finished"'

t "debug: the text format carries the same lines"
run_ferry run --log-level debug --log-format text dbg.lua
expect_rc 0
expect_in "$err" "debug [t "
expect_in "$err" "batch loaded {"
expect_not_in "$err" "$FERRY_T_TOKEN"

t "debug: an error body over 64 KiB is cut there, on a character boundary, and says so"
# a server of its own: 422 with the token, then 40,000 x "é" (80,000 bytes)
python3 - "$WORK/big.port" <<'EOF' >"$WORK/big.log" 2>&1 &
import http.server, os, sys
body = (os.environ["FERRY_T_TOKEN"] + "\u00e9" * 40000).encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(422)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.handle_request()
EOF
BIG_PID=$!
for _ in $(seq 1 200); do [ -s "$WORK/big.port" ] && break; sleep 0.05; done
script big "return ferry.integration {
  $HEADER
  expect = { min_records = 0 },
  extract = function(ctx)
    local tok = ctx:secret(\"FERRY_T_TOKEN\")
    local res, err = ctx.http:get(\"http://127.0.0.1:$(cat "$WORK/big.port")/big\")
    assert(not res and err.status == 422)
  end,
  load = function() end,
}"
run_ferry run --log-level debug big.lua
kill "$BIG_PID" 2>/dev/null; wait "$BIG_PID" 2>/dev/null
expect_rc 0
# redacted first (so no part of a secret survives the cut), then cut to at
# most 64 KiB on a character boundary: it ends on a whole 2-byte "é"
expect_eq "$(field 'http error response' '[(d["status"], d["bytes"], d["truncated"], d["body"].startswith("[REDACTED]\u00e9"), d["body"].endswith("\u00e9"), 65534 <= len(d["body"].encode()) <= 65536) for d in L]')" \
    "[(422, 80019, True, True, True, True)]"
expect_not_in "$err" "$FERRY_T_TOKEN"

done_t
