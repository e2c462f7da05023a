//! The L4 access log entry: one line per TCP/TLS connection when it closes and one per
//! UDP flow when it is removed, as HAProxy's `option tcplog` and nginx's stream
//! `access_log` give.
//!
//! The writer is the process's [`AccessLogger`] (shared with HTTP listeners); entries are
//! built only when it is enabled, so a listener without an access log pays nothing.
//! `docs/l4.md` ("Access log") documents the fields and both formats.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchyard_net::access_log::clf_time;
pub use switchyard_net::{AccessLogger, LogLine};

/// One connection or flow, as logged.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When the connection was accepted (UDP: the flow's first datagram).
    pub time: SystemTime,
    /// The listener's name.
    pub listener: String,
    /// `tcp`, `tls` or `udp`.
    pub protocol: &'static str,
    /// The client: the real one when an accepted PROXY header named it.
    pub client: SocketAddr,
    /// The SNI name (tls listeners, when the ClientHello carried one).
    pub sni: Option<String>,
    /// The pool the connection was routed to.
    pub pool: Option<String>,
    /// The server's name and address: the one connected to, or the last one tried when
    /// every connect failed; `None` when no server was picked.
    pub server: Option<(String, SocketAddr)>,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// UDP: datagrams from and to the client.
    pub datagrams: Option<(u64, u64)>,
    /// From accept (first datagram) to close (removal).
    pub duration: Duration,
    /// How it ended, in words (`done`, `idle timeout`, `no server up`, ...).
    pub ended: &'static str,
}

/// When a logged connection started: taken only when the access log is enabled.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    /// Wall-clock time, for the line.
    pub time: SystemTime,
    /// Monotonic time, for the duration.
    pub at: Instant,
}

// === impl Started ===

impl Started {
    /// Now, if `log` is enabled.
    pub fn now_if(log: &AccessLogger) -> Option<Started> {
        log.enabled().then(|| Started {
            time: SystemTime::now(),
            at: Instant::now(),
        })
    }
}

// === impl Entry ===

impl Entry {
    /// An entry for a connection of `listener` started at `started`, ending now with
    /// nothing moved and no server; fill in the rest.
    pub fn new(
        started: Started,
        listener: &str,
        protocol: &'static str,
        client: SocketAddr,
        ended: &'static str,
    ) -> Entry {
        Entry {
            time: started.time,
            listener: listener.to_string(),
            protocol,
            client,
            sni: None,
            pool: None,
            server: None,
            bytes_in: 0,
            bytes_out: 0,
            datagrams: None,
            duration: started.at.elapsed(),
            ended,
        }
    }
}

impl LogLine for Entry {
    fn json(&self, out: &mut String) {
        let unix = self
            .time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let mut v = serde_json::json!({
            "time": unix.as_secs_f64(),
            "listener": self.listener,
            "protocol": self.protocol,
            "client": self.client.to_string(),
            "sni": self.sni,
            "pool": self.pool,
            "server": self.server.as_ref().map(|s| &s.0),
            "server_address": self.server.as_ref().map(|s| s.1.to_string()),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "duration_ms": self.duration.as_secs_f64() * 1e3,
            "ended": self.ended,
        });
        if let Some((din, dout)) = self.datagrams {
            v["datagrams_in"] = din.into();
            v["datagrams_out"] = dout.into();
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }

    /// `CLIENT [TIME] LISTENER PROTOCOL POOL/SERVER SERVER_ADDRESS SNI BYTES_IN BYTES_OUT
    /// DATAGRAMS_IN/DATAGRAMS_OUT DURATION_MS "ENDED"`, `-` for what is unknown.
    fn combined(&self, out: &mut String) {
        use std::fmt::Write;
        let unix = self
            .time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (server, address) = match &self.server {
            Some((name, addr)) => (name.as_str(), addr.to_string()),
            None => ("-", "-".to_string()),
        };
        let datagrams = match self.datagrams {
            Some((din, dout)) => format!("{din}/{dout}"),
            None => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "{} [{}] {} {} {}/{} {} {} {} {} {} {:.3} \"{}\"",
            self.client,
            clf_time(unix),
            self.listener,
            self.protocol,
            self.pool.as_deref().unwrap_or("-"),
            server,
            address,
            self.sni.as_deref().unwrap_or("-"),
            self.bytes_in,
            self.bytes_out,
            datagrams,
            self.duration.as_secs_f64() * 1e3,
            self.ended,
        );
    }
}

/// A flow's access log line in the making.
#[derive(Debug)]
pub(crate) struct FlowLog {
    pub(crate) started: Started,
    pub(crate) pool: String,
    pub(crate) server: (String, SocketAddr),
    pub(crate) counts: Arc<FlowCounts>,
}

/// Datagrams and bytes of one flow; the reply task counts those to the client.
#[derive(Debug, Default)]
pub(crate) struct FlowCounts {
    pub(crate) datagrams_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) datagrams_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
}

// === impl FlowCounts ===

impl FlowCounts {
    pub(crate) fn add(datagrams: &AtomicU64, bytes: &AtomicU64, n: usize) {
        datagrams.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

// === impl FlowLog ===

impl FlowLog {
    /// The line of this flow of `listener`, removed now for `ended`.
    pub(crate) fn entry(&self, listener: &str, client: SocketAddr, ended: &'static str) -> Entry {
        let c = &self.counts;
        let mut entry = Entry::new(self.started, listener, "udp", client, ended);
        entry.pool = Some(self.pool.clone());
        entry.server = Some(self.server.clone());
        entry.bytes_in = c.bytes_in.load(Ordering::Relaxed);
        entry.bytes_out = c.bytes_out.load(Ordering::Relaxed);
        entry.datagrams = Some((
            c.datagrams_in.load(Ordering::Relaxed),
            c.datagrams_out.load(Ordering::Relaxed),
        ));
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(971_186_136),
            listener: "db".into(),
            protocol: "tls",
            client: "192.0.2.7:5000".parse().unwrap(),
            sni: Some("db.example.com".into()),
            pool: Some("app".into()),
            server: Some(("a".into(), "10.0.0.1:5432".parse().unwrap())),
            bytes_in: 120,
            bytes_out: 4530,
            datagrams: None,
            duration: Duration::from_millis(1520),
            ended: "done",
        }
    }

    #[test]
    fn combined_format_is_one_tcplog_like_line() {
        let mut line = String::new();
        entry().combined(&mut line);
        assert_eq!(
            line,
            "192.0.2.7:5000 [10/Oct/2000:13:55:36 +0000] db tls app/a 10.0.0.1:5432 db.example.com 120 4530 - 1520.000 \"done\"\n"
        );
        let mut udp = entry();
        (udp.protocol, udp.sni, udp.server, udp.datagrams) = ("udp", None, None, Some((3, 2)));
        udp.ended = "idle timeout";
        line.clear();
        udp.combined(&mut line);
        assert!(
            line.contains(" db udp app/- - - 120 4530 3/2 1520.000 \"idle timeout\""),
            "{line}"
        );
    }

    #[test]
    fn json_format_has_stable_field_names() {
        let mut line = String::new();
        entry().json(&mut line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["protocol"], "tls");
        assert_eq!(v["server"], "a");
        assert_eq!(v["server_address"], "10.0.0.1:5432");
        assert_eq!(v["sni"], "db.example.com");
        assert_eq!(v["duration_ms"], 1520.0);
        assert_eq!(v["ended"], "done");
        assert!(v.get("datagrams_in").is_none());
    }
}
