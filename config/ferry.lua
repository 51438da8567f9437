-- ferry's engine configuration. Every key is optional: these are the
-- built-in defaults. Unknown keys and wrong types are errors that name the key.
-- Relative paths (here and in integrations' dirs and script) are relative to
-- this file's directory, wherever ferry is started from: "../data" is the
-- data/ folder beside config/. A relative FERRY_DATA_DIR is read the same way.
return {
  -- Where ferry writes: reporting databases, the quarantine, state.
  data_dir = os.getenv("FERRY_DATA_DIR") or "../data",

  -- Where integration scripts live: `ferry run NAME` and `ferry check` find
  -- them here by file name or integration name.
  script_dirs = { "../scripts" },

  -- Directory holding ferry's Lua library (ferry/prelude.lua, ...). Leave
  -- unset to use the one next to the binary or under the install prefix.
  -- lualib_path = "/usr/local/share/ferry/lualib",

  -- Records handed to a load hook at a time, unless a script sets batch_size.
  batch_size = 500,

  -- How long a run or replay waits while another ferry process uses
  -- data_dir (0: fail at once). Reports never wait.
  lock_wait = "60s",

  -- Time zone of schedules that do not name one (cron fields are wall-clock
  -- times there, daylight saving included). Zone rules come from tzdata.
  timezone = "UTC",

  -- ferry serve: how long runs may go on after SIGTERM to reach a checkpoint
  -- before they are stopped and recorded as aborted.
  shutdown_grace = "30s",

  -- ferry serve's admin API (and what the CLI talks to while it runs).
  -- Every endpoint but /healthz and /readyz needs "Authorization: Bearer
  -- TOKEN"; a listener on a non-loopback address must have a token.
  admin = {
    listen = "127.0.0.1:8787",
    token = os.getenv("FERRY_ADMIN_TOKEN"),
    -- GET /metrics (Prometheus): open on a loopback listener; elsewhere it
    -- needs the token unless this says "open" (for a scraper without one).
    metrics = "token",
  },

  -- ferry serve's webhook listener: POST /hooks/PATH for scripts with
  -- trigger = { webhook = ... }. Separate from the admin listener, so one
  -- can be exposed (behind TLS) and the other not.
  hooks = {
    listen = "127.0.0.1:8788",
    max_body = "1MB",               -- larger bodies get 413 without being read
  },

  log = {
    level = "info",     -- debug | info | warn | error | off
    format = "json",    -- json (one object per line on stderr) | text
  },

  -- Defaults for every HTTP client (scripts can override per client or call).
  http = {
    timeout = "30s",                -- a whole request, per attempt
    connect_timeout = "10s",
    max_response_size = "64MB",     -- larger bodies are a validation error, not an OOM
    max_redirects = 5,
    -- ca_file = "/etc/ferry/ca.pem",  -- an extra CA bundle (TLS is always verified)
  },

  -- Per-integration guards, so one runaway script cannot hang or starve the engine.
  limits = {
    memory = "256MB",               -- Lua memory per integration
    instructions = 200000000,       -- VM instructions a hook may run without returning
    call_time = "60s",              -- wall-clock time a script may run without handing back control
    run_time = "6h",                -- one whole run, waiting included
  },

  -- What each integration may reach beyond its sandbox (README, "Security
  -- model"): secrets = env vars ctx:secret may read, dirs = extra directories
  -- its readers may open, trusted = io, os and any path. Keyed by name; "*"
  -- for every integration without an entry of its own.
  integrations = {
    -- ["crm-accounts-to-reporting"] = { secrets = { "CRM_API_KEY" } },
    -- The workflow cases (README, "Workflow cases"): each may read only the
    -- vendors' keys it uses. JIRA_HOOK_SECRET is the Jira webhook's secret.
    ["tier-on-ticket"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY", "JIRA_HOOK_SECRET" } },
    ["tier-on-ticket-reconcile"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY" } },
    ["renewal-ticket-counts"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY" } },
    ["hubspot-accounts"] = { secrets = { "HUBSPOT_TOKEN", "JIRA_API_TOKEN" } },
    -- The reporting cases (README, "Workflow cases", cases 4 and 5). They load
    -- through ferry.sink.reporting: into reporting.db in data_dir, or into the
    -- PostgreSQL database "reporting" once `databases` below names one; then
    -- uncomment `databases = { "reporting" }` in each grant as well.
    ["harvest-time-entries"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } },   -- databases = { "reporting" },
    ["harvest-users"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } },          -- databases = { "reporting" },
    ["harvest-projects"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } },       -- databases = { "reporting" },
    ["harvest-staffing"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } },       -- databases = { "reporting" },
    ["stripe-project-invoices"] = { secrets = { "STRIPE_API_KEY" } },                     -- databases = { "reporting" },
    ["bamboohr-employees"] = { secrets = { "BAMBOOHR_API_KEY" } },                        -- databases = { "reporting" },
    ["bamboohr-leave"] = { secrets = { "BAMBOOHR_API_KEY" } },                            -- databases = { "reporting" },
    ["hubspot-won-deals"] = { secrets = { "HUBSPOT_TOKEN" } },                            -- databases = { "reporting" },
  },

  -- PostgreSQL as the reporting layer (README, "PostgreSQL as the reporting
  -- layer"): with this, ferry.sink.reporting loads into it instead of
  -- reporting.db. The password comes from the environment, never from here.
  -- databases = {
  --   reporting = { url = "postgresql://ferry@db.internal:5432/reporting", password_env = "FERRY_PG_PASSWORD" },
  -- },
}
