//! Per-listener counters, in atomics the runtime reads for metrics.
//!
//! The counters live in an `Arc` the runtime creates once per listener and passes to
//! `serve`, so they survive reloads (which only swap the zone data). Workers count into a
//! plain per-worker [`Tally`] and add it to the shared atomics once per batch of
//! datagrams (or per TCP query), so the hot path does no atomic read-modify-write per
//! counter per query.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::rtype;

/// Query types counted separately; everything else is `other`.
pub const COUNTED_TYPES: [(u16, &str); 11] = [
    (rtype::A, "A"),
    (rtype::AAAA, "AAAA"),
    (rtype::CNAME, "CNAME"),
    (rtype::MX, "MX"),
    (rtype::TXT, "TXT"),
    (rtype::SRV, "SRV"),
    (rtype::CAA, "CAA"),
    (rtype::NS, "NS"),
    (rtype::SOA, "SOA"),
    (rtype::ANY, "ANY"),
    (rtype::AXFR, "AXFR"),
];

/// Response codes counted separately; everything else is `other`.
pub const COUNTED_RCODES: [(u16, &str); 7] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (16, "BADVERS"),
];

/// The counters of one DNS listener.
#[derive(Debug, Default)]
pub struct DnsStats {
    /// Queries by type, indexed like [`COUNTED_TYPES`].
    pub queries_by_type: [AtomicU64; 11],
    /// Queries of any other type.
    pub queries_other_type: AtomicU64,
    /// Responses by rcode, indexed like [`COUNTED_RCODES`].
    pub responses_by_rcode: [AtomicU64; 7],
    /// Responses with any other rcode.
    pub responses_other_rcode: AtomicU64,
    /// Queries received over UDP (including malformed ones).
    pub udp_queries: AtomicU64,
    /// Queries received over TCP.
    pub tcp_queries: AtomicU64,
    /// Responses sent with TC set (too large, or rate limited).
    pub truncated: AtomicU64,
    /// Responses turned into empty TC answers by the rate limit.
    pub rate_limited: AtomicU64,
    /// Packets dropped without an answer (shorter than a header, or not a query).
    pub dropped_malformed: AtomicU64,
    /// TCP connections accepted.
    pub tcp_connections: AtomicU64,
    /// TCP connections refused because `max_tcp_connections` were open.
    pub tcp_refused: AtomicU64,
    /// Bytes received (DNS payload).
    pub bytes_in: AtomicU64,
    /// Bytes sent (DNS payload).
    pub bytes_out: AtomicU64,
    /// Socket errors on receive or send.
    pub io_errors: AtomicU64,
}

/// One worker's counts since its last [`Tally::flush`]: the per-query counters of
/// [`DnsStats`] as plain integers.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    queries_by_type: [u64; 11],
    queries_other_type: u64,
    responses_by_rcode: [u64; 7],
    responses_other_rcode: u64,
    /// Queries received over UDP.
    pub udp_queries: u64,
    /// Queries received over TCP.
    pub tcp_queries: u64,
    truncated: u64,
    /// Rate-limited responses.
    pub rate_limited: u64,
    /// Packets dropped without an answer.
    pub dropped_malformed: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Whether anything was counted since the last flush.
    dirty: bool,
}

/// A plain copy of the counters, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// `(type name, count)`, then `("other", count)`.
    pub queries_by_type: Vec<(&'static str, u64)>,
    /// `(rcode name, count)`, then `("other", count)`.
    pub responses_by_rcode: Vec<(&'static str, u64)>,
    /// See [`DnsStats::udp_queries`].
    pub udp_queries: u64,
    /// See [`DnsStats::tcp_queries`].
    pub tcp_queries: u64,
    /// See [`DnsStats::truncated`].
    pub truncated: u64,
    /// See [`DnsStats::rate_limited`].
    pub rate_limited: u64,
    /// See [`DnsStats::dropped_malformed`].
    pub dropped_malformed: u64,
    /// See [`DnsStats::tcp_connections`].
    pub tcp_connections: u64,
    /// See [`DnsStats::tcp_refused`].
    pub tcp_refused: u64,
    /// See [`DnsStats::bytes_in`].
    pub bytes_in: u64,
    /// See [`DnsStats::bytes_out`].
    pub bytes_out: u64,
    /// See [`DnsStats::io_errors`].
    pub io_errors: u64,
}

// === impl Tally ===

impl Tally {
    /// Count a query of `qtype`.
    pub fn query(&mut self, qtype: u16) {
        self.dirty = true;
        match type_index(qtype) {
            Some(i) => self.queries_by_type[i] += 1,
            None => self.queries_other_type += 1,
        }
    }

    /// Count a response with `rcode` (extended), truncated or not.
    pub fn response(&mut self, rcode: u16, truncated: bool) {
        self.dirty = true;
        match COUNTED_RCODES.iter().position(|(r, _)| *r == rcode) {
            Some(i) => self.responses_by_rcode[i] += 1,
            None => self.responses_other_rcode += 1,
        }
        self.truncated += u64::from(truncated);
    }

    /// Note that a plain counter (`udp_queries`, `bytes_in`...) was changed directly.
    pub fn touch(&mut self) {
        self.dirty = true;
    }

    /// Add everything to `stats` and start again from zero.
    pub fn flush(&mut self, stats: &DnsStats) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let add = |a: &AtomicU64, n: &mut u64| {
            if *n != 0 {
                a.fetch_add(std::mem::take(n), Ordering::Relaxed);
            }
        };
        for (a, n) in stats.queries_by_type.iter().zip(&mut self.queries_by_type) {
            add(a, n);
        }
        add(&stats.queries_other_type, &mut self.queries_other_type);
        for (a, n) in stats
            .responses_by_rcode
            .iter()
            .zip(&mut self.responses_by_rcode)
        {
            add(a, n);
        }
        add(
            &stats.responses_other_rcode,
            &mut self.responses_other_rcode,
        );
        add(&stats.udp_queries, &mut self.udp_queries);
        add(&stats.tcp_queries, &mut self.tcp_queries);
        add(&stats.truncated, &mut self.truncated);
        add(&stats.rate_limited, &mut self.rate_limited);
        add(&stats.dropped_malformed, &mut self.dropped_malformed);
        add(&stats.bytes_in, &mut self.bytes_in);
        add(&stats.bytes_out, &mut self.bytes_out);
    }
}

