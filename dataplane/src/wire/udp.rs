//! UDP datagram headers (RFC 768). Over IPv4 a zero checksum means "none".

use std::net::{Ipv4Addr, Ipv6Addr};

use super::bytes::{be16, set_be16};
use super::checksum;
use super::error::WireError;
use super::ip_proto;

pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram; `payload()` ends at the UDP length, not the buffer's end.
#[derive(Debug, Clone)]
pub struct UdpDatagram<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpDatagram<T> {
    /// Checks that the header fits and the length field is between 8 and the buffer length.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = usize::from(be16(b, 4));
        if len < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if b.len() < len {
            return Err(WireError::Truncated);
        }
        Ok(UdpDatagram { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// The length field (header plus payload).
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// True when the length field says there is no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Header plus payload as the length field bounds it (clamped to the buffer).
    fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.len()).clamp(HEADER_LEN, b.len());
        &b[..end]
    }

    pub fn payload(&self) -> &[u8] {
        &self.datagram()[HEADER_LEN..]
    }

    /// True when the checksum verifies or is absent (0).
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0
            || checksum::l4_checksum_v4(src, dst, ip_proto::UDP, self.datagram()) == 0
    }

    /// Over IPv6 the checksum is mandatory: 0 does not verify.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        self.checksum() != 0
            && checksum::l4_checksum_v6(src, dst, ip_proto::UDP, self.datagram()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpDatagram<T> {
    pub fn set_src_port(&mut self, p: u16) {
        set_be16(self.buffer.as_mut(), 0, p);
    }

    pub fn set_dst_port(&mut self, p: u16) {
        set_be16(self.buffer.as_mut(), 2, p);
    }

    pub fn set_len(&mut self, len: u16) {
        set_be16(self.buffer.as_mut(), 4, len);
    }

    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buffer.as_mut(), 6, c);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len()).clamp(HEADER_LEN, self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum (a computed 0 is stored as 0xffff).
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v4(src, dst, ip_proto::UDP, self.datagram());
        self.set_checksum(checksum::udp_field(c));
    }

    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v6(src, dst, ip_proto::UDP, self.datagram());
        self.set_checksum(checksum::udp_field(c));
    }

    /// NAT: sets the source port; the checksum is updated unless absent (0).
    pub fn rewrite_src_port(&mut self, new: u16) -> u16 {
        let old = self.src_port();
        self.set_src_port(new);
        let c = checksum::update_udp(self.checksum(), |c| checksum::update_u16(c, old, new));
        self.set_checksum(c);
        old
    }

    /// NAT: sets the destination port; the checksum is updated unless absent (0).
    pub fn rewrite_dst_port(&mut self, new: u16) -> u16 {
        let old = self.dst_port();
        self.set_dst_port(new);
        let c = checksum::update_udp(self.checksum(), |c| checksum::update_u16(c, old, new));
        self.set_checksum(c);
        old
    }

    /// NAT: fixes the checksum for an IPv4 address changed in the pseudo-header (0 stays 0).
    pub fn update_checksum_for_addr(&mut self, old: Ipv4Addr, new: Ipv4Addr) {
        let c = checksum::update_udp(self.checksum(), |c| checksum::update_addr(c, old, new));
        self.set_checksum(c);
    }
}

/// A plain UDP header, for building datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: u16,
}

impl UdpRepr {
    pub fn parse<T: AsRef<[u8]>>(d: &UdpDatagram<T>) -> UdpRepr {
        UdpRepr {
            src_port: d.src_port(),
            dst_port: d.dst_port(),
            payload_len: d.payload().len() as u16,
        }
    }

