//! The engine's forwarding decisions without EAL, Katran style: a table of (config, input
//! frames on ports) -> (the frames each port sends, every counter that moved). The engines run
//! in process (`worker::engine::sim`) from the same YAML and snapshot building as the binary;
//! ports' MACs come from the config. Covers every decision the replay suite (lb_replay.rs)
//! covers, in milliseconds.
mod common;
use common::packets::*;
use common::two_ports::{config, EXT_MAC, INT_MAC};
use dataplane::wire::checksum;
use dataplane::worker::engine::sim::Sim;
use std::net::Ipv4Addr;

/// A UDP service on VIP:5353 whose real listens on 53: NAT changes the port too.
const DNS_ALT: &str = "  - name: dns-alt
    vip: 198.18.0.100
    port: 5353
    protocol: udp
    forward: nat
    reals: [{ip: 198.19.0.11, port: 53}]
";

fn vip() -> Ipv4Addr {
    ip("198.18.0.100")
}
fn client() -> Ipv4Addr {
    ip("198.18.0.2")
}
fn real1() -> Ipv4Addr {
    ip("198.19.0.11")
}
fn real2() -> Ipv4Addr {
    ip("198.19.0.12")
}

/// `frame` after one router hop: TTL 63, IP checksum recomputed.
fn routed(mut frame: Vec<u8>) -> Vec<u8> {
    frame[14 + 8] = 63;
    frame[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&frame[14..34]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
    frame
}

fn syn(sport: u16) -> Vec<u8> {
    ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(sport, 80, 0x02, b""),
    )
}

/// `syn(sport)` as NAT forwards it to `real` (`mac`).
fn syn_to(real: Ipv4Addr, mac: [u8; 6], sport: u16) -> Vec<u8> {
    routed(ipv4(
        mac,
        INT_MAC,
        client(),
        real,
        6,
        &tcp(sport, 80, 0x02, b""),
    ))
}

fn query(sport: u16, dport: u16) -> Vec<u8> {
    ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        17,
        &udp(sport, dport, b"query"),
    )
}

fn query_to(real: Ipv4Addr, mac: [u8; 6]) -> Vec<u8> {
    routed(ipv4(
        mac,
        INT_MAC,
        client(),
        real,
        17,
        &udp(5353, 53, b"query"),
    ))
}

/// The ARP reply the appliance sends for `asked` on ext, to the client.
fn arp_reply_for(asked: Ipv4Addr) -> Vec<u8> {
    let mut f = CLIENT_MAC.to_vec();
    f.extend_from_slice(&EXT_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&EXT_MAC);
    f.extend_from_slice(&asked.octets());
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&client().octets());
    f.resize(60, 0);
    f
}

/// An echo reply from `from` to the client, as the appliance answers `icmp_echo(id, seq)`.
fn echo_reply_from(from: Ipv4Addr, id: u16, seq: u16) -> Vec<u8> {
    let mut e = icmp_echo(id, seq);
    e[0] = 0;
    e[2..4].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&e);
    e[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(CLIENT_MAC, EXT_MAC, from, client(), 1, &e)
}

/// A check of one output frame (it asserts).
type Check = Box<dyn Fn(&[u8])>;

