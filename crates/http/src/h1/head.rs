//! Message heads for the HTTP/1 engine: parsing with `httparse`, writing by hand.
//!
//! A request head is parsed into `http::request::Parts` (values share the head's
//! buffer) because routing, affinity and forwarding work on those. A response head is
//! never turned into a header map: it is rewritten line by line into the client's head,
//! dropping hop-by-hop fields, which is all a proxy does to it.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use crate::framing::{parse_length, trim, BodyKind};

/// Most header fields accepted in a head (more gets `431` / `502`).
pub(crate) const MAX_HEADERS: usize = 128;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFraming {
    /// A body framed by length or chunks.
    Body(BodyKind),
    /// No length: the body runs until the server closes.
    UntilClose,
}

/// What the proxy needs to know about a response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: StatusCode,
    /// Bytes of the head in the server's buffer.
    pub len: usize,
    pub framing: ResponseFraming,
    /// The server keeps the connection open after this response.
    pub reusable: bool,
}

/// What the client's response head should say beyond the server's fields.
pub(crate) struct ClientHead<'a> {
    /// `Connection: close` (the client connection ends after this response).
    pub close: bool,
    /// `Connection: keep-alive` (an HTTP/1.0 client that asked for it).
    pub keep_alive_10: bool,
    /// Keep `Upgrade` and `Connection: upgrade` (a 101 being tunnelled).
    pub upgrade: bool,
    pub set_cookie: Option<&'a HeaderValue>,
}

/// Why a head could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Not a valid message head.
    Invalid,
    /// More header fields than [`MAX_HEADERS`].
    TooManyFields,
}

/// Parse a complete, framing-checked request head (`raw` ends with CRLFCRLF).
pub(crate) fn parse_request(raw: &Bytes) -> Result<http::request::Parts, HeadError> {
    // Uninitialised slots: no 4 KiB of empty headers written per request.
    let mut fields = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(raw, &mut fields) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HeadError::Invalid),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyFields),
        Err(_) => return Err(HeadError::Invalid),
    }
    let method =
        Method::from_bytes(req.method.unwrap_or("").as_bytes()).map_err(|_| HeadError::Invalid)?;
    let path = req.path.unwrap_or("");
    let uri =
        Uri::from_maybe_shared(raw.slice_ref(path.as_bytes())).map_err(|_| HeadError::Invalid)?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // Room for what `decide` may add (`Host`, `Transfer-Encoding`) without growing.
    let mut headers = HeaderMap::with_capacity(req.headers.len() + 2);
    for f in req.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| HeadError::Invalid)?;
        let value = HeaderValue::from_maybe_shared(raw.slice_ref(f.value))
            .map_err(|_| HeadError::Invalid)?;
        headers.append(name, value);
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    Ok(parts)
}

/// Write the request head for the server: the fields of `parts`, then those `more`
/// writes (the forwarding fields), then the blank line.
pub(crate) fn write_request(
    parts: &http::request::Parts,
    out: &mut Vec<u8>,
    more: impl FnOnce(&mut Vec<u8>),
) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(pq.as_bytes());
    out.extend_from_slice(if parts.version == Version::HTTP_10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    for (name, value) in &parts.headers {
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    more(out);
    out.extend_from_slice(b"\r\n");
}

/// Whether the client wants the connection kept open after this request.
pub(crate) fn client_keeps_alive(parts: &http::request::Parts) -> bool {
    let tokens = |t: &str| {
        parts
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|x| x.trim().eq_ignore_ascii_case(t))
    };
    match parts.version {
        Version::HTTP_10 => tokens("keep-alive"),
        _ => !tokens("close"),
    }
}

