//! NAT64 header translation (RFC 7915) for TCP, UDP and ICMP echo, both ways: an IPv6 packet
//! becomes the IPv4 packet of the same connection ([`nat64_6to4`]) and an IPv4 reply becomes
//! IPv6 again ([`nat64_4to6`]). ICMP errors, whose quoted packet is translated too, are in
//! `nat64_icmp.rs`. The state (RFC 6146: which IPv4 address and port stand for which IPv6
//! client) is the engine's: every function takes the addresses and ports to write from its
//! caller ([`Endpoints`]).
//!
//! The L4 header never moves: the new IP header is written in front of it and the Ethernet
//! header moved to the new front, then the frame is shortened (6 -> 4, `adj`) or, having been
//! grown first (4 -> 6, `prepend`), left as it is. The TCP/UDP checksum is updated
//! incrementally from one pseudo-header sum to the other (RFC 1624, the lengths are the same);
//! ICMP echo gains or loses the IPv6 pseudo-header (ICMPv6 covers it, ICMPv4 does not).
//!
//! Not translated here (refused with their reason): fragments (`nat64_frag.rs`, driven by the
//! engine's fragment table), and ICMP messages other than echo and the errors of RFC 7915.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ForwardError;
use crate::wire::checksum::{self, pseudo_header_v4, pseudo_header_v6, update_u16};
use crate::wire::ethernet::{ether_type, HEADER_LEN as ETH_HEADER_LEN};
use crate::wire::icmpv4::icmp_type;
use crate::wire::icmpv6::icmpv6_type;
use crate::wire::ip_proto;
use crate::wire::ipv4::HEADER_LEN as IPV4_HEADER_LEN;
use crate::wire::ipv6::HEADER_LEN as IPV6_HEADER_LEN;
use crate::wire::{Frame, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, WireError};

/// The addresses and ports a translated packet carries. For ICMP echo `sport` is the echo
/// identifier (RFC 6146 3.5.3: it plays the port's part) and `dport` is not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints<A> {
    pub src: A,
    pub sport: u16,
    pub dst: A,
    pub dport: u16,
}

/// The well-known NAT64 prefix 64:ff9b::/96 (RFC 6052 2.1).
pub const WELL_KNOWN_PREFIX: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);

/// `v4` inside the /96 `prefix` (RFC 6052 2.2): how an IPv4 host is named to IPv6 clients.
pub fn embed_v4(prefix: Ipv6Addr, v4: Ipv4Addr) -> Ipv6Addr {
    let mut o = prefix.octets();
    o[12..].copy_from_slice(&v4.octets());
    Ipv6Addr::from(o)
}

