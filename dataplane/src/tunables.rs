//! The appliance's tunables in one documented place (the way Katran keeps its constants): each
//! says what it bounds and why it has its value. Grouped by the part of the appliance they
//! size; configuration keys (`conn.max_per_core`, timeouts, ...) are not here, only the fixed
//! choices behind them.

use std::time::Duration;

// ============================================================================================
// Connection table (lb/conn/)
// ============================================================================================

/// Largest connection table capacity per worker. Keeps every slot index, the `NIL` link
/// (`u32::MAX`), the sweep cursors just below it, and the bucket reduction
/// `(hash >> 32) * buckets` inside their integer types; 2^30 connections (60 GiB of IPv4
/// entries) is far beyond one worker's memory anyway.
pub const CONN_MAX_CAPACITY: u32 = 1 << 30;

/// How many wheel slots + entries an insert into a full table that holds no evictable
/// (half-open or closing TCP) connection may inspect looking for one already past its expiry;
/// also how many templated connections per eviction list it steps over while the ended ring is
/// full. Evictable connections themselves are found in constant work (`lb/conn/evict.rs`). 64
/// bounds the cost of a refused insert to a few hundred nanoseconds of cache misses.
pub const CONN_EVICT_PROBES: u32 = 64;

/// Records the ended-connection ring holds (connections with a persistence template that
/// ended and wait for the worker to release the template). `expire` ends at most this many
/// templated connections per call; the worker drains after every call, and its expiry
/// budget per loop is of the same order, so 64 never holds back an expiry in practice.
pub const CONN_ENDED_CAPACITY: u32 = 64;

/// New NAT connections a worker's table holds out of the reply index until the end of the loop
/// (`ConnTable::insert_batched`), so that their reply-side buckets, prefetched at insert, are
/// read after the burst's other packets instead of stalling each new connection. Two RX bursts'
/// worth; past it an insert links at once.
pub const CONN_REPLY_LINK_BATCH: usize = 64;
/// Tables smaller than this (connections per worker) link at once: 4 bytes of reply heads per
/// connection stay in the caches below 64 K, so there is no miss to hide.
pub const CONN_REPLY_LINK_MIN_CAPACITY: u32 = 1 << 16;

/// Connections per timer-wheel slot the wheel is sized for: capacity / 16 slots (a power
/// of two), so a full table has about 16 entries per one-second slot and the wheel costs
/// 0.25 bytes per connection.
pub const CONN_WHEEL_CONNS_PER_SLOT: usize = 16;

/// Fewest timer-wheel slots (one-second each): a small table still spans a minute, the
/// shortest common timeout (`tcp_syn_recv`, `icmp`), so those entries are filed exactly.
pub const CONN_WHEEL_SLOTS_MIN: usize = 64;

/// Most timer-wheel slots: 4096 s (over an hour, beyond every default timeout but the
/// established one) and within the entry's u16 slot field; longer expiries are visited once
/// per revolution.
pub const CONN_WHEEL_SLOTS_MAX: usize = 4096;

/// The bucket-hash seed `ConnConfig::new` uses. Fixed so that tests and benchmarks are
/// reproducible; the runtime replaces it with a random value per table (hash-flooding
/// resistance).
pub const CONN_DEFAULT_HASH_SEED: u64 = 0x6C62_2D63_6F6E_6E31;

// ============================================================================================
// Neighbour resolution (mgmt/neighbours.rs)
// ============================================================================================
// How the management thread keeps next hops resolved by ARP.

/// An unresolved next hop is asked again after this long. One second is what the kernel's
/// ARP does (`retrans_time_ms` 1000): a real server that comes up is found within about a
/// second, and an absent one costs one request a second.
pub const ARP_RETRY: Duration = Duration::from_secs(1);
/// A resolved next hop is asked again after this long, so an entry stays fresh when a real
/// server's MAC changes (a replaced NIC, a VRRP pair on the real side) even if it never sends
/// a gratuitous ARP; the kernel's `base_reachable_time` is of the same order (30 s).
pub const ARP_REFRESH: Duration = Duration::from_secs(30);
/// A learned entry not confirmed by any ARP packet for this long is forgotten (and asked
/// again when needed). Ten refresh periods: a next hop has missed ten requests in a row.
pub const NEIGHBOUR_STALE: Duration = Duration::from_secs(300);

