//! `pktgen`: sends TCP traffic to the appliance over two ports (client side, server side),
//! checks what comes back, and prints one JSON object with rates, errors and latency.
//! scripts/perf runs it against `dataplane` over net_memif; docs/perf.md explains the figures.

use anyhow::{bail, Context, Result};
use clap::Parser;
use dataplane::config::Hugepages;
use dataplane::dpdk::port::PortSetup;
use dataplane::dpdk::{Eal, EalOptions, Mempool, Port};
use perf::check::{Checker, Expect};
use perf::frame::Target;
use perf::generator::{self, Io, Traffic};
use perf::sizes::SizeMix;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "pktgen", about)]
struct Args {
    /// The client-side device (DPDK vdev string), e.g. net_memif0,role=client,socket=...
    #[arg(long)]
    ext: String,
    /// The server-side device.
    #[arg(long)]
    int: String,
    /// The appliance's MAC on the client side (destination of what we send).
    #[arg(long, value_parser = parse_mac)]
    app_ext_mac: [u8; 6],
    /// The appliance's MAC on the server side (source of what comes back in NAT mode).
    #[arg(long, value_parser = parse_mac)]
    app_int_mac: [u8; 6],
    /// The VIP; an IPv6 one makes the run IPv6 (NAT66, DR, TUN over IPv6; sizes from 78).
    #[arg(long, default_value = "198.18.0.100")]
    vip: IpAddr,
    #[arg(long, default_value_t = 80)]
    vport: u16,
    /// What to expect back: nat (destination rewritten to a real), nat64 (an IPv6 VIP's frames
    /// come back IPv4 from --tun-src to an IPv4 real), dr (new MACs only), tun (an outer IPv4
    /// header to a real; IPv6 VIP: an outer IPv6 header) or macswap (the baseline).
    #[arg(long, default_value = "nat")]
    expect: String,
    /// The appliance's server-side address: the outer source in TUN mode (of the VIP's family).
    #[arg(long, default_value = "198.19.0.1")]
    tun_src: IpAddr,
    /// The reals, comma-separated (nat, tun).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "198.19.0.11,198.19.0.12,198.19.0.13,198.19.0.14"
    )]
    reals: Vec<IpAddr>,
    /// Established flows (opened with a SYN each before the timed phase).
    #[arg(long, default_value_t = 1024)]
    flows: u32,
    /// Wire size with FCS (64..1518) or imix.
    #[arg(long, default_value = "64")]
    size: String,
    /// Seconds of the timed phase.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Offered packets per second; 0 = flat out.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Before the set-up: open this many more flows (numbered after `--flows`) with a SYN each
    /// and never send on them again; they expire together at the appliance's SYN_RECV timeout.
    #[arg(long, default_value_t = 0)]
    idle_flows: u32,
    /// Every packet a SYN of a new flow (new-connection rate).
    #[arg(long)]
    new_conns: bool,
    /// With --new-conns: each SYN is followed by the client's ACK completing the handshake (two
    /// packets a connection; the connection reaches ESTABLISHED on the appliance).
    #[arg(long, requires = "new_conns")]
    handshake: bool,
    #[arg(long, default_value_t = 32)]
    burst: usize,
    /// The CPU the generator runs on.
    #[arg(long, default_value_t = 0)]
    cpu: u32,
    /// Mbufs in the generator's pool.
    #[arg(long, default_value_t = 16384)]
    mbufs: u32,
    /// Seconds to wait for both links to come up.
    #[arg(long, default_value_t = 10.0)]
    link_timeout: f64,
    /// A file created when the timed phase starts (after the set-up phase), so that a profiler
    /// can sample only the timed phase.
    #[arg(long)]
    ready_file: Option<std::path::PathBuf>,
    /// A label copied into the JSON output.
    #[arg(long, default_value = "")]
    label: String,
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        bail!("MAC `{s}`: six hex bytes separated by ':'");
    }
    let mut m = [0u8; 6];
    for (o, p) in m.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).with_context(|| format!("MAC `{s}`"))?;
    }
    Ok(m)
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("pktgen: error: {e:#}");
        std::process::exit(1);
    }
}

