//! The table of live TCP connections, for the admin API.
//!
//! Touched only when a connection opens and closes (a sharded mutex, never a global lock
//! on the data path); byte counters are atomics inside each entry, updated as data flows.
//! One table per process ([`ConnTable::global`]) so that the admin API lists every
//! listener's connections and entries outlive configuration reloads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// Every live connection, sharded by id.
#[derive(Debug)]
pub struct ConnTable {
    shards: [Mutex<HashMap<u64, Arc<ConnEntry>>>; SHARDS],
    next_id: AtomicU64,
}

/// One live connection.
#[derive(Debug)]
pub struct ConnEntry {
    /// Process-unique id.
    pub id: u64,
    /// The client (after an accepted PROXY header, the real client).
    pub client: SocketAddr,
    /// Listener name.
    pub listener: String,
    /// Pool name.
    pub pool: String,
    /// Server name.
    pub server: String,
    /// Server address.
    pub server_addr: SocketAddr,
    /// Bytes from the client to the server so far.
    pub bytes_in: AtomicU64,
    /// Bytes from the server to the client so far.
    pub bytes_out: AtomicU64,
    opened: Instant,
}

/// A copy of an entry, for listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// Process-unique id.
    pub id: u64,
    /// Client address and port.
    pub client: SocketAddr,
    /// Listener name.
    pub listener: String,
    /// Pool name.
    pub pool: String,
    /// Server name.
    pub server: String,
    /// Server address.
    pub server_addr: SocketAddr,
    /// Bytes client → server.
    pub bytes_in: u64,
    /// Bytes server → client.
    pub bytes_out: u64,
    /// Time since the connection was accepted.
    pub age: Duration,
}

/// Removes its entry from the table when dropped (connection closed or timed out).
#[derive(Debug)]
pub struct ConnGuard {
    table: &'static ConnTable,
    entry: Arc<ConnEntry>,
}

// === impl ConnTable ===

impl ConnTable {
    /// An empty table.
    pub fn new() -> Self {
        ConnTable {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(1),
        }
    }

    /// The process-wide table.
    pub fn global() -> &'static ConnTable {
        static TABLE: OnceLock<ConnTable> = OnceLock::new();
        TABLE.get_or_init(ConnTable::new)
    }

    fn shard(&self, id: u64) -> &Mutex<HashMap<u64, Arc<ConnEntry>>> {
        &self.shards[(id as usize) % SHARDS]
    }

    /// Adds a connection; it stays listed until the guard is dropped.
    pub fn open(
        &'static self,
        client: SocketAddr,
        listener: &str,
        pool: &str,
        server: &str,
        server_addr: SocketAddr,
    ) -> ConnGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(ConnEntry {
            id,
            client,
            listener: listener.to_string(),
            pool: pool.to_string(),
            server: server.to_string(),
            server_addr,
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            opened: Instant::now(),
        });
        lock(self.shard(id)).insert(id, entry.clone());
        ConnGuard { table: self, entry }
    }

    /// Number of live connections.
    pub fn count(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Live connections ordered by id (oldest first), `limit` of them from `offset`.
    pub fn list(&self, offset: usize, limit: usize) -> Vec<ConnInfo> {
        let mut all: Vec<Arc<ConnEntry>> = self
            .shards
            .iter()
            .flat_map(|s| lock(s).values().cloned().collect::<Vec<_>>())
            .collect();
        all.sort_unstable_by_key(|e| e.id);
        all.iter()
            .skip(offset)
            .take(limit)
            .map(|e| e.info())
            .collect()
    }

    /// Live connections of one listener (for tests and the admin API's filter).
    pub fn count_listener(&self, listener: &str) -> usize {
        self.shards
            .iter()
            .map(|s| lock(s).values().filter(|e| e.listener == listener).count())
            .sum()
    }
}

impl Default for ConnTable {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// === impl ConnEntry ===

impl ConnEntry {
    /// A snapshot of this entry.
    pub fn info(&self) -> ConnInfo {
        ConnInfo {
            id: self.id,
            client: self.client,
            listener: self.listener.clone(),
            pool: self.pool.clone(),
            server: self.server.clone(),
            server_addr: self.server_addr,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            age: self.opened.elapsed(),
        }
    }
}

// === impl ConnGuard ===

impl ConnGuard {
    /// The live entry (its byte counters are updated through it).
    pub fn entry(&self) -> &Arc<ConnEntry> {
        &self.entry
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        lock(self.table.shard(self.entry.id)).remove(&self.entry.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_listed_in_pages_and_removed_on_drop() {
        let t: &'static ConnTable = Box::leak(Box::new(ConnTable::new()));
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let guards: Vec<_> = (0..40).map(|_| t.open(a, "l", "p", "s", a)).collect();
        assert_eq!(t.count(), 40);
        guards[3].entry().bytes_in.fetch_add(7, Ordering::Relaxed);
        let page = t.list(0, 10);
        assert_eq!(page.len(), 10);
        assert_eq!(page[3].bytes_in, 7);
        assert!(page.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(t.list(35, 10).len(), 5);
        assert_eq!(t.count_listener("l"), 40);
        drop(guards);
        assert_eq!(t.count(), 0);
    }
}
