-- Where the two systems are: the one file to edit when pointing the example
-- at your own CRM and CS platform. account_sync.lua reads it with require.
-- Tokens are not here: they are secrets, granted in the config and read
-- with ctx:secret.
return {
  crm_url = "http://127.0.0.1:8811",     -- GET {crm_url}/accounts?after=ID&limit=N
  cs_url = "http://127.0.0.1:8812",      -- users, tier options, accounts search and batch upsert
  page_size = 100,                       -- CRM accounts per request (the CRM allows up to 200)
  -- How long the CS platform's tier options are trusted before they are
  -- fetched again. Shorter than the schedule: every run sees the current
  -- list, and a change there is reported on the run after it.
  tier_options_ttl = "30m",
}
