//! A fake BIRD 2 control socket for the client and controller tests: a real
//! `UnixListener` that speaks BIRD's protocol as BIRD 2.0.12 does (replies copied from
//! its transcripts), keeps each protocol's enabled flag, records every command, and can
//! be restarted (connections dropped, protocols back to their bird.conf state) like a
//! BIRD restart.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

/// The fake daemon.
pub struct FakeBird {
    pub path: PathBuf,
    pub state: Arc<Mutex<BirdState>>,
    task: Option<JoinHandle<()>>,
}

/// Protocols and the command log.
#[derive(Debug, Default)]
pub struct BirdState {
    /// What bird.conf says at (re)start.
    pub initial: BTreeMap<String, bool>,
    pub enabled: BTreeMap<String, bool>,
    pub commands: Vec<String>,
    pub connections: usize,
}

impl FakeBird {
    /// Starts with `protocols` (name, enabled at start).
    pub fn start(dir: &Path, protocols: &[(&str, bool)]) -> FakeBird {
        let initial: BTreeMap<String, bool> =
            protocols.iter().map(|(n, e)| (n.to_string(), *e)).collect();
        let state = Arc::new(Mutex::new(BirdState {
            enabled: initial.clone(),
            initial,
            ..BirdState::default()
        }));
        let mut bird = FakeBird {
            path: dir.join("bird.ctl"),
            state,
            task: None,
        };
        bird.spawn();
        bird
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).expect("bind the fake BIRD socket");
        let state = self.state.clone();
        self.task = Some(tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                state.lock().unwrap().connections += 1;
                sessions.spawn(session(stream, state.clone()));
            }
        }));
    }

    /// Stops: the socket and every connection close (the JoinSet is dropped).
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// A BIRD restart: connections drop, protocols go back to bird.conf.
    pub async fn restart(&mut self, down_for: Duration) {
        self.stop();
        tokio::time::sleep(down_for).await;
        {
            let mut s = self.state.lock().unwrap();
            s.enabled = s.initial.clone();
        }
        self.spawn();
    }

    pub fn enabled(&self, name: &str) -> Option<bool> {
        self.state.lock().unwrap().enabled.get(name).copied()
    }

    /// Sets a protocol by hand, as `birdc enable` would behind switchyard's back.
    pub fn set(&self, name: &str, enabled: bool) {
        self.state
            .lock()
            .unwrap()
            .enabled
            .insert(name.to_string(), enabled);
    }

    pub fn commands(&self) -> Vec<String> {
        self.state.lock().unwrap().commands.clone()
    }
}

impl Drop for FakeBird {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn session(stream: tokio::net::UnixStream, state: Arc<Mutex<BirdState>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    if write.write_all(b"0001 BIRD 2.0.12 ready.\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = answer(&line, &state);
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// BIRD 2.0.12's replies, byte for byte (names quoted as the client sends them).
fn answer(line: &str, state: &Mutex<BirdState>) -> String {
    let mut s = state.lock().unwrap();
    s.commands.push(line.to_string());
    let (verb, arg) = match line.rsplit_once(' ') {
        Some((v, a)) if a.starts_with('"') && a.ends_with('"') && a.len() >= 2 => {
            (v, &a[1..a.len() - 1])
        }
        _ => return "9001 syntax error, unexpected CF_SYM_UNDEFINED\n".to_string(),
    };
    let Some(enabled) = s.enabled.get(arg).copied() else {
        return "8003 No protocols match\n".to_string();
    };
    match verb {
        "enable" if enabled => format!("0010-{arg}: already enabled\n0000 \n"),
        "enable" => {
            s.enabled.insert(arg.to_string(), true);
            format!("0011-{arg}: enabled\n0000 \n")
        }
        "disable" if !enabled => format!("0008-{arg}: already disabled\n0000 \n"),
        "disable" => {
            s.enabled.insert(arg.to_string(), false);
            format!("0009-{arg}: disabled\n0000 \n")
        }
        "show protocols" => format!(
            "2002-Name       Proto      Table      State  Since         Info\n1002-{arg:<10} Static     master4    {:<6} 23:02:23.482  \n0000 \n",
            if enabled { "up" } else { "down" }
        ),
        _ => "9001 syntax error, unexpected CF_SYM_UNDEFINED\n".to_string(),
    }
}

/// Polls `check` every 10 ms for up to `limit`; true once it holds.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
