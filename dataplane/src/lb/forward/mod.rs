//! The LVS forwarding rewrites as pure functions over a frame's bytes: NAT in both directions,
//! NAT of IPv4 fragments without reassembly, translation of ICMP errors that quote a NAT
//! connection, IPIP encapsulation, the ICMP messages
//! the appliance generates itself (fragmentation needed, echo reply) and ARP.
//!
//! Every function takes the whole Ethernet frame (`&mut [u8]`) and `l3`, the offset of the IPv4
//! header (14, or 18 behind an 802.1Q tag), after the worker has classified the packet and found
//! its connection. They build on the zero-copy views of [`crate::wire`], never allocate, never
//! panic on any input, and validate everything before changing a byte: on error the frame is
//! untouched, so the worker can still drop it, count it, or answer it (time exceeded).
//!
//! Checksums are updated incrementally (RFC 1624) wherever fields change, which keeps a packet
//! that arrived with a bad checksum bad; ICMP errors, rare, get their ICMP checksum verified and
//! then recomputed over the whole message.

pub mod arp;
mod error;
pub mod frag;
pub mod frag6;
pub mod icmp6_gen;
pub mod icmp6_nat;
pub mod icmp_gen;
pub mod icmp_nat;
pub mod nat;
pub mod nat64;
pub mod nat64_frag;
pub mod nat64_icmp;
pub mod nat66;
pub mod ndp;
pub mod synproxy;
pub mod tun;
pub mod tun6;

#[cfg(test)]
mod fixtures6;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod prop_tests6;

/// Packet builders for tests, fixtures and the engine's fuzz driver (not the data path).
#[doc(hidden)]
pub mod test_packets;
/// IPv6 packet builders for tests, fixtures and the fuzz driver (not the data path).
#[doc(hidden)]
pub mod test_packets6;

pub use arp::{arp_reply_in_place, build_arp_frame, build_arp_request, build_gratuitous_arp};
pub use error::ForwardError;
pub use frag::{nat_in_fragment, nat_out_fragment};
pub use frag6::{nat66_in_fragment, nat66_out_fragment, Frag6Key};
pub use icmp6_gen::{echo6_reply_in_place, packet_too_big_in_place};
pub use icmp6_nat::{icmp6_error_to_client, icmp6_error_to_real, quoted_flow6};
pub use icmp_gen::{echo_reply_in_place, frag_needed_in_place};
pub use icmp_nat::{icmp_error_to_client, icmp_error_to_real, quoted_flow};
pub use nat::{nat_in, nat_out};
pub use nat64::{embed_v4, extract_v4, nat64_4to6, nat64_6to4, Endpoints};
pub use nat64_frag::{nat64_4to6_fragment, nat64_6to4_fragment};
pub use nat64_icmp::{nat64_icmp_4to6, nat64_icmp_6to4, ErrorAddrs};
pub use nat66::{nat66_in, nat66_out};
pub use ndp::{build_neighbor_solicit, build_unsolicited_na, na_answer, ndp_parse, NdpFacts};
pub use tun::{encapsulate, tun_fits};
pub use tun6::{encapsulate6, tun6_fits, tun6_inner_mtu};

use crate::wire::{Ipv4Packet, WireError};

/// The IPv4 packet at `l3` (its checks done: version, IHL, total length within the frame).
fn ipv4_at(frame: &mut [u8], l3: usize) -> Result<Ipv4Packet<&mut [u8]>, WireError> {
    Ipv4Packet::new_checked(frame.get_mut(l3..).ok_or(WireError::Truncated)?)
}
