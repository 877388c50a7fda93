//! The fixed-size connection record (52 bytes for IPv4, 88 for IPv6) and its flag bits.
//!
//! To keep the SYN proxy's sequence shift (`seq`, 4 bytes) inside those sizes, three small
//! values share words: the real id is stored as u16 (`MAX_REALS` is 2^16), the protocol as a
//! 2-bit code in `flags`, the forwarding mode in the top bits of `wslot` (at most 4096 slots).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::lb::family::Family;
use crate::lb::types::{ForwardMode, Protocol};

/// "No entry" in every u32 link (hash chains, wheel lists, free list).
pub(super) const NIL: u32 = u32::MAX;

/// The entry is a live connection (otherwise it is on the free list).
pub(super) const F_USED: u8 = 1;
/// The entry is linked in the reply (real -> client) index: NAT connections only.
pub(super) const F_OUT_INDEXED: u8 = 2;
/// No reply seen yet on a DR/TUN connection: TCP state uses the input-only table (IPVS's
/// `IP_VS_CONN_F_NOOUTPUT`).
pub(super) const F_NO_OUTPUT: u8 = 4;
/// SYN proxy: the connection waits for its real's SYN-ACK; `seq` holds the initial sequence
/// number the proxy gave the client (its cookie).
pub(super) const F_PROXY_OPENING: u8 = 8;
/// SYN proxy: the real side is open; `seq` holds the shift (client-side ISN - real's ISN).
pub(super) const F_PROXY_SHIFT: u8 = 16;
/// Bits 5-6 of `flags`: the protocol's code (see [`proto_code`]).
const PROTO_SHIFT: u8 = 5;
const PROTO_MASK: u8 = 3 << PROTO_SHIFT;
/// Bits 14-15 of `wslot`: the forwarding mode ([`mode_to_u8`]); bits 0-13: the slot.
const MODE_SHIFT: u16 = 14;
const SLOT_MASK: u16 = (1 << MODE_SHIFT) - 1;
/// Installed from a sync peer and not touched by a packet here since: this node's refresh and
/// resync walks do not send it back (install.rs).
pub(super) const F_SYNCED: u8 = 128;

/// One connection. Addresses in the family's stored form (host-order u32 for IPv4, four
/// host-order u32 for IPv6), ports host-order u16. `repr(C)`: exactly 52 bytes for IPv4 so that,
/// with the two u32 bucket arrays (8 bytes per connection), a connection costs at most 64 bytes;
/// 88 bytes for IPv6 (96 with the index: issue 11's budget).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Entry<A: Family> {
    pub client: A::Stored,
    pub vip: A::Stored,
    pub real_addr: A::Stored,
    /// The real's id (`RealId`, below `MAX_REALS` = 2^16: the table refuses larger).
    pub real: u16,
    pub cport: u16,
    pub vport: u16,
    pub rport: u16,
    /// `TcpState` discriminant.
    pub state: u8,
    /// `F_*` bits and the protocol code (read it with [`Entry::proto`]).
    pub flags: u8,
    /// The wheel slot the entry is filed in (the wheel has at most 4096 slots) and, in the top
    /// two bits, the forwarding mode: read them with [`Entry::wslot`] and [`Entry::mode`].
    pub wslot: u16,
    /// Expiry in whole seconds of `now`: the connection is dead once `now_secs >= expiry`.
    pub expiry: u32,
    /// Next entry in the same inbound bucket; for a free entry, the next free entry.
    pub next_in: u32,
    /// Next entry in the same reply bucket (NAT only).
    pub next_out: u32,
    /// Timer wheel list links.
    pub wnext: u32,
    pub wprev: u32,
    /// The persistence template the connection holds (`TemplateRef::to_raw`), `NIL` if none.
    /// Reported in an `Ended` record when the connection goes away.
    pub template: u32,
    /// SYN proxy: the client-side ISN while opening, then the sequence shift (see the
    /// `F_PROXY_*` flags); 0 otherwise.
    pub seq: u32,
}

