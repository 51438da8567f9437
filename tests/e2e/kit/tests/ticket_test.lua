-- ferry test's own test of a webhook script: events delivered into its
-- inbox (sys:deliver), then a run that handles them.
local t = ferry.test
local crm, desk = t.server(), t.server()
local function system()
  return t.system { script = "../ticket.lua", secrets = { CRM_TOKEN = "kit-crm-77" },
                    http = { ["https://api.crm.example"] = crm, ["https://desk.example.com"] = desk } }
end

t.case("a delivered event is handled by the next run: the tier goes onto the ticket", function()
  crm:reset(); desk:reset()
  crm:route("GET", "/v1/accounts/acc-1", t.json { id = "acc-1", tier = "gold" })
  desk:route("PUT", "/api/tickets/101", t.status(204))
  local sys = system()
  t.eq(sys:deliver({ ticket = { id = 101, account_id = "acc-1" } }, { headers = { ["X-Desk-Event"] = "created" } }), 1)
  local r = sys:run()
  t.eq(r.status, "ok")
  t.eq(r.run.loaded, 1)
  local put = desk:requests("PUT", "/api/tickets/101")
  t.eq(#put, 1)
  t.eq(put[1].json, { custom_fields = { tier = "Gold" } })
  t.eq(#crm:requests("GET"), 1)
end)

t.case("a tier the helpdesk does not offer: the event's record is quarantined as picklist_drift", function()
  crm:reset(); desk:reset()
  crm:route("GET", "/v1/accounts/acc-2", t.json { id = "acc-2", tier = "Platinum" })
  local sys = system()
  sys:deliver { ticket = { id = 102, account_id = "acc-2" } }
  local r = sys:run()
  t.eq(r.status, "partial")
  t.has(sys:quarantine(), { class = "picklist_drift" })
  t.eq(#desk:requests(), 0, "requests to the helpdesk")
end)

t.case("a delivery id is stored once however often it is delivered", function()
  crm:reset(); desk:reset()
  crm:route("GET", "/v1/accounts/acc-1", t.json { id = "acc-1", tier = "Silver" })
  desk:route("PUT", "/api/tickets/103", t.status(204))
  local sys = system()
  local body = { ticket = { id = 103, account_id = "acc-1" } }
  local first = sys:deliver(body, { delivery_id = "dlv-9" })
  t.eq(sys:deliver(body, { delivery_id = "dlv-9" }), first)
  sys:run()
  t.eq(#desk:requests("PUT"), 1)
end)
