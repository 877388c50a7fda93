#!/usr/bin/env python3
"""The clients of scripts/soak, run in the testbed's client namespace (dpt-client) for a bounded
time against the VIP:

- long-lived TCP sessions to the echo service (VIP:7): each sends a line every `--line-every`
  seconds for the whole run and checks the echo; a session that breaks (reset, timeout, wrong
  echo) is a lost connection and is not reopened;
- short HTTP requests with curl (VIP:80, one connection each), one every `--http-every` seconds;
- UDP request/replies (VIP:53), one every `--udp-every` seconds.

Prints "ready" once every session is open, then at the end one JSON line with the counts:
{"sessions", "sessions_lost", "lines", "http_ok", "http_err", "udp_ok", "udp_err", "errors": [...]}.
Standard library only (plus the curl binary).
"""

import argparse
import json
import socket
import subprocess
import sys
import threading
import time

VIP = "198.18.0.100"


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {
            "sessions": 0,
            "sessions_lost": 0,
            "lines": 0,
            "http_ok": 0,
            "http_err": 0,
            "udp_ok": 0,
            "udp_err": 0,
        }
        self.errors = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def error(self, what):
        with self.lock:
            # Keep the first few with their time; the counts say how many there were.
            if len(self.errors) < 20:
                self.errors.append("%.1fs %s" % (time.monotonic() - START, what))


START = time.monotonic()


def session(i, sock, tally, end, every):
    """One long-lived echo session: a line per `every` seconds until `end`."""
    f = sock.makefile("rwb")
    n = 0
    try:
        while time.monotonic() < end:
            msg = ("session %d line %d " % (i, n)).encode() * 4 + b"\n"
            f.write(msg)
            f.flush()
            back = f.readline()
            if back != msg:
                raise OSError("echo mismatch at line %d: %r" % (n, back[:40]))
            tally.add("lines")
            n += 1
            time.sleep(every)
    except (OSError, ValueError) as e:
        tally.add("sessions_lost")
        tally.error("session %d lost after %d lines: %s" % (i, n, e))
    finally:
        sock.close()


def http_loop(tally, end, every):
    while time.monotonic() < end:
        t = time.monotonic()
        r = subprocess.run(
            ["curl", "-s", "--max-time", "3", "http://%s/" % VIP],
            capture_output=True,
            check=False,
        )
        body = r.stdout.decode(errors="replace").strip()
        if r.returncode == 0 and body.startswith("real"):
            tally.add("http_ok")
        else:
            tally.add("http_err")
            tally.error("curl exit %d body %r" % (r.returncode, body[:40]))
        time.sleep(max(0.0, every - (time.monotonic() - t)))


def udp_loop(tally, end, every):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    n = 0
    while time.monotonic() < end:
        q = ("q%d" % n).encode()
        n += 1
        try:
            s.sendto(q, (VIP, 53))
            while True:
                data, _ = s.recvfrom(2048)
                # A late reply to an earlier query is skipped, not counted twice.
                if data.endswith(b" " + q):
                    break
            tally.add("udp_ok")
        except OSError as e:
            tally.add("udp_err")
            tally.error("udp %s: %s" % (q.decode(), e))
        time.sleep(every)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secs", type=float, required=True)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--line-every", type=float, default=1.0)
    ap.add_argument("--http-every", type=float, default=0.25)
    ap.add_argument("--udp-every", type=float, default=0.25)
    a = ap.parse_args()
    tally = Tally()
    socks = []
    for i in range(a.sessions):
        socks.append(socket.create_connection((VIP, 7), timeout=5))
        tally.add("sessions")
    print("ready", flush=True)
    end = time.monotonic() + a.secs
    threads = [
        threading.Thread(target=session, args=(i, s, tally, end, a.line_every))
        for i, s in enumerate(socks)
    ]
    threads.append(threading.Thread(target=http_loop, args=(tally, end, a.http_every)))
    threads.append(threading.Thread(target=udp_loop, args=(tally, end, a.udp_every)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = dict(tally.counts)
    out["errors"] = tally.errors
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
