//! The control path's cost: applying a config of 1 k, 10 k and 50 k services, step by step, as
//! a reload does it (`mgmt::control_state`: read and validate the YAML once, build the services
//! with health applied, build the snapshot with every worker's scheduler set, publish). No data
//! plane: the control state is testable without one. The workers' adoption of a published
//! snapshot is a pointer move (worker/engine/adopt.rs), so "published" is when they take it.
//!
//! `cargo bench -p dataplane --bench reload -- [--services 1000,10000,50000] [--workers 2] [--rounds 5]`
//!
//! Each reload changes one real's weight in one service (the usual edit); the medians of
//! `--rounds` reloads are reported for the config written as YAML and as JSON (which the loader
//! reads with a JSON parser: config/load.rs), with the process's resident memory before and after the
//! first config was applied (a rough size of the running config plus its snapshot; meaningful
//! on the first row of each size only, as later rows reuse the memory earlier ones freed).

use std::time::Instant;

use dataplane::config;
use dataplane::mgmt::control_state::ControlState;
use dataplane::worker::engine::sim;

/// A config of `n` NAT services on the two ports of the engine's simulation config, two reals
/// each, wrr; `weight` is the first service's first real's weight (the edit between reloads).
fn config_text(n: usize, weight: u32) -> String {
    let mut s = String::from(
        r#"eal: {lcores: "0-2", memory_mb: 256, hugepages: off}
workers: {cores: [1, 2]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/15, mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 203.0.113.1/24, mac: "02:d0:00:00:00:02"}
routes: [{prefix: 0.0.0.0/0, via: 198.18.0.254}]
conn: {max_per_core: 1024}
services:
"#,
    );
    for i in 0..n {
        // VIPs from 198.18.0.0/15, ports 1..=250 on each.
        let vip = std::net::Ipv4Addr::from(0xC612_0000u32 + 256 + (i / 250) as u32);
        let port = 1 + i % 250;
        let w = if i == 0 { weight } else { 1 };
        s.push_str(&format!(
            "  - {{name: s{i}, vip: {vip}, port: {port}, scheduler: wrr, forward: nat, \
             reals: [{{ip: 203.0.113.11, port: 80, weight: {w}}}, {{ip: 203.0.113.12, port: 80}}]}}\n"
        ));
    }
    s
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut sizes = vec![1_000usize, 10_000, 50_000];
    let mut workers = 2usize;
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--services" => {
                sizes = args
                    .next()
                    .expect("--services LIST")
                    .split(',')
                    .map(|s| s.parse().expect("--services: counts"))
                    .collect()
            }
            "--workers" => workers = args.next().expect("--workers N").parse().expect("N"),
            "--rounds" => rounds = args.next().expect("--rounds N").parse().expect("N"),
            _ => {}
        }
    }
    println!("{workers} workers; median of {rounds} reloads, each changing one real's weight");
    println!();
    println!("| services | format, size | parse + validate ms | apply (specs, snapshot, schedulers, publish) ms | total ms | RSS of config + snapshot MiB |");
    println!("|---|---|---|---|---|---|");
    for &n in &sizes {
        for json in [false, true] {
            let text_of = |weight: u32| {
                let text = config_text(n, weight);
                if json {
                    let cfg = config::load_str(&text).expect("the bench config");
                    serde_json::to_string(&cfg).expect("JSON")
                } else {
                    text
                }
            };
            let before = rss_kib();
            let first = config::load_str(&text_of(1)).expect("the bench config");
            let ports = sim::port_infos(&first, false).expect("ports");
            let mut state = ControlState::new(first, ports, workers).expect("the first snapshot");
            let after = rss_kib();
            let (mut parse, mut apply, mut total) = (Vec::new(), Vec::new(), Vec::new());
            let mut yaml_len = 0;
            for r in 0..rounds {
                let text = text_of(2 + r as u32);
                yaml_len = text.len();
                let t0 = Instant::now();
                let cfg = config::load_str(&text).expect("the bench config");
                let t1 = Instant::now();
                let applied = state.apply_config(cfg).expect("applied");
                let t2 = Instant::now();
                assert_eq!(applied.services, n);
                parse.push((t1 - t0).as_secs_f64() * 1e3);
                apply.push((t2 - t1).as_secs_f64() * 1e3);
                total.push((t2 - t0).as_secs_f64() * 1e3);
            }
            println!(
                "| {n} | {}, {:.1} MB | {:.1} | {:.1} | {:.1} | {:.1} |",
                if json { "JSON" } else { "YAML" },
                yaml_len as f64 / 1e6,
                median(&mut parse),
                median(&mut apply),
                median(&mut total),
                after.saturating_sub(before) as f64 / 1024.0
            );
            // (The JSON row's RSS growth reads near 0: it reuses what the YAML row freed.)
            drop(state);
        }
    }
}
