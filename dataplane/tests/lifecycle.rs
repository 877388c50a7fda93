//! Running appliances: SIGTERM/SIGINT stop them within a second with counters printed, and two
//! instances on one machine (with hugepages where the machine has them) do not disturb each
//! other.
mod common;
use common::*;
use std::time::Duration;

fn null_config(hugepages: &str) -> String {
    format!(
        "eal: {{lcores: \"0-1\", memory_mb: 128, hugepages: {hugepages}}}\n\
         workers: {{cores: [1]}}\n\
         ports:\n  - {{name: a, device: \"net_null0\"}}\n  - {{name: b, device: \"net_null1\"}}\n\
         mode: l2fwd\n\
         l2fwd: {{pairs: [[a, b]], mac: swap}}\n"
    )
}

fn rx_of(summary: &str, worker: usize) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.starts_with(&format!("worker {worker} ")))
        .unwrap_or_else(|| panic!("no worker {worker} line in:\n{summary}"));
    line.split(": rx ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rx count in `{line}`"))
}

fn stops_on(signal: &str) {
    let d = TestDir::new();
    let cfg = d.write("null.yaml", &null_config("off"));
    let mut app = Appliance::start(&cfg, &d, "null");
    app.wait_for_log("running", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    let (code, took, summary) = app.stop(signal, Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    assert!(took < Duration::from_secs(1), "SIG{signal} took {took:?}");
    assert!(
        summary.contains("port a (net_null0): rx_packets "),
        "{summary}"
    );
    assert!(
        summary.contains("port b (net_null1): rx_packets "),
        "{summary}"
    );
    assert!(rx_of(&summary, 0) > 0, "{summary}");
}

#[test]
fn sigterm_stops_within_a_second() {
    stops_on("TERM");
}

#[test]
fn sigint_stops_within_a_second() {
    stops_on("INT");
}

#[test]
fn two_instances_do_not_disturb_each_other() {
    let d = TestDir::new();
    // A runs flat out; B starts, forwards a capture completely and stops while A runs.
    let a_cfg = d.write("a.yaml", &null_config("auto"));
    let mut a = Appliance::start(&a_cfg, &d, "a");
    a.wait_for_log("running", Duration::from_secs(20));

    let frames: Vec<Vec<u8>> = (0..1000)
        .map(|i| udp_frame(i, 64 + (i as usize % 900)))
        .collect();
    write_pcap(&d.path("in.pcap"), &frames);
    let b_yaml = format!(
        "eal: {{lcores: \"0-1\", memory_mb: 128, hugepages: auto}}\n\
         workers: {{cores: [1]}}\n\
         ports:\n  - {{name: p, device: \"net_pcap0,rx_pcap={},tx_pcap={}\"}}\n\
         mode: l2fwd\n\
         l2fwd: {{pairs: [[p, p]]}}\n",
        d.path("in.pcap").display(),
        d.path("out.pcap").display()
    );
    let b_cfg = d.write("b.yaml", &b_yaml);
    let mut b = Appliance::start(&b_cfg, &d, "b");
    b.wait_for_log("running", Duration::from_secs(20));
    let out = wait_pcap(&d.path("out.pcap"), frames.len(), Duration::from_secs(10));
    let (bcode, _, _) = b.stop("TERM", Duration::from_secs(5));
    assert_eq!(bcode, Some(0), "{}", b.stderr());
    assert!(
        out == frames,
        "B's output differs ({} of {} frames)",
        out.len(),
        frames.len()
    );

    // A kept forwarding through all of it and stops cleanly.
    std::thread::sleep(Duration::from_millis(200));
    let (acode, _, summary) = a.stop("TERM", Duration::from_secs(5));
    assert_eq!(acode, Some(0), "{}", a.stderr());
    assert!(rx_of(&summary, 0) > 0, "{summary}");
    assert!(
        !a.stderr().contains("ERROR"),
        "A logged errors:\n{}",
        a.stderr()
    );
}
