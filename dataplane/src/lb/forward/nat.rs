//! VS-NAT: the destination of a client's packet becomes the chosen real server (`nat_in`), the
//! source of the real server's reply becomes the VIP again (`nat_out`). Both decrement the TTL,
//! as a router must, and update every checksum incrementally (RFC 1624): one fold for the IP
//! header per field, one for the TCP/UDP checksum covering address (pseudo-header) and port.

use std::net::Ipv4Addr;

use super::{ipv4_at, ForwardError};
use crate::wire::checksum::{update_addr_port, update_udp};
use crate::wire::ip_proto;
use crate::wire::{TcpSegment, UdpDatagram, WireError};

/// Client -> VIP:vport becomes client -> `real`:`rport`.
///
/// Errors, with the frame untouched: [`ForwardError::Fragment`] for any fragment (the ports
/// are only in the first, and its UDP length covers the whole datagram: fragments go through
/// [`super::frag`], driven by the worker's fragment table),
/// [`ForwardError::TtlExpired`] for TTL 0 or 1, [`ForwardError::Wire`] when the IPv4 or the
/// TCP/UDP header does not parse or the protocol is neither TCP nor UDP.
#[inline]
pub fn nat_in(frame: &mut [u8], l3: usize, real: Ipv4Addr, rport: u16) -> Result<(), ForwardError> {
    rewrite(frame, l3, Side::Dst, real, rport, Fragments::Refuse)
}

/// Real:rport -> client becomes `vip`:`vport` -> client (the reply leaving through the LB).
/// Errors as for [`nat_in`].
#[inline]
pub fn nat_out(frame: &mut [u8], l3: usize, vip: Ipv4Addr, vport: u16) -> Result<(), ForwardError> {
    rewrite(frame, l3, Side::Src, vip, vport, Fragments::Refuse)
}

/// Which end of the flow a rewrite changes.
#[derive(Clone, Copy)]
pub(super) enum Side {
    Src,
    Dst,
}

/// Whether a rewrite accepts IPv4 fragments (see `frag.rs`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Fragments {
    Refuse,
    Allow,
}

/// The one NAT rewrite: address of `side` (IP checksum and TTL too), and where the packet
/// carries its L4 header (unfragmented, or a first fragment) the port and the L4 checksum.
#[inline]
pub(super) fn rewrite(
    frame: &mut [u8],
    l3: usize,
    side: Side,
    addr: Ipv4Addr,
    port: u16,
    fragments: Fragments,
) -> Result<(), ForwardError> {
    let mut ip = ipv4_at(frame, l3)?;
    let fragment = ip.is_fragment();
    if fragment && fragments == Fragments::Refuse {
        return Err(ForwardError::Fragment);
    }
    if ip.ttl() <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    let old_addr = match side {
        Side::Src => ip.src_addr(),
        Side::Dst => ip.dst_addr(),
    };
    let protocol = ip.protocol();
    // L4 first: it is the only step that can still fail, so a refused frame stays untouched.
    if !fragment {
        rewrite_l4(ip.payload_mut(), protocol, side, old_addr, addr, port)?;
    } else if ip.frag_offset() == 0 {
        rewrite_l4_first_fragment(ip.payload_mut(), protocol, side, old_addr, addr, port)?;
    } else if protocol != ip_proto::TCP && protocol != ip_proto::UDP {
        return Err(WireError::Unsupported.into());
    }
    match side {
        Side::Src => ip.rewrite_src_addr(addr),
        Side::Dst => ip.rewrite_dst_addr(addr),
    };
    // Cannot fail: the TTL was checked above.
    ip.decrement_ttl();
    Ok(())
}

/// As `rewrite_l4` for a first fragment: the port and checksum are edited in place without the
/// views' length checks, because a first fragment's UDP length covers the whole datagram, not
/// the fragment. The checksum update stays right: it is arithmetic on a whole-datagram sum.
fn rewrite_l4_first_fragment(
    l4: &mut [u8],
    protocol: u8,
    side: Side,
    old_addr: Ipv4Addr,
    new_addr: Ipv4Addr,
    port: u16,
) -> Result<(), WireError> {
    set_port_and_checksum(l4, protocol, side, port, |c, old_port| {
        update_addr_port(c, old_addr, new_addr, old_port, port)
    })
}

