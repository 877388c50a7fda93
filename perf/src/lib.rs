//! A pktgen-style traffic generator and checker for the dataplane (issue 6; docs/perf.md).
//!
//! The pure parts (flow numbering, frame sizes, building a frame, checking what comes back) are
//! separate from the DPDK loop so they can be unit-tested without EAL.
pub mod check;
pub mod check6;
pub mod flow_pcaps;
pub mod flows;
pub mod frame;
pub mod frame6;
pub mod generator;
pub mod pcap;
pub mod sizes;
