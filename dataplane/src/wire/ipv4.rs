//! IPv4 headers (RFC 791), options included.

use std::net::Ipv4Addr;

use super::bytes::{be16, set_be16};
use super::checksum;
use super::error::WireError;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet. The buffer may extend past the packet (Ethernet padding):
/// `payload()` ends at the total length, not at the end of the buffer.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks version, IHL, and that header and total length are consistent with the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = usize::from(b[0] & 0x0f) * 4;
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if b.len() < hl {
            return Err(WireError::Truncated);
        }
        let total = usize::from(be16(b, 2));
        if total < hl {
            return Err(WireError::BadLength);
        }
        if b.len() < total {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The underlying buffer (including anything past the total length).
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[0] & 0x0f) * 4
    }

    /// The whole former TOS byte (DSCP << 2 | ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    fn flags_frag(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// Part of a fragmented datagram (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// The first fragment, or an unfragmented packet: the one that carries the L4 header.
    pub fn has_l4_header(&self) -> bool {
        self.flags_frag() & FRAG_OFFSET_MASK == 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 10)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    /// Header bytes (with options); clamped to the buffer so it holds even after setters.
    pub fn header(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..self.header_len().min(b.len())]
    }

    pub fn options(&self) -> &[u8] {
        &self.header()[HEADER_LEN..]
    }

    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.header()) == 0xffff
    }

    fn payload_range(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        let start = self.header_len().min(len);
        let end = usize::from(self.total_len()).clamp(start, len);
        (start, end)
    }

    /// The bytes after the header up to the total length (not the buffer's end).
    pub fn payload(&self) -> &[u8] {
        let (s, e) = self.payload_range();
        &self.buffer.as_ref()[s..e]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[1] = tos;
    }

    pub fn set_total_len(&mut self, len: u16) {
        set_be16(self.buffer.as_mut(), 2, len);
    }

    pub fn set_ident(&mut self, id: u16) {
        set_be16(self.buffer.as_mut(), 4, id);
    }

    pub fn set_dont_frag(&mut self, df: bool) {
        let v = self.flags_frag() & !FLAG_DF | if df { FLAG_DF } else { 0 };
        set_be16(self.buffer.as_mut(), 6, v);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[8] = ttl;
    }

    pub fn set_protocol(&mut self, p: u8) {
        self.buffer.as_mut()[9] = p;
    }

    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buffer.as_mut(), 10, c);
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[12..16].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[16..20].copy_from_slice(&a.octets());
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// NAT: sets the source address and fixes the header checksum incrementally; returns the
    /// old address (the caller also fixes the L4 checksum's pseudo-header with it).
    #[inline]
    pub fn rewrite_src_addr(&mut self, new: Ipv4Addr) -> Ipv4Addr {
        let old = self.src_addr();
        self.set_src_addr(new);
        self.set_checksum(checksum::update_addr(self.checksum(), old, new));
        old
    }

    /// NAT: sets the destination address with an incremental header checksum update.
    #[inline]
    pub fn rewrite_dst_addr(&mut self, new: Ipv4Addr) -> Ipv4Addr {
        let old = self.dst_addr();
        self.set_dst_addr(new);
        self.set_checksum(checksum::update_addr(self.checksum(), old, new));
        old
    }

    /// Exchanges source and destination (answering in place); the checksum is unchanged
    /// because the sum does not depend on word order.
    pub fn swap_addrs(&mut self) {
        let (first, second) = self.buffer.as_mut()[12..20].split_at_mut(4);
        first.swap_with_slice(second);
    }

    /// Decrements the TTL with an incremental checksum update; returns false (and changes
    /// nothing) when the TTL is already 0 or 1, i.e. the packet must not be forwarded.
    #[inline]
    pub fn decrement_ttl(&mut self) -> bool {
        let ttl = self.ttl();
        if ttl <= 1 {
            return false;
        }
        // The checksum covers TTL and protocol as one word; the new word is computed, not read
        // back: reading 16 bits over the byte just stored stalls store forwarding (~13 cycles,
        // a third of a NAT rewrite).
        let old = be16(self.buffer.as_ref(), 8);
        self.set_ttl(ttl - 1);
        let new = old - 0x0100;
        self.set_checksum(checksum::update_u16(self.checksum(), old, new));
        true
    }

    /// The payload up to the total length, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (s, e) = self.payload_range();
        &mut self.buffer.as_mut()[s..e]
    }
}

/// A plain IPv4 header without options, for building packets (ICMP errors, IPIP outer headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    /// Length of what follows the header.
    pub payload_len: u16,
}

