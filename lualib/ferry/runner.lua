-- One run of an integration: extract -> transform (per record) -> load (per
-- batch). core/fy_run.c starts run() as the body of the run's coroutine and
-- resumes it whenever I/O it waits on completes.
--
-- A bad record never stops the run: a transform that raises, returns
-- nil, err, or calls ctx:reject, and a record the load rejects, go to the
-- quarantine with class, reason and stage. Only an error raised by extract
-- itself (or by the engine) fails the run, or a load that raises class
-- schema_drift (the destination no longer matches the declaration): then
-- nothing more is loaded or checkpointed, and the records it stopped are
-- counted as not loaded.
--
-- Quarantine rows and checkpoints reach the store together (internal.commit):
-- a checkpoint is committed only once every record emitted before it has
-- been loaded or quarantined, counting a batch still being written by a
-- load that returned a pending result (ferry.sink.sqlite) as not yet done.
-- A replay run (ferry quarantine replay) and the automatic retries at the
-- start of a run feed quarantined records through the same transform and
-- load, resolving the ones that get through.
local ferry = ferry
local json = ferry.json
local log_write, log_enabled = ferry.log.write, ferry.log.enabled
local pcall, type, tostring, ipairs, pairs, next, getmetatable = pcall, type, tostring, ipairs, pairs, next, getmetatable
local huge = math.huge
local remove = table.remove
local format, find = string.format, string.find
local CLASSES = require("ferry.contract").CLASSES
local http = require "ferry.http"
local sink = require "ferry.sink"
local schema = require "ferry.schema"
local fields_of = require "ferry.fields"
local lookup = require "ferry.lookup"
local concat, sort = table.concat, table.sort

local _M = {}

-- "not enough memory" is Lua's message when the state's memory limit is hit.
local function reason_of(err, limits)
  if err == "not enough memory" then
    return format("memory limit exceeded (%s; limits.memory in the config)", limits.memory)
  end
  return tostring(err)
end

-- A readable reason for a table error: its reason, its own __tostring
-- (ferry.http errors), its message, or its JSON.
local function describe(err)
  local mt = getmetatable(err)
  if err.reason then return tostring(err.reason) end
  if mt and mt.__tostring then return tostring(err) end
  return tostring(err.message or json.encode(err))
end

-- Splits an error value into class and reason. Tables may carry a class.
local function classify(err, default, limits)
  if type(err) == "table" then
    local class = CLASSES[err.class] and err.class or default
    return class, describe(err)
  end
  return default, reason_of(err, limits)
end

-- Quarantined records are stored as canonical JSON (keys sorted), so the
-- same record always has the same text and fingerprint.
local CANONICAL = { sort_keys = true }

-- A copy of v that JSON can hold: what it cannot (NaN, infinities,
-- functions, cycles, keys that are tables) becomes a fixed description, so
-- the quarantined record keeps everything else and the same record always
-- gets the same text (and fingerprint).
local function storable(v, depth, seen)
  local t = type(v)
  if t == "number" then
    if v ~= v then return "<NaN>" end
    if v == huge then return "<Infinity>" elseif v == -huge then return "<-Infinity>" end
    return v
  elseif t == "string" or t == "boolean" or v == json.null then
    return v
  elseif t ~= "table" then
    return "<" .. t .. ">"
  end
  if seen[v] then return "<cycle>" end
  if depth > 100 then return "<nested too deep>" end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do
    local kt = type(k)
    if kt ~= "string" and (kt ~= "number" or k ~= k or k == huge or k == -huge) then
      k = "<" .. kt .. " key>"
    end
    out[k] = storable(x, depth + 1, seen)
  end
  seen[v] = nil
  return out
end

local function encode(v)
  if v == nil then return nil end
  local s = json.encode(v, CANONICAL)
  return s or json.encode(storable(v, 0, {}), CANONICAL) or json.encode(tostring(v))
end

-- How many later runs retry a quarantined record of each class when the
-- policy does not say (policy.retry_quarantined).
local RETRY_QUARANTINED = { lookup_missing = 3 }

-- What a record's failure of each class does when the policy does not say
-- (README "Error classes"): retry (transient: ferry.http retried it
-- already, so the record is quarantined), quarantine, alert (quarantine
-- and raise an alert of that class), pause (stop the run at once and
-- pause the integration), fail (stop the run at once), continue (drop the
-- record on purpose, counted and logged).
local DEFAULT_ACTIONS = {
  transient = "retry", auth = "pause", permission = "pause", not_found = "pause", validation = "quarantine",
  lookup_missing = "quarantine", picklist_drift = "alert", schema_drift = "alert", script = "quarantine",
  lookup_ambiguous = "quarantine", destination_edit = "quarantine",
}
_M.DEFAULT_ACTIONS = DEFAULT_ACTIONS

local function new_stats()
  return {
    extracted = 0, transformed = 0, skipped = 0, loaded = 0, quarantined = 0, resolved = 0,
    batches = 0, by_class = {}, by_stage = {}, dropped = 0, dropped_by_class = {},
  }
