#!/usr/bin/env python3
"""Seeds the three connectors' fakes with the workflow cases' small sample
(make run): python3 seed_cases.py JIRA_URL VITALLY_URL HUBSPOT_URL.
Renewal dates are relative to today, so "renewing in 90 days" stays true."""
import datetime, json, sys, urllib.request

jira, vitally, hubspot = sys.argv[1:4]


def post(base, what, obj):
    req = urllib.request.Request(base + "/__fake/" + what, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


now = datetime.datetime.now(datetime.timezone.utc)
iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")
days = lambda n: iso(now + datetime.timedelta(days=n))

# Jira: Tier and Health select fields (Health has Green and Yellow only: a
# red account is picklist_drift), JSM organisations with their customers.
post(jira, "fields", [
    {"id": "customfield_10050", "name": "Tier", "options": ["Bronze", "Silver", "Gold"]},
    {"id": "customfield_10051", "name": "Health", "options": ["Green", "Yellow"]},
    {"id": "customfield_10002", "name": "Organizations",
     "schema": {"type": "array", "items": "sd-customerorganization",
                "custom": "com.atlassian.servicedesk:sd-customer-organizations"}}])
post(jira, "users", [
    {"accountId": "557058:ana", "accountType": "atlassian", "displayName": "Ana Silva",
     "emailAddress": "ana.silva@acme.com", "active": True},
    {"accountId": "557058:ben", "accountType": "atlassian", "displayName": "Ben Okafor",
     "emailAddress": "ben.okafor@acme.com", "active": True}])
post(jira, "organizations", [
    {"id": "1", "name": "Acme Corp", "members": ["70121:c3e1a2b4-cust-acme"]},
    {"id": "2", "name": "Globex", "members": ["70121:cust-globex"]},
    {"id": "3", "name": "Initech", "members": ["70121:cust-initech"]}])


def issue(key, summary, reporter, org, priority="Medium", done=False):
    return {"key": key, "fields": {
        "summary": summary, "reporter": {"accountId": reporter}, "priority": {"name": priority},
        "status": {"name": "Done" if done else "Open", "statusCategory": {"name": "Done" if done else "To Do"}},
        "customfield_10002": [{"id": "0", "name": org}], "labels": []}}


post(jira, "issues", [
    issue("SUP-101", "SSO login fails for all users since this morning", "70121:c3e1a2b4-cust-acme", "Acme Corp", "High"),
    issue("SUP-97", "Export to CSV times out", "70121:c3e1a2b4-cust-acme", "Acme Corp", "Highest"),
    issue("SUP-88", "Invoice shows the wrong VAT number", "70121:c3e1a2b4-cust-acme", "Acme Corp", done=True),
    issue("SUP-95", "Webhook deliveries delayed", "70121:cust-globex", "Globex"),
    issue("SUP-99", "Dashboard blank after upgrade", "70121:cust-initech", "Initech", "High")])

# Vitally: three accounts, two renewing within 90 days.
def account(aid, ext, name, tier, health, renewal):
    return {"id": aid, "externalId": ext, "name": name, "createdAt": "2025-03-01T09:00:00.000Z",
            "updatedAt": iso(now), "traits": {"vitally.custom.tier": tier}, "healthScore": health,
            "nextRenewalDate": renewal, "segments": [], "churnedAt": None}


post(vitally, "seed", {
    "accounts": [account("0f3c-acme", "ACME-001", "Acme Corp", "gold", 8.4, days(45)),
                 account("7a21-globex", "GLOBEX-002", "Globex", "silver", 6.1, days(80)),
                 account("c9d0-initech", "INITECH-003", "Initech", "bronze", 2.7, days(240))],
    "customFields": [
        {"id": "cf-1", "createdAt": "2025-01-01T00:00:00.000Z", "label": "Tier", "path": "vitally.custom.tier",
         "type": "select", "options": [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"},
                                       {"label": "Bronze", "value": "bronze"}]},
        {"id": "cf-2", "createdAt": "2025-01-01T00:00:00.000Z", "label": "Open tickets",
         "path": "vitally.custom.openTickets", "type": "number"},
        {"id": "cf-3", "createdAt": "2025-01-01T00:00:00.000Z", "label": "Escalated tickets",
         "path": "vitally.custom.escalatedTickets", "type": "number"}]})

# HubSpot: owners (Carla has no Jira user yet: lookup_missing) and companies.
post(hubspot, "seed", {
    "owners": [{"id": "501", "email": "ana.silva@acme.com", "firstName": "Ana", "lastName": "Silva"},
               {"id": "502", "email": "carla.diaz@acme.com", "firstName": "Carla", "lastName": "Diaz"}],
    "companies": [
        {"properties": {"name": "Acme Corp", "domain": "acme.example", "hubspot_owner_id": "501"},
         "modified": "2026-11-20T10:00:00Z"},
        {"properties": {"name": "Globex", "domain": "globex.example", "hubspot_owner_id": "502"},
         "modified": "2026-11-21T10:00:00Z"},
        {"properties": {"name": "Initech", "domain": "initech.example", "hubspot_owner_id": "501"},
         "modified": "2026-11-22T10:00:00Z"}]})
