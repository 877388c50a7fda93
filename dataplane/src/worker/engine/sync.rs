//! The worker's share of connection sync: connection events out (new, state change), the
//! periodic refresh and the full-table resync walk, and the peer's records in (installed into
//! this worker's table, the real found by address and port in the current snapshot).
//! With sync off `SyncIo` is empty and each hook is one branch.

use super::Engine;
use crate::lb::conn::{ConnHandle, ConnInfo, NewConn, TcpState};
use crate::lb::sync::{EventRing, Record, SyncEvent};

use crate::lb::persist::{PersistKey, TemplateRef};
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};
use crossbeam::queue::ArrayQueue;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;

/// A resync (whole table) or refresh request: the management thread raises `requested`, the
/// worker walks its table and sets `done` to the request it served. `full` is the latest request
/// that is a resync (raised before `requested`): a pass serving it sends the peers' connections
/// too, since the node asking has lost its table; a refresh pass sends only this node's.
#[derive(Debug, Default)]
pub struct WalkRequest {
    pub requested: AtomicU64,
    pub done: AtomicU64,
    pub full: AtomicU64,
}

/// One worker's sync wiring (all empty when sync is off).
#[derive(Default)]
pub struct SyncIo {
    /// Events for the sender (none unless this node sends).
    pub events: EventRing,
    /// Records from a peer that this worker owns (none unless this node receives).
    pub installs: Option<Arc<ArrayQueue<Record>>>,
    /// Full-table walks asked for by the management thread (resync for a peer, and refresh).
    pub walk: Option<Arc<WalkRequest>>,
    /// The slot the current walk has reached (0: no pass under way).
    cursor: u32,
    /// The request the current pass serves.
    serving: u64,
    /// Whether the current pass serves a resync (and so sends peers' connections too).
    full_pass: bool,
    /// `sync.half_open`: a TCP connection is announced when created, SYN_RECV included.
    half_open: bool,
}

impl SyncIo {
    pub fn new(
        events: EventRing,
        installs: Option<Arc<ArrayQueue<Record>>>,
        walk: Option<Arc<WalkRequest>>,
    ) -> SyncIo {
        SyncIo {
            events,
            installs,
            walk,
            cursor: 0,
            serving: 0,
            full_pass: false,
            half_open: false,
        }
    }

    /// With `sync.half_open`: announce connections from their creation (see `announce`).
    pub fn with_half_open(mut self, on: bool) -> SyncIo {
        self.half_open = on;
        self
    }
}

/// What a state change tells the peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Announce {
    /// Nothing: the connection is half-open (SYN_RECV), or it closes without ever having been
    /// announced.
    No,
    /// Its first record (and its persistence template's).
    First,
    /// A change of a connection the peers have.
    Change,
}

/// Whether a change from `old` to `new` (`old` is `Listen` for a connection just created) is
/// sent. As IPVS, a TCP connection is not synced before it is established (docs/decisions.md):
/// a backup that takes over cannot carry a handshake on anyway (the client's ACK finds no
/// connection and the client retries), and under a SYN flood the half-open connections would
/// take the sync's whole capacity. A connection is announced when it reaches ESTABLISHED (or is
/// created in any state but SYN_RECV: UDP, ICMP, a SYN-proxy handoff); one that dies half-open
/// is never sent.
///
/// With `half_open` (`sync.half_open`, scale-out NAT: the real's SYN-ACK may come back through
/// another appliance, which must know the connection by then) every connection is announced
/// when created, whatever its state, and every later change is a change the peers must hear,
/// a reset half-open included.
fn announce(old: TcpState, new: TcpState, half_open: bool) -> Announce {
    if half_open {
        return if old == TcpState::Listen {
            Announce::First
        } else {
            Announce::Change
        };
    }
    let unannounced = matches!(old, TcpState::Listen | TcpState::SynRecv);
    match (unannounced, new) {
        (_, TcpState::SynRecv) => Announce::No,
        (false, _) => Announce::Change,
        (true, TcpState::Established | TcpState::None) => Announce::First,
        (true, _) if old == TcpState::Listen => Announce::First,
        (true, _) => Announce::No,
    }
}

