//! Ethernet II frames with at most one 802.1Q VLAN tag.

use super::bytes::{be16, set_be16};
use super::error::WireError;
pub use super::mac::{MacAddr, ParseMacError};

/// EtherType values this data plane looks at.
pub mod ether_type {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag (QinQ outer tag); recognised only to be refused.
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;
/// Length of an Ethernet header with one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = 18;

/// A view of an Ethernet II frame; remembers where the L3 header starts (after an optional tag).
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
    l3_offset: usize,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Checks that the header (and the VLAN tag, if any) fits; refuses stacked tags.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let outer = be16(b, 12);
        let l3_offset = match outer {
            ether_type::VLAN => {
                if b.len() < VLAN_HEADER_LEN {
                    return Err(WireError::Truncated);
                }
                let inner = be16(b, 16);
                if inner == ether_type::VLAN || inner == ether_type::QINQ {
                    return Err(WireError::Unsupported);
                }
                VLAN_HEADER_LEN
            }
            ether_type::QINQ => return Err(WireError::Unsupported),
            _ => HEADER_LEN,
        };
        Ok(EthernetFrame { buffer, l3_offset })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst(&self) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    pub fn src(&self) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([b[6], b[7], b[8], b[9], b[10], b[11]])
    }

    /// True when the frame carries an 802.1Q tag.
    pub fn is_tagged(&self) -> bool {
        self.l3_offset == VLAN_HEADER_LEN
    }

    /// The whole 16-bit TCI (priority, DEI, VLAN id) of the tag, if tagged.
    pub fn vlan_tci(&self) -> Option<u16> {
        self.is_tagged().then(|| be16(self.buffer.as_ref(), 14))
    }

    /// The 12-bit VLAN id, if tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci().map(|t| t & 0x0fff)
    }

    /// The EtherType of the payload (the one after the tag when tagged).
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), self.l3_offset - 2)
    }

    /// Offset of the L3 header from the start of the frame (14 or 18).
    pub fn header_len(&self) -> usize {
        self.l3_offset
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.l3_offset..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[0..6].copy_from_slice(&mac.0);
    }

    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[6..12].copy_from_slice(&mac.0);
    }

    /// Exchanges source and destination (answering a frame in place).
    pub fn swap_macs(&mut self) {
        let (dst, rest) = self.buffer.as_mut().split_at_mut(6);
        dst.swap_with_slice(&mut rest[..6]);
    }

    /// Sets the payload EtherType (after the tag when tagged).
    pub fn set_ethertype(&mut self, ethertype: u16) {
        let off = self.l3_offset - 2;
        set_be16(self.buffer.as_mut(), off, ethertype);
    }

    /// Sets the 12-bit VLAN id of a tagged frame (keeping priority and DEI); returns false and
    /// does nothing on an untagged frame.
    pub fn set_vlan_id(&mut self, vid: u16) -> bool {
        let Some(tci) = self.vlan_tci() else {
            return false;
        };
        set_be16(self.buffer.as_mut(), 14, (tci & 0xf000) | (vid & 0x0fff));
        true
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let off = self.l3_offset;
        &mut self.buffer.as_mut()[off..]
    }
}

