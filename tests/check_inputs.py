#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The ways of giving tcptriage a capture agree: a file, the same file
gzip-compressed, the file on standard input (plain and gzip) must give the
same connection lines; a BPF filter after the options selects connections
(a port that matches keeps them, one that does not leaves none); --fail-on
gates the exit status.

usage: check_inputs.py BIN CAPTURES_DIR
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

BIN, CAPS = sys.argv[1], sys.argv[2]
fails = passes = 0


def run(args, stdin=None):
    p = subprocess.run([BIN, "--format", "json"] + args, input=stdin, capture_output=True,
                       timeout=60)
    lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    return p.returncode, [l for l in lines if l["type"] == "connection"], lines[-1]


def check(ok, what):
    global fails, passes
    print(("ok    " if ok else "FAIL  ") + what)
    if ok:
        passes += 1
    else:
        fails += 1


for name in ("clean", "sll2_any", "ipv6_clean", "refused_fw_icmp"):
    path = os.path.join(CAPS, name + ".pcap")
    data = open(path, "rb").read()
    rc, want, summary = run(["-r", path])
    check(rc == 0 and want and summary["type"] == "summary", f"{name}: plain file")
    with tempfile.TemporaryDirectory() as tmp:
        gz = os.path.join(tmp, name + ".pcap.gz")
        with open(gz, "wb") as fh:
            fh.write(gzip.compress(data))
        check(run(["-r", gz])[1] == want, f"{name}: .gz file gives the same connections")
    check(run(["-r", "-"], data)[1] == want, f"{name}: stdin gives the same connections")
    check(run(["-r", "-"], gzip.compress(data))[1] == want,
          f"{name}: gzip on stdin gives the same connections")
    port = want[0]["server_port"]
    # ICMP errors are kept too: they carry the refusals the filter must not hide.
    got = run(["-r", path, "tcp", "port", str(port), "or", "icmp", "or", "icmp6"])[1]
    check([(c["client_port"], c["verdict"]) for c in got] ==
          [(c["client_port"], c["verdict"]) for c in want if c["server_port"] == port],
          f"{name}: filter 'tcp port {port} or icmp or icmp6' keeps its connections")
    check(run(["-r", path, "port 1"])[1] == [], f"{name}: filter 'port 1' leaves none")
    verdict = want[0]["verdict"]
    check(run(["-r", path, "--fail-on", verdict])[0] == 1, f"{name}: --fail-on {verdict} exits 1")
    other = "half_open" if verdict != "half_open" else "refused"
    check(run(["-r", path, "--fail-on", other])[0] == 0, f"{name}: --fail-on {other} exits 0")

print(f"{passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
