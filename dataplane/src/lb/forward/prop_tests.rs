//! Property tests: NAT on random TCP/UDP packets equals building the translated packet from
//! scratch (so every incremental checksum equals a full recomputation), translating back
//! restores the original, ICMP error translation matches too, and no function panics on any
//! bytes.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::test_packets::*;
use super::*;
use crate::wire::MacAddr;

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// A random TCP or UDP (checksum present or 0) packet builder over random fields.
#[derive(Clone, Debug)]
struct Flow {
    udp: bool,
    no_csum: bool,
    payload: Vec<u8>,
    ident: u16,
    dont_frag: bool,
}

impl Flow {
    fn build(&self, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, ttl: u8) -> Vec<u8> {
        let mut ip = Ip::new(src, dst).ttl(ttl);
        ip.ident = self.ident;
        ip.dont_frag = self.dont_frag;
        if self.udp {
            udp(ip, sport, dport, &self.payload, self.no_csum)
        } else {
            tcp(ip, sport, dport, &self.payload)
        }
    }
}

fn flow() -> impl Strategy<Value = Flow> {
    (
        any::<(bool, bool, u16, bool)>(),
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|((udp, no_csum, ident, dont_frag), payload)| Flow {
            udp,
            no_csum,
            payload,
            ident,
            dont_frag,
        })
}

proptest! {
    #[test]
    fn nat_in_then_back_restores_and_checksums_stay_exact(
        f in flow(),
        (client, vip, real) in (addr(), addr(), addr()),
        (cport, vport, rport) in any::<(u16, u16, u16)>(),
        ttl in 3u8..,
        vlan in any::<bool>(),
        pad in 0usize..8,
    ) {
        let orig = f.build(client, cport, vip, vport, ttl);
        let (mut fr, l3) = ip_frame(vlan, &orig, pad);
        nat_in(&mut fr, l3, real, rport).unwrap();
        let expected = f.build(client, cport, real, rport, ttl - 1);
        prop_assert_eq!(&fr[l3..l3 + orig.len()], &expected[..]);
        assert_checksums_ok(&fr, l3);
        // The reverse rewrite of the same end restores the original, TTL aside.
        nat_in(&mut fr, l3, vip, vport).unwrap();
        let back = f.build(client, cport, vip, vport, ttl - 2);
        prop_assert_eq!(&fr[l3..l3 + orig.len()], &back[..]);
        prop_assert_eq!(&fr[l3 + 20..l3 + orig.len()], &orig[20..]);
    }

    #[test]
    fn nat_out_equals_reply_built_from_the_vip(
        f in flow(),
        (client, vip, real) in (addr(), addr(), addr()),
        (cport, vport, rport) in any::<(u16, u16, u16)>(),
        ttl in 2u8..,
        vlan in any::<bool>(),
    ) {
        let reply = f.build(real, rport, client, cport, ttl);
        let (mut fr, l3) = ip_frame(vlan, &reply, 0);
        nat_out(&mut fr, l3, vip, vport).unwrap();
        prop_assert_eq!(&fr[l3..], &f.build(vip, vport, client, cport, ttl - 1)[..]);
        assert_checksums_ok(&fr, l3);
    }

    #[test]
    fn icmp_errors_translate_like_their_connection(
        f in flow(),
        (client, vip, real, router) in (addr(), addr(), addr(), addr()),
        (cport, vport, rport) in any::<(u16, u16, u16)>(),
        quote_len in 28usize..200,
        (t, code) in prop_oneof![Just((3u8, 3u8)), Just((3, 4)), Just((11, 0)), Just((12, 0))],
    ) {
        // Client side, about our reply.
        let sent = f.build(vip, vport, client, cport, 60);
        let was = f.build(real, rport, client, cport, 60);
        let q = quote_len.min(sent.len());
        // A quote cut inside the TCP checksum keeps its half byte as quoted (wire updates a
        // quoted TCP checksum only when whole); routers quote 8 bytes or all they can.
        prop_assume!(f.udp || q != 20 + 17);
        let error = icmp(Ip::new(router, vip), t, code, [0, 0, 5, 0xdc], &sent[..q]);
        let (mut fr, l3) = ip_frame(false, &error, 0);
        let key = quoted_flow(&fr, l3).unwrap();
        prop_assert_eq!((key.src, key.sport, key.dst, key.dport), (vip, vport, client, cport));
        icmp_error_to_real(&mut fr, l3, real, rport).unwrap();
        let expected = icmp(Ip::new(router, real).ttl(63), t, code, [0, 0, 5, 0xdc], &was[..q]);
        prop_assert_eq!(&fr[l3..], &expected[..]);

        // Real side, about a request we forwarded.
        let fwd = f.build(client, cport, real, rport, 60);
        let orig = f.build(client, cport, vip, vport, 60);
        let error = icmp(Ip::new(router, client), t, code, [0; 4], &fwd[..q]);
        let (mut fr, l3) = ip_frame(true, &error, 0);
        icmp_error_to_client(&mut fr, l3, vip, vport).unwrap();
        let expected = icmp(Ip::new(vip, client).ttl(63), t, code, [0; 4], &orig[..q]);
        prop_assert_eq!(&fr[l3..], &expected[..]);
    }

    #[test]
    fn no_function_panics_on_random_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..160),
        l3 in 0usize..48,
        a in addr(),
        port in any::<u16>(),
    ) {
        exercise_all(&bytes, l3, a, port);
    }

    #[test]
    fn no_function_panics_on_mutated_packets(
        f in flow(),
        kind in 0u8..4,
        vlan in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        a in addr(),
        port in any::<u16>(),
    ) {
        let inner = f.build(CLIENT, 40000, VIP, 80, 64);
        let l3_bytes = match kind {
            0 => inner,
            1 => icmp(Ip::new(ROUTER, VIP), 3, 4, [0, 0, 5, 0xdc], &inner[..28.min(inner.len())]),
            2 => icmp(Ip::new(CLIENT, VIP), 8, 0, [0, 1, 0, 1], &inner),
            _ => {
                let mut arp = [0u8; 28];
                crate::wire::ArpRepr::request(PEER_MAC, CLIENT, VIP).emit(&mut arp).unwrap();
                arp.to_vec()
            }
        };
        let (mut fr, l3) = ip_frame(vlan, &l3_bytes, 0);
        for (i, v) in edits {
            let i = i.index(fr.len());
            fr[i] = v;
        }
        let n = cut.index(fr.len() + 1);
        exercise_all(&fr[..n], l3, a, port);
    }
}

