//! The L4 proxy: TCP and UDP balancing, PROXY protocol, TLS passthrough on SNI.
