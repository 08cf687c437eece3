#!/usr/bin/env python3
"""tests/soak/upload_memory.py - the daemon's memory under large uploads (#14).

Starts the built mthttpd on 127.0.0.1 (a port it picks) with
max_body_size = 4 GiB and measures its peak RSS (VmHWM) while it takes:

  1. a 2 GiB valid upload shaped [0,0,0,...] with Content-Length: stored
     byte-exact (SHA-256 of what was sent = of the stored file)
  2. the same, chunked
  3. a 2 GiB invalid one (its last byte wrong): 400, nothing left behind
  4. 10 concurrent 100 MB uploads

and fails unless the peak stays under 64 MiB for 1-3 and 128 MiB for 4.
Too slow and too big on disk (about 4.5 GB written, under $TMPDIR) for
`make check`, which runs the same checks at 256 MiB and 10 x 32 MiB
(tests/integration/test_uploads.c).  Loopback only; the daemon is stopped
by PID.

    python3 tests/soak/upload_memory.py [--bin _build/src/mthttpd] [--size-mib 2048]
"""
import argparse
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

PIECE = b"0," * (512 * 1024)  # 1 MiB


def body_pieces(total, bad_last=False):
    """[0,0,...,0] of TOTAL bytes (odd, >= 3) in pieces."""
    yield b"["
    left = total - 3
    while left > 0:
        n = min(left, len(PIECE))
        yield PIECE[:n]
        left -= n
    yield b"0}" if bad_last else b"0]"


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def upload(port, total, chunked=False, bad_last=False):
    h = hashlib.sha256()
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    head = (f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n")
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {total}\r\n\r\n"
    s.sendall(head.encode())
    try:
        for p in body_pieces(total, bad_last):
            h.update(p)
            if chunked:
                s.sendall(b"%x\r\n" % len(p) + p + b"\r\n")
            else:
                s.sendall(p)
        if chunked:
            s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    resp = b""
    while b"\r\n\r\n" not in resp:
        d = s.recv(65536)
        if not d:
            break
        resp += d
    s.close()
    m = re.match(rb"HTTP/1\.1 (\d+)", resp)
    return (int(m.group(1)) if m else -1), h.hexdigest()


def stored(updir):
    return sorted(f for f in os.listdir(updir) if not f.startswith("."))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def main():
    ap = argparse.ArgumentParser()
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--bin", default=os.path.join(top, "_build/src/mthttpd"))
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--concurrent-mib", type=int, default=100)
    a = ap.parse_args()
    total = a.size_mib * 1024 * 1024 + 1
    work = tempfile.mkdtemp(prefix="mthttpd-memory.")
    os.makedirs(f"{work}/www")
    os.makedirs(f"{work}/up")
    with open(f"{work}/www/index.html", "w") as f:
        f.write("ok\n")
    with open(f"{work}/conf", "w") as f:
        f.write(f'port = 0;\nlisten_address = "127.0.0.1";\ndocument_root = "{work}/www";\n'
                f'uploads_dir = "{work}/up";\nallowed_hosts = ["127.0.0.1"];\n'
                'max_body_size = 4294967296L;\npool_size = 12;\nbody_timeout = 120;\n'
                'access_log = "off";\nlog_level = "info";\n')
    log = open(f"{work}/log", "w+")
    d = subprocess.Popen([a.bin, "-c", f"{work}/conf"], stderr=log)
    failed = 0
    try:
        port = None
        for _ in range(100):
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(f"{work}/log").read())
            if m and "ready" in open(f"{work}/log").read():
                port = int(m.group(1))
                break
            time.sleep(0.1)
        if not port:
            sys.exit("the daemon did not start: " + open(f"{work}/log").read())

        def check(what, ok, detail):
            nonlocal failed
            print(("ok   " if ok else "FAIL ") + what + ": " + detail, flush=True)
            failed += not ok

        for chunked in (False, True):
            t0 = time.time()
            st, digest = upload(port, total, chunked)
            files = stored(f"{work}/up")
            same = len(files) == 1 and sha256_file(f"{work}/up/{files[0]}") == digest
            hwm = vm(d.pid, "VmHWM")
            check(f"{a.size_mib} MiB valid upload, {'chunked' if chunked else 'Content-Length'}",
                  st == 201 and same and hwm < 64 * 1024,
                  f"status {st}, stored byte-exact {same}, peak RSS {hwm} KiB, "
                  f"{time.time() - t0:.1f} s")
            for f in files:
                os.unlink(f"{work}/up/{f}")
        st, _ = upload(port, total, False, bad_last=True)
        left = os.listdir(f"{work}/up")
        hwm = vm(d.pid, "VmHWM")
        check(f"{a.size_mib} MiB invalid upload", st == 400 and not left and hwm < 64 * 1024,
              f"status {st}, left behind {left}, peak RSS {hwm} KiB")
        res = []
        conc = a.concurrent_mib * 1024 * 1024 + 1
        ts = [threading.Thread(target=lambda: res.append(upload(port, conc)[0])) for _ in range(10)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        hwm = vm(d.pid, "VmHWM")
        check(f"10 concurrent {a.concurrent_mib} MB uploads",
              res.count(201) == 10 and len(stored(f"{work}/up")) == 10 and hwm < 128 * 1024,
              f"statuses {sorted(res)}, peak RSS {hwm} KiB")
    finally:
        d.terminate()
        d.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
