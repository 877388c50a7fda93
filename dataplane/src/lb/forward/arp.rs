//! ARP for the appliance's own addresses and VIPs: answering requests in place, and building
//! requests (resolving next hops and real servers) and gratuitous announcements (taking over a
//! VIP) into a fresh buffer.

use std::net::Ipv4Addr;

use crate::wire::arp::arp_op;
use crate::wire::{
    ether_type, ArpPacket, ArpRepr, EthernetFrame, EthernetRepr, MacAddr, WireError,
};

/// Minimum Ethernet frame without FCS; shorter frames are padded with zeros.
pub const MIN_FRAME_LEN: usize = 60;

/// Turns an ARP request at `l3` into our reply, in place: the ARP sender becomes
/// (`our_mac`, the address asked for), the target the requester; the Ethernet frame goes back to
/// the requester from `our_mac` (a VLAN tag, if any, is kept). The caller has checked that the
/// target address is one of ours.
///
/// `Unsupported` for a reply or an announcement (sender address == target address), which are
/// not questions; `Truncated`/`Unsupported` when the frame is not Ethernet/IPv4 ARP.
pub fn arp_reply_in_place(frame: &mut [u8], l3: usize, our_mac: MacAddr) -> Result<(), WireError> {
    if l3 > frame.len() {
        return Err(WireError::Truncated);
    }
    let (l2, rest) = frame.split_at_mut(l3);
    let mut eth = EthernetFrame::new_checked(l2)?;
    let mut arp = ArpPacket::new_checked(rest)?;
    if arp.operation() != arp_op::REQUEST || arp.is_gratuitous() {
        return Err(WireError::Unsupported);
    }
    eth.set_dst(arp.sender_mac());
    eth.set_src(our_mac);
    arp.make_reply(our_mac);
    Ok(())
}

