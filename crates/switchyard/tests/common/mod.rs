//! What the binary's tests share: free ports and stopping the process they started.

#![allow(dead_code)]

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

#[allow(unused_imports)] // not every test file that includes this module uses it
pub use switchyard_testkit::free_port;

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &Child) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

/// `child`'s exit status once it exits within `limit`; else it is killed and `None`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