/// Runs every function on its own copy of `bytes`; only a panic can fail this.
fn exercise_all(bytes: &[u8], l3: usize, a: Ipv4Addr, port: u16) {
    let run = |f: &dyn Fn(&mut [u8])| f(&mut bytes.to_vec());
    run(&|b| {
        let _ = nat_in(b, l3, a, port);
    });
    run(&|b| {
        let _ = nat_out(b, l3, a, port);
    });
    run(&|b| {
        let _ = icmp_error_to_real(b, l3, a, port);
    });
    run(&|b| {
        let _ = icmp_error_to_client(b, l3, a, port);
    });
    run(&|b| {
        let _ = quoted_flow(b, l3);
    });
    run(&|b| {
        let _ = frag_needed_in_place(b, l3, a, port);
    });
    run(&|b| {
        let _ = echo_reply_in_place(b, l3);
    });
    run(&|b| {
        let _ = arp_reply_in_place(b, l3, MacAddr([2, 0, 0, 0, 0, 1]));
    });
    run(&|b| {
        let _ = encapsulate(b, l3, a, a, port);
    });
    run(&|b| {
        let _ = build_arp_request(b, MacAddr([2, 0, 0, 0, 0, 1]), a, a);
    });
    run(&|b| {
        let _ = build_gratuitous_arp(b, MacAddr([2, 0, 0, 0, 0, 1]), a);
    });
    let _ = tun_fits(port, l3 as u16);
}
