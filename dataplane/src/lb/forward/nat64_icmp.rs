//! NAT64 translation of ICMP errors (RFC 7915 4.2 and 5.2): the type and code mapped, the
//! outer header translated, and the quoted packet translated too, so an IPv6 client behind
//! NAT64 learns about an IPv4 path's MTU and unreachable ports, and the other way round.
//!
//! As in `nat64.rs` the quoted L4 bytes never move: the four new headers (outer IP, ICMP,
//! quoted IP) are written in front of them, the Ethernet header moved to the new front, and
//! the frame shortened (6 -> 4) or grown first (4 -> 6). The error's own checksum is verified
//! before anything changes and then computed again over the new message.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::nat64::{dont_frag_for, grow_front, move_ethernet, move_ethernet_to, Endpoints};
use super::ForwardError;
use crate::wire::checksum::{self, pseudo_header_v4, pseudo_header_v6, update_u16};
use crate::wire::ethernet::{ether_type, HEADER_LEN as ETH_HEADER_LEN};
use crate::wire::icmpv4::{icmp_type, unreach_code};
use crate::wire::icmpv6::icmpv6_type;
use crate::wire::ip_proto;
use crate::wire::ipv4::HEADER_LEN as IPV4_HEADER_LEN;
use crate::wire::ipv6::{HEADER_LEN as IPV6_HEADER_LEN, MIN_MTU};
use crate::wire::{
    Frame, Icmpv4Packet, Icmpv6Packet, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, QuotedIpv6,
    WireError,
};

/// ICMP header length (both versions).
const ICMP_LEN: usize = 8;

/// The addresses of a translated error: the outer header's, and the quoted packet's (with
/// its ports), all the caller's choice from the connection the error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorAddrs<A> {
    pub src: A,
    pub dst: A,
    pub quoted: Endpoints<A>,
}

/// An ICMPv6 error (destination unreachable, packet too big, time exceeded, parameter
/// problem) quoting a TCP/UDP packet becomes the ICMPv4 error RFC 7915 5.2 maps it to,
/// quoting that packet as IPv4: outer `to.src` -> `to.dst`, TTL the hop limit less one; the
/// quote between `to.quoted`'s addresses and ports, its L4 checksum updated when quoted whole.
/// Packet Too Big's MTU loses 20 bytes; parameter problem pointers are mapped to the IPv4
/// field. The frame shrinks (`adj`).
///
/// Errors, frame untouched: [`ForwardError::Fragment`], [`ForwardError::TtlExpired`],
/// [`ForwardError::BadIcmpChecksum`], `Wire(Unsupported)` for a message RFC 7915 drops (or
/// an error quoting something other than TCP/UDP), other `Wire` errors for what does not
/// parse.
pub fn nat64_icmp_6to4<F: Frame>(
    f: &mut F,
    l3: usize,
    to: ErrorAddrs<Ipv4Addr>,
) -> Result<(), ForwardError> {
    let shift = translate_icmp_6to4(f.data_mut(), l3, to)?;
    // Cannot fail: the shift is inside the frame.
    f.adj(shift as u16);
    Ok(())
}

/// An ICMPv4 error quoting a TCP/UDP packet becomes the ICMPv6 error RFC 7915 4.2 maps it
/// to, quoting that packet as IPv6 (outer `to.src` -> `to.dst`, hop limit the TTL less one;
/// the quote between `to.quoted`'s addresses and ports). "Fragmentation needed" becomes
/// Packet Too Big with the MTU plus 20 (1280 when the router gave none). The message is cut
/// to 1280 bytes (RFC 4443 2.4 (c)). The frame grows at the front (`prepend`) and is trimmed
/// to the new packet.
///
/// Errors, frame untouched: as [`nat64_icmp_6to4`], and [`ForwardError::NoRoom`].
pub fn nat64_icmp_4to6<F: Frame>(
    f: &mut F,
    l3: usize,
    to: ErrorAddrs<Ipv6Addr>,
) -> Result<(), ForwardError> {
    let plan = plan_icmp_4to6(f.data(), l3)?;
    grow_front(f, plan.grow)?;
    let (start, tail) = apply_icmp_4to6(f.data_mut(), l3, &plan, to)?;
    // Cannot fail: both are inside the frame.
    f.adj(start as u16);
    f.trim(tail as u16);
    Ok(())
}

