//! Hand-built packets for the forwarding tests: every builder computes its checksums from
//! scratch, so "rewrite in place" can be compared byte for byte with "built as expected".

use std::net::Ipv4Addr;

use crate::wire::checksum;
use crate::wire::ether_type;
use crate::wire::icmpv4::HEADER_LEN as ICMP_HEADER_LEN;
use crate::wire::ip_proto;
use crate::wire::{
    EthernetFrame, EthernetRepr, Icmpv4Packet, Ipv4Packet, Ipv4Repr, MacAddr, TcpFlags, TcpRepr,
    TcpSegment, UdpDatagram, UdpRepr,
};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
pub const REAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
pub const LB_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
pub const LB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
pub const VLAN_TCI: u16 = 0x2064;

/// Header fields a test may vary.
#[derive(Clone, Copy)]
pub struct Ip {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
}

impl Ip {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Ip {
        Ip {
            src,
            dst,
            ttl: 64,
            ident: 0x1c46,
            dont_frag: true,
        }
    }

    pub fn ttl(self, ttl: u8) -> Ip {
        Ip { ttl, ..self }
    }
}

/// An IPv4 packet (no options) around `l4`.
pub fn ipv4(ip: Ip, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 20 + l4.len()];
    Ipv4Repr {
        src: ip.src,
        dst: ip.dst,
        protocol,
        ttl: ip.ttl,
        tos: 0x10,
        ident: ip.ident,
        dont_frag: ip.dont_frag,
        payload_len: l4.len() as u16,
    }
    .emit(&mut b)
    .unwrap();
    b[20..].copy_from_slice(l4);
    b
}

/// A TCP segment with an MSS option and `payload`, checksummed for `ip`.
pub fn tcp(ip: Ip, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
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
        .fill_checksum_v4(ip.src, ip.dst);
    ipv4(ip, ip_proto::TCP, &l4)
}

/// A UDP datagram, checksummed for `ip` unless `no_checksum` (field 0).
pub fn udp(ip: Ip, sport: u16, dport: u16, payload: &[u8], no_checksum: bool) -> Vec<u8> {
    let mut l4 = vec![0u8; 8 + payload.len()];
    UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len() as u16,
    }
    .emit(&mut l4)
    .unwrap();
    l4[8..].copy_from_slice(payload);
    let mut d = UdpDatagram::new_checked(&mut l4[..]).unwrap();
    if no_checksum {
        d.set_checksum(0);
    } else {
        d.fill_checksum_v4(ip.src, ip.dst);
    }
    ipv4(ip, ip_proto::UDP, &l4)
}

/// An ICMP message of `msg_type`/`code` with the 4 "rest of header" bytes and `data`.
pub fn icmp(ip: Ip, msg_type: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; ICMP_HEADER_LEN + data.len()];
    m[0] = msg_type;
    m[1] = code;
    m[4..8].copy_from_slice(&rest);
    m[8..].copy_from_slice(data);
    Icmpv4Packet::new_checked(&mut m[..])
        .unwrap()
        .fill_checksum();
    ipv4(ip, ip_proto::ICMP, &m)
}

/// An Ethernet frame (PEER_MAC -> LB_MAC), tagged when `vlan`, around `l3`, then `pad` bytes of
/// Ethernet padding; returns the frame and the offset of the L3 header.
pub fn frame(vlan: bool, ethertype: u16, l3: &[u8], pad: usize) -> (Vec<u8>, usize) {
    let eth = EthernetRepr {
        dst: LB_MAC,
        src: PEER_MAC,
        vlan_tci: vlan.then_some(VLAN_TCI),
        ethertype,
    };
    let hl = eth.header_len();
    let mut f = vec![0u8; hl + l3.len() + pad];
    eth.emit(&mut f).unwrap();
    f[hl..hl + l3.len()].copy_from_slice(l3);
    f[hl + l3.len()..].fill(0xee);
    (f, hl)
}

/// An IPv4 frame as [`frame`] builds it.
pub fn ip_frame(vlan: bool, l3: &[u8], pad: usize) -> (Vec<u8>, usize) {
    frame(vlan, ether_type::IPV4, l3, pad)
}

/// Asserts that the IPv4 header checksum and any TCP/UDP/ICMP checksum verify, including those
/// of an ICMP error's quote (the quoted IP header always, a quoted UDP datagram when complete).
pub fn assert_checksums_ok(frame: &[u8], l3: usize) {
    let ip = Ipv4Packet::new_checked(&frame[l3..]).unwrap();
    assert!(ip.verify_checksum(), "IPv4 header checksum");
    let l4 = ip.payload();
    match ip.protocol() {
        ip_proto::TCP => {
            let s = TcpSegment::new_checked(l4).unwrap();
            assert!(s.verify_checksum_v4(ip.src_addr(), ip.dst_addr()), "TCP");
        }
        ip_proto::UDP => {
            let d = UdpDatagram::new_checked(l4).unwrap();
            assert!(d.verify_checksum_v4(ip.src_addr(), ip.dst_addr()), "UDP");
        }
        ip_proto::ICMP => {
            let m = Icmpv4Packet::new_checked(l4).unwrap();
            assert!(m.verify_checksum(), "ICMP");
            if let Ok(q) = m.quote() {
                assert!(q.verify_header_checksum(), "quoted IPv4 header");
            }
        }
        _ => {}
    }
}

/// The Ethernet header fields of a frame.
pub fn eth_of(frame: &[u8]) -> EthernetRepr {
    EthernetRepr::parse(&EthernetFrame::new_checked(frame).unwrap())
}

/// The checksum of `data` as stored (for comparisons in tests).
pub fn sum_ok(data: &[u8]) -> bool {
    checksum::sum(data) == 0xffff
}
