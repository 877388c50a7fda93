//! Fills a director's connection table through its sync receiver: `count` ESTABLISHED TCP
//! connections to one service, sent as authenticated sync datagrams (the crate's own
//! `emit_datagram`, the shared key) to `to`, paced so the receiver's socket buffer never
//! overflows. Used by scripts/resync-bench to give director A 100 000 connections cheaply.
//!
//! Clients are 198.18.64.0 upwards, 256 ports each from 1024 (distinct from pktgen's
//! 198.18.16.0/20); reals are taken round-robin. Prints one JSON line with what was sent.

use anyhow::{bail, Context, Result};
use clap::Parser;
use dataplane::config::ForwardMode;
use dataplane::lb::conn::TcpState;
use dataplane::lb::sync::{emit_datagram, DatagramKind, Header, Key, Record, MAX_DATAGRAM};
use dataplane::lb::types::Protocol;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser, Debug)]
#[command(name = "sync-gen", about)]
struct Args {
    /// Where to send (the director's sync address and port).
    #[arg(long)]
    to: SocketAddrV4,
    /// The shared key file (the director's sync.key_file).
    #[arg(long)]
    key_file: PathBuf,
    /// Our sender id (must differ from the director's).
    #[arg(long, default_value_t = 0x00fe_ed01)]
    sender: u32,
    /// Connections to send.
    #[arg(long, default_value_t = 100_000)]
    count: u32,
    #[arg(long, default_value = "198.18.0.100")]
    vip: Ipv4Addr,
    #[arg(long, default_value_t = 80)]
    vport: u16,
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "198.19.0.11,198.19.0.12,198.19.0.13,198.19.0.14"
    )]
    reals: Vec<Ipv4Addr>,
    #[arg(long, default_value_t = 80)]
    rport: u16,
    /// Seconds each connection has left.
    #[arg(long, default_value_t = 900)]
    timeout: u32,
    /// Datagrams per millisecond (48 records each).
    #[arg(long, default_value_t = 8)]
    per_ms: u32,
}

const CLIENT_BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 0);

/// Connection `i`'s record.
fn record(a: &Args, i: u32) -> Record {
    let client = Ipv4Addr::from(u32::from(CLIENT_BASE) + (i >> 8));
    Record {
        proto: Protocol::Tcp,
        state: TcpState::Established,
        mode: ForwardMode::Nat,
        template: false,
        vip: IpAddr::V4(a.vip),
        vport: a.vport,
        client: IpAddr::V4(client),
        cport: 1024 + (i & 0xff) as u16,
        real: IpAddr::V4(a.reals[i as usize % a.reals.len()]),
        rport: a.rport,
        timeout: a.timeout,
    }
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("sync-gen: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(a: Args) -> Result<()> {
    if a.reals.is_empty() || a.per_ms == 0 {
        bail!("--reals and --per-ms must not be empty or 0");
    }
    if a.count > (1 << 24) {
        bail!("--count: at most 16777216");
    }
    let key =
        Key::new(&std::fs::read(&a.key_file).with_context(|| format!("{}", a.key_file.display()))?);
    let sock = UdpSocket::bind("0.0.0.0:0").context("a UDP socket")?;
    // A sequence above any this sender id used before (the receiver's replay window).
    let mut seq = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut pending: Vec<Record> = Vec::with_capacity(64);
    let (mut next, mut datagrams, mut records, mut bytes) = (0u32, 0u64, 0u64, 0u64);
    let start = Instant::now();
    while next < a.count || !pending.is_empty() {
        // Pace: datagram n leaves no earlier than n / per_ms milliseconds after the start.
        let due = Duration::from_micros(datagrams * 1000 / u64::from(a.per_ms));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        while pending.len() < 64 && next < a.count {
            pending.push(record(&a, next));
            next += 1;
        }
        seq += 1;
        let h = Header {
            kind: DatagramKind::Records,
            sender: a.sender,
            seq,
        };
        let (n, taken) = emit_datagram(&mut buf, &h, &pending, &key);
        if taken == 0 {
            bail!("no record fits a datagram");
        }
        pending.drain(..taken);
        sock.send_to(&buf[..n], a.to)
            .with_context(|| format!("send to {}", a.to))?;
        datagrams += 1;
        records += taken as u64;
        bytes += n as u64;
    }
    println!(
        "{}",
        json!({
            "records": records,
            "datagrams": datagrams,
            "bytes": bytes,
            "seconds": start.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
