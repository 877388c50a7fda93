//! ICMP messages the appliance sends itself, built in the frame that caused them so no buffer
//! has to be allocated: "fragmentation needed" for a packet too big for a tunnel (path MTU
//! discovery, RFC 1191) and echo replies for pings to VIPs and own addresses.

use std::net::Ipv4Addr;

use super::ForwardError;
use crate::wire::checksum;
use crate::wire::icmpv4::{icmp_type, unreach_code, HEADER_LEN as ICMP_HEADER_LEN};
use crate::wire::ip_proto;
use crate::wire::ipv4::HEADER_LEN as IPV4_HEADER_LEN;
use crate::wire::{EthernetFrame, Icmpv4Packet, Ipv4Packet, Ipv4Repr, WireError};

/// TTL of the messages the appliance originates.
pub const OWN_TTL: u8 = 64;

/// TOS of generated ICMP errors: precedence "internetwork control" (0xc0), as Linux sends them.
pub const ERROR_TOS: u8 = 0xc0;

/// Bytes of the offending packet's payload an error quotes after its IP header (RFC 792).
const QUOTED_PAYLOAD: usize = 8;

/// Turns the IPv4 packet at `l3`, too big for the next hop and sent with DF, into the ICMP
/// "fragmentation needed" (type 3 code 4) advertising `mtu` as the next-hop MTU, addressed from
/// `our_ip` back to the packet's source; the Ethernet addresses are swapped (a VLAN tag stays).
/// The quote is the original IP header (options included) and the first 8 bytes of its payload.
/// Returns the new frame length: the worker trims the buffer to it.
///
/// Refuses ([`ForwardError::NotAnswerable`], frame untouched) a packet without DF, a non-first
/// fragment, a packet whose source is not a unicast address, and an ICMP error or an ICMP
/// message too short to tell (RFC 1122 3.2.2: never an error about an error).
pub fn frag_needed_in_place(
    frame: &mut [u8],
    l3: usize,
    our_ip: Ipv4Addr,
    mtu: u16,
) -> Result<usize, ForwardError> {
    if l3 > frame.len() {
        return Err(WireError::Truncated.into());
    }
    let (l2, rest) = frame.split_at_mut(l3);
    let mut eth = EthernetFrame::new_checked(l2)?;
    let ip = Ipv4Packet::new_checked(&*rest)?;
    if !ip.dont_frag() || !ip.has_l4_header() || !is_unicast(ip.src_addr()) {
        return Err(ForwardError::NotAnswerable);
    }
    if ip.protocol() == ip_proto::ICMP {
        match Icmpv4Packet::new_checked(ip.payload()) {
            Ok(m) if !m.is_error() => {}
            _ => return Err(ForwardError::NotAnswerable),
        }
    }
    let client = ip.src_addr();
    let quote_len = ip.header_len() + ip.payload().len().min(QUOTED_PAYLOAD);
    let msg_len = ICMP_HEADER_LEN + quote_len;
    let new_len = IPV4_HEADER_LEN + msg_len;
    if rest.len() < new_len {
        return Err(WireError::Truncated.into());
    }
    // The quote moves behind the two new headers (the regions may overlap: copy_within).
    rest.copy_within(..quote_len, IPV4_HEADER_LEN + ICMP_HEADER_LEN);
    let mut msg = Icmpv4Packet::new_checked(&mut rest[IPV4_HEADER_LEN..new_len])?;
    msg.set_msg_type(icmp_type::DEST_UNREACHABLE);
    msg.set_code(unreach_code::FRAG_NEEDED);
    msg.set_echo_ident(0); // unused half of the word before the MTU
    msg.set_next_hop_mtu(mtu);
    msg.fill_checksum();
    Ipv4Repr {
        src: our_ip,
        dst: client,
        protocol: ip_proto::ICMP,
        ttl: OWN_TTL,
        tos: ERROR_TOS,
        ident: 0,
        dont_frag: false,
        payload_len: msg_len as u16,
    }
    .emit(rest)?;
    eth.swap_macs();
    Ok(l3 + new_len)
}

