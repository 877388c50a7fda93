//! Config schema. Every struct denies unknown keys so a typo is refused, not ignored.
//! docs/config.md lists every key with its default; keep the two in step.

use super::ipnet::{IpNet, Ipv6Net};
use super::kinds::{ForwardMode, SchedKind};
use super::units::{Dur, Ipv4Net, Mac};
use crate::tunables;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

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
    /// Static routes (connected subnets come from the ports' addresses).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Static neighbours (ARP resolves the rest).
    #[serde(default)]
    pub neighbors: Vec<Neighbor>,
    #[serde(default)]
    pub conn: Conn,
    /// Virtual services (`mode: lb`).
    #[serde(default)]
    pub services: Vec<Service>,
    /// The control socket of `dataplane ctl` (docs/ctl.md).
    #[serde(default)]
    pub control: Control,
    /// The Prometheus metrics endpoint (docs/ctl.md).
    #[serde(default)]
    pub metrics: Metrics,
    /// The web console (docs/console.md).
    #[serde(default)]
    pub console: super::console::Console,
    /// Connection sync with a peer director (docs/sync.md); absent: off.
    #[serde(default)]
    pub sync: Option<super::sync::SyncConfig>,
    /// VRRPv3 with a peer director (docs/ha.md); absent: this node always owns its VIPs.
    #[serde(default)]
    pub vrrp: Option<super::vrrp::Vrrp>,
    /// VIP announcement through a BGP daemon beside the appliance (docs/bgp.md); absent: off.
    #[serde(default)]
    pub bgp: Option<super::bgp::Bgp>,
    /// The graceful drain of the node (SIGTERM with `bgp`, `ctl drain`); absent: defaults.
    #[serde(default)]
    pub drain: Option<super::bgp::Drain>,
}

impl Config {
    /// The index of the port whose address (`ip` or `ip6`) `ip` is: a real there is the
    /// appliance itself, a local real (ipvsadm's `Local`), served by the kernel behind the
    /// exception path.
    pub fn local_port(&self, ip: IpAddr) -> Option<usize> {
        self.ports.iter().position(|p| match ip {
            IpAddr::V4(a) => p.ip.is_some_and(|n| n.addr == a),
            IpAddr::V6(a) => p.ip6.is_some_and(|n| n.addr == a),
        })
    }

    /// The IPv4 static neighbours (ARP entries); the IPv6 ones are ND's.
    pub fn neighbors_v4(&self) -> impl Iterator<Item = (Ipv4Addr, Mac)> + '_ {
        self.neighbors.iter().filter_map(|n| match n.ip {
            IpAddr::V4(a) => Some((a, n.mac)),
            IpAddr::V6(_) => None,
        })
    }

    /// The IPv4 static routes as (prefix, gateway).
    pub fn routes_v4(&self) -> impl Iterator<Item = (Ipv4Net, Ipv4Addr)> + '_ {
        self.routes.iter().filter_map(|r| match (r.prefix, r.via) {
            (IpNet::V4(p), IpAddr::V4(via)) => Some((p, via)),
            _ => None,
        })
    }

    /// The IPv6 static routes as (prefix, gateway).
    pub fn routes_v6(&self) -> impl Iterator<Item = (Ipv6Net, std::net::Ipv6Addr)> + '_ {
        self.routes.iter().filter_map(|r| match (r.prefix, r.via) {
            (IpNet::V6(p), IpAddr::V6(via)) => Some((p, via)),
            _ => None,
        })
    }
}

fn default_log() -> String {
    "info".into()
}

/// The control socket (mode lb): a unix stream socket, created 0600, that `dataplane ctl` talks
/// JSON lines over.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Control {
    #[serde(deserialize_with = "socket_path")]
    pub socket: std::path::PathBuf,
    /// Also reload when the config file changes (checked every second), as if on SIGHUP.
    pub watch_config: bool,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: "/run/dataplane.sock".into(),
            watch_config: false,
        }
    }
}

fn socket_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::path::PathBuf, D::Error> {
    let s = String::deserialize(d)?;
    // sun_path holds 108 bytes with the terminating NUL.
    if s.is_empty() || s.len() > 107 || s.ends_with('/') {
        return Err(serde::de::Error::custom(format!(
            "`{s}` is not a socket file path (1-107 bytes, not a directory)"
        )));
    }
    Ok(s.into())
}