// ============================================================================================
// DPDK I/O (dpdk/)
// ============================================================================================

/// The largest burst a worker moves at once (RX, TX, rings): the capacity of a `Burst`, and
/// so the upper limit of `workers.burst`. 256 is 8x DPDK's usual 32: room for large bursts
/// on fast NICs while a `Burst` (one pointer per packet) stays at 2 KiB on the stack.
pub const MAX_BURST: usize = 256;

// ============================================================================================
// Start-up and the runtime's pools and rings (runtime/)
// ============================================================================================

/// Per-lcore mbuf cache of the packet pool. DPDK's recommended maximum
/// (`RTE_MEMPOOL_CACHE_MAX_SIZE` is 512); 256 covers a worker's RX burst plus its TX staging
/// without touching the shared ring.
pub const MEMPOOL_CACHE: u32 = 256;

/// Mbufs added to the automatically sized pool beyond everything that can hold one at once
/// (runtime/mbufs.rs: descriptors, bursts, caches, handoff and kernel rings, ARP queues): a
/// margin for what a PMD keeps beyond its descriptors (af_xdp's fill ring, pcap's reader) and
/// for the management thread's own frames (ARP requests, gratuitous ARP).
pub const MEMPOOL_SPARE: u32 = 4096;

/// Real ids a worker's per-real arrays (load counts, traffic, published figures: about 100
/// bytes per real per worker) can hold. Ids are never reused across reloads, so this bounds the
/// reals added over the appliance's life.
pub const MAX_REALS: u32 = 1 << 16;

/// Slots of each worker-to-worker handoff ring (a power of two for rte_ring), at most. 4096
/// packets absorb a burst from every queue of a busy peer for several loop iterations.
pub const HANDOFF_RING: u32 = 4096;

/// Mbufs all handoff rings together may hold: with n workers there are n(n-1) rings, so each
/// gets `HANDOFF_MBUFS / (n(n-1))` slots (a power of two, between [`HANDOFF_RING_MIN`] and
/// [`HANDOFF_RING`]): two workers keep 4096 each, four get 512. The packet pool holds every
/// ring full (runtime/mbufs.rs), so this keeps a many-worker pool from growing with n^2.
pub const HANDOFF_MBUFS: u32 = 8192;
/// The smallest handoff ring: two full bursts of `MAX_BURST`.
pub const HANDOFF_RING_MIN: u32 = 512;

/// Slots of each worker's ring to the management thread (packets for the kernel) and of the
/// management thread's ring to worker 0 (the kernel's output, ARP it builds). The exception
/// path carries control traffic only (health-check replies, ssh, ARP), so 1024 is ample.
pub const KERNEL_RING: u32 = 1024;

/// Neighbour events a worker can queue for the management thread (ARP senders seen, next hops
/// missing). Losing one only delays learning: the management thread also asks on its own.
pub const NEIGH_EVENT_QUEUE: usize = 4096;

/// Connection records a worker can queue for one `ctl conns` listing before it waits for the
/// control thread to drain them (the listing stays bounded in memory).
pub const CONN_DUMP_QUEUE: usize = 8192;

/// How often the management thread runs its tick while workers run: the latency of the
/// exception path, ARP and control commands, at the cost of waking 1000 times a second.
pub const MGMT_TICK: Duration = Duration::from_millis(1);

// ============================================================================================
// Management thread (mgmt/, except neighbour resolution)
// ============================================================================================

/// Packets the management thread takes from a worker's kernel ring per dequeue, repeated until
/// empty. Half a default burst keeps the exception interface's queue from overflowing.
pub const MGMT_KERNEL_BURST: usize = 64;

/// Frames read from an exception interface per receive, repeated until empty.
pub const MGMT_TAP_BURST: usize = 32;

/// How often the config file's modification time is looked at (`control.watch_config`).
pub const CONFIG_WATCH_EVERY: Duration = Duration::from_secs(1);

// ============================================================================================
// Control socket (mgmt/control.rs) and its client (ctl/)
// ============================================================================================