/// Who has `target_ip`? Tell `our_ip` — broadcast, untagged, padded to 60 bytes; returns the
/// frame length.
pub fn build_arp_request(
    buf: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> Result<usize, WireError> {
    build_arp_frame(buf, None, &ArpRepr::request(our_mac, our_ip, target_ip))
}

/// Gratuitous ARP announcing `ip` at `mac` (a request for itself), broadcast, untagged, padded
/// to 60 bytes; returns the frame length.
pub fn build_gratuitous_arp(
    buf: &mut [u8],
    mac: MacAddr,
    ip: Ipv4Addr,
) -> Result<usize, WireError> {
    build_arp_frame(buf, None, &ArpRepr::gratuitous(mac, ip))
}

/// Writes `arp` in a broadcast Ethernet frame from `arp.sender_mac`, with an 802.1Q tag when
/// `vlan_tci` is given, zero-padded to 60 bytes; returns the frame length.
pub fn build_arp_frame(
    buf: &mut [u8],
    vlan_tci: Option<u16>,
    arp: &ArpRepr,
) -> Result<usize, WireError> {
    let buf = buf.get_mut(..MIN_FRAME_LEN).ok_or(WireError::Truncated)?;
    let hl = EthernetRepr {
        dst: MacAddr::BROADCAST,
        src: arp.sender_mac,
        vlan_tci,
        ethertype: ether_type::ARP,
    }
    .emit(buf)?;
    let n = arp.emit(&mut buf[hl..])?;
    buf[hl + n..].fill(0);
    Ok(MIN_FRAME_LEN)
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::*;
    use super::*;

    fn request_frame(vlan: bool) -> (Vec<u8>, usize) {
        let mut arp = [0u8; 28];
        ArpRepr::request(PEER_MAC, CLIENT, VIP)
            .emit(&mut arp)
            .unwrap();
        frame(vlan, ether_type::ARP, &arp, 18)
    }

    #[test]
    fn reply_in_place() {
        for vlan in [false, true] {
            let (mut f, l3) = request_frame(vlan);
            let orig = f.clone();
            arp_reply_in_place(&mut f, l3, LB_MAC).unwrap();
            let eth = eth_of(&f);
            assert_eq!((eth.dst, eth.src), (PEER_MAC, LB_MAC));
            assert_eq!(eth.vlan_tci, vlan.then_some(VLAN_TCI));
            assert_eq!(eth.ethertype, ether_type::ARP);
            let a = ArpRepr::parse(&ArpPacket::new_checked(&f[l3..]).unwrap());
            assert_eq!(
                a,
                ArpRepr {
                    operation: arp_op::REPLY,
                    sender_mac: LB_MAC,
                    sender_ip: VIP,
                    target_mac: PEER_MAC,
                    target_ip: CLIENT,
                }
            );
            assert_eq!(&f[l3 + 28..], &orig[l3 + 28..], "padding untouched");
        }
    }

    #[test]
    fn reply_refuses_non_questions() {
        let (mut f, l3) = request_frame(false);
        arp_reply_in_place(&mut f, l3, LB_MAC).unwrap();
        let replied = f.clone();
        assert_eq!(
            arp_reply_in_place(&mut f, l3, LB_MAC),
            Err(WireError::Unsupported)
        );
        assert_eq!(f, replied);

        let mut g = [0u8; 60];
        build_gratuitous_arp(&mut g, PEER_MAC, VIP).unwrap();
        let orig = g;
        assert_eq!(
            arp_reply_in_place(&mut g, 14, LB_MAC),
            Err(WireError::Unsupported)
        );
        assert_eq!(g, orig);

        let (mut f, _) = request_frame(false);
        assert_eq!(
            arp_reply_in_place(&mut f[..41], 14, LB_MAC),
            Err(WireError::Truncated)
        );
        assert_eq!(
            arp_reply_in_place(&mut f, 100, LB_MAC),
            Err(WireError::Truncated)
        );
        assert_eq!(
            arp_reply_in_place(&mut f, 10, LB_MAC),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn request_frame_bytes() {
        let mut buf = [0x55u8; 64];
        assert_eq!(build_arp_request(&mut buf, LB_MAC, LB_IP, ROUTER), Ok(60));
        let mut expected = vec![0xff; 6];
        expected.extend_from_slice(&LB_MAC.0);
        expected.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        expected.extend_from_slice(&LB_MAC.0);
        expected.extend_from_slice(&LB_IP.octets());
        expected.extend_from_slice(&[0; 6]);
        expected.extend_from_slice(&ROUTER.octets());
        expected.resize(60, 0);
        assert_eq!(&buf[..60], &expected[..]);
        assert_eq!(&buf[60..], &[0x55; 4], "nothing written past the frame");
        assert_eq!(
            build_arp_request(&mut buf[..59], LB_MAC, LB_IP, ROUTER),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn gratuitous_and_tagged() {
        let mut buf = [0x55u8; 60];
        assert_eq!(build_gratuitous_arp(&mut buf, LB_MAC, VIP), Ok(60));
        let eth = eth_of(&buf);
        assert_eq!((eth.dst, eth.src), (MacAddr::BROADCAST, LB_MAC));
        let a = ArpPacket::new_checked(&buf[14..]).unwrap();
        assert!(a.is_gratuitous() && a.operation() == arp_op::REQUEST);
        assert_eq!((a.sender_mac(), a.sender_ip()), (LB_MAC, VIP));
        assert!(buf[42..].iter().all(|&b| b == 0));

        let mut buf = [0x55u8; 60];
        let repr = ArpRepr::request(LB_MAC, LB_IP, REAL);
        assert_eq!(build_arp_frame(&mut buf, Some(VLAN_TCI), &repr), Ok(60));
        let eth = eth_of(&buf);
        assert_eq!(eth.vlan_tci, Some(VLAN_TCI));
        assert_eq!(eth.ethertype, ether_type::ARP);
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&buf[18..]).unwrap()),
            repr
        );
        assert!(buf[46..].iter().all(|&b| b == 0));
    }
}
