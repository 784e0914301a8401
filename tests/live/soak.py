#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Memory soak of `tcptriage -i` under steady connection churn (on demand,
not part of CI; run through tests/live/soak.sh).

  soak.py SECONDS TCPTRIAGE [RATE]     (as root)

Same namespaces as test_live.py (tt-live-PID-{cli,rtr,srv}). Traffic, all
from scripts/captures/tcpapp.py:
  - churn: short connections to port 8080 (connect, close at once) paced to
    RATE (default 100) connections a second, one of every 21 to port 8081
    where nothing listens (refused) -- soak_client.py;
  - long-lived, for the whole run: 2 zero-window stalls (a server that never
    reads), 3 half-closed connections (CLOSE_WAIT), 2 idle open connections.
Three tcptriage run side by side on the router's client-side veth, all with
--interval 10: --format json; the text report; the text report with
--max-report-lines 1000 (the text report keeps its problem lines until the
end, up to that cap). At each of the JSON one's stats lines (every 10 s) the
script samples every instance's VmRSS (/proc/PID/status); at the end it stops both with SIGINT and prints the table, the
summaries, and whether RSS stayed flat after the first minute (exit 1 if
the JSON instance grew by more than 1 MiB after it). KEEP=1 keeps the
programs' logs (work directory printed at the end).
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import C4, S4, IF_RC, Live, Procs, SetupError, Topology  # noqa: E402

