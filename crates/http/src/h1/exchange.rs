//! One request through the HTTP/1 engine: decide, send (with retries), relay the answer.
//!
//! The rules are the hyper engine's (`proxy.rs`): no server up → `503`; a server that
//! refuses, resets or closes before answering → another server when safe (nothing was
//! sent, or the whole request is in hand and its method is idempotent), at most twice,
//! else `502`; no response head within `timeouts.backend` → `504`. A request whose body
//! is small and already read goes out in one write with its head and can be replayed; a
//! larger or chunked body streams to the server while its answer is read and relayed.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use http::{HeaderValue, Method, StatusCode};
use switchyard_balance::{clock, Nanos, Picked, ServerId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::head::{self, ClientHead, HeadError, ResponseFraming, ResponseHead};
use super::{Client, Head, LentBuf};
use crate::access_log::Entry;
use crate::backend::{Conn, Failure};
use crate::framing::{BodyKind, BodyTracker, Violation};
use crate::proxy::{self, Decision, Plan};
use crate::state::{State, MAX_HEADER_BYTES};
use crate::stats::ListenerStats;

/// First try plus at most two retries.
const MAX_ATTEMPTS: usize = 3;
/// Request bodies up to this size, when already read, go out with the head.
const INLINE_BODY: u64 = 64 * 1024;
/// Read size for bodies.
const BODY_BUF: usize = 64 * 1024;

/// One forwarded request's facts, shared by the steps below.
struct Exchange<'a> {
    st: &'a State,
    plan: Plan<'a>,
    start: Instant,
    head_request: bool,
    /// The client connection ends after this exchange.
    close: bool,
    keep_alive_10: bool,
    /// 1xx answers may be forwarded (an HTTP/1.1 client).
    informational: bool,
    log: Option<Box<Entry>>,
    bytes_in: u64,
    /// When the request's last bytes arrived (the clock for picks and the idle pool).
    arrived: Nanos,
    /// Part of the request body is still unread on the client connection.
    body_pending: bool,
}

/// A response head read from a server, with the client's version of it.
struct Answer {
    head: ResponseHead,
    /// The client's head (body bytes are appended before the first write).
    out: Vec<u8>,
    ttfb: Duration,
    /// The client's head says the connection closes after this response.
    close: bool,
}

