-- Ticket enrichment: the account's tier and health onto each new ticket.
--
-- The workflow pattern (DESIGN.md): agents triage a ticket the moment it
-- arrives, so the data they need goes into the helpdesk itself, within
-- seconds, not into a report. The helpdesk calls ferry's webhook when a
-- ticket is created; ferry looks the ticket's organization up in the CRM
-- (the source of truth for tier and health) and writes both onto the ticket
-- as custom fields and tags.
--
-- Failures, each as its class (README, "Error classes"):
--   not a ticket event                 validation      quarantined
--   no CRM account for the org         lookup_missing  quarantined (replay once it exists)
--   a tier the helpdesk does not offer picklist_drift  quarantined, with the value
--   CRM or helpdesk down, 429, 5xx     transient       retried by ctx.http, then quarantined
--   a rejected token                   auth            quarantined; fix the secret, replay
-- A ticket without an organization has nothing to enrich: skipped.
-- Writing the same values twice is harmless (the PUT sets fields and adds
-- tags), so a replayed or redelivered event does no damage.
local settings = require "ticket_enrichment.settings"

local format, tostring, type = string.format, tostring, type
local null = ferry.json.null

-- CRM tier -> the helpdesk dropdown's option. A tier not here is drift.
local TIERS = { Enterprise = "enterprise", Growth = "growth", Starter = "starter" }

-- health score 0-100 -> a tag agents can filter views on
local function health_band(score)
  if score >= 70 then return "healthy" elseif score >= 40 then return "watch" end
  return "at_risk"
end

-- v unless it is absent or JSON null
local function present(v)
  if v == nil or v == null then return nil end
  return v
end

return ferry.integration {
  name = "ticket-enrichment",
  owner = "support-ops@example.com",
  purpose = "Agents see the account's tier and health on a new ticket before they prioritise it",
  description = "Helpdesk ticket-created webhook -> CRM account lookup -> tier and health "
    .. "written onto the ticket (custom fields and tags). Events only; no schedule.",
  pattern = "workflow",
  source_of_truth = "crm",
  -- The helpdesk's webhook sends "Authorization: Bearer TOKEN" (Zendesk:
  -- the webhook's "Bearer token" authentication); ferry checks it before
  -- it stores the event, and answers 401 without it.
  trigger = { webhook = { path = "ticket-created", secret = "HELPDESK_WEBHOOK_TOKEN",
                          signature = { scheme = "token", header = "Authorization" } } },
  freshness = "1d",                   -- a working day without a single new ticket is suspicious
  rate_limit = "10/s",                -- both APIs together, well under their published limits
  policy = {
    -- short: an agent is waiting; what still fails goes to the quarantine
    retry = { attempts = 4, backoff = "exponential", base = "500ms", max = "5s" },
    transient = "retry", validation = "quarantine", lookup_missing = "quarantine",
    picklist_drift = "quarantine", auth = "pause",
    alert = { to = { "log" } },
  },
  tags = { "helpdesk", "crm", "webhook" },

  -- ev: one inbox event (ev.json is the helpdesk's body, Zendesk-like:
  -- {"ticket":{"id":..,"organization_id":..,"subject":..}}). Returns what
  -- load writes onto the ticket, or nil and why.
  transform = function(ev, ctx)
    local ticket = type(ev.json) == "table" and ev.json.ticket
    if type(ticket) ~= "table" or math.type(ticket.id) ~= "integer" then
      return nil, "not a ticket-created event: no integer ticket.id in the body"
    end
    local org = present(ticket.organization_id)
    if org == nil then return nil end             -- no organization: nothing to enrich

    local res, err = ctx.http:get(format("%s/accounts/%s", settings.crm_url, tostring(org)), {
      auth = { bearer = ctx:secret("CRM_TOKEN") }, timeout = "10s" })
    if not res then
      if err.status == 404 then
        return nil, { class = "lookup_missing",
                      reason = format("ticket %d: no CRM account for organization %s", ticket.id, tostring(org)) }
      end
      return nil, err                             -- transient, auth, permission, ...: its own class
    end
    local account, jerr = res:json()
    if type(account) ~= "table" then
      return nil, { class = "schema_drift", reason = "CRM account is not a JSON object: " .. tostring(jerr) }
    end
    local tier = TIERS[account.tier]
    if not tier then
      return nil, { class = "picklist_drift",
                    reason = format("ticket %d: CRM tier %q of account %s is not an option of the helpdesk's "
                      .. "tier field (known: Enterprise, Growth, Starter)", ticket.id, tostring(account.tier),
                      tostring(org)) }
    end
    local health = account.health_score
    if type(health) ~= "number" or health < 0 or health > 100 then
      return nil, format("ticket %d: account %s has no health_score from 0 to 100 (got %s)",
        ticket.id, tostring(org), tostring(health))
    end
    return { ticket_id = ticket.id, account = account.name, tier = tier, health_score = health,
             tags = { "tier_" .. tier, "health_" .. health_band(health) } }
  end,

  -- One PUT per ticket, up to 4 at a time. Returns nothing when all were
  -- written, else a failure per batch index (quarantined, event failed).
  load = function(batch, ctx)
    local auth = { basic = { settings.helpdesk_email .. "/token", ctx:secret("HELPDESK_TOKEN") } }
    local requests = {}
    for i, t in ipairs(batch) do
      requests[i] = { "PUT", format("%s/api/v2/tickets/%d", settings.helpdesk_url, t.ticket_id), {
        auth = auth, timeout = "10s",
        json = { ticket = {
          custom_fields = {
            { id = settings.fields.tier, value = t.tier },
            { id = settings.fields.health_score, value = t.health_score },
          },
          additional_tags = t.tags,               -- added to the agent's tags, never replacing them
        } },
      } }
    end
    local failures
    for i, r in ipairs(ctx.http:all(requests, { concurrency = 4 })) do
      if r.err then
        failures = failures or {}
        failures[i] = { class = r.err.class, reason = tostring(r.err) }
      else
        ctx.log.info("ticket enriched", { ticket = batch[i].ticket_id, tier = batch[i].tier,
                                          health_score = batch[i].health_score })
      end
    end
    return failures
  end,
}
