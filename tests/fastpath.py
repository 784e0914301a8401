#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The fast paths give the same results as the general code.

In file mode the analyzer decodes a few frames ahead and prefetches their
flow-table entries, and the tracker handles the common segment of an
established connection (in-order data or an ACK, nothing else going on) by
header prediction (src/tracker.c fast_segment()). TCPTRIAGE_NO_FASTPATH=1
turns both off; TCPTRIAGE_PIPELINE_MIN=N sets the table size from which the
pipeline is used (default 65536). For every capture in CAPTURES and SHARED/captures/** (when
present) and for synthetic captures from bench/gen (a mixed one with
stalls, retransmissions, zero windows, resets, VLANs and IPv6, in micro- and
nanosecond variants, and a SYN flood run against a small table so every SYN
evicts), the fast ways must give byte-identical output (JSON and text), the
same standard error and the same exit status. TCPTRIAGE_NO_FASTPATH=1 also
turns off the filter in front of the findings' full pair table (findings.c,
pair_seen), which every capture is run through with a table of two pairs.

usage: fastpath.py TCPTRIAGE GEN CAPTURES_DIR SHARED_DIR WORK_DIR
"""
import glob
import os
import re
import subprocess
import sys

tcptriage, gen, captures, shared, work = sys.argv[1:6]
failures, runs = [], 0


# The ways compared with the general code (TCPTRIAGE_NO_FASTPATH=1): the
# default (header prediction; the pipeline once the table holds 64 k
# connections), the pipeline from the first frame, and the pipeline switched
# on and off around 90% of the most connections the capture holds at once
# (a few times to a dozen times a run on the mixed captures).
FAST_WAYS = ("default", "pipeline", "switching")


def run(path, args, extra):
    env = dict(os.environ)
    for k in ("TCPTRIAGE_NO_FASTPATH", "TCPTRIAGE_PIPELINE_MIN"):
        env.pop(k, None)
    env.update(extra)
    p = subprocess.run([tcptriage, "-r", path] + args, capture_output=True, env=env, timeout=600)
    return p.returncode, p.stdout, p.stderr


def way_env(way, peak):
    if way == "pipeline":
        return {"TCPTRIAGE_PIPELINE_MIN": "0"}
    if way == "switching":
        return {"TCPTRIAGE_PIPELINE_MIN": str(max(1, peak * 9 // 10))}
    return {}


def compare(path, args=(), ways=FAST_WAYS):
    global runs
    args = list(args)
    peak = 0
    for fmt in (["--format", "json"], []):
        b = run(path, fmt + args, {"TCPTRIAGE_NO_FASTPATH": "1"})
        runs += 1
        if fmt:
            m = re.search(rb'"peak_connections":([0-9]+)', b[1])
            peak = int(m.group(1)) if m else 0
        for way in ways:
            a = run(path, fmt + args, way_env(way, peak))
            runs += 1
            if a != b:
                what = ["status", "stdout", "stderr"][[a[i] != b[i] for i in range(3)].index(True)]
                failures.append(f"{os.path.basename(path)} {' '.join(fmt + args)} ({way}): "
                                f"{what} differs")


os.makedirs(work, exist_ok=True)
synthetic = []
for name, gargs in (("mixed", ["--packets", "300k", "--concurrent", "2000", "--seed", "11"]),
                    ("mixed-ns", ["--packets", "100k", "--concurrent", "500", "--seed", "12", "--nsec"]),
                    ("mixed-full", ["--packets", "20k", "--concurrent", "300", "--seed", "13", "--snaplen", "0"]),
                    ("flood", ["--flood", "40k"])):
    out = os.path.join(work, f"fastpath-{name}.pcap")
    subprocess.run([gen, "-o", out, "--quiet"] + gargs, check=True)
    synthetic.append(out)

files = sorted(glob.glob(os.path.join(captures, "**", "*.pcap*"), recursive=True))
shared_files = []
if os.path.isdir(os.path.join(shared, "captures")):
    shared_files = sorted(glob.glob(os.path.join(shared, "captures", "**", "*.pcap*"),
                                    recursive=True))
files = [f for f in files if os.path.isfile(f)]
shared_files = [f for f in shared_files if os.path.isfile(f)]
for f in files + synthetic:
    compare(f)
for f in shared_files:  # many and mostly small: the pipeline from the first frame
    compare(f, ways=("pipeline",))
for f in synthetic:  # at a small cap: eviction (and its prefetches) on most new connections
    compare(f, ["--max-connections", "300"])
for f in files + synthetic:  # the findings' pair table full at once: its filter (findings.c)
    compare(f, ["--threshold", "max_pairs=2"], ways=("default",))

print(f"{len(files) + len(shared_files) + len(synthetic)} captures, {runs} runs, {len(failures)} differences")
for line in failures[:40]:
    print("  " + line)
sys.exit(1 if failures else 0)
