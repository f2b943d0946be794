//! A push endpoint that accepts and discards everything (204), for benchmarks.
//!
//! usage: discard_loki [ADDR] [--latency]
//!
//! With `--latency` it decodes each push and, for every line of the form `lat <unix seconds>`,
//! prints `LAT <seconds between that time and now>` to stdout.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use prost::Message;

async fn latency(body: Bytes) -> StatusCode {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let Ok(raw) = snap::raw::Decoder::new().decompress_vec(&body) else { return StatusCode::BAD_REQUEST };
    let Ok(req) = ferrotail::client::proto::PushRequest::decode(&raw[..]) else { return StatusCode::BAD_REQUEST };
    for s in req.streams {
        for e in s.entries {
            if let Some(t) = e.line.strip_prefix("lat ").and_then(|t| t.trim().parse::<f64>().ok()) {
                println!("LAT {:.6}", now - t);
            }
        }
    }
    StatusCode::NO_CONTENT
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3199".into());
    let measure = args.any(|a| a == "--latency");
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    let app = if measure {
        Router::new().route("/loki/api/v1/push", post(latency))
    } else {
        Router::new().route("/loki/api/v1/push", post(|_b: Bytes| async { StatusCode::NO_CONTENT }))
    };
    axum::serve(listener, app).await.expect("serve");
}
