//! pcap in -> L2 mode -> pcap out through the real binary, with 1 and 2 workers: every frame
//! comes out, in order, byte for byte as the mode's rewrite says.
mod common;
use common::*;
use std::time::Duration;

fn frames(n: u32, salt: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| udp_frame(i + salt, 60 + (i as usize * 37) % 1400))
        .collect()
}

fn swapped(f: &[u8]) -> Vec<u8> {
    let mut g = f.to_vec();
    g[..6].copy_from_slice(&f[6..12]);
    g[6..12].copy_from_slice(&f[..6]);
    g
}

fn config(ports: &str, workers: &str, pairs: &str, mac: &str) -> String {
    format!(
        "eal: {{lcores: \"0@0,1@1,2@0\", memory_mb: 256, hugepages: off}}\n\
         workers: {{cores: {workers}}}\n\
         ports:\n{ports}\
         mode: l2fwd\n\
         l2fwd: {{pairs: {pairs}, mac: {mac}}}\n"
    )
}

#[test]
fn one_worker_two_ports_macswap() {
    let d = TestDir::new();
    let (a_in, b_in) = (frames(500, 0), frames(300, 7000));
    write_pcap(&d.path("a.pcap"), &a_in);
    write_pcap(&d.path("b.pcap"), &b_in);
    let ports = format!(
        "  - {{name: a, device: \"net_pcap0,rx_pcap={},tx_pcap={}\"}}\n  - {{name: b, device: \"net_pcap1,rx_pcap={},tx_pcap={}\"}}\n",
        d.path("a.pcap").display(),
        d.path("a-out.pcap").display(),
        d.path("b.pcap").display(),
        d.path("b-out.pcap").display()
    );
    let cfg = d.write("l2.yaml", &config(&ports, "[1]", "[[a, b]]", "swap"));
    let mut app = Appliance::start(&cfg, &d, "l2");
    app.wait_for_log("running", Duration::from_secs(20));
    let b_out = wait_pcap(&d.path("b-out.pcap"), a_in.len(), Duration::from_secs(10));
    let a_out = wait_pcap(&d.path("a-out.pcap"), b_in.len(), Duration::from_secs(10));
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    let want_b: Vec<Vec<u8>> = a_in.iter().map(|f| swapped(f)).collect();
    let want_a: Vec<Vec<u8>> = b_in.iter().map(|f| swapped(f)).collect();
    assert_eq!(b_out.len(), want_b.len());
    assert!(b_out == want_b, "a -> b frames differ");
    assert!(a_out == want_a, "b -> a frames differ");
    assert!(
        summary.contains("worker 0 (lcore 1): rx 800, tx 800,"),
        "{summary}"
    );
}

#[test]
fn two_workers_two_queues_io() {
    // One port with two RX/TX queues (one pcap file per queue): each worker serves one queue,
    // and each queue's output is its input, untouched (testpmd io).
    let d = TestDir::new();
    let (q0, q1) = (frames(400, 0), frames(600, 20000));
    write_pcap(&d.path("q0.pcap"), &q0);
    write_pcap(&d.path("q1.pcap"), &q1);
    let ports = format!(
        "  - {{name: p, device: \"net_pcap0,rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}\"}}\n",
        d.path("q0.pcap").display(),
        d.path("q1.pcap").display(),
        d.path("o0.pcap").display(),
        d.path("o1.pcap").display()
    );
    let cfg = d.write("l2.yaml", &config(&ports, "[1, 2]", "[[p, p]]", "none"));
    let mut app = Appliance::start(&cfg, &d, "l2");
    app.wait_for_log("running", Duration::from_secs(20));
    let o0 = wait_pcap(&d.path("o0.pcap"), q0.len(), Duration::from_secs(10));
    let o1 = wait_pcap(&d.path("o1.pcap"), q1.len(), Duration::from_secs(10));
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    assert!(
        o0 == q0,
        "queue 0 output differs ({} vs {} frames)",
        o0.len(),
        q0.len()
    );
    assert!(
        o1 == q1,
        "queue 1 output differs ({} vs {} frames)",
        o1.len(),
        q1.len()
    );
    assert!(
        summary.contains("worker 0 (lcore 1): rx 400, "),
        "{summary}"
    );
    assert!(
        summary.contains("worker 1 (lcore 2): rx 600, "),
        "{summary}"
    );
}
