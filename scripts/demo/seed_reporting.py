#!/usr/bin/env python3
"""The sample data of the two reporting cases (README, "Workflow cases",
cases 4 and 5), seeded into the connectors' own fakes through their
/__fake/seed controls. Used by `make run` (scripts/demo/run_cases.sh) and by
tests/e2e/test_reporting_cases.sh, which checks the views against the
numbers below, worked out by hand.

Usage: seed_reporting.py HARVEST_URL STRIPE_URL BAMBOOHR_URL HUBSPOT_URL

Case 4, the operating review (fixed dates: November 2026):
  P-1001 "Acme Rollout", 2026-11, time entries:
    Ana  8.0 h + 6.0 h billable at 150, cost rate 60  -> cost 840.0, value 2100
    Ben  7.5 h billable at 150, cost rate 55          -> cost 412.5, value 1125
    Ben  2.0 h not billable, cost rate 55             -> cost 110.0
    Dev  4.0 h billable at 150, cost rate 90          -> cost 360.0, value 600 (a contractor, not in BambooHR)
    hours 27.5, billable 25.5, cost 1722.50, headcount 3 (2 of them in BambooHR)
    invoices (metadata.project = P-1001): in_1001 4500.00 paid, in_1002 1200.50 open,
      in_1004 999.00 draft (not revenue) -> revenue 5700.50, paid 4500.00
    margin 5700.50 - 1722.50 = 3978.00; margin_pct 3978 / 5700.5 = 0.6978
    capacity: Ana 40 h/week + Ben 20 h/week = 60 x 52 / 12 = 260.00 h; FTE 1.5
    utilisation: billable hours of those two (14 + 7.5 = 21.5) / 260 = 0.0827
  in_1005 (paid, no metadata.project) is quarantined: validation.

Case 5, the delivery manager's view (dates relative to today, UTC):
  deals won: 9001 -> P-1001, 9002 -> P-1002, 9006 -> P-1003 (project_code set);
    9003 won 30 days ago, no project_code, no project HS-9003 -> flagged;
    9004 won 5 days ago, no project yet -> not flagged (14 days not passed);
    9005 not won; 9007 won, promised_start_date "next spring" -> quarantined (validation).
  leave (approved): Ben (on P-1001) in 3 and 4 days -> P-1001 flagged;
    Cleo (on P-1002) in 20 days -> beyond 14 days, not flagged;
    Eve (on P-1003, which ended yesterday) in 5 days -> after the project, not flagged;
    Ana: a denied request in 2 days -> not read;
    Finn (no work email) in 2 days -> quarantined (validation).
"""
import datetime
import json
import sys
import urllib.request

HARVEST, STRIPE, BAMBOOHR, HUBSPOT = sys.argv[1:5]
today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
day = lambda n: (today + datetime.timedelta(days=n)).strftime("%Y-%m-%d")
iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
nov = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)


