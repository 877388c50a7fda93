//! IPv6 fragments (the Fragment header, RFC 8200 4.5) forwarded by their first fragment's
//! decision, without reassembly, as `frag.rs` does for IPv4: only the first fragment (offset
//! 0) carries the TCP/UDP header, so the engine decides on it, remembers the decision under
//! the datagram's [`Frag6Key`], and applies it to the later ones. NAT66 of a first fragment
//! rewrites the port and folds address and port into the L4 checksum (which covers the whole
//! datagram: RFC 1624 arithmetic stays right); later fragments only get their address.

use std::net::Ipv6Addr;

use super::nat::Side;
use super::nat66::rewrite6;
use super::ForwardError;
use crate::wire::Ipv6Facts;

/// The datagram an IPv6 fragment belongs to: source, destination and the 32-bit fragment
/// identification (RFC 8200 4.5 reassembles by exactly these; unlike IPv4 the protocol is
/// not part of it). 36 bytes; the IPv4 key is 12.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frag6Key {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub ident: u32,
}

impl Frag6Key {
    /// The key of a fragment; `None` for a packet that is not part of a fragmented datagram
    /// (no Fragment header, or an atomic fragment).
    #[inline]
    pub fn of(ip: &Ipv6Facts) -> Option<Frag6Key> {
        ip.fragment.then_some(Frag6Key {
            src: ip.src,
            dst: ip.dst,
            ident: ip.ident,
        })
    }
}

/// One fragment of client -> VIP:vport becomes client -> `real` (and, in the first fragment,
/// `:rport`). Hop limit decremented, the L4 checksum (first fragment) updated incrementally.
///
/// Errors, with the frame untouched: [`ForwardError::TtlExpired`] for hop limit 0 or 1,
/// [`ForwardError::Wire`] when the IPv6 header or its extension headers do not parse, the
/// protocol is neither TCP nor UDP, or a first fragment is too short for its TCP (20 bytes) or
/// UDP (8 bytes) header.
pub fn nat66_in_fragment(
    frame: &mut [u8],
    l3: usize,
    real: Ipv6Addr,
    rport: u16,
) -> Result<(), ForwardError> {
    rewrite6(frame, l3, Side::Dst, real, rport, true)
}

/// One fragment of a reply real:rport -> client becomes `vip` (and, in the first fragment,
/// `:vport`) -> client. Errors as for [`nat66_in_fragment`].
pub fn nat66_out_fragment(
    frame: &mut [u8],
    l3: usize,
    vip: Ipv6Addr,
    vport: u16,
) -> Result<(), ForwardError> {
    rewrite6(frame, l3, Side::Src, vip, vport, true)
}

#[cfg(test)]
mod tests {
    use super::super::test_packets6::*;
    use super::*;
    use crate::wire::checksum;
    use crate::wire::ip_proto;
    use crate::wire::parsed::parse_ipv6;
    use crate::wire::{Ipv6Packet, WireError};

    /// Splits an IPv6 packet without extension headers into fragments carrying `chunk` bytes
    /// of its payload each (a multiple of 8), behind a Fragment header with `ident`.
    fn fragments(packet: &[u8], chunk: usize, ident: u32) -> Vec<Vec<u8>> {
        let nh = packet[6];
        let payload = &packet[40..];
        let mut out = Vec::new();
        let mut off = 0;
        while off < payload.len() {
            let end = (off + chunk).min(payload.len());
            let mut f = packet[..40].to_vec();
            f[6] = ip_proto::IPV6_FRAGMENT;
            f[4..6].copy_from_slice(&((8 + end - off) as u16).to_be_bytes());
            let m = u16::from(end < payload.len());
            f.extend([nh, 0]);
            f.extend((off as u16 | m).to_be_bytes());
            f.extend(ident.to_be_bytes());
            f.extend_from_slice(&payload[off..end]);
            out.push(f);
            off = end;
        }
        out
    }

