//! Building the TCP/IPv4 frames the generator sends.
//!
//! Layout: Ethernet (14) | IPv4 without options (20) | TCP without options (20) | payload. The
//! TCP sequence number carries the flow number and the first 6 payload bytes the low 48 bits of
//! the TSC at send time; the rest of the payload is zero, so the TCP checksum only sums the
//! headers and the stamp.

use dataplane::wire::{checksum, ether_type, TcpFlags};
use std::net::{IpAddr, Ipv4Addr};

pub const ETH: usize = 14;
pub const IP: usize = ETH;
pub const TCP: usize = ETH + 20;
pub const PAYLOAD: usize = TCP + 20;
pub const STAMP_LEN: usize = 6;
/// The shortest frame we build: headers and the stamp (a 64-byte wire frame is 60 + FCS).
pub const MIN_FRAME: usize = PAYLOAD + STAMP_LEN;
pub const TTL: u8 = 64;

pub const SYN: u8 = TcpFlags::SYN.0;
pub const ACK_PSH: u8 = TcpFlags::ACK.0 | TcpFlags::PSH.0;

/// Where the generator's frames go: MACs of the link and the service address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// The VIP: an IPv6 one makes IPv6 frames (`frame6`).
    pub vip: IpAddr,
    pub vport: u16,
}

impl Target {
    /// The shortest frame we build for this target (IPv4: 60 bytes, 64 on the wire; IPv6: 74,
    /// 78 on the wire).
    pub fn min_frame(&self) -> usize {
        match self.vip {
            IpAddr::V4(_) => MIN_FRAME,
            IpAddr::V6(_) => crate::frame6::MIN_FRAME6,
        }
    }
}

/// Writes a whole frame of `buf.len()` bytes (at least `MIN_FRAME`) from client flow `flow` to
/// the target, with TCP `flags` and the 48-bit `stamp`. Returns false (writing nothing) when
/// `buf` is too short or too long for a frame. An IPv6 target gets an IPv6 frame
/// (`frame6::write_tcp6`).
pub fn write_tcp(buf: &mut [u8], t: &Target, flow: u32, flags: u8, stamp: u64) -> bool {
    let vip = match t.vip {
        IpAddr::V4(v) => v,
        IpAddr::V6(v) => return crate::frame6::write_tcp6(buf, t, v, flow, flags, stamp),
    };
    write_tcp4(buf, t, vip, flow, flags, stamp)
}

fn write_tcp4(buf: &mut [u8], t: &Target, vip: Ipv4Addr, flow: u32, flags: u8, stamp: u64) -> bool {
    if buf.len() < MIN_FRAME || buf.len() > 1514 {
        return false;
    }
    let (src, sport) = crate::flows::client(flow);
    buf[0..6].copy_from_slice(&t.dst_mac);
    buf[6..12].copy_from_slice(&t.src_mac);
    buf[12..14].copy_from_slice(&ether_type::IPV4.to_be_bytes());

    let ip_len = (buf.len() - ETH) as u16;
    let ip = &mut buf[IP..TCP];
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..6].copy_from_slice(&(flow as u16).to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
    ip[8] = TTL;
    ip[9] = 6;
    ip[10..12].fill(0);
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&vip.octets());
    let c = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    let tcp = &mut buf[TCP..];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&t.vport.to_be_bytes());
    tcp[4..8].copy_from_slice(&flow.to_be_bytes());
    tcp[8..12].copy_from_slice(&u32::from(flags & SYN == 0).to_be_bytes());
    tcp[12] = 0x50;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    tcp[16..20].fill(0);
    tcp[20..26].copy_from_slice(&stamp.to_be_bytes()[2..8]);
    tcp[26..].fill(0);
    let seg_len = tcp.len() as u16;
    let sum = u64::from(checksum::pseudo_header_v4(src, vip, 6, seg_len))
        + checksum::sum_wide(&tcp[..26]);
    let c = !checksum::fold(sum);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    true
}

/// The 48-bit stamp of a frame built by `write_tcp` (None when too short).
#[inline]
pub fn stamp(frame: &[u8]) -> Option<u64> {
    let s = frame.get(PAYLOAD..PAYLOAD + STAMP_LEN)?;
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(s);
    Some(u64::from_be_bytes(b))
}

/// Ticks from a 48-bit stamp to the full counter `now` (wrapping at 2^48).
#[inline]
pub fn elapsed(now: u64, stamp: u64) -> u64 {
    now.wrapping_sub(stamp) & ((1 << 48) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::wire::checksum::l4_checksum_v4;

    pub(crate) fn target() -> Target {
        Target {
            src_mac: [2, 0, 0, 0, 1, 1],
            dst_mac: [2, 0, 0, 0, 0, 1],
            vip: Ipv4Addr::new(198, 18, 0, 100).into(),
            vport: 80,
        }
    }

    #[test]
    fn builds_valid_frames() {
        for len in [60, 61, 566, 1514] {
            let mut buf = vec![0xaa; len];
            assert!(write_tcp(
                &mut buf,
                &target(),
                77,
                ACK_PSH,
                0x1234_5678_9abc_def0
            ));
            assert_eq!(
                checksum::checksum(&buf[IP..TCP]),
                0,
                "ip checksum, len {len}"
            );
            let (src, sport) = crate::flows::client(77);
            let vip = Ipv4Addr::new(198, 18, 0, 100);
            assert_eq!(
                l4_checksum_v4(src, vip, 6, &buf[TCP..]),
                0,
                "tcp checksum, len {len}"
            );
            assert_eq!(u16::from_be_bytes([buf[TCP], buf[TCP + 1]]), sport);
            assert_eq!(
                usize::from(u16::from_be_bytes([buf[16], buf[17]])),
                len - 14
            );
            assert_eq!(stamp(&buf), Some(0x5678_9abc_def0));
            assert!(buf[PAYLOAD + STAMP_LEN..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn refuses_bad_lengths() {
        let mut short = [0u8; 59];
        assert!(!write_tcp(&mut short, &target(), 1, SYN, 0));
        assert!(short.iter().all(|&b| b == 0));
        let mut long = vec![0u8; 1515];
        assert!(!write_tcp(&mut long, &target(), 1, SYN, 0));
    }

    #[test]
    fn stamp_wraps() {
        assert_eq!(elapsed(5, (1 << 48) - 5), 10);
        assert_eq!(elapsed(1 << 48 | 100, 40), 60);
    }
}
