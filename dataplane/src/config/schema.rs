//! Config schema. Every struct denies unknown keys so a typo is refused, not ignored.
//! docs/config.md lists every key with its default; keep the two in step.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Log level filter (error, warn, info, debug, trace or a tracing-subscriber directive).
    #[serde(default = "default_log")]
    pub log: String,
    pub eal: Eal,
    pub workers: Workers,
    pub ports: Vec<Port>,
    /// What the workers do with packets.
    #[serde(default)]
    pub mode: Mode,
    /// Settings of the L2 forwarding mode (required when `mode: l2fwd`).
    #[serde(default)]
    pub l2fwd: Option<L2Fwd>,
}

fn default_log() -> String {
    "info".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Eal {
    /// EAL `--lcores` string: "0-1", "0,2", or "(0-2)@(0,1)" to map several lcores on fewer CPUs.
    pub lcores: String,
    /// The lcore the management (main) thread runs on; default: the lowest lcore.
    #[serde(default)]
    pub main_lcore: Option<u32>,
    /// Memory for mempools and rings, in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    #[serde(default)]
    pub hugepages: Hugepages,
    /// A hugetlbfs mount to use (default: any mounted hugetlbfs).
    #[serde(default)]
    pub huge_dir: Option<String>,
    /// Mbufs in the packet pool; 0 = sized from ports, queues and descriptors.
    #[serde(default)]
    pub mbufs: u32,
    /// Extra EAL arguments, appended verbatim (for what the schema does not cover).
    #[serde(default)]
    pub extra_args: Vec<String>,
}

fn default_memory_mb() -> u32 {
    512
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Hugepages {
    /// Use hugepages when enough are reserved and mounted, else fall back to `--no-huge`.
    #[default]
    Auto,
    /// Require hugepages; refuse to start without a hugetlbfs mount.
    On,
    /// Always `--no-huge` (anonymous memory; fine for virtual devices and tests).
    Off,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    /// EAL lcores that run a worker, one worker each; none may be the main lcore.
    pub cores: Vec<u32>,
    #[serde(default)]
    pub idle_backoff: IdleBackoff,
    /// Packets per RX/TX burst (1..=256).
    #[serde(default = "default_burst")]
    pub burst: u16,
}

fn default_burst() -> u16 {
    32
}

/// What a worker does when its queues are empty.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdleBackoff {
    /// Pure polling: the worker's core stays at 100 %.
    Off,
    /// After a run of empty polls, pause, then sleep for a growing time up to 200 us; the first
    /// packet resets it. Adds at most ~200 us of latency to the first packet after an idle period.
    #[default]
    Adaptive,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Name used by the rest of the config (l2fwd pairs, services, routes).
    pub name: String,
    /// A DPDK device: a PCI address ("0000:03:00.0") or a vdev with args
    /// ("net_af_packet0,iface=lb-ext", "net_ring0", "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap").
    pub device: String,
    /// RX/TX descriptors per queue.
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    /// Put the port in promiscuous mode.
    #[serde(default = "default_true")]
    pub promiscuous: bool,
}

fn default_desc() -> u16 {
    1024
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Layer-2 forwarding between port pairs: the I/O baseline.
    #[default]
    L2fwd,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct L2Fwd {
    /// Port pairs: what arrives on one is sent out of the other, both ways. A pair of one port
    /// with itself sends packets back out of the port they came in on.
    pub pairs: Vec<[String; 2]>,
    /// Rewrite: `none` (forward untouched, like testpmd's io mode), `swap` (swap source and
    /// destination MAC, like testpmd's macswap), or a MAC address: the next hop's, written as
    /// destination with the output port's MAC as source (like l2fwd).
    #[serde(default = "default_rewrite")]
    pub mac: String,
}

fn default_rewrite() -> String {
    "none".into()
}