SAMPLE = 10.0
WARMUP = 60.0
FLAT_KIB = 1024
CAP_LINES = 1000


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    seconds = float(sys.argv[1])
    binary = os.path.abspath(sys.argv[2])
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 100.0
    why = livelib.preflight()
    if why:
        print("soak: cannot run: %s" % why)
        return 2
    livelib.remove_stale_namespaces()
    work = tempfile.mkdtemp(prefix="tt-soak.")
    topo = Topology()
    procs = Procs(work)
    lives = []
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit("killed by signal %d" % s))
    try:
        topo.up()
        srv = topo.srv
        procs.server(srv, "--bind", S4, "--port", "8080", "--behavior", "churn",
                     "--conns", "1000000000", "--backlog", "512")
        procs.server(srv, "--bind", S4, "--port", "8086", "--behavior", "never_read",
                     "--rcvbuf", "4096", "--conns", "2")
        procs.server(srv, "--bind", S4, "--port", "8087", "--behavior", "reply_no_close",
                     "--conns", "3")
        procs.server(srv, "--bind", S4, "--port", "8088", "--behavior", "idle_echo",
                     "--conns", "2")
        js = Live(topo.rtr, binary, ["-i", IF_RC, "--format", "json", "--interval", "10"])
        tx = Live(topo.rtr, binary, ["-i", IF_RC, "--interval", "10"])
        cap = Live(topo.rtr, binary, ["-i", IF_RC, "--interval", "10",
                                      "--max-report-lines", str(CAP_LINES)])
        lives += [js, tx, cap]
        for lv in lives:
            if not lv.wait_ready():
                raise SetupError("tcptriage did not start: %s" % lv.err)
        t0 = time.time()
        cli = topo.cli
        common = ["--src", C4, "--dst", S4]
        for sport in (39001, 39002):
            procs.client(cli, *common, "--sport", str(sport), "--dport", "8086",
                         "--behavior", "write_forever")
        procs.client(cli, *common, "--sport", "39010", "--dport", "8087",
                     "--behavior", "close_wait_many", "--count", "3")
        procs.client(cli, *common, "--sport", "39020", "--dport", "8088",
                     "--behavior", "idle", "--count", "2", "--delay", "1000000")
        churn_log = open(os.path.join(work, "churn.log"), "w")
        churn = procs.spawn(cli, [livelib.PY, os.path.join(livelib.HERE, "soak_client.py"),
                                  C4, S4, "8080", "8081", str(rate), str(seconds)],
                            stdout=churn_log)

        print("soak: %.0f s, %.0f connections/s, tcptriage %s (pids json %d, text %d, "
              "text --max-report-lines %d: %d)"
              % (seconds, rate, binary, js.pid, tx.pid, CAP_LINES, cap.pid), flush=True)
        print("%6s %8s %9s %8s %7s %8s %8s %9s %9s %9s" % (
            "t (s)", "frames", "reported", "live", "table", "dropped", "client",
            "RSS json", "RSS text", "RSS cap"), flush=True)
        samples = []
        seen = 0
        # Sample when the JSON instance prints its --interval stats line (every
        # 10 s by its own clock): its counters and every RSS at the same moment.
        while True:
            got = js.wait_line(lambda line: line.startswith('{"type":"stats"'), 12.0,
                               start=seen)
            now = time.time()
            if got is None:
                if js.p.poll() is not None:
                    print("soak: tcptriage (json) exited", flush=True)
                    break
                st = {}
            else:
                with js.cv:
                    seen = next(i for i in range(seen, len(js.lines))
                                if js.lines[i] is got) + 1
                st = json.loads(got[1])
            made = 0
            try:
                with open(os.path.join(work, "churn.log")) as f:
                    rows = [r for r in f.read().split("\n") if r.strip()]
                made = int(rows[-1].split()[1]) if rows else 0
            except (OSError, ValueError, IndexError):
                pass
            smp = {"t": now - t0, "stats": st, "client": made}
            for lv, key in ((js, "rss_json"), (tx, "rss_text"), (cap, "rss_cap")):
                smp[key] = lv.rss_kib()
            samples.append(smp)
            print("%6.0f %8s %9s %8s %6sK %8s %8d %8sK %8sK %8sK" % (
                smp["t"], st.get("frames", "-"), st.get("reported", "-"),
                st.get("live_connections", "-"), st.get("memory_bytes", 0) // 1024,
                st.get("capture_dropped", "-"), made, smp["rss_json"], smp["rss_text"],
                smp["rss_cap"]), flush=True)
            if churn.poll() is not None and now - t0 >= seconds:
                break
            if now - t0 > seconds + 30:
                print("soak: the churn client did not stop", flush=True)
                break

        time.sleep(1)
        end_rss = (js.rss_kib(), tx.rss_kib(), cap.rss_kib())
        results = {}
        for name, lv in (("json", js), ("text", tx), ("text capped", cap)):
            t_sig = time.time()
            lv.signal(signal.SIGINT)
            rc = lv.wait_exit(30)
            results[name] = (rc, (lv.t_exit or time.time()) - t_sig)
        summ = json.loads(js.lines[-1][1]) if js.lines else {}
        print("at the end: RSS json %s KiB, text %s KiB, text capped %s KiB" % end_rss)
        for name, (rc, took) in results.items():
            print("%s: exit %s, %.2f s after SIGINT" % (name, rc, took))
        print("json summary: frames %s, connections %s, verdicts %s, peak_connections %s, "
              "capture_dropped %s" % (summ.get("frames"), summ.get("connections"),
                                      {k: v for k, v in summ.get("verdicts", {}).items() if v},
                                      summ.get("peak_connections"),
                                      summ.get("capture_dropped")))
        for name, lv in (("text", tx), ("text capped", cap)):
            texts = [line for _, line in lv.lines]
            head = [i for i, line in enumerate(texts) if line.startswith("tcptriage: ")]
            rep = texts[head[-1]:] if head else []
            listed = sum(1 for line in rep if re.match(r"^  \d\d:\d\d:\d\d\.\d+  ", line))
            more = [line.strip() for line in rep if "not listed" in line or "more" in line]
            print("%s report: %s | problem lines listed %d %s" % (
                name, " | ".join(x.strip() for x in rep[1:3]), listed, " ".join(more[:1])))
        n_events = sum(1 for _, line in js.lines if line.startswith('{"type":"event"'))
        print("json: %d event lines, %d connection lines" % (
            n_events, sum(1 for _, line in js.lines if line.startswith('{"type":"connection"'))))

        late = [s for s in samples if s["t"] >= WARMUP]
        verdict = 0
        for key in ("rss_json", "rss_text", "rss_cap"):
            vals = [s[key] for s in late if s[key]]
            if not vals:
                continue
            growth = vals[-1] - vals[0]
            print("%s after %.0f s: min %d KiB, max %d KiB, first %d, last %d (%+d KiB)"
                  % (key, WARMUP, min(vals), max(vals), vals[0], vals[-1], growth))
            if key == "rss_json" and growth > FLAT_KIB:
                verdict = 1
        print("RSS flat: %s" % ("yes" if verdict == 0 else "NO (json grew > %d KiB)" % FLAT_KIB))
        return verdict
    except SetupError as e:
        print("soak: setup failed: %s" % e)
        return 2
    finally:
        for lv in lives:
            lv.kill()
        procs.close()
        topo.down()
        if os.environ.get("KEEP"):
            print("(work files in %s)" % work)
        else:
            subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
