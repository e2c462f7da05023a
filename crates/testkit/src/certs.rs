//! Generated certificates: a test CA that issues ECDSA or RSA leaf certificates.
//!
//! rcgen with the ring backend cannot generate RSA keys, so RSA leaves use one fixed
//! 2048-bit test key shipped beside this file (test material only, never trusted
//! anywhere). Every leaf gets a fresh serial and is signed by the CA, so a client that
//! trusts [`TestCa::cert_der`] verifies any of them.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The fixed RSA test key (PKCS#8 PEM).
const TEST_RSA_KEY: &str = include_str!("test_rsa_key.pem");

/// A certificate authority made for one test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// Which key a leaf certificate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// ECDSA P-256 (fresh key).
    Ecdsa,
    /// RSA 2048 (the fixed test key).
    Rsa,
}

/// A leaf certificate and its key, as DER and as PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The leaf certificate (DER).
    pub cert: CertificateDer<'static>,
    /// The leaf's private key (PKCS#8 DER).
    pub key: Vec<u8>,
    /// The leaf certificate as PEM.
    pub cert_pem: String,
    /// The leaf's private key as PEM.
    pub key_pem: String,
}

// === impl TestCa ===

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// A new ECDSA CA called "switchyard test CA".
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "switchyard test CA");
        let cert = params.self_signed(&key).expect("self-sign CA");
        TestCa { cert, key }
    }

    /// Issue a leaf for `names` (DNS names, wildcards like `*.example.com`, or IPs).
    pub fn issue(&self, names: &[&str], alg: KeyAlg) -> Issued {
        let key = match alg {
            KeyAlg::Ecdsa => KeyPair::generate().expect("generate leaf key"),
            KeyAlg::Rsa => KeyPair::from_pem(TEST_RSA_KEY).expect("parse RSA test key"),
        };
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign leaf");
        Issued {
            cert: cert.der().clone(),
            key: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The CA certificate (DER), for trust stores.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A rustls client configuration trusting only this CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der()).expect("add CA to roots");
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

// === impl Issued ===

impl Issued {
    /// The private key in the form rustls takes.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }

    /// A rustls server configuration presenting this certificate, offering `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key_der())
            .expect("server cert");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

/// The ring crypto provider (explicit, so no process default is needed).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_ecdsa_and_rsa_leaves_that_build_server_configs() {
        let ca = TestCa::new();
        for alg in [KeyAlg::Ecdsa, KeyAlg::Rsa] {
            let leaf = ca.issue(&["a.test", "*.b.test", "127.0.0.1"], alg);
            assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            let _ = leaf.server_config(&[b"h2"]);
        }
        let _ = ca.client_config(&[b"http/1.1"]);
    }
}
