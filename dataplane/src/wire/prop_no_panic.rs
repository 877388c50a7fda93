//! Property tests: no parser panics on any input, and no getter or setter of a view that
//! `new_checked` accepted panics either. Inputs are both arbitrary bytes and valid frames with
//! random corruptions and truncations (which reach the deeper layers far more often).

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::arp::{ArpPacket, ArpRepr};
use super::ethernet::{ether_type, EthernetFrame, EthernetRepr};
use super::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use super::icmpv4_quote::QuotedIpv4;
use super::icmpv6::Icmpv6Packet;
use super::icmpv6_quote::QuotedIpv6;
use super::ip_proto;
use super::ipv4::{Ipv4Packet, Ipv4Repr};
use super::ipv6::{Ipv6Packet, Ipv6Repr};
use super::mac::MacAddr;
use super::ndp::{NdpPacket, NdpRepr};
use super::packet::parse_any;
use super::tcp::{TcpFlags, TcpRepr, TcpSegment};
use super::udp::{UdpDatagram, UdpRepr};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

/// Calls every getter of every view that accepts `b`, then every setter on a copy.
fn exercise(b: &[u8]) {
    let _ = parse_any(b);
    if let Ok(f) = EthernetFrame::new_checked(b) {
        let _ = (f.dst(), f.src(), f.vlan_tci(), f.vlan_id(), f.ethertype());
        let _ = (f.header_len(), f.payload().len(), EthernetRepr::parse(&f));
    }
    if let Ok(a) = ArpPacket::new_checked(b) {
        let _ = (a.operation(), a.sender_mac(), a.sender_ip(), a.target_mac());
        let _ = (a.target_ip(), a.is_gratuitous(), ArpRepr::parse(&a));
    }
    if let Ok(p) = Ipv4Packet::new_checked(b) {
        let _ = (
            p.version(),
            p.header_len(),
            p.tos(),
            p.dscp(),
            p.ecn(),
            p.total_len(),
        );
        let _ = (
            p.ident(),
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
            p.is_fragment(),
        );
        let _ = (
            p.has_l4_header(),
            p.ttl(),
            p.protocol(),
            p.checksum(),
            p.src_addr(),
        );
        let _ = (
            p.dst_addr(),
            p.options(),
            p.verify_checksum(),
            p.payload().len(),
        );
        let _ = Ipv4Repr::parse(&p);
    }
    if let Ok(p) = Ipv6Packet::new_checked(b) {
        let _ = (
            p.version(),
            p.traffic_class(),
            p.flow_label(),
            p.payload_len(),
        );
        let _ = (p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr());
        let _ = (p.payload().len(), p.upper_layer(), Ipv6Repr::parse(&p));
    }
    if let Ok(t) = TcpSegment::new_checked(b) {
        let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number());
        let _ = (
            t.header_len(),
            t.flags(),
            t.fin(),
            t.syn(),
            t.rst(),
            t.psh(),
            t.ack(),
        );
        let _ = (t.urg(), t.window(), t.checksum(), t.urgent_ptr(), t.mss());
        let _ = (
            t.payload().len(),
            t.verify_checksum_v4(A, B),
            TcpRepr::parse(&t),
        );
        let _ = t.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED);
        assert!(t.options().count() <= 40, "options iteration ends");
    }
    if let Ok(u) = UdpDatagram::new_checked(b) {
        let _ = (
            u.src_port(),
            u.dst_port(),
            u.len(),
            u.is_empty(),
            u.checksum(),
        );
        let _ = (
            u.payload().len(),
            u.verify_checksum_v4(A, B),
            UdpRepr::parse(&u),
        );
        let _ = u.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
    }
    if let Ok(i) = Icmpv4Packet::new_checked(b) {
        let _ = (
            i.msg_type(),
            i.code(),
            i.checksum(),
            i.echo_ident(),
            i.echo_seq(),
        );
        let _ = (
            i.next_hop_mtu(),
            i.is_error(),
            i.is_echo_request(),
            i.verify_checksum(),
        );
        let _ = (i.data().len(), Icmpv4Repr::parse(&i));
        if let Ok(q) = i.quote() {
            exercise_quote(&q);
        }
    }
    if let Ok(q) = QuotedIpv4::new_checked(b) {
        exercise_quote(&q);
    }
    if let Ok(i) = Icmpv6Packet::new_checked(b) {
        let _ = (
            i.msg_type(),
            i.code(),
            i.checksum(),
            i.is_error(),
            i.echo_ident(),
        );
        let _ = (i.echo_seq(), i.mtu(), i.data().len());
        let _ = i.verify_checksum(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
    }
    exercise_v6(b);
    exercise_setters(b);
}

