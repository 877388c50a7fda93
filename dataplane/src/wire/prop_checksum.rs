//! Property tests: the fast checksum equals the textbook one, and every incremental update
//! (RFC 1624) NAT uses equals a full recomputation, bit for bit, on random packets and random
//! rewrites.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::checksum::{self, update_addr_port, update_bytes, update_u16, update_udp};
use super::icmpv4_quote::QuotedIpv4;
use super::ip_proto;
use super::ipv4::{Ipv4Packet, Ipv4Repr};
use super::tcp::{TcpFlags, TcpRepr, TcpSegment};
use super::udp::{UdpDatagram, UdpRepr};

fn reference_sum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for c in data.chunks(2) {
        let hi = u32::from(c[0]) << 8;
        let lo = c.get(1).map_or(0, |&x| u32::from(x));
        acc += hi | lo;
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// A TCP/IPv4 packet with valid checksums, random header fields and payload.
fn tcp_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        addr(),
        addr(),
        any::<(u16, u16, u32, u32, u8, u16)>(),
        prop::option::of(any::<u16>()),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(src, dst, (sp, dp, seq, ack, flags, win), mss, payload)| {
            let repr = TcpRepr {
                src_port: sp,
                dst_port: dp,
                seq,
                ack,
                flags: TcpFlags(flags),
                window: win,
                mss,
            };
            let l4_len = repr.header_len() + payload.len();
            let mut b = vec![0u8; 20 + l4_len];
            let ip = Ipv4Repr {
                src,
                dst,
                protocol: ip_proto::TCP,
                ttl: 64,
                tos: 0,
                ident: seq as u16,
                dont_frag: true,
                payload_len: l4_len as u16,
            };
            ip.emit(&mut b).unwrap();
            repr.emit(&mut b[20..]).unwrap();
            b[20 + repr.header_len()..].copy_from_slice(&payload);
            TcpSegment::new_checked(&mut b[20..])
                .unwrap()
                .fill_checksum_v4(src, dst);
            b
        })
}

/// A UDP/IPv4 packet; `with_checksum` false leaves the checksum 0 ("none").
fn udp_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        addr(),
        addr(),
        any::<(u16, u16)>(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(|(src, dst, (sp, dp), payload, with_checksum)| {
            let l4_len = 8 + payload.len();
            let mut b = vec![0u8; 20 + l4_len];
            Ipv4Repr {
                src,
                dst,
                protocol: ip_proto::UDP,
                ttl: 64,
                tos: 0,
                ident: sp,
                dont_frag: false,
                payload_len: l4_len as u16,
            }
            .emit(&mut b)
            .unwrap();
            UdpRepr {
                src_port: sp,
                dst_port: dp,
                payload_len: payload.len() as u16,
            }
            .emit(&mut b[20..])
            .unwrap();
            b[28..].copy_from_slice(&payload);
            if with_checksum {
                UdpDatagram::new_checked(&mut b[20..])
                    .unwrap()
                    .fill_checksum_v4(src, dst);
            }
            b
        })
}

/// A NAT rewrite: which side (source or destination) gets which address and port.
#[derive(Clone, Copy, Debug)]
struct Rewrite {
    src: bool,
    addr: Ipv4Addr,
    port: u16,
}

fn rewrite() -> impl Strategy<Value = Rewrite> {
    (any::<bool>(), addr(), any::<u16>()).prop_map(|(src, addr, port)| Rewrite { src, addr, port })
}

