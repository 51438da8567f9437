#!/usr/bin/env bash
# Alert channels: `ferry alerts test CHANNEL` against a local webhook
# receiver and a local SMTP server (tests/fakes/webhook_sink.py and
# smtp_sink.py): what arrives, retries, a dead channel's error, the
# webhook URL and the SMTP password never shown, config errors, unknown
# targets. The SMTP cases are plain SMTP with AUTH (the sink has no STARTTLS).
source "$(dirname "$0")/lib.sh"

SECRET_PATH="T0FERRY/B0FERRY/hushhushwebhooktoken"
PASSWORD="pw-Sm7p-hushhush"
seen_out=""          # every stdout and stderr of ferry, checked for secrets at the end


# config FILE WEBHOOK_PORT SMTP_PORT [EXTRA ALERTS KEYS]: a config with a webhook
# channel "ops" and an email channel "oncall" (quick retries: 50 ms base).
config() {
    cat >"$WORK/$1" <<EOF
return {
  data_dir = "data",
  script_dirs = { "scripts" },
  alerts = {
    channels = {
      ops = { type = "webhook", url = os.getenv("T_WEBHOOK_URL"), retry = { attempts = 3, base = "50ms" } },
      oncall = { type = "email", smtp = "smtp://127.0.0.1:$3", from = "ferry@example.com",
                 to = { "oncall@example.com", "second@example.com" }, username = "alice",
                 password = os.getenv("T_SMTP_PASSWORD"), retry = { attempts = 3, base = "50ms" } },
    },
    ${4:-}
  },
}
EOF
    export T_WEBHOOK_URL="http://127.0.0.1:$2/services/$SECRET_PATH"
    export T_SMTP_PASSWORD=$PASSWORD
}

alerts() { run_ferry alerts "$@"; seen_out+="$out$err"; }

# py LOG EXPR: a Python expression over L, the JSON lines of LOG (for mail,
# each with "msg": the message parsed by the email package)
py() {
    python3 - "$1" "$2" <<'PYEOF' 2>&1
import json, sys, email, email.policy
L = [json.loads(l) for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
for d in L:
    if "data" in d:
        d["msg"] = email.message_from_string(d["data"], policy=email.policy.default)
        d["text"] = d["msg"].get_content()
    if "body" in d:
        try: d["json"] = json.loads(d["body"])
        except ValueError: d["json"] = None
print(eval(sys.argv[2]))
PYEOF
}

mkdir -p "$WORK/scripts"
cat >"$WORK/scripts/crm.lua" <<'EOF'
return ferry.integration {
  name = "crm-accounts", owner = "cs-ops@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "crm", freshness = "1h",
  extract = function(ctx) end,
  load = function(batch, ctx) end,
}
EOF

t "webhook: one POST with Slack's text and ferry's fields, as JSON"
start_sink hook webhook_sink.py
HOOK=$PORT
start_sink mail smtp_sink.py --auth "alice:$PASSWORD"
MAIL=$PORT
config ferry.lua "$HOOK" "$MAIL"
alerts test ops -c ferry.lua
expect_rc 0
expect_in "$out" "sent a test notice to webhook ops"
expect_eq "$(py "$WORK/hook.jsonl" 'len(L)')" 1
expect_eq "$(py "$WORK/hook.jsonl" 'L[0]["path"]')" "/services/$SECRET_PATH"
expect_eq "$(py "$WORK/hook.jsonl" 'L[0]["headers"]["content-type"]')" "application/json"
expect_eq "$(py "$WORK/hook.jsonl" 'L[0]["json"]["text"].split(chr(10))[0]')" "[ferry] test notice to ops"
expect_eq "$(py "$WORK/hook.jsonl" 'sorted(L[0]["json"]["ferry"])')" \
    "['alert_id', 'event', 'integration', 'kind', 'opened_at', 'owner', 'subject', 'text']"
expect_eq "$(py "$WORK/hook.jsonl" 'L[0]["json"]["ferry"]["kind"], L[0]["json"]["ferry"]["event"]')" "('test', 'test')"
expect_in "$(py "$WORK/hook.jsonl" 'L[0]["json"]["ferry"]["text"]')" "If you read this, alerts sent to ops reach you"
expect_eq "$(py "$WORK/hook.jsonl" 'L[0]["json"]["text"] == L[0]["json"]["ferry"]["subject"] + chr(10) + L[0]["json"]["ferry"]["text"]')" True
expect_eq "$(py "$WORK/hook.jsonl" '__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", L[0]["json"]["ferry"]["opened_at"]) is not None')" True

