//! Parse once: the one description of a frame that the engine's warm-up, classification and
//! rewrites all use. One pass over Ethernet (one VLAN tag) -> ARP, IPv4 or IPv6 (through its
//! extension headers) -> the first bytes of TCP/UDP/ICMP/ICMPv6; every field the forwarding
//! decisions need, by value, and the offsets the rewrites start from.
//!
//! Per family: [`Net`] has one variant per network protocol, so IPv6 becomes one more variant
//! (and one more `parse_*` function) without adding a byte of work to the IPv4 path.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::arp::ArpPacket;
use super::error::WireError;
use super::ethernet::{ether_type, EthernetFrame};
use super::icmpv4;
use super::icmpv6::{self, icmpv6_type};
use super::ip_proto;
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::mac::MacAddr;
use super::{tcp, udp};

/// What a frame is, as far as the engine looks into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Offset of the L3 header in the frame (14, or 18 behind an 802.1Q tag).
    pub l3: usize,
    pub net: Net,
}

/// The network layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    Arp(ArpFacts),
    Ipv4(Ipv4Facts),
    Ipv6(Ipv6Facts),
    /// An EtherType the engine does not handle (its value).
    Other(u16),
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpFacts {
    pub operation: u16,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_ip: Ipv4Addr,
}

impl ArpFacts {
    /// Sender and target address equal: an announcement (gratuitous ARP), not a question.
    #[inline]
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }
}

/// An IPv4 packet: addresses, protocol, fragment facts and (when it carries one) what its L4
/// header says.
///
/// `repr(C)`, in this field order, so that every field sits at its natural alignment: the
/// default layout put the (byte-aligned) addresses at odd offsets behind the `usize`, and the
/// burst warm-up's copy of the parse into its array then read words across narrower stores
/// (a store-forwarding stall per packet, ~5 % of a NAT packet's samples).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Ipv4Facts {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// TCP/UDP ports (0 for other protocols and later fragments).
    pub sport: u16,
    pub dport: u16,
    /// The IP total length (header and payload; the frame may hold padding after it).
    pub total_len: u16,
    /// IP identification: with addresses and protocol it names a fragment's datagram.
    pub ident: u16,
    /// Offset of the L4 header in the frame (after IP options).
    pub l4: usize,
    /// IP protocol number ([`ip_proto`]).
    pub proto: u8,
    /// TCP flags byte (0 unless TCP).
    pub tcp_flags: u8,
    pub dont_frag: bool,
    /// Part of a fragmented datagram (MF set or a non-zero offset).
    pub fragment: bool,
    /// A fragment other than the first: it carries no L4 header.
    pub later: bool,
    /// ICMP message type, when the packet carries a whole ICMP header and is not a fragment.
    pub icmp_type: Option<u8>,
}

impl Default for Ipv4Facts {
    fn default() -> Self {
        Ipv4Facts {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            sport: 0,
            dport: 0,
            total_len: 0,
            ident: 0,
            l4: 0,
            proto: 0,
            tcp_flags: 0,
            dont_frag: false,
            fragment: false,
            later: false,
            icmp_type: None,
        }
    }
}

impl Ipv4Facts {
    /// An unfragmented ICMP echo request.
    #[inline]
    pub fn is_echo_request(&self) -> bool {
        self.icmp_type == Some(icmpv4::icmp_type::ECHO_REQUEST)
    }
}

/// An IPv6 packet: addresses, the upper-layer protocol after the extension headers, the
/// Fragment header's facts and (when it carries one) what its L4 header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Facts {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Upper-layer protocol after the extension headers ([`ip_proto`]).
    pub proto: u8,
    /// Offset of the L4 header in the frame (after the extension headers).
    pub l4: usize,
    /// The IPv6 payload length (extension headers and L4; the frame may hold padding after).
    pub payload_len: u16,
    pub hop_limit: u8,
    /// Extension headers between the fixed header and L4 (`l4 - l3 - 40`).
    pub ext_len: u16,
    /// A routing header's Segments Left (0 without one): not 0, the destination is an
    /// intermediate hop and the rewrites refuse the packet.
    pub segments_left: u8,
    /// Part of a fragmented datagram (a Fragment header with MF set or a non-zero offset;
    /// an atomic fragment, RFC 6946, is not).
    pub fragment: bool,
    /// A fragment other than the first: it carries no L4 header.
    pub later: bool,
    /// Fragment offset in bytes (0 unless `fragment`).
    pub frag_offset: u16,
    /// The Fragment header's M flag.
    pub more: bool,
    /// Fragment identification: with the addresses it names a fragment's datagram.
    pub ident: u32,
    /// TCP/UDP ports (0 for other protocols and later fragments).
    pub sport: u16,
    pub dport: u16,
    /// TCP flags byte (0 unless TCP).
    pub tcp_flags: u8,
    /// ICMPv6 message type, when the packet carries a whole ICMPv6 header and is not a
    /// fragment.
    pub icmp_type: Option<u8>,
}

