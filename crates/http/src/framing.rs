//! A strict HTTP/1.1 request framing checker that runs in front of hyper.
//!
//! hyper already refuses most malformed requests, but it is lenient where RFC 9112 lets
//! a recipient be (bare LF line endings, `Content-Length` and `Transfer-Encoding`
//! together, identical duplicate lengths). A proxy must not be: when two parsers could
//! read one byte stream as different request sequences, requests get smuggled. So every
//! byte a client sends passes through [`Framer`] first, which reads the stream the way a
//! strict server would and only then lets hyper see it:
//!
//! - a request head is held back until complete, checked, and released whole. A head
//!   with a bare CR or LF, obs-fold, whitespace before a colon, `Content-Length` with
//!   `Transfer-Encoding`, differing or malformed lengths, any transfer coding other than
//!   exactly `chunked`, `Transfer-Encoding` on HTTP/1.0, more than one `Host` (RFC 9112
//!   §3.2: routing would read one, the server maybe another) or a `Host` that is no
//!   host name (`a b`, `a/b`) is replaced by [`POISON`],
//!   which hyper answers with `400` before closing the connection;
//! - bodies are tracked (length or chunked, with strict chunk-size lines, chunk CRLFs and
//!   trailer lines) so the next head is found exactly where a strict server finds it. A
//!   violation inside a body releases nothing past the offending byte and ends the stream
//!   with an error, so the half-sent request is aborted, never completed differently;
//! - the HTTP/2 preface, `CONNECT` and `Upgrade` requests switch to pass-through (the
//!   bytes that follow are not HTTP/1).
//!
//! Sans-IO: [`Framer::feed`] takes bytes and appends what may be released; the I/O
//! wrapper lives in `guard.rs`. The fuzz target `http_framing` drives it directly.

/// What replaces a refused head: an invalid method byte, which hyper answers with 400.
pub const POISON: &[u8] = b"\x00 / HTTP/1.1\r\n\r\n";

const H2_PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0";
const MAX_CHUNK_LINE: usize = 4096;

/// The checker's position in the request stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Accumulating a request head.
    Head,
    /// Inside a body; the [`BodyTracker`] knows where it ends.
    Body,
    /// Not HTTP/1 any more (h2 preface, CONNECT, Upgrade): everything passes.
    Passthrough,
    /// A head was refused: the poison is out, nothing more passes.
    Refused,
    /// A body was malformed: the stream must end with an error.
    Broken,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    BareLineEnding,
    ObsFold,
    BadHeaderLine,
    LengthAndChunked,
    BadContentLength,
    ConflictingLengths,
    BadTransferEncoding,
    TransferEncodingOnHttp10,
    DuplicateHost,
    /// An HTTP/1.1 request without a `Host` field (RFC 9112 3.2 requires `400`).
    MissingHost,
    /// A `Host` value that is no host (`a b`, `a/b`, `x@y`; RFC 9112 3.2 requires `400`):
    /// routes and servers would each make something else of it.
    BadHost,
    HostMismatch,
    BadChunkSize,
    BadChunkEnd,
    BadTrailer,
}

/// What happened on one [`Framer::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// All good; released bytes (if any) were appended.
    Ok,
    /// A head was refused: [`POISON`] was appended; close after hyper answers.
    Refused(Violation),
    /// A body was malformed: bytes up to the violation were appended; fail the stream.
    Broken(Violation),
}

/// The strict framing state machine for one connection.
#[derive(Debug)]
pub struct Framer {
    state: State,
    /// The head being accumulated.
    buf: Vec<u8>,
    body: BodyTracker,
    max_head: usize,
    requests: u64,
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Exactly this many bytes (0 = no body).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// The framing a checked request head announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadInfo {
    /// The body that follows the head.
    pub body: BodyKind,
    /// `CONNECT` or an `Upgrade` request: what follows may not be HTTP/1.
    pub tunnel: bool,
    /// The HTTP/2 connection preface, not an HTTP/1 request.
    pub h2_preface: bool,
}