t "webhook: --integration puts the integration's name and owner in the message"
alerts test webhook:ops --integration crm-accounts -c ferry.lua
expect_rc 0
expect_eq "$(py "$WORK/hook.jsonl" 'L[-1]["json"]["ferry"]["integration"], L[-1]["json"]["ferry"]["owner"]')" \
    "('crm-accounts', 'cs-ops@example.com')"
expect_eq "$(py "$WORK/hook.jsonl" 'L[-1]["json"]["ferry"]["subject"]')" "[ferry] crm-accounts: test notice to webhook:ops"

t "webhook: two 500s, then delivered on the third attempt"
start_sink hook webhook_sink.py --fail 2
config ferry.lua "$PORT" "$MAIL"
alerts test ops -c ferry.lua
expect_rc 0
expect_eq "$(py "$WORK/hook.jsonl" '[d["status"] for d in L]')" "[500, 500, 200]"
expect_eq "$(py "$WORK/hook.jsonl" 'L[0]["body"] == L[2]["body"]')" True
expect_in "$err" "alert message to webhook ops: attempt 1 of 3 failed: HTTP 500; retrying in"

t "webhook: a 429 with Retry-After is waited out and retried"
start_sink hook webhook_sink.py --fail 1 --fail-code 429 --retry-after 1
config ferry.lua "$PORT" "$MAIL"
alerts test ops -c ferry.lua
expect_rc 0
expect_eq "$(py "$WORK/hook.jsonl" '[d["status"] for d in L]')" "[429, 200]"
expect_in "$err" "HTTP 429"

t "webhook: still failing after every attempt: exit 1 with the status and the server's word, URL redacted"
start_sink hook webhook_sink.py --fail 9 --echo-path
config ferry.lua "$PORT" "$MAIL"
alerts test ops -c ferry.lua
expect_rc 1
expect_eq "$(py "$WORK/hook.jsonl" 'len(L)')" 3
expect_in "$err" "ferry alerts test: webhook ops: HTTP 500 (server_error: no route for [REDACTED]); gave up after 3 attempts"
expect_not_in "$err" "$SECRET_PATH"

t "webhook: a 4xx is not retried"
start_sink hook webhook_sink.py --fail 9 --fail-code 404
config ferry.lua "$PORT" "$MAIL"
alerts test ops -c ferry.lua
expect_rc 1
expect_eq "$(py "$WORK/hook.jsonl" 'len(L)')" 1
expect_in "$err" "webhook ops: HTTP 404"

t "webhook: nobody listening: exit 1, the connection error, never the URL"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$WORK/dead.port"
config ferry.lua "$(cat "$WORK/dead.port")" "$MAIL"
alerts test ops -c ferry.lua
expect_rc 1
expect_in "$err" "ferry alerts test: webhook ops: "
expect_in "$err" "gave up after 3 attempts"
expect_not_in "$err$out" "$SECRET_PATH"
expect_not_in "$err$out" "127.0.0.1:$(cat "$WORK/dead.port")/services"

t "email: one message from the channel's sender to its recipients, logged in with its username"
config ferry.lua "$HOOK" "$MAIL"
alerts test oncall -c ferry.lua
expect_rc 0
expect_in "$out" "sent a test notice to email oncall (oncall@example.com, second@example.com)"
expect_eq "$(py "$WORK/mail.jsonl" 'len(L)')" 1
expect_eq "$(py "$WORK/mail.jsonl" 'L[0]["mail_from"], L[0]["rcpt_to"], L[0]["auth_user"]')" \
    "('ferry@example.com', ['oncall@example.com', 'second@example.com'], 'alice')"
expect_eq "$(py "$WORK/mail.jsonl" 'str(L[0]["msg"]["Subject"])')" "[ferry] test notice to oncall"
expect_eq "$(py "$WORK/mail.jsonl" 'L[0]["msg"]["From"].addresses[0].addr_spec')" "ferry@example.com"
expect_eq "$(py "$WORK/mail.jsonl" '[a.addr_spec for a in L[0]["msg"]["To"].addresses]')" \
    "['oncall@example.com', 'second@example.com']"
