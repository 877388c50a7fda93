//! `dataplane replay`: the same workers over DPDK's net_pcap instead of the configured devices,
//! one input and one output capture per port, until every input is drained. The capture's
//! timestamps are the workers' clock, so timeouts can be tested.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `PORT=FILE` as given on the command line.
pub fn parse_port_file(s: &str) -> Result<(String, PathBuf), String> {
    let (port, file) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected PORT=FILE"))?;
    if port.is_empty() || file.is_empty() {
        return Err(format!("`{s}`: expected PORT=FILE"));
    }
    if file.contains(',') {
        return Err(format!("`{file}`: a capture path may not contain ','"));
    }
    Ok((port.to_string(), PathBuf::from(file)))
}

/// Packets in a pcap file.
pub fn count_packets(path: &Path) -> Result<u64> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(f))
        .with_context(|| format!("{} is not a pcap file", path.display()))?;
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        p.with_context(|| format!("{}: bad record after {n} packets", path.display()))?;
        n += 1;
    }
    Ok(n)
}

/// Rewrites the config's ports to net_pcap devices reading `inputs` and writing `outputs`
/// (ports without an input read an empty capture written to `scratch`; ports without an output
/// write to /dev/null), turns the exception path off, and returns the packet count to expect.
pub fn prepare(
    cfg: &Config,
    inputs: &[(String, PathBuf)],
    outputs: &[(String, PathBuf)],
    scratch: &Path,
) -> Result<(Config, u64)> {
    for (flag, list) in [("--in", inputs), ("--out", outputs)] {
        for (port, _) in list {
            if !cfg.ports.iter().any(|p| &p.name == port) {
                bail!("{flag} {port}=...: the config has no port named `{port}`");
            }
        }
    }
    let empty = scratch.join("empty.pcap");
    pcap_file::pcap::PcapWriter::new(std::fs::File::create(&empty)?)?;
    let mut out = cfg.clone();
    let mut expected = 0;
    for (i, p) in out.ports.iter_mut().enumerate() {
        let input = inputs
            .iter()
            .find(|(n, _)| *n == p.name)
            .map(|(_, f)| f.clone());
        if let Some(f) = &input {
            expected += count_packets(f)?;
        }
        let input = input.unwrap_or_else(|| empty.clone());
        let output = outputs
            .iter()
            .find(|(n, _)| *n == p.name)
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| PathBuf::from("/dev/null"));
        p.device = format!(
            "net_pcap{i},rx_pcap={},tx_pcap={}",
            input.display(),
            output.display()
        );
        p.exception = Some("none".into());
    }
    Ok((out, expected))
}

/// How long a replay may take before it is called stuck.
pub fn limit(packets: u64) -> Duration {
    Duration::from_secs(30) + Duration::from_micros(packets * 100)
}
