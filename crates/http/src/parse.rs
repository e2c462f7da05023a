//! Small, allocation-free readers of request parts: host, cookies, query parameters.
//!
//! Everything here takes bytes off the wire, so it never panics and never allocates;
//! the fuzz target `http_parse` drives it with arbitrary input.

use http::header::{COOKIE, HOST};
use http::HeaderMap;

/// The request's host: the URI authority (HTTP/2 `:authority`, absolute-form HTTP/1.1),
/// else the `Host` header; without port or trailing dot. Case is left as sent.
pub fn request_host<'a>(uri: &'a http::Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    let raw = match uri.authority() {
        Some(a) => a.as_str(),
        None => headers.get(HOST)?.to_str().ok()?,
    };
    let host = strip_port(raw.rsplit('@').next().unwrap_or(raw));
    let host = host.strip_suffix('.').unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// `host:port` → `host`; `[v6]:port` → `v6`; anything else unchanged.
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The value of cookie `name` in any `Cookie` header (first occurrence wins).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| cookie_in(line, name))
}

/// The value of cookie `name` in one `Cookie` header line (`a=1; b=2`).
pub fn cookie_in<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
    })
}

/// Whether query parameter `name` has exactly `value` (raw comparison, plus a
/// percent-decoded comparison when either contains `%` or `+`).
pub fn query_has(query: &str, name: &str, value: &str) -> bool {
    query.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        eq_decoded(k, name) && eq_decoded(v, value)
    })
}

/// The first value of query parameter `name`, raw.
pub fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        eq_decoded(k, name).then_some(v)
    })
}

/// Compare a percent-encoded form with a plain string without allocating.
fn eq_decoded(encoded: &str, plain: &str) -> bool {
    if encoded == plain {
        return true;
    }
    let mut dec = Decoder(encoded.as_bytes());
    let mut want = plain.bytes();
    loop {
        match (dec.next(), want.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

struct Decoder<'a>(&'a [u8]);

impl Iterator for Decoder<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        match first {
            b'+' => {
                self.0 = rest;
                Some(b' ')
            }
            b'%' if rest.len() >= 2 => match (hex(rest[0]), hex(rest[1])) {
                (Some(h), Some(l)) => {
                    self.0 = &rest[2..];
                    Some(h << 4 | l)
                }
                _ => {
                    self.0 = rest;
                    Some(b'%')
                }
            },
            b => {
                self.0 = rest;
                Some(b)
            }
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_prefers_authority_and_strips_port_and_dot() {
        let mut h = HeaderMap::new();
        h.insert(HOST, "Example.COM:8080".parse().unwrap());
        let origin: http::Uri = "/x".parse().unwrap();
        assert_eq!(request_host(&origin, &h), Some("Example.COM"));
        let abs: http::Uri = "http://api.test.:443/x".parse().unwrap();
        assert_eq!(request_host(&abs, &h), Some("api.test"));
        let v6: http::Uri = "http://[::1]:80/".parse().unwrap();
        assert_eq!(request_host(&v6, &h), Some("::1"));
        assert_eq!(request_host(&origin, &HeaderMap::new()), None);
    }

    #[test]
    fn cookies_are_found_among_several_headers_and_pairs() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; SYD_SRV=abc".parse().unwrap());
        h.append(COOKIE, "variant=\"B\"".parse().unwrap());
        assert_eq!(cookie(&h, "SYD_SRV"), Some("abc"));
        assert_eq!(cookie(&h, "variant"), Some("B"));
        assert_eq!(cookie(&h, "syd_srv"), None);
        assert_eq!(cookie_in("novalue; x", "x"), None);
    }

    #[test]
    fn query_matches_raw_and_percent_decoded() {
        assert!(query_has("a=1&variant=B", "variant", "B"));
        assert!(query_has("q=hello%20world", "q", "hello world"));
        assert!(query_has("q=a+b", "q", "a b"));
        assert!(!query_has("variant=BB", "variant", "B"));
        assert!(query_has("flag", "flag", ""));
        assert_eq!(query_value("x=1&y=2", "y"), Some("2"));
        assert!(!query_has("%zz=1", "%zz", "2"));
    }
}
