//! NAT64 of fragments without reassembly (RFC 7915 4.1 and 5.1.1), as `frag.rs` and
//! `frag6.rs` do for NAT and NAT66: the engine decides on the first fragment and applies the
//! decision to the later ones by their datagram's key. An IPv6 Fragment header becomes the
//! IPv4 identification (its low 16 bits), MF and offset, DF clear; an IPv4 fragment gains a
//! Fragment header carrying its identification, offset and MF.
//!
//! Only the first fragment carries the TCP/UDP header: its ports and checksum change. The
//! checksum covers the whole datagram, whose length a fragment does not tell; the length is the
//! same in both pseudo-headers, so it cancels out of the update, which uses both sums without
//! it. A first fragment of a UDP datagram without a checksum cannot get one (the other
//! fragments are not here) and ICMP echo, whose checksum changes by the length, is not
//! fragmented in practice: both are refused.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::nat64::{grow_front, move_ethernet, move_ethernet_to, ports_and_checksum, Endpoints};
use super::ForwardError;
use crate::wire::checksum::{pseudo_header_v4, pseudo_header_v6};
use crate::wire::ethernet::{ether_type, HEADER_LEN as ETH_HEADER_LEN};
use crate::wire::ip_proto;
use crate::wire::ipv4::HEADER_LEN as IPV4_HEADER_LEN;
use crate::wire::ipv6::HEADER_LEN as IPV6_HEADER_LEN;
use crate::wire::{Frame, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, WireError};

/// Length of the IPv6 Fragment header.
const FRAG_HDR_LEN: usize = 8;

/// One fragment of an IPv6 TCP/UDP datagram becomes the IPv4 fragment between `to`'s
/// addresses (and, in the first fragment, ports): identification the low 16 bits of the
/// Fragment header's, MF and offset copied, DF clear, TTL the hop limit less one. The frame
/// shrinks (`adj`).
///
/// Errors, frame untouched: [`ForwardError::TtlExpired`]; `Wire(Unsupported)` for a packet
/// without a Fragment header (use `nat64_6to4`) or of another protocol; `Wire(Truncated)` for a
/// first fragment too short for its L4 checksum; the views' errors.
pub fn nat64_6to4_fragment<F: Frame>(
    f: &mut F,
    l3: usize,
    to: Endpoints<Ipv4Addr>,
) -> Result<(), ForwardError> {
    let shift = translate_6to4_fragment(f.data_mut(), l3, to)?;
    // Cannot fail: the shift is less than the IPv6 headers' length.
    f.adj(shift as u16);
    Ok(())
}

fn translate_6to4_fragment(
    frame: &mut [u8],
    l3: usize,
    to: Endpoints<Ipv4Addr>,
) -> Result<usize, ForwardError> {
    if l3 < ETH_HEADER_LEN {
        return Err(WireError::Truncated.into());
    }
    let ip = Ipv6Packet::new_checked(frame.get(l3..).ok_or(WireError::Truncated)?)?;
    let ul = ip.upper_layer()?;
    let frag = ul.fragment.ok_or(WireError::Unsupported)?;
    if ip.hop_limit() <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    if ul.segments_left != 0 {
        return Err(WireError::Unsupported.into());
    }
    let proto = ul.protocol;
    if !matches!(proto, ip_proto::TCP | ip_proto::UDP) {
        return Err(WireError::Unsupported.into());
    }
    let (src6, dst6, tc, hop) = (
        ip.src_addr(),
        ip.dst_addr(),
        ip.traffic_class(),
        ip.hop_limit(),
    );
    let l4_at = l3 + ul.offset;
    let end = l3 + IPV6_HEADER_LEN + usize::from(ip.payload_len());
    if IPV4_HEADER_LEN + end - l4_at > usize::from(u16::MAX) {
        return Err(WireError::BadLength.into());
    }
    if frag.offset == 0 {
        let old_ph = pseudo_header_v6(&src6, &dst6, proto, 0);
        let new_ph = pseudo_header_v4(to.src, to.dst, proto, 0);
        let l4 = &mut frame[l4_at..end];
        ports_and_checksum(l4, proto, old_ph, new_ph, to.sport, to.dport)?;
    }
    let v4_at = l4_at - IPV4_HEADER_LEN;
    Ipv4Repr {
        src: to.src,
        dst: to.dst,
        protocol: proto,
        ttl: hop - 1,
        tos: tc,
        ident: frag.ident as u16,
        dont_frag: false,
        payload_len: (end - l4_at) as u16,
    }
    .emit(&mut frame[v4_at..l4_at])?;
    let flags = (u16::from(frag.more) << 13) | (frag.offset >> 3);
    frame[v4_at + 6..v4_at + 8].copy_from_slice(&flags.to_be_bytes());
    Ipv4Packet::new_checked(&mut frame[v4_at..end])?.fill_checksum();
    let shift = v4_at - l3;
    move_ethernet(frame, l3, shift, ether_type::IPV4);
    Ok(shift)
}

