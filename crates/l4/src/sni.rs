//! A pure, panic-free reader of the TLS ClientHello's server name (SNI), for passthrough.
//!
//! The proxy buffers the first bytes of a connection and calls [`read_sni`] after each
//! read: TLS records may arrive split across TCP segments and a ClientHello may be split
//! across several handshake records, so the reader reassembles the handshake message from
//! consecutive records and answers `Ok(None)` until it is complete. It only looks; the
//! buffered bytes are forwarded to the server untouched.

/// Largest ClientHello accepted (handshake message body); real ones are under 2 KiB even
/// with post-quantum key shares.
pub const MAX_HELLO: usize = 16 * 1024;

const RECORD_HANDSHAKE: u8 = 0x16;
const HANDSHAKE_CLIENT_HELLO: u8 = 0x01;
const EXT_SERVER_NAME: u16 = 0x0000;
const NAME_TYPE_HOST: u8 = 0x00;
/// TLS plaintext records carry at most 2^14 bytes.
const MAX_RECORD: usize = 1 << 14;

/// Why the bytes are not a usable ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The first record is not a TLS handshake record.
    #[error("not a TLS handshake")]
    NotTls,
    /// The first handshake message is not a ClientHello.
    #[error("first handshake message is not a ClientHello")]
    NotClientHello,
    /// A record or the ClientHello is larger than allowed.
    #[error("ClientHello or TLS record too large")]
    TooLarge,
    /// A length field that does not fit what contains it.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
}

// === read_sni ===

/// Reads the ClientHello at the start of `buf`. `Ok(None)`: need more bytes;
/// `Ok(Some(sni))`: complete, with the server name lowercased if the client sent one.
pub fn read_sni(buf: &[u8]) -> Result<Option<Option<String>>, Error> {
    let mut hello = Vec::new();
    let mut rest = buf;
    loop {
        let Some(head) = rest.get(..5) else {
            check_record_prefix(rest)?;
            return Ok(None);
        };
        check_record_prefix(head)?;
        let len = u16::from_be_bytes([head[3], head[4]]) as usize;
        if len > MAX_RECORD {
            return Err(Error::TooLarge);
        }
        if len == 0 {
            return Err(Error::Malformed("empty handshake record"));
        }
        let avail = rest.len() - 5;
        hello.extend_from_slice(&rest[5..5 + len.min(avail)]);
        if let Some(done) = parse_when_complete(&hello)? {
            return Ok(Some(done));
        }
        if avail <= len {
            return Ok(None);
        }
        rest = &rest[5 + len..];
    }
}

fn check_record_prefix(head: &[u8]) -> Result<(), Error> {
    if head.first().is_some_and(|&t| t != RECORD_HANDSHAKE) {
        return Err(Error::NotTls);
    }
    if head.get(1).is_some_and(|&major| major != 3) {
        return Err(Error::NotTls);
    }
    Ok(())
}

/// `Ok(None)` until the handshake message in `hs` is complete, then its server name.
fn parse_when_complete(hs: &[u8]) -> Result<Option<Option<String>>, Error> {
    if let Some(&t) = hs.first() {
        if t != HANDSHAKE_CLIENT_HELLO {
            return Err(Error::NotClientHello);
        }
    }
    let Some(h) = hs.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
    if len > MAX_HELLO {
        return Err(Error::TooLarge);
    }
    match hs.get(4..4 + len) {
        Some(body) => parse_client_hello(body).map(Some),
        None => Ok(None),
    }
}

/// A cursor that never reads out of bounds.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Malformed(what));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let n = self.u8(what)? as usize;
        self.take(n, what)
    }
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let n = self.u16(what)? as usize;
        self.take(n, what)
    }
}

fn parse_client_hello(body: &[u8]) -> Result<Option<String>, Error> {
    let mut r = Reader(body);
    r.take(2, "legacy_version")?;
    r.take(32, "random")?;
    if r.vec8("session_id")?.len() > 32 {
        return Err(Error::Malformed("session_id longer than 32 bytes"));
    }
    let suites = r.vec16("cipher_suites")?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err(Error::Malformed("cipher_suites"));
    }
    if r.vec8("compression_methods")?.is_empty() {
        return Err(Error::Malformed("compression_methods"));
    }
    if r.0.is_empty() {
        return Ok(None); // no extensions at all
    }
    let mut exts = Reader(r.vec16("extensions")?);
    if !r.0.is_empty() {
        return Err(Error::Malformed("bytes after extensions"));
    }
    let mut sni = None;
    while !exts.0.is_empty() {
        let kind = exts.u16("extension type")?;
        let data = exts.vec16("extension length")?;
        if kind == EXT_SERVER_NAME {
            if sni.is_some() {
                return Err(Error::Malformed("duplicate server_name extension"));
            }
            sni = Some(parse_server_name(data)?);
        }
    }
    Ok(sni.flatten())
}

fn parse_server_name(data: &[u8]) -> Result<Option<String>, Error> {
    let mut outer = Reader(data);
    let mut list = Reader(outer.vec16("server_name_list")?);
    if !outer.0.is_empty() {
        return Err(Error::Malformed("bytes after server_name_list"));
    }
    let mut host = None;
    while !list.0.is_empty() {
        let kind = list.u8("name_type")?;
        let name = list.vec16("host_name")?;
        if kind == NAME_TYPE_HOST && host.is_none() {
            host = Some(host_name(name)?);
        }
    }
    Ok(host)
}