/// The rewrite `--expect` names, for the VIP's family (the reals and the tunnel source must be
/// of that family).
fn expectation(a: &Args) -> Result<Expect> {
    if a.expect == "nat64" {
        return nat64_expectation(a);
    }
    let family_of = |x: &IpAddr| x.is_ipv6() == a.vip.is_ipv6();
    if !a.reals.iter().all(family_of) || !family_of(&a.tun_src) {
        bail!(
            "--reals and --tun-src must be of the VIP's family ({})",
            a.vip
        );
    }
    let v4: Vec<_> = a
        .reals
        .iter()
        .filter_map(|r| match r {
            IpAddr::V4(x) => Some(*x),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<_> = a
        .reals
        .iter()
        .filter_map(|r| match r {
            IpAddr::V6(x) => Some(*x),
            IpAddr::V4(_) => None,
        })
        .collect();
    Ok(match (a.expect.as_str(), a.tun_src) {
        ("nat", _) if a.vip.is_ipv6() => Expect::Nat6 {
            reals: v6,
            port: a.vport,
        },
        ("nat", _) => Expect::Nat {
            reals: v4,
            port: a.vport,
        },
        ("macswap", _) => Expect::MacSwap,
        ("dr", _) => Expect::Dr,
        ("tun", IpAddr::V6(src)) => Expect::Tun6 { reals: v6, src },
        ("tun", IpAddr::V4(src)) => Expect::Tun { reals: v4, src },
        (other, _) => bail!("--expect {other}: nat, nat64, dr, tun or macswap"),
    })
}

/// NAT64: an IPv6 VIP, IPv4 reals, and `--tun-src` the appliance's IPv4 address towards them
/// (the translated packets' source).
fn nat64_expectation(a: &Args) -> Result<Expect> {
    let reals: Option<Vec<_>> = a
        .reals
        .iter()
        .map(|r| match r {
            IpAddr::V4(x) => Some(*x),
            IpAddr::V6(_) => None,
        })
        .collect();
    match (a.vip, reals, a.tun_src) {
        (IpAddr::V6(_), Some(reals), IpAddr::V4(src)) => Ok(Expect::Nat64 {
            reals,
            port: a.vport,
            src,
        }),
        _ => bail!("--expect nat64: an IPv6 --vip, IPv4 --reals and an IPv4 --tun-src (the appliance's address towards the reals)"),
    }
}

fn wait_link(p: &Port, deadline: Instant) -> Result<()> {
    while !p.link().0 {
        if Instant::now() > deadline {
            bail!(
                "port {} ({}): link still down (is the appliance running and listening?)",
                p.name(),
                p.device()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn run(a: Args) -> Result<()> {
    let sizes = SizeMix::parse(&a.size)?;
    let expect = expectation(&a)?;
    let _eal = Eal::init(&EalOptions {
        lcores: format!("0@{}", a.cpu),
        main_lcore: 0,
        memory_mb: 256,
        hugepages: Hugepages::Off,
        huge_dir: None,
        pci: vec![],
        log_level: "notice".into(),
        extra: vec![],
        file_prefix: None,
    })?;
    let pool = Arc::new(Mempool::new("pktgen", a.mbufs, 256)?);
    let open = |name: &'static str, device: &str| {
        Port::open(PortSetup {
            name,
            device,
            queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            promiscuous: false,
            rx_timestamp: false,
            mac: None,
            pool: pool.clone(),
        })
    };
    let ext = open("ext", &a.ext)?;
    let int = open("int", &a.int)?;
    let deadline = Instant::now() + Duration::from_secs_f64(a.link_timeout);
    wait_link(&ext, deadline)?;
    wait_link(&int, deadline)?;
    let target = Target {
        src_mac: ext.mac(),
        dst_mac: a.app_ext_mac,
        vip: a.vip,
        vport: a.vport,
    };
    if let Some(short) = (0..12)
        .map(|i| sizes.frame(i))
        .find(|&l| l < target.min_frame())
    {
        bail!(
            "--size {}: a {}-byte frame cannot hold this family's headers (at least {} on the wire)",
            a.size,
            short + perf::sizes::FCS,
            target.min_frame() + perf::sizes::FCS
        );
    }
    let (dst_mac, src_mac) = match expect {
        Expect::MacSwap => (ext.mac(), a.app_ext_mac),
        _ => (int.mac(), a.app_int_mac),
    };
    let checker = Checker {
        expect,
        dst_mac,
        src_mac,
        sent_to: target,
    };
    let (Some(txq), Some(rxq), Some(ext_rxq)) = (ext.queue(0), int.queue(0), ext.queue(0)) else {
        bail!("no queue 0");
    };
    let io = Io {
        tx: txq,
        rx: rxq,
        tx_side_rx: ext_rxq,
        pool: &pool,
        target,
        checker: &checker,
    };
    let idle = (a.idle_flows > 0)
        .then(|| generator::open_idle(&io, a.flows, a.idle_flows, Duration::from_secs(1)));
    let (setup, confirm) = if a.flows > 0 && !a.new_conns {
        let s = generator::establish(&io, a.flows, Duration::from_secs(1));
        (
            Some(s),
            Some(generator::confirm(&io, a.flows, Duration::from_secs(1))),
        )
    } else {
        (None, None)
    };
    let traffic = Traffic {
        flows: a.flows,
        sizes: sizes.clone(),
        new_conns: a.new_conns,
        handshake: a.handshake,
        rate_pps: a.rate,
        duration: Duration::from_secs_f64(a.duration),
        burst: a.burst,
    };
    if let Some(f) = &a.ready_file {
        std::fs::write(f, b"measuring\n")
            .with_context(|| format!("--ready-file {}", f.display()))?;
    }
    let (c, h) = generator::measure(&io, &traffic);
    let pps = c.good as f64 / c.seconds;
    let q = |p: f64| h.value_at_quantile(p);
    let out = json!({
        "label": a.label,
        "expect": a.expect,
        "size": sizes.name,
        "avg_wire_bytes": sizes.average(),
        "flows": a.flows,
        "new_conns": a.new_conns,
        "handshake": a.handshake,
        "offered_pps": a.rate,
        "setup": setup,
        // The ACK pass after the SYNs (the same fields: syn_sent = ACKs sent, syn_back = back).
        "confirm": confirm,
        "idle": idle,
        "counts": c,
        "mpps": pps / 1e6,
        "gbps": c.good_wire_bytes as f64 * 8.0 / c.seconds / 1e9,
        "latency_ns": {
            "samples": h.len(),
            "min": h.min(), "p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": h.max(),
        },
        "tsc_hz": dataplane::dpdk::lcore::tsc_hz(),
    });
    println!("{out}");
    drop(ext);
    drop(int);
    Ok(())
}