    /// The fragments' payloads back together (the test's own reassembly).
    fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
        let mut l4 = Vec::new();
        for f in frags {
            let p = Ipv6Packet::new_checked(&f[..]).unwrap();
            let ul = p.upper_layer().unwrap();
            assert_eq!(usize::from(ul.fragment.unwrap().offset), l4.len());
            l4.extend_from_slice(&p.payload()[ul.offset - 40..]);
        }
        l4
    }

    #[test]
    fn fragments_reassemble_to_the_packet_built_for_the_real() {
        let payload: Vec<u8> = (0..100u8).collect();
        for udp in [false, true] {
            let build = |ip: Ip6, s, d| {
                if udp {
                    udp6(ip, s, d, &payload)
                } else {
                    tcp6(ip, s, d, &payload)
                }
            };
            let before = build(Ip6::new(CLIENT6, VIP6), 40000, 53);
            let frags = fragments(&before, 32, 0xabcd_0001);
            assert!(frags.len() >= 4);
            let mut out = Vec::new();
            for (i, fr) in frags.iter().enumerate() {
                let (mut f, l3) = ip6_frame(i % 2 == 1, fr, 2);
                let facts = parse_ipv6(&f[l3..], l3).unwrap();
                assert_eq!(
                    Frag6Key::of(&facts),
                    Some(Frag6Key {
                        src: CLIENT6,
                        dst: VIP6,
                        ident: 0xabcd_0001
                    })
                );
                assert_eq!(facts.later, i > 0);
                nat66_in_fragment(&mut f, l3, REAL6, 5353).unwrap();
                let ip = Ipv6Packet::new_checked(&f[l3..]).unwrap();
                assert_eq!((ip.dst_addr(), ip.hop_limit()), (REAL6, 63));
                out.push(f[l3..l3 + 40 + usize::from(ip.payload_len())].to_vec());
            }
            let want = build(Ip6::new(CLIENT6, REAL6).hops(63), 40000, 5353);
            let l4 = reassemble(&out);
            assert_eq!(l4, want[40..]);
            let proto = if udp { ip_proto::UDP } else { ip_proto::TCP };
            assert_eq!(checksum::l4_checksum_v6(&CLIENT6, &REAL6, proto, &l4), 0);
        }
    }

    #[test]
    fn reply_fragments_come_from_the_vip() {
        let payload = [0x5au8; 77];
        let before = udp6(Ip6::new(REAL6, CLIENT6), 53, 40000, &payload);
        let mut out = Vec::new();
        for fr in fragments(&before, 24, 7) {
            let (mut f, l3) = ip6_frame(false, &fr, 0);
            nat66_out_fragment(&mut f, l3, VIP6, 5353).unwrap();
            out.push(f[l3..].to_vec());
        }
        let want = udp6(Ip6::new(VIP6, CLIENT6).hops(63), 5353, 40000, &payload);
        assert_eq!(reassemble(&out), want[40..]);
    }

    #[test]
    fn refusals_and_keys() {
        let p = udp6(Ip6::new(CLIENT6, VIP6).hops(1), 1, 2, &[0; 40]);
        let frags = fragments(&p, 16, 1);
        let (mut f, l3) = ip6_frame(false, &frags[1], 0);
        let orig = f.clone();
        assert_eq!(
            nat66_in_fragment(&mut f, l3, REAL6, 5),
            Err(ForwardError::TtlExpired)
        );
        assert_eq!(f, orig);
        // A first fragment too short for a TCP header.
        let t = tcp6(Ip6::new(CLIENT6, VIP6), 1, 2, &[0; 40]);
        let (mut f, l3) = ip6_frame(false, &fragments(&t, 16, 1)[0], 0);
        let orig = f.clone();
        assert_eq!(
            nat66_in_fragment(&mut f, l3, REAL6, 5),
            Err(ForwardError::Wire(WireError::Truncated))
        );
        assert_eq!(f, orig);
        // A later ICMPv6 fragment is not a NAT66 protocol.
        let i = icmp6(Ip6::new(CLIENT6, VIP6), 128, 0, [0; 4], &[0; 40]);
        let (mut f, l3) = ip6_frame(false, &fragments(&i, 16, 1)[1], 0);
        assert_eq!(
            nat66_out_fragment(&mut f, l3, VIP6, 5),
            Err(ForwardError::Wire(WireError::Unsupported))
        );
        // Not a fragment: no key.
        let whole = tcp6(Ip6::new(CLIENT6, VIP6), 1, 2, b"");
        assert_eq!(Frag6Key::of(&parse_ipv6(&whole, 14).unwrap()), None);
    }
}
