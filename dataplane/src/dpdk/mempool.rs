//! Packet-buffer pools (rte_pktmbuf_pool_create).

use super::cstr::c;
use anyhow::{bail, Result};
use std::ptr::NonNull;

/// An mbuf pool. Dropped after every port and ring that uses it (the runtime's teardown order).
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    size: u32,
}

// SAFETY: rte_mempool is designed for concurrent get/put from any lcore (per-lcore caches plus a
// lock-free ring); the pointer itself is only freed in Drop, once.
unsafe impl Send for Mempool {}
// SAFETY: see Send; shared references only allocate/free through DPDK's thread-safe paths.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs with the default 2 KiB data room, on any NUMA socket.
    pub fn new(name: &str, n: u32, cache: u32) -> Result<Mempool> {
        let cname = c(name)?;
        // SAFETY: valid C string (DPDK copies the name); the socket constant is immutable.
        // Returns null on failure with rte_errno set.
        let p = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n,
                cache,
                0,
                dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                dpdk_sys::shim_SOCKET_ID_ANY,
            )
        };
        match NonNull::new(p) {
            Some(ptr) => Ok(Mempool { ptr, size: n }),
            None => bail!(
                "cannot create mbuf pool `{name}` of {n} mbufs: {} (raise eal.memory_mb or lower eal.mbufs)",
                super::strerror(super::errno())
            ),
        }
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// Mbufs currently free in the pool (approximate while workers run).
    pub fn available(&self) -> u32 {
        // SAFETY: read-only query on a live pool.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: the pool is no longer used by any port or worker (teardown order).
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) }
    }
}
