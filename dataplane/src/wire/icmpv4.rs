//! ICMPv4 (RFC 792): echo, destination unreachable (incl. fragmentation needed, RFC 1191),
//! time exceeded, and access to the IPv4 packet an error message quotes.

use super::bytes::{be16, set_be16};
use super::checksum;
use super::error::WireError;
use super::icmpv4_quote::QuotedIpv4;

/// Length of the ICMP header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;

/// RFC 1812 4.3.2.3: an error message, IP header included, should not exceed 576 bytes.
pub const MAX_ERROR_LEN: usize = 576;

/// Message types.
pub mod icmp_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
}

/// Destination-unreachable codes.
pub mod unreach_code {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191).
    pub const FRAG_NEEDED: u8 = 4;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Time-exceeded codes.
pub mod time_exceeded_code {
    pub const TTL: u8 = 0;
    pub const REASSEMBLY: u8 = 1;
}

/// A view of an ICMPv4 message; the buffer is the whole message (the IPv4 payload), which the
/// checksum covers.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Checks that the 8-byte header fits.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv4Packet { buffer })
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

    /// Identifier of an echo request/reply.
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Sequence number of an echo request/reply.
    pub fn echo_seq(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Next-hop MTU of a "fragmentation needed" message (0 from pre-RFC 1191 routers).
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// An error message (which quotes the packet that caused it).
    pub fn is_error(&self) -> bool {
        matches!(
            self.msg_type(),
            icmp_type::DEST_UNREACHABLE
                | icmp_type::SOURCE_QUENCH
                | icmp_type::REDIRECT
                | icmp_type::TIME_EXCEEDED
                | icmp_type::PARAMETER_PROBLEM
        )
    }

    pub fn is_echo_request(&self) -> bool {
        self.msg_type() == icmp_type::ECHO_REQUEST && self.code() == 0
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }

    /// Everything after the 8-byte header (echo data, or the quoted packet of an error).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// The quoted IPv4 header and L4 start of an error message (`Unsupported` for non-errors).
    pub fn quote(&self) -> Result<QuotedIpv4<&[u8]>, WireError> {
        if !self.is_error() {
            return Err(WireError::Unsupported);
        }
        QuotedIpv4::new_checked(self.data())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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

    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        set_be16(self.buffer.as_mut(), 6, mtu);
    }

    /// Recomputes the checksum over the whole message (use after editing a quote).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Turns an echo request into its reply in place (type 8 -> 0, checksum updated
    /// incrementally). Returns false, changing nothing, for anything else. Swapping the IP
    /// addresses and MACs is the caller's.
    pub fn make_echo_reply(&mut self) -> bool {
        if !self.is_echo_request() {
            return false;
        }
        let old = be16(self.buffer.as_ref(), 0);
        self.set_msg_type(icmp_type::ECHO_REPLY);
        let new = be16(self.buffer.as_ref(), 0);
        self.set_checksum(checksum::update_u16(self.checksum(), old, new));
        true
    }

    /// NAT of echo: sets the identifier (the "port" of a ping flow) with an incremental
    /// checksum update; returns the old one.
    pub fn rewrite_echo_ident(&mut self, new: u16) -> u16 {
        let old = self.echo_ident();
        self.set_echo_ident(new);
        self.set_checksum(checksum::update_u16(self.checksum(), old, new));
        old
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// The quote of an error message, writable (NAT rewrites the quoted addresses and ports,
    /// then calls [`Icmpv4Packet::fill_checksum`]).
    pub fn quote_mut(&mut self) -> Result<QuotedIpv4<&mut [u8]>, WireError> {
        if !self.is_error() {
            return Err(WireError::Unsupported);
        }
        QuotedIpv4::new_checked(self.data_mut())
    }
}

/// The ICMPv4 messages this data plane builds or answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv4Repr {
    EchoRequest { ident: u16, seq: u16 },
    EchoReply { ident: u16, seq: u16 },
    DestUnreachable { code: u8, next_hop_mtu: u16 },
    TimeExceeded { code: u8 },
}

impl Icmpv4Repr {
    /// Fragmentation needed and DF set, advertising `mtu` (sent back to a client whose packet
    /// does not fit a tunnel).
    pub fn frag_needed(mtu: u16) -> Icmpv4Repr {
        Icmpv4Repr::DestUnreachable {
            code: unreach_code::FRAG_NEEDED,
            next_hop_mtu: mtu,
        }
    }

