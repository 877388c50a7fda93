//! `dataplane`: the load balancer appliance's command line.

use clap::Parser;
use dataplane::config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A DPDK poll-mode L4 load balancer (an LVS director as a kernel-bypass appliance).
#[derive(Parser, Debug)]
#[command(name = "dataplane", version, about)]
struct Cli {
    /// The YAML config file (see docs/config.md).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides both this and the config's `log`.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Validate the config, print it normalised, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    // A panic is a bug; it must still end with one clear line and no backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
    }));
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let cfg = config::load_file(&cli.config)
        .map_err(|e| anyhow::anyhow!("config {}: {e}", cli.config.display()))?;
    if cli.check {
        print!("{}", serde_yaml_ng::to_string(&cfg)?);
        return Ok(());
    }
    let mut cfg = cfg;
    cfg.log = effective_level(&cfg.log, cli.verbose);
    init_logging(&cfg.log);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let summary = dataplane::runtime::run(&cfg, stop)?;
    print!("{summary}");
    Ok(())
}

/// The log filter: RUST_LOG, else -v/-vv, else the config's `log`.
fn effective_level(config: &str, verbose: u8) -> String {
    match (std::env::var("RUST_LOG"), verbose) {
        (Ok(env), _) if !env.is_empty() => env,
        (_, 0) => config.to_string(),
        (_, 1) => "debug".into(),
        _ => "trace".into(),
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