/// What a port is expected to send: the exact frame, or a frame a check accepts.
enum Expect {
    Exact(Vec<u8>),
    Like(&'static str, Check),
}

enum Step {
    /// At `ms`, `frame` arrives on `port` at worker `w`.
    Rx {
        ms: u64,
        w: usize,
        port: &'static str,
        frame: Vec<u8>,
    },
    /// The management thread resolved a neighbour (a new snapshot).
    Learn(Ipv4Addr, [u8; 6]),
}

fn rx(ms: u64, port: &'static str, frame: Vec<u8>) -> Step {
    Step::Rx {
        ms,
        w: 0,
        port,
        frame,
    }
}

struct Case {
    name: &'static str,
    config: String,
    workers: usize,
    steps: Vec<Step>,
    ext: Vec<Expect>,
    int: Vec<Expect>,
    /// Every counter that is not zero afterwards (summed over workers), and its value.
    counters: Vec<(&'static str, u64)>,
}

fn run(case: Case) {
    let mut sim = Sim::new(&case.config, case.workers, false).expect(case.name);
    for step in case.steps {
        match step {
            Step::Rx { ms, w, port, frame } => {
                sim.now = ms;
                let p = sim.port(port);
                sim.rx(w, p, &frame);
            }
            Step::Learn(ip, mac) => sim.learn(ip, mac).expect("snapshot"),
        }
    }
    for (port, want) in [("ext", &case.ext), ("int", &case.int)] {
        let p = sim.port(port);
        let got = sim.take_sent(p);
        assert_eq!(
            got.len(),
            want.len(),
            "{}: frames out of {port}: {got:02x?}\ncounters {:?}",
            case.name,
            sim.nonzero_counters()
        );
        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            match w {
                Expect::Exact(f) => assert_eq!(
                    g, f,
                    "{}: frame {i} out of {port}\n got {g:02x?}\nwant {f:02x?}",
                    case.name
                ),
                Expect::Like(what, check) => {
                    eprintln!("{}: frame {i} out of {port}: {what}", case.name);
                    check(g)
                }
            }
        }
    }
    let want: std::collections::BTreeMap<&str, u64> = case.counters.into_iter().collect();
    assert_eq!(sim.nonzero_counters(), want, "{}: counters", case.name);
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let nat = config("nat", "");
    let mut v = vec![
        Case {
            name: "ARP and echo for the VIP and the port address; other ARP targets ignored",
            config: nat.clone(),
            workers: 1,
            steps: vec![
                rx(1000, "ext", arp_request(CLIENT_MAC, client(), vip())),
                rx(1000, "ext", arp_request(CLIENT_MAC, client(), ip("198.18.0.1"))),
                rx(1000, "ext", arp_request(CLIENT_MAC, client(), ip("198.18.0.77"))),
                rx(
                    2000,
                    "ext",
                    ipv4(EXT_MAC, CLIENT_MAC, client(), vip(), 1, &icmp_echo(7, 1)),
                ),
                rx(
                    2000,
                    "ext",
                    ipv4(
                        EXT_MAC,
                        CLIENT_MAC,
                        client(),
                        ip("198.18.0.1"),
                        1,
                        &icmp_echo(7, 2),
                    ),
                ),
            ],
            ext: vec![
                Exact(arp_reply_for(vip())),
                Exact(arp_reply_for(ip("198.18.0.1"))),
                Exact(echo_reply_from(vip(), 7, 1)),
                Exact(echo_reply_from(ip("198.18.0.1"), 7, 2)),
            ],
            int: vec![],
            counters: vec![
                ("rx", 5),
                ("tx", 4),
                ("arp_replies", 2),
                ("echo_replies", 2),
                ("drop_not_for_us", 1),
            ],
        },
        Case {
            name: "NAT both ways: rr over two reals, TTL 63, checksums valid",
            config: nat.clone(),
            workers: 1,
            steps: vec![
                rx(1000, "ext", syn(40000)),
                rx(1000, "ext", syn(40001)),
                rx(
                    1000,
                    "int",
                    ipv4(
                        INT_MAC,
                        REAL1_MAC,
                        real1(),
                        client(),
                        6,
                        &tcp(80, 40000, 0x12, b""),
                    ),
                ),
            ],
            ext: vec![Exact(routed(ipv4(
                CLIENT_MAC,
                EXT_MAC,
                vip(),
                client(),
                6,
                &tcp(80, 40000, 0x12, b""),
            )))],
            int: vec![
                Exact(syn_to(real1(), REAL1_MAC, 40000)),
                Exact(syn_to(real2(), REAL2_MAC, 40001)),
            ],
            counters: vec![
                ("rx", 3),
                ("tx", 3),
                ("conn_new", 2),
                ("nat_in", 2),
                ("nat_out", 1),
            ],
        },
        Case {
            name: "a non-SYN without a connection is dropped",
            config: nat.clone(),
            workers: 1,
            steps: vec![rx(
                1000,
                "ext",
                ipv4(
                    EXT_MAC,
                    ROUTER_MAC,
                    client(),
                    vip(),
                    6,
                    &tcp(40000, 80, 0x10, b"x"),
                ),
            )],
            ext: vec![],
            int: vec![],
            counters: vec![("rx", 1), ("drop_no_conn", 1)],
        },
        Case {
            name: "a UDP connection holds within its timeout and expires after it",
            config: nat.clone(),
            workers: 1,
            steps: vec![
                rx(1_000_000, "ext", query(5353, 53)),
                rx(1_200_000, "ext", query(5353, 53)),
                rx(1_600_000, "ext", query(5353, 53)),
            ],
            ext: vec![],
            int: vec![
                Exact(query_to(real1(), REAL1_MAC)),
                Exact(query_to(real1(), REAL1_MAC)),
                Exact(query_to(real2(), REAL2_MAC)),
            ],
            counters: vec![
                ("rx", 3),
                ("tx", 3),
                ("conn_new", 2),
                ("conn_expired", 1),
                ("nat_in", 3),
            ],
        },
        Case {
            name: "DR rewrites only the MACs",
            config: config("dr", ""),
            workers: 1,
            steps: vec![rx(1000, "ext", syn(40000))],
            ext: vec![],
            int: vec![Exact({
                let mut f = syn(40000);
                f[0..6].copy_from_slice(&REAL1_MAC);
                f[6..12].copy_from_slice(&INT_MAC);
                f
            })],
            counters: vec![("rx", 1), ("tx", 1), ("conn_new", 1), ("dr_in", 1)],
        },
        Case {
            name: "TUN encapsulates; too big with DF answers fragmentation needed",
            config: config("tun", ""),
            workers: 1,
            steps: vec![
                rx(1000, "ext", syn(40000)),
                rx(
                    1000,
                    "ext",
                    ipv4(
                        EXT_MAC,
                        ROUTER_MAC,
                        client(),
                        vip(),
                        6,
                        &tcp(40000, 80, 0x10, &[0x55; 1460]),
                    ),
                ),
            ],
            ext: vec![Like(
                "ICMP fragmentation needed (MTU 1480) to the client, back by the router",
                Box::new(|f| {
                    let e = seen(f);
                    assert_eq!((e.dst_mac, e.src_mac), (ROUTER_MAC, EXT_MAC));
                    assert_eq!((e.proto, e.src, e.dst), (1, ip("198.18.0.1"), client()));
                    assert_eq!((e.l3[20], e.l3[21]), (3, 4));
                    assert_eq!(u16::from_be_bytes([e.l3[26], e.l3[27]]), 1480);
                    assert!(e.ip_ok && e.l4_ok);
                }),
            )],
            int: vec![Like(
                "IPIP to real1, inner packet untouched",
                Box::new(|f| {
                    let o = seen(f);
                    assert_eq!((o.dst_mac, o.src_mac), (REAL1_MAC, INT_MAC));
                    assert_eq!(
                        (o.src, o.dst, o.proto, o.ttl),
                        (ip("198.19.0.1"), real1(), 4, 64)
                    );
                    assert!(o.ip_ok);
                    let inner = syn(40000);
                    assert_eq!(&o.l3[20..], &inner[14..14 + o.l3.len() - 20]);
                }),
            )],
            counters: vec![
                ("rx", 2),
                ("tx", 2),
                ("conn_new", 1),
                ("tun_in", 1),
                ("frag_needed_sent", 1),
            ],
        },
        Case {
            name: "wrr alternates between equal reals",
            config: nat.replace(
                "scheduler: rr\n    forward: nat\n    reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]\n  - name: dns",
                "scheduler: wrr\n    forward: nat\n    reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]\n  - name: dns",
            ),
            workers: 1,
            steps: (0..4).map(|i| rx(1000, "ext", syn(41000 + i))).collect(),
            ext: vec![],
            int: vec![
                Exact(syn_to(real1(), REAL1_MAC, 41000)),
                Exact(syn_to(real2(), REAL2_MAC, 41001)),
                Exact(syn_to(real1(), REAL1_MAC, 41002)),
                Exact(syn_to(real2(), REAL2_MAC, 41003)),
            ],
            counters: vec![("rx", 4), ("tx", 4), ("conn_new", 4), ("nat_in", 4)],
        },
        Case {
            name: "a packet waits for its next hop's MAC, then leaves",
            config: nat
                .replace("  - {ip: 198.19.0.11, mac: \"02:00:00:00:02:11\"}\n", "")
                .replace("  - {ip: 198.19.0.12, mac: \"02:00:00:00:02:12\"}\n", ""),
            workers: 1,
            steps: vec![
                rx(1000, "ext", syn(40000)),
                Step::Learn(real1(), REAL1_MAC),
                rx(1001, "ext", arp_request(CLIENT_MAC, client(), ip("198.18.0.77"))),
            ],
            ext: vec![],
            int: vec![Exact(syn_to(real1(), REAL1_MAC, 40000))],
            counters: vec![
                ("rx", 2),
                ("tx", 1),
                ("conn_new", 1),
                ("nat_in", 1),
                ("drop_not_for_us", 1),
            ],
        },
        Case {
            name: "a packet whose next hop never resolves is dropped after its wait",
            config: nat
                .replace("  - {ip: 198.19.0.11, mac: \"02:00:00:00:02:11\"}\n", "")
                .replace("  - {ip: 198.19.0.12, mac: \"02:00:00:00:02:12\"}\n", ""),
            workers: 1,
            steps: vec![
                rx(1000, "ext", syn(40000)),
                rx(2000, "ext", arp_request(CLIENT_MAC, client(), ip("198.18.0.77"))),
            ],
            ext: vec![],
            int: vec![],
            counters: vec![
                ("rx", 2),
                ("conn_new", 1),
                ("nat_in", 1),
                ("drop_not_for_us", 1),
                ("drop_no_neighbour", 1),
            ],
        },
        Case {
            name: "ICMP fragments to a VIP are dropped",
            config: nat.clone(),
            workers: 1,
            steps: vec![rx(1000, "ext", {
                let mut f = ipv4(EXT_MAC, CLIENT_MAC, client(), vip(), 1, &icmp_echo(7, 1));
                f[14 + 6] = 0x20; // MF
                f[24..26].copy_from_slice(&[0, 0]);
                let c = checksum::checksum(&f[14..34]);
                f[24..26].copy_from_slice(&c.to_be_bytes());
                f
            })],
            ext: vec![],
            int: vec![],
            counters: vec![("rx", 1), ("drop_fragment", 1)],
        },
    ];
    v.extend(icmp_error_cases());
    v.extend(fragment_cases());
    v
}

fn icmp_error_cases() -> Vec<Case> {
    use Expect::*;
    // The client's side says our reply (VIP:80 -> client:40000) could not be delivered.
    let reply_we_sent = ipv4(
        CLIENT_MAC,
        EXT_MAC,
        vip(),
        client(),
        6,
        &tcp(80, 40000, 0x12, b""),
    );
    let err_in = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        ip("198.18.0.254"),
        vip(),
        1,
        &icmp_error(3, 3, &reply_we_sent[14..]),
    );
    // The real's side says our forwarded packet (client:40000 -> real1:80) was too big.
    let fwd_we_sent = syn_to(real1(), REAL1_MAC, 40000);
    let err_out = ipv4(
        INT_MAC,
        REAL1_MAC,
        real1(),
        client(),
        1,
        &icmp_error(3, 4, &fwd_we_sent[14..]),
    );
    let mut bad_sum = err_in.clone();
    bad_sum[14 + 20 + 4] ^= 0xff;
    vec![
        Case {
            name: "NAT translates ICMP errors both ways",
            config: config("nat", ""),
            workers: 1,
            steps: vec![
                rx(1000, "ext", syn(40000)),
                rx(2000, "ext", err_in.clone()),
                rx(3000, "int", err_out),
            ],
            ext: vec![Like(
                "the real's error, to the client from the VIP",
                Box::new(|f| {
                    let o = seen(f);
                    assert_eq!((o.dst_mac, o.src_mac), (CLIENT_MAC, EXT_MAC));
                    assert_eq!((o.proto, o.src, o.dst, o.ttl), (1, vip(), client(), 63));
                    assert!(o.ip_ok && o.l4_ok);
                    let quoted_dst = Ipv4Addr::new(o.l3[44], o.l3[45], o.l3[46], o.l3[47]);
                    assert_eq!(quoted_dst, vip(), "quoted destination is the VIP now");
                }),
            )],
            int: vec![
                Exact(syn_to(real1(), REAL1_MAC, 40000)),
                Like(
                    "the client side's error, to the real",
                    Box::new(|f| {
                        let e = seen(f);
                        assert_eq!((e.dst_mac, e.src_mac), (REAL1_MAC, INT_MAC));
                        assert_eq!((e.proto, e.dst, e.ttl), (1, real1(), 63));
                        assert!(e.ip_ok && e.l4_ok);
                        let quoted_src = Ipv4Addr::new(e.l3[40], e.l3[41], e.l3[42], e.l3[43]);
                        assert_eq!(quoted_src, real1(), "quoted source is the real now");
                        assert_eq!(u16::from_be_bytes([e.l3[48], e.l3[49]]), 80);
                    }),
                ),
            ],
            counters: vec![
                ("rx", 3),
                ("tx", 3),
                ("conn_new", 1),
                ("nat_in", 1),
                ("icmp_errors_translated", 2),
            ],
        },
        Case {
            name: "an ICMP error with a bad checksum is dropped as such",
            config: config("nat", ""),
            workers: 1,
            steps: vec![rx(1000, "ext", syn(40000)), rx(2000, "ext", bad_sum)],
            ext: vec![],
            int: vec![Exact(syn_to(real1(), REAL1_MAC, 40000))],
            counters: vec![
                ("rx", 2),
                ("tx", 1),
                ("conn_new", 1),
                ("nat_in", 1),
                ("drop_bad_icmp_checksum", 1),
            ],
        },
        Case {
            name: "an ICMP error about no connection is dropped",
            config: config("nat", ""),
            workers: 1,
            steps: vec![rx(2000, "ext", err_in)],
            ext: vec![],
            int: vec![],
            counters: vec![("rx", 1), ("drop_no_conn", 1)],
        },
    ]
}

