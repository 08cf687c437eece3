#!/usr/bin/env python3
"""Python's http.client against the real daemon.

Starts the built mthttpd the way systemd does (a listening socket on
127.0.0.1:0 passed as LISTEN_FDS=1, READY=1 awaited on our own
NOTIFY_SOCKET), in a temporary directory of its own, and checks what a
stock HTTP/1.1 client library sees: keep-alive reuse, HEAD, an attachment
download, a JSON upload read back, 415, 404, Range, a conditional GET and a
chunked upload.

Environment: MTHTTPD_BIN (default ../src/mthttpd from the current
directory), MTHTTPD_SRCDIR (default: the source tree this file is in).
Exit status (automake's test protocol): 0 all passed, 1 a failure, 77 this
Python lacks something the test needs.
"""

import sys

try:
    import http.client
    import json
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import tempfile
    import time
    import traceback
except ImportError as e:  # a stripped-down python3
    print("SKIP: python3 lacks %s" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("MTHTTPD_SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
RESOURCES = os.path.join(SRCDIR, "resources")


def daemon_binary():
    b = os.environ.get("MTHTTPD_BIN")
    if b:
        return b
    for cand in ("../src/mthttpd", os.path.join(SRCDIR, "src", "mthttpd")):
        if os.access(cand, os.X_OK):
            return os.path.abspath(cand)
    return os.path.abspath("../src/mthttpd")


# Runs in the child between fork and the daemon's exec: moves the listening
# socket to fd 3, sets LISTEN_PID to its own pid (exec keeps it), asks to be
# killed if the test dies, and execs the daemon.
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
    """The daemon in a temp dir, socket-activated on 127.0.0.1:0."""

    def __init__(self, extra=""):
        self.dir = tempfile.mkdtemp(prefix="mth-py-")
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
            f.write(
                'port = %d;\nlisten_address = "127.0.0.1";\n'
                'document_root = "%s";\nuploads_dir = "uploads";\n'
                "pool_size = 4;\nkeepalive_timeout = 5;\n"
                'allowed_hosts = ["localhost", "127.0.0.1", "[::1]"];\n'
                'log_level = "info";\n%s\n' % (self.port, RESOURCES, extra)
            )
        self.nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.npath = os.path.join(self.dir, "notify")
        self.nsock.bind(self.npath)

    def start(self, binary):
        env = dict(os.environ)
        for k in ("LISTEN_PID", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            env.pop(k, None)
        env.update(LISTEN_FDS="1", LISTEN_FDNAMES="http", NOTIFY_SOCKET=self.npath)
        fd = self.lsock.fileno()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", EXEC_HELPER, str(fd), binary, "-c", self.conf],
                pass_fds=[fd], env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=log)
        self.lsock.close()  # the daemon holds it now, like systemd's socket unit
        self.wait_notify(b"READY=1", 10.0)

    def wait_notify(self, what, timeout):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("no %r from the daemon (exit %r); log:\n%s"
                                   % (what, self.proc.poll(), self.log_text()))
            self.nsock.settimeout(left)
            try:
                msg = self.nsock.recv(4096)
            except socket.timeout:
                continue
            if what in msg:
                return

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def stop(self, timeout=15.0):
        """SIGTERM, wait, SIGKILL; returns the exit status (None: killed)."""
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = None
        elif self.proc is not None:
            rc = self.proc.returncode
        self.nsock.close()
        if self.lsock.fileno() >= 0:
            self.lsock.close()
        return rc

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- the checks

class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def resource(name):
    with open(os.path.join(RESOURCES, name), "rb") as f:
        return f.read()


def conn(d):
    return http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)


def t_keepalive_reuse(d):
    c = conn(d)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read()
        check(r.status == 200, "GET / -> %d" % r.status)
        check(body == resource("index.html"), "index.html differs")
        check(r.getheader("Connection", "").lower() == "keep-alive",
              "Connection: %r" % r.getheader("Connection"))
        sock = c.sock
        check(sock is not None, "http.client closed the connection after a keep-alive response")
        local = sock.getsockname()
        for path, name in (("/about.html", "about.html"), ("/contact.html", "contact.html"),
                           ("/style.css", "style.css"), ("/", "index.html")):
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            check(r.status == 200, "GET %s -> %d" % (path, r.status))
            check(body == resource(name), "%s differs" % path)
            check(c.sock is sock and sock.getsockname() == local,
                  "a new connection was opened for %s" % path)
        # the Keep-Alive budget counts down on the same connection
        ka = r.getheader("Keep-Alive", "")
        check("max=95" in ka, "Keep-Alive after 5 requests: %r" % ka)
    finally:
        c.close()


def t_head(d):
    c = conn(d)
    try:
        want = resource("logo.png")
        c.request("HEAD", "/logo.png")
        r = c.getresponse()
        body = r.read()
        check(r.status == 200, "HEAD -> %d" % r.status)
        check(body == b"", "HEAD carried %d body bytes" % len(body))
        check(r.getheader("Content-Length") == str(len(want)),
              "Content-Length %r, file has %d" % (r.getheader("Content-Length"), len(want)))
        check(r.getheader("Content-Disposition") == 'attachment; filename="logo.png"',
              "Content-Disposition %r" % r.getheader("Content-Disposition"))
        # and the connection is still in step: a GET follows on it
        c.request("GET", "/sample.txt")
        r = c.getresponse()
        check(r.status == 200 and r.read() == resource("sample.txt"), "GET after HEAD")
    finally:
        c.close()


def t_download(d):
    c = conn(d)
    try:
        for name in ("logo.png", "family.jpg", "sample.txt"):
            c.request("GET", "/" + name)
            r = c.getresponse()
            body = r.read()
            check(r.status == 200, "GET /%s -> %d" % (name, r.status))
            check(r.getheader("Content-Type") == "application/octet-stream",
                  "Content-Type %r" % r.getheader("Content-Type"))
            check(r.getheader("Content-Disposition") == 'attachment; filename="%s"' % name,
                  "Content-Disposition %r" % r.getheader("Content-Disposition"))
            check(body == resource(name), "/%s not byte-exact" % name)
    finally:
        c.close()


def upload(c, body, ctype="application/json", **kw):
    c.request("POST", "/upload", body=body, headers={"Content-Type": ctype}, **kw)
    r = c.getresponse()
    return r, r.read()


def t_json_upload(d):
    c = conn(d)
    try:
        doc = {"client": "python http.client", "n": [1, 2, 3], "ok": True, "text": "h\u00e9llo"}
        body = json.dumps(doc).encode("utf-8")
        r, rb = upload(c, body, "application/json; charset=utf-8")
        check(r.status == 201, "POST /upload -> %d %r" % (r.status, rb))
        loc = r.getheader("Location", "")
        check(loc.startswith("/uploads/upload_") and loc.endswith(".json"), "Location %r" % loc)
        answer = json.loads(rb)
        check(answer == {"status": "created", "path": loc, "bytes": len(body)},
              "answer %r" % answer)
        on_disk = os.path.join(d.uploads, loc[len("/uploads/"):])
        with open(on_disk, "rb") as f:
            check(f.read() == body, "stored file differs")
        c.request("GET", loc)
        r = c.getresponse()
        got = r.read()
        check(r.status == 200, "GET %s -> %d" % (loc, r.status))
        check(r.getheader("Content-Type") == "application/json",
              "Content-Type %r" % r.getheader("Content-Type"))
        check(r.getheader("X-Content-Type-Options") == "nosniff", "no nosniff")
        check(got == body and json.loads(got) == doc, "read back differs")
    finally:
        c.close()


def t_chunked_upload(d):
    c = conn(d)
    try:
        parts = [b'{"chunked":', b" true, ", b'"parts": [1,', b"2,3]}"]
        r, rb = upload(c, iter(parts), encode_chunked=True)
        check(r.status == 201, "chunked POST -> %d %r" % (r.status, rb))
        loc = r.getheader("Location", "")
        c.request("GET", loc)
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"".join(parts), "chunked upload read back")
    finally:
        c.close()