    /// Reads the message kinds above; other types are `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(p: &Icmpv4Packet<T>) -> Result<Icmpv4Repr, WireError> {
        Ok(match p.msg_type() {
            icmp_type::ECHO_REQUEST => Icmpv4Repr::EchoRequest {
                ident: p.echo_ident(),
                seq: p.echo_seq(),
            },
            icmp_type::ECHO_REPLY => Icmpv4Repr::EchoReply {
                ident: p.echo_ident(),
                seq: p.echo_seq(),
            },
            icmp_type::DEST_UNREACHABLE => Icmpv4Repr::DestUnreachable {
                code: p.code(),
                next_hop_mtu: if p.code() == unreach_code::FRAG_NEEDED {
                    p.next_hop_mtu()
                } else {
                    0
                },
            },
            icmp_type::TIME_EXCEEDED => Icmpv4Repr::TimeExceeded { code: p.code() },
            _ => return Err(WireError::Unsupported),
        })
    }

    /// Writes header and `data` (echo payload, or the quote from [`error_quote`]) at the start
    /// of `buf` with a valid checksum; returns the message length.
    pub fn emit(&self, buf: &mut [u8], data: &[u8]) -> Result<usize, WireError> {
        let len = HEADER_LEN + data.len();
        let b = buf.get_mut(..len).ok_or(WireError::Truncated)?;
        let (t, code, a, bb) = match *self {
            Icmpv4Repr::EchoRequest { ident, seq } => (icmp_type::ECHO_REQUEST, 0, ident, seq),
            Icmpv4Repr::EchoReply { ident, seq } => (icmp_type::ECHO_REPLY, 0, ident, seq),
            Icmpv4Repr::DestUnreachable { code, next_hop_mtu } => {
                (icmp_type::DEST_UNREACHABLE, code, 0, next_hop_mtu)
            }
            Icmpv4Repr::TimeExceeded { code } => (icmp_type::TIME_EXCEEDED, code, 0, 0),
        };
        b[0] = t;
        b[1] = code;
        set_be16(b, 2, 0);
        set_be16(b, 4, a);
        set_be16(b, 6, bb);
        b[HEADER_LEN..].copy_from_slice(data);
        let c = checksum::checksum(b);
        set_be16(b, 2, c);
        Ok(len)
    }
}

