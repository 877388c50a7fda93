//! Hand-built IPv6 packets for the forwarding tests, the IPv6 side of `test_packets.rs`: every
//! builder computes its checksums from scratch, so a rewrite in place can be compared byte for
//! byte with the packet built as expected.

use std::net::Ipv6Addr;

use super::test_packets::frame;
use crate::wire::checksum;
use crate::wire::ether_type;
use crate::wire::ip_proto;
use crate::wire::{
    Icmpv6Packet, Ipv6Packet, Ipv6Repr, TcpFlags, TcpRepr, TcpSegment, UdpDatagram, UdpRepr,
};

const fn v6(a: u16, b: u16, h: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, a, b, 0, 0, 0, h)
}

pub const CLIENT6: Ipv6Addr = v6(1, 0, 2);
pub const VIP6: Ipv6Addr = v6(0x100, 0, 0x10);
pub const REAL6: Ipv6Addr = v6(2, 0, 0x20);
pub const LB6: Ipv6Addr = v6(0x100, 0, 1);
pub const ROUTER6: Ipv6Addr = v6(1, 0, 0xfe);

/// Header fields a test may vary.
#[derive(Clone, Copy, Debug)]
pub struct Ip6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    /// Traffic class (DSCP and ECN) and flow label, kept by every rewrite.
    pub tc: u8,
    pub flow: u32,
}

impl Ip6 {
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Ip6 {
        Ip6 {
            src,
            dst,
            hop_limit: 64,
            tc: 0x28,
            flow: 0xbeef5,
        }
    }

    pub fn hops(self, hop_limit: u8) -> Ip6 {
        Ip6 { hop_limit, ..self }
    }
}

/// An IPv6 packet: fixed header (next header `first`), `ext` (extension headers, the caller's
/// bytes) and `l4`.
pub fn ipv6_ext(ip: Ip6, first: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 40];
    Ipv6Repr {
        src: ip.src,
        dst: ip.dst,
        next_header: first,
        hop_limit: ip.hop_limit,
        payload_len: (ext.len() + l4.len()) as u16,
    }
    .emit(&mut b)
    .unwrap();
    b.extend_from_slice(ext);
    b.extend_from_slice(l4);
    let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
    p.set_traffic_class(ip.tc);
    p.set_flow_label(ip.flow);
    b
}

/// An IPv6 packet without extension headers.
pub fn ipv6(ip: Ip6, next_header: u8, l4: &[u8]) -> Vec<u8> {
    ipv6_ext(ip, next_header, &[], l4)
}

/// A TCP segment (SYN+ACK, MSS option 1460, as the IPv4 builder's) with `payload`, checksummed for `ip`.
pub fn tcp6_segment(ip: Ip6, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq: 0x0102_0304,
        ack: 0,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 64240,
        mss: Some(1460),
    };
    let mut l4 = vec![0u8; repr.header_len() + payload.len()];
    let hl = repr.emit(&mut l4).unwrap();
    l4[hl..].copy_from_slice(payload);
    TcpSegment::new_checked(&mut l4[..])
        .unwrap()
        .fill_checksum_v6(&ip.src, &ip.dst);
    l4
}

pub fn tcp6(ip: Ip6, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    ipv6(ip, ip_proto::TCP, &tcp6_segment(ip, sport, dport, payload))
}

/// A UDP datagram checksummed for `ip`.
pub fn udp6_datagram(ip: Ip6, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 8 + payload.len()];
    UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len() as u16,
    }
    .emit(&mut l4)
    .unwrap();
    l4[8..].copy_from_slice(payload);
    UdpDatagram::new_checked(&mut l4[..])
        .unwrap()
        .fill_checksum_v6(&ip.src, &ip.dst);
    l4
}

pub fn udp6(ip: Ip6, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    ipv6(ip, ip_proto::UDP, &udp6_datagram(ip, sport, dport, payload))
}

/// An ICMPv6 message of `msg_type`/`code` with the 4 "rest of header" bytes and `data`.
pub fn icmp6(ip: Ip6, msg_type: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8 + data.len()];
    m[0] = msg_type;
    m[1] = code;
    m[4..8].copy_from_slice(&rest);
    m[8..].copy_from_slice(data);
    Icmpv6Packet::new_checked(&mut m[..])
        .unwrap()
        .fill_checksum(&ip.src, &ip.dst);
    ipv6(ip, ip_proto::ICMPV6, &m)
}

/// An IPv6 frame (PEER_MAC -> LB_MAC), tagged when `vlan`, then `pad` bytes of 0xee.
pub fn ip6_frame(vlan: bool, l3: &[u8], pad: usize) -> (Vec<u8>, usize) {
    frame(vlan, ether_type::IPV6, l3, pad)
}

/// Asserts that the TCP/UDP/ICMPv6 checksum of the IPv6 packet at `l3` verifies (after the
/// extension headers).
pub fn assert_checksums6_ok(frame: &[u8], l3: usize) {
    let ip = Ipv6Packet::new_checked(&frame[l3..]).unwrap();
    let ul = ip.upper_layer().unwrap();
    let end = 40 + usize::from(ip.payload_len());
    let l4 = &frame[l3 + ul.offset..l3 + end];
    let c = checksum::l4_checksum_v6(&ip.src_addr(), &ip.dst_addr(), ul.protocol, l4);
    if ul.has_l4_header() && ul.fragment.is_none() {
        assert_eq!(c, 0, "L4 checksum (protocol {})", ul.protocol);
    }
}
