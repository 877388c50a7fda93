//! VRRP version 3 advertisements over IPv4 (RFC 5798 section 5). The checksum covers the IPv4
//! pseudo-header (protocol 112) and the whole VRRP message, as RFC 5798 section 5.2.8 says and
//! keepalived does by default for `vrrp_version 3` (its `v3_checksum_as_v2` option leaves the
//! pseudo-header out, as VRRPv2 did; [`VrrpPacket::verify_checksum_v2_form`] checks that form).

use std::net::Ipv4Addr;

use super::bytes::{be16, set_be16};
use super::checksum;
use super::error::WireError;

/// The IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group adverts go to.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The TTL (hop limit) every advert is sent with and must arrive with.
pub const TTL: u8 = 255;
/// The only version this module speaks.
pub const VERSION: u8 = 3;
/// The only message type RFC 5798 defines.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Bytes before the address list.
pub const HEADER_LEN: usize = 8;
/// The largest advert interval the 12-bit field holds (centiseconds).
pub const MAX_INTERVAL_CS: u16 = 0x0fff;

/// A checked view of a VRRP message: the header fits, and the buffer holds the `count`
/// addresses it announces. Version and type are not judged here (a receiver counts them).
#[derive(Debug, Clone)]
pub struct VrrpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VrrpPacket<T> {
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b.len() < HEADER_LEN + 4 * usize::from(b[3]) {
            return Err(WireError::Truncated);
        }
        Ok(VrrpPacket { buffer })
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[2]
    }

    /// How many IPv4 addresses follow the header.
    pub fn count(&self) -> u8 {
        self.buffer.as_ref()[3]
    }

    /// Max Advertise Interval, centiseconds (the low 12 bits; the top 4 are reserved).
    pub fn max_advert_interval_cs(&self) -> u16 {
        be16(self.buffer.as_ref(), 4) & MAX_INTERVAL_CS
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Address `i` of the list (`i < count`).
    pub fn address(&self, i: u8) -> Option<Ipv4Addr> {
        if i >= self.count() {
            return None;
        }
        let o = HEADER_LEN + 4 * usize::from(i);
        let b = &self.buffer.as_ref()[o..o + 4];
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }

    /// The message as `count` bounds it (trailing bytes are not part of it).
    fn message(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN + 4 * usize::from(self.count())]
    }

    /// True when the checksum verifies over the pseudo-header and the message (RFC 5798).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::l4_checksum_v4(src, dst, PROTOCOL, self.message()) == 0
    }

    /// True when the checksum verifies over the message alone (VRRPv2's form, keepalived's
    /// `v3_checksum_as_v2`).
    pub fn verify_checksum_v2_form(&self) -> bool {
        checksum::sum(self.message()) == 0xffff
    }
}

/// What an advert says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpRepr {
    pub vrid: u8,
    pub priority: u8,
    /// Max Advertise Interval, centiseconds (at most [`MAX_INTERVAL_CS`]).
    pub max_advert_interval_cs: u16,
    pub addresses: Vec<Ipv4Addr>,
}

impl VrrpRepr {
    /// Reads a checked packet; refuses a version other than 3 or a type other than advert.
    pub fn parse<T: AsRef<[u8]>>(p: &VrrpPacket<T>) -> Result<VrrpRepr, WireError> {
        if p.version() != VERSION {
            return Err(WireError::BadVersion);
        }
        if p.msg_type() != TYPE_ADVERTISEMENT {
            return Err(WireError::Unsupported);
        }
        Ok(VrrpRepr {
            vrid: p.vrid(),
            priority: p.priority(),
            max_advert_interval_cs: p.max_advert_interval_cs(),
            addresses: (0..p.count()).filter_map(|i| p.address(i)).collect(),
        })
    }