/// A fragment (bytes) checked: to `real` by NAT, identification `ident`, TTL 63.
fn nat_fragment_to(real: Ipv4Addr, ident: u16) -> Check {
    Box::new(move |f| {
        let s = seen(f);
        assert_eq!((s.src, s.dst, s.proto, s.ttl), (client(), real, 17, 63));
        assert_eq!((s.dst_mac, s.src_mac), (REAL1_MAC, INT_MAC));
        assert!(s.ip_ok);
        assert_eq!(frag_of(&s).0, ident);
    })
}

fn fragment_cases() -> Vec<Case> {
    use Expect::*;
    let nat = config("nat", DNS_ALT);
    let payload: Vec<u8> = (0..2992u32).map(|i| (i * 7) as u8).collect();
    let frags = |sport, dport, ident, chunk| {
        udp_fragments(
            EXT_MAC,
            ROUTER_MAC,
            client(),
            vip(),
            sport,
            dport,
            &payload,
            ident,
            chunk,
        )
    };
    let f = frags(40000, 5353, 0x4242, 1480);
    let reply = udp_fragments(
        INT_MAC,
        REAL1_MAC,
        real1(),
        client(),
        53,
        40000,
        &payload[..2000],
        0x0777,
        1480,
    );
    let dr = frags(40000, 53, 0x2222, 1480);
    let dr_out: Vec<Vec<u8>> = dr
        .iter()
        .map(|f| {
            let mut o = f.clone();
            o[0..6].copy_from_slice(&REAL1_MAC);
            o[6..12].copy_from_slice(&INT_MAC);
            o
        })
        .collect();
    let small = udp_fragments(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        40000,
        53,
        &[0x66; 1592],
        0x3333,
        1000,
    );
    let big = udp_fragments(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        40000,
        53,
        &[0x77; 2992],
        0x3334,
        1480,
    );
    let mut tun_steps: Vec<Step> = small.iter().map(|f| rx(1000, "ext", f.clone())).collect();
    tun_steps.extend(big.iter().map(|f| rx(2000, "ext", f.clone())));
    let tun_inner = |i: Vec<u8>| -> Check {
        Box::new(move |o| {
            let s = seen(o);
            assert_eq!((s.src, s.dst, s.proto), (ip("198.19.0.1"), real1(), 4));
            assert!(s.ip_ok);
            let inner_len = usize::from(u16::from_be_bytes([i[16], i[17]]));
            assert_eq!(
                &s.l3[20..],
                &i[14..14 + inner_len],
                "inner fragment untouched"
            );
        })
    };
    vec![
        Case {
            name: "NAT forwards fragments without reassembly (port rewritten in the first)",
            config: nat.clone(),
            workers: 1,
            steps: f.iter().map(|x| rx(1000, "ext", x.clone())).collect(),
            ext: vec![],
            int: vec![
                Like("first fragment", {
                    let check = nat_fragment_to(real1(), 0x4242);
                    Box::new(move |f| {
                        check(f);
                        let s = seen(f);
                        assert_eq!((s.sport, s.dport), (40000, 53), "port rewritten");
                    })
                }),
                Like("second fragment", nat_fragment_to(real1(), 0x4242)),
                Like("third fragment", nat_fragment_to(real1(), 0x4242)),
            ],
            counters: vec![
                ("rx", 3),
                ("tx", 3),
                ("conn_new", 1),
                ("nat_in", 3),
                ("fragments_forwarded", 3),
            ],
        },
        Case {
            name: "NAT reply fragments leave from the VIP",
            config: nat.clone(),
            workers: 1,
            steps: vec![
                rx(1000, "ext", query(40000, 5353)),
                rx(2000, "int", reply[0].clone()),
                rx(2000, "int", reply[1].clone()),
            ],
            ext: reply
                .iter()
                .map(|_| {
                    Like(
                        "reply fragment from the VIP",
                        Box::new(|f: &[u8]| {
                            let s = seen(f);
                            assert_eq!((s.src, s.dst, s.ttl), (vip(), client(), 63));
                            assert_eq!((s.dst_mac, s.src_mac), (CLIENT_MAC, EXT_MAC));
                            assert!(s.ip_ok);
                            if frag_of(&s).1 == 0 {
                                assert_eq!((s.sport, s.dport), (5353, 40000));
                            }
                        }) as Check,
                    )
                })
                .collect(),
            int: vec![Exact(routed(ipv4(
                REAL1_MAC,
                INT_MAC,
                client(),
                real1(),
                17,
                &udp(40000, 53, b"query"),
            )))],
            counters: vec![
                ("rx", 3),
                ("tx", 3),
                ("conn_new", 1),
                ("nat_in", 1),
                ("nat_out", 2),
                ("fragments_forwarded", 2),
            ],
        },
        Case {
            name: "a fragment before its first is dropped; the rest follow the first",
            config: config("nat", ""),
            workers: 1,
            steps: vec![
                rx(1000, "ext", frags(40000, 53, 0x1111, 1480)[1].clone()),
                rx(1000, "ext", frags(40000, 53, 0x1111, 1480)[0].clone()),
                rx(1000, "ext", frags(40000, 53, 0x1111, 1480)[2].clone()),
            ],
            ext: vec![],
            int: vec![
                Like("first fragment", nat_fragment_to(real1(), 0x1111)),
                Like("last fragment", nat_fragment_to(real1(), 0x1111)),
            ],
            counters: vec![
                ("rx", 3),
                ("tx", 2),
                ("conn_new", 1),
                ("nat_in", 2),
                ("fragments_forwarded", 2),
                ("drop_fragment_unmatched", 1),
            ],
        },
        Case {
            name: "DR forwards fragments with only the MACs changed",
            config: config("dr", ""),
            workers: 1,
            steps: dr.iter().map(|x| rx(1000, "ext", x.clone())).collect(),
            ext: vec![],
            int: dr_out.into_iter().map(Exact).collect(),
            counters: vec![
                ("rx", 3),
                ("tx", 3),
                ("conn_new", 1),
                ("dr_in", 3),
                ("fragments_forwarded", 3),
            ],
        },
        Case {
            name: "TUN encapsulates fragments; those too big (no DF) are dropped",
            config: config("tun", ""),
            workers: 1,
            steps: tun_steps,
            ext: vec![],
            int: vec![
                Like("small first", tun_inner(small[0].clone())),
                Like("small last", tun_inner(small[1].clone())),
                Like("big datagram's short last", tun_inner(big[2].clone())),
            ],
            counters: vec![
                ("rx", 5),
                ("tx", 3),
                ("conn_new", 1),
                ("tun_in", 3),
                ("fragments_forwarded", 3),
                ("drop_too_big", 2),
            ],
        },
    ]
}