/// The Prometheus endpoint (mode lb): plain HTTP on `listen`; `none` disables it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    #[serde(
        deserialize_with = "metrics_listen",
        serialize_with = "metrics_listen_out"
    )]
    pub listen: Option<std::net::SocketAddr>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9717))),
        }
    }
}

fn metrics_listen<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s == "none" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`{s}` is not `none` or an address:port such as 127.0.0.1:9717"
        ))
    })
}

fn metrics_listen_out<S: serde::Serializer>(
    v: &Option<std::net::SocketAddr>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(a) => s.serialize_str(&a.to_string()),
        None => s.serialize_str("none"),
    }
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
    /// EAL `--file-prefix` of the running appliance: its runtime directory
    /// (/var/run/dpdk/PREFIX) and hugepage files, where DPDK's tools (dpdk-dumpcap, dpdk-pdump,
    /// dpdk-proc-info, dpdk-telemetry.py) attach with `--file-prefix PREFIX`. Two instances on
    /// one machine need two prefixes. docs/operations.md.
    #[serde(default = "default_file_prefix")]
    pub file_prefix: String,
}

fn default_memory_mb() -> u32 {
    tunables::DEFAULT_MEMORY_MB
}

fn default_file_prefix() -> String {
    "dataplane".into()
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
    tunables::DEFAULT_BURST
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
    /// The port's MAC address (default: the device's own).
    #[serde(default)]
    pub mac: Option<Mac>,
    /// The appliance's own address on this port, with the connected subnet's prefix length.
    #[serde(default)]
    pub ip: Option<Ipv4Net>,
    /// The appliance's own IPv6 address on this port, with the connected prefix's length
    /// (`2001:db8::1/64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Net>,
    /// The kernel interface (net_tap) of the exception path: what is addressed to the appliance
    /// itself and not handled by the workers (ssh, health-check replies, sync, VRRP) goes to the
    /// kernel through it, and what the kernel sends through it leaves by this port. Carries the
    /// port's MAC and address. Default `dp-<name>` when `ip` is set; `none` disables it.
    #[serde(default)]
    pub exception: Option<String>,
}

fn default_desc() -> u16 {
    tunables::DEFAULT_DESCRIPTORS
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
    /// The load balancer: virtual services forwarded in NAT, DR or TUN mode.
    Lb,
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

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination prefix, e.g. `0.0.0.0/0` or `2001:db8:2::/48`.
    pub prefix: IpNet,
    /// Next hop, of the prefix's family; must be inside a port's connected subnet (`ip` or
    /// `ip6`; that port is the output).
    pub via: IpAddr,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    /// IPv4 (an ARP entry) or IPv6 (a neighbour-discovery entry).
    pub ip: IpAddr,
    pub mac: Mac,
}

/// Connection table size and timeouts (IPVS's defaults).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Conn {
    /// Connections per worker (preallocated at start).
    pub max_per_core: u32,
    /// Persistence templates per worker (preallocated at start).
    pub max_templates_per_core: u32,
    pub timeouts: Timeouts,
}

impl Default for Conn {
    fn default() -> Self {
        Conn {
            max_per_core: tunables::DEFAULT_CONNS_PER_CORE,
            max_templates_per_core: tunables::DEFAULT_TEMPLATES_PER_CORE,
            timeouts: Timeouts::default(),
        }
    }
}

/// Per-state timeouts; the defaults are IPVS's (net/netfilter/ipvs/ip_vs_proto_tcp.c).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub tcp_established: Dur,
    pub tcp_syn_sent: Dur,
    pub tcp_syn_recv: Dur,
    pub tcp_fin_wait: Dur,
    pub tcp_time_wait: Dur,
    pub tcp_close: Dur,
    pub tcp_close_wait: Dur,
    pub tcp_last_ack: Dur,
    pub tcp_listen: Dur,
    pub tcp_synack: Dur,
    pub udp: Dur,
    pub icmp: Dur,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established: Dur::secs(900),
            tcp_syn_sent: Dur::secs(120),
            tcp_syn_recv: Dur::secs(60),
            tcp_fin_wait: Dur::secs(120),
            tcp_time_wait: Dur::secs(120),
            tcp_close: Dur::secs(10),
            tcp_close_wait: Dur::secs(60),
            tcp_last_ack: Dur::secs(30),
            tcp_listen: Dur::secs(120),
            tcp_synack: Dur::secs(120),
            udp: Dur::secs(300),
            icmp: Dur::secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    /// IPv4 or IPv6 (docs/config.md says which families of reals each takes).
    pub vip: IpAddr,
    /// 0 = every port of the VIP (LVS's persistent port-0 service).
    pub port: u16,
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// rr, wrr, lc, wlc (default), sed, nq, sh, dh, mh.
    #[serde(default)]
    pub scheduler: SchedKind,
    #[serde(default)]
    pub forward: ForwardMode,
    #[serde(default)]
    pub persistence: Option<Persistence>,
    /// Health check of every real (none: reals are always available). docs/health.md.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// SYN-flood defence (config/syn_proxy.rs, docs/config.md).
    #[serde(default)]
    pub syn_proxy: super::syn_proxy::SynProxy,
    #[serde(default)]
    pub reals: Vec<Real>,
    /// Which clients may open connections (config/admission.rs).
    #[serde(default)]
    pub acl: Option<super::admission::Acl>,
    /// Most connections the service holds at once (all reals, all workers); none: no limit.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Forward a TCP packet that is not a SYN and has no connection (a flow that ECMP moved
    /// here) by the scheduler's choice and create the entry (IPVS `sloppy_tcp`); docs/bgp.md.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sloppy_tcp: bool,
}

