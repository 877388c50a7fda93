//! Connection sync's transport in the management thread (docs/sync.md): workers' events are
//! batched into authenticated UDP datagrams sent from the sync port's exception interface to the
//! multicast group (or each unicast peer); peers' datagrams are checked (format, HMAC, replay
//! window) and their records routed to the install queue of the worker that owns each flow.
//! A full resync is a table walk on every worker streamed like any other events
//! (`resync.rs`). Ordinary non-blocking sockets, polled once per management tick.

mod resync;
mod socket;
pub mod status;
mod wiring;

pub use status::{SyncStatus, SyncView};
pub use wiring::{wire, SyncQueues};

use crate::config::{Config, SyncConfig, SyncRole};
use crate::lb::conn::TcpState;
use crate::lb::flow;
use crate::lb::snapshot::Snapshot;
use crate::lb::sync::{
    emit_datagram, parse_datagram, Datagram, DatagramKind, Header, Key, Record, ReplayWindow,
    SyncError, SyncEvent, WindowError, MAX_DATAGRAM,
};
use crate::mgmt::MgmtCounters;
use crate::tunables::{SYNC_DATAGRAMS_PER_TICK, SYNC_FLUSH, SYNC_RECV_PER_TICK, SYNC_SEND_BATCH};
use resync::Resync;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Records in one full IPv4 datagram.
const RECORDS_PER_DATAGRAM: usize = (MAX_DATAGRAM - 20 - 32) / 28;

/// The sync sender and receiver of one node.
pub struct SyncNode {
    role: SyncRole,
    key: Key,
    sender: u32,
    seq: u64,
    socket: socket::SyncSocket,
    dests: Vec<SocketAddrV4>,
    queues: SyncQueues,
    /// Records waiting to fill a datagram, and when the oldest came.
    batch: Vec<Record>,
    batch_since: Option<Instant>,
    /// The batch holds a half-open connection (`sync.half_open`): it goes out as soon as the
    /// workers' queues are drained, not after `SYNC_FLUSH`.
    batch_urgent: bool,
    windows: HashMap<u32, ReplayWindow>,
    refresh: Duration,
    last_refresh: Instant,
    resync: Resync,
    status: Arc<SyncStatus>,
    /// Datagrams built and not sent yet (`out_n` of them, `out_len` bytes each): sent together
    /// with one `sendmmsg` per destination.
    out: Vec<Vec<u8>>,
    out_len: Vec<usize>,
    out_n: usize,
}

