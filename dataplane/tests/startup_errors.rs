//! Mistakes an operator makes at start-up each end in one clear `error:` line naming what is
//! wrong, and a non-zero exit: no panic, no backtrace.
mod common;
use common::*;
use std::time::Duration;

const GOOD: &str = "eal: {lcores: \"0-1\", memory_mb: 128, hugepages: off}\n\
workers: {cores: [1]}\n\
ports:\n  - {name: a, device: \"net_null0\"}\n\
mode: l2fwd\n\
l2fwd: {pairs: [[a, a]]}\n";

/// Runs a config, expects failure, and returns the single error line.
fn fails(yaml: &str) -> String {
    let d = TestDir::new();
    let cfg = d.write("bad.yaml", yaml);
    let out = run(
        &["--config", cfg.to_str().unwrap()],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "expected failure, got success:\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    assert!(
        !stderr.to_lowercase().contains("backtrace"),
        "backtrace:\n{stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "want one error line:\n{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(errors[0]),
        "error line is not last:\n{stderr}"
    );
    errors[0].to_string()
}

#[test]
fn good_config_checks() {
    let d = TestDir::new();
    let cfg = d.write("good.yaml", GOOD);
    let out = run(
        &["--config", cfg.to_str().unwrap(), "--check"],
        Duration::from_secs(10),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("burst: 32"),
        "normalised config shows defaults:\n{text}"
    );
}

#[test]
fn bad_device_string() {
    let e = fails(&GOOD.replace("net_null0", "net_bogus0,iface=nothing"));
    assert!(e.contains("ports[0].device"), "{e}");
    assert!(e.contains("net_bogus0"), "{e}");
}

#[test]
fn missing_interface_for_af_packet() {
    let e = fails(&GOOD.replace("net_null0", "net_af_packet0,iface=dp-no-such-if"));
    assert!(e.contains("ports[0].device"), "{e}");
}

#[test]
fn hugepages_forced_without_mount() {
    let d = TestDir::new();
    let yaml = GOOD.replace(
        "hugepages: off}",
        &format!("hugepages: on, huge_dir: {}}}", d.path("").display()),
    );
    let e = fails(&yaml);
    assert!(e.contains("eal.huge_dir"), "{e}");
    assert!(e.contains("not a hugetlbfs mount"), "{e}");
}

#[test]
fn unknown_key() {
    let e = fails(&GOOD.replace(
        "workers: {cores: [1]}",
        "workers: {cores: [1], turbo: true}",
    ));
    assert!(e.contains("workers"), "{e}");
    assert!(e.contains("unknown field `turbo`"), "{e}");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn worker_lcore_not_in_eal_set() {
    let e = fails(&GOOD.replace("cores: [1]", "cores: [5]"));
    assert!(e.contains("workers.cores[0]"), "{e}");
    assert!(e.contains("lcore 5 is not in eal.lcores"), "{e}");
}

#[test]
fn worker_on_main_lcore() {
    let e = fails(&GOOD.replace("cores: [1]", "cores: [0]"));
    assert!(e.contains("main lcore"), "{e}");
}

#[test]
fn unknown_port_in_pair() {
    let e = fails(&GOOD.replace("[[a, a]]", "[[a, z]]"));
    assert!(e.contains("l2fwd.pairs[0][1]"), "{e}");
    assert!(e.contains("no port named `z`"), "{e}");
}

#[test]
fn missing_file() {
    let out = run(
        &["--config", "/nonexistent/lb.yaml"],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: ") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

/// A pool smaller than what the descriptors, bursts and caches may hold at once would let
/// reception starve: refused by key, with the size it must have (runtime/mbufs.rs).
#[test]
fn pool_smaller_than_what_may_be_held() {
    let e = fails(&GOOD.replace("hugepages: off}", "hugepages: off, mbufs: 1000}"));
    // One worker, one port: 2 x 1024 descriptors, 2 bursts of 32, two caches of 384.
    assert_eq!(
        e,
        "error: eal.mbufs: 1000 mbufs are fewer than the appliance may hold at once (2880: \
         descriptors 2048, exception interfaces 0, bursts and caches 832, handoff rings 0, \
         exception path 0, ARP queues 0); a flood could then starve reception. Set at least \
         2880, or 0 to size the pool automatically"
    );
}
