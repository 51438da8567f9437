-- contrib/stripe on recorded responses (ferry test): the shipped example
-- against Stripe's list and event answers in the shapes the reference
-- documents ({ object = "list", data, has_more }, newest created first),
-- recorded in fixtures/. The end-to-end test (test_stripe.sh) covers the
-- rest against a fake of the API.
local t = ferry.test
local page1 = t.fixture("fixtures/invoices_page1.json")
local page2 = t.fixture("fixtures/invoices_page2.json")
local events = t.fixture("fixtures/invoice_events.json")
local paid = t.fixture("fixtures/invoice_paid.json")
local KEY = "rk_test_fixture_51Qa9bF0c2"

local api = t.server()
local function system()
  return t.system { script = "../example.lua", secrets = { STRIPE_API_KEY = KEY },
                    http = { ["https://api.stripe.com"] = api } }
end

t.case("run 1 reads the invoice list (two pages) into rows with exact amounts; run 2 reads events, then the invoice", function()
  api:reset()
  api:route("GET", "/v1/invoices", t.json(page1), t.json(page2))
  api:route("GET", "/v1/events", t.json(events))
  api:route("GET", "/v1/invoices/in_1QaB02", t.json(paid))
  local billing = system()
  local r = billing:run()
  t.eq(r.status, "ok")
  t.eq(r.run.loaded, 3)
  t.eq(billing:rows("stripe.db", "SELECT invoice_id, currency, total_minor, total, amount_paid, status, month, customer_id, subscription_id FROM invoices ORDER BY invoice_id"), {
    { invoice_id = "in_1QaB01", currency = "eur", total_minor = 99999, total = "999.99", amount_paid = "999.99",
      status = "paid", month = "2025-11", customer_id = "cus_RaAcme", subscription_id = "sub_1QaAcme" },
    { invoice_id = "in_1QaB02", currency = "jpy", total_minor = 480000, total = "480000", amount_paid = "0",
      status = "open", month = "2025-12", customer_id = "cus_RaAcme", subscription_id = "sub_1QaAcme" },
    { invoice_id = "in_1QaB03", currency = "usd", total_minor = 1250000, total = "12500.00", amount_paid = "12500.00",
      status = "paid", month = "2025-12", customer_id = "cus_RaGlobex", subscription_id = "sub_1QaGlobex" },
  })
  t.eq(type(r.run.checkpoint.since), "number", "events begin where the full read began")
  local reqs = api:requests("GET", "/v1/invoices")
  t.eq(#reqs, 2)
  t.eq(reqs[1].headers.authorization, "Bearer " .. KEY)
  t.eq(reqs[1].headers["stripe-version"], "2025-03-31.basil")
  t.eq(reqs[1].query, { limit = "100" })
  t.eq(reqs[2].query, { limit = "100", starting_after = "in_1QaB02" })

  r = billing:run()
  t.eq(r.status, "ok")
  t.eq(r.run.extracted, 1, "two events of one invoice: its current state, once")
  t.eq(r.run.checkpoint, { since = 1764900000 })
  t.eq(billing:rows("stripe.db", "SELECT status, amount_paid FROM invoices WHERE invoice_id = 'in_1QaB02'"),
    { { status = "paid", amount_paid = "480000" } })
  local ev = api:requests("GET", "/v1/events")
  t.eq(ev[1].query["types[]"], "invoice.*")
  t.eq(#api:requests("GET", "/v1/invoices/in_1QaB02"), 1)
end)

t.case("a 401 fails the run as auth with Stripe's message, saying what to check; the key is in no output", function()
  api:reset()
  api:route("GET", "/v1/invoices", t.json(page1),
    t.unauthorized { error = { type = "invalid_request_error", message = "Invalid API Key provided: rk_test_****9bF0c2" } })
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "auth")
  t.contains(r.run.error, "Invalid API Key provided")
  t.contains(r.run.error, "check the key")
  t.not_contains(r.out .. r.err, KEY)
end)

t.case("429s without Retry-After (Stripe sends none): each retry waits at least a second, then the run succeeds", function()
  api:reset()
  api:route("GET", "/v1/invoices",
    t.status(429, '{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Request rate limit exceeded."}}'),
    t.json(page1), t.json(page2))
  local r = system():run()
  t.eq(r.status, "ok")
  local reqs = api:requests("GET", "/v1/invoices")
  t.eq(#reqs, 3)
  t.ok(reqs[2].at - reqs[1].at >= 1, "the retry came after " .. (reqs[2].at - reqs[1].at) .. " s, not 1")
end)

t.case("a list answer without has_more is schema_drift: the walk cannot know where it ends", function()
  api:reset()
  api:route("GET", "/v1/invoices", t.json(t.with(page1, { has_more = t.NONE })))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "schema_drift")
  t.contains(r.run.error, "not a list")
end)

t.case("an invoice without created is schema_drift", function()
  api:reset()
  api:route("GET", "/v1/invoices", t.json(t.with(page1, { ["data[2].created"] = t.NONE })))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "schema_drift")
  t.contains(r.run.error, "without an integer created (id in_1QaB02)")
end)