/// Turns the ICMP echo request at `l3` into its reply, in place: Ethernet and IP addresses
/// swapped, type 0, TTL 64; both checksums updated incrementally. Options and data are echoed
/// as they came.
///
/// `Unsupported` (frame untouched) for anything but an unfragmented echo request from a unicast
/// source.
pub fn echo_reply_in_place(frame: &mut [u8], l3: usize) -> Result<(), WireError> {
    if l3 > frame.len() {
        return Err(WireError::Truncated);
    }
    let (l2, rest) = frame.split_at_mut(l3);
    let mut eth = EthernetFrame::new_checked(l2)?;
    let mut ip = Ipv4Packet::new_checked(rest)?;
    if ip.is_fragment() || ip.protocol() != ip_proto::ICMP || !is_unicast(ip.src_addr()) {
        return Err(WireError::Unsupported);
    }
    if !Icmpv4Packet::new_checked(ip.payload_mut())?.make_echo_reply() {
        return Err(WireError::Unsupported);
    }
    ip.swap_addrs();
    // TTL shares a checksum word with the protocol byte.
    let old = u16::from_be_bytes([ip.ttl(), ip.protocol()]);
    let new = u16::from_be_bytes([OWN_TTL, ip.protocol()]);
    ip.set_ttl(OWN_TTL);
    ip.set_checksum(checksum::update_u16(ip.checksum(), old, new));
    eth.swap_macs();
    Ok(())
}

