//! `dataplane capture`: dpdk-dumpcap on a running appliance, with the config's port names.
//! dpdk-dumpcap knows DPDK's device names (`net_af_packet1`, a PCI address) and the file
//! prefix; the operator knows `int` and the config. This maps one to the other and runs
//! dpdk-dumpcap in place of itself, so its options, output and Ctrl-C behave as documented by
//! DPDK (docs/operations.md).

use crate::config::Config;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

/// Capture a port of the running appliance with dpdk-dumpcap (package dpdk-dev).
#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// The appliance's config: its port names and eal.file_prefix.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// The file prefix the appliance runs under, if not its config's (it was started with
    /// --file-prefix).
    #[arg(long, value_name = "NAME")]
    pub file_prefix: Option<String>,
    /// A port name from the config, or the name of a port's exception interface (dp-ext).
    pub port: String,
    /// Passed to dpdk-dumpcap after `--`: -f FILTER, -c COUNT, -a duration:SECS, -w FILE, ...
    #[arg(last = true, value_name = "DUMPCAP ARGS")]
    pub dumpcap: Vec<String>,
}

/// The DPDK device name of a config port (or of its exception interface's tap).
pub fn device_name(cfg: &Config, port: &str) -> Result<String> {
    for (i, p) in cfg.ports.iter().enumerate() {
        if p.name == port {
            return Ok(p.device.split(',').next().unwrap_or_default().to_string());
        }
        if crate::mgmt::exception::iface_name(p).as_deref() == Some(port) {
            return Ok(format!("net_tap{i}"));
        }
    }
    let names: Vec<String> = cfg
        .ports
        .iter()
        .flat_map(|p| std::iter::once(p.name.clone()).chain(crate::mgmt::exception::iface_name(p)))
        .collect();
    bail!(
        "no port `{port}` in the config (ports and exception interfaces: {})",
        names.join(", ")
    )
}

/// The dpdk-dumpcap command line for `args` over `cfg`.
pub fn dumpcap_args(cfg: &Config, args: &CaptureArgs) -> Result<Vec<String>> {
    let prefix = args.file_prefix.as_ref().unwrap_or(&cfg.eal.file_prefix);
    crate::config::check_file_prefix(prefix).map_err(|e| anyhow::anyhow!("--file-prefix: {e}"))?;
    let mut v = vec![
        "--file-prefix".to_string(),
        prefix.clone(),
        "-i".to_string(),
        device_name(cfg, &args.port)?,
    ];
    v.extend(args.dumpcap.iter().cloned());
    Ok(v)
}

/// Replaces this process with dpdk-dumpcap; returns only on failure.
pub fn run(cfg: &Config, args: &CaptureArgs) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let argv = dumpcap_args(cfg, args)?;
    let err = std::process::Command::new("dpdk-dumpcap")
        .args(&argv)
        .exec();
    if err.kind() == std::io::ErrorKind::NotFound {
        bail!("dpdk-dumpcap not found: install Debian's dpdk-dev (scripts/setup does)");
    }
    bail!("cannot run dpdk-dumpcap: {err}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let text = include_str!("../../configs/nat.yaml");
        crate::config::load_str(text).unwrap()
    }

    fn args(port: &str, prefix: Option<&str>, rest: &[&str]) -> CaptureArgs {
        CaptureArgs {
            config: PathBuf::from("nat.yaml"),
            file_prefix: prefix.map(str::to_string),
            port: port.into(),
            dumpcap: rest.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn port_names_become_device_names() {
        let c = cfg();
        assert_eq!(
            dumpcap_args(&c, &args("int", None, &["-c", "10", "-w", "x.pcapng"])).unwrap(),
            [
                "--file-prefix",
                "dataplane",
                "-i",
                "net_af_packet1",
                "-c",
                "10",
                "-w",
                "x.pcapng"
            ]
        );
        assert_eq!(
            dumpcap_args(&c, &args("dp-ext", Some("lb-2"), &[])).unwrap(),
            ["--file-prefix", "lb-2", "-i", "net_tap0"]
        );
    }

    #[test]
    fn unknown_port_and_bad_prefix_are_refused() {
        let c = cfg();
        assert_eq!(
            dumpcap_args(&c, &args("wan", None, &[])).unwrap_err().to_string(),
            "no port `wan` in the config (ports and exception interfaces: ext, dp-ext, int, dp-int)"
        );
        let e = dumpcap_args(&c, &args("int", Some("a/b"), &[])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--file-prefix: eal.file_prefix: `a/b` must be"),
            "{e}"
        );
    }
}