/// Why an attempt got no usable answer.
enum Miss {
    /// Nothing reached the server (connect failed, or the write did).
    NotSent(Failure),
    /// Sent, and the connection ended before any answer.
    NoAnswer(std::io::Error),
    /// An answer that is not HTTP, too large, or framed two ways.
    Bad(&'static str),
}

/// Why a streamed request body stopped.
#[derive(Debug)]
enum UploadError {
    /// The client's body was malformed.
    Framing(Violation),
    /// The client went away mid-body.
    ClientGone,
    /// The server stopped reading.
    Server,
}

/// What ended the wait for a streamed request's answer.
enum Event {
    Answer(Result<Answer, Miss>),
    TimedOut,
    /// The client's body failed (framing, or the client went away).
    ClientBody(UploadError),
}

/// Which side failed while relaying a response body.
#[derive(Debug, Clone, Copy)]
enum RelayError {
    Server,
    Client,
}

/// Serve one request; `false` when the client connection must close.
pub(super) async fn run<S>(st: &State, c: &mut Client<'_, S>, head: Head, closing: bool) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // The head's last bytes arrived at `c.last` (or, for a pipelined head, it waited
    // since the previous exchange ended then): one clock read less per request.
    let start = clock::instant(c.last);
    let mut parts = match head::parse_request(&head.raw) {
        Ok(p) => p,
        Err(e) => {
            let status = match e {
                HeadError::TooManyFields => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                HeadError::Invalid => StatusCode::BAD_REQUEST,
            };
            let text = proxy::failure_text(status).as_bytes();
            write_local(&mut c.io, st, None, start, status, text, None, true, false).await;
            return false;
        }
    };
    let head_request = parts.method == Method::HEAD;
    if parts.method == Method::CONNECT {
        let status = StatusCode::METHOD_NOT_ALLOWED;
        let text = b"CONNECT is not served here\n";
        write_local(&mut c.io, st, None, start, status, text, None, true, false).await;
        return false;
    }
    let keep = head::client_keeps_alive(&parts) && !closing;
    let body = head.info.body;
    let idempotent = proxy::is_idempotent(&parts.method);
    let mut log = None;
    let plan = match proxy::decide(st, c.peer, &mut parts, &mut log) {
        Decision::Local {
            status,
            body: text,
            location,
        } => {
            // A body already read is skipped; one still arriving ends the connection.
            let keep = keep
                && match body {
                    BodyKind::Length(n) if c.buf.len() as u64 >= n => {
                        c.buf.advance(n as usize);
                        true
                    }
                    _ => false,
                };
            let w = &mut c.io;
            let l = location.as_ref();
            let ok = write_local(w, st, log, start, status, &text, l, !keep, head_request).await;
            return ok && keep;
        }
        Decision::Forward(plan) => plan,
    };
    let mut x = Exchange {
        st,
        plan,
        start,
        head_request,
        close: !keep || head.info.tunnel,
        keep_alive_10: keep && parts.version == http::Version::HTTP_10,
        informational: parts.version == http::Version::HTTP_11,
        log,
        bytes_in: 0,
        arrived: c.last,
        body_pending: false,
    };
    if body == BodyKind::Chunked {
        // `decide` drops the client's framing (hop-by-hop); chunks pass through as read.
        let chunked = HeaderValue::from_static("chunked");
        parts
            .headers
            .insert(http::header::TRANSFER_ENCODING, chunked);
    }
    let mut wbuf = Vec::with_capacity(head.raw.len() + 256);
    head::write_request(&parts, &mut wbuf, |out| {
        x.plan.write_forwarding(out, c.peer)
    });
    drop((parts, head));
    match body {
        BodyKind::Length(n) if n <= INLINE_BODY && c.buf.len() as u64 >= n => {
            wbuf.extend_from_slice(&c.buf[..n as usize]);
            c.buf.advance(n as usize);
            x.bytes_in = n;
            st.stats.bytes_in.fetch_add(n, Relaxed);
            x.send_whole(c, &wbuf, idempotent).await && !x.close
        }
        _ => x.send_streaming(c, &wbuf, body).await && !x.close,
    }
}

impl Exchange<'_> {
    /// A request entirely in `wbuf`: send it, retrying when safe, and relay the answer.
    async fn send_whole<S>(&mut self, c: &mut Client<'_, S>, wbuf: &[u8], idempotent: bool) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let replayable = idempotent && !self.plan.upgrade;
        let mut tried = [ServerId::from_u64(0); MAX_ATTEMPTS];
        let mut bbuf = LentBuf::take();
        for attempt in 0..MAX_ATTEMPTS {
            let Some(picked) = self.pick(&mut tried, attempt) else {
                return self.no_server(&mut c.io, attempt).await;
            };
            let t0 = if attempt == 0 {
                self.start
            } else {
                Instant::now()
            };
            let set_cookie = self.plan.set_cookie(picked.id());
            let work = async {
                let addr = picked.address();
                let (conn, reused) = self.connect(addr).await?;
                let first = self.ask(conn, wbuf, &mut bbuf, &mut c.io, set_cookie).await;
                // A kept-alive connection the server closed as it was reused (its
                // keep-alive timeout) is not the server's failure: once more on a new
                // connection to the same server, as nginx does.
                let stale = reused
                    && match &first {
                        Err(Miss::NotSent(_)) => true,
                        Err(Miss::NoAnswer(_)) => replayable,
                        _ => false,
                    };
                if !stale {
                    return first;
                }
                bbuf.clear();
                let conn = self.st.backends.connect_raw(addr).await;
                let conn = conn.map_err(Miss::NotSent)?;
                self.ask(conn, wbuf, &mut bbuf, &mut c.io, set_cookie).await
            };
            let due = tokio::time::Instant::from_std(t0) + self.st.timeouts.backend;
            match c.timer.within(due, work).await.ok_or(()) {
                Ok(Ok((mut conn, answer))) => {
                    if answer.head.status == StatusCode::SWITCHING_PROTOCOLS {
                        return self.tunnel(c, picked, conn, answer, bbuf).await;
                    }
                    let close = answer.close;
                    let addr = picked.address();
                    let (result, reusable) =
                        relay_body(&mut conn, &mut c.io, &mut bbuf, answer.out, &answer.head).await;
                    let ok = result.is_ok();
                    let now = self.finish(picked, answer.head.status, answer.ttfb, result);
                    if ok && reusable {
                        self.st.backends.put_raw(addr, conn, now);
                    }
                    return ok && !close;
                }
                Err(_) => return self.timed_out(&mut c.io, picked, t0).await,
                Ok(Err(miss)) => {
                    let retry = match &miss {
                        Miss::NotSent(_) => true,
                        Miss::NoAnswer(_) => replayable,
                        Miss::Bad(_) => false,
                    };
                    self.missed(picked, &miss, t0);
                    if !retry {
                        return self.fail(&mut c.io, StatusCode::BAD_GATEWAY).await;
                    }
                    bbuf.clear();
                }
            }
        }
        self.fail(&mut c.io, StatusCode::BAD_GATEWAY).await
    }

    /// A request whose body is still arriving: retried only while nothing was sent.
    async fn send_streaming<S>(
        &mut self,
        c: &mut Client<'_, S>,
        wbuf: &[u8],
        body: BodyKind,
    ) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        // Until the whole body is read, an error answer must close the connection.
        self.body_pending = true;
        let mut tried = [ServerId::from_u64(0); MAX_ATTEMPTS];
        for attempt in 0..MAX_ATTEMPTS {
            let Some(picked) = self.pick(&mut tried, attempt) else {
                return self.no_server(&mut c.io, attempt).await;
            };
            let t0 = Instant::now();
            let deadline = tokio::time::Instant::now() + self.st.timeouts.backend;
            let opened = async {
                let (mut conn, _) = self.connect(picked.address()).await?;
                match conn.write_all(wbuf).await {
                    Ok(()) => Ok(conn),
                    Err(e) => Err(Miss::NotSent(Failure::Connect(e))),
                }
            };
            match tokio::time::timeout_at(deadline, opened).await {
                Ok(Ok(conn)) => return self.duplex(c, picked, conn, body, deadline, t0).await,
                Err(_) => return self.timed_out(&mut c.io, picked, t0).await,
                Ok(Err(miss)) => self.missed(picked, &miss, t0),
            }
        }
        self.fail(&mut c.io, StatusCode::BAD_GATEWAY).await
    }

