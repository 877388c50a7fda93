//! The two-port balancer config that lb_replay.rs and engine_fixtures.rs both run: the same
//! cases through the binary (replay) and through the engine in process (fixtures).
#![allow(dead_code)]

pub const EXT_MAC: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 1];
pub const INT_MAC: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 2];

/// The two-port config of the replay suite and the engine fixtures; `forward` is nat, dr or
/// tun; `extra_service` is appended to `services`. Port MACs are set by the config.
pub fn config(forward: &str, extra_service: &str) -> String {
    format!(
        r#"eal: {{lcores: "0-1", memory_mb: 256, hugepages: off}}
workers: {{cores: [1]}}
mode: lb
ports:
  - {{name: ext, device: net_null0, ip: 198.18.0.1/24, mac: "02:d0:00:00:00:01"}}
  - {{name: int, device: net_null1, ip: 198.19.0.1/24, mac: "02:d0:00:00:00:02"}}
routes: [{{prefix: 0.0.0.0/0, via: 198.18.0.254}}]
neighbors:
  - {{ip: 198.18.0.2, mac: "02:00:00:00:01:02"}}
  - {{ip: 198.18.0.254, mac: "02:00:00:00:01:fe"}}
  - {{ip: 198.19.0.11, mac: "02:00:00:00:02:11"}}
  - {{ip: 198.19.0.12, mac: "02:00:00:00:02:12"}}
conn: {{max_per_core: 4096, timeouts: {{udp: 300s}}}}
services:
  - name: web
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    forward: {forward}
    reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}]
  - name: dns
    vip: 198.18.0.100
    port: 53
    protocol: udp
    scheduler: rr
    forward: {forward}
    reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}]
{extra_service}"#
    )
}
