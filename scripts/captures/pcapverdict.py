#!/usr/bin/python3
"""Independent, deliberately simple reference classifier for the captures made
by scripts/make-captures.  It is NOT tcptriage: it exists to cross-check the
hand-written captures/*.expect.json and to list the connections of the bulk
diag_* captures, where writing hundreds of entries by hand is not possible.

  pcapverdict.py summary FILE.pcap          one line per connection
  pcapverdict.py check FILE.pcap EXPECT     exit 1 if the capture disagrees
  pcapverdict.py emit FILE.pcap NAME SOURCE write the expect JSON to stdout
  pcapverdict.py write [--order FILE.pcap] NAME SOURCE SPEC...
        expect JSON from hand-written specs
        "CLIENT CPORT SERVER SPORT VERDICT RESET_BY|- STALL_KIND|- [KEY=N...]"
        (--order: list them in the order their connections start in the
        capture, for concurrent clients whose order varies between runs;
        KEY=N: optional extra integer fields, so far only syn_retransmits,
        the number of retransmitted client SYNs, checked by `check`)

Verdict rules (same vocabulary as the analyzer):
  refused     SYN answered by RST or ICMP/ICMPv6 unreachable, no SYN-ACK
  timed_out   no answer, SYN sent at least twice
  unanswered  no answer, a single SYN
  half_open   SYN-ACK seen, the client never ACKed it
  reset       established, RST before both sides sent FIN (reset_by: the side
              whose address sent the first such RST)
  closed      both sides sent FIN
  stalled     established; at the end of the capture (its last packet) a
              direction has had no forward progress (new data or ACK advance)
              for >= 1 s while data waits: receiver window 0 -> zero_window;
              outstanding data >= receiver window -> window_full; otherwise
              outstanding unacknowledged data -> unacked_data
  half_closed one FIN, no FIN from the other side, no RST
  open        established, none of the above
"""
import ipaddress
import signal
import json
import struct
import sys

M32 = 1 << 32


def seq_gt(a, b):
    return a != b and ((a - b) % M32) < (M32 >> 1)


def seq_diff(a, b):
    """a - b as a signed 32-bit distance"""
    d = (a - b) % M32
    return d - M32 if d >= (M32 >> 1) else d


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise SystemExit("%s: not a classic pcap file" % path)
    nsec = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    _, _, _, _, snap, lt = struct.unpack(e + "HHiIII", data[4:24])
    lt &= 0x0FFFFFFF
    off = 24
    out = []
    while off + 16 <= len(data):
        s, us, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        ts = s + us / (1e9 if nsec else 1e6)
        out.append((ts, data[off:off + incl], orig))
        off += incl
    return lt, out


def l3(lt, pkt):
    """-> (ethertype, bytes) or None"""
    if lt == 1:  # Ethernet
        et = struct.unpack(">H", pkt[12:14])[0]
        o = 14
        while et in (0x8100, 0x88A8):
            et = struct.unpack(">H", pkt[o + 2:o + 4])[0]
            o += 4
        return et, pkt[o:]
    if lt == 276:  # LINUX_SLL2
        return struct.unpack(">H", pkt[0:2])[0], pkt[20:]
    if lt == 113:  # LINUX_SLL
        return struct.unpack(">H", pkt[14:16])[0], pkt[16:]
    if lt in (101, 12, 14):  # raw
        v = pkt[0] >> 4
        return (0x0800 if v == 4 else 0x86DD), pkt
    return None


def ip_layer(et, b):
    """-> (src, dst, proto, payload, payload_len_on_wire, ttl) or None"""
    if et == 0x0800 and len(b) >= 20:
        ihl = (b[0] & 15) * 4
        tot = struct.unpack(">H", b[2:4])[0]
        frag = struct.unpack(">H", b[6:8])[0] & 0x1FFF
        if frag:
            return None
        return (str(ipaddress.IPv4Address(b[12:16])),
                str(ipaddress.IPv4Address(b[16:20])), b[9], b[ihl:],
                tot - ihl, b[8])
    if et == 0x86DD and len(b) >= 40:
        plen = struct.unpack(">H", b[4:6])[0]
        nh = b[6]
        o = 40
        while nh in (0, 43, 60, 44):
            if nh == 44:
                nh2 = b[o]
                o += 8
                nh = nh2
                continue
            nh2, hl = b[o], (b[o + 1] + 1) * 8
            o += hl
            nh = nh2
        return (str(ipaddress.IPv6Address(b[8:24])),
                str(ipaddress.IPv6Address(b[24:40])), nh, b[o:],
                plen - (o - 40), b[7])
    return None


