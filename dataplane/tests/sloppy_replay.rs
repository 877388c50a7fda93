//! Sloppy TCP through the real binary (`dataplane replay`): a flow's later packets, with no SYN
//! seen (ECMP moved it here), reach a real on a service with `sloppy_tcp` and are dropped as
//! `drop_no_conn` on the same service without it; a RST never opens a connection.
mod common;
use common::packets::*;
use common::summary_counter;
use common::two_ports::{config, replay, EXT_MAC};

/// VIP 198.18.0.100:8000, `mh` over both reals, sloppy or not.
fn moved(sloppy: bool) -> String {
    format!(
        "  - name: moved
    vip: 198.18.0.100
    port: 8000
    scheduler: mh
    forward: nat
    syn_proxy: {{mode: off}}
    sloppy_tcp: {sloppy}
    reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}]
"
    )
}

/// Three packets of one moved flow (data, data, FIN) and a RST of another flow.
fn packets() -> Vec<(u64, Vec<u8>)> {
    let c = ip("198.18.0.2");
    let vip = ip("198.18.0.100");
    let f = |sport: u16, flags: u8, data: &[u8]| {
        ipv4(
            EXT_MAC,
            ROUTER_MAC,
            c,
            vip,
            6,
            &tcp(sport, 8000, flags, data),
        )
    };
    vec![
        (1, f(45000, 0x18, b"GET / HTTP/1.0\r\n")),
        (1, f(45000, 0x18, b"\r\n")),
        (1, f(45000, 0x11, b"")),
        (1, f(45001, 0x04, b"")),
    ]
}

#[test]
fn a_moved_flow_reaches_one_real_with_sloppy_and_is_dropped_without() {
    let r = replay(&config("nat", &moved(true)), &packets(), &[]);
    let reals: Vec<_> = r.int.iter().map(|f| seen(f)).collect();
    assert_eq!(reals.len(), 3, "{}", r.summary);
    assert!(
        reals
            .iter()
            .all(|s| s.dst == reals[0].dst && s.dport == 8000 && s.ip_ok),
        "one real for the flow: {:?}",
        reals.iter().map(|s| s.dst).collect::<Vec<_>>()
    );
    let w = |name: &str| summary_counter(&r.summary, "worker ", name);
    assert_eq!(w("sloppy_conn_new"), 1, "{}", r.summary);
    assert_eq!(w("conn_new"), 1);
    assert_eq!(w("nat_in"), 3);
    assert_eq!(w("drop_no_conn"), 1, "the RST");

    let r = replay(&config("nat", &moved(false)), &packets(), &[]);
    assert_eq!(r.int.len(), 0, "{}", r.summary);
    let w = |name: &str| summary_counter(&r.summary, "worker ", name);
    assert_eq!(w("drop_no_conn"), 4, "{}", r.summary);
    assert_eq!(w("sloppy_conn_new"), 0);
    assert_eq!(w("conn_new"), 0);
}
