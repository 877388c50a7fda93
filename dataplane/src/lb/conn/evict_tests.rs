//! The full-table policy under SYN floods, with IPVS's default timeouts (SYN_RECV 60 s,
//! FIN_WAIT 120 s, ESTABLISHED 900 s), however the flood is timed: all at once, spread over
//! the SYN_RECV timeout, in bursts further apart than it, interleaved with clients that open
//! and close real connections; in replay time (the test sets `now`) and in live time (`now`
//! from the monotonic clock, as the worker does). A new client always gets a slot, established
//! connections always survive, and `evicted` counts exactly.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use super::tcp_flags::{ACK, FIN, PSH, SYN};
use super::*;
use crate::lb::family::Family;
use crate::lb::types::{ForwardMode, Protocol, RealId, RealLoad};

/// `conn.max_per_core` of the trial.
const CAP: u32 = 1024;
/// Reals the connections are spread over (`i % REALS`).
const REALS: u32 = 4;
/// What the worker's housekeeping gives `expire` per loop.
const EXPIRE_BUDGET: usize = 64;

/// Connection `i`: spoofed flood sources and clients alike, each a distinct source. Even `i`
/// carry a persistence template (`i`), so the ended reports are checked too.
fn conn_v4(i: u32) -> NewConn<Ipv4Addr> {
    // 198.18.0.0/15 holds 2^17 sources; the port varies beyond that.
    let client = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) | (i & 0x1_FFFF));
    NewConn {
        proto: Protocol::Tcp,
        client,
        cport: 1024 + (i >> 17) as u16,
        vip: Ipv4Addr::new(203, 0, 113, 80),
        vport: 80,
        real: i % REALS,
        real_addr: Ipv4Addr::new(192, 0, 2, 10 + (i % REALS) as u8),
        rport: 8080,
        mode: ForwardMode::Nat,
        template: i.is_multiple_of(2).then_some(i),
    }
}

fn conn_v6(i: u32) -> NewConn<Ipv6Addr> {
    let base = u128::from("2001:db8:100::".parse::<Ipv6Addr>().unwrap());
    NewConn {
        proto: Protocol::Tcp,
        client: Ipv6Addr::from(base | u128::from(i) << 16),
        cport: 40_000,
        vip: "2001:db8::80".parse().unwrap(),
        vport: 443,
        real: i % REALS,
        real_addr: Ipv6Addr::from(
            u128::from("2001:db8:2::10".parse::<Ipv6Addr>().unwrap()) + u128::from(i % REALS),
        ),
        rport: 8443,
        mode: ForwardMode::Nat,
        template: i.is_multiple_of(2).then_some(i),
    }
}

/// Flood sources are numbered from here; clients below it.
const FLOOD: u32 = 100_000;

/// A worker's view of one table: packets in, housekeeping, and the template reports drained
/// after every call (as `Engine::housekeep` and the inbound path do).
struct Sim<A: Family> {
    t: ConnTable<A>,
    mk: fn(u32) -> NewConn<A>,
    now: u64,
    /// Templates released through the ended ring, per reason.
    released: [u64; 3],
    /// Templates handed to connections that were inserted.
    templated: u64,
}

impl<A: Family> Sim<A> {
    fn new(mk: fn(u32) -> NewConn<A>) -> Self {
        Sim {
            // `ConnConfig::new`: IPVS's default timeouts.
            t: ConnTable::allocate(&ConnConfig::new(CAP, REALS)).expect("valid config"),
            mk,
            now: 0,
            released: [0; 3],
            templated: 0,
        }
    }

    fn drain(&mut self) {
        let released = &mut self.released;
        self.t.drain_ended(|e| {
            assert!(e.template.is_some());
            released[e.reason as usize] += 1;
        });
    }

    /// One loop's housekeeping.
    fn housekeep(&mut self) -> usize {
        let n = self.t.expire(self.now, EXPIRE_BUDGET);
        self.drain();
        n
    }

    /// A SYN from source `i` opening a connection (its first packet, as the inbound path
    /// accounts it).
    fn syn(&mut self, i: u32) -> Result<ConnHandle, InsertError> {
        let c = (self.mk)(i);
        let h = self.t.insert(&c, self.now);
        self.drain();
        let h = h?;
        self.templated += u64::from(c.template.is_some());
        assert_eq!(
            self.t.on_packet(h, Direction::In, SYN, self.now),
            Some(TcpState::SynRecv)
        );
        Ok(h)
    }

    /// The real's SYN-ACK and the client's ACK of connection `i`.
    fn complete(&mut self, i: u32) {
        let h = self.find(i).expect("half-open connection present");
        self.t.on_packet(h, Direction::Out, SYN | ACK, self.now);
        assert_eq!(
            self.t.on_packet(h, Direction::In, ACK, self.now),
            Some(TcpState::Established)
        );
    }

