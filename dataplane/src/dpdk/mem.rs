//! Memory advice for the large per-worker tables (not DPDK memory: plain heap).

/// Asks the kernel to back `len` bytes at `ptr` with transparent huge pages (MADV_HUGEPAGE),
/// so a table of millions of entries costs few TLB entries. Only whole 2 MiB pages inside the
/// range are advised. Returns false when the kernel refuses (THP disabled): not an error.
pub fn advise_hugepages(ptr: *const u8, len: usize) -> bool {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).div_ceil(HUGE) * HUGE;
    let end = (ptr as usize + len) / HUGE * HUGE;
    if end <= start {
        return false;
    }
    // SAFETY: madvise only changes how the kernel backs pages of a range we own (the caller's
    // live allocation, shrunk to whole huge pages inside it); it does not touch the contents.
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) == 0 }
}

/// Asks the CPU to start loading the cache line at `p` (a hint: never faults, any address).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint that cannot fault or change memory, whatever the address;
    // SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
