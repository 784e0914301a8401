#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check tcptriage's verdicts against the ground truth that the capture
generator wrote for each of our own captures (captures/NAME.pcap.expect.json:
what scripts/make-captures played). Unlike the golden test, this does not
care about other fields: it asserts verdict, reset_by and stall kind per
connection, matched by 4-tuple in start order.

usage: check_expect.py BIN EXPECT_JSON...
"""
import collections
import json
import os
import subprocess
import sys


def run(binary, capture):
    wrapper = os.environ.get("TCPTRIAGE_WRAPPER", "").split()
    out = subprocess.run(wrapper + [binary, "--format", "json", "-r", capture], capture_output=True,
                         text=True, timeout=120)
    if out.returncode not in (0, 1):
        raise SystemExit(f"{capture}: exit {out.returncode}: {out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def main():
    binary = sys.argv[1]
    bad = total = 0
    for path in sys.argv[2:]:
        spec = json.load(open(path))
        capture = os.path.join(os.path.dirname(path), spec["capture"])
        objs = run(binary, capture)
        if not objs or objs[-1].get("type") != "summary":
            print(f"{capture}: last line is not the summary")
            bad += 1
        conns = collections.defaultdict(list)
        for o in objs:
            if o.get("type") == "connection":
                conns[(o["client"], o["client_port"], o["server"], o["server_port"])].append(o)
        for lst in conns.values():
            lst.sort(key=lambda o: (o["start"], o["first_frame"]))
        seen = collections.Counter()
        for exp in spec["connections"]:
            total += 1
            k = (exp["client"], exp["client_port"], exp["server"], exp["server_port"])
            lst = conns.get(k, [])
            if seen[k] >= len(lst):
                print(f"{capture}: {k}: missing (expected {exp['verdict']})")
                bad += 1
                continue
            got = lst[seen[k]]
            seen[k] += 1
            accept = exp.get("accept") or [exp["verdict"]]
            problems = []
            if got["verdict"] not in accept:
                problems.append(f"verdict {got['verdict']} (expected {'|'.join(accept)})")
            if exp.get("reset_by") and got["verdict"] == "reset" and got["reset_by"] != exp["reset_by"]:
                problems.append(f"reset_by {got['reset_by']} (expected {exp['reset_by']})")
            if exp.get("stall_kind"):
                kind = (got.get("stall") or {}).get("kind")
                if kind != exp["stall_kind"]:
                    problems.append(f"stall.kind {kind} (expected {exp['stall_kind']})")
            if problems:
                bad += 1
                print(f"{capture}: {k}: " + ", ".join(problems))
        extra = sum(len(v) for v in conns.values()) - sum(seen.values())
        if extra:
            bad += 1
            print(f"{capture}: {extra} connection(s) reported that the generator did not play")
    print(f"{total - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
