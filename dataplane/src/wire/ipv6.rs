//! IPv6 fixed headers (RFC 8200) and a bounded walk over the common extension headers.

use std::net::Ipv6Addr;

use super::bytes::{be16, be32, set_be16, set_be32};
use super::error::WireError;
use super::ip_proto;

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// The minimum link MTU of IPv6 (RFC 8200 5): no Packet Too Big advertises less, and no
/// ICMPv6 error is longer (RFC 4443 2.4 (c)).
pub const MIN_MTU: u32 = 1280;

/// The walk gives up after this many extension headers: real traffic carries two or three,
/// and a bound keeps a crafted chain from costing more than a few loads.
pub const MAX_EXT_HEADERS: usize = 8;

/// A view of an IPv6 packet; `payload()` ends at the payload length, not the buffer's end.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// What a fragment header said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Fragment {
    /// Offset of this fragment's data in bytes.
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

/// Where the upper-layer (L4) header is, after the extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6UpperLayer {
    /// Upper-layer protocol number (TCP, UDP, ICMPv6, ...; 59 for "no next header").
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header.
    pub offset: usize,
    /// Present when a fragment header was crossed.
    pub fragment: Option<Ipv6Fragment>,
    /// Segments Left of a routing header (0 without one): when not 0 the destination address
    /// is an intermediate hop, and the packet must not be rewritten as if it ended there.
    pub segments_left: u8,
}

impl Ipv6UpperLayer {
    /// False for non-first fragments, whose bytes at `offset` are mid-datagram data.
    pub fn has_l4_header(&self) -> bool {
        !matches!(self.fragment, Some(f) if f.offset != 0)
    }
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Checks version and that the payload length fits in the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        if b.len() < HEADER_LEN + usize::from(be16(b, 4)) {
            return Err(WireError::Truncated);
        }
        Ok(Ipv6Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        (be16(self.buffer.as_ref(), 0) >> 4) as u8
    }

    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), 0) & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Next header of the fixed header (the first extension header, or the L4 protocol).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[6]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr_at(8))
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr_at(24))
    }

    fn addr_at(&self, off: usize) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[off..off + 16]);
        a
    }

    /// End of the packet: header plus payload length, clamped to the buffer.
    fn end(&self) -> usize {
        let len = self.buffer.as_ref().len();
        (HEADER_LEN + usize::from(self.payload_len())).min(len)
    }

    /// Everything after the fixed header, up to the payload length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.end()]
    }

    /// Walks the extension headers to the upper layer ([`walk_ext_headers`]).
    pub fn upper_layer(&self) -> Result<Ipv6UpperLayer, WireError> {
        walk_ext_headers(&self.buffer.as_ref()[..self.end()], self.next_header())
    }
}

/// Walks hop-by-hop, routing, fragment, destination-options and AH headers (and the RFC 6564
/// uniform-format ones: mobility, HIP, shim6, experimental) to the upper layer. `b` starts at
/// the fixed IPv6 header and ends where the packet (or an ICMPv6 error's quote) ends; `first`
/// is the fixed header's next header.
///
/// Errors, each its own reason: `Truncated` when a header runs past `b`; `Malformed` for a
/// hop-by-hop header that is not first (RFC 8200 4.1); `RepeatedExtHeader` when a header
/// appears twice (destination options: three times), which is how a looping chain shows;
/// `TooManyExtHeaders` past [`MAX_EXT_HEADERS`].
pub fn walk_ext_headers(b: &[u8], first: u8) -> Result<Ipv6UpperLayer, WireError> {
    let mut nh = first;
    let mut off = HEADER_LEN;
    let mut fragment = None;
    let mut segments_left = 0;
    // One bit per header type seen; destination options get a second bit (twice allowed).
    let mut seen: u32 = 0;
    let mut walked = 0;
    while let Some(bit) = ext_bit(nh, seen) {
        if walked == MAX_EXT_HEADERS {
            return Err(WireError::TooManyExtHeaders);
        }
        if nh == ip_proto::HOPOPT && off != HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if seen & bit != 0 {
            return Err(WireError::RepeatedExtHeader);
        }
        seen |= bit;
        walked += 1;
        let hdr = b.get(off..off + 2).ok_or(WireError::Truncated)?;
        let len = match nh {
            ip_proto::AH => (usize::from(hdr[1]) + 2) * 4,
            ip_proto::IPV6_FRAGMENT => {
                let hdr = b.get(off..off + 8).ok_or(WireError::Truncated)?;
                let f = be16(hdr, 2);
                fragment = Some(Ipv6Fragment {
                    offset: f & 0xfff8,
                    more: f & 1 != 0,
                    ident: be32(hdr, 4),
                });
                8
            }
            // The RFC 6564 uniform format: length in 8-octet units, not counting the first 8.
            _ => (usize::from(hdr[1]) + 1) * 8,
        };
        if off + len > b.len() {
            return Err(WireError::Truncated);
        }
        if nh == ip_proto::IPV6_ROUTING {
            // Inside the header: it is at least 8 bytes.
            segments_left = b[off + 3];
        }
        nh = hdr[0];
        off += len;
    }
    Ok(Ipv6UpperLayer {
        protocol: nh,
        offset: off,
        fragment,
        segments_left,
    })
}

