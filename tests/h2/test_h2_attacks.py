#!/usr/bin/env python3
"""HTTP/2 attack clients against the real mthttpd, over TLS on loopback.

Starts the built daemon (MTHTTPD_BIN) with a test CA made at run time
(tests/integration/tls-certs.sh), on free loopback ports, with a short
send_timeout; waits for READY=1 on a NOTIFY_SOCKET of its own; runs each
attack as a raw-frame client (frames built here, HPACK from python3-hpack),
and after each one asserts

  - the server's answer (GOAWAY and its error code, RST_STREAM, 431, close),
  - that a normal HTTP/2 client is still served (GET /index.html, 200,
    byte-exact, within 5 s),
  - that the daemon's RSS did not grow without bound (a few MiB per attack)
    and, for the rapid reset, the CPU time it spent is bounded;

then stops the daemon by PID (SIGTERM, exit status 0 expected).  Every
attack is bounded in frames sent and in time.  Prints "ok - NAME" or
"not ok - NAME: why" per attack; exit 0 only if all passed.

  rapid_reset          HEADERS+RST_STREAM pairs at full speed: GOAWAY
                       ENHANCE_YOUR_CALM (0xb) (CVE-2023-44487)
  continuation_flood   HEADERS without END_HEADERS, then CONTINUATION
                       frames without end: closed / GOAWAY, memory bounded
                       (CVE-2024-27316 and friends)
  hpack_bomb           one 4 KB header in the dynamic table, referenced
                       15,000 times in one block (60 MB decoded): 431,
                       RST_STREAM or GOAWAY; memory bounded
  settings_flood       SETTINGS frames without reading the ACKs, and one
                       SETTINGS frame with 100 entries: GOAWAY 0xb or close
                       (or, where the server stops reading because its ACKs
                       cannot go out, dropped after send_timeout)
  ping_flood           PING frames without reading the ACKs: the same
  zero_window          SETTINGS_INITIAL_WINDOW_SIZE 0, GET of a 2 MiB file,
                       the window never opened: dropped after send_timeout
                       (2 s here), while normal clients are served meanwhile
  stream_id_exhaustion a request on stream 2^31-3 is answered; 2^31-1 is
                       answered or refused by a GOAWAY NO_ERROR (ids run
                       out); a lower id then: GOAWAY PROTOCOL_ERROR / closed
  oversized_frame      a frame longer than the server's
                       SETTINGS_MAX_FRAME_SIZE: GOAWAY FRAME_SIZE_ERROR (0x6)

and, not attacks:

  priorities           the server announces SETTINGS_NO_RFC7540_PRIORITIES
                       and follows RFC 9218: of two 2 MiB downloads asked
                       in one write, the later one with "priority: u=0"
                       ends first (round robin would end them together)

  file_read_in_runs    a 2 MiB download is read from the file by preadv(2)
                       calls of several frames each (strace attached to
                       the daemon), never one pread per DATA frame
  file_shrinks_mid_response
                       a file truncated while its response waits for the
                       client's window: no byte that is not the file's is
                       sent, the response does not end as if complete,
                       and the stream is reset or the connection closed
  unsent_backlog_bounded
                       a download to a client that stops reading: ss
                       shows at most 256 KiB unsent in the kernel for it
                       (the HTTPS listener's TCP_NOTSENT_LOWAT, 128 KiB),
                       then the client reads the file byte-exact

and, last because it changes the configuration:

  reload_h2_off        a reload with tls.http2 = false: an idle HTTP/2
                       connection gets GOAWAY NO_ERROR and is closed, one
                       with a download in flight gets GOAWAY and the whole
                       file, a new connection gets http/1.1 from ALPN; a
                       reload back to true offers h2 again

Usage: test_h2_attacks.py [ONLY...]  (environment: MTHTTPD_BIN,
MTHTTPD_SRCDIR; MTHTTPD_SANITIZER loosens the time bounds).
"""
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

import hpack

SRC = os.environ.get("MTHTTPD_SRCDIR") or os.path.join(os.path.dirname(__file__), "..", "..")
BIN = os.environ.get("MTHTTPD_BIN") or os.path.join(SRC, "_build", "src", "mthttpd")
SANITIZER = os.environ.get("MTHTTPD_SANITIZER", "")
SLOW = 4 if SANITIZER else 1
SEND_TIMEOUT = 2
# growth allowed per attack; a sanitizer's shadow memory and (ASan) its
# quarantine of freed blocks, kept small for the daemon below, add more
RSS_BOUND_KB = (96 if SANITIZER else 24) * 1024