impl SyncNode {
    /// Opens the socket on the sync port's exception interface. `None` when the config has no
    /// sync section.
    pub fn start(cfg: &Config, queues: SyncQueues) -> anyhow::Result<Option<SyncNode>> {
        let Some(sc) = &cfg.sync else {
            return Ok(None);
        };
        let key = Key::new(&sc.read_key().map_err(anyhow::Error::msg)?);
        let port_ip = sc
            .port_index(cfg)
            .and_then(|i| cfg.ports[i].ip)
            .map(|n| n.addr)
            .ok_or_else(|| anyhow::anyhow!("sync: the sync port has no address"))?;
        let socket = socket::SyncSocket::open(sc, port_ip)?;
        let dests = destinations(sc);
        let status = Arc::new(SyncStatus::default());
        let s = SyncNode {
            role: sc.role,
            key,
            sender: sc.sender(cfg),
            // Strictly increasing across restarts (docs/sync.md, "Replay window").
            seq: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_micros() as u64),
            socket,
            dests,
            queues,
            batch: Vec::with_capacity(RECORDS_PER_DATAGRAM),
            batch_since: None,
            batch_urgent: false,
            windows: HashMap::new(),
            refresh: sc.refresh.0,
            last_refresh: Instant::now(),
            resync: Resync::new(sc.role.receives()),
            status,
            out: vec![vec![0u8; MAX_DATAGRAM]; SYNC_SEND_BATCH],
            out_len: vec![0; SYNC_SEND_BATCH],
            out_n: 0,
        };
        s.publish_status();
        tracing::info!(
            role = ?sc.role,
            sender = s.sender,
            to = ?s.dests,
            port = sc.port,
            "connection sync on {port_ip}"
        );
        Ok(Some(s))
    }

    pub fn status(&self) -> Arc<SyncStatus> {
        self.status.clone()
    }

    /// This node's own resync (VRRP holds preemption until it is done).
    pub fn own_resync(&self) -> crate::mgmt::vrrp::hold::ResyncProgress {
        self.resync.progress()
    }

    /// One round: receive, route installs, stream events (paced), ask for or finish a resync.
    pub fn tick(&mut self, snap: &Snapshot, c: &mut MgmtCounters) {
        self.receive(snap, c);
        if self.role.sends() {
            if self.last_refresh.elapsed() >= self.refresh {
                self.last_refresh = Instant::now();
                for w in &self.queues.walks {
                    w.requested.fetch_add(1, Relaxed);
                }
            }
            let streamed = self.resync.stream_check(&self.queues);
            self.send_events(c);
            if streamed && self.resync.stream_flushed(&self.queues) && self.batch.is_empty() {
                self.send_control(DatagramKind::ResyncDone, c);
                self.resync.stream_done();
                tracing::info!("resync stream sent");
            }
        }
        if self.resync.should_ask() {
            self.send_control(DatagramKind::ResyncRequest, c);
            c.sync_resync_requests_sent += 1;
        }
        self.publish_status();
    }

    fn publish_status(&self) {
        self.status.set(self.resync.view(self.role, self.sender));
    }

    /// Drains the workers' event queues into datagrams, at most `SYNC_DATAGRAMS_PER_TICK`, and
    /// sends them.
    fn send_events(&mut self, c: &mut MgmtCounters) {
        self.batch_events(c);
        self.send_out(c);
    }

    fn batch_events(&mut self, c: &mut MgmtCounters) {
        let mut sent = 0;
        loop {
            let mut took = false;
            for (w, q) in self.queues.events.iter().enumerate() {
                if self.batch.len() >= RECORDS_PER_DATAGRAM {
                    break;
                }
                if let Some(e) = q.pop() {
                    self.resync.popped(w);
                    self.batch_urgent |= urgent(&e);
                    self.batch.push(e.record());
                    took = true;
                }
            }
            if !self.batch.is_empty() && self.batch_since.is_none() {
                self.batch_since = Some(Instant::now());
            }
            let full = self.batch.len() >= RECORDS_PER_DATAGRAM;
            let due = self.batch_since.is_some_and(|t| t.elapsed() >= SYNC_FLUSH);
            // The queues are empty: the end of a resync stream, or a half-open connection
            // the peers need before the real's SYN-ACK (one round trip away) can reach them.
            let drained = !took && (self.resync.streaming() || self.batch_urgent);
            if !self.batch.is_empty() && (full || due || drained) {
                self.flush(c);
                sent += 1;
                if sent >= SYNC_DATAGRAMS_PER_TICK {
                    return;
                }
            }
            if !took {
                return;
            }
        }
    }

    /// Makes the batch of records one datagram (sent with the others of this tick).
    fn flush(&mut self, c: &mut MgmtCounters) {
        if self.out_n == self.out.len() {
            self.send_out(c);
        }
        let h = self.next_header(DatagramKind::Records);
        let (n, taken) = emit_datagram(&mut self.out[self.out_n], &h, &self.batch, &self.key);
        self.batch.drain(..taken);
        if self.batch.is_empty() {
            self.batch_since = None;
            self.batch_urgent = false;
        }
        c.sync_records_sent += taken as u64;
        self.out_len[self.out_n] = n;
        self.out_n += 1;
    }

    /// Sends a control datagram now, after the datagrams built before it.
    fn send_control(&mut self, kind: DatagramKind, c: &mut MgmtCounters) {
        if self.out_n == self.out.len() {
            self.send_out(c);
        }
        let h = self.next_header(kind);
        let (n, _) = emit_datagram(&mut self.out[self.out_n], &h, &[], &self.key);
        self.out_len[self.out_n] = n;
        self.out_n += 1;
        self.send_out(c);
    }

    fn next_header(&mut self, kind: DatagramKind) -> Header {
        self.seq += 1;
        Header {
            kind,
            sender: self.sender,
            seq: self.seq,
        }
    }

    /// Sends the built datagrams to every destination, one `sendmmsg` per destination (more
    /// when the kernel takes part of a batch); what the kernel refuses is counted, not retried.
    fn send_out(&mut self, c: &mut MgmtCounters) {
        let n = self.out_n;
        if n == 0 {
            return;
        }
        self.out_n = 0;
        let datagrams: [&[u8]; SYNC_SEND_BATCH] =
            std::array::from_fn(|i| &self.out[i][..self.out_len[i]]);
        let datagrams = &datagrams[..n];
        for d in &self.dests {
            let mut done = 0;
            while done < n {
                match self.socket.send_batch(&datagrams[done..], *d) {
                    Ok(k) if k > 0 => {
                        c.sync_sent += k as u64;
                        c.sync_bytes_sent += datagrams[done..done + k]
                            .iter()
                            .map(|b| b.len() as u64)
                            .sum::<u64>();
                        done += k;
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::debug!("sync send to {d}: {e}");
                        break;
                    }
                }
            }
            c.sync_send_errors += (n - done) as u64;
        }
    }

    /// Reads up to `SYNC_RECV_PER_TICK` datagrams and acts on the good ones. Stops early while
    /// a worker's install queue has no room for a whole datagram's records: the rest wait in
    /// the socket's buffer (back-pressure, not loss, when a resync outruns the workers).
    fn receive(&mut self, snap: &Snapshot, c: &mut MgmtCounters) {
        let mut buf = [0u8; 2048];
        for _ in 0..SYNC_RECV_PER_TICK {
            if !self.installs_have_room() {
                return;
            }
            let Some(n) = self.socket.recv(&mut buf) else {
                return;
            };
            match self.accept(&buf[..n], c) {
                Ok(d) => {
                    c.sync_received += 1;
                    self.act(&d, snap, c);
                }
                Err(e) => {
                    count_drop(c, e);
                    tracing::debug!("sync datagram dropped: {e}");
                }
            }
        }
    }

    fn installs_have_room(&self) -> bool {
        self.queues
            .installs
            .iter()
            .all(|q| q.capacity() - q.len() >= RECORDS_PER_DATAGRAM)
    }

    /// Checks a datagram and moves its sender's replay window (counting the datagrams its
    /// sequence number says were missed); changes nothing else.
    fn accept<'b>(&mut self, b: &'b [u8], c: &mut MgmtCounters) -> Result<Datagram<'b>, SyncError> {
        let d = parse_datagram(b, &self.key)?;
        let h = d.header;
        if h.sender == self.sender {
            return Err(SyncError::OwnSender);
        }
        let w = self.windows.entry(h.sender).or_default();
        w.check(h.seq).map_err(|e| match e {
            WindowError::Replayed => SyncError::Replayed,
            WindowError::TooOld => SyncError::Stale,
        })?;
        count_missed(w.top(), h.seq, &mut c.sync_datagrams_missed);
        w.accept(h.seq);
        Ok(d)
    }

    /// Acts on an accepted datagram.
    fn act(&mut self, d: &Datagram<'_>, snap: &Snapshot, c: &mut MgmtCounters) {
        match d.header.kind {
            DatagramKind::Records if self.role.receives() => {
                for r in d.records() {
                    c.sync_records_received += 1;
                    self.resync.record_received();
                    let Some(w) = owner(snap, &r, self.queues.installs.len()) else {
                        c.sync_records_unknown += 1;
                        continue;
                    };
                    if self.queues.installs[w].push(r).is_err() {
                        c.sync_install_queue_full += 1;
                    }
                }
            }
            DatagramKind::Records => c.sync_records_ignored += d.len() as u64,
            DatagramKind::ResyncRequest if self.role.sends() => {
                c.sync_resync_requests_received += 1;
                tracing::info!(
                    peer = d.header.sender,
                    "resync requested: streaming the table"
                );
                self.resync.start_stream(&self.queues);
            }
            DatagramKind::ResyncRequest => {}
            DatagramKind::ResyncDone => {
                if self.resync.peer_done() {
                    tracing::info!(
                        peer = d.header.sender,
                        records = self.resync.view(self.role, self.sender).resync_records,
                        "resync complete"
                    );
                }
            }
        }
    }
}