/// Where a [`BodyTracker`] is inside a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// This many bytes left.
    Length(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Inside chunk data, this many bytes left.
    ChunkData(u64),
    /// Expecting the CR (0) or LF (1) after chunk data.
    ChunkEnd(u8),
    /// Reading trailer lines after the last chunk.
    Trailers,
    /// The body is complete.
    Done,
}

/// Follows one body (request or response) byte by byte, strictly, so the end is found
/// exactly where a strict recipient finds it. Sans-IO: [`BodyTracker::advance`] takes
/// bytes and appends the ones that are valid so far; a chunk-size or trailer line is
/// released only once it is complete and checked.
#[derive(Debug, Clone)]
pub struct BodyTracker {
    state: BodyState,
    /// The chunk-size line or trailer section being accumulated.
    line: Vec<u8>,
    max_trailers: usize,
}

/// The result of one [`BodyTracker::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used (the rest belongs to whatever follows the body).
    pub consumed: usize,
    /// Of those, payload bytes (chunk data or the length-delimited body; not framing).
    pub data: usize,
    /// The body ended within the input.
    pub done: bool,
    /// The body is malformed at input byte `consumed`; nothing after it was released.
    pub violation: Option<Violation>,
}

/// Where a request head ends in a buffer, found incrementally.
#[derive(Debug, Default, Clone)]
pub struct HeadScanner {
    scanned: usize,
}

/// What [`HeadScanner::scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadScan {
    /// No complete head yet; read more.
    Incomplete,
    /// A head: `skip` bytes of empty lines, then `len` bytes ending in CRLFCRLF.
    Complete { skip: usize, len: usize },
    /// A bare CR or LF: the head must be refused.
    Violation(Violation),
    /// More than the limit without an end.
    TooLarge,
}

// === impl Framer ===

impl Framer {
    /// A checker allowing request heads up to `max_head` bytes (larger ones are released
    /// unchecked so hyper answers `431`).
    pub fn new(max_head: usize) -> Self {
        Framer {
            state: State::Head,
            buf: Vec::new(),
            body: BodyTracker::new(BodyKind::Length(0), max_head),
            max_head,
            requests: 0,
        }
    }

    /// Whether everything from now on passes unchecked.
    pub fn is_passthrough(&self) -> bool {
        self.state == State::Passthrough
    }

    /// Whether part of a request head has arrived and is being held back.
    pub fn in_head(&self) -> bool {
        self.state == State::Head && !self.buf.is_empty()
    }

