-- ferry's config for the account-sync example (README.md beside it).
-- Relative paths are relative to this file.
return {
  data_dir = os.getenv("FERRY_DATA_DIR") or "data",
  script_dirs = { "scripts" },
  admin = { listen = os.getenv("FERRY_ADMIN_LISTEN") or "127.0.0.1:8797" },
  log = { level = "info", format = "text" },
  integrations = {
    -- the only environment variables it may read: the two API tokens (ctx:secret)
    ["account-sync"] = { secrets = { "CRM_TOKEN", "CS_TOKEN" } },
  },
}
