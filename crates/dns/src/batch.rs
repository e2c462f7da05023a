//! Linux `recvmmsg`/`sendmmsg`: up to [`BATCH`] datagrams per system call.
//!
//! Answering a DNS query is cheap; the system calls around it are not (profiles show the
//! kernel dominating). Like gdnsd, each UDP worker is a thread blocked in `recvmmsg`
//! (woken by the kernel directly, no event loop in between) that takes every queued
//! datagram at once and sends the answers in one `sendmmsg`. The buffers and headers are allocated once per
//! worker; the pointers inside the headers are refreshed before each call because the
//! struct may have moved.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams per system call.
pub const BATCH: usize = 64;
/// Largest datagram read (longer ones are cut and then fail to parse cleanly).
pub const RECV_MAX: usize = 4096;

/// One worker's batch buffers.
pub struct Batch {
    /// Received datagrams, `RECV_MAX` bytes each.
    bufs: Box<[[u8; RECV_MAX]]>,
    /// Length of each received datagram.
    pub lens: [usize; BATCH],
    /// Source address of each received datagram.
    pub peers: [Option<SocketAddr>; BATCH],
    /// Answers to send, one per slot (empty = nothing to send).
    pub outs: Vec<Vec<u8>>,
    names: Box<[libc::sockaddr_storage; BATCH]>,
    iovs: Box<[libc::iovec; BATCH]>,
    hdrs: Box<[libc::mmsghdr; BATCH]>,
    /// For `sendmmsg`: the slot of each message.
    order: [usize; BATCH],
}

// === impl Batch ===

// SAFETY: the raw pointers in `iovs` and `hdrs` only ever point into this struct's own
// heap buffers, are rewritten before every system call, and are never dereferenced by
// Rust code; moving the struct to another thread moves the buffers with it.
unsafe impl Send for Batch {}

impl Default for Batch {
    fn default() -> Self {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zeroed_names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        let zeroed_iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let zeroed_hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        Batch {
            bufs: vec![[0u8; RECV_MAX]; BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            peers: [None; BATCH],
            outs: (0..BATCH).map(|_| Vec::with_capacity(1232)).collect(),
            names: Box::new(zeroed_names),
            iovs: Box::new(zeroed_iovs),
            hdrs: Box::new(zeroed_hdrs),
            order: [0; BATCH],
        }
    }
}

impl Batch {
    /// The datagram received in slot `i`.
    pub fn packet(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i].min(RECV_MAX)]
    }

    /// Receive up to [`BATCH`] datagrams: blocks (up to the socket's receive timeout)
    /// until one is there, then takes whatever else is queued; how many.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: RECV_MAX,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers owned by `self` of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            self.lens[i] = self.hdrs[i].msg_len as usize;
            self.peers[i] = to_socket_addr(&self.names[i]);
            self.outs[i].clear();
        }
        Ok(n)
    }

    /// Send the answers of `slots` (each to its slot's peer, in order); how many
    /// messages the kernel took.
    pub fn send(&mut self, fd: RawFd, slots: &[usize]) -> io::Result<usize> {
        let mut count = 0;
        for &i in slots {
            let Some(peer) = self.peers[i] else { continue };
            let len = write_sockaddr(&mut self.names[count], peer);
            self.iovs[count] = libc::iovec {
                iov_base: self.outs[i].as_mut_ptr().cast(),
                iov_len: self.outs[i].len(),
            };
            let h = &mut self.hdrs[count].msg_hdr;
            h.msg_name = (&mut self.names[count] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = len;
            h.msg_iov = &mut self.iovs[count];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.order[count] = i;
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        // SAFETY: the first `count` headers point at live buffers owned by `self`.
        let n = unsafe { libc::sendmmsg(fd, self.hdrs.as_mut_ptr(), count as libc::c_uint, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// A received `sockaddr_storage` as a `SocketAddr`.
fn to_socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Write `addr` into `s`; its length.
fn write_sockaddr(s: &mut libc::sockaddr_storage, addr: SocketAddr) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let out = unsafe { &mut *(s as *mut _ as *mut libc::sockaddr_in) };
            out.sin_family = libc::AF_INET as libc::sa_family_t;
            out.sin_port = a.port().to_be();
            out.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            out.sin_zero = [0; 8];
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in6.
            let out = unsafe { &mut *(s as *mut _ as *mut libc::sockaddr_in6) };
            out.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            out.sin6_port = a.port().to_be();
            out.sin6_flowinfo = a.flowinfo();
            out.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            out.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip() {
        for a in ["192.0.2.1:53", "[2001:db8::1]:5353"] {
            let addr: SocketAddr = a.parse().unwrap();
            // SAFETY: all-zero is a valid sockaddr_storage.
            let mut s: libc::sockaddr_storage = unsafe { zeroed() };
            write_sockaddr(&mut s, addr);
            assert_eq!(to_socket_addr(&s), Some(addr));
        }
    }
}
