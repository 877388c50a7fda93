#!/usr/bin/env python3
"""Long-lived TCP sessions to a line-echo service, for tests/testbed_scaleout.rs.

sessions.py VIP PORT N STOPFILE [SRC...]: opens N connections to VIP:PORT (source addresses
cycling through SRC; a connection that does not open in 5 s is tried again from a new port, up
to five times), prints "open <local ip:port>" for each, then on every connection sends a
line every 100 ms and checks its echo (60 s allowed per line, across a failover). Once STOPFILE
exists each session sends ten more lines and ends. Prints one JSON line per session at the end:
{"local": "ip:port", "ok": bool, "lines": n, "gap_ms": longest time between two echoes,
"error": text or null}. Bounded: 300 s in all. Exit status 0 only if every session was ok.
"""
import json
import os
import socket
import sys
import threading
import time

LIMIT_S = 300


def session(sock, stop, out):
    f = sock.makefile("rwb")
    i, after, gap = 0, None, 0.0
    last = time.monotonic()
    end = time.monotonic() + LIMIT_S
    try:
        while time.monotonic() < end:
            msg = ("line %d " % i).encode() * 10 + b"\n"
            f.write(msg)
            f.flush()
            back = f.readline()
            now = time.monotonic()
            if back != msg:
                out["error"] = "mismatch at %d: %r" % (i, back[:40])
                return
            gap = max(gap, now - last)
            last = now
            i += 1
            out["lines"], out["gap_ms"] = i, int(gap * 1000)
            if after is None and os.path.exists(stop):
                after = i
            if after is not None and i >= after + 10:
                out["ok"] = True
                return
            time.sleep(0.1)
        out["error"] = "timeout at %d" % i
    except OSError as e:
        out["error"] = "error at %d: %r" % (i, e)
    finally:
        sock.close()


def connect(vip, port, src):
    """A connection from src; up to 5 attempts of 5 s, each from a new source port (a client
    retries; in NAT scale-out a half-open connection whose SYN-ACK returns through the other
    appliance is not known there yet: docs/scale-out.md)."""
    for attempt in range(5):
        try:
            s = socket.create_connection((vip, port), timeout=5, source_address=(src, 0))
            s.settimeout(60)
            return s
        except OSError:
            if attempt == 4:
                raise
    raise OSError("unreachable")


def main():
    vip, port, n, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    srcs = sys.argv[5:] or ["0.0.0.0"]
    results, threads = [], []
    for k in range(n):
        s = connect(vip, port, srcs[k % len(srcs)])
        local = "%s:%d" % s.getsockname()
        print("open", local, flush=True)
        out = {"local": local, "ok": False, "lines": 0, "gap_ms": 0, "error": None}
        results.append(out)
        t = threading.Thread(target=session, args=(s, stop, out), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(LIMIT_S + 10)
    for out in results:
        print(json.dumps(out), flush=True)
    sys.exit(0 if all(o["ok"] for o in results) else 1)


if __name__ == "__main__":
    main()
