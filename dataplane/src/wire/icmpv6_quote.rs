//! The IPv6 packet quoted inside an ICMPv6 error: its fixed header, any extension headers and
//! (at least) the first 8 bytes of its L4 header, the IPv6 side of `icmpv4_quote.rs`. NAT66
//! translates errors about a connection by rewriting the quote the way it rewrites the
//! connection's packets, in the opposite direction.
//!
//! The quote is usually cut short, so its payload length is not checked against the buffer;
//! the extension headers are walked within what was quoted.

use std::net::Ipv6Addr;

use super::bytes::{be16, set_be16};
use super::checksum;
use super::error::WireError;
use super::ip_proto;
use super::ipv6::{walk_ext_headers, HEADER_LEN};

/// Bytes of the L4 header a quote must hold to name a TCP/UDP flow: the ports, and UDP's
/// length and checksum.
pub const MIN_L4_LEN: usize = 8;

/// A view of a quoted IPv6 packet.
#[derive(Debug, Clone)]
pub struct QuotedIpv6<T: AsRef<[u8]>> {
    buffer: T,
    /// Offset of the upper-layer header, after the extension headers.
    l4: usize,
    protocol: u8,
    /// A non-first fragment was quoted: its bytes at `l4` are not an L4 header.
    later: bool,
}

