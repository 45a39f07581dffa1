"""Locust's side of scripts/bench.sh's `scenario` mode: the flow of
scripts/bench-scenario.toml (login with a data row, the token from the JSON body,
the items with the token, the first item's id by regex, checkout with the token and
the session cookie, no think time), as a FastHttpUser (Locust's faster client).

Run by scripts/bench.py as
    locust -f scripts/bench_locust.py --headless -u C -r C --run-time Ds -H URL --only-summary
in a venv under /tmp/barrage-bench (bench.sh installs it when TOOLS includes locust).
A failed step ends the iteration, as in barrage.
"""
import csv
import itertools
import os
import re

from locust import FastHttpUser, constant, task

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "..", "examples", "users.csv"), newline="") as f:
    ROWS = [(r["user"], r["password"]) for r in csv.DictReader(f)]
NEXT_ROW = itertools.cycle(ROWS)  # sequential rows, shared by the users of this process
ITEM = re.compile(r'"id":\s*(\d+)')


class Shopper(FastHttpUser):
    wait_time = constant(0)  # no think time: the next iteration at once

    @task
    def buy(self):
        user, password = next(NEXT_ROW)
        # Each iteration is a new session, as in barrage (its jar is emptied).
        self.client.cookiejar.clear()
        with self.client.post("/login", data=f"user={user}&password={password}",
                              headers={"Content-Type": "application/x-www-form-urlencoded"},
                              name="login", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
                return
            token = r.json().get("token")
            if not token:
                r.failure("capture failed")
                return
        with self.client.get(f"/items?token={token}", name="items", catch_response=True) as r:
            m = ITEM.search(r.text or "") if r.status_code == 200 else None
            if not m:
                r.failure(f"status {r.status_code}" if r.status_code != 200 else "capture failed")
                return
        with self.client.post("/checkout", data=f'{{"item": {m.group(1)}}}',
                              headers={"Authorization": f"Bearer {token}",
                                       "Content-Type": "application/json"},
                              name="checkout", catch_response=True) as r:
            if not 200 <= r.status_code < 300:
                r.failure(f"status {r.status_code}")
