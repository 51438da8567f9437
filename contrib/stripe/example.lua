-- Stripe invoices into a reporting table: one row per invoice with its
-- customer, status, currency, amounts (exact: minor units as integers and
-- major units as decimal strings) and the month its revenue belongs to,
-- for the operating review's "invoiced revenue per customer per month".
--
-- The first run reads every invoice; later runs read what was created or
-- changed since (Stripe's Events API), so an invoice paid or voided after it
-- was first read is updated here too.
--
-- Grant the key in the config (a restricted key with read access to
-- Customers, Invoices and Events is enough):
--   integrations = { ["stripe-invoices"] = { secrets = { "STRIPE_API_KEY" } } }
local stripe = require "contrib.stripe"

local billing = stripe.connect {}       -- api_key = "STRIPE_API_KEY", Stripe-Version pinned

return ferry.integration {
  name = "stripe-invoices",
  owner = "finance-ops@example.com",
  purpose = "Invoiced revenue per customer and month for the operating review",
  pattern = "reporting",
  source_of_truth = "stripe",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },          -- an hour without invoices is normal

  extract = billing:stream("invoices", { changes = true }),

  transform = stripe.invoice_row,

  load = ferry.sink.sqlite {
    path = "stripe.db", table = "invoices",
    columns = { { "invoice_id", "text", key = true }, { "number", "text" }, { "customer_id", "text" },
                { "customer_email", "text" }, { "subscription_id", "text" }, { "status", "text" },
                { "currency", "text" }, { "total_minor", "integer" }, { "amount_paid_minor", "integer" },
                { "amount_due_minor", "integer" }, { "total", "text" }, { "amount_paid", "text" },
                { "period_start", "text" }, { "period_end", "text" }, { "created", "text" },
                { "finalized_at", "text" }, { "paid_at", "text" }, { "month", "text" }, { "metadata", "text" } },
  },
}