/// Sets the port of `side` in the TCP/UDP header at the start of `l4` to `port`, and its
/// checksum to `fold(checksum, old port)`: the family's incremental update of the address and
/// port change. No length check beyond the header's fixed part (first fragments: see above);
/// shared by NAT and NAT66.
pub(super) fn set_port_and_checksum(
    l4: &mut [u8],
    protocol: u8,
    side: Side,
    port: u16,
    fold: impl Fn(u16, u16) -> u16,
) -> Result<(), WireError> {
    // Where the checksum sits in the L4 header, and the header's minimum length.
    let (csum_at, min_len) = match protocol {
        ip_proto::TCP => (16, 20),
        ip_proto::UDP => (6, 8),
        _ => return Err(WireError::Unsupported),
    };
    if l4.len() < min_len {
        return Err(WireError::Truncated);
    }
    let port_at = match side {
        Side::Src => 0,
        Side::Dst => 2,
    };
    let old_port = u16::from_be_bytes([l4[port_at], l4[port_at + 1]]);
    let old_csum = u16::from_be_bytes([l4[csum_at], l4[csum_at + 1]]);
    let csum = if protocol == ip_proto::UDP {
        // 0 ("no checksum") stays 0; a result of 0 is sent as 0xffff. Over IPv6 a zero UDP
        // checksum is not valid (RFC 8200 8.1) but stays zero, as a router would pass it:
        // the receiver decides (RFC 6936 tunnels may use it).
        update_udp(old_csum, |c| fold(c, old_port))
    } else {
        fold(old_csum, old_port)
    };
    l4[port_at..port_at + 2].copy_from_slice(&port.to_be_bytes());
    l4[csum_at..csum_at + 2].copy_from_slice(&csum.to_be_bytes());
    Ok(())
}

