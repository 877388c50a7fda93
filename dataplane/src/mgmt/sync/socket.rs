//! The sync socket: UDP on the sync port's exception interface (the kernel side of its tap),
//! non-blocking; multicast sent out of that interface only (TTL 1, no loopback) and the group
//! joined on it; a receive buffer large enough for a resync stream.

use crate::config::SyncConfig;
use crate::tunables::SYNC_RCVBUF;
use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

pub(super) struct SyncSocket(UdpSocket);

impl SyncSocket {
    pub fn open(sc: &SyncConfig, port_ip: Ipv4Addr) -> Result<SyncSocket> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .context("sync: cannot create a UDP socket")?;
        s.set_reuse_address(true)?;
        s.set_nonblocking(true)?;
        s.bind(&SocketAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, sc.port)).into())
            .with_context(|| format!("sync.port: cannot bind UDP port {}", sc.port))?;
        s.set_multicast_if_v4(&port_ip)
            .context("sync: cannot send multicast from the sync port's interface")?;
        s.set_multicast_loop_v4(false)?;
        s.set_multicast_ttl_v4(1)?;
        s.join_multicast_v4(&sc.group, &port_ip)
            .with_context(|| format!("sync.group: cannot join {} on {port_ip}", sc.group))?;
        let s: UdpSocket = s.into();
        // Room for a resync stream while this thread is kept off the CPU (the default, about
        // 90 full datagrams, overflowed in scripts/resync-bench).
        match crate::dpdk::sock::force_recv_buffer(&s, SYNC_RCVBUF) {
            Ok(n) => tracing::debug!("sync socket receive buffer: {n} bytes"),
            Err(e) => tracing::warn!("sync: cannot enlarge the socket receive buffer: {e}"),
        }
        Ok(SyncSocket(s))
    }

    /// Sends `datagrams` to `to` in one system call; how many the kernel took.
    pub fn send_batch(&self, datagrams: &[&[u8]], to: SocketAddrV4) -> std::io::Result<usize> {
        crate::dpdk::sock::send_batch(&self.0, datagrams, to)
    }

    /// One datagram if one is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        self.0.recv_from(buf).ok().map(|(n, _)| n)
    }
}