class Conn:
    def __init__(self, ts, c, cp, s, sp):
        self.first = ts
        self.last = ts
        self.c, self.cp, self.s, self.sp = c, cp, s, sp
        self.syn = 0
        self.synack = 0
        self.isn = {}          # side -> ISN
        self.wscale = {}       # side -> shift offered in SYN / SYN-ACK
        self.hs_done = False
        self.rst = []          # (ts, side, ttl)
        self.fin = {}          # side -> ts of first FIN
        self.icmp = []         # (ts, from-address, type, code)
        self.pkts = 0
        # per sender side
        self.snd_max = {}      # highest seq+len sent
        self.ack_max = {}      # highest ack sent by this side
        self.win = {}          # last advertised (scaled) window of this side
        self.win0_since = {}   # ts since when this side advertises 0
        self.progress = {}     # sender side -> ts of last forward progress
        self.retrans = {"client": 0, "server": 0}
        self.probes = {"client": 0, "server": 0}
        self.data = {"client": 0, "server": 0}
        self.syn_ts = []
        self.synack_ts = []
        self.ttl = {}

    def side(self, src, sport):
        return "client" if (src, sport) == (self.c, self.cp) else "server"

    def finished(self):
        return bool(self.rst) or len(self.fin) == 2


def analyse(path):
    lt, pkts = read_pcap(path)
    conns = []
    cur = {}   # canonical 4-tuple -> Conn
    t_end = pkts[-1][0] if pkts else 0
    for ts, pkt, orig in pkts:
        r = l3(lt, pkt)
        if not r:
            continue
        ip = ip_layer(*r)
        if not ip:
            continue
        src, dst, proto, pl, plen, ttl = ip
        if proto in (1, 58):   # ICMP / ICMPv6 unreachable carrying our TCP
            typ, code = pl[0], pl[1]
            if (proto == 1 and typ == 3) or (proto == 58 and typ == 1):
                inner = ip_layer(0x0800 if proto == 1 else 0x86DD, pl[8:])
                if inner and inner[2] == 6 and len(inner[3]) >= 4:
                    isrc, idst = inner[0], inner[1]
                    isp, idp = struct.unpack(">HH", inner[3][:4])
                    k = tuple(sorted([(isrc, isp), (idst, idp)]))
                    if k in cur:
                        cur[k].icmp.append((ts, src, typ, code))
                        cur[k].last = ts
            continue
        if proto != 6 or len(pl) < 20:
            continue
        sp, dp, seq, ack, offf, flags, win = struct.unpack(">HHIIBBH", pl[:16])
        hl = (offf >> 4) * 4
        dlen = plen - hl
        SYN, ACK, FIN, RST = flags & 2, flags & 16, flags & 1, flags & 4
        k = tuple(sorted([(src, sp), (dst, dp)]))
        c = cur.get(k)
        if SYN and not ACK:
            if c is None or (c.finished() and c.isn.get("client") != seq) \
                    or (c.side(src, sp) == "client" and "client" in c.isn
                        and c.isn["client"] != seq and c.synack == 0
                        and not c.hs_done):
                c = Conn(ts, src, sp, dst, dp)
                conns.append(c)
                cur[k] = c
        if c is None:
            # mid-stream: the first sender is taken as the client
            c = Conn(ts, src, sp, dst, dp)
            c.hs_done = True
            conns.append(c)
            cur[k] = c
        side = c.side(src, sp)
        other = "server" if side == "client" else "client"
        c.last = ts
        c.pkts += 1
        c.ttl.setdefault(side, set()).add(ttl)
        # options: window scale on SYNs
        if SYN:
            wsc = None
            opts = pl[20:hl]
            i = 0
            while i < len(opts):
                kind = opts[i]
                if kind == 0:
                    break
                if kind == 1:
                    i += 1
                    continue
                if i + 1 >= len(opts):
                    break
                ln = opts[i + 1]
                if kind == 3 and ln == 3:
                    wsc = opts[i + 2]
                i += max(ln, 2)
            if wsc is not None:
                c.wscale[side] = wsc
            c.isn.setdefault(side, seq)
            if ACK:
                c.synack += 1
                c.synack_ts.append(ts)
            else:
                c.syn += 1
                c.syn_ts.append(ts)
        elif ACK and side == "client" and c.synack and not c.hs_done:
            c.hs_done = True
        if RST:
            c.rst.append((ts, side, ttl))
        if FIN and side not in c.fin:
            c.fin[side] = ts
        # sequence space / progress
        end = (seq + dlen + (1 if SYN else 0) + (1 if FIN else 0)) % M32
        if side not in c.snd_max:
            c.snd_max[side] = end
            c.progress[side] = ts
        elif seq_gt(end, c.snd_max[side]):
            c.snd_max[side] = end
            c.progress[side] = ts
        elif dlen > 0:
            if seq_diff(end, c.snd_max[side]) <= 0:
                c.retrans[side] += 1
        if dlen > 0:
            c.data[side] += dlen
        if dlen <= 1 and not SYN and not FIN and not RST and other in c.ack_max \
                and side in c.snd_max and seq_diff(seq, c.ack_max[other]) < 0:
            c.probes[side] += 1   # zero-window probe / keepalive (seq below)
        if ACK:
            if other not in c.progress:
                c.progress[other] = ts
            if side not in c.ack_max or seq_gt(ack, c.ack_max[side]):
                c.ack_max[side] = ack
                c.progress[other] = ts   # the other's data moves on
            sc = c.wscale.get(side, 0) if (not SYN and len(c.wscale) == 2) else 0
            w = win << sc
            if w == 0 and c.win.get(side, 1) != 0:
                c.win0_since[side] = ts
            c.win[side] = w
    for c in conns:
        classify(c, t_end)
    return lt, conns, t_end


