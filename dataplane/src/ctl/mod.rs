//! `dataplane ctl`: the control socket's client. Sends one request, prints the answer like
//! ipvsadm does (`format.rs`), or the JSON as received with `--json` (docs/ctl.md).

pub mod bgp;
pub mod format;
pub mod ha;
pub mod proto;
pub mod top;
pub mod watch;

pub mod stats;
pub mod sync;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use proto::{Request, Response};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_SOCKET: &str = "/run/dataplane.sock";

/// Talk to a running appliance through its control socket.
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The appliance's control socket (its config's `control.socket`).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, global = true)]
    pub socket: PathBuf,
    /// Print the response as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Virtual services and their reals (like `ipvsadm -Ln`).
    List {
        /// Traffic totals since start: connections, packets, bytes (like `--stats`).
        #[arg(long)]
        stats: bool,
        /// Per-second rates over the last second (like `--rate`).
        #[arg(long)]
        rate: bool,
        /// Redraw every --interval with rates and health, like `watch ipvsadm -Ln --rate`,
        /// until Ctrl-C (docs/operations.md).
        #[arg(long, conflicts_with_all = ["stats", "rate"])]
        watch: bool,
        /// The refresh interval of --watch (100ms..1h).
        #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = watch::parse_interval, requires = "watch")]
        interval: Duration,
        /// Stop --watch after this many frames.
        #[arg(long, value_name = "N", requires = "watch")]
        count: Option<u64>,
    },
    /// Connections (like `ipvsadm -Lnc`).
    Conns {
        /// Only this service's (by name).
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
        /// Only this client's.
        #[arg(long, value_name = "IP")]
        client: Option<std::net::IpAddr>,
        /// Only those to this real server (`IP`, `IPv4:PORT` or `[IPv6]:PORT`).
        #[arg(long, value_name = "IP[:PORT]")]
        real: Option<String>,
    },
    /// Set a real server's weight (0..65535) in the running config; the file is not changed.
    Weight {
        service: String,
        #[arg(value_name = "REAL")]
        real: String,
        weight: u32,
    },
    /// With SERVICE REAL: weight 0, no new connections to the real; existing ones continue.
    /// Alone: drain the whole node: withdraw its VIPs (BGP), forward until no connection is
    /// left or `drain.grace` runs out, then stop (docs/bgp.md).
    Drain {
        #[arg(requires = "real")]
        service: Option<String>,
        #[arg(value_name = "REAL")]
        real: Option<String>,
    },
    /// VIP announcement over BGP (per VIP: announced and why; the daemon) and the drain.
    Bgp,
    /// The node: serving, draining (for how long, connections left) or stopping, and how many
    /// VIPs are announced.
    Status,
    /// Re-read the config file and apply it (like SIGHUP), reporting a refusal.
    Reload,
    /// Each real's health as the appliance knows it.
    Health,
    /// Per-worker load, like `top`: busy share of polls, packets, drops and handoffs per
    /// second, connections; redrawn every --interval until Ctrl-C (docs/operations.md).
    Top {
        /// The refresh interval (100ms..1h).
        #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = watch::parse_interval)]
        interval: Duration,
        /// Stop after this many frames.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },

    /// Every counter of the workers, the management thread and the ports (docs/counters.md).
    Stats,
    /// Connection sync: role, resync progress, sent / received / installed / dropped by reason.
    Sync,
    /// High availability: VRRP state, priority, VRID, master, last advert (docs/ha.md).
    Ha,
}

impl CtlCommand {
    pub fn request(&self) -> Request {
        match self {
            CtlCommand::List { stats, rate, .. } => Request::List {
                stats: *stats,
                rate: *rate,
            },
            CtlCommand::Conns {
                service,
                client,
                real,
            } => Request::Conns {
                service: service.clone(),
                client: *client,
                real: real.clone(),
            },
            CtlCommand::Weight {
                service,
                real,
                weight,
            } => Request::Weight {
                service: service.clone(),
                real: real.clone(),
                weight: *weight,
            },
            CtlCommand::Drain {
                service: Some(service),
                real: Some(real),
            } => Request::Drain {
                service: service.clone(),
                real: real.clone(),
            },
            CtlCommand::Drain { .. } => Request::DrainNode {},
            CtlCommand::Bgp => Request::Bgp {},
            CtlCommand::Status => Request::Status {},
            CtlCommand::Reload => Request::Reload {},
            CtlCommand::Health => Request::Health {},
            CtlCommand::Top { .. } => Request::Workers {},

            CtlCommand::Stats => Request::Stats {},
            CtlCommand::Sync => Request::Sync {},
            CtlCommand::Ha => Request::Ha {},
        }
    }
}

/// Sends one request and returns the response.
pub fn call(socket: &Path, req: &Request) -> Result<Response> {
    let s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            bail!(
                "is the appliance running? no socket at {} ({e}); see --socket and the config's control.socket",
                socket.display()
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            bail!(
                "{}: permission denied (the control socket is root-only)",
                socket.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot connect to {}", socket.display())),
    };
    s.set_read_timeout(Some(crate::tunables::CTL_READ_TIMEOUT))?;
    s.set_write_timeout(Some(crate::tunables::CTL_WRITE_TIMEOUT))?;
    let mut w = s.try_clone()?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    w.write_all(line.as_bytes())
        .context("sending the request")?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .context("reading the response")?;
    if answer.is_empty() {
        bail!("the appliance closed the connection without answering");
    }
    serde_json::from_str(answer.trim()).context("the response is not valid JSON")
}

/// `dataplane ctl ...`: prints the result; an error response is an error.
pub fn run(args: &CtlArgs) -> Result<()> {
    if let CtlCommand::List {
        watch: true,
        interval,
        count,
        ..
    } = &args.command
    {
        if args.json {
            bail!("--watch draws a table; for JSON poll `ctl --json list --rate`");
        }
        return watch::run(&args.socket, *interval, *count);
    }
    if let CtlCommand::Top { interval, count } = &args.command {
        if !args.json {
            return top::run(&args.socket, *interval, *count);
        }
    }
    let req = args.command.request();
    let resp = call(&args.socket, &req)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&resp)?);
        if !resp.ok {
            bail!("{}", resp.error.unwrap_or_default());
        }
        return Ok(());
    }
    if !resp.ok {
        bail!("{}", resp.error.unwrap_or_else(|| "failed".into()));
    }
    print!("{}", format::render(&req, resp.result)?);
    Ok(())
}
