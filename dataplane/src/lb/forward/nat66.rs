//! VS-NAT over IPv6 (NAT66): the destination of a client's packet becomes the chosen real
//! server (`nat66_in`), the source of the real's reply becomes the VIP again (`nat66_out`).
//! Both decrement the hop limit, as a router must; IPv6 has no header checksum, so the only
//! checksum is the TCP/UDP one, updated incrementally (RFC 1624) for the address (through the
//! IPv6 pseudo-header) and the port in one fold. Extension headers are stepped over, never
//! changed; fragments go through [`super::frag6`].

use std::net::Ipv6Addr;

use super::nat::{set_port_and_checksum, Side};
use super::ForwardError;
use crate::wire::checksum::update_addr6_port;
use crate::wire::ip_proto;
use crate::wire::ipv6::{Ipv6UpperLayer, HEADER_LEN as IPV6_HEADER_LEN};
use crate::wire::{Ipv6Packet, TcpSegment, UdpDatagram, WireError};

/// Client -> VIP:vport becomes client -> `real`:`rport`.
///
/// Errors, with the frame untouched: [`ForwardError::Fragment`] for a fragment (a Fragment
/// header with an offset or M set: see [`super::frag6`]), [`ForwardError::TtlExpired`] for hop
/// limit 0 or 1, [`ForwardError::Wire`] when the IPv6 header, its extension headers or the
/// TCP/UDP header do not parse, or the protocol is neither TCP nor UDP, or a routing header
/// has segments left (`Unsupported`).
pub fn nat66_in(
    frame: &mut [u8],
    l3: usize,
    real: Ipv6Addr,
    rport: u16,
) -> Result<(), ForwardError> {
    rewrite6(frame, l3, Side::Dst, real, rport, false)
}

/// Real:rport -> client becomes `vip`:`vport` -> client. Errors as for [`nat66_in`].
pub fn nat66_out(
    frame: &mut [u8],
    l3: usize,
    vip: Ipv6Addr,
    vport: u16,
) -> Result<(), ForwardError> {
    rewrite6(frame, l3, Side::Src, vip, vport, false)
}

/// The IPv6 packet at `l3` and where its upper layer is (payload length and extension headers
/// checked).
pub(super) fn ipv6_at(
    frame: &mut [u8],
    l3: usize,
) -> Result<(Ipv6Packet<&mut [u8]>, Ipv6UpperLayer), WireError> {
    let ip = Ipv6Packet::new_checked(frame.get_mut(l3..).ok_or(WireError::Truncated)?)?;
    let ul = ip.upper_layer()?;
    Ok((ip, ul))
}

/// The one NAT66 rewrite: the address of `side` and the hop limit, and where the packet
/// carries its L4 header (unfragmented, or a first fragment) the port and L4 checksum.
pub(super) fn rewrite6(
    frame: &mut [u8],
    l3: usize,
    side: Side,
    addr: Ipv6Addr,
    port: u16,
    allow_fragments: bool,
) -> Result<(), ForwardError> {
    let (mut ip, ul) = ipv6_at(frame, l3)?;
    // An atomic fragment (offset 0, no M: RFC 6946) is a whole packet.
    let fragment = ul.fragment.filter(|f| f.offset != 0 || f.more);
    if fragment.is_some() && !allow_fragments {
        return Err(ForwardError::Fragment);
    }
    if ul.segments_left != 0 {
        // Source-routed through the VIP: not the packet's final destination.
        return Err(WireError::Unsupported.into());
    }
    if ip.hop_limit() <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    let old_addr = match side {
        Side::Src => ip.src_addr(),
        Side::Dst => ip.dst_addr(),
    };
    let protocol = ul.protocol;
    let l4 = ip
        .payload_mut()
        .get_mut(ul.offset - IPV6_HEADER_LEN..)
        .ok_or(WireError::Truncated)?;
    // L4 first: it is the only step that can still fail, so a refused frame stays untouched.
    match fragment {
        None => rewrite_l4(l4, protocol, side, &old_addr, &addr, port)?,
        Some(f) if f.offset == 0 => {
            rewrite_l4_first_fragment(l4, protocol, side, &old_addr, &addr, port)?
        }
        Some(_) if protocol != ip_proto::TCP && protocol != ip_proto::UDP => {
            return Err(WireError::Unsupported.into())
        }
        Some(_) => {}
    }
    match side {
        Side::Src => ip.set_src_addr(addr),
        Side::Dst => ip.set_dst_addr(addr),
    }
    ip.set_hop_limit(ip.hop_limit() - 1);
    Ok(())
}

