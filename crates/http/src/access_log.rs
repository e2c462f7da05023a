//! The access log: one line per request, written off the hot path.
//!
//! Requests hand an [`Entry`] to a bounded channel with `try_send` (never waiting); one
//! writer task formats and writes them (JSON or the combined format) through a buffered
//! writer, flushing whenever the queue runs dry. When the queue is full the entry is
//! dropped and counted ([`AccessLogger::dropped`]), so a slow disk never slows traffic.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use switchyard_config::{AccessLog, LogFormat, LogTarget};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Entries waiting to be written before new ones are dropped.
const QUEUE: usize = 8192;

/// A handle to the access log writer (cheap to clone); `off` when disabled.
#[derive(Debug, Clone, Default)]
pub struct AccessLogger {
    tx: Option<mpsc::Sender<Entry>>,
    dropped: Arc<AtomicU64>,
}

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

// === impl AccessLogger ===

impl AccessLogger {
    /// A logger that logs nothing.
    pub fn off() -> Self {
        AccessLogger::default()
    }

    /// Start the writer task for `config` (call inside a tokio runtime).
    pub async fn start(config: &AccessLog) -> std::io::Result<Self> {
        let out: Box<dyn AsyncWrite + Send + Unpin> = match &config.target {
            LogTarget::Off => return Ok(Self::off()),
            LogTarget::Stdout => Box::new(tokio::io::stdout()),
            LogTarget::File(path) => Box::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await?,
            ),
        };
        Ok(Self::to_writer(out, config.format))
    }

    /// Log to any writer (tests, custom sinks).
    pub fn to_writer(out: Box<dyn AsyncWrite + Send + Unpin>, format: LogFormat) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(rx, BufWriter::new(out), format));
        AccessLogger {
            tx: Some(tx),
            dropped: Arc::default(),
        }
    }

    /// Whether entries are wanted at all (skip building them when not).
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queue an entry; drops (and counts) it when the queue is full.
    pub fn log(&self, entry: Entry) {
        if let Some(tx) = &self.tx {
            if tx.try_send(entry).is_err() {
                self.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// Entries dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

async fn write_loop(
    mut rx: mpsc::Receiver<Entry>,
    mut out: BufWriter<Box<dyn AsyncWrite + Send + Unpin>>,
    format: LogFormat,
) {
    let mut line = String::with_capacity(512);
    while let Some(entry) = rx.recv().await {
        let mut next = Some(entry);
        while let Some(entry) = next {
            line.clear();
            match format {
                LogFormat::Json => json_line(&entry, &mut line),
                LogFormat::Combined => combined_line(&entry, &mut line),
            }
            if out.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if out.flush().await.is_err() {
            return;
        }
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

/// `10/Oct/2000:13:55:36 +0000` from Unix seconds (UTC).
fn clf_time(unix: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (unix / 86400) as i64;
    let secs = unix % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
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

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _rx) = mpsc::channel(1);
        let logger = AccessLogger {
            tx: Some(tx),
            dropped: Arc::default(),
        };
        logger.log(entry());
        logger.log(entry());
        assert_eq!(logger.dropped(), 1);
    }
}
