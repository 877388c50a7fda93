//! Building the TCP/IPv6 frames the generator sends to an IPv6 VIP.
//!
//! Layout: Ethernet (14) | IPv6 without extension headers (40) | TCP without options (20) |
//! payload. The smallest frame, 74 bytes (78 on the wire), has no room for a payload stamp, so an
//! IPv6 frame carries the 48-bit send stamp in the TCP header: the acknowledgement number (its
//! high 32 bits) and the urgent pointer (the low 16; URG is never set). No rewrite the appliance
//! does touches either. The sequence number carries the flow number, as in IPv4; the payload is
//! zero.

use crate::frame::{Target, ETH};
use dataplane::wire::{checksum, ether_type};
use std::net::Ipv6Addr;

pub const IP6: usize = ETH;
pub const TCP6: usize = ETH + 40;
/// The shortest IPv6 frame: headers only (78 bytes on the wire with the FCS).
pub const MIN_FRAME6: usize = TCP6 + 20;
pub const HOP_LIMIT: u8 = 64;

/// Writes a whole IPv6 frame of `buf.len()` bytes (at least `MIN_FRAME6`) from client flow
/// `flow` to `vip` (the target's port and MACs), with TCP `flags` and the 48-bit `stamp`.
/// Returns false (writing nothing) when `buf` is too short or too long for a frame.
pub fn write_tcp6(
    buf: &mut [u8],
    t: &Target,
    vip: Ipv6Addr,
    flow: u32,
    flags: u8,
    stamp: u64,
) -> bool {
    if buf.len() < MIN_FRAME6 || buf.len() > 1514 {
        return false;
    }
    let (src, sport) = crate::flows::client6(flow);
    buf[0..6].copy_from_slice(&t.dst_mac);
    buf[6..12].copy_from_slice(&t.src_mac);
    buf[12..14].copy_from_slice(&ether_type::IPV6.to_be_bytes());

    let payload_len = (buf.len() - TCP6) as u16;
    let ip = &mut buf[IP6..TCP6];
    ip[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
    ip[4..6].copy_from_slice(&payload_len.to_be_bytes());
    ip[6] = 6;
    ip[7] = HOP_LIMIT;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&vip.octets());

    let s = stamp.to_be_bytes();
    let tcp = &mut buf[TCP6..];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&t.vport.to_be_bytes());
    tcp[4..8].copy_from_slice(&flow.to_be_bytes());
    tcp[8..12].copy_from_slice(&s[2..6]);
    tcp[12] = 0x50;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    tcp[16..18].fill(0);
    tcp[18..20].copy_from_slice(&s[6..8]);
    tcp[20..].fill(0);
    let sum = u64::from(checksum::pseudo_header_v6(
        &src,
        &vip,
        6,
        u32::from(payload_len),
    )) + checksum::sum_wide(&tcp[..20]);
    let c = !checksum::fold(sum);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    true
}

/// The 48-bit stamp of a TCP header written by `write_tcp6` (None when too short).
#[inline]
pub fn stamp6(tcp: &[u8]) -> Option<u64> {
    let h = tcp.get(..20)?;
    let mut b = [0u8; 8];
    b[2..6].copy_from_slice(&h[8..12]);
    b[6..8].copy_from_slice(&h[18..20]);
    Some(u64::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{write_tcp, ACK_PSH, SYN};
    use dataplane::wire::checksum::l4_checksum_v6;

    pub(crate) fn target6() -> Target {
        Target {
            src_mac: [2, 0, 0, 0, 1, 1],
            dst_mac: [2, 0, 0, 0, 0, 1],
            vip: "2001:2::100".parse::<Ipv6Addr>().unwrap().into(),
            vport: 80,
        }
    }

    #[test]
    fn builds_valid_ipv6_frames() {
        let vip: Ipv6Addr = "2001:2::100".parse().unwrap();
        assert_eq!(target6().min_frame(), 74);
        for len in [74, 75, 566, 1514] {
            let mut buf = vec![0xaa; len];
            assert!(write_tcp(
                &mut buf,
                &target6(),
                77,
                ACK_PSH,
                0x1234_5678_9abc_def0
            ));
            assert_eq!(&buf[12..14], &[0x86, 0xdd]);
            assert_eq!(buf[IP6] >> 4, 6);
            assert_eq!(
                usize::from(u16::from_be_bytes([buf[18], buf[19]])),
                len - 54
            );
            assert_eq!((buf[IP6 + 6], buf[IP6 + 7]), (6, 64));
            let (src, sport) = crate::flows::client6(77);
            assert_eq!(&buf[IP6 + 8..IP6 + 24], &src.octets());
            assert_eq!(&buf[IP6 + 24..IP6 + 40], &vip.octets());
            assert_eq!(l4_checksum_v6(&src, &vip, 6, &buf[TCP6..]), 0, "len {len}");
            assert_eq!(u16::from_be_bytes([buf[TCP6], buf[TCP6 + 1]]), sport);
            assert_eq!(&buf[TCP6 + 4..TCP6 + 8], &77u32.to_be_bytes());
            assert_eq!(stamp6(&buf[TCP6..]), Some(0x5678_9abc_def0));
            assert!(buf[TCP6 + 20..].iter().all(|&b| b == 0));
        }
        let mut syn = vec![0; 74];
        assert!(write_tcp(&mut syn, &target6(), 1, SYN, 5));
        assert_eq!(syn[TCP6 + 13], SYN);
    }

    #[test]
    fn refuses_bad_lengths() {
        let mut short = [0u8; 73];
        assert!(!write_tcp(&mut short, &target6(), 1, SYN, 0));
        assert!(short.iter().all(|&b| b == 0));
        let mut long = vec![0u8; 1515];
        assert!(!write_tcp(&mut long, &target6(), 1, SYN, 0));
    }
}