    /// Stream the client's body to the server while reading and relaying its answer.
    async fn duplex<S>(
        &mut self,
        c: &mut Client<'_, S>,
        picked: Picked,
        conn: Conn,
        body: BodyKind,
        deadline: tokio::time::Instant,
        t0: Instant,
    ) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (mut br, mut bw) = tokio::io::split(conn);
        let (mut cr, mut cw) = tokio::io::split(&mut c.io);
        let stats = self.st.stats.clone();
        let body_done = AtomicBool::new(false);
        let reading = AtomicBool::new(false);
        let tracker = BodyTracker::new(body, MAX_HEADER_BYTES);
        let flags = (&body_done, &reading);
        let mut upload = Box::pin(upload(&mut cr, &mut c.buf, &mut bw, tracker, &stats, flags));
        let mut uploaded: Option<Result<u64, UploadError>> = None;
        let mut bbuf = LentBuf::take();
        let set_cookie = self.plan.set_cookie(picked.id());
        let event = {
            let answer =
                self.read_answer(&mut br, &mut bbuf, &mut cw, set_cookie, Some(&body_done));
            tokio::pin!(answer);
            loop {
                tokio::select! {
                    r = &mut upload, if uploaded.is_none() => match r {
                        Err(e @ (UploadError::Framing(_) | UploadError::ClientGone)) => {
                            break Event::ClientBody(e)
                        }
                        // The server may still answer after it stopped reading.
                        r => uploaded = Some(r),
                    },
                    a = &mut answer => break Event::Answer(a),
                    _ = tokio::time::sleep_until(deadline) => break Event::TimedOut,
                }
            }
        };
        let answer = match event {
            Event::Answer(Ok(a)) if a.head.status != StatusCode::SWITCHING_PROTOCOLS => a,
            Event::Answer(Ok(_)) => {
                self.missed(picked, &Miss::Bad("101 to a request with a body"), t0);
                return self.fail(&mut cw, StatusCode::BAD_GATEWAY).await;
            }
            Event::Answer(Err(miss)) => {
                self.missed(picked, &miss, t0);
                return self.fail(&mut cw, StatusCode::BAD_GATEWAY).await;
            }
            Event::TimedOut if reading.load(Relaxed) => {
                // The server was still waiting for the client's body: the client's delay.
                tracing::debug!("request body not received within the backend timeout");
                drop(picked);
                return self.fail(&mut cw, StatusCode::REQUEST_TIMEOUT).await;
            }
            Event::TimedOut => return self.timed_out(&mut cw, picked, t0).await,
            Event::ClientBody(e) => return self.client_body_failed(&mut cw, e).await,
        };
        let (result, reusable) = {
            let relay = relay_body(&mut br, &mut cw, &mut bbuf, answer.out, &answer.head);
            tokio::pin!(relay);
            loop {
                tokio::select! {
                    r = &mut upload, if uploaded.is_none() => {
                        if let Err(UploadError::Framing(v)) = &r {
                            self.refused_body(*v);
                        }
                        uploaded = Some(r);
                    }
                    r = &mut relay => break r,
                }
            }
        };
        drop(upload);
        let ok = result.is_ok();
        let addr = picked.address();
        let whole = match uploaded {
            Some(Ok(n)) => {
                self.bytes_in = n;
                true
            }
            _ => false,
        };
        let now = self.finish(picked, answer.head.status, answer.ttfb, result);
        if ok && reusable && whole {
            self.st.backends.put_raw(addr, br.unsplit(bw), now);
        }
        ok && whole && !answer.close
    }

    /// Write the 101 and join the two connections until either side closes.
    async fn tunnel<S>(
        &mut self,
        c: &mut Client<'_, S>,
        picked: Picked,
        mut conn: Conn,
        answer: Answer,
        bbuf: LentBuf,
    ) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if !self.plan.upgrade {
            self.missed(
                picked,
                &Miss::Bad("101 without an upgrade request"),
                self.start,
            );
            return self.fail(&mut c.io, StatusCode::BAD_GATEWAY).await;
        }
        self.st.stats.upgrades.fetch_add(1, Relaxed);
        let mut out = answer.out;
        out.extend_from_slice(&bbuf);
        let ok = c.io.write_all(&out).await.is_ok()
            && (c.buf.is_empty() || conn.write_all(&c.buf).await.is_ok());
        c.buf.clear();
        self.finish(picked, answer.head.status, answer.ttfb, Ok(0));
        if ok {
            let _ = tokio::io::copy_bidirectional(&mut c.io, &mut conn).await;
        }
        false
    }

    /// Read the server's answer head, forwarding 1xx heads to the client.
    async fn read_answer<R, W>(
        &self,
        br: &mut R,
        bbuf: &mut BytesMut,
        cw: &mut W,
        set_cookie: Option<&HeaderValue>,
        body_done: Option<&AtomicBool>,
    ) -> Result<Answer, Miss>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut out = Vec::with_capacity(512);
        let mut got = false;
        loop {
            if !bbuf.is_empty() {
                let close = self.close || body_done.is_some_and(|d| !d.load(Relaxed));
                let client = ClientHead {
                    close,
                    keep_alive_10: self.keep_alive_10,
                    upgrade: self.plan.upgrade,
                    set_cookie,
                };
                out.clear();
                match head::response(bbuf, self.head_request, &client, &mut out) {
                    Ok(Some(h)) if h.len > MAX_HEADER_BYTES => {
                        return Err(Miss::Bad("response head too large"))
                    }
                    Ok(Some(h)) => {
                        bbuf.advance(h.len);
                        if h.status.is_informational()
                            && h.status != StatusCode::SWITCHING_PROTOCOLS
                        {
                            if self.informational {
                                let _ = cw.write_all(&out).await;
                            }
                            continue;
                        }
                        let close = close || h.framing == ResponseFraming::UntilClose;
                        return Ok(Answer {
                            head: h,
                            out,
                            ttfb: self.start.elapsed(),
                            close,
                        });
                    }
                    Ok(None) if bbuf.len() > MAX_HEADER_BYTES => {
                        return Err(Miss::Bad("response head too large"))
                    }
                    Ok(None) => {}
                    Err(_) => return Err(Miss::Bad("malformed response head")),
                }
            }
            bbuf.reserve(BODY_BUF / 4);
            match br.read_buf(bbuf).await {
                Ok(0) if !got => {
                    return Err(Miss::NoAnswer(std::io::ErrorKind::UnexpectedEof.into()))
                }
                Err(e) if !got => return Err(Miss::NoAnswer(e)),
                Ok(0) | Err(_) => {
                    return Err(Miss::Bad("connection closed inside a response head"))
                }
                Ok(_) => got = true,
            }
        }
    }

    fn pick(&self, tried: &mut [ServerId; MAX_ATTEMPTS], attempt: usize) -> Option<Picked> {
        let picked = proxy::pick(&self.plan, &tried[..attempt], self.arrived)?;
        if attempt > 0 {
            self.st.stats.retries.fetch_add(1, Relaxed);
        }
        tried[attempt] = picked.id();
        Some(picked)
    }

    /// A connection to `addr`, and whether it is a kept-alive one being reused.
    async fn connect(&self, addr: std::net::SocketAddr) -> Result<(Conn, bool), Miss> {
        match self.st.backends.checkout_raw(addr, self.arrived) {
            Some(c) => Ok((c, true)),
            None => match self.st.backends.connect_raw(addr).await {
                Ok(c) => Ok((c, false)),
                Err(f) => Err(Miss::NotSent(f)),
            },
        }
    }

    /// Send a whole request on `conn` and read the answer's head.
    async fn ask<W: AsyncWrite + Unpin>(
        &self,
        mut conn: Conn,
        wbuf: &[u8],
        bbuf: &mut BytesMut,
        cw: &mut W,
        set_cookie: Option<&HeaderValue>,
    ) -> Result<(Conn, Answer), Miss> {
        if let Err(e) = conn.write_all(wbuf).await {
            return Err(Miss::NotSent(Failure::Connect(e)));
        }
        let a = self
            .read_answer(&mut conn, bbuf, cw, set_cookie, None)
            .await?;
        Ok((conn, a))
    }

    /// Report a failed attempt (passive health) and log it.
    fn missed(&self, picked: Picked, miss: &Miss, t0: Instant) {
        let (pool, server) = (&self.plan.target.name, picked.name());
        match miss {
            Miss::NotSent(f) => {
                tracing::warn!(%pool, server, failure = %f, "backend failed before the request was sent")
            }
            Miss::NoAnswer(e) => {
                tracing::warn!(%pool, server, error = %e, "backend failed before answering")
            }
            Miss::Bad(what) => tracing::warn!(%pool, server, what, "bad answer from backend"),
        }
        picked.finish(false, t0.elapsed(), clock::now());
    }

    async fn no_server<W: AsyncWrite + Unpin>(&mut self, w: &mut W, attempt: usize) -> bool {
        let status = self.plan.target.nothing_to_pick(attempt);
        self.fail(w, status).await
    }

    async fn timed_out<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        picked: Picked,
        t0: Instant,
    ) -> bool {
        let (pool, server) = (&self.plan.target.name, picked.name());
        tracing::warn!(%pool, server, "backend timed out");
        picked.finish(false, t0.elapsed(), clock::now());
        self.fail(w, StatusCode::GATEWAY_TIMEOUT).await
    }

    /// Answer an error status; `false` when the connection must close.
    async fn fail<W: AsyncWrite + Unpin>(&mut self, w: &mut W, status: StatusCode) -> bool {
        let text = proxy::failure_text(status).as_bytes();
        let (st, log, close) = (self.st, self.log.take(), self.close || self.body_pending);
        let h = self.head_request;
        write_local(w, st, log, self.start, status, text, None, close, h).await && !close
    }

    /// The client's body failed before any answer: `400` for bad framing, else nothing.
    async fn client_body_failed<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        e: UploadError,
    ) -> bool {
        if let UploadError::Framing(v) = e {
            self.refused_body(v);
            self.close = true;
            self.fail(w, StatusCode::BAD_REQUEST).await;
        }
        false
    }

    fn refused_body(&self, v: Violation) {
        self.st.stats.rejected_framing.fetch_add(1, Relaxed);
        tracing::info!(violation = ?v, "refused a malformed request body");
    }

    /// Count the answer, report the outcome to the balancer, write the access log.
    /// Returns the time it used.
    fn finish(
        &mut self,
        picked: Picked,
        status: StatusCode,
        ttfb: Duration,
        result: Result<u64, RelayError>,
    ) -> Nanos {
        let st = self.st;
        st.stats.count_status(status.as_u16());
        let bytes_out = match result {
            Ok(n) => n,
            Err(side) => {
                tracing::debug!(?side, "response body cut short");
                0
            }
        };
        st.stats.bytes_out.fetch_add(bytes_out, Relaxed);
        if let Some(mut e) = self.log.take() {
            e.server = Some(picked.name().to_string());
            e.status = status.as_u16();
            e.bytes_in = self.bytes_in;
            e.bytes_out = bytes_out;
            e.ttfb = ttfb;
            e.total = self.start.elapsed();
            st.log.log_boxed(e);
        }
        // A client that went away (or stopped reading) is no fault of the server.
        let success = !matches!(result, Err(RelayError::Server)) && !status.is_server_error();
        let now = clock::now();
        picked.finish(success, ttfb, now);
        now
    }
}

