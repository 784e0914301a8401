#!/usr/bin/python3
"""Tiny TCP client/server programs played inside the network namespaces built
by scripts/make-captures.  Standard library only; every behaviour is chosen
with --behavior.  Not a general tool: each behaviour exists for one scenario.

  tcpapp.py server --bind ADDR --port P --behavior B [--ready FILE] ...
  tcpapp.py client --src ADDR --sport P --dst ADDR --dport P --behavior B ...

A server writes --ready FILE once it listens, so the driver knows when to
start the client.  Programs that must outlive the capture sleep; the driver
stops the capture first and then kills them by pid.
"""
import argparse
import errno
import os
import select
import socket
import struct
import sys
import threading
import time

REQ = b"GET /tcptriage HTTP/1.0\r\n\r\n"
RESP = b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n"


def log(*a):
    print("[%s %d]" % (os.path.basename(sys.argv[0]), os.getpid()), *a,
          file=sys.stderr, flush=True)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def recv_until(s, marker):
    buf = b""
    while marker not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return buf


def read_to_eof(s):
    n = 0
    while True:
        d = s.recv(65536)
        if not d:
            return n
        n += len(d)


def sleep_forever():
    while True:
        time.sleep(3600)


# --------------------------------------------------------------------------
# servers

def server(a):
    ls = socket.socket(family(a.bind), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.rcvbuf:
        # Set on the listener so the SYN-ACK already carries the small window.
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
    ls.bind((a.bind, a.port))
    ls.listen(a.backlog)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("%d\n" % os.getpid())
    b = a.behavior
    if b == "no_accept":
        # diag_backlog: the accept queue fills and stays full.
        sleep_forever()
    handlers = {
        "reply_close": srv_reply_close,
        "reply_rst": srv_reply_rst,
        "reply_wait": srv_reply_wait,
        "never_read": srv_never_read,
        "drain_after": srv_drain_after,
        "reply_no_close": srv_reply_no_close,
        "greet": srv_greet,
        "sink": srv_sink,
        "echo_delack": srv_echo_delack,
        "bulk_send": srv_bulk_send,
        "idle_echo": srv_idle_echo,
    }
    if b == "churn":
        # one connection at a time: wait for the client's FIN, then close
        for i in range(a.conns):
            c, peer = ls.accept()
            try:
                read_to_eof(c)
            except OSError as e:
                log("churn", e)
            c.close()
        return
    h = handlers[b]
    threads = []
    for i in range(a.conns):
        c, peer = ls.accept()
        t = threading.Thread(target=wrap, args=(h, c, a), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    if a.linger_after:
        time.sleep(a.linger_after)
    if a.hold:
        sleep_forever()


def wrap(h, c, a):
    try:
        h(c, a)
    except OSError as e:
        log("server conn:", e)


def srv_reply_close(c, a):
    # read the request, answer, wait for the client's FIN, then close
    recv_until(c, b"\r\n\r\n")
    c.sendall(RESP)
    read_to_eof(c)
    c.close()


def srv_reply_rst(c, a):
    recv_until(c, b"\r\n\r\n")
    c.sendall(RESP)
    time.sleep(0.3)
    linger0(c)
    c.close()  # -> RST


def srv_reply_wait(c, a):
    recv_until(c, b"\r\n\r\n")
    c.sendall(RESP)
    try:
        read_to_eof(c)
    except OSError as e:
        log("server got", e)
    c.close()


def srv_never_read(c, a):
    sleep_forever()


def srv_drain_after(c, a):
    time.sleep(a.delay)
    n = read_to_eof(c)
    log("drained", n)
    c.close()


def srv_reply_no_close(c, a):
    recv_until(c, b"\r\n\r\n")
    read_to_eof(c)  # the client's FIN
    c.sendall(RESP)
    sleep_forever()  # never close: CLOSE_WAIT


def srv_greet(c, a):
    # never reached in half_open: accept() only returns after the final ACK
    c.sendall(b"220 hello\r\n")
    sleep_forever()


def srv_sink(c, a):
    recv_until(c, b"\r\n\r\n")
    c.sendall(RESP)
    read_to_eof(c)
    c.close()


def srv_echo_delack(c, a):
    # diag_nagle: answer each 2-part message once both parts arrived.  The
    # server never sends anything before the second part, so the client's
    # second small write waits for the ACK of the first (Nagle), which the
    # server delays (delayed ACK, ~40 ms).
    buf = b""
    while True:
        d = c.recv(4096)
        if not d:
            break
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            c.sendall(b"ok " + line[:20] + b"\n")
    c.close()


def srv_bulk_send(c, a):
    recv_until(c, b"\r\n\r\n")
    chunk = b"x" * 65536
    left = a.nbytes
    while left > 0:
        n = c.send(chunk[:min(left, len(chunk))])
        left -= n
    c.shutdown(socket.SHUT_WR)
    read_to_eof(c)
    c.close()


def srv_idle_echo(c, a):
    # diag_idle_timeout: echo each line; keep going until EOF or error
    try:
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d)
    except OSError as e:
        log("server conn", e)
    c.close()


# --------------------------------------------------------------------------
# clients

def client_socket(a, sport):
    s = socket.socket(family(a.dst), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.src:
        s.bind((a.src, sport))
    return s


def client(a):
    b = a.behavior
    if b in ("burst", "churn", "healthy", "idle", "nagle", "close_wait_many",
             "keepalive", "many_reqresp"):
        return globals()["cli_" + b](a)
    s = client_socket(a, a.sport)
    try:
        s.connect((a.dst, a.dport))
    except OSError as e:
        log("connect:", errno.errorcode.get(e.errno, e.errno), e)
        print("connect-error", errno.errorcode.get(e.errno, e.errno), flush=True)
        return
    globals()["cli_" + b](s, a)


def cli_connect_only(s, a):
    s.close()


def cli_reqresp_close(s, a):
    s.sendall(REQ)
    recv_until(s, b"hello world\n")
    time.sleep(0.05)
    s.close()  # client closes first; server closes on EOF


def cli_reqresp_wait(s, a):
    s.sendall(REQ)
    recv_until(s, b"hello world\n")
    try:
        n = read_to_eof(s)
        log("eof after", n)
    except OSError as e:
        log("client got", e)
    s.close()


def cli_reqresp_rst(s, a):
    s.sendall(REQ)
    recv_until(s, b"hello world\n")
    time.sleep(0.3)
    linger0(s)
    s.close()  # -> RST


def cli_write_forever(s, a):
    s.sendall(b"z" * (a.nbytes or 4 << 20))  # blocks once the window is 0
    sleep_forever()


def cli_write_n_close(s, a):
    s.sendall(b"z" * a.nbytes)
    s.shutdown(socket.SHUT_WR)
    read_to_eof(s)
    s.close()


def cli_req_shut_read(s, a):
    s.sendall(REQ)
    s.shutdown(socket.SHUT_WR)
    recv_until(s, b"hello world\n")
    read_to_eof(s)  # the server never closes: blocks
    sleep_forever()


def cli_wait_greeting(s, a):
    s.recv(100)  # the server never gets to speak
    sleep_forever()


def cli_reqresp_bulk(s, a):
    s.sendall(REQ)
    recv_until(s, b"hello world\n")
    time.sleep(0.2)
    s.sendall(b"B" * a.nbytes)  # every segment of it is dropped by the router
    sleep_forever()


def cli_bulk_get(s, a):
    s.sendall(REQ)
    n = read_to_eof(s)
    log("got", n)
    s.close()


def cli_burst(a):
    # diag_backlog: a.count clients at once, each sends a request and waits
    # for an answer that never comes (the server never accept()s).
    socks = []
    for i in range(a.count):
        s = client_socket(a, a.sport + i)
        s.setblocking(False)
        try:
            s.connect((a.dst, a.dport))
        except BlockingIOError:
            pass
        socks.append(s)
    pending = set(socks)
    deadline = time.time() + a.duration
    while pending and time.time() < deadline:
        _, w, _ = select.select([], list(pending), [], 0.1)
        for s in w:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            pending.discard(s)
            if err == 0:
                try:
                    s.send(REQ)
                except OSError:
                    pass
    sleep_forever()


def cli_churn(a):
    # diag_churn: a.count short connections, one after another from fixed
    # ports a.sport, a.sport+1, ...; connect, then close at once (the client
    # closes first, the server closes on EOF).
    for i in range(a.count):
        s = client_socket(a, a.sport + i)
        s.connect((a.dst, a.dport))
        s.close()
    log("churn done", a.count)


def cli_healthy(a):
    for i in range(a.count):
        s = client_socket(a, a.sport + i)
        s.connect((a.dst, a.dport))
        cli_reqresp_close(s, a)
        time.sleep(0.1)


def cli_close_wait_many(a):
    socks = []
    for i in range(a.count):
        s = client_socket(a, a.sport + i)
        s.connect((a.dst, a.dport))
        s.sendall(REQ)
        s.shutdown(socket.SHUT_WR)
        socks.append(s)
        time.sleep(0.05)
    for s in socks:
        recv_until(s, b"hello world\n")
    sleep_forever()


def cli_nagle(a):
    s = client_socket(a, a.sport)
    s.connect((a.dst, a.dport))
    # no TCP_NODELAY: Nagle is on
    for i in range(a.count):
        s.send(b"hdr%02d:" % i)       # first small write
        s.send(b"body%02d\n" % i)     # second small write: held by Nagle
        recv_until(s, b"\n")
    s.close()
    time.sleep(0.1)


def cli_idle(a):
    # diag_idle_timeout: a.count connections with keepalive (idle time longer
    # than the router's conntrack timeout), one exchange, idle, then talk again.
    socks = []
    for i in range(a.count):
        s = client_socket(a, a.sport + i)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        s.connect((a.dst, a.dport))
        s.sendall(b"hello %d\n" % i)
        recv_until(s, b"\n")
        socks.append(s)
        time.sleep(0.05)
    time.sleep(a.delay)
    for i, s in enumerate(socks):
        try:
            s.sendall(b"are you there %d\n" % i)
        except OSError as e:
            log("send", i, e)
    t_end = time.time() + a.duration
    for i, s in enumerate(socks):
        s.settimeout(max(0.01, t_end - time.time()))
        try:
            d = s.recv(100)
            log("conn", i, "got", d)
        except OSError as e:
            log("conn", i, e)
    sleep_forever()


def keepalive(s, a):
    """SO_KEEPALIVE with --ka-idle/--ka-intvl/--ka-cnt (idle 0: keepalive off)"""
    if a.ka_idle <= 0:
        return
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, a.ka_idle)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, a.ka_intvl)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, a.ka_cnt)


