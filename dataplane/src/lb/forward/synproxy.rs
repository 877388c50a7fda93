//! The SYN proxy's packets, as pure functions over a frame's bytes: reading what a SYN or the
//! handshake's ACK says, writing the segments the proxy sends (the cookie SYN-ACK to the
//! client, the SYN and the ACK to the real), and the sequence shift between the two halves of
//! a proxied connection (client -> real: acknowledgement and SACK edges; real -> client:
//! sequence number), with incremental checksum updates.
//!
//! The segments the proxy writes have a plain 20-byte IPv4 header (TTL 64, DF, identification
//! 0: they are new packets, not forwarded ones) and full checksums; the caller sizes the frame
//! first ([`segment_len`]).

use std::net::Ipv4Addr;

use super::{ipv4_at, ForwardError};
use crate::wire::checksum::{self, update_u32};
use crate::wire::ip_proto;
use crate::wire::tcp_options::{shift_sack_blocks, syn_options_len, write_syn_options, SynOptions};
use crate::wire::{TcpFlags, TcpSegment, WireError};

/// TTL of the segments the proxy originates.
const TTL: u8 = 64;

/// What the proxy reads of a client's SYN or ACK (or a real's SYN-ACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegFacts {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: SynOptions,
    /// Bytes of data the segment carries.
    pub payload_len: usize,
}

/// Reads the TCP segment of the IPv4 packet at `l3`. Options that do not parse make the
/// whole segment malformed.
pub fn read(frame: &mut [u8], l3: usize) -> Result<SegFacts, ForwardError> {
    let ip = ipv4_at(frame, l3)?;
    if ip.protocol() != ip_proto::TCP || ip.is_fragment() {
        return Err(WireError::Unsupported.into());
    }
    let tcp = TcpSegment::new_checked(ip.payload())?;
    Ok(SegFacts {
        seq: tcp.seq_number(),
        ack: tcp.ack_number(),
        flags: tcp.flags().0,
        window: tcp.window(),
        options: SynOptions::parse(tcp.options_bytes())?,
        payload_len: tcp.payload().len(),
    })
}

/// A segment the proxy sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// (MSS, SACK-permitted) for a SYN or SYN-ACK; `None`: no options.
    pub options: Option<(u16, bool)>,
}

impl Segment {
    fn tcp_len(&self) -> usize {
        20 + self.options.map_or(0, |(_, sack)| syn_options_len(sack))
    }
}

/// The frame length of `seg` written at `l3`.
pub fn segment_len(l3: usize, seg: &Segment) -> usize {
    l3 + 20 + seg.tcp_len()
}

/// Writes `seg` at `l3` (IPv4 + TCP, checksums computed); `frame` must be at least
/// [`segment_len`] long. The Ethernet header is left to the caller. Returns the frame length.
pub fn write(frame: &mut [u8], l3: usize, seg: &Segment) -> Result<usize, WireError> {
    let len = segment_len(l3, seg);
    let tcp_len = seg.tcp_len();
    let b = frame.get_mut(l3..len).ok_or(WireError::Truncated)?;
    let (ip, tcp) = b.split_at_mut(20);
    ip.fill(0);
    ip[0] = 0x45;
    ip[6] = 0x40; // DF
    ip[8] = TTL;
    ip[9] = ip_proto::TCP;
    ip[12..16].copy_from_slice(&seg.src.octets());
    ip[16..20].copy_from_slice(&seg.dst.octets());
    ip[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    let c = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    tcp[0..2].copy_from_slice(&seg.sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&seg.dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seg.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&seg.ack.to_be_bytes());
    tcp[12] = ((tcp_len / 4) as u8) << 4;
    tcp[13] = seg.flags.0;
    tcp[14..16].copy_from_slice(&seg.window.to_be_bytes());
    tcp[16..20].fill(0);
    if let Some((mss, sack)) = seg.options {
        write_syn_options(&mut tcp[20..], mss, sack).ok_or(WireError::Truncated)?;
    }
    let c = checksum::l4_checksum_v4(seg.src, seg.dst, ip_proto::TCP, tcp);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    Ok(len)
}

/// The TCP segment of an unfragmented IPv4 packet at `l3`, for an in-place edit.
fn tcp_at(frame: &mut [u8], l3: usize) -> Result<&mut [u8], ForwardError> {
    let ip = ipv4_at(frame, l3)?;
    if ip.protocol() != ip_proto::TCP {
        return Err(WireError::Unsupported.into());
    }
    if ip.is_fragment() {
        return Err(ForwardError::Fragment);
    }
    let (hl, total) = (ip.header_len(), usize::from(ip.total_len()));
    let l4 = frame
        .get_mut(l3 + hl..l3 + total)
        .ok_or(WireError::Truncated)?;
    Ok(TcpSegment::new_checked(l4)?.into_inner())
}

/// Client -> real of a proxied connection: the acknowledgement (when ACK is set) and every
/// SACK edge lose `delta`. Checked before any byte changes.
pub fn shift_in(frame: &mut [u8], l3: usize, delta: u32) -> Result<(), ForwardError> {
    let seg = tcp_at(frame, l3)?;
    let hl = usize::from(seg[12] >> 4) * 4;
    let csum = u16::from_be_bytes([seg[16], seg[17]]);
    // The options are validated (and shifted) first: a malformed area leaves the frame as is.
    let (csum, _) = shift_sack_blocks(&mut seg[20..hl], 20, delta, csum)?;
    let mut csum = csum;
    if seg[13] & TcpFlags::ACK.0 != 0 {
        let old = u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]);
        let new = old.wrapping_sub(delta);
        seg[8..12].copy_from_slice(&new.to_be_bytes());
        csum = update_u32(csum, old, new);
    }
    seg[16..18].copy_from_slice(&csum.to_be_bytes());
    Ok(())
}

