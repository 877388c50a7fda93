//! Property tests for the IPv6 rewrites, as `prop_tests.rs` for IPv4: NAT66 on random packets
//! equals building the translated packet from scratch (so every incremental checksum equals a
//! full recomputation) and translating back restores the original; ICMPv6 errors translate
//! like their connection; NAT64 there and back gives the packets built for each side; no
//! function panics on any bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::test_packets::{ip_frame, tcp, udp, Ip};
use super::test_packets6::*;
use super::*;
use crate::wire::{Frame, MacAddr, VecFrame};

fn addr6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn addr4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// A random TCP or UDP packet over random fields.
#[derive(Clone, Debug)]
struct Flow6 {
    udp: bool,
    payload: Vec<u8>,
    tc: u8,
    flow: u32,
}

impl Flow6 {
    fn ip(&self, src: Ipv6Addr, dst: Ipv6Addr, hops: u8) -> Ip6 {
        Ip6 {
            src,
            dst,
            hop_limit: hops,
            tc: self.tc,
            flow: self.flow,
        }
    }

    fn build(&self, src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, hops: u8) -> Vec<u8> {
        let ip = self.ip(src, dst, hops);
        if self.udp {
            udp6(ip, sport, dport, &self.payload)
        } else {
            tcp6(ip, sport, dport, &self.payload)
        }
    }
}

fn flow6() -> impl Strategy<Value = Flow6> {
    (
        any::<(bool, u8, u32)>(),
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|((udp, tc, flow), payload)| Flow6 {
            udp,
            payload,
            tc,
            flow: flow & 0xfffff,
        })
}

