//! The connection table proper: storage, the two hash indexes, insert/lookup/update/remove and
//! the per-real load counters. Expiry lives in `wheel.rs`, the full-table policy in `evict.rs`.

use std::net::Ipv4Addr;

use super::ended::{EndReason, Ended, EndedRing, DEFAULT_ENDED_CAPACITY};
use super::entry::{Entry, F_NO_OUTPUT, F_OUT_INDEXED, F_USED, NIL};
use super::evict::{is_evictable, list_of, EvictLists};
use super::hash::{hash_in, hash_out};
use super::state::{next_state, StateTable, TcpState};
use super::timeouts::{Timeouts, ICMP_SLOT, UDP_SLOT};
use crate::dpdk::mem::prefetch;
use crate::lb::family::Family;
use crate::lb::flow::Direction;
use crate::lb::types::{ForwardMode, Protocol, RealId, RealLoad};
use crate::tunables;

/// Largest supported capacity (see [`tunables::CONN_MAX_CAPACITY`]).
pub const MAX_CAPACITY: u32 = tunables::CONN_MAX_CAPACITY;

/// Construction parameters of a [`ConnTable`].
#[derive(Clone, Copy, Debug)]
pub struct ConnConfig {
    /// Maximum number of live connections (`conn.max_per_core`).
    pub capacity: u32,
    /// Size of the per-real load array; every `RealId` must be below it.
    pub max_reals: u32,
    pub timeouts: Timeouts,
    /// Seed of the bucket hash. Use a random value in production (hash-flooding resistance);
    /// tests use a fixed one.
    pub hash_seed: u64,
    /// How many wheel slots + entries an insert into a full table that holds no evictable
    /// connection may inspect looking for one already past its expiry (bounded work when full);
    /// also how many templated connections per eviction list it steps over while the ended
    /// ring is full.
    pub evict_probes: u32,
    /// Records the ended-connection ring holds (at least 1). `expire` reports at most this many
    /// connections per call; see [`ConnTable::drain_ended`].
    pub ended_capacity: u32,
    /// Called with each large allocation (address, bytes) before it is first written, e.g. to
    /// ask for transparent huge pages; `None` does nothing.
    pub advise: Option<fn(*const u8, usize) -> bool>,
    /// Whether [`ConnTable::insert_batched`] prefetches the reply-side buckets it will link
    /// later (the CPU hint `dpdk::mem::prefetch`, called directly so it inlines: through a
    /// function pointer the call cost 5 % of a new connection).
    pub prefetch: bool,
    /// New NAT connections [`ConnTable::insert_batched`] may hold out of the reply index
    /// (0: none, every insert links at once).
    pub reply_link_batch: usize,
}

impl ConnConfig {
    /// Defaults for everything but the sizes.
    pub fn new(capacity: u32, max_reals: u32) -> Self {
        ConnConfig {
            capacity,
            max_reals,
            timeouts: Timeouts::default(),
            hash_seed: tunables::CONN_DEFAULT_HASH_SEED,
            evict_probes: tunables::CONN_EVICT_PROBES,
            ended_capacity: DEFAULT_ENDED_CAPACITY,
            advise: None,
            prefetch: false,
            // A small table's reply heads stay in cache: nothing to hide, so no batching.
            reply_link_batch: if capacity >= tunables::CONN_REPLY_LINK_MIN_CAPACITY {
                tunables::CONN_REPLY_LINK_BATCH
            } else {
                0
            },
        }
    }
}

/// Invalid [`ConnConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnConfigError {
    #[error("connection table capacity must be between 1 and {MAX_CAPACITY}, got {0}")]
    Capacity(u32),
    #[error("max_reals must be between 1 and {}", tunables::MAX_REALS)]
    MaxReals,
}

/// A live connection's slot. Valid until the connection is removed, expired or evicted; the
/// worker uses it only between a lookup/insert and the end of that packet's processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle(pub(super) u32);

impl ConnHandle {
    /// The raw slot index.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// What the scheduler decided for a new connection (of family `A`: IPv4 unless named).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewConn<A = Ipv4Addr> {
    pub proto: Protocol,
    pub client: A,
    pub cport: u16,
    pub vip: A,
    pub vport: u16,
    pub real: RealId,
    pub real_addr: A,
    pub rport: u16,
    pub mode: ForwardMode,
    /// The persistence template the connection holds (`TemplateRef::to_raw`), if any: reported
    /// once in an [`Ended`] record when the connection ends. `u32::MAX` is reserved (stored as
    /// none); template indices never reach it.
    pub template: Option<u32>,
}