/// The state a connection had before a packet, for sync: `None` when sync does not send.
#[derive(Clone, Copy)]
pub(super) struct Before(Option<TcpState>);

impl<F: Frame> Engine<F> {
    /// Before accounting a packet: remember the connection's state if sync wants events.
    #[inline]
    pub(super) fn sync_before(&self, h: ConnHandle, created: bool) -> Before {
        if !self.sync.events.on() {
            return Before(None);
        }
        if created {
            // A fresh connection is always reported, whatever its first state.
            return Before(Some(TcpState::Listen));
        }
        Before(self.conns.get(h).map(|c| c.state))
    }

    /// After accounting it: report the connection if it is new or its state changed.
    #[inline]
    pub(super) fn sync_after(
        &mut self,
        before: Before,
        h: ConnHandle,
        c: &ConnInfo,
        t: &mut WorkerTotals,
    ) {
        if let Some(old) = before.0 {
            if self.conns.synced(h.index()) {
                self.conns.mark_local(h);
            }
            if old != c.state {
                match announce(old, c.state, self.sync.half_open) {
                    Announce::No => {}
                    Announce::Change => {
                        self.sync_emit(c, t);
                    }
                    Announce::First => {
                        self.sync_emit(c, t);
                        self.sync_emit_template(c, t);
                    }
                }
            }
        }
    }

    /// The template connection `c` holds, if any, as its own record: a backup that takes over
    /// sends the client's next connections to the same real.
    fn sync_emit_template(&self, c: &ConnInfo, t: &mut WorkerTotals) -> bool {
        let Some(raw) = c.template else {
            return true;
        };
        let Some((key, _, left_ms)) = self.persist.template(TemplateRef::from_raw(raw), self.now)
        else {
            return true;
        };
        let e = SyncEvent {
            template: true,
            client: Ipv4Addr::from(key.client),
            cport: 0,
            timeout: (left_ms / 1000).min(u64::from(u32::MAX)) as u32,
            ..SyncEvent::of(c, self.now)
        };
        if self.sync.events.emit(e) {
            t.inc(Counter::SyncEvents);
            true
        } else {
            t.inc(Counter::SyncEventsLost);
            false
        }
    }

    #[inline]
    fn sync_emit(&self, c: &ConnInfo, t: &mut WorkerTotals) -> bool {
        if self.sync.events.emit(SyncEvent::of(c, self.now)) {
            t.inc(Counter::SyncEvents);
            true
        } else {
            t.inc(Counter::SyncEventsLost);
            false
        }
    }

    /// Once per loop: installs up to `budget` records from the peer, then continues a requested
    /// table walk by up to `budget` slots (paced: it stops when the event queue is full and
    /// resumes next loop, so forwarding goes on meanwhile). True when it did some of either
    /// (the loop is busy then: an idle back-off would slow a resync down to its sleeps).
    pub fn sync_housekeep(&mut self, budget: usize, t: &mut WorkerTotals) -> bool {
        let mut worked = false;
        if let Some(q) = self.sync.installs.take() {
            for _ in 0..budget {
                let Some(r) = q.pop() else { break };
                self.sync_install(&r, t);
                worked = true;
            }
            self.sync.installs = Some(q);
        }
        if let Some(walk) = self.sync.walk.take() {
            let at = self.sync.cursor;
            let served = walk.done.load(Relaxed);
            self.sync_walk(&walk, budget, t);
            worked |= self.sync.cursor != at || walk.done.load(Relaxed) != served;
            self.sync.walk = Some(walk);
        }
        worked
    }

