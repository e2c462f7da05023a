//! What tests read about their own process.

/// Resident memory of this process, in KiB (`VmRSS` of `/proc/self/status`; Linux).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value")
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_memory_grows_with_touched_pages() {
        let before = super::rss_kib();
        let touched = vec![1u8; 32 << 20];
        let after = super::rss_kib();
        assert!(after >= before + 16 * 1024, "{before} KiB then {after} KiB");
        drop(touched);
    }
}
