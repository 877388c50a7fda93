//! Neighbor Discovery for the appliance's own IPv6 addresses and VIPs, the IPv6 side of
//! `arp.rs`: checking an incoming ND message with its IPv6 header (RFC 4861 7.1), answering a
//! solicitation for an address we own with a solicited advertisement in the same buffer,
//! and building solicitations (resolving reals and gateways) and unsolicited advertisements
//! (taking over a VIP: the gratuitous ARP of IPv6) into a fresh buffer.

use std::net::Ipv6Addr;

use super::ForwardError;
use crate::wire::ethernet::{HEADER_LEN as ETH_HEADER_LEN, VLAN_HEADER_LEN};
use crate::wire::ip_proto;
use crate::wire::ipv6::HEADER_LEN as IPV6_HEADER_LEN;
use crate::wire::ndp::{multicast_mac, solicited_node, ALL_NODES, LLADDR_OPT_LEN, NS_NA_LEN};
use crate::wire::ndp::{NdpPacket, NdpRepr, ND_HOP_LIMIT};
use crate::wire::{
    ether_type, EthernetFrame, EthernetRepr, Frame, Icmpv6Packet, Ipv6Packet, Ipv6Repr, MacAddr,
    WireError,
};

/// An ND message that passed the RFC 4861 7.1 checks, with the addresses it came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdpFacts {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The sender's Ethernet address (from the frame).
    pub eth_src: MacAddr,
    pub repr: NdpRepr,
}

impl NdpFacts {
    /// What a neighbour table may learn from the message: (address, MAC). A solicitation
    /// teaches its sender's address (not during duplicate address detection, whose source
    /// is unspecified); an advertisement its target.
    pub fn learned(&self) -> Option<(Ipv6Addr, MacAddr)> {
        match self.repr {
            NdpRepr::Solicit {
                source_mac: Some(m),
                ..
            } if !self.src.is_unspecified() => Some((self.src, m)),
            NdpRepr::Advert {
                target,
                target_mac: Some(m),
                ..
            } => Some((target, m)),
            _ => None,
        }
    }
}

