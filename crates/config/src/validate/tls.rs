//! `[listener.tls]`: read and parse PEM certificates and keys at validation time, so a
//! missing file or a key that does not parse is a located error on its `cert`/`key`.

use std::fs;
use std::io::BufReader;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Ctx;
use crate::model::{BackendTls, CertKey, HostMatch, TlsTerm, TlsVersion};
use crate::raw::{RawBackendTls, RawCertKey, RawTls, Str, S};

use super::values;

/// PEM files beyond this are not certificates (and reading them could exhaust memory).
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The TLS termination settings of an https listener.
pub(crate) fn termination(
    cx: &mut Ctx,
    raw: Option<&S<RawTls>>,
    name_span: &Str,
    name: &str,
) -> TlsTerm {
    let empty = TlsTerm {
        certificates: Vec::new(),
        alpn: TlsTerm::default_alpn(),
        min_version: TlsVersion::Tls12,
        backend_tls: None,
    };
    let Some(raw) = raw else {
        cx.error_hint(
            name_span.span(),
            format!("https listener \"{name}\" needs [listener.tls] with at least one certificate"),
            "[listener.tls] certificates = [{ cert = \"site.pem\", key = \"site.key\" }]",
        );
        return empty;
    };
    let t = raw.get_ref();
    if t.certificates.is_empty() {
        cx.error(
            raw.span(),
            format!("https listener \"{name}\" needs at least one certificate"),
        );
    }
    let certificates = t
        .certificates
        .iter()
        .filter_map(|c| cert_key(cx, c))
        .collect();
    let alpn = t.alpn.as_ref().map_or_else(TlsTerm::default_alpn, |list| {
        list.iter()
            .map(|p| {
                // Any other name, once offered, makes every client that offers only
                // these fail its handshake ("no application protocol").
                if !["h2", "http/1.1", "http/1.0"].contains(&p.get_ref().as_str()) {
                    cx.error_hint(
                        p.span(),
                        format!("alpn protocol \"{}\" is not served here", p.get_ref()),
                        "use \"h2\", \"http/1.1\" or \"http/1.0\"",
                    );
                }
                p.get_ref().clone()
            })
            .collect()
    });
    let options = [("1.2", TlsVersion::Tls12), ("1.3", TlsVersion::Tls13)];
    let min_version = t
        .min_version
        .as_ref()
        .and_then(|v| values::choice(cx, v, "min_version", &options))
        .unwrap_or_default();
    TlsTerm {
        certificates,
        alpn,
        min_version,
        backend_tls: t.backend_tls.as_ref().and_then(|b| backend_tls(cx, b)),
    }
}

fn read(cx: &mut Ctx, v: &Str, what: &str) -> Option<(std::path::PathBuf, Vec<u8>)> {
    let path = cx.resolve(v.get_ref());
    match fs::metadata(&path) {
        Ok(m) if !m.is_file() => {
            cx.error(
                v.span(),
                format!("{what} file \"{}\" is not a regular file", path.display()),
            );
            return None;
        }
        Ok(m) if m.len() > MAX_PEM_BYTES => {
            cx.error(
                v.span(),
                format!("{what} file \"{}\" is larger than 1 MiB", path.display()),
            );
            return None;
        }
        _ => {}
    }
    match fs::read(&path) {
        Ok(bytes) => Some((path, bytes)),
        Err(e) => {
            cx.error(
                v.span(),
                format!("cannot read {what} file \"{}\": {e}", path.display()),
            );
            None
        }
    }
}

fn certs(
    cx: &mut Ctx,
    v: &Str,
    what: &str,
) -> Option<(std::path::PathBuf, Vec<CertificateDer<'static>>)> {
    let (path, bytes) = read(cx, v, what)?;
    let parsed: Result<Vec<_>, _> =
        rustls_pemfile::certs(&mut BufReader::new(&bytes[..])).collect();
    match parsed {
        Ok(list) if !list.is_empty() => Some((path, list)),
        Ok(_) => {
            cx.error_hint(
                v.span(),
                format!("no certificate found in {what} file \"{}\"", path.display()),
                "expected PEM blocks starting with -----BEGIN CERTIFICATE-----",
            );
            None
        }
        Err(e) => {
            cx.error(
                v.span(),
                format!("cannot parse {what} file \"{}\": {e}", path.display()),
            );
            None
        }
    }
}

fn key(cx: &mut Ctx, v: &Str) -> Option<(std::path::PathBuf, PrivateKeyDer<'static>)> {
    let (path, bytes) = read(cx, v, "key")?;
    let hint = "expected a PEM PKCS#8 (BEGIN PRIVATE KEY), RSA (BEGIN RSA PRIVATE KEY) or EC (BEGIN EC PRIVATE KEY) key";
    let key = match rustls_pemfile::private_key(&mut BufReader::new(&bytes[..])) {
        Ok(Some(k)) => k,
        Ok(None) => {
            cx.error_hint(
                v.span(),
                format!("no private key found in key file \"{}\"", path.display()),
                hint,
            );
            return None;
        }
        Err(e) => {
            cx.error_hint(
                v.span(),
                format!("cannot parse key file \"{}\": {e}", path.display()),
                hint,
            );
            return None;
        }
    };
    if let Err(e) = rustls::crypto::ring::sign::any_supported_type(&key) {
        cx.error_hint(
            v.span(),
            format!("key file \"{}\" holds an unusable key: {e}", path.display()),
            hint,
        );
        return None;
    }
    Some((path, key))
}

fn cert_key(cx: &mut Ctx, c: &RawCertKey) -> Option<CertKey> {
    let chain = certs(cx, &c.cert, "certificate");
    let key = key(cx, &c.key);
    let ((cert_path, chain), (key_path, key)) = (chain?, key?);
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).ok()?;
    let certified = rustls::sign::CertifiedKey::new(chain.clone(), signer);
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        cx.error(
            c.key.span(),
            format!(
                "key \"{}\" does not belong to certificate \"{}\"",
                key_path.display(),
                cert_path.display()
            ),
        );
        return None;
    }
    Some(CertKey {
        cert_path,
        key_path,
        chain,
        key,
    })
}

fn backend_tls(cx: &mut Ctx, b: &RawBackendTls) -> Option<BackendTls> {
    let server_name = b.server_name.as_ref().map(|s| {
        if !matches!(HostMatch::parse(s.get_ref()), Some(HostMatch::Exact(_))) {
            cx.error(
                s.span(),
                format!("invalid backend_tls server_name \"{}\"", s.get_ref()),
            );
        }
        s.get_ref().to_ascii_lowercase()
    });
    let (ca_path, roots) = certs(cx, &b.ca, "ca")?;
    Some(BackendTls {
        ca_path,
        roots,
        server_name,
    })
}