/// Why an insert did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// Table full and nothing evictable found within the probe budget; counted in `refused_full`.
    #[error("connection table full")]
    Full,
    /// The inbound tuple (or, for NAT, the reply tuple) is already in the table.
    #[error("connection already exists")]
    Exists(ConnHandle),
    /// `real` is not below `max_reals`.
    #[error("real id {0} out of range")]
    UnknownReal(RealId),
}

/// A copy of a live connection, for forwarding and for listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo<A = Ipv4Addr> {
    pub proto: Protocol,
    pub client: A,
    pub cport: u16,
    pub vip: A,
    pub vport: u16,
    pub real: RealId,
    pub real_addr: A,
    pub rport: u16,
    pub mode: ForwardMode,
    pub state: TcpState,
    /// The persistence template it holds (`TemplateRef::to_raw`), if any.
    pub template: Option<u32>,
    /// When it expires if no packet comes, in `now` milliseconds (whole seconds).
    pub expires_ms: u64,
}

/// Event counters (monotonic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    pub inserted: u64,
    /// Inserts refused because the table was full and nothing could be evicted.
    pub refused_full: u64,
    /// Non-established TCP connections evicted to make room.
    pub evicted: u64,
    /// Connections removed because their timeout elapsed.
    pub expired: u64,
    /// Connections removed by [`ConnTable::remove`].
    pub removed: u64,
    /// NAT connections left out of the reply index because an older connection already held
    /// the same reply key (real:port <- client:port); their replies go to the older one.
    pub reply_key_taken: u64,
}

/// The per-worker connection table of one address family (IPv4 unless named; see
/// [`Family`]). See the module documentation for the layout.
pub struct ConnTable<A: Family = Ipv4Addr> {
    pub(super) entries: Vec<Entry<A>>,
    in_heads: Vec<u32>,
    out_heads: Vec<u32>,
    /// Number of buckets in each index (= capacity).
    buckets: u64,
    pub(super) wheel: Vec<u32>,
    pub(super) wheel_mask: u32,
    /// Next second the wheel has to process.
    pub(super) wheel_tick: u32,
    /// Position inside the slot of `wheel_tick`: `SWEEP_START`, `SWEEP_END` or an entry index.
    pub(super) sweep: u32,
    free: u32,
    len: u32,
    pub(super) loads: Vec<RealLoad>,
    timeouts: Timeouts,
    timeout_secs: [u32; 13],
    seed: u64,
    pub(super) evict_probes: u32,
    /// The per-state FIFO lists of evictable connections (`evict.rs`).
    pub(super) evict: EvictLists,
    pub(super) stats: ConnStats,
    /// TCP connections in an opening state (see `proxy.rs`): the SYN-flood pressure.
    pub(super) half_open: u32,
    /// Ended templated connections not yet drained by the worker.
    pub(super) ended: EndedRing,
    /// NAT connections made by [`ConnTable::insert_batched`] and not yet in the reply index
    /// (capacity `ConnConfig::reply_link_batch`, never grown); see [`ConnTable::link_replies`].
    reply_pending: Vec<u32>,
    prefetch: bool,
}

/// Sweep cursor: start at the slot's head.
pub(super) const SWEEP_START: u32 = NIL;
/// Sweep cursor: the slot is done.
pub(super) const SWEEP_END: u32 = NIL - 1;

/// Whole seconds of `now` (saturating far in the future rather than wrapping).
#[inline]
pub(super) fn secs_floor(now_ms: u64) -> u32 {
    (now_ms / 1000).min(u64::from(u32::MAX / 2)) as u32
}

#[inline]
fn secs_ceil(now_ms: u64) -> u32 {
    now_ms.div_ceil(1000).min(u64::from(u32::MAX / 2)) as u32
}

/// Whether a connection counts as active for lc/wlc (see `RealLoad`).
#[inline]
pub(super) fn is_active(proto: u8, state: u8) -> bool {
    proto != Protocol::Tcp as u8 || state == TcpState::Established as u8
}

