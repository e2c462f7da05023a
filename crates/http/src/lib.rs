//! The L7 proxy: HTTP/1.1 and HTTP/2, routing, TLS termination, affinity.
//!
//! The runtime builds a [`State`] per http/https listener with [`State::build`] (routes
//! compiled, pools resolved, TLS loaded), keeps it in an `ArcSwap` it replaces on
//! reload, and runs [`serve`] on the bound socket. Counters live in [`ListenerStats`]
//! (inside [`Shared`], which survives reloads); access log lines go through
//! [`AccessLogger`]. `docs/http.md` is the user-facing reference.
//!
//! Module map: `server` accepts connections and gives each to an engine: `h1` (our own
//! HTTP/1 engine, for HTTP/1 clients of listeners whose pools speak HTTP/1.1) or hyper
//! (HTTP/2, and listeners reaching an HTTP/2 pool). `framing` is the strict HTTP/1
//! framing check both use (`guard` applies it in front of hyper); `proxy` routes and
//! rewrites a request (`decide`, shared) and, for hyper, sends it with retries; `route`
//! is the compiled route table; `forward` the forwarding and hop-by-hop headers;
//! `backend` the connections to servers (hyper's and the raw ones of `h1`); `body` the
//! hyper engine's streaming bodies; `tls` SNI certificate choice and backend
//! re-encryption; `affinity` cookie tokens and rendezvous hashing.

pub mod access_log;
pub mod affinity;
mod backend;
mod body;
mod error;
mod forward;
pub mod framing;
mod guard;
mod h1;
pub mod parse;
mod path;
mod proxy;
mod route;
mod server;
mod state;
mod stats;
pub mod tls;

pub use access_log::AccessLogger;
pub use body::ResponseBody;
pub use error::BuildError;
#[doc(hidden)]
pub use h1::fuzz as fuzz_h1;
pub use server::serve;
pub use state::{Shared, State, MAX_HEADER_BYTES};
pub use stats::{ListenerStats, StatsSnapshot};
