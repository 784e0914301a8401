# SPDX-License-Identifier: MIT
"""Shared pieces of the live-capture test (test_live.py) and the soak run
(soak.py): three network namespaces joined by veth, the client/server
programs of scripts/captures/tcpapp.py played inside them, and tcptriage
running live in the router namespace with its output read line by line,
each line stamped with the wall-clock time it arrived.

Topology (names carry the test's pid, so parallel runs and the capture
generator's tt-cli/tt-rtr/tt-srv never collide):

    tt-live-PID-cli         tt-live-PID-rtr            tt-live-PID-srv
    ttc ------------------ ttrc        ttrs ------------------ tts
    10.77.1.2/24    10.77.1.1/24      10.77.2.1/24      10.77.2.2/24

The namespaces have no other interface and IPv6 is off, so no packet can
leave them and nothing but the test's own TCP (and ARP) is on the wire.
Offloads are off on every veth: MSS-sized segments with valid checksums, as
a real NIC would show them. tcptriage captures on ttrc, the router's
client-side veth.
"""
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TCPAPP = os.path.join(ROOT, "scripts", "captures", "tcpapp.py")
PCAPVERDICT_DIR = os.path.join(ROOT, "scripts", "captures")
PY = sys.executable or "/usr/bin/python3"

C4, R4C, R4S, S4 = "10.77.1.2", "10.77.1.1", "10.77.2.1", "10.77.2.2"
IF_C, IF_RC, IF_RS, IF_S = "ttc", "ttrc", "ttrs", "tts"
PREFIX = "tt-live-"


class SetupError(Exception):
    pass


class Unsupported(Exception):
    """This machine cannot run the test (not a failure of tcptriage)."""


def sh(*cmd, check=True, input=None):
    """Run a command, return its stdout; raise SetupError with its stderr."""
    p = subprocess.run(list(cmd), input=input, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SetupError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                              (p.stderr or p.stdout).strip()))
    return p.stdout