/// An address a reply may go to: not broadcast, multicast, unspecified or loopback.
fn is_unicast(a: Ipv4Addr) -> bool {
    !(a.is_broadcast() || a.is_multicast() || a.is_unspecified() || a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::*;
    use super::*;
    use crate::wire::{ether_type, Icmpv4Repr};

    fn big_tcp(len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len - 44).map(|i| i as u8).collect();
        tcp(Ip::new(CLIENT, VIP), 40000, 80, &payload)
    }

    #[test]
    fn frag_needed_for_an_oversized_tcp_packet() {
        for vlan in [false, true] {
            let orig = big_tcp(1500);
            let (mut f, l3) = ip_frame(vlan, &orig, 0);
            let n = frag_needed_in_place(&mut f, l3, LB_IP, 1480).unwrap();
            assert_eq!(n, l3 + 20 + 8 + 28);
            let f = &f[..n];
            let eth = eth_of(f);
            assert_eq!((eth.dst, eth.src), (PEER_MAC, LB_MAC));
            assert_eq!(eth.vlan_tci, vlan.then_some(VLAN_TCI));
            assert_eq!(eth.ethertype, ether_type::IPV4);
            let ip = Ipv4Packet::new_checked(&f[l3..]).unwrap();
            assert_eq!(
                Ipv4Repr::parse(&ip),
                Ipv4Repr {
                    src: LB_IP,
                    dst: CLIENT,
                    protocol: ip_proto::ICMP,
                    ttl: 64,
                    tos: ERROR_TOS,
                    ident: 0,
                    dont_frag: false,
                    payload_len: 36,
                }
            );
            assert_eq!(usize::from(ip.total_len()), n - l3);
            let mut expected = [0u8; 36];
            Icmpv4Repr::frag_needed(1480)
                .emit(&mut expected, &orig[..28])
                .unwrap();
            assert_eq!(ip.payload(), &expected[..]);
            assert_checksums_ok(f, l3);
        }
    }

    #[test]
    fn frag_needed_quotes_options_and_short_payloads() {
        // IHL 6 (one 4-byte option) and a 5-byte UDP-ish payload: quote = 24 + 5 bytes.
        let mut p = vec![0u8; 29];
        Ipv4Repr {
            src: CLIENT,
            dst: VIP,
            protocol: 17,
            ttl: 9,
            tos: 0,
            ident: 7,
            dont_frag: true,
            payload_len: 9,
        }
        .emit(&mut p)
        .unwrap();
        p[0] = 0x46;
        p[20..24].copy_from_slice(&[1, 1, 1, 0]);
        p[24..29].copy_from_slice(&[1, 2, 3, 4, 5]);
        Ipv4Packet::new_checked(&mut p[..]).unwrap().fill_checksum();
        let (mut f, l3) = ip_frame(false, &p, 100);
        let n = frag_needed_in_place(&mut f, l3, LB_IP, 1400).unwrap();
        assert_eq!(n, 14 + 20 + 8 + 29);
        let ip = Ipv4Packet::new_checked(&f[l3..n]).unwrap();
        let m = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(m.data(), &p[..]);
        assert_eq!(m.next_hop_mtu(), 1400);
        assert_checksums_ok(&f[..n], l3);
    }

    #[test]
    fn frag_needed_refusals_leave_the_frame_untouched() {
        let refused = |p: &[u8], want: ForwardError| {
            let (mut f, l3) = ip_frame(false, p, 0);
            let orig = f.clone();
            assert_eq!(frag_needed_in_place(&mut f, l3, LB_IP, 1480), Err(want));
            assert_eq!(f, orig);
        };
        let mut no_df = Ip::new(CLIENT, VIP);
        no_df.dont_frag = false;
        refused(&tcp(no_df, 1, 2, &[0; 1200]), ForwardError::NotAnswerable);
        let mut later_fragment = big_tcp(1500);
        later_fragment[6..8].copy_from_slice(&0x40b9u16.to_be_bytes());
        refused(&later_fragment, ForwardError::NotAnswerable);
        let error = icmp(Ip::new(CLIENT, VIP), 11, 0, [0; 4], &[0x45; 1400]);
        refused(&error, ForwardError::NotAnswerable);
        let short_icmp = ipv4(Ip::new(CLIENT, VIP), ip_proto::ICMP, &[8, 0, 0]);
        refused(&short_icmp, ForwardError::NotAnswerable);
        let bcast = tcp(Ip::new(Ipv4Addr::BROADCAST, VIP), 1, 2, &[0; 1200]);
        refused(&bcast, ForwardError::NotAnswerable);
        let tiny = udp(Ip::new(CLIENT, VIP), 1, 2, b"", false);
        refused(&tiny, ForwardError::Wire(WireError::Truncated));

        // An echo request is not an error: it gets its answer.
        let echo = icmp(Ip::new(CLIENT, VIP), 8, 0, [0, 1, 0, 1], &[0xab; 1400]);
        let (mut f, l3) = ip_frame(false, &echo, 0);
        assert!(frag_needed_in_place(&mut f, l3, LB_IP, 1480).is_ok());
    }

    #[test]
    fn echo_reply_equals_a_reply_built_from_scratch() {
        for vlan in [false, true] {
            let req = icmp(
                Ip::new(CLIENT, VIP).ttl(57),
                8,
                0,
                [0x1f, 0x2e, 0, 1],
                b"abcdefgh",
            );
            let (mut f, l3) = ip_frame(vlan, &req, 4);
            echo_reply_in_place(&mut f, l3).unwrap();
            let expected = icmp(Ip::new(VIP, CLIENT), 0, 0, [0x1f, 0x2e, 0, 1], b"abcdefgh");
            assert_eq!(&f[l3..l3 + expected.len()], &expected[..]);
            assert_eq!(&f[l3 + expected.len()..], &[0xee; 4]);
            let eth = eth_of(&f);
            assert_eq!((eth.dst, eth.src), (PEER_MAC, LB_MAC));
            assert_eq!(eth.vlan_tci, vlan.then_some(VLAN_TCI));
            assert_checksums_ok(&f, l3);
        }
    }

    #[test]
    fn echo_reply_refusals() {
        let refused = |p: &[u8], want: WireError| {
            let (mut f, l3) = ip_frame(false, p, 0);
            let orig = f.clone();
            assert_eq!(echo_reply_in_place(&mut f, l3), Err(want));
            assert_eq!(f, orig);
        };
        let reply = icmp(Ip::new(CLIENT, VIP), 0, 0, [0, 1, 0, 1], b"x");
        refused(&reply, WireError::Unsupported);
        let error = icmp(Ip::new(CLIENT, VIP), 3, 3, [0; 4], &[0x45; 28]);
        refused(&error, WireError::Unsupported);
        refused(
            &tcp(Ip::new(CLIENT, VIP), 1, 2, b""),
            WireError::Unsupported,
        );
        let mut frag = icmp(Ip::new(CLIENT, VIP), 8, 0, [0, 1, 0, 1], b"x");
        frag[6] |= 0x20;
        refused(&frag, WireError::Unsupported);
        let mcast = icmp(Ip::new(Ipv4Addr::new(224, 0, 0, 1), VIP), 8, 0, [0; 4], b"");
        refused(&mcast, WireError::Unsupported);
        let short = ipv4(Ip::new(CLIENT, VIP), ip_proto::ICMP, &[8, 0, 0, 0]);
        refused(&short, WireError::Truncated);
        let (mut f, _) = ip_frame(false, &reply, 0);
        assert_eq!(echo_reply_in_place(&mut f, 12), Err(WireError::Truncated));
        assert_eq!(echo_reply_in_place(&mut f, 999), Err(WireError::Truncated));
    }
}