impl<T: AsRef<[u8]>> QuotedIpv6<T> {
    /// Checks the version and walks the extension headers inside the quote (their errors:
    /// `Truncated`, `RepeatedExtHeader`, `TooManyExtHeaders`, `Malformed`).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        let ul = walk_ext_headers(b, b[6])?;
        Ok(QuotedIpv6 {
            l4: ul.offset,
            protocol: ul.protocol,
            later: !ul.has_l4_header(),
            buffer,
        })
    }

    /// The quoted packet's upper-layer protocol.
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The quoted payload-length field (usually more than was quoted).
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }

    pub fn traffic_class(&self) -> u8 {
        (be16(self.buffer.as_ref(), 0) >> 4) as u8
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        self.addr_at(8)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        self.addr_at(24)
    }

    fn addr_at(&self, off: usize) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[off..off + 16]);
        Ipv6Addr::from(a)
    }

    /// Offset of the quoted L4 header (after the extension headers).
    pub fn l4_offset(&self) -> usize {
        self.l4
    }

    /// True when the quote holds the first [`MIN_L4_LEN`] bytes of an L4 header (not a later
    /// fragment's data).
    pub fn has_l4_header(&self) -> bool {
        !self.later && self.buffer.as_ref().len() >= self.l4 + MIN_L4_LEN
    }

    /// The quoted L4 bytes (possibly cut short).
    pub fn l4(&self) -> &[u8] {
        &self.buffer.as_ref()[self.l4..]
    }

    /// Quoted ports; only meaningful when [`QuotedIpv6::has_l4_header`].
    pub fn src_port(&self) -> u16 {
        self.port_at(0)
    }

    pub fn dst_port(&self) -> u16 {
        self.port_at(2)
    }

    fn port_at(&self, off: usize) -> u16 {
        match self.l4().get(off..off + 2) {
            Some(p) => u16::from_be_bytes([p[0], p[1]]),
            None => 0,
        }
    }

    /// Offset (in the L4 header) of a quoted L4 checksum that is whole, if any.
    fn l4_checksum_offset(&self) -> Option<usize> {
        let (off, need) = match self.protocol {
            ip_proto::UDP => (6, 8),
            ip_proto::TCP => (16, 18),
            _ => return None,
        };
        (self.has_l4_header() && self.l4().len() >= need).then_some(off)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> QuotedIpv6<T> {
    fn l4_mut(&mut self) -> &mut [u8] {
        let l4 = self.l4;
        &mut self.buffer.as_mut()[l4..]
    }

    /// Rewrites the quoted source address and, for TCP/UDP with an L4 header quoted, the
    /// source port, keeping a whole quoted L4 checksum valid. The enclosing ICMPv6 checksum
    /// is the caller's.
    pub fn rewrite_src(&mut self, addr: Ipv6Addr, port: u16) {
        let old = self.src_addr();
        self.buffer.as_mut()[8..24].copy_from_slice(&addr.octets());
        self.rewrite_port(&old, &addr, 0, port);
    }

    /// Rewrites the quoted destination address and port, like [`QuotedIpv6::rewrite_src`].
    pub fn rewrite_dst(&mut self, addr: Ipv6Addr, port: u16) {
        let old = self.dst_addr();
        self.buffer.as_mut()[24..40].copy_from_slice(&addr.octets());
        self.rewrite_port(&old, &addr, 2, port);
    }

    fn rewrite_port(&mut self, old: &Ipv6Addr, new: &Ipv6Addr, port_off: usize, port: u16) {
        if !self.has_l4_header() || !matches!(self.protocol, ip_proto::TCP | ip_proto::UDP) {
            return;
        }
        let old_port = be16(self.l4(), port_off);
        set_be16(self.l4_mut(), port_off, port);
        let Some(off) = self.l4_checksum_offset() else {
            return;
        };
        let udp = self.protocol == ip_proto::UDP;
        let l4 = self.l4_mut();
        let fold = |c| checksum::update_addr6_port(c, old, new, old_port, port);
        let c = be16(l4, off);
        let c = if udp {
            checksum::update_udp(c, fold)
        } else {
            fold(c)
        };
        set_be16(l4, off, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(nh: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
        let mut q = vec![0x60, 0, 0, 0, 0, 200, nh, 9];
        q.extend("2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        q.extend("2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        q.extend_from_slice(ext);
        q.extend_from_slice(l4);
        q
    }

    #[test]
    fn fields_and_bounds() {
        let udp = [0x9c, 0x40, 0, 53, 0, 30, 0x12, 0x34];
        let q = quote(17, &[], &udp);
        let v = QuotedIpv6::new_checked(&q[..]).unwrap();
        assert_eq!((v.protocol(), v.payload_len(), v.hop_limit()), (17, 200, 9));
        assert!(v.has_l4_header());
        assert_eq!((v.src_port(), v.dst_port()), (40000, 53));
        assert_eq!(v.l4_offset(), 40);
        let v = QuotedIpv6::new_checked(&q[..47]).unwrap();
        assert!(!v.has_l4_header());
        assert_eq!(
            QuotedIpv6::new_checked(&q[..39]).err(),
            Some(WireError::Truncated)
        );
        let mut v4 = q.clone();
        v4[0] = 0x45;
        assert_eq!(
            QuotedIpv6::new_checked(&v4[..]).err(),
            Some(WireError::BadVersion)
        );
        // Behind a destination-options header; a header cut by the quote.
        let q = quote(60, &[17, 0, 1, 4, 0, 0, 0, 0], &udp);
        let v = QuotedIpv6::new_checked(&q[..]).unwrap();
        assert_eq!((v.protocol(), v.l4_offset(), v.src_port()), (17, 48, 40000));
        assert_eq!(
            QuotedIpv6::new_checked(&q[..45]).err(),
            Some(WireError::Truncated)
        );
        // A later fragment's data is not an L4 header.
        let q = quote(44, &[17, 0, 0x05, 0xa8, 0, 0, 0, 1], &udp);
        assert!(!QuotedIpv6::new_checked(&q[..]).unwrap().has_l4_header());
    }

    #[test]
    fn rewrites_keep_a_whole_checksum_valid() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let new: Ipv6Addr = "2001:db8:5::5".parse().unwrap();
        let mut udp = vec![0x9c, 0x40, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4];
        let c = checksum::l4_checksum_v6(&src, &dst, 17, &udp);
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        let mut q = quote(17, &[], &udp);
        let mut v = QuotedIpv6::new_checked(&mut q[..]).unwrap();
        v.rewrite_dst(new, 5353);
        assert_eq!((v.dst_addr(), v.dst_port()), (new, 5353));
        assert_eq!(checksum::l4_checksum_v6(&src, &new, 17, v.l4()), 0);
        v.rewrite_src(new, 1);
        assert_eq!((v.src_addr(), v.src_port()), (new, 1));
        assert_eq!(checksum::l4_checksum_v6(&new, &new, 17, v.l4()), 0);
        // TCP cut before its checksum: the port changes, the bytes after stay.
        let tcp = [0x9c, 0x40, 0, 80, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut q = quote(6, &[], &tcp);
        let mut v = QuotedIpv6::new_checked(&mut q[..]).unwrap();
        v.rewrite_dst(new, 8080);
        assert_eq!(v.l4(), &[0x9c, 0x40, 0x1f, 0x90, 1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