impl ConnTable {
    /// The IPv4 table: allocates everything up front (see [`ConnTable::allocate`]).
    pub fn new(cfg: &ConnConfig) -> Result<ConnTable, ConnConfigError> {
        ConnTable::allocate(cfg)
    }
}

impl<A: Family> ConnTable<A> {
    /// Allocates everything up front: entries, both bucket arrays, the wheel and the load array.
    /// `ConnTable::<Ipv6Addr>::allocate` makes an IPv6 table.
    pub fn allocate(cfg: &ConnConfig) -> Result<ConnTable<A>, ConnConfigError> {
        if cfg.capacity == 0 || cfg.capacity > MAX_CAPACITY {
            return Err(ConnConfigError::Capacity(cfg.capacity));
        }
        if cfg.max_reals == 0 || cfg.max_reals > tunables::MAX_REALS {
            return Err(ConnConfigError::MaxReals);
        }
        let cap = cfg.capacity as usize;
        // One bucket per connection (load factor <= 1, 8 bytes of index per connection); the
        // count need not be a power of two because `bucket` uses a multiply-shift reduction.
        let buckets = cap;
        use tunables::{
            CONN_WHEEL_CONNS_PER_SLOT as WHEEL_CONNS_PER_SLOT,
            CONN_WHEEL_SLOTS_MAX as WHEEL_SLOTS_MAX, CONN_WHEEL_SLOTS_MIN as WHEEL_SLOTS_MIN,
        };
        let slots = (cap.next_power_of_two() / WHEEL_CONNS_PER_SLOT)
            .clamp(WHEEL_SLOTS_MIN, WHEEL_SLOTS_MAX);
        // Reserve first, advise, then write: advice given before the first touch applies fully.
        let mut entries: Vec<Entry<A>> = Vec::with_capacity(cap);
        let mut in_heads: Vec<u32> = Vec::with_capacity(buckets);
        let mut out_heads: Vec<u32> = Vec::with_capacity(buckets);
        if let Some(advise) = cfg.advise {
            advise(
                entries.as_ptr().cast(),
                cap * std::mem::size_of::<Entry<A>>(),
            );
            advise(in_heads.as_ptr().cast(), buckets * 4);
            advise(out_heads.as_ptr().cast(), buckets * 4);
        }
        entries.extend((0..cap).map(|i| Entry {
            next_in: if i + 1 < cap { (i + 1) as u32 } else { NIL },
            ..Entry::EMPTY
        }));
        in_heads.resize(buckets, NIL);
        out_heads.resize(buckets, NIL);
        Ok(ConnTable {
            entries,
            in_heads,
            out_heads,
            buckets: buckets as u64,
            wheel: vec![NIL; slots],
            wheel_mask: (slots - 1) as u32,
            wheel_tick: 0,
            sweep: SWEEP_START,
            free: 0,
            len: 0,
            loads: vec![RealLoad::default(); cfg.max_reals as usize],
            timeouts: cfg.timeouts,
            timeout_secs: cfg.timeouts.lookup_table(),
            seed: cfg.hash_seed,
            evict_probes: cfg.evict_probes,
            evict: EvictLists::EMPTY,
            stats: ConnStats::default(),
            half_open: 0,
            ended: EndedRing::new(cfg.ended_capacity),
            reply_pending: Vec::with_capacity(cfg.reply_link_batch),
            prefetch: cfg.prefetch,
        })
    }

