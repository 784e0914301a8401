#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the findings (production-trap diagnoses) on our own captures.

For every capture, the set of finding kinds must equal the one in
tests/expected_findings.json (none for captures not listed: a healthy or
single-problem capture must not raise a diagnosis). Every finding must carry
its evidence: subject, statement, confidence, connection ids that exist in
the output, evidence frames, and check commands; findings come after the
connections and before the summary; --fail-on KIND exits 1 exactly when the
kind is present.

usage: check_findings.py BIN CAPTURES_DIR EXPECTED_JSON
"""
import glob
import json
import os
import subprocess
import sys


def main():
    binary, capdir, expected_path = sys.argv[1:4]
    expected = json.load(open(expected_path))
    bad = total = 0
    for cap in sorted(glob.glob(os.path.join(capdir, "*.pcap"))):
        name = os.path.basename(cap)[:-5]
        want = sorted(expected.get(name, []))
        out = subprocess.run([binary, "--format", "json", "-r", cap], capture_output=True,
                             text=True, timeout=120)
        objs = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
        ids = {o["id"] for o in objs if o["type"] == "connection"}
        types = [o["type"] for o in objs]
        finds = [o for o in objs if o["type"] == "finding"]
        got = sorted({f["kind"] for f in finds})
        problems = []
        if got != want:
            problems.append(f"finding kinds {got}, expected {want}")
        if finds:
            first = types.index("finding")
            if any(t == "connection" for t in types[first:]) or types[-1] != "summary":
                problems.append("findings must follow the connections and precede the summary")
        for f in finds:
            for key in ("subject", "statement", "confidence"):
                if not f.get(key):
                    problems.append(f"{f['kind']}: empty {key}")
            if f["confidence"] not in ("low", "medium", "high"):
                problems.append(f"{f['kind']}: confidence {f['confidence']}")
            if not f["connections"] or not set(f["connections"]) <= ids:
                problems.append(f"{f['kind']}: connections {f['connections']} not in the output")
            if len(f["evidence_frames"]) != len(f["connections"]) or not all(f["evidence_frames"]):
                problems.append(f"{f['kind']}: evidence frames {f['evidence_frames']}")
            if not f["check"]:
                problems.append(f"{f['kind']}: no check commands")
        for kind in want[:1]:
            rc = subprocess.run([binary, "--format", "json", "-r", cap, "--fail-on", kind],
                                capture_output=True, timeout=120).returncode
            if rc != 1:
                problems.append(f"--fail-on {kind} exited {rc}, expected 1")
        total += 1
        if problems:
            bad += 1
            print(f"{name}: " + "; ".join(problems))
    print(f"{total - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