    /// Writes the header with a zero checksum (none): fill it after writing the payload.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self
            .payload_len
            .checked_add(HEADER_LEN as u16)
            .ok_or(WireError::BadLength)?;
        let b = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        set_be16(b, 0, self.src_port);
        set_be16(b, 2, self.dst_port);
        set_be16(b, 4, len);
        set_be16(b, 6, 0);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// A DNS-looking query 53000 -> 53, 12 bytes of payload, checksum 0x30e3, then 2 bytes of
    /// trailing padding that are not part of the datagram.
    const DGRAM: [u8; 22] = [
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x14, 0x30, 0xe3, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xee, 0xee,
    ];

    #[test]
    fn parse_fields() {
        let d = UdpDatagram::new_checked(&DGRAM[..]).unwrap();
        assert_eq!((d.src_port(), d.dst_port()), (53000, 53));
        assert_eq!(d.len(), 20);
        assert!(!d.is_empty());
        assert_eq!(d.payload().len(), 12, "padding excluded");
        assert!(
            d.verify_checksum_v4(SRC, DST),
            "checksum {:#06x}",
            d.checksum()
        );
        assert!(!d.verify_checksum_v4(SRC, Ipv4Addr::new(198, 51, 100, 8)));
        assert_eq!(
            UdpRepr::parse(&d),
            UdpRepr {
                src_port: 53000,
                dst_port: 53,
                payload_len: 12
            }
        );
    }

    #[test]
    fn checks() {
        let c = |b: &[u8]| UdpDatagram::new_checked(b).err();
        assert_eq!(c(&DGRAM[..7]), Some(WireError::Truncated));
        assert_eq!(c(&DGRAM[..19]), Some(WireError::Truncated));
        let mut b = DGRAM;
        b[5] = 7;
        assert_eq!(c(&b), Some(WireError::BadLength));
        b[5] = 8;
        assert!(UdpDatagram::new_checked(&b[..]).unwrap().is_empty());
    }

    #[test]
    fn zero_checksum_rules() {
        let mut b = DGRAM;
        let mut d = UdpDatagram::new_checked(&mut b[..]).unwrap();
        d.set_checksum(0);
        assert!(d.verify_checksum_v4(SRC, DST), "0 means none over IPv4");
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(!d.verify_checksum_v6(&v6, &v6), "mandatory over IPv6");
        d.rewrite_dst_port(5353);
        d.update_checksum_for_addr(DST, SRC);
        assert_eq!(d.checksum(), 0, "an absent checksum stays absent");
        d.fill_checksum_v6(&v6, &v6);
        assert!(d.verify_checksum_v6(&v6, &v6));
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the payload so that the sum is all ones: the checksum computes to 0.
        let mut b = [0u8; 10];
        UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 2,
        }
        .emit(&mut b)
        .unwrap();
        let mut d = UdpDatagram::new_checked(&mut b[..]).unwrap();
        d.fill_checksum_v4(SRC, DST);
        let c = d.checksum();
        // Put the checksum into the payload word instead: the sum becomes 0xffff.
        d.set_checksum(0);
        d.payload_mut().copy_from_slice(&c.to_be_bytes());
        d.fill_checksum_v4(SRC, DST);
        assert_eq!(d.checksum(), 0xffff);
        assert!(d.verify_checksum_v4(SRC, DST));
    }

    #[test]
    fn nat_rewrite_matches_full() {
        let mut b = DGRAM;
        let mut d = UdpDatagram::new_checked(&mut b[..]).unwrap();
        let new_src = Ipv4Addr::new(203, 0, 113, 1);
        assert_eq!(d.rewrite_src_port(1053), 53000);
        d.update_checksum_for_addr(SRC, new_src);
        let inc = d.checksum();
        d.fill_checksum_v4(new_src, DST);
        assert_eq!(d.checksum(), inc);
        d.set_src_port(9);
        d.set_len(9);
        assert_eq!(d.payload().len(), 1);
        assert_eq!(
            UdpRepr {
                src_port: 0,
                dst_port: 0,
                payload_len: 65530
            }
            .emit(&mut [0u8; 8]),
            Err(WireError::BadLength)
        );
    }
}
