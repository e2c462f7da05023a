//! The access log writer shared by every data plane: one line per HTTP request and one
//! per L4 connection or UDP flow, written off the hot path to one file by one task.
//!
//! It lives here, not in `http`, so HTTP and L4 listeners share one logger per process
//! (one file, one writer task, one drop counter). What a line says is the data plane's
//! business: each hands over a [`LogLine`] that formats itself as JSON or in the
//! `combined` text form.
//!
//! Entries go to a bounded channel with `try_send` (never waiting); the writer task
//! formats and writes them through a buffered writer, flushing whenever the queue runs
//! dry. When the queue is full the entry is dropped and counted ([`AccessLogger::dropped`]),
//! so a slow disk never slows traffic.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use switchyard_config::{AccessLog, LogFormat, LogTarget};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Entries waiting to be written before new ones are dropped.
const QUEUE: usize = 8192;

/// One access log entry, formatted by the writer task.
pub trait LogLine: Send + 'static {
    /// Appends the entry as one JSON object and a newline.
    fn json(&self, out: &mut String);
    /// Appends the entry in the `combined` text format and a newline.
    fn combined(&self, out: &mut String);
}

/// A handle to the access log writer (cheap to clone); `off` when disabled.
#[derive(Clone, Default)]
pub struct AccessLogger {
    tx: Option<mpsc::Sender<Box<dyn LogLine>>>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for AccessLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLogger")
            .field("enabled", &self.enabled())
            .field("dropped", &self.dropped())
            .finish()
    }
}

// === impl AccessLogger ===

impl AccessLogger {
    /// A logger that logs nothing.
    pub fn off() -> Self {
        AccessLogger::default()
    }

    /// Starts the writer task for `config` (call inside a tokio runtime).
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

    /// Logs to any writer (tests, custom sinks).
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

    /// Queues an entry; drops (and counts) it when the queue is full.
    pub fn log(&self, entry: impl LogLine) {
        if self.enabled() {
            self.log_boxed(Box::new(entry));
        }
    }

    /// Queues an entry already boxed; drops (and counts) it when the queue is full.
    pub fn log_boxed(&self, entry: Box<dyn LogLine>) {
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
    mut rx: mpsc::Receiver<Box<dyn LogLine>>,
    mut out: BufWriter<Box<dyn AsyncWrite + Send + Unpin>>,
    format: LogFormat,
) {
    let mut line = String::with_capacity(512);
    while let Some(entry) = rx.recv().await {
        let mut next = Some(entry);
        while let Some(entry) = next {
            line.clear();
            match format {
                LogFormat::Json => entry.json(&mut line),
                LogFormat::Combined => entry.combined(&mut line),
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

/// `10/Oct/2000:13:55:36 +0000` from Unix seconds (UTC), the time of the combined formats.
pub fn clf_time(unix: u64) -> String {
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

    struct Line(&'static str);

    impl LogLine for Line {
        fn json(&self, out: &mut String) {
            out.push_str("{\"line\":\"");
            out.push_str(self.0);
            out.push_str("\"}\n");
        }
        fn combined(&self, out: &mut String) {
            out.push_str(self.0);
            out.push('\n');
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _rx) = mpsc::channel(1);
        let logger = AccessLogger {
            tx: Some(tx),
            dropped: Arc::default(),
        };
        logger.log(Line("a"));
        logger.log(Line("b"));
        assert_eq!(logger.dropped(), 1);
    }

    #[tokio::test]
    async fn the_writer_formats_each_line_in_the_configured_format() {
        let (reader, writer) = tokio::io::duplex(4096);
        let logger = AccessLogger::to_writer(Box::new(writer), LogFormat::Combined);
        logger.log(Line("one"));
        logger.log(Line("two"));
        drop(logger);
        let mut got = String::new();
        let mut reader = reader;
        tokio::io::AsyncReadExt::read_to_string(&mut reader, &mut got)
            .await
            .unwrap();
        assert_eq!(got, "one\ntwo\n");
    }

    #[test]
    fn clf_time_is_the_apache_layout_in_utc() {
        assert_eq!(clf_time(971_186_136), "10/Oct/2000:13:55:36 +0000");
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
    }
}
