//! ARP for IPv4 over Ethernet (RFC 826): the only kind the appliance answers or sends.

use std::net::Ipv4Addr;

use super::bytes::{be16, set_be16};
use super::error::WireError;
use super::ethernet::ether_type;
use super::mac::MacAddr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

const HTYPE_ETHERNET: u16 = 1;

/// ARP operation codes.
pub mod arp_op {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Checks the length and that it is Ethernet/IPv4 ARP (others are `Unsupported`).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, 0) != HTYPE_ETHERNET || be16(b, 2) != ether_type::IPV4 || b[4] != 6 || b[5] != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(ArpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    pub fn sender_mac(&self) -> MacAddr {
        self.mac_at(8)
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        self.ip_at(14)
    }

    pub fn target_mac(&self) -> MacAddr {
        self.mac_at(18)
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        self.ip_at(24)
    }

    /// A request whose sender and target address are equal: an announcement (gratuitous ARP).
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip() == self.target_ip()
    }

    fn mac_at(&self, off: usize) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([
            b[off],
            b[off + 1],
            b[off + 2],
            b[off + 3],
            b[off + 4],
            b[off + 5],
        ])
    }

    fn ip_at(&self, off: usize) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[off], b[off + 1], b[off + 2], b[off + 3])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    pub fn set_operation(&mut self, op: u16) {
        set_be16(self.buffer.as_mut(), 6, op);
    }

    pub fn set_sender_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[8..14].copy_from_slice(&mac.0);
    }

    pub fn set_sender_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[14..18].copy_from_slice(&ip.octets());
    }

    pub fn set_target_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[18..24].copy_from_slice(&mac.0);
    }

    pub fn set_target_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[24..28].copy_from_slice(&ip.octets());
    }

    /// Turns a request for one of our addresses into the reply, in place: the requester becomes
    /// the target and (`our_mac`, the address asked for) the sender. The Ethernet header is the
    /// caller's (swap MACs, then set the source to `our_mac`).
    pub fn make_reply(&mut self, our_mac: MacAddr) {
        let asked = self.target_ip();
        let (requester_mac, requester_ip) = (self.sender_mac(), self.sender_ip());
        self.set_operation(arp_op::REPLY);
        self.set_target_mac(requester_mac);
        self.set_target_ip(requester_ip);
        self.set_sender_mac(our_mac);
        self.set_sender_ip(asked);
    }
}

/// A plain description of an Ethernet/IPv4 ARP packet, for building requests and announcements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: u16,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> ArpRepr {
        ArpRepr {
            operation: p.operation(),
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        }
    }

    /// Who has `target_ip`? Tell `sender_ip`.
    pub fn request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            operation: arp_op::REQUEST,
            sender_mac,
            sender_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// Gratuitous ARP announcing that `ip` is now at `mac` (sent when taking over a VIP).
    pub fn gratuitous(mac: MacAddr, ip: Ipv4Addr) -> ArpRepr {
        Self::request(mac, ip, ip)
    }

    /// Writes the 28-byte packet at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let b = buf.get_mut(..PACKET_LEN).ok_or(WireError::Truncated)?;
        set_be16(b, 0, HTYPE_ETHERNET);
        set_be16(b, 2, ether_type::IPV4);
        b[4] = 6;
        b[5] = 4;
        set_be16(b, 6, self.operation);
        b[8..14].copy_from_slice(&self.sender_mac.0);
        b[14..18].copy_from_slice(&self.sender_ip.octets());
        b[18..24].copy_from_slice(&self.target_mac.0);
        b[24..28].copy_from_slice(&self.target_ip.octets());
        Ok(PACKET_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Who has 198.18.0.10? Tell 198.18.0.1 (02:00:00:00:00:11). Ethernet payload only.
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0xc6,
        0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x0a,
    ];

    #[test]
    fn parse_request() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.operation(), arp_op::REQUEST);
        assert_eq!(p.sender_mac().to_string(), "02:00:00:00:00:11");
        assert_eq!(p.sender_ip(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.target_mac(), MacAddr::ZERO);
        assert_eq!(p.target_ip(), Ipv4Addr::new(198, 18, 0, 10));
        assert!(!p.is_gratuitous());
    }

    #[test]
    fn reply_in_place() {
        let mut buf = REQUEST;
        let ours: MacAddr = "02:00:00:00:00:aa".parse().unwrap();
        ArpPacket::new_checked(&mut buf[..])
            .unwrap()
            .make_reply(ours);
        let expected: [u8; 28] = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,
            0xc6, 0x12, 0x00, 0x0a, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0xc6, 0x12, 0x00, 0x01,
        ];
        assert_eq!(buf, expected);
    }

    #[test]
    fn rejects_short_and_foreign() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).err(),
            Some(WireError::Truncated)
        );
        for (i, v) in [(1, 6u8), (3, 0xdd), (4, 8), (5, 16)] {
            let mut b = REQUEST;
            b[i] = v;
            assert_eq!(
                ArpPacket::new_checked(&b[..]).err(),
                Some(WireError::Unsupported),
                "byte {i}"
            );
        }
    }

    #[test]
    fn repr_round_trip_and_gratuitous() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        let r = ArpRepr::parse(&p);
        assert_eq!(
            r,
            ArpRepr::request(
                "02:00:00:00:00:11".parse().unwrap(),
                Ipv4Addr::new(198, 18, 0, 1),
                Ipv4Addr::new(198, 18, 0, 10)
            )
        );
        let mut out = [0u8; 30];
        assert_eq!(r.emit(&mut out), Ok(28));
        assert_eq!(&out[..28], &REQUEST[..]);
        assert_eq!(r.emit(&mut out[..27]), Err(WireError::Truncated));

        let g = ArpRepr::gratuitous(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(203, 0, 113, 1));
        g.emit(&mut out).unwrap();
        let p = ArpPacket::new_checked(&out[..]).unwrap();
        assert!(p.is_gratuitous());
        assert_eq!(p.operation(), arp_op::REQUEST);
    }
}