expect_eq "$(py "$WORK/mail.jsonl" 'L[0]["msg"]["Date"].datetime is not None, L[0]["msg"]["Message-ID"].startswith("<ferry.")')" \
    "(True, True)"
expect_eq "$(py "$WORK/mail.jsonl" 'L[0]["msg"]["MIME-Version"], L[0]["msg"].get_content_type(), L[0]["msg"].get_content_charset()')" \
    "('1.0', 'text/plain', 'utf-8')"
expect_in "$(py "$WORK/mail.jsonl" 'L[0]["text"]')" "If you read this, alerts sent to oncall reach you."
expect_eq "$(py "$WORK/mail.jsonl" 'all(l.endswith(chr(13)) for l in L[0]["data"].split(chr(10))[:-1])')" True

t "email: AUTH LOGIN when the server offers only that"
start_sink mail smtp_sink.py --auth "alice:$PASSWORD" --mechs LOGIN
config ferry.lua "$HOOK" "$PORT"
alerts test email:oncall -c ferry.lua
expect_rc 0
expect_eq "$(py "$WORK/mail.jsonl" 'len(L), L[0]["auth_user"]')" "(1, 'alice')"

t "email: two 451s (try again later), then delivered once"
start_sink mail smtp_sink.py --auth "alice:$PASSWORD" --fail 2
config ferry.lua "$HOOK" "$PORT"
alerts test oncall -c ferry.lua
expect_rc 0
expect_eq "$(py "$WORK/mail.jsonl" 'len(L)')" 1
expect_in "$err" "alert message to email oncall: attempt 2 of 3 failed"

t "email: 451 at every attempt: exit 1 after the channel's attempts"
start_sink mail smtp_sink.py --auth "alice:$PASSWORD" --fail 9
config ferry.lua "$HOOK" "$PORT"
alerts test oncall -c ferry.lua
expect_rc 1
expect_eq "$(py "$WORK/mail.jsonl" 'len(L)')" 0
expect_in "$err" "ferry alerts test: email oncall: "
expect_in "$err" "451"
expect_in "$err" "gave up after 3 attempts"

t "email: a wrong password is refused at once, and never shown"
start_sink mail smtp_sink.py --auth "alice:other-password"
config ferry.lua "$HOOK" "$PORT"
alerts test oncall -c ferry.lua
expect_rc 1
expect_in "$err" "email oncall: the server refused the login"
expect_in "$err" "gave up after 1 attempt"
expect_eq "$(py "$WORK/mail.jsonl" 'len(L)')" 0

t "email: no server: exit 1 with the connection error"
config ferry.lua "$HOOK" "$(cat "$WORK/dead.port")"
alerts test oncall -c ferry.lua
expect_rc 1
expect_in "$err" "ferry alerts test: email oncall: "
expect_in "$err" "gave up after 3 attempts"

t "email: starttls = true against a server without STARTTLS: refused, not sent in the clear"
config ferry.lua "$HOOK" "$MAIL"
n_mail=$(py "$WORK/mail.jsonl" 'len(L)')
sed 's/username = "alice",/username = "alice", starttls = true,/' "$WORK/ferry.lua" >"$WORK/tls.lua"
alerts test oncall -c tls.lua
expect_rc 1
expect_in "$err" "email oncall: the server does not offer STARTTLS (the channel says starttls = true)"
expect_in "$err" "gave up after 1 attempt"
expect_eq "$(py "$WORK/mail.jsonl" 'len(L)')" "$n_mail"

t "owner: mail to the owner the integration declares, through alerts.owner's channel"
config ferry.lua "$HOOK" "$MAIL" 'owner = "oncall",'
alerts test owner --integration crm-accounts -c ferry.lua
expect_rc 0
expect_in "$out" "sent a test notice to cs-ops@example.com (owner of crm-accounts)"
expect_eq "$(py "$WORK/mail.jsonl" 'L[-1]["rcpt_to"], [a.addr_spec for a in L[-1]["msg"]["To"].addresses]')" \
    "(['cs-ops@example.com'], ['cs-ops@example.com'])"
expect_eq "$(py "$WORK/mail.jsonl" 'str(L[-1]["msg"]["Subject"]), L[-1]["msg"]["X-Ferry-Integration"]')" \
    "('[ferry] crm-accounts: test notice to owner', 'crm-accounts')"

