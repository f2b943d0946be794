//! Docker logs API fallback (placeholder).
