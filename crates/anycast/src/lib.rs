//! Health-driven anycast: switchyard decides, BIRD 2 speaks BGP.
//!
//! For each `[[anycast.announce]]` the [`Controller`] keeps the named BIRD protocol
//! (typically a `static` protocol holding the service prefix, exported to the BGP peers)
//! enabled while every listed pool has at least `min_healthy` servers up, and disabled
//! otherwise, over BIRD's control socket. Three layers, each testable alone:
//!
//! - [`decide`]: the pure decision with hysteresis (withdraw at once, announce again only
//!   after `hold_down` of unbroken health), driven by a virtual clock in tests;
//! - [`bird`] and [`client`]: BIRD's plain-text control protocol, parsed without I/O, and
//!   a bounded client over a Unix stream;
//! - [`controller`]: the task that ties them together, reconciles with BIRD after every
//!   (re)connect, exposes state and counters, and withdraws first on shutdown.
//!
//! ```no_run
//! # async fn demo(cfg: switchyard_config::Anycast) {
//! use std::sync::Arc;
//! use switchyard_anycast::Controller;
//!
//! // The runtime answers with `pool.snapshot().up_count()`.
//! let health = Arc::new(|pool: &str| (pool == "app").then_some(2));
//! let controller = Controller::start(&cfg, health);
//! for s in controller.status() {
//!     println!("{} via {}: announced={} ({})", s.prefix, s.bird_protocol, s.announced, s.reason);
//! }
//! controller.shutdown().await; // withdraw, wait withdraw_delay, return
//! # }
//! ```

pub mod bird;
pub mod client;
pub mod controller;
pub mod decide;

pub use bird::{ProtocolStatus, Reply, ReplyLine, ReplyParser, Toggle};
pub use client::{BirdClient, BirdError};
pub use controller::{AnnouncementStatus, Controller, Counters, HealthSource, Tuning};
pub use decide::{assess, Action, Health, Hysteresis, Nanos, PoolCount, Transition};
