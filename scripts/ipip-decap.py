#!/usr/bin/env python3
"""User-space IPv4-in-IPv4 decapsulator for TUN-mode real servers on the testbed.

This machine's kernel has no ipip module, so a real server cannot terminate the balancer's
IP-in-IP tunnel the usual way (VIP on tunl0). Instead this process, run inside the real server's
namespace, does what tunl0 would do:

  raw socket (IPPROTO_IPIP) --> check outer destination == this real's address
                            --> strip the outer header --> write the inner packet to a TUN device

The kernel then receives the inner packet (destination: the VIP) on the TUN device as if it had
arrived from the wire; the VIP is a local address there (scripts/testbed puts it on the TUN device
itself), so the TCP/UDP servers answer, and the reply leaves by the normal route with source = VIP
(in the testbed: via the router, straight to the client). rp_filter must be 0 for the TUN device
and "all", since the client's address is routed out of eth0, not the TUN device.

Without an ipip protocol handler in the kernel, a raw socket is the only receiver of protocol 4,
and the kernel does not answer "protocol unreachable" while a raw socket takes the packet.

The TUN device is attached with IFF_TUN|IFF_NO_PI; if it does not exist yet it is created (and
disappears when this process exits). scripts/testbed creates it persistent beforehand, with the
VIP on it. Standard library only.
"""

import argparse
import fcntl
import ipaddress
import os
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_IPIP = 4


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def inner_packet(outer, local):
    """Returns the inner IPv4 packet of an IPIP packet addressed to `local`, or None with why."""
    if len(outer) < 20 or outer[0] >> 4 != 4:
        return None, "not ipv4"
    ihl = (outer[0] & 0x0F) * 4
    if ihl < 20 or len(outer) < ihl + 20:
        return None, "short"
    if outer[9] != IPPROTO_IPIP:
        return None, "not ipip"
    if outer[16:20] != local:
        return None, "outer destination %s is not ours" % socket.inet_ntoa(outer[16:20])
    inner = outer[ihl:]
    if inner[0] >> 4 != 4:
        return None, "inner not ipv4"
    total = struct.unpack("!H", inner[2:4])[0]
    if total < 20 or total > len(inner):
        return None, "inner length %d, have %d" % (total, len(inner))
    return inner[:total], None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", required=True, help="this real server's address (outer dst)")
    parser.add_argument("--dev", default="tun0", help="TUN device to write inner packets to")
    parser.add_argument("--verbose", action="store_true", help="log every packet")
    args = parser.parse_args()

    local = ipaddress.IPv4Address(args.local).packed
    tun = open_tun(args.dev)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
    print("ready: decapsulating IPIP to %s into %s" % (args.local, args.dev), flush=True)

    decapsulated = 0
    while True:  # ends on SIGTERM (default action)
        outer = raw.recv(65535)
        inner, why = inner_packet(outer, local)
        if inner is None:
            print("dropped: %s" % why, flush=True)
            continue
        try:
            os.write(tun, inner)
        except OSError as err:
            print("tun write failed: %s" % err, flush=True)
            continue
        decapsulated += 1
        if args.verbose or decapsulated == 1 or decapsulated % 1000 == 0:
            print(
                "decapsulated %d (last %s -> %s, %d bytes)"
                % (
                    decapsulated,
                    socket.inet_ntoa(inner[12:16]),
                    socket.inet_ntoa(inner[16:20]),
                    len(inner),
                ),
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
