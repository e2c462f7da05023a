//! `[listener.tls]`: certificates (loaded and parsed at validation time) and TLS options.
//!
//! The DER material is kept beside the paths so the HTTP crate builds its rustls config
//! without touching the file system, and a reload that changes a certificate's bytes
//! under the same path is seen as a change.

use std::fmt;
use std::path::PathBuf;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// `[listener.tls]` of an https listener.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsTerm {
    /// `certificates = [{ cert, key }, ...]`, at least one; chosen by SNI, the first is
    /// the default.
    pub certificates: Vec<CertKey>,
    /// `alpn`, default `["h2", "http/1.1"]`.
    pub alpn: Vec<String>,
    /// `min_version`, default `"1.2"`.
    pub min_version: TlsVersion,
    /// `backend_tls = { ca, server_name }`, optional: re-encrypt to backends.
    pub backend_tls: Option<BackendTls>,
}

/// One certificate chain and its private key.
pub struct CertKey {
    /// `cert`: PEM file, leaf first (resolved against the config file's directory).
    pub cert_path: PathBuf,
    /// `key`: PEM file with one PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
    pub key_path: PathBuf,
    /// The certificates of `cert`, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of `key`.
    pub key: PrivateKeyDer<'static>,
}

/// `min_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum TlsVersion {
    /// `"1.2"` (default).
    #[default]
    Tls12,
    /// `"1.3"`.
    Tls13,
}

/// `listener.tls.backend_tls`.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendTls {
    /// `ca`, required: PEM file of the CAs that backend certificates must chain to.
    pub ca_path: PathBuf,
    /// The certificates of `ca`.
    pub roots: Vec<CertificateDer<'static>>,
    /// `server_name`, optional: the name sent as SNI and verified; absent = the server's
    /// IP address.
    pub server_name: Option<String>,
}

// === impl CertKey ===

impl Clone for CertKey {
    fn clone(&self) -> Self {
        CertKey {
            cert_path: self.cert_path.clone(),
            key_path: self.key_path.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl PartialEq for CertKey {
    fn eq(&self, other: &Self) -> bool {
        self.cert_path == other.cert_path
            && self.key_path == other.key_path
            && self.chain == other.chain
            && self.key.secret_der() == other.key.secret_der()
    }
}

impl fmt::Debug for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKey")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

// === impl TlsVersion ===

impl TlsVersion {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }
}

// === impl TlsTerm ===

impl TlsTerm {
    /// Default `alpn`.
    pub fn default_alpn() -> Vec<String> {
        vec!["h2".to_string(), "http/1.1".to_string()]
    }
}