/// RFC 7915 5.2: the ICMPv4 (type, code, rest of header) for an ICMPv6 error, or `None` when
/// it is dropped.
fn map_6to4(t: u8, code: u8, rest: [u8; 4]) -> Option<(u8, u8, [u8; 4])> {
    let unreach = |c| Some((icmp_type::DEST_UNREACHABLE, c, [0; 4]));
    match (t, code) {
        (icmpv6_type::DEST_UNREACHABLE, 0 | 2 | 3) => unreach(unreach_code::HOST),
        (icmpv6_type::DEST_UNREACHABLE, 1) => unreach(10), // host administratively prohibited
        (icmpv6_type::DEST_UNREACHABLE, 4) => unreach(unreach_code::PORT),
        (icmpv6_type::PACKET_TOO_BIG, _) => {
            let mtu = u32::from_be_bytes(rest).saturating_sub(20).min(0xffff) as u16;
            let [a, b] = mtu.to_be_bytes();
            Some((
                icmp_type::DEST_UNREACHABLE,
                unreach_code::FRAG_NEEDED,
                [0, 0, a, b],
            ))
        }
        (icmpv6_type::TIME_EXCEEDED, _) => Some((icmp_type::TIME_EXCEEDED, code, [0; 4])),
        (icmpv6_type::PARAMETER_PROBLEM, 0) => {
            let p = match u32::from_be_bytes(rest) {
                p @ (0 | 1) => p as u8,
                4 | 5 => 2,
                6 => 9,
                7 => 8,
                8..=23 => 12,
                24..=39 => 16,
                _ => return None,
            };
            Some((icmp_type::PARAMETER_PROBLEM, 0, [p, 0, 0, 0]))
        }
        (icmpv6_type::PARAMETER_PROBLEM, 1) => unreach(unreach_code::PROTOCOL),
        _ => None,
    }
}

/// RFC 7915 4.2: the ICMPv6 (type, code, rest of header) for an ICMPv4 error, or `None`.
fn map_4to6(t: u8, code: u8, rest: [u8; 4]) -> Option<(u8, u8, [u8; 4])> {
    let unreach = |c| Some((icmpv6_type::DEST_UNREACHABLE, c, [0; 4]));
    match (t, code) {
        (icmp_type::DEST_UNREACHABLE, 0 | 1 | 5 | 6 | 7 | 8 | 11 | 12) => unreach(0),
        (icmp_type::DEST_UNREACHABLE, 9 | 10 | 13 | 15) => unreach(1),
        (icmp_type::DEST_UNREACHABLE, 3) => unreach(4),
        (icmp_type::DEST_UNREACHABLE, 2) => Some((icmpv6_type::PARAMETER_PROBLEM, 1, [0, 0, 0, 6])),
        (icmp_type::DEST_UNREACHABLE, 4) => {
            let mtu = u32::from(u16::from_be_bytes([rest[2], rest[3]]));
            let mtu = if mtu == 0 { MIN_MTU } else { mtu + 20 };
            Some((icmpv6_type::PACKET_TOO_BIG, 0, mtu.to_be_bytes()))
        }
        (icmp_type::TIME_EXCEEDED, _) => Some((icmpv6_type::TIME_EXCEEDED, code, [0; 4])),
        (icmp_type::PARAMETER_PROBLEM, 0 | 2) => {
            let p: u32 = match rest[0] {
                p @ (0 | 1) => u32::from(p),
                2 | 3 => 4,
                8 => 7,
                9 => 6,
                12..=15 => 8,
                16..=19 => 24,
                _ => return None,
            };
            Some((icmpv6_type::PARAMETER_PROBLEM, 0, p.to_be_bytes()))
        }
        _ => None,
    }
}