/// Bytes of one IPv4 entry: the IPv4 path's memory budget, fixed.
pub const ENTRY_BYTES_V4: usize = 52;
/// Bytes of one IPv6 entry.
pub const ENTRY_BYTES_V6: usize = 88;

const _: () = assert!(std::mem::size_of::<Entry<Ipv4Addr>>() == ENTRY_BYTES_V4);
// Real ids are stored as u16.
const _: () = assert!(crate::tunables::MAX_REALS <= 1 << 16);
// `wslot` keeps the slot in 14 bits and slots are found by masking: the wheel sizes must fit and be powers of two.
const _: () = {
    use crate::tunables::{
        CONN_WHEEL_SLOTS_MAX as WHEEL_SLOTS_MAX, CONN_WHEEL_SLOTS_MIN as WHEEL_SLOTS_MIN,
    };
    assert!(WHEEL_SLOTS_MAX <= 1 << 14 && WHEEL_SLOTS_MIN <= WHEEL_SLOTS_MAX);
    assert!(WHEEL_SLOTS_MAX.is_power_of_two() && WHEEL_SLOTS_MIN.is_power_of_two());
};
const _: () = assert!(std::mem::size_of::<Entry<Ipv6Addr>>() == ENTRY_BYTES_V6);

impl<A: Family> Entry<A> {
    /// A free entry.
    pub const EMPTY: Entry<A> = Entry {
        client: A::STORED_ZERO,
        vip: A::STORED_ZERO,
        real_addr: A::STORED_ZERO,
        real: 0,
        cport: 0,
        vport: 0,
        rport: 0,
        state: 0,
        flags: 0,
        expiry: 0,
        next_in: NIL,
        next_out: NIL,
        wnext: NIL,
        wprev: NIL,
        wslot: 0,
        template: NIL,
        seq: 0,
    };

    #[inline]
    pub fn used(&self) -> bool {
        self.flags & F_USED != 0
    }

    /// The IP protocol number.
    #[inline]
    pub fn proto(&self) -> u8 {
        match (self.flags & PROTO_MASK) >> PROTO_SHIFT {
            0 => Protocol::Tcp as u8,
            1 => Protocol::Udp as u8,
            _ => Protocol::Icmp as u8,
        }
    }

    /// The protocol bits of `flags` for `p`.
    #[inline]
    pub fn proto_flags(p: Protocol) -> u8 {
        proto_code(p) << PROTO_SHIFT
    }

    #[inline]
    pub fn mode(&self) -> ForwardMode {
        mode_from_u8((self.wslot >> MODE_SHIFT) as u8)
    }

    #[inline]
    pub fn wslot(&self) -> u16 {
        self.wslot & SLOT_MASK
    }

    /// Files the entry under wheel slot `slot`, keeping its mode.
    #[inline]
    pub fn set_wslot(&mut self, slot: u16) {
        self.wslot = (self.wslot & !SLOT_MASK) | (slot & SLOT_MASK);
    }

    /// The `wslot` word of a new entry of mode `m` (slot 0 until filed).
    #[inline]
    pub fn mode_bits(m: ForwardMode) -> u16 {
        u16::from(mode_to_u8(m)) << MODE_SHIFT
    }
}

/// A protocol's 2-bit code in `flags`.
#[inline]
fn proto_code(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Icmp => 2,
    }
}

pub(super) fn mode_to_u8(m: ForwardMode) -> u8 {
    match m {
        ForwardMode::Nat => 0,
        ForwardMode::Dr => 1,
        ForwardMode::Tun => 2,
        ForwardMode::Local => 3,
    }
}

pub(super) fn mode_from_u8(v: u8) -> ForwardMode {
    match v {
        1 => ForwardMode::Dr,
        2 => ForwardMode::Tun,
        3 => ForwardMode::Local,
        _ => ForwardMode::Nat,
    }
}