def t_415(d):
    c = conn(d)
    try:
        before = len(os.listdir(d.uploads))
        r, rb = upload(c, b"just text", "text/plain")
        check(r.status == 415, "text/plain upload -> %d" % r.status)
        check(r.getheader("Content-Type", "").startswith("application/json"),
              "415 body type %r" % r.getheader("Content-Type"))
        json.loads(rb)
        check(len(os.listdir(d.uploads)) == before, "a 415 stored something")
    finally:
        c.close()


def t_404(d):
    c = conn(d)
    try:
        c.request("GET", "/no-such-page.html")
        r = c.getresponse()
        r.read()
        check(r.status == 404, "-> %d" % r.status)
        # an error keeps nothing broken: the next request still works
        c.request("GET", "/")
        r = c.getresponse()
        check(r.status == 200 and r.read() == resource("index.html"), "GET / after 404")
    finally:
        c.close()


def t_range(d):
    c = conn(d)
    try:
        want = resource("photo.png")
        c.request("GET", "/photo.png", headers={"Range": "bytes=100-1123"})
        r = c.getresponse()
        body = r.read()
        check(r.status == 206, "Range -> %d" % r.status)
        check(r.getheader("Content-Range") == "bytes 100-1123/%d" % len(want),
              "Content-Range %r" % r.getheader("Content-Range"))
        check(body == want[100:1124], "range body differs")
        c.request("GET", "/photo.png", headers={"Range": "bytes=-10"})
        r = c.getresponse()
        check(r.status == 206 and r.read() == want[-10:], "suffix range")
        c.request("GET", "/photo.png", headers={"Range": "bytes=%d-" % (len(want) + 10)})
        r = c.getresponse()
        r.read()
        check(r.status == 416, "unsatisfiable range -> %d" % r.status)
        check(r.getheader("Content-Range") == "bytes */%d" % len(want),
              "416 Content-Range %r" % r.getheader("Content-Range"))
    finally:
        c.close()