/// How often the control and metrics threads look at their stop flag when idle: the delay of
/// a shutdown, at the cost of 20 wake-ups a second.
pub const CONTROL_POLL: Duration = Duration::from_millis(50);

/// Rates (`ctl list --rate`) are measured over samples this far apart, as `ipvsadm --rate`.
pub const RATE_INTERVAL: Duration = Duration::from_secs(1);

/// A control client that sends nothing for this long is dropped (its thread ends).
pub const CONTROL_CLIENT_IDLE: Duration = Duration::from_secs(10);

/// A control request must arrive whole (up to its newline) within this of its first byte; a
/// client that sends part of one and waits is told so and dropped, freeing its slot.
pub const CONTROL_REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// Control clients served at once, each on its own short-lived thread: bounds the threads a
/// local user can make the appliance start.
pub const CONTROL_MAX_CLIENTS: usize = 8;

/// Longest control request line accepted (a request is a small JSON object).
pub const CONTROL_MAX_LINE: u64 = 64 * 1024;

/// How long a connection listing waits for the workers before it answers partial.
pub const CONN_DUMP_WAIT: Duration = Duration::from_secs(2);

/// How long a change (weight, reload) waits for the management thread to take and apply it.
pub const CONTROL_APPLY_WAIT: Duration = Duration::from_secs(5);

/// `dataplane ctl`: how long it waits for the answer. Longer than `CONN_DUMP_WAIT` and
/// `CONTROL_APPLY_WAIT` together, so the appliance's own bound answers first.
pub const CTL_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// `dataplane ctl`: how long sending the request may take.
pub const CTL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

// ============================================================================================
// Metrics endpoint (mgmt/metrics/)
// ============================================================================================

/// How often the idle metrics listener looks for a client and at its stop flag.
pub const METRICS_POLL: Duration = Duration::from_millis(50);

/// Read and write timeout of one metrics client. Clients are served one at a time, so this is
/// also the longest one idle client delays the next scrape (Prometheus's default scrape
/// timeout is 10 s).
pub const METRICS_CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest request head read from a metrics client; a longer one is answered 400.
pub const METRICS_MAX_REQUEST: usize = 8192;

// ============================================================================================
// Health checks (mgmt/health/)
// ============================================================================================

/// Probe threads running at once (each probe is one blocking connect/request/command): bounds
/// the threads health checking can start however many reals are configured.
pub const HEALTH_MAX_PROBERS: usize = 64;

/// The checker's longest sleep between looks at its schedule and commands.
pub const HEALTH_MAX_WAIT: Duration = Duration::from_secs(1);

/// Bytes of an HTTP check's response read at most; an expected body substring must occur
/// within them.
pub const HEALTH_MAX_RESPONSE: usize = 64 * 1024;

/// A command check's first and longest pause between looks at the running command: quick
/// commands are seen at once, slow ones cost at most 50 wake-ups a second.
pub const HEALTH_COMMAND_POLL_MIN: Duration = Duration::from_millis(1);
pub const HEALTH_COMMAND_POLL_MAX: Duration = Duration::from_millis(20);

// ============================================================================================
// Balancing state off the connection table (lb/, except lb/conn, lb/route.rs, lb/neigh.rs)
// ============================================================================================

/// Persistence table: slots probed at most per operation (16 slots of 32 bytes: 8 cache
/// lines). A full neighbourhood schedules without persistence rather than search further.
pub const PERSIST_PROBE_LIMIT: usize = 16;

/// sh and dh schedulers: log2 of their bucket table size, as IPVS's default
/// `CONFIG_IP_VS_SH_TAB_BITS` / `CONFIG_IP_VS_DH_TAB_BITS` (256 buckets).
pub const HASH_SCHED_TAB_BITS: u32 = 8;

/// mh (Maglev) scheduler: the default lookup table size (`mh_table_size`), a prime: the
/// Maglev paper's production size, 100 x a few hundred reals, which keeps shares even.
pub const DEFAULT_MH_TABLE_SIZE: u32 = 65537;

/// mh: the largest table accepted (16 M entries of 4 bytes = 64 MiB per service; keeps a
/// build well under a second).
pub const MAX_MH_TABLE_SIZE: u32 = 1 << 24;

