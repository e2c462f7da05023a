//! A client for BIRD 2's control socket (`birdc`'s protocol) over a Unix stream.
//!
//! One command at a time: write `COMMAND\n`, read lines until the reply's final line.
//! Protocol names are sent quoted (`enable "vip_web"`), so an unknown name answers
//! `8003 No protocols match` instead of a syntax error; the configuration only allows
//! `[A-Za-z0-9_]` in `bird_protocol`, so the quotes never carry a pattern.
//!
//! Every wait is bounded, every line and reply is bounded in size, and every error says
//! which socket and which command, in operators' words.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::bird::{ProtocolStatus, Reply, ReplyParser, Toggle};

/// Longest line accepted from BIRD.
const MAX_LINE: u64 = 64 * 1024;

/// A connected BIRD control socket.
#[derive(Debug)]
pub struct BirdClient {
    path: PathBuf,
    stream: BufReader<UnixStream>,
    parser: ReplyParser,
    version: String,
    timeout: Duration,
}

/// Why talking to BIRD failed.
#[derive(Debug, thiserror::Error)]
pub enum BirdError {
    #[error("cannot connect to BIRD's control socket {path}: {source} (is bird running, and is [anycast] bird_socket right?)")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("BIRD's control socket {path} closed (BIRD restarted or stopped)")]
    Closed { path: PathBuf },
    #[error("BIRD on {path} did not answer `{command}` within {timeout:?}")]
    Timeout {
        path: PathBuf,
        command: String,
        timeout: Duration,
    },
    #[error("BIRD on {path}: reading or writing the control socket failed: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("BIRD on {path} sent something that is not its control protocol: {detail}")]
    Protocol { path: PathBuf, detail: String },
    #[error("BIRD has no protocol named {name} (bird_protocol must name a protocol in bird.conf)")]
    NoSuchProtocol { name: String },
    #[error("BIRD refused `{command}`: {code:04} {text}")]
    Refused {
        command: String,
        code: u16,
        text: String,
    },
}

// === impl BirdError ===

impl BirdError {
    /// Whether the connection is unusable afterwards (reconnect), as opposed to one
    /// command having been refused.
    pub fn breaks_connection(&self) -> bool {
        matches!(
            self,
            BirdError::Connect { .. }
                | BirdError::Closed { .. }
                | BirdError::Timeout { .. }
                | BirdError::Io { .. }
                | BirdError::Protocol { .. }
        )
    }
}

// === impl BirdClient ===

impl BirdClient {
    /// Connects and reads the greeting, within `timeout` for each step.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Self, BirdError> {
        let stream = tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .map_err(|_| BirdError::Connect {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
            })?
            .map_err(|source| BirdError::Connect {
                path: path.to_owned(),
                source,
            })?;
        let mut client = BirdClient {
            path: path.to_owned(),
            stream: BufReader::new(stream),
            parser: ReplyParser::default(),
            version: String::new(),
            timeout,
        };
        let greeting = client.read_reply("(greeting)").await?;
        let Some(version) = greeting.greeting_version() else {
            return Err(client.protocol_error(format!(
                "expected the greeting `0001 BIRD x.y.z ready.`, got {greeting:?}"
            )));
        };
        client.version = version.to_owned();
        Ok(client)
    }

    /// BIRD's version from the greeting, e.g. `2.0.12`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one command and returns its reply; an error reply (8xxx/9xxx) is an error.
    pub async fn command(&mut self, command: &str) -> Result<Reply, BirdError> {
        if command.contains('\n') {
            return Err(BirdError::Refused {
                command: command.to_owned(),
                code: 9000,
                text: "a command is one line".to_owned(),
            });
        }
        let line = format!("{command}\n");
        let write = self.stream.get_mut().write_all(line.as_bytes());
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => return Err(self.timeout_error(command)),
            Ok(Err(source)) => return Err(self.io_error(source)),
            Ok(Ok(())) => {}
        }
        let reply = self.read_reply(command).await?;
        if let Some(err) = reply.error() {
            return Err(BirdError::Refused {
                command: command.to_owned(),
                code: err.code,
                text: err.text.clone(),
            });
        }
        Ok(reply)
    }

    /// `enable "NAME"`: starts announcing what the protocol exports.
    pub async fn enable(&mut self, name: &str) -> Result<Toggle, BirdError> {
        self.toggle("enable", name).await
    }

    /// `disable "NAME"`: withdraws what the protocol exports.
    pub async fn disable(&mut self, name: &str) -> Result<Toggle, BirdError> {
        self.toggle("disable", name).await
    }

    /// `show protocols "NAME"`: the protocol's row.
    pub async fn protocol(&mut self, name: &str) -> Result<ProtocolStatus, BirdError> {
        let reply = self.named("show protocols", name).await?;
        let found = reply.protocols().into_iter().find(|p| p.name == name);
        found.ok_or_else(|| BirdError::NoSuchProtocol {
            name: name.to_owned(),
        })
    }

    /// Waits until BIRD closes the socket (it never speaks unasked, so anything that
    /// arrives between commands is an error too). Cancel-safe.
    pub async fn closed(&mut self) -> BirdError {
        match self.stream.fill_buf().await {
            Ok([]) => BirdError::Closed {
                path: self.path.clone(),
            },
            Ok(data) => {
                let detail = format!("{} bytes arrived unasked", data.len());
                self.protocol_error(detail)
            }
            Err(source) => self.io_error(source),
        }
    }

    async fn toggle(&mut self, verb: &str, name: &str) -> Result<Toggle, BirdError> {
        let reply = self.named(verb, name).await?;
        reply.toggle(name).ok_or_else(|| {
            self.protocol_error(format!("`{verb} \"{name}\"` answered {:?}", reply.lines))
        })
    }

    /// Runs `VERB "NAME"`, turning `8003 No protocols match` into `NoSuchProtocol`.
    async fn named(&mut self, verb: &str, name: &str) -> Result<Reply, BirdError> {
        match self.command(&format!("{verb} \"{name}\"")).await {
            Err(BirdError::Refused { code: 8003, .. }) => Err(BirdError::NoSuchProtocol {
                name: name.to_owned(),
            }),
            other => other,
        }
    }

    async fn read_reply(&mut self, command: &str) -> Result<Reply, BirdError> {
        match tokio::time::timeout(self.timeout, self.read_reply_unbounded()).await {
            Err(_) => Err(self.timeout_error(command)),
            Ok(result) => result,
        }
    }

    async fn read_reply_unbounded(&mut self) -> Result<Reply, BirdError> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = (&mut self.stream)
                .take(MAX_LINE)
                .read_until(b'\n', &mut buf)
                .await;
            let n = read.map_err(|e| self.io_error(e))?;
            if n == 0 {
                return Err(BirdError::Closed {
                    path: self.path.clone(),
                });
            }
            if buf.last() != Some(&b'\n') {
                let detail = format!("a line longer than {MAX_LINE} bytes or cut short");
                return Err(self.protocol_error(detail));
            }
            buf.pop();
            let line = String::from_utf8_lossy(&buf);
            match self.parser.push_line(&line) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(bad) => return Err(self.protocol_error(bad.to_string())),
            }
        }
    }

    fn io_error(&self, source: std::io::Error) -> BirdError {
        BirdError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn protocol_error(&self, detail: String) -> BirdError {
        BirdError::Protocol {
            path: self.path.clone(),
            detail,
        }
    }

    fn timeout_error(&self, command: &str) -> BirdError {
        BirdError::Timeout {
            path: self.path.clone(),
            command: command.to_owned(),
            timeout: self.timeout,
        }
    }
}