/// The `seen` bit of extension header `nh`, or `None` when `nh` is not an extension header
/// (the upper layer). Destination options take a second bit once the first is set.
fn ext_bit(nh: u8, seen: u32) -> Option<u32> {
    let bit = match nh {
        ip_proto::HOPOPT => 1 << 0,
        ip_proto::IPV6_DSTOPTS if seen & (1 << 1) != 0 => 1 << 2,
        ip_proto::IPV6_DSTOPTS => 1 << 1,
        ip_proto::IPV6_ROUTING => 1 << 3,
        ip_proto::IPV6_MOBILITY => 1 << 4,
        ip_proto::HIP => 1 << 5,
        ip_proto::SHIM6 => 1 << 6,
        ip_proto::IPV6_EXPERIMENT1 => 1 << 7,
        ip_proto::IPV6_EXPERIMENT2 => 1 << 8,
        ip_proto::AH => 1 << 9,
        ip_proto::IPV6_FRAGMENT => 1 << 10,
        _ => return None,
    };
    Some(bit)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    pub fn set_traffic_class(&mut self, tc: u8) {
        let b = self.buffer.as_mut();
        let v = be16(b, 0) & 0xf00f | (u16::from(tc) << 4);
        set_be16(b, 0, v);
    }

    pub fn set_flow_label(&mut self, label: u32) {
        let b = self.buffer.as_mut();
        let v = be32(b, 0) & 0xfff0_0000 | (label & 0x000f_ffff);
        set_be32(b, 0, v);
    }

    pub fn set_payload_len(&mut self, len: u16) {
        set_be16(self.buffer.as_mut(), 4, len);
    }

    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[6] = nh;
    }

    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[7] = h;
    }

    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[8..24].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[24..40].copy_from_slice(&a.octets());
    }

    /// Exchanges source and destination (answering in place).
    pub fn swap_addrs(&mut self) {
        let (s, d) = self.buffer.as_mut()[8..40].split_at_mut(16);
        s.swap_with_slice(d);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.end();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A plain fixed IPv6 header, for building packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub payload_len: u16,
}

