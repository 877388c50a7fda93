//! The IPv6 fixture table: (input frame, rewrite) -> expected output frame or refusal, one
//! row per decision the engine will take on IPv6. The first rows are literal bytes computed
//! outside this code base (an independent Python model of RFC 8200/4443/4861/7915 checksums),
//! smoltcp style; the others are built by `test_packets6`, whose builders compute every
//! checksum from scratch.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::test_packets::{eth_of, ip_frame, tcp, Ip, LB_MAC, PEER_MAC};
use super::test_packets6::*;
use super::*;
use crate::wire::ip_proto;
use crate::wire::{Frame, VecFrame, WireError};

const LB4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const REAL4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);

/// What a row does to its input (at the L3 offset of an untagged frame, 14).
#[derive(Clone, Copy, Debug)]
enum Op {
    Nat66In(Ipv6Addr, u16),
    Nat66Out(Ipv6Addr, u16),
    Nat64To4(Endpoints<Ipv4Addr>, u16),
    Nat64To6(Endpoints<Ipv6Addr>),
    EchoReply,
    NaAnswer,
    TooBig(Ipv6Addr, u32),
    IcmpToReal(Ipv6Addr, u16),
    Tun6(Ipv6Addr, Ipv6Addr),
}

struct Row {
    name: &'static str,
    input: Vec<u8>,
    op: Op,
    want: Result<Vec<u8>, ForwardError>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Literal frames (Ethernet PEER_MAC -> LB_MAC unless a reply): a TCP SYN 2001:db8:1::2:40000
/// -> [2001:db8:100::10]:80, hop limit 64, and what NAT66 and NAT64 make of it; an echo
/// request and its reply; a Neighbor Solicitation for the VIP and our advertisement.
const SYN6: &str = "0200000000aa02000000001186dd600000000014064020010db800010000000000000000000220010db80100000000000000000000109c40005001020304000000005002faf0b7d60000";
const SYN6_NAT66: &str = "0200000000aa02000000001186dd600000000014063f20010db800010000000000000000000220010db80002000000000000000000209c401f9001020304000000005002faf099840000";
const SYN6_NAT64: &str = "0200000000aa020000000011080045000028007700003f0626ddc6336401c6336414ee481f9001020304000000005002faf04e960000";
const ECHO6: &str = "0200000000aa02000000001186dd60000000000c3a3920010db800010000000000000000000220010db80100000000000000000000108000322e1234000170696e67";
const ECHO6_REPLY: &str = "0200000000110200000000aa86dd60000000000c3a4020010db801000000000000000000001020010db80001000000000000000000028100312e1234000170696e67";
const NS: &str = "3333ff00001002000000001186dd6000000000203aff20010db8000100000000000000000002ff0200000000000000000001ff00001087001af90000000020010db80100000000000000000000100101020000000011";
const NA: &str = "0200000000110200000000aa86dd6000000000203aff20010db801000000000000000000001020010db8000100000000000000000002880087ab6000000020010db801000000000000000000001002010200000000aa";

fn frame6(l3: &[u8]) -> Vec<u8> {
    ip6_frame(false, l3, 0).0
}

fn rows() -> Vec<Row> {
    let to_real4 = Endpoints {
        src: LB4,
        sport: 61000,
        dst: REAL4,
        dport: 8080,
    };
    let to_client6 = Endpoints {
        src: VIP6,
        sport: 80,
        dst: CLIENT6,
        dport: 40000,
    };
    let mut reply6 = Ip6::new(VIP6, CLIENT6).hops(63);
    reply6.tc = 0x10;
    reply6.flow = 0;
    let big = tcp6(Ip6::new(CLIENT6, VIP6), 40000, 80, &[7; 1400]);
    let mut too_big_want = frame6(&icmp6(
        Ip6 {
            tc: 0,
            flow: 0,
            ..Ip6::new(LB6, CLIENT6)
        },
        2,
        0,
        1460u32.to_be_bytes(),
        &big[..1232],
    ));
    too_big_want[..12].copy_from_slice(&[PEER_MAC.octets(), LB_MAC.octets()].concat());
    let sent = udp6(Ip6::new(VIP6, CLIENT6), 53, 5353, b"answer");
    let was = udp6(Ip6::new(REAL6, CLIENT6), 8080, 5353, b"answer");
    let tun_want = frame6(&ipv6(
        Ip6 {
            tc: 0x28,
            flow: 0,
            ..Ip6::new(LB6, REAL6)
        },
        ip_proto::IPV6,
        &tcp6(Ip6::new(CLIENT6, VIP6), 40000, 80, b"GET /"),
    ));
    let looped = ipv6_ext(
        Ip6::new(CLIENT6, VIP6),
        ip_proto::IPV6_DSTOPTS,
        &[
            60, 0, 1, 4, 0, 0, 0, 0, 60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0,
        ],
        &tcp6_segment(Ip6::new(CLIENT6, VIP6), 1, 80, b""),
    );
    let mut short_plen = tcp6(Ip6::new(CLIENT6, VIP6), 1, 80, b"");
    short_plen[5] = 10;
    vec![
        Row {
            name: "literal: NAT66 of a SYN to the real",
            input: hex(SYN6),
            op: Op::Nat66In(REAL6, 8080),
            want: Ok(hex(SYN6_NAT66)),
        },
        Row {
            name: "literal: NAT64 of a SYN to an IPv4 real",
            input: hex(SYN6),
            op: Op::Nat64To4(to_real4, 0x77),
            want: Ok(hex(SYN6_NAT64)),
        },
        Row {
            name: "literal: NAT64 of the IPv4 packet back (the reply direction's rewrite)",
            input: hex(SYN6_NAT64),
            op: Op::Nat64To6(Endpoints {
                src: CLIENT6,
                sport: 40000,
                dst: REAL6,
                dport: 8080,
            }),
            want: Ok({
                let mut f = hex(SYN6_NAT66);
                f[14 + 7] = 62;
                f
            }),
        },
        Row {
            name: "literal: echo request to the VIP answered",
            input: hex(ECHO6),
            op: Op::EchoReply,
            want: Ok(hex(ECHO6_REPLY)),
        },
        Row {
            name: "literal: neighbor solicitation for the VIP answered",
            input: hex(NS),
            op: Op::NaAnswer,
            want: Ok(hex(NA)),
        },
        Row {
            name: "NAT66 reply from the real leaves from the VIP",
            input: frame6(&tcp6(Ip6::new(REAL6, CLIENT6), 8080, 40000, b"OK")),
            op: Op::Nat66Out(VIP6, 80),
            want: Ok(frame6(&tcp6(
                Ip6::new(VIP6, CLIENT6).hops(63),
                80,
                40000,
                b"OK",
            ))),
        },
        Row {
            name: "NAT64 reply from an IPv4 real reaches the IPv6 client",
            input: ip_frame(false, &tcp(Ip::new(REAL4, LB4), 8080, 61000, b"OK"), 0).0,
            op: Op::Nat64To6(to_client6),
            want: Ok(frame6(&tcp6(reply6, 80, 40000, b"OK"))),
        },
        Row {
            name: "TUN6 encapsulation toward the real",
            input: frame6(&tcp6(Ip6::new(CLIENT6, VIP6), 40000, 80, b"GET /")),
            op: Op::Tun6(LB6, REAL6),
            want: Ok(tun_want),
        },
        Row {
            name: "too big for the tunnel: Packet Too Big with the inner MTU",
            input: frame6(&big),
            op: Op::TooBig(LB6, tun6_inner_mtu(1500)),
            want: Ok(too_big_want),
        },
        Row {
            name: "ICMPv6 port unreachable from the client goes on to the real",
            input: frame6(&icmp6(Ip6::new(CLIENT6, VIP6), 1, 4, [0; 4], &sent)),
            op: Op::IcmpToReal(REAL6, 8080),
            want: Ok(frame6(&icmp6(
                Ip6::new(CLIENT6, REAL6).hops(63),
                1,
                4,
                [0; 4],
                &was,
            ))),
        },
        Row {
            name: "hop limit 1: dropped as expired",
            input: frame6(&tcp6(Ip6::new(CLIENT6, VIP6).hops(1), 1, 80, b"")),
            op: Op::Nat66In(REAL6, 80),
            want: Err(ForwardError::TtlExpired),
        },
        Row {
            name: "extension header loop: dropped as repeated",
            input: frame6(&looped),
            op: Op::Nat66In(REAL6, 80),
            want: Err(ForwardError::Wire(WireError::RepeatedExtHeader)),
        },
        Row {
            name: "payload length shorter than the TCP header: truncated",
            input: frame6(&short_plen),
            op: Op::Nat64To4(to_real4, 1),
            want: Err(ForwardError::Wire(WireError::Truncated)),
        },
        Row {
            name: "NS with a bad checksum: not answered",
            input: {
                let mut f = hex(NS);
                f[60] ^= 0xff;
                f
            },
            op: Op::NaAnswer,
            want: Err(ForwardError::BadIcmpChecksum),
        },
    ]
}

/// Applies `op` to a frame holding `input`; the frame as it ends up, or the refusal.
fn run(input: &[u8], op: Op) -> Result<Vec<u8>, ForwardError> {
    let l3 = eth_of(input).header_len();
    let mut f = VecFrame::new(input);
    match op {
        Op::Nat66In(a, p) => nat66_in(f.data_mut(), l3, a, p)?,
        Op::Nat66Out(a, p) => nat66_out(f.data_mut(), l3, a, p)?,
        Op::Nat64To4(e, ident) => nat64_6to4(&mut f, l3, e, ident)?,
        Op::Nat64To6(e) => nat64_4to6(&mut f, l3, e)?,
        Op::EchoReply => echo6_reply_in_place(f.data_mut(), l3)?,
        Op::NaAnswer => na_answer(&mut f, l3, LB_MAC)?,
        Op::TooBig(ours, mtu) => {
            let n = packet_too_big_in_place(f.data_mut(), l3, ours, mtu)?;
            let cut = f.data().len() - n;
            f.trim(cut as u16);
        }
        Op::IcmpToReal(a, p) => icmp6_error_to_real(f.data_mut(), l3, a, p)?,
        Op::Tun6(src, dst) => {
            assert!(f.prepend(tun6::ENCAP6_LEN as u16));
            encapsulate6(f.data_mut(), l3, src, dst, 0)?;
        }
    }
    Ok(f.to_vec())
}

#[test]
fn ipv6_fixture_table() {
    for row in rows() {
        let got = run(&row.input, row.op);
        assert_eq!(got, row.want, "{}", row.name);
    }
}

#[test]
fn literal_outputs_reparse() {
    use crate::wire::parsed::{parse_frame, Net};
    let p = parse_frame(&hex(SYN6_NAT66)).unwrap();
    let Net::Ipv6(ip) = p.net else { panic!() };
    assert_eq!((ip.dst, ip.dport, ip.hop_limit), (REAL6, 8080, 63));
    let p = parse_frame(&hex(SYN6_NAT64)).unwrap();
    let Net::Ipv4(ip) = p.net else { panic!() };
    assert_eq!(
        (ip.src, ip.sport, ip.dst, ip.dport),
        (LB4, 61000, REAL4, 8080)
    );
    let facts = ndp_parse(&hex(NA), 14).unwrap();
    assert_eq!(facts.learned(), Some((VIP6, LB_MAC)));
}
