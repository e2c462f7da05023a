//! The open-file limit of the process.
//!
//! A proxied connection holds two descriptors (client and server; four while it splices),
//! so a shell's default soft limit of 1024 caps a proxy at about 500 connections, with
//! accepts failing (`EMFILE`) beyond that. The hard limit is what the operator allows
//! (`ulimit -Hn`, systemd's `LimitNOFILE`), so switchyard raises its soft limit to it at
//! start, as Go programs and HAProxy do.

use std::io;

/// The limit before and after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit found at start.
    pub before: u64,
    /// The soft limit now in force (the hard limit, unless raising failed).
    pub now: u64,
}

/// Below this many descriptors, a proxy is worth a warning at start.
pub const LOW_FD_LIMIT: u64 = 4096;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
pub fn raise_open_file_limit() -> io::Result<FdLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur >= lim.rlim_max {
        return Ok(FdLimit {
            before,
            now: before,
        });
    }
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the rlimit we own; raising the soft limit up to the hard
    // limit needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(FdLimit {
        before,
        now: lim.rlim_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let limit = raise_open_file_limit().unwrap();
        assert!(limit.now >= limit.before);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the rlimit we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
        assert_eq!(lim.rlim_cur, limit.now);
        assert_eq!(
            raise_open_file_limit().unwrap().before,
            limit.now,
            "idempotent"
        );
    }
}