# frame types, flags, settings, error codes (RFC 9113)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, \
    S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = range(1, 7)
ERR = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
       4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
       8: "CANCEL", 9: "COMPRESSION_ERROR", 0xa: "CONNECT_ERROR", 0xb: "ENHANCE_YOUR_CALM",
       0xc: "INADEQUATE_SECURITY", 0xd: "HTTP_1_1_REQUIRED"}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Failed(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Failed(why)


# --------------------------------------------------------------------------
# The daemon

def free_ports(n):
    """N loopback ports free now, below the ephemeral range: a port that
    bind(0) hands out can be taken, before the daemon binds it, as the
    source port of any test's outgoing connection."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    socks = []
    try:
        for _ in range(200 if low > 12000 else 0):
            if len(socks) == n:
                break
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", rng.randrange(low - 10000, low)))
                socks.append(s)
            except OSError:
                s.close()
        while len(socks) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Daemon:
    def __init__(self, tmp):
        self.tmp = tmp
        self.certs = os.path.join(tmp, "certs")
        subprocess.run(["sh", os.path.join(SRC, "tests", "integration", "tls-certs.sh"),
                        self.certs], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.docroot = os.path.join(tmp, "www")
        os.mkdir(self.docroot)
        os.mkdir(os.path.join(tmp, "uploads"))
        with open(os.path.join(SRC, "resources", "index.html"), "rb") as f:
            self.index = f.read()
        with open(os.path.join(self.docroot, "index.html"), "wb") as f:
            f.write(self.index)
        self.big = os.urandom(2 << 20)  # /big.bin's bytes
        with open(os.path.join(self.docroot, "big.bin"), "wb") as f:
            f.write(self.big)
        self.port, self.tls_port = free_ports(2)
        self.conf = os.path.join(tmp, "mthttpd.conf")
        with open(self.conf, "w") as f:
            f.write(f"""port = {self.port};
listen_address = "127.0.0.1";
document_root = "{self.docroot}";
uploads_dir = "{tmp}/uploads";
allowed_hosts = ["localhost", "127.0.0.1"];
pool_size = 2;
log_level = "debug";
send_timeout = {SEND_TIMEOUT};
keepalive_timeout = 30;
header_timeout = 20;
shutdown_timeout = 3;
tls = {{
  certificates = ( {{ certificate = "{self.certs}/a.pem"; key = "{self.certs}/a.key"; }} );
  port = {self.tls_port};
  http2 = true;
}};
""")
        self.log = os.path.join(tmp, "server.log")
        notify = os.path.join(tmp, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LISTEN_") and k not in ("JOURNAL_STREAM", "RUNTIME_DIRECTORY")}
        env["NOTIFY_SOCKET"] = notify
        if SANITIZER == "asan":
            # freed memory waits in a 256 MB quarantine by default: RSS
            # would say nothing about what the daemon keeps
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8").lstrip(":")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([BIN, "-c", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=env)
        self.pid = self.proc.pid
        end = time.monotonic() + 10 * SLOW
        while time.monotonic() < end:
            r, _, _ = select.select([self.notify], [], [], 0.2)
            if r and b"READY=1" in self.notify.recv(4096):
                return
            check(self.proc.poll() is None, "daemon exited at start: " + self.log_tail())
        raise Failed("no READY=1 within 10 s: " + self.log_tail())

    def log_tail(self, n=20):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def alive(self):
        return self.proc.poll() is None

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_s(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reload(self, http2):
        """tls.http2 = HTTP2 in the config, SIGHUP, and wait for READY=1."""
        with open(self.conf) as f:
            text = f.read()
        text = text.replace(f"http2 = {str(not http2).lower()};", f"http2 = {str(http2).lower()};")
        with open(self.conf, "w") as f:
            f.write(text)
        self.proc.send_signal(signal.SIGHUP)
        end = time.monotonic() + 10 * SLOW
        while time.monotonic() < end:
            r, _, _ = select.select([self.notify], [], [], 0.2)
            if r and b"READY=1" in self.notify.recv(4096):
                return
        raise Failed("no READY=1 within 10 s of SIGHUP: " + self.log_tail())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode


# --------------------------------------------------------------------------
# A raw HTTP/2 client: frames built by hand, so that it can send what no
# well-behaved library would

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags,
                                                              sid & 0x7fffffff) + payload


def settings(pairs=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value, indexing=False):
    """A literal header field, new name, no Huffman: with incremental
    indexing (0x40) or without indexing (0x00)."""
    return (bytes([0x40 if indexing else 0x00]) + hpack_int(len(name), 7) + name +
            hpack_int(len(value), 7) + value)


class Conn:
    def __init__(self, d, window=None, rcvbuf=None):
        self.d = d
        ctx = ssl.create_default_context(cafile=os.path.join(d.certs, "ca.pem"))
        ctx.set_alpn_protocols(["h2"])
        raw = socket.socket()
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(5)
        raw.connect(("127.0.0.1", d.tls_port))
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        check(self.s.selected_alpn_protocol() == "h2",
              f"ALPN selected {self.s.selected_alpn_protocol()!r}, not h2")
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.buf = b""
        self.server_settings = {}
        self.got_settings = False   # the server's first SETTINGS came
        self.goaway = None          # (last_stream_id, error_code)
        self.closed = False
        self.resets = {}            # stream -> error code
        self.status = {}            # stream -> :status
        self.body = {}              # stream -> bytes
        self.ended = set()
        self.auto_ack = True
        pairs = [(S_ENABLE_PUSH, 0)]
        if window is not None:
            pairs.append((S_INITIAL_WINDOW_SIZE, window))
        self.send(PREFACE + settings(pairs))

    def authority(self):
        return f"localhost:{self.d.tls_port}"

    def request_block(self, path="/index.html", method="GET", extra=()):
        return self.enc.encode([(":method", method), (":scheme", "https"), (":path", path),
                                (":authority", self.authority())] + list(extra))

    def send(self, data):
        self.s.sendall(data)

    def try_send(self, data, timeout=3):
        """Send unless the server stops reading (or closes): True if all went."""
        self.s.settimeout(timeout)
        try:
            self.s.sendall(data)
            return True
        except (socket.timeout, ssl.SSLError, OSError):
            return False
        finally:
            self.s.settimeout(5)

    def headers(self, sid, path="/index.html", end_stream=True, method="GET"):
        self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid,
                        self.request_block(path, method)))

    def _frames(self):
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags, sid = self.buf[3], self.buf[4], \
                int.from_bytes(self.buf[5:9], "big") & 0x7fffffff
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            self._handle(ftype, flags, sid, payload)

    def _handle(self, ftype, flags, sid, payload):
        if ftype == SETTINGS and not flags & ACK:
            for i in range(0, len(payload) - 5, 6):
                k, v = struct.unpack(">HI", payload[i:i + 6])
                self.server_settings[k] = v
            self.got_settings = True
            if self.auto_ack:
                self.try_send(frame(SETTINGS, ACK, 0))
        elif ftype == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & 0x7fffffff, code)
        elif ftype == RST_STREAM:
            self.resets[sid] = struct.unpack(">I", payload[:4])[0]
        elif ftype in (HEADERS, CONTINUATION):
            # (the server never sends a block split over CONTINUATION for
            # the small responses asked for here)
            block = payload
            if ftype == HEADERS and flags & 0x8:  # PADDED
                block = block[1:len(block) - block[0]]
            if ftype == HEADERS and flags & 0x20:  # PRIORITY
                block = block[5:]
            for name, value in self.dec.decode(block, raw=True):
                if name == b":status":
                    self.status.setdefault(sid, int(value))
            if flags & END_STREAM:
                self.ended.add(sid)
        elif ftype == DATA:
            self.body[sid] = self.body.get(sid, b"") + payload
            if flags & END_STREAM:
                self.ended.add(sid)

    def pump(self, until, timeout):
        """Read frames until UNTIL() holds, the connection closes or TIMEOUT
        passes; True if UNTIL() held."""
        end = time.monotonic() + timeout
        while not until():
            left = end - time.monotonic()
            if left <= 0 or self.closed:
                return until()
            self.s.settimeout(min(left, 0.5))
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                return until()
            self.buf += data
            self._frames()
        return True

    def window_update(self, sid, n):
        self.try_send(frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", n)))

    def drain(self, sids, timeout, what):
        """Read the responses of streams SIDS to their end (or reset),
        opening the windows as the data comes; the streams in the order
        they finished."""
        seen = {sid: 0 for sid in sids}
        order = []
        end = time.monotonic() + timeout

        def done(sid):
            return sid in self.ended or sid in self.resets

        while len(order) < len(sids) and not self.closed:
            check(time.monotonic() < end, f"{what} not complete within {timeout} s")
            self.pump(lambda: any(len(self.body.get(sid, b"")) > seen[sid]
                                  or (done(sid) and sid not in order) for sid in sids), 0.5)
            for sid in sids:
                got = len(self.body.get(sid, b""))
                if got > seen[sid]:
                    self.window_update(0, got - seen[sid])
                    self.window_update(sid, got - seen[sid])
                    seen[sid] = got
                if done(sid) and sid not in order:
                    order.append(sid)
        return order

    def get(self, sid, path="/index.html", timeout=5):
        """A whole GET, opening the windows as the data comes."""
        self.headers(sid, path)
        self.drain([sid], timeout, f"GET {path}")
        return self.status.get(sid), self.body.get(sid, b"")

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def probe(d, what):
    """A normal client is served: GET /index.html, 200, byte-exact, < 5 s."""
    t0 = time.monotonic()
    c = Conn(d)
    try:
        st, body = c.get(1, timeout=5 * SLOW)
        check(st == 200 and body == d.index,
              f"after {what}: a normal GET got {st}, {len(body)} bytes")
    finally:
        c.close()
    return time.monotonic() - t0


def goaway_str(c):
    if c.goaway:
        return f"GOAWAY {ERR.get(c.goaway[1], hex(c.goaway[1]))}"
    return "closed without GOAWAY" if c.closed else "still open, no GOAWAY"


# --------------------------------------------------------------------------
# The attacks

def rapid_reset(d):
    c = Conn(d)
    c.pump(lambda: c.got_settings, 2)
    cpu0 = d.cpu_s()
    sid, sent, t0 = 1, 0, time.monotonic()
    cancel = struct.pack(">I", 8)
    # up to 20,000 streams opened and cancelled, 100 per write
    while sent < 20000 and not c.goaway and not c.closed and time.monotonic() - t0 < 15 * SLOW:
        batch = b""
        for _ in range(100):
            batch += frame(HEADERS, END_HEADERS | END_STREAM, sid, c.request_block())
            batch += frame(RST_STREAM, 0, sid, cancel)
            sid += 2
        sent += 100
        if not c.try_send(batch):
            break
        c.pump(lambda: c.goaway is not None, 0.001)
    c.pump(lambda: c.goaway is not None, 3)
    cpu = d.cpu_s() - cpu0
    c.close()
    check(c.goaway and c.goaway[1] == 0xb,
          f"after {sent} opened-and-reset streams: {goaway_str(c)}, want GOAWAY "
          "ENHANCE_YOUR_CALM")
    check(cpu < 5 * SLOW, f"the server spent {cpu:.1f} s of CPU on {sent} resets")
    return f"GOAWAY ENHANCE_YOUR_CALM after {sent} streams, {cpu:.2f} s server CPU"


def continuation_flood(d):
    c = Conn(d)
    c.pump(lambda: c.got_settings, 2)
    c.send(frame(HEADERS, 0, 1, c.request_block()))  # no END_HEADERS
    sent, ok = 0, True
    n = 0
    # 4,000 CONTINUATION frames of ~1 KB of fresh header fields (4 MB)
    while sent < 4000 and ok and not c.goaway and not c.closed:
        block = b"".join(literal(b"x-flood-%d" % (n + i), b"v" * 100) for i in range(9))
        n += 9
        ok = c.try_send(frame(CONTINUATION, 0, 1, block), timeout=2)
        sent += 1
        if sent % 50 == 0:
            c.pump(lambda: c.goaway is not None, 0.001)
    c.pump(lambda: c.goaway is not None or c.closed, 5)
    st = c.status.get(1)
    c.close()
    check(c.goaway or c.closed or 1 in c.resets or (st and st >= 400),
          f"{sent} CONTINUATION frames (about {sent} KB of fields) were taken: "
          f"{goaway_str(c)}")
    check(st is None or st >= 400, f"the flooded request was answered {st}")
    return f"{goaway_str(c)} after {sent} CONTINUATION frames" + \
        (f" ({'stopped reading' if not ok else ''})" if not ok else "")


def hpack_bomb(d):
    c = Conn(d)
    c.pump(lambda: c.got_settings, 2)
    # a 4,000-byte value into the dynamic table (index 62), then 12,000
    # one-byte references to it: 48 MB of header fields from 16 KB
    block = c.request_block() + literal(b"x-bomb", b"a" * 4000, indexing=True) + \
        bytes([0x80 | 62]) * 12000
    maxf = c.server_settings.get(S_MAX_FRAME_SIZE, 16384)
    first, rest = block[:maxf], block[maxf:]
    frames = [frame(HEADERS, END_STREAM | (0 if rest else END_HEADERS), 1, first)]
    while rest:
        part, rest = rest[:maxf], rest[maxf:]
        frames.append(frame(CONTINUATION, 0 if rest else END_HEADERS, 1, part))
    c.try_send(b"".join(frames))
    c.pump(lambda: 1 in c.status or 1 in c.resets or c.goaway is not None, 5)
    st = c.status.get(1)
    what = (f"{st}" if st else f"RST_STREAM {ERR.get(c.resets[1])}" if 1 in c.resets
            else goaway_str(c))
    c.close()
    check(st == 431 or 1 in c.resets or c.goaway or c.closed,
          f"48 MB of decoded fields: {what}, want 431, RST_STREAM or GOAWAY")
    check(st is None or st == 431, f"the bomb was answered {st}")
    return what


def flood(d, make, what, count):
    """Send up to COUNT frames from MAKE() without reading (a tiny receive
    buffer, so that the server's ACKs back up), then still not read for
    send_timeout + 2 s.  The server must cut the connection: GOAWAY
    ENHANCE_YOUR_CALM, or a close (nghttp2's flood detection), or, where it
    stopped reading because its ACKs could not go out, a drop after
    send_timeout.  Nothing grows meanwhile (RSS is checked after)."""
    c = Conn(d, rcvbuf=4096)
    c.pump(lambda: c.got_settings, 2)
    c.auto_ack = False
    sent, ok, t0 = 0, True, time.monotonic()
    chunk = make() * 1000
    while sent < count and ok and time.monotonic() - t0 < 20 * SLOW:
        ok = c.try_send(chunk, timeout=3)
        sent += 1000
    time.sleep(SEND_TIMEOUT + 2)
    # now read: the ACKs that made it, then the GOAWAY or the close
    c.pump(lambda: c.closed, 10 * SLOW)
    c.close()
    how = "it stopped reading after" if not ok else "after"
    if c.goaway:
        check(c.goaway[1] == 0xb, f"{what}: {goaway_str(c)}, want ENHANCE_YOUR_CALM")
    check(c.closed, f"{sent} {what} frames sent ({'the server stopped reading' if not ok else 'all taken'}),"
          f" then no GOAWAY and no close within {SEND_TIMEOUT + 2 + 10 * SLOW} s")
    return f"{goaway_str(c)}; {how} {sent} frames"


def settings_flood(d):
    res = flood(d, lambda: settings(), "SETTINGS", 600000)
    # one SETTINGS frame with 100 entries (nghttp2 allows 32)
    c = Conn(d)
    c.send(settings([(S_HEADER_TABLE_SIZE, 4096 + i) for i in range(100)]))
    c.pump(lambda: c.goaway is not None, 5)
    c.close()
    check(c.goaway and c.goaway[1] == 0xb or c.closed,
          f"a SETTINGS frame with 100 entries: {goaway_str(c)}")
    return res + f"; 100 entries in one frame: {goaway_str(c)}"


def ping_flood(d):
    return flood(d, lambda: frame(PING, 0, 0, b"12345678"), "PING", 600000)


def zero_window(d):
    stalled = []
    for _ in range(20):
        c = Conn(d, window=0)
        c.headers(1, "/big.bin")
        stalled.append(c)
    t0 = time.monotonic()
    # the two workers are not held: normal clients are served meanwhile
    worst = 0.0
    for _ in range(10):
        worst = max(worst, probe(d, "20 zero-window streams"))
    check(worst < 2 * SLOW, f"a normal GET took {worst:.2f} s while 20 readers stalled")
    # each stalled connection is dropped after send_timeout (2 s)
    for c in stalled:
        c.pump(lambda: False, max(0.1, SEND_TIMEOUT + 8 * SLOW - (time.monotonic() - t0)))
    took = time.monotonic() - t0
    alive = sum(1 for c in stalled if not c.closed)
    for c in stalled:
        c.close()
    check(alive == 0, f"{alive} of 20 zero-window connections still open after {took:.1f} s "
          f"(send_timeout {SEND_TIMEOUT} s)")
    check(all(c.status.get(1) in (None, 200) for c in stalled), "odd status")
    return f"all 20 dropped within {took:.1f} s (send_timeout {SEND_TIMEOUT} s); " \
           f"probes meanwhile <= {worst * 1000:.0f} ms"


def stream_id_exhaustion(d):
    """Stream 2^31-3 is served; then 2^31-1 (the last odd id) is either
    served too or refused by a GOAWAY NO_ERROR the server sent because the
    ids run out (RFC 9113 section 5.1.1: the client must open a new
    connection); a lower id after that is a connection error
    (PROTOCOL_ERROR) or finds the connection closed.  Never answered."""
    c = Conn(d)
    c.pump(lambda: c.got_settings, 2)
    st1, b1 = c.get(0x7ffffffd)
    check(st1 == 200 and b1 == d.index, f"stream 2^31-3: {st1}")
    early = goaway_str(c) if c.goaway else ""
    check(not c.goaway or c.goaway[1] == 0, f"after stream 2^31-3: {goaway_str(c)}")
    if not c.closed:
        c.try_send(frame(HEADERS, END_HEADERS | END_STREAM, 0x7fffffff, c.request_block()))
        c.pump(lambda: 0x7fffffff in c.ended or 0x7fffffff in c.resets or c.closed, 5)
    st2 = c.status.get(0x7fffffff)
    check(st2 in (None, 200), f"stream 2^31-1: {st2}")
    check(st2 is None or c.goaway is None or c.goaway[0] >= 0x7fffffff,
          f"stream 2^31-1 answered after {goaway_str(c)}")
    if not c.closed:
        c.try_send(frame(HEADERS, END_HEADERS | END_STREAM, 5, c.request_block()))
        c.pump(lambda: c.closed, 5)
    c.close()
    check(c.goaway is not None or c.closed, f"a stream id below the last: {goaway_str(c)}")
    check(c.goaway is None or c.goaway[1] in (0, 1),
          f"a stream id below the last: {goaway_str(c)}, want PROTOCOL_ERROR")
    check(5 not in c.status, "stream 5 after 2^31-1 was answered")
    return (f"2^31-3 served; " + (f"{early} at once (ids run out); " if early else "") +
            f"2^31-1 {'served' if st2 else 'refused'}; then {goaway_str(c)}" +
            (", closed" if c.closed else ""))


def oversized_frame(d):
    c = Conn(d)
    c.pump(lambda: c.got_settings, 2)
    maxf = c.server_settings.get(S_MAX_FRAME_SIZE, 16384)
    block = c.request_block() + literal(b"x-pad", b"p" * (maxf + 100 - 60))
    c.try_send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block[:maxf + 1]))
    c.pump(lambda: c.goaway is not None, 5)
    c.close()
    check(c.goaway and c.goaway[1] == 6,
          f"a {maxf + 1}-byte frame (max {maxf}): {goaway_str(c)}, want FRAME_SIZE_ERROR")
    return f"{maxf + 1}-byte HEADERS frame: {goaway_str(c)}"


def priorities(d):
    c = Conn(d)
    try:
        big = d.big
        # both requests in one write: the server knows both before it
        # sends DATA for either
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.request_block("/big.bin"))
               + frame(HEADERS, END_HEADERS | END_STREAM, 3,
                       c.request_block("/big.bin", extra=[("priority", "u=0")])))
        order = c.drain([1, 3], 10 * SLOW, "two 2 MiB downloads")
        check(c.server_settings.get(9) == 1,
              f"SETTINGS_NO_RFC7540_PRIORITIES is {c.server_settings.get(9)!r}, not 1")
        check(c.body.get(1) == big and c.body.get(3) == big, "a download is not byte-exact")
        check(order == [3, 1], f"streams ended in the order {order}: the urgent one "
              f"(u=0, stream 3) should end first")
        return "SETTINGS_NO_RFC7540_PRIORITIES 1; u=0 stream ended first, both byte-exact"
    finally:
        c.close()


def file_read_in_runs(d):
    if not shutil.which("strace"):
        raise Failed("strace is not installed (Debian: strace; scripts/dev.sh installs it)")
    path = os.path.join(d.docroot, "runs.bin")
    data = os.urandom(2 << 20)
    with open(path, "wb") as f:
        f.write(data)
    log = os.path.join(d.tmp, "strace-runs.log")
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=pread64,preadv,preadv2,sendto",
                               "-o", log, "-p", str(d.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c = None
    try:
        # strace says nothing when it is attached: wait for the first line
        # a request of ours makes it write (a send)
        end = time.monotonic() + 10 * SLOW
        while time.monotonic() < end:
            probe(d, "strace attaching")
            if os.path.exists(log) and os.path.getsize(log) > 0:
                break
            time.sleep(0.1)
        # windows that take the whole file: how the reads are grouped does
        # not depend on when our WINDOW_UPDATEs arrive
        c = Conn(d, window=16 << 20)
        c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 16 << 20)))
        st, body = c.get(1, "/runs.bin", timeout=10 * SLOW)
        check(st == 200 and body == data, f"GET /runs.bin got {st}, {len(body)} bytes")
    finally:
        if c:
            c.close()
        tracer.send_signal(signal.SIGINT)
        try:
            tracer.wait(10)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait()
    calls = reads = 0
    frames = len(data) // 16384
    with open(log, errors="replace") as f:
        for line in f:
            if "preadv(" not in line and "pread64(" not in line:
                continue
            m = re.search(r"\) += (\d+)$", line.rstrip())
            # the download's reads: 16 KiB and more (the page's are 2 KB)
            if "preadv(" in line and m and int(m.group(1)) > 16384:
                calls += 1
                reads += int(m.group(1))
            check(not ("pread64(" in line and m and int(m.group(1)) >= 16000),
                  f"a DATA frame read on its own: {line.strip()}")
    check(reads >= len(data) - 16384, f"strace saw {reads} bytes read by preadv of {len(data)}")
    check(calls <= frames // 4, f"{calls} preadv calls for {frames} DATA frames")
    return f"2 MiB read by {calls} preadv calls for {frames} DATA frames; byte-exact"


def file_shrinks_mid_response(d):
    path = os.path.join(d.docroot, "shrinks.bin")
    data = os.urandom(1 << 20)
    with open(path, "wb") as f:
        f.write(data)
    c = Conn(d, window=32768)
    try:
        c.headers(1, "/shrinks.bin")
        # the stream's window: 32 KiB, then the response waits for it
        check(c.pump(lambda: len(c.body.get(1, b"")) >= 32768, 5 * SLOW),
              f"no DATA: {goaway_str(c)}")
        os.truncate(path, 40000)
        c.window_update(0, 1 << 20)
        c.window_update(1, 1 << 20)
        c.pump(lambda: c.closed or 1 in c.ended or 1 in c.resets, 5 * SLOW)
        got = c.body.get(1, b"")
        check(got == data[:len(got)], f"{len(got)} bytes sent, not the file's")
        check(1 not in c.ended, f"the response ended as complete with {len(got)} bytes")
        check(c.closed or 1 in c.resets, f"still open, stream 1 not reset: {goaway_str(c)}")
        return f"{len(got)} bytes, all the file's; {goaway_str(c)}"
    finally:
        c.close()
        os.unlink(path)


def unsent_backlog_bounded(d):
    """A download to a client that stops reading: what the kernel holds
    for it beyond the client's window (ss: notsent) stays near the HTTPS
    listener's TCP_NOTSENT_LOWAT (128 KiB), not the megabytes a full send
    buffer would hold; then the client reads the file whole."""
    if not shutil.which("ss"):
        raise Failed("ss is not installed (Debian: iproute2; scripts/dev.sh installs it)")
    big = d.big
    c = Conn(d, window=16 << 20)
    try:
        c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 16 << 20)))
        c.headers(1, "/big.bin")
        me = c.s.getsockname()[1]
        query = ["ss", "-tniH", "state", "established",
                 f"( sport = :{d.tls_port} and dport = :{me} )"]
        # not read: the client's buffer fills, then the server's backlog
        # grows until the kernel stops taking more; watch it settle
        worst = last = -1
        settled = 0
        end = time.monotonic() + 10 * SLOW
        while settled < 5 and time.monotonic() < end:
            time.sleep(0.1)
            out = subprocess.run(query, capture_output=True, text=True, check=True).stdout
            check(out.strip(), f"ss does not show the connection: {query}")
            m = re.search(r"notsent:(\d+)", out)
            now = int(m.group(1)) if m else 0
            settled = settled + 1 if now == last else 0
            last, worst = now, max(worst, now)
        check(worst > 0, "ss never showed unsent bytes: the stall did not reach the server")
        check(worst <= 256 << 10, f"{worst} bytes unsent in the kernel for one connection "
              "(TCP_NOTSENT_LOWAT is 128 KiB)")
        c.pump(lambda: 1 in c.ended or 1 in c.resets, 10 * SLOW)
        got = c.body.get(1, b"")
        check(c.status.get(1) == 200 and got == big,
              f"GET /big.bin after the stall: {c.status.get(1)}, {len(got)} of {len(big)} bytes")
        return f"at most {worst} bytes unsent while the client did not read; then byte-exact"
    finally:
        c.close()


def alpn_now(d):
    ctx = ssl.create_default_context(cafile=os.path.join(d.certs, "ca.pem"))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", d.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.selected_alpn_protocol()


def reload_h2_off(d):
    big = d.big
    idle = Conn(d)
    st, body = idle.get(1)
    check(st == 200 and body == d.index, f"before the reload: GET got {st}")
    busy = Conn(d)
    busy.headers(1, "/big.bin")
    # the first 64 KiB (the connection's window), then the download waits
    check(busy.pump(lambda: len(busy.body.get(1, b"")) >= 65535, 5),
          f"no DATA before the reload: {goaway_str(busy)}")
    try:
        d.reload(False)
        # the download is in flight: it completes, then GOAWAY NO_ERROR
        seen = 0
        end = time.monotonic() + 10 * SLOW
        while 1 not in busy.ended and 1 not in busy.resets and not busy.closed:
            check(time.monotonic() < end, "the download in flight did not complete")
            got = len(busy.body.get(1, b""))
            if got > seen or seen == 0:
                busy.window_update(0, max(got - seen, 1 << 20))
                busy.window_update(1, max(got - seen, 1 << 20))
                seen = max(got, 1)
            busy.pump(lambda: len(busy.body.get(1, b"")) > seen or 1 in busy.ended, 0.5)
        check(busy.status.get(1) == 200 and busy.body.get(1) == big,
              f"the download in flight: {busy.status.get(1)}, "
              f"{len(busy.body.get(1, b''))} of {len(big)} bytes, {goaway_str(busy)}")
        busy.pump(lambda: busy.goaway is not None and busy.goaway[0] < 2**31 - 1, 5 * SLOW)
        check(busy.goaway == (1, 0), f"after the download: {goaway_str(busy)} "
              f"(last stream {busy.goaway[0] if busy.goaway else None}), want GOAWAY "
              "NO_ERROR naming stream 1")
        busy.pump(lambda: busy.closed, 5 * SLOW)
        check(busy.closed, "still open after its GOAWAY")
        # the idle one: GOAWAY NO_ERROR naming its last stream, then closed
        idle.pump(lambda: idle.closed, 5 * SLOW)
        check(idle.goaway is not None and idle.goaway[1] == 0 and idle.closed,
              f"an idle HTTP/2 connection after the reload: {goaway_str(idle)}")
        proto = alpn_now(d)
        check(proto == "http/1.1", f"ALPN chose {proto!r} with tls.http2 = false")
    finally:
        idle.close()
        busy.close()
        d.reload(True)
    proto = alpn_now(d)
    check(proto == "h2", f"ALPN chose {proto!r} after the reload back to tls.http2 = true")
    return ("idle: GOAWAY NO_ERROR, closed; in flight: 2 MiB complete, GOAWAY NO_ERROR "
            "(last stream 1), closed; ALPN http/1.1, then h2 again")


ATTACKS = [rapid_reset, continuation_flood, hpack_bomb, settings_flood, ping_flood,
           zero_window, stream_id_exhaustion, oversized_frame, priorities, file_read_in_runs,
           file_shrinks_mid_response, unsent_backlog_bounded, reload_h2_off]


def main():
    only = sys.argv[1:]
    if not os.access(BIN, os.X_OK):
        print(f"not ok - daemon {BIN} not built")
        return 1
    failed = 0
    with tempfile.TemporaryDirectory(prefix="mthttpd-h2-") as tmp:
        try:
            d = Daemon(tmp)
        except Failed as e:
            print(f"not ok - start: {e}")
            return 1
        try:
            probe(d, "start")
            rss0 = d.rss_kb()
            for attack in ATTACKS:
                if only and attack.__name__ not in only:
                    continue
                before = d.rss_kb()
                t0 = time.monotonic()
                try:
                    what = attack(d)
                    check(d.alive(), "the daemon died: " + d.log_tail())
                    probe(d, attack.__name__)
                    grew = d.rss_kb() - before
                    check(grew < RSS_BOUND_KB, f"RSS grew by {grew} KiB")
                    print(f"ok - {attack.__name__}: {what}; RSS {grew:+d} KiB; "
                          f"{time.monotonic() - t0:.1f} s")
                except (Failed, OSError, ssl.SSLError) as e:
                    failed += 1
                    print(f"not ok - {attack.__name__}: {e}")
                    if not d.alive():
                        print("# the daemon died; its log ends with:\n" + d.log_tail())
                        return 1
                sys.stdout.flush()
            total = d.rss_kb() - rss0
            print(f"# RSS {rss0} KiB at start, {total:+d} KiB after all attacks")
            if total > 2 * RSS_BOUND_KB:
                failed += 1
                print(f"not ok - memory: RSS grew by {total} KiB over all attacks")
        finally:
            rc = d.stop()
            if rc != 0:
                failed += 1
                print(f"not ok - stop: the daemon exited {rc} on SIGTERM\n" + d.log_tail())
    print(f"# {len(ATTACKS) if not only else len(only)} attacks, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
