#!/usr/bin/env python3
"""Writes Docker json-file logs like the seed's JSON logger: 80% INFO, 10% WARN, 10% ERROR (stderr).

usage: gen.py DIR FILES LINES_PER_FILE
"""
import json, os, random, sys
from datetime import datetime, timedelta, timezone

out, files, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
tags = ["api", "db", "worker", "auth", "cache"]
msgs = ["request completed", "user logged in", "cache miss", "job finished", "slow query detected", "upstream timeout"]
start = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
for f in range(files):
    cid = "%064x" % rng.getrandbits(256)
    d = os.path.join(out, cid)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, cid + "-json.log"), "w") as fh:
        t = start
        for i in range(lines):
            r = rng.random()
            level, stream = ("INFO", "stdout") if r < 0.8 else (("WARN", "stdout") if r < 0.9 else ("ERROR", "stderr"))
            t += timedelta(microseconds=rng.randint(50, 2000))
            app = {
                "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "level": level,
                "tag": rng.choice(tags),
                "message": rng.choice(msgs),
                "context": {"requestId": "req-%08x" % rng.getrandbits(32), "statusCode": rng.choice([200, 200, 200, 201, 404, 500]), "durationMs": rng.randint(1, 3000)},
            }
            line = json.dumps(app, separators=(",", ":")) + "\n"
            fh.write(json.dumps({"log": line, "stream": stream, "time": t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"}, separators=(",", ":")) + "\n")
