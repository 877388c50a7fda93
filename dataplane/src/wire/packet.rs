//! `parse_any`: one walk over a whole frame, Ethernet -> (VLAN) -> ARP / IPv4 / IPv6 ->
//! TCP / UDP / ICMP, returning a small `Copy` summary. Tests, the property suite and the fuzz
//! target drive every parser through it; it also verifies every checksum it can, so it doubles
//! as a full validator.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::arp::ArpPacket;
use super::error::WireError;
use super::ethernet::{ether_type, EthernetFrame};
use super::icmpv4::Icmpv4Packet;
use super::icmpv6::Icmpv6Packet;
use super::ip_proto;
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::tcp::{TcpFlags, TcpSegment};
use super::udp::UdpDatagram;

/// What a frame is, down to its L4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketSummary {
    pub vlan_id: Option<u16>,
    pub ethertype: u16,
    /// Offset of the L3 header in the frame.
    pub l3_offset: usize,
    pub l3: L3Summary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3Summary {
    Arp {
        operation: u16,
        sender_ip: Ipv4Addr,
        target_ip: Ipv4Addr,
    },
    Ipv4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        /// MF set or non-zero offset.
        fragment: bool,
        header_checksum_ok: bool,
        /// Offset of the L4 header in the frame.
        l4_offset: usize,
        l4: L4Summary,
    },
    Ipv6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        /// Upper-layer protocol after the extension headers.
        protocol: u8,
        fragment: bool,
        l4_offset: usize,
        l4: L4Summary,
    },
    /// An EtherType this data plane does not parse.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Summary {
    Tcp {
        src_port: u16,
        dst_port: u16,
        flags: TcpFlags,
        /// `None` when it cannot be checked (a fragment).
        checksum_ok: Option<bool>,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        checksum_ok: Option<bool>,
    },
    Icmpv4 {
        msg_type: u8,
        code: u8,
        checksum_ok: Option<bool>,
        /// For error messages whose quote parses.
        quote: Option<QuoteSummary>,
    },
    Icmpv6 {
        msg_type: u8,
        code: u8,
        checksum_ok: Option<bool>,
    },
    /// A non-first fragment: no L4 header here.
    NotFirstFragment,
    /// A protocol this data plane does not parse (IPIP, GRE, ESP, ...).
    Other,
}

/// The connection an ICMPv4 error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteSummary {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

/// Parses a whole Ethernet frame. Never panics; the first layer that does not parse decides
/// the error.
pub fn parse_any(frame: &[u8]) -> Result<PacketSummary, WireError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let l3_offset = eth.header_len();
    let l3 = match eth.ethertype() {
        ether_type::ARP => {
            let a = ArpPacket::new_checked(eth.payload())?;
            L3Summary::Arp {
                operation: a.operation(),
                sender_ip: a.sender_ip(),
                target_ip: a.target_ip(),
            }
        }
        ether_type::IPV4 => parse_ipv4(eth.payload(), l3_offset)?,
        ether_type::IPV6 => parse_ipv6(eth.payload(), l3_offset)?,
        _ => L3Summary::Other,
    };
    Ok(PacketSummary {
        vlan_id: eth.vlan_id(),
        ethertype: eth.ethertype(),
        l3_offset,
        l3,
    })
}