impl Ipv6Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Ipv6Repr {
        Ipv6Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            payload_len: p.payload_len(),
        }
    }

    /// Writes the 40-byte fixed header (traffic class and flow label zero).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let b = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        set_be32(b, 0, 6 << 28);
        set_be16(b, 4, self.payload_len);
        b[6] = self.next_header;
        b[7] = self.hop_limit;
        b[8..24].copy_from_slice(&self.src.octets());
        b[24..40].copy_from_slice(&self.dst.octets());
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2001:db8::1 -> 2001:db8::2, traffic class 0xb8, flow label 0x12345, hop limit 64, with
    /// the given next header and payload.
    fn packet(next_header: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x6b,
            0x81,
            0x23,
            0x45,
            0x00,
            0x00,
            next_header,
            0x40,
            0x20,
            0x01,
            0x0d,
            0xb8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0x01,
            0x20,
            0x01,
            0x0d,
            0xb8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0x02,
        ];
        p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn fixed_header() {
        let b = packet(ip_proto::UDP, &[0; 8]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        let ul = p.upper_layer().unwrap();
        assert_eq!((ul.protocol, ul.offset, ul.fragment), (17, 40, None));
        assert!(ul.has_l4_header());
        assert_eq!(Ipv6Repr::parse(&p).payload_len, 8);
    }

    #[test]
    fn checks() {
        let b = packet(ip_proto::UDP, &[0; 8]);
        assert_eq!(
            Ipv6Packet::new_checked(&b[..39]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            Ipv6Packet::new_checked(&b[..47]).err(),
            Some(WireError::Truncated)
        );
        let mut v4 = b.clone();
        v4[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&v4[..]).err(),
            Some(WireError::BadVersion)
        );
    }

    #[test]
    fn extension_chain() {
        // Hop-by-hop (8 bytes: PadN) -> routing (16 bytes) -> fragment (first, more) ->
        // destination options (8 bytes) -> TCP.
        let mut ext = vec![ip_proto::IPV6_ROUTING, 0, 1, 4, 0, 0, 0, 0];
        ext.extend([ip_proto::IPV6_FRAGMENT, 1, 0, 0, 0, 0, 0, 0]);
        ext.extend([0u8; 8]);
        ext.extend([
            ip_proto::IPV6_DSTOPTS,
            0,
            0x00,
            0x01,
            0xde,
            0xad,
            0xbe,
            0xef,
        ]);
        ext.extend([ip_proto::TCP, 0, 1, 4, 0, 0, 0, 0]);
        ext.extend([0u8; 20]);
        let b = packet(ip_proto::HOPOPT, &ext);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let ul = p.upper_layer().unwrap();
        assert_eq!(ul.protocol, ip_proto::TCP);
        assert_eq!(ul.offset, 40 + 8 + 16 + 8 + 8);
        assert_eq!(ul.segments_left, 0, "a routing header with no segment left");
        assert_eq!(
            ul.fragment,
            Some(Ipv6Fragment {
                offset: 0,
                more: true,
                ident: 0xdeadbeef
            })
        );
        assert!(ul.has_l4_header());
    }

    #[test]
    fn later_fragment_and_ah() {
        // AH (payload len 4 -> 24 bytes) then a fragment at offset 1448 -> UDP data.
        let mut ext = vec![ip_proto::IPV6_FRAGMENT, 4, 0, 0, 0, 0, 0, 0];
        ext.extend([0u8; 16]);
        ext.extend([ip_proto::UDP, 0]);
        ext.extend(1448u16.to_be_bytes());
        ext.extend([0, 0, 0, 9]);
        ext.extend([0xaa; 16]);
        let b = packet(ip_proto::AH, &ext);
        let ul = Ipv6Packet::new_checked(&b[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert_eq!(ul.protocol, ip_proto::UDP);
        assert_eq!(ul.offset, 40 + 24 + 8);
        assert_eq!(ul.fragment.map(|f| (f.offset, f.more)), Some((1448, false)));
        assert!(!ul.has_l4_header());
    }

    #[test]
    fn bad_chains() {
        // Destination options header claiming 16 bytes with 8 present.
        let b = packet(
            ip_proto::IPV6_DSTOPTS,
            &[ip_proto::TCP, 1, 0, 0, 0, 0, 0, 0],
        );
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::Truncated));
        // Header cut off.
        let b = packet(ip_proto::IPV6_FRAGMENT, &[ip_proto::TCP, 0, 0]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::Truncated));
        // Hop-by-hop not first.
        let b = packet(
            ip_proto::IPV6_DSTOPTS,
            &[0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0],
        );
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::Malformed));
        // A looping chain of destination options: the third one is a repeat.
        let chain: Vec<u8> = (0..12)
            .flat_map(|_| [ip_proto::IPV6_DSTOPTS, 0, 1, 4, 0, 0, 0, 0])
            .collect();
        let b = packet(ip_proto::IPV6_DSTOPTS, &chain);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::RepeatedExtHeader));
        // Two destination options are allowed (before routing and before the upper layer).
        let b = packet(ip_proto::IPV6_DSTOPTS, &chain[..16]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::RepeatedExtHeader));
        let mut two = chain[..16].to_vec();
        two[8] = ip_proto::TCP;
        two.extend([0u8; 20]);
        let b = packet(ip_proto::IPV6_DSTOPTS, &two);
        let ul = Ipv6Packet::new_checked(&b[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert_eq!((ul.protocol, ul.offset), (ip_proto::TCP, 56));
        // Routing and fragment headers twice.
        let b = packet(
            ip_proto::IPV6_ROUTING,
            &[
                ip_proto::IPV6_ROUTING,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                6,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
        );
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::RepeatedExtHeader));
        let b = packet(
            ip_proto::IPV6_FRAGMENT,
            &[
                ip_proto::IPV6_FRAGMENT,
                0,
                0,
                1,
                0,
                0,
                0,
                1,
                6,
                0,
                0,
                1,
                0,
                0,
                0,
                1,
            ],
        );
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::RepeatedExtHeader));
        // Nine distinct headers: past the bound of eight.
        let kinds = [
            ip_proto::IPV6_DSTOPTS,
            ip_proto::IPV6_ROUTING,
            ip_proto::IPV6_MOBILITY,
            ip_proto::HIP,
            ip_proto::SHIM6,
            ip_proto::IPV6_EXPERIMENT1,
            ip_proto::IPV6_EXPERIMENT2,
            ip_proto::IPV6_FRAGMENT,
            ip_proto::IPV6_DSTOPTS,
        ];
        let mut chain = Vec::new();
        for next in kinds.iter().skip(1).chain([&ip_proto::TCP]) {
            chain.extend([*next, 0, 0, 0, 0, 0, 0, 0]);
        }
        chain.extend([0u8; 20]);
        let b = packet(ip_proto::HOPOPT, &chain);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::TooManyExtHeaders));
        // The same chain without the hop-by-hop header (eight) is walked to TCP.
        let b = packet(kinds[1], &chain[8..]);
        let ul = Ipv6Packet::new_checked(&b[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert_eq!((ul.protocol, ul.offset), (ip_proto::TCP, 40 + 8 * 8));
        assert_eq!(ul.fragment.map(|f| f.ident), Some(0));
        // No next header.
        let b = packet(ip_proto::IPV6_NONXT, &[]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer().unwrap().protocol, ip_proto::IPV6_NONXT);
    }

    #[test]
    fn setters_and_repr() {
        let mut b = packet(ip_proto::UDP, &[1, 2, 3, 4]);
        let orig = b.clone();
        let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        p.swap_addrs();
        assert_eq!(p.src_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        p.swap_addrs();
        p.set_traffic_class(0x04);
        p.set_flow_label(0xfffff);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 4, 0xfffff)
        );
        p.set_traffic_class(0xb8);
        p.set_flow_label(0x12345);
        p.set_hop_limit(1);
        p.set_hop_limit(64);
        p.set_next_header(ip_proto::TCP);
        p.set_next_header(ip_proto::UDP);
        p.payload_mut()[0] = 1;
        assert_eq!(b, orig);

        let r = Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: ip_proto::UDP,
            hop_limit: 64,
            payload_len: 4,
        };
        let mut out = vec![0u8; 44];
        r.emit(&mut out).unwrap();
        let mut p = Ipv6Packet::new_checked(&mut out[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), r);
        p.set_src_addr("2001:db8::9".parse().unwrap());
        p.set_dst_addr("2001:db8::8".parse().unwrap());
        p.set_payload_len(2);
        assert_eq!(p.payload().len(), 2);
        assert_eq!(r.emit(&mut [0u8; 39]), Err(WireError::Truncated));
    }
}
