//! `conn-memory`: bytes per connection of the dataplane's connection tables (what a worker
//! preallocates for `conn.max_per_core` and, IPv6, `conn.max_per_core_v6`), read from
//! `ConnTable::memory_bytes`. Prints JSON, one row per (family, capacity).

use dataplane::lb::conn::{ConnConfig, ConnTable};
use std::net::Ipv6Addr;

fn main() {
    let caps = [1024u32, 1 << 20, 1 << 22];
    let row = |family: &str, cap: u32, bytes: usize| {
        serde_json::json!({
            "family": family,
            "capacity": cap,
            "bytes": bytes,
            "bytes_per_conn": bytes as f64 / f64::from(cap),
        })
    };
    let v4 = caps.iter().filter_map(|&cap| {
        let t = ConnTable::new(&ConnConfig::new(cap, 256)).ok()?;
        Some(row("ipv4", cap, t.memory_bytes()))
    });
    let v6 = caps.iter().filter_map(|&cap| {
        let t = ConnTable::<Ipv6Addr>::allocate(&ConnConfig::new(cap, 256)).ok()?;
        Some(row("ipv6", cap, t.memory_bytes()))
    });
    let rows: Vec<_> = v4.chain(v6).collect();
    println!("{}", serde_json::Value::Array(rows));
}
