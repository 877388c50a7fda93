//! The appliance: a DPDK poll-mode L4 load balancer. See docs/architecture.md.
pub mod config;
pub mod ctl;
pub mod dpdk;
pub mod lb;
pub mod mgmt;
pub mod replay;
pub mod runtime;
pub mod tunables;
pub mod wire;
pub mod worker;