/// Sets the port of `side` and folds the address and port change into the L4 checksum.
fn rewrite_l4(
    l4: &mut [u8],
    protocol: u8,
    side: Side,
    old_addr: &Ipv6Addr,
    new_addr: &Ipv6Addr,
    port: u16,
) -> Result<(), WireError> {
    match protocol {
        ip_proto::TCP => {
            TcpSegment::new_checked(&mut *l4)?;
        }
        ip_proto::UDP => {
            UdpDatagram::new_checked(&mut *l4)?;
        }
        _ => return Err(WireError::Unsupported),
    }
    rewrite_l4_first_fragment(l4, protocol, side, old_addr, new_addr, port)
}

/// The port and checksum edit, without the views' length checks: a first fragment's UDP
/// length covers the whole datagram, not the fragment (the edit is NAT's, with the IPv6
/// checksum update).
fn rewrite_l4_first_fragment(
    l4: &mut [u8],
    protocol: u8,
    side: Side,
    old_addr: &Ipv6Addr,
    new_addr: &Ipv6Addr,
    port: u16,
) -> Result<(), WireError> {
    set_port_and_checksum(l4, protocol, side, port, |c, old_port| {
        update_addr6_port(c, old_addr, new_addr, old_port, port)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_packets6::*;
    use super::*;

    fn nat_in_case(vlan: bool, pad: usize, build: impl Fn(Ip6, u16, u16) -> Vec<u8>) {
        let before = build(Ip6::new(CLIENT6, VIP6), 40000, 80);
        let (mut f, l3) = ip6_frame(vlan, &before, pad);
        let eth = f[..l3].to_vec();
        nat66_in(&mut f, l3, REAL6, 8080).unwrap();
        let expected = build(Ip6::new(CLIENT6, REAL6).hops(63), 40000, 8080);
        assert_eq!(&f[l3..l3 + expected.len()], &expected[..]);
        assert_eq!(&f[..l3], &eth[..], "Ethernet header is the worker's");
        assert!(f[l3 + expected.len()..].iter().all(|&b| b == 0xee));
        assert_checksums6_ok(&f, l3);
    }

    #[test]
    fn nat66_in_equals_the_packet_built_for_the_real() {
        nat_in_case(false, 0, |ip, s, d| tcp6(ip, s, d, b"GET / HTTP/1.0\r\n"));
        nat_in_case(true, 3, |ip, s, d| tcp6(ip, s, d, b"odd"));
        nat_in_case(false, 0, |ip, s, d| udp6(ip, s, d, b"query"));
        nat_in_case(true, 7, |ip, s, d| udp6(ip, s, d, b""));
        // Behind hop-by-hop and destination-options headers, which stay as they are.
        let ext = [
            ip_proto::IPV6_DSTOPTS,
            0,
            1,
            4,
            0,
            0,
            0,
            0,
            6,
            0,
            1,
            4,
            0,
            0,
            0,
            0,
        ];
        nat_in_case(false, 0, |ip, s, d| {
            ipv6_ext(ip, ip_proto::HOPOPT, &ext, &tcp6_segment(ip, s, d, b"x"))
        });
    }

    #[test]
    fn nat66_out_equals_the_reply_built_from_the_vip() {
        for vlan in [false, true] {
            let reply = tcp6(Ip6::new(REAL6, CLIENT6), 8080, 40000, b"HTTP/1.0 200 OK");
            let (mut f, l3) = ip6_frame(vlan, &reply, 0);
            nat66_out(&mut f, l3, VIP6, 80).unwrap();
            let want = tcp6(
                Ip6::new(VIP6, CLIENT6).hops(63),
                80,
                40000,
                b"HTTP/1.0 200 OK",
            );
            assert_eq!(&f[l3..], &want[..]);
            let reply = udp6(Ip6::new(REAL6, CLIENT6), 53, 5353, b"answer");
            let (mut f, l3) = ip6_frame(vlan, &reply, 0);
            nat66_out(&mut f, l3, VIP6, 5353).unwrap();
            let want = udp6(Ip6::new(VIP6, CLIENT6).hops(63), 5353, 5353, b"answer");
            assert_eq!(&f[l3..], &want[..]);
            assert_checksums6_ok(&f, l3);
        }
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let refused = |p: &[u8], want: ForwardError| {
            let (mut f, l3) = ip6_frame(false, p, 0);
            let orig = f.clone();
            assert_eq!(nat66_in(&mut f, l3, REAL6, 1), Err(want));
            assert_eq!(nat66_out(&mut f, l3, VIP6, 1), Err(want));
            assert_eq!(f, orig);
        };
        let wire = ForwardError::Wire;
        for hops in [0, 1] {
            refused(
                &tcp6(Ip6::new(CLIENT6, VIP6).hops(hops), 1, 2, b""),
                ForwardError::TtlExpired,
            );
        }
        let seg = udp6_datagram(Ip6::new(CLIENT6, VIP6), 1, 2, b"abc");
        let first = ipv6_ext(
            Ip6::new(CLIENT6, VIP6),
            ip_proto::IPV6_FRAGMENT,
            &[ip_proto::UDP, 0, 0, 1, 0, 0, 0, 7],
            &seg,
        );
        refused(&first, ForwardError::Fragment);
        let icmp = icmp6(Ip6::new(CLIENT6, VIP6), 128, 0, [0, 1, 0, 1], b"");
        refused(&icmp, wire(WireError::Unsupported));
        let t = tcp6(Ip6::new(CLIENT6, VIP6), 1, 2, b"");
        let mut short = t[..59].to_vec();
        short[4..6].copy_from_slice(&19u16.to_be_bytes());
        refused(&short, wire(WireError::Truncated));
        let mut long = t.clone();
        long[5] += 1;
        refused(&long, wire(WireError::Truncated));
        let looped = ipv6_ext(
            Ip6::new(CLIENT6, VIP6),
            ip_proto::IPV6_ROUTING,
            &[
                ip_proto::IPV6_ROUTING,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                43,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
            &[],
        );
        refused(&looped, wire(WireError::RepeatedExtHeader));
        // A routing header with a segment left: the VIP is not the final destination.
        let ip = Ip6::new(CLIENT6, VIP6);
        let seg = tcp6_segment(ip, 1, 2, b"");
        let routed = |left| {
            let rh = [ip_proto::TCP, 2, 0, left, 0, 0, 0, 0];
            let mut ext = rh.to_vec();
            ext.extend(REAL6.octets());
            ipv6_ext(ip, ip_proto::IPV6_ROUTING, &ext, &seg)
        };
        refused(&routed(1), wire(WireError::Unsupported));
        let (mut f, l3) = ip6_frame(false, &routed(0), 0);
        assert_eq!(nat66_in(&mut f, l3, REAL6, 2), Ok(()));
        let (mut f, _) = ip6_frame(false, &t, 0);
        let n = f.len();
        assert_eq!(
            nat66_in(&mut f, n + 1, REAL6, 1),
            Err(wire(WireError::Truncated))
        );
    }

    #[test]
    fn an_atomic_fragment_is_a_whole_packet() {
        let ip = Ip6::new(CLIENT6, VIP6);
        let atomic = [ip_proto::TCP, 0, 0, 0, 0, 0, 0, 9];
        let p = ipv6_ext(
            ip,
            ip_proto::IPV6_FRAGMENT,
            &atomic,
            &tcp6_segment(ip, 1, 80, b"a"),
        );
        let (mut f, l3) = ip6_frame(false, &p, 0);
        nat66_in(&mut f, l3, REAL6, 8080).unwrap();
        let to = Ip6::new(CLIENT6, REAL6).hops(63);
        let want = ipv6_ext(
            to,
            ip_proto::IPV6_FRAGMENT,
            &atomic,
            &tcp6_segment(to, 1, 8080, b"a"),
        );
        assert_eq!(&f[l3..], &want[..]);
    }
}
