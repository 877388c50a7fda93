//! Helpers for tests that run the real `dataplane` binary (EAL starts once per process, so each
//! appliance is a subprocess): configs in a temp dir, start/stop with signals, pcap files.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dataplane")
}

pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::Builder::new()
                .prefix("dptest")
                .tempdir()
                .expect("tempdir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

/// Runs the binary to completion (bounded by `limit`) and returns its output.
pub fn run(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dataplane");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "dataplane {:?} did not finish in {:?}\nstderr:\n{}",
                args,
                limit,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running appliance whose stderr goes to a file, so tests can wait for log lines.
pub struct Appliance {
    pub child: Option<Child>,
    pub log: PathBuf,
    pub out: PathBuf,
    /// Its EAL file prefix, unique per test appliance (tests run in parallel) — what DPDK's tools
    /// attach with.
    pub prefix: String,
}

/// A file prefix no other test appliance on this machine uses at the same time.
fn unique_prefix(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("dptest-{}-{tag}-{n}", std::process::id())
}

impl Appliance {
    pub fn start(config: &Path, dir: &TestDir, tag: &str) -> Appliance {
        let prefix = unique_prefix(tag);
        Appliance::spawn(config, dir, tag, &prefix, true)
    }

    /// Starts `dataplane --config CONFIG`, with `--file-prefix PREFIX` when `pass_prefix` (else
    /// the config's own prefix applies and `prefix` only says which it is).
    pub fn spawn(
        config: &Path,
        dir: &TestDir,
        tag: &str,
        prefix: &str,
        pass_prefix: bool,
    ) -> Appliance {
        let log = dir.path(&format!("{tag}.stderr"));
        let out = dir.path(&format!("{tag}.stdout"));
        let mut cmd = Command::new(bin());
        cmd.arg("--config").arg(config);
        if pass_prefix {
            cmd.args(["--file-prefix", prefix]);
        }
        let child = cmd
            .env_remove("RUST_LOG")
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&log).expect("stderr file"))
            .spawn()
            .expect("spawn dataplane");
        Appliance {
            child: Some(child),
            log,
            out,
            prefix: prefix.to_string(),
        }
    }

    /// Starts the appliance inside a network namespace (`ip netns exec NS dataplane ...`).
    pub fn start_in_netns(ns: &str, config: &Path, dir: &TestDir, tag: &str) -> Appliance {
        let log = dir.path(&format!("{tag}.stderr"));
        let out = dir.path(&format!("{tag}.stdout"));
        let prefix = unique_prefix(tag);
        let child = Command::new("ip")
            .args(["netns", "exec", ns, bin(), "--config"])
            .arg(config)
            .args(["--file-prefix", &prefix])
            .env_remove("RUST_LOG")
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&log).expect("stderr file"))
            .spawn()
            .expect("spawn dataplane");
        Appliance {
            child: Some(child),
            log,
            out,
            prefix,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn stderr(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until stderr contains `needle`; panics with the log if the process exits or the
    /// time runs out.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.stderr().contains(needle) {
                return;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .expect("running")
                .try_wait()
                .expect("wait")
            {
                panic!(
                    "dataplane exited ({st}) before `{needle}`:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no `{needle}` within {limit:?}:\n{}", self.stderr());
    }

    /// Sends `signal` (e.g. "TERM") and waits up to `limit` for the exit; returns (status code,
    /// time taken, stdout).
    pub fn stop(&mut self, signal: &str, limit: Duration) -> (Option<i32>, Duration, String) {
        let mut child = self.child.take().expect("running");
        let t0 = Instant::now();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill failed");
        loop {
            if let Some(st) = child.try_wait().expect("wait") {
                let out = std::fs::read_to_string(&self.out).unwrap_or_default();
                return (st.code(), t0.elapsed(), out);
            }
            if t0.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "dataplane did not stop within {limit:?} of SIG{signal}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            // Killed, it could not remove its DPDK runtime directory and hugepage files; the
            // pages would stay taken until another appliance starts with hugepages.
            let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.prefix));
            if let Ok(rd) = std::fs::read_dir("/dev/hugepages") {
                let start = format!("{}map_", self.prefix);
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with(&start) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}

/// An Ethernet/IPv4/UDP frame of `len` bytes (>= 42) whose payload encodes `seq`, from
/// 198.18.0.x to 198.19.0.y (benchmarking range), with valid IPv4 header checksum.
pub fn udp_frame(seq: u32, len: usize) -> Vec<u8> {
    assert!(len >= 46);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (len - 14) as u16;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[198, 18, 0, (seq % 200) as u8 + 1]);
    ip[16..20].copy_from_slice(&[198, 19, 0, 11]);
    let mut sum = 0u32;
    for c in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let udp_len = ip_len - 20;
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&(10000 + (seq % 5000) as u16).to_be_bytes());
    udp[2..4].copy_from_slice(&53u16.to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    f[42..46].copy_from_slice(&seq.to_be_bytes());
    f
}

pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = pcap_file::pcap::PcapWriter::new(file).expect("pcap writer");
    for (i, f) in frames.iter().enumerate() {
        let pkt = pcap_file::pcap::PcapPacket::new(
            Duration::from_micros(1_000_000 + i as u64 * 10),
            f.len() as u32,
            f,
        );
        w.write_packet(&pkt).expect("write packet");
    }
}

/// The frames of a pcap file (tolerates a file still being written: stops at a partial record).
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(mut r) = pcap_file::pcap::PcapReader::new(&data[..]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Some(Ok(p)) = r.next_packet() {
        out.push(p.data.into_owned());
    }
    out
}

/// Waits until the pcap at `path` holds at least `n` frames (or the time runs out).
pub fn wait_pcap(path: &Path, n: usize, limit: Duration) -> Vec<Vec<u8>> {
    let start = Instant::now();
    loop {
        let frames = read_pcap(path);
        if frames.len() >= n || start.elapsed() > limit {
            return frames;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes frames with their capture time (seconds).
pub fn write_pcap_timed(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = pcap_file::pcap::PcapWriter::new(file).expect("pcap writer");
    for (i, (secs, f)) in frames.iter().enumerate() {
        let pkt = pcap_file::pcap::PcapPacket::new(
            Duration::from_secs(*secs) + Duration::from_micros(i as u64),
            f.len() as u32,
            f,
        );
        w.write_packet(&pkt).expect("write packet");
    }
}

/// Counter `name` on the exit summary's lines that start with `line` ("worker ",
/// "management:"), summed over them; 0 when a line leaves it out (a worker line omits zeros).
/// Lines look like "worker 0 (lcore 1): rx 3000, tx 2000, drop_malformed 849".
pub fn summary_counter(summary: &str, line: &str, name: &str) -> u64 {
    summary
        .lines()
        .filter(|l| l.starts_with(line))
        .filter_map(|l| l.split_once(": "))
        .flat_map(|(_, counters)| counters.split(", "))
        .filter_map(|seg| {
            let (k, v) = seg.split_once(' ')?;
            let v: u64 = v
                .parse()
                .unwrap_or_else(|_| panic!("`{seg}` is not `name value` in:\n{summary}"));
            (k == name).then_some(v)
        })
        .sum()
}

pub mod ha;
pub mod packets;
pub mod packets6;
pub mod packets64;
pub mod scaleout;
pub mod synctrace;
pub mod testbed;
pub mod testbed6;
pub mod two_ports;