    /// Feed bytes from the client; append to `out` what hyper may see.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Fed {
        while !input.is_empty() {
            match self.state {
                State::Passthrough => {
                    out.extend_from_slice(input);
                    return Fed::Ok;
                }
                State::Refused | State::Broken => return Fed::Ok,
                State::Body => {
                    let p = self.body.advance(input, out);
                    input = &input[p.consumed..];
                    if let Some(v) = p.violation {
                        return self.broken(v);
                    }
                    if p.done {
                        self.state = State::Head;
                    }
                }
                State::Head => match self.head_bytes(&mut input, out) {
                    Fed::Ok => {}
                    other => return other,
                },
            }
        }
        Fed::Ok
    }

    /// Accumulate head bytes; act on a complete head.
    fn head_bytes(&mut self, input: &mut &[u8], out: &mut Vec<u8>) -> Fed {
        // Scan byte by byte so a bare CR/LF is caught even if the head never ends.
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.buf.push(b);
            i += 1;
            let n = self.buf.len();
            if b == b'\n' && (n < 2 || self.buf[n - 2] != b'\r') {
                *input = &input[i..];
                return self.refuse(Violation::BareLineEnding, out);
            }
            if n >= 2 && self.buf[n - 2] == b'\r' && b != b'\n' {
                *input = &input[i..];
                return self.refuse(Violation::BareLineEnding, out);
            }
            if self.buf == b"\r\n" {
                // An empty line before a request line: allowed, hyper skips it.
                out.append(&mut self.buf);
                continue;
            }
            if self.buf.ends_with(b"\r\n\r\n") {
                *input = &input[i..];
                return self.head_complete(out);
            }
            if n > self.max_head {
                *input = &input[i..];
                // Too large: let hyper see it and answer 431.
                out.append(&mut self.buf);
                self.state = State::Passthrough;
                return Fed::Ok;
            }
        }
        *input = &[];
        Fed::Ok
    }

    fn head_complete(&mut self, out: &mut Vec<u8>) -> Fed {
        match check_head(&self.buf, self.requests == 0) {
            Ok(info) => {
                self.requests += 1;
                out.append(&mut self.buf);
                self.body = BodyTracker::new(info.body, self.max_head);
                self.state = if info.tunnel || info.h2_preface {
                    State::Passthrough
                } else if self.body.is_done() {
                    State::Head
                } else {
                    State::Body
                };
                Fed::Ok
            }
            Err(v) => self.refuse(v, out),
        }
    }

    fn refuse(&mut self, v: Violation, out: &mut Vec<u8>) -> Fed {
        self.buf = Vec::new();
        out.extend_from_slice(POISON);
        self.state = State::Refused;
        Fed::Refused(v)
    }

    fn broken(&mut self, v: Violation) -> Fed {
        self.buf = Vec::new();
        self.state = State::Broken;
        Fed::Broken(v)
    }
}

// === impl BodyTracker ===

impl BodyTracker {
    /// Follow a body of `kind`, allowing trailer sections up to `max_trailers` bytes.
    pub fn new(kind: BodyKind, max_trailers: usize) -> Self {
        let state = match kind {
            BodyKind::Length(0) => BodyState::Done,
            BodyKind::Length(n) => BodyState::Length(n),
            BodyKind::Chunked => BodyState::ChunkSize,
        };
        BodyTracker {
            state,
            line: Vec::new(),
            max_trailers,
        }
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        self.state == BodyState::Done
    }

    /// Take body bytes from `input`, appending the valid ones to `out`.
    pub fn advance(&mut self, input: &[u8], out: &mut Vec<u8>) -> Progress {
        let mut i = 0;
        let mut data = 0;
        while i < input.len() {
            let rest = &input[i..];
            match self.state {
                BodyState::Done => break,
                BodyState::Length(n) | BodyState::ChunkData(n) => {
                    let take = n.min(rest.len() as u64) as usize;
                    out.extend_from_slice(&rest[..take]);
                    i += take;
                    data += take;
                    let left = n - take as u64;
                    self.state = match (self.state, left) {
                        (BodyState::Length(_), 0) => BodyState::Done,
                        (BodyState::Length(_), _) => BodyState::Length(left),
                        (_, 0) => BodyState::ChunkEnd(0),
                        _ => BodyState::ChunkData(left),
                    };
                }
                BodyState::ChunkEnd(k) => {
                    let want = if k == 0 { b'\r' } else { b'\n' };
                    if rest[0] != want {
                        return self.fail(i, data, Violation::BadChunkEnd);
                    }
                    out.push(rest[0]);
                    i += 1;
                    self.state = if k == 0 {
                        BodyState::ChunkEnd(1)
                    } else {
                        BodyState::ChunkSize
                    };
                }
                BodyState::ChunkSize | BodyState::Trailers => {
                    let b = rest[0];
                    self.line.push(b);
                    i += 1;
                    if let Err(v) = self.line_byte(b, out) {
                        return self.fail(i - 1, data, v);
                    }
                }
            }
        }
        Progress {
            consumed: i,
            data,
            done: self.state == BodyState::Done,
            violation: None,
        }
    }