/// A plain description of an Ethernet header, for building frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: MacAddr,
    pub src: MacAddr,
    /// 802.1Q TCI (priority, DEI, VLAN id) when tagged.
    pub vlan_tci: Option<u16>,
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> EthernetRepr {
        EthernetRepr {
            dst: frame.dst(),
            src: frame.src(),
            vlan_tci: frame.vlan_tci(),
            ethertype: frame.ethertype(),
        }
    }

    pub fn header_len(&self) -> usize {
        if self.vlan_tci.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.header_len();
        let b = buf.get_mut(..len).ok_or(WireError::Truncated)?;
        b[0..6].copy_from_slice(&self.dst.0);
        b[6..12].copy_from_slice(&self.src.0);
        if let Some(tci) = self.vlan_tci {
            set_be16(b, 12, ether_type::VLAN);
            set_be16(b, 14, tci);
        }
        set_be16(b, len - 2, self.ethertype);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An ARP request as captured on a port: broadcast, from 02:00:00:00:00:11, untagged.
    const UNTAGGED: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00,
    ];
    // IPv4 on VLAN 100 priority 5: tag 0x8100, TCI 0xa064.
    const TAGGED: [u8; 22] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x22, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0x81, 0x00, 0xa0,
        0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x14,
    ];

    #[test]
    fn untagged() {
        let f = EthernetFrame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(f.dst(), MacAddr::BROADCAST);
        assert_eq!(f.src().to_string(), "02:00:00:00:00:11");
        assert_eq!(f.ethertype(), ether_type::ARP);
        assert_eq!(f.vlan_id(), None);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &[0x00, 0x01, 0x08, 0x00]);
    }

    #[test]
    fn tagged() {
        let f = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert!(f.is_tagged());
        assert_eq!(f.vlan_tci(), Some(0xa064));
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.ethertype(), ether_type::IPV4);
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &[0x45, 0x00, 0x00, 0x14]);
    }

    #[test]
    fn truncation_and_stacked_tags() {
        assert_eq!(
            EthernetFrame::new_checked(&UNTAGGED[..13]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            EthernetFrame::new_checked(&TAGGED[..17]).err(),
            Some(WireError::Truncated)
        );
        let mut qinq = TAGGED;
        qinq[16..18].copy_from_slice(&[0x81, 0x00]);
        assert_eq!(
            EthernetFrame::new_checked(&qinq[..]).err(),
            Some(WireError::Unsupported)
        );
        let mut ad = TAGGED;
        ad[12..14].copy_from_slice(&[0x88, 0xa8]);
        assert_eq!(
            EthernetFrame::new_checked(&ad[..]).err(),
            Some(WireError::Unsupported)
        );
        // A header with nothing after it is a valid (empty-payload) frame.
        let f = EthernetFrame::new_checked(&UNTAGGED[..14]).unwrap();
        assert!(f.payload().is_empty());
    }

    #[test]
    fn setters() {
        let mut buf = TAGGED;
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.swap_macs();
        assert_eq!(f.dst().to_string(), "02:00:00:00:00:11");
        assert_eq!(f.src().to_string(), "02:00:00:00:00:22");
        f.set_src("02:00:00:00:00:33".parse().unwrap());
        f.set_dst(MacAddr::BROADCAST);
        f.set_ethertype(ether_type::ARP);
        assert!(f.set_vlan_id(4000));
        assert_eq!(f.vlan_tci(), Some(0xa000 | 4000));
        f.payload_mut()[0] = 0x46;
        assert_eq!(&buf[0..6], &[0xff; 6]);
        assert_eq!(&buf[6..12], &[2, 0, 0, 0, 0, 0x33]);
        assert_eq!(&buf[12..14], &[0x81, 0x00], "outer tag untouched");
        assert_eq!(&buf[16..19], &[0x08, 0x06, 0x46]);

        let mut plain = UNTAGGED;
        let mut f = EthernetFrame::new_checked(&mut plain[..]).unwrap();
        assert!(!f.set_vlan_id(5));
        assert_eq!(plain, UNTAGGED);
    }

    #[test]
    fn repr_round_trip() {
        for frame in [&UNTAGGED[..], &TAGGED[..]] {
            let f = EthernetFrame::new_checked(frame).unwrap();
            let repr = EthernetRepr::parse(&f);
            let mut out = [0u8; 18];
            let n = repr.emit(&mut out).unwrap();
            assert_eq!(n, f.header_len());
            assert_eq!(&out[..n], &frame[..n]);
        }
        let repr = EthernetRepr {
            dst: MacAddr::BROADCAST,
            src: MacAddr::ZERO,
            vlan_tci: Some(1),
            ethertype: ether_type::IPV6,
        };
        assert_eq!(repr.emit(&mut [0u8; 17]), Err(WireError::Truncated));
    }
}