    /// Continues the table walk: a pass starts when a request is pending and serves the
    /// requests made up to its start (a request made during a pass gets a pass of its own).
    fn sync_walk(&mut self, walk: &WalkRequest, budget: usize, t: &mut WorkerTotals) {
        if self.sync.cursor == 0 {
            // Acquire: a resync's `full`, raised before `requested`, is seen with it.
            let wanted = walk.requested.load(Acquire);
            let done = walk.done.load(Relaxed);
            if wanted == done {
                return;
            }
            self.sync.serving = wanted;
            self.sync.full_pass = walk.full.load(Relaxed) > done;
        }
        let cap = self.conns.capacity() as u32;
        let end = self.sync.cursor.saturating_add(budget as u32).min(cap);
        // A VRRP master sends every connection it holds: after a takeover the peer's
        // connections are its own, and the peer returning with an empty table asks for them
        // before any packet of theirs need have reached this node (issue 10, failback).
        let all = self.snap.ha.vrrp && self.snap.ha.active;
        while self.sync.cursor < end {
            if let Some(c) = self.conns.get_slot(self.sync.cursor) {
                // (A template is sent again with each connection that holds it; a peer's
                // connection no packet has touched here is sent only by a VRRP master or to a
                // node that asked for the whole table; a half-open one is never walked: it
                // lives a round trip, and only `sync.half_open` sends it, as an event.)
                if c.expires_ms > self.now
                    && c.state != TcpState::SynRecv
                    && (all || self.sync.full_pass || !self.conns.synced(self.sync.cursor))
                    && !self.sync_walk_emit(&c, t)
                {
                    // The queue is full: this slot again next loop (the stream is paced by
                    // the sender).
                    return;
                }
            }
            self.sync.cursor += 1;
        }
        if self.sync.cursor >= cap {
            self.sync.cursor = 0;
            // Release: the events of this pass are queued before `done` says so.
            walk.done.store(self.sync.serving, Release);
        }
    }

    /// A walked connection (and its template) onto the queue; false, counting nothing lost, when
    /// the queue has no room for both (the walk stops there and resumes next loop: back-pressure,
    /// not loss).
    fn sync_walk_emit(&self, c: &ConnInfo, t: &mut WorkerTotals) -> bool {
        let need = if c.template.is_some() { 2 } else { 1 };
        if self.sync.events.room() < need {
            return false;
        }
        self.sync_emit(c, t) && self.sync_emit_template(c, t)
    }