t "owner: an owner that is not an email address: exit 1, saying so, nothing sent"
sed 's/cs-ops@example.com/the CS team/; s/crm-accounts/team-owned/' "$WORK/scripts/crm.lua" >"$WORK/scripts/team.lua"
n_mail=$(py "$WORK/mail.jsonl" 'len(L)')
alerts test owner --integration team-owned -c ferry.lua
expect_rc 1
expect_in "$err" "ferry alerts test: owner: the integration's owner 'the CS team' is not an email address"
expect_eq "$(py "$WORK/mail.jsonl" 'len(L)')" "$n_mail"

t "owner: needs --integration, and alerts.owner in the config"
alerts test owner -c ferry.lua
expect_rc 2
expect_in "$err" "--integration NAME"
config ferry.lua "$HOOK" "$MAIL"
alerts test owner --integration crm-accounts -c ferry.lua
expect_rc 2
expect_in "$err" "alert target 'owner' needs alerts.owner in the config"

t "log: a warn line with the notice's subject, nothing sent"
n_hook=$(py "$WORK/hook.jsonl" 'len(L)')
alerts test log -c ferry.lua --log-format json
expect_rc 0
expect_in "$out" "wrote a test notice to the log"
expect_in "$err" '"level":"warn","msg":"alert","kind":"test","event":"test","alert":0,"subject":"[ferry] test notice to log"'
expect_eq "$(py "$WORK/hook.jsonl" 'len(L)')" "$n_hook"

t "unknown targets: a clear error, the known channels, exit 2"
alerts test opz -c ferry.lua
expect_rc 2
expect_in "$err" "unknown alert channel 'opz' (not in the config's alerts.channels): did you mean 'ops'?"
expect_in "$err" "known: log, oncall (email), ops (webhook)"
alerts test webhook:oncall -c ferry.lua
expect_rc 2
expect_in "$err" "alert target 'webhook:oncall': oncall is an email channel, not webhook"
alerts test sms:ops -c ferry.lua
expect_rc 2
expect_in "$err" "the type before ':' is webhook or email"
alerts test ops --integration no-such-thing -c ferry.lua
expect_rc 2
expect_in "$err" "no script 'no-such-thing'"

t "config: bad channel definitions are named by key path, a bad URL never quoted"
cat >"$WORK/bad.lua" <<'EOF'
return { alerts = {
  ["repeat"] = "soon",
  channels = {
    a = { type = "sms" },
    b = { type = "webhook", url = "ftp://hushhush.example/x" },
    c = { type = "webhook" },
    d = { type = "email", smtp = "smtp://h:25", from = "nobody", to = { "x@y.z" }, username = "u", tls = true },
    e = { type = "webhook", url = "https://h/x", retry = { attempts = 0 } },
    log = { type = "webhook", url = "https://h/x" },
  },
  owner = "b",
} }
EOF
alerts test log -c bad.lua
expect_rc 2
expect_in "$err" "bad.lua: alerts.channels.a.type: expected \"webhook\" or \"email\", got \"sms\""
expect_in "$err" "alerts.channels.b.url: expected an http:// or https:// URL"
expect_in "$err" "alerts.channels.c.url: missing: the URL to POST to (is the environment variable it comes from set?)"
expect_in "$err" "alerts.channels.d.from: expected the sender's email address (name@domain), got \"nobody\""
expect_in "$err" "alerts.channels.d.password: missing: username and password go together"
expect_in "$err" "unknown key 'alerts.channels.d.tls' (known keys for an email channel: type, smtp, from, to, username, password, starttls, retry)"
expect_in "$err" "alerts.channels.e.retry.attempts: expected an integer from 1 to 10"
expect_in "$err" "alerts.channels.log: a channel's name is a word"
expect_in "$err" "alerts.owner: \"b\" is a webhook channel"
expect_in "$err" "alerts.repeat: expected a duration like \"4h\", got \"soon\""
expect_not_in "$err" "hushhush"

t "the webhook URL and the SMTP password never reached stdout or stderr"
expect_not_in "$seen_out" "$SECRET_PATH"
expect_not_in "$seen_out" "$PASSWORD"
expect_not_in "$seen_out" "hushhush"
done_t