/// Copy the client's body to the server, checking its framing on the way. `done` is set
/// once the whole body is read; `reading` while it waits for the client's next bytes.
async fn upload<R, W>(
    cr: &mut R,
    cbuf: &mut BytesMut,
    bw: &mut W,
    mut tracker: BodyTracker,
    stats: &ListenerStats,
    (done, reading): (&AtomicBool, &AtomicBool),
) -> Result<u64, UploadError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = Vec::with_capacity(BODY_BUF);
    let mut total = 0u64;
    loop {
        if !cbuf.is_empty() {
            out.clear();
            let p = tracker.advance(cbuf, &mut out);
            cbuf.advance(p.consumed);
            if !out.is_empty() {
                bw.write_all(&out).await.map_err(|_| UploadError::Server)?;
                total += p.data as u64;
                stats.bytes_in.fetch_add(p.data as u64, Relaxed);
            }
            if let Some(v) = p.violation {
                return Err(UploadError::Framing(v));
            }
            if p.done {
                done.store(true, Relaxed);
                return Ok(total);
            }
        }
        cbuf.reserve(BODY_BUF);
        reading.store(true, Relaxed);
        let read = cr.read_buf(cbuf).await;
        reading.store(false, Relaxed);
        match read {
            Ok(0) | Err(_) => return Err(UploadError::ClientGone),
            Ok(_) => {}
        }
    }
}

