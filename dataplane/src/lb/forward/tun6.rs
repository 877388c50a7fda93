//! VS-TUN over IPv6 (RFC 2473): the client's packet inside an outer IPv6 header toward a
//! real server that decapsulates and answers the client directly. IPv6-in-IPv6 (next header
//! 41) for IPv6 services, and IPv4-in-IPv6 (next header 4) for an IPv4 VIP over IPv6 reals.
//! As in `tun.rs`, the worker prepends [`ENCAP6_LEN`] bytes first; the Ethernet header moves
//! to the front and the outer header fills the gap, so the inner packet is never copied.
//! A packet that would not fit the tunnel MTU is answered with ICMPv6 Packet Too Big
//! (`icmp6_gen::packet_too_big_in_place`) or, for IPv4 inner packets with DF, ICMP
//! "fragmentation needed" (`icmp_gen`), each carrying [`tun6_inner_mtu`].

use std::net::Ipv6Addr;

use crate::wire::ethernet::{HEADER_LEN as ETH_HEADER_LEN, VLAN_HEADER_LEN};
use crate::wire::ip_proto;
use crate::wire::ipv6::HEADER_LEN as IPV6_HEADER_LEN;
use crate::wire::{ether_type, Ipv4Packet, Ipv6Packet, Ipv6Repr, WireError};

/// Bytes encapsulation adds: one IPv6 header, no extension headers (no tunnel encapsulation
/// limit option: the appliance does not nest tunnels).
pub const ENCAP6_LEN: usize = IPV6_HEADER_LEN;

/// Hop limit of the outer header.
pub const OUTER_HOP_LIMIT: u8 = 64;

/// Encapsulates in place. `frame` is `[ENCAP6_LEN bytes of headroom][Ethernet header, l2_len
/// bytes][inner IPv6 or IPv4 ...]` and becomes `[Ethernet header, EtherType IPv6][outer
/// IPv6: outer_src -> outer_dst, next header 41 (or 4 for IPv4 inside), hop limit 64, traffic
/// class copied from the inner packet (RFC 2983 uniform model, RFC 6040 ECN), `flow_label`
/// (the caller hashes the inner flow, RFC 6438)][inner, unchanged]`; its length does not
/// change.
///
/// Errors (frame untouched): `Unsupported` for another `l2_len`, the inner header's own
/// errors (`Truncated`, `BadVersion`), `BadLength` when the outer payload would exceed 65535.
pub fn encapsulate6(
    frame: &mut [u8],
    l2_len: usize,
    outer_src: Ipv6Addr,
    outer_dst: Ipv6Addr,
    flow_label: u32,
) -> Result<(), WireError> {
    if l2_len != ETH_HEADER_LEN && l2_len != VLAN_HEADER_LEN {
        return Err(WireError::Unsupported);
    }
    let inner_at = ENCAP6_LEN + l2_len;
    let inner = frame.get(inner_at..).ok_or(WireError::Truncated)?;
    let (next_header, tc, inner_len) = match inner.first().map(|b| b >> 4) {
        Some(6) => {
            let p = Ipv6Packet::new_checked(inner)?;
            let len = IPV6_HEADER_LEN + usize::from(p.payload_len());
            (ip_proto::IPV6, p.traffic_class(), len)
        }
        Some(4) => {
            let p = Ipv4Packet::new_checked(inner)?;
            (ip_proto::IPIP, p.tos(), usize::from(p.total_len()))
        }
        Some(_) => return Err(WireError::BadVersion),
        None => return Err(WireError::Truncated),
    };
    let payload_len = u16::try_from(inner_len).map_err(|_| WireError::BadLength)?;
    frame.copy_within(ENCAP6_LEN..inner_at, 0);
    frame[l2_len - 2..l2_len].copy_from_slice(&ether_type::IPV6.to_be_bytes());
    let outer = &mut frame[l2_len..inner_at];
    Ipv6Repr {
        src: outer_src,
        dst: outer_dst,
        next_header,
        hop_limit: OUTER_HOP_LIMIT,
        payload_len,
    }
    .emit(outer)?;
    let mut p = Ipv6Packet::new_checked(&mut frame[l2_len..])?;
    p.set_traffic_class(tc);
    p.set_flow_label(flow_label);
    Ok(())
}

/// True when an inner packet of `inner_len` bytes (its whole IP length) still fits `mtu` once
/// encapsulated.
pub fn tun6_fits(inner_len: usize, mtu: u16) -> bool {
    inner_len + ENCAP6_LEN <= usize::from(mtu)
}