/// The IPv4 address in the last 32 bits of a /96-embedded address.
pub fn extract_v4(a: Ipv6Addr) -> Ipv4Addr {
    let o = a.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

/// RFC 7915 5.1: an IPv4 packet translated from IPv6 has DF set when it is longer than 1260
/// bytes (so path MTU discovery keeps working), clear otherwise (an IPv4 link of 1280 minus
/// the header difference may fragment it).
pub(super) fn dont_frag_for(total_len: usize) -> bool {
    total_len > 1260
}

/// An IPv6 TCP/UDP packet or ICMPv6 echo, at `l3` in `f`, becomes IPv4 between `to`'s
/// addresses and ports: traffic class -> TOS, hop limit - 1 -> TTL, identification `ident`
/// (the caller's counter), DF by [`dont_frag_for`]; hop-by-hop and destination options are
/// dropped. The frame shrinks by 20 bytes plus the extension headers (`adj`); the Ethernet
/// header keeps its addresses (the caller's) and VLAN tag, with EtherType IPv4.
///
/// Errors, frame untouched: [`ForwardError::Fragment`], [`ForwardError::TtlExpired`] (hop
/// limit 0 or 1), `Wire` for what does not parse or is not translated (`Unsupported`).
pub fn nat64_6to4<F: Frame>(
    f: &mut F,
    l3: usize,
    to: Endpoints<Ipv4Addr>,
    ident: u16,
) -> Result<(), ForwardError> {
    let shift = translate_6to4(f.data_mut(), l3, to, ident)?;
    // Cannot fail: the shift is less than the IPv6 header's length.
    f.adj(shift as u16);
    Ok(())
}

/// An IPv4 TCP/UDP packet or ICMP echo, at `l3` in `f`, becomes IPv6 between `to`'s
/// addresses and ports: TOS -> traffic class (flow label 0), TTL - 1 -> hop limit; IPv4
/// options are dropped (RFC 7915 4.1). A UDP datagram without a checksum gets one (IPv6
/// requires it: RFC 7915 4.5). The frame grows by 20 bytes less any options (`prepend`).
///
/// Errors, frame untouched: [`ForwardError::Fragment`], [`ForwardError::TtlExpired`],
/// [`ForwardError::NoRoom`] without the headroom, `Wire` for what does not parse or is not
/// translated.
pub fn nat64_4to6<F: Frame>(
    f: &mut F,
    l3: usize,
    to: Endpoints<Ipv6Addr>,
) -> Result<(), ForwardError> {
    let plan = plan_4to6(f.data(), l3)?;
    grow_front(f, plan.grow)?;
    let start = apply_4to6(f.data_mut(), l3, plan, to)?;
    // Cannot fail: `start` is within the frame (IPv4 options no longer needed).
    f.adj(start as u16);
    Ok(())
}

/// Makes `grow` more bytes of room at the front (negative: fewer), or [`ForwardError::NoRoom`]
/// with the frame unchanged. The translation then writes from the new front.
pub(super) fn grow_front<F: Frame>(f: &mut F, grow: isize) -> Result<(), ForwardError> {
    if grow > 0 {
        let g = u16::try_from(grow).map_err(|_| ForwardError::NoRoom)?;
        if !f.prepend(g) {
            return Err(ForwardError::NoRoom);
        }
    }
    Ok(())
}

/// The slice part of [`nat64_6to4`]: returns how many bytes the frame now starts later.
pub fn translate_6to4(
    frame: &mut [u8],
    l3: usize,
    to: Endpoints<Ipv4Addr>,
    ident: u16,
) -> Result<usize, ForwardError> {
    if l3 < ETH_HEADER_LEN {
        return Err(WireError::Truncated.into());
    }
    let ip = Ipv6Packet::new_checked(frame.get(l3..).ok_or(WireError::Truncated)?)?;
    let ul = ip.upper_layer()?;
    if ul.fragment.is_some() {
        return Err(ForwardError::Fragment);
    }
    if ip.hop_limit() <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    if ul.segments_left != 0 {
        // RFC 7915 5.1: not translated (the sender may be told with a parameter problem).
        return Err(WireError::Unsupported.into());
    }
    let (src6, dst6, tc, hop) = (
        ip.src_addr(),
        ip.dst_addr(),
        ip.traffic_class(),
        ip.hop_limit(),
    );
    let l4_at = l3 + ul.offset;
    let l4_end = l3 + IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let l4_len = l4_end - l4_at;
    if IPV4_HEADER_LEN + l4_len > usize::from(u16::MAX) {
        // A jumbo-sized IPv6 payload has no IPv4 total length.
        return Err(WireError::BadLength.into());
    }
    let proto4 = match ul.protocol {
        ip_proto::TCP | ip_proto::UDP => ul.protocol,
        ip_proto::ICMPV6 => ip_proto::ICMP,
        _ => return Err(WireError::Unsupported.into()),
    };
    let l4 = &mut frame[l4_at..l4_end];
    let ph6 = pseudo_header_v6(&src6, &dst6, ul.protocol, l4_len as u32);
    match ul.protocol {
        ip_proto::ICMPV6 => echo_6to4(l4, ph6, to.sport)?,
        p => {
            let ph4 = pseudo_header_v4(to.src, to.dst, p, l4_len as u16);
            ports_and_checksum(l4, p, ph6, ph4, to.sport, to.dport)?;
        }
    }
    let total = IPV4_HEADER_LEN + l4_len;
    let v4_at = l4_at - IPV4_HEADER_LEN;
    Ipv4Repr {
        src: to.src,
        dst: to.dst,
        protocol: proto4,
        ttl: hop - 1,
        tos: tc,
        ident,
        dont_frag: dont_frag_for(total),
        payload_len: l4_len as u16,
    }
    .emit(&mut frame[v4_at..l4_at])?;
    let shift = v4_at - l3;
    move_ethernet(frame, l3, shift, ether_type::IPV4);
    Ok(shift)
}

/// What [`nat64_4to6`] checked before growing the frame.
#[derive(Clone, Copy)]
pub(super) struct Plan4to6 {
    /// Bytes the frame grows at the front (negative: it has more than it needs).
    pub grow: isize,
    ihl: usize,
    l4_len: usize,
    proto: u8,
    tos: u8,
    ttl: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

fn plan_4to6(frame: &[u8], l3: usize) -> Result<Plan4to6, ForwardError> {
    if l3 < ETH_HEADER_LEN {
        return Err(WireError::Truncated.into());
    }
    let ip = Ipv4Packet::new_checked(frame.get(l3..).ok_or(WireError::Truncated)?)?;
    if ip.is_fragment() {
        return Err(ForwardError::Fragment);
    }
    if ip.ttl() <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    let l4 = ip.payload();
    match ip.protocol() {
        ip_proto::TCP => {
            crate::wire::TcpSegment::new_checked(l4)?;
        }
        ip_proto::UDP => {
            crate::wire::UdpDatagram::new_checked(l4)?;
        }
        ip_proto::ICMP => match l4 {
            [icmp_type::ECHO_REQUEST | icmp_type::ECHO_REPLY, 0, _, _, _, _, _, _, ..] => {}
            [_, _, _, _, _, _, _, _, ..] => return Err(WireError::Unsupported.into()),
            _ => return Err(WireError::Truncated.into()),
        },
        _ => return Err(WireError::Unsupported.into()),
    }
    let ihl = ip.header_len();
    Ok(Plan4to6 {
        grow: IPV6_HEADER_LEN as isize - ihl as isize,
        ihl,
        l4_len: l4.len(),
        proto: ip.protocol(),
        tos: ip.tos(),
        ttl: ip.ttl(),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    })
}

/// Writes the IPv6 packet of `plan` into `frame`, which has grown by `plan.grow` at the front
/// when positive; returns where the new frame starts (more than 0 when IPv4 options made the
/// old header longer than 40 bytes: the caller cuts those bytes with `adj`).
fn apply_4to6(
    frame: &mut [u8],
    l3: usize,
    plan: Plan4to6,
    to: Endpoints<Ipv6Addr>,
) -> Result<usize, ForwardError> {
    // Where the old frame starts now, and where the new one starts.
    let old = plan.grow.max(0) as usize;
    let l4_at = old + l3 + plan.ihl;
    let l4 = frame
        .get_mut(l4_at..l4_at + plan.l4_len)
        .ok_or(WireError::Truncated)?;
    let proto6 = if plan.proto == ip_proto::ICMP {
        ip_proto::ICMPV6
    } else {
        plan.proto
    };
    let ph4 = pseudo_header_v4(plan.src, plan.dst, plan.proto, plan.l4_len as u16);
    let ph6 = pseudo_header_v6(&to.src, &to.dst, proto6, plan.l4_len as u32);
    match plan.proto {
        ip_proto::ICMP => echo_4to6(l4, ph6, to.sport)?,
        ip_proto::UDP if l4[6..8] == [0, 0] => {
            // No checksum over IPv4: compute the one IPv6 requires.
            l4[0..2].copy_from_slice(&to.sport.to_be_bytes());
            l4[2..4].copy_from_slice(&to.dport.to_be_bytes());
            let c = checksum::l4_checksum_v6(&to.src, &to.dst, ip_proto::UDP, l4);
            l4[6..8].copy_from_slice(&checksum::udp_field(c).to_be_bytes());
        }
        p => ports_and_checksum(l4, p, ph4, ph6, to.sport, to.dport)?,
    }
    let v6_at = l4_at - IPV6_HEADER_LEN;
    let new_start = v6_at - l3;
    // The Ethernet header first: the new IPv6 header covers where it was.
    move_ethernet_to(frame, old, l3, new_start, ether_type::IPV6);
    Ipv6Repr {
        src: to.src,
        dst: to.dst,
        next_header: proto6,
        hop_limit: plan.ttl - 1,
        payload_len: plan.l4_len as u16,
    }
    .emit(&mut frame[v6_at..l4_at])?;
    Ipv6Packet::new_checked(&mut frame[v6_at..])?.set_traffic_class(plan.tos);
    Ok(new_start)
}

/// Moves the Ethernet header (`l3` bytes at the front) `shift` bytes later and sets its
/// EtherType.
pub(super) fn move_ethernet(frame: &mut [u8], l3: usize, shift: usize, ethertype: u16) {
    move_ethernet_to(frame, 0, l3, shift, ethertype);
}

/// Moves the `l3`-byte Ethernet header at `from` to `to` and sets its EtherType.
pub(super) fn move_ethernet_to(frame: &mut [u8], from: usize, l3: usize, to: usize, et: u16) {
    frame.copy_within(from..from + l3, to);
    frame[to + l3 - 2..to + l3].copy_from_slice(&et.to_be_bytes());
}

/// Sets TCP/UDP ports and moves the checksum from pseudo-header sum `old_ph` to `new_ph`
/// (and the old ports to the new). A zero UDP checksum stays zero (only for 6 -> 4, where
/// IPv4 allows it; 4 -> 6 computes one first).
pub(super) fn ports_and_checksum(
    l4: &mut [u8],
    proto: u8,
    old_ph: u16,
    new_ph: u16,
    sport: u16,
    dport: u16,
) -> Result<(), WireError> {
    let csum_at = match proto {
        ip_proto::TCP => 16,
        ip_proto::UDP => 6,
        _ => return Err(WireError::Unsupported),
    };
    let hdr = l4.get_mut(..csum_at + 2).ok_or(WireError::Truncated)?;
    let old_s = u16::from_be_bytes([hdr[0], hdr[1]]);
    let old_d = u16::from_be_bytes([hdr[2], hdr[3]]);
    let old_c = u16::from_be_bytes([hdr[csum_at], hdr[csum_at + 1]]);
    let fold = |c| {
        let c = update_u16(c, old_ph, new_ph);
        let c = update_u16(c, old_s, sport);
        update_u16(c, old_d, dport)
    };
    let c = if proto == ip_proto::UDP {
        checksum::update_udp(old_c, fold)
    } else {
        fold(old_c)
    };
    hdr[0..2].copy_from_slice(&sport.to_be_bytes());
    hdr[2..4].copy_from_slice(&dport.to_be_bytes());
    hdr[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// ICMPv6 echo request/reply -> ICMPv4 (128 -> 8, 129 -> 0), identifier `ident`; the
/// checksum loses the IPv6 pseudo-header `ph6`.
fn echo_6to4(m: &mut [u8], ph6: u16, ident: u16) -> Result<(), WireError> {
    let t = match m.first() {
        Some(&icmpv6_type::ECHO_REQUEST) => icmp_type::ECHO_REQUEST,
        Some(&icmpv6_type::ECHO_REPLY) => icmp_type::ECHO_REPLY,
        Some(_) => return Err(WireError::Unsupported),
        None => return Err(WireError::Truncated),
    };
    echo_rewrite(m, t, ph6, 0, ident)
}

/// ICMPv4 echo -> ICMPv6 (8 -> 128, 0 -> 129), identifier `ident`; the checksum gains the
/// IPv6 pseudo-header `ph6`.
fn echo_4to6(m: &mut [u8], ph6: u16, ident: u16) -> Result<(), WireError> {
    let t = match m.first() {
        Some(&icmp_type::ECHO_REQUEST) => icmpv6_type::ECHO_REQUEST,
        Some(&icmp_type::ECHO_REPLY) => icmpv6_type::ECHO_REPLY,
        Some(_) => return Err(WireError::Unsupported),
        None => return Err(WireError::Truncated),
    };
    echo_rewrite(m, t, 0, ph6, ident)
}

fn echo_rewrite(
    m: &mut [u8],
    t: u8,
    old_ph: u16,
    new_ph: u16,
    ident: u16,
) -> Result<(), WireError> {
    let h = m.get_mut(..8).ok_or(WireError::Truncated)?;
    if h[1] != 0 {
        return Err(WireError::Unsupported);
    }
    let old_word = u16::from_be_bytes([h[0], h[1]]);
    let old_ident = u16::from_be_bytes([h[4], h[5]]);
    let c = u16::from_be_bytes([h[2], h[3]]);
    let c = update_u16(c, old_ph, new_ph);
    let c = update_u16(c, old_word, u16::from_be_bytes([t, 0]));
    let c = update_u16(c, old_ident, ident);
    h[0] = t;
    h[2..4].copy_from_slice(&c.to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::{icmp, ip_frame, tcp, udp, Ip, REAL};
    use super::super::test_packets6::*;
    use super::*;
    use crate::wire::VecFrame;

    const LB4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    fn prefixed(v4: Ipv4Addr) -> Ipv6Addr {
        embed_v4(WELL_KNOWN_PREFIX, v4)
    }

    /// An IPv4 header as 6 -> 4 writes it: ident 0x77, DF by length.
    fn ip4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, len: usize) -> Ip {
        Ip {
            src,
            dst,
            ttl,
            ident: 0x77,
            dont_frag: len > 1260,
        }
    }

    /// The test builders' IPv4 TOS is 0x10; the IPv6 traffic class 0x28. A translated packet
    /// carries the other side's value, so the expectations set it.
    fn with_tos(mut p: Vec<u8>, tos: u8) -> Vec<u8> {
        p[1] = tos;
        Ipv4Packet::new_checked(&mut p[..]).unwrap().fill_checksum();
        p
    }

    #[test]
    fn embedding() {
        let a = prefixed(Ipv4Addr::new(192, 0, 2, 33));
        assert_eq!(a, "64:ff9b::c000:221".parse::<Ipv6Addr>().unwrap());
        assert_eq!(extract_v4(a), Ipv4Addr::new(192, 0, 2, 33));
    }

    #[test]
    fn tcp_and_udp_6to4_equal_packets_built_for_ipv4() {
        let to = Endpoints {
            src: LB4,
            sport: 61000,
            dst: REAL,
            dport: 8080,
        };
        for vlan in [false, true] {
            let ip6 = Ip6::new(CLIENT6, VIP6);
            let cases: [(Vec<u8>, Vec<u8>); 3] = [
                (
                    tcp6(ip6, 40000, 80, b"GET / HTTP/1.1\r\n"),
                    tcp(ip4(LB4, REAL, 63, 0), 61000, 8080, b"GET / HTTP/1.1\r\n"),
                ),
                (
                    udp6(ip6, 40000, 80, b"query"),
                    udp(ip4(LB4, REAL, 63, 0), 61000, 8080, b"query", false),
                ),
                (
                    tcp6(ip6, 40000, 80, &[9; 1300]),
                    tcp(ip4(LB4, REAL, 63, 1344), 61000, 8080, &[9; 1300]),
                ),
            ];
            for (v6, want) in cases {
                // The 1300-byte TCP payload has an IPv6 MSS option of 1440; equal on both.
                let want = with_tos(want, 0x28);
                let (fr, l3) = ip6_frame(vlan, &v6, 2);
                let mut f = VecFrame::new(&fr);
                nat64_6to4(&mut f, l3, to, 0x77).unwrap();
                let out = f.to_vec();
                assert_eq!(out.len(), fr.len() - 20);
                assert_eq!(&out[..l3 - 2], &fr[..l3 - 2], "MACs and VLAN tag kept");
                assert_eq!(&out[l3 - 2..l3], &ether_type::IPV4.to_be_bytes());
                assert_eq!(&out[l3..l3 + want.len()], &want[..]);
                assert_eq!(&out[l3 + want.len()..], &[0xee; 2]);
            }
        }
    }

    #[test]
    fn tcp_and_udp_4to6_equal_packets_built_for_ipv6() {
        let to = Endpoints {
            src: VIP6,
            sport: 80,
            dst: CLIENT6,
            dport: 40000,
        };
        for vlan in [false, true] {
            let ip = Ip::new(REAL, LB4);
            let mut want_ip = Ip6::new(VIP6, CLIENT6).hops(63);
            want_ip.tc = 0x10;
            want_ip.flow = 0;
            for no_csum in [false, true] {
                let v4 = udp(ip, 8080, 61000, b"answer", no_csum);
                let want = udp6(want_ip, 80, 40000, b"answer");
                let (fr, l3) = ip_frame(vlan, &v4, 0);
                let mut f = VecFrame::new(&fr);
                nat64_4to6(&mut f, l3, to).unwrap();
                let out = f.to_vec();
                assert_eq!(&out[..l3 - 2], &fr[..l3 - 2]);
                assert_eq!(&out[l3..], &want[..], "no_csum {no_csum}");
                assert_checksums6_ok(&out, l3);
            }
            let v4 = tcp(ip, 8080, 61000, b"HTTP/1.1 200 OK");
            let want = tcp6(want_ip, 80, 40000, b"HTTP/1.1 200 OK");
            let (fr, l3) = ip_frame(vlan, &v4, 3);
            let mut f = VecFrame::new(&fr);
            nat64_4to6(&mut f, l3, to).unwrap();
            let out = f.to_vec();
            assert_eq!(&out[l3..l3 + want.len()], &want[..]);
            assert_eq!(out.len(), fr.len() + 20);
        }
    }

    #[test]
    fn ipv4_options_are_dropped() {
        // IHL 6 and IHL 15 (40 bytes of options): the frame grows by 16, or not at all.
        for words in [6u8, 15] {
            let hl = usize::from(words) * 4;
            let plain = udp(Ip::new(REAL, LB4), 53, 61000, b"x", false);
            let mut p = plain[..20].to_vec();
            p.extend(vec![1u8; hl - 20]); // NOPs
            p.extend_from_slice(&plain[20..]);
            p[0] = 0x40 | words;
            let total = p.len() as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            Ipv4Packet::new_checked(&mut p[..]).unwrap().fill_checksum();
            let (fr, l3) = ip_frame(false, &p, 0);
            let mut f = VecFrame::new(&fr);
            let to = Endpoints {
                src: VIP6,
                sport: 53,
                dst: CLIENT6,
                dport: 40000,
            };
            nat64_4to6(&mut f, l3, to).unwrap();
            let mut want_ip = Ip6::new(VIP6, CLIENT6).hops(63);
            want_ip.tc = 0x10;
            want_ip.flow = 0;
            let want = udp6(want_ip, 53, 40000, b"x");
            let out = f.to_vec();
            assert_eq!(&out[l3..], &want[..]);
            assert_eq!(out.len(), l3 + want.len());
        }
    }

    #[test]
    fn echo_both_ways() {
        // An IPv6 client pings an IPv4 host through the VIP's prefix.
        let ping6 = icmp6(
            Ip6::new(CLIENT6, prefixed(REAL)),
            128,
            0,
            [0x12, 0x34, 0, 7],
            b"abcdefgh",
        );
        let (fr, l3) = ip6_frame(false, &ping6, 0);
        let mut f = VecFrame::new(&fr);
        let to = Endpoints {
            src: LB4,
            sport: 0x4321,
            dst: REAL,
            dport: 0,
        };
        nat64_6to4(&mut f, l3, to, 0x77).unwrap();
        let want = with_tos(
            icmp(ip4(LB4, REAL, 63, 0), 8, 0, [0x43, 0x21, 0, 7], b"abcdefgh"),
            0x28,
        );
        assert_eq!(&f.data()[l3..], &want[..]);
        // Its reply comes back as ICMPv6.
        let pong = icmp(Ip::new(REAL, LB4), 0, 0, [0x43, 0x21, 0, 7], b"abcdefgh");
        let (fr, l3) = ip_frame(true, &pong, 0);
        let mut f = VecFrame::new(&fr);
        let back = Endpoints {
            src: prefixed(REAL),
            sport: 0x1234,
            dst: CLIENT6,
            dport: 0,
        };
        nat64_4to6(&mut f, l3, back).unwrap();
        let mut ip = Ip6::new(prefixed(REAL), CLIENT6).hops(63);
        ip.tc = 0x10;
        ip.flow = 0;
        let want = icmp6(ip, 129, 0, [0x12, 0x34, 0, 7], b"abcdefgh");
        assert_eq!(&f.data()[l3..], &want[..]);
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let to4 = Endpoints {
            src: LB4,
            sport: 1,
            dst: REAL,
            dport: 2,
        };
        let refused6 = |p: &[u8], want: ForwardError| {
            let (fr, l3) = ip6_frame(false, p, 0);
            let mut f = VecFrame::new(&fr);
            assert_eq!(nat64_6to4(&mut f, l3, to4, 0), Err(want));
            assert_eq!(f.data(), &fr[..]);
        };
        let wire = ForwardError::Wire;
        refused6(
            &tcp6(Ip6::new(CLIENT6, VIP6).hops(1), 1, 2, b""),
            ForwardError::TtlExpired,
        );
        let seg = udp6_datagram(Ip6::new(CLIENT6, VIP6), 1, 2, b"abc");
        let frag = ipv6_ext(
            Ip6::new(CLIENT6, VIP6),
            ip_proto::IPV6_FRAGMENT,
            &[ip_proto::UDP, 0, 0, 1, 0, 0, 0, 7],
            &seg,
        );
        refused6(&frag, ForwardError::Fragment);
        refused6(
            &icmp6(Ip6::new(CLIENT6, VIP6), 135, 0, [0; 4], &[0; 16]),
            wire(WireError::Unsupported),
        );
        refused6(
            &ipv6(Ip6::new(CLIENT6, VIP6), 132, &[0; 12]),
            wire(WireError::Unsupported),
        );
        refused6(
            &ipv6(Ip6::new(CLIENT6, VIP6), ip_proto::TCP, &[0; 12]),
            wire(WireError::Truncated),
        );
        // 65535 bytes of TCP: no IPv4 total length can say 65555.
        let jumbo = tcp6(Ip6::new(CLIENT6, VIP6), 1, 2, &vec![0; 65535 - 24]);
        refused6(&jumbo, wire(WireError::BadLength));

        let to6 = Endpoints {
            src: VIP6,
            sport: 1,
            dst: CLIENT6,
            dport: 2,
        };
        let refused4 = |p: &[u8], headroom: usize, want: ForwardError| {
            let (fr, l3) = ip_frame(false, p, 0);
            let mut f = VecFrame::with_headroom(&fr, headroom);
            assert_eq!(nat64_4to6(&mut f, l3, to6), Err(want));
            assert_eq!(f.data(), &fr[..]);
        };
        let t = tcp(Ip::new(REAL, LB4), 1, 2, b"");
        refused4(&t, 19, ForwardError::NoRoom);
        refused4(
            &tcp(Ip::new(REAL, LB4).ttl(1), 1, 2, b""),
            128,
            ForwardError::TtlExpired,
        );
        let mut frag = udp(Ip::new(REAL, LB4), 1, 2, b"x", false);
        frag[6] |= 0x20;
        Ipv4Packet::new_checked(&mut frag[..])
            .unwrap()
            .fill_checksum();
        refused4(&frag, 128, ForwardError::Fragment);
        refused4(
            &icmp(Ip::new(REAL, LB4), 13, 0, [0; 4], &[0; 12]),
            128,
            wire(WireError::Unsupported),
        );
    }
}
