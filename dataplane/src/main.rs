//! `dataplane`: the load balancer appliance's command line.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use dataplane::config;
use dataplane::runtime::Until;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A DPDK poll-mode L4 load balancer (an LVS director as a kernel-bypass appliance).
///
/// `dataplane --config lb.yaml` runs it until SIGINT or SIGTERM.
#[derive(Parser, Debug)]
#[command(
    name = "dataplane",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// The YAML config file (see docs/config.md).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides both this and the config's `log`.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Validate the config, print it normalised, and exit (same as `dataplane check`).
    #[arg(long)]
    check: bool,
    /// The EAL file prefix DPDK's tools attach with; overrides the config's eal.file_prefix
    /// (e.g. one per instance of a systemd template unit).
    #[arg(long, value_name = "NAME")]
    file_prefix: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a config and print it with every default filled in.
    Check {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the config's workers over pcap files instead of its devices, until the inputs are
    /// drained (docs/replay.md).
    Replay {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// A capture to feed into a port: PORT=FILE (repeatable).
        #[arg(long = "in", value_name = "PORT=FILE", value_parser = dataplane::replay::parse_port_file)]
        inputs: Vec<(String, PathBuf)>,
        /// Where a port's output goes: PORT=FILE (repeatable).
        #[arg(long = "out", value_name = "PORT=FILE", value_parser = dataplane::replay::parse_port_file)]
        outputs: Vec<(String, PathBuf)>,
    },
    /// Talk to a running appliance: list services, connections, set weights, reload
    /// (docs/ctl.md).
    Ctl(dataplane::ctl::CtlArgs),
    /// Translate a keepalived.conf or `ipvsadm-save -n` output into this appliance's config
    /// (docs/operations.md); what cannot be translated is listed on stderr.
    Import(dataplane::import::ImportArgs),

    /// Capture a port of the running appliance with dpdk-dumpcap, by the config's port name
    /// (docs/operations.md).
    Capture(dataplane::capture::CaptureArgs),
    /// Write man pages and shell completions generated from this CLI into DIR (for packaging).
    #[command(hide = true)]
    GenerateAssets { dir: PathBuf },
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

fn load(path: &Path) -> anyhow::Result<config::Config> {
    config::load_file(path).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Check { config }) => check(config),
        Some(Command::Ctl(args)) => dataplane::ctl::run(args),
        Some(Command::Import(args)) => dataplane::import::run(args),

        Some(Command::Capture(args)) => dataplane::capture::run(&load(&args.config)?, args),
        Some(Command::GenerateAssets { dir }) => dataplane::cli_assets::write(Cli::command(), dir),
        Some(Command::Replay {
            config,
            inputs,
            outputs,
        }) => {
            let cfg = load(config)?;
            let scratch = tempdir()?;
            let (mut cfg, expected) = dataplane::replay::prepare(&cfg, inputs, outputs, &scratch)?;
            cfg.log = effective_level(&cfg.log, cli.verbose);
            init_logging(&cfg.log);
            let limit = dataplane::replay::limit(expected);
            let summary = dataplane::runtime::run(
                &cfg,
                Until::Drained {
                    expected_rx: expected,
                    limit,
                },
            );
            let _ = std::fs::remove_dir_all(&scratch);
            print!("{}", summary?);
            Ok(())
        }
        None => {
            let path = cli
                .config
                .as_deref()
                .context("--config FILE is required (see --help)")?;
            if cli.check {
                return check(path);
            }
            let mut cfg = load(path)?;
            // Not written into the config: a reload compares `eal` with the file's.
            let file_prefix = match &cli.file_prefix {
                Some(p) => {
                    config::check_file_prefix(p).context("--file-prefix")?;
                    p.clone()
                }
                None => cfg.eal.file_prefix.clone(),
            };
            cfg.log = effective_level(&cfg.log, cli.verbose);
            init_logging(&cfg.log);
            let stop = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
            // SIGTERM drains first when `bgp` is configured (mgmt/drain.rs).
            let terminate = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGTERM, terminate.clone())?;
            let reload = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())?;
            let until = Until::Signal {
                stop,
                terminate,
                reload,
                config: path.to_path_buf(),
                file_prefix,
            };
            let summary = dataplane::runtime::run(&cfg, until)?;
            print!("{summary}");
            Ok(())
        }
    }
}

fn check(path: &Path) -> anyhow::Result<()> {
    let printed =
        config::check_file(path).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
    print!("{printed}");
    Ok(())
}

/// A private scratch directory for the replay's generated files.
fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("dataplane-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
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
