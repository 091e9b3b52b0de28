import json

report = json.load(open("report.json"))
assert report == [
    {"name": "Ada", "total": 12.5},
    {"name": "Grace", "total": 2},
    {"name": "Linus", "total": 0},
], report
print("ok")