def t_conditional(d):
    c = conn(d)
    try:
        c.request("GET", "/about.html")
        r = c.getresponse()
        r.read()
        etag = r.getheader("ETag")
        lm = r.getheader("Last-Modified")
        check(etag and etag.startswith('"'), "ETag %r" % etag)
        check(lm, "no Last-Modified")
        c.request("GET", "/about.html", headers={"If-None-Match": etag})
        r = c.getresponse()
        body = r.read()
        check(r.status == 304, "If-None-Match -> %d" % r.status)
        check(body == b"", "304 with a body")
        check(r.getheader("ETag") == etag, "304 ETag %r" % r.getheader("ETag"))
        c.request("GET", "/about.html", headers={"If-Modified-Since": lm})
        r = c.getresponse()
        r.read()
        check(r.status == 304, "If-Modified-Since -> %d" % r.status)
        c.request("GET", "/about.html", headers={"If-None-Match": '"not-it"'})
        r = c.getresponse()
        check(r.status == 200 and r.read() == resource("about.html"), "stale ETag -> 200")
    finally:
        c.close()


TESTS = [
    ("keep-alive reuse", t_keepalive_reuse),
    ("HEAD", t_head),
    ("download with Content-Disposition", t_download),
    ("JSON upload, 201, read back", t_json_upload),
    ("chunked JSON upload", t_chunked_upload),
    ("415 for a non-JSON upload", t_415),
    ("404", t_404),
    ("Range: 206 and 416", t_range),
    ("conditional GET: 304", t_conditional),
]


def main():
    binary = daemon_binary()
    if not os.access(binary, os.X_OK):
        print("FAIL: daemon binary %s not found (set MTHTTPD_BIN)" % binary)
        return 1
    if not os.path.isdir(RESOURCES):
        print("FAIL: %s not found (set MTHTTPD_SRCDIR)" % RESOURCES)
        return 1
    passed = failed = 0
    d = Daemon()
    try:
        d.start(binary)
        for name, fn in TESTS:
            try:
                fn(d)
                passed += 1
                print("ok - %s" % name)
            except Failure as e:
                failed += 1
                print("not ok - %s: %s" % (name, e))
            except Exception:
                failed += 1
                print("not ok - %s: %s" % (name, traceback.format_exc().rstrip()))
    except Exception as e:
        failed += 1
        print("not ok - daemon start: %s" % e)
    finally:
        rc = d.stop()
        if d.proc is not None:
            if rc == 0:
                passed += 1
                print("ok - daemon stops with status 0")
            else:
                failed += 1
                print("not ok - daemon exit status %r; log:\n%s" % (rc, d.log_text()))
        d.cleanup()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