proptest! {
    #[test]
    fn nat66_in_then_back_restores_and_checksums_stay_exact(
        f in flow6(),
        (client, vip, real) in (addr6(), addr6(), addr6()),
        (cport, vport, rport) in any::<(u16, u16, u16)>(),
        hops in 3u8..,
        vlan in any::<bool>(),
        pad in 0usize..8,
    ) {
        let orig = f.build(client, cport, vip, vport, hops);
        let (mut fr, l3) = ip6_frame(vlan, &orig, pad);
        nat66_in(&mut fr, l3, real, rport).unwrap();
        let expected = f.build(client, cport, real, rport, hops - 1);
        prop_assert_eq!(&fr[l3..l3 + orig.len()], &expected[..]);
        nat66_in(&mut fr, l3, vip, vport).unwrap();
        let back = f.build(client, cport, vip, vport, hops - 2);
        prop_assert_eq!(&fr[l3..l3 + orig.len()], &back[..]);
        prop_assert_eq!(&fr[l3 + 40..l3 + orig.len()], &orig[40..]);
    }

    #[test]
    fn nat66_out_equals_the_reply_built_from_the_vip(
        f in flow6(),
        (client, vip, real) in (addr6(), addr6(), addr6()),
        (cport, vport, rport) in any::<(u16, u16, u16)>(),
        hops in 2u8..,
    ) {
        let reply = f.build(real, rport, client, cport, hops);
        let (mut fr, l3) = ip6_frame(false, &reply, 0);
        nat66_out(&mut fr, l3, vip, vport).unwrap();
        prop_assert_eq!(&fr[l3..], &f.build(vip, vport, client, cport, hops - 1)[..]);
    }

    #[test]
    fn icmp6_errors_translate_like_their_connection(
        f in flow6(),
        (client, vip, real, router) in (addr6(), addr6(), addr6(), addr6()),
        (cport, vport, rport) in any::<(u16, u16, u16)>(),
        quote_len in 48usize..200,
        (t, code) in prop_oneof![Just((1u8, 4u8)), Just((2, 0)), Just((3, 0)), Just((4, 0))],
    ) {
        let sent = f.build(vip, vport, client, cport, 60);
        let was = f.build(real, rport, client, cport, 60);
        let q = quote_len.min(sent.len());
        // A quote cut inside the TCP checksum keeps its half as quoted (as for IPv4).
        prop_assume!(f.udp || q != 40 + 17);
        let err = icmp6(Ip6::new(router, vip), t, code, [0, 0, 5, 0xdc], &sent[..q]);
        let (mut fr, l3) = ip6_frame(false, &err, 0);
        let key = quoted_flow6(&fr, l3).unwrap();
        prop_assert_eq!((key.src, key.sport, key.dst, key.dport), (vip, vport, client, cport));
        icmp6_error_to_real(&mut fr, l3, real, rport).unwrap();
        let want = icmp6(Ip6::new(router, real).hops(63), t, code, [0, 0, 5, 0xdc], &was[..q]);
        prop_assert_eq!(&fr[l3..], &want[..]);

        let fwd = f.build(client, cport, real, rport, 60);
        let orig = f.build(client, cport, vip, vport, 60);
        let err = icmp6(Ip6::new(router, client), t, code, [0; 4], &fwd[..q]);
        let (mut fr, l3) = ip6_frame(true, &err, 0);
        icmp6_error_to_client(&mut fr, l3, vip, vport).unwrap();
        let want = icmp6(Ip6::new(vip, client).hops(63), t, code, [0; 4], &orig[..q]);
        prop_assert_eq!(&fr[l3..], &want[..]);
    }

    #[test]
    fn nat64_there_and_back_equals_the_packets_built_for_each_side(
        udp_not_tcp in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..64),
        (client, vip) in (addr6(), addr6()),
        (lb, real) in (addr4(), addr4()),
        (cport, vport, mport, rport) in any::<(u16, u16, u16, u16)>(),
        tc in any::<u8>(),
        hops in 2u8..,
        vlan in any::<bool>(),
    ) {
        // Client -> VIP over IPv6 becomes LB:mport -> real:rport over IPv4.
        let mut ip6 = Ip6::new(client, vip).hops(hops);
        ip6.tc = tc;
        let (v6, v4) = if udp_not_tcp {
            (udp6(ip6, cport, vport, &payload), udp(v4ip(lb, real, hops - 1), mport, rport, &payload, false))
        } else {
            (tcp6(ip6, cport, vport, &payload), tcp(v4ip(lb, real, hops - 1), mport, rport, &payload))
        };
        let v4 = set_tos(v4, tc);
        let (fr, l3) = ip6_frame(vlan, &v6, 0);
        let mut f = VecFrame::new(&fr);
        let to = Endpoints { src: lb, sport: mport, dst: real, dport: rport };
        nat64_6to4(&mut f, l3, to, 0x77).unwrap();
        prop_assert_eq!(&f.data()[l3..], &v4[..]);

        // The real's reply comes back to the client from the VIP.
        let reply4 = if udp_not_tcp {
            udp(v4ip(real, lb, hops), rport, mport, &payload, false)
        } else {
            tcp(v4ip(real, lb, hops), rport, mport, &payload)
        };
        let reply4 = set_tos(reply4, tc);
        let (fr, l3) = ip_frame(vlan, &reply4, 0);
        let mut f = VecFrame::new(&fr);
        let back = Endpoints { src: vip, sport: vport, dst: client, dport: cport };
        nat64_4to6(&mut f, l3, back).unwrap();
        let mut rip = Ip6::new(vip, client).hops(hops - 1);
        rip.tc = tc;
        rip.flow = 0;
        let want = if udp_not_tcp {
            udp6(rip, vport, cport, &payload)
        } else {
            tcp6(rip, vport, cport, &payload)
        };
        prop_assert_eq!(&f.data()[l3..], &want[..]);
    }

    #[test]
    fn no_function_panics_on_random_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        l3 in 0usize..64,
        (a6, b6) in (addr6(), addr6()),
        a4 in addr4(),
        port in any::<u16>(),
    ) {
        exercise_all6(&bytes, l3, a6, b6, a4, port);
    }

    #[test]
    fn no_function_panics_on_mutated_packets(
        f in flow6(),
        kind in 0u8..6,
        vlan in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        (a6, b6) in (addr6(), addr6()),
        a4 in addr4(),
        port in any::<u16>(),
    ) {
        let inner = f.build(CLIENT6, 40000, VIP6, 80, 64);
        let (mut fr, l3) = match kind {
            0 => ip6_frame(vlan, &inner, 0),
            1 => ip6_frame(vlan, &icmp6(Ip6::new(ROUTER6, VIP6), 2, 0, [0, 0, 5, 0], &inner), 0),
            2 => ip6_frame(vlan, &icmp6(Ip6::new(CLIENT6, VIP6), 128, 0, [0, 1, 0, 1], &inner), 0),
            3 => {
                let mut b = [0u8; 128];
                let n = build_neighbor_solicit(&mut b, vlan.then_some(7), MacAddr([2, 0, 0, 0, 0, 1]), CLIENT6, VIP6).unwrap();
                (b[..n].to_vec(), if vlan { 18 } else { 14 })
            }
            4 => ip_frame(vlan, &tcp(Ip::new(a4, a4), 1, 2, &f.payload), 0),
            _ => {
                let fwd = udp(Ip::new(a4, a4), 1, 2, &f.payload, false);
                let e = super::test_packets::icmp(Ip::new(a4, a4), 3, 4, [0, 0, 5, 0xdc], &fwd[..28]);
                ip_frame(vlan, &e, 0)
            }
        };
        for (i, v) in edits {
            let i = i.index(fr.len());
            fr[i] = v;
        }
        let n = cut.index(fr.len() + 1);
        exercise_all6(&fr[..n], l3, a6, b6, a4, port);
    }
}

