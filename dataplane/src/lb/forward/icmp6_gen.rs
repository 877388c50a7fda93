//! ICMPv6 messages the appliance sends itself, built in the frame that caused them (no buffer
//! allocated), the IPv6 side of `icmp_gen.rs`: Packet Too Big for a packet that does not fit a
//! tunnel (path MTU discovery, RFC 8201) and echo replies for pings to VIPs and own addresses.

use std::net::Ipv6Addr;

use super::ForwardError;
use crate::wire::icmpv6::{icmpv6_type, HEADER_LEN as ICMPV6_HEADER_LEN};
use crate::wire::ip_proto;
use crate::wire::ipv6::{HEADER_LEN as IPV6_HEADER_LEN, MIN_MTU};
use crate::wire::{EthernetFrame, Icmpv6Packet, Ipv6Packet, Ipv6Repr, WireError};

/// Hop limit of the messages the appliance originates.
pub const OWN_HOP_LIMIT: u8 = 64;

/// Longest quote: the error may not exceed the minimum MTU (RFC 4443 2.4 (c)).
const MAX_QUOTE: usize = MIN_MTU as usize - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;

/// Turns the IPv6 packet at `l3`, too big for the next hop (a tunnel), into ICMPv6 Packet Too
/// Big (type 2) advertising `mtu`, addressed from `our_ip` back to the packet's source; the
/// Ethernet addresses are swapped (a VLAN tag stays). The quote is as much of the packet as
/// fits both the 1280-byte limit and the frame (RFC 4443 2.4 (c)); it is at least the IPv6
/// header. Returns the new frame length: the worker trims the buffer to it.
///
/// Refuses ([`ForwardError::NotAnswerable`], frame untouched) a packet whose source is not a
/// unicast address, and an ICMPv6 error or an ICMPv6 message too short to tell (RFC 4443 2.4
/// (e): never an error about an error). Unlike other errors, Packet Too Big is sent for
/// multicast destinations and for fragments too (RFC 4443 2.4 (e.3)).
pub fn packet_too_big_in_place(
    frame: &mut [u8],
    l3: usize,
    our_ip: Ipv6Addr,
    mtu: u32,
) -> Result<usize, ForwardError> {
    if l3 > frame.len() {
        return Err(WireError::Truncated.into());
    }
    let (l2, rest) = frame.split_at_mut(l3);
    let mut eth = EthernetFrame::new_checked(l2)?;
    let ip = Ipv6Packet::new_checked(&*rest)?;
    let ul = ip.upper_layer()?;
    if !is_unicast(&ip.src_addr()) {
        return Err(ForwardError::NotAnswerable);
    }
    if ul.protocol == ip_proto::ICMPV6 && ul.has_l4_header() {
        match ip.payload().get(ul.offset - IPV6_HEADER_LEN) {
            Some(&t) if t >= 128 => {}
            _ => return Err(ForwardError::NotAnswerable),
        }
    }
    let client = ip.src_addr();
    let ip_len = IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let room = rest
        .len()
        .saturating_sub(IPV6_HEADER_LEN + ICMPV6_HEADER_LEN);
    let quote_len = ip_len.min(MAX_QUOTE).min(room);
    if quote_len < IPV6_HEADER_LEN {
        return Err(WireError::Truncated.into());
    }
    let msg_len = ICMPV6_HEADER_LEN + quote_len;
    let new_len = IPV6_HEADER_LEN + msg_len;
    // The quote moves behind the two new headers (the regions overlap: copy_within).
    rest.copy_within(..quote_len, IPV6_HEADER_LEN + ICMPV6_HEADER_LEN);
    let msg = &mut rest[IPV6_HEADER_LEN..new_len];
    msg[..4].copy_from_slice(&[icmpv6_type::PACKET_TOO_BIG, 0, 0, 0]);
    msg[4..8].copy_from_slice(&mtu.to_be_bytes());
    Icmpv6Packet::new_checked(msg)?.fill_checksum(&our_ip, &client);
    Ipv6Repr {
        src: our_ip,
        dst: client,
        next_header: ip_proto::ICMPV6,
        hop_limit: OWN_HOP_LIMIT,
        payload_len: msg_len as u16,
    }
    .emit(rest)?;
    eth.swap_macs();
    Ok(l3 + new_len)
}

