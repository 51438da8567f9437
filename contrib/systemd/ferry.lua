-- /etc/ferry/ferry.lua: ferry serve under systemd (contrib/systemd/ferry.service).
-- Every key not named here keeps its default (see config/ferry.lua).
return {
  data_dir = "/var/lib/ferry",              -- the unit's StateDirectory
  script_dirs = { "/etc/ferry/scripts" },   -- saved scripts reload by themselves
  lock_wait = 0,                            -- a second instance fails at once
  timezone = "UTC",                         -- schedules without a tz of their own
  shutdown_grace = "30s",                   -- keep under the unit's TimeoutStopSec
  admin = {
    listen = "127.0.0.1:8787",
    token = os.getenv("FERRY_ADMIN_TOKEN"), -- from /etc/ferry/ferry.env
  },
  log = { level = "info", format = "json" }, -- to the journal
  integrations = {
    -- ["crm-accounts-to-reporting"] = { secrets = { "CRM_API_KEY" } },
  },
}
