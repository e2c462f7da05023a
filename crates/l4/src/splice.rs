//! Linux zero-copy forwarding: `splice(2)` from one TCP socket into a pipe and from the
//! pipe into the other socket, so payload bytes never enter userspace.
//!
//! Driven by tokio's readiness (`readable()`/`writable()` + `try_io`), so a would-block
//! clears readiness exactly as tokio expects. Only directions that have proved to be bulk
//! transfers get a pipe (see `copy.rs`), so it is grown to 1 MiB at once, for fewer
//! splice calls per megabyte; short connections never pay for pipes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::copy::DirError;

/// Pipe size asked for (the kernel may cap it at /proc/sys/fs/pipe-max-size).
const BIG_PIPE: libc::c_int = 1 << 20;

/// A pipe used as the in-kernel buffer of one direction.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    size: usize,
}

// === impl Pipe ===

impl Pipe {
    /// A non-blocking pipe, or the error (e.g. EMFILE) so the caller can fall back.
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid 2-element array for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, both descriptors are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_GETPIPE_SZ on a pipe we own.
        let size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        let size = if size > 0 { size as usize } else { 65536 };
        let mut pipe = Pipe { read, write, size };
        pipe.grow();
        Ok(pipe)
    }

    fn grow(&mut self) {
        // SAFETY: F_SETPIPE_SZ on a pipe we own; failure (limits) keeps the old size.
        let size = unsafe { libc::fcntl(self.write.as_raw_fd(), libc::F_SETPIPE_SZ, BIG_PIPE) };
        if size > 0 {
            self.size = size as usize;
        }
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: both descriptors are open for the duration of the call; null offsets are
    // required for sockets and pipes.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Moves bytes from `from` to `to` until `from` reads EOF; calls `moved(n)` after each
/// chunk reaches `to`. Returns the bytes moved.
pub async fn forward(
    from: &TcpStream,
    to: &TcpStream,
    pipe: &mut Pipe,
    moved: &mut impl FnMut(usize),
) -> Result<u64, DirError> {
    let mut total = 0u64;
    loop {
        let (src, pipe_w) = (from.as_raw_fd(), pipe.write.as_raw_fd());
        let size = pipe.size;
        let n = loop {
            from.readable().await.map_err(DirError::read)?;
            match from.try_io(Interest::READABLE, || splice(src, pipe_w, size)) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(DirError::read(e)),
            }
        };
        if n == 0 {
            return Ok(total);
        }
        let mut left = n;
        let (pipe_r, dst) = (pipe.read.as_raw_fd(), to.as_raw_fd());
        while left > 0 {
            to.writable().await.map_err(DirError::write)?;
            match to.try_io(Interest::WRITABLE, || splice(pipe_r, dst, left)) {
                Ok(0) => return Err(DirError::write(io::ErrorKind::WriteZero.into())),
                Ok(w) => {
                    left -= w;
                    total += w as u64;
                    moved(w);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(DirError::write(e)),
            }
        }
    }
}
