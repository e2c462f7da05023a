//! The admin API, Prometheus metrics and the embedded live dashboard.
