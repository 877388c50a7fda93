#!/usr/bin/env python3
"""The client of `scripts/demo ha`: holds one TCP session open and keeps asking for pages.

- session: one connection to the echo service (VIP:7) for the whole demo, a line every 100 ms,
  each echo awaited (60 s, across a failover) and compared: a lost, reordered or reset line
  breaks it, and the demo says so.
- pages: a GET of http://VIP/ every second, each on a new connection (2 s limit); the body
  names the real server that answered.

Prints one status line a second, `[  12.0s] session: 120 lines echoed in order | page: real1`,
the time counted from --t0 (the demo's start), until the file --stop exists; then the session's
verdict, and exits 0 only if the session never broke. Bounded by --secs. Standard library only.
"""

import argparse
import os
import socket
import sys
import threading
import time


class Session(threading.Thread):
    def __init__(self, vip, port):
        super().__init__(daemon=True)
        self.vip, self.port = vip, port
        self.lines = 0
        self.longest = 0.0
        self.broken = None
        self.stop = threading.Event()

    def run(self):
        try:
            sock = socket.create_connection((self.vip, self.port), timeout=60)
            f = sock.makefile("rwb")
            while not self.stop.is_set():
                msg = ("line %d " % self.lines).encode() * 8 + b"\n"
                t = time.monotonic()
                f.write(msg)
                f.flush()
                back = f.readline()
                self.longest = max(self.longest, time.monotonic() - t)
                if back != msg:
                    self.broken = "line %d came back as %r" % (self.lines, back[:30])
                    return
                self.lines += 1
                time.sleep(0.1)
            sock.close()
        except OSError as err:
            self.broken = "at line %d: %s" % (self.lines, err)


def page(vip):
    try:
        with socket.create_connection((vip, 80), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return "bad answer"
        return body.decode().strip()
    except OSError:
        return "no answer"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vip", default="198.18.0.100")
    ap.add_argument("--t0", type=float, required=True, help="the demo's start (epoch seconds)")
    ap.add_argument("--stop", required=True, help="stop once this file exists")
    ap.add_argument("--secs", type=float, default=300, help="bound on the whole run")
    args = ap.parse_args()

    session = Session(args.vip, 7)
    session.start()
    end = time.time() + args.secs
    while time.time() < end and not os.path.exists(args.stop):
        t = time.time()
        got = page(args.vip)
        state = (
            "BROKEN " + session.broken
            if session.broken
            else "%d lines echoed in order" % session.lines
        )
        # Stamped when printed, so the lines interleave in order with the demo's own.
        print(
            "[%6.1fs]   client: session %s | page: %s" % (time.time() - args.t0, state, got),
            flush=True,
        )
        time.sleep(max(0.0, 1.0 - (time.time() - t)))
    session.stop.set()
    session.join(timeout=60)
    if session.broken or session.is_alive():
        print("client: the session BROKE: %s" % (session.broken or "no echo"), flush=True)
        sys.exit(1)
    print(
        "client: the session lived through it all: %d lines, every one echoed in order, no reset;"
        " longest wait for an echo %.1f s" % (session.lines, session.longest),
        flush=True,
    )


if __name__ == "__main__":
    main()