/// The IPv6-only views: the one parser, ND messages and ICMPv6 quotes (with their setters).
fn exercise_v6(b: &[u8]) {
    let _ = super::parsed::parse_frame(b);
    let _ = super::parsed::parse_ipv6(b, 14);
    let _ = super::ipv6::walk_ext_headers(b, b.first().copied().unwrap_or(0));
    if let Ok(n) = NdpPacket::new_checked(b) {
        let _ = (n.msg_type(), n.flags(), NdpRepr::parse(&n));
        let _ = (n.lladdr_option(1), n.lladdr_option(2));
        if matches!(n.msg_type(), 135 | 136) {
            let _ = (n.target(), n.flags_word());
        }
    }
    if let Ok(q) = QuotedIpv6::new_checked(b) {
        let _ = (
            q.protocol(),
            q.payload_len(),
            q.hop_limit(),
            q.traffic_class(),
        );
        let _ = (q.src_addr(), q.dst_addr(), q.l4_offset(), q.has_l4_header());
        let _ = (q.l4().len(), q.src_port(), q.dst_port());
        let mut copy = b.to_vec();
        if let Ok(mut q) = QuotedIpv6::new_checked(&mut copy[..]) {
            q.rewrite_src(Ipv6Addr::LOCALHOST, 1);
            q.rewrite_dst(Ipv6Addr::UNSPECIFIED, 2);
        }
    }
}

fn exercise_quote<T: AsRef<[u8]>>(q: &QuotedIpv4<T>) {
    let _ = (
        q.header_len(),
        q.total_len(),
        q.protocol(),
        q.header_checksum(),
    );
    let _ = (
        q.src_addr(),
        q.dst_addr(),
        q.verify_header_checksum(),
        q.has_l4_header(),
    );
    let _ = (
        q.l4().len(),
        q.src_port(),
        q.dst_port(),
        q.icmp_echo_ident(),
    );
}