/// Whether event `e` wants its datagram sent at once: a half-open connection's first record
/// (only a worker with `sync.half_open` sends those). Its peers must hold it before the real's
/// SYN-ACK can come back through them; batching it for `SYNC_FLUSH` (10 ms) would lose that race
/// every time (docs/scale-out.md).
fn urgent(e: &SyncEvent) -> bool {
    !e.template && e.state == TcpState::SynRecv
}

/// Where datagrams go: each unicast peer, else the group.
fn destinations(sc: &SyncConfig) -> Vec<SocketAddrV4> {
    if sc.peers.is_empty() {
        vec![SocketAddrV4::new(sc.group, sc.port)]
    } else {
        sc.peers
            .iter()
            .map(|p| SocketAddrV4::new(*p, sc.port))
            .collect()
    }
}

/// The worker that owns a record's flow: the same rule as live traffic (the client address and
/// port; for a persistent service the masked client address). `None` for a service this node
/// does not have or another family (the worker counts unknown reals itself).
fn owner(snap: &Snapshot, r: &Record, n_workers: usize) -> Option<usize> {
    let (IpAddr::V4(vip), IpAddr::V4(client)) = (r.vip, r.client) else {
        return None;
    };
    let services = &snap.services;
    let si = services.lookup_index(r.proto, vip, r.vport)?;
    let mask = services.services()[si].persistence.map(|p| p.netmask);
    Some(match mask {
        Some(m) => flow::owner_worker_persistent::<Ipv4Addr>(client, m, n_workers.max(1)),
        None => flow::owner_worker::<Ipv4Addr>(client, r.cport, n_workers.max(1)),
    })
}