    /// Act on one more byte of a chunk-size line or the trailer section.
    fn line_byte(&mut self, b: u8, out: &mut Vec<u8>) -> Result<(), Violation> {
        let n = self.line.len();
        if b == b'\n' && (n < 2 || self.line[n - 2] != b'\r') {
            return Err(Violation::BareLineEnding);
        }
        if n >= 2 && self.line[n - 2] == b'\r' && b != b'\n' {
            return Err(Violation::BareLineEnding);
        }
        if self.state == BodyState::ChunkSize {
            if n > MAX_CHUNK_LINE {
                return Err(Violation::BadChunkSize);
            }
            if self.line.ends_with(b"\r\n") {
                let size = chunk_size(&self.line).ok_or(Violation::BadChunkSize)?;
                out.append(&mut self.line);
                self.state = if size == 0 {
                    BodyState::Trailers
                } else {
                    BodyState::ChunkData(size)
                };
            }
            return Ok(());
        }
        if n > self.max_trailers {
            return Err(Violation::BadTrailer);
        }
        let complete = self.line == b"\r\n" || self.line.ends_with(b"\r\n\r\n");
        if complete {
            if self.line != b"\r\n" && check_fields(&self.line).is_err() {
                return Err(Violation::BadTrailer);
            }
            out.append(&mut self.line);
            self.state = BodyState::Done;
        }
        Ok(())
    }

    fn fail(&mut self, at: usize, data: usize, v: Violation) -> Progress {
        self.line = Vec::new();
        Progress {
            consumed: at,
            data,
            done: false,
            violation: Some(v),
        }
    }
}

// === impl HeadScanner ===

impl HeadScanner {
    /// Look for a complete request head at the start of `buf` (which only grows between
    /// calls until a head is found; call [`HeadScanner::reset`] after taking one).
    /// Leading empty lines are skipped; a bare CR or LF is refused as soon as seen.
    pub fn scan(&mut self, buf: &[u8], max_head: usize) -> HeadScan {
        let skip = leading_empty_lines(buf);
        let mut i = self.scanned.max(skip);
        while i < buf.len() {
            match buf[i] {
                b'\n' if i == 0 || buf[i - 1] != b'\r' => {
                    return HeadScan::Violation(Violation::BareLineEnding)
                }
                b'\n' if i >= skip + 3 && buf[i - 3..i] == *b"\r\n\r" => {
                    let len = i + 1 - skip;
                    if len > max_head {
                        return HeadScan::TooLarge;
                    }
                    return HeadScan::Complete { skip, len };
                }
                b'\r' if i + 1 < buf.len() && buf[i + 1] != b'\n' => {
                    return HeadScan::Violation(Violation::BareLineEnding)
                }
                b'\r' if i + 1 == buf.len() => break,
                _ => {}
            }
            i += 1;
        }
        self.scanned = i;
        if buf.len() - skip > max_head {
            return HeadScan::TooLarge;
        }
        HeadScan::Incomplete
    }

    /// Start over for the next head.
    pub fn reset(&mut self) {
        self.scanned = 0;
    }
}

fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    while buf.len() >= i + 2 && buf[i..i + 2] == *b"\r\n" {
        i += 2;
    }
    i
}

