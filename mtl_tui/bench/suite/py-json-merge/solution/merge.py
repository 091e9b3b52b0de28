import json

users = json.load(open("users.json"))
orders = json.load(open("orders.json"))
totals = {u["id"]: 0 for u in users}
for order in orders:
    totals[order["user_id"]] = totals.get(order["user_id"], 0) + order["amount"]
report = sorted(
    ({"name": u["name"], "total": totals[u["id"]]} for u in users), key=lambda r: r["name"]
)
json.dump(report, open("report.json", "w"))