    fn open(&mut self, i: u32) {
        self.syn(i).expect("a new client gets a slot");
        self.complete(i);
    }

    /// A data packet from client `i`; false if its connection is gone.
    fn data(&mut self, i: u32) -> bool {
        let Some(h) = self.find(i) else { return false };
        self.t.on_packet(h, Direction::In, ACK | PSH, self.now) == Some(TcpState::Established)
    }

    fn find(&self, i: u32) -> Option<ConnHandle> {
        let c = (self.mk)(i);
        self.t.lookup_in(c.proto, c.client, c.cport, c.vip, c.vport)
    }

    fn state(&self, i: u32) -> Option<TcpState> {
        self.find(i).and_then(|h| self.t.get(h)).map(|c| c.state)
    }

    /// The per-real loads agree with the connections listed, and every template handed out
    /// is either held by a live connection or was released exactly once.
    fn check_accounting(&self) {
        let mut want = vec![RealLoad::default(); REALS as usize];
        let mut held = 0u64;
        for (_, c) in self.t.iter() {
            let l = &mut want[c.real as usize];
            if c.state == TcpState::Established {
                l.active += 1;
            } else {
                l.inactive += 1;
            }
            held += u64::from(c.template.is_some());
        }
        assert_eq!(self.t.loads(), &want[..]);
        self.t.check_filing().expect("every connection filed once");
        assert_eq!(held + self.released.iter().sum::<u64>(), self.templated);
        let s = self.t.stats();
        assert_eq!(
            s.inserted,
            s.evicted + s.expired + s.removed + self.t.len() as u64
        );
    }

    fn evicted_reports(&self) -> u64 {
        self.released[EndReason::Evicted as usize]
    }
}

/// Templated (even) numbers in `lo..hi`.
fn evens(lo: u32, hi: u32) -> u64 {
    (lo..hi).filter(|i| i % 2 == 0).count() as u64
}

/// Runs the trial on `sim`: 100 established connections at `start_ms`, then `flood`
/// spoofed SYNs at the times `at(k)` gives, each second one followed by a data packet on an
/// established connection (round robin), then 5 s after the last SYN a new client's SYN.
/// Returns the new client's number.
fn trial<A: Family>(sim: &mut Sim<A>, start_ms: u64, flood: u32, at: impl Fn(u32) -> u64) -> u32 {
    sim.now = start_ms;
    for i in 0..100 {
        sim.open(i);
    }
    let mut forwarded = 0u32;
    for k in 0..flood {
        let now = at(k);
        assert!(now >= sim.now, "time goes forward");
        while sim.now / 1000 < now / 1000 {
            // A quiet second passes: the worker keeps looping.
            sim.now = (sim.now / 1000 + 1) * 1000;
            sim.housekeep();
        }
        sim.now = now;
        sim.syn(FLOOD + k).expect("a full table always makes room");
        if k % 2 == 1 {
            forwarded += u32::from(sim.data(k / 2 % 100));
        }
        sim.housekeep();
    }
    assert_eq!(forwarded, flood / 2, "established connections kept");
    sim.now += 5_000;
    sim.housekeep();
    let newcomer = 1_000;
    sim.open(newcomer);
    for i in 0..100 {
        assert!(sim.data(i), "established connection {i} survived");
    }
    assert!(sim.data(newcomer));
    sim.check_accounting();
    newcomer
}

/// After the trial: 100 established + the newcomer, the rest of the table the newest flood
/// entries, nothing refused, and `evicted` exact: every insert past capacity evicted one.
fn check_after_trial<A: Family>(sim: &Sim<A>, flood: u32) {
    let s = sim.t.stats();
    assert_eq!(s.refused_full, 0);
    assert_eq!(s.expired, 0, "all within the SYN_RECV timeout");
    assert_eq!(s.inserted, 100 + u64::from(flood) + 1);
    assert_eq!(s.evicted, s.inserted - u64::from(CAP));
    assert_eq!(sim.t.len(), CAP as usize);
    // FIFO: the oldest flood entries went, the newest 923 stayed.
    let kept = CAP - 101;
    let first_kept = flood - kept;
    assert_eq!(sim.state(FLOOD + first_kept - 1), None);
    assert_eq!(sim.state(FLOOD + first_kept), Some(TcpState::SynRecv));
    assert_eq!(sim.state(FLOOD + flood - 1), Some(TcpState::SynRecv));
    // Each evicted templated connection was reported once, as evicted.
    assert_eq!(sim.evicted_reports(), evens(FLOOD, FLOOD + first_kept));
    let loads: u32 = sim.t.loads().iter().map(|l| l.active).sum();
    assert_eq!(loads, 101);
}

