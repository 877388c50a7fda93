//! Every drop reason is produced, and documented with what causes it. For each counter of the
//! drops family (worker/counters.rs) one case drives the engines in process (worker::engine::sim,
//! the same code and snapshot building as the binary) into exactly that drop, and checks that
//! it, and no other drop, moved by the number expected. A drop reason declared without a case
//! here, or without a row in docs/counters.md's "Drop reasons" section, fails the suite.
mod common;
use common::packets::*;
use common::packets6::{client6, config6, ip6, vip6};
use common::packets64::icmp4_error;
use common::two_ports::{config, EXT_MAC, INT_MAC};
use dataplane::dpdk::PortStats;
use dataplane::mgmt::counters::MgmtCounters;
use dataplane::tunables::{EXCEPTION_BURST, ICMP_ERRORS_BURST, PENDING_PER_HOP, PENDING_WAIT_MS};
use dataplane::tunables::{NAT64_PORT_END, NAT64_PORT_FIRST};
use dataplane::wire::{checksum, VecFrame};
use dataplane::worker::counters::{Counter, Family};
use dataplane::worker::engine::sim::Sim;
use dataplane::worker::engine::Output;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

const EXT: u16 = 0;
const INT: u16 = 1;

fn vip() -> Ipv4Addr {
    ip("198.18.0.100")
}
fn client() -> Ipv4Addr {
    ip("198.18.0.2")
}
fn real1() -> Ipv4Addr {
    ip("198.19.0.11")
}
/// The appliance's own address on the ext port.
fn own() -> Ipv4Addr {
    ip("198.18.0.1")
}

fn from_client(dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    ipv4(EXT_MAC, ROUTER_MAC, client(), dst, proto, l4)
}
fn syn(sport: u16) -> Vec<u8> {
    from_client(vip(), 6, &tcp(sport, 80, 0x02, b""))
}
fn query(sport: u16, payload: &[u8]) -> Vec<u8> {
    from_client(vip(), 17, &udp(sport, 53, payload))
}

