//! The socket calls connection sync (mgmt/sync/) needs beyond std and socket2: `sendmmsg(2)`,
//! many datagrams to one destination in one system call, and `SO_RCVBUFFORCE`, a receive buffer
//! above `net.core.rmem_max`. Not DPDK, but kept here because this module is where the crate's
//! `unsafe` lives; the management thread calls them, never a worker.

use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

/// Most datagrams one call takes (the kernel's UIO_MAXIOV is 1024; a sync tick sends far fewer).
pub const MAX_BATCH: usize = 64;

/// Sends each of `datagrams` to `to` with one `sendmmsg` call. Returns how many the kernel took
/// (they are taken in order; fewer than given when the socket buffer filled), or the error of
/// the first one when it took none.
pub fn send_batch(
    sock: &UdpSocket,
    datagrams: &[&[u8]],
    to: SocketAddrV4,
) -> std::io::Result<usize> {
    let n = datagrams.len().min(MAX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_BATCH];
    // SAFETY: mmsghdr is plain data (pointers and integers); all-zero is a valid empty header.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for (i, d) in datagrams[..n].iter().enumerate() {
        iov[i] = libc::iovec {
            iov_base: d.as_ptr() as *mut libc::c_void,
            iov_len: d.len(),
        };
        msgs[i].msg_hdr.msg_name = &addr as *const libc::sockaddr_in as *mut libc::c_void;
        msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `msgs[..n]` point at `addr`, `iov[..n]` and the datagrams' bytes, all alive and
    // unmoved for the duration of the call; the kernel only reads them (and writes msg_len).
    let r = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Sets the socket's receive buffer to `bytes` even above `net.core.rmem_max` (needs
/// CAP_NET_ADMIN, which the appliance has); falls back to the capped `SO_RCVBUF`. Returns the
/// size the kernel reports (it doubles the request for its bookkeeping).
pub fn force_recv_buffer(sock: &UdpSocket, bytes: usize) -> std::io::Result<usize> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let set = |opt: libc::c_int| {
        // SAFETY: passes a pointer to a live c_int and its size; the kernel only reads it.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    if set(libc::SO_RCVBUFFORCE) != 0 && set(libc::SO_RCVBUF) != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket2::SockRef::from(sock).recv_buffer_size()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn the_receive_buffer_grows() {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let before = socket2::SockRef::from(&s).recv_buffer_size().unwrap();
        let after = force_recv_buffer(&s, 4 * before).unwrap();
        // Without CAP_NET_ADMIN only up to rmem_max: at least not smaller.
        assert!(after >= before, "{before} -> {after}");
    }

    #[test]
    fn sends_every_datagram_in_order() {
        let rx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let to = match rx.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let tx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let data: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
        assert_eq!(send_batch(&tx, &refs, to).unwrap(), 5);
        assert_eq!(send_batch(&tx, &[], to).unwrap(), 0);
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        for d in &data {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], d.as_slice());
        }
    }
}