/// How much of an offending IPv4 packet an error message quotes: as much as fits in
/// [`MAX_ERROR_LEN`] with the new IPv4 and ICMP headers (always at least header + 8 bytes of
/// a normal packet).
pub fn error_quote(original: &[u8]) -> &[u8] {
    let max = MAX_ERROR_LEN - super::ipv4::HEADER_LEN - HEADER_LEN;
    &original[..original.len().min(max)]
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::ip_proto;
    use super::super::ipv4::{Ipv4Packet, Ipv4Repr};
    use super::*;

    /// `ping -c1`: id 0x1f2e, seq 1, 8 bytes of data, checksum 0x473b.
    const ECHO: [u8; 16] = [
        0x08, 0x00, 0x47, 0x3b, 0x1f, 0x2e, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68,
    ];

    #[test]
    fn echo_request_to_reply() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert!(p.verify_checksum(), "checksum {:#06x}", p.checksum());
        assert!(p.is_echo_request() && !p.is_error());
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x1f2e, 1));
        assert_eq!(p.data(), b"abcdefgh");
        assert_eq!(
            Icmpv4Repr::parse(&p),
            Ok(Icmpv4Repr::EchoRequest {
                ident: 0x1f2e,
                seq: 1
            })
        );
        assert_eq!(p.quote().err(), Some(WireError::Unsupported));

        let mut b = ECHO;
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        assert!(p.make_echo_reply());
        assert_eq!(p.msg_type(), icmp_type::ECHO_REPLY);
        assert!(p.verify_checksum());
        assert_eq!(p.checksum(), 0x4f3b);
        assert!(!p.make_echo_reply(), "a reply is not turned again");

        // The reply equals one built from scratch.
        let mut built = [0u8; 16];
        Icmpv4Repr::EchoReply {
            ident: 0x1f2e,
            seq: 1,
        }
        .emit(&mut built, b"abcdefgh")
        .unwrap();
        assert_eq!(built, b);
    }

    #[test]
    fn echo_ident_rewrite() {
        let mut b = ECHO;
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.rewrite_echo_ident(7), 0x1f2e);
        assert!(p.verify_checksum());
        p.set_echo_seq(9);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.echo_seq(), 9);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Icmpv4Packet::new_checked(&ECHO[..7]).err(),
            Some(WireError::Truncated)
        );
        let p = Icmpv4Packet::new_checked(&ECHO[..8]).unwrap();
        assert!(p.data().is_empty());
    }

    /// A real server's port-unreachable for a UDP datagram 198.51.100.7:5353 -> 192.0.2.53:53.
    fn port_unreachable() -> Vec<u8> {
        let inner_ip = Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 53),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            protocol: ip_proto::UDP,
            ttl: 63,
            tos: 0,
            ident: 0x4242,
            dont_frag: false,
            payload_len: 20,
        };
        let mut orig = vec![0u8; 40];
        inner_ip.emit(&mut orig).unwrap();
        orig[20..28].copy_from_slice(&[0x14, 0xe9, 0x00, 0x35, 0x00, 0x14, 0x12, 0x34]);
        let mut msg = vec![0u8; 8 + 28];
        Icmpv4Repr::DestUnreachable {
            code: unreach_code::PORT,
            next_hop_mtu: 0,
        }
        .emit(&mut msg, &orig[..28])
        .unwrap();
        msg
    }

    #[test]
    fn error_with_quote() {
        let msg = port_unreachable();
        let p = Icmpv4Packet::new_checked(&msg[..]).unwrap();
        assert!(p.is_error() && p.verify_checksum());
        assert_eq!((p.msg_type(), p.code()), (3, 3));
        let q = p.quote().unwrap();
        assert_eq!(q.src_addr(), Ipv4Addr::new(192, 0, 2, 53));
        assert_eq!(q.dst_addr(), Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(q.protocol(), ip_proto::UDP);
        assert_eq!((q.src_port(), q.dst_port()), (5353, 53));
        assert!(q.verify_header_checksum());
    }

    #[test]
    fn quote_rewrite_then_fill() {
        let mut msg = port_unreachable();
        let mut p = Icmpv4Packet::new_checked(&mut msg[..]).unwrap();
        let mut q = p.quote_mut().unwrap();
        q.rewrite_src(Ipv4Addr::new(203, 0, 113, 1), 53);
        assert!(q.verify_header_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        let q = p.quote().unwrap();
        assert_eq!(q.src_addr(), Ipv4Addr::new(203, 0, 113, 1));
    }

    #[test]
    fn frag_needed_round_trip() {
        let orig_len = 1500;
        let mut orig = vec![0u8; orig_len];
        Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(203, 0, 113, 10),
            protocol: ip_proto::TCP,
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_frag: true,
            payload_len: (orig_len - 20) as u16,
        }
        .emit(&mut orig)
        .unwrap();
        let quote = error_quote(&orig);
        assert_eq!(quote.len(), 548);
        let mut msg = vec![0u8; 8 + quote.len()];
        let repr = Icmpv4Repr::frag_needed(1480);
        assert_eq!(repr.emit(&mut msg, quote), Ok(556));
        let p = Icmpv4Packet::new_checked(&msg[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.next_hop_mtu(), 1480);
        assert_eq!(Icmpv4Repr::parse(&p), Ok(repr));
        assert!(p.quote().unwrap().header_len() == 20);
        assert_eq!(error_quote(&orig[..28]).len(), 28);
        assert_eq!(repr.emit(&mut msg[..100], quote), Err(WireError::Truncated));

        let mut te = [0u8; 36];
        let repr = Icmpv4Repr::TimeExceeded {
            code: time_exceeded_code::TTL,
        };
        repr.emit(&mut te, &orig[..28]).unwrap();
        let mut p = Icmpv4Packet::new_checked(&mut te[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p), Ok(repr));
        p.set_msg_type(icmp_type::PARAMETER_PROBLEM);
        assert_eq!(Icmpv4Repr::parse(&p), Err(WireError::Unsupported));
        p.set_code(0);
        p.set_next_hop_mtu(0);
        assert!(p.quote().is_ok());
        let ip = Ipv4Packet::new_checked(&orig[..]).unwrap();
        assert!(ip.verify_checksum());
    }
}