/// Sets the IPv4 header's byte `at` (from the start of the IP header) and fixes its checksum.
fn with_ip_byte(mut f: Vec<u8>, at: usize, v: u8) -> Vec<u8> {
    f[14 + at] = v;
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn sim(yaml: &str, workers: usize, exception: bool) -> Sim {
    Sim::new(yaml, workers, exception).expect("config")
}

fn nat() -> String {
    config("nat", "")
}

/// The NAT config without the reals' MACs: their next hop never resolves.
fn nat_unresolved() -> String {
    nat()
        .replace("  - {ip: 198.19.0.11, mac: \"02:00:00:00:02:11\"}\n", "")
        .replace("  - {ip: 198.19.0.12, mac: \"02:00:00:00:02:12\"}\n", "")
}

/// A UDP query over the TUN service too big for the port once encapsulated (1498 bytes).
fn big_query(sport: u16) -> Vec<u8> {
    query(sport, &[7u8; 1470])
}

/// A service at VIP:8080 with `extra` keys (acl, limits, syn_proxy) and one real.
fn guarded(extra: &str) -> String {
    config(
        "nat",
        &format!(
            "  - {{name: guarded, vip: 198.18.0.100, port: 8080, forward: nat, {extra}\n     \
             reals: [{{ip: 198.19.0.11, {real_extra}}}]}}\n",
            extra = extra.split('|').next().unwrap_or(""),
            real_extra = extra.split('|').nth(1).unwrap_or("weight: 1"),
        ),
    )
}

/// A TCP segment to VIP:8080 with its sequence and acknowledgement numbers.
fn to_guarded(sport: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut t = tcp(sport, 8080, flags, data);
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    from_client(vip(), 6, &t)
}

/// One case: the simulation after the packets that produce the drop, and how many it counts.
type Case = fn() -> (Sim, u64);

fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("tx_dropped", || {
            let mut s = sim(&nat(), 1, false);
            s.workers[0].out.room.tx = Some(0);
            s.rx(0, EXT, &syn(40000));
            (s, 1)
        }),
        ("handoff_ring_full", || {
            let mut s = sim(&nat(), 2, false);
            s.workers[0].out.room.handoff = Some(0);
            // Clients until one belongs to worker 1 (half of them do).
            for sport in 40000..40064 {
                s.rx(0, EXT, &syn(sport));
                if s.counter("handoff_out") == 1 {
                    break;
                }
            }
            (s, 1)
        }),
        ("to_kernel_ring_full", || {
            let mut s = sim(&nat(), 1, true);
            s.workers[0].out.room.kernel = Some(0);
            s.rx(0, EXT, &from_client(own(), 6, &tcp(40000, 22, 0x02, b"")));
            (s, 1)
        }),
        ("conn_refused_full", || {
            // 1024 UDP flows fill the table (UDP entries are never evicted); one more is refused.
            let mut s = sim(
                &nat().replace("max_per_core: 4096", "max_per_core: 1024"),
                1,
                false,
            );
            for sport in 0..1025u16 {
                s.rx(0, EXT, &query(20000 + sport, b"q"));
            }
            (s, 1)
        }),
        ("drop_malformed", || {
            let mut s = sim(&nat(), 1, false);
            s.rx(0, EXT, &[0xff; 10]);
            (s, 1)
        }),
        ("drop_unsupported", || {
            let mut s = sim(&nat(), 1, false);
            let mut f = vec![0u8; 60];
            f[..6].copy_from_slice(&EXT_MAC);
            f[6..12].copy_from_slice(&ROUTER_MAC);
            f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
            s.rx(0, EXT, &f);
            // Well formed but not handled, not malformed: a QinQ frame (S-tag 0x88a8, then
            // C-tag 0x8100 around IPv4) and an ARP request for a non-Ethernet hardware type.
            f[12..14].copy_from_slice(&[0x88, 0xa8]);
            f[16..18].copy_from_slice(&[0x81, 0x00]);
            f[20..22].copy_from_slice(&[0x08, 0x00]);
            s.rx(0, EXT, &f);
            let mut arp = arp_request(ROUTER_MAC, client(), own());
            arp[15] = 6; // hardware type 6 (IEEE 802)
            s.rx(0, EXT, &arp);
            (s, 3)
        }),
        ("drop_not_for_us", || {
            let mut s = sim(&nat(), 1, false);
            s.rx(
                0,
                EXT,
                &from_client(ip("198.18.0.50"), 17, &udp(1, 2, b"x")),
            );
            // Another appliance's gratuitous ARP for the VIP (scale-out peers all announce
            // it): nothing to answer; it used to count as drop_malformed.
            s.rx(0, EXT, &arp_request(ROUTER_MAC, vip(), vip()));
            (s, 2)
        }),
        ("drop_no_service", || {
            let mut s = sim(&nat(), 1, false);
            s.rx(0, EXT, &from_client(vip(), 6, &tcp(40000, 81, 0x02, b"")));
            (s, 1)
        }),
        ("drop_no_real", || {
            let idle = "  - {name: idle, vip: 198.18.0.100, port: 8080, forward: nat,\n     \
                        reals: [{ip: 198.19.0.11, weight: 0}]}\n";
            let mut s = sim(&config("nat", idle), 1, false);
            s.rx(0, EXT, &from_client(vip(), 6, &tcp(40000, 8080, 0x02, b"")));
            (s, 1)
        }),
        ("drop_acl_denied", || {
            let mut s = sim(&guarded("acl: {deny: [198.18.0.0/24]},"), 1, false);
            s.rx(0, EXT, &to_guarded(40000, 1000, 0, 0x02, b""));
            (s, 1)
        }),
        ("drop_service_full", || {
            let mut s = sim(&guarded("max_connections: 1,"), 1, false);
            s.rx(0, EXT, &to_guarded(40000, 1000, 0, 0x02, b""));
            s.rx(0, EXT, &to_guarded(40001, 1000, 0, 0x02, b""));
            (s, 1)
        }),
        ("drop_reals_overloaded", || {
            let mut s = sim(&guarded("|upper_threshold: 1"), 1, false);
            s.rx(0, EXT, &to_guarded(40000, 1000, 0, 0x02, b""));
            s.rx(0, EXT, &to_guarded(40001, 1000, 0, 0x02, b""));
            (s, 1)
        }),
        ("drop_bad_cookie", || {
            let mut s = sim(&guarded("syn_proxy: {mode: always},"), 1, false);
            // An ACK of no connection whose acknowledgement is no cookie this appliance made.
            s.rx(0, EXT, &to_guarded(40000, 1001, 0x5eed_0001, 0x10, b""));
            (s, 1)
        }),
        ("drop_proxy_opening", || {
            let mut s = sim(&guarded("syn_proxy: {mode: always},"), 1, false);
            s.rx(0, EXT, &to_guarded(40000, 1000, 0, 0x02, b""));
            let synack = s.take_sent(EXT).pop().expect("the cookie SYN-ACK");
            let cookie = u32::from_be_bytes(synack[38..42].try_into().unwrap());
            // The handshake's ACK opens the connection towards the real; data sent before the
            // real answers waits for the client's retransmission.
            s.rx(
                0,
                EXT,
                &to_guarded(40000, 1001, cookie.wrapping_add(1), 0x10, b""),
            );
            s.rx(
                0,
                EXT,
                &to_guarded(40000, 1001, cookie.wrapping_add(1), 0x18, b"GET /"),
            );
            (s, 1)
        }),
        ("drop_ha_backup", || {
            // A VRRP backup forwards nothing for the VIPs (the master does).
            let mut s = sim(
                &format!("{}vrrp: {{vrid: 51, priority: 100, port: ext}}\n", nat()),
                1,
                false,
            );
            s.set_ha_active(false).unwrap();
            s.rx(0, EXT, &syn(40000));
            (s, 1)
        }),
        ("drop_no_conn", || {
            let mut s = sim(&nat(), 1, false);
            s.rx(0, EXT, &from_client(vip(), 6, &tcp(40000, 80, 0x10, b"")));
            (s, 1)
        }),
        ("drop_no_route", || {
            // No default route: a client off every link gets in, its reply has nowhere to go.
            let yaml = nat().replace("routes: [{prefix: 0.0.0.0/0, via: 198.18.0.254}]\n", "");
            let mut s = sim(&yaml, 1, false);
            let far = ip("203.0.113.9");
            s.rx(
                0,
                EXT,
                &ipv4(
                    EXT_MAC,
                    ROUTER_MAC,
                    far,
                    vip(),
                    6,
                    &tcp(40000, 80, 0x02, b""),
                ),
            );
            let reply = ipv4(
                INT_MAC,
                REAL1_MAC,
                real1(),
                far,
                6,
                &tcp(80, 40000, 0x12, b""),
            );
            s.rx(0, INT, &reply);
            (s, 1)
        }),
        ("drop_no_neighbour", || {
            let mut s = sim(&nat_unresolved(), 1, false);
            s.now = 1000;
            s.rx(0, EXT, &syn(40000));
            s.now = 1000 + PENDING_WAIT_MS;
            s.poll();
            (s, 1)
        }),
        ("drop_neighbour_queue_full", || {
            // rr alternates the two reals: PER_HOP + 1 SYNs for each, one too many each.
            let mut s = sim(&nat_unresolved(), 1, false);
            for sport in 0..2 * (PENDING_PER_HOP as u16 + 1) {
                s.rx(0, EXT, &syn(40000 + sport));
            }
            assert_eq!(s.workers[0].engine.pending.len(), 2 * PENDING_PER_HOP);
            (s, 2)
        }),
        ("drop_ttl", || {
            let mut s = sim(&nat(), 1, false);
            s.rx(0, EXT, &with_ip_byte(syn(40000), 8, 1));
            (s, 1)
        }),
        ("drop_fragment", || {
            let mut s = sim(&nat(), 1, false);
            let echo = from_client(vip(), 1, &icmp_echo(7, 1));
            s.rx(0, EXT, &with_ip_byte(echo, 6, 0x20)); // MF
            (s, 1)
        }),
        ("drop_too_big", || {
            let mut s = sim(&config("tun", ""), 1, false);
            s.rx(0, EXT, &with_ip_byte(big_query(40000), 6, 0)); // DF clear
            (s, 1)
        }),
        ("drop_no_exception", || {
            let mut s = sim(&nat(), 1, false);
            s.rx(0, EXT, &from_client(own(), 6, &tcp(40000, 22, 0x02, b"")));
            (s, 1)
        }),
        ("drop_no_mbuf_room", || {
            let mut s = sim(&config("tun", ""), 1, false);
            s.rx_frame(0, EXT, VecFrame::with_headroom(&syn(40000), 10));
            (s, 1)
        }),
        ("drop_fragment_unmatched", || {
            let mut s = sim(&nat(), 1, false);
            let frags = udp_fragments(
                EXT_MAC,
                ROUTER_MAC,
                client(),
                vip(),
                40000,
                53,
                &[1u8; 2000],
                0x1111,
                1480,
            );
            s.rx(0, EXT, &frags[1]);
            (s, 1)
        }),
        ("drop_at_stop", || {
            let mut s = sim(&nat_unresolved(), 1, false);
            s.rx(0, EXT, &syn(40000));
            s.stop();
            (s, 1)
        }),
        ("drop_no_handoff_ring", || {
            // A wiring fault: a handoff to a worker that does not exist.
            let mut s = sim(&nat(), 1, false);
            let w = &mut s.workers[0];
            w.out.handoff(5, VecFrame::new(&syn(40000)), &mut w.totals);
            (s, 1)
        }),
        ("drop_bad_port", || {
            // A wiring fault: a frame tagged with a port the snapshot does not know.
            let mut s = sim(&nat(), 1, false);
            s.rx(0, 7, &arp_request(CLIENT_MAC, client(), vip()));
            (s, 1)
        }),
        ("drop_bad_icmp_checksum", || {
            let mut s = sim(&nat(), 1, false);
            s.rx(0, EXT, &syn(40000));
            let reply_we_sent = ipv4(
                CLIENT_MAC,
                EXT_MAC,
                vip(),
                client(),
                6,
                &tcp(80, 40000, 0x12, b""),
            );
            let mut err = ipv4(
                EXT_MAC,
                ROUTER_MAC,
                ip("198.18.0.254"),
                vip(),
                1,
                &icmp_error(3, 3, &reply_we_sent[14..]),
            );
            err[14 + 20 + 4] ^= 0xff;
            s.rx(0, EXT, &err);
            (s, 1)
        }),
        ("drop_icmp_rate_limit", || {
            // Oversized DF queries over TUN in one millisecond: the burst is answered.
            let mut s = sim(&config("tun", ""), 1, false);
            s.now = 5000;
            for sport in 0..ICMP_ERRORS_BURST as u16 + 3 {
                s.rx(0, EXT, &big_query(40000 + sport));
            }
            assert_eq!(s.counter("frag_needed_sent"), ICMP_ERRORS_BURST);
            (s, 3)
        }),
        ("drop_nat64_ports_full", || {
            // One worker binds 31 744 IPv4 ports (1024..32767) for NAT64: one connection more
            // than that finds every port it tries held by a live connection.
            let cfg = config6().replace("max_per_core_v6: 4096", "max_per_core_v6: 40000");
            let mut s = sim(&cfg, 1, false);
            let ports = u32::from(NAT64_PORT_END - NAT64_PORT_FIRST);
            for i in 0..=ports {
                let client = std::net::Ipv6Addr::from(u128::from(client6()) + u128::from(i >> 14));
                let sport = 10000 + (i & 0x3fff) as u16;
                let l4 = tcp(sport, 8080, 0x02, b"");
                s.rx(
                    0,
                    EXT,
                    &ip6(EXT_MAC, ROUTER_MAC, client, vip6(), 64, 6, &l4),
                );
            }
            assert_eq!(s.counter("conn_new"), u64::from(ports));
            (s, 1)
        }),
        ("drop_nat64_icmp_untranslatable", || {
            // A redirect about a NAT64 connection's IPv4 packet: RFC 7915 4.2 has no ICMPv6
            // message for it.
            let mut s = sim(&config6(), 1, false);
            let l4 = tcp(40000, 8080, 0x02, b"");
            s.rx(
                0,
                EXT,
                &ip6(EXT_MAC, ROUTER_MAC, client6(), vip6(), 64, 6, &l4),
            );
            let fwd = s.take_sent(INT).remove(0);
            let err = icmp4_error(5, 1, [198, 19, 0, 254], &fwd[14..42]);
            let (router, lb) = (ip("198.19.0.254"), ip("198.19.0.1"));
            s.rx(0, INT, &ipv4(INT_MAC, REAL1_MAC, router, lb, 1, &err));
            (s, 1)
        }),
        ("drop_exception_rate_limit", || {
            // A flood to the appliance's own address in one millisecond: the burst passes.
            let mut s = sim(&nat(), 1, true);
            s.now = 5000;
            for sport in 0..EXCEPTION_BURST as u16 + 5 {
                s.rx(0, EXT, &from_client(own(), 17, &udp(sport, 9, b"x")));
            }
            assert_eq!(s.counter("to_kernel"), EXCEPTION_BURST);
            (s, 5)
        }),
    ]
}