/// Turns the ICMPv6 echo request at `l3` into its reply, in place: Ethernet and IPv6
/// addresses swapped, type 129, hop limit 64; the checksum updated incrementally (swapping
/// the addresses leaves the pseudo-header sum as it was). Traffic class, flow label and data
/// are echoed as they came.
///
/// `Unsupported` (frame untouched) for anything but an echo request right after the fixed
/// header (a request behind extension headers goes to the kernel) between unicast addresses.
pub fn echo6_reply_in_place(frame: &mut [u8], l3: usize) -> Result<(), WireError> {
    if l3 > frame.len() {
        return Err(WireError::Truncated);
    }
    let (l2, rest) = frame.split_at_mut(l3);
    let mut eth = EthernetFrame::new_checked(l2)?;
    let mut ip = Ipv6Packet::new_checked(rest)?;
    if ip.next_header() != ip_proto::ICMPV6
        || !is_unicast(&ip.src_addr())
        || !is_unicast(&ip.dst_addr())
    {
        return Err(WireError::Unsupported);
    }
    if !Icmpv6Packet::new_checked(ip.payload_mut())?.make_echo_reply() {
        return Err(WireError::Unsupported);
    }
    ip.swap_addrs();
    ip.set_hop_limit(OWN_HOP_LIMIT);
    eth.swap_macs();
    Ok(())
}

