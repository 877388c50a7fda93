//! Safe wrappers over DPDK: the only module (besides the ffi crate) with `unsafe` code.
//! EAL start-up and teardown, the log bridge, mempools, mbufs and bursts, ports, rings, lcores.
mod cstr;
pub mod dynfield;
pub mod eal;
pub mod lcore;
pub mod log;
pub mod mbuf;
pub mod mem;
pub mod mempool;
pub mod port;
pub mod ring;
mod shared;
pub mod sock;

pub use eal::{Eal, EalOptions};
pub use mbuf::Burst;
pub use mempool::Mempool;
pub use port::{Port, PortStat, PortStats, QueueCounts};
pub use ring::{Consumer, Producer, Ring, RingWatch};

/// DPDK's description of an error number (rte_errno or a negative return value).
pub fn strerror(errnum: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
    unsafe { cstr::to_string(dpdk_sys::rte_strerror(errnum.abs())) }
}

/// The current rte_errno of this thread.
pub fn errno() -> i32 {
    // SAFETY: reads a thread-local integer.
    unsafe { dpdk_sys::shim_rte_errno() }
}