/// The slice part of [`nat64_icmp_6to4`]: returns how many bytes the frame now starts later.
pub fn translate_icmp_6to4(
    frame: &mut [u8],
    l3: usize,
    to: ErrorAddrs<Ipv4Addr>,
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
    if ul.protocol != ip_proto::ICMPV6 {
        return Err(WireError::Unsupported.into());
    }
    let (src6, dst6, tc, hop) = (
        ip.src_addr(),
        ip.dst_addr(),
        ip.traffic_class(),
        ip.hop_limit(),
    );
    let m_at = l3 + ul.offset;
    let end = l3 + IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let msg = Icmpv6Packet::new_checked(&frame[m_at..end])?;
    if !msg.is_error() {
        return Err(WireError::Unsupported.into());
    }
    let mut rest = [0u8; 4];
    rest.copy_from_slice(&frame[m_at + 4..m_at + 8]);
    let (t4, code4, rest4) =
        map_6to4(msg.msg_type(), msg.code(), rest).ok_or(WireError::Unsupported)?;
    let q = QuotedIpv6::new_checked(msg.data())?;
    if !q.has_l4_header() || !matches!(q.protocol(), ip_proto::TCP | ip_proto::UDP) {
        return Err(WireError::Unsupported.into());
    }
    if !msg.verify_checksum(&src6, &dst6) {
        return Err(ForwardError::BadIcmpChecksum);
    }
    let ext = q.l4_offset() - IPV6_HEADER_LEN;
    let q_l4_len = usize::from(q.payload_len())
        .checked_sub(ext)
        .ok_or(WireError::BadLength)?;
    // Both IPv4 total lengths must exist before anything is written.
    let q_total = IPV4_HEADER_LEN + q_l4_len;
    if q_total > usize::from(u16::MAX) || end - m_at + IPV4_HEADER_LEN > usize::from(u16::MAX) {
        return Err(WireError::BadLength.into());
    }
    let (q_proto, q_hop, q_tc) = (q.protocol(), q.hop_limit(), q.traffic_class());
    let old_ph = pseudo_header_v6(&q.src_addr(), &q.dst_addr(), q_proto, q_l4_len as u32);
    let qd = to.quoted;
    let new_ph = pseudo_header_v4(qd.src, qd.dst, q_proto, q_l4_len as u16);
    let ql4 = m_at + ICMP_LEN + q.l4_offset();
    quote_ports(
        &mut frame[ql4..end],
        q_proto,
        old_ph,
        new_ph,
        qd.sport,
        qd.dport,
    );

    // The three new headers, from the back: quoted IPv4, ICMPv4, outer IPv4.
    Ipv4Repr {
        src: qd.src,
        dst: qd.dst,
        protocol: q_proto,
        ttl: q_hop,
        tos: q_tc,
        ident: 0,
        dont_frag: dont_frag_for(q_total),
        payload_len: q_l4_len as u16,
    }
    .emit(&mut frame[ql4 - IPV4_HEADER_LEN..ql4])?;
    let m4_at = ql4 - IPV4_HEADER_LEN - ICMP_LEN;
    frame[m4_at..m4_at + 4].copy_from_slice(&[t4, code4, 0, 0]);
    frame[m4_at + 4..m4_at + 8].copy_from_slice(&rest4);
    Icmpv4Packet::new_checked(&mut frame[m4_at..end])?.fill_checksum();
    let v4_at = m4_at - IPV4_HEADER_LEN;
    let total = end - v4_at;
    Ipv4Repr {
        src: to.src,
        dst: to.dst,
        protocol: ip_proto::ICMP,
        ttl: hop - 1,
        tos: tc,
        ident: 0,
        dont_frag: dont_frag_for(total),
        payload_len: (end - m4_at) as u16,
    }
    .emit(&mut frame[v4_at..m4_at])?;
    let shift = v4_at - l3;
    move_ethernet(frame, l3, shift, ether_type::IPV4);
    Ok(shift)
}