#[test]
fn fixtures() {
    for case in cases() {
        run(case);
    }
}

/// Two workers: every flow is processed by its owner whichever worker received it, handed
/// over once, and forwarded once; fragments follow their first to the owner.
#[test]
fn handoff_between_two_workers() {
    let cfg = config("nat", "")
        .replace("lcores: \"0-1\"", "lcores: \"0-2\"")
        .replace("cores: [1]", "cores: [1, 2]");
    let mut sim = Sim::new(&cfg, 2, false).unwrap();
    let ext = sim.port("ext");
    let int = sim.port("int");
    sim.now = 1000;
    for i in 0..32 {
        sim.rx(0, ext, &syn(42000 + i));
    }
    let mut out: Vec<_> = sim.take_sent(int).iter().map(|f| seen(f)).collect();
    assert_eq!(out.len(), 32, "{:?}", sim.nonzero_counters());
    out.sort_by_key(|s| s.sport);
    for (i, s) in out.iter().enumerate() {
        assert_eq!((s.sport, s.dport), (42000 + i as u16, 80));
        assert!(s.dst == real1() || s.dst == real2());
        assert!(s.ip_ok && s.l4_ok);
    }
    let handed = sim.worker_counter(0, "handoff_out");
    assert!(handed > 0 && handed < 32, "some flows belong to worker 1");
    assert_eq!(sim.worker_counter(1, "handoff_in"), handed);
    assert_eq!(sim.worker_counter(1, "conn_new"), handed);
    assert_eq!(sim.counter("conn_new"), 32);
    // The replies arrive at worker 1 this time: each goes to its owner.
    for s in &out {
        let mac = if s.dst == real1() {
            REAL1_MAC
        } else {
            REAL2_MAC
        };
        let reply = ipv4(
            INT_MAC,
            mac,
            s.dst,
            client(),
            6,
            &tcp(80, s.sport, 0x12, b""),
        );
        sim.rx(1, int, &reply);
    }
    let back = sim.take_sent(ext);
    assert_eq!(back.len(), 32);
    assert!(back.iter().all(|f| seen(f).src == vip() && seen(f).l4_ok));
    assert_eq!(sim.worker_counter(1, "handoff_out"), 32 - handed);
    assert_eq!(sim.counter("nat_out"), 32);
    // Fragments of datagrams received by worker 0 and owned by worker 1 follow their first.
    for i in 0..8u16 {
        for f in udp_fragments(
            EXT_MAC,
            ROUTER_MAC,
            client(),
            vip(),
            43000 + i,
            53,
            &[i as u8; 2992],
            0x5000 + i,
            1480,
        ) {
            sim.rx(0, ext, &f);
        }
    }
    let frags: Vec<_> = sim.take_sent(int).iter().map(|f| seen(f)).collect();
    assert_eq!(frags.len(), 24, "{:?}", sim.nonzero_counters());
    for i in 0..8u16 {
        let mine: Vec<Seen> = frags
            .iter()
            .filter(|s| frag_of(s).0 == 0x5000 + i)
            .cloned()
            .collect();
        let l4 = reassemble(&mine);
        assert_eq!(u16::from_be_bytes([l4[0], l4[1]]), 43000 + i);
        assert_eq!(checksum::l4_checksum_v4(client(), mine[0].dst, 17, &l4), 0);
    }
    assert_eq!(sim.counter("drop_fragment_unmatched"), 0);
}

