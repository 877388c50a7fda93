//! VS-NAT of IPv4 fragments, without reassembly. Only the first fragment (offset 0) carries the
//! TCP/UDP header: its port is rewritten and the address and port change folded into the L4
//! checksum, which stays right because the checksum covers the whole datagram and an RFC 1624
//! update is plain arithmetic on it. Later fragments only get their address rewritten. The
//! rewrite itself is `nat::rewrite`, shared with unfragmented packets.

use std::net::Ipv4Addr;

use super::nat::{rewrite, Fragments, Side};
use super::ForwardError;

/// One fragment of client -> VIP:vport becomes client -> `real` (and, in the first fragment,
/// `:rport`). TTL decremented, checksums updated incrementally.
///
/// Errors, with the frame untouched: [`ForwardError::TtlExpired`] for TTL 0 or 1,
/// [`ForwardError::Wire`] when the IPv4 header does not parse, the protocol is neither TCP nor
/// UDP, or a first fragment is too short for its TCP (20 bytes) or UDP (8 bytes) header.
pub fn nat_in_fragment(
    frame: &mut [u8],
    l3: usize,
    real: Ipv4Addr,
    rport: u16,
) -> Result<(), ForwardError> {
    rewrite(frame, l3, Side::Dst, real, rport, Fragments::Allow)
}

/// One fragment of a reply real:rport -> client becomes `vip` (and, in the first fragment,
/// `:vport`) -> client. Errors as for [`nat_in_fragment`].
pub fn nat_out_fragment(
    frame: &mut [u8],
    l3: usize,
    vip: Ipv4Addr,
    vport: u16,
) -> Result<(), ForwardError> {
    rewrite(frame, l3, Side::Src, vip, vport, Fragments::Allow)
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::*;
    use super::*;
    use crate::wire::checksum;
    use crate::wire::{Ipv4Packet, WireError};

    /// Splits an IPv4 packet (no options) into fragments carrying `chunk` payload bytes each
    /// (a multiple of 8), with MF and offsets set and header checksums filled.
    fn fragments(packet: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let payload = &packet[20..];
        let mut out = Vec::new();
        let mut off = 0;
        while off < payload.len() {
            let end = (off + chunk).min(payload.len());
            let mut f = packet[..20].to_vec();
            f.extend_from_slice(&payload[off..end]);
            f[2..4].copy_from_slice(&((20 + end - off) as u16).to_be_bytes());
            let mf = if end < payload.len() { 0x2000 } else { 0 };
            f[6..8].copy_from_slice(&((mf | (off / 8)) as u16).to_be_bytes());
            Ipv4Packet::new_checked(&mut f[..]).unwrap().fill_checksum();
            out.push(f);
            off = end;
        }
        out
    }

    /// Puts the fragments' payloads back together (the test's own reassembly).
    fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
        let mut l4 = Vec::new();
        for f in frags {
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert_eq!(usize::from(p.frag_offset()), l4.len());
            l4.extend_from_slice(p.payload());
        }
        l4
    }

    fn nat_fragments(
        packet: Vec<u8>,
        side_in: bool,
        addr: Ipv4Addr,
        port: u16,
        vlan: bool,
    ) -> Vec<Vec<u8>> {
        fragments(&packet, 24)
            .into_iter()
            .map(|f| {
                let (mut fr, l3) = ip_frame(vlan, &f, 3);
                if side_in {
                    nat_in_fragment(&mut fr, l3, addr, port).unwrap();
                } else {
                    nat_out_fragment(&mut fr, l3, addr, port).unwrap();
                }
                let ip = Ipv4Packet::new_checked(&fr[l3..]).unwrap();
                assert!(ip.verify_checksum());
                assert_eq!(ip.ttl(), 63);
                fr[l3..l3 + usize::from(ip.total_len())].to_vec()
            })
            .collect()
    }

    #[test]
    fn nat_in_fragments_reassemble_to_the_packet_built_for_the_real() {
        let payload: Vec<u8> = (0..100u8).collect();
        for vlan in [false, true] {
            for no_csum in [false, true] {
                let before = udp(Ip::new(CLIENT, VIP), 40000, 53, &payload, no_csum);
                let out = nat_fragments(before, true, REAL, 5353, vlan);
                assert!(out.len() >= 4);
                for f in &out {
                    assert_eq!(Ipv4Packet::new_checked(&f[..]).unwrap().dst_addr(), REAL);
                }
                let want = udp(
                    Ip::new(CLIENT, REAL).ttl(63),
                    40000,
                    5353,
                    &payload,
                    no_csum,
                );
                assert_eq!(reassemble(&out), want[20..]);
            }
            let before = tcp(Ip::new(CLIENT, VIP), 40000, 80, &payload);
            let out = nat_fragments(before, true, REAL, 8080, vlan);
            let want = tcp(Ip::new(CLIENT, REAL).ttl(63), 40000, 8080, &payload);
            assert_eq!(reassemble(&out), want[20..]);
        }
    }

    #[test]
    fn nat_out_fragments_reassemble_to_the_packet_built_from_the_vip() {
        let payload = [0x5au8; 77];
        let before = udp(Ip::new(REAL, CLIENT), 5353, 40000, &payload, false);
        let out = nat_fragments(before, false, VIP, 53, false);
        for f in &out {
            assert_eq!(Ipv4Packet::new_checked(&f[..]).unwrap().src_addr(), VIP);
        }
        let l4 = reassemble(&out);
        let want = udp(Ip::new(VIP, CLIENT).ttl(63), 53, 40000, &payload, false);
        assert_eq!(l4, want[20..]);
        assert_eq!(checksum::l4_checksum_v4(VIP, CLIENT, 17, &l4), 0);
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let p = udp(Ip::new(CLIENT, VIP), 1, 2, &[0; 40], false);
        let frags = fragments(&p, 16);
        // TTL 1.
        let mut f = frags[1].clone();
        f[8] = 1;
        Ipv4Packet::new_checked(&mut f[..]).unwrap().fill_checksum();
        let (mut fr, l3) = ip_frame(false, &f, 0);
        let orig = fr.clone();
        assert_eq!(
            nat_in_fragment(&mut fr, l3, REAL, 5),
            Err(ForwardError::TtlExpired)
        );
        assert_eq!(fr, orig);
        // A first fragment too short for a TCP header.
        let t = tcp(Ip::new(CLIENT, VIP), 1, 2, &[0; 40]);
        let (mut fr, l3) = ip_frame(false, &fragments(&t, 16)[0], 0);
        let orig = fr.clone();
        assert_eq!(
            nat_in_fragment(&mut fr, l3, REAL, 5),
            Err(ForwardError::Wire(WireError::Truncated))
        );
        assert_eq!(fr, orig);
        // ICMP, and l3 past the end.
        let i = icmp(Ip::new(CLIENT, VIP), 8, 0, [0; 4], &[0; 40]);
        let (mut fr, l3) = ip_frame(false, &fragments(&i, 16)[1], 0);
        assert_eq!(
            nat_out_fragment(&mut fr, l3, VIP, 5),
            Err(ForwardError::Wire(WireError::Unsupported))
        );
        let n = fr.len();
        assert!(nat_in_fragment(&mut fr, n + 1, REAL, 5).is_err());
    }
}
