//! GELF decoding (work in progress).
