#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Eviction: a SYN flood evicts its own half-open connections, not the rest.

captures/diag_synflood.pcap is a real kernel capture: 200 spoofed SYNs to a
listener that answers each with SYN-ACKs, and, in the middle, one ordinary
connection from a real client (10.77.1.2:41200, closed cleanly over ~50 ms
while the flood goes on). Run with a table of 5 connections:

  - with --max-handshakes 2 the half-open connections evict each other and
    the ordinary one is reported once, whole: closed, complete handshake,
    not evicted; every eviction is counted as the handshake cap's, and the
    text report says so;
  - with --max-handshakes 5 (the whole table open to half-open connections,
    as before the cap existed) the same capture does evict the ordinary
    connection at the table's cap, and it comes back as a second connection
    picked up mid-stream: the first case is not passing by accident. With
    both caps equal, the table's is the one that evicts (and is named).

Then a synthetic flood from bench/gen (30,000 SYNs, distinct sources) shows
the bound: the table never holds more than --max-handshakes connections,
or --max-connections when that is smaller, and every SYN past the cap is
reported as evicted.

usage: eviction.py TCPTRIAGE GEN CAPTURES_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

tcptriage, gen, captures, work = sys.argv[1:5]
failures = []
REAL_CLIENT = ("10.77.1.2", 41200)


def check(cond, what):
    if not cond:
        failures.append(what)


def run(path, args, fmt="json"):
    p = subprocess.run([tcptriage, "--format", fmt, "-r", path] + args, capture_output=True,
                       text=True, timeout=300)
    check(p.returncode == 0, f"{os.path.basename(path)} {args}: exit {p.returncode}: {p.stderr}")
    return p.stdout


def records(out):
    conns, summary = [], None
    for line in out.splitlines():
        o = json.loads(line)
        if o["type"] == "connection":
            conns.append(o)
        elif o["type"] == "summary":
            summary = o
    return conns, summary


flood = os.path.join(captures, "diag_synflood.pcap")

# The handshake cap protects the ordinary connection.
conns, s = records(run(flood, ["--max-connections", "5", "--max-handshakes", "2"]))
real = [c for c in conns if (c["client"], c["client_port"]) == REAL_CLIENT]
check(len(real) == 1 and "resumes" not in real[0],
      f"capped: the real connection reported {len(real)} times, not once")
if real:
    r = real[0]
    check(r["verdict"] == "closed" and r["handshake"] == "complete" and not r["evicted"],
          f"capped: the real connection is {r['verdict']}, handshake {r['handshake']}, "
          f"evicted {r['evicted']}")
check(s["evicted"] > 100 and s["evicted_handshakes"] == s["evicted"],
      f"capped: evicted {s['evicted']}, by the handshake cap {s['evicted_handshakes']}")
check(s["peak_connections"] <= 5, f"capped: peak {s['peak_connections']} > 5")
evicted = [c for c in conns if c["evicted"]]
check(all(c["handshake"] != "complete" and c["verdict"] in ("half_open", "unanswered")
          for c in evicted), "capped: an evicted connection was not a half-open one")
check(all(c.get("evicted_by") == "max_handshakes" for c in evicted) and
      not any("evicted_by" in c for c in conns if not c["evicted"]),
      "capped: evicted_by does not name the handshake cap on (only) the evicted lines")
text = run(flood, ["--max-connections", "5", "--max-handshakes", "2"], fmt="text")
check(f"{s['evicted']} half-open connections evicted at the handshake cap (--max-handshakes)"
      in text, "capped: the text summary does not name the handshake cap")
check("; evicted at the handshake cap)" in text and "; evicted at the table cap)" not in text,
      "capped: the text lines do not say which cap evicted them")

# Without it, the same capture splits the ordinary connection.
conns, s = records(run(flood, ["--max-connections", "5", "--max-handshakes", "5"]))
real = [c for c in conns if (c["client"], c["client_port"]) == REAL_CLIENT]
check(len(real) == 2 and real[0]["evicted"] and real[1]["handshake"] == "missing",
      "uncapped: the real connection was not evicted and picked up again "
      f"({[(c['verdict'], c['evicted'], c['handshake']) for c in real]})")
# ... as the continuation of the evicted one, not a new connection out of nowhere
if len(real) == 2:
    check(real[1].get("resumes") == real[0]["id"] and real[1]["roles"] == "resumed" and
          "resumes" not in real[0],
          f"uncapped: the second record does not continue the evicted one "
          f"(resumes {real[1].get('resumes')}, roles {real[1]['roles']}, id {real[0]['id']})")
by_id = {c["id"]: c for c in conns}
resuming = [c for c in conns if "resumes" in c]
check(s.get("resumed") == len(resuming) and resuming,
      f"uncapped: summary resumed {s.get('resumed')}, {len(resuming)} lines resume one")
key = lambda c: (c["client"], c["client_port"], c["server"], c["server_port"])
check(all(c["resumes"] in by_id and by_id[c["resumes"]]["evicted"] and
          key(by_id[c["resumes"]]) == key(c) and c["resumes"] < c["id"] for c in resuming),
      "uncapped: a line resumes a connection that was not the evicted one of its tuple")
check(all(c.get("evicted_by") == "max_connections" for c in conns if c["evicted"]),
      "uncapped: evicted_by does not name the table's cap")
check(s["evicted"] > 100 and s["evicted_handshakes"] == 0,
      f"uncapped: evicted {s['evicted']}, by the handshake cap {s['evicted_handshakes']} "
      "(with both caps equal the table's decides)")
text = run(flood, ["--max-connections", "5", "--max-handshakes", "5"], fmt="text")
check(f"{s['evicted']} connections evicted at the table cap (--max-connections)" in text and
      "; evicted at the handshake cap)" not in text,
      "uncapped: the text does not give the evictions to the table's cap")

# The bound, on a synthetic flood.
os.makedirs(work, exist_ok=True)
synth = os.path.join(work, "flood-30k.pcap")
subprocess.run([gen, "-o", synth, "--quiet", "--flood", "30000"], check=True)
for args, cap, by_hs in ((["--max-handshakes", "1000"], 1000, True),
                         (["--max-connections", "500"], 500, False),  # (caps equal: the table's)
                         ([], 30000, False)):
    conns, s = records(run(synth, args))
    check(s["connections"] == 30000 and len(conns) == 30000,
          f"flood {args}: {s['connections']} connections, {len(conns)} lines")
    check(s["peak_connections"] == min(cap, 30000),
          f"flood {args}: peak {s['peak_connections']}, cap {cap}")
    want = 30000 - min(cap, 30000)
    check(not any("resumes" in c for c in conns) and s.get("resumed", 0) == 0 and
          ("resumed" in s) == (want > 0),
          f"flood {args}: spoofed tuples never come back, yet {s.get('resumed')} resumed")
    check(s["evicted"] == want and s["evicted_handshakes"] == (want if by_hs else 0) and
          sum(c["evicted"] for c in conns) == want and
          sum(c.get("evicted_by") == ("max_handshakes" if by_hs else "max_connections")
              for c in conns) == want,
          f"flood {args}: evicted {s['evicted']} ({s['evicted_handshakes']} by the handshake "
          f"cap), want {want}")

for f in failures:
    print("FAIL:", f)
print(f"eviction: {len(failures)} failures")
sys.exit(1 if failures else 0)
