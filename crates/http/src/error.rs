//! Errors building a listener's state from configuration, in operators' words.

/// Why a listener's state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The listener is not http or https.
    #[error("listener {listener}: protocol {protocol} is not served by the HTTP proxy")]
    NotHttp {
        listener: String,
        protocol: &'static str,
    },
    /// A route or the default names a pool that was not handed over.
    #[error("listener {listener}: pool {pool} is not running")]
    MissingPool { listener: String, pool: String },
    /// A pool named by the listener is missing from the configuration.
    #[error("listener {listener}: pool {pool} is not in the configuration")]
    UnknownPool { listener: String, pool: String },
    /// A header name or value in a route cannot be sent.
    #[error("listener {listener}, route {route}: invalid header {what}")]
    BadHeader {
        listener: String,
        route: usize,
        what: String,
    },
    /// The TLS configuration was refused by rustls.
    #[error("listener {listener}: TLS: {message}")]
    Tls { listener: String, message: String },
}
