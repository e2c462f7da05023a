//! The local address each datagram of a wildcard udp listener (`0.0.0.0`, `[::]`) was
//! sent to, and replies sent from that address (`IP_PKTINFO` / `IPV6_PKTINFO`).
//!
//! Why: a socket bound to a wildcard address sends with the source address the routing
//! table picks, not the one the client wrote to. A client that sent to a second address
//! of the host (a VIP, `127.0.0.9`) got its reply from another address and dropped it
//! (dig: timed out), as nginx's stream module avoids the same way. Linux only; elsewhere
//! replies go out as the system picks, as before.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;

/// Asks the kernel to report each datagram's destination address on `sock`.
#[cfg(target_os = "linux")]
pub(crate) fn enable(sock: &UdpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    let (level, name) = match sock.local_addr()? {
        SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO),
        SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    };
    // SAFETY: a valid descriptor and a c_int option value of the size given.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn enable(_sock: &UdpSocket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "IP_PKTINFO is Linux only",
    ))
}

/// Room for one `in6_pktinfo` control message (the larger of the two), 8-byte aligned.
#[cfg(target_os = "linux")]
type Control = [u64; 8];

/// One datagram: its length, sender and the local address it was sent to (when the
/// kernel said). `WouldBlock` when none is waiting.
#[cfg(target_os = "linux")]
pub(crate) fn recv(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    use std::os::fd::AsRawFd;
    // SAFETY: every pointer in `msg` points at a live local of the size recorded beside
    // it; the control messages are read only within `msg_controllen` through the CMSG
    // macros, with unaligned reads.
    unsafe {
        let mut from: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control: Control = [0; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of::<Control>() as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let client = match i32::from(from.ss_family) {
            libc::AF_INET => {
                let a: libc::sockaddr_in =
                    std::ptr::read_unaligned((&from as *const libc::sockaddr_storage).cast());
                SocketAddr::new(
                    IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes()),
                    u16::from_be(a.sin_port),
                )
            }
            libc::AF_INET6 => {
                let a: libc::sockaddr_in6 =
                    std::ptr::read_unaligned((&from as *const libc::sockaddr_storage).cast());
                SocketAddr::V6(std::net::SocketAddrV6::new(
                    a.sin6_addr.s6_addr.into(),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                ))
            }
            _ => return Err(io::Error::other("datagram from a non-IP address")),
        };
        let mut local = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                local = Some(IpAddr::from(
                    u32::from_be(info.ipi_addr.s_addr).to_be_bytes(),
                ));
            } else if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                local = Some(IpAddr::from(info.ipi6_addr.s6_addr));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Ok((n as usize, client, local))
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn recv(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    sock.try_recv_from(buf).map(|(n, from)| (n, from, None))
}

/// Sends `data` to `to` from the local address `from`. `WouldBlock` when the socket's
/// buffer is full.
#[cfg(target_os = "linux")]
pub(crate) fn send(
    sock: &UdpSocket,
    data: &[u8],
    to: SocketAddr,
    from: IpAddr,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let dest = socket2::SockAddr::from(to);
    // SAFETY: as in `recv`; the one control message is written within the buffer, whose
    // used length is `CMSG_SPACE` of its payload.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let mut control: Control = [0; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = dest.as_ptr() as *mut libc::c_void;
        msg.msg_namelen = dest.len();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        match (from, to) {
            (IpAddr::V4(src), SocketAddr::V4(_)) => {
                let size = std::mem::size_of::<libc::in_pktinfo>() as u32;
                msg.msg_controllen = libc::CMSG_SPACE(size) as _;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::IPPROTO_IP;
                (*c).cmsg_type = libc::IP_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size) as _;
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(src).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
            }
            (IpAddr::V6(src), SocketAddr::V6(_)) => {
                let size = std::mem::size_of::<libc::in6_pktinfo>() as u32;
                msg.msg_controllen = libc::CMSG_SPACE(size) as _;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::IPPROTO_IPV6;
                (*c).cmsg_type = libc::IPV6_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size) as _;
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
            }
            _ => {
                msg.msg_control = std::ptr::null_mut();
                msg.msg_controllen = 0;
            }
        }
        let n = libc::sendmsg(sock.as_raw_fd(), &msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn send(
    sock: &UdpSocket,
    data: &[u8],
    to: SocketAddr,
    _from: IpAddr,
) -> io::Result<usize> {
    sock.try_send_to(data, to)
}
