#!/usr/bin/env python3
"""A bounded spoofed SYN flood for scripts/soak, sent from a testbed namespace with scapy:
`--count` TCP SYNs to VIP:PORT, each from a random source in 198.18.128.0/17 (the benchmarking
range, never on the testbed's own segment) and a random port, addressed at Ethernet level to the
appliance's MAC so no ARP is needed. Sends at most `--count` frames, paced at `--rate` a second
(a veth hands frames to the kernel's per-CPU backlog, 1000 deep, which an unpaced burst
overflows before the appliance sees it), and stops after `--secs` whatever is left. Prints
"sent N".
"""

import argparse
import random
import sys
import time

from scapy.all import IP, TCP, Ether, conf  # noqa: E402  (scapy's documented entry point)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--vip", default="198.18.0.100")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--secs", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    # Each burst its own flows: a burst that repeated the last one's would only hit its
    # half-open entries.
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.count > 100_000:
        sys.exit("refusing a flood of more than 100000 SYNs")
    conf.verb = 0
    rng = random.Random(a.seed)
    frames = []
    for _ in range(a.count):
        # 198.18.128.0/17: host part 1..32766 of the upper half of 198.18.0.0/16.
        h = rng.randrange(1, 32767)
        src = "198.18.%d.%d" % (128 + (h >> 8), h & 0xFF)
        frames.append(
            bytes(
                Ether(dst=a.dst_mac)
                / IP(src=src, dst=a.vip, ttl=64)
                / TCP(sport=rng.randrange(1024, 65536), dport=a.port, flags="S",
                      seq=rng.randrange(0, 2**32), window=64240)
            )
        )
    sock = conf.L2socket(iface=a.iface)
    start = time.monotonic()
    end = start + a.secs
    sent = 0
    try:
        for f in frames:
            now = time.monotonic()
            if now > end:
                break
            ahead = start + sent / a.rate - now
            if ahead > 0:
                time.sleep(ahead)
            sock.send(f)
            sent += 1
    finally:
        sock.close()
    print("sent %d in %.1f s" % (sent, time.monotonic() - start), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