/// Check a complete head (ending in CRLFCRLF, line endings already checked) and find its
/// body framing. `first`: the connection's first head (which may be the h2 preface).
pub fn check_head(head: &[u8], first: bool) -> Result<HeadInfo, Violation> {
    let line_end = find(head, b"\r\n").unwrap_or(head.len());
    let request_line = &head[..line_end];
    if first && request_line == H2_PREFACE_LINE {
        return Ok(HeadInfo {
            body: BodyKind::Length(0),
            tunnel: false,
            h2_preface: true,
        });
    }
    let mut parts = request_line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let version = parts.next().unwrap_or_default();
    let fields = &head[(line_end + 2).min(head.len())..];
    let f = check_fields(fields)?;
    let http10 = version.eq_ignore_ascii_case(b"HTTP/1.0");
    if f.hosts > 1 {
        return Err(Violation::DuplicateHost);
    }
    if f.hosts == 0 && version.eq_ignore_ascii_case(b"HTTP/1.1") {
        return Err(Violation::MissingHost);
    }
    if f.host.is_some_and(|h| !valid_host(h)) {
        return Err(Violation::BadHost);
    }
    if let (Some(authority), Some(host)) = (absolute_authority(target), f.host) {
        // Routing uses the target's authority, the server gets the Host field: they
        // must name the same host (RFC 9112 3.2.2; HAProxy refuses the same way).
        if !authority.eq_ignore_ascii_case(host) {
            return Err(Violation::HostMismatch);
        }
    }
    let body = match (f.transfer_encoding, f.content_length) {
        (Some(_), Some(_)) => return Err(Violation::LengthAndChunked),
        (Some(_), None) if http10 => return Err(Violation::TransferEncodingOnHttp10),
        (Some(true), None) => BodyKind::Chunked,
        (Some(false), None) => return Err(Violation::BadTransferEncoding),
        (None, Some(n)) => BodyKind::Length(n),
        (None, None) => BodyKind::Length(0),
    };
    let tunnel = method == b"CONNECT" || (f.upgrade && f.connection_upgrade);
    Ok(HeadInfo {
        body,
        tunnel,
        h2_preface: false,
    })
}

/// A `Host` value: empty, or `uri-host [":" port]` (RFC 3986 3.2.2): a name of
/// unreserved, percent-encoded and sub-delimiter characters, or a bracketed IP literal.
pub(crate) fn valid_host(v: &[u8]) -> bool {
    let (host, port) = match v.strip_prefix(b"[") {
        Some(rest) => match rest.iter().position(|&b| b == b']') {
            Some(end) => {
                let literal = &rest[..end];
                let ok = |b: &u8| b.is_ascii_alphanumeric() || b":._~%-".contains(b);
                if literal.is_empty() || !literal.iter().all(ok) {
                    return false;
                }
                (&b""[..], &rest[end + 1..])
            }
            None => return false,
        },
        None => match v.iter().position(|&b| b == b':') {
            Some(colon) => (&v[..colon], &v[colon..]),
            None => (v, &b""[..]),
        },
    };
    let name = |b: &u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(b);
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    host.iter().all(name) && port_ok
}

/// What the header fields say about framing.
#[derive(Default)]
struct Fields<'a> {
    /// `Some(true)` when exactly one `Transfer-Encoding: chunked`.
    transfer_encoding: Option<bool>,
    content_length: Option<u64>,
    upgrade: bool,
    connection_upgrade: bool,
    /// `Host` fields seen (more than one is refused in a request head).
    hosts: u32,
    /// The first `Host` field's value.
    host: Option<&'a [u8]>,
}

/// Check header (or trailer) lines, each ending in CRLF, the block ending in CRLF.
fn check_fields(block: &[u8]) -> Result<Fields<'_>, Violation> {
    let mut f = Fields::default();
    let mut te_count = 0;
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(Violation::ObsFold);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(Violation::BadHeaderLine)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(Violation::BadHeaderLine);
        }
        let value = trim(&line[colon + 1..]);
        if value.iter().any(|&b| b == 0 || b == b'\r') {
            return Err(Violation::BadHeaderLine);
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_length(value).ok_or(Violation::BadContentLength)?;
            if f.content_length.is_some_and(|prev| prev != n) {
                return Err(Violation::ConflictingLengths);
            }
            f.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te_count += 1;
            let chunked = te_count == 1 && value.eq_ignore_ascii_case(b"chunked");
            f.transfer_encoding = Some(chunked);
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            f.upgrade = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            f.connection_upgrade |= value
                .split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(b"upgrade"));
        } else if name.eq_ignore_ascii_case(b"host") {
            f.hosts += 1;
            f.host.get_or_insert(value);
        }
    }
    Ok(f)
}

