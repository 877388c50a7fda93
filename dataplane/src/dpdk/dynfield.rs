//! Per-packet metadata in mbuf dynamic fields: our own 32-bit tag (what a packet handed to
//! another thread is for), and the RX timestamp drivers such as net_pcap fill in (the replay
//! clock). Offsets are registered once at start-up, before any worker runs.

use anyhow::{bail, Result};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

const UNSET: usize = usize::MAX;
static META_OFFSET: AtomicUsize = AtomicUsize::new(UNSET);
static TS_OFFSET: AtomicUsize = AtomicUsize::new(UNSET);
static TS_FLAG: AtomicU64 = AtomicU64::new(0);

/// Registers the `dataplane_meta` field (4 bytes). Idempotent.
pub fn register_meta() -> Result<()> {
    if META_OFFSET.load(Relaxed) != UNSET {
        return Ok(());
    }
    let mut params = dpdk_sys::rte_mbuf_dynfield::default();
    let name = b"dataplane_meta\0";
    for (d, s) in params.name.iter_mut().zip(name.iter()) {
        *d = *s as std::ffi::c_char;
    }
    params.size = 4;
    params.align = 4;
    // SAFETY: params is fully initialised; DPDK copies it.
    let off = unsafe { dpdk_sys::rte_mbuf_dynfield_register(&params) };
    if off < 0 {
        bail!(
            "cannot register the mbuf metadata field: {}",
            super::strerror(super::errno())
        );
    }
    META_OFFSET.store(off as usize, Relaxed);
    Ok(())
}

/// Registers (or finds) the RX timestamp field and flag that drivers fill in.
pub fn register_rx_timestamp() -> Result<()> {
    let (mut off, mut flag) = (0i32, 0u64);
    // SAFETY: out-pointers to locals.
    let rc = unsafe { dpdk_sys::rte_mbuf_dyn_rx_timestamp_register(&mut off, &mut flag) };
    if rc != 0 {
        bail!(
            "cannot register the RX timestamp field: {}",
            super::strerror(super::errno())
        );
    }
    TS_OFFSET.store(off as usize, Relaxed);
    TS_FLAG.store(flag, Relaxed);
    Ok(())
}

/// # Safety
/// `m` must be a valid mbuf.
#[inline(always)]
pub(super) unsafe fn meta(m: *const dpdk_sys::rte_mbuf) -> u32 {
    let off = META_OFFSET.load(Relaxed);
    if off == UNSET {
        return 0;
    }
    // SAFETY: the offset was registered for a 4-byte, 4-aligned field inside the mbuf.
    unsafe { m.cast::<u8>().add(off).cast::<u32>().read() }
}

/// # Safety
/// `m` must be a valid mbuf we own.
#[inline(always)]
pub(super) unsafe fn set_meta(m: *mut dpdk_sys::rte_mbuf, v: u32) {
    let off = META_OFFSET.load(Relaxed);
    if off == UNSET {
        return;
    }
    // SAFETY: as `meta`, and we own the mbuf.
    unsafe { m.cast::<u8>().add(off).cast::<u32>().write(v) }
}

/// # Safety
/// `m` must be a valid mbuf.
#[inline(always)]
pub(super) unsafe fn rx_timestamp(m: *const dpdk_sys::rte_mbuf) -> Option<u64> {
    let off = TS_OFFSET.load(Relaxed);
    let flag = TS_FLAG.load(Relaxed);
    // SAFETY: reading ol_flags of a valid mbuf.
    if off == UNSET || flag == 0 || unsafe { (*m).ol_flags } & flag == 0 {
        return None;
    }
    // SAFETY: the registered timestamp field is 8 bytes, 8-aligned, inside the mbuf.
    Some(unsafe { m.cast::<u8>().add(off).cast::<u64>().read() })
}
