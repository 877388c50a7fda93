//! ICMPv6 basics (RFC 4443): type, code, checksum over the IPv6 pseudo-header, echo.

use std::net::Ipv6Addr;

use super::bytes::{be16, be32, set_be16};
use super::checksum;
use super::error::WireError;
use super::ip_proto;

pub const HEADER_LEN: usize = 8;

/// Message types.
pub mod icmpv6_type {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAMETER_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// A view of an ICMPv6 message; the buffer is the whole message.
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv6Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Error messages have types below 128.
    pub fn is_error(&self) -> bool {
        self.msg_type() < 128
    }

    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    pub fn echo_seq(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// MTU of a "packet too big" message.
    pub fn mtu(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        checksum::l4_checksum_v6(src, dst, ip_proto::ICMPV6, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[0] = t;
    }

    pub fn set_code(&mut self, c: u8) {
        self.buffer.as_mut()[1] = c;
    }

    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buffer.as_mut(), 2, c);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), 4, v);
    }

    pub fn set_echo_seq(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), 6, v);
    }

    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v6(src, dst, ip_proto::ICMPV6, self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Turns an echo request into its reply in place (128 -> 129, incremental checksum; the
    /// pseudo-header is unchanged by swapping the addresses). False, changing nothing, for
    /// anything else.
    pub fn make_echo_reply(&mut self) -> bool {
        if self.msg_type() != icmpv6_type::ECHO_REQUEST || self.code() != 0 {
            return false;
        }
        let old = be16(self.buffer.as_ref(), 0);
        self.set_msg_type(icmpv6_type::ECHO_REPLY);
        let new = be16(self.buffer.as_ref(), 0);
        self.set_checksum(checksum::update_u16(self.checksum(), old, new));
        true
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    }

    /// Echo request id 0x0a0b seq 3 with "hi!!", checksum 0x90ab over 2001:db8::1 -> ::2.
    const ECHO: [u8; 12] = [
        0x80, 0x00, 0x90, 0xab, 0x0a, 0x0b, 0x00, 0x03, 0x68, 0x69, 0x21, 0x21,
    ];

    #[test]
    fn echo() {
        let (s, d) = addrs();
        let p = Icmpv6Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!((p.msg_type(), p.code()), (icmpv6_type::ECHO_REQUEST, 0));
        assert!(p.verify_checksum(&s, &d), "checksum {:#06x}", p.checksum());
        assert!(!p.verify_checksum(&d, &"2001:db8::3".parse().unwrap()));
        assert!(!p.is_error());
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x0a0b, 3));
        assert_eq!(p.data(), b"hi!!");

        let mut b = ECHO;
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        assert!(p.make_echo_reply());
        assert!(!p.make_echo_reply());
        assert_eq!(p.msg_type(), icmpv6_type::ECHO_REPLY);
        assert!(p.verify_checksum(&d, &s), "valid with swapped addresses");
        let inc = p.checksum();
        p.fill_checksum(&d, &s);
        assert_eq!(p.checksum(), inc);
    }

    #[test]
    fn errors_and_setters() {
        let (s, d) = addrs();
        assert_eq!(
            Icmpv6Packet::new_checked(&ECHO[..7]).err(),
            Some(WireError::Truncated)
        );
        let mut b = [0u8; 8 + 40];
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(icmpv6_type::PACKET_TOO_BIG);
        p.set_code(0);
        p.set_echo_ident(0);
        p.set_echo_seq(1280);
        p.data_mut()[0] = 0x60;
        p.fill_checksum(&s, &d);
        assert!(p.is_error());
        assert_eq!(p.mtu(), 1280);
        assert!(p.verify_checksum(&s, &d));
        assert!(!p.make_echo_reply());
    }
}
