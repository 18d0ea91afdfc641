//! Guarded outbound HTTP (being written).