/// ARP senders on a connected subnet are reported to the management thread.
#[test]
fn arp_senders_are_reported() {
    let mut sim = Sim::new(&config("nat", ""), 1, true).unwrap();
    let ext = sim.port("ext");
    sim.rx(0, ext, &arp_request(CLIENT_MAC, client(), vip()));
    let mut reply = arp_request(REAL1_MAC, ip("198.18.0.9"), ip("198.18.0.1"));
    reply[21] = 2;
    sim.rx(0, ext, &reply);
    let events = sim.take_events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        format!("{:?}", events[1]),
        format!(
            "{:?}",
            dataplane::lb::neigh::NeighEvent::Learned {
                port: ext,
                ip: ip("198.18.0.9"),
                mac: REAL1_MAC
            }
        )
    );
    // The reply also goes to the kernel (its own ARP may be waiting).
    let k = sim.take_kernel();
    assert_eq!(k.len(), 1);
    assert_eq!(k[0].1, reply);
    assert_eq!(sim.counter("to_kernel"), 1);
}

/// Garbage: every received frame is sent or counted as a drop (never lost, never a panic).
#[test]
fn garbage_is_counted() {
    let mut sim = Sim::new(&config("nat", ""), 1, false).unwrap();
    let ext = sim.port("ext");
    let good = [
        arp_request(CLIENT_MAC, client(), vip()),
        ipv4(EXT_MAC, CLIENT_MAC, client(), vip(), 1, &icmp_echo(7, 1)),
        syn(40000),
        query(5353, 53),
        ipv4(
            EXT_MAC,
            ROUTER_MAC,
            client(),
            vip(),
            1,
            &icmp_error(3, 3, &[0x45; 40]),
        ),
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..3000u64 {
        let mut f = good[(i % good.len() as u64) as usize].clone();
        match rnd() % 4 {
            0 => f.truncate((rnd() % f.len() as u64) as usize + 1),
            1 => {
                for _ in 0..1 + rnd() % 4 {
                    let at = 12 + (rnd() % (f.len() as u64 - 12)) as usize;
                    f[at] = rnd() as u8;
                }
            }
            2 => f = (0..(rnd() % 200 + 1)).map(|_| rnd() as u8).collect(),
            _ => {}
        }
        sim.now = 1000 + i;
        sim.rx(0, ext, &f);
    }
    let c = sim.nonzero_counters();
    let drops: u64 = c
        .iter()
        .filter(|(n, _)| n.starts_with("drop_") || **n == "conn_refused_full")
        .map(|(_, v)| v)
        .sum();
    let pending = sim.workers[0].engine.pending.len() as u64;
    assert_eq!(c["rx"], 3000);
    assert_eq!(c["tx"] + drops + pending, 3000, "{c:?}");
    assert!(c["drop_malformed"] > 100, "{c:?}");
}

/// The local node: a real at the ext port's own address (198.18.0.1:8080) is served by the
/// kernel. A client's SYN goes to the kernel behind ext rewritten to 198.18.0.1:8080 (TTL 63,
/// checksums valid); the kernel's answer, given to worker 0 by the management thread, is
/// handed to the connection's owner and leaves rewritten back to VIP:80. The kernel's other
/// output (a health check from the same address) leaves untouched.
#[test]
fn local_real_through_the_kernel() {
    let local = ip("198.18.0.1");
    let cfg = config("nat", "")
        .replace("lcores: \"0-1\"", "lcores: \"0-2\"")
        .replace("cores: [1]", "cores: [1, 2]")
        .replacen(
            "reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]",
            "reals: [{ip: 198.18.0.1, port: 8080}]",
            1,
        );
    let mut sim = Sim::new(&cfg, 2, true).unwrap();
    let ext = sim.port("ext");
    sim.now = 1000;
    let ports = [40000u16, 40001, 40002, 40003];
    for sport in ports {
        sim.rx(0, ext, &syn(sport));
    }
    let mut to_kernel = sim.take_kernel();
    to_kernel.sort_by_key(|(_, f)| seen(f).sport);
    let want: Vec<_> = ports
        .iter()
        .map(|&sport| {
            let f = ipv4(
                EXT_MAC,
                ROUTER_MAC,
                client(),
                local,
                6,
                &tcp(sport, 8080, 0x02, b""),
            );
            (ext, routed(f))
        })
        .collect();
    assert_eq!(to_kernel, want, "{:?}", sim.nonzero_counters());
    let handed = sim.worker_counter(0, "handoff_out");
    assert!(
        handed > 0 && handed < 4,
        "some flows belong to worker 1: {handed}"
    );
    // The kernel answers each (TTL 64, from its address, to the client's MAC it resolved).
    for sport in ports {
        let answer = ipv4(
            CLIENT_MAC,
            EXT_MAC,
            local,
            client(),
            6,
            &tcp(8080, sport, 0x12, b""),
        );
        sim.from_kernel(ext, &answer);
    }
    // A health check the kernel sends from the same address to a real: not a reply.
    let check = ipv4(
        ROUTER_MAC,
        EXT_MAC,
        local,
        real1(),
        6,
        &tcp(33000, 8080, 0x02, b""),
    );
    sim.from_kernel(ext, &check);
    let mut out = sim.take_sent(ext);
    let at = out.iter().position(|f| *f == check);
    assert!(at.is_some(), "the check leaves untouched: {out:02x?}");
    out.remove(at.unwrap_or_default());
    out.sort_by_key(|f| seen(f).dport);
    let want: Vec<_> = ports
        .iter()
        .map(|&sport| {
            let f = ipv4(
                CLIENT_MAC,
                EXT_MAC,
                vip(),
                client(),
                6,
                &tcp(80, sport, 0x12, b""),
            );
            routed(f)
        })
        .collect();
    assert_eq!(out, want);
    assert!(sim.take_sent(sim.port("int")).is_empty());
    let c = sim.nonzero_counters();
    for (name, n) in [
        ("rx", 4),
        ("from_kernel", 5),
        ("conn_new", 4),
        ("local_in", 4),
        ("local_out", 4),
        ("to_kernel", 4),
        ("tx", 5),
        ("handoff_out", 2 * handed),
        ("handoff_in", 2 * handed),
    ] {
        assert_eq!(c.get(name), Some(&n), "{name}: {c:?}");
    }
    assert_eq!(c.len(), 9, "no other counter moved: {c:?}");
}

/// An ICMP error to the VIP about a local connection's reply (fragmentation needed on the way
/// to the client) goes to the kernel, translated: its PMTU discovery works as a real server's.
#[test]
fn icmp_error_about_a_local_connection_goes_to_the_kernel() {
    let cfg = config("nat", "").replacen(
        "reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]",
        "reals: [{ip: 198.19.0.1, port: 8080}]",
        1,
    );
    let mut sim = Sim::new(&cfg, 1, true).unwrap();
    let ext = sim.port("ext");
    sim.now = 1000;
    sim.rx(0, ext, &syn(40000));
    let reply_we_sent = ipv4(
        CLIENT_MAC,
        EXT_MAC,
        vip(),
        client(),
        6,
        &tcp(80, 40000, 0x12, b""),
    );
    let err_in = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        ip("198.18.0.254"),
        vip(),
        1,
        &icmp_error(3, 4, &reply_we_sent[14..]),
    );
    sim.rx(0, ext, &err_in);
    let k = sim.take_kernel();
    assert_eq!(k.len(), 2, "{:?}", sim.nonzero_counters());
    assert_eq!(k[1].0, ext);
    let e = seen(&k[1].1);
    assert_eq!(e.dst_mac, EXT_MAC);
    assert_eq!((e.proto, e.dst, e.ttl), (1, ip("198.19.0.1"), 63));
    assert!(e.ip_ok && e.l4_ok);
    let quoted_src = Ipv4Addr::new(e.l3[40], e.l3[41], e.l3[42], e.l3[43]);
    assert_eq!(
        quoted_src,
        ip("198.19.0.1"),
        "quoted source is the local address now"
    );
    assert_eq!(u16::from_be_bytes([e.l3[48], e.l3[49]]), 8080);
    let c = sim.nonzero_counters();
    let want: std::collections::BTreeMap<&str, u64> = [
        ("rx", 2),
        ("conn_new", 1),
        ("local_in", 1),
        ("to_kernel", 2),
        ("icmp_errors_translated", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(c, want);
}

/// A local UDP real's large replies: the kernel fragments them; the first fragment goes to the
/// connection's owner and the later ones follow it, all leaving from VIP:53 (two workers).
#[test]
fn fragmented_replies_of_a_local_real_follow_their_first() {
    let local = ip("198.19.0.1");
    // The dns service's real is the local one.
    let dns_reals = "    protocol: udp\n    scheduler: rr\n    forward: nat\n    reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]";
    let cfg = config("nat", "")
        .replace("lcores: \"0-1\"", "lcores: \"0-2\"")
        .replace("cores: [1]", "cores: [1, 2]")
        .replacen(
            dns_reals,
            "    protocol: udp\n    scheduler: rr\n    forward: nat\n    reals: [{ip: 198.19.0.1, port: 5300}]",
            1,
        );
    assert!(cfg.contains("198.19.0.1, port: 5300"), "{cfg}");
    let mut sim = Sim::new(&cfg, 2, true).unwrap();
    let ext = sim.port("ext");
    sim.now = 1000;
    let ports: Vec<u16> = (0..8).map(|i| 43000 + i).collect();
    for &sport in &ports {
        let q = ipv4(
            EXT_MAC,
            ROUTER_MAC,
            client(),
            vip(),
            17,
            &udp(sport, 53, b"q"),
        );
        sim.rx(0, ext, &q);
    }
    assert_eq!(sim.take_kernel().len(), 8, "{:?}", sim.nonzero_counters());
    for (i, &sport) in ports.iter().enumerate() {
        let payload = [i as u8; 2992];
        let ident = 0x6000 + i as u16;
        for f in udp_fragments(
            CLIENT_MAC,
            EXT_MAC,
            local,
            client(),
            5300,
            sport,
            &payload,
            ident,
            1480,
        ) {
            sim.from_kernel(ext, &f);
        }
    }
    let out: Vec<Seen> = sim.take_sent(ext).iter().map(|f| seen(f)).collect();
    assert_eq!(out.len(), 24, "{:?}", sim.nonzero_counters());
    for (i, &sport) in ports.iter().enumerate() {
        let mine: Vec<Seen> = out
            .iter()
            .filter(|s| frag_of(s).0 == 0x6000 + i as u16)
            .cloned()
            .collect();
        assert_eq!(mine.len(), 3);
        assert!(mine
            .iter()
            .all(|s| s.src == vip() && s.dst == client() && s.ip_ok));
        let l4 = reassemble(&mine);
        assert_eq!(u16::from_be_bytes([l4[0], l4[1]]), 53);
        assert_eq!(u16::from_be_bytes([l4[2], l4[3]]), sport);
        assert_eq!(checksum::l4_checksum_v4(vip(), client(), 17, &l4), 0);
    }
    let handed = sim.worker_counter(0, "handoff_out");
    assert!(handed > 0, "some replies go to worker 1");
    assert_eq!(sim.counter("drop_fragment_unmatched"), 0);
    assert_eq!(sim.counter("fragments_forwarded"), 24);
}