impl Ipv4Repr {
    /// Reads the fields a rebuilt header needs; options and fragment offset are dropped,
    /// the checksum is not verified (use `verify_checksum` on the view).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Ipv4Repr {
        Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            payload_len: p.payload().len() as u16,
        }
    }

    /// Writes a 20-byte header with a valid checksum at the start of `buf`. Fails when the
    /// buffer is short or header plus payload would exceed 65535 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let total = self
            .payload_len
            .checked_add(HEADER_LEN as u16)
            .ok_or(WireError::BadLength)?;
        let b = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        b[0] = 0x45;
        b[1] = self.tos;
        set_be16(b, 2, total);
        set_be16(b, 4, self.ident);
        set_be16(b, 6, if self.dont_frag { FLAG_DF } else { 0 });
        b[8] = self.ttl;
        b[9] = self.protocol;
        set_be16(b, 10, 0);
        b[12..16].copy_from_slice(&self.src.octets());
        b[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum::checksum(b);
        set_be16(b, 10, c);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ip_proto;
    use super::*;

    /// TCP SYN header 198.18.0.1 -> 203.0.113.10, id 0x1c46, DF, TTL 64, total 60, checksum
    /// 0x1c58; followed by 40 bytes of TCP and 4 bytes of Ethernet padding.
    fn syn_packet() -> Vec<u8> {
        let mut p = vec![
            0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x1c, 0x58, 0xc6, 0x12,
            0x00, 0x01, 0xcb, 0x00, 0x71, 0x0a,
        ];
        p.extend((0..40u8).map(|i| i.wrapping_mul(7)));
        p.extend([0xee; 4]);
        p
    }

    #[test]
    fn parse_fields() {
        let buf = syn_packet();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment() && p.has_l4_header());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), ip_proto::TCP);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(203, 0, 113, 10));
        assert!(p.verify_checksum(), "checksum {:#06x}", p.checksum());
        assert_eq!(p.payload().len(), 40, "padding excluded");
        assert!(p.options().is_empty());
        assert_eq!((p.dscp(), p.ecn()), (0, 0));
    }

    #[test]
    fn header_checks() {
        let buf = syn_packet();
        let check = |b: &[u8]| Ipv4Packet::new_checked(b).err();
        assert_eq!(check(&buf[..19]), Some(WireError::Truncated));
        let mut v6 = buf.clone();
        v6[0] = 0x65;
        assert_eq!(check(&v6), Some(WireError::BadVersion));
        let mut ihl4 = buf.clone();
        ihl4[0] = 0x44;
        assert_eq!(check(&ihl4), Some(WireError::BadHeaderLen));
        let mut ihl15 = buf.clone();
        ihl15[0] = 0x4f;
        assert_eq!(check(&ihl15[..40]), Some(WireError::Truncated));
        let mut short_total = buf.clone();
        short_total[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(check(&short_total), Some(WireError::BadLength));
        assert_eq!(check(&buf[..59]), Some(WireError::Truncated));
        assert!(check(&buf[..60]).is_none());
    }

    #[test]
    fn options_and_fragments() {
        // IHL 6 with a 4-byte option (NOP NOP NOP EOL), a middle fragment at offset 1480 bytes.
        let mut b = vec![
            0x46, 0x00, 0x00, 0x20, 0x00, 0x07, 0x20, 0xb9, 0x3f, 0x11, 0x00, 0x00, 0xc0, 0x00,
            0x02, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x01, 0x01, 0x01, 0x00, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.more_frags() && p.is_fragment() && !p.has_l4_header());
        assert_eq!(p.frag_offset(), 185 * 8);
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        p.set_checksum(p.checksum() ^ 1);
        assert!(!p.verify_checksum());
    }

    #[test]
    fn nat_rewrites_keep_checksum_valid() {
        let mut buf = syn_packet();
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        let old = p.rewrite_dst_addr(Ipv4Addr::new(198, 51, 100, 20));
        assert_eq!(old, Ipv4Addr::new(203, 0, 113, 10));
        assert!(p.verify_checksum());
        p.rewrite_src_addr(Ipv4Addr::new(192, 0, 2, 99));
        assert!(p.verify_checksum());
        let c = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), c, "incremental equals full");
        p.swap_addrs();
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 51, 100, 20));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 0, 2, 99));
        assert!(p.verify_checksum());
        assert!(p.decrement_ttl());
        assert_eq!(p.ttl(), 63);
        assert!(p.verify_checksum());
        p.set_ttl(1);
        p.fill_checksum();
        assert!(!p.decrement_ttl());
        assert_eq!(p.ttl(), 1);
    }

    #[test]
    fn setters_stay_safe() {
        let mut buf = syn_packet();
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        p.set_total_len(9000);
        assert_eq!(p.payload().len(), 44, "clamped to the buffer");
        p.set_total_len(3);
        assert!(p.payload().is_empty());
        p.set_dont_frag(false);
        assert!(!p.dont_frag());
        p.set_dont_frag(true);
        assert!(p.dont_frag() && !p.more_frags());
        p.set_ident(7);
        p.set_tos(0xb8);
        p.set_protocol(ip_proto::UDP);
        assert_eq!((p.ident(), p.dscp(), p.protocol()), (7, 46, 17));
    }

    #[test]
    fn repr_emit_parse() {
        let buf = syn_packet();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        let r = Ipv4Repr::parse(&p);
        let mut out = [0u8; 20];
        r.emit(&mut out).unwrap();
        assert_eq!(&out[..], &buf[..20], "re-emitting the header reproduces it");

        // An IPIP outer header: 198.18.0.2 -> 198.51.100.7 around a 60-byte inner packet.
        let outer = Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            protocol: ip_proto::IPIP,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: true,
            payload_len: 60,
        };
        let mut frame = vec![0u8; 80];
        outer.emit(&mut frame).unwrap();
        frame[20..].copy_from_slice(&buf[..60]);
        let o = Ipv4Packet::new_checked(&frame[..]).unwrap();
        assert!(o.verify_checksum());
        assert_eq!(o.protocol(), ip_proto::IPIP);
        assert_eq!(Ipv4Repr::parse(&o), outer);
        let inner = Ipv4Packet::new_checked(o.payload()).unwrap();
        assert_eq!(inner.dst_addr(), Ipv4Addr::new(203, 0, 113, 10));

        assert_eq!(outer.emit(&mut [0u8; 19]), Err(WireError::Truncated));
        let huge = Ipv4Repr {
            payload_len: 65530,
            ..outer
        };
        assert_eq!(huge.emit(&mut out), Err(WireError::BadLength));
    }
}