fn parse_ipv4(buf: &[u8], l3_offset: usize) -> Result<L3Summary, WireError> {
    let ip = Ipv4Packet::new_checked(buf)?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let fragment = ip.is_fragment();
    let l4 = if !ip.has_l4_header() {
        L4Summary::NotFirstFragment
    } else {
        let seg = ip.payload();
        match ip.protocol() {
            ip_proto::TCP => {
                let t = TcpSegment::new_checked(seg)?;
                L4Summary::Tcp {
                    src_port: t.src_port(),
                    dst_port: t.dst_port(),
                    flags: t.flags(),
                    checksum_ok: (!fragment).then(|| t.verify_checksum_v4(src, dst)),
                }
            }
            ip_proto::UDP if fragment => first_fragment_udp(seg)?,
            ip_proto::UDP => {
                let u = UdpDatagram::new_checked(seg)?;
                L4Summary::Udp {
                    src_port: u.src_port(),
                    dst_port: u.dst_port(),
                    checksum_ok: Some(u.verify_checksum_v4(src, dst)),
                }
            }
            ip_proto::ICMP => {
                let i = Icmpv4Packet::new_checked(seg)?;
                let quote = i.quote().ok().map(|q| QuoteSummary {
                    src: q.src_addr(),
                    dst: q.dst_addr(),
                    protocol: q.protocol(),
                    src_port: q.src_port(),
                    dst_port: q.dst_port(),
                });
                L4Summary::Icmpv4 {
                    msg_type: i.msg_type(),
                    code: i.code(),
                    checksum_ok: (!fragment).then(|| i.verify_checksum()),
                    quote,
                }
            }
            _ => L4Summary::Other,
        }
    };
    Ok(L3Summary::Ipv4 {
        src,
        dst,
        protocol: ip.protocol(),
        fragment,
        header_checksum_ok: ip.verify_checksum(),
        l4_offset: l3_offset + ip.header_len(),
        l4,
    })
}

/// The UDP header of a first fragment: its length field counts the whole datagram, which
/// this fragment does not hold, so only the ports are read.
fn first_fragment_udp(seg: &[u8]) -> Result<L4Summary, WireError> {
    let h = seg
        .get(..super::udp::HEADER_LEN)
        .ok_or(WireError::Truncated)?;
    Ok(L4Summary::Udp {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        checksum_ok: None,
    })
}

fn parse_ipv6(buf: &[u8], l3_offset: usize) -> Result<L3Summary, WireError> {
    let ip = Ipv6Packet::new_checked(buf)?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let ul = ip.upper_layer()?;
    let fragment = ul.fragment.is_some();
    // `upper_layer` bounds the offset by the payload length, so this slice is in range; `get`
    // keeps it panic-free regardless.
    let end = super::ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let seg = buf.get(ul.offset..end).ok_or(WireError::Truncated)?;
    let l4 = if !ul.has_l4_header() {
        L4Summary::NotFirstFragment
    } else {
        match ul.protocol {
            ip_proto::TCP => {
                let t = TcpSegment::new_checked(seg)?;
                L4Summary::Tcp {
                    src_port: t.src_port(),
                    dst_port: t.dst_port(),
                    flags: t.flags(),
                    checksum_ok: (!fragment).then(|| t.verify_checksum_v6(&src, &dst)),
                }
            }
            ip_proto::UDP if fragment => first_fragment_udp(seg)?,
            ip_proto::UDP => {
                let u = UdpDatagram::new_checked(seg)?;
                L4Summary::Udp {
                    src_port: u.src_port(),
                    dst_port: u.dst_port(),
                    checksum_ok: Some(u.verify_checksum_v6(&src, &dst)),
                }
            }
            ip_proto::ICMPV6 => {
                let i = Icmpv6Packet::new_checked(seg)?;
                L4Summary::Icmpv6 {
                    msg_type: i.msg_type(),
                    code: i.code(),
                    checksum_ok: (!fragment).then(|| i.verify_checksum(&src, &dst)),
                }
            }
            _ => L4Summary::Other,
        }
    };
    Ok(L3Summary::Ipv6 {
        src,
        dst,
        protocol: ul.protocol,
        fragment,
        l4_offset: l3_offset + ul.offset,
        l4,
    })
}

#[cfg(test)]
mod tests {
    use super::super::arp::ArpRepr;
    use super::super::ethernet::EthernetRepr;
    use super::super::icmpv4::Icmpv4Repr;
    use super::super::ipv4::Ipv4Repr;
    use super::super::ipv6::Ipv6Repr;
    use super::super::mac::MacAddr;
    use super::super::udp::UdpRepr;
    use super::*;

