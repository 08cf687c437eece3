#!/usr/bin/env python3
"""Soak test for mthttpd: many mixed requests over keep-alive connections,
1% of them malformed, then: did the daemon survive, is its memory flat, are
its file descriptors back where they started?

Not part of `make check` (it runs for minutes).  See tests/soak/README.md.

Mixed valid requests (over --connections keep-alive connections): GET of the
site's files (byte-exact), HEAD, single and multiple Range requests,
conditional GETs (If-None-Match / If-Modified-Since -> 304), JSON uploads
(Content-Length and chunked; 201, some read back), 404s.  Malformed ones
(--malformed, default 1%), each on a connection of its own: random garbage,
oversized request lines and header blocks, too many fields, bad and
overflowing chunked bodies, Content-Length + Transfer-Encoding, duplicate
Content-Length, traversal attempts, a wrong HTTP version, a missing Host,
requests cut off half-way.

Measured: requests/s, errors by kind, the daemon's exit (must be 0), VmRSS
and the open fd count (/proc/PID) after a warm-up and at the end, each
after the client connections are closed and a settle period.  Exit status
1 if the daemon died or exited non-zero, RSS grew by more than 20% + 5 MiB,
the fd count differs, or any request got a wrong answer (more than
--max-errors); 0 otherwise.

Standard library only (threads); loopback only; bounded by --max-seconds.
"""

import argparse
import ipaddress
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ["index.html", "about.html", "contact.html", "style.css", "logo.png", "photo.png",
         "family.jpg", "friend.jpg", "sample.txt"]

# ------------------------------------------------------------------ the daemon