fn v4ip(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Ip {
    Ip {
        src,
        dst,
        ttl,
        ident: 0x77,
        dont_frag: false,
    }
}

fn set_tos(mut p: Vec<u8>, tos: u8) -> Vec<u8> {
    p[1] = tos;
    crate::wire::Ipv4Packet::new_checked(&mut p[..])
        .unwrap()
        .fill_checksum();
    p
}

/// Runs every IPv6 function on its own copy of `bytes`; only a panic can fail this.
fn exercise_all6(bytes: &[u8], l3: usize, a: Ipv6Addr, b: Ipv6Addr, a4: Ipv4Addr, port: u16) {
    let run = |f: &dyn Fn(&mut [u8])| f(&mut bytes.to_vec());
    let run_frame = |f: &dyn Fn(&mut VecFrame)| f(&mut VecFrame::with_headroom(bytes, 64));
    let e4 = Endpoints {
        src: a4,
        sport: port,
        dst: a4,
        dport: port,
    };
    let e6 = Endpoints {
        src: a,
        sport: port,
        dst: b,
        dport: port,
    };
    run(&|f| {
        let _ = nat66_in(f, l3, a, port);
    });
    run(&|f| {
        let _ = nat66_out(f, l3, a, port);
    });
    run(&|f| {
        let _ = nat66_in_fragment(f, l3, a, port);
    });
    run(&|f| {
        let _ = nat66_out_fragment(f, l3, a, port);
    });
    run(&|f| {
        let _ = icmp6_error_to_real(f, l3, a, port);
    });
    run(&|f| {
        let _ = icmp6_error_to_client(f, l3, a, port);
    });
    run(&|f| {
        let _ = quoted_flow6(f, l3);
    });
    run(&|f| {
        let _ = packet_too_big_in_place(f, l3, a, u32::from(port));
    });
    run(&|f| {
        let _ = echo6_reply_in_place(f, l3);
    });
    run(&|f| {
        let _ = encapsulate6(f, l3, a, b, u32::from(port));
    });
    run(&|f| {
        let _ = ndp_parse(f, l3);
    });
    run(&|f| {
        let _ = crate::wire::parsed::parse_frame(f);
    });
    run(&|f| {
        let _ = build_unsolicited_na(f, Some(port), MacAddr([2, 0, 0, 0, 0, 1]), a);
    });
    run_frame(&|f| {
        let _ = na_answer(f, l3, MacAddr([2, 0, 0, 0, 0, 1]));
    });
    run_frame(&|f| {
        let _ = nat64_6to4(f, l3, e4, port);
    });
    run_frame(&|f| {
        let _ = nat64_4to6(f, l3, e6);
    });
    run_frame(&|f| {
        let _ = nat64_6to4_fragment(f, l3, e4);
    });
    run_frame(&|f| {
        let _ = nat64_4to6_fragment(f, l3, e6);
    });
    run_frame(&|f| {
        let _ = nat64_icmp_6to4(
            f,
            l3,
            ErrorAddrs {
                src: a4,
                dst: a4,
                quoted: e4,
            },
        );
    });
    run_frame(&|f| {
        let _ = nat64_icmp_4to6(
            f,
            l3,
            ErrorAddrs {
                src: a,
                dst: b,
                quoted: e6,
            },
        );
    });
}