/// Checks the ND message at `l3` (RFC 4861 7.1.1/7.1.2): ICMPv6 right after the fixed header,
/// hop limit 255, the ICMPv6 checksum, the message itself ([`NdpPacket::new_checked`]), and
/// for duplicate address detection (unspecified source) a solicitation to a solicited-node
/// address without a source link-layer option; an advertisement answering a solicitation
/// must not go to a multicast address.
///
/// Errors: [`ForwardError::BadIcmpChecksum`]; `Wire(Malformed)` for a hop limit other than
/// 255 and the rule violations above; `Wire(Unsupported)` for a message that is not ND or
/// comes behind extension headers; the views' errors otherwise.
pub fn ndp_parse(frame: &[u8], l3: usize) -> Result<NdpFacts, ForwardError> {
    let eth = EthernetFrame::new_checked(frame.get(..l3).ok_or(WireError::Truncated)?)?;
    let ip = Ipv6Packet::new_checked(&frame[l3..])?;
    if ip.next_header() != ip_proto::ICMPV6 {
        return Err(WireError::Unsupported.into());
    }
    let msg = Icmpv6Packet::new_checked(ip.payload())?;
    let nd = NdpPacket::new_checked(ip.payload())?;
    if ip.hop_limit() != ND_HOP_LIMIT {
        return Err(WireError::Malformed.into());
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if !msg.verify_checksum(&src, &dst) {
        return Err(ForwardError::BadIcmpChecksum);
    }
    let repr = NdpRepr::parse(&nd);
    let ok = match repr {
        NdpRepr::Solicit {
            target, source_mac, ..
        } if src.is_unspecified() => source_mac.is_none() && dst == solicited_node(&target),
        NdpRepr::Advert { solicited, .. } => !(solicited && dst.is_multicast()),
        _ => true,
    };
    if !ok {
        return Err(WireError::Malformed.into());
    }
    Ok(NdpFacts {
        src,
        dst,
        eth_src: eth.src(),
        repr,
    })
}

/// Turns the Neighbor Solicitation in `f` (at `l3`, checked by [`ndp_parse`]; its target one
/// of our addresses, which the caller checked) into our solicited advertisement: from the
/// target address and `our_mac`, with the override flag and our MAC as target link-layer
/// option, back to the asker (its VLAN tag kept). A duplicate address detection probe
/// (unspecified source) is answered to all-nodes, unsolicited (RFC 4861 7.2.4).
///
/// The frame is rewritten from its first byte and resized to the advertisement (86 bytes, 90
/// tagged): [`ForwardError::NoRoom`] when it must grow and has no headroom, the frame then
/// untouched; `Wire(Unsupported)` for anything but a solicitation.
pub fn na_answer<F: Frame>(f: &mut F, l3: usize, our_mac: MacAddr) -> Result<(), ForwardError> {
    let facts = ndp_parse(f.data(), l3)?;
    let NdpRepr::Solicit { target, .. } = facts.repr else {
        return Err(WireError::Unsupported.into());
    };
    let vlan_tci = EthernetFrame::new_checked(f.data())?.vlan_tci();
    let (dst, eth_dst, solicited) = if facts.src.is_unspecified() {
        (ALL_NODES, multicast_mac(&ALL_NODES), false)
    } else {
        (facts.src, facts.eth_src, true)
    };
    let na = NdpRepr::Advert {
        target,
        target_mac: Some(our_mac),
        router: false,
        solicited,
        override_: true,
    };
    let need = l3 + IPV6_HEADER_LEN + NS_NA_LEN + LLADDR_OPT_LEN;
    let have = f.data().len();
    if need > have {
        let grow = u16::try_from(need - have).map_err(|_| ForwardError::NoRoom)?;
        if !f.prepend(grow) {
            return Err(ForwardError::NoRoom);
        }
    } else if need < have {
        // Cannot fail: the frame is longer than `need`.
        f.trim((have - need) as u16);
    }
    emit_nd_frame(f.data_mut(), vlan_tci, our_mac, eth_dst, target, dst, &na)?;
    Ok(())
}

/// An unsolicited Neighbor Advertisement: `addr` is at `mac`, override set, to all-nodes
/// (ff02::1, MAC 33:33:00:00:00:01), tagged when `vlan_tci` is given. What a director sends
/// for each VIP when it takes over (as gratuitous ARP for IPv4). Returns the frame length.
pub fn build_unsolicited_na(
    buf: &mut [u8],
    vlan_tci: Option<u16>,
    mac: MacAddr,
    addr: Ipv6Addr,
) -> Result<usize, WireError> {
    let na = NdpRepr::Advert {
        target: addr,
        target_mac: Some(mac),
        router: false,
        solicited: false,
        override_: true,
    };
    emit_nd_frame(
        buf,
        vlan_tci,
        mac,
        multicast_mac(&ALL_NODES),
        addr,
        ALL_NODES,
        &na,
    )
}

/// A Neighbor Solicitation for `target` from `our_ip`/`our_mac` (source link-layer option),
/// to the target's solicited-node multicast address (and its 33:33:ff:.. MAC), tagged when
/// `vlan_tci` is given. Returns the frame length.
pub fn build_neighbor_solicit(
    buf: &mut [u8],
    vlan_tci: Option<u16>,
    our_mac: MacAddr,
    our_ip: Ipv6Addr,
    target: Ipv6Addr,
) -> Result<usize, WireError> {
    let ns = NdpRepr::Solicit {
        target,
        source_mac: Some(our_mac),
    };
    let group = solicited_node(&target);
    emit_nd_frame(
        buf,
        vlan_tci,
        our_mac,
        multicast_mac(&group),
        our_ip,
        group,
        &ns,
    )
}

/// Ethernet, IPv6 (hop limit 255) and the ND message with its checksum; returns the length.
fn emit_nd_frame(
    buf: &mut [u8],
    vlan_tci: Option<u16>,
    eth_src: MacAddr,
    eth_dst: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    nd: &NdpRepr,
) -> Result<usize, WireError> {
    let l3 = if vlan_tci.is_some() {
        VLAN_HEADER_LEN
    } else {
        ETH_HEADER_LEN
    };
    let msg_len = nd.buffer_len();
    let len = l3 + IPV6_HEADER_LEN + msg_len;
    let buf = buf.get_mut(..len).ok_or(WireError::Truncated)?;
    EthernetRepr {
        dst: eth_dst,
        src: eth_src,
        vlan_tci,
        ethertype: ether_type::IPV6,
    }
    .emit(buf)?;
    Ipv6Repr {
        src,
        dst,
        next_header: ip_proto::ICMPV6,
        hop_limit: ND_HOP_LIMIT,
        payload_len: msg_len as u16,
    }
    .emit(&mut buf[l3..])?;
    let msg = &mut buf[l3 + IPV6_HEADER_LEN..];
    nd.emit(msg)?;
    Icmpv6Packet::new_checked(msg)?.fill_checksum(&src, &dst);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::{eth_of, frame, LB_MAC, PEER_MAC, VLAN_TCI};
    use super::super::test_packets6::*;
    use super::*;
    use crate::wire::{VecFrame, VecFrame as VF};

    const REAL_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x22]);

    /// The frame of an ND message from `src` to `dst` (hop limit 255 unless changed).
    fn nd_frame(vlan: bool, src: Ipv6Addr, dst: Ipv6Addr, nd: &NdpRepr, pad: usize) -> Vec<u8> {
        let mut m = vec![0u8; nd.buffer_len()];
        nd.emit(&mut m).unwrap();
        Icmpv6Packet::new_checked(&mut m[..])
            .unwrap()
            .fill_checksum(&src, &dst);
        let mut ip = Ip6::new(src, dst).hops(255);
        ip.tc = 0;
        ip.flow = 0;
        let (mut f, _) = frame(vlan, ether_type::IPV6, &ipv6(ip, 58, &m), pad);
        f[..6].copy_from_slice(&multicast_mac(&dst).octets());
        f
    }

    fn ns_for(target: Ipv6Addr, mac: Option<MacAddr>) -> NdpRepr {
        NdpRepr::Solicit {
            target,
            source_mac: mac,
        }
    }

    #[test]
    fn a_solicitation_for_a_vip_is_answered_in_place() {
        for (vlan, pad) in [(false, 0), (true, 6)] {
            let ns = ns_for(VIP6, Some(PEER_MAC));
            let f = nd_frame(vlan, CLIENT6, solicited_node(&VIP6), &ns, pad);
            let l3 = if vlan { 18 } else { 14 };
            let facts = ndp_parse(&f, l3).unwrap();
            assert_eq!(facts.learned(), Some((CLIENT6, PEER_MAC)));
            assert_eq!(facts.eth_src, PEER_MAC);
            let mut fr = VecFrame::new(&f);
            na_answer(&mut fr, l3, LB_MAC).unwrap();
            let out = fr.to_vec();
            assert_eq!(out.len(), l3 + 40 + 32);
            // The answer equals the advertisement built from scratch.
            let mut want = vec![0u8; out.len()];
            let na = NdpRepr::Advert {
                target: VIP6,
                target_mac: Some(LB_MAC),
                router: false,
                solicited: true,
                override_: true,
            };
            let tci = vlan.then_some(VLAN_TCI);
            let n = emit_nd_frame(&mut want, tci, LB_MAC, PEER_MAC, VIP6, CLIENT6, &na).unwrap();
            assert_eq!(n, out.len());
            assert_eq!(out, want);
            let e = eth_of(&out);
            assert_eq!((e.dst, e.src, e.vlan_tci), (PEER_MAC, LB_MAC, tci));
            // It passes our own checks, and teaches the asker our MAC.
            let back = ndp_parse(&out, l3).unwrap();
            assert_eq!(back.learned(), Some((VIP6, LB_MAC)));
        }
    }

    #[test]
    fn a_short_solicitation_grows_and_dad_is_answered_to_all_nodes() {
        // Unicast neighbour unreachability probe without the source option: 24-byte message.
        let ns = ns_for(LB6, None);
        let f = nd_frame(false, REAL6, LB6, &ns, 0);
        let mut fr = VecFrame::new(&f);
        na_answer(&mut fr, 14, LB_MAC).unwrap();
        assert_eq!(fr.data().len(), 86);
        assert_eq!(fr.headroom(), crate::wire::frame::HEADROOM - 8);
        let back = ndp_parse(fr.data(), 14).unwrap();
        assert_eq!((back.src, back.dst), (LB6, REAL6));
        // Without headroom: refused, untouched.
        let mut tight = VF::with_headroom(&f, 4);
        assert_eq!(na_answer(&mut tight, 14, LB_MAC), Err(ForwardError::NoRoom));
        assert_eq!(tight.data(), &f[..]);

        // Duplicate address detection for our address: answered to ff02::1, not solicited.
        let dad = nd_frame(false, Ipv6Addr::UNSPECIFIED, solicited_node(&LB6), &ns, 0);
        assert_eq!(ndp_parse(&dad, 14).unwrap().learned(), None);
        let mut fr = VecFrame::new(&dad);
        na_answer(&mut fr, 14, LB_MAC).unwrap();
        let back = ndp_parse(fr.data(), 14).unwrap();
        assert_eq!(back.dst, ALL_NODES);
        assert_eq!(eth_of(fr.data()).dst, MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        let NdpRepr::Advert { solicited, .. } = back.repr else {
            panic!()
        };
        assert!(!solicited);
    }

    #[test]
    fn checks_refuse_what_rfc4861_refuses() {
        let ns = ns_for(VIP6, Some(PEER_MAC));
        let good = nd_frame(false, CLIENT6, solicited_node(&VIP6), &ns, 0);
        // Forwarded by a router: hop limit 254.
        let mut hop = good.clone();
        hop[14 + 7] = 254;
        assert_eq!(ndp_parse(&hop, 14), Err(WireError::Malformed.into()));
        let mut sum = good.clone();
        sum[14 + 40 + 2] ^= 1;
        assert_eq!(ndp_parse(&sum, 14), Err(ForwardError::BadIcmpChecksum));
        // DAD with a source option, or not to the solicited-node group.
        let dad = nd_frame(false, Ipv6Addr::UNSPECIFIED, solicited_node(&VIP6), &ns, 0);
        assert_eq!(ndp_parse(&dad, 14), Err(WireError::Malformed.into()));
        let dad = nd_frame(false, Ipv6Addr::UNSPECIFIED, VIP6, &ns_for(VIP6, None), 0);
        assert_eq!(ndp_parse(&dad, 14), Err(WireError::Malformed.into()));
        // A solicited advertisement to a multicast group.
        let na = NdpRepr::Advert {
            target: REAL6,
            target_mac: Some(REAL_MAC),
            router: false,
            solicited: true,
            override_: true,
        };
        let f = nd_frame(false, REAL6, ALL_NODES, &na, 0);
        assert_eq!(ndp_parse(&f, 14), Err(WireError::Malformed.into()));
        // An unsolicited one is how a neighbour announces itself: learned.
        let unsolicited = NdpRepr::Advert {
            target: REAL6,
            target_mac: Some(REAL_MAC),
            router: false,
            solicited: false,
            override_: true,
        };
        let f = nd_frame(false, REAL6, ALL_NODES, &unsolicited, 0);
        assert_eq!(
            ndp_parse(&f, 14).unwrap().learned(),
            Some((REAL6, REAL_MAC))
        );
        // An advertisement is not answered; an echo is not ND.
        let mut fr = VecFrame::new(&f);
        assert_eq!(
            na_answer(&mut fr, 14, LB_MAC),
            Err(WireError::Unsupported.into())
        );
        let (echo, l3) = ip6_frame(
            false,
            &icmp6(Ip6::new(CLIENT6, VIP6).hops(255), 128, 0, [0; 4], b""),
            0,
        );
        assert_eq!(ndp_parse(&echo, l3), Err(WireError::Unsupported.into()));
        assert!(ndp_parse(&good, 200).is_err());
        assert!(ndp_parse(&good[..60], 14).is_err());
    }

    #[test]
    fn built_solicitations_and_unsolicited_adverts() {
        let mut buf = [0u8; 128];
        let n = build_neighbor_solicit(&mut buf, None, LB_MAC, LB6, REAL6).unwrap();
        assert_eq!(n, 86);
        let f = &buf[..n];
        let e = eth_of(f);
        assert_eq!(e.dst, MacAddr([0x33, 0x33, 0xff, 0, 0, 0x20]));
        let facts = ndp_parse(f, 14).unwrap();
        assert_eq!((facts.src, facts.dst), (LB6, solicited_node(&REAL6)));
        assert_eq!(facts.repr, ns_for(REAL6, Some(LB_MAC)));

        let n = build_unsolicited_na(&mut buf, Some(VLAN_TCI), LB_MAC, VIP6).unwrap();
        assert_eq!(n, 90);
        let facts = ndp_parse(&buf[..n], 18).unwrap();
        assert_eq!((facts.src, facts.dst), (VIP6, ALL_NODES));
        assert_eq!(facts.learned(), Some((VIP6, LB_MAC)));
        assert_eq!(eth_of(&buf[..n]).vlan_tci, Some(VLAN_TCI));
        assert_eq!(
            build_unsolicited_na(&mut buf[..89], Some(VLAN_TCI), LB_MAC, VIP6),
            Err(WireError::Truncated)
        );
    }
}