/// mh: rehashes tried when the looked-up entry's real is unavailable, before the last resort
/// (picking among the available reals by hash).
pub const MH_FALLBACK_REHASHES: u64 = 8;

// ============================================================================================
// Config defaults and limits (config/): what `dataplane check` accepts
// ============================================================================================

/// `eal.memory_mb` default: the packet pool, rings and tables of a small appliance.
pub const DEFAULT_MEMORY_MB: u32 = 512;

/// `workers.burst` default: DPDK's customary burst (its examples and testpmd use 32). At
/// most `MAX_BURST`.
pub const DEFAULT_BURST: u16 = 32;

/// `ports[].rx_desc` / `tx_desc` default: descriptors per queue; 1024 hold ~70 us of 64-byte
/// packets at 10 G line rate, time for a worker busy elsewhere to come back.
pub const DEFAULT_DESCRIPTORS: u16 = 1024;

/// Descriptors per queue accepted: most PMDs refuse fewer than 32 or more than 16384.
pub const MIN_DESCRIPTORS: u16 = 32;
pub const MAX_DESCRIPTORS: u16 = 16384;

/// `conn.max_per_core` default: a million connections per worker (60 MiB).
pub const DEFAULT_CONNS_PER_CORE: u32 = 1 << 20;

/// `conn.max_per_core_v6` default: IPv6 connections per worker, a quarter of the IPv4 default
/// (96 bytes each: 24 MiB), allocated only when a port has an IPv6 address.
pub const DEFAULT_CONNS_PER_CORE_V6: u32 = 1 << 18;

/// The IPv4 ports NAT64 connections take on the appliance's own address (RFC 6146 binding),
/// below the kernel's ephemeral range (32768-60999), so replies to the kernel's own sockets
/// (health checks) never meet a binding; each worker takes the ports `p % workers == id`.
pub const NAT64_PORT_FIRST: u16 = 1024;
pub const NAT64_PORT_END: u16 = 32768;
/// Ports a new NAT64 connection may try before it is refused (bounded work when nearly full).
pub const NAT64_PORT_PROBES: usize = 64;

/// `conn.max_templates_per_core` default (persistence templates).
pub const DEFAULT_TEMPLATES_PER_CORE: u32 = 1 << 16;

/// `conn.max_per_core` accepted: the table is preallocated (60 bytes per entry), so the top
/// (2^27 = 7.5 GiB per worker) is what a large server can hold.
pub const MIN_CONNS_PER_CORE: u32 = 1024;
pub const MAX_CONNS_PER_CORE: u32 = 1 << 27;

/// `conn.max_templates_per_core` accepted (persistence templates, 32 bytes each).
pub const MIN_TEMPLATES_PER_CORE: u32 = 256;
pub const MAX_TEMPLATES_PER_CORE: u32 = 1 << 24;

/// `conn.timeouts.*` accepted: at least 1 s (the timer's resolution), at most a week.
pub const MIN_CONN_TIMEOUT: Duration = Duration::from_secs(1);
pub const MAX_CONN_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// `persistence.timeout` default: 360 s, as in the LVS walkthrough (`ipvsadm -p` alone gives
/// 300 s).
pub const DEFAULT_PERSISTENCE_TIMEOUT: Duration = Duration::from_secs(360);

// ============================================================================================
// Workers: the engine and the LB loop (worker/)
// ============================================================================================
/// How long the runtime waits at start-up for every worker to be ready (building a large
/// connection table on a loaded machine takes seconds; a worker that never arrives is a
/// fault, reported instead of hanging).
pub const READY_LIMIT: Duration = Duration::from_secs(120);

/// How often a worker waiting at the start gate looks whether it opened: start-up only,
/// short enough that the ports' first packets find every worker polling.
pub const GATE_POLL: Duration = Duration::from_micros(100);

/// Packets of a burst whose connection-table bucket and entry the warm-up prefetches
/// before processing. Covers the largest usual burst (32) twice over; past that the
/// first lines would be evicted again before use (64 x 2 lines = 8 KiB of L1).
pub const WARM_MAX: usize = 64;
// The warm-up marks its IPv4 packets in a u64 (`Engine::warmed_v4`).
const _: () = assert!(WARM_MAX <= 64);