/// One fragment of an IPv4 TCP/UDP datagram becomes an IPv6 packet with a Fragment header
/// (identification zero-extended, offset and M copied) between `to`'s addresses (and, in the
/// first fragment, ports); traffic class the TOS, hop limit the TTL less one. The frame grows
/// by 28 bytes less any IPv4 options (`prepend`).
///
/// Errors, frame untouched: [`ForwardError::TtlExpired`], [`ForwardError::NoRoom`];
/// `Wire(Unsupported)` for a packet that is not a fragment, of another protocol, or a first
/// fragment of UDP without a checksum; `Wire(Truncated)` for a first fragment too short for
/// its L4 checksum.
pub fn nat64_4to6_fragment<F: Frame>(
    f: &mut F,
    l3: usize,
    to: Endpoints<Ipv6Addr>,
) -> Result<(), ForwardError> {
    if l3 < ETH_HEADER_LEN {
        return Err(WireError::Truncated.into());
    }
    let ip = Ipv4Packet::new_checked(f.data().get(l3..).ok_or(WireError::Truncated)?)?;
    if !ip.is_fragment() {
        return Err(WireError::Unsupported.into());
    }
    if ip.ttl() <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    let proto = ip.protocol();
    let csum_end = match proto {
        ip_proto::TCP => 18,
        ip_proto::UDP => 8,
        _ => return Err(WireError::Unsupported.into()),
    };
    let first = ip.frag_offset() == 0;
    if first {
        let l4 = ip.payload().get(..csum_end).ok_or(WireError::Truncated)?;
        if proto == ip_proto::UDP && l4[6..8] == [0, 0] {
            return Err(WireError::Unsupported.into());
        }
    }
    let (ihl, l4_len, ident) = (ip.header_len(), ip.payload().len(), ip.ident());
    let (src4, dst4, tos, ttl) = (ip.src_addr(), ip.dst_addr(), ip.tos(), ip.ttl());
    let frag_word = ip.frag_offset() | u16::from(ip.more_frags());
    let grow = (IPV6_HEADER_LEN + FRAG_HDR_LEN) as isize - ihl as isize;
    grow_front(f, grow)?;
    let frame = f.data_mut();
    let old = grow.max(0) as usize;
    let l4_at = old + l3 + ihl;
    if first {
        let old_ph = pseudo_header_v4(src4, dst4, proto, 0);
        let new_ph = pseudo_header_v6(&to.src, &to.dst, proto, 0);
        let l4 = &mut frame[l4_at..l4_at + l4_len];
        ports_and_checksum(l4, proto, old_ph, new_ph, to.sport, to.dport)?;
    }
    let fh_at = l4_at - FRAG_HDR_LEN;
    let v6_at = fh_at - IPV6_HEADER_LEN;
    let start = v6_at - l3;
    move_ethernet_to(frame, old, l3, start, ether_type::IPV6);
    Ipv6Repr {
        src: to.src,
        dst: to.dst,
        next_header: ip_proto::IPV6_FRAGMENT,
        hop_limit: ttl - 1,
        payload_len: (FRAG_HDR_LEN + l4_len) as u16,
    }
    .emit(&mut frame[v6_at..fh_at])?;
    let fh = &mut frame[fh_at..l4_at];
    fh[..2].copy_from_slice(&[proto, 0]);
    fh[2..4].copy_from_slice(&frag_word.to_be_bytes());
    fh[4..8].copy_from_slice(&u32::from(ident).to_be_bytes());
    Ipv6Packet::new_checked(&mut frame[v6_at..])?.set_traffic_class(tos);
    // Cannot fail: `start` is inside the frame.
    f.adj(start as u16);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::{ip_frame, tcp, udp, Ip, REAL};
    use super::super::test_packets6::*;
    use super::*;
    use crate::wire::VecFrame;

    const LB4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    /// IPv6 fragments of `packet` (no extension headers), `chunk` payload bytes each.
    fn fragments6(packet: &[u8], chunk: usize, ident: u32) -> Vec<Vec<u8>> {
        let nh = packet[6];
        let payload = &packet[40..];
        (0..payload.len())
            .step_by(chunk)
            .map(|off| {
                let end = (off + chunk).min(payload.len());
                let mut f = packet[..40].to_vec();
                f[6] = ip_proto::IPV6_FRAGMENT;
                f[4..6].copy_from_slice(&((8 + end - off) as u16).to_be_bytes());
                f.extend([nh, 0]);
                f.extend((off as u16 | u16::from(end < payload.len())).to_be_bytes());
                f.extend(ident.to_be_bytes());
                f.extend_from_slice(&payload[off..end]);
                f
            })
            .collect()
    }

    /// IPv4 fragments of `packet` (no options), `chunk` payload bytes each.
    fn fragments4(packet: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let payload = &packet[20..];
        (0..payload.len())
            .step_by(chunk)
            .map(|off| {
                let end = (off + chunk).min(payload.len());
                let mut f = packet[..20].to_vec();
                f.extend_from_slice(&payload[off..end]);
                f[2..4].copy_from_slice(&((20 + end - off) as u16).to_be_bytes());
                let mf = if end < payload.len() { 0x2000 } else { 0 };
                f[6..8].copy_from_slice(&((mf | (off / 8)) as u16).to_be_bytes());
                Ipv4Packet::new_checked(&mut f[..]).unwrap().fill_checksum();
                f
            })
            .collect()
    }

    #[test]
    fn ipv6_fragments_become_ipv4_fragments_of_the_translated_datagram() {
        let payload: Vec<u8> = (0..120u8).collect();
        for is_udp in [false, true] {
            let ip6 = Ip6::new(CLIENT6, VIP6);
            let v6 = if is_udp {
                udp6(ip6, 40000, 53, &payload)
            } else {
                tcp6(ip6, 40000, 53, &payload)
            };
            let ip4 = Ip {
                src: LB4,
                dst: REAL,
                ttl: 63,
                ident: 0x0102,
                dont_frag: false,
            };
            let v4 = if is_udp {
                udp(ip4, 61000, 5353, &payload, false)
            } else {
                tcp(ip4, 61000, 5353, &payload)
            };
            let to = Endpoints {
                src: LB4,
                sport: 61000,
                dst: REAL,
                dport: 5353,
            };
            let mut l4 = Vec::new();
            for (i, fr) in fragments6(&v6, 32, 0xabcd_0102).iter().enumerate() {
                let (fr, l3) = ip6_frame(i % 2 == 0, fr, 0);
                let mut f = VecFrame::new(&fr);
                nat64_6to4_fragment(&mut f, l3, to).unwrap();
                let p = Ipv4Packet::new_checked(&f.data()[l3..]).unwrap();
                assert!(p.verify_checksum());
                assert_eq!((p.src_addr(), p.dst_addr(), p.ttl()), (LB4, REAL, 63));
                assert_eq!(
                    (p.ident(), p.dont_frag(), p.protocol()),
                    (0x0102, false, v4[9])
                );
                assert_eq!(usize::from(p.frag_offset()), l4.len());
                assert_eq!(p.more_frags(), l4.len() + p.payload().len() < v4.len() - 20);
                l4.extend_from_slice(p.payload());
            }
            assert_eq!(l4, v4[20..], "udp {is_udp}");
        }
    }

    #[test]
    fn ipv4_fragments_become_ipv6_fragments_of_the_translated_datagram() {
        let payload: Vec<u8> = (0..100u8).rev().collect();
        for is_udp in [false, true] {
            let ip4 = Ip::new(REAL, LB4);
            let v4 = if is_udp {
                udp(ip4, 5353, 61000, &payload, false)
            } else {
                tcp(ip4, 5353, 61000, &payload)
            };
            let mut want_ip = Ip6::new(VIP6, CLIENT6);
            want_ip.tc = 0x10;
            let v6 = if is_udp {
                udp6(want_ip, 53, 40000, &payload)
            } else {
                tcp6(want_ip, 53, 40000, &payload)
            };
            let to = Endpoints {
                src: VIP6,
                sport: 53,
                dst: CLIENT6,
                dport: 40000,
            };
            let mut l4 = Vec::new();
            for fr in fragments4(&v4, 24) {
                let (fr, l3) = ip_frame(true, &fr, 0);
                let mut f = VecFrame::new(&fr);
                nat64_4to6_fragment(&mut f, l3, to).unwrap();
                assert_eq!(f.data().len(), fr.len() + 28);
                let p = Ipv6Packet::new_checked(&f.data()[l3..]).unwrap();
                assert_eq!(
                    (p.src_addr(), p.dst_addr(), p.hop_limit()),
                    (VIP6, CLIENT6, 63)
                );
                assert_eq!(p.traffic_class(), 0x10);
                let ul = p.upper_layer().unwrap();
                let fh = ul.fragment.unwrap();
                assert_eq!((ul.protocol, fh.ident), (v6[6], 0x1c46));
                assert_eq!(usize::from(fh.offset), l4.len());
                l4.extend_from_slice(&p.payload()[8..]);
                assert_eq!(fh.more, l4.len() < v6.len() - 40);
            }
            assert_eq!(l4, v6[40..], "udp {is_udp}");
        }
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let to4 = Endpoints {
            src: LB4,
            sport: 1,
            dst: REAL,
            dport: 2,
        };
        let whole6 = tcp6(Ip6::new(CLIENT6, VIP6), 1, 2, b"x");
        let frags6 = fragments6(
            &icmp6(Ip6::new(CLIENT6, VIP6), 128, 0, [0; 4], &[0; 40]),
            16,
            1,
        );
        let expired = fragments6(
            &tcp6(Ip6::new(CLIENT6, VIP6).hops(1), 1, 2, &[0; 40]),
            16,
            1,
        );
        for (p, want) in [
            (whole6, ForwardError::Wire(WireError::Unsupported)),
            (
                frags6[0].clone(),
                ForwardError::Wire(WireError::Unsupported),
            ),
            (expired[1].clone(), ForwardError::TtlExpired),
        ] {
            let (fr, l3) = ip6_frame(false, &p, 0);
            let mut f = VecFrame::new(&fr);
            assert_eq!(nat64_6to4_fragment(&mut f, l3, to4), Err(want));
            assert_eq!(f.data(), &fr[..]);
        }
        let to6 = Endpoints {
            src: VIP6,
            sport: 1,
            dst: CLIENT6,
            dport: 2,
        };
        let whole4 = udp(Ip::new(REAL, LB4), 1, 2, b"x", false);
        let no_csum = fragments4(&udp(Ip::new(REAL, LB4), 1, 2, &[1; 40], true), 16);
        let frags = fragments4(&tcp(Ip::new(REAL, LB4), 1, 2, &[1; 40]), 16);
        for (p, headroom, want) in [
            (whole4, 128, ForwardError::Wire(WireError::Unsupported)),
            (
                no_csum[0].clone(),
                128,
                ForwardError::Wire(WireError::Unsupported),
            ),
            (
                frags[0].clone(),
                128,
                ForwardError::Wire(WireError::Truncated),
            ),
            (frags[1].clone(), 27, ForwardError::NoRoom),
        ] {
            let (fr, l3) = ip_frame(false, &p, 0);
            let mut f = VecFrame::with_headroom(&fr, headroom);
            assert_eq!(nat64_4to6_fragment(&mut f, l3, to6), Err(want));
            assert_eq!(f.data(), &fr[..]);
        }
        // The later fragment of UDP without a checksum is fine: nothing to compute.
        let (fr, l3) = ip_frame(false, &no_csum[1], 0);
        assert!(nat64_4to6_fragment(&mut VecFrame::new(&fr), l3, to6).is_ok());
    }
}