    /// A TCP SYN 198.18.0.1:40000 -> 203.0.113.10:80 as captured: Ethernet, IPv4 (checksum
    /// 0x1c58), TCP with MSS/SACK/timestamps/wscale (checksum 0xc683).
    const SYN_FRAME: [u8; 74] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x22, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0x08,
        0x00, // eth
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x1c, 0x58, 0xc6, 0x12, 0x00,
        0x01, 0xcb, 0x00, 0x71, 0x0a, // ipv4
        0x9c, 0x40, 0x00, 0x50, 0x3b, 0x9a, 0xca, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0xc6, 0x83, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01,
        0xe2, 0x40, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07, // tcp
    ];

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

    fn eth(ethertype: u16, vlan_tci: Option<u16>, payload: &[u8]) -> Vec<u8> {
        let repr = EthernetRepr {
            dst: MacAddr([2, 0, 0, 0, 0, 0x22]),
            src: MacAddr([2, 0, 0, 0, 0, 0x11]),
            vlan_tci,
            ethertype,
        };
        let mut f = vec![0u8; repr.header_len()];
        repr.emit(&mut f).unwrap();
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(protocol: u8, l4: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 20];
        Ipv4Repr {
            src: CLIENT,
            dst: VIP,
            protocol,
            ttl: 64,
            tos: 0,
            ident: 9,
            dont_frag: false,
            payload_len: l4.len() as u16,
        }
        .emit(&mut b)
        .unwrap();
        b.extend_from_slice(l4);
        b
    }

    #[test]
    fn tcp_syn_frame() {
        let s = parse_any(&SYN_FRAME).unwrap();
        assert_eq!(s.vlan_id, None);
        assert_eq!(s.ethertype, ether_type::IPV4);
        assert_eq!(s.l3_offset, 14);
        assert_eq!(
            s.l3,
            L3Summary::Ipv4 {
                src: CLIENT,
                dst: VIP,
                protocol: ip_proto::TCP,
                fragment: false,
                header_checksum_ok: true,
                l4_offset: 34,
                l4: L4Summary::Tcp {
                    src_port: 40000,
                    dst_port: 80,
                    flags: TcpFlags::SYN,
                    checksum_ok: Some(true),
                },
            }
        );
        let mut corrupt = SYN_FRAME;
        corrupt[73] ^= 0x10;
        let s = parse_any(&corrupt).unwrap();
        assert!(matches!(
            s.l3,
            L3Summary::Ipv4 {
                l4: L4Summary::Tcp {
                    checksum_ok: Some(false),
                    ..
                },
                ..
            }
        ));
        // Every truncation of the frame is an error, never a panic.
        for n in 0..SYN_FRAME.len() {
            assert!(parse_any(&SYN_FRAME[..n]).is_err(), "len {n}");
        }
    }

    #[test]
    fn vlan_udp_frame() {
        let mut udp = [0u8; 12];
        UdpRepr {
            src_port: 5353,
            dst_port: 53,
            payload_len: 4,
        }
        .emit(&mut udp)
        .unwrap();
        let f = eth(ether_type::IPV4, Some(42), &ipv4(ip_proto::UDP, &udp));
        let s = parse_any(&f).unwrap();
        assert_eq!((s.vlan_id, s.l3_offset), (Some(42), 18));
        assert!(matches!(
            s.l3,
            L3Summary::Ipv4 {
                protocol: ip_proto::UDP,
                l4_offset: 38,
                l4: L4Summary::Udp {
                    src_port: 5353,
                    dst_port: 53,
                    checksum_ok: Some(true),
                },
                ..
            }
        ));
    }

    #[test]
    fn arp_frame() {
        let mut a = [0u8; 28];
        ArpRepr::request(MacAddr([2, 0, 0, 0, 0, 0x11]), CLIENT, VIP)
            .emit(&mut a)
            .unwrap();
        let s = parse_any(&eth(ether_type::ARP, None, &a)).unwrap();
        assert_eq!(
            s.l3,
            L3Summary::Arp {
                operation: 1,
                sender_ip: CLIENT,
                target_ip: VIP
            }
        );
        assert_eq!(
            parse_any(&eth(ether_type::ARP, None, &a[..27])),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn icmp_error_frame_exposes_quote() {
        let quoted = &SYN_FRAME[14..14 + 28];
        let mut icmp = vec![0u8; 36];
        Icmpv4Repr::frag_needed(1400)
            .emit(&mut icmp, quoted)
            .unwrap();
        let s = parse_any(&eth(ether_type::IPV4, None, &ipv4(ip_proto::ICMP, &icmp))).unwrap();
        let L3Summary::Ipv4 {
            l4:
                L4Summary::Icmpv4 {
                    msg_type,
                    code,
                    checksum_ok,
                    quote,
                },
            ..
        } = s.l3
        else {
            panic!("{s:?}");
        };
        assert_eq!((msg_type, code, checksum_ok), (3, 4, Some(true)));
        assert_eq!(
            quote,
            Some(QuoteSummary {
                src: CLIENT,
                dst: VIP,
                protocol: ip_proto::TCP,
                src_port: 40000,
                dst_port: 80
            })
        );
    }

    #[test]
    fn fragments() {
        let mut later = ipv4(ip_proto::UDP, &[0xab; 16]);
        later[6..8].copy_from_slice(&[0x00, 0xb9]); // offset 185 * 8
        Ipv4Packet::new_checked(&mut later[..])
            .unwrap()
            .fill_checksum();
        let s = parse_any(&eth(ether_type::IPV4, None, &later)).unwrap();
        assert!(matches!(
            s.l3,
            L3Summary::Ipv4 {
                fragment: true,
                header_checksum_ok: true,
                l4: L4Summary::NotFirstFragment,
                ..
            }
        ));

        let mut first = ipv4(ip_proto::UDP, &[0, 1, 0, 2, 0, 40, 0, 0, 1, 2]);
        first[6] = 0x20; // MF
        Ipv4Packet::new_checked(&mut first[..])
            .unwrap()
            .fill_checksum();
        let s = parse_any(&eth(ether_type::IPV4, None, &first)).unwrap();
        assert!(matches!(
            s.l3,
            L3Summary::Ipv4 {
                fragment: true,
                l4: L4Summary::Udp {
                    src_port: 1,
                    dst_port: 2,
                    checksum_ok: None,
                },
                ..
            }
        ));
    }

    #[test]
    fn ipv6_frames() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut icmp = [0x80u8, 0, 0, 0, 0, 1, 0, 1];
        Icmpv6Packet::new_checked(&mut icmp[..])
            .unwrap()
            .fill_checksum(&src, &dst);
        // Through a destination-options header.
        let mut payload = vec![ip_proto::ICMPV6, 0, 1, 4, 0, 0, 0, 0];
        payload.extend_from_slice(&icmp);
        let mut ip = vec![0u8; 40];
        Ipv6Repr {
            src,
            dst,
            next_header: ip_proto::IPV6_DSTOPTS,
            hop_limit: 64,
            payload_len: payload.len() as u16,
        }
        .emit(&mut ip)
        .unwrap();
        ip.extend_from_slice(&payload);
        let s = parse_any(&eth(ether_type::IPV6, None, &ip)).unwrap();
        assert_eq!(
            s.l3,
            L3Summary::Ipv6 {
                src,
                dst,
                protocol: ip_proto::ICMPV6,
                fragment: false,
                l4_offset: 14 + 48,
                l4: L4Summary::Icmpv6 {
                    msg_type: 128,
                    code: 0,
                    checksum_ok: Some(true)
                },
            }
        );
        ip[40 + 1] = 9; // the options header now claims 80 bytes
        assert_eq!(
            parse_any(&eth(ether_type::IPV6, None, &ip)),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn other_ethertype_and_protocol() {
        let s = parse_any(&eth(0x88cc, None, &[0; 30])).unwrap();
        assert_eq!((s.ethertype, s.l3), (0x88cc, L3Summary::Other));
        let s = parse_any(&eth(ether_type::IPV4, None, &ipv4(ip_proto::IPIP, &[]))).unwrap();
        assert!(matches!(
            s.l3,
            L3Summary::Ipv4 {
                protocol: ip_proto::IPIP,
                l4: L4Summary::Other,
                ..
            }
        ));
    }
}