end

-- Findings listed per run (ctx:report): more distinct ones are counted
-- per kind but not listed. A dry run's sample of each outcome.
local FINDINGS_MAX = 100
local DRY_SAMPLE = 5

-- A record or value for a dry run's sample: JSON, cut at 200 bytes.
local function excerpt(v, n)
  local s = type(v) == "string" and v or json.encode(v, CANONICAL) or tostring(v)
  n = n or 200
  if #s > n then s = s:sub(1, n - 3) .. "..." end
  return s
end

-- spec: the integration; params: run_id, integration, batch_size, limits,
-- cursor_json, replay ({ class = C } or { ids = { ... } }: a replay run);
-- internal: guard_reset(), commit(rows, n, checkpoint_json, resolved, nresolved),
-- quarantine_page(after, limit, class, max_attempts, id), state_get/set/delete,
-- holds_secret(text) (does text hold a registered secret in any form?),
-- stopping() (ferry serve is shutting down: end at the next checkpoint),
-- event_page(after, limit) (pending inbox events: { id, hook, method,
-- headers (JSON), body, received_at, delivery_id }; event runs only).
-- commit's sixth and seventh arguments list handled events: id done, -id failed.
function _M.run(spec, params, internal)
  local guard_reset, commit_store = internal.guard_reset, internal.commit
  local stopping = internal.stopping
  -- an event run: asked for, or a run of a webhook script without extract
  local events_run = params.events ~= nil or (spec.extract == nil and not params.replay)
  local limits = params.limits
  local batch_size = spec.batch_size or params.batch_size
  local transform, load = spec.transform, spec.load
  local name, run_id = params.integration, params.run_id

  local stats = new_stats()
  local stage = "extract"
  local src, n = {}, 0              -- records emitted since the last flush
  local src_q = {}                  -- src[i] came from quarantine row src_q[i] (replays)
  local checkpoints = {}            -- { pos = extracted count, cursor = value }
  local rejected_now                -- set by ctx:reject during one transform call
  local current_q                   -- quarantine row of the record being transformed
  local batch, origin, batch_q, failed, m = {}, {}, {}, {}, 0   -- the batch being loaded
  local rejected_in_load = 0        -- ctx:reject calls during the current load call
  local pending, np = {}, 0         -- quarantine rows not yet in the store
  local resolved, nr = {}, 0        -- replayed rows delivered, not yet marked
  local handled, ne = {}, 0         -- inbox events handled, not yet marked: id (done) or -id (failed)
  local policy = spec.policy or {}
  local alerts = {}                 -- class -> { count, reason, stage }: records of an `alert` action
  stats.alerts = alerts
  local fatal, fatal_class          -- fails the run wherever the error was caught
  local stopped                     -- the run is stopping: nothing more is loaded or checkpointed
  local not_loaded = 0              -- records neither loaded nor quarantined because of it
  local resolve, summarize_findings, dry_text, lookup_finding
  local written, nw = {}, 0         -- what ferry wrote of the fields it owns, per record key, not yet stored
  -- A dry run (ferry run --dry-run) reads and transforms, and asks the
  -- load what it would do: nothing reaches the store or the destination.
  local dry = params.dry_run and {
    creates = 0, updates = 0, unchanged = 0, rejects = 0, untold = 0,
    sample = { create = {}, update = {}, unchanged = {}, reject = {} },
  }
  stats.dry_run = dry or nil

  -- What the definitions found (ctx:report): counted once per (kind, key),
  -- listed in the run's summary and record, up to FINDINGS_MAX.
  local findings, found, kinds, unlisted = {}, {}, {}, {}
  local function report(kind, key, detail)
    key = tostring(key)
    kinds[kind] = (kinds[kind] or 0) + 1
    local id = kind .. "\0" .. key
    local f = found[id]
    if f then
      f.count = f.count + 1
      return false
    end
    if #findings >= FINDINGS_MAX then         -- counted, not listed
      unlisted[kind] = (unlisted[kind] or 0) + 1
      if unlisted[kind] < 10000 then found[id] = { count = 1 } end
      return false
    end
    f = { kind = kind, key = key, count = 1 }
    if type(detail) == "table" then
      for k, v in pairs(detail) do
        if type(k) == "string" and f[k] == nil then f[k] = storable(v, 0, {}) end
      end
    end
    if type(f.text) ~= "string" then f.text = kind .. ": " .. key end
    findings[#findings + 1] = f
    found[id] = f
    return true
  end

  -- A pause or fail action, or a destination that drifted: the run stops
  -- at once with this error (the first one wins); pause also pauses the
  -- integration (ferry does, when the run ends) and blocks every further
  -- HTTP request of this run, whoever makes it.
  local function stop(err, class, pause)
    if fatal then return end
    fatal, fatal_class, stopped = err, class, true
    if pause then
      stats.pause = { class = class, reason = err }
      internal.block_http(err, class)
    end
  end

  -- Rows go to the store with the checkpoint that follows them, in one
  -- transaction (commit); a long run of bad rows at extract is written
  -- without waiting for a flush so memory stays bounded.
  local function commit(checkpoint_text)
    if dry then return end          -- a dry run writes nothing
    if np == 0 and nr == 0 and ne == 0 and nw == 0 and not checkpoint_text then return end
    commit_store(pending, np, checkpoint_text, resolved, nr, handled, ne, written, nw)
    for i = 1, np do pending[i] = nil end
    for i = 1, nr do resolved[i] = nil end
    for i = 1, ne do handled[i] = nil end
    for i = 1, nw do written[i] = nil end
    np, nr, ne, nw = 0, 0, 0, 0
  end

  -- A record's origin: nil (extracted), a quarantine row id (replays) or
  -- { event = id } (an inbox event). An event is marked with the
  -- quarantine rows and checkpoint of its batch: done, or failed when its
  -- record went to the quarantine (replayable from there).
  -- A record a lookup could not resolve: a finding per lookup and key
  -- ("lookup owners: no match for ..." with how many records), besides
  -- the record in the quarantine.
  function lookup_finding(class, reason, e)
    if (class == "lookup_missing" or class == "lookup_ambiguous") and type(e) == "table"
        and type(e.lookup) == "string" and e.key ~= nil then
      report(class, e.lookup .. "=" .. tostring(e.key), { text = reason, lookup = e.lookup, key = e.key,
        candidates = e.candidates })
    end
  end

  local function put(st, class, reason, record, output, qid)
    local action = policy[class] or DEFAULT_ACTIONS[class]
    if stopped then                 -- the run is ending: left for the next run, as it was read
      not_loaded = not_loaded + 1
      return
    end
    if action == "pause" or action == "fail" then
      -- a problem of the integration (a dead key, a moved endpoint), not
      -- of this record: stop now, before another call reaches the source;
      -- the record stays unread behind the checkpoint for the next run
      local said = find(reason, class .. ":", 1, true) == 1 and reason or class .. ": " .. reason
      stop(st .. ": " .. said, class, action == "pause")
      not_loaded = not_loaded + 1
      return
    end
    if action == "continue" then    -- dropped on purpose: counted, logged, never stored
      if type(qid) == "table" then
        ne = ne + 1
        handled[ne] = qid.event
      elseif qid then
        resolve(qid)
      end
      stats.dropped = stats.dropped + 1
      stats.dropped_by_class[class] = (stats.dropped_by_class[class] or 0) + 1
      log_write("warn", "record dropped by policy", { stage = st, class = class, reason = reason }, name, run_id)
      return
    end
    if action == "alert" then
      local a = alerts[class]
      if a then a.count = a.count + 1 else alerts[class] = { count = 1, reason = reason, stage = st } end
    end
    if type(qid) == "table" then
      ne = ne + 1
      handled[ne] = -qid.event
      qid = nil
    end
    stats.quarantined = stats.quarantined + 1
    stats.by_class[class] = (stats.by_class[class] or 0) + 1
    stats.by_stage[st] = (stats.by_stage[st] or 0) + 1
    if dry then                     -- would be quarantined
      dry.rejects = dry.rejects + 1
      local s = dry.sample.reject
      if #s < DRY_SAMPLE then s[#s + 1] = { stage = st, class = class, reason = reason, record = excerpt(record) } end
      return
    end
    np = np + 1
    pending[np] = { st, class, reason, encode(record), encode(output), qid }
    if np >= batch_size and stage == "extract" then commit() end
  end

  function resolve(qid)
    if type(qid) == "table" then
      ne = ne + 1
      handled[ne] = qid.event
      return
    end
    stats.resolved = stats.resolved + 1
    nr = nr + 1
    resolved[nr] = qid
  end

  local cursor
  if params.cursor_json then
    local err
    cursor, err = json.decode(params.cursor_json)
    if cursor == nil then
      -- never silently start over: the store was edited or damaged
      stats.error = format("the stored checkpoint of %s is not valid JSON (%s); fix it in the store "
        .. "or start from the beginning with 'ferry reset %s'", name, err, name)
      stats.error_class = "script"
      return stats
    end
  end
  if cursor == json.null then cursor = nil end
  local ctx = { run_id = run_id, integration = name, cursor = cursor, stats = stats, policy = policy,
                dry_run = dry and true or nil }
  stats.findings = findings
  -- ctx:report(kind, key, detail): a finding of this run (a new picklist
  -- value, a missing lookup key, an edit in the destination), counted once
  -- per (kind, key); detail.text is its line in the summary. Returns true
  -- the first time in this run.
  function ctx:report(kind, key, detail)
    if type(kind) ~= "string" or not find(kind, "^[%w_]+$") then
      error("ctx:report: kind must be a word like \"picklist_drift\"", 2)
    end
    if key == nil then error("ctx:report: key is nil", 2) end
    return report(kind, key, detail)
  end

  -- A checkpoint or state value holding a registered secret (or an encoding
  -- of one) fails the run: both are stored and shown in clear, and
  -- redacting them would break resuming. The message never holds the value.
  local holds_secret = internal.holds_secret
  local function refuse(what, rule)
    fatal = fatal or format("%s of %s holds a credential (a value from ctx:secret, or an encoding of it); "
      .. "%s must not hold a credential: it is stored and shown in clear", what, name, rule)
    error(fatal, 3)
  end

  -- ctx.state: durable key/value state of this integration (JSON values).
  local state_get, state_set, state_delete = internal.state_get, internal.state_set, internal.state_delete
  if dry then                       -- kept in memory for this run: the store is left as it was
    local overlay, real_get = {}, state_get
    state_get = function(k)
      local v = overlay[k]
      if v == false then return nil end
      if v ~= nil then return v end
      return real_get(k)
    end
    state_set = function(k, v) overlay[k] = v end
    state_delete = function(k) overlay[k] = false end
  end
  ctx.state = {
    get = function(_, key)
      local v = state_get(tostring(key))
      if v == nil then return nil end
      v = json.decode(v)
      if v == json.null then return nil end
      return v
    end,
    set = function(_, key, value, ttl)
      if value == nil then return state_delete(tostring(key)) end
      local text, err = json.encode(value)
      if not text then error("ctx.state:set: " .. err, 2) end
      if holds_secret(text) or holds_secret(tostring(key)) then
        refuse(format("ctx.state:set: the key %q", holds_secret(tostring(key)) and "(not shown)" or tostring(key)),
          "state")
      end
      if type(ttl) == "string" then
        local secs, terr = ferry.time.duration(ttl)
        if not secs then error("ctx.state:set: ttl: " .. terr, 2) end
        ttl = secs
      end
      state_set(tostring(key), text, ttl)
    end,
    delete = function(_, key) state_delete(tostring(key)) end,
  }
  local log = {}
  for _, level in ipairs { "debug", "info", "warn", "error" } do
    log[level] = function(msg, fields) log_write(level, msg, fields, name, run_id) end
  end
  ctx.log = log
  -- Source schema drift (ferry.schema): the records extract emits; not
  -- replays, nor webhook events (payloads of many kinds, no one schema).
  local drift = spec.extract and not events_run and not params.replay and not dry and internal.schema_get
    and schema.tracker(internal.schema_get(""), { log = log, checker = internal.schema_checker,
      store = function(fields) internal.schema_set("", fields, run_id) end })
  local observe = drift and drift.observe
  -- --log-level debug: each batch loaded and each checkpoint committed (the
  -- level is read once, so other levels build nothing for these lines)
  local debug_log = log_enabled("debug") and log.debug
  local destination = sink.destination(load) or "the script's load"
  -- who owns which destination field (spec.fields, ferry.fields): needs a
  -- load that can read the destination (contract.lua checks it too)
  local reader = sink.reader(load)
  local owned = spec.fields and fields_of.normalize(spec.fields)
  if owned and next(owned) == nil then owned = nil end
  if owned and not reader then
    stats.error = "fields: ferry must read the destination to keep the fields it owns and notice edits there, "
      .. "and this load cannot (use ferry.sink.sqlite, or ferry.sink.custom { load = ..., key = ..., read = ... })"
    stats.error_class = "script"
    return stats
  end
  ctx.http = http.client {
    retry = spec.policy and spec.policy.retry or { attempts = 5, base = "1s", max = "60s" },
    rate_limit = spec.rate_limit, key = name,
  }

  -- A secret from the environment, registered so it is redacted from every
  -- log line, error and quarantine record. Missing is an auth failure.
  -- Only the variables the admin granted this integration (config
  -- `integrations`); anything else is an auth error naming the setting.
  local secret = internal.secret
  function ctx:secret(env_name)
    if type(env_name) ~= "string" then error("ctx:secret: expected the name of an environment variable", 2) end
    return secret(env_name)         -- raises { class = "auth", reason = ... }
  end

  -- Checkpoints taken at or before `settled` (a count of extracted
  -- records, every one of them loaded or quarantined) are committed, with
  -- the quarantine rows of the records before them, in one transaction.
  local settled = 0
  local function commit_checkpoints()
    if stopped then return commit() end
    local last, cursor, text
    for i = 1, #checkpoints do
      if checkpoints[i].pos <= settled then last = i end
    end
    if last then
      local cp = checkpoints[last]
      cursor, text = cp.cursor, cp.text
      if not text then error("ctx:checkpoint: the cursor cannot be stored as JSON: " .. cp.err) end
      for _ = 1, last do remove(checkpoints, 1) end
    end
    commit(text)
    if text and not dry then
      stats.checkpoint = cursor                    -- only what the store holds
      if debug_log then debug_log("checkpoint committed", { checkpoint = cursor }) end
      if stopping and stopping() and not stopped then
        -- ferry serve is shutting down: end here, where the next run
        -- picks up; what was read after this checkpoint is read again then
        fatal, fatal_class = "shutdown: ferry is stopping; the run ended at its last committed checkpoint",
          "shutdown"
        stopped = true
      end
    end
  end

  -- The outcome of loading batch b: ok, res from calling load (or from
  -- waiting for it). res may list per-record failures.
  local function settle(b, ok, res)
    local m, failed, nfailed = b.m, b.failed, b.rejected
    if not ok then
      local class, reason = classify(res, "script", limits)
      if class == "schema_drift" then
        -- the destination's schema no longer matches the declaration: a
        -- problem of the integration, not of these records (none is
        -- quarantined for it); the run stops, its checkpoint stays before them
        stop("load: schema_drift: " .. reason, "schema_drift")
        not_loaded = not_loaded + m - nfailed
        return commit()
      end
      if class == "transient" and type(res) == "table" and res.destination == true then
        -- the destination itself is down (a database past its reconnect
        -- window), not these records: quarantining every record would
        -- bury the real failures; the run fails and the next reads them again
        stop("load: transient: " .. reason, "transient")
        not_loaded = not_loaded + m - nfailed
        return commit()
      end
      for i = 1, m do
        if not failed[i] then put("load", class, reason, b.origin[i], b.batch[i], b.q[i]) end
        failed[i] = true
      end
      nfailed = m
    elseif type(res) == "table" then
      for i = 1, m do
        local r = res[i]
        if r ~= nil and r ~= true and not failed[i] then
          local class, reason
          if r == false then class, reason = "validation", "rejected by load"
          else class, reason = classify(r, "validation", limits) end
          put("load", class, reason, b.origin[i], b.batch[i], b.q[i])
          failed[i] = true
          nfailed = nfailed + 1
        end
      end
    end
    for i = 1, m do
      if b.q[i] and not failed[i] then resolve(b.q[i]) end
    end
    local writes = b.writes
    if writes then                  -- remembered with the checkpoint that follows the batch
      for i = 1, m do
        if writes[i] and not failed[i] then
          nw = nw + 1
          written[nw] = { b.keys[i], writes[i] }
        end
      end
    end
    stats.loaded = stats.loaded + m - nfailed
    stats.batches = stats.batches + 1
    if debug_log then
      debug_log("batch loaded", { batch = stats.batches, records = m, loaded = m - nfailed, failed = nfailed,
                              destination = destination })
    end
    settled = b.pos
    commit_checkpoints()
  end

  -- A load may hand back a pending result (ferry.sink.sqlite and
  -- ferry.sink.postgres write on a thread of their own); the run goes on with the next batch and waits for
  -- this one before loading another (one in flight keeps up with the
  -- writer; two ran no faster and held more memory).
  local inflight
  local function await()
    local b = inflight
    if not b then return end
    inflight = nil
    stage = "load"
    local ok, loaded, res = pcall(b.pending.wait, b.pending)
    if ok then res = res or {} else res = loaded end
    settle(b, ok, res)
    stage = "extract"
  end

  local function is_pending(v)
    local mt = type(v) == "userdata" and getmetatable(v)
    return mt and (mt.__name == "ferry.pending" or mt.__name == "ferry.postgres.pending")
  end

  -- Before each load: references resolved once for the whole batch
  -- (ferry.lookup), then the fields' owners applied (ferry.fields). A
  -- record that fails here is quarantined (stage load) and left out of the
  -- batch the load sees. Returns what ferry writes of the fields it owns
  -- and the destination's rows, when it read them.
  local written_get = internal.written_get
  local function prepare()
    local bad
    local function fail(i, class, reason, detail)
      bad = bad or {}
      if not bad[i] then
        bad[i] = { class, reason }
        if detail then lookup_finding(class, reason, detail) end
      end
    end
    if lookup and lookup.pending() then lookup.resolve(batch, m, ctx, fail) end
    local writes, current, keys
    if owned then
      writes, current, keys = fields_of.prepare({ fields = owned, reader = reader, policy = policy,
        replay = params.replay ~= nil, written_get = written_get, ctx = ctx, fail = fail, report = report }, batch, m)
    end
    if bad then
      local j = 0
      for i = 1, m do
        local f = bad[i]
        if f then
          put("load", f[1], f[2], origin[i], batch[i], batch_q[i])
        else
          j = j + 1
          batch[j], origin[j], batch_q[j] = batch[i], origin[i], batch_q[i]
          if writes then writes[j], keys[j] = writes[i], keys[i] end
        end
      end
      for i = j + 1, m do
        batch[i], origin[i], batch_q[i] = nil, nil, nil
        if writes then writes[i], keys[i] = nil, nil end
      end
      m = j
    end
    return writes, keys, current
  end

  -- A dry run's load: the sink's plan for the batch (what it would create,
  -- change or refuse), counted and sampled; a load that cannot tell is
  -- counted as untold.
  local function plan(current)
    local planner = reader and reader.plan
    if not planner then
      dry.untold = dry.untold + m
      return
    end
    if not current then
      local keys, key = {}, reader.key
      for i = 1, m do
        local k = type(batch[i]) == "table" and batch[i][key]
        if k ~= nil and k ~= json.null and k ~= false then keys[#keys + 1] = k end
      end
      current = #keys > 0 and reader.read(keys, ctx) or {}
    end
    local plans = planner(batch, m, current)
    for i = 1, m do
      local p = plans[i] or { op = "reject", reason = "the sink gave no plan for it" }
      if p.op == "reject" then
        put("load", "validation", p.reason or "rejected by the sink", origin[i], batch[i], batch_q[i])
      else
        local field = p.op == "create" and "creates" or p.op == "update" and "updates" or "unchanged"
        dry[field] = dry[field] + 1
        local sample = dry.sample[p.op]
        if sample and #sample < DRY_SAMPLE then
          local changes = {}
          for c, ch in ipairs(p.changes or {}) do
            changes[c] = { field = ch[1], before = ch[2] == nil and json.null or ch[2], after = ch[3] == nil and json.null or ch[3] }
          end
          local key = type(batch[i]) == "table" and batch[i][reader.key]
          sample[#sample + 1] = { key = key ~= nil and fields_of.shown(key) or nil, changes = changes,
                                  record = p.op == "create" and excerpt(batch[i], 1000) or nil }
        end
      end
    end
  end

  local function flush()
    if stopped then
      not_loaded = not_loaded + n
      for i = 1, n do src[i], src_q[i] = nil, nil end
      n = 0
      return commit()
    end
    if n == 0 then
      if not inflight then settled = stats.extracted end
      return commit_checkpoints()
    end
    batch, origin, batch_q, failed, m = {}, {}, {}, {}, 0
    stage = "transform"
    for i = 1, n do
      local rec, qid = src[i], src_q[i]
      src[i], src_q[i] = nil, nil
      if stopped then                 -- a pause or fail action: no further call to the source
        not_loaded = not_loaded + 1
        goto continue
      end
      guard_reset()
      rejected_now, current_q = nil, qid
      if events_run then ctx.event = rec end
      local out, err
      if transform then
        local ok
        ok, out, err = pcall(transform, rec, ctx)
        local tripped = guard_reset(true)   -- the call is over: a limit it tripped ends with it
        if tripped then ok, out = false, tripped end
        if not ok then
          local class, reason = classify(out, "script", limits)
          lookup_finding(class, reason, out)
          put("transform", class, reason, rec, nil, qid)
          goto continue
        end
      else
        out = rec
      end
      if rejected_now then goto continue end
      if out == nil then
        if err ~= nil then
          local class, reason = classify(err, "validation", limits)
          lookup_finding(class, reason, err)
          put("transform", class, reason, rec, nil, qid)
        else
          stats.skipped = stats.skipped + 1
          if qid then resolve(qid) end
        end
        goto continue
      end
      stats.transformed = stats.transformed + 1
      m = m + 1
      batch[m], origin[m], batch_q[m] = out, rec, qid
      ::continue::
    end
    n, current_q = 0, nil
    await()                         -- the batch before, so batches settle in order (and can be read back)
    if stopped and m > 0 then
      not_loaded = not_loaded + m
      m = 0
      return commit()
    end
    local writes, keys, current
    if m > 0 and (owned or dry or lookup and lookup.pending()) then
      stage = "load"
      guard_reset()
      local ok, err = pcall(function() writes, keys, current = prepare() end)
      local tripped = guard_reset(true)
      if tripped then ok, err = false, tripped end
      if not ok then                -- the destination could not be read: the batch's load failed
        settle({ batch = batch, origin = origin, q = batch_q, failed = failed, m = m, rejected = 0,
                 pos = stats.extracted }, false, err)
        stage = "extract"
        return
      end
      if stopped then
        not_loaded = not_loaded + m
        m = 0
        stage = "extract"
        return commit()
      end
      if dry then
        ok, err = pcall(plan, current)
        if not ok then
          local class, reason = classify(err, "script", limits)
          for i = 1, m do put("load", class, "planning the load: " .. reason, origin[i], batch[i], batch_q[i]) end
        end
        m = 0
      end
    end
    if m > 0 then
      stage = "load"
      guard_reset()
      rejected_in_load = 0
      local ok, res = pcall(load, batch, ctx)
      local tripped = guard_reset(true)
      if tripped then ok, res = false, tripped end
      local b = { batch = batch, origin = origin, q = batch_q, failed = failed, m = m,
                  rejected = rejected_in_load, pos = stats.extracted, writes = writes, keys = keys }
      if ok and is_pending(res) then
        b.pending = res
        inflight = b
      else
        settle(b, ok, res)
      end
    else
      settled = stats.extracted
      commit_checkpoints()
    end
    stage = "extract"
  end

  -- Everything emitted so far loaded or quarantined, and committed. The
  -- second flush commits a checkpoint taken after the batch in flight
  -- (behind a record rejected at extract, which counts as extracted).
  local function drain()
    flush()
    await()
    flush()
  end

  -- The findings as summary lines ("picklist tier: unknown value ... (500
  -- records)"), and the alert a class's findings raise: a picklist value
  -- the destination lacks or options it removed raise picklist_drift
  -- (unless the policy quarantines or drops such records quietly); an
  -- alert of any class lists its findings as its reason.
  function summarize_findings()
    if #findings == 0 then return end
    local lines, texts = {}, {}
    for i, f in ipairs(findings) do
      lines[i] = f.count > 1 and format("%s (%d records)", f.text, f.count) or f.text
      local t = texts[f.kind] or {}
      texts[f.kind] = t
      t[#t + 1] = f
    end
    local more = {}
    for kind, nmore in pairs(unlisted) do more[#more + 1] = format("… and %d more %s not listed", nmore, kind) end
    sort(more)
    for _, l in ipairs(more) do lines[#lines + 1] = l end
    stats.findings_lines = lines
    local pick = policy.picklist_drift or DEFAULT_ACTIONS.picklist_drift
    if (texts.picklist_drift and (pick == "alert" or pick == "default")) or texts.picklist_options then
      local a = alerts.picklist_drift or { count = 0, stage = "transform" }
      alerts.picklist_drift = a
      if a.count == 0 then
        for _, f in ipairs(texts.picklist_drift or {}) do a.count = a.count + f.count end
        for _, f in ipairs(texts.picklist_options or {}) do a.count = a.count + f.count end
      end
    end
    for class, a in pairs(alerts) do
      local list = {}
      for _, k in ipairs { class, class == "picklist_drift" and "picklist_options" or nil } do
        for _, f in ipairs(texts[k] or {}) do
          if #list < 5 then list[#list + 1] = f.count > 1 and format("%s (%d records)", f.text, f.count) or f.text end
        end
      end
      if #list > 0 then a.reason = concat(list, "; ") end
    end
  end

  -- A dry run's report: what the load would do, with a sample of each.
  function dry_text()
    local out = {}
    local function add(fmt, ...) out[#out + 1] = format(fmt, ...) end
    local function value(v) return fields_of.shown(v) end
    add("dry run: nothing was written (no load, no checkpoint, no quarantine, no state)")
    if reader and reader.plan then
      add("load (%s): would create %d · update %d · leave unchanged %d · reject %d", destination, dry.creates,
        dry.updates, dry.unchanged, dry.rejects)
    else
      add("load (%s): cannot tell what it would do without writing: %d record%s would be offered to it; "
        .. "would reject %d before it", destination, dry.untold, dry.untold == 1 and "" or "s", dry.rejects)
    end
    for _, op in ipairs { "create", "update" } do
      local sample = dry.sample[op]
      if #sample > 0 then add("would %s (first %d):", op, #sample) end
      for _, e in ipairs(sample) do
        if op == "create" then
          add("  %s", e.record)
        else
          local ch = {}
          for c, x in ipairs(e.changes) do ch[c] = format("%s %s -> %s", x.field, value(x.before), value(x.after)) end
          add("  %s: %s", e.key or "?", concat(ch, "; "))
        end
      end
    end
    local rej = dry.sample.reject
    if #rej > 0 then add("would reject (first %d):", #rej) end
    for _, e in ipairs(rej) do add("  %s %s: %s — %s", e.stage, e.class, e.reason, e.record or "") end
    return concat(out, "\n")
  end

  -- Open quarantined records matching filter { class, id, max_attempts } go
  -- through transform and load again, as if extracted; a record that gets
  -- through is resolved, one that fails again has its row updated.
  local function replay(filter)
    local after = 0
    repeat
      local rows = internal.quarantine_page(after, batch_size, filter.class, filter.max_attempts or 0,
        filter.id or 0)
      for i = 1, #rows do
        local row = rows[i]
        after = row.id
        local rec, derr = json.decode(row.record)
        if rec == nil then
          -- stored before ferry wrote only valid JSON (raw Latin-1 bytes):
          -- leave the row as it is rather than replay nothing over it
          log.warn("quarantined record cannot be replayed", { id = row.id, error = derr })
        else
          n = n + 1
          src[n], src_q[n] = rec, row.id
          stats.extracted = stats.extracted + 1
          if n >= batch_size then flush() end
        end
      end
    until #rows == 0
    drain()
  end

  function ctx:emit(record)
    if fatal then error(fatal, 0) end
    if record == nil then error("ctx:emit: record is nil", 2) end
    if stage ~= "extract" then
      error("ctx:emit: records are emitted by extract, not by " .. stage, 2)
    end
    n = n + 1
    src[n] = record
    stats.extracted = stats.extracted + 1
    if observe then observe(record) end
    if n >= batch_size then flush() end
    guard_reset()
  end

  function ctx:reject(record, class, reason)
    class = class or "validation"
    if not CLASSES[class] then
      error(format("ctx:reject: unknown error class '%s'", tostring(class)), 2)
    end
    reason = reason and tostring(reason) or "rejected by the script"
    if stage == "transform" then
      rejected_now = true
      return put(stage, class, reason, record, nil, current_q)
    elseif stage == "load" then
      -- one of the batch: quarantine its source record, output alongside
      for i = 1, m do
        if batch[i] == record and not failed[i] then
          failed[i] = true
          rejected_in_load = rejected_in_load + 1
          return put(stage, class, reason, origin[i], record, batch_q[i])
        end
      end
      rejected_in_load = rejected_in_load + 1
    else
      stats.extracted = stats.extracted + 1
    end
    put(stage, class, reason, record)
  end

  function ctx:checkpoint(cursor)
    if stopped then error(fatal, 0) end
    local text, err = json.encode(cursor)       -- once: committed as this text later
    if text and holds_secret(text) then refuse("ctx:checkpoint: the checkpoint", "a checkpoint") end
    checkpoints[#checkpoints + 1] = { pos = stats.extracted, cursor = cursor, text = text, err = err }
    -- From extract with nothing pending it is committed now; during a flush
    -- (transform, load) or with a batch in flight, once those have settled.
    if n == 0 and stage == "extract" and not inflight then
      settled = stats.extracted
      commit_checkpoints()
    end
  end

  -- A replay run delivers quarantined records and extracts nothing. A normal
  -- run first retries the quarantined records of classes the policy names
  -- (lookup_missing by default), each up to that many times.
  local extract = spec.extract
  if events_run then
    -- An event run: the inbox's pending events, in order, each a record
    -- for transform and load (ctx.event while it is transformed; ctx.events
    -- the page of up to batch_size it came in). Events that arrive while
    -- it runs are taken too, up to params.events.limit per run.
    local limit = params.events and params.events.limit or 10000
    extract = function()
      local after, taken = 0, 0
      repeat
        local rows = internal.event_page(after, batch_size)
        local page = {}
        for i = 1, #rows do
          local row = rows[i]
          after = row.id
          local ev = {
            id = row.id, hook = row.hook, method = row.method, path = "/hooks/" .. row.hook,
            headers = json.decode(row.headers) or {}, body = row.body, received_at = row.received_at,
            delivery_id = row.delivery_id,
          }
          ev.json = json.decode(row.body)
          page[i] = ev
          n = n + 1
          src[n], src_q[n] = ev, { event = row.id }
          stats.extracted = stats.extracted + 1
        end
        taken = taken + #rows
        if #rows > 0 then
          ctx.events = page
          flush()
        end
        -- a full page: more may follow; let the loop answer the hooks
        -- (and commit their events) before the next one
        if #rows == batch_size then ferry.sleep(0) end
      until #rows == 0 or taken >= limit
      drain()
      ctx.event, ctx.events = nil, nil
    end
  elseif params.replay then
    local r = params.replay
    extract = function()
      if r.ids then
        for _, id in ipairs(r.ids) do replay { id = id } end
      else
        replay { class = r.class }
      end
    end
  elseif internal.quarantine_page and not dry then
    local retry = spec.policy and spec.policy.retry_quarantined or RETRY_QUARANTINED
    local main = stats
    stats = new_stats()
    local ok, err = pcall(function()
      for class, times in pairs(retry) do
        if times > 0 then replay { class = class, max_attempts = times } end
      end
    end)
    if stats.extracted > 0 then
      main.retried = { records = stats.extracted, resolved = stats.resolved, failing = stats.quarantined }
    end
    stats = main
    if not ok then
      stats.error = "retrying quarantined records: " .. reason_of(err, limits)
      stats.error_class = "script"
      return stats
    end
  end

  guard_reset()
  local ok, err = true, nil
  if not stopped then ok, err = pcall(extract, ctx) end     -- the retries above met a drift
  local tripped = guard_reset(true)
  if tripped then ok, err = false, tripped end
  if not ok then
    if type(err) == "table" then
      local d = describe(err)
      if CLASSES[err.class] and not find(d, err.class .. ":", 1, true) then d = err.class .. ": " .. d end
      stats.error = "extract: " .. d
      stats.error_class = CLASSES[err.class] and err.class or "script"
      if (policy[stats.error_class] or DEFAULT_ACTIONS[stats.error_class]) == "pause" then
        -- the run stops here: what extract emitted since its last batch is
        -- read again after the resume, behind the checkpoint
        stop(stats.error, stats.error_class, true)
      end
    else
      stats.error = "extract: " .. reason_of(err, limits)
      stats.error_class = "script"
    end
  end
  -- Records emitted before a failure are still delivered.
  local fok, ferr = pcall(drain)
  if not fok and not stats.error then stats.error = "flush: " .. reason_of(ferr, limits) end
  if drift then stats.schema_drift = drift.finish(ok) end      -- judged only when extract finished
  summarize_findings()
  if dry then dry.text = dry_text() end
  if stopped then
    stats.not_loaded = not_loaded
    if not_loaded > 0 then
      fatal = format("%s (%d record%s not loaded; the checkpoint stays before them)", fatal, not_loaded,
        not_loaded == 1 and "" or "s")
    end
  end
  if fatal then stats.error, stats.error_class = fatal, fatal_class or "script" end
  return stats
end

return _M
