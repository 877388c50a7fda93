//! EAL start-up from the config, and its cleanup.
//!
//! The appliance with hugepages runs as a DPDK primary with a shared configuration under the
//! configured `--file-prefix`, so DPDK's tools can attach to it (see `shared`); a second
//! instance needs its own prefix, and is refused with that message otherwise. Without
//! hugepages, and in replay, an instance is private as before: its own `--file-prefix` and no
//! shared files (`--in-memory` with hugepages, `--no-huge --no-shconf` without), so that it
//! never meets another process's runtime directory.

use super::cstr::c;
use crate::config::Hugepages;
use anyhow::{bail, Result};
use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

static STARTED: AtomicBool = AtomicBool::new(false);

/// What EAL needs to start; built from the config's `eal` section and the port list.
#[derive(Clone, Debug)]
pub struct EalOptions {
    pub lcores: String,
    pub main_lcore: u32,
    pub memory_mb: u32,
    pub hugepages: Hugepages,
    pub huge_dir: Option<String>,
    /// PCI devices to allow (EAL probes these); vdevs are probed later by `Port::open`.
    pub pci: Vec<String>,
    pub log_level: String,
    pub extra: Vec<String>,
    /// Run shared under this `--file-prefix` when hugepages are used (the appliance); None:
    /// always private (replay).
    pub file_prefix: Option<String>,
}

/// A running EAL; cleaned up on drop (after every port, pool and ring is gone).
pub struct Eal {
    pub hugepages: bool,
    /// The shared file prefix, when DPDK's tools can attach (pdump and telemetry are on).
    pub shared_prefix: Option<String>,
}

impl Eal {
    /// Initialises EAL once per process.
    pub fn init(o: &EalOptions) -> Result<Eal> {
        if STARTED.swap(true, Ordering::SeqCst) {
            bail!("EAL is already initialised in this process");
        }
        let want_shared = o.file_prefix.is_some();
        let (huge_args, hugepages) = hugepage_args(o, want_shared)?;
        let shared_prefix = o.file_prefix.clone().filter(|_| hugepages);
        let prefix = match &shared_prefix {
            Some(p) => {
                super::shared::check_prefix_free(p)?;
                p.clone()
            }
            None => {
                if want_shared {
                    tracing::info!("no hugepages: dpdk-dumpcap, dpdk-pdump, dpdk-proc-info and telemetry cannot attach (docs/operations.md)");
                }
                format!("dataplane-{}", std::process::id())
            }
        };
        let mut args: Vec<String> = vec![
            "dataplane".into(),
            "--lcores".into(),
            o.lcores.clone(),
            "--main-lcore".into(),
            o.main_lcore.to_string(),
            "--file-prefix".into(),
            prefix,
            "-m".into(),
            o.memory_mb.to_string(),
            "--log-level".into(),
            format!("lib.*:{}", o.log_level),
            "--log-level".into(),
            format!("pmd.*:{}", o.log_level),
        ];
        if shared_prefix.is_none() {
            args.push("--no-telemetry".into());
        }
        args.extend(huge_args);
        if o.pci.is_empty() {
            args.push("--no-pci".into());
        }
        for p in &o.pci {
            args.push("-a".into());
            args.push(p.clone());
        }
        args.extend(o.extra.iter().cloned());
        tracing::debug!("EAL arguments: {}", args.join(" "));

        let cargs = args.iter().map(|a| c(a)).collect::<Result<Vec<_>>>()?;
        // EAL may permute argv, so it gets its own array of pointers; the strings outlive it.
        let mut argv: Vec<*mut c_char> = cargs.iter().map(|a| a.as_ptr() as *mut c_char).collect();
        // SAFETY: argc/argv describe valid NUL-terminated strings that live through the call;
        // EAL keeps no reference to them after returning (it copies what it keeps).
        let rc = unsafe { dpdk_sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if rc < 0 {
            bail!(
                "EAL initialisation failed: {} (the DPDK log lines above say why)",
                super::strerror(super::errno())
            );
        }
        let eal = Eal {
            hugepages,
            shared_prefix,
        };
        if let Some(p) = &eal.shared_prefix {
            super::shared::pdump_init()?;
            tracing::info!(
                "DPDK tools attach with --file-prefix {p} (dpdk-dumpcap, dpdk-pdump, dpdk-proc-info, dpdk-telemetry.py -f {p})"
            );
        }
        Ok(eal)
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        if self.shared_prefix.is_some() {
            super::shared::pdump_uninit();
        }
        // SAFETY: called once, after every DPDK object of this process is released.
        unsafe { dpdk_sys::rte_eal_cleanup() };
        if let Some(p) = &self.shared_prefix {
            super::shared::remove_leftovers(p, &hugetlbfs_mounts());
        }
    }
}

/// Hugetlbfs mount points, from /proc/mounts.
fn hugetlbfs_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[2] == "hugetlbfs").then(|| f[1].to_string())
        })
        .collect()
}

/// Free hugepage memory in MiB, over every page size.
fn free_huge_mb() -> u64 {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            let free: u64 = std::fs::read_to_string(e.path().join("free_hugepages"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some(kb * free / 1024)
        })
        .sum()
}

/// Anonymous memory: no hugepage files at all, and no shared config (`--in-memory` is not
/// allowed with `--no-huge`, which implies legacy memory).
fn no_huge() -> Vec<String> {
    vec!["--no-huge".into(), "--no-shconf".into()]
}

/// The EAL arguments for the configured hugepage policy, and whether hugepages are used.
/// `shared`: keep hugepage files and the shared config (for secondaries), else `--in-memory`.
fn hugepage_args(o: &EalOptions, shared: bool) -> Result<(Vec<String>, bool)> {
    let in_memory = || {
        if shared {
            Vec::new()
        } else {
            vec!["--in-memory".to_string()]
        }
    };
    let mounts = hugetlbfs_mounts();
    let dir_ok = match &o.huge_dir {
        Some(d) => mounts.iter().any(|m| m == d.trim_end_matches('/')),
        None => !mounts.is_empty(),
    };
    let with_dir = |mut v: Vec<String>| {
        if let Some(d) = &o.huge_dir {
            v.push("--huge-dir".into());
            v.push(d.clone());
        }
        v
    };
    match o.hugepages {
        Hugepages::Off => Ok((no_huge(), false)),
        Hugepages::On => {
            if !dir_ok {
                match &o.huge_dir {
                    Some(d) => bail!(
                        "eal.huge_dir: `{d}` is not a hugetlbfs mount point (mount -t hugetlbfs nodev {d}, or set eal.hugepages: auto)"
                    ),
                    None => bail!(
                        "eal.hugepages: `on` but no hugetlbfs is mounted (run scripts/setup, or set eal.hugepages: auto)"
                    ),
                }
            }
            Ok((with_dir(in_memory()), true))
        }
        Hugepages::Auto => {
            let free = free_huge_mb();
            if dir_ok && free >= u64::from(o.memory_mb) {
                Ok((with_dir(in_memory()), true))
            } else {
                tracing::info!(
                    "hugepages: {} MiB free{}; using --no-huge (eal.hugepages: auto)",
                    free,
                    if dir_ok { "" } else { ", no hugetlbfs mount" }
                );
                Ok((no_huge(), false))
            }
        }
    }
}
