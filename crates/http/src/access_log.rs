//! The HTTP access log entry: one line per request.
//!
//! The writer (bounded queue, one writer task, drop counter) is
//! [`switchyard_net::AccessLogger`], shared with the L4 listeners; this module says what
//! an HTTP request's line holds, as JSON or in the combined format.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use switchyard_net::access_log::clf_time;
pub use switchyard_net::{AccessLogger, LogLine};

/// One request, as logged.
#[derive(Debug, Clone)]
pub struct Entry {
    pub time: SystemTime,
    pub listener: Arc<str>,
    pub client: SocketAddr,
    pub method: String,
    pub uri: String,
    pub version: http::Version,
    pub host: String,
    pub route: Arc<str>,
    pub pool: Option<Arc<str>>,
    pub server: Option<String>,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// From request start to response headers.
    pub ttfb: Duration,
    /// From request start to the end of the response body.
    pub total: Duration,
    pub user_agent: String,
    pub referer: String,
}

// === impl Entry ===

impl LogLine for Entry {
    fn json(&self, out: &mut String) {
        json_line(self, out);
    }
    fn combined(&self, out: &mut String) {
        combined_line(self, out);
    }
}

/// One JSON object per line.
pub fn json_line(e: &Entry, out: &mut String) {
    let unix = e
        .time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let v = serde_json::json!({
        "time": unix.as_secs_f64(),
        "listener": &*e.listener,
        "client": e.client.to_string(),
        "method": e.method,
        "uri": e.uri,
        "version": format!("{:?}", e.version),
        "host": e.host,
        "route": &*e.route,
        "pool": e.pool.as_deref(),
        "server": e.server,
        "status": e.status,
        "bytes_in": e.bytes_in,
        "bytes_out": e.bytes_out,
        "ttfb_ms": e.ttfb.as_secs_f64() * 1e3,
        "total_ms": e.total.as_secs_f64() * 1e3,
        "user_agent": e.user_agent,
        "referer": e.referer,
    });
    out.push_str(&v.to_string());
    out.push('\n');
}

/// The combined log format, with listener, route, pool, server and timings appended.
pub fn combined_line(e: &Entry, out: &mut String) {
    use std::fmt::Write;
    let unix = e
        .time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let _ = writeln!(
        out,
        "{} - - [{}] \"{} {} {:?}\" {} {} \"{}\" \"{}\" listener={} route={} pool={} server={} ttfb_ms={:.3} total_ms={:.3}",
        e.client.ip(),
        clf_time(unix),
        e.method,
        e.uri,
        e.version,
        e.status,
        e.bytes_out,
        escape(&e.referer),
        escape(&e.user_agent),
        e.listener,
        e.route,
        e.pool.as_deref().unwrap_or("-"),
        e.server.as_deref().unwrap_or("-"),
        e.ttfb.as_secs_f64() * 1e3,
        e.total.as_secs_f64() * 1e3,
    );
}

fn escape(s: &str) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(971_186_136),
            listener: "web".into(),
            client: "192.0.2.7:5000".parse().unwrap(),
            method: "GET".into(),
            uri: "/a?b=1".into(),
            version: http::Version::HTTP_11,
            host: "example.com".into(),
            route: "0".into(),
            pool: Some("app".into()),
            server: Some("a".into()),
            status: 200,
            bytes_in: 0,
            bytes_out: 5,
            ttfb: Duration::from_millis(2),
            total: Duration::from_millis(3),
            user_agent: "curl/8".into(),
            referer: String::new(),
        }
    }

    #[test]
    fn combined_format_matches_the_apache_layout() {
        let mut line = String::new();
        combined_line(&entry(), &mut line);
        assert!(line.starts_with(
            "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \"GET /a?b=1 HTTP/1.1\" 200 5 \"-\" \"curl/8\""
        ), "{line}");
        assert!(line.contains("pool=app server=a"));
    }

    #[test]
    fn json_format_has_the_fields_operators_filter_on() {
        let mut line = String::new();
        json_line(&entry(), &mut line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["listener"], "web");
        assert_eq!(v["server"], "a");
        assert_eq!(v["status"], 200);
        assert_eq!(v["ttfb_ms"], 2.0);
    }
}
