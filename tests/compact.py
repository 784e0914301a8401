#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compact evidence changes no result.

A connection keeps most of its times and frame numbers as 32-bit offsets
from its start, in units of the capture's timestamp resolution; a time that
is not a whole number of units makes its units finer (when its values still
fit), and one that does not fit makes it "wide" (64-bit values in its rare
block) (include/conn.h, "Compact evidence"). TCPTRIAGE_TIME_UNIT=K makes the
starting unit 10^K ns whatever the capture: with K=9 (one second) the units
of almost every connection are made finer at its first times (the
conversion); with K=0 on a microsecond capture the offsets cover 4.3 s, so
the longer connections go wide in their middle, their values so far copied
over (the switch, then the wide path). The default unit keeps almost every
connection compact. All three must give byte-identical output (JSON and
text), standard error and exit status, on every capture in CAPTURES,
SHARED/captures/** (when present), and synthetic captures from bench/gen in
micro- and nanosecond variants (the nanosecond one goes wide past 4.3 s by
default). TCPTRIAGE_DEBUG_WIDE=1 makes tcptriage say how many connections
went wide and how often units were refined: the synthetic runs must show
both happening, so a knob that stopped working would not pass unnoticed.

usage: compact.py TCPTRIAGE GEN CAPTURES_DIR SHARED_DIR WORK_DIR
"""
import glob
import os
import re
import subprocess
import sys

tcptriage, gen, captures, shared, work = sys.argv[1:6]
failures, runs = [], 0


def run(path, args, unit):
    env = dict(os.environ)
    env.pop("TCPTRIAGE_TIME_UNIT", None)
    env.pop("TCPTRIAGE_DEBUG_WIDE", None)
    if unit is not None:
        env["TCPTRIAGE_TIME_UNIT"] = unit
    p = subprocess.run([tcptriage, "-r", path] + args, capture_output=True, env=env, timeout=600)
    return p.returncode, p.stdout, p.stderr


def compare(path):
    global runs
    for fmt in (["--format", "json"], []):
        base = run(path, fmt, None)
        runs += 1
        for unit in ("0", "9"):
            other = run(path, fmt, unit)
            runs += 1
            if other != base:
                what = ["status", "stdout", "stderr"][[other[i] != base[i]
                                                      for i in range(3)].index(True)]
                failures.append(f"{os.path.basename(path)} {' '.join(fmt)} "
                                f"(TCPTRIAGE_TIME_UNIT={unit}): {what} differs")


os.makedirs(work, exist_ok=True)
synthetic = []
for name, gargs in (("mixed", ["--packets", "200k", "--concurrent", "2000", "--seed", "21"]),
                    ("mixed-ns", ["--packets", "100k", "--concurrent", "500", "--seed", "22",
                                  "--nsec"])):
    out = os.path.join(work, f"compact-{name}.pcap")
    subprocess.run([gen, "-o", out, "--quiet"] + gargs, check=True)
    synthetic.append(out)

def debug_counts(path, unit):
    env = dict(os.environ, TCPTRIAGE_DEBUG_WIDE="1")
    env.pop("TCPTRIAGE_TIME_UNIT", None)
    if unit is not None:
        env["TCPTRIAGE_TIME_UNIT"] = unit
    p = subprocess.run([tcptriage, "-r", path, "--format", "json"], capture_output=True, env=env,
                       timeout=600)
    m = re.search(rb"debug: ([0-9]+) connections wide, units refined ([0-9]+) times", p.stderr)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


# The knobs do what they say (the counts tcptriage gives under TCPTRIAGE_DEBUG_WIDE).
mixed, mixed_ns = synthetic
for path, unit, what, index in ((mixed, "0", "wide", 0), (mixed, "9", "refined", 1),
                                (mixed_ns, None, "wide", 0)):
    n = debug_counts(path, unit)[index]
    if n == 0:
        failures.append(f"{os.path.basename(path)} TCPTRIAGE_TIME_UNIT={unit}: no connection {what}")

files = sorted(glob.glob(os.path.join(captures, "**", "*.pcap*"), recursive=True))
if os.path.isdir(os.path.join(shared, "captures")):
    files += sorted(glob.glob(os.path.join(shared, "captures", "**", "*.pcap*"), recursive=True))
files = [f for f in files if os.path.isfile(f)] + synthetic
for f in files:
    compare(f)

print(f"{len(files)} captures, {runs} runs, {len(failures)} differences")
for line in failures[:40]:
    print("  " + line)
sys.exit(1 if failures else 0)
