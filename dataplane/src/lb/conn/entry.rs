//! The fixed-size connection record (52 bytes for IPv4, 88 for IPv6) and its flag bits.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::lb::family::Family;
use crate::lb::types::{ForwardMode, RealId};

/// "No entry" in every u32 link (hash chains, wheel lists, free list).
pub(super) const NIL: u32 = u32::MAX;

/// The entry is a live connection (otherwise it is on the free list).
pub(super) const F_USED: u8 = 1;
/// The entry is linked in the reply (real -> client) index: NAT connections only.
pub(super) const F_OUT_INDEXED: u8 = 2;
/// No reply seen yet on a DR/TUN connection: TCP state uses the input-only table (IPVS's
/// `IP_VS_CONN_F_NOOUTPUT`).
pub(super) const F_NO_OUTPUT: u8 = 4;
/// Installed from a sync peer and not touched by a packet here since: this node's refresh and
/// resync walks do not send it back (install.rs).
pub(super) const F_SYNCED: u8 = 8;

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
    pub real: RealId,
    pub cport: u16,
    pub vport: u16,
    pub rport: u16,
    /// IP protocol number.
    pub proto: u8,
    /// `TcpState` discriminant.
    pub state: u8,
    /// Expiry in whole seconds of `now`: the connection is dead once `now_secs >= expiry`.
    pub expiry: u32,
    /// Next entry in the same inbound bucket; for a free entry, the next free entry.
    pub next_in: u32,
    /// Next entry in the same reply bucket (NAT only).
    pub next_out: u32,
    /// Timer wheel list links.
    pub wnext: u32,
    pub wprev: u32,
    pub flags: u8,
    /// `ForwardMode` as u8 (see [`mode_to_u8`]).
    pub mode: u8,
    /// The wheel slot the entry is filed in (the wheel has at most 4096 slots).
    pub wslot: u16,
    /// The persistence template the connection holds (`TemplateRef::to_raw`), `NIL` if none.
    /// Reported in an `Ended` record when the connection goes away.
    pub template: u32,
}

/// Bytes of one IPv4 entry: the IPv4 path's memory budget, fixed.
pub const ENTRY_BYTES_V4: usize = 52;
/// Bytes of one IPv6 entry.
pub const ENTRY_BYTES_V6: usize = 88;

const _: () = assert!(std::mem::size_of::<Entry<Ipv4Addr>>() == ENTRY_BYTES_V4);
// `wslot` is a u16 and slots are found by masking: the wheel sizes must fit and be powers of two.
const _: () = {
    use crate::tunables::{
        CONN_WHEEL_SLOTS_MAX as WHEEL_SLOTS_MAX, CONN_WHEEL_SLOTS_MIN as WHEEL_SLOTS_MIN,
    };
    assert!(WHEEL_SLOTS_MAX <= 1 << 16 && WHEEL_SLOTS_MIN <= WHEEL_SLOTS_MAX);
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
        proto: 0,
        state: 0,
        expiry: 0,
        next_in: NIL,
        next_out: NIL,
        wnext: NIL,
        wprev: NIL,
        flags: 0,
        mode: 0,
        wslot: 0,
        template: NIL,
    };

    #[inline]
    pub fn used(&self) -> bool {
        self.flags & F_USED != 0
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