/// Write the client's head and relay the body as framed. Returns the body bytes sent
/// and whether the server connection can be reused.
async fn relay_body<R, W>(
    br: &mut R,
    cw: &mut W,
    bbuf: &mut BytesMut,
    mut out: Vec<u8>,
    head: &ResponseHead,
) -> (Result<u64, RelayError>, bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let r = match head.framing {
        ResponseFraming::Body(BodyKind::Length(n)) => relay_length(br, cw, bbuf, out, n).await,
        ResponseFraming::Body(BodyKind::Chunked) => {
            let mut tracker = BodyTracker::new(BodyKind::Chunked, MAX_HEADER_BYTES);
            let mut sent = 0u64;
            loop {
                let p = tracker.advance(bbuf, &mut out);
                bbuf.advance(p.consumed);
                sent += p.data as u64;
                if p.violation.is_some() {
                    break Err(RelayError::Server);
                }
                if !out.is_empty() {
                    if cw.write_all(&out).await.is_err() {
                        break Err(RelayError::Client);
                    }
                    out.clear();
                }
                if p.done {
                    break Ok(sent);
                }
                if !fill(br, bbuf).await {
                    break Err(RelayError::Server);
                }
            }
        }
        ResponseFraming::UntilClose => {
            let mut sent = bbuf.len() as u64;
            out.extend_from_slice(bbuf);
            bbuf.clear();
            let mut r = cw.write_all(&out).await.map_err(|_| RelayError::Client);
            while r.is_ok() && fill(br, bbuf).await {
                sent += bbuf.len() as u64;
                r = cw.write_all(bbuf).await.map_err(|_| RelayError::Client);
                bbuf.clear();
            }
            r.map(|()| sent)
        }
    };
    let reusable = head.reusable && bbuf.is_empty();
    (r, reusable)
}

