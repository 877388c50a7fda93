//! `conn-memory`: bytes per connection of the dataplane's connection table (what a worker
//! preallocates for `conn.max_per_core`), read from `ConnTable::memory_bytes`. Prints JSON.

use dataplane::lb::conn::{ConnConfig, ConnTable};

fn main() {
    let rows: Vec<_> = [1024u32, 1 << 20, 1 << 22, 11 << 20]
        .iter()
        .filter_map(|&cap| {
            let t = ConnTable::new(&ConnConfig::new(cap, 256)).ok()?;
            let bytes = t.memory_bytes();
            Some(serde_json::json!({
                "capacity": cap,
                "bytes": bytes,
                "bytes_per_conn": bytes as f64 / f64::from(cap),
            }))
        })
        .collect();
    println!("{}", serde_json::Value::Array(rows));
}