#[test]
fn flood_all_at_once_replay_time() {
    let mut sim = Sim::new(conn_v4);
    trial(&mut sim, 0, 20_480, |_| 1_000);
    check_after_trial(&sim, 20_480);
    assert_eq!(sim.t.stats().evicted, 19_557);
}

#[test]
fn flood_spread_over_the_syn_recv_timeout_replay_time() {
    // 20 480 SYNs evenly over 59 s (the SYN_RECV timeout is 60 s), from t = 1 s.
    let mut sim = Sim::new(conn_v4);
    trial(&mut sim, 0, 20_480, |k| {
        1_000 + u64::from(k) * 59_000 / 20_480
    });
    check_after_trial(&sim, 20_480);
    assert_eq!(sim.t.stats().evicted, 19_557);
}

#[test]
fn flood_spread_over_three_timeouts_replay_time() {
    // 20 480 SYNs over 180 s: each flood entry is evicted long before its 60 s are up, so
    // still every insert past capacity evicts exactly one and nothing expires.
    let mut sim = Sim::new(conn_v4);
    trial(&mut sim, 0, 20_480, |k| {
        1_000 + u64::from(k) * 180_000 / 20_480
    });
    check_after_trial(&sim, 20_480);
}

#[test]
fn flood_in_bursts_further_apart_than_the_timeout_replay_time() {
    // 10 bursts of 2048 SYNs, 90 s apart: between bursts the leftovers of the last one expire
    // (SYN_RECV 60 s), so each burst refills a table with 924 free slots.
    let mut sim = Sim::new(conn_v4);
    sim.now = 0;
    for i in 0..100 {
        sim.open(i);
    }
    for burst in 0..10u32 {
        let at = 1_000 + u64::from(burst) * 90_000;
        while sim.now < at {
            sim.now = (sim.now + 1_000).min(at);
            sim.housekeep();
            for i in 0..100 {
                assert!(sim.data(i));
            }
        }
        assert_eq!(
            sim.t.len(),
            100,
            "burst {burst}: the last burst's leftovers expired"
        );
        for k in 0..2048 {
            sim.syn(FLOOD + burst * 2048 + k).expect("room made");
        }
        assert_eq!(sim.t.len(), CAP as usize);
    }
    sim.now += 5_000;
    sim.housekeep();
    sim.open(1_000);
    let s = sim.t.stats();
    assert_eq!(s.refused_full, 0);
    assert_eq!(s.evicted, 10 * (2048 - 924) + 1);
    assert_eq!(s.expired, 9 * 924);
    assert_eq!(sim.released[EndReason::Expired as usize], 9 * 462);
    for i in 0..100 {
        assert!(sim.data(i));
    }
    sim.check_accounting();
}

#[test]
fn flood_interleaved_with_clients_opening_and_closing_replay_time() {
    // Over 50 s, 20 480 spoofed SYNs; after every 200th, a real client opens a connection
    // (its handshake spans the next three spoofed SYNs), and every 4th real client closes it
    // again (FIN_WAIT, 120 s: closing, hence evictable).
    let mut sim = Sim::new(conn_v4);
    sim.now = 0;
    let mut clients = Vec::new();
    let mut closed = Vec::new();
    let mut pending: Option<(u32, u32)> = None;
    let mut next_client = 0u32;
    for k in 0..20_480u32 {
        sim.now = 1_000 + u64::from(k) * 50_000 / 20_480;
        sim.housekeep();
        sim.syn(FLOOD + k).expect("room made");
        if let Some((c, due)) = pending {
            if k == due {
                sim.complete(c);
                clients.push(c);
                pending = None;
                if clients.len() % 4 == 0 {
                    // The real closes first: FIN_WAIT.
                    let h = sim.find(c).unwrap();
                    sim.t.on_packet(h, Direction::Out, FIN | ACK, sim.now);
                    assert_eq!(sim.state(c), Some(TcpState::FinWait));
                    closed.push(c);
                }
            }
        }
        if k % 200 == 199 {
            let c = next_client;
            next_client += 1;
            sim.syn(c).expect("a new client gets a slot");
            pending = Some((c, k + 3));
        }
    }
    assert_eq!(clients.len(), 102);
    assert_eq!(closed.len(), 25);
    sim.now += 5_000;
    sim.housekeep();
    sim.open(1_000);
    let s = sim.t.stats();
    assert_eq!(s.refused_full, 0);
    assert_eq!(s.expired, 0);
    assert_eq!(s.inserted, 20_480 + 102 + 1);
    assert_eq!(s.evicted, s.inserted - u64::from(CAP));
    // Every client that did not close is still established.
    for &c in &clients {
        if !closed.contains(&c) {
            assert!(sim.data(c), "client {c} survived");
        }
    }
    let established = sim
        .t
        .iter()
        .filter(|(_, c)| c.state == TcpState::Established);
    assert_eq!(established.count(), 102 - 25 + 1);
    sim.check_accounting();
}