/// What [`nat64_icmp_4to6`] read and checked before growing the frame.
struct PlanIcmp4to6 {
    grow: isize,
    /// Offset of the quoted L4 bytes, and the end of the message, in the frame as it was.
    ql4: usize,
    end: usize,
    /// Bytes after the message (Ethernet padding).
    after: usize,
    t6: u8,
    code6: u8,
    rest6: [u8; 4],
    ttl: u8,
    tos: u8,
    q_proto: u8,
    q_ttl: u8,
    q_tos: u8,
    q_src: Ipv4Addr,
    q_dst: Ipv4Addr,
    q_l4_len: usize,
}

fn plan_icmp_4to6(frame: &[u8], l3: usize) -> Result<PlanIcmp4to6, ForwardError> {
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
    if ip.protocol() != ip_proto::ICMP {
        return Err(WireError::Unsupported.into());
    }
    let msg = Icmpv4Packet::new_checked(ip.payload())?;
    if !msg.is_error() {
        return Err(WireError::Unsupported.into());
    }
    let mut rest = [0u8; 4];
    rest.copy_from_slice(&ip.payload()[4..8]);
    let (t6, code6, rest6) =
        map_4to6(msg.msg_type(), msg.code(), rest).ok_or(WireError::Unsupported)?;
    let q = msg.quote()?;
    if !q.has_l4_header() || !matches!(q.protocol(), ip_proto::TCP | ip_proto::UDP) {
        return Err(WireError::Unsupported.into());
    }
    if !msg.verify_checksum() {
        return Err(ForwardError::BadIcmpChecksum);
    }
    let ihl = ip.header_len();
    let qihl = q.header_len();
    let ql4 = l3 + ihl + ICMP_LEN + qihl;
    let end = l3 + usize::from(ip.total_len());
    let q_l4_len = usize::from(q.total_len())
        .checked_sub(qihl)
        .ok_or(WireError::BadLength)?;
    Ok(PlanIcmp4to6 {
        grow: (IPV6_HEADER_LEN * 2) as isize - (ihl + qihl) as isize,
        ql4,
        end,
        after: frame.len() - end,
        t6,
        code6,
        rest6,
        ttl: ip.ttl(),
        tos: ip.tos(),
        q_proto: q.protocol(),
        q_ttl: q.ttl(),
        q_tos: q.tos(),
        q_src: q.src_addr(),
        q_dst: q.dst_addr(),
        q_l4_len,
    })
}

/// Writes the ICMPv6 error of `plan` into `frame` (grown by `plan.grow` when positive);
/// returns (where the new frame starts, bytes to trim from its end).
fn apply_icmp_4to6(
    frame: &mut [u8],
    l3: usize,
    plan: &PlanIcmp4to6,
    to: ErrorAddrs<Ipv6Addr>,
) -> Result<(usize, usize), ForwardError> {
    let old = plan.grow.max(0) as usize;
    let (ql4, end) = (old + plan.ql4, old + plan.end);
    let qd = to.quoted;
    let old_ph = pseudo_header_v4(plan.q_src, plan.q_dst, plan.q_proto, plan.q_l4_len as u16);
    let new_ph = pseudo_header_v6(&qd.src, &qd.dst, plan.q_proto, plan.q_l4_len as u32);
    quote_ports(
        &mut frame[ql4..end],
        plan.q_proto,
        old_ph,
        new_ph,
        qd.sport,
        qd.dport,
    );
    let m6_at = ql4 - IPV6_HEADER_LEN - ICMP_LEN;
    let v6_at = m6_at - IPV6_HEADER_LEN;
    let start = v6_at - l3;
    // No ICMPv6 error exceeds the minimum MTU: the quote is cut to fit.
    let new_end = end.min(v6_at + MIN_MTU as usize);
    move_ethernet_to(frame, old, l3, start, ether_type::IPV6);
    Ipv6Repr {
        src: to.src,
        dst: to.dst,
        next_header: ip_proto::ICMPV6,
        hop_limit: plan.ttl - 1,
        payload_len: (new_end - m6_at) as u16,
    }
    .emit(&mut frame[v6_at..m6_at])?;
    Ipv6Packet::new_checked(&mut frame[v6_at..new_end])?.set_traffic_class(plan.tos);
    let q_len = u16::try_from(plan.q_l4_len).map_err(|_| WireError::BadLength)?;
    Ipv6Repr {
        src: qd.src,
        dst: qd.dst,
        next_header: plan.q_proto,
        hop_limit: plan.q_ttl,
        payload_len: q_len,
    }
    .emit(&mut frame[m6_at + ICMP_LEN..ql4])?;
    set_traffic_class(&mut frame[m6_at + ICMP_LEN..], plan.q_tos);
    frame[m6_at..m6_at + 4].copy_from_slice(&[plan.t6, plan.code6, 0, 0]);
    frame[m6_at + 4..m6_at + 8].copy_from_slice(&plan.rest6);
    Icmpv6Packet::new_checked(&mut frame[m6_at..new_end])?.fill_checksum(&to.src, &to.dst);
    Ok((start, end - new_end + plan.after))
}