def cli_keepalive(a):
    # diag_keepalive, diag_idle_timeout: a.count connections from ports
    # a.sport, a.sport+1, ..., started a.gap s apart, each in its own thread,
    # talking to an idle_echo server.  Each: keepalive options, one line
    # exchanged, then the application is silent for a.delay s.  --after talk:
    # send another line, wait up to a.duration s for the echo; if it comes,
    # close (client FIN first), else keep the socket open (no FIN).
    # --after wait: block in recv() until the kernel kills the connection
    # (keepalive gives up: ETIMEDOUT); the program ends when all have ended.
    # --after hold: keep the socket open, do nothing.
    def one(i):
        time.sleep(i * a.gap)
        s = client_socket(a, a.sport + i)
        keepalive(s, a)
        try:
            s.connect((a.dst, a.dport))
            s.sendall(b"hello %d\n" % i)
            recv_until(s, b"\n")
        except OSError as e:
            log("conn", i, "setup", e)
            return
        if a.after == "wait":
            try:
                d = s.recv(100)
                log("conn", i, "recv returned", d)
            except OSError as e:
                log("conn", i, "recv:", errno.errorcode.get(e.errno, e.errno), e)
            s.close()
            return
        if a.after == "hold":
            holds.append(s)
            return
        time.sleep(a.delay)
        try:
            s.sendall(b"are you there %d\n" % i)
            s.settimeout(a.duration)
            d = recv_until(s, b"\n")
            log("conn", i, "got", d)
            if d.endswith(b"\n"):
                s.settimeout(None)
                time.sleep(0.05)
                s.close()
                return
        except OSError as e:
            log("conn", i, "after idle:", errno.errorcode.get(e.errno, e.errno), e)
        holds.append(s)   # no FIN: leave the connection as the path left it
    holds = []
    ts = [threading.Thread(target=one, args=(i,)) for i in range(a.count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if holds:
        sleep_forever()


def cli_many_reqresp(a):
    # diag_slow_handshake: a.count connections from ports a.sport, a.sport+1,
    # ..., started a.gap s apart, each in its own thread: blocking connect()
    # (however long the SYN retries take), request/response, client closes.
    def one(i):
        time.sleep(i * a.gap)
        s = client_socket(a, a.sport + i)
        t0 = time.time()
        try:
            s.connect((a.dst, a.dport))
        except OSError as e:
            log("conn", i, "connect:", e)
            return
        log("conn", i, "connected after %.3f s" % (time.time() - t0))
        cli_reqresp_close(s, a)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(a.count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def synflood(a):
    """diag_synflood: a.count SYNs with spoofed sources 10.77.128.0/17 (a
    blackhole route on the router swallows the SYN-ACKs), raw socket."""
    import random
    rnd = random.Random(77)
    rs = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    dst = socket.inet_aton(a.dst)
    seen = set()
    for i in range(a.count):
        while True:
            src = "10.77.%d.%d" % (rnd.randrange(128, 256), rnd.randrange(1, 255))
            if src not in seen:
                seen.add(src)
                break
        sport = rnd.randrange(1024, 65535)
        seq = rnd.getrandbits(32)
        s4 = socket.inet_aton(src)
        opts = struct.pack("!BBH", 2, 4, 1460)  # MSS only
        tcp = struct.pack("!HHIIBBHHH", sport, a.dport, seq, 0, (5 + 1) << 4,
                          0x02, 64240, 0, 0) + opts
        pseudo = s4 + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rnd.getrandbits(16),
                         0x4000, 64, 6, 0, s4, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        rs.sendto(ip + tcp, (a.dst, 0))
        time.sleep(a.delay)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client", "synflood"])
    p.add_argument("--bind")
    p.add_argument("--port", type=int)
    p.add_argument("--src")
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("--dst")
    p.add_argument("--dport", type=int)
    p.add_argument("--behavior", default="")
    p.add_argument("--ready")
    p.add_argument("--rcvbuf", type=int, default=0)
    p.add_argument("--backlog", type=int, default=16)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--nbytes", type=int, default=0)
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--hold", action="store_true",
                   help="server: sleep after the last connection ended")
    p.add_argument("--linger-after", type=float, default=0)
    p.add_argument("--gap", type=float, default=0.05,
                   help="client: seconds between the starts of --count connections")
    p.add_argument("--ka-idle", type=int, default=0,
                   help="client: TCP_KEEPIDLE (0: no SO_KEEPALIVE)")
    p.add_argument("--ka-intvl", type=int, default=1)
    p.add_argument("--ka-cnt", type=int, default=3)
    p.add_argument("--after", choices=["talk", "wait", "hold"], default="talk")
    a = p.parse_args()
    {"server": server, "client": client, "synflood": synflood}[a.role](a)


if __name__ == "__main__":
    main()
