//! A strict in-process Loki push endpoint: decodes the snappy block and protobuf body as Loki
//! does, validates the stream label strings as Loki's parser does, answers 204 or a scripted
//! status with Loki's messages, and records every accepted entry.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use prost::Message;
use tokio::sync::Notify;

use ferrotail::client::proto::PushRequest;

/// One received entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub tenant: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub ts_nanos: i64,
    pub line: String,
    pub structured_metadata: Vec<(String, String)>,
}

#[derive(Default)]
pub struct Inner {
    pub entries: Vec<Received>,
    pub requests: usize,
    pub script: VecDeque<u16>,
    pub headers: Vec<HeaderMap>,
    pub max_line_size: usize,
    pub delay: Duration,
    /// Answer 429 to every push of this tenant.
    pub rate_limit_tenant: Option<String>,
    /// Pushes refused for `rate_limit_tenant`.
    pub refused: usize,
    /// While set, every push is answered with this status (an outage), after the body was
    /// decoded; nothing is recorded.
    pub fail_with: Option<u16>,
    /// Pushes answered with `fail_with`.
    pub failed: usize,
}

#[derive(Clone)]
pub struct FakeLoki {
    pub url: String,
    pub inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
}

/// Parses a Loki stream label string `{a="x", b="y"}` strictly.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let b = s.as_bytes();
    let mut out = BTreeMap::new();
    let err = |pos: usize, msg: &str| {
        Err(format!(
            "couldn't parse labels: 1:{}: parse error: {msg}",
            pos + 1
        ))
    };
    if b.first() != Some(&b'{') {
        return err(0, "unexpected character: expected '{'");
    }
    let mut i = 1;
    loop {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i < b.len() && b[i] == b'}' {
            i += 1;
            break;
        }
        let start = i;
        if i >= b.len() || !(b[i].is_ascii_alphabetic() || b[i] == b'_') {
            return err(
                i,
                &format!(
                    "unexpected character inside braces: '{}'",
                    b.get(i).map(|c| *c as char).unwrap_or(' ')
                ),
            );
        }
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &s[start..i];
        if i >= b.len() || b[i] != b'=' {
            return err(i, "expected '='");
        }
        i += 1;
        if i >= b.len() || b[i] != b'"' {
            return err(i, "expected quoted value");
        }
        i += 1;
        let mut value = String::new();
        loop {
            let Some(&c) = b.get(i) else {
                return err(i, "unterminated string");
            };
            match c {
                b'"' => {
                    i += 1;
                    break;
                }
                b'\\' => {
                    let Some(&e) = b.get(i + 1) else {
                        return err(i, "bad escape");
                    };
                    match e {
                        b'"' => value.push('"'),
                        b'\\' => value.push('\\'),
                        b'n' => value.push('\n'),
                        b't' => value.push('\t'),
                        b'r' => value.push('\r'),
                        b'x' => {
                            let hex = s.get(i + 2..i + 4).ok_or("bad escape")?;
                            value.push(
                                u8::from_str_radix(hex, 16).map_err(|e| e.to_string())? as char
                            );
                            i += 2;
                        }
                        b'u' => {
                            let hex = s.get(i + 2..i + 6).ok_or("bad escape")?;
                            value.push(
                                char::from_u32(
                                    u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?,
                                )
                                .ok_or("bad escape")?,
                            );
                            i += 4;
                        }
                        _ => return err(i, "unknown escape sequence"),
                    }
                    i += 2;
                }
                _ => {
                    let ch = s[i..].chars().next().ok_or("bad utf-8")?;
                    value.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        if out.insert(name.to_string(), value).is_some() {
            return err(start, &format!("duplicate label name {name:?}"));
        }
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {
                i += 1;
                break;
            }
            _ => return err(i, "expected ',' or '}'"),
        }
    }
    if i != b.len() {
        return err(i, "unexpected trailing characters");
    }
    Ok(out)
}

async fn push(State(f): State<FakeLoki>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let (scripted, delay, max_line) = {
        let mut g = f.inner.lock().unwrap();
        g.requests += 1;
        g.headers.push(headers.clone());
        let scripted = match g.fail_with {
            Some(code) => {
                g.failed += 1;
                Some(code)
            }
            None => g.script.pop_front(),
        };
        (scripted, g.delay, g.max_line_size)
    };
    f.notify.notify_waiters();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-protobuf") {
        return (StatusCode::BAD_REQUEST, "unsupported content type".into());
    }
    if headers.get("content-encoding").is_some() {
        return (
            StatusCode::BAD_REQUEST,
            "ferrotail must not send Content-Encoding".into(),
        );
    }
    let raw = match snap::raw::Decoder::new().decompress_vec(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("snappy: {e}")),
    };
    let req = match PushRequest::decode(&raw[..]) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("protobuf: {e}")),
    };
    if let Some(code) = scripted {
        let msg = match code {
            429 => "Ingestion rate limit exceeded for user fake (limit: 1 bytes/sec) while attempting to ingest '1' lines totaling '1' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased".to_string(),
            400 => "entry for stream '{job=\"t\"}' has timestamp too old".to_string(),
            c => format!("scripted {c}"),
        };
        return (StatusCode::from_u16(code).unwrap(), msg);
    }
    let tenant = headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    {
        let mut g = f.inner.lock().unwrap();
        if tenant.is_some() && g.rate_limit_tenant == tenant {
            g.refused += 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "Ingestion rate limit exceeded".into(),
            );
        }
    }
    let mut accepted = Vec::new();
    for s in &req.streams {
        let labels = match parse_labels(&s.labels) {
            Ok(l) => l,
            Err(e) => return (StatusCode::BAD_REQUEST, e),
        };
        for e in &s.entries {
            if max_line > 0 && e.line.len() > max_line {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("Max entry size '{max_line}' bytes exceeded for stream '{}' while adding an entry with length '{}' bytes", s.labels, e.line.len()),
                );
            }
            let Some(ts) = e.timestamp else {
                return (StatusCode::BAD_REQUEST, "entry without timestamp".into());
            };
            accepted.push(Received {
                tenant: tenant.clone(),
                labels: labels.clone(),
                ts_nanos: ts.seconds * 1_000_000_000 + ts.nanos as i64,
                line: e.line.clone(),
                structured_metadata: e
                    .structured_metadata
                    .iter()
                    .map(|p| (p.name.clone(), p.value.clone()))
                    .collect(),
            });
        }
    }
    f.inner.lock().unwrap().entries.extend(accepted);
    f.notify.notify_waiters();
    (StatusCode::NO_CONTENT, String::new())
}

