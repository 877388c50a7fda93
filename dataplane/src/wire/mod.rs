//! Zero-copy packet views and builders over `&[u8]` / `&mut [u8]`; no DPDK types.
//!
//! Each protocol has a view `Foo<T: AsRef<[u8]>>` whose `new_checked` validates lengths and
//! version fields once, so that every getter afterwards is a plain load that cannot fail; setters
//! exist when `T: AsMut<[u8]>`. Small `FooRepr` structs describe headers to build (ARP replies,
//! ICMP errors, IPIP outer headers). Nothing on the per-packet path allocates, and no parser
//! panics on any input (property-tested and fuzzed: `dataplane/fuzz`).

pub mod arp;
mod bytes;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod frame;
pub mod icmpv4;
pub mod icmpv4_quote;
pub mod icmpv6;
pub mod icmpv6_quote;
pub mod ip_proto;
pub mod ipv4;
pub mod ipv6;
pub mod mac;
pub mod ndp;
pub mod packet;
pub mod parsed;
#[cfg(test)]
mod prop_checksum;
#[cfg(test)]
mod prop_no_panic;
pub mod tcp;
pub mod tcp_options;
pub mod udp;
pub mod vrrp;

pub use arp::{ArpPacket, ArpRepr};
pub use error::WireError;
pub use ethernet::{ether_type, EthernetFrame, EthernetRepr};
pub use frame::{Frame, VecFrame};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use icmpv4_quote::QuotedIpv4;
pub use icmpv6::Icmpv6Packet;
pub use icmpv6_quote::QuotedIpv6;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{walk_ext_headers, Ipv6Packet, Ipv6Repr};
pub use mac::MacAddr;
pub use ndp::{NdpPacket, NdpRepr};
pub use packet::{parse_any, L3Summary, L4Summary, PacketSummary, QuoteSummary};
pub use parsed::{parse_frame, ArpFacts, Ipv4Facts, Ipv6Facts, Net, Parsed};
pub use tcp::{TcpFlags, TcpRepr, TcpSegment};
pub use udp::{UdpDatagram, UdpRepr};
