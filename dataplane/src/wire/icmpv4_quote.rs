//! The IPv4 packet quoted inside an ICMPv4 error: its header plus (at least) the first 8 bytes
//! of its L4 header. NAT translates errors about a connection by rewriting the quote the same
//! way it rewrites the connection's packets, in the opposite direction.
//!
//! The quote is usually cut short, so its total length is not checked against the buffer.

use std::net::Ipv4Addr;

use super::bytes::{be16, set_be16};
use super::checksum;
use super::error::WireError;
use super::ip_proto;

/// Bytes of the L4 header an error must quote (RFC 792): the ports of TCP/UDP, the
/// identifier of ICMP echo.
pub const MIN_L4_LEN: usize = 8;

/// A view of a quoted IPv4 packet.
#[derive(Debug, Clone)]
pub struct QuotedIpv4<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> QuotedIpv4<T> {
    /// Checks version and IHL, and that the header plus 8 bytes of L4 are present.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < super::ipv4::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = usize::from(b[0] & 0x0f) * 4;
        if hl < super::ipv4::HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if b.len() < hl + MIN_L4_LEN {
            return Err(WireError::Truncated);
        }
        Ok(QuotedIpv4 { buffer })
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[0] & 0x0f) * 4
    }

    /// The quoted packet's total-length field (usually more than was quoted).
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }

    pub fn header_checksum(&self) -> u16 {
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

    pub fn verify_header_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// Non-first fragments quote data, not an L4 header.
    pub fn has_l4_header(&self) -> bool {
        be16(self.buffer.as_ref(), 6) & 0x1fff == 0
    }

    /// The quoted L4 bytes (at least 8).
    pub fn l4(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// TCP/UDP source port (first L4 word).
    pub fn src_port(&self) -> u16 {
        be16(self.l4(), 0)
    }

    /// TCP/UDP destination port (second L4 word).
    pub fn dst_port(&self) -> u16 {
        be16(self.l4(), 2)
    }

    /// Identifier of a quoted ICMP echo.
    pub fn icmp_echo_ident(&self) -> u16 {
        be16(self.l4(), 4)
    }

    /// Offset inside `l4()` of a checksum that a port/address rewrite must keep valid, when it
    /// was quoted: UDP's (unless 0, "none"), TCP's (at 16, only in long quotes), ICMP's.
    fn l4_checksum_offset(&self) -> Option<usize> {
        let l4 = self.l4();
        let off = match self.protocol() {
            ip_proto::UDP if be16(l4, 6) != 0 => 6,
            ip_proto::TCP if l4.len() >= 18 => 16,
            ip_proto::ICMP => 2,
            _ => return None,
        };
        Some(off)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> QuotedIpv4<T> {
    fn l4_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[12..16].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[16..20].copy_from_slice(&a.octets());
    }

    pub fn set_src_port(&mut self, p: u16) {
        set_be16(self.l4_mut(), 0, p);
    }

    pub fn set_dst_port(&mut self, p: u16) {
        set_be16(self.l4_mut(), 2, p);
    }

    pub fn fill_header_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        set_be16(b, 10, 0);
        let c = checksum::checksum(&b[..hl]);
        set_be16(b, 10, c);
    }

    /// Applies an incremental update to the quoted L4 checksum, if one was quoted.
    fn update_l4_checksum(&mut self, f: impl FnOnce(u16) -> u16) {
        let Some(off) = self.l4_checksum_offset() else {
            return;
        };
        let udp = self.protocol() == ip_proto::UDP;
        let l4 = self.l4_mut();
        let c = be16(l4, off);
        let c = if udp {
            checksum::update_udp(c, f)
        } else {
            f(c)
        };
        set_be16(l4, off, c);
    }

    /// Rewrites the quoted source address and port (TCP/UDP; for ICMP the port is the echo
    /// identifier), keeping the quoted IP header checksum and any quoted L4 checksum valid.
    /// The enclosing ICMP checksum is the caller's ([`super::icmpv4::Icmpv4Packet::fill_checksum`]).
    pub fn rewrite_src(&mut self, addr: Ipv4Addr, port: u16) {
        let old_addr = self.src_addr();
        self.set_src_addr(addr);
        self.rewrite_common(old_addr, addr, 0, port);
    }

    /// Rewrites the quoted destination address and port, like [`QuotedIpv4::rewrite_src`].
    pub fn rewrite_dst(&mut self, addr: Ipv4Addr, port: u16) {
        let old_addr = self.dst_addr();
        self.set_dst_addr(addr);
        self.rewrite_common(old_addr, addr, 2, port);
    }

    fn rewrite_common(&mut self, old_addr: Ipv4Addr, addr: Ipv4Addr, port_off: usize, port: u16) {
        let c = checksum::update_addr(self.header_checksum(), old_addr, addr);
        set_be16(self.buffer.as_mut(), 10, c);
        if !self.has_l4_header() {
            return;
        }
        if self.protocol() == ip_proto::ICMP {
            // ICMP has no pseudo-header: only the identifier counts, and it is the same word
            // for both directions of a ping.
            let old = self.icmp_echo_ident();
            set_be16(self.l4_mut(), 4, port);
            self.update_l4_checksum(|c| checksum::update_u16(c, old, port));
            return;
        }
        if !matches!(self.protocol(), ip_proto::TCP | ip_proto::UDP) {
            return;
        }
        let old_port = be16(self.l4(), port_off);
        set_be16(self.l4_mut(), port_off, port);
        self.update_l4_checksum(|c| checksum::update_addr_port(c, old_addr, addr, old_port, port));
    }
}

#[cfg(test)]
mod tests {
    use super::super::ipv4::Ipv4Repr;
    use super::super::tcp::{TcpFlags, TcpRepr, TcpSegment};
    use super::super::udp::{UdpDatagram, UdpRepr};
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
    const REAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);

    fn ip(protocol: u8, src: Ipv4Addr, dst: Ipv4Addr, l4: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 20 + l4.len()];
        Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: 64,
            tos: 0,
            ident: 3,
            dont_frag: true,
            payload_len: l4.len() as u16,
        }
        .emit(&mut b)
        .unwrap();
        b[20..].copy_from_slice(l4);
        b
    }

    fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
        let mut l4 = [0u8; 24];
        TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq: 1,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 1000,
            mss: Some(1460),
        }
        .emit(&mut l4)
        .unwrap();
        TcpSegment::new_checked(&mut l4[..])
            .unwrap()
            .fill_checksum_v4(src, dst);
        ip(ip_proto::TCP, src, dst, &l4)
    }

    fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
        let mut l4 = [0u8; 12];
        UdpRepr {
            src_port: sport,
            dst_port: dport,
            payload_len: 4,
        }
        .emit(&mut l4)
        .unwrap();
        l4[8..].copy_from_slice(b"ping");
        UdpDatagram::new_checked(&mut l4[..])
            .unwrap()
            .fill_checksum_v4(src, dst);
        ip(ip_proto::UDP, src, dst, &l4)
    }

    #[test]
    fn checks() {
        let p = tcp(CLIENT, 40000, VIP, 80);
        let c = |b: &[u8]| QuotedIpv4::new_checked(b).err();
        assert_eq!(c(&p[..19]), Some(WireError::Truncated));
        assert_eq!(c(&p[..27]), Some(WireError::Truncated));
        assert!(
            c(&p[..28]).is_none(),
            "total length beyond the quote is fine"
        );
        let mut bad = p.clone();
        bad[0] = 0x65;
        assert_eq!(c(&bad), Some(WireError::BadVersion));
        bad[0] = 0x43;
        assert_eq!(c(&bad), Some(WireError::BadHeaderLen));
    }

    #[test]
    fn short_tcp_quote_translation() {
        // Real server REAL:80 answered CLIENT; its reply was NATed to VIP:80 and some router
        // sent an error back quoting VIP:80 -> CLIENT:40000; in NAT the LB sees the reverse:
        // an error from the client side quoting CLIENT -> VIP, to be sent to REAL.
        let orig = tcp(CLIENT, 40000, VIP, 80);
        let mut q = orig[..28].to_vec();
        let mut v = QuotedIpv4::new_checked(&mut q[..]).unwrap();
        v.rewrite_dst(REAL, 8080);
        assert!(v.verify_header_checksum());
        assert_eq!((v.dst_addr(), v.dst_port()), (REAL, 8080));
        assert_eq!((v.src_addr(), v.src_port()), (CLIENT, 40000));
        // Equals the header of the packet as it was sent to the real server.
        let expected = tcp(CLIENT, 40000, REAL, 8080);
        assert_eq!(&q[..28], &expected[..28]);
    }

    #[test]
    fn long_tcp_quote_updates_tcp_checksum() {
        let orig = tcp(VIP, 80, CLIENT, 40000);
        let mut q = orig.clone();
        let mut v = QuotedIpv4::new_checked(&mut q[..]).unwrap();
        v.rewrite_src(REAL, 8080);
        assert_eq!(q, tcp(REAL, 8080, CLIENT, 40000));
    }

    #[test]
    fn udp_quote_with_and_without_checksum() {
        let mut q = udp(VIP, 53, CLIENT, 5353);
        QuotedIpv4::new_checked(&mut q[..])
            .unwrap()
            .rewrite_src(REAL, 1053);
        assert_eq!(q, udp(REAL, 1053, CLIENT, 5353));

        let mut q = udp(VIP, 53, CLIENT, 5353);
        q[26..28].copy_from_slice(&[0, 0]);
        let mut v = QuotedIpv4::new_checked(&mut q[..]).unwrap();
        v.rewrite_src(REAL, 1053);
        assert_eq!(be16(v.l4(), 6), 0, "absent UDP checksum stays absent");
        assert!(v.verify_header_checksum());
    }

    #[test]
    fn icmp_echo_quote() {
        let mut echo = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        let c = checksum::checksum(&echo);
        echo[2..4].copy_from_slice(&c.to_be_bytes());
        let mut q = ip(ip_proto::ICMP, CLIENT, VIP, &echo);
        let mut v = QuotedIpv4::new_checked(&mut q[..]).unwrap();
        assert_eq!(v.icmp_echo_ident(), 0x1234);
        v.rewrite_dst(REAL, 0x9999);
        assert_eq!(v.icmp_echo_ident(), 0x9999);
        assert_eq!(checksum::sum(v.l4()), 0xffff, "inner ICMP checksum valid");
        assert!(v.verify_header_checksum());
    }

    #[test]
    fn fragment_and_other_protocols() {
        let mut q = ip(47, CLIENT, VIP, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut v = QuotedIpv4::new_checked(&mut q[..]).unwrap();
        v.rewrite_dst(REAL, 7);
        assert_eq!(v.l4(), &[1, 2, 3, 4, 5, 6, 7, 8], "GRE payload untouched");
        assert!(v.verify_header_checksum());
        v.set_src_port(1);
        v.set_dst_port(2);
        v.fill_header_checksum();
        assert_eq!((v.src_port(), v.dst_port()), (1, 2));
        assert!(v.total_len() == 28 && v.header_checksum() != 0);

        let mut q = udp(VIP, 53, CLIENT, 5353);
        q[6..8].copy_from_slice(&[0x00, 0x10]); // fragment offset 128 bytes
        let mut v = QuotedIpv4::new_checked(&mut q[..]).unwrap();
        v.fill_header_checksum();
        assert!(!v.has_l4_header());
        v.rewrite_src(REAL, 1);
        assert_eq!(v.src_port(), 53, "fragment data is not a port");
    }
}