/// Sets the port of `side` and folds the address and port change into the L4 checksum.
#[inline]
fn rewrite_l4(
    l4: &mut [u8],
    protocol: u8,
    side: Side,
    old_addr: Ipv4Addr,
    new_addr: Ipv4Addr,
    port: u16,
) -> Result<(), WireError> {
    match protocol {
        ip_proto::TCP => {
            let mut s = TcpSegment::new_checked(l4)?;
            let old_port = match side {
                Side::Src => s.src_port(),
                Side::Dst => s.dst_port(),
            };
            match side {
                Side::Src => s.set_src_port(port),
                Side::Dst => s.set_dst_port(port),
            }
            let c = update_addr_port(s.checksum(), old_addr, new_addr, old_port, port);
            s.set_checksum(c);
        }
        ip_proto::UDP => {
            let mut d = UdpDatagram::new_checked(l4)?;
            let old_port = match side {
                Side::Src => d.src_port(),
                Side::Dst => d.dst_port(),
            };
            match side {
                Side::Src => d.set_src_port(port),
                Side::Dst => d.set_dst_port(port),
            }
            // 0 ("no checksum") stays 0; a result of 0 is sent as 0xffff.
            let c = update_udp(d.checksum(), |c| {
                update_addr_port(c, old_addr, new_addr, old_port, port)
            });
            d.set_checksum(c);
        }
        _ => return Err(WireError::Unsupported),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::*;
    use super::*;
    use crate::wire::checksum;

    fn nat_in_case(vlan: bool, pad: usize, build: impl Fn(Ip, u16, u16) -> Vec<u8>) {
        let before = build(Ip::new(CLIENT, VIP), 40000, 80);
        let (mut f, l3) = ip_frame(vlan, &before, pad);
        let eth = f[..l3].to_vec();
        nat_in(&mut f, l3, REAL, 8080).unwrap();
        let expected = build(Ip::new(CLIENT, REAL).ttl(63), 40000, 8080);
        assert_eq!(&f[l3..l3 + expected.len()], &expected[..]);
        assert_eq!(&f[..l3], &eth[..], "Ethernet header is the worker's");
        assert!(f[l3 + expected.len()..].iter().all(|&b| b == 0xee));
        assert_checksums_ok(&f, l3);
    }

    #[test]
    fn nat_in_tcp_equals_packet_built_for_the_real() {
        nat_in_case(false, 0, |ip, s, d| tcp(ip, s, d, b"GET / HTTP/1.0\r\n"));
        nat_in_case(true, 0, |ip, s, d| tcp(ip, s, d, b"odd"));
        nat_in_case(false, 6, |ip, s, d| tcp(ip, s, d, b""));
    }

    #[test]
    fn nat_in_udp_with_and_without_checksum() {
        nat_in_case(false, 0, |ip, s, d| udp(ip, s, d, b"query", false));
        nat_in_case(true, 3, |ip, s, d| udp(ip, s, d, b"query", false));
        nat_in_case(false, 2, |ip, s, d| udp(ip, s, d, b"no csum", true));
    }

    #[test]
    fn udp_checksum_that_becomes_zero_is_sent_as_ffff() {
        // Find the real port for which the full checksum computes to 0 (stored as 0xffff).
        let rport = (0..=u16::MAX)
            .find(|&p| {
                let b = udp(Ip::new(CLIENT, REAL).ttl(63), 40000, p, b"x", false);
                b[26..28] == [0xff, 0xff]
            })
            .expect("one port gives each checksum value");
        let (mut f, l3) = ip_frame(false, &udp(Ip::new(CLIENT, VIP), 40000, 53, b"x", false), 0);
        nat_in(&mut f, l3, REAL, rport).unwrap();
        assert_eq!(&f[l3 + 26..l3 + 28], &[0xff, 0xff]);
        assert_checksums_ok(&f, l3);
    }

    #[test]
    fn nat_out_equals_packet_built_from_the_vip() {
        for vlan in [false, true] {
            let reply = tcp(Ip::new(REAL, CLIENT), 8080, 40000, b"HTTP/1.0 200 OK");
            let (mut f, l3) = ip_frame(vlan, &reply, 0);
            nat_out(&mut f, l3, VIP, 80).unwrap();
            let expected = tcp(Ip::new(VIP, CLIENT).ttl(63), 80, 40000, b"HTTP/1.0 200 OK");
            assert_eq!(&f[l3..], &expected[..]);
            assert_checksums_ok(&f, l3);

            let reply = udp(Ip::new(REAL, CLIENT), 1053, 5353, b"answer", false);
            let (mut f, l3) = ip_frame(vlan, &reply, 0);
            nat_out(&mut f, l3, VIP, 53).unwrap();
            let expected = udp(Ip::new(VIP, CLIENT).ttl(63), 53, 5353, b"answer", false);
            assert_eq!(&f[l3..], &expected[..]);
        }
    }

    #[test]
    fn only_changed_bytes_differ() {
        let before = tcp(Ip::new(CLIENT, VIP), 40000, 80, b"data");
        let (mut f, l3) = ip_frame(false, &before, 0);
        nat_in(&mut f, l3, REAL, 8080).unwrap();
        let changed: Vec<usize> = (0..before.len())
            .filter(|&i| f[l3 + i] != before[i])
            .collect();
        // TTL (8), IP checksum (10, 11), destination (16..20), port (22, 23), TCP checksum
        // (36, 37); some of those bytes may keep their value.
        let allowed = [8, 10, 11, 16, 17, 18, 19, 22, 23, 36, 37];
        assert!(changed.iter().all(|i| allowed.contains(i)), "{changed:?}");
        assert!(changed.contains(&8) && changed.contains(&16) && changed.contains(&23));
    }

    #[test]
    fn ttl_expiry_leaves_the_frame_untouched() {
        for ttl in [0, 1] {
            let p = tcp(Ip::new(CLIENT, VIP).ttl(ttl), 40000, 80, b"");
            let (mut f, l3) = ip_frame(false, &p, 0);
            let orig = f.clone();
            assert_eq!(nat_in(&mut f, l3, REAL, 80), Err(ForwardError::TtlExpired));
            assert_eq!(nat_out(&mut f, l3, VIP, 80), Err(ForwardError::TtlExpired));
            assert_eq!(f, orig);
        }
        let p = tcp(Ip::new(CLIENT, VIP).ttl(2), 40000, 80, b"");
        let (mut f, l3) = ip_frame(false, &p, 0);
        nat_in(&mut f, l3, REAL, 80).unwrap();
        assert_eq!(f[l3 + 8], 1);
    }

    #[test]
    fn fragments_are_refused() {
        for flags_frag in [0x2000u16, 0x00b9, 0x20b9] {
            let mut p = udp(Ip::new(CLIENT, VIP), 40000, 53, b"fragment", false);
            p[6..8].copy_from_slice(&flags_frag.to_be_bytes());
            let mut v = Ipv4Packet::new_checked(&mut p[..]).unwrap();
            v.fill_checksum();
            let (mut f, l3) = ip_frame(false, &p, 0);
            let orig = f.clone();
            assert_eq!(nat_in(&mut f, l3, REAL, 53), Err(ForwardError::Fragment));
            assert_eq!(nat_out(&mut f, l3, VIP, 53), Err(ForwardError::Fragment));
            assert_eq!(f, orig);
        }
    }

    #[test]
    fn malformed_or_foreign_packets_are_refused_untouched() {
        let wire = |e| Err(ForwardError::Wire(e));
        let p = tcp(Ip::new(CLIENT, VIP), 40000, 80, b"");
        // TCP header cut short (total length says 30 bytes).
        let mut short = p[..30].to_vec();
        short[2..4].copy_from_slice(&30u16.to_be_bytes());
        Ipv4Packet::new_checked(&mut short[..])
            .unwrap()
            .fill_checksum();
        let (mut f, l3) = ip_frame(false, &short, 0);
        let orig = f.clone();
        assert_eq!(nat_in(&mut f, l3, REAL, 80), wire(WireError::Truncated));
        assert_eq!(f, orig);
        // ICMP is not a NAT service protocol.
        let echo = icmp(Ip::new(CLIENT, VIP), 8, 0, [0, 1, 0, 1], b"ping");
        let (mut f, l3) = ip_frame(false, &echo, 0);
        assert_eq!(nat_in(&mut f, l3, REAL, 80), wire(WireError::Unsupported));
        // l3 past the end, and a frame cut inside the IP packet.
        let (mut f, _) = ip_frame(false, &p, 0);
        let n = f.len();
        assert_eq!(nat_in(&mut f, n + 1, REAL, 80), wire(WireError::Truncated));
        assert_eq!(
            nat_out(&mut f[..n - 1], 14, VIP, 80),
            wire(WireError::Truncated)
        );
        // A UDP length larger than the datagram.
        let mut bad = udp(Ip::new(CLIENT, VIP), 1, 2, b"abc", false);
        bad[24..26].copy_from_slice(&100u16.to_be_bytes());
        let (mut f, l3) = ip_frame(false, &bad, 0);
        assert_eq!(nat_in(&mut f, l3, REAL, 80), wire(WireError::Truncated));
    }

    #[test]
    fn bad_checksums_stay_bad() {
        // Incremental updates never launder a corrupt packet into a valid one.
        let mut p = tcp(Ip::new(CLIENT, VIP), 40000, 80, b"abc");
        p[36] ^= 0x40;
        let (mut f, l3) = ip_frame(false, &p, 0);
        nat_in(&mut f, l3, REAL, 8080).unwrap();
        let ip = Ipv4Packet::new_checked(&f[l3..]).unwrap();
        let s = TcpSegment::new_checked(ip.payload()).unwrap();
        assert!(!s.verify_checksum_v4(CLIENT, REAL));
        assert!(sum_ok(ip.header()));
        assert_ne!(checksum::sum(ip.payload()), 0xffff);
    }

    use crate::wire::Ipv4Packet;
}
