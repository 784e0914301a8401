#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Steady connection churn for tests/live/soak.py, run inside the client
namespace. It drives the programs of scripts/captures/tcpapp.py (imported,
not copied): batches of short connections (tcpapp's `churn`: connect, then
close at once, the client first) to PORT, and one connection to a port
nothing listens on (refused) per batch, paced to RATE connections a second,
until SECONDS have passed.

  soak_client.py SRC DST PORT REFUSED_PORT RATE SECONDS

Client ports cycle through 20000-59999 (churn) and 10000-19999 (refused),
so a port comes back only after its TIME_WAIT (60 s) is long over at any
rate below ~600 connections a second. Prints one line per batch to stdout:
"TIME CONNECTIONS REFUSED".
"""
import argparse
import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "scripts", "captures"))
import tcpapp  # noqa: E402

BATCH = 20


def main():
    src, dst, port, refused_port, rate, seconds = sys.argv[1:7]
    port, refused_port, rate, seconds = int(port), int(refused_port), float(rate), float(seconds)
    t0 = time.time()
    end = t0 + seconds
    churn_port, refused_sport = 20000, 10000
    n_conn = n_refused = 0
    # tcpapp's clients take their settings from an argparse namespace
    churn = argparse.Namespace(src=src, dst=dst, dport=port, sport=0, count=BATCH)
    refused = argparse.Namespace(src=src, dst=dst, dport=refused_port, sport=0,
                                 behavior="connect_only")
    devnull = open(os.devnull, "w")
    while time.time() < end:
        churn.sport = churn_port
        tcpapp.cli_churn(churn)
        n_conn += BATCH
        churn_port += BATCH
        if churn_port + BATCH > 60000:
            churn_port = 20000
        refused.sport = refused_sport
        out, sys.stdout = sys.stdout, devnull   # tcpapp prints "connect-error ..."
        try:
            tcpapp.client(refused)
        finally:
            sys.stdout = out
        n_refused += 1
        refused_sport = refused_sport + 1 if refused_sport < 19999 else 10000
        print("%.1f %d %d" % (time.time() - t0, n_conn + n_refused, n_refused), flush=True)
        # pace: (n_conn + n_refused) connections should take that many / rate seconds
        ahead = t0 + (n_conn + n_refused) / rate - time.time()
        if ahead > 0:
            time.sleep(min(ahead, max(0.0, end - time.time())))


if __name__ == "__main__":
    main()