    /// Maximum number of live connections.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory the table owns (heap allocations plus the struct itself).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.entries.capacity() * std::mem::size_of::<Entry<A>>()
            + (self.in_heads.capacity() + self.out_heads.capacity() + self.wheel.capacity()) * 4
            + self.loads.capacity() * std::mem::size_of::<RealLoad>()
            + self.ended.memory_bytes()
    }

    /// Active/inactive connection counts per `RealId` (for the lc/wlc family of schedulers).
    pub fn loads(&self) -> &[RealLoad] {
        &self.loads
    }

    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// New timeouts apply from the next packet of each connection.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = t;
        self.timeout_secs = t.lookup_table();
    }

    /// Maps a hash to `0..buckets` with Lemire's multiply-shift on its high 32 bits (the
    /// finaliser mixes every key bit into them); `buckets <= 2^30` so the product fits.
    #[inline]
    fn bucket(&self, h: u64) -> usize {
        (((h >> 32) * self.buckets) >> 32) as usize
    }

    #[inline]
    fn bucket_in(
        &self,
        proto: u8,
        client: A::Stored,
        cport: u16,
        vip: A::Stored,
        vport: u16,
    ) -> usize {
        self.bucket(hash_in::<A>(self.seed, proto, client, cport, vip, vport))
    }

    #[inline]
    fn bucket_out(
        &self,
        proto: u8,
        real: A::Stored,
        rport: u16,
        client: A::Stored,
        cport: u16,
    ) -> usize {
        self.bucket(hash_out::<A>(self.seed, proto, real, rport, client, cport))
    }

    #[inline]
    fn find_in(
        &self,
        b: usize,
        proto: u8,
        client: A::Stored,
        cport: u16,
        vip: A::Stored,
        vport: u16,
    ) -> u32 {
        let mut i = self.in_heads[b];
        while let Some(e) = self.entries.get(i as usize) {
            if e.client == client
                && e.vip == vip
                && e.cport == cport
                && e.vport == vport
                && e.proto() == proto
            {
                return i;
            }
            i = e.next_in;
        }
        NIL
    }

    #[inline]
    fn find_out(
        &self,
        b: usize,
        proto: u8,
        real: A::Stored,
        rport: u16,
        client: A::Stored,
        cport: u16,
    ) -> u32 {
        let mut i = self.out_heads[b];
        while let Some(e) = self.entries.get(i as usize) {
            if e.real_addr == real
                && e.client == client
                && e.rport == rport
                && e.cport == cport
                && e.proto() == proto
            {
                return i;
            }
            i = e.next_out;
        }
        NIL
    }

    /// The connection of an inbound packet `client:cport -> vip:vport` (any forwarding mode).
    #[inline]
    pub fn lookup_in(
        &self,
        proto: Protocol,
        client: A,
        cport: u16,
        vip: A,
        vport: u16,
    ) -> Option<ConnHandle> {
        let (p, c, v) = (proto as u8, client.store(), vip.store());
        let i = self.find_in(self.bucket_in(p, c, cport, v, vport), p, c, cport, v, vport);
        (i != NIL).then_some(ConnHandle(i))
    }

    /// Which inbound bucket a `lookup_in` of this key reads. With `bucket_addr`, `bucket_head`
    /// and `entry_addr` the worker prefetches a whole burst's slots before processing it, so the
    /// CPU overlaps the cache misses a lookup would otherwise take one after another.
    #[inline]
    pub fn bucket_index_in(
        &self,
        proto: Protocol,
        client: A,
        cport: u16,
        vip: A,
        vport: u16,
    ) -> usize {
        self.bucket_in(proto as u8, client.store(), cport, vip.store(), vport)
    }

    /// As `bucket_index_in`, for a reply (`lookup_out`).
    #[inline]
    pub fn bucket_index_out(
        &self,
        proto: Protocol,
        real: A,
        rport: u16,
        client: A,
        cport: u16,
    ) -> usize {
        self.bucket_out(proto as u8, real.store(), rport, client.store(), cport)
    }

    /// The address of bucket `b` of the inbound (`reply == false`) or reply index.
    #[inline]
    pub fn bucket_addr(&self, reply: bool, b: usize) -> *const u8 {
        let heads = if reply {
            &self.out_heads
        } else {
            &self.in_heads
        };
        heads
            .get(b)
            .map_or(std::ptr::null(), |h| (h as *const u32).cast())
    }

    /// The first entry of bucket `b` (NIL when empty or out of range).
    #[inline]
    pub fn bucket_head(&self, reply: bool, b: usize) -> u32 {
        let heads = if reply {
            &self.out_heads
        } else {
            &self.in_heads
        };
        heads.get(b).copied().unwrap_or(NIL)
    }

    /// The address of entry `idx` (null when out of range).
    #[inline]
    pub fn entry_addr(&self, idx: u32) -> *const u8 {
        self.entries
            .get(idx as usize)
            .map_or(std::ptr::null(), |e| (e as *const Entry<A>).cast())
    }

    /// The NAT connection of a reply `real:rport -> client:cport`. DR/TUN connections are not in
    /// this index (their replies do not cross the director).
    #[inline]
    pub fn lookup_out(
        &self,
        proto: Protocol,
        real: A,
        rport: u16,
        client: A,
        cport: u16,
    ) -> Option<ConnHandle> {
        let (p, r, c) = (proto as u8, real.store(), client.store());
        let i = self.find_out(
            self.bucket_out(p, r, rport, c, cport),
            p,
            r,
            rport,
            c,
            cport,
        );
        if i != NIL {
            return Some(ConnHandle(i));
        }
        // Not linked yet (`insert_batched`): the few connections of the current burst.
        self.reply_pending
            .iter()
            .copied()
            .find(|&i| {
                let e = &self.entries[i as usize];
                e.real_addr == r
                    && e.client == c
                    && e.rport == rport
                    && e.cport == cport
                    && e.proto() == p
            })
            .map(ConnHandle)
    }

    /// Creates a connection in state NONE (TCP) with the matching timeout, counted against its
    /// real. Call [`ConnTable::on_packet`] for the packet that created it, as for every other.
    /// When the table is full, the policy of `evict.rs` applies (evict the non-established TCP
    /// connection nearest to expiry, else refuse).
    pub fn insert(&mut self, c: &NewConn<A>, now_ms: u64) -> Result<ConnHandle, InsertError> {
        self.link_replies();
        self.insert_with(c, now_ms, false)
    }

    /// As [`ConnTable::insert`], but a NAT connection joins the reply index later, at the next
    /// [`ConnTable::link_replies`] (the worker calls it once per loop; every operation that
    /// reads or unlinks the reply index calls it first, and `lookup_out` sees the connections
    /// still waiting). The reply-side bucket is a cache miss a new connection would otherwise
    /// wait for; here it is prefetched now and read once the burst's other packets are done.
    /// Its duplicate check moves with it: a connection whose reply key an older one holds is
    /// left out of the reply index (`ConnStats::reply_key_taken`), where `insert` refuses it.
    pub fn insert_batched(
        &mut self,
        c: &NewConn<A>,
        now_ms: u64,
    ) -> Result<ConnHandle, InsertError> {
        self.insert_with(c, now_ms, true)
    }

    /// Puts the connections `insert_batched` made into the reply index: first the bucket
    /// heads' entries are prefetched (the heads themselves were at insert), then each is
    /// checked against its chain and linked.
    pub fn link_replies(&mut self) {
        if self.reply_pending.is_empty() {
            return;
        }
        if self.prefetch {
            for &idx in &self.reply_pending {
                let e = &self.entries[idx as usize];
                let b = self.bucket_out(e.proto(), e.real_addr, e.rport, e.client, e.cport);
                prefetch(self.entry_addr(self.out_heads[b]));
            }
        }
        for k in 0..self.reply_pending.len() {
            let idx = self.reply_pending[k];
            let e = self.entries[idx as usize];
            let b = self.bucket_out(e.proto(), e.real_addr, e.rport, e.client, e.cport);
            if self.find_out(b, e.proto(), e.real_addr, e.rport, e.client, e.cport) != NIL {
                self.stats.reply_key_taken += 1;
                continue;
            }
            let slot = &mut self.entries[idx as usize];
            slot.next_out = self.out_heads[b];
            slot.flags |= F_OUT_INDEXED;
            self.out_heads[b] = idx;
        }
        self.reply_pending.clear();
    }

    fn insert_with(
        &mut self,
        c: &NewConn<A>,
        now_ms: u64,
        batched: bool,
    ) -> Result<ConnHandle, InsertError> {
        if c.real as usize >= self.loads.len() {
            return Err(InsertError::UnknownReal(c.real));
        }
        let proto = c.proto as u8;
        let (client, vip, real_addr) = (c.client.store(), c.vip.store(), c.real_addr.store());
        let b_in = self.bucket_in(proto, client, c.cport, vip, c.vport);
        let existing = self.find_in(b_in, proto, client, c.cport, vip, c.vport);
        if existing != NIL {
            return Err(InsertError::Exists(ConnHandle(existing)));
        }
        let nat = c.mode.is_nat();
        let b_out = self.bucket_out(proto, real_addr, c.rport, client, c.cport);
        let defer = nat && batched && self.reply_pending.len() < self.reply_pending.capacity();
        if nat && !defer {
            self.link_replies();
            let existing = self.find_out(b_out, proto, real_addr, c.rport, client, c.cport);
            if existing != NIL {
                return Err(InsertError::Exists(ConnHandle(existing)));
            }
        }
        if self.free == NIL && !self.make_room(secs_floor(now_ms)) {
            self.stats.refused_full += 1;
            return Err(InsertError::Full);
        }
        let idx = self.free;
        let Some(slot) = self.entries.get_mut(idx as usize) else {
            // Unreachable while the free list is consistent; refusing is the safe answer.
            self.stats.refused_full += 1;
            return Err(InsertError::Full);
        };
        self.free = slot.next_in;
        let state = TcpState::None as u8;
        let timeout = self.timeout_secs[match c.proto {
            Protocol::Tcp => state as usize,
            Protocol::Udp => UDP_SLOT,
            Protocol::Icmp => ICMP_SLOT,
        }];
        *slot = Entry {
            client,
            vip,
            real_addr,
            // Below `loads.len()` <= MAX_REALS = 2^16 (checked above and in `allocate`).
            real: c.real as u16,
            cport: c.cport,
            vport: c.vport,
            rport: c.rport,
            state,
            expiry: secs_ceil(now_ms).saturating_add(timeout),
            flags: F_USED
                | match (nat, defer) {
                    (true, false) => F_OUT_INDEXED,
                    (true, true) => 0, // F_OUT_INDEXED once linked (`link_replies`)
                    (false, _) => F_NO_OUTPUT,
                }
                | Entry::<A>::proto_flags(c.proto),
            wslot: Entry::<A>::mode_bits(c.mode),
            template: c.template.unwrap_or(NIL),
            ..Entry::EMPTY
        };
        self.entries[idx as usize].next_in = self.in_heads[b_in];
        self.in_heads[b_in] = idx;
        if defer {
            if self.prefetch {
                prefetch(self.bucket_addr(true, b_out));
            }
            self.reply_pending.push(idx);
        } else if nat {
            self.entries[idx as usize].next_out = self.out_heads[b_out];
            self.out_heads[b_out] = idx;
        }
        self.file(idx);
        self.half_open += u32::from(super::proxy::is_half_open(proto, state));
        let load = &mut self.loads[c.real as usize];
        if is_active(proto, state) {
            load.active += 1;
        } else {
            load.inactive += 1;
        }
        self.len += 1;
        self.stats.inserted += 1;
        Ok(ConnHandle(idx))
    }

    #[inline]
    fn live(&self, h: ConnHandle) -> Option<&Entry<A>> {
        self.entries.get(h.0 as usize).filter(|e| e.used())
    }

    /// Has live connection `h` passed its expiry at `now_ms` (not yet swept)? False for a
    /// handle that is not live. The established path's check, without copying the entry.
    #[inline]
    pub fn is_expired(&self, h: ConnHandle, now_ms: u64) -> bool {
        self.live(h)
            .is_some_and(|e| u64::from(e.expiry) * 1000 <= now_ms)
    }

    /// A copy of the connection, `None` if the handle is not live. Always inlined: returned
    /// through memory (48 bytes written field by field, then copied whole by the caller), it
    /// cost a store-forwarding stall per packet in the engine.
    #[inline(always)]
    pub fn get(&self, h: ConnHandle) -> Option<ConnInfo<A>> {
        // No `map` closure: LLVM kept the closure out of line, returning through memory.
        let e = self.live(h)?;
        Some(ConnInfo {
            proto: Protocol::from_ip_proto(e.proto()).unwrap_or(Protocol::Tcp),
            client: A::load(e.client),
            cport: e.cport,
            vip: A::load(e.vip),
            vport: e.vport,
            real: RealId::from(e.real),
            real_addr: A::load(e.real_addr),
            rport: e.rport,
            mode: e.mode(),
            state: TcpState::from_u8(e.state).unwrap_or_default(),
            template: (e.template != NIL).then_some(e.template),
            expires_ms: u64::from(e.expiry) * 1000,
        })
    }

    /// Every live connection (management listings; walks the whole array, not for the hot path).
    /// The connection in slot `slot` (0..capacity), if live: for listings that walk the table
    /// a few slots at a time.
    pub fn get_slot(&self, slot: u32) -> Option<ConnInfo<A>> {
        self.get(ConnHandle(slot))
    }

    pub fn iter(&self) -> impl Iterator<Item = (ConnHandle, ConnInfo<A>)> + '_ {
        (0..self.entries.len() as u32)
            .filter_map(|i| self.get(ConnHandle(i)).map(|c| (ConnHandle(i), c)))
    }

    /// Accounts one packet of the connection: TCP state transition (IPVS tables, see `state.rs`)
    /// with the real's active/inactive counts following, and the idle timer restarted with the
    /// timeout of the resulting state. Returns the new state (always NONE for UDP/ICMP), or
    /// `None` if the handle is not live.
    #[inline]
    pub fn on_packet(
        &mut self,
        h: ConnHandle,
        dir: Direction,
        tcp_flags: u8,
        now_ms: u64,
    ) -> Option<TcpState> {
        let e = self.entries.get_mut(h.0 as usize).filter(|e| e.used())?;
        let old = e.state;
        let mut changed = false;
        let slot = if e.proto() == Protocol::Tcp as u8 {
            let table = match dir {
                Direction::Out => {
                    e.flags &= !F_NO_OUTPUT;
                    StateTable::Output
                }
                Direction::In if e.flags & F_NO_OUTPUT != 0 => StateTable::InputOnly,
                Direction::In => StateTable::Input,
            };
            let cur = TcpState::from_u8(old).unwrap_or_default();
            let new = next_state(cur, table, tcp_flags) as u8;
            if new != old {
                changed = true;
                self.set_state(h.0, new);
            }
            new as usize
        } else if e.proto() == Protocol::Udp as u8 {
            UDP_SLOT
        } else {
            ICMP_SLOT
        };
        let timeout = self.timeout_secs.get(slot).copied().unwrap_or(1);
        self.refresh(h.0, timeout, now_ms, changed);
        TcpState::from_u8(self.entries[h.0 as usize].state)
    }

    /// Moves live entry `idx` to TCP state `new`: the half-open count and its real's
    /// active/inactive counts follow (the expiry and filing are the caller's: `refresh`).
    #[inline]
    pub(super) fn set_state(&mut self, idx: u32, new: u8) {
        let e = &mut self.entries[idx as usize];
        let old = std::mem::replace(&mut e.state, new);
        self.half_open = super::proxy::half_open_after(self.half_open, old, new);
        let (was, now_active, real) =
            (is_active(e.proto(), old), is_active(e.proto(), new), e.real);
        if was != now_active {
            if let Some(l) = self.loads.get_mut(real as usize) {
                if now_active {
                    l.inactive = l.inactive.saturating_sub(1);
                    l.active += 1;
                } else {
                    l.active = l.active.saturating_sub(1);
                    l.inactive += 1;
                }
            }
        }
    }

    /// Restarts the idle timer with the timeout of the current state, without a state change.
    pub fn touch(&mut self, h: ConnHandle, now_ms: u64) -> bool {
        let Some(e) = self.live(h) else { return false };
        let slot = match Protocol::from_ip_proto(e.proto()) {
            Some(Protocol::Udp) => UDP_SLOT,
            Some(Protocol::Icmp) => ICMP_SLOT,
            _ => e.state as usize,
        };
        let timeout = self.timeout_secs.get(slot).copied().unwrap_or(1);
        self.refresh(h.0, timeout, now_ms, false);
        true
    }

    /// Sets the expiry. An evictable connection moves to the tail of its state's list
    /// (`evict.rs`), which keeps the list in expiry order. The wheel is lazy: an entry stays
    /// filed under an earlier second and is re-filed when the wheel reaches it. It is re-filed
    /// now only if the expiry moves earlier (the wheel must never reach it late), the state
    /// changed (so that entries are filed close to their real expiry) or it comes off a list.
    #[inline]
    pub(super) fn refresh(&mut self, idx: u32, timeout: u32, now_ms: u64, state_changed: bool) {
        let new = secs_ceil(now_ms).saturating_add(timeout);
        let e = &mut self.entries[idx as usize];
        let old = e.expiry;
        e.expiry = new;
        if is_evictable(e) {
            self.list_requeue(idx);
        } else if (new < old || state_changed || list_of(e.wslot()).is_some())
            && (new & self.wheel_mask) != u32::from(e.wslot())
        {
            self.wheel_unlink(idx);
            self.wheel_link(idx);
        }
    }

    /// Removes a connection now (for example when its real is removed without draining).
    /// Returns false if the handle is not live, and also (removing nothing) if the connection
    /// holds a template and the ended ring is full: drain it ([`ConnTable::drain_ended`]) and
    /// retry. That never happens when the worker drains after every call that ends connections.
    pub fn remove(&mut self, h: ConnHandle) -> bool {
        if self.live(h).is_none() || !self.can_end(h.0) {
            return false;
        }
        self.release(h.0, EndReason::Removed);
        self.stats.removed += 1;
        true
    }

    /// Hands every ended connection that held a template to `f`, oldest first, exactly once, and
    /// empties the ring. No allocation.
    ///
    /// The ring holds `ConnConfig::ended_capacity` records and is never overwritten: while it is
    /// full, `expire` stops early (leaving due templated connections for its next call),
    /// a full-table `insert` does not evict templated connections, and `remove` of a templated
    /// connection is refused. Calling this after every `insert`, `remove` and `expire` means
    /// the ring is empty whenever one of them starts, so none of that ever happens: `insert` and
    /// `remove` end at most one connection and `expire` at most `ended_capacity` per call.
    #[inline]
    pub fn drain_ended(&mut self, f: impl FnMut(Ended)) {
        self.ended.drain(f);
    }

    /// Records waiting in the ended ring.
    pub fn ended_pending(&self) -> usize {
        self.ended.len()
    }

    /// How many records the ended ring holds.
    pub fn ended_capacity(&self) -> usize {
        self.ended.capacity()
    }

    /// Whether entry `idx` may end now without losing its report.
    #[inline]
    pub(super) fn can_end(&self, idx: u32) -> bool {
        self.entries
            .get(idx as usize)
            .is_some_and(|e| e.template == NIL || self.ended.has_room())
    }

    /// Unlinks a live entry from every index and list, uncounts it, reports it if it held a
    /// template and frees its slot. Callers check [`ConnTable::can_end`] first.
    pub(super) fn release(&mut self, idx: u32, reason: EndReason) {
        self.link_replies();
        self.wheel_unlink(idx);
        let e = self.entries[idx as usize];
        if e.template != NIL {
            let queued = self.ended.push(Ended {
                real: RealId::from(e.real),
                template: Some(e.template),
                reason,
            });
            debug_assert!(queued, "ended ring overflow: caller skipped can_end");
        }
        let b = self.bucket_in(e.proto(), e.client, e.cport, e.vip, e.vport);
        unlink_chain(&mut self.entries, &mut self.in_heads[b], idx, |e| {
            &mut e.next_in
        });
        if e.flags & F_OUT_INDEXED != 0 {
            let b = self.bucket_out(e.proto(), e.real_addr, e.rport, e.client, e.cport);
            unlink_chain(&mut self.entries, &mut self.out_heads[b], idx, |e| {
                &mut e.next_out
            });
        }
        self.half_open -= u32::from(super::proxy::is_half_open(e.proto(), e.state));
        if let Some(l) = self.loads.get_mut(e.real as usize) {
            if is_active(e.proto(), e.state) {
                l.active = l.active.saturating_sub(1);
            } else {
                l.inactive = l.inactive.saturating_sub(1);
            }
        }
        self.entries[idx as usize] = Entry {
            next_in: self.free,
            ..Entry::EMPTY
        };
        self.free = idx;
        self.len -= 1;
    }
}

/// Removes `idx` from a singly linked hash chain starting at `head` (chains are short: O(1)
/// expected).
fn unlink_chain<A: Family>(
    entries: &mut [Entry<A>],
    head: &mut u32,
    idx: u32,
    next: impl Fn(&mut Entry<A>) -> &mut u32,
) {
    if *head == idx {
        *head = *next(&mut entries[idx as usize]);
        return;
    }
    let mut cur = *head;
    while cur != NIL {
        let n = *next(&mut entries[cur as usize]);
        if n == idx {
            let after = *next(&mut entries[idx as usize]);
            *next(&mut entries[cur as usize]) = after;
            return;
        }
        cur = n;
    }
}
