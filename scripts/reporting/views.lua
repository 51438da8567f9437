-- The reporting cases' views (README, "Workflow cases", cases 4 and 5):
-- `operating_review` and `delivery_view`, made in the reporting database
-- (ferry.sink.reporting_db(): SQLite reporting.db by default, the config's
-- PostgreSQL `reporting` once there is one) by each of the cases' scripts at
-- the start of its extract. The SQL is the same on both databases except
-- for the few expressions in `dialect` (today's date in UTC on SQLite, in the
-- server's time zone on PostgreSQL; days between dates; a list of names).
-- Months are 'YYYY-MM' and dates 'YYYY-MM-DD' text columns, so they compare
-- as text on both.
--
-- Staffing and leave are read in full every run; the view takes the rows of
-- the run that wrote last (by _synced_at: run ids of one second do not sort
-- by time), so what was removed at the source drops out.
--
-- A view is made again only when missing or when its SQL changed here (a
-- version tag: a comment in SQLite's copy of the SQL, COMMENT ON VIEW in
-- PostgreSQL), so BI tools reading it are not disturbed every hour.
-- PostgreSQL checks a view's tables when it is made: there the view waits
-- (a log line names the missing tables) until every table it reads exists,
-- i.e. after each of its integrations has run once. SQLite makes it at once.
local M = {}

-- Won deals older than this without a project are flagged (case 5).
M.WON_WITHOUT_PROJECT_DAYS = 14
-- Leave within this many days from today, on a staffed project, is flagged.
M.LEAVE_HORIZON_DAYS = 14
-- A month's capacity: weekly hours × 52 / 12.
M.WEEKS_PER_MONTH = "52.0 / 12"

-- Which integrations feed each view's "data as of" columns, by source: the
-- oldest last good run among them (NULL until every one has had one).
M.OPERATING_REVIEW_SOURCES = {
  { "harvest", { "harvest-time-entries", "harvest-users", "harvest-projects" } },
  { "stripe", { "stripe-project-invoices" } },
  { "bamboohr", { "bamboohr-employees" } },
}
M.DELIVERY_VIEW_SOURCES = {
  { "hubspot", { "hubspot-won-deals" } },
  { "harvest", { "harvest-projects", "harvest-staffing" } },
  { "bamboohr", { "bamboohr-leave" } },
}

local dialect = {
  sqlite = {
    today = function(days)
      return days == 0 and "date('now')" or ("date('now', '%+d days')"):format(days)
    end,
    days_since = function(d) return ("CAST(julianday('now') - julianday(%s) AS INTEGER)"):format(d) end,
    names = function(x) return ("group_concat(DISTINCT %s)"):format(x) end,
    tables = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')",
    version = "SELECT sql AS v FROM sqlite_master WHERE type = 'view' AND name = ?",
  },
  postgres = {
    today = function(days)
      return days == 0 and "to_char(current_date, 'YYYY-MM-DD')"
        or ("to_char(current_date + (%d), 'YYYY-MM-DD')"):format(days)
    end,
    days_since = function(d) return ("(current_date - CAST(%s AS date))"):format(d) end,
    names = function(x) return ("string_agg(DISTINCT %s, ',' ORDER BY %s)"):format(x, x) end,
    tables = "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()",
    version = "SELECT obj_description(c.oid, 'pg_class') AS v FROM pg_class c "
      .. "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v' AND c.relname = $1 "
      .. "AND n.nspname = current_schema()",
  },
}

local function quoted_list(names)
  local out = {}
  for i, n in ipairs(names) do out[i] = "'" .. n .. "'" end
  return table.concat(out, ", ")
end

-- One "data as of" column per source, from ferry_freshness.
local function as_of(sources)
  local cols = {}
  for _, src in ipairs(sources) do
    local name, list = src[1], quoted_list(src[2])
    cols[#cols + 1] = ("CASE WHEN count(DISTINCT CASE WHEN integration IN (%s) AND last_good_at IS NOT NULL "
      .. "THEN integration END) = %d THEN min(CASE WHEN integration IN (%s) THEN last_good_at END) END AS %s_as_of")
      :format(list, #src[2], list, name)
  end
  return "SELECT " .. table.concat(cols, ",\n         ") .. " FROM ferry_freshness"
end

-- The operating review: per Harvest project code and month.
local function operating_review(d)
  return {
    reads = { "harvest_time_entries", "harvest_users", "harvest_projects", "bamboohr_employees",
              "stripe_invoices", "ferry_freshness" },
    sql = ([[
WITH t AS (
  SELECT project_code, month, max(project_name) AS project_name, max(client_name) AS client_name,
         sum(hours) AS hours, sum(CASE WHEN billable THEN hours ELSE 0 END) AS billable_hours,
         sum(cost) AS cost, sum(revenue) AS billable_value,
         count(DISTINCT CASE WHEN hours > 0 THEN user_id END) AS headcount
  FROM harvest_time_entries WHERE project_code IS NOT NULL AND project_code <> ''
  GROUP BY project_code, month),
people AS (
  SELECT project_code, month, user_id, sum(CASE WHEN billable THEN hours ELSE 0 END) AS billable_hours
  FROM harvest_time_entries GROUP BY project_code, month, user_id HAVING sum(hours) > 0),
cap AS (
  SELECT x.project_code, x.month, sum(e.fte) AS fte, sum(x.billable_hours) AS matched_billable_hours,
         sum(e.weekly_hours * %s) AS capacity_hours, count(e.employee_id) AS people_in_bamboohr
  FROM people x JOIN harvest_users u ON u.id = x.user_id
  JOIN bamboohr_employees e ON e.email = lower(u.email)
  GROUP BY x.project_code, x.month),
inv AS (
  SELECT project_code, month, min(currency) AS currency, sum(total_minor * 1.0 / minor_unit) AS invoiced,
         sum(amount_paid_minor * 1.0 / minor_unit) AS paid,
         count(*) AS invoices
  FROM stripe_invoices WHERE status IN ('open', 'paid', 'uncollectible')
  GROUP BY project_code, month),
k AS (SELECT project_code, month FROM t UNION SELECT project_code, month FROM inv),
f AS (%s)
SELECT k.project_code, k.month,
       coalesce(t.project_name, (SELECT max(name) FROM harvest_projects p WHERE p.code = k.project_code)) AS project_name,
       t.client_name,
       coalesce(t.hours, 0) AS hours, coalesce(t.billable_hours, 0) AS billable_hours,
       round(CAST(coalesce(t.cost, 0) AS numeric), 2) AS cost,
       round(CAST(coalesce(t.billable_value, 0) AS numeric), 2) AS billable_value,
       inv.currency, coalesce(inv.invoices, 0) AS invoices,
       round(CAST(coalesce(inv.invoiced, 0) AS numeric), 2) AS revenue,
       round(CAST(coalesce(inv.paid, 0) AS numeric), 2) AS paid,
       round(CAST(coalesce(inv.invoiced, 0) - coalesce(t.cost, 0) AS numeric), 2) AS margin,
       round(CAST((coalesce(inv.invoiced, 0) - coalesce(t.cost, 0)) / NULLIF(inv.invoiced, 0) AS numeric), 4) AS margin_pct,
       coalesce(t.headcount, 0) AS headcount, coalesce(cap.people_in_bamboohr, 0) AS people_in_bamboohr,
       round(CAST(cap.fte AS numeric), 3) AS fte,
       round(CAST(cap.capacity_hours AS numeric), 2) AS capacity_hours,
       round(CAST(cap.matched_billable_hours / NULLIF(cap.capacity_hours, 0) AS numeric), 4) AS utilisation,
       f.harvest_as_of, f.stripe_as_of, f.bamboohr_as_of
FROM k LEFT JOIN t ON t.project_code = k.project_code AND t.month = k.month
LEFT JOIN cap ON cap.project_code = k.project_code AND cap.month = k.month
LEFT JOIN inv ON inv.project_code = k.project_code AND inv.month = k.month
CROSS JOIN f]]):format(M.WEEKS_PER_MONTH, as_of(M.OPERATING_REVIEW_SOURCES)),
  }
end

-- The delivery manager's view: a row per Harvest project, and one per won
-- deal that no project carries the code of.
local function delivery_view(d)
  local today, horizon = d.today(0), d.today(M.LEAVE_HORIZON_DAYS - 1)
  local cutoff = d.today(-M.WON_WITHOUT_PROJECT_DAYS)
  return {
    reads = { "hubspot_deals", "harvest_projects", "harvest_staffing", "bamboohr_leave_days",
              "ferry_freshness" },
    sql = ([[
WITH won AS (
  SELECT deal_id, deal_name, amount, won_on, promised_start, scope, project_code
  FROM hubspot_deals WHERE stage = 'closedwon'),
staff AS (
  SELECT project_id, user_id, user_name, lower(user_email) AS email FROM harvest_staffing
  WHERE _run_id = (SELECT _run_id FROM harvest_staffing ORDER BY _synced_at DESC LIMIT 1)),
lv AS (
  SELECT email, leave_date FROM bamboohr_leave_days
  WHERE _run_id = (SELECT _run_id FROM bamboohr_leave_days ORDER BY _synced_at DESC LIMIT 1) AND leave_date >= %s AND leave_date <= %s),
clash AS (
  SELECT s.project_id, count(DISTINCT s.user_id) AS people_on_leave, min(l.leave_date) AS first_leave_day,
         %s AS on_leave
  FROM staff s JOIN harvest_projects p ON p.id = s.project_id JOIN lv l ON l.email = s.email
  WHERE p.is_active AND (p.starts_on IS NULL OR l.leave_date >= p.starts_on) AND (p.ends_on IS NULL OR l.leave_date <= p.ends_on)
  GROUP BY s.project_id),
ppl AS (SELECT project_id, count(DISTINCT user_id) AS people FROM staff GROUP BY project_id),
f AS (%s)
SELECT p.code AS project_code, p.id AS project_id, p.name AS project_name, p.client_name, p.is_active,
       p.starts_on, p.ends_on, w.deal_id, w.deal_name, w.amount AS deal_amount, w.won_on,
       w.promised_start, w.scope, coalesce(ppl.people, 0) AS people,
       coalesce(c.people_on_leave, 0) AS people_on_leave, c.on_leave, c.first_leave_day,
       0 AS flag_won_without_project,
       CASE WHEN c.project_id IS NULL THEN 0 ELSE 1 END AS flag_staff_on_leave,
       CASE WHEN c.project_id IS NOT NULL THEN
         CAST(c.people_on_leave AS text) || ' staffed on approved leave in the next %d days (from '
         || c.first_leave_day || '): ' || c.on_leave END AS reason,
       f.hubspot_as_of, f.harvest_as_of, f.bamboohr_as_of
FROM harvest_projects p LEFT JOIN won w ON w.project_code = p.code
LEFT JOIN ppl ON ppl.project_id = p.id LEFT JOIN clash c ON c.project_id = p.id CROSS JOIN f
UNION ALL
SELECT w.project_code, NULL, NULL, NULL, NULL, NULL, NULL, w.deal_id, w.deal_name, w.amount, w.won_on,
       w.promised_start, w.scope, 0, 0, NULL, NULL,
       CASE WHEN substr(w.won_on, 1, 10) < %s THEN 1 ELSE 0 END, 0,
       CASE WHEN substr(w.won_on, 1, 10) < %s THEN
         'won ' || CAST(%s AS text) || ' days ago (' || substr(w.won_on, 1, 10)
         || '), no Harvest project with code ' || w.project_code END,
       f.hubspot_as_of, f.harvest_as_of, f.bamboohr_as_of
FROM won w CROSS JOIN f
WHERE NOT EXISTS (SELECT 1 FROM harvest_projects p WHERE p.code = w.project_code)]]):format(
      today, horizon, d.names("s.user_name"), as_of(M.DELIVERY_VIEW_SOURCES), M.LEAVE_HORIZON_DAYS,
      cutoff, cutoff, d.days_since("substr(w.won_on, 1, 10)")),
  }
end

M.VIEWS = { operating_review = operating_review, delivery_view = delivery_view }
M.ORDER = { "operating_review", "delivery_view" }

-- A short, stable tag of the SQL (so a changed definition is made again).
local function tag(sql)
  local h = 5381
  for i = 1, #sql do h = (h * 33 + sql:byte(i)) % 4294967296 end
  return ("ferry-view-%08x"):format(h)
end

-- publish(ctx): (re)make the views whose tables exist and whose SQL changed.
-- Errors are logged and never fail the run: the data still loads (two runs
-- making a view at once under `ferry serve`: one warns, the next run checks
-- again). A dry run writes nothing, views included.
function M.publish(ctx)
  if ctx.dry_run then return end
  local ok, err = pcall(function()
    local db = ferry.sink.reporting_db()
    local d = dialect[db.kind]
    local have = {}
    for _, r in ipairs(db.rows(d.tables)) do have[r.name] = true end
    for _, name in ipairs(M.ORDER) do
      local v = M.VIEWS[name](d)
      local missing = {}
      for _, t in ipairs(v.reads) do
        if not have[t] then missing[#missing + 1] = t end
      end
      local t = tag(v.sql)
      local cur = db.rows(d.version, { name })[1]
      if cur and cur.v and tostring(cur.v):find(t, 1, true) then
        -- up to date
      elseif db.kind == "postgres" and #missing > 0 then
        ctx.log.info("view " .. name .. " waits for its tables", { missing = table.concat(missing, ", ") })
      else
        db.exec("DROP VIEW IF EXISTS " .. name)
        if db.kind == "sqlite" then
          db.exec("CREATE VIEW " .. name .. " AS /* " .. t .. " */\n" .. v.sql)
        else
          db.exec("CREATE VIEW " .. name .. " AS\n" .. v.sql)
          db.exec("COMMENT ON VIEW " .. name .. " IS '" .. t .. "'")
        end
        ctx.log.info("view " .. name .. " made", { version = t })
      end
    end
  end)
  if not ok then ctx.log.warn("cannot make the reporting views (the run goes on)", { error = tostring(err) }) end
end

return M
