//! TLS termination (certificates chosen by SNI) and re-encryption to backends.
//!
//! [`SniResolver`] holds every configured certificate. For a ClientHello's server name
//! it prefers a certificate whose SAN lists that exact name, then the first (in file
//! order) whose SANs cover it by wildcard, checked by webpki's RFC 6125 name matching;
//! with no SNI or no match it presents the first certificate. Keys may be RSA or ECDSA
//! (any key rustls' ring provider loads). Only TLS 1.2 and 1.3 are offered.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use switchyard_config as config;

/// Picks the certificate for a handshake by SNI.
pub struct SniResolver {
    certs: Vec<Arc<CertifiedKey>>,
    /// Lowercase exact DNS SAN → index of the first certificate listing it.
    exact: HashMap<String, usize>,
}

// === impl SniResolver ===

impl SniResolver {
    /// Load `certs` (first = default) with the ring provider.
    pub fn new(certs: &[config::CertKey]) -> Result<Self, String> {
        let provider = provider();
        let mut out = Vec::with_capacity(certs.len());
        let mut exact = HashMap::new();
        for (i, ck) in certs.iter().enumerate() {
            let key = provider
                .key_provider
                .load_private_key(ck.key.clone_key())
                .map_err(|e| format!("{}: {e}", ck.key_path.display()))?;
            let leaf = ck
                .chain
                .first()
                .ok_or_else(|| format!("{}: no certificate", ck.cert_path.display()))?;
            let ee = webpki::EndEntityCert::try_from(leaf)
                .map_err(|e| format!("{}: {e}", ck.cert_path.display()))?;
            for name in ee.valid_dns_names() {
                exact.entry(name.to_ascii_lowercase()).or_insert(i);
            }
            out.push(Arc::new(CertifiedKey::new(ck.chain.clone(), key)));
        }
        if out.is_empty() {
            return Err("no certificates".into());
        }
        Ok(SniResolver { certs: out, exact })
    }

    /// The index of the certificate for `sni` (0 = default).
    pub fn choose(&self, sni: Option<&str>) -> usize {
        let Some(sni) = sni else { return 0 };
        let lower = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(&i) = self.exact.get(&lower) {
            return i;
        }
        let Ok(name) = ServerName::try_from(lower.as_str()) else {
            return 0;
        };
        self.certs
            .iter()
            .position(|ck| covers(&ck.cert, &name))
            .unwrap_or(0)
    }
}

fn covers(chain: &[CertificateDer<'static>], name: &ServerName<'_>) -> bool {
    chain
        .first()
        .and_then(|leaf| webpki::EndEntityCert::try_from(leaf).ok())
        .is_some_and(|ee| ee.verify_is_valid_for_subject_name(name).is_ok())
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let i = self.choose(hello.server_name());
        self.certs.get(i).cloned()
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("certificates", &self.certs.len())
            .finish()
    }
}

/// The rustls server configuration of an https listener.
pub fn server_config(tls: &config::TlsTerm) -> Result<rustls::ServerConfig, String> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match tls.min_version {
        config::TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        config::TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let resolver = SniResolver::new(&tls.certificates)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = tls.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(cfg)
}

/// A client configuration verifying backends against `backend.roots`, offering `alpn`.
pub fn backend_client_config(
    backend: &config::BackendTls,
    alpn: &[u8],
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in &backend.roots {
        roots
            .add(cert.clone())
            .map_err(|e| format!("{}: {e}", backend.ca_path.display()))?;
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Ok(cfg)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
