//! Zero-copy packet views and builders over `&[u8]` / `&mut [u8]`; no DPDK types.