    /// Installs one record: the service by (protocol, VIP, port), the real by (address, port).
    fn sync_install(&mut self, r: &Record, t: &mut WorkerTotals) {
        let (IpAddr::V4(vip), IpAddr::V4(client), IpAddr::V4(real_addr)) =
            (r.vip, r.client, r.real)
        else {
            return t.inc(Counter::SyncInstallUnknown);
        };
        let services = &self.snap.services;
        let Some(si) = services.lookup_index(r.proto, vip, r.vport) else {
            return t.inc(Counter::SyncInstallUnknown);
        };
        let svc = &services.services()[si];
        let Some(real) = svc
            .reals
            .iter()
            .find(|x| x.addr == real_addr && x.dst_port(r.vport) == r.rport)
        else {
            return t.inc(Counter::SyncInstallUnknown);
        };
        if r.template {
            let Some(p) = svc.persistence else {
                return t.inc(Counter::SyncInstallUnknown);
            };
            let key = PersistKey::new(svc.id, &p, client, r.vport);
            let left = u64::from(r.timeout) * 1000;
            return if self
                .persist
                .install(key, real.id, p.timeout_ms, left, self.now)
            {
                t.inc(Counter::SyncInstalled)
            } else {
                t.inc(Counter::SyncInstallFull)
            };
        }
        let nc = NewConn {
            proto: r.proto,
            client,
            cport: r.cport,
            vip,
            vport: r.vport,
            real: real.id,
            real_addr,
            rport: r.rport,
            mode: real.forward_mode(svc.forward),
            template: None,
        };
        match self.conns.install(&nc, r.state, r.timeout, self.now) {
            Ok(_) => t.inc(Counter::SyncInstalled),
            Err(_) => t.inc(Counter::SyncInstallFull),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ForwardMode;
    use crate::lb::forward::test_packets::{ip_frame, tcp, udp, Ip};
    use crate::lb::types::Protocol;
    use crate::worker::engine::sim::{Sim, EXAMPLE_CONFIG};
    use std::net::Ipv4Addr;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const REAL1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

    struct Wired {
        sim: Sim,
        events: Arc<ArrayQueue<SyncEvent>>,
        installs: Arc<ArrayQueue<Record>>,
        walk: Arc<WalkRequest>,
    }

    fn wired() -> Wired {
        wired_from(EXAMPLE_CONFIG)
    }

    fn wired_from(yaml: &str) -> Wired {
        let mut sim = Sim::new(yaml, 1, false).unwrap();
        let events = Arc::new(ArrayQueue::new(4));
        let installs = Arc::new(ArrayQueue::new(16));
        let walk = Arc::new(WalkRequest::default());
        sim.workers[0].engine.sync = SyncIo::new(
            EventRing::new(Some(events.clone())),
            Some(installs.clone()),
            Some(walk.clone()),
        );
        sim.now = 5_000;
        Wired {
            sim,
            events,
            installs,
            walk,
        }
    }

    /// The client's ACK (no SYN) of connection `cport`, as a frame.
    fn ack_frame(client: Ipv4Addr, cport: u16, data: &[u8]) -> Vec<u8> {
        let mut ack = tcp(Ip::new(client, VIP), cport, 80, data);
        ack[33] = 0x10;
        ip_frame(false, &ack, 0).0
    }

    #[test]
    fn announces_from_established_on() {
        use TcpState::*;
        assert_eq!(announce(Listen, SynRecv, false), Announce::No);
        assert_eq!(announce(SynRecv, Established, false), Announce::First);
        assert_eq!(announce(Listen, Established, false), Announce::First);
        assert_eq!(announce(Listen, None, false), Announce::First);
        assert_eq!(announce(SynRecv, Close, false), Announce::No);
        assert_eq!(announce(Established, FinWait, false), Announce::Change);
        assert_eq!(announce(TimeWait, SynRecv, false), Announce::No);
    }

    #[test]
    fn with_half_open_announces_from_creation_on() {
        use TcpState::*;
        assert_eq!(announce(Listen, SynRecv, true), Announce::First);
        assert_eq!(announce(SynRecv, Established, true), Announce::Change);
        assert_eq!(announce(Listen, Established, true), Announce::First);
        assert_eq!(announce(Listen, None, true), Announce::First);
        // The peers hold the half-open connection: they hear that it was reset.
        assert_eq!(announce(SynRecv, Close, true), Announce::Change);
        assert_eq!(announce(Established, FinWait, true), Announce::Change);
        // A port reused after TIME_WAIT: the peers' copy opens again.
        assert_eq!(announce(TimeWait, SynRecv, true), Announce::Change);
    }

    fn wired_half_open() -> Wired {
        let mut w = wired();
        let io = std::mem::take(&mut w.sim.workers[0].engine.sync);
        w.sim.workers[0].engine.sync = io.with_half_open(true);
        w
    }

    fn syn_frame(cport: u16) -> Vec<u8> {
        ip_frame(false, &tcp(Ip::new(CLIENT, VIP), cport, 80, b""), 0).0
    }

    /// The real's SYN-ACK (REAL1:80 -> CLIENT:cport), as it reaches the int port.
    fn syn_ack_frame(cport: u16) -> Vec<u8> {
        ip_frame(false, &tcp(Ip::new(REAL1, CLIENT), 80, cport, b""), 0).0
    }

    fn drain(events: &ArrayQueue<SyncEvent>) -> Vec<SyncEvent> {
        std::iter::from_fn(|| events.pop()).collect()
    }

    #[test]
    fn with_half_open_a_connection_is_sent_at_its_syn_then_its_changes() {
        let mut w = wired_half_open();
        w.sim.rx(0, 0, &syn_frame(40000));
        let e = drain(&w.events);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            (e[0].client, e[0].cport, e[0].vip, e[0].vport, e[0].real),
            (CLIENT, 40000, VIP, 80, REAL1)
        );
        // The syn_recv timeout (60 s), whole.
        assert_eq!((e[0].state, e[0].timeout), (TcpState::SynRecv, 60));
        // The client's ACK: ESTABLISHED, as a change (once).
        w.sim.rx(0, 0, &ack_frame(CLIENT, 40000, b""));
        w.sim.rx(0, 0, &ack_frame(CLIENT, 40000, b""));
        let e = drain(&w.events);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].state, e[0].timeout), (TcpState::Established, 900));
        // Reset half-open by its real (rr: the second connection is real2's): the peers, which
        // hold it, hear it (CLOSE).
        w.sim.rx(0, 0, &syn_frame(40001));
        let real2 = Ipv4Addr::new(198, 19, 0, 12);
        let mut rst = tcp(Ip::new(real2, CLIENT), 80, 40001, b"");
        rst[33] = 0x04;
        let int = w.sim.port("int");
        w.sim.rx(0, int, &ip_frame(false, &rst, 0).0);
        let e = drain(&w.events);
        let states: Vec<_> = e.iter().map(|e| (e.cport, e.state)).collect();
        assert_eq!(
            states,
            [(40001, TcpState::SynRecv), (40001, TcpState::Close)]
        );
        assert_eq!(w.sim.counter("sync_events"), 4);
        assert_eq!(w.sim.counter("sync_events_lost"), 0);
        // A refresh walk still sends no half-open connection (it serves long-lived ones).
        w.sim.rx(0, 0, &syn_frame(40002));
        assert_eq!(drain(&w.events).len(), 1);
        w.walk.requested.store(1, Relaxed);
        let sw = &mut w.sim.workers[0];
        sw.engine.sync_housekeep(1 << 20, &mut sw.totals);
        assert_eq!(w.walk.done.load(Relaxed), 1);
        let mut walked: Vec<_> = drain(&w.events).iter().map(|e| e.cport).collect();
        walked.sort_unstable();
        // The established one and the closed one (CLOSE for 10 s); not 40002.
        assert_eq!(walked, [40000, 40001]);
    }

    /// Scale-out NAT: appliance A takes the client's SYN, the real's SYN-ACK comes back through
    /// appliance B. B translates it once A's half-open record is installed, not before; A's
    /// ESTABLISHED record then moves B's copy on to the established timeout.
    #[test]
    fn a_peer_translates_the_syn_ack_of_a_connection_it_learnt_half_open() {
        let mut a = wired_half_open();
        let mut b = wired();
        let (ext, int) = (b.sim.port("ext"), b.sim.port("int"));

        // Before any record: B has no connection for the SYN-ACK (the race).
        a.sim.rx(0, 0, &syn_frame(40000));
        b.sim.rx(0, int, &syn_ack_frame(40000));
        assert_eq!(b.sim.counter("drop_not_for_us"), 1);
        assert!(b.sim.take_sent(ext).is_empty());

        // A's half-open record reaches B.
        let e = drain(&a.events);
        assert_eq!(e.len(), 1);
        b.installs.push(e[0].record()).unwrap();
        let sw = &mut b.sim.workers[0];
        sw.engine.sync_housekeep(64, &mut sw.totals);
        assert_eq!(b.sim.counter("sync_installed"), 1);
        let eng = &b.sim.workers[0].engine;
        let h = eng
            .conns
            .lookup_in(Protocol::Tcp, CLIENT, 40000, VIP, 80)
            .expect("installed");
        let c = eng.conns.get(h).unwrap();
        assert_eq!(
            (c.state, c.real_addr, c.expires_ms),
            (TcpState::SynRecv, REAL1, 5_000 + 60_000)
        );

        // The real retransmits its SYN-ACK: B translates it back to the VIP, to the client.
        b.sim.rx(0, int, &syn_ack_frame(40000));
        assert_eq!(b.sim.counter("nat_out"), 1);
        assert_eq!(b.sim.counter("drop_not_for_us"), 1);
        let sent = b.sim.take_sent(ext);
        assert_eq!(sent.len(), 1);
        let f = &sent[0];
        assert_eq!(f[26..30], VIP.octets(), "source: the VIP");
        assert_eq!(f[30..34], CLIENT.octets(), "destination: the client");
        assert_eq!(
            (
                u16::from_be_bytes([f[34], f[35]]),
                u16::from_be_bytes([f[36], f[37]])
            ),
            (80, 40000)
        );
        assert_eq!(f[47], 0x12, "SYN-ACK");
        crate::lb::forward::test_packets::assert_checksums_ok(f, 14);
        // B's copy is still half-open, and B announces nothing for it (not a change).
        let eng = &b.sim.workers[0].engine;
        assert_eq!(eng.conns.get(h).unwrap().state, TcpState::SynRecv);
        assert!(b.events.pop().is_none());

        // The client's ACK reaches A: ESTABLISHED, sent; B's copy follows.
        a.sim.rx(0, 0, &ack_frame(CLIENT, 40000, b""));
        let e = drain(&a.events);
        assert_eq!(e.len(), 1);
        b.installs.push(e[0].record()).unwrap();
        let sw = &mut b.sim.workers[0];
        sw.engine.sync_housekeep(64, &mut sw.totals);
        assert_eq!(b.sim.counter("sync_installed"), 2);
        let eng = &b.sim.workers[0].engine;
        let c = eng.conns.get(h).unwrap();
        assert_eq!(
            (c.state, c.real_addr, c.expires_ms),
            (TcpState::Established, REAL1, 5_000 + 900_000)
        );
        // The real's data to the client goes on through B.
        let mut data = tcp(Ip::new(REAL1, CLIENT), 80, 40000, b"hello");
        data[33] = 0x18;
        b.sim.rx(0, int, &ip_frame(false, &data, 0).0);
        assert_eq!(b.sim.counter("nat_out"), 2);
        assert_eq!(b.sim.take_sent(ext).len(), 1);
    }

    #[test]
    fn a_resync_walk_sends_peers_connections_and_a_refresh_does_not() {
        let mut w = wired();
        w.installs.push(record(41000, REAL1)).unwrap();
        let sw = &mut w.sim.workers[0];
        sw.engine.sync_housekeep(64, &mut sw.totals);
        assert_eq!(w.sim.counter("sync_installed"), 1);
        // A half-open connection of this node's: never walked.
        w.sim.rx(
            0,
            0,
            &ip_frame(false, &tcp(Ip::new(CLIENT, VIP), 42000, 80, b""), 0).0,
        );
        // Refresh (request 1): nothing (the peer's connection is not echoed).
        w.walk.requested.store(1, Relaxed);
        let sw = &mut w.sim.workers[0];
        sw.engine.sync_housekeep(1 << 20, &mut sw.totals);
        assert_eq!(w.walk.done.load(Relaxed), 1);
        assert!(w.events.pop().is_none());
        // Resync (request 2, full): the peer's connection too, for the node that lost its table.
        w.walk.full.store(2, Relaxed);
        w.walk.requested.store(2, Relaxed);
        let sw = &mut w.sim.workers[0];
        sw.engine.sync_housekeep(1 << 20, &mut sw.totals);
        assert_eq!(w.walk.done.load(Relaxed), 2);
        let e = w.events.pop().expect("the installed connection");
        assert_eq!((e.cport, e.state), (41000, TcpState::Established));
        assert!(w.events.pop().is_none());
        // The next refresh (request 3) is back to this node's own.
        w.walk.requested.store(3, Relaxed);
        let sw = &mut w.sim.workers[0];
        sw.engine.sync_housekeep(1 << 20, &mut sw.totals);
        assert_eq!(w.walk.done.load(Relaxed), 3);
        assert!(w.events.pop().is_none());
    }

    fn record(cport: u16, real: Ipv4Addr) -> Record {
        Record {
            proto: Protocol::Tcp,
            state: TcpState::Established,
            mode: ForwardMode::Nat,
            template: false,
            vip: IpAddr::V4(VIP),
            vport: 80,
            client: IpAddr::V4(CLIENT),
            cport,
            real: IpAddr::V4(real),
            rport: 80,
            timeout: 700,
        }
    }

    #[test]
    fn new_connections_and_state_changes_are_emitted_and_losses_counted() {
        let mut w = wired();
        let syn = ip_frame(false, &tcp(Ip::new(CLIENT, VIP), 40000, 80, b""), 0).0;
        w.sim.rx(0, 0, &syn);
        // Half-open (SYN_RECV): not synced.
        assert!(w.events.pop().is_none());
        // The client's ACK establishes it: its first event.
        let ack = ack_frame(CLIENT, 40000, b"");
        w.sim.rx(0, 0, &ack);
        let e = w
            .events
            .pop()
            .expect("an event for the established connection");
        assert_eq!(
            (e.client, e.cport, e.vip, e.vport, e.state),
            (CLIENT, 40000, VIP, 80, TcpState::Established)
        );
        // The same ACK again: no state change, no event.
        w.sim.rx(0, 0, &ack);
        assert!(w.events.pop().is_none());
        // A connection reset half-open is never sent.
        w.sim.rx(
            0,
            0,
            &ip_frame(false, &tcp(Ip::new(CLIENT, VIP), 40001, 80, b""), 0).0,
        );
        let mut rst = tcp(Ip::new(CLIENT, VIP), 40001, 80, b"");
        rst[33] = 0x04;
        w.sim.rx(0, 0, &ip_frame(false, &rst, 0).0);
        assert!(w.events.pop().is_none());
        // UDP connections are reported when created (their state never changes).
        for p in 0..5u16 {
            let q = ip_frame(
                false,
                &udp(Ip::new(CLIENT, VIP), 50000 + p, 53, b"q", false),
                0,
            )
            .0;
            w.sim.rx(0, 0, &q);
        }
        assert_eq!(w.events.len(), 4);
        assert_eq!(w.sim.counter("sync_events"), 5);
        assert_eq!(w.sim.counter("sync_events_lost"), 1);
    }

    #[test]
    fn records_install_by_address_and_port_and_the_walk_streams_the_table() {
        let mut w = wired();
        w.installs.push(record(41000, REAL1)).unwrap();
        // No such real (address), no such service (port), another family.
        w.installs
            .push(record(41001, Ipv4Addr::new(198, 19, 0, 99)))
            .unwrap();
        w.installs
            .push(Record {
                vport: 81,
                ..record(41002, REAL1)
            })
            .unwrap();
        let sw = &mut w.sim.workers[0];
        sw.engine.now = 5_000;
        sw.engine.sync_housekeep(64, &mut sw.totals);
        assert_eq!(w.sim.counter("sync_installed"), 1);
        assert_eq!(w.sim.counter("sync_install_unknown"), 2);
        let eng = &w.sim.workers[0].engine;
        let h = eng
            .conns
            .lookup_in(Protocol::Tcp, CLIENT, 41000, VIP, 80)
            .expect("installed");
        let c = eng.conns.get(h).unwrap();
        assert_eq!(
            (c.state, c.real_addr, c.expires_ms),
            (TcpState::Established, REAL1, 705_000)
        );
        // A walk does not send a peer's connection back to the peers.
        w.walk.requested.store(1, Relaxed);
        let sw = &mut w.sim.workers[0];
        sw.engine.sync_housekeep(1 << 20, &mut sw.totals);
        assert_eq!(w.walk.done.load(Relaxed), 1);
        assert!(w.events.pop().is_none());
        // A client's next packet (no SYN) is forwarded on the installed connection.
        let mut ack = tcp(Ip::new(CLIENT, VIP), 41000, 80, b"data");
        ack[33] = 0x10;
        let before = w.sim.counter("nat_in");
        w.sim.rx(0, 0, &ip_frame(false, &ack, 0).0);
        assert_eq!(w.sim.counter("nat_in"), before + 1);
        assert_eq!(w.sim.counter("drop_no_conn"), 0);
        // A walk: every live connection, once (its timer restarted by that packet: 900 s);
        // done set when the table is covered.
        w.walk.requested.store(2, Relaxed);
        let sw = &mut w.sim.workers[0];
        sw.engine.sync_housekeep(1 << 20, &mut sw.totals);
        assert_eq!(w.walk.done.load(Relaxed), 2);
        let e = w.events.pop().expect("the connection, this node's now");
        assert_eq!(
            (e.cport, e.state, e.timeout),
            (41000, TcpState::Established, 900)
        );
        assert!(w.events.pop().is_none());
    }

    #[test]
    fn a_vrrp_master_sends_its_peers_connections_back_a_backup_does_not() {
        let vrrp = "vrrp: {vrid: 51, priority: 100, port: ext}\n";
        let mut w = wired_from(&format!("{EXAMPLE_CONFIG}{vrrp}"));
        w.installs.push(record(41000, REAL1)).unwrap();
        // Any frame makes the engine follow the published snapshot (an ARP request for the
        // port's own address).
        let mut arp = vec![0u8; 60];
        crate::lb::forward::arp::build_arp_request(
            &mut arp,
            crate::wire::MacAddr([2, 0, 0, 0, 1, 2]),
            CLIENT,
            Ipv4Addr::new(198, 18, 0, 1),
        )
        .unwrap();
        let ext = w.sim.port("ext");
        for (active, pass, sent) in [(false, 1, 0), (true, 2, 1)] {
            w.sim.set_ha_active(active).unwrap();
            w.sim.rx(0, ext, &arp);
            w.walk.requested.store(pass, Relaxed);
            let sw = &mut w.sim.workers[0];
            sw.engine.sync_housekeep(1 << 20, &mut sw.totals);
            assert_eq!(w.walk.done.load(Relaxed), pass);
            assert_eq!(w.events.len(), sent, "active {active}");
        }
        let e = w.events.pop().expect("the peer's connection");
        assert_eq!((e.cport, e.state), (41000, TcpState::Established));
    }

    #[test]
    fn templates_are_sent_with_their_first_connection_and_steer_the_peers_scheduling() {
        let sticky = Ipv4Addr::new(198, 18, 0, 102);
        let syn = |client: Ipv4Addr, cport: u16| {
            ip_frame(false, &tcp(Ip::new(client, sticky), cport, 443, b""), 0).0
        };
        // Sender: rr gives the first /24 real1 and CLIENT's /24 real2.
        let ack = |client: Ipv4Addr, cport: u16| {
            let mut a = tcp(Ip::new(client, sticky), cport, 443, b"");
            a[33] = 0x10;
            ip_frame(false, &a, 0).0
        };
        let mut a = wired();
        a.sim.rx(0, 0, &syn(Ipv4Addr::new(198, 18, 1, 2), 1000));
        a.sim.rx(0, 0, &ack(Ipv4Addr::new(198, 18, 1, 2), 1000));
        a.sim.rx(0, 0, &syn(CLIENT, 40000));
        a.sim.rx(0, 0, &ack(CLIENT, 40000));
        let events: Vec<SyncEvent> = std::iter::from_fn(|| a.events.pop()).collect();
        assert_eq!(events.len(), 4, "{events:?}");
        let tpl = events[3];
        assert!(tpl.template && !events[2].template, "{events:?}");
        assert_eq!(
            (
                tpl.client,
                tpl.cport,
                tpl.vip,
                tpl.vport,
                tpl.real,
                tpl.timeout
            ),
            (
                Ipv4Addr::new(198, 18, 0, 0),
                0,
                sticky,
                443,
                Ipv4Addr::new(198, 19, 0, 12),
                360
            )
        );
        // Receiver: without the template rr would give a new client real1.
        let mut b = wired();
        b.installs.push(tpl.record()).unwrap();
        let sw = &mut b.sim.workers[0];
        sw.engine.now = 5_000;
        sw.engine.sync_housekeep(64, &mut sw.totals);
        assert_eq!(b.sim.counter("sync_installed"), 1);
        let neighbour = Ipv4Addr::new(198, 18, 0, 3);
        b.sim.rx(0, 0, &syn(neighbour, 2000));
        let eng = &b.sim.workers[0].engine;
        let h = eng
            .conns
            .lookup_in(Protocol::Tcp, neighbour, 2000, sticky, 443)
            .expect("connection");
        assert_eq!(
            eng.conns.get(h).unwrap().real_addr,
            Ipv4Addr::new(198, 19, 0, 12)
        );
    }
}
