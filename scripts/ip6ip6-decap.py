#!/usr/bin/env python3
"""User-space IPv6-in-IPv6 decapsulator for TUN-mode real servers on the testbed's IPv6.

The IPv6 counterpart of scripts/ipip-decap.py. This machine's kernel has no ip6_tunnel module
(CONFIG_IPV6_TUNNEL unset), so a real server cannot terminate the balancer's IPv6 tunnel on an
ip6tnl device. This process, run inside the real server's namespace, does what ip6tnl would do:

  raw IPv6 socket (next header 41) --> check the outer destination == this real's address
                                   --> write the inner IPv6 packet to a TUN device

An AF_INET6 raw socket receives the payload after the outer IPv6 header (the kernel strips it),
so the inner packet arrives whole; the outer destination comes as IPV6_PKTINFO ancillary data.
With no handler for next header 41 in the kernel, the raw socket is its only receiver and, while
one is open, the kernel sends no ICMPv6 "unrecognized next header".

The kernel then receives the inner packet (destination: the IPv6 VIP) on the TUN device as if it
had arrived from the wire; the VIP is a local address there (scripts/testbed puts
2001:db8::100/128 on the TUN device), so the servers answer, and the reply leaves by the normal
IPv6 route from the VIP: via the router, straight to the client.

The TUN device is attached with IFF_TUN|IFF_NO_PI (scripts/testbed creates it persistent
beforehand). Standard library only.
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
IPPROTO_IPV6 = 41  # next header: IPv6 (the tunnel's payload)
PKTINFO_LEN = 20  # struct in6_pktinfo: 16-byte address + interface index


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def outer_destination(ancillary):
    """The outer packet's destination address from IPV6_PKTINFO, or None."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 16:
            return data[:16]
    return None


def inner_packet(payload, outer_dst, local):
    """The inner IPv6 packet of a tunnel payload addressed to `local`, or None with why."""
    if outer_dst is None:
        return None, "no destination (IPV6_PKTINFO missing)"
    if outer_dst != local:
        return None, "outer destination %s is not ours" % ipaddress.IPv6Address(outer_dst)
    if len(payload) < 40 or payload[0] >> 4 != 6:
        return None, "inner not ipv6"
    plen = struct.unpack("!H", payload[4:6])[0]
    if 40 + plen > len(payload):
        return None, "inner payload length %d, have %d" % (plen, len(payload) - 40)
    return payload[: 40 + plen], None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", required=True, help="this real server's IPv6 address (outer dst)")
    parser.add_argument("--dev", default="tun6", help="TUN device to write inner packets to")
    parser.add_argument("--verbose", action="store_true", help="log every packet")
    args = parser.parse_args()

    local = ipaddress.IPv6Address(args.local).packed
    tun = open_tun(args.dev)
    raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_IPV6)
    raw.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    print("ready: decapsulating IPv6-in-IPv6 to %s into %s" % (args.local, args.dev), flush=True)

    decapsulated = 0
    while True:  # ends on SIGTERM (default action)
        payload, ancillary, _flags, _addr = raw.recvmsg(65535, socket.CMSG_SPACE(PKTINFO_LEN))
        inner, why = inner_packet(payload, outer_destination(ancillary), local)
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
                    ipaddress.IPv6Address(inner[8:24]),
                    ipaddress.IPv6Address(inner[24:40]),
                    len(inner),
                ),
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
