//! Writes the SYN and ACK pcaps pktgen-dpdk replays for N flows (docs/perf.md, "pktgen-dpdk"):
//! `<out>/syn-<n>.pcap` (one SYN per flow) and `<out>/ack-<n>.pcap` (one ACK|PSH per flow).

use anyhow::{Context, Result};
use clap::Parser;
use perf::flow_pcaps::{self, parse_mac, Phase};
use perf::frame::Target;
use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Write the SYN and ACK pcaps for pktgen-dpdk's pcap mode (-s P:file.pcap)")]
struct Args {
    /// Directory to write into.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Number of flows (flow i: client 198.18.16.0/20 address i mod 4096, port 1024 + i / 4096).
    #[arg(long, default_value_t = 1 << 20)]
    flows: u32,
    /// Destination MAC: the appliance's client-side port.
    #[arg(long, default_value = "02:00:00:00:00:01", value_parser = parse_mac)]
    dst_mac: [u8; 6],
    /// Source MAC: the generator's port.
    #[arg(long, default_value = "02:00:00:00:01:01", value_parser = parse_mac)]
    src_mac: [u8; 6],
    #[arg(long, default_value = "198.18.0.100")]
    vip: Ipv4Addr,
    #[arg(long, default_value_t = 80)]
    port: u16,
    /// Wire size of every frame (with FCS), 64..=1518.
    #[arg(long, default_value_t = 64)]
    size: usize,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("make-pcaps: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(a: Args) -> Result<()> {
    let target = Target {
        src_mac: a.src_mac,
        dst_mac: a.dst_mac,
        vip: a.vip.into(),
        vport: a.port,
    };
    let tag = if a.flows.is_multiple_of(1 << 20) {
        format!("{}m", a.flows >> 20)
    } else if a.flows.is_multiple_of(1024) {
        format!("{}k", a.flows >> 10)
    } else {
        a.flows.to_string()
    };
    for (phase, name) in [(Phase::Syn, "syn"), (Phase::Ack, "ack")] {
        let path = a.out.join(format!("{name}-{tag}.pcap"));
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let n = flow_pcaps::write(BufWriter::new(f), &target, a.flows, phase, a.size)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{} {n}", path.display());
    }
    Ok(())
}
