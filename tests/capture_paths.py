#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The two ways of reading a classic pcap file give the same results.

For a regular classic pcap file tcptriage walks the records itself through
direct; TCPTRIAGE_LIBPCAP_ONLY=1 makes it read through libpcap instead. For every
classic pcap in CAPTURES (and SHARED/captures/**, when present), with and
without BPF filters, for truncated copies cut inside record headers and
inside packet data, and for synthetic variants (other byte order, nanosecond
magic, odd timestamps, a small or zero snaplen, lengths past the maximum,
other link types, an old version), both ways must give byte-identical
standard output, the same standard error and the same exit status.
TCPTRIAGE_DEBUG_CAPTURE=1 tells which reader was used, so the test also
checks that the fast path really was taken where it should be (and was not
where libpcap must decide).

usage: capture_paths.py BIN CAPTURES_DIR [SHARED_DIR]
Honours TCPTRIAGE_WRAPPER (e.g. valgrind) for the direct runs, then with a
smaller set of runs and without the shared corpus.
"""
import glob
import os
import struct
import subprocess
import sys
import tempfile

CLASSIC = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
FILTERS = ["tcp port 8080", "tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 or icmp or icmp6"]
WRAPPER = os.environ.get("TCPTRIAGE_WRAPPER", "").split()
DEBUG_PREFIX = b"tcptriage: debug: "

failures = []
counts = {"files": 0, "runs": 0}


def run(binary, path, args, direct):
    env = dict(os.environ)
    env.pop("TCPTRIAGE_LIBPCAP_ONLY", None)
    env["TCPTRIAGE_DEBUG_CAPTURE"] = "1"
    if not direct:
        env["TCPTRIAGE_LIBPCAP_ONLY"] = "1"
    # under a wrapper (valgrind) only the direct side runs in it: that is the new code
    cmd = (WRAPPER if direct else []) + [binary, "--format", "json", "-r", path] + args
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=300)
    reader = None
    err = []
    for line in p.stderr.splitlines(True):
        if line.startswith(DEBUG_PREFIX):
            reader = line.rstrip().rsplit(b" ", 2)[-2].decode()
        else:
            err.append(line)
    counts["runs"] += 1
    return p.returncode, p.stdout, b"".join(err), reader


def compare(binary, path, args=(), want_reader="direct", want_status=None, label=None):
    """Run both ways; record a failure for any difference. Returns the status."""
    label = label or os.path.basename(path)
    what = f"{label} {' '.join(args)}".strip()
    a = run(binary, path, list(args), True)
    b = run(binary, path, list(args), False)
    if a[0] in (99,) or b[0] in (99,):
        failures.append(f"{what}: wrapper reported errors:\n{a[2].decode(errors='replace')}"
                        f"{b[2].decode(errors='replace')}")
    if want_reader and a[3] != want_reader and not (a[3] is None and a[0] == 2):
        failures.append(f"{what}: read by {a[3]}, expected {want_reader}")
    if b[3] not in (None, "libpcap"):
        failures.append(f"{what}: TCPTRIAGE_LIBPCAP_ONLY=1 still read by {b[3]}")
    if a[0] != b[0]:
        failures.append(f"{what}: exit status {a[0]} (direct) vs {b[0]} (libpcap)")
    if a[1] != b[1]:
        failures.append(f"{what}: standard output differs ({len(a[1])} vs {len(b[1])} bytes)")
    if a[2] != b[2]:
        failures.append(f"{what}: standard error differs:\n  direct:    {a[2]!r}\n"
                        f"  libpcap: {b[2]!r}")
    if want_status is not None and a[0] != want_status:
        failures.append(f"{what}: exit status {a[0]}, expected {want_status}: {a[2]!r}")
    return a[0]


# ---- pcap files as data ---------------------------------------------------

def read_pcap(path):
    """(header fields, [(sec, frac, caplen, wirelen, data)], little-endian?)"""
    with open(path, "rb") as fh:
        raw = fh.read()
    le = raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    e = "<" if le else ">"
    magic, vmaj, vmin, zone, sig, snap, link = struct.unpack(e + "IHHiIII", raw[:24])
    recs, off = [], 24
    while off + 16 <= len(raw):
        sec, frac, cap, wire = struct.unpack(e + "IIII", raw[off:off + 16])
        recs.append((sec, frac, cap, wire, raw[off + 16:off + 16 + cap]))
        off += 16 + cap
    return (magic, vmaj, vmin, zone, sig, snap, link), recs


def write_pcap(path, recs, *, big=False, nano=False, snaplen=262144, link=1, version=(2, 4),
               raw_records=None):
    e = ">" if big else "<"
    magic = 0xa1b23c4d if nano else 0xa1b2c3d4
    out = [struct.pack(e + "IHHiIII", magic, version[0], version[1], 0, 0, snaplen, link)]
    for sec, frac, cap, wire, data in recs:
        out.append(struct.pack(e + "IIII", sec & 0xffffffff, frac & 0xffffffff, cap, wire))
        out.append(data)
    if raw_records:
        out.append(raw_records)
    with open(path, "wb") as fh:
        fh.write(b"".join(out))
    return path


def record_offsets(path):
    """[(header offset, data offset, caplen)] of a little-endian 2.4 file."""
    with open(path, "rb") as fh:
        raw = fh.read()
    e = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    res, off = [], 24
    while off + 16 <= len(raw):
        cap = struct.unpack(e + "I", raw[off + 8:off + 12])[0]
        res.append((off, off + 16, cap))
        off += 16 + cap
    return res, raw


def strip_ethernet(recs, prefix=b""):
    """IPv4/IPv6 frames without their Ethernet header (for raw-IP link types)."""
    out = []
    for sec, frac, cap, wire, data in recs:
        if len(data) >= 14 and data[12:14] in (b"\x08\x00", b"\x86\xdd"):
            body = prefix + data[14:]
            out.append((sec, frac, len(body), wire - 14 + len(prefix), body))
    return out


# ---- the checks -----------------------------------------------------------

def check_corpus(binary, files, filters):
    for path in files:
        counts["files"] += 1
        with open(path, "rb") as fh:
            head = fh.read(24)
        link = struct.unpack("<I" if head[:1] in (b"\xd4", b"\x4d") else ">I", head[20:24])[0]
        want = "direct" if link in (1, 113, 276, 0, 108, 101, 12, 228, 229) else None
        compare(binary, path, want_reader=want)
        for flt in filters:
            compare(binary, path, [flt], want_reader=want)


def check_truncated(binary, src, tmp):
    recs, raw = record_offsets(src)
    if len(recs) < 4:
        return
    cuts = []
    h, d, cap = recs[2]
    cuts += [("header+1", h + 1), ("header+8", h + 8), ("header+15", h + 15)]
    h, d, cap = recs[3]
    cuts += [("data+0", d), ("data+1", d + 1), ("data-mid", d + cap // 2), ("data-end", d + cap - 1)]
    h, d, cap = recs[-1]
    cuts += [("last-header+4", h + 4), ("last-data+1", d + 1)]
    name = os.path.basename(src)
    for what, at in cuts:
        path = os.path.join(tmp, f"cut-{what}-{name}")
        with open(path, "wb") as fh:
            fh.write(raw[:at])
        compare(binary, path, want_status=3, label=f"{name} cut {what} @{at}")
        compare(binary, path, [FILTERS[0]], want_status=3,
                label=f"{name} cut {what} @{at}")
    # cut exactly on a record boundary: a clean, shorter file
    path = os.path.join(tmp, f"cut-boundary-{name}")
    with open(path, "wb") as fh:
        fh.write(raw[:recs[3][0]])
    status = compare(binary, path, label=f"{name} cut on a boundary")
    if status not in (0, 1):
        failures.append(f"{name} cut on a boundary: exit status {status}")
    # a header cut short: libpcap's open error, the same both ways
    path = os.path.join(tmp, f"cut-filehdr-{name}")
    with open(path, "wb") as fh:
        fh.write(raw[:10])
    compare(binary, path, want_reader=None, want_status=2, label=f"{name} file header cut")


def check_synthetic(binary, src, tmp):
    hdr, recs = read_pcap(src)
    if hdr[6] != 1 or not recs:
        return
    j = lambda n: os.path.join(tmp, n)  # noqa: E731
    n = len(recs)
    # byte order and timestamp resolution
    compare(binary, write_pcap(j("big.pcap"), recs, big=True))
    nrecs = [(s, f * 1000 + 123, c, w, d) for s, f, c, w, d in recs]
    compare(binary, write_pcap(j("nano.pcap"), nrecs, nano=True))
    compare(binary, write_pcap(j("nano-big.pcap"), nrecs, nano=True, big=True))
    # seconds with the top bit set (negative in libpcap's 32-bit field)
    hi = [((s + 0x90000000) & 0xffffffff, f, c, w, d) for s, f, c, w, d in recs]
    compare(binary, write_pcap(j("ts-high.pcap"), hi))
    compare(binary, write_pcap(j("ts-high-big.pcap"), hi, big=True))
    # fractions with the top bit set, in both byte orders
    neg = [(s, 0x80000000 + f if i % 2 else f, c, w, d) for i, (s, f, c, w, d) in enumerate(recs)]
    compare(binary, write_pcap(j("frac-high.pcap"), neg))
    compare(binary, write_pcap(j("frac-high-big.pcap"), neg, big=True))
    compare(binary, write_pcap(j("frac-high-nano-big.pcap"), neg, big=True, nano=True))
    # a fraction past one second
    odd = [(s, f + (2_500_000 if i % 3 == 0 else 0), c, w, d) for i, (s, f, c, w, d) in
           enumerate(recs)]
    compare(binary, write_pcap(j("usec-over.pcap"), odd))
    # snaplen 0 (libpcap: the maximum) and a snaplen smaller than the records
    compare(binary, write_pcap(j("snap0.pcap"), recs, snaplen=0))
    compare(binary, write_pcap(j("snap-huge.pcap"), recs, snaplen=0x7fffffff))
    compare(binary, write_pcap(j("snap-negative.pcap"), recs, snaplen=0x80000000))
    small = write_pcap(j("snap60.pcap"), recs, snaplen=60)
    compare(binary, small)
    compare(binary, small, [FILTERS[0]])
    compare(binary, write_pcap(j("snap60-big.pcap"), recs, snaplen=60, big=True))
    # caplen above the snaplen, the file cut inside the snaplen and past it
    big_rec = next((r for r in recs if r[2] > 70), None)
    if big_rec:
        s, f, c, w, d = big_rec
        tail = struct.pack("<IIII", s, f, c, w) + d
        for cut, label in ((30, "snap60-cut-in-snap"), (65, "snap60-cut-past-snap")):
            p = write_pcap(j(label + ".pcap"), recs[:3], snaplen=60, raw_records=tail[:16 + cut])
            compare(binary, p, want_status=3)
    # caplen past libpcap's maximum (262144), and just at it
    s, f, c, w, d = recs[min(3, n - 1)]
    for caplen, status in ((262145, 3), (0xffffffff, 3)):
        bad = struct.pack("<IIII", s, f, caplen, w) + d
        p = write_pcap(j(f"caplen-{caplen}.pcap"), recs[:4], raw_records=bad)
        compare(binary, p, want_status=status)
        compare(binary, p, [FILTERS[0]], want_status=status)
    at_max = struct.pack("<IIII", s, f, 262144, 262144) + bytes(262144)
    compare(binary, write_pcap(j("caplen-max.pcap"), recs[:4] + recs[4:6], raw_records=at_max))
    # with a snaplen above the maximum, caplen between the two is still refused
    over = struct.pack("<IIII", s, f, 262145, 262145) + bytes(262145)
    compare(binary, write_pcap(j("caplen-over-max-snap-huge.pcap"), recs[:4], snaplen=0x7fffffff,
                               raw_records=over), want_status=3)
    # a caplen above the snaplen, cut exactly at the snaplen
    p = write_pcap(j("snap60-cut-at-snap.pcap"), recs[:3], snaplen=60,
                   raw_records=struct.pack("<IIII", s, f, 100, 100) + bytes(60))
    compare(binary, p, want_status=3)
    # caplen above wirelen, zero-length records
    weird = [(s, f, c, max(0, c - 5) if i % 4 == 1 else w, d) for i, (s, f, c, w, d) in
             enumerate(recs)]
    weird.insert(min(2, n), (recs[0][0], recs[0][1], 0, 0, b""))
    compare(binary, write_pcap(j("weird-lengths.pcap"), weird))
    # link types: FCS bits in the top of the field, raw IP (101, 12, 228), DLT_NULL, LOOP
    compare(binary, write_pcap(j("fcs-bits.pcap"), recs, link=0x04000000 | 1))
    rawip = strip_ethernet(recs)
    v4 = [r for r in rawip if r[4][:1] and r[4][0] >> 4 == 4]
    for lt in (101, 12):
        compare(binary, write_pcap(j(f"raw{lt}.pcap"), rawip, link=lt))
    if v4:
        compare(binary, write_pcap(j("ipv4-228.pcap"), v4, link=228))
        compare(binary, write_pcap(j("null.pcap"), strip_ethernet(recs, struct.pack("=I", 2)),
                                   link=0))
        compare(binary, write_pcap(j("loop.pcap"), strip_ethernet(recs, struct.pack(">I", 2)),
                                   link=108))
    # what only libpcap decides: old versions, unsupported link types, big-endian SLL
    compare(binary, write_pcap(j("v2.2.pcap"), recs, version=(2, 2)), want_reader="libpcap")
    compare(binary, write_pcap(j("v2.3.pcap"), recs, version=(2, 3)), want_reader="libpcap")
    compare(binary, write_pcap(j("v3.0.pcap"), recs, version=(3, 0)), want_reader=None,
            want_status=2)
    compare(binary, write_pcap(j("link147.pcap"), recs, link=147), want_reader=None,
            want_status=2)
    # Linux cooked (SLL): pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
    sll = []
    for s, f, c, w, d in recs:
        body = struct.pack(">HHH", 0, 1, 6) + d[6:12] + b"\0\0" + d[12:]
        sll.append((s, f, len(body), w + 2, body))
    compare(binary, write_pcap(j("sll.pcap"), sll, link=113))
    compare(binary, write_pcap(j("sll-big.pcap"), sll, link=113, big=True), want_reader="libpcap")
    # a filter that does not compile: the same message both ways
    compare(binary, src, ["tcp port"], want_reader=None, want_status=2)


def main():
    binary, captures = sys.argv[1:3]
    shared = sys.argv[3] if len(sys.argv) > 3 else None
    if not os.path.isdir(captures):
        print(f"skip: {captures} not present")
        return 77
    files = sorted(glob.glob(os.path.join(captures, "*.pcap")))
    shared_files = []
    if shared and os.path.isdir(os.path.join(shared, "captures")) and not WRAPPER:
        shared_files = sorted(glob.glob(os.path.join(shared, "captures", "**", "*.pcap"),
                                        recursive=True))
    elif shared:
        print("shared corpus: " + ("skipped under a wrapper" if WRAPPER else "not present"))

    def classic(p):
        with open(p, "rb") as fh:
            return fh.read(4) in CLASSIC

    files = [p for p in files if classic(p)]
    shared_files = [p for p in shared_files if classic(p)]
    check_corpus(binary, files, FILTERS if not WRAPPER else [])
    check_corpus(binary, shared_files, FILTERS)
    with tempfile.TemporaryDirectory(prefix="capture-paths-") as tmp:
        srcs = [p for p in files if os.path.basename(p) in ("clean.pcap", "diag_loss.pcap")]
        for src in (srcs or files[:1])[:1 if WRAPPER else 2]:
            check_truncated(binary, src, tmp)
        for src in (srcs or files[:1])[:1]:
            check_synthetic(binary, src, tmp)
    print(f"{counts['files']} corpus files, {counts['runs']} runs")
    if failures:
        print(f"{len(failures)} differences:")
        for f in failures:
            print("  " + f)
        return 1
    print("ok: the direct and libpcap readers agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