EXEC_HELPER = r"""
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
except Exception:
    pass
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


class Daemon:
    """mthttpd in a temp dir, socket-activated on 127.0.0.1:0, as systemd would."""

    def __init__(self, binary, docroot, pool_size, max_requests):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="mth-soak-")
        self.uploads = os.path.join(self.dir, "uploads")
        os.mkdir(self.uploads)
        self.conf = os.path.join(self.dir, "mthttpd.conf")
        self.log = os.path.join(self.dir, "server.log")
        self.proc = None
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1024)
        self.port = self.lsock.getsockname()[1]
        with open(self.conf, "w") as f:
            f.write('port = %d;\nlisten_address = "127.0.0.1";\n'
                    'document_root = "%s";\nuploads_dir = "uploads";\n'
                    "pool_size = %d;\nqueue_size = 1024;\nkeepalive_timeout = 30;\n"
                    "max_requests = %d;\nmax_body_size = 1048576;\n"
                    'allowed_hosts = ["localhost", "127.0.0.1", "[::1]"];\n'
                    'log_level = "warning";\naccess_log = "off";\n'
                    % (self.port, docroot, pool_size, max_requests))
        self.nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.npath = os.path.join(self.dir, "notify")
        self.nsock.bind(self.npath)

    def start(self):
        env = dict(os.environ)
        for k in ("LISTEN_PID", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            env.pop(k, None)
        env.update(LISTEN_FDS="1", LISTEN_FDNAMES="http", NOTIFY_SOCKET=self.npath)
        fd = self.lsock.fileno()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", EXEC_HELPER, str(fd), self.binary, "-c", self.conf],
                pass_fds=[fd], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.lsock.close()
        end = time.monotonic() + 10
        while True:
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("daemon not ready (exit %r); log in %s"
                                   % (self.proc.poll(), self.log))
            self.nsock.settimeout(left)
            try:
                if b"READY=1" in self.nsock.recv(4096):
                    break
            except socket.timeout:
                pass
        # STATUS= datagrams keep coming; nobody reads them any more
        self.nsock.close()
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=40.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "did not stop within %.0f s of SIGTERM" % timeout
        return self.proc.returncode

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def pid_listening_on(port):
    """The pid of the process holding a TCP socket listening on PORT."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A" and int(p[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add("socket:[%s]" % p[9])
        except OSError:
            pass
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def proc_stats(pid):
    """(VmRSS in KiB, open fds) of PID, or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        return rss, len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, StopIteration):
        return None


def process_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False

# ------------------------------------------------------------------ HTTP


class Closed(Exception):
    pass


class Conn:
    """One keep-alive connection; responses are framed by Content-Length
    (the daemon always sends one)."""

    def __init__(self, host, port, timeout=15.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.served = 0     # responses read on this connection
        self.last = None    # the last request sent (for error reports)
        self.closing = False  # the daemon said Connection: close

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.last = data
        self.sock.sendall(data)

    def response(self, head=False):
        """(status, {lowercase name: value}, body)."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > 65536:
                raise Closed("response head over 64 KiB")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("closed before a response" if not self.buf else "truncated head")
            self.buf += chunk
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        self.buf = self.buf[end + 4:]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise Closed("bad status line %r" % lines[0][:80])
        status = int(parts[1])
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status == 100:
            return self.response(head)
        n = 0 if head or status == 304 else int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise Closed("truncated body")
            self.buf += chunk
        body, self.buf = self.buf[:n], self.buf[n:]
        self.served += 1
        if hdrs.get("connection", "").lower() == "close":
            self.closing = True
        return status, hdrs, body

# ------------------------------------------------------------------ the load


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.errors = {}      # kind -> count (wrong answers: these fail the run)
        self.samples = {}     # kind -> first example
        self.kinds = {}       # request kind -> count
        self.malformed = {}   # "kind -> status" -> count (what the daemon answered)
        self.bytes = 0
        self.connections = 0

    def error(self, kind, example):
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            self.samples.setdefault(kind, example)

    def count(self, table, key):
        with self.lock:
            table[key] = table.get(key, 0) + 1


class Soak:
    def __init__(self, args, host, port):
        self.a = args
        self.host, self.port = host, port
        self.hosthdr = ("[%s]" % host if ":" in host else host) + ":%d" % port
        self.stats = Stats()
        self.ref = {}   # path -> (body, etag, last-modified)
        self.counter = itertools.count()
        self.done = 0
        self.done_lock = threading.Lock()
        self.deadline = None
        self.stop = threading.Event()
        self.uploaded = []   # (location, body) for read-backs

    # -- helpers

    def req(self, method, path, extra="", body=b""):
        return ("%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (method, path, self.hosthdr, extra)
                ).encode("latin-1") + body

    def fetch_reference(self):
        c = Conn(self.host, self.port)
        try:
            for name in FILES:
                c.send(self.req("GET", "/" + name))
                st, h, body = c.response()
                if st == 200:
                    self.ref["/" + name] = (body, h.get("etag"), h.get("last-modified"))
                if h.get("connection", "").lower() == "close":
                    c.close()
                    c = Conn(self.host, self.port)
        finally:
            c.close()
        if not self.ref:
            raise RuntimeError("the server serves none of %s" % ", ".join(FILES))
        self.paths = sorted(self.ref)

    # -- one valid request on a keep-alive connection; returns a kind name

    def valid(self, c, rnd):
        if rnd.random() < self.a.uploads:
            return self.upload(c, rnd)
        x = rnd.random()
        path = rnd.choice(self.paths)
        body, etag, lm = self.ref[path]
        if x < 0.40:
            c.send(self.req("GET", path))
            st, h, b = c.response()
            self.expect("get", st == 200 and b == body, path, st, len(b))
            return "GET", h
        if x < 0.50:
            c.send(self.req("HEAD", path))
            st, h, b = c.response(head=True)
            self.expect("head", st == 200 and h.get("content-length") == str(len(body)),
                        path, st, h.get("content-length"))
            return "HEAD", h
        if x < 0.65:
            lo = rnd.randrange(len(body))
            hi = rnd.randrange(lo, len(body))
            c.send(self.req("GET", path, "Range: bytes=%d-%d\r\n" % (lo, hi)))
            st, h, b = c.response()
            self.expect("range", st == 206 and b == body[lo:hi + 1]
                        and h.get("content-range") == "bytes %d-%d/%d" % (lo, hi, len(body)),
                        path, st, lo, hi)
            return "Range", h
        if x < 0.68:
            n = len(body)
            c.send(self.req("GET", path, "Range: bytes=0-0,%d-%d,-1\r\n" % (n // 2, n // 2 + 9)))
            st, h, b = c.response()
            self.expect("multirange", st == 206 and
                        h.get("content-type", "").startswith("multipart/byteranges"), path, st)
            return "multi-Range", h
        if x < 0.83:
            cond = ("If-None-Match: %s\r\n" % etag if etag and rnd.random() < 0.7
                    else "If-Modified-Since: %s\r\n" % lm)
            c.send(self.req("GET", path, cond))
            st, h, b = c.response()
            self.expect("conditional", st == 304 and b == b"", path, st, cond.strip())
            return "conditional", h
        if x < 0.88:
            c.send(self.req("GET", "/nope-%d.html" % rnd.randrange(1 << 30)))
            st, h, b = c.response()
            self.expect("404", st == 404, "/nope", st)
            return "404", h
        c.send(self.req("GET", "/"))
        st, h, b = c.response()
        self.expect("index", st == 200 and b == self.ref.get("/index.html", (b,))[0], st)
        return "GET /", h

    def upload(self, c, rnd):
        doc = {"soak": True, "n": rnd.randrange(1 << 40),
               "pad": "x" * rnd.randrange(1, 4096)}
        data = json.dumps(doc).encode()
        if rnd.random() < 0.25:
            mid = len(data) // 2
            wire = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (mid, data[:mid],
                                                          len(data) - mid, data[mid:])
            c.send(self.req("POST", "/upload", "Content-Type: application/json\r\n"
                            "Transfer-Encoding: chunked\r\n", wire))
            kind = "upload-chunked"
        else:
            c.send(self.req("POST", "/upload", "Content-Type: application/json\r\n"
                            "Content-Length: %d\r\n" % len(data), data))
            kind = "upload"
        st, h, b = c.response()
        ok = st == 201 and h.get("location", "").startswith("/uploads/")
        self.expect(kind, ok, st, b[:100])
        if ok and rnd.random() < 0.2 and not c.closing:
            c.send(self.req("GET", h["location"]))
            st2, h2, b2 = c.response()
            self.expect("upload-readback", st2 == 200 and b2 == data, h["location"], st2)
        return kind, h

    def expect(self, kind, ok, *detail):
        if not ok:
            self.stats.error("wrong answer: " + kind, repr(detail)[:300])

    # -- one malformed request on its own connection

    MALFORMED = ["garbage", "long-line", "big-headers", "many-fields", "bad-chunk",
                 "chunk-overflow", "cl-and-te", "duplicate-cl", "traversal", "version",
                 "no-host", "cut-off", "bad-json", "te-gzip"]

    def malformed(self, rnd):
        kind = rnd.choice(self.MALFORMED)
        h = self.hosthdr
        want = {400}
        if kind == "garbage":
            n = rnd.randrange(1, 2048)
            data = bytes(rnd.randrange(256) for _ in range(n)) + b"\r\n\r\n"
            want = None  # any 4xx/5xx, or a close
        elif kind == "long-line":
            data = b"GET /" + b"a" * rnd.randrange(9000, 20000) + b" HTTP/1.1\r\nHost: " + \
                h.encode() + b"\r\n\r\n"
            want = {414}
        elif kind == "big-headers":
            data = ("GET / HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n"
                    % (h, "b" * rnd.randrange(17000, 40000))).encode()
            want = {431}
        elif kind == "many-fields":
            data = ("GET / HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                    % (h, "".join("X-F%d: v\r\n" % i for i in range(rnd.randrange(101, 300))))
                    ).encode()
            want = {431}
        elif kind == "bad-chunk":
            data = ("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n%s" %
                    (h, rnd.choice(["zz\r\n{}\r\n0\r\n\r\n", "2\r\n{}XX0\r\n\r\n",
                                    "2;\x01\r\n{}\r\n0\r\n\r\n", "-2\r\n{}\r\n0\r\n\r\n"]))
                    ).encode()
        elif kind == "chunk-overflow":
            data = ("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"
                    % h).encode()
            want = {400, 413}
        elif kind == "cl-and-te":
            data = ("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % h
                    ).encode()
        elif kind == "duplicate-cl":
            data = ("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}" % h).encode()
        elif kind == "traversal":
            target = rnd.choice(["/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                 "/..%2f..%2f..%2fetc%2fpasswd", "/a/%2e%2e/%2e%2e/etc/passwd",
                                 "/..\\..\\etc\\passwd", "/%5c..%5c..%5cetc/passwd",
                                 "/index.html%00.png", "/./index.html",
                                 "/uploads/../mthttpd.conf", "/uploads/%2e%2e/mthttpd.conf"])
            data = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, h)).encode()
            want = {400, 403, 404}
        elif kind == "version":
            data = ("GET / HTTP/%s\r\nHost: %s\r\n\r\n" % (rnd.choice(["2.0", "3.0", "9.9"]), h)
                    ).encode()
            want = {505}
        elif kind == "no-host":
            data = b"GET / HTTP/1.1\r\n\r\n"
        elif kind == "cut-off":
            full = ("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: 100\r\n\r\n{\"a\":" % h).encode()
            data = full[:rnd.randrange(1, len(full))]
            want = "close"
        elif kind == "bad-json":
            body = rnd.choice([b"{", b"{\"a\":}", b"[1,2", b"\xff\xfe", b"nul"])
            data = ("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (h, len(body))).encode() + body
        else:  # te-gzip
            data = ("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: gzip\r\n\r\n" % h).encode()
            want = {501}
        try:
            c = Conn(self.host, self.port, timeout=10)
        except OSError as e:
            self.stats.error("malformed: connect failed", repr(e))
            return
        try:
            try:
                c.send(data)
            except OSError:
                pass  # the daemon may answer and close before taking it all
            if want == "close":
                c.sock.shutdown(socket.SHUT_WR)
                self.stats.count(self.stats.malformed, "%s -> (cut off)" % kind)
                return
            try:
                st, hd, b = c.response()
            except (Closed, ConnectionResetError, BrokenPipeError) as e:
                st = "closed"
            except socket.timeout:
                st = "timeout"
            self.stats.count(self.stats.malformed, "%s -> %s" % (kind, st))
            if st == "timeout":
                self.stats.error("malformed: no answer within 10 s", kind)
            elif want is None:
                if st != "closed" and st < 400:
                    self.stats.error("malformed: garbage accepted", repr(data[:80]))
            elif st == "closed" or st not in want:
                if kind == "traversal" and st == 200:
                    self.stats.error("malformed: TRAVERSAL SERVED", repr(data[:120]))
                elif st != "closed":
                    self.stats.error("malformed: %s answered %s" % (kind, st), repr(data[:120]))
                else:
                    # a big request the daemon refused early can lose its
                    # answer to the RST of unread data: not a daemon fault
                    if kind not in ("long-line", "big-headers", "many-fields"):
                        self.stats.error("malformed: %s closed without an answer" % kind,
                                         repr(data[:120]))
        finally:
            c.close()

    # -- a worker thread: one keep-alive connection, re-opened when closed

    def worker(self, wid, total):
        rnd = random.Random(self.a.seed * 1000003 + wid)
        c = None
        local = 0
        try:
            while not self.stop.is_set():
                i = next(self.counter)
                if i >= total or time.monotonic() > self.deadline:
                    break
                if rnd.random() < self.a.malformed:
                    self.malformed(rnd)
                    self.stats.count(self.stats.kinds, "malformed")
                else:
                    try:
                        if c is None:
                            c = Conn(self.host, self.port)
                            self.stats.count(self.stats.kinds, "(connections)")
                        kind, h = self.valid(c, rnd)
                        self.stats.count(self.stats.kinds, kind)
                        if c.closing:
                            c.close()
                            c = None
                    except (Closed, OSError) as e:
                        self.stats.error("connection: %s" % type(e).__name__,
                                         "%s, after %d responses on the connection, "
                                         "sending %r" % (str(e)[:200], c.served if c else 0,
                                                         (c.last or b"")[:120] if c else b""))
                        if c:
                            c.close()
                        c = None
                        if not self.alive():
                            self.stop.set()
                local += 1
                if local == 200:
                    with self.done_lock:
                        self.done += local
                    local = 0
        finally:
            with self.done_lock:
                self.done += local
            if c:
                c.close()

    def run(self, total, connections, label):
        self.counter = itertools.count()
        self.done = 0
        threads = [threading.Thread(target=self.worker, args=(i, total), daemon=True)
                   for i in range(connections)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        last = t0
        while any(t.is_alive() for t in threads):
            time.sleep(0.25)
            now = time.monotonic()
            if label and now - last >= self.a.progress:
                last = now
                with self.stats.lock:
                    nerr = sum(self.stats.errors.values())
                print("  %s: %d/%d requests, %.0f req/s, %d wrong answers%s"
                      % (label, self.done, total, self.done / (now - t0), nerr,
                         "" if self.alive() else ", DAEMON GONE"), flush=True)
            if not self.alive():
                self.stop.set()
        return self.done, time.monotonic() - t0

# ------------------------------------------------------------------ main


def settle(pid, seconds, want_fds=None):
    """Wait until the fd count is stable (or equals WANT_FDS), at most SECONDS."""
    end = time.monotonic() + seconds
    prev = None
    while True:
        s = proc_stats(pid)
        if s is None:
            return None
        if want_fds is not None and s[1] == want_fds:
            return s
        if want_fds is None and prev is not None and prev[1] == s[1]:
            return s
        if time.monotonic() >= end:
            return s
        prev = s
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--malformed", type=float, default=0.01, help="fraction (default 0.01)")
    ap.add_argument("--uploads", type=float, default=0.02,
                    help="fraction of the valid requests that are uploads (default 0.02)")
    ap.add_argument("--max-seconds", type=float, default=1800)
    ap.add_argument("--url", help="an already running daemon (loopback only), e.g. "
                    "http://127.0.0.1:8080/; its pid is found from the listening socket")
    ap.add_argument("--pid", type=int, help="the pid of the --url daemon")
    ap.add_argument("--bin", default=os.environ.get("MTHTTPD_BIN"))
    ap.add_argument("--srcdir", default=os.environ.get("MTHTTPD_SRCDIR")
                    or os.path.normpath(os.path.join(HERE, "..", "..")))
    ap.add_argument("--pool-size", type=int, default=8)
    ap.add_argument("--max-requests", type=int, default=1000,
                    help="the started daemon's max_requests (connections are re-opened)")
    ap.add_argument("--warmup", type=int, default=20000)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--max-errors", type=int, default=0)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--progress", type=float, default=10.0)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()

    daemon = None
    if a.url:
        u = urllib.parse.urlsplit(a.url)
        host = u.hostname or "127.0.0.1"
        port = u.port or 80
        try:
            addr = ipaddress.ip_address(socket.getaddrinfo(host, port)[0][4][0])
        except (OSError, ValueError) as e:
            ap.error("cannot resolve %s: %s" % (host, e))
        if not addr.is_loopback:
            ap.error("--url must be on loopback (127.0.0.0/8 or ::1), not %s" % addr)
        pid = a.pid or pid_listening_on(port)
        if not pid:
            ap.error("cannot find the daemon's pid from port %d: pass --pid" % port)
        alive = lambda: process_alive(pid)
    else:
        binary = a.bin
        if not binary:
            for cand in ("../src/mthttpd", os.path.join(a.srcdir, "_build", "src", "mthttpd"),
                         os.path.join(a.srcdir, "src", "mthttpd")):
                if os.access(cand, os.X_OK):
                    binary = cand
                    break
        if not binary or not os.access(binary, os.X_OK):
            ap.error("no mthttpd binary: pass --bin or set MTHTTPD_BIN")
        daemon = Daemon(os.path.abspath(binary), os.path.join(a.srcdir, "resources"),
                        a.pool_size, a.max_requests)
        pid = daemon.start()
        host, port = "127.0.0.1", daemon.port
        alive = daemon.alive

    print("soak: %d requests over %d connections, %.1f%% malformed, seed %d, daemon pid %d "
          "on %s:%d%s" % (a.requests, a.connections, a.malformed * 100, a.seed, pid, host, port,
                          " (temp dir %s)" % daemon.dir if daemon else ""), flush=True)
    s = Soak(a, host, port)
    s.alive = alive
    s.deadline = time.monotonic() + a.max_seconds
    failures = []
    exit_status = None
    try:
        s.fetch_reference()
        # warm-up: every worker thread, allocator arena and cache of the
        # daemon gets going before the baseline is taken
        s.run(min(a.warmup, max(a.requests // 10, 1000)), a.connections, None)
        warm_errors = sum(s.stats.errors.values())
        base = settle(pid, a.settle)
        print("baseline (after warm-up and %.0f s settle): VmRSS %d KiB, %d fds"
              % (a.settle, base[0], base[1]) if base else "baseline: daemon gone", flush=True)
        s.stats = Stats()
        done, secs = s.run(a.requests, a.connections, "soak")
        stopped_early = done < a.requests
        end = settle(pid, a.settle * 2, base[1] if base else None) if alive() else None
        st = s.stats
        print("\n%d requests in %.1f s: %.0f requests/s%s" % (
            done, secs, done / secs if secs else 0,
            " (stopped early: %s)" % ("daemon gone" if not alive() else "--max-seconds")
            if stopped_early else ""))
        print("requests by kind:")
        for k in sorted(st.kinds):
            print("  %-16s %d" % (k, st.kinds[k]))
        print("malformed requests and the daemon's answers:")
        for k in sorted(st.malformed):
            print("  %-32s %d" % (k, st.malformed[k]))
        nerr = sum(st.errors.values())
        print("wrong answers / errors by kind: %s" % ("none" if not nerr else ""))
        for k in sorted(st.errors):
            print("  %-50s %d   e.g. %s" % (k, st.errors[k], st.samples[k]))
        if warm_errors:
            print("(plus %d during the warm-up)" % warm_errors)
            nerr += warm_errors
        if base and end:
            limit = base[0] * 1.2 + 5 * 1024
            print("VmRSS: %d KiB at start, %d KiB at end (%+.1f%%; limit %d KiB)"
                  % (base[0], end[0], (end[0] - base[0]) * 100.0 / base[0], limit))
            print("open fds: %d at start, %d at end" % (base[1], end[1]))
            if end[0] > limit:
                failures.append("RSS grew from %d to %d KiB" % (base[0], end[0]))
            if end[1] != base[1]:
                failures.append("fd count %d at start, %d at end" % (base[1], end[1]))
        if not alive():
            failures.append("the daemon died during the soak")
        if nerr > a.max_errors:
            failures.append("%d wrong answers (allowed: %d)" % (nerr, a.max_errors))
        if stopped_early and alive():
            print("note: --max-seconds reached after %d requests" % done)
    finally:
        if daemon:
            exit_status = daemon.stop()
            print("daemon exit status after SIGTERM: %s" % exit_status)
            if exit_status != 0:
                failures.append("daemon exit status %s" % exit_status)
                try:
                    with open(daemon.log, "rb") as f:
                        tail = f.read()[-4000:].decode("utf-8", "replace")
                    print("daemon log tail:\n" + tail)
                except OSError:
                    pass
            try:
                nup = len(os.listdir(daemon.uploads))
                print("uploads stored: %d" % nup)
            except OSError:
                pass
            if a.keep:
                print("kept %s" % daemon.dir)
            else:
                daemon.cleanup()
    if failures:
        print("SOAK FAILED: " + "; ".join(failures))
        return 1
    print("SOAK PASSED: 0 crashes, RSS flat, fds equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