/// A sender numbers its datagrams one by one, so a jump past the next number is datagrams lost
/// on the way, and one that comes late (inside the window) was counted so and is taken back.
/// The first datagram of a sender (`top` 0), and a jump too large for a live stream (a restarted
/// sender starts at its clock), count nothing.
fn count_missed(top: u64, seq: u64, missed: &mut u64) {
    const RESTART: u64 = 1 << 20;
    if top == 0 {
        return;
    }
    if seq > top + 1 && seq - top - 1 < RESTART {
        *missed += seq - top - 1;
    } else if seq < top {
        *missed = missed.saturating_sub(1);
    }
}

/// Counts a refused datagram under its reason.
fn count_drop(c: &mut MgmtCounters, e: SyncError) {
    let f = match e {
        SyncError::Truncated => &mut c.sync_drop_truncated,
        SyncError::BadMagic => &mut c.sync_drop_bad_magic,
        SyncError::WrongVersion => &mut c.sync_drop_wrong_version,
        SyncError::BadMac => &mut c.sync_drop_bad_mac,
        SyncError::Malformed => &mut c.sync_drop_malformed,
        SyncError::Replayed => &mut c.sync_drop_replayed,
        SyncError::Stale => &mut c.sync_drop_stale,
        SyncError::OwnSender => &mut c.sync_drop_own_sender,
    };
    *f += 1;
}

/// `ctl sync`'s answer: the published state and every `sync_*` counter (the workers' summed).
pub fn report(src: &crate::mgmt::control::Sources) -> crate::ctl::sync::SyncReport {
    let Some(status) = &src.sync else {
        return crate::ctl::sync::SyncReport::default();
    };
    let mut counters = std::collections::BTreeMap::new();
    for (name, v) in src.mgmt.snapshot().iter() {
        if name.starts_with("sync_") {
            counters.insert(name.to_string(), v);
        }
    }
    for w in src.counters.iter() {
        for (c, v) in w.snapshot().iter() {
            if c.name().starts_with("sync_") {
                *counters.entry(c.name().to_string()).or_insert(0) += v;
            }
        }
    }
    crate::ctl::sync::SyncReport {
        enabled: true,
        status: status.get(),
        counters,
    }
}

#[cfg(test)]
mod tests {
    use super::{count_missed, urgent};
    use crate::config::ForwardMode;
    use crate::lb::conn::TcpState;
    use crate::lb::sync::SyncEvent;
    use crate::lb::types::Protocol;
    use std::net::Ipv4Addr;

    #[test]
    fn only_a_half_open_connection_is_sent_at_once() {
        let e = SyncEvent {
            template: false,
            proto: Protocol::Tcp,
            state: TcpState::SynRecv,
            mode: ForwardMode::Nat,
            client: Ipv4Addr::new(198, 18, 2, 2),
            cport: 40000,
            vip: Ipv4Addr::new(198, 18, 1, 100),
            vport: 80,
            real: Ipv4Addr::new(198, 19, 0, 11),
            rport: 80,
            timeout: 60,
        };
        assert!(urgent(&e));
        for state in [TcpState::Established, TcpState::Close, TcpState::None] {
            assert!(!urgent(&SyncEvent { state, ..e }), "{state:?}");
        }
        assert!(!urgent(&SyncEvent {
            template: true,
            ..e
        }));
    }

    #[test]
    fn sequence_gaps_count_missed_datagrams() {
        let mut m = 0;
        count_missed(0, 1_000, &mut m); // first from this sender
        count_missed(1_000, 1_001, &mut m); // next
        assert_eq!(m, 0);
        count_missed(1_001, 1_005, &mut m); // 1 002..1 004 missing
        assert_eq!(m, 3);
        count_missed(1_005, 1_003, &mut m); // one of them, late
        assert_eq!(m, 2);
        count_missed(1_005, 1_005 + (1 << 30), &mut m); // a restarted sender
        assert_eq!(m, 2);
    }
}