/// An address a reply may go to or come from: not multicast, unspecified or loopback.
fn is_unicast(a: &Ipv6Addr) -> bool {
    !(a.is_multicast() || a.is_unspecified() || a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::{eth_of, LB_MAC, PEER_MAC, VLAN_TCI};
    use super::super::test_packets6::*;
    use super::*;
    use crate::wire::ether_type;

    fn big_tcp6(len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len - 64).map(|i| i as u8).collect();
        tcp6(Ip6::new(CLIENT6, VIP6), 40000, 80, &payload)
    }

    #[test]
    fn packet_too_big_quotes_up_to_1280_bytes() {
        for vlan in [false, true] {
            let orig = big_tcp6(1500);
            let (mut f, l3) = ip6_frame(vlan, &orig, 0);
            let n = packet_too_big_in_place(&mut f, l3, LB6, 1460).unwrap();
            assert_eq!(n, l3 + 1280);
            let f = &f[..n];
            let eth = eth_of(f);
            assert_eq!((eth.dst, eth.src), (PEER_MAC, LB_MAC));
            assert_eq!(eth.vlan_tci, vlan.then_some(VLAN_TCI));
            assert_eq!(eth.ethertype, ether_type::IPV6);
            // Equal to the error built from scratch.
            let want = icmp6(
                Ip6 {
                    tc: 0,
                    flow: 0,
                    ..Ip6::new(LB6, CLIENT6)
                },
                2,
                0,
                1460u32.to_be_bytes(),
                &orig[..1232],
            );
            assert_eq!(&f[l3..], &want[..]);
            assert_checksums6_ok(f, l3);
        }
    }

    #[test]
    fn a_packet_shorter_than_1280_is_quoted_as_far_as_the_frame_allows() {
        // 1300 bytes: the quote is the frame less the 48 new bytes.
        let orig = big_tcp6(1300);
        let (mut f, l3) = ip6_frame(false, &orig, 0);
        let n = packet_too_big_in_place(&mut f, l3, LB6, 1280).unwrap();
        assert_eq!(n, l3 + 1280);
        let orig = big_tcp6(1200);
        let (mut f, l3) = ip6_frame(false, &orig, 0);
        let n = packet_too_big_in_place(&mut f, l3, LB6, 1280).unwrap();
        assert_eq!(n, l3 + 1200);
        let ip = Ipv6Packet::new_checked(&f[l3..n]).unwrap();
        let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert_eq!((m.msg_type(), m.mtu()), (2, 1280));
        assert_eq!(m.data(), &orig[..1200 - 48]);
        assert!(m.verify_checksum(&LB6, &CLIENT6));
    }

    #[test]
    fn packet_too_big_refusals_leave_the_frame_untouched() {
        let refused = |p: &[u8], want: ForwardError| {
            let (mut f, l3) = ip6_frame(false, p, 0);
            let orig = f.clone();
            assert_eq!(packet_too_big_in_place(&mut f, l3, LB6, 1280), Err(want));
            assert_eq!(f, orig);
        };
        let error = icmp6(Ip6::new(CLIENT6, VIP6), 1, 4, [0; 4], &[0x60; 1400]);
        refused(&error, ForwardError::NotAnswerable);
        let short = ipv6(Ip6::new(CLIENT6, VIP6), ip_proto::ICMPV6, &[]);
        refused(&short, ForwardError::NotAnswerable);
        let mcast = tcp6(Ip6::new("ff02::1".parse().unwrap(), VIP6), 1, 2, &[0; 1300]);
        refused(&mcast, ForwardError::NotAnswerable);
        let tiny = udp6(Ip6::new(CLIENT6, VIP6), 1, 2, b"");
        refused(&tiny, ForwardError::Wire(WireError::Truncated));
        // An echo request is not an error: it gets its answer.
        let echo = icmp6(Ip6::new(CLIENT6, VIP6), 128, 0, [0, 1, 0, 1], &[0xab; 1400]);
        let (mut f, l3) = ip6_frame(false, &echo, 0);
        assert_eq!(
            packet_too_big_in_place(&mut f, l3, LB6, 1280),
            Ok(l3 + 1280)
        );
    }

    #[test]
    fn echo6_reply_equals_a_reply_built_from_scratch() {
        for vlan in [false, true] {
            let req = icmp6(
                Ip6::new(CLIENT6, VIP6).hops(57),
                128,
                0,
                [0x1f, 0x2e, 0, 1],
                b"abcdefgh",
            );
            let (mut f, l3) = ip6_frame(vlan, &req, 4);
            echo6_reply_in_place(&mut f, l3).unwrap();
            let want = icmp6(
                Ip6::new(VIP6, CLIENT6),
                129,
                0,
                [0x1f, 0x2e, 0, 1],
                b"abcdefgh",
            );
            assert_eq!(&f[l3..l3 + want.len()], &want[..]);
            assert_eq!(&f[l3 + want.len()..], &[0xee; 4]);
            let eth = eth_of(&f);
            assert_eq!((eth.dst, eth.src), (PEER_MAC, LB_MAC));
            assert_checksums6_ok(&f, l3);
        }
    }

    #[test]
    fn echo6_reply_refusals() {
        let refused = |p: &[u8], want: WireError| {
            let (mut f, l3) = ip6_frame(false, p, 0);
            let orig = f.clone();
            assert_eq!(echo6_reply_in_place(&mut f, l3), Err(want));
            assert_eq!(f, orig);
        };
        let reply = icmp6(Ip6::new(CLIENT6, VIP6), 129, 0, [0, 1, 0, 1], b"x");
        refused(&reply, WireError::Unsupported);
        refused(
            &tcp6(Ip6::new(CLIENT6, VIP6), 1, 2, b""),
            WireError::Unsupported,
        );
        let to_all = icmp6(
            Ip6::new(CLIENT6, "ff02::1".parse().unwrap()),
            128,
            0,
            [0; 4],
            b"",
        );
        refused(&to_all, WireError::Unsupported);
        let unspec = icmp6(Ip6::new(Ipv6Addr::UNSPECIFIED, VIP6), 128, 0, [0; 4], b"");
        refused(&unspec, WireError::Unsupported);
        let short = ipv6(Ip6::new(CLIENT6, VIP6), ip_proto::ICMPV6, &[128, 0, 0]);
        refused(&short, WireError::Truncated);
        let (mut f, _) = ip6_frame(false, &reply, 0);
        assert_eq!(echo6_reply_in_place(&mut f, 12), Err(WireError::Truncated));
        assert_eq!(echo6_reply_in_place(&mut f, 999), Err(WireError::Truncated));
    }
}