fn declared_drops() -> Vec<Counter> {
    Counter::ALL
        .into_iter()
        .filter(|c| matches!(c.family(), Family::Drops(_)))
        .collect()
}

#[test]
fn every_declared_drop_reason_has_a_case() {
    let have: BTreeSet<&str> = cases().iter().map(|(n, _)| *n).collect();
    let declared: BTreeSet<&str> = declared_drops().iter().map(|c| c.name()).collect();
    let missing: Vec<_> = declared.difference(&have).collect();
    let unknown: Vec<_> = have.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "drop reasons without a case in tests/drop_reasons.rs: {missing:?}"
    );
    assert!(unknown.is_empty(), "cases of no drop reason: {unknown:?}");
}

#[test]
fn each_case_produces_its_drop_and_no_other() {
    for (name, case) in cases() {
        let (s, want) = case();
        let moved: Vec<(&str, u64)> = declared_drops()
            .iter()
            .map(|c| (c.name(), s.counter(c.name())))
            .filter(|(_, v)| *v != 0)
            .collect();
        assert_eq!(
            moved,
            vec![(name, want)],
            "{name}: every counter: {:?}",
            s.nonzero_counters()
        );
    }
}

/// The drops of the ports and the management thread (everything else they count is traffic).
fn other_drops() -> Vec<&'static str> {
    let ports = PortStats::DECLARED
        .iter()
        .map(|d| d.name)
        .filter(|n| !n.ends_with("_packets") && !n.ends_with("_bytes"));
    let mgmt = MgmtCounters::DECLARED
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.contains("dropped"));
    ports.chain(mgmt).collect()
}