/// The MTU to advertise for inner packets in Packet Too Big: the tunnel's `mtu` less the
/// outer header, never below IPv6's minimum link MTU (1280, RFC 8200 5), which a sender
/// would not go under anyway.
pub fn tun6_inner_mtu(mtu: u16) -> u32 {
    u32::from(mtu)
        .saturating_sub(ENCAP6_LEN as u32)
        .max(crate::wire::ipv6::MIN_MTU)
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::{eth_of, tcp, Ip, CLIENT, VIP};
    use super::super::test_packets6::*;
    use super::*;
    use crate::wire::ethernet::EthernetRepr;

    const TUN_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);

    fn with_headroom((f, l2): (Vec<u8>, usize)) -> (Vec<u8>, usize) {
        let mut b = vec![0x99u8; ENCAP6_LEN];
        b.extend_from_slice(&f);
        (b, l2)
    }

    fn check(vlan: bool, inner: &[u8], want_nh: u8, want_tc: u8) {
        let (mut f, l2) = with_headroom(ip6_frame(vlan, inner, 3));
        let eth_before = eth_of(&f[ENCAP6_LEN..]);
        let len = f.len();
        encapsulate6(&mut f, l2, TUN_SRC, REAL6, 0x12345).unwrap();
        assert_eq!(f.len(), len);
        let eth = eth_of(&f);
        assert_eq!(
            eth,
            EthernetRepr {
                ethertype: ether_type::IPV6,
                ..eth_before
            }
        );
        let outer = Ipv6Packet::new_checked(&f[l2..]).unwrap();
        assert_eq!(
            Ipv6Repr::parse(&outer),
            Ipv6Repr {
                src: TUN_SRC,
                dst: REAL6,
                next_header: want_nh,
                hop_limit: 64,
                payload_len: inner.len() as u16,
            }
        );
        assert_eq!(
            (outer.traffic_class(), outer.flow_label()),
            (want_tc, 0x12345)
        );
        assert_eq!(outer.payload(), inner, "inner unchanged");
        assert_eq!(&f[l2 + 40 + inner.len()..], &[0xee; 3], "padding stays");
    }

    #[test]
    fn ipv6_in_ipv6_and_ipv4_in_ipv6() {
        for vlan in [false, true] {
            let inner = tcp6(Ip6::new(CLIENT6, VIP6), 40000, 80, b"GET /");
            check(vlan, &inner, ip_proto::IPV6, 0x28);
            let inner4 = tcp(Ip::new(CLIENT, VIP), 40000, 80, b"GET /");
            check(vlan, &inner4, ip_proto::IPIP, 0x10);
        }
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let inner = udp6(Ip6::new(CLIENT6, VIP6), 1, 2, b"x");
        let (mut f, l2) = with_headroom(ip6_frame(false, &inner, 0));
        let orig = f.clone();
        for bad_l2 in [0, 13, 15, 19] {
            assert_eq!(
                encapsulate6(&mut f, bad_l2, TUN_SRC, REAL6, 0),
                Err(WireError::Unsupported)
            );
        }
        let n = f.len();
        assert_eq!(
            encapsulate6(&mut f[..n - 1], l2, TUN_SRC, REAL6, 0),
            Err(WireError::Truncated)
        );
        assert_eq!(
            encapsulate6(&mut f[..ENCAP6_LEN + l2], l2, TUN_SRC, REAL6, 0),
            Err(WireError::Truncated)
        );
        f[ENCAP6_LEN + l2] = 0x50;
        assert_eq!(
            encapsulate6(&mut f, l2, TUN_SRC, REAL6, 0),
            Err(WireError::BadVersion)
        );
        f[ENCAP6_LEN + l2] = orig[ENCAP6_LEN + l2];
        assert_eq!(f, orig);
        // An inner IPv6 packet of 65535 payload bytes does not fit an outer one.
        let mut huge = vec![0u8; 40 + 65535];
        huge[0] = 0x60;
        huge[4..6].copy_from_slice(&65535u16.to_be_bytes());
        let (mut f, l2) = with_headroom(ip6_frame(false, &huge, 0));
        assert_eq!(
            encapsulate6(&mut f, l2, TUN_SRC, REAL6, 0),
            Err(WireError::BadLength)
        );
    }

    #[test]
    fn fits_and_inner_mtu() {
        assert!(tun6_fits(1460, 1500));
        assert!(!tun6_fits(1461, 1500));
        assert_eq!(tun6_inner_mtu(1500), 1460);
        assert_eq!(tun6_inner_mtu(1300), 1280);
        assert_eq!(tun6_inner_mtu(9000), 8960);
    }
}
