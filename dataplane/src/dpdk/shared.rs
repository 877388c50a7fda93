//! The appliance's shared DPDK runtime: the known file prefix that DPDK's own tools attach to as
//! secondary processes (dpdk-dumpcap and dpdk-pdump through librte_pdump, dpdk-proc-info), the
//! telemetry socket (dpdk-telemetry.py), and the leftovers to remove on exit.
//!
//! A secondary maps the primary's hugepage files, so this needs hugepages: a `--no-huge`
//! primary keeps its memory in an anonymous memfd that no other process can find (DPDK 22.11:
//! the secondary fails with "Cannot get hugepage information"), and runs private as before.

use anyhow::{bail, Result};
use std::path::PathBuf;

/// DPDK's runtime directory for a prefix: /var/run/dpdk/PREFIX for root, else under
/// $XDG_RUNTIME_DIR (or /tmp), as EAL computes it.
pub fn runtime_dir(prefix: &str) -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    let root = unsafe { libc::getuid() } == 0;
    let base = if root {
        PathBuf::from("/var/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"))
    };
    base.join("dpdk").join(prefix)
}

/// Refuses to start when a running primary already holds `prefix` (EAL would fail with "Is
/// another primary process running?"); the message names the key and the holder.
pub fn check_prefix_free(prefix: &str) -> Result<()> {
    let path = runtime_dir(prefix).join("config");
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    else {
        return Ok(()); // never used, or not ours to open: EAL reports what is wrong
    };
    // EAL takes a write lock on the start of this file for as long as the primary runs.
    let mut lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: F_GETLK only fills in `lock`, which lives through the call; the fd is open.
    let rc = unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::F_GETLK,
            &mut lock,
        )
    };
    if rc == 0 && lock.l_type != libc::F_UNLCK as libc::c_short {
        bail!(
            "eal.file_prefix: `{prefix}` is in use by a running DPDK primary (pid {}); give each \
             instance on this machine its own eal.file_prefix (or --file-prefix)",
            lock.l_pid
        );
    }
    Ok(())
}

/// Lets dpdk-dumpcap and dpdk-pdump ask this (primary) process to copy the packets of a port.
pub fn pdump_init() -> Result<()> {
    // SAFETY: called once after rte_eal_init; registers the pdump IPC handler.
    let rc = unsafe { dpdk_sys::rte_pdump_init() };
    if rc != 0 {
        bail!("rte_pdump_init failed: {}", super::strerror(super::errno()));
    }
    Ok(())
}

/// Unregisters the pdump handler (before EAL cleanup).
pub fn pdump_uninit() {
    // SAFETY: called once, after pdump_init succeeded and before rte_eal_cleanup.
    unsafe { dpdk_sys::rte_pdump_uninit() };
}

/// After EAL cleanup: the prefix's hugepage files (DPDK keeps them by default, holding the pages
/// until the next start under this prefix) and its runtime directory.
pub fn remove_leftovers(prefix: &str, huge_dirs: &[String]) {
    let start = format!("{prefix}map_");
    for dir in huge_dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&start) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = std::fs::remove_dir_all(runtime_dir(prefix));
}
