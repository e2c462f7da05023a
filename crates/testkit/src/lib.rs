//! Test helpers: test backends, generated certificates, port-0 listeners.
//!
//! A dev-dependency only. Every backend binds `127.0.0.1:0`, runs on the caller's tokio
//! runtime and stops when its handle is dropped, so tests need no cleanup and no fixed
//! ports. Backends record what they received (parsed requests and the raw bytes) so tests
//! can prove what a proxy did or did not forward.

pub mod backends;
pub mod certs;
pub mod logs;
pub mod process;
mod raw;
pub mod special;

pub use backends::{Backend, Seen};
pub use certs::{Issued, KeyAlg, TestCa};

/// A loopback port nobody listens on now (bound to port 0, then released), for
/// configurations that must name a port before the process under test binds it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