/// Sets the traffic class of the IPv6 header at the start of `h` (a quote: its payload
/// length is not in the buffer, so not through the checked view).
fn set_traffic_class(h: &mut [u8], tc: u8) {
    let v = u16::from_be_bytes([h[0], h[1]]) & 0xf00f | (u16::from(tc) << 4);
    h[..2].copy_from_slice(&v.to_be_bytes());
}

/// Sets the quoted TCP/UDP ports (the quote holds at least 8 L4 bytes) and, when the quote
/// holds it whole, moves the L4 checksum from pseudo-header sum `old_ph` to `new_ph`.
fn quote_ports(l4: &mut [u8], proto: u8, old_ph: u16, new_ph: u16, sport: u16, dport: u16) {
    let csum_at = if proto == ip_proto::TCP { 16 } else { 6 };
    let Some(h) = l4.get_mut(..4) else {
        return;
    };
    let old_s = u16::from_be_bytes([h[0], h[1]]);
    let old_d = u16::from_be_bytes([h[2], h[3]]);
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    let Some(c) = l4.get_mut(csum_at..csum_at + 2) else {
        return;
    };
    let old_c = u16::from_be_bytes([c[0], c[1]]);
    let fold = |x| {
        update_u16(
            update_u16(update_u16(x, old_ph, new_ph), old_s, sport),
            old_d,
            dport,
        )
    };
    let new_c = if proto == ip_proto::UDP {
        checksum::update_udp(old_c, fold)
    } else {
        fold(old_c)
    };
    c.copy_from_slice(&new_c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::super::nat64::{embed_v4, WELL_KNOWN_PREFIX};
    use super::super::test_packets::{icmp, ip_frame, tcp, udp, Ip, REAL};
    use super::super::test_packets6::*;
    use super::*;
    use crate::wire::VecFrame;

    const LB4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const ROUTER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 254);

    fn p(v4: Ipv4Addr) -> Ipv6Addr {
        embed_v4(WELL_KNOWN_PREFIX, v4)
    }

    /// An IPv4 header as 6 -> 4 writes it (ident 0, DF by length); TOS set by `with_tos`.
    fn v4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, len: usize) -> Ip {
        Ip {
            src,
            dst,
            ttl,
            ident: 0,
            dont_frag: len > 1260,
        }
    }

    fn with_tos(mut pkt: Vec<u8>, tos: u8) -> Vec<u8> {
        pkt[1] = tos;
        Ipv4Packet::new_checked(&mut pkt[..])
            .unwrap()
            .fill_checksum();
        pkt
    }

    /// The connection: IPv6 client CLIENT6:40000 -> VIP6:80, translated to LB4:61000 ->
    /// REAL:8080. An IPv4 router behind the appliance reports on a forwarded packet; the
    /// error goes to the client from the router's embedded address, quoting the client's own
    /// packet.
    #[test]
    fn an_ipv4_error_about_a_forwarded_packet_reaches_the_ipv6_client() {
        for (t, code, rest, t6, code6, rest6) in [
            (
                3u8,
                4u8,
                [0, 0, 0x05, 0x78],
                2u8,
                0u8,
                1420u32.to_be_bytes(),
            ),
            (3, 3, [0; 4], 1, 4, [0; 4]),
            (11, 0, [0; 4], 3, 0, [0; 4]),
            (3, 2, [0; 4], 4, 1, [0, 0, 0, 6]),
            (12, 0, [9, 0, 0, 0], 4, 0, [0, 0, 0, 6]),
            (3, 4, [0; 4], 2, 0, 1280u32.to_be_bytes()),
        ] {
            for quote in [28usize, 48, 2000] {
                let fwd = tcp(Ip::new(LB4, REAL).ttl(63), 61000, 8080, &[5; 1400]);
                let q = quote.min(fwd.len());
                let err = icmp(Ip::new(ROUTER4, LB4), t, code, rest, &fwd[..q]);
                let (fr, l3) = ip_frame(false, &err, 0);
                let mut f = VecFrame::new(&fr);
                let to = ErrorAddrs {
                    src: p(ROUTER4),
                    dst: CLIENT6,
                    quoted: Endpoints {
                        src: CLIENT6,
                        sport: 40000,
                        dst: VIP6,
                        dport: 80,
                    },
                };
                nat64_icmp_4to6(&mut f, l3, to).unwrap();
                let mut qip = Ip6::new(CLIENT6, VIP6).hops(63);
                qip.tc = 0x10;
                qip.flow = 0;
                let orig = tcp6(qip, 40000, 80, &[5; 1400]);
                let qlen = (q + 20).min(1280 - 48);
                let mut oip = Ip6::new(p(ROUTER4), CLIENT6).hops(63);
                oip.tc = 0x10;
                oip.flow = 0;
                let want = icmp6(oip, t6, code6, rest6, &orig[..qlen]);
                assert_eq!(&f.data()[l3..], &want[..], "type {t} code {code} quote {q}");
                assert_eq!(&f.data()[..12], &fr[..12]);
                assert_checksums6_ok(f.data(), l3);
            }
        }
    }

    /// The other way: an IPv6 router near the client reports on a reply we translated to
    /// IPv6 (VIP6:80 -> CLIENT6:40000); the error goes to the real from the appliance's IPv4
    /// address, quoting the real's own reply.
    #[test]
    fn an_ipv6_error_about_a_translated_reply_reaches_the_ipv4_real() {
        for (t6, code6, rest6, t, code, rest) in [
            (
                2u8,
                0u8,
                1400u32.to_be_bytes(),
                3u8,
                4u8,
                [0, 0, 0x05, 0x64],
            ),
            (1, 4, [0; 4], 3, 3, [0; 4]),
            (1, 1, [0; 4], 3, 10, [0; 4]),
            (3, 0, [0; 4], 11, 0, [0; 4]),
            (4, 0, 24u32.to_be_bytes(), 12, 0, [16, 0, 0, 0]),
            (4, 1, 6u32.to_be_bytes(), 3, 2, [0; 4]),
        ] {
            for quote in [48usize, 60, 1000] {
                let sent = udp6(Ip6::new(VIP6, CLIENT6).hops(63), 80, 40000, &[3; 300]);
                let q = quote.min(sent.len());
                let err = icmp6(Ip6::new(ROUTER6, VIP6), t6, code6, rest6, &sent[..q]);
                let (fr, l3) = ip6_frame(true, &err, 0);
                let mut f = VecFrame::new(&fr);
                let to = ErrorAddrs {
                    src: LB4,
                    dst: REAL,
                    quoted: Endpoints {
                        src: REAL,
                        sport: 8080,
                        dst: LB4,
                        dport: 61000,
                    },
                };
                nat64_icmp_6to4(&mut f, l3, to).unwrap();
                let was = with_tos(
                    udp(v4(REAL, LB4, 63, 328), 8080, 61000, &[3; 300], false),
                    0x28,
                );
                let want = with_tos(
                    icmp(v4(LB4, REAL, 63, 0), t, code, rest, &was[..q - 20]),
                    0x28,
                );
                assert_eq!(
                    &f.data()[l3..],
                    &want[..],
                    "type {t6} code {code6} quote {q}"
                );
                assert_eq!(&f.data()[12..14], &[0x81, 0]);
            }
        }
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let sent = udp6(Ip6::new(VIP6, CLIENT6), 80, 40000, b"x");
        let to4 = ErrorAddrs {
            src: LB4,
            dst: REAL,
            quoted: Endpoints {
                src: REAL,
                sport: 1,
                dst: LB4,
                dport: 2,
            },
        };
        let refused6 = |pkt: &[u8], want: ForwardError| {
            let (fr, l3) = ip6_frame(false, pkt, 0);
            let mut f = VecFrame::new(&fr);
            assert_eq!(nat64_icmp_6to4(&mut f, l3, to4), Err(want));
            assert_eq!(f.data(), &fr[..]);
        };
        let good = icmp6(Ip6::new(ROUTER6, VIP6), 1, 4, [0; 4], &sent);
        let mut bad = good.clone();
        bad[42] ^= 1;
        refused6(&bad, ForwardError::BadIcmpChecksum);
        refused6(
            &icmp6(Ip6::new(ROUTER6, VIP6).hops(1), 1, 4, [0; 4], &sent),
            ForwardError::TtlExpired,
        );
        let wire = ForwardError::Wire;
        for (t, code) in [(1u8, 5u8), (4, 2), (128, 0)] {
            refused6(
                &icmp6(Ip6::new(ROUTER6, VIP6), t, code, [0; 4], &sent),
                wire(WireError::Unsupported),
            );
        }
        let about_ping = icmp6(Ip6::new(VIP6, CLIENT6), 128, 0, [0; 4], b"");
        refused6(
            &icmp6(Ip6::new(ROUTER6, VIP6), 3, 0, [0; 4], &about_ping),
            wire(WireError::Unsupported),
        );

        let to6 = ErrorAddrs {
            src: VIP6,
            dst: CLIENT6,
            quoted: Endpoints {
                src: CLIENT6,
                sport: 1,
                dst: VIP6,
                dport: 2,
            },
        };
        let fwd = tcp(Ip::new(LB4, REAL), 1, 2, b"");
        let refused4 = |pkt: &[u8], headroom: usize, want: ForwardError| {
            let (fr, l3) = ip_frame(false, pkt, 0);
            let mut f = VecFrame::with_headroom(&fr, headroom);
            assert_eq!(nat64_icmp_4to6(&mut f, l3, to6), Err(want));
            assert_eq!(f.data(), &fr[..]);
        };
        let good = icmp(Ip::new(ROUTER4, LB4), 3, 3, [0; 4], &fwd[..28]);
        refused4(&good, 39, ForwardError::NoRoom);
        let mut bad = good.clone();
        bad[22] ^= 1;
        refused4(&bad, 128, ForwardError::BadIcmpChecksum);
        for (t, code) in [(3u8, 14u8), (5, 0), (12, 1), (8, 0)] {
            refused4(
                &icmp(Ip::new(ROUTER4, LB4), t, code, [0; 4], &fwd[..28]),
                128,
                wire(WireError::Unsupported),
            );
        }
        refused4(
            &icmp(Ip::new(ROUTER4, LB4).ttl(1), 3, 3, [0; 4], &fwd[..28]),
            128,
            ForwardError::TtlExpired,
        );
    }
}