fn default_protocol() -> Protocol {
    Protocol::Tcp
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Persistence {
    #[serde(default = "default_persist_timeout")]
    pub timeout: Dur,
    /// Clients whose addresses agree under this mask share a real server.
    #[serde(default = "default_netmask")]
    pub netmask: Ipv4Addr,
}

fn default_persist_timeout() -> Dur {
    Dur(tunables::DEFAULT_PERSISTENCE_TIMEOUT)
}

fn default_netmask() -> Ipv4Addr {
    Ipv4Addr::BROADCAST
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Real {
    /// IPv4 or IPv6; an IPv6 VIP over IPv4 reals is NAT64, an IPv4 VIP over IPv6 reals is TUN.
    pub ip: IpAddr,
    /// Default: the service's port (for a port-0 service: the port the client asked for).
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Overrides the service's forwarding mode for this real.
    #[serde(default)]
    pub forward: Option<ForwardMode>,
    /// Replaces the service's health check for this real (the whole check, not single keys).
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// ipvsadm's `-x`: at this many connections the real takes no new ones (0: no limit).
    #[serde(default)]
    pub upper_threshold: Option<u32>,
    /// ipvsadm's `-y`: an overloaded real takes new connections again below this many
    /// (default: below 3/4 of the upper threshold, as IPVS).
    #[serde(default)]
    pub lower_threshold: Option<u32>,
}

fn default_weight() -> u32 {
    1
}

/// How a real server's health is probed (docs/health.md). Keys that do not apply to the type
/// (`path` for a tcp check, ...) are refused by validation, so they are options here.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(rename = "type")]
    pub kind: CheckKind,
    /// Port to probe (tcp, http); default: the real's port.
    #[serde(default)]
    pub port: Option<u16>,
    /// http: the path of the GET request (default `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// http: the status code that means up (default 200).
    #[serde(default)]
    pub expect: Option<u16>,
    /// http: a substring the response body must contain.
    #[serde(default)]
    pub body: Option<String>,
    /// command: a shell command (`sh -c`), run with REAL_IP, REAL_PORT and SERVICE set; exit
    /// status 0 means up.
    #[serde(default)]
    pub command: Option<String>,
    /// Time between the starts of two checks of one real.
    #[serde(default = "default_check_interval")]
    pub interval: Dur,
    /// A check that has not succeeded after this long fails; must be below `interval`.
    #[serde(default = "default_check_timeout")]
    pub timeout: Dur,
    /// Consecutive successes that bring a down real up.
    #[serde(default = "default_rise")]
    pub rise: u32,
    /// Consecutive failures that take an up real down.
    #[serde(default = "default_fall")]
    pub fall: u32,
}

impl HealthCheck {
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or("/")
    }
    pub fn expect(&self) -> u16 {
        self.expect.unwrap_or(200)
    }
}

fn default_check_interval() -> Dur {
    Dur::secs(2)
}

fn default_check_timeout() -> Dur {
    Dur::secs(1)
}

fn default_rise() -> u32 {
    2
}

fn default_fall() -> u32 {
    3
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A TCP connection is accepted within the timeout.
    Tcp,
    /// An HTTP GET answers with the expected status (and body substring).
    Http,
    /// A command exits with status 0 within the timeout.
    Command,
}