/// Connections the timer wheel may expire per loop: bounded work per iteration, never a stall
/// when many expire at once. Each expiry unlinks a cold entry (a few cache misses), and a packet
/// that arrives meanwhile waits: 64 a loop measured 19-31 us per loop (p99.9-p99.99) while a
/// million connections expired (docs/perf.md, "expiry cells"); 16 bounds it near a quarter of
/// that. A loop that used its whole budget does not back off (worker/lb), and at hundreds of
/// thousands of loops a second 16 still retires millions of connections a second.
pub const EXPIRE_BUDGET: usize = 16;

/// How often (ms) a worker publishes its per-real figures for `ctl` and the metrics: ten
/// times a second is live enough for an operator and costs one pass over the reals.
pub const PUBLISH_MS: u64 = 100;

/// Connection-table slots a listing (`ctl conns`) walks per loop: keeps a listing of a
/// million-entry table from delaying packets (about a microsecond of work per loop).
pub const DUMP_SLOTS_PER_LOOP: u32 = 1024;

/// Packets a worker parks while their next hop's MAC is resolved (preallocated). ARP
/// answers within milliseconds, so only the first packets of a new next hop wait; 64 holds
/// two bursts without growing the per-worker footprint.
pub const PENDING_PACKETS: usize = 64;

/// Packets parked for one next hop at most: a flood towards a neighbour that never answers
/// (a NAT real that is down, a spoofed on-link destination) holds at most this many and
/// leaves the rest of the queue to other next hops (the kernel's per-neighbour `unres_qlen`
/// idea). A quarter of [`PENDING_PACKETS`]: four stuck neighbours cannot block a fifth.
pub const PENDING_PER_HOP: usize = 16;

/// How long (ms) a parked packet waits for its next hop before it is dropped
/// (`drop_no_neighbour`): the management thread asks every second, so one full retry
/// round; longer would only hold mbufs for a neighbour that is not there.
pub const PENDING_WAIT_MS: u64 = 1000;

/// Fragment-table slots per worker (a power of two): the first-fragment decisions of up to
/// a few thousand datagrams in flight, 160 KiB per worker.
pub const FRAG_SLOTS: usize = 4096;

/// Slots one datagram's key may occupy from its hash on: bounded lookups; a full window
/// overwrites its oldest entry.
pub const FRAG_PROBE: usize = 8;

/// How long (ms) a first fragment's decision holds for the later fragments: fragments of a
/// datagram arrive back to back in practice; 2 s covers reordering and slow links without
/// keeping stale entries (Linux keeps incomplete datagrams 30 s, but it reassembles).
pub const FRAG_TTL_MS: u64 = 2000;

/// Retired snapshots (with their scheduler sets) a worker may hand back before the
/// management thread frees them. It drains every millisecond and snapshots change far
/// less often; when full the worker delays its next adoption by a loop, never frees.
pub const RETIRE_QUEUE: usize = 16;

/// ICMP errors (fragmentation needed) one worker generates per second at most, and how many
/// it may send at once: the kernel's `icmp_msgs_per_sec` (1000) and `icmp_msgs_burst` (50),
/// per worker. A flood of oversized DF packets (or spoofed ones, to make the appliance a
/// reflector) gets answers at this rate; the rest are dropped (`drop_icmp_rate_limit`).
pub const ICMP_ERRORS_PER_SEC: u64 = 1000;
pub const ICMP_ERRORS_BURST: u64 = 50;

/// Packets for the appliance itself (health-check replies, ssh, sync, VRRP, ARP replies for
/// the kernel) one worker passes to the exception path per second at most, and at once. The
/// management thread writes each to a tap with a system call, about a microsecond each: 50 000
/// a second per worker keeps a flood to the appliance's own address from taking that thread
/// (and its health checks and ARP) away, while control traffic stays far below it. The burst
/// is half a kernel ring ([`KERNEL_RING`]), so a burst fits in the ring.
pub const EXCEPTION_PER_SEC: u64 = 50_000;
pub const EXCEPTION_BURST: u64 = KERNEL_RING as u64 / 2;