/// Index of `qtype` in [`COUNTED_TYPES`].
fn type_index(qtype: u16) -> Option<usize> {
    COUNTED_TYPES.iter().position(|(t, _)| *t == qtype)
}

// === impl DnsStats ===

impl DnsStats {
    /// Count a query of `qtype`.
    pub fn query(&self, qtype: u16) {
        match type_index(qtype) {
            Some(i) => inc(&self.queries_by_type[i]),
            None => inc(&self.queries_other_type),
        }
    }

    /// Count a response with `rcode` (extended), truncated or not.
    pub fn response(&self, rcode: u16, truncated: bool) {
        match COUNTED_RCODES.iter().position(|(r, _)| *r == rcode) {
            Some(i) => inc(&self.responses_by_rcode[i]),
            None => inc(&self.responses_other_rcode),
        }
        if truncated {
            inc(&self.truncated);
        }
    }

    /// A plain copy.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut queries_by_type: Vec<_> = COUNTED_TYPES
            .iter()
            .zip(&self.queries_by_type)
            .map(|((_, n), c)| (*n, get(c)))
            .collect();
        queries_by_type.push(("other", get(&self.queries_other_type)));
        let mut responses_by_rcode: Vec<_> = COUNTED_RCODES
            .iter()
            .zip(&self.responses_by_rcode)
            .map(|((_, n), c)| (*n, get(c)))
            .collect();
        responses_by_rcode.push(("other", get(&self.responses_other_rcode)));
        StatsSnapshot {
            queries_by_type,
            responses_by_rcode,
            udp_queries: get(&self.udp_queries),
            tcp_queries: get(&self.tcp_queries),
            truncated: get(&self.truncated),
            rate_limited: get(&self.rate_limited),
            dropped_malformed: get(&self.dropped_malformed),
            tcp_connections: get(&self.tcp_connections),
            tcp_refused: get(&self.tcp_refused),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            io_errors: get(&self.io_errors),
        }
    }
}

// === impl StatsSnapshot ===

impl StatsSnapshot {
    /// Queries of the type called `name` (`"A"`, `"other"`...).
    pub fn queries(&self, name: &str) -> u64 {
        find(&self.queries_by_type, name)
    }

    /// Responses with the rcode called `name` (`"NXDOMAIN"`, `"other"`...).
    pub fn responses(&self, name: &str) -> u64 {
        find(&self.responses_by_rcode, name)
    }
}

/// Add one.
pub(crate) fn inc(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

fn find(list: &[(&'static str, u64)], name: &str) -> u64 {
    list.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_buckets() {
        let s = DnsStats::default();
        s.query(rtype::A);
        s.query(rtype::A);
        s.query(999);
        s.response(3, false);
        s.response(16, true);
        s.response(9, false);
        let snap = s.snapshot();
        assert_eq!(snap.queries("A"), 2);
        assert_eq!(snap.queries("other"), 1);
        assert_eq!(snap.responses("NXDOMAIN"), 1);
        assert_eq!(snap.responses("BADVERS"), 1);
        assert_eq!(snap.responses("other"), 1);
        assert_eq!(snap.truncated, 1);
    }

    #[test]
    fn a_tally_adds_up_in_the_shared_counters_once_flushed() {
        let s = DnsStats::default();
        let mut t = Tally::default();
        t.query(rtype::MX);
        t.query(rtype::MX);
        t.query(999);
        t.response(0, true);
        t.udp_queries += 3;
        t.bytes_out += 100;
        t.touch();
        assert_eq!(s.snapshot(), DnsStats::default().snapshot(), "not before");
        t.flush(&s);
        t.flush(&s);
        let snap = s.snapshot();
        assert_eq!(snap.queries("MX"), 2);
        assert_eq!(snap.queries("other"), 1);
        assert_eq!(snap.responses("NOERROR"), 1);
        assert_eq!(snap.truncated, 1);
        assert_eq!(snap.udp_queries, 3);
        assert_eq!(snap.bytes_out, 100);
        t.query(rtype::A);
        t.flush(&s);
        assert_eq!(s.snapshot().queries("A"), 1);
        assert_eq!(s.snapshot().queries("MX"), 2, "counted once");
    }
}
