#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_cli.py - bad options and bad inputs through the tcptriage binary.

Usage: test_cli.py TCPTRIAGE CAPTURES_DIR

Every bad option or unreadable input must give exactly one line on stderr
("tcptriage: ..."), nothing on stdout, and exit status 2: a bad number, an
unknown verdict in --fail-on, an unknown format or option, a missing file, a
directory, an empty file, /dev/null, a file that is not a capture, a cut file header,
an unsupported link type (a pcap with DLT 147), a bad BPF filter.

Damaged inputs, end to end: captures cut inside a record (in its header and
in its data; a file, gzip, standard input plain and gzip, a named pipe) must exit 3 with one
line on stderr, a JSON summary saying "damaged": true with the reason, the
frames of every complete record before the cut, and the same connection
lines as the capture cut at the previous record boundary (which exits 0).
A --fail-on match on a damaged input still exits 3 (3 wins over 1).

Prints one TAP line per check.
"""
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

TCPTRIAGE, CAPTURES = sys.argv[1], sys.argv[2]
results = []


def check(ok, what, detail=""):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), what))
    if not ok and detail:
        for line in str(detail).splitlines():
            print("#   " + line)


def run(args, stdin=b""):
    p = subprocess.run([TCPTRIAGE] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def expect_usage_error(args, what, want=None, stdin=b""):
    rc, out, err = run(args, stdin)
    lines = err.splitlines()
    ok = (rc == 2 and out == "" and len(lines) == 1 and err.endswith("\n")
          and lines[0].startswith("tcptriage: ") and (want is None or want in lines[0]))
    check(ok, "%s: exit 2, one line on stderr" % what,
          "args %r\nexit %d\nstdout %r\nstderr %r" % (args, rc, out[:300], err))


def pcap_header(linktype, snaplen=65535):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def records(data):
    """(start, end) of every complete record of a classic pcap, walking the
    record headers (little- or big-endian)."""
    big = data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
    fmt = ">I" if big else "<I"
    out, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack_from(fmt, data, off + 8)[0]
        if off + 16 + caplen > len(data):
            break
        out.append((off, off + 16 + caplen))
        off += 16 + caplen
    return out


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main():
    tmp = tempfile.mkdtemp(prefix="tcptriage-cli-")
    clean = os.path.join(CAPTURES, "clean.pcap")

    def path(name, data):
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    # ---- options ----------------------------------------------------------
    r = ["-r", clean]
    expect_usage_error(r + ["--linger", "abc"], "--linger abc", "--linger")
    expect_usage_error(r + ["--linger", "5s"], "--linger 5s", "--linger")
    expect_usage_error(r + ["--max-connections", "-5"], "--max-connections -5",
                       "--max-connections")
    expect_usage_error(r + ["--max-connections", "99999999999999999999999"],
                       "--max-connections overflow", "--max-connections")
    expect_usage_error(r + ["--attempt-timeout", "1e999"], "--attempt-timeout 1e999")
    expect_usage_error(r + ["--stall-threshold", "nan"], "--stall-threshold nan")
    expect_usage_error(r + ["--max-report-lines", ""], "--max-report-lines ''")
    expect_usage_error(r + ["-c", "0"], "-c 0", "-c")
    expect_usage_error(r + ["--fail-on", "refused,bogus"], "--fail-on unknown verdict",
                       "'bogus'")
    expect_usage_error(r + ["--fail-on", ","], "--fail-on empty list", "--fail-on")
    expect_usage_error(r + ["--format", "xml"], "--format xml", "'xml'")
    expect_usage_error(r + ["--bogus"], "unknown option", "--bogus")
    expect_usage_error(["-r"], "-r without a value", "-r")
    expect_usage_error([], "no input", "-r")

    # ---- inputs -----------------------------------------------------------
    expect_usage_error(["-r", os.path.join(tmp, "missing.pcap")], "missing file",
                       "missing.pcap")
    expect_usage_error(["-r", tmp], "a directory", "directory")
    expect_usage_error(["-r", path("empty.pcap", b"")], "an empty file", "empty")
    expect_usage_error(["-r", path("text.pcap", b"hello, this is not a capture\n" * 20)],
                       "a text file", "not a readable")
    expect_usage_error(["-r", path("elf.pcap", b"\x7fELF" + bytes(200))], "a binary file",
                       "not a readable")
    expect_usage_error(["-r", path("hdr.pcap", pcap_header(1)[:10])], "a cut file header")
    dlt147 = pcap_header(147) + struct.pack("<IIII", 1, 0, 4, 4) + b"abcd"
    expect_usage_error(["-r", path("dlt147.pcap", dlt147)], "link type 147",
                       "unsupported link type")
    expect_usage_error(["-r", clean, "tcp", "port"], "bad filter 'tcp port'", "filter")
    expect_usage_error(["-r", clean, "portt", "80"], "bad filter 'portt 80'", "filter")
    expect_usage_error(["-r", "/dev/null"], "a character device with nothing in it",
                       "/dev/null: empty input")
    expect_usage_error(["-r", "-"], "empty standard input", "standard input: empty input",
                       stdin=b"")
    expect_usage_error(["-r", "-"], "text on standard input", stdin=b"GET / HTTP/1.0\r\n" * 8)
    # a read error is not "empty": a gzip header and garbage, a directory on stdin
    expect_usage_error(["-r", path("corrupt.pcap.gz", b"\x1f\x8b\x08\x00" + bytes(6) +
                                    bytes(range(256)))], "a corrupt gzip stream",
                       "not a readable")
    d = os.open(tmp, os.O_RDONLY)
    try:
        p = subprocess.run([TCPTRIAGE, "-r", "-"], stdin=d, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(d)
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 2 and p.stdout == b"" and len(err.splitlines()) == 1
          and "standard input: not a readable" in err,
          "a directory on standard input: exit 2, one line on stderr",
          "exit %d\nstderr %r" % (p.returncode, err))

    # ---- damaged captures, end to end ---------------------------------------
    for name in ("clean.pcap", "sll2_any.pcap", "refused_fw_icmp6.pcap", "zero_window.pcap"):
        data = open(os.path.join(CAPTURES, name), "rb").read()
        recs = records(data)
        check(len(recs) >= 4 and recs[-1][1] == len(data), "%s: walked %d records" %
              (name, len(recs)))
        for k in (1, len(recs) // 2, len(recs) - 1):
            start, end = recs[k]
            rc0, out0, err0 = run(["-r", path("b.pcap", data[:start]), "--format", "json"])
            base = json_lines(out0)
            check(rc0 == 0 and err0 == "" and base[-1]["damaged"] is False
                  and base[-1]["frames"] == k,
                  "%s cut at record boundary %d: exit 0, %d frames" % (name, start, k),
                  "exit %d stderr %r" % (rc0, err0))
            for cut, where in ((start + 5, "record header"), (start + 16 + 3, "record data"),
                               (end - 1, "last byte")):
                rc, out, err = run(["-r", path("cut.pcap", data[:cut]), "--format", "json"])
                lines = json_lines(out)
                s = lines[-1]
                ok = (rc == 3 and len(err.splitlines()) == 1 and err.endswith("\n")
                      and err.startswith("tcptriage: ") and "damaged" in err
                      and s["type"] == "summary" and s["damaged"] is True
                      and isinstance(s.get("damage"), str) and len(s["damage"]) > 0
                      and s["frames"] == k and lines[:-1] == base[:-1])
                check(ok, "%s cut at %d (%s of record %d): exit 3, one line, damaged, "
                      "%d frames, same connections" % (name, cut, where, k + 1, k),
                      "exit %d\nstderr %r\nsummary %r" % (rc, err, s))
        # text report and gzip, cut inside the last record
        start, end = recs[-1]
        cut = data[:start + 20]
        rc, out, err = run(["-r", path("cut.pcap", cut)])
        check(rc == 3 and "INPUT DAMAGED" in out and len(err.splitlines()) == 1,
              "%s cut, text report: exit 3, says INPUT DAMAGED" % name, err)
        gz = gzip.compress(cut)
        for args, stdin, what in ((["-r", path("cut.pcap.gz", gz)], b"", "gzip file"),
                                  (["-r", "-"], gz, "gzip on stdin"),
                                  (["-r", "-"], cut, "stdin")):
            rc, out, err = run(args + ["--format", "json"], stdin)
            lines = json_lines(out)
            ok = (rc == 3 and len(err.splitlines()) == 1 and lines[-1]["damaged"] is True
                  and lines[-1]["frames"] == len(recs) - 1)
            check(ok, "%s cut, %s: exit 3, damaged, %d frames" % (name, what, len(recs) - 1),
                  "exit %d stderr %r" % (rc, err))
        # A gzip stream itself cut short (the pcap inside is whole up to there).
        full_gz = gzip.compress(data)
        rc, out, err = run(["-r", path("trunc.pcap.gz", full_gz[:len(full_gz) * 2 // 3])])
        check(rc in (0, 3) and len(err.splitlines()) == (1 if rc == 3 else 0),
              "%s: truncated gzip stream: exit 0 or 3, no crash" % name, err)

    # A named pipe (not a regular file: the stdio reader), cut inside a record.
    data = open(clean, "rb").read()
    recs = records(data)
    fifo = os.path.join(tmp, "fifo.pcap")
    os.mkfifo(fifo)
    p = subprocess.Popen([TCPTRIAGE, "-r", fifo, "--format", "json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    with open(fifo, "wb") as w:
        w.write(data[:recs[5][0] + 9])
    out, err = p.communicate(timeout=120)
    err = err.decode("utf-8", "replace")
    lines = json_lines(out.decode("utf-8", "replace")) or [{}]
    check(p.returncode == 3 and len(err.splitlines()) == 1 and lines[-1].get("frames") == 5
          and lines[-1].get("damaged") is True,
          "named pipe cut inside record 6: exit 3, 5 frames", "exit %d stderr %r" %
          (p.returncode, err))

    # /dev/stdin on a pipe (what `tcptriage -r <(zcat x.pcap.gz)` looks like): a whole
    # capture must read like the file itself.
    rc, out, err = run(["-r", "/dev/stdin", "--format", "json"], data)
    lines = json_lines(out) if rc in (0, 3) else [{}]
    check(rc == 0 and lines[-1].get("frames") == len(recs) and err == "",
          "-r /dev/stdin on a pipe: exit 0, %d frames" % len(recs),
          "exit %d stderr %r" % (rc, err))

    # 3 wins over 1: a --fail-on verdict in a damaged capture.
    cut = data[:recs[-1][0] + 7]
    rc, out, err = run(["-r", path("cut.pcap", cut), "--fail-on", "closed,open,reset",
                        "--format", "json"])
    check(rc == 3 and len(err.splitlines()) == 1, "damaged + --fail-on match: exit 3",
          "exit %d stderr %r" % (rc, err))

    bad = results.count(False)
    print("1..%d" % len(results))
    if bad:
        print("# %d of %d checks failed" % (bad, len(results)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
