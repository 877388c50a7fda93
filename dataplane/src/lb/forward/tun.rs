//! VS-TUN: IPv4-in-IPv4 encapsulation (RFC 2003) toward a real server that decapsulates and
//! answers the client directly. The worker prepends [`ENCAP_LEN`] bytes of headroom to the frame
//! first; the Ethernet header then moves to the front and the outer IPv4 header fills the gap,
//! so the inner packet is never copied.

use std::net::Ipv4Addr;

use crate::wire::ethernet::{HEADER_LEN as ETH_HEADER_LEN, VLAN_HEADER_LEN};
use crate::wire::ip_proto;
use crate::wire::ipv4::HEADER_LEN as IPV4_HEADER_LEN;
use crate::wire::{ether_type, Ipv4Packet, Ipv4Repr, WireError};

/// Bytes encapsulation adds: one IPv4 header without options.
pub const ENCAP_LEN: usize = IPV4_HEADER_LEN;

/// TTL of the outer header.
pub const OUTER_TTL: u8 = 64;

/// Encapsulates in place. `frame` is `[ENCAP_LEN bytes of headroom][Ethernet header, l2_len
/// bytes (14, or 18 with a VLAN tag)][inner IPv4 ...]` and becomes `[Ethernet header, EtherType
/// IPv4][outer IPv4: outer_src -> outer_dst, protocol 4, TTL 64, TOS and DF copied from the
/// inner header, `ident`][inner IPv4, unchanged]`; its length does not change. The Ethernet
/// addresses are the caller's (next hop toward `outer_dst`).
///
/// Errors (frame untouched): `Unsupported` for another `l2_len`, the inner header's own errors
/// (`Truncated`, `BadVersion`, ...), `BadLength` when the result would exceed 65535 bytes.
pub fn encapsulate(
    frame: &mut [u8],
    l2_len: usize,
    outer_src: Ipv4Addr,
    outer_dst: Ipv4Addr,
    ident: u16,
) -> Result<(), WireError> {
    if l2_len != ETH_HEADER_LEN && l2_len != VLAN_HEADER_LEN {
        return Err(WireError::Unsupported);
    }
    let inner_at = ENCAP_LEN + l2_len;
    let inner = Ipv4Packet::new_checked(frame.get(inner_at..).ok_or(WireError::Truncated)?)?;
    let outer = Ipv4Repr {
        src: outer_src,
        dst: outer_dst,
        protocol: ip_proto::IPIP,
        ttl: OUTER_TTL,
        // DSCP and ECN carried over (uniform model, RFC 2983; normal ECN mode, RFC 6040).
        tos: inner.tos(),
        ident,
        // DF copied, so path MTU discovery keeps working end to end.
        dont_frag: inner.dont_frag(),
        payload_len: inner.total_len(),
    };
    if tun_len(outer.payload_len) > usize::from(u16::MAX) {
        return Err(WireError::BadLength);
    }
    frame.copy_within(ENCAP_LEN..inner_at, 0);
    frame[l2_len - 2..l2_len].copy_from_slice(&ether_type::IPV4.to_be_bytes());
    outer.emit(&mut frame[l2_len..inner_at])?;
    Ok(())
}

/// True when an inner IPv4 packet of `inner_ip_len` bytes still fits `mtu` once encapsulated;
/// otherwise a DF packet gets "fragmentation needed" with `mtu - 20`.
pub fn tun_fits(inner_ip_len: u16, mtu: u16) -> bool {
    tun_len(inner_ip_len) <= usize::from(mtu)
}

fn tun_len(inner_ip_len: u16) -> usize {
    usize::from(inner_ip_len) + ENCAP_LEN
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::*;
    use super::*;

    const TUN_SRC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    /// `[20 bytes headroom][Ethernet][inner]` as the worker hands it over.
    fn with_headroom(vlan: bool, inner: &[u8], pad: usize) -> (Vec<u8>, usize) {
        let (f, l2) = ip_frame(vlan, inner, pad);
        let mut b = vec![0x99u8; ENCAP_LEN];
        b.extend_from_slice(&f);
        (b, l2)
    }

    #[test]
    fn encapsulates_in_place() {
        for (vlan, df) in [(false, true), (true, false)] {
            let mut ip = Ip::new(CLIENT, VIP);
            ip.dont_frag = df;
            let inner = tcp(ip, 40000, 80, b"GET /");
            let (mut f, l2) = with_headroom(vlan, &inner, 3);
            let eth_before = eth_of(&f[ENCAP_LEN..]);
            let len = f.len();
            encapsulate(&mut f, l2, TUN_SRC, REAL, 0x4242).unwrap();
            assert_eq!(f.len(), len);
            assert_eq!(eth_of(&f), eth_before, "Ethernet header moved to the front");
            let outer = Ipv4Packet::new_checked(&f[l2..]).unwrap();
            assert!(outer.verify_checksum());
            assert_eq!(
                Ipv4Repr::parse(&outer),
                Ipv4Repr {
                    src: TUN_SRC,
                    dst: REAL,
                    protocol: ip_proto::IPIP,
                    ttl: 64,
                    tos: 0x10,
                    ident: 0x4242,
                    dont_frag: df,
                    payload_len: inner.len() as u16,
                }
            );
            assert_eq!(outer.payload(), &inner[..], "inner unchanged");
            assert_eq!(&f[l2 + 20 + inner.len()..], &[0xee; 3], "padding stays");
            assert_checksums_ok(&f[l2 + 20 - 14..], 14);
        }
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let inner = udp(Ip::new(CLIENT, VIP), 1, 2, b"x", false);
        let (mut f, l2) = with_headroom(false, &inner, 0);
        let orig = f.clone();
        for bad_l2 in [0, 13, 15, 17, 19] {
            assert_eq!(
                encapsulate(&mut f, bad_l2, TUN_SRC, REAL, 1),
                Err(WireError::Unsupported)
            );
        }
        // The VLAN length over an untagged frame puts the "inner" header 4 bytes too far.
        assert!(encapsulate(&mut f, 18, TUN_SRC, REAL, 1).is_err());
        let n = f.len();
        assert_eq!(
            encapsulate(&mut f[..n - 1], l2, TUN_SRC, REAL, 1),
            Err(WireError::Truncated)
        );
        assert_eq!(
            encapsulate(&mut f[..30], l2, TUN_SRC, REAL, 1),
            Err(WireError::Truncated)
        );
        assert_eq!(f, orig);

        let mut huge = vec![0u8; 65535];
        Ipv4Repr {
            src: CLIENT,
            dst: VIP,
            protocol: 17,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: true,
            payload_len: 65535 - 20,
        }
        .emit(&mut huge)
        .unwrap();
        let (mut f, l2) = with_headroom(false, &huge, 0);
        assert_eq!(
            encapsulate(&mut f, l2, TUN_SRC, REAL, 1),
            Err(WireError::BadLength)
        );
    }

    #[test]
    fn fits() {
        assert!(tun_fits(1480, 1500));
        assert!(!tun_fits(1481, 1500));
        assert!(!tun_fits(u16::MAX, u16::MAX));
        assert!(tun_fits(0, 20));
        assert!(!tun_fits(0, 19));
    }
}