/// Real -> client of a proxied connection: the sequence number gains `delta`.
pub fn shift_out(frame: &mut [u8], l3: usize, delta: u32) -> Result<(), ForwardError> {
    let mut tcp = TcpSegment::new_checked(tcp_at(frame, l3)?)?;
    let old = tcp.seq_number();
    set_seq(&mut tcp, old.wrapping_add(delta));
    Ok(())
}

/// Sets the sequence number (a real's reset while the proxy opens: it must fall in the
/// client's window, which starts at the cookie + 1).
pub fn set_seq_number(frame: &mut [u8], l3: usize, seq: u32) -> Result<(), ForwardError> {
    let mut tcp = TcpSegment::new_checked(tcp_at(frame, l3)?)?;
    set_seq(&mut tcp, seq);
    Ok(())
}

fn set_seq(tcp: &mut TcpSegment<&mut [u8]>, new: u32) {
    let old = tcp.seq_number();
    tcp.set_seq_number(new);
    tcp.set_checksum(update_u32(tcp.checksum(), old, new));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::forward::test_packets::{ipv4, Ip, CLIENT, REAL, VIP};
    use crate::wire::{Ipv4Packet, TcpSegment};

    /// A TCP segment with `opts` (already padded) and `payload`.
    fn tcp(seq: u32, ack: u32, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = (((20 + opts.len()) / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&29200u16.to_be_bytes());
        t.extend_from_slice(opts);
        t.extend_from_slice(payload);
        t
    }

    /// Ethernet + IPv4 around a TCP segment, checksums filled.
    fn frame(src: Ipv4Addr, dst: Ipv4Addr, mut seg: Vec<u8>) -> Vec<u8> {
        let c = checksum::l4_checksum_v4(src, dst, 6, &seg);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(&ipv4(Ip::new(src, dst), 6, &seg));
        f
    }

    fn checks(f: &[u8]) -> (Ipv4Packet<&[u8]>, TcpSegment<&[u8]>) {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        let ip2 = Ipv4Packet::new_checked(&f[14..]).unwrap();
        let tcp = TcpSegment::new_checked(&f[14 + 20..14 + usize::from(ip.total_len())]).unwrap();
        assert!(tcp.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
        (ip2, tcp)
    }

    #[test]
    fn a_syn_is_read_with_its_options() {
        let opts = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let mut f = frame(CLIENT, VIP, tcp(1000, 0, 0x02, &opts, b""));
        let s = read(&mut f, 14).unwrap();
        assert_eq!(
            (s.seq, s.ack, s.flags, s.window, s.payload_len),
            (1000, 0, 2, 29200, 0)
        );
        assert_eq!(s.options.mss, Some(1460));
        assert_eq!(s.options.window_scale, Some(7));
        assert!(s.options.sack_permitted);
        assert_eq!(s.options.timestamps, Some((9, 0)));
        let mut bad = frame(CLIENT, VIP, tcp(1000, 0, 0x02, &[2, 3, 5, 0], b""));
        assert_eq!(
            read(&mut bad, 14),
            Err(ForwardError::Wire(WireError::Malformed))
        );
    }

    #[test]
    fn a_cookie_syn_ack_is_written_byte_for_byte() {
        let seg = Segment {
            src: VIP,
            dst: CLIENT,
            sport: 80,
            dport: 40000,
            seq: 0xdead_beef,
            ack: 1001,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 14600,
            options: Some((1460, true)),
        };
        assert_eq!(segment_len(14, &seg), 14 + 48);
        let mut f = vec![0xaau8; 14 + 48];
        assert_eq!(write(&mut f, 14, &seg), Ok(62));
        let want = frame(
            VIP,
            CLIENT,
            tcp(0xdead_beef, 1001, 0x12, &[2, 4, 5, 0xb4, 1, 1, 4, 2], b""),
        );
        // The hand-built one has TTL 64, ident 0x1c46, tos 0x10; ours ident 0 and tos 0.
        // Its ports and window are the client's; numbers, offset and flags compare.
        let (ip, t) = checks(&f);
        assert_eq!((t.src_port(), t.dst_port(), t.window()), (80, 40000, 14600));
        assert_eq!(
            (ip.ttl(), ip.ident(), ip.dont_frag(), ip.total_len()),
            (64, 0, true, 48)
        );
        assert_eq!((ip.src_addr(), ip.dst_addr()), (VIP, CLIENT));
        assert_eq!(t.as_bytes()[4..14], want[38..48]);
        assert_eq!(t.options_bytes(), &[2, 4, 5, 0xb4, 1, 1, 4, 2]);
        assert_eq!(write(&mut [0u8; 61], 14, &seg), Err(WireError::Truncated));
        // Without SACK and without options.
        let no_sack = Segment {
            options: Some((536, false)),
            ..seg
        };
        assert_eq!(segment_len(14, &no_sack), 58);
        let ack = Segment {
            options: None,
            flags: TcpFlags::ACK,
            ..seg
        };
        let mut f = vec![0u8; 54];
        assert_eq!(write(&mut f, 14, &ack), Ok(54));
        let (_, t) = checks(&f);
        assert_eq!(t.header_len(), 20);
        assert_eq!(t.flags(), TcpFlags::ACK);
    }

    #[test]
    fn the_shift_moves_acks_sack_edges_and_seqs() {
        // Client -> real: ACK 5000 with SACK [6000, 7000), data "hi"; delta 0x1000_0000.
        let mut opts = vec![1, 1, 5, 10];
        opts.extend_from_slice(&6000u32.to_be_bytes());
        opts.extend_from_slice(&7000u32.to_be_bytes());
        let mut f = frame(CLIENT, VIP, tcp(77, 5000, 0x18, &opts, b"hi"));
        shift_in(&mut f, 14, 0x1000_0000).unwrap();
        let (_, t) = checks(&f);
        assert_eq!(t.ack_number(), 5000u32.wrapping_sub(0x1000_0000));
        assert_eq!(t.seq_number(), 77);
        assert_eq!(
            &t.options_bytes()[4..8],
            &6000u32.wrapping_sub(0x1000_0000).to_be_bytes()
        );
        assert_eq!(
            &t.options_bytes()[8..12],
            &7000u32.wrapping_sub(0x1000_0000).to_be_bytes()
        );
        assert_eq!(t.payload(), b"hi");
        // No ACK flag: the acknowledgement field is not a number, left alone.
        let mut f = frame(CLIENT, VIP, tcp(77, 5000, 0x02, &[], b""));
        shift_in(&mut f, 14, 9).unwrap();
        assert_eq!(checks(&f).1.ack_number(), 5000);
        // Real -> client: the sequence number gains the shift, wrapping.
        let mut f = frame(REAL, CLIENT, tcp(0xffff_fff0, 78, 0x18, &[], b"ok"));
        shift_out(&mut f, 14, 0x20).unwrap();
        assert_eq!(checks(&f).1.seq_number(), 0x10);
        set_seq_number(&mut f, 14, 42).unwrap();
        assert_eq!(checks(&f).1.seq_number(), 42);
        // Malformed options: refused, untouched.
        let mut f = frame(CLIENT, VIP, tcp(1, 2, 0x10, &[5, 9, 0, 0], b""));
        let before = f.clone();
        assert!(shift_in(&mut f, 14, 1).is_err());
        assert_eq!(f, before);
    }
}
