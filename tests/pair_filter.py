#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The filter in front of the findings' full pair table loses no pair.

The findings keep one record per client -> service pair, at most max_pairs
of them; once the table is full, a bit array of the pairs' hashes answers
most lookups of a pair not held (src/findings.c, pair_seen). A false
"not held" would count a known pair's connection as overflow and drop it
from that pair's evidence. This test writes a capture of SYNs from three
clients to one service, taking turns (A, B, C, A, B, C, ...), and runs it
with --threshold max_pairs=2: A and B fill the table, C's first connection
finds it full (the filter is built then), and from there on every
connection of A and B must still find its pair through the filter, and
every one of C's must be overflow: findings_overflow is exactly C's count.
With TCPTRIAGE_NO_FASTPATH=1 (no filter) the output must be byte-identical.

usage: pair_filter.py TCPTRIAGE WORK_DIR
"""
import json
import os
import struct
import subprocess
import sys

tcptriage, work = sys.argv[1:3]
ROUNDS = 500
failures = []


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn(src, dst, sport, dport, seq):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + ip + tcp


os.makedirs(work, exist_ok=True)
path = os.path.join(work, "pair-filter.pcap")
server = bytes([10, 9, 0, 1])
clients = [bytes([10, 9, 1, 1]), bytes([10, 9, 1, 2]), bytes([10, 9, 1, 3])]
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    t = 1_700_000_000 * 1_000_000
    for r in range(ROUNDS):
        for i, c in enumerate(clients):
            frame = syn(c, server, 20000 + r, 80, 1000 * r + i)
            t += 100
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            f.write(frame)


def run(extra_env):
    env = dict(os.environ)
    env.pop("TCPTRIAGE_NO_FASTPATH", None)
    env.update(extra_env)
    p = subprocess.run([tcptriage, "--format", "json", "--threshold", "max_pairs=2", "-r", path],
                       capture_output=True, env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr


fast, plain = run({}), run({"TCPTRIAGE_NO_FASTPATH": "1"})
if fast != plain:
    failures.append("output differs with and without the filter")
summary = json.loads(fast[1].splitlines()[-1])
if summary["connections"] != 3 * ROUNDS:
    failures.append(f"{summary['connections']} connections, want {3 * ROUNDS}")
if summary["findings_overflow"] != ROUNDS:
    failures.append(f"findings_overflow {summary['findings_overflow']}, want {ROUNDS} "
                    "(the third client's connections only)")

for f in failures:
    print("FAIL:", f)
print(f"pair filter: {len(failures)} failures")
sys.exit(1 if failures else 0)
