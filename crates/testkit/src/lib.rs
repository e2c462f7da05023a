//! Test helpers: demo/test backends, generated certificates, port-0 listeners.
