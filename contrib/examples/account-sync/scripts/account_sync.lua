-- Account sync: CRM accounts into the customer-success (CS) platform.
--
-- The workflow pattern (DESIGN.md): CSMs work in the CS platform and need
-- each account's tier, owner, ARR, renewal date and parent account there,
-- as sales keeps them in the CRM. The two systems disagree on almost every
-- definition, and each disagreement is declared here instead of guessed:
--
--   CRM (source)                          CS platform (destination)
--   owner_email, any case and padding  -> owner_id, a user id (lookup, one paged fetch)
--   tier as a rep typed it ("platinum") -> one of its tier options, fetched live (picklist)
--   parent_external_id                 -> parent_id, its own account id (foreign key, per batch)
--   arr "125000.50" or 48000           -> a decimal string with 2 places (never a float)
--   renewal "31/01/2027"               -> "2027-01-31"
--   active "yes" / "no"                -> true / false
--   updated_at, Berlin wall-clock time -> UTC, ISO 8601
--
-- Who owns what in the CS platform (`fields`): tier and owner come from the
-- CRM (an edit there is reported and overwritten); notes belong to the CSMs
-- (written once on create from the CRM's description, never again).
--
-- Every mismatch is an outcome with a class and a reason: an unknown owner
-- (lookup_missing) or one shared by two users (lookup_ambiguous), a tier the
-- platform does not offer (picklist_drift, reported once per value), a child
-- whose parent is not there yet (lookup_missing, retried by itself on later
-- runs), a value the map cannot convert (validation), a record the platform
-- refuses (validation, its own words).
--
-- A full read each run: accounts are few (thousands), the CRM's API has no
-- change feed, and reading them all lets ferry notice edits in the CS
-- platform on every account. The batch upsert is idempotent.
local settings = require "account_sync.settings"

local format, ipairs, type, error, tostring = string.format, ipairs, type, error, tostring

-- An API call; the decoded JSON body, or raises the error with its class
-- (transient after the policy's retries, auth, ...), which the runner
-- turns into the record's or the run's outcome.
local function call(ctx, method, url, opts)
  local res, err = ctx.http:request(method, url, opts)
  if not res then error(err, 0) end
  local body, jerr = res:json()
  if type(body) ~= "table" then
    error({ class = "schema_drift", reason = format("%s %s: the answer is not JSON: %s", method, url,
      tostring(jerr and jerr.message or jerr)) }, 0)
  end
  return body
end

local function crm(ctx, path, query)
  return call(ctx, "GET", settings.crm_url .. path,
    { query = query, auth = { bearer = ctx:secret("CRM_TOKEN") }, timeout = "30s" })
end

local function cs(ctx, method, path, opts)
  opts = opts or {}
  opts.auth, opts.timeout = { bearer = ctx:secret("CS_TOKEN") }, "30s"
  return call(ctx, method, settings.cs_url .. path, opts)
end

-- The CS platform's accounts among these external ids (a list of rows).
-- A search changes nothing, so it may be retried like a GET.
local function search(ctx, external_ids)
  return cs(ctx, "POST", "/accounts/search", { json = { external_ids = external_ids }, idempotent = true }).accounts
end

-- Owner email -> CS user id: all users in one paged fetch, cached for an
-- hour; emails compared trimmed and lower-cased on both sides.
local owners = ferry.lookup {
  name = "owners",
  normalize = "email",
  ttl = "1h",
  fetch = function(ctx, add)
    local page, pages = 1, 1
    repeat
      local body = cs(ctx, "GET", "/users", { query = { page = page } })
      for _, u in ipairs(body.users) do add(u.email, u.id) end
      page, pages = page + 1, body.pages
    until page > pages
  end,
}

-- The CS platform's tier options, fetched live; the names sales uses for
-- them. Anything else is picklist_drift: quarantined and alerted (the
-- default policy), reported once per value.
local tiers = ferry.picklist {
  name = "tier",
  fetch = function(ctx) return cs(ctx, "GET", "/fields/tier/options") end,
  ttl = settings.tier_options_ttl,
  synonyms = { Platinum = "Gold", Premium = "Silver", Basic = "Bronze", Starter = "Bronze" },
}

-- Parent external id -> the CS platform's account id, one search per load
-- batch. A parent not there yet leaves its child in the quarantine
-- (lookup_missing) until a later run finds it.
local parents = ferry.lookup.keys {
  name = "parents",
  fetch = function(ctx, keys)
    local found = {}
    for _, a in ipairs(search(ctx, keys)) do found[a.external_id] = a.id end
    return found
  end,
}

local to_cs = ferry.map {
  fields = {
    external_id    = { from = "external_id", as = "string", trim = true, required = true },
    name           = { from = "name", as = "string", trim = true, required = true },
    tier           = { from = "tier", picklist = tiers, required = true },
    owner_id       = { from = "owner_email", lookup = owners, required = true },
    parent_id      = { from = "parent_external_id", ref = parents },   -- null: a top-level account
    arr            = { from = "arr", as = "money", scale = 2 },
    renewal_date   = { from = "renewal", as = "date", formats = { "%d/%m/%Y" } },
    active         = { from = "active", as = "boolean", yes = { "yes" }, no = { "no" } },
    -- an edit in the repeated hour of October: either instant will do for
    -- "last changed in the CRM"; one in the skipped hour of March is refused
    crm_updated_at = { from = "updated_at", as = "datetime", formats = { "%Y-%m-%d %H:%M" },
                       tz = "Europe/Berlin", fold = "earlier" },
    notes          = { from = "description", as = "string", trim = true },
  },
  -- the CS platform's own rules, checked before the call
  schema = {
    external_id = { required = true, type = "string", pattern = "^[%u%d-]+$" },
    name        = { required = true, type = "string", max = 100 },
    notes       = { type = "string", max = 2000 },
  },
}

return ferry.integration {
  name = "account-sync",
  owner = "cs-ops@example.com",
  purpose = "CSMs see each account's tier, owner, ARR, renewal and parent as sales keeps them",
  description = "CRM accounts -> CS platform accounts (upsert by external_id), with an owner lookup, "
    .. "a live tier picklist and parent accounts resolved per batch.",
  pattern = "workflow",
  source_of_truth = "crm",
  schedule = "every 1h",
  freshness = "3h",
  batch_size = 100,                     -- the CS platform's batch limit
  rate_limit = "10/s",
  policy = {
    retry = { attempts = 4, backoff = "exponential", base = "1s", max = "30s" },
    validation = "quarantine", lookup_missing = "quarantine", lookup_ambiguous = "quarantine",
    destination_edit = "overwrite",     -- the CRM wins for the fields it owns
    -- a child waits in the quarantine for its parent, retried at the start
    -- of each run (one attempt a run, though the full read meets it again):
    -- 12 hourly runs for a parent to arrive
    retry_quarantined = { lookup_missing = 12 },
    auth = "pause",
    alert = { to = { "log" } },
  },
  fields = { tier = "crm", owner_id = "crm", notes = "destination" },
  tags = { "crm", "cs-platform" },

  extract = function(ctx)
    local after = 0
    repeat
      local body = crm(ctx, "/accounts", { after = after, limit = settings.page_size })
      for _, a in ipairs(body.accounts) do
        ctx:emit(a)
        after = a.id
      end
    until not body.has_more
  end,

  transform = to_cs,

  load = ferry.sink.custom {
    name = "CS platform accounts",
    key = "external_id",
    -- what it holds now, for `fields` (edits, notes) and --dry-run
    read = function(external_ids, ctx) return search(ctx, external_ids) end,
    load = function(batch, ctx)
      -- an upsert by external_id: sending it again after a timeout is safe
      local results = cs(ctx, "POST", "/accounts/batch", { json = { accounts = batch }, idempotent = true }).results
      local failures
      for i, a in ipairs(batch) do
        local r = results[i]
        if type(r) ~= "table" then
          error({ class = "schema_drift", reason = format("accounts/batch: no result for record %d of %d", i, #batch) }, 0)
        end
        if not r.ok then
          failures = failures or {}
          failures[i] = { class = "validation",
                          reason = format("CS platform refused %s: %s", a.external_id, tostring(r.error)) }
        end
      end
      return failures
    end,
  },
}