def netns_list():
    out = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale_namespaces():
    """Namespaces tt-live-PID-* left by a run that was killed (PID gone)."""
    for ns in netns_list():
        if not ns.startswith(PREFIX):
            continue
        try:
            pid = int(ns[len(PREFIX):].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not pid_alive(pid):
            delete_namespace(ns)


def delete_namespace(ns):
    # Anything still running inside: only programs a test of ours started.
    for p in sh("ip", "netns", "pids", ns, check=False).split():
        try:
            os.kill(int(p), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    sh("ip", "netns", "del", ns, check=False)


class Topology:
    def __init__(self, tag=None):
        tag = tag or str(os.getpid())
        self.cli = PREFIX + tag + "-cli"
        self.rtr = PREFIX + tag + "-rtr"
        self.srv = PREFIX + tag + "-srv"
        self.made = []

    def up(self):
        for ns in (self.cli, self.rtr, self.srv):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "sysctl", "-qw",
               "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
            # no IPv6 at all: no MLD or neighbour discovery in the captures
            # (fails harmlessly on a kernel without IPv6)
            sh("ip", "netns", "exec", ns, "sysctl", "-qw",
               "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
               check=False)
        sh("ip", "netns", "exec", self.rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "link", "add", IF_C, "netns", self.cli, "type", "veth",
           "peer", "name", IF_RC, "netns", self.rtr)
        sh("ip", "link", "add", IF_S, "netns", self.srv, "type", "veth",
           "peer", "name", IF_RS, "netns", self.rtr)
        sh("ip", "-n", self.cli, "addr", "add", C4 + "/24", "dev", IF_C)
        sh("ip", "-n", self.rtr, "addr", "add", R4C + "/24", "dev", IF_RC)
        sh("ip", "-n", self.rtr, "addr", "add", R4S + "/24", "dev", IF_RS)
        sh("ip", "-n", self.srv, "addr", "add", S4 + "/24", "dev", IF_S)
        for ns, ifc in ((self.cli, IF_C), (self.rtr, IF_RC), (self.rtr, IF_RS),
                        (self.srv, IF_S)):
            sh("ip", "netns", "exec", ns, "ethtool", "-K", ifc, "tso", "off", "gso", "off",
               "gro", "off", "tx", "off", "rx", "off", check=False)
            sh("ip", "-n", ns, "link", "set", ifc, "up")
        sh("ip", "-n", self.cli, "route", "add", "10.77.0.0/16", "via", R4C)
        sh("ip", "-n", self.srv, "route", "add", "10.77.0.0/16", "via", R4S)
        # Classic exponential SYN backoff (1 s, 2 s, ...) for the client.
        sh("ip", "netns", "exec", self.cli, "sysctl", "-qw",
           "net.ipv4.tcp_syn_linear_timeouts=0", check=False)

    def sysctl(self, ns, *settings):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", *settings)

    def nft(self, ns, ruleset):
        p = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset,
                           capture_output=True, text=True)
        if p.returncode != 0:
            msg = p.stderr.strip()
            if "Operation not supported" in msg or "No such file or directory" in msg \
                    or "Protocol not supported" in msg:
                raise Unsupported("nftables does not work here: %s" % msg.splitlines()[0])
            raise SetupError("nft -f -: exit %d: %s" % (p.returncode, msg))

    def down(self):
        for ns in reversed(self.made):
            delete_namespace(ns)
        self.made = []


class Procs:
    """Every program started inside the namespaces, killed by pid at the end."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        self.log = open(os.path.join(workdir, "apps.log"), "a")
        self.n = 0

    def spawn(self, ns, argv, **kw):
        kw.setdefault("stdout", self.log)
        kw.setdefault("stderr", self.log)
        p = subprocess.Popen(["ip", "netns", "exec", ns] + list(argv), **kw)
        self.procs.append(p)
        return p

    def server(self, ns, *args, timeout=5.0):
        """tcpapp.py server ARGS; returns once it listens."""
        self.n += 1
        ready = os.path.join(self.workdir, "ready.%d" % self.n)
        p = self.spawn(ns, [PY, TCPAPP, "server", "--ready", ready] + list(args))
        end = time.time() + timeout
        while time.time() < end:
            if os.path.exists(ready) and os.path.getsize(ready) > 0:
                return p
            if p.poll() is not None:
                break
            time.sleep(0.02)
        raise SetupError("tcpapp server did not start: %s (see %s/apps.log)"
                         % (" ".join(args), self.workdir))

    def client(self, ns, *args):
        """tcpapp.py client ARGS in the background."""
        return self.spawn(ns, [PY, TCPAPP, "client"] + list(args))

    def kill(self, p):
        if p.poll() is None:
            try:
                p.kill()
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def kill_all(self):
        for p in self.procs:
            self.kill(p)
        self.procs = []

    def close(self):
        self.kill_all()
        self.log.close()


class Live:
    """tcptriage running in a namespace; stdout read line by line, each line
    kept with its arrival time (time.time(), the same clock as the kernel's
    packet timestamps)."""

    def __init__(self, ns, binary, args, env=None):
        self.argv = ["ip", "netns", "exec", ns, binary] + list(args)
        self.t_start = time.time()
        # `ip netns exec` execs the program: the pid is tcptriage's own.
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  bufsize=0, env=env)
        self.lines = []       # (arrival, text)
        self.err = []
        self.cv = threading.Condition()
        self.eof = False
        self.t_exit = None
        self.threads = [threading.Thread(target=self._read_out, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for t in self.threads:
            t.start()

    @property
    def pid(self):
        return self.p.pid

    def _read_out(self):
        buf = b""
        while True:
            chunk = self.p.stdout.read1(65536) if hasattr(self.p.stdout, "read1") \
                else os.read(self.p.stdout.fileno(), 65536)
            now = time.time()
            if not chunk:
                break
            buf += chunk
            with self.cv:
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.lines.append((now, line.decode("utf-8", "replace")))
                self.cv.notify_all()
        with self.cv:
            if buf:
                self.lines.append((time.time(), buf.decode("utf-8", "replace")))
            self.eof = True
            self.cv.notify_all()

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line.decode("utf-8", "replace").rstrip("\n"))

    def wait_ready(self, timeout=10.0):
        """Until the process holds a packet socket bound in its namespace
        (pcap_activate done), then a little more for the filter and loop."""
        end = time.time() + timeout
        while time.time() < end:
            if self.p.poll() is not None:
                return False
            if self._has_packet_socket():
                time.sleep(0.2)
                return self.p.poll() is None
            time.sleep(0.02)
        return False

    def _has_packet_socket(self):
        try:
            inodes = set()
            fd_dir = "/proc/%d/fd" % self.pid
            for fd in os.listdir(fd_dir):
                try:
                    link = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
            if not inodes:
                return False
            with open("/proc/%d/net/packet" % self.pid) as f:
                next(f)
                for row in f:
                    cols = row.split()
                    if cols and cols[-1] in inodes:
                        return True
        except (OSError, StopIteration):
            pass
        return False

    def wait_line(self, pred, timeout, start=0):
        """The first (arrival, text) from index start on with pred(text), or
        None after timeout seconds (or at EOF)."""
        end = time.time() + timeout
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i][1]):
                        return self.lines[i]
                    i += 1
                left = end - time.time()
                if left <= 0 or self.eof:
                    return None
                self.cv.wait(left)

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def wait_exit(self, timeout):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.t_exit = time.time()
        for t in self.threads:
            t.join(timeout=5)
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for t in self.threads:
            t.join(timeout=5)

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for row in f:
                    if row.startswith("VmRSS:"):
                        return int(row.split()[1])
        except OSError:
            pass
        return None


def preflight():
    """None when live tests can run here, else the reason to skip."""
    if os.geteuid() != 0:
        return "not root: network namespaces and live capture need root"
    probe = "%s%d-probe" % (PREFIX, os.getpid())
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        return "`ip netns` is unavailable here: %s" % (p.stderr.strip() or "exit %d" % p.returncode)
    try:
        p = subprocess.run(["ip", "netns", "exec", probe, "true"], capture_output=True, text=True)
        if p.returncode != 0:
            return "`ip netns exec` does not work here: %s" % p.stderr.strip()
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def missing_tools():
    need = {"ethtool": "ethtool", "nft": "nftables"}
    return ["%s (%s)" % (t, pkg) for t, pkg in need.items()
            if not any(os.access(os.path.join(d, t), os.X_OK)
                       for d in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":")
                       + ["/usr/sbin", "/sbin"])]