async fn relay_length<R, W>(
    br: &mut R,
    cw: &mut W,
    bbuf: &mut BytesMut,
    mut out: Vec<u8>,
    n: u64,
) -> Result<u64, RelayError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let first = n.min(bbuf.len() as u64) as usize;
    out.extend_from_slice(&bbuf[..first]);
    bbuf.advance(first);
    cw.write_all(&out).await.map_err(|_| RelayError::Client)?;
    let mut left = n - first as u64;
    while left > 0 {
        if !fill(br, bbuf).await {
            return Err(RelayError::Server);
        }
        let take = left.min(bbuf.len() as u64) as usize;
        cw.write_all(&bbuf[..take])
            .await
            .map_err(|_| RelayError::Client)?;
        bbuf.advance(take);
        left -= take as u64;
    }
    Ok(n)
}

/// Read more from the server; `false` at its end or on an error.
async fn fill<R: AsyncRead + Unpin>(br: &mut R, bbuf: &mut BytesMut) -> bool {
    bbuf.reserve(BODY_BUF);
    matches!(br.read_buf(bbuf).await, Ok(n) if n > 0)
}

/// Write a local answer and count it; `false` when the write failed.
#[allow(clippy::too_many_arguments)]
async fn write_local<W: AsyncWrite + Unpin>(
    w: &mut W,
    st: &State,
    log: Option<Box<Entry>>,
    start: Instant,
    status: StatusCode,
    text: &[u8],
    location: Option<&HeaderValue>,
    close: bool,
    head_request: bool,
) -> bool {
    st.stats.count_status(status.as_u16());
    proxy::log_local(st, log, start, status, text.len() as u64);
    let mut out = Vec::with_capacity(256 + text.len());
    head::local(status, text, location, close, head_request, &mut out);
    w.write_all(&out).await.is_ok()
}