impl Ipv6Facts {
    /// An unfragmented ICMPv6 echo request.
    #[inline]
    pub fn is_echo_request(&self) -> bool {
        self.icmp_type == Some(icmpv6_type::ECHO_REQUEST)
    }

    /// Neighbor Solicitation or Advertisement (Router Advertisements are not: ignored).
    #[inline]
    pub fn is_neighbour_discovery(&self) -> bool {
        matches!(
            self.icmp_type,
            Some(icmpv6_type::NEIGHBOR_SOLICIT | icmpv6_type::NEIGHBOR_ADVERT)
        )
    }
}

/// Parses the frame's headers. Errors: a frame too short or inconsistent at any layer the
/// engine reads (Ethernet, ARP, the IPv4 header, the TCP/UDP header of a packet that carries
/// one; for IPv6 also an extension-header chain that is truncated, repeats a header or is
/// longer than the bound, each its own [`WireError`]). Never panics. Always inlined: returned
/// through memory, its result cost a store-forwarding stall per packet in the engine benchmark.
#[inline(always)]
pub fn parse_frame(frame: &[u8]) -> Result<Parsed, WireError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let l3 = eth.header_len();
    let net = match eth.ethertype() {
        ether_type::IPV4 => Net::Ipv4(parse_ipv4(eth.payload(), l3)?),
        ether_type::IPV6 => Net::Ipv6(parse_ipv6(eth.payload(), l3)?),
        ether_type::ARP => {
            let a = ArpPacket::new_checked(eth.payload())?;
            Net::Arp(ArpFacts {
                operation: a.operation(),
                sender_mac: a.sender_mac(),
                sender_ip: a.sender_ip(),
                target_ip: a.target_ip(),
            })
        }
        other => Net::Other(other),
    };
    Ok(Parsed { l3, net })
}

/// Source port, destination port and TCP flags (0 for UDP) of the TCP or UDP header at the
/// start of `l4`: the one place both families read them.
#[inline(always)]
fn transport(proto: u8, l4: &[u8]) -> Result<(u16, u16, u8), WireError> {
    let len = if proto == ip_proto::TCP {
        tcp::HEADER_LEN
    } else {
        udp::HEADER_LEN
    };
    let h = l4.get(..len).ok_or(WireError::Truncated)?;
    let flags = if proto == ip_proto::TCP { h[13] } else { 0 };
    Ok((
        u16::from_be_bytes([h[0], h[1]]),
        u16::from_be_bytes([h[2], h[3]]),
        flags,
    ))
}

/// The IPv4 packet `buf` (which starts at frame offset `l3`).
#[inline]
pub fn parse_ipv4(buf: &[u8], l3: usize) -> Result<Ipv4Facts, WireError> {
    let p = Ipv4Packet::new_checked(buf)?;
    let fragment = p.is_fragment();
    let mut ip = Ipv4Facts {
        src: p.src_addr(),
        dst: p.dst_addr(),
        proto: p.protocol(),
        l4: l3 + p.header_len(),
        total_len: p.total_len(),
        dont_frag: p.dont_frag(),
        fragment,
        later: !p.has_l4_header(),
        ident: p.ident(),
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        icmp_type: None,
    };
    if ip.later {
        return Ok(ip);
    }
    let l4 = p.payload();
    match ip.proto {
        ip_proto::TCP | ip_proto::UDP => {
            (ip.sport, ip.dport, ip.tcp_flags) = transport(ip.proto, l4)?;
        }
        ip_proto::ICMP if !fragment && l4.len() >= icmpv4::HEADER_LEN => {
            ip.icmp_type = Some(l4[0]);
        }
        _ => {}
    }
    Ok(ip)
}