// ============================================================================================
// SYN-flood defence (lb/syncookie.rs, worker/engine/synproxy.rs)
// ============================================================================================

/// Seconds per step of the SYN cookie's time counter. A cookie is accepted in the step it was
/// made in and the next one (64 to 128 s), as Linux's cookies live about two minutes: long
/// enough for a slow client's handshake, short enough that a captured cookie goes stale.
pub const SYN_COOKIE_PERIOD_SECS: u64 = 64;

/// How often the management thread replaces the cookie secret (the old one stays valid as
/// "previous" for one more period, so no handshake in flight breaks at a rotation).
pub const SYN_COOKIE_ROTATE: Duration = Duration::from_secs(SYN_COOKIE_PERIOD_SECS);

/// The MSS the SYN proxy announces to clients in its SYN-ACK (capped by the port's MTU - 40).
/// The real's own MSS is unknown when the proxy answers; 1460 is Ethernet's and what almost
/// every real announces.
pub const SYN_PROXY_MSS: u16 = 1460;

/// The window of the proxy's SYN-ACK to the client and of its ACK to the real (no window
/// scaling is negotiated through the proxy, see docs/decisions.md). Each side learns the
/// other's real window from its first packet after the handshake.
pub const SYN_PROXY_WINDOW: u16 = 14600;

/// Default `syn_proxy.half_open_threshold` as a fraction of `conn.max_per_core`: above
/// max_per_core / 8 half-open TCP connections on a worker, `mode: auto` services answer SYNs
/// with cookies (NAT) or statelessly (DR/TUN). A healthy worker has few half-open connections
/// (each lives one round trip); a flood fills the table with them.
pub const SYN_PROXY_DEFAULT_THRESHOLD_DIVISOR: u32 = 8;

/// Slots of the Maglev table that picks the real of a stateless SYN (DR/TUN under SYN
/// pressure), a prime. Smaller than the mh scheduler's default (65537): it is rebuilt with
/// every snapshot, and 4093 slots spread a handful of reals within a fraction of a percent.
pub const SYN_STATELESS_MH_SIZE: u32 = 4093;

/// Connection sync (mgmt/sync/, docs/sync.md): events a worker may queue for the sender before
/// it counts losses (`sync_events_lost`); at 28 bytes a record, 8192 is 170 full datagrams.
pub const SYNC_EVENT_QUEUE: usize = 8192;
/// Peer records queued for one worker to install (it installs up to `SYNC_WORKER_BUDGET` a loop).
pub const SYNC_INSTALL_QUEUE: usize = 8192;
/// Records a worker installs, and table slots its refresh/resync walk covers, per loop.
pub const SYNC_WORKER_BUDGET: usize = 256;
/// Datagrams the management thread sends per tick (1 ms): the pace of a resync stream
/// (32 x 48 records a millisecond at most), which the tap and worker 0 carry beside forwarding.
/// 16 lost events above ~700 000 established connections/s (docs/perf.md, "Connection sync").
pub const SYNC_DATAGRAMS_PER_TICK: usize = 32;
/// Datagrams built before they are sent together (one `sendmmsg` per destination; at most
/// `dpdk::sock::MAX_BATCH`).
pub const SYNC_SEND_BATCH: usize = 32;
/// The sync socket's receive buffer (bytes; set with SO_RCVBUFFORCE): about 3 500 full
/// datagrams (168 000 records), what a peer streams while this node's management thread is kept
/// off the CPU for a few hundred milliseconds.
pub const SYNC_RCVBUF: usize = 8 << 20;
/// Datagrams the management thread reads per tick.
pub const SYNC_RECV_PER_TICK: usize = 128;
/// A partly filled datagram waits at most this long for more records.
pub const SYNC_FLUSH: Duration = Duration::from_millis(10);
/// How often a node that waits for its resync asks again.
pub const SYNC_RESYNC_RETRY: Duration = Duration::from_secs(2);

/// Management rounds (1 ms each) spent at stop pushing VRRP's resignation advert from the
/// kernel out of its port before the workers stop (docs/ha.md).
pub const VRRP_STOP_FLUSH_TICKS: u32 = 50;