/// The name lowercased, without the one trailing dot a client may have added. Labels
/// must not be empty (`a..b`, `.a`, `.` are not DNS names).
fn host_name(name: &[u8]) -> Result<String, Error> {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty()
        || name.len() > 253
        || !name.iter().all(ok)
        || name.split(|&b| b == b'.').any(<[u8]>::is_empty)
    {
        return Err(Error::Malformed("host_name is not a DNS name"));
    }
    Ok(name
        .iter()
        .map(|b| b.to_ascii_lowercase() as char)
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ClientHello handshake message (no record layer) with the given SNI.
    pub(crate) fn hello(sni: Option<&str>, padding: usize) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
        body.extend_from_slice(&[1, 0]); // null compression
        let mut exts = Vec::new();
        if let Some(name) = sni {
            let n = name.len() as u16;
            exts.extend_from_slice(&[0, 0]);
            exts.extend_from_slice(&(n + 5).to_be_bytes());
            exts.extend_from_slice(&(n + 3).to_be_bytes());
            exts.push(0);
            exts.extend_from_slice(&n.to_be_bytes());
            exts.extend_from_slice(name.as_bytes());
        }
        // padding extension (21)
        exts.extend_from_slice(&[0, 21]);
        exts.extend_from_slice(&(padding as u16).to_be_bytes());
        exts.resize(exts.len() + padding, 0);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut msg = vec![1];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        msg
    }

    /// Wraps a handshake message in records of at most `chunk` bytes each.
    pub(crate) fn records(msg: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for part in msg.chunks(chunk) {
            out.extend_from_slice(&[0x16, 3, 1]);
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn reads_sni_lowercased() {
        let buf = records(&hello(Some("WWW.Shop.Example.COM"), 0), 16384);
        assert_eq!(
            read_sni(&buf),
            Ok(Some(Some("www.shop.example.com".into())))
        );
    }

    #[test]
    fn no_sni_is_complete_without_a_name() {
        let buf = records(&hello(None, 10), 16384);
        assert_eq!(read_sni(&buf), Ok(Some(None)));
    }

    #[test]
    fn every_prefix_needs_more_bytes_even_across_records() {
        let msg = hello(Some("a.example"), 300);
        for chunk in [16384, 100, 7, 1] {
            let buf = records(&msg, chunk);
            for i in 0..buf.len() {
                assert_eq!(read_sni(&buf[..i]), Ok(None), "chunk {chunk}, prefix {i}");
            }
            assert_eq!(read_sni(&buf), Ok(Some(Some("a.example".into()))));
        }
    }

    #[test]
    fn trailing_application_bytes_are_ignored() {
        let mut buf = records(&hello(Some("x.test"), 0), 16384);
        buf.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
        assert_eq!(read_sni(&buf), Ok(Some(Some("x.test".into()))));
    }

    #[test]
    fn rejects_non_tls_and_non_hello() {
        assert_eq!(read_sni(b"GET / HTTP/1.1\r\n"), Err(Error::NotTls));
        assert_eq!(read_sni(&[0x16, 2]), Err(Error::NotTls));
        let mut m = hello(Some("x"), 0);
        m[0] = 2;
        assert_eq!(read_sni(&records(&m, 100)), Err(Error::NotClientHello));
    }

    #[test]
    fn rejects_oversized_lengths() {
        assert_eq!(read_sni(&[0x16, 3, 1, 0x40, 0x01]), Err(Error::TooLarge));
        let big = [0x16, 3, 1, 0, 4, 1, 0x01, 0, 0];
        assert_eq!(read_sni(&big), Err(Error::TooLarge));
        assert!(read_sni(&[0x16, 3, 1, 0, 0]).is_err());
    }

    #[test]
    fn rejects_inner_lengths_that_overflow_their_container() {
        let msg = hello(Some("abc.test"), 0);
        // Every single-byte corruption is either still valid or an error, never a panic;
        // bumping the SNI list length must be an error.
        for i in 4..msg.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut m = msg.clone();
                m[i] = v;
                let _ = read_sni(&records(&m, 16384));
            }
        }
        let body_sni_list = msg.len() - 16; // low byte of server_name_list length
        let mut m = msg.clone();
        m[body_sni_list] += 1;
        assert!(read_sni(&records(&m, 16384)).is_err());
    }

    #[test]
    fn truncated_hello_inside_a_complete_message_is_malformed() {
        // Handshake length says 10 bytes: complete, but too short to be a ClientHello.
        let mut m = vec![1, 0, 0, 10];
        m.extend_from_slice(&[3; 10]);
        assert!(matches!(
            read_sni(&records(&m, 100)),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn bad_host_names_are_rejected() {
        assert!(read_sni(&records(&hello(Some("a b"), 0), 16384)).is_err());
        assert!(read_sni(&records(&hello(Some("a\0b"), 0), 16384)).is_err());
        for empty_label in [".", "..", "a..b", ".a", "a.b.."] {
            let buf = records(&hello(Some(empty_label), 0), 16384);
            assert!(read_sni(&buf).is_err(), "{empty_label:?}");
        }
        let buf = records(&hello(Some("A.b."), 0), 16384);
        assert_eq!(read_sni(&buf), Ok(Some(Some("a.b".into()))));
    }
}
