//! Fake API server (to be written).
