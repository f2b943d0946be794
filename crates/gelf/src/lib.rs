//! GELF over UDP with the exact behaviour of Grafana Promtail 3.4.6's `gelf` scrape
//! target (`clients/pkg/promtail/targets/gelf/gelftarget.go`), which reads with
//! `github.com/grafana/go-gelf/v2` (a fork of Graylog2's go-gelf v2) and
//! marshals with Go's `encoding/json`.
//!
//! Pipeline, all pure (the caller owns the socket and the clock):
//! 1. [`Reassembler::push`] one datagram (go-gelf reads into a 1420-byte buffer,
//!    so longer datagrams are cut: [`Config::max_datagram`]). Chunked datagrams
//!    (magic `0x1e 0x0f`, 8-byte message id, sequence number, sequence count, at
//!    most 128 chunks) are reassembled in any order; a message not completed 5 s
//!    after its first chunk is dropped ([`Reassembler::expire`]); pending messages
//!    and bytes are bounded (ferrotail-only) and every drop is counted in [`Stats`].
//! 2. [`decompress`]: gzip (`1f 8b`), zlib (`78 xx` with a valid header checksum) or
//!    plain JSON otherwise, with a cap on the decompressed size (gzip bombs).
//! 3. [`decode`]: go-gelf's `Message.UnmarshalJSON`: `version`, `host`,
//!    `short_message`, `full_message`, `facility` must be strings, `timestamp` and
//!    `level` numbers (a wrong type, `null` included, is an error), keys starting
//!    with `_` go to [`Message::extra`], other keys are dropped. A JSON `null`
//!    message is ignored (`Ok(None)`), like Promtail does.
//! 4. Promtail's [`labels`] (`__gelf_message_level` as a syslog keyword such as
//!    `error`/`informational`, `__gelf_message_host`, `__gelf_message_version`,
//!    `__gelf_message_facility`; empty values omitted), the line
//!    ([`Message::promtail_line`]: the whole message re-marshalled as JSON, exactly
//!    as go-gelf's `MarshalJSONBuf` with `encoding/json` writes it) and the
//!    timestamp rule ([`entry_timestamp_nanos`]).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod chunks;
mod gojson;
mod message;

pub use chunks::{
    Config, Reassembler, Stats, CHUNK_HEADER_LEN, CHUNK_MAGIC, GO_GELF_READ_BUFFER, MAX_CHUNKS,
};
pub use message::{
    decode, decompress, entry_timestamp_nanos, labels, level_keyword, Compression, Message,
};

use std::fmt;

/// Why a datagram or message was dropped. Promtail counts each one in
/// `promtail_gelf_target_parsing_errors_total` (`gelfErrors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GelfError {
    /// Chunk of 12 bytes or less (`chunked message size must be greather than 12`).
    ChunkTooShort {
        /// Datagram length.
        len: usize,
    },
    /// Sequence count 0 or above 128, or sequence number not below the count
    /// (go-gelf: `message must not be split into more than 128 chunks`).
    InvalidChunk {
        /// Sequence number.
        seq: u8,
        /// Sequence count.
        count: u8,
    },
    /// Chunk of a message whose 5 s reassembly window is over.
    Expired,
    /// Gzip/zlib stream could not be decompressed.
    Decompress(String),
    /// Decompressed size above the configured cap.
    DecompressedTooLarge {
        /// The cap.
        max: usize,
    },
    /// Not JSON, not an object, or a field of the wrong type.
    Json(String),
}

impl fmt::Display for GelfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GelfError::ChunkTooShort { len } => write!(
                f,
                "chunked message size must be greater than {CHUNK_HEADER_LEN}, got {len}"
            ),
            GelfError::InvalidChunk { seq, count } => write!(
                f,
                "invalid chunk {seq} of {count}: a message must have 1 to {MAX_CHUNKS} chunks"
            ),
            GelfError::Expired => write!(f, "chunked message expired before all chunks arrived"),
            GelfError::Decompress(e) => write!(f, "decompressing GELF payload: {e}"),
            GelfError::DecompressedTooLarge { max } => {
                write!(f, "decompressed GELF payload larger than {max} bytes")
            }
            GelfError::Json(e) => write!(f, "json.Unmarshal: {e}"),
        }
    }
}

impl std::error::Error for GelfError {}
