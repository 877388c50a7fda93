//! Why a forwarding rewrite refused a packet: each reason is its own counter in the worker.

use crate::wire::WireError;

/// A packet a rewrite did not touch, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ForwardError {
    /// The packet does not parse (or is a protocol the rewrite does not handle).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// TTL 0 or 1: forwarding would send it out with TTL 0 (the worker drops it, and may answer
    /// with ICMP time exceeded).
    #[error("TTL expired")]
    TtlExpired,
    /// An IPv4 fragment given to the whole-packet NAT: the later ones carry no ports (the
    /// worker NATs fragments with [`super::frag`] instead).
    #[error("IPv4 fragment")]
    Fragment,
    /// An ICMP error whose own checksum does not verify (translating it would launder it).
    #[error("ICMP checksum does not verify")]
    BadIcmpChecksum,
    /// Well-formed, but must not be answered: an ICMP error about an ICMP error, a non-first
    /// fragment, a packet without DF, a non-unicast source (RFC 1122 3.2.2, RFC 1812 4.3.2.7).
    #[error("packet must not be answered")]
    NotAnswerable,
    /// The packet must grow (NAT64 IPv4 -> IPv6, a Neighbor Advertisement longer than the
    /// solicitation) and its buffer has no headroom left for it.
    #[error("no room in the packet buffer")]
    NoRoom,
}