/// docs/counters.md's "Drop reasons" section: (counter, where, cause) of each row.
fn documented() -> Vec<(String, String, String)> {
    let doc = include_str!("../../docs/counters.md");
    let (_, rest) = doc
        .split_once("\n## Drop reasons\n")
        .expect("docs/counters.md: no `## Drop reasons` section");
    let section = rest.split("\n## ").next().unwrap_or(rest);
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cols: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cols.len(), 3, "row of three columns: {l}");
            (
                cols[0].trim_matches('`').to_string(),
                cols[1].to_string(),
                cols[2].to_string(),
            )
        })
        .collect()
}

#[test]
fn every_drop_reason_is_documented_with_its_cause() {
    let rows = documented();
    let names: Vec<&str> = rows.iter().map(|(n, _, _)| n.as_str()).collect();
    let listed: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        listed.len(),
        names.len(),
        "a drop is listed twice: {names:?}"
    );
    let want: BTreeSet<&str> = declared_drops()
        .iter()
        .map(|c| c.name())
        .chain(other_drops())
        .collect();
    let missing: Vec<_> = want.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&want).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/counters.md `## Drop reasons` must list every drop (worker, port, management): \
         missing {missing:?}, not a drop {unknown:?}"
    );
    for (name, place, cause) in &rows {
        let place_ok = match declared_drops().iter().find(|c| c.name() == name) {
            Some(c) => *place == format!("worker `{}`", c.family().label_value()),
            None => place == "port" || place == "management",
        };
        assert!(place_ok, "{name}: where is `{place}`");
        assert!(
            cause.len() >= 40 && cause.ends_with('.'),
            "{name}: say what causes it and what to look at: {cause:?}"
        );
    }
}
