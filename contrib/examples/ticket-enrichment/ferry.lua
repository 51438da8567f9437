-- ferry's config for the ticket-enrichment example (README.md beside it).
-- Relative paths are relative to this file.
return {
  data_dir = os.getenv("FERRY_DATA_DIR") or "data",
  script_dirs = { "scripts" },
  admin = { listen = os.getenv("FERRY_ADMIN_LISTEN") or "127.0.0.1:8787" },
  -- POST http://127.0.0.1:8788/hooks/ticket-created
  hooks = { listen = os.getenv("FERRY_HOOKS_LISTEN") or "127.0.0.1:8788", max_body = "256KB" },
  log = { level = "info", format = "json" },
  integrations = {
    -- the only environment variables it may read: the two API tokens
    -- (ctx:secret) and the token the helpdesk's webhook sends (ferry reads
    -- that one itself; the script never sees it)
    ["ticket-enrichment"] = { secrets = { "CRM_TOKEN", "HELPDESK_TOKEN", "HELPDESK_WEBHOOK_TOKEN" } },
  },
}