    /// Bytes [`VrrpRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 4 * self.addresses.len()
    }

    /// Writes the advert with its checksum for an IPv4 packet from `src` to `dst`. Refuses a
    /// buffer too short, more than 255 addresses or an interval past 12 bits.
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<usize, WireError> {
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(WireError::Truncated);
        }
        let Ok(count) = u8::try_from(self.addresses.len()) else {
            return Err(WireError::BadLength);
        };
        if self.max_advert_interval_cs > MAX_INTERVAL_CS {
            return Err(WireError::Malformed);
        }
        let b = &mut buf[..len];
        b[0] = (VERSION << 4) | TYPE_ADVERTISEMENT;
        b[1] = self.vrid;
        b[2] = self.priority;
        b[3] = count;
        set_be16(b, 4, self.max_advert_interval_cs);
        set_be16(b, 6, 0);
        for (i, a) in self.addresses.iter().enumerate() {
            b[HEADER_LEN + 4 * i..HEADER_LEN + 4 * i + 4].copy_from_slice(&a.octets());
        }
        let c = checksum::l4_checksum_v4(src, dst, PROTOCOL, b);
        set_be16(b, 6, c);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    /// VRID 51, priority 100, one address (198.18.0.100), interval 100 cs (1 s), from
    /// 198.18.0.2 to 224.0.0.18: the checksum worked out by hand over the pseudo-header
    /// (c612 0002 e000 0012 0070 000c) and the message (3133 6401 0064 0000 c612 0064).
    const ADVERT: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0xfd, 0x4c, 198, 18, 0, 100,
    ];

    #[test]
    fn parses_literal_advert() {
        let p = VrrpPacket::new_checked(&ADVERT[..]).unwrap();
        assert_eq!(p.version(), 3);
        assert_eq!(p.msg_type(), 1);
        assert_eq!(p.checksum(), 0xfd4c);
        assert!(p.verify_checksum(SRC, GROUP_V4));
        assert!(!p.verify_checksum(Ipv4Addr::new(198, 18, 0, 3), GROUP_V4));
        assert!(!p.verify_checksum_v2_form());
        let r = VrrpRepr::parse(&p).unwrap();
        assert_eq!(
            r,
            VrrpRepr {
                vrid: 51,
                priority: 100,
                max_advert_interval_cs: 100,
                addresses: vec![Ipv4Addr::new(198, 18, 0, 100)],
            }
        );
    }

    /// An advert keepalived 2.2.7 sent (`vrrp_version 3`, vrid 51, priority 100, advert_int 1,
    /// one address 192.0.2.100) from 192.0.2.10, captured with tcpdump: the VRRP part.
    const KEEPALIVED_ADVERT: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x05, 0x69, 0xc0, 0x00, 0x02, 0x64,
    ];

    #[test]
    fn keepalived_advert_verifies_and_is_reproduced() {
        let src = Ipv4Addr::new(192, 0, 2, 10);
        let p = VrrpPacket::new_checked(&KEEPALIVED_ADVERT[..]).unwrap();
        assert!(p.verify_checksum(src, GROUP_V4));
        let r = VrrpRepr::parse(&p).unwrap();
        assert_eq!(r.addresses, vec![Ipv4Addr::new(192, 0, 2, 100)]);
        let mut out = [0u8; 12];
        assert_eq!(r.emit(&mut out, src, GROUP_V4), Ok(12));
        assert_eq!(
            out, KEEPALIVED_ADVERT,
            "our emit is byte for byte keepalived's"
        );
    }

    #[test]
    fn emit_matches_literal_and_round_trips() {
        let r = VrrpRepr {
            vrid: 51,
            priority: 100,
            max_advert_interval_cs: 100,
            addresses: vec![Ipv4Addr::new(198, 18, 0, 100)],
        };
        let mut buf = [0u8; 16];
        assert_eq!(r.emit(&mut buf, SRC, GROUP_V4), Ok(12));
        assert_eq!(buf[..12], ADVERT);
        let p = VrrpPacket::new_checked(&buf[..12]).unwrap();
        assert_eq!(VrrpRepr::parse(&p).unwrap(), r);
    }

    #[test]
    fn v2_form_checksum_is_recognised() {
        let mut b = ADVERT;
        b[6] = 0;
        b[7] = 0;
        let c = checksum::checksum(&b);
        b[6..8].copy_from_slice(&c.to_be_bytes());
        let p = VrrpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum_v2_form());
        assert!(!p.verify_checksum(SRC, GROUP_V4));
    }

    #[test]
    fn refuses_short_wrong_version_and_type() {
        assert_eq!(
            VrrpPacket::new_checked(&ADVERT[..7]).err(),
            Some(WireError::Truncated)
        );
        // count 2 but one address present
        let mut b = ADVERT;
        b[3] = 2;
        assert_eq!(
            VrrpPacket::new_checked(&b[..]).err(),
            Some(WireError::Truncated)
        );
        let mut v2 = ADVERT;
        v2[0] = 0x21;
        let p = VrrpPacket::new_checked(&v2[..]).unwrap();
        assert_eq!(VrrpRepr::parse(&p), Err(WireError::BadVersion));
        let mut t2 = ADVERT;
        t2[0] = 0x32;
        let p = VrrpPacket::new_checked(&t2[..]).unwrap();
        assert_eq!(VrrpRepr::parse(&p), Err(WireError::Unsupported));
    }

    #[test]
    fn reserved_bits_are_ignored_and_emit_refuses_bad_input() {
        let mut b = ADVERT;
        b[4] |= 0xf0;
        let p = VrrpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.max_advert_interval_cs(), 100);
        let mut r = VrrpRepr {
            vrid: 1,
            priority: 1,
            max_advert_interval_cs: 0x1000,
            addresses: vec![],
        };
        let mut buf = [0u8; 8];
        assert_eq!(r.emit(&mut buf, SRC, GROUP_V4), Err(WireError::Malformed));
        r.max_advert_interval_cs = 1;
        assert_eq!(
            r.emit(&mut buf[..7], SRC, GROUP_V4),
            Err(WireError::Truncated)
        );
        assert_eq!(r.emit(&mut buf, SRC, GROUP_V4), Ok(8));
    }
}