#[test]
fn closing_connections_are_evicted_before_younger_half_open_ones() {
    // 50 established, 50 closed at t = 0 (FIN_WAIT until 120 s); a flood at t = 100 s
    // (SYN_RECV until 160 s): the closing ones expire first, so they go first.
    let mut sim = Sim::new(conn_v4);
    for i in 0..100 {
        sim.open(i);
    }
    for i in 50..100 {
        let h = sim.find(i).unwrap();
        sim.t.on_packet(h, Direction::Out, FIN | ACK, 0);
        assert_eq!(sim.state(i), Some(TcpState::FinWait));
    }
    assert_eq!(sim.t.loads().iter().map(|l| l.inactive).sum::<u32>(), 50);
    sim.now = 100_000;
    for k in 0..(CAP - 100) {
        sim.syn(FLOOD + k).unwrap();
    }
    assert_eq!(sim.t.stats().evicted, 0);
    for k in 0..50 {
        sim.syn(FLOOD + CAP + k).unwrap();
        // Exactly the closing ones, oldest first.
        assert_eq!(sim.state(50 + k), None);
    }
    assert_eq!(sim.t.stats().evicted, 50);
    assert_eq!(sim.state(FLOOD), Some(TcpState::SynRecv));
    sim.syn(FLOOD + 2 * CAP).unwrap();
    assert_eq!(sim.state(FLOOD), None, "then the oldest half-open one");
    for i in 0..50 {
        assert!(sim.data(i));
    }
    assert_eq!(sim.t.stats().evicted, 51);
    assert_eq!(sim.evicted_reports(), 25 + 1);
    sim.check_accounting();
}

#[test]
fn only_established_left_refuses_and_counts() {
    let mut sim = Sim::new(conn_v4);
    for i in 0..CAP {
        sim.open(i);
    }
    for k in 0..10 {
        assert_eq!(sim.syn(FLOOD + k), Err(InsertError::Full));
    }
    let s = sim.t.stats();
    assert_eq!((s.refused_full, s.evicted), (10, 0));
    sim.check_accounting();
}

/// Milliseconds of the monotonic clock since `origin`, offset like a worker's clock that has
/// been up a while.
fn live_now(origin: Instant) -> u64 {
    1_000_000 + origin.elapsed().as_millis() as u64
}

#[test]
fn flood_live_time() {
    // The trial with `now` from the monotonic clock: all at once, then in four chunks a
    // quarter second apart (crossing whole seconds), interleaved with data. The whole run
    // takes far less than the 60 s SYN_RECV timeout, so nothing expires.
    let origin = Instant::now();
    let mut sim = Sim::new(conn_v4);
    sim.now = live_now(origin);
    for i in 0..100 {
        sim.open(i);
    }
    let mut k = 0u32;
    for chunk in 0..5u32 {
        if chunk > 0 {
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        for _ in 0..4096 {
            sim.now = live_now(origin);
            sim.syn(FLOOD + k).expect("room made");
            if k % 2 == 1 {
                assert!(sim.data(k / 2 % 100));
            }
            sim.housekeep();
            k += 1;
        }
    }
    sim.now = live_now(origin);
    sim.housekeep();
    sim.open(1_000);
    assert!(
        sim.now < 1_000_000 + 55_000,
        "the run stayed within the timeout"
    );
    check_after_trial(&sim, 5 * 4096);
}

#[test]
fn flood_ipv6_table() {
    let mut sim = Sim::new(conn_v6);
    trial(&mut sim, 0, 8192, |k| 1_000 + u64::from(k) * 30_000 / 8192);
    check_after_trial(&sim, 8192);
}

#[test]
fn evicted_entries_are_reused_by_lookups_of_the_new_tuple_only() {
    // After an eviction the old tuple is not found and the new one is, in both indexes.
    let mut sim = Sim::new(conn_v4);
    for k in 0..CAP {
        sim.syn(FLOOD + k).unwrap();
    }
    let old = conn_v4(FLOOD);
    let h = sim.syn(1).unwrap();
    assert_eq!(sim.find(FLOOD), None);
    assert_eq!(
        sim.t
            .lookup_out(old.proto, old.real_addr, old.rport, old.client, old.cport),
        None
    );
    let c = conn_v4(1);
    assert_eq!(
        sim.t
            .lookup_out(c.proto, c.real_addr, c.rport, c.client, c.cport),
        Some(h)
    );
    assert_eq!(sim.t.get(h).map(|c| c.real), Some(1 as RealId));
}