impl FakeLoki {
    /// Starts the endpoint on a free loopback port.
    pub async fn start() -> FakeLoki {
        Self::start_at("127.0.0.1:0").await
    }

    /// Starts the endpoint on `addr` (a port ferrotail was refused on so far: Loki comes back).
    pub async fn start_at(addr: &str) -> FakeLoki {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let f = FakeLoki {
            url: format!("http://{addr}/loki/api/v1/push"),
            inner: Arc::default(),
            notify: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/loki/api/v1/push", post(push))
            .with_state(f.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        f
    }

    /// Answers the next requests with these statuses (then 204 again).
    pub fn script(&self, codes: &[u16]) {
        self.inner
            .lock()
            .unwrap()
            .script
            .extend(codes.iter().copied());
    }

    pub fn entries(&self) -> Vec<Received> {
        self.inner.lock().unwrap().entries.clone()
    }

    /// The headers of every push received.
    pub fn headers(&self) -> Vec<HeaderMap> {
        self.inner.lock().unwrap().headers.clone()
    }

    pub fn lines(&self) -> Vec<String> {
        self.entries().into_iter().map(|e| e.line).collect()
    }

    pub fn requests(&self) -> usize {
        self.inner.lock().unwrap().requests
    }

    /// Answers every push with `code` (`None`: accept again).
    pub fn fail_with(&self, code: Option<u16>) {
        self.inner.lock().unwrap().fail_with = code;
    }

    /// Pushes answered with the `fail_with` status so far.
    pub fn failed(&self) -> usize {
        self.inner.lock().unwrap().failed
    }

    /// Waits until `cond` holds over the received entries; false after `timeout`.
    pub async fn wait_until(&self, timeout: Duration, cond: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if cond(&self.entries()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return cond(&self.entries());
            }
        }
    }

    /// Waits until this endpoint has answered `n` pushes with its `fail_with` status, or panics.
    pub async fn wait_failed(&self, n: usize, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if self.failed() >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                assert!(
                    self.failed() >= n,
                    "{} failed pushes, wanted {n}",
                    self.failed()
                );
                return;
            }
        }
    }

    /// Waits until `cond` holds over the received entries, or panics after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&[Received]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if cond(&self.entries()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if cond(&self.entries()) {
                    return;
                }
                panic!(
                    "timed out waiting for {what}; received: {:#?}",
                    self.lines()
                );
            }
        }
    }
}

#[test]
fn label_parser_is_strict() {
    assert_eq!(parse_labels(r#"{a="1", b="x\"y"}"#).unwrap()["b"], "x\"y");
    assert!(parse_labels("{}").unwrap().is_empty());
    assert_eq!(
        parse_labels(r#"{9a="1"}"#).unwrap_err(),
        "couldn't parse labels: 1:2: parse error: unexpected character inside braces: '9'"
    );
    assert!(parse_labels(r#"{a=1}"#).is_err());
    assert!(parse_labels(r#"{a="1" b="2"}"#).is_err());
}
