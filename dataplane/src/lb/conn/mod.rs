//! The per-worker connection table (the counterpart of IPVS's `ip_vs_conn`).
//!
//! One worker owns one table: single writer, no atomics, no locks, and nothing allocated after
//! [`ConnTable::new`]. Every connection is found in O(1) expected time from the inbound packet
//! (client -> VIP) and, for NAT, from the reply (real -> client).
//!
//! # Address families
//! The table is generic over the address family (`lb/family.rs`): `ConnTable` is the IPv4
//! table (`ConnTable<Ipv4Addr>`), `ConnTable::<Ipv6Addr>::allocate` makes an IPv6 one with the
//! same API. A worker keeps one table per family, so neither pays for the other: IPv4 entries
//! hold u32 addresses (52 bytes), IPv6 entries `[u32; 4]` addresses (88 bytes, 96 with the
//! index). The rest of this page describes IPv4; IPv6 differs only in those sizes and its hash.
//!
//! # Layout (at most 64 bytes per connection, index included)
//! - **Entries**: one array of `capacity` fixed 52-byte `repr(C)` records: client, VIP and real
//!   addresses, the three ports, the real id (u16), TCP state, flags with the protocol's 2-bit
//!   code, the wheel slot or eviction list with the forwarding mode in its top bits (u16), expiry
//!   in whole seconds, four u32 links (inbound chain, reply chain, timer wheel or eviction list
//!   next/prev), the persistence template (u32) and the SYN proxy's sequence word (u32,
//!   `proxy.rs`). A free
//!   entry sits on a free list threaded through its inbound link.
//! - **Two bucket arrays** of u32 chain heads, one keyed by (proto, client, cport, vip, vport),
//!   one by (proto, real, rport, client, cport); DR/TUN connections are only in the first.
//!   Each has exactly `capacity` buckets (8 bytes of index per connection, load factor <= 1):
//!   a seeded multiply-xorshift hash (`hash.rs`) is reduced to a bucket by multiply-shift, so
//!   the count need not be a power of two.
//! - **Timer wheel**: 64..4096 one-second slots of u32 list heads (capacity/16, clamped;
//!   `tunables::CONN_WHEEL_*`), see `wheel.rs`; **eviction lists**: a head and a tail per TCP
//!   state (88 bytes in the struct), see `evict.rs`; **per-real loads**: `max_reals` x 8 bytes;
//!   **ended ring**: `ended_capacity` (default 64, `tunables::CONN_ENDED_CAPACITY`) x 16 bytes.
//!
//! [`ConnTable::memory_bytes`] counts all of it: 52 + 8 = 60 bytes per connection plus the
//! wheel, the eviction lists, the load array and the ring, which stays under 64 bytes per connection from 1K
//! connections up (with a few hundred reals).
//!
//! # Time
//! The caller passes `now` in milliseconds from any monotonic origin; the table never reads a
//! clock. Expiries are kept in whole seconds (u32): a connection lives at least its timeout and
//! less than one second more, and goes away at the first [`ConnTable::expire`] call after that.
//! Until then a lookup still finds it.
//!
//! # TCP state and load counting
//! [`ConnTable::on_packet`] runs IPVS's transition tables (`state.rs`) and restarts the idle
//! timer with the timeout of the new state ([`Timeouts`]). NAT connections use the input and
//! output tables; DR/TUN connections the input-only table until a reply is ever seen. Per real,
//! [`ConnTable::loads`] counts ESTABLISHED TCP plus every UDP/ICMP connection as active and the
//! rest as inactive, updated on insert, on a state change across ESTABLISHED and on removal.
//!
//! # Full table
//! An insert into a full table evicts the half-open or closing TCP connection that expires
//! first (`evict.rs`: such connections sit on one FIFO list per TCP state, so this takes
//! constant work and always finds one if any exists, whatever the timeouts). With none, it
//! reclaims a connection already past its expiry within `evict_probes` (default 64,
//! `tunables::CONN_EVICT_PROBES`) wheel slots + entries, else the new connection is refused
//! ([`InsertError::Full`]). Established TCP and UDP/ICMP connections are never evicted.
//! Counted in [`ConnStats`]: `evicted`, `refused_full` (and `expired`).
//!
//! # SYN-flood defence (`proxy.rs`)
//! The table counts its half-open TCP connections ([`ConnTable::half_open`]: NONE, SYN_SENT,
//! SYN_RECV, SYNACK), the pressure that turns `syn_proxy: auto` services to cookies or
//! stateless SYNs. A SYN-proxied connection keeps its sequence state in the entry's `seq` word
//! ([`ConnTable::proxy_opening`], [`ConnTable::proxy_open`], [`ConnTable::proxy_seq`]).
//!
//! # Ended connections (persistence templates)
//! A connection may hold a persistence template ([`NewConn::template`]). When such a connection
//! ends, however it ends (expired, evicted, removed), the table queues one [`Ended`] record in a
//! fixed ring, which the worker drains with [`ConnTable::drain_ended`] to release the template
//! exactly once. The ring never overflows: while it is full the table holds back instead (see
//! `drain_ended`). Connections without a template are not reported.
//!
//! # Handles
//! Lookups and inserts return a [`ConnHandle`] (the u32 slot index), used right away to read
//! the connection ([`ConnTable::get`]) and account the packet ([`ConnTable::on_packet`]). A
//! handle is valid until the connection is removed; a dead handle is answered with `None`.

mod ended;
mod entry;
mod evict;
mod hash;
mod install;
mod proxy;
mod state;
mod table;
mod timeouts;
mod wheel;

pub use crate::lb::flow::Direction;
pub use ended::{EndReason, Ended, DEFAULT_ENDED_CAPACITY};
pub use entry::{ENTRY_BYTES_V4, ENTRY_BYTES_V6};
pub use proxy::ProxySeq;
pub use state::{next_state, tcp_flags, StateTable, TcpState};
pub use table::{
    ConnConfig, ConnConfigError, ConnHandle, ConnInfo, ConnStats, ConnTable, InsertError, NewConn,
    MAX_CAPACITY,
};
pub use timeouts::Timeouts;

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod ended_tests;
#[cfg(test)]
mod evict_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v6_tests;