def seed(base, body):
    req = urllib.request.Request(base + "/__fake/seed", method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


# -- Harvest ------------------------------------------------------------------
clients = [{"id": 501 + i, "name": n, "currency": "USD", "is_active": True, "created_at": iso(nov),
            "updated_at": iso(nov)} for i, n in enumerate(["Acme Corp", "Globex", "Stark Industries"])]
people = [  # id, first, last, cost rate, weekly capacity (s), contractor
    (9001, "Ana", "Silva", 60.0, 144000, False), (9002, "Ben", "Okafor", 55.0, 72000, False),
    (9003, "Cleo", "Park", 70.0, 144000, False), (9004, "Dev", "Rao", 90.0, 144000, True),
    (9005, "Eve", "Lim", 65.0, 115200, False)]
users = [{"id": i, "first_name": f, "last_name": l, "email": "%s.%s@Agency.example" % (f.lower(), l.lower()),
          "is_active": True, "is_contractor": c, "weekly_capacity": cap, "cost_rate": cr,
          "default_hourly_rate": 150.0, "roles": ["Consultant"], "created_at": iso(nov), "updated_at": iso(nov)}
         for i, f, l, cr, cap, c in people]
U = {u["id"]: u for u in users}
projects = []
for pid, code, name, client, starts, ends in [
        (14200001, "P-1001", "Acme Rollout", 0, "2026-10-01", None),
        (14200002, "P-1002", "Globex Data Platform", 1, "2026-11-01", day(120)),
        (14200003, "P-1003", "Stark Support", 2, "2026-06-01", day(-1))]:
    c = clients[client]
    projects.append({"id": pid, "name": name, "code": code, "is_active": True, "is_billable": True,
                     "is_fixed_fee": False, "bill_by": "Project", "hourly_rate": 150.0, "budget_by": "project",
                     "budget": 400.0, "cost_budget": None, "budget_is_monthly": False, "fee": None, "notes": "",
                     "starts_on": starts, "ends_on": ends,
                     "client": {"id": c["id"], "name": c["name"], "currency": "USD"},
                     "created_at": iso(nov), "updated_at": iso(nov)})
P = {p["code"]: p for p in projects}
tasks = [{"id": 701, "name": "Development", "billable_by_default": True, "default_hourly_rate": 150.0,
          "is_active": True, "created_at": iso(nov), "updated_at": iso(nov)},
         {"id": 702, "name": "Internal", "billable_by_default": False, "default_hourly_rate": None,
          "is_active": True, "created_at": iso(nov), "updated_at": iso(nov)}]
ref = lambda p: {"id": p["id"], "name": p["name"], "code": p["code"]}
uref = lambda u: {"id": u["id"], "name": u["first_name"] + " " + u["last_name"]}
assignments = [{"id": 3100 + n, "user": uref(U[uid]), "project": ref(P[code]), "is_active": True,
                "is_project_manager": n == 0, "use_default_rates": True, "hourly_rate": None, "budget": None,
                "created_at": iso(nov), "updated_at": iso(nov)}
               for n, (uid, code) in enumerate([(9001, "P-1001"), (9002, "P-1001"), (9004, "P-1001"),
                                                (9001, "P-1002"), (9003, "P-1002"), (9005, "P-1003")])]
entries = []
for n, (uid, code, spent, hours, billable) in enumerate([
        (9001, "P-1001", "2026-11-03", 8.0, True), (9001, "P-1001", "2026-11-10", 6.0, True),
        (9002, "P-1001", "2026-11-04", 7.5, True), (9002, "P-1001", "2026-11-05", 2.0, False),
        (9004, "P-1001", "2026-11-06", 4.0, True), (9001, "P-1001", "2026-10-28", 4.0, True),
        (9003, "P-1002", "2026-11-12", 5.0, True), (9001, "P-1002", "2026-11-20", 3.0, True)]):
    u, p = U[uid], P[code]
    when = nov + datetime.timedelta(hours=n)
    entries.append({"id": 2000001 + n, "spent_date": spent, "hours": hours, "notes": "", "is_locked": False,
                    "is_closed": False, "is_billed": False, "is_running": False, "billable": billable,
                    "budgeted": True, "billable_rate": 150.0 if billable else None, "cost_rate": u["cost_rate"],
                    "created_at": iso(when), "updated_at": iso(when), "user": uref(u),
                    "client": dict(p["client"]), "project": ref(p), "task": {"id": 701 if billable else 702,
                    "name": "Development" if billable else "Internal"}})
seed(HARVEST, {"clients": clients, "users": users, "tasks": tasks, "projects": projects,
               "user_assignments": assignments, "time_entries": entries})

# -- Stripe -------------------------------------------------------------------
ts = lambda y, m, d: int(datetime.datetime(y, m, d, 12, tzinfo=datetime.timezone.utc).timestamp())
customers = [{"id": "cus_acme", "object": "customer", "created": ts(2026, 9, 1), "email": "ap@acme.example",
              "name": "Acme Corp", "currency": "usd", "metadata": {}, "livemode": False, "delinquent": False,
              "balance": 0}]
invoices = []
for n, (iid, project, status, total, fin) in enumerate([
        ("in_1001", "P-1001", "paid", 450000, ts(2026, 11, 30)), ("in_1002", "P-1001", "open", 120050, ts(2026, 11, 15)),
        ("in_1003", "P-1002", "paid", 90000, ts(2026, 11, 20)), ("in_1004", "P-1001", "draft", 99900, None),
        ("in_1005", None, "paid", 50000, ts(2026, 11, 25)), ("in_1006", None, "void", 7000, ts(2026, 11, 2))]):
    paid = total if status == "paid" else 0
    created = (fin or ts(2026, 11, 28)) - 600
    invoices.append({
        "id": iid, "object": "invoice", "created": created, "customer": "cus_acme", "customer_email": "ap@acme.example",
        "currency": "usd", "status": status, "number": "INV-%s" % iid[3:] if fin else None,
        "total": total, "subtotal": total, "amount_due": total, "amount_paid": paid, "amount_remaining": total - paid,
        "period_start": created - 30 * 86400, "period_end": created,
        "status_transitions": {"finalized_at": fin, "paid_at": fin + 60 if status == "paid" else None,
                               "voided_at": fin if status == "void" else None, "marked_uncollectible_at": None},
        "parent": None, "metadata": {"project": project} if project else {},
        "lines": {"object": "list", "data": [], "has_more": False}})
invoices.sort(key=lambda i: -i["created"])
seed(STRIPE, {"customers": customers, "invoices": invoices, "subscriptions": [], "events": []})

# -- BambooHR -----------------------------------------------------------------
emps = []
for eid, f, l, hours, status in [("1", "Ana", "Silva", "40", "Full-Time"), ("2", "Ben", "Okafor", "20", "Part-Time"),
                                 ("3", "Cleo", "Park", "40", "Full-Time"), ("4", "Eve", "Lim", "32", "Part-Time"),
                                 ("5", "Finn", "Berg", "40", "Full-Time")]:
    emps.append({"id": eid, "firstName": f, "lastName": l, "displayName": f + " " + l,
                 "workEmail": "%s.%s@agency.example" % (f.lower(), l.lower()) if f != "Finn" else "",
                 "department": "Delivery", "division": "North", "jobTitle": "Consultant", "location": "Lisbon",
                 "status": "Active", "hireDate": "2025-01-06", "terminationDate": "0000-00-00",
                 "supervisor": "Ana Silva", "supervisorEId": "1", "standardHoursPerWeek": hours,
                 "employmentHistoryStatus": status, "lastChanged": iso(nov), "action": "Inserted"})


def leave(rid, emp, name, first, last, status):
    dates = {day(n): 1 for n in range(first, last + 1)}
    return {"id": rid, "employeeId": emp, "name": name, "start": day(first), "end": day(last), "created": day(-10),
            "status": {"lastChanged": day(-9), "lastChangedByUserId": 1, "status": status},
            "type": {"id": 78, "name": "Vacation", "icon": "palm-trees"},
            "amount": {"unit": "days", "amount": len(dates)}, "dates": dates, "notes": {}}


time_off = [leave(501, 2, "Ben Okafor", 3, 4, "approved"), leave(502, 3, "Cleo Park", 20, 20, "approved"),
            leave(503, 4, "Eve Lim", 5, 5, "approved"), leave(504, 1, "Ana Silva", 2, 2, "denied"),
            leave(505, 5, "Finn Berg", 2, 2, "approved")]
seed(BAMBOOHR, {"employees": emps, "timeOff": time_off, "holidays": []})

# -- HubSpot ------------------------------------------------------------------
hs_day = lambda n: day(n) + "T10:00:00.000Z"
deals = []
for did, name, stage, won, start, scope, code in [
        ("9001", "Acme Rollout", "closedwon", -60, 10 - 60, "Roll out to 3 regions, 400 h", "P-1001"),
        ("9002", "Globex Data Platform", "closedwon", -40, -35, "Data platform MVP", "P-1002"),
        ("9003", "Initech Audit", "closedwon", -30, 7, "Security audit, 80 h", None),
        ("9004", "Umbrella Pilot", "closedwon", -5, 21, "Pilot, 2 people for 4 weeks", None),
        ("9005", "Hooli Migration", "appointmentscheduled", None, None, None, None),
        ("9006", "Stark Support", "closedwon", -200, -190, "Support retainer", "P-1003"),
        ("9007", "Wayne Discovery", "closedwon", -3, "next spring", "Discovery workshop", None)]:
    props = {"dealname": name, "dealstage": stage, "amount": "25000"}
    if won is not None:
        props["closedate"] = hs_day(won)
    if start is not None:
        props["promised_start_date"] = start if isinstance(start, str) else day(start)
    if scope:
        props["delivery_scope"] = scope
    if code:
        props["project_code"] = code
    deals.append({"id": did, "properties": props})
seed(HUBSPOT, {"deals": deals})