def classify(c, t_end):
    c.reset_by = None
    c.stall_kind = None
    c.stall_detail = ""
    if not c.synack and c.syn:
        if any(s == "server" for _, s, _ in c.rst) or c.icmp:
            c.verdict = "refused"
        elif c.syn >= 2:
            c.verdict = "timed_out"
        else:
            c.verdict = "unanswered"
        return
    if c.synack and not c.hs_done:
        c.verdict = "half_open"
        return
    both_fin = max(c.fin.values()) if len(c.fin) == 2 else None
    rsts = [r for r in c.rst if both_fin is None or r[0] < both_fin]
    if rsts:
        c.verdict = "reset"
        c.reset_by = rsts[0][1]
        return
    if both_fin is not None:
        c.verdict = "closed"
        return
    for snd in ("client", "server"):
        rcv = "server" if snd == "client" else "client"
        if snd not in c.snd_max:
            continue
        idle = t_end - c.progress.get(snd, c.first)
        outstanding = seq_diff(c.snd_max[snd], c.ack_max.get(rcv, c.snd_max[snd]))
        if snd in c.fin:
            outstanding -= 1  # FIN is not data
        w = c.win.get(rcv)
        if w == 0 and t_end - c.win0_since.get(rcv, t_end) >= 1.0 \
                and c.data[snd] > 0 and idle >= 1.0:
            c.verdict, c.stall_kind = "stalled", "zero_window"
            c.stall_detail = "%s->%s window 0 for %.2fs, %d probes" % (
                snd, rcv, t_end - c.win0_since[rcv], c.probes[snd])
            return
        if outstanding > 0 and idle >= 1.0:
            kind = "window_full" if (w is not None and outstanding >= w) \
                else "unacked_data"
            c.verdict, c.stall_kind = "stalled", kind
            c.stall_detail = "%s->%s %d bytes outstanding, no progress %.2fs" % (
                snd, rcv, outstanding, idle)
            return
    if c.fin:
        c.verdict = "half_closed"
        return
    c.verdict = "open"


def entry(c):
    e = {"client": c.c, "client_port": c.cp, "server": c.s,
         "server_port": c.sp, "verdict": c.verdict,
         "reset_by": c.reset_by, "stall_kind": c.stall_kind}
    e.update(getattr(c, "extra", {}))
    return e


EXTRAS = {"syn_retransmits": lambda c: max(0, c.syn - 1)}


def fmt_expect(name, source, conns):
    lines = ['{"capture": %s,' % json.dumps(name),
             ' "source": %s,' % json.dumps(source),
             ' "connections": [']
    ents = [json.dumps(entry(c)) for c in conns]
    lines.append(",\n".join("   " + e for e in ents))
    lines.append(" ]}")
    return "\n".join(lines) + "\n"


