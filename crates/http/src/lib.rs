//! The L7 proxy: HTTP/1.1 and HTTP/2 with hyper, routing, TLS termination, affinity.
