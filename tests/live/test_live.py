#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live-capture test: `tcptriage -i IFACE` on a veth inside network
namespaces, with real kernel TCP played by scripts/captures/tcpapp.py.

usage: test_live.py TCPTRIAGE   (as root; meson test --suite live)

Exit 0 when every check passes, 1 when one fails, 77 (meson's "skipped")
when not root, when `ip netns` does not work here, or when a tool is missing.

What it checks (each check prints one "ok"/"FAIL" line):

 1. JSON run (`-i ttrc --format json --attempt-timeout 2 -w FILE`): a refused
    connection, a timed-out connect (SYNs dropped by nftables on the router;
    client tcp_syn_retries=1, classic backoff: SYNs at 0 s and 1 s), a reset,
    a zero-window stall and a clean close. Each event line is read as it
    arrives, while the capture is still running, and must come within 1 s of
    the moment it became certain, taken from the packets themselves (the -w
    file): the RST (refused, reset), the second FIN (closed), the last SYN +
    the attempt timeout (timed_out), the start of the zero window + the 1 s
    stall threshold (stall_start). Then SIGINT: one connection line per
    connection with the right verdict, the summary last, exit 0. The -w file
    read back with -r gives the same verdicts and frame count.
 2. Text run with `--fail-on refused`: event lines while running, then the
    report (summary, problem connections, what to check) after SIGINT; exit 1.
 3. `-c 5` stops by itself after 5 frames; `--duration 2` stops by itself
    after 2 s with a report; SIGTERM gives the final report like SIGINT.
 4. A bad interface name: one line on stderr, exit 2. A bad filter: libpcap's
    own message (as tcpdump prints it) on one line, exit 2.

The namespaces are tt-live-PID-{cli,rtr,srv}; they and every program started
in them are removed at the end, also on failure or SIGTERM (meson timeout).
"""
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True   # no __pycache__ in the source tree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import C4, S4, IF_RC, Live, Procs, SetupError, Topology  # noqa: E402


SKIP = 77
ATTEMPT_TIMEOUT = 2.0     # --attempt-timeout for the live runs
STALL_THRESHOLD = 1.0     # tcptriage's default --stall-threshold
LATE = 1.0                # an event may arrive at most this long after it became certain
EARLY = 0.010             # clock slack for "not before it was due"

# Checks that document a known problem of tcptriage (see docs/live.md): a
# failure prints XFAIL and does not fail the test, a pass prints XPASS so the
# entry can be removed.
KNOWN_ISSUES = set()  # names of checks known to fail (printed as XFAIL)


class Checks:
    def __init__(self):
        self.failed = []
        self.n = 0

    def __call__(self, name, ok, detail=""):
        self.n += 1
        if name in KNOWN_ISSUES:
            tag = "XPASS" if ok else "XFAIL"
        else:
            tag = "ok   " if ok else "FAIL "
            if not ok:
                self.failed.append(name)
        if ok and "\n" in detail:
            detail = ""   # multi-line evidence only when it failed
        print("%s %s%s" % (tag, name, (": " + detail) if detail else ""), flush=True)
        return ok


def note(msg):
    print("     " + msg, flush=True)


# ---- packets of the -w file -----------------------------------------------

def tcp_packets(path):
    """[(ts, src, sport, dst, dport, flags, window)] of the capture file."""
    # the pcap reader of the capture generator's reference classifier
    sys.path.insert(0, livelib.PCAPVERDICT_DIR)
    import pcapverdict
    lt, pkts = pcapverdict.read_pcap(path)
    out = []
    for ts, pkt, _orig in pkts:
        l3 = pcapverdict.l3(lt, pkt)
        ip = pcapverdict.ip_layer(*l3) if l3 else None
        if not ip or ip[2] != 6 or len(ip[3]) < 20:
            continue
        sport, dport, _seq, _ack, _off, flags, win = struct.unpack(">HHIIBBH", ip[3][:16])
        out.append((ts, ip[0], sport, ip[1], dport, flags, win))
    return out


FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def conn_packets(pkts, cport):
    return [p for p in pkts if cport in (p[2], p[4])]


def moment_certain(pkts, cport, event):
    """When `event` became certain for the connection from client port cport,
    from the packets alone; None if the traffic does not show it."""
    ps = conn_packets(pkts, cport)
    if event in ("refused", "reset"):
        rst = [p[0] for p in ps if p[5] & RST]
        return rst[0] if rst else None
    if event == "closed":
        fin_c = [p[0] for p in ps if p[5] & FIN and p[2] == cport]
        fin_s = [p[0] for p in ps if p[5] & FIN and p[4] == cport]
        return max(fin_c[0], fin_s[0]) if fin_c and fin_s else None
    if event == "timed_out":
        syns = [p[0] for p in ps if p[5] & (SYN | ACK) == SYN and p[2] == cport]
        return syns[-1] + ATTEMPT_TIMEOUT if len(syns) >= 2 else None
    if event == "stall_start":
        zero = [p[0] for p in ps if p[4] == cport and not p[5] & (SYN | RST) and p[6] == 0]
        return zero[0] + STALL_THRESHOLD if zero else None
    return None


# ---- the test -------------------------------------------------------------

class LiveTest:
    def __init__(self, binary, workdir):
        self.bin = binary
        self.work = workdir
        self.topo = Topology()
        self.procs = Procs(workdir)
        self.check = Checks()
        self.lives = []

    def live(self, args):
        lv = Live(self.topo.rtr, self.bin, args)
        self.lives.append(lv)
        return lv

    def server(self, port, behavior, *extra):
        return self.procs.server(self.topo.srv, "--bind", S4, "--port", str(port),
                                 "--behavior", behavior, *extra)

    def client(self, sport, dport, behavior, *extra):
        return self.procs.client(self.topo.cli, "--src", C4, "--sport", str(sport),
                                 "--dst", S4, "--dport", str(dport), "--behavior", behavior,
                                 *extra)

    def client_run(self, sport, dport, behavior, timeout=10):
        """Run a client to its end; (start, end) wall-clock times."""
        t0 = time.time()
        p = self.client(sport, dport, behavior)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.procs.kill(p)
        return t0, time.time()

    def setup(self):
        self.topo.up()
        # connect() gives up after 2 SYNs (0 s, 1 s) and 3 s
        self.topo.sysctl(self.topo.cli, "net.ipv4.tcp_syn_retries=1")
        # the router drops SYNs to port 8083 (timed_out)
        self.topo.nft(self.topo.rtr, """table inet ttlive {
    chain forward_filter {
        type filter hook forward priority 0; policy accept;
        ip daddr %s tcp dport 8083 tcp flags & (syn | ack) == syn drop
    }
}
""" % S4)

    def teardown(self):
        for lv in self.lives:
            lv.kill()
        self.procs.close()
        self.topo.down()

    def stop(self, lv, what):
        """SIGINT; returns the exit status (None if it did not exit)."""
        t_sig = time.time()
        lv.signal(signal.SIGINT)
        rc = lv.wait_exit(10)
        if rc is None:
            self.check(what + ": exits after SIGINT", False, "still running 10 s later")
            lv.kill()
            return None, t_sig
        self.check(what + ": exits within 2 s of SIGINT", lv.t_exit - t_sig <= 2.0,
                   "%.2f s" % (lv.t_exit - t_sig))
        return rc, t_sig

    def ready(self, lv, what):
        if not lv.wait_ready():
            rc = lv.wait_exit(2)
            raise SetupError("%s: tcptriage did not start capturing (exit %s): %s"
                             % (what, rc, " | ".join(lv.err)))

    def check_event_timing(self, what, name, arrival, pkts, cport, ev_time=None,
                           stall_start=None):
        due = moment_certain(pkts, cport, name)
        if due is None:
            self.check("%s: %s: the traffic shows it (port %d)" % (what, name, cport), False,
                       "no such packets in the -w file")
            return
        late = arrival - due
        floor = due
        if stall_start is not None:
            # Not before tcptriage's own episode start + threshold.
            floor = min(due, stall_start + STALL_THRESHOLD)
        self.check("%s: %s event within %.0f s of becoming certain" % (what, name, LATE),
                   arrival - floor >= -EARLY and late <= LATE,
                   "arrived %+.3f s after it became certain" % late)
        if ev_time is not None and name in ("refused", "reset", "closed"):
            self.check("%s: %s event time is the packet's" % (what, name),
                       abs(ev_time - due) < 0.001, "event %.6f, packet %.6f" % (ev_time, due))

    # -- 1. JSON ---------------------------------------------------------------

    def run_json(self):
        what = "json"
        pcap = os.path.join(self.work, "live-json.pcap")
        self.server(8080, "reply_close")
        self.server(8085, "reply_rst")
        zw_srv = self.server(8086, "never_read", "--rcvbuf", "4096")
        lv = self.live(["-i", IF_RC, "--format", "json",
                        "--attempt-timeout", str(ATTEMPT_TIMEOUT), "-w", pcap])
        self.ready(lv, what)
        # cport -> (dport, behaviour, event, verdict)
        plan = {
            40002: (8081, "connect_only", "refused", "refused"),
            40006: (8083, "connect_only", "timed_out", "timed_out"),
            40007: (8085, "reqresp_wait", "reset", "reset"),
            40009: (8086, "write_forever", "stall_start", "stalled"),
            40001: (8080, "reqresp_close", "closed", "closed"),
        }

        def ev(name, port):
            def pred(line):
                return ('"type":"event"' in line and '"event":"%s"' % name in line
                        and '"client_port":%d,' % port in line)
            return pred

        t_first = time.time()
        timeout_cli = self.client(40006, 8083, "connect_only")
        zw_cli = self.client(40009, 8086, "write_forever")
        for cport in (40002, 40007, 40001):
            dport, beh, name, _ = plan[cport]
            self.client_run(cport, dport, beh)
            got = lv.wait_line(ev(name, cport), 2.0)
            self.check("%s: %s event while capturing" % (what, name), got is not None,
                       "" if got else "no line within 2 s of the client's end")
        try:
            timeout_cli.wait(timeout=8)
        except subprocess.TimeoutExpired:
            pass
        for cport in (40006, 40009):
            name = plan[cport][2]
            got = lv.wait_line(ev(name, cport), max(0.5, t_first + 6 - time.time()))
            self.check("%s: %s event while capturing" % (what, name), got is not None,
                       "" if got else "no line %.1f s after the traffic began"
                       % (time.time() - t_first))
        # Finished connections leave the table --linger (4 s) after their last
        # frame; their connection lines should be out while the capture runs.
        finished = lambda line: ('"type":"connection"' in line  # noqa: E731
                                 and '"client_port":40002,' in line)
        got = lv.wait_line(finished, max(0.5, t_first + 5.5 - time.time()))
        self.check("json: connection lines of finished connections are written after --linger, "
                   "while the capture runs", got is not None,
                   "" if got else "the refused connection's line was not out %.1f s after it"
                   % (time.time() - t_first))

        rc, t_sig = self.stop(lv, what)
        self.procs.kill(zw_cli)
        self.procs.kill(zw_srv)
        self.check("%s: exit status 0" % what, rc == 0, "exit %s; stderr: %s" % (rc, lv.err))
        self.check("%s: nothing on stderr" % what, not lv.err, " | ".join(lv.err))

        objs = []
        for at, line in lv.lines:
            try:
                objs.append((at, json.loads(line)))
            except ValueError:
                self.check("%s: every line is JSON" % what, False, line[:120])
        types = [o["type"] for _, o in objs]
        self.check("%s: summary is the last line, once" % what,
                   bool(types) and types[-1] == "summary" and types.count("summary") == 1,
                   "types: %s" % types)
        events = [(at, o) for at, o in objs if o["type"] == "event"]
        conns = [o for _, o in objs if o["type"] == "connection"]
        summary = objs[-1][1] if objs and types[-1] == "summary" else {}

        # every event before SIGINT, exactly the expected ones, on time
        self.check("%s: every event line arrived before SIGINT" % what,
                   all(at < t_sig for at, _ in events),
                   "late: %s" % [o["event"] for at, o in events if at >= t_sig])
        seen = sorted((o["client_port"], o["event"]) for _, o in events)
        want = sorted((p, plan[p][2]) for p in plan)
        self.check("%s: exactly one event per connection, the expected one" % what,
                   seen == want, "got %s" % seen)
        pkts = tcp_packets(pcap) if os.path.exists(pcap) else []
        self.check("%s: -w wrote the packets" % what, len(pkts) > 20, "%d TCP packets" % len(pkts))
        by_port = {c["client_port"]: c for c in conns}
        for at, o in events:
            if (o["client_port"], o["event"]) not in want:
                continue
            c = by_port.get(o["client_port"], {})
            stall = c.get("stall") or {}
            self.check_event_timing(what, o["event"], at, pkts, o["client_port"],
                                    ev_time=o.get("time"),
                                    stall_start=stall.get("start") if o["event"] == "stall_start"
                                    else None)

        # the final report
        self.check("%s: one connection line per connection" % what,
                   sorted(by_port) == sorted(plan) and len(conns) == len(plan),
                   "client ports %s" % sorted(c["client_port"] for c in conns))
        for cport, (_, _, _, verdict) in sorted(plan.items()):
            c = by_port.get(cport)
            got = c["verdict"] if c else None
            extra = ""
            ok = got == verdict
            if c and verdict == "reset":
                ok = ok and c.get("reset_by") == "server"
                extra = ", reset_by %s" % c.get("reset_by")
            if c and verdict == "stalled":
                kind = (c.get("stall") or {}).get("kind")
                ok = ok and kind == "zero_window"
                extra = ", stall %s" % kind
            self.check("%s: port %d verdict %s" % (what, cport, verdict), ok,
                       "got %s%s" % (got, extra))
        want_counts = {}
        for _, (_, _, _, v) in plan.items():
            want_counts[v] = want_counts.get(v, 0) + 1
        got_counts = {k: v for k, v in summary.get("verdicts", {}).items() if v}
        self.check("%s: summary counts" % what,
                   summary.get("connections") == len(plan) and got_counts == want_counts,
                   "connections %s, verdicts %s" % (summary.get("connections"), got_counts))
        self.check("%s: summary has the live drop counters" % what,
                   "capture_dropped" in summary and "interface_dropped" in summary
                   and summary.get("source") == IF_RC, "source %s" % summary.get("source"))

        # -w FILE read back with -r: same verdicts, same frames
        p = subprocess.run([self.bin, "-r", pcap, "--format", "json",
                            "--attempt-timeout", str(ATTEMPT_TIMEOUT)],
                           capture_output=True, text=True)
        self.check("-w then -r: exit 0", p.returncode == 0,
                   "exit %d %s" % (p.returncode, p.stderr.strip()))
        ro = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
        rconns = {o["client_port"]: o for o in ro if o["type"] == "connection"}
        rsum = ro[-1] if ro and ro[-1]["type"] == "summary" else {}
        same = {cp: (rconns.get(cp, {}).get("verdict"), by_port[cp]["verdict"])
                for cp in by_port}
        self.check("-w then -r: the same verdicts",
                   sorted(rconns) == sorted(by_port)
                   and all(a == b for a, b in same.values()),
                   "file vs live: %s" % same)
        self.check("-w then -r: the same frames", rsum.get("frames") == summary.get("frames"),
                   "file %s, live %s" % (rsum.get("frames"), summary.get("frames")))

    # -- 2. text, --fail-on ----------------------------------------------------

    def run_text(self):
        what = "text"
        pcap = os.path.join(self.work, "live-text.pcap")
        self.server(8080, "reply_close")
        self.server(8085, "reply_rst")
        lv = self.live(["-i", IF_RC, "--fail-on", "refused", "-w", pcap])
        self.ready(lv, what)
        plan = [(40102, 8081, "connect_only", "refused"),
                (40107, 8085, "reqresp_wait", "reset"),
                (40101, 8080, "reqresp_close", "closed")]
        line_re = re.compile(r"^(\d\d:\d\d:\d\d\.\d+)  (\S+):(\d+) -> (\S+):(\d+)  (\w+): (.+)$")
        for cport, dport, beh, name in plan:
            self.client_run(cport, dport, beh)

            def pred(line, cport=cport, name=name):
                m = line_re.match(line)
                return bool(m) and int(m.group(3)) == cport and m.group(6) == name
            got = lv.wait_line(pred, 2.0)
            self.check("%s: %s event line while capturing" % (what, name), got is not None,
                       "" if got else "no line within 2 s of the client's end")
        rc, t_sig = self.stop(lv, what)
        self.check("%s --fail-on refused: exit status 1" % what, rc == 1,
                   "exit %s; stderr: %s" % (rc, lv.err))
        pkts = tcp_packets(pcap) if os.path.exists(pcap) else []
        texts = [line for _, line in lv.lines]
        for at, line in lv.lines:
            m = line_re.match(line)
            if not m:
                continue
            self.check_event_timing(what, m.group(6), at, pkts, int(m.group(3)))
        head = [i for i, line in enumerate(texts) if line == "tcptriage: %s (EN10MB)" % IF_RC]
        self.check("%s: report printed after SIGINT, once" % what,
                   len(head) == 1 and lv.lines[head[0]][0] >= t_sig,
                   "header at lines %s" % head)
        rep = texts[head[0]:] if head else []
        last_event = max([i for i, line in enumerate(texts) if line_re.match(line)] or [-1])
        self.check("%s: the report comes after every event line" % what,
                   bool(head) and last_event < head[0])
        body = "\n".join(rep)
        self.check("%s: report summary" % what,
                   re.search(r"^  \d+ frames, \d+ TCP segments, 3 connections, ", body, re.M)
                   is not None
                   and re.search(r"^  verdicts: refused 1 reset 1 closed 1$", body, re.M)
                   is not None
                   and re.search(r"^  capture drops: \d+ by the kernel, \d+ by the interface$",
                                 body, re.M) is not None,
                   "\n" + "\n".join("       " + x for x in rep[:6]))
        self.check("%s: problem connections listed" % what,
                   "Problem connections" in body
                   and re.search(r"10\.77\.1\.2:40102 -> 10\.77\.2\.2:8081  refused ", body)
                   and re.search(r"10\.77\.1\.2:40107 -> 10\.77\.2\.2:8085  reset ", body)
                   and not re.search(r":40101 -> .*closed ", body))
        self.check("%s: what to check next" % what, "What to check next:" in body)

    # -- 3. -c and --duration --------------------------------------------------

    def run_count(self):
        what = "-c 5"
        self.server(8080, "reply_close")
        lv = self.live(["-i", IF_RC, "--format", "json", "-c", "5"])
        self.ready(lv, what)
        _, t_end = self.client_run(40201, 8080, "reqresp_close")
        rc = lv.wait_exit(5)
        if rc is None:
            self.check("%s: stops by itself" % what, False, "still running 5 s after the traffic")
            lv.kill()
            return
        self.check("%s: stops by itself, exit 0" % what, rc == 0, "exit %s" % rc)
        self.check("%s: stops right after the traffic" % what, lv.t_exit - t_end <= 1.0,
                   "%.2f s after the client ended" % (lv.t_exit - t_end))
        objs = [json.loads(line) for _, line in lv.lines]
        s = objs[-1] if objs else {}
        self.check("%s: summary last, 5 frames" % what,
                   s.get("type") == "summary" and s.get("frames") == 5,
                   "frames %s" % s.get("frames"))

    def run_duration(self):
        what = "--duration 2"
        lv = self.live(["-i", IF_RC, "--format", "json", "--duration", "2"])
        self.ready(lv, what)
        self.client_run(40301, 8081, "connect_only")
        rc = lv.wait_exit(6)
        if rc is None:
            self.check("%s: stops by itself" % what, False, "still running 6 s after start")
            lv.kill()
            return
        took = lv.t_exit - lv.t_start
        self.check("%s: stops by itself, exit 0" % what, rc == 0, "exit %s" % rc)
        self.check("%s: after 2 s" % what, 2.0 <= took <= 3.5, "%.2f s" % took)
        objs = [json.loads(line) for _, line in lv.lines]
        s = objs[-1] if objs else {}
        conns = [o for o in objs if o["type"] == "connection"]
        self.check("%s: report of what it saw, summary last" % what,
                   s.get("type") == "summary" and s.get("connections") == 1
                   and [c["verdict"] for c in conns] == ["refused"],
                   "connections %s" % [c["verdict"] for c in conns])

    def run_sigterm(self):
        what = "SIGTERM"
        lv = self.live(["-i", IF_RC, "--format", "json"])
        self.ready(lv, what)
        self.client_run(40401, 8081, "connect_only")
        lv.signal(signal.SIGTERM)
        rc = lv.wait_exit(10)
        if rc is None:
            lv.kill()
        objs = [json.loads(line) for _, line in lv.lines]
        s = objs[-1] if objs else {}
        self.check("%s: final report too, exit 0" % what,
                   rc == 0 and s.get("type") == "summary" and s.get("connections") == 1,
                   "exit %s, last line %s" % (rc, s.get("type")))

    # -- 4. errors -------------------------------------------------------------

    def run_errors(self):
        ns = self.topo.rtr
        p = subprocess.run(["ip", "netns", "exec", ns, self.bin, "-i", "ttnosuch0",
                            "--format", "json"], capture_output=True, text=True, timeout=20)
        err = p.stderr.splitlines()
        self.check("bad interface: exit 2", p.returncode == 2, "exit %d" % p.returncode)
        self.check("bad interface: one line on stderr naming it, nothing on stdout",
                   len(err) == 1 and err[0].startswith("tcptriage: ") and "ttnosuch0" in err[0]
                   and p.stdout == "", repr(p.stderr))
        note(p.stderr.strip())

        bad = "tcp and port"
        p = subprocess.run(["ip", "netns", "exec", ns, self.bin, "-i", IF_RC, bad],
                           capture_output=True, text=True, timeout=20)
        err = p.stderr.splitlines()
        # libpcap's own words for this filter, as tcpdump reports them
        libpcap_msg = "syntax error"
        try:
            t = subprocess.run(["ip", "netns", "exec", ns, "tcpdump", "-i", IF_RC, "-d", bad],
                               capture_output=True, text=True, timeout=20)
            m = re.search(r"tcpdump: (.*)$", t.stderr.strip(), re.M)
            if t.returncode != 0 and m:
                libpcap_msg = m.group(1)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.check("bad filter: exit 2", p.returncode == 2, "exit %d" % p.returncode)
        self.check("bad filter: libpcap's message on one line",
                   len(err) == 1 and err[0].startswith("tcptriage: ") and libpcap_msg in err[0]
                   and p.stdout == "", "%r (libpcap: %r)" % (p.stderr, libpcap_msg))
        note(p.stderr.strip())

    def run(self):
        t0 = time.time()
        self.setup()
        note("namespaces %s, %s, %s (set up in %.1f s)"
             % (self.topo.cli, self.topo.rtr, self.topo.srv, time.time() - t0))
        for part in (self.run_json, self.run_text, self.run_count, self.run_duration,
                     self.run_sigterm, self.run_errors):
            t = time.time()
            part()
            self.procs.kill_all()
            note("%s: %.1f s" % (part.__name__, time.time() - t))
        note("%d checks in %.1f s" % (self.check.n, time.time() - t0))
        return self.check.failed


def on_term(sig, frame):
    raise SystemExit("killed by signal %d" % sig)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    why = livelib.preflight()
    if why:
        print("SKIP: live-capture test not run: %s" % why, flush=True)
        return SKIP
    missing = livelib.missing_tools()
    if missing:
        print("SKIP: live-capture test not run: missing %s (bash scripts/setup deps installs them)"
              % ", ".join(missing), flush=True)
        return SKIP
    if not os.access(binary, os.X_OK):
        print("FAIL: %s is not executable" % binary)
        return 1
    signal.signal(signal.SIGTERM, on_term)
    livelib.remove_stale_namespaces()
    work = tempfile.mkdtemp(prefix="tt-live.")
    test = LiveTest(binary, work)
    failed = ["setup"]
    try:
        failed = test.run()
    except SetupError as e:
        print("FAIL: setting up: %s" % e, flush=True)
    except livelib.Unsupported as e:
        print("SKIP: live-capture test not run: %s" % e, flush=True)
        subprocess.run(["rm", "-rf", work])
        return SKIP
    except (SystemExit, KeyboardInterrupt) as e:
        print("FAIL: interrupted (%s); cleaning up" % (e or "SIGINT"), flush=True)
        failed = ["interrupted"]
    except Exception:  # a bug in the test, or output it cannot parse
        traceback.print_exc()
        failed = ["exception"]
    finally:
        test.teardown()
    if failed:
        print("FAILED %d: %s" % (len(failed), "; ".join(failed)))
        log = os.path.join(work, "apps.log")
        if os.path.exists(log):
            print("programs' output (%s):" % log)
            with open(log) as f:
                print(f.read()[-3000:])
        print("(work files kept in %s)" % work)
        return 1
    subprocess.run(["rm", "-rf", work])
    print("all live checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