def summary_line(c, t0):
    fins = ",".join("%s@%.3f" % (s, t - t0) for s, t in sorted(c.fin.items()))
    rst = ",".join("%s@%.3f(ttl%d)" % (s, t - t0, ttl) for t, s, ttl in c.rst[:3])
    icmp = ",".join("%s@%.3f t%dc%d" % (a, t - t0, ty, co) for t, a, ty, co in c.icmp)
    return ("%s:%d -> %s:%d %-11s %-6s %-12s syn=%d%s synack=%d%s pkts=%d "
            "data c=%d s=%d retx c=%d s=%d probes c=%d s=%d fin=[%s] rst=[%s]%s %s"
            % (c.c, c.cp, c.s, c.sp, c.verdict, c.reset_by or "-",
               c.stall_kind or "-", c.syn,
               "@" + "/".join("%.3f" % (t - t0) for t in c.syn_ts[:6]) if c.syn else "",
               c.synack,
               "@" + "/".join("%.3f" % (t - t0) for t in c.synack_ts[:6]) if c.synack else "",
               c.pkts, c.data["client"], c.data["server"], c.retrans["client"],
               c.retrans["server"], c.probes["client"], c.probes["server"],
               fins, rst, (" icmp=[%s]" % icmp) if icmp else "", c.stall_detail))


class Spec:
    """a hand-written expectation: 'CLIENT CPORT SERVER SPORT VERDICT RESET_BY STALL_KIND'"""
    def __init__(self, text):
        f = text.split()
        self.c, self.cp, self.s, self.sp = f[0], int(f[1]), f[2], int(f[3])
        self.verdict = f[4]
        self.reset_by = None if f[5] == "-" else f[5]
        self.stall_kind = None if f[6] == "-" else f[6]
        self.extra = {}
        for kv in f[7:]:
            k, v = kv.split("=", 1)
            if k not in EXTRAS:
                raise SystemExit("unknown extra field %r in spec %r" % (k, text))
            self.extra[k] = int(v)


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    cmd = sys.argv[1]
    if cmd == "write":   # write [--order PCAP] NAME SOURCE SPEC...
        args = sys.argv[2:]
        order = None
        if args[0] == "--order":
            order, args = args[1], args[2:]
        specs = [Spec(t) for t in args[2:]]
        if order:
            # capture order by 4-tuple (a repeated 4-tuple keeps its order);
            # a spec the capture lacks goes last and `check` reports it
            _, conns, _ = analyse(order)
            pos = {}
            for i, c in enumerate(conns):
                pos.setdefault((c.c, c.cp, c.s, c.sp), []).append(i)
            def key(sp):
                lst = pos.get((sp.c, sp.cp, sp.s, sp.sp))
                return lst.pop(0) if lst else len(conns)
            specs = [sp for _, sp in sorted(((key(sp), j), sp)
                                            for j, sp in enumerate(specs))]
        sys.stdout.write(fmt_expect(args[0], args[1], specs))
        return 0
    lt, conns, t_end = analyse(sys.argv[2])
    t0 = conns[0].first if conns else 0
    if cmd == "summary":
        print("linktype %d, %d connections, last packet at +%.3f s" %
              (lt, len(conns), t_end - t0))
        for c in conns:
            print(summary_line(c, t0))
        return 0
    if cmd == "emit":
        sys.stdout.write(fmt_expect(sys.argv[3], sys.argv[4], conns))
        return 0
    if cmd == "check":
        with open(sys.argv[3]) as f:
            exp = json.load(f)["connections"]
        got = [entry(c) for c in conns]
        for e, g, c in zip(exp, got, conns):
            for k in e:
                if k in EXTRAS and k not in g:
                    g[k] = EXTRAS[k](c)
        bad = 0
        if len(exp) != len(got):
            print("  MISMATCH: expect lists %d connections, capture has %d"
                  % (len(exp), len(got)))
            bad = 1
        for i, (e, g) in enumerate(zip(exp, got)):
            if e != g:
                print("  MISMATCH #%d:\n    expect  %s\n    capture %s" %
                      (i, json.dumps(e), json.dumps(g)))
                bad = 1
        return bad
    raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())
