//! The authoritative DNS server: static, balanced and geo records (hickory-proto wire format).
