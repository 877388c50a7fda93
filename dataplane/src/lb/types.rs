//! Small value types shared by every part of the balancing logic.

use crate::wire::ip_proto;
use std::net::Ipv4Addr;

/// L4 protocol of a virtual service or a flow (IP protocol numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Protocol {
    Icmp = ip_proto::ICMP,
    Tcp = ip_proto::TCP,
    Udp = ip_proto::UDP,
}

impl Protocol {
    pub fn from_ip_proto(p: u8) -> Option<Protocol> {
        match p {
            ip_proto::ICMP => Some(Protocol::Icmp),
            ip_proto::TCP => Some(Protocol::Tcp),
            ip_proto::UDP => Some(Protocol::Udp),
            _ => None,
        }
    }
}

/// How packets reach a real server (LVS's VS-NAT, VS-DR, VS-TUN, and the local node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ForwardMode {
    #[default]
    Nat,
    Dr,
    Tun,
    /// The real is the appliance itself (ipvsadm's `Local`): NAT to the appliance's own
    /// address, delivered to the kernel through the exception path; the kernel's replies come
    /// back the same way and leave as NAT replies.
    Local,
}

impl ForwardMode {
    /// Are the destination address and port rewritten (so replies come back through us and
    /// are rewritten back)? NAT and the local node.
    #[inline]
    pub fn is_nat(self) -> bool {
        matches!(self, ForwardMode::Nat | ForwardMode::Local)
    }
}

/// The five-tuple of a packet as it travels (source first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub proto: Protocol,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

/// Dense index of a real server inside the control-plane snapshot; stable for the life of the
/// real server so connections can refer to it with 4 bytes.
pub type RealId = u32;

/// One worker's view of a real server's load, as lc/wlc/sed/nq need it. Each worker counts only
/// the connections it owns (no sharing on the hot path); flows spread evenly over workers, so the
/// local least-loaded real is a good estimate of the global one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RealLoad {
    /// Connections in TCP ESTABLISHED (or any UDP/ICMP connection).
    pub active: u32,
    /// Connections in any other state (SYN_RECV, FIN_WAIT, TIME_WAIT, ...).
    pub inactive: u32,
}
