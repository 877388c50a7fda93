//! The two-port balancer config that lb_replay.rs and engine_fixtures.rs both run: the same
//! cases through the binary (replay) and through the engine in process (fixtures); and the one
//! way the replay tests run the binary on it (`replay`).
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

/// What a replay's ports sent (without the management thread's own broadcast ARP), and the
/// binary's exit summary.
pub struct Replay {
    pub ext: Vec<Vec<u8>>,
    pub int: Vec<Vec<u8>>,
    pub summary: String,
}

/// Replays `ext_in` and `int_in` (frames with their capture time in seconds) through
/// `dataplane replay` with `cfg` and returns what each port sent (60 s at most).
pub fn replay(cfg: &str, ext_in: &[(u64, Vec<u8>)], int_in: &[(u64, Vec<u8>)]) -> Replay {
    replay_within(cfg, ext_in, int_in, std::time::Duration::from_secs(60))
}

/// [`replay`] with a time limit of its own (large captures).
pub fn replay_within(
    cfg: &str,
    ext_in: &[(u64, Vec<u8>)],
    int_in: &[(u64, Vec<u8>)],
    limit: std::time::Duration,
) -> Replay {
    let d = super::TestDir::new();
    let cfgp = d.write("lb.yaml", cfg);
    super::write_pcap_timed(&d.path("ext.pcap"), ext_in);
    super::write_pcap_timed(&d.path("int.pcap"), int_in);
    let arg = |k: &str, v: &str| format!("{k}={}", d.path(v).display());
    let out = super::run(
        &[
            "replay",
            "--config",
            cfgp.to_str().unwrap(),
            "--in",
            &arg("ext", "ext.pcap"),
            "--in",
            &arg("int", "int.pcap"),
            "--out",
            &arg("ext", "ext-out.pcap"),
            "--out",
            &arg("int", "int-out.pcap"),
        ],
        limit,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed:\n{stderr}");
    // The management thread's broadcast ARP (gratuitous, requests) is not what these tests pin.
    let not_arp_from_us = |f: &Vec<u8>| !(f[12] == 8 && f[13] == 6 && f[0..6] == [0xff; 6]);
    let read = |name: &str| -> Vec<Vec<u8>> {
        super::read_pcap(&d.path(name))
            .into_iter()
            .filter(not_arp_from_us)
            .collect()
    };
    Replay {
        ext: read("ext-out.pcap"),
        int: read("int-out.pcap"),
        summary: String::from_utf8_lossy(&out.stdout).to_string(),
    }
}
