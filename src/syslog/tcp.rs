//! The TCP listener (plain or TLS) and its connections.
//!
//! A connection is read only when its last entries are in the pipeline's bounded channel, so a
//! slow pipeline or Loki stops the reading and TCP's flow control slows the sender down. An idle
//! connection holds no read buffer (plain TCP reads through a per-thread buffer once the socket
//! is readable) and its framer's spare memory is returned.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::syslog::Framer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::convert::{drain, Converter, Shared};
use super::metrics::{dropped, reason};
use super::{dns, peer_ip, View};
use crate::core::entry::{chunk, now_nanos, recycle};
use crate::core::Entry;

/// How long a non-transparent message ended by LF waits for the next byte before it is
/// delivered (the next message would have started with `<`).
const LINGER: Duration = Duration::from_millis(100);
/// Read buffer of a TLS connection (plain connections share a per-thread one).
const TLS_BUF: usize = 16 * 1024;
/// Per-thread read buffer of plain connections.
const PLAIN_BUF: usize = 16 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; PLAIN_BUF]);
}

/// Accepts connections until cancelled, then waits for them to end.
pub(super) async fn run(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Vec<Entry>>,
    view: Arc<View>,
    cancel: CancellationToken,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(job = %shared.job, error = %e, "error setting up syslog target");
            view.remove();
            return;
        }
    };
    let acceptor = shared.opts.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let refused = dropped(reason::CONNECTION_LIMIT);
    let mut conns = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    let mut retries = 0u32;
    let mut last_refusal_log: Option<Instant> = None;
    loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = cancel.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(5);
                retries = 0;
                x
            }
            Err(e) => {
                // Out of file descriptors and the like: wait and retry, as Promtail does.
                tracing::warn!(job = %shared.job, address = %view.local, error = %e, num_retries = retries, "failed to accept syslog connection");
                retries += 1;
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cancel.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if view.connections() >= shared.opts.max_connections {
            refused.increment(1);
            if last_refusal_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                last_refusal_log = Some(Instant::now());
                tracing::warn!(job = %shared.job, peer = %peer, max_connections = shared.opts.max_connections, "syslog connection refused: too many open connections");
            }
            drop(stream);
            continue;
        }
        view.connected();
        conns.spawn(connection(
            stream,
            peer,
            Arc::clone(&shared),
            tx.clone(),
            Arc::clone(&view),
            acceptor.clone(),
            cancel.clone(),
        ));
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
    tracing::info!(job = %shared.job, address = %view.local, "syslog server shutting down");
    view.remove();
}

/// Marks the connection closed on `/targets` and in the gauge, however it ends.
struct Open(Arc<View>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.disconnected();
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>, Vec<u8>),
}

impl Conn {
    /// Reads what is available into `framer`; 0 at end of stream. Cancel-safe.
    async fn read_into(&mut self, framer: &mut Framer) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => loop {
                s.readable().await?;
                let r: io::Result<usize> = BUF.with(|b| {
                    let mut b = b.borrow_mut();
                    let n = s.try_read(&mut b)?;
                    if let Some(data) = b.get(..n) {
                        framer.push(data);
                    }
                    Ok(n)
                });
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return r,
                }
            },
            Conn::Tls(s, buf) => {
                let n = s.read(buf).await?;
                if let Some(data) = buf.get(..n) {
                    framer.push(data);
                }
                Ok(n)
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Vec<Entry>>,
    view: Arc<View>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    cancel: CancellationToken,
) {
    let _open = Open(Arc::clone(&view));
    let ip = peer_ip(&peer);
    let peer = SocketAddr::new(ip, peer.port()).to_string();
    let idle = shared.opts.idle_timeout;
    let mut conn = match acceptor {
        None => Conn::Plain(stream),
        Some(a) => {
            let hs = tokio::select! {
                r = tokio::time::timeout(idle, a.accept(stream)) => r,
                _ = cancel.cancelled() => return,
            };
            match hs {
                Ok(Ok(s)) => Conn::Tls(Box::new(s), vec![0; TLS_BUF]),
                Ok(Err(e)) => {
                    dropped(reason::TLS_HANDSHAKE).increment(1);
                    tracing::warn!(job = %shared.job, peer = %peer, error = %e, "syslog TLS handshake failed; closing the connection");
                    return;
                }
                Err(_) => {
                    dropped(reason::TLS_HANDSHAKE).increment(1);
                    tracing::warn!(job = %shared.job, peer = %peer, timeout = ?idle, "syslog TLS handshake not completed within idle_timeout; closing the connection");
                    return;
                }
            }
        }
    };
    let hostname = dns::lookup(ip).await;
    let mut conv = Converter::new(Arc::clone(&shared), peer, &ip.to_string(), &hostname);
    let mut framer = Framer::new(shared.opts.framer);
    let mut out: Vec<Entry> = Vec::new();
    loop {
        let lingering = framer.has_pending_line();
        let wait = if lingering { LINGER } else { idle };
        let mut end = false;
        let r = tokio::select! {
            r = tokio::time::timeout(wait, conn.read_into(&mut framer)) => Some(r),
            _ = cancel.cancelled() => None,
        };
        match r {
            None => {
                // Shutdown: what was read is still delivered.
                framer.finish();
                end = true;
            }
            Some(Err(_)) if lingering => {
                if let Some(frame) = framer.flush_line() {
                    conv.convert(frame, now_nanos(), &mut out);
                }
            }
            Some(Err(_)) => {
                dropped(reason::IDLE).increment(1);
                tracing::info!(job = %shared.job, peer = %conv.peer(), timeout = ?idle, buffered = framer.buffered(), "closing idle syslog connection");
                framer.finish();
                end = true;
            }
            Some(Ok(Ok(0))) => {
                framer.finish();
                end = true;
            }
            Some(Ok(Ok(n))) => view.add_bytes(n),
            Some(Ok(Err(e))) => {
                tracing::debug!(job = %shared.job, peer = %conv.peer(), error = %e, "syslog connection read error");
                framer.finish();
                end = true;
            }
        }
        if out.capacity() == 0 && framer.buffered() > 0 {
            out = chunk(256);
        }
        let fatal = drain(&mut framer, &mut conv, now_nanos(), &mut out);
        if !out.is_empty() && tx.send(std::mem::take(&mut out)).await.is_err() {
            return;
        }
        if fatal || end || framer.is_done() {
            break;
        }
        if out.capacity() != 0 {
            // Nothing came of this read: an idle connection holds no chunk.
            recycle(std::mem::take(&mut out));
        }
        framer.shrink();
    }
}