/// Parse a response head at the start of `buf`: `Ok(None)` when incomplete. On success,
/// the client's head is appended to `out`.
pub(crate) fn response(
    buf: &[u8],
    head_request: bool,
    client: &ClientHead<'_>,
    out: &mut Vec<u8>,
) -> Result<Option<ResponseHead>, HeadError> {
    let mut fields = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let len = match config.parse_response_with_uninit_headers(&mut res, buf, &mut fields) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyFields),
        Err(_) => return Err(HeadError::Invalid),
    };
    let status = StatusCode::from_u16(res.code.unwrap_or(0)).map_err(|_| HeadError::Invalid)?;
    let facts = Facts::of(res.headers)?;
    let no_body = head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = match (facts.transfer_encoding, facts.content_length) {
        _ if no_body => ResponseFraming::Body(BodyKind::Length(0)),
        (Some(true), _) => ResponseFraming::Body(BodyKind::Chunked),
        (Some(false), _) => ResponseFraming::UntilClose,
        (None, Some(n)) => ResponseFraming::Body(BodyKind::Length(n)),
        (None, None) => ResponseFraming::UntilClose,
    };
    let reusable = framing != ResponseFraming::UntilClose
        && match res.version {
            Some(1) => !facts.close,
            _ => facts.keep_alive,
        };

    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    let reason = res.reason.filter(|r| !r.is_empty());
    let reason = reason.or_else(|| status.canonical_reason()).unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    let upgrade = client.upgrade && status == StatusCode::SWITCHING_PROTOCOLS;
    for f in res.headers.iter() {
        let name = f.name.as_bytes();
        let tunnelled = upgrade && name.eq_ignore_ascii_case(b"upgrade");
        if is_hop_by_hop(name, upgrade) || (facts.names(name) && !tunnelled) {
            // With TE chunked passed through as is, the length would contradict it.
            continue;
        }
        if facts.transfer_encoding.is_some() && name.eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        field(out, name, f.value);
    }
    if upgrade {
        field(out, b"connection", b"upgrade");
    } else if !status.is_informational() {
        if client.close || framing == ResponseFraming::UntilClose {
            field(out, b"connection", b"close");
        } else if client.keep_alive_10 {
            field(out, b"connection", b"keep-alive");
        }
        if let Some(v) = client.set_cookie {
            field(out, b"set-cookie", v.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(ResponseHead {
        status,
        len,
        framing,
        reusable,
    }))
}

/// A complete answer made by the proxy itself (errors, `respond`, `redirect`).
pub(crate) fn local(
    status: StatusCode,
    body: &[u8],
    location: Option<&HeaderValue>,
    close: bool,
    head_request: bool,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    // 204 and 304 have no content, so no length: a 304's `Content-Length` would be taken
    // as the cached representation's (RFC 9110 8.6). Configuration gives them no body.
    let content = !matches!(status.as_u16(), 204 | 304);
    if content {
        field(out, b"content-type", b"text/plain; charset=utf-8");
        field(out, b"content-length", body.len().to_string().as_bytes());
    }
    DATE.with(|d| field(out, b"date", d.borrow_mut().now().as_bytes()));
    if let Some(l) = location {
        field(out, b"location", l.as_bytes());
    }
    if close {
        field(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    if !head_request && content {
        out.extend_from_slice(body);
    }
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Fields that describe one connection and never cross the proxy (RFC 9110 7.6.1).
/// `Transfer-Encoding` and `Trailer` do cross: chunked bodies pass through unchanged.
fn is_hop_by_hop(name: &[u8], upgrade: bool) -> bool {
    const ALWAYS: [&[u8]; 4] = [b"connection", b"keep-alive", b"proxy-connection", b"te"];
    ALWAYS.iter().any(|h| name.eq_ignore_ascii_case(h))
        || (!upgrade && name.eq_ignore_ascii_case(b"upgrade"))
}

/// What a response's fields say about framing and the connection.
#[derive(Default)]
struct Facts<'h> {
    /// `Some(true)` when the last transfer coding is chunked.
    transfer_encoding: Option<bool>,
    content_length: Option<u64>,
    close: bool,
    keep_alive: bool,
    /// Field names listed in `Connection` (hop-by-hop for this message).
    named: Vec<&'h [u8]>,
}

impl<'h> Facts<'h> {
    fn of(fields: &[httparse::Header<'h>]) -> Result<Self, HeadError> {
        let mut f = Facts::default();
        for h in fields {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = parse_length(trim(h.value)).ok_or(HeadError::Invalid)?;
                if f.content_length.is_some_and(|p| p != n) {
                    return Err(HeadError::Invalid);
                }
                f.content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
                f.transfer_encoding = Some(trim(last).eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in h.value.split(|&b| b == b',').map(trim) {
                    if token.eq_ignore_ascii_case(b"close") {
                        f.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        f.keep_alive = true;
                    } else if !token.is_empty() {
                        f.named.push(token);
                    }
                }
            }
        }
        Ok(f)
    }

    fn names(&self, name: &[u8]) -> bool {
        self.named.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The `Date` value, formatted once per second per thread.
struct DateCache {
    second: u64,
    text: String,
}

thread_local! {
    static DATE: RefCell<DateCache> = const { RefCell::new(DateCache { second: u64::MAX, text: String::new() }) };
}

impl DateCache {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(close: bool) -> ClientHead<'static> {
        ClientHead {
            close,
            keep_alive_10: false,
            upgrade: false,
            set_cookie: None,
        }
    }

    fn rewrite(raw: &str, head_request: bool) -> (ResponseHead, String) {
        let mut out = Vec::new();
        let h = response(raw.as_bytes(), head_request, &client(false), &mut out)
            .unwrap()
            .unwrap();
        (h, String::from_utf8(out).unwrap())
    }

    #[test]
    fn request_heads_parse_into_parts_sharing_the_buffer() {
        let raw = Bytes::from_static(
            b"POST /a?b=1 HTTP/1.0\r\nHost: x\r\nX-Two: 1\r\nx-two: 2\r\nContent-Length: 0\r\n\r\n",
        );
        let p = parse_request(&raw).unwrap();
        assert_eq!(p.method, Method::POST);
        assert_eq!(p.uri, "/a?b=1");
        assert_eq!(p.version, Version::HTTP_10);
        assert_eq!(p.headers.get_all("x-two").iter().count(), 2);
        let mut out = Vec::new();
        write_request(&p, &mut out, |_| {});
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /a?b=1 HTTP/1.0\r\nhost: x\r\nx-two: 1\r\nx-two: 2\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            parse_request(&Bytes::from_static(
                b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"
            ))
            .err(),
            Some(HeadError::Invalid)
        );
    }

    #[test]
    fn keep_alive_follows_the_version_defaults() {
        let p = |s: &'static [u8]| parse_request(&Bytes::from_static(s)).unwrap();
        assert!(client_keeps_alive(&p(b"GET / HTTP/1.1\r\n\r\n")));
        assert!(!client_keeps_alive(&p(
            b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"
        )));
        assert!(!client_keeps_alive(&p(b"GET / HTTP/1.0\r\n\r\n")));
        assert!(client_keeps_alive(&p(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        )));
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        let (h, _) = rewrite("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false);
        assert_eq!(h.framing, ResponseFraming::Body(BodyKind::Length(5)));
        assert!(h.reusable);
        let (h, _) = rewrite("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true);
        assert_eq!(h.framing, ResponseFraming::Body(BodyKind::Length(0)));
        let (h, out) = rewrite(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            false,
        );
        assert_eq!(h.framing, ResponseFraming::Body(BodyKind::Chunked));
        assert!(
            !out.to_ascii_lowercase().contains("content-length"),
            "{out}"
        );
        let (h, out) = rewrite("HTTP/1.1 200 OK\r\nX: y\r\n\r\n", false);
        assert_eq!(h.framing, ResponseFraming::UntilClose);
        assert!(!h.reusable);
        assert!(out.contains("connection: close\r\n"), "{out}");
        let (h, _) = rewrite("HTTP/1.1 204 No Content\r\n\r\n", false);
        assert_eq!(h.framing, ResponseFraming::Body(BodyKind::Length(0)));
        let (h, _) = rewrite("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false);
        assert!(!h.reusable, "1.0 without keep-alive closes");
        let (h, _) = rewrite(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            false,
        );
        assert!(!h.reusable);
        let mut out = Vec::new();
        assert_eq!(
            response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false,
                &client(false),
                &mut out
            )
            .unwrap_err(),
            HeadError::Invalid
        );
        assert!(response(
            b"HTTP/1.1 200 OK\r\nX: 1\r\n",
            false,
            &client(false),
            &mut out
        )
        .unwrap()
        .is_none());
    }

    #[test]
    fn hop_by_hop_fields_are_dropped_from_responses() {
        let (_, out) = rewrite(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\nX-Kept: 2\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nX-Kept: 2\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn local_answers_are_complete_messages() {
        let mut out = Vec::new();
        local(
            StatusCode::BAD_GATEWAY,
            b"bad gateway\n",
            None,
            true,
            false,
            &mut out,
        );
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{s}");
        assert!(s.contains("content-length: 12\r\n") && s.contains("connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\nbad gateway\n"));
    }
}
