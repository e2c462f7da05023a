//! The first bytes of a TCP connection, before a server is chosen: an accepted PROXY
//! header (`accept_proxy_protocol`) and, on tls listeners, the ClientHello's SNI.
//!
//! Everything read is kept: bytes after the PROXY header and the whole ClientHello are
//! returned as `pending` and sent to the server first, untouched. Both phases share one
//! deadline (`timeouts.handshake`) and a size limit, so a slow or hostile client cannot
//! hold a connection or memory open.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{proxy_proto, sni};

/// Most bytes buffered while looking for the ClientHello (a 16 KiB hello plus the record
/// headers of a hello split in many records).
pub const MAX_PENDING: usize = sni::MAX_HELLO + 4096;
/// Most bytes a PROXY v2 header may take (16-byte prefix + 64 KiB body).
const MAX_PROXY: usize = 16 + 65535;

/// What the first bytes said.
#[derive(Debug, Default)]
pub struct Hello {
    /// The real client and the address it connected to, from an accepted PROXY header.
    pub proxied: Option<(SocketAddr, SocketAddr)>,
    /// The SNI name (tls listeners), lowercased.
    pub sni: Option<String>,
    /// Bytes read and not consumed: sent to the server before anything else.
    pub pending: Vec<u8>,
}

/// Why the first bytes were refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `timeouts.handshake` passed.
    #[error("client sent no complete {0} within timeouts.handshake")]
    Timeout(&'static str),
    /// The client closed before a complete header.
    #[error("client closed before a complete {0}")]
    Closed(&'static str),
    /// The client closed without sending a byte (after its PROXY header, if any): a TCP
    /// health check of an upstream balancer, or a port scan.
    #[error("client closed without sending anything")]
    Empty,
    /// A malformed PROXY header.
    #[error("invalid PROXY protocol header: {0}")]
    Proxy(#[from] proxy_proto::Error),
    /// A malformed or oversized ClientHello.
    #[error("invalid TLS ClientHello: {0}")]
    Tls(#[from] sni::Error),
    /// More bytes than allowed without a complete ClientHello.
    #[error("ClientHello larger than {MAX_PENDING} bytes")]
    TooLarge,
    /// A socket error.
    #[error("reading from client: {0}")]
    Io(#[from] io::Error),
}

// === impl Error ===

impl Error {
    /// How the connection ended, in the access log's words.
    pub fn ended(&self) -> &'static str {
        match self {
            Error::Timeout(_) => "handshake timeout",
            Error::Closed(what) if what.starts_with("PROXY") => "no PROXY header",
            Error::Closed(_) => "no ClientHello",
            Error::Empty => "client sent nothing",
            Error::Proxy(_) => "bad PROXY header",
            Error::Tls(_) | Error::TooLarge => "bad ClientHello",
            Error::Io(_) => "client reset",
        }
    }
}

/// Reads what the listener needs before connecting: a PROXY header if `accept_proxy`,
/// then the ClientHello if `want_sni`.
pub async fn read(
    sock: &TcpStream,
    accept_proxy: bool,
    want_sni: bool,
    deadline: Instant,
) -> Result<Hello, Error> {
    let mut hello = Hello::default();
    let mut buf = Vec::new();
    if accept_proxy {
        let (header, used) = loop {
            if let Some(done) = proxy_proto::parse(&buf)? {
                break done;
            }
            read_more(sock, &mut buf, MAX_PROXY, deadline, "PROXY protocol header").await?;
        };
        if let proxy_proto::Header::Proxied {
            source,
            destination,
        } = header
        {
            hello.proxied = Some((source, destination));
        }
        buf.drain(..used);
    }
    if want_sni {
        hello.sni = loop {
            if let Some(name) = sni::read_sni(&buf)? {
                break name;
            }
            if buf.len() >= MAX_PENDING {
                return Err(Error::TooLarge);
            }
            read_more(sock, &mut buf, MAX_PENDING, deadline, "TLS ClientHello").await?;
        };
    }
    hello.pending = buf;
    Ok(hello)
}

/// Appends what the socket has (at most up to `limit` bytes in `buf`) before `deadline`.
async fn read_more(
    sock: &TcpStream,
    buf: &mut Vec<u8>,
    limit: usize,
    deadline: Instant,
    what: &'static str,
) -> Result<(), Error> {
    let start = buf.len();
    let room = limit.saturating_sub(start).clamp(1, 4096);
    buf.resize(start + room, 0);
    let read = async {
        loop {
            sock.readable().await?;
            match sock.try_read(&mut buf[start..]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    };
    let res = tokio::time::timeout_at(deadline, read).await;
    let n = match res {
        Err(_) => {
            buf.truncate(start);
            return Err(Error::Timeout(what));
        }
        Ok(r) => r,
    };
    match n {
        Ok(0) if start == 0 => Err(Error::Empty),
        Ok(0) => Err(Error::Closed(what)),
        Ok(n) => {
            buf.truncate(start + n);
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
