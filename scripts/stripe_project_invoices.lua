-- Case 4 (the operating review): Stripe invoices, created or changed since
-- the last run (Stripe's Events API), into `stripe_invoices`, each with the
-- Harvest project it bills. The link: finance puts the Harvest project code
-- in the invoice's metadata as `project` (Dashboard → invoice → Metadata,
-- or metadata[project]=P-1001 through the API). A finalized invoice without
-- it is quarantined (validation) until that is set; drafts and voided ones
-- load without it. Amounts stay exact: minor units and the currency's unit.
-- Secrets: STRIPE_API_KEY (a restricted key: read Invoices and Events).
local stripe = require "contrib.stripe"
local views = require "reporting.views"
local billing = stripe.connect {}
local invoices = billing:stream("invoices", { changes = true })
local BILLED = { open = true, paid = true, uncollectible = true }   -- what counts as invoiced revenue

local function given(v) return v ~= nil and v ~= ferry.json.null and v ~= "" end

return ferry.integration {
  name = "stripe-project-invoices",
  owner = "finance-ops@example.com",
  purpose = "Invoiced and paid revenue per project and month for the operating review",
  pattern = "reporting",
  source_of_truth = "stripe",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },
  -- a bad record is quarantined and its owner alerted: finance fixes the invoice in Stripe
  policy = { validation = "alert", alert = { to = { "log" } }, pause = { probe = "15m" } },

  extract = function(ctx)
    views.publish(ctx)
    return invoices(ctx)
  end,

  transform = function(inv)
    local row, err = stripe.invoice_row(inv)
    if not row then return nil, err end
    local meta = type(inv.metadata) == "table" and inv.metadata or {}
    local project = given(meta.project) and tostring(meta.project) or nil
    if not project and BILLED[row.status] then
      return nil, { class = "validation", field = "metadata.project",
                    reason = ("stripe invoice %s (%s) has no metadata.project: set it to the Harvest project code")
                      :format(row.invoice_id, row.number or "no number") }
    end
    -- minor units per major unit: 100 for usd, 1 for jpy, 1000 for kwd
    local decimals = #((row.total or "0"):match("%.(%d+)$") or "")
    return {
      invoice_id = row.invoice_id, number = row.number, customer_id = row.customer_id, project_code = project,
      status = row.status, currency = row.currency, month = row.month, finalized_at = row.finalized_at,
      paid_at = row.paid_at, total_minor = row.total_minor, amount_paid_minor = row.amount_paid_minor,
      minor_unit = math.tointeger(10 ^ decimals), total = row.total, amount_paid = row.amount_paid,
    }
  end,

  load = ferry.sink.reporting {
    table = "stripe_invoices",
    columns = { { "invoice_id", "text", key = true }, { "number", "text" }, { "customer_id", "text" },
                { "project_code", "text" }, { "status", "text" }, { "currency", "text" }, { "month", "text" },
                { "finalized_at", "text" }, { "paid_at", "text" }, { "total_minor", "integer" },
                { "amount_paid_minor", "integer" }, { "minor_unit", "integer" }, { "total", "text" },
                { "amount_paid", "text" } },
  },
}