/// The authority of an absolute-form request target (`http://a.test:8080/x` →
/// `a.test:8080`, without any `userinfo@`); `None` for other forms.
fn absolute_authority(target: &[u8]) -> Option<&[u8]> {
    if target.first() == Some(&b'/') {
        return None; // origin-form, nearly every request
    }
    let scheme_end = find(target, b"://")?;
    let scheme = &target[..scheme_end];
    if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    Some(host)
}

/// `1*DIGIT`, at most 18 digits.
pub(crate) fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A chunk-size line (`1*HEXDIG [ *WS ";" ext ] CRLF`), at most 15 hex digits.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r\n")?;
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return None;
    }
    let rest = &line[digits..];
    let ext_ok = rest.is_empty() || {
        let r = trim_start(rest);
        r.first() == Some(&b';') && r.iter().all(|&b| b == b'\t' || (b' '..0x7f).contains(&b))
    };
    if !ext_ok {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(&line[..digits]).ok()?, 16).ok()
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Without leading and trailing spaces and tabs.
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let v = trim_start(v);
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    &v[..end]
}

fn trim_start(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    &v[start..]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Vec<u8>, Vec<Fed>) {
        let mut f = Framer::new(64 * 1024);
        let mut out = Vec::new();
        let mut verdicts = Vec::new();
        // Byte by byte: results must not depend on how reads split the stream.
        for b in input {
            let v = f.feed(std::slice::from_ref(b), &mut out);
            if v != Fed::Ok {
                verdicts.push(v);
            }
        }
        let mut whole = Vec::new();
        let mut g = Framer::new(64 * 1024);
        let v = g.feed(input, &mut whole);
        assert_eq!(out, whole, "split and whole feeds differ");
        assert_eq!(verdicts.first().copied().unwrap_or(Fed::Ok), v);
        (out, verdicts)
    }

    fn refused(input: &[u8]) -> Violation {
        match run(input).1.first() {
            Some(Fed::Refused(v)) => *v,
            other => panic!("expected refusal, got {other:?} for {input:?}"),
        }
    }

    #[test]
    fn well_formed_pipelines_pass_unchanged() {
        let input = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloPOST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nx-t: 1\r\n\r\nGET /z HTTP/1.1\r\nHost: a\r\n\r\n";
        let (out, verdicts) = run(input);
        assert!(verdicts.is_empty());
        assert_eq!(out, input);
    }

    #[test]
    fn ambiguous_heads_are_refused_with_poison() {
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Violation::LengthAndChunked
        );
        assert_eq!(
            refused(
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"
            ),
            Violation::ConflictingLengths
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
            Violation::BadTransferEncoding
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"),
            Violation::BadTransferEncoding
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"),
            Violation::BadHeaderLine
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n"),
            Violation::ObsFold
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\nHost: a\r\n\r\n"),
            Violation::BareLineEnding
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"),
            Violation::BareLineEnding
        );
        assert_eq!(
            refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Violation::TransferEncodingOnHttp10
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n"),
            Violation::BadContentLength
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n"),
            Violation::BadContentLength
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nhost: b\r\n\r\n"),
            Violation::DuplicateHost
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            Violation::DuplicateHost
        );
        assert_eq!(
            refused(b"GET http://admin.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n"),
            Violation::HostMismatch
        );
        assert_eq!(
            refused(b"GET https://u@a.test:8443/ HTTP/1.1\r\nHost: a.test\r\n\r\n"),
            Violation::HostMismatch
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"),
            Violation::MissingHost
        );
        for bad in [
            &b"a b"[..],
            b"a/b",
            b"u@a",
            b"a:80:80",
            b"a:x",
            b"[::1",
            b"a\\b",
            b"[]",
        ] {
            let mut head = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            head.extend_from_slice(bad);
            head.extend_from_slice(b"\r\n\r\n");
            assert_eq!(
                refused(&head),
                Violation::BadHost,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for good in [
            "a",
            "A.example.COM.:8080",
            "[::1]:80",
            "[v1.x]",
            "127.0.0.1",
            "a:",
            "xn--bcher-kva.ch",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert!(run(head.as_bytes()).1.is_empty(), "{good}");
        }
        let (out, _) = run(b"GET / HTTP/1.1\nHost: a\r\n\r\n");
        assert_eq!(out, POISON);
        // HTTP/1.0 predates Host: it may come without one.
        assert!(run(b"GET / HTTP/1.0\r\n\r\n").1.is_empty());
    }

    #[test]
    fn absolute_targets_naming_their_host_pass() {
        for head in [
            &b"GET http://A.test/x?y HTTP/1.1\r\nHost: a.test\r\n\r\n"[..],
            b"GET https://u:p@a.test:8443 HTTP/1.1\r\nHost: a.test:8443\r\n\r\n",
            b"GET http://a.test/ HTTP/1.0\r\n\r\n",
            b"GET /http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
        ] {
            let (out, verdicts) = run(head);
            assert!(verdicts.is_empty(), "{:?}", String::from_utf8_lossy(head));
            assert_eq!(out, head);
        }
    }

    #[test]
    fn bad_chunks_break_the_stream_at_the_offending_byte() {
        for (body, v) in [
            (&b"g\r\n"[..], Violation::BadChunkSize),
            (b"-1\r\n", Violation::BadChunkSize),
            (b"0x5\r\n", Violation::BadChunkSize),
            (b" 5\r\n", Violation::BadChunkSize),
            (b"fffffffffffffffff\r\n", Violation::BadChunkSize),
            (b"5\n", Violation::BareLineEnding),
            (b"5\r\nhelloXX", Violation::BadChunkEnd),
        ] {
            let mut input =
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            input.extend_from_slice(body);
            input.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
            let (out, verdicts) = run(&input);
            assert_eq!(verdicts.first(), Some(&Fed::Broken(v)), "{body:?}");
            assert!(!out.windows(8).any(|w| w == b"smuggled"));
        }
    }

    #[test]
    fn h2_preface_and_upgrades_pass_through() {
        let (out, v) = run(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x01\n\n");
        assert!(v.is_empty());
        assert_eq!(out, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x01\n\n");
        let ws =
            b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05\nhi";
        let (out, v) = run(ws);
        assert!(v.is_empty());
        assert_eq!(out, ws);
    }

    #[test]
    fn oversize_heads_are_released_for_hyper_to_refuse() {
        let mut f = Framer::new(100);
        let mut out = Vec::new();
        let head = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "a".repeat(200)
        );
        assert_eq!(f.feed(head.as_bytes(), &mut out), Fed::Ok);
        assert_eq!(out, head.as_bytes());
        assert!(f.is_passthrough());
    }

    #[test]
    fn the_head_scanner_finds_heads_and_refuses_bare_line_endings() {
        let mut sc = HeadScanner::default();
        let buf = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nnext";
        assert_eq!(sc.scan(buf, 1024), HeadScan::Complete { skip: 4, len: 27 });
        let mut sc = HeadScanner::default();
        assert_eq!(sc.scan(b"GET / HTTP/1.1\r\nHo", 1024), HeadScan::Incomplete);
        assert_eq!(
            sc.scan(b"GET / HTTP/1.1\r\nHost: a\r", 1024),
            HeadScan::Incomplete
        );
        assert_eq!(
            sc.scan(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1024),
            HeadScan::Complete { skip: 0, len: 27 }
        );
        for bad in [
            &b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nA: b\rC: d\r\n\r\n",
            b"\n",
        ] {
            let v = HeadScanner::default().scan(bad, 1024);
            assert_eq!(v, HeadScan::Violation(Violation::BareLineEnding), "{bad:?}");
        }
        let big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n", "a".repeat(100));
        assert_eq!(
            HeadScanner::default().scan(big.as_bytes(), 64),
            HeadScan::TooLarge
        );
        let whole = format!("{big}\r\n");
        assert_eq!(
            HeadScanner::default().scan(whole.as_bytes(), 64),
            HeadScan::TooLarge
        );
    }

    #[test]
    fn body_trackers_find_the_end_and_count_payload() {
        let mut t = BodyTracker::new(BodyKind::Chunked, 1024);
        let mut out = Vec::new();
        let input = b"5;x=1\r\nhello\r\n0\r\nx-t: 1\r\n\r\nGET /next";
        let p = t.advance(input, &mut out);
        assert_eq!(
            (p.consumed, p.data, p.done, p.violation),
            (input.len() - 9, 5, true, None)
        );
        assert_eq!(out, &input[..input.len() - 9]);
        let mut t = BodyTracker::new(BodyKind::Length(3), 1024);
        let p = t.advance(b"abcdef", &mut Vec::new());
        assert_eq!((p.consumed, p.data, p.done), (3, 3, true));
        assert!(t.is_done());
        let mut t = BodyTracker::new(BodyKind::Chunked, 1024);
        let p = t.advance(b"2\r\nabX", &mut Vec::new());
        assert_eq!((p.consumed, p.violation), (5, Some(Violation::BadChunkEnd)));
    }

    proptest::proptest! {
        /// A head found in pieces is the head found whole.
        #[test]
        fn the_head_scanner_does_not_depend_on_reads(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                &b"GET / HTTP/1.1\r\nHost: a\r\n"[..], b"Host: a\r\n", b"\r\n", b"\n", b"\r", b"x",
            ]), 0..12),
            split in 0usize..200,
        ) {
            let input: Vec<u8> = pieces.concat();
            let split = split.min(input.len());
            let whole = HeadScanner::default().scan(&input, 128);
            let mut sc = HeadScanner::default();
            let first = sc.scan(&input[..split], 128);
            let parts = match first {
                HeadScan::Incomplete => sc.scan(&input, 128),
                other => other,
            };
            proptest::prop_assert_eq!(whole, parts);
        }
    }

    proptest::proptest! {
        /// Built from HTTP-like pieces so that heads, lengths and chunks actually occur.
        #[test]
        fn any_split_of_any_stream_gives_the_same_result(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                &b"GET / HTTP/1.1\r\nHost: a\r\n"[..], b"POST /x HTTP/1.1\r\nHost: a\r\n", b"HTTP/1.0\r\n",
                b"Host: a\r\n", b"Content-Length: 3\r\n", b"Content-Length: 0\r\n",
                b"Transfer-Encoding: chunked\r\n", b"Connection: upgrade\r\n",
                b"Upgrade: websocket\r\n", b"\r\n", b"\n", b"\r", b" ", b"abc",
                b"3\r\n", b"0\r\n", b"5;x=y\r\n", b"-1\r\n", b":", b"PRI * HTTP/2.0\r\n",
            ]), 0..40),
            split in 0usize..400,
        ) {
            let input: Vec<u8> = pieces.concat();
            let split = split.min(input.len());
            let mut whole = Framer::new(256);
            let mut out_whole = Vec::new();
            let v_whole = whole.feed(&input, &mut out_whole);
            let mut parts = Framer::new(256);
            let mut out_parts = Vec::new();
            let v1 = parts.feed(&input[..split], &mut out_parts);
            let v2 = parts.feed(&input[split..], &mut out_parts);
            proptest::prop_assert_eq!(&out_whole, &out_parts);
            proptest::prop_assert_eq!(v_whole, if v1 != Fed::Ok { v1 } else { v2 });
            if let Fed::Refused(_) = v_whole {
                proptest::prop_assert!(out_whole.ends_with(POISON));
            } else {
                // Nothing is invented: what is released is a prefix of the input.
                proptest::prop_assert!(input.starts_with(&out_whole));
            }
        }
    }
}