fn exercise_setters(b: &[u8]) {
    let mut buf = b.to_vec();
    if let Ok(mut f) = EthernetFrame::new_checked(&mut buf[..]) {
        f.swap_macs();
        f.set_src(MacAddr::BROADCAST);
        f.set_dst(MacAddr::ZERO);
        f.set_vlan_id(7);
        f.set_ethertype(ether_type::IPV4);
        let _ = f.payload_mut().len();
    }
    let mut buf = b.to_vec();
    if let Ok(mut a) = ArpPacket::new_checked(&mut buf[..]) {
        a.make_reply(MacAddr([2, 0, 0, 0, 0, 1]));
    }
    let mut buf = b.to_vec();
    if let Ok(mut p) = Ipv4Packet::new_checked(&mut buf[..]) {
        p.rewrite_src_addr(A);
        p.rewrite_dst_addr(B);
        p.swap_addrs();
        p.decrement_ttl();
        p.set_dont_frag(true);
        p.fill_checksum();
        p.set_total_len(u16::MAX);
        let _ = (
            p.payload_mut().len(),
            p.options().len(),
            p.verify_checksum(),
        );
        p.set_total_len(0);
        let _ = (p.payload().len(), p.options().len());
    }
    let mut buf = b.to_vec();
    if let Ok(mut p) = Ipv6Packet::new_checked(&mut buf[..]) {
        p.swap_addrs();
        p.set_traffic_class(1);
        p.set_flow_label(u32::MAX);
        p.set_payload_len(u16::MAX);
        let _ = (p.payload_mut().len(), p.upper_layer());
    }
    let mut buf = b.to_vec();
    if let Ok(mut t) = TcpSegment::new_checked(&mut buf[..]) {
        t.rewrite_src_port(1);
        t.rewrite_dst_port(2);
        t.update_checksum_for_addr(A, B);
        t.fill_checksum_v4(A, B);
        t.set_flags(TcpFlags(0xff));
        let _ = t.payload_mut().len();
    }
    let mut buf = b.to_vec();
    if let Ok(mut u) = UdpDatagram::new_checked(&mut buf[..]) {
        u.rewrite_src_port(1);
        u.rewrite_dst_port(2);
        u.update_checksum_for_addr(A, B);
        u.fill_checksum_v4(A, B);
        u.set_len(u16::MAX);
        let _ = (u.payload_mut().len(), u.payload().len());
        u.set_len(0);
        let _ = u.payload().len();
    }
    let mut buf = b.to_vec();
    if let Ok(mut i) = Icmpv4Packet::new_checked(&mut buf[..]) {
        i.make_echo_reply();
        i.rewrite_echo_ident(3);
        if let Ok(mut q) = i.quote_mut() {
            q.rewrite_src(A, 4);
            q.rewrite_dst(B, 5);
            q.fill_header_checksum();
        }
        i.fill_checksum();
    }
    let mut buf = b.to_vec();
    if let Ok(mut i) = Icmpv6Packet::new_checked(&mut buf[..]) {
        i.make_echo_reply();
        i.fill_checksum(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
    }
}

fn eth(ethertype: u16, vlan: bool, payload: &[u8]) -> Vec<u8> {
    let repr = EthernetRepr {
        dst: MacAddr([2, 0, 0, 0, 0, 2]),
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        vlan_tci: vlan.then_some(100),
        ethertype,
    };
    let mut f = vec![0u8; repr.header_len()];
    let _ = repr.emit(&mut f);
    f.extend_from_slice(payload);
    f
}

fn ipv4(protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    let repr = Ipv4Repr {
        src: A,
        dst: B,
        protocol,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: true,
        payload_len: l4.len() as u16,
    };
    let _ = repr.emit(&mut b);
    b.extend_from_slice(l4);
    b
}

/// A handful of valid frames covering every parser, for mutation.
fn seed_frames() -> Vec<Vec<u8>> {
    let mut tcp = [0u8; 32];
    let _ = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1,
        ack: 2,
        flags: TcpFlags::SYN,
        window: 1000,
        mss: Some(1460),
    }
    .emit(&mut tcp);
    tcp[12] = 0x80; // 32-byte header: MSS then 8 bytes of NOP/SACK-permitted/wscale
    tcp[24..32].copy_from_slice(&[1, 1, 4, 2, 1, 3, 3, 7]);
    let mut udp = [0u8; 12];
    let _ = UdpRepr {
        src_port: 53,
        dst_port: 5353,
        payload_len: 4,
    }
    .emit(&mut udp);
    let mut echo = [0u8; 12];
    let _ = Icmpv4Repr::EchoRequest { ident: 1, seq: 2 }.emit(&mut echo, &[9; 4]);
    let inner = ipv4(ip_proto::TCP, &tcp);
    let mut err = vec![0u8; 8 + 28];
    let _ = Icmpv4Repr::frag_needed(1400).emit(&mut err, &inner[..28]);
    let mut arp = [0u8; 28];
    let _ = ArpRepr::gratuitous(MacAddr([2, 0, 0, 0, 0, 1]), A).emit(&mut arp);
    let mut v6 = vec![0u8; 40];
    let mut ext = vec![ip_proto::IPV6_FRAGMENT, 0, 1, 4, 0, 0, 0, 0];
    ext.extend([ip_proto::TCP, 0, 0, 1, 0, 0, 0, 7]);
    ext.extend_from_slice(&tcp);
    let _ = Ipv6Repr {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::LOCALHOST,
        next_header: ip_proto::HOPOPT,
        hop_limit: 64,
        payload_len: ext.len() as u16,
    }
    .emit(&mut v6);
    v6.extend_from_slice(&ext);
    let mut v6icmp = vec![0u8; 40];
    let _ = Ipv6Repr {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::LOCALHOST,
        next_header: ip_proto::ICMPV6,
        hop_limit: 64,
        payload_len: 8,
    }
    .emit(&mut v6icmp);
    v6icmp.extend([128, 0, 0, 0, 0, 1, 0, 1]);
    vec![
        eth(ether_type::IPV4, false, &ipv4(ip_proto::TCP, &tcp)),
        eth(ether_type::IPV4, true, &ipv4(ip_proto::UDP, &udp)),
        eth(ether_type::IPV4, false, &ipv4(ip_proto::ICMP, &echo)),
        eth(ether_type::IPV4, true, &ipv4(ip_proto::ICMP, &err)),
        eth(ether_type::ARP, false, &arp),
        eth(ether_type::IPV6, false, &v6),
        eth(ether_type::IPV6, true, &v6icmp),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
        exercise(&b);
        // Also at every L3 start a frame could have, with an IPv4-ish or IPv6-ish first byte.
        let mut v4 = b.clone();
        if let Some(x) = v4.first_mut() { *x = 0x40 | (*x & 0x0f); }
        exercise(&v4);
        let mut v6 = b.clone();
        if let Some(x) = v6.first_mut() { *x = 0x60 | (*x & 0x0f); }
        exercise(&v6);
    }

    #[test]
    fn corrupted_frames_never_panic(
        seed in 0usize..7,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let frames = seed_frames();
        let mut f = frames[seed].clone();
        for (i, v) in edits {
            let at = i.index(f.len());
            f[at] = v;
        }
        if do_cut {
            f.truncate(cut.index(f.len() + 1));
        }
        exercise(&f);
        // The layers on their own, at the offsets a walk would use.
        for off in [14usize, 18, 34, 38, 54, 58, 62, 66] {
            if let Some(rest) = f.get(off..) {
                exercise(rest);
            }
        }
    }
}

#[test]
fn seed_frames_all_parse() {
    for (i, f) in seed_frames().iter().enumerate() {
        assert!(parse_any(f).is_ok(), "seed {i}: {:?}", parse_any(f));
    }
}
