-- Helpdesk tickets -> the reporting database.
--
-- Customer success looks at ticket volume, priority mix and satisfaction per
-- account each month next to the CRM's accounts table. The helpdesk is the
-- source of truth; rows are upserted by ticket_id.
local time, json = ferry.time, ferry.json

local PRIORITIES = { low = 1, normal = 2, high = 3, urgent = 4 }
local STATUSES = { new = true, open = true, pending = true, solved = true, closed = true }

-- An ISO 8601 timestamp normalised to UTC, or nil and a reason.
local function utc(v, field)
  if type(v) ~= "string" then return nil, field .. ": missing" end
  local t, err = time.parse(v)
  if not t then return nil, field .. ": " .. err end
  return time.format(t)
end

return ferry.integration {
  name = "helpdesk-tickets-to-reporting",
  owner = "cs-ops@example.com",
  purpose = "Monthly ticket volume, priority mix and CSAT per account",
  pattern = "reporting",
  source_of_truth = "helpdesk",
  schedule = "every 15m",
  freshness = "2h",
  batch_size = 100,
  policy = {
    validation = "quarantine",
    picklist_drift = "quarantine",
    alert = { to = { "log" } },
  },

  extract = function(ctx)
    ferry.source.jsonl(ctx, ferry.script_dir .. "/data/helpdesk_tickets.jsonl")
  end,

  transform = function(t, ctx)
    if math.type(t.id) ~= "integer" then return nil, "missing ticket id" end
    if not PRIORITIES[t.priority] then
      ctx:reject(t, "picklist_drift", string.format("unknown priority %q (known: low, normal, high, urgent)",
        tostring(t.priority)))
      return nil
    end
    if not STATUSES[t.status] then
      return nil, { class = "picklist_drift", reason = "unknown status " .. tostring(t.status) }
    end
    local created, err = utc(t.created_at, "created_at")
    if not created then return nil, err end
    local updated, err2 = utc(t.updated_at, "updated_at")
    if not updated then return nil, err2 end
    local satisfaction = t.satisfaction
    if satisfaction == json.null then satisfaction = nil end
    return {
      ticket_id = t.id,
      account_id = t.account_id,
      subject = t.subject,
      status = t.status,
      priority = t.priority,
      priority_rank = PRIORITIES[t.priority],
      requester_email = t.requester_email and t.requester_email:lower(),
      created_at = created,
      updated_at = updated,
      tags = json.array(t.tags or {}),
      satisfaction = satisfaction,
      product = t.custom_fields and t.custom_fields.product,
    }
  end,

  load = ferry.sink.sqlite {
    path = "reporting.db",
    table = "tickets",
    columns = {
      { "ticket_id", "integer", key = true },
      { "account_id", "text" },
      { "subject", "text" },
      { "status", "text" },
      { "priority", "text" },
      { "priority_rank", "integer" },
      { "requester_email", "text" },
      { "created_at", "timestamp" },
      { "updated_at", "timestamp" },
      { "tags", "json" },
      { "satisfaction", "text" },
      { "product", "text" },
    },
  },
}
