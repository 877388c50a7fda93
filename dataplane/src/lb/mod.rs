//! The balancing logic, free of DPDK types: services, schedulers, persistence, the per-worker
//! connection table and flow ownership. Unit- and property-tested on plain values.
pub mod admission;
pub mod conn;
pub mod family;
pub mod flow;
pub mod forward;
pub mod frag_table;
pub mod ha;
pub mod neigh;
pub mod persist;
pub mod published;
pub mod route;
pub mod sched;
pub mod service;
pub mod service6;
pub mod service_index;
pub mod sloppy_synack;
pub mod snapshot;
pub mod snapshot6;
pub mod sync;
pub mod syncookie;
pub mod types;
pub mod word_hash;
