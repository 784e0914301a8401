#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check tcptriage against the flow records that Suricata's own regression
tests (suricata-verify) expect, in ../shared/captures/suricata, and fail if
fewer than MIN_PERCENT of the comparable expectations hold. Skips (exit 77,
meson's skip code) when the corpus is absent.

usage: suricata_check.py BIN SHARED_DIR MIN_PERCENT

The corpus has no *.expect.json for ../shared/tools/score: each
expected/<test>[.<variant>].tsv row says "Suricata emits exactly `count`
flow records whose fields equal every non-'-' column". What is compared
(docs/testing.md, "Suricata's expectations"):

  - the 4-tuple, in either orientation (Suricata's src is usually the first
    sender; ours is the side that sent the SYN, or the port heuristic);
  - flow.state, Suricata's coarse class, derived from tcp.state when only
    that is given (syn_sent/syn_recv: new; last_ack/time_wait/closed:
    closed; the other states: established). Ours: closed when both sides
    sent a FIN or a RST was seen; new when the handshake never completed and
    no data moved; established otherwise;
  - flow.pkts_toserver / pkts_toclient against our TCP segments per side,
    plus the ICMP errors travelling that way: an error quoting a client
    segment goes back to the client (icmp.count.client adds to toclient).

Not compared: Suricata's exact tcp.state (it is one state for the session,
from its own state machine, not two endpoint states), bytes (whole frames in
Suricata, payload here), app_proto, reasons, flags. Rows are left out when
their variant runs Suricata in a mode that ignores traffic we analyse
(stream.async-oneside=false, or the default stream.midstream=false for a
row that only exists because Suricata did not track the session: tcp.state
"-"), and non-flow rows (anomaly and stats counters).
"""
import ipaddress
import json
import os
import subprocess
import sys

FIELDS = ("check_kind", "count", "src_ip", "src_port", "dest_ip", "dest_port", "app_proto",
          "flow.state", "tcp.state", "flow.reason", "tcp.tcp_flags", "tcp.tcp_flags_ts",
          "tcp.tcp_flags_tc", "tcp.syn", "tcp.fin", "tcp.rst", "flow.pkts_toserver",
          "flow.pkts_toclient")
STATE_CLASS = {"syn_sent": "new", "syn_recv": "new", "last_ack": "closed",
               "time_wait": "closed", "closed": "closed"}


def header(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith("# " + key + ":"):
                return line.split(":", 1)[1].strip()
    return ""


def rows(path):
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            yield dict(zip(FIELDS, cols))


def addr(text):
    return str(ipaddress.ip_address(text))


def our_class(c):
    fins = c.get("fin_frames") or {}
    if (fins.get("client") and fins.get("server")) or c.get("reset_by"):
        return "closed"
    moved = (c.get("bytes") or {}).get("client", 0) or (c.get("bytes") or {}).get("server", 0)
    if c.get("handshake") != "complete" and not moved:
        return "new"
    return "established"


def matches(c, row):
    """Does our connection c satisfy every compared field of row?"""
    tup = (row["src_ip"], row["src_port"], row["dest_ip"], row["dest_port"])
    ours = (c["client"], str(c["client_port"]), c["server"], str(c["server_port"]))
    flipped = False
    if tup[0] != "-":
        want = (addr(tup[0]), tup[1], addr(tup[2]), tup[3])
        if ours == want:
            flipped = False
        elif (ours[2], ours[3], ours[0], ours[1]) == want:
            flipped = True
        else:
            return False
    cls = row["flow.state"]
    if cls == "-" and row["tcp.state"] != "-":
        cls = STATE_CLASS.get(row["tcp.state"], "established")
    if cls != "-" and our_class(c) != cls:
        return False
    pkts = c.get("packets") or {}
    # Suricata counts ICMP errors about a flow as its packets, in the
    # direction they travel: to the sender of the segment they quote.
    icmp = (c.get("icmp") or {}).get("count") or {}
    to_server = pkts.get("client", 0) + icmp.get("server", 0)
    to_client = pkts.get("server", 0) + icmp.get("client", 0)
    if flipped:
        to_server, to_client = to_client, to_server
    for key, have in (("flow.pkts_toserver", to_server), ("flow.pkts_toclient", to_client)):
        if row.get(key, "-") != "-" and str(have) != row[key]:
            return False
    return True


def comparable(args, row):
    if "async-oneside=false" in args:
        return False
    if "midstream=true" not in args and row["tcp.state"] == "-" and row["flow.state"] == "new":
        return False  # Suricata tracked no session: a mid-stream flow we do analyse
    return row["check_kind"] == "flow"


def main():
    binary, shared, minimum = sys.argv[1], sys.argv[2], float(sys.argv[3])
    corpus = os.path.join(shared, "captures", "suricata")
    if not os.path.isdir(os.path.join(corpus, "expected")):
        print(f"skip: {corpus} not present")
        return 77
    total = right = 0
    for name in sorted(os.listdir(os.path.join(corpus, "expected"))):
        if not name.endswith(".tsv"):
            continue
        path = os.path.join(corpus, "expected", name)
        test = name.split(".", 1)[0]
        pcap = os.path.join(corpus, "pcaps", test + ".pcap")
        args = header(path, "args")
        wanted = [r for r in rows(path) if comparable(args, r)]
        if not wanted:
            continue
        proc = subprocess.run([binary, "--format", "json", "-r", pcap], capture_output=True,
                              text=True, timeout=120)
        conns = [json.loads(line) for line in proc.stdout.splitlines()
                 if line.startswith('{"type":"connection"')]
        for r in wanted:
            n = sum(1 for c in conns if matches(c, r))
            ok = n == int(r["count"])
            total += 1
            right += ok
            print("%s %s: %s %s:%s -> %s:%s %s/%s pkts %s/%s: %d matching (want %s)" %
                  ("ok" if ok else "MISS", name, r["check_kind"], r["src_ip"], r["src_port"],
                   r["dest_ip"], r["dest_port"], r["flow.state"], r["tcp.state"],
                   r["flow.pkts_toserver"], r["flow.pkts_toclient"], n, r["count"]))
    pct = 100.0 * right / total if total else 0.0
    print(f"suricata: {right}/{total} expectations hold ({pct:.1f}%), minimum {minimum}%")
    return 0 if total and pct >= minimum else 1


if __name__ == "__main__":
    sys.exit(main())