/// Applies rewrites through the views' incremental methods.
fn nat_tcp(b: &mut [u8], rw: Rewrite) {
    let mut ip = Ipv4Packet::new_checked(&mut b[..]).unwrap();
    let old = if rw.src {
        ip.rewrite_src_addr(rw.addr)
    } else {
        ip.rewrite_dst_addr(rw.addr)
    };
    let mut t = TcpSegment::new_checked(ip.payload_mut()).unwrap();
    t.update_checksum_for_addr(old, rw.addr);
    if rw.src {
        t.rewrite_src_port(rw.port);
    } else {
        t.rewrite_dst_port(rw.port);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn fast_sum_equals_reference(data in prop::collection::vec(any::<u8>(), 0..300), skip in 0usize..8) {
        let d = data.get(skip..).unwrap_or(&[]);
        prop_assert_eq!(checksum::sum(d), reference_sum(d));
    }

    #[test]
    fn update_u16_equals_recompute(
        data in prop::collection::vec(any::<u8>(), 2..120),
        at in any::<prop::sample::Index>(),
        new in any::<u16>(),
    ) {
        let mut d = data;
        // Exact equality needs a non-zero sum before and after (as a pseudo-header guarantees:
        // its protocol field is never zero); force one non-zero byte away from the edit.
        d[0] |= 1;
        d[1] |= 1;
        let before = checksum::checksum(&d);
        let off = at.index(d.len() - 1);
        if off < 2 {
            return Ok(());
        }
        let old = u16::from_be_bytes([d[off], d[off + 1]]);
        d[off..off + 2].copy_from_slice(&new.to_be_bytes());
        let (o, n) = if off & 1 == 0 { (old, new) } else { (old.swap_bytes(), new.swap_bytes()) };
        prop_assert_eq!(update_u16(before, o, n), checksum::checksum(&d));
    }

    #[test]
    fn tcp_nat_equals_recompute(mut b in tcp_packet(), rws in prop::collection::vec(rewrite(), 1..4)) {
        for rw in rws {
            nat_tcp(&mut b, rw);
        }
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        prop_assert!(ip.verify_checksum());
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let inc_ip = ip.checksum();
        let t = TcpSegment::new_checked(ip.payload()).unwrap();
        prop_assert!(t.verify_checksum_v4(src, dst));
        let inc_tcp = t.checksum();

        let mut full = b.clone();
        let mut ip = Ipv4Packet::new_checked(&mut full[..]).unwrap();
        ip.fill_checksum();
        prop_assert_eq!(ip.checksum(), inc_ip);
        let mut t = TcpSegment::new_checked(ip.payload_mut()).unwrap();
        t.fill_checksum_v4(src, dst);
        prop_assert_eq!(t.checksum(), inc_tcp);
    }

    #[test]
    fn update_addr_port_equals_recompute(mut b in tcp_packet(), rw in rewrite()) {
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let t = TcpSegment::new_checked(ip.payload()).unwrap();
        let (old_addr, old_port) = if rw.src { (src, t.src_port()) } else { (dst, t.dst_port()) };
        let inc = update_addr_port(t.checksum(), old_addr, rw.addr, old_port, rw.port);
        let mut t = TcpSegment::new_checked(&mut b[20..]).unwrap();
        let (src, dst) = if rw.src {
            t.set_src_port(rw.port);
            (rw.addr, dst)
        } else {
            t.set_dst_port(rw.port);
            (src, rw.addr)
        };
        t.fill_checksum_v4(src, dst);
        prop_assert_eq!(t.checksum(), inc);
    }

    #[test]
    fn udp_nat_equals_recompute(mut b in udp_packet(), rw in rewrite()) {
        let had_checksum = UdpDatagram::new_checked(&b[20..]).unwrap().checksum() != 0;
        let mut ip = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        let old = if rw.src { ip.rewrite_src_addr(rw.addr) } else { ip.rewrite_dst_addr(rw.addr) };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let mut u = UdpDatagram::new_checked(ip.payload_mut()).unwrap();
        u.update_checksum_for_addr(old, rw.addr);
        if rw.src { u.rewrite_src_port(rw.port); } else { u.rewrite_dst_port(rw.port); }
        let inc = u.checksum();
        if !had_checksum {
            prop_assert_eq!(inc, 0);
        } else {
            prop_assert_ne!(inc, 0);
            prop_assert!(u.verify_checksum_v4(src, dst));
            u.fill_checksum_v4(src, dst);
            prop_assert_eq!(u.checksum(), inc);
        }
    }

    #[test]
    fn ipv6_address_rewrite_equals_recompute(
        mut b in tcp_packet(),
        old6 in any::<[u8; 16]>(),
        new6 in any::<[u8; 16]>(),
        other in any::<[u8; 16]>(),
    ) {
        // Reuse the TCP segment over IPv6 addresses: NAT66-style rewrite of one address.
        let (old6, new6, other) = (Ipv6Addr::from(old6), Ipv6Addr::from(new6), Ipv6Addr::from(other));
        let mut t = TcpSegment::new_checked(&mut b[20..]).unwrap();
        t.fill_checksum_v6(&old6, &other);
        let inc = update_bytes(t.checksum(), &old6.octets(), &new6.octets());
        t.fill_checksum_v6(&new6, &other);
        prop_assert_eq!(t.checksum(), inc);
    }

    #[test]
    fn ipv4_ttl_and_addresses(mut b in tcp_packet(), a in addr(), ttl in 2u8..=255) {
        let mut ip = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        ip.set_ttl(ttl);
        ip.fill_checksum();
        prop_assert!(ip.decrement_ttl());
        ip.rewrite_src_addr(a);
        ip.swap_addrs();
        let inc = ip.checksum();
        ip.fill_checksum();
        prop_assert_eq!(ip.checksum(), inc);
    }

    #[test]
    fn quote_rewrite_equals_rebuilt_packet(b in tcp_packet(), rw in rewrite(), udp in udp_packet()) {
        for orig in [b, udp] {
            let mut q = orig.clone();
            let mut v = QuotedIpv4::new_checked(&mut q[..]).unwrap();
            if rw.src { v.rewrite_src(rw.addr, rw.port) } else { v.rewrite_dst(rw.addr, rw.port) }
            // The same rewrite by the ordinary NAT path on a full packet.
            let mut full = orig.clone();
            let proto = full[9];
            let mut ip = Ipv4Packet::new_checked(&mut full[..]).unwrap();
            let old = if rw.src { ip.rewrite_src_addr(rw.addr) } else { ip.rewrite_dst_addr(rw.addr) };
            if proto == ip_proto::TCP {
                let mut t = TcpSegment::new_checked(ip.payload_mut()).unwrap();
                t.update_checksum_for_addr(old, rw.addr);
                if rw.src { t.rewrite_src_port(rw.port); } else { t.rewrite_dst_port(rw.port); }
            } else {
                let mut u = UdpDatagram::new_checked(ip.payload_mut()).unwrap();
                u.update_checksum_for_addr(old, rw.addr);
                if rw.src { u.rewrite_src_port(rw.port); } else { u.rewrite_dst_port(rw.port); }
            }
            prop_assert_eq!(&q, &full);
        }
    }

    #[test]
    fn udp_update_never_yields_zero(c in 1u16.., old in any::<u16>(), new in any::<u16>()) {
        prop_assert_ne!(update_udp(c, |c| update_u16(c, old, new)), 0);
        prop_assert_eq!(update_udp(0, |c| update_u16(c, old, new)), 0);
    }
}
