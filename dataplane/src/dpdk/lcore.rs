//! Launching closures on EAL worker lcores and reading the TSC.

use anyhow::{bail, Result};
use std::ffi::c_void;

type Job = Box<dyn FnOnce() -> i32 + Send>;

extern "C" fn trampoline(arg: *mut c_void) -> i32 {
    // SAFETY: `arg` is the Box<Job> leaked by `launch`, handed to exactly one lcore.
    let job: Box<Job> = unsafe { Box::from_raw(arg.cast::<Job>()) };
    job()
}

/// Runs `f` on EAL lcore `lcore` (which must be a waiting worker lcore).
pub fn launch(lcore: u32, f: impl FnOnce() -> i32 + Send + 'static) -> Result<()> {
    let job: Box<Job> = Box::new(Box::new(f));
    let arg = Box::into_raw(job).cast::<c_void>();
    // SAFETY: trampoline matches lcore_function_t; `arg` stays valid until the trampoline owns it.
    let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if rc != 0 {
        // SAFETY: the launch failed, so the job was not handed over: reclaim it.
        drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
        bail!("cannot launch on lcore {lcore}: {}", super::strerror(rc));
    }
    Ok(())
}

/// Waits for the job on `lcore` to finish and returns its return value.
pub fn wait(lcore: u32) -> i32 {
    // SAFETY: plain call; returns immediately if the lcore is not running a job.
    unsafe { dpdk_sys::rte_eal_wait_lcore(lcore) }
}

/// The EAL lcore id of the calling thread (u32::MAX for non-EAL threads).
pub fn current() -> u32 {
    // SAFETY: reads a thread-local.
    unsafe { dpdk_sys::shim_rte_lcore_id() }
}

/// The time-stamp counter. Read inline on x86_64 (the workers read it every loop; a call into
/// the C shim cannot be inlined and showed up at 2 % in profiles).
#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc has no preconditions and touches no memory.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: rte_rdtsc has no preconditions.
    unsafe {
        dpdk_sys::shim_rte_rdtsc()
    }
}

/// TSC ticks per second, as EAL measured it.
pub fn tsc_hz() -> u64 {
    // SAFETY: plain call after EAL init.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}

/// A CPU pause hint for spin loops.
#[inline(always)]
pub fn pause() {
    // SAFETY: no preconditions.
    unsafe { dpdk_sys::shim_rte_pause() }
}
