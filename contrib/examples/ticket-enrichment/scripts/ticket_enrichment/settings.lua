-- Where the two systems are and which ticket fields the example writes:
-- the one file to edit when pointing the example at your own CRM and
-- helpdesk. ticket_enrichment.lua reads it with require. Tokens are not
-- here: they are secrets, granted in the config and read with ctx:secret.
return {
  crm_url = "http://127.0.0.1:8801",          -- GET {crm_url}/accounts/{id}
  helpdesk_url = "http://127.0.0.1:8802",     -- PUT {helpdesk_url}/api/v2/tickets/{id}
  helpdesk_email = "ferry@example.com",       -- Zendesk API tokens authenticate as "EMAIL/token"
  fields = {                                  -- the helpdesk's custom field ids
    tier = 360001,                            -- a dropdown: enterprise, growth, starter
    health_score = 360002,                    -- a number, 0-100
  },
}