/// The IPv6 packet `buf` (which starts at frame offset `l3`): the payload length must fit the
/// buffer, and the extension headers are walked (bounded) to the upper layer.
#[inline]
pub fn parse_ipv6(buf: &[u8], l3: usize) -> Result<Ipv6Facts, WireError> {
    let p = Ipv6Packet::new_checked(buf)?;
    let ul = p.upper_layer()?;
    let frag = ul.fragment.filter(|f| f.offset != 0 || f.more);
    let mut ip = Ipv6Facts {
        src: p.src_addr(),
        dst: p.dst_addr(),
        proto: ul.protocol,
        l4: l3 + ul.offset,
        payload_len: p.payload_len(),
        hop_limit: p.hop_limit(),
        // At most 8 headers of at most 2 KiB each: fits.
        ext_len: (ul.offset - super::ipv6::HEADER_LEN) as u16,
        segments_left: ul.segments_left,
        fragment: frag.is_some(),
        later: !ul.has_l4_header(),
        frag_offset: frag.map_or(0, |f| f.offset),
        more: frag.is_some_and(|f| f.more),
        ident: frag.map_or(0, |f| f.ident),
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        icmp_type: None,
    };
    if ip.later {
        return Ok(ip);
    }
    // `upper_layer` proved `offset` within the payload-length-bounded buffer.
    let end = super::ipv6::HEADER_LEN + usize::from(ip.payload_len);
    let l4 = buf.get(ul.offset..end).ok_or(WireError::Truncated)?;
    match ip.proto {
        ip_proto::TCP | ip_proto::UDP => {
            (ip.sport, ip.dport, ip.tcp_flags) = transport(ip.proto, l4)?;
        }
        ip_proto::ICMPV6 if !ip.fragment && l4.len() >= icmpv6::HEADER_LEN => {
            ip.icmp_type = Some(l4[0]);
        }
        _ => {}
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EthernetRepr, Ipv4Repr};

    fn frame(vlan: Option<u16>, proto: u8, l4: &[u8], frag: u16) -> Vec<u8> {
        let eth = EthernetRepr {
            dst: MacAddr([2, 0, 0, 0, 0, 1]),
            src: MacAddr([2, 0, 0, 0, 0, 2]),
            vlan_tci: vlan,
            ethertype: ether_type::IPV4,
        };
        let mut f = vec![0u8; eth.header_len() + 20];
        eth.emit(&mut f).unwrap();
        let l3 = eth.header_len();
        Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: Ipv4Addr::new(198, 18, 0, 100),
            protocol: proto,
            ttl: 64,
            tos: 0,
            ident: 0x4242,
            dont_frag: frag == 0,
            payload_len: l4.len() as u16,
        }
        .emit(&mut f[l3..])
        .unwrap();
        if frag != 0 {
            f[l3 + 6..l3 + 8].copy_from_slice(&frag.to_be_bytes());
        }
        f.extend_from_slice(l4);
        f
    }

    #[test]
    fn tcp_behind_a_vlan_tag() {
        let mut tcp = [0u8; 20];
        tcp[..4].copy_from_slice(&[0x9c, 0x40, 0, 80]);
        tcp[13] = 0x12;
        let p = parse_frame(&frame(Some(7), ip_proto::TCP, &tcp, 0)).unwrap();
        assert_eq!(p.l3, 18);
        let Net::Ipv4(ip) = p.net else { panic!() };
        assert_eq!((ip.sport, ip.dport, ip.tcp_flags), (40000, 80, 0x12));
        assert_eq!((ip.l4, ip.total_len, ip.dont_frag), (38, 40, true));
        assert_eq!((ip.fragment, ip.later, ip.ident), (false, false, 0x4242));
        assert_eq!(ip.icmp_type, None);
        // A TCP header cut short is malformed.
        assert_eq!(
            parse_frame(&frame(None, ip_proto::TCP, &tcp[..19], 0)),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn fragments_and_icmp() {
        let udp = [0, 53, 0, 54, 0, 20, 0, 0];
        let first = parse_frame(&frame(None, ip_proto::UDP, &udp, 0x2000)).unwrap();
        let Net::Ipv4(ip) = first.net else { panic!() };
        assert_eq!(
            (ip.fragment, ip.later, ip.sport, ip.dport),
            (true, false, 53, 54)
        );
        // A later fragment: no L4 header, even if its bytes would be too short for one.
        let later = parse_frame(&frame(None, ip_proto::UDP, &[1, 2], 0x0004)).unwrap();
        let Net::Ipv4(ip) = later.net else { panic!() };
        assert_eq!((ip.fragment, ip.later, ip.sport), (true, true, 0));
        let echo = [8, 0, 0, 0, 0, 1, 0, 1];
        let p = parse_frame(&frame(None, ip_proto::ICMP, &echo, 0)).unwrap();
        let Net::Ipv4(ip) = p.net else { panic!() };
        assert!(ip.is_echo_request());
        let p = parse_frame(&frame(None, ip_proto::ICMP, &echo, 0x2000)).unwrap();
        let Net::Ipv4(ip) = p.net else { panic!() };
        assert!(!ip.is_echo_request(), "a fragmented echo is not answered");
        let p = parse_frame(&frame(None, ip_proto::ICMP, &echo[..7], 0)).unwrap();
        let Net::Ipv4(ip) = p.net else { panic!() };
        assert_eq!(ip.icmp_type, None);
    }

    #[test]
    fn arp_other_and_garbage() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&ether_type::ARP.to_be_bytes());
        let mut a = [0u8; 28];
        crate::wire::ArpRepr::request(
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
        )
        .emit(&mut a)
        .unwrap();
        f.extend_from_slice(&a);
        let p = parse_frame(&f).unwrap();
        assert_eq!(
            p.net,
            Net::Arp(ArpFacts {
                operation: 1,
                sender_mac: MacAddr([2, 0, 0, 0, 0, 2]),
                sender_ip: Ipv4Addr::new(198, 18, 0, 2),
                target_ip: Ipv4Addr::new(198, 18, 0, 1),
            })
        );
        assert!(parse_frame(&f[..f.len() - 1]).is_err());
        f[12..14].copy_from_slice(&ether_type::IPV4.to_be_bytes());
        assert_eq!(parse_frame(&f), Err(WireError::BadVersion));
        f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
        assert_eq!(parse_frame(&f).unwrap().net, Net::Other(0x88b5));
        for n in 0..14 {
            assert!(parse_frame(&f[..n]).is_err());
        }
    }

    /// An IPv6 frame 2001:db8::2 -> 2001:db8::100, hop limit 64, with `ext` (extension headers,
    /// their first next header `first`) then `l4`.
    fn frame6(vlan: Option<u16>, first: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
        let eth = EthernetRepr {
            dst: MacAddr([2, 0, 0, 0, 0, 1]),
            src: MacAddr([2, 0, 0, 0, 0, 2]),
            vlan_tci: vlan,
            ethertype: ether_type::IPV6,
        };
        let mut f = vec![0u8; eth.header_len() + 40];
        eth.emit(&mut f).unwrap();
        let l3 = eth.header_len();
        crate::wire::Ipv6Repr {
            src: "2001:db8::2".parse().unwrap(),
            dst: "2001:db8::100".parse().unwrap(),
            next_header: first,
            hop_limit: 64,
            payload_len: (ext.len() + l4.len()) as u16,
        }
        .emit(&mut f[l3..])
        .unwrap();
        f.extend_from_slice(ext);
        f.extend_from_slice(l4);
        f
    }

    #[test]
    fn ipv6_tcp_through_extension_headers() {
        let mut tcp = [0u8; 20];
        tcp[..4].copy_from_slice(&[0x9c, 0x40, 0, 80]);
        tcp[13] = 0x02;
        // Hop-by-hop (PadN), then destination options, then TCP; behind a VLAN tag.
        let ext = [60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
        let mut f = frame6(Some(9), ip_proto::HOPOPT, &ext, &tcp);
        f.extend_from_slice(&[0xee; 4]); // Ethernet padding after the payload length
        let p = parse_frame(&f).unwrap();
        assert_eq!(p.l3, 18);
        let Net::Ipv6(ip) = p.net else { panic!() };
        assert_eq!(
            ip,
            Ipv6Facts {
                src: "2001:db8::2".parse().unwrap(),
                dst: "2001:db8::100".parse().unwrap(),
                proto: ip_proto::TCP,
                l4: 18 + 40 + 16,
                payload_len: 36,
                hop_limit: 64,
                ext_len: 16,
                segments_left: 0,
                fragment: false,
                later: false,
                frag_offset: 0,
                more: false,
                ident: 0,
                sport: 40000,
                dport: 80,
                tcp_flags: 0x02,
                icmp_type: None,
            }
        );
        // A TCP header cut short by the payload length, though the frame has the bytes.
        let mut short = frame6(None, ip_proto::TCP, &[], &tcp[..19]);
        short.push(0);
        assert_eq!(parse_frame(&short), Err(WireError::Truncated));
    }

    #[test]
    fn ipv6_fragments_icmp_and_bad_lengths() {
        let udp = [0, 53, 0, 54, 0, 20, 0, 0];
        // First fragment (offset 0, M), ident 0x01020304.
        let first = [ip_proto::UDP, 0, 0, 1, 1, 2, 3, 4];
        let p = parse_frame(&frame6(None, ip_proto::IPV6_FRAGMENT, &first, &udp)).unwrap();
        let Net::Ipv6(ip) = p.net else { panic!() };
        assert_eq!(
            (ip.fragment, ip.later, ip.more, ip.frag_offset, ip.ident),
            (true, false, true, 0, 0x0102_0304)
        );
        assert_eq!((ip.sport, ip.dport, ip.l4, ip.ext_len), (53, 54, 62, 8));
        // A later fragment (offset 1448, last): no L4 header even if too short for one.
        let later = [ip_proto::UDP, 0, 0x05, 0xa8, 1, 2, 3, 4];
        let p = parse_frame(&frame6(None, ip_proto::IPV6_FRAGMENT, &later, &[1, 2])).unwrap();
        let Net::Ipv6(ip) = p.net else { panic!() };
        assert_eq!(
            (ip.fragment, ip.later, ip.more, ip.frag_offset, ip.sport),
            (true, true, false, 1448, 0)
        );
        // An atomic fragment (offset 0, no M) is a whole packet.
        let atomic = [ip_proto::UDP, 0, 0, 0, 1, 2, 3, 4];
        let p = parse_frame(&frame6(None, ip_proto::IPV6_FRAGMENT, &atomic, &udp)).unwrap();
        let Net::Ipv6(ip) = p.net else { panic!() };
        assert_eq!((ip.fragment, ip.later, ip.sport), (false, false, 53));
        // Echo request, and a fragmented one (not answered).
        let echo = [128, 0, 0, 0, 0, 1, 0, 1];
        let p = parse_frame(&frame6(None, ip_proto::ICMPV6, &[], &echo)).unwrap();
        let Net::Ipv6(ip) = p.net else { panic!() };
        assert!(ip.is_echo_request() && !ip.is_neighbour_discovery());
        let p = parse_frame(&frame6(
            None,
            ip_proto::IPV6_FRAGMENT,
            &[58, 0, 0, 1, 0, 0, 0, 1],
            &echo,
        ));
        let Net::Ipv6(ip) = p.unwrap().net else {
            panic!()
        };
        assert!(!ip.is_echo_request());
        let ns = [135, 0, 0, 0, 0, 0, 0, 0];
        let p = parse_frame(&frame6(None, ip_proto::ICMPV6, &[], &ns)).unwrap();
        let Net::Ipv6(ip) = p.net else { panic!() };
        assert!(ip.is_neighbour_discovery());
        // Payload length past the frame; a chain that repeats; one cut short.
        let mut f = frame6(None, ip_proto::UDP, &[], &udp);
        f[18..20].copy_from_slice(&9u16.to_be_bytes());
        assert_eq!(parse_frame(&f), Err(WireError::Truncated));
        let rep = [44, 0, 0, 1, 0, 0, 0, 1, 17, 0, 0, 1, 0, 0, 0, 1];
        let f = frame6(None, ip_proto::IPV6_FRAGMENT, &rep, &udp);
        assert_eq!(parse_frame(&f), Err(WireError::RepeatedExtHeader));
        let f = frame6(
            None,
            ip_proto::IPV6_DSTOPTS,
            &[17, 1, 0, 0, 0, 0, 0, 0],
            &udp,
        );
        assert_eq!(parse_frame(&f), Err(WireError::Truncated));
        let mut f = frame6(None, ip_proto::UDP, &[], &udp);
        f[14] = 0x45;
        assert_eq!(parse_frame(&f), Err(WireError::BadVersion));
    }
}
