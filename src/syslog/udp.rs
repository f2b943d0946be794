//! The UDP listener. Each datagram is its own stream (as in Promtail), cut at
//! `max_message_length`. UDP cannot be slowed down: while the pipeline is busy, entries wait in
//! a bounded backlog that goes out as one chunk when the pipeline has room; what does not fit is
//! counted (`ferrotail_syslog_dropped_total{reason="pipeline_full"}`) and logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::syslog::Framer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::convert::{drain, Converter, Shared};
use super::metrics::{dropped, reason};
use super::{dns, View};
use crate::core::entry::now_nanos;
use crate::core::Entry;

/// Bytes of lines waiting for the pipeline at most.
const BACKLOG_BYTES: usize = 4 << 20;
/// Datagrams read in a row before the pipeline is offered what they gave.
const BURST: usize = 256;
/// Peers whose converter (labels, reverse DNS) is kept.
const PEERS_CAP: usize = 4096;

/// Receives datagrams until cancelled.
pub(super) async fn run(
    sock: std::net::UdpSocket,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Vec<Entry>>,
    view: Arc<View>,
    cancel: CancellationToken,
) {
    let sock = match tokio::net::UdpSocket::from_std(sock) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(job = %shared.job, error = %e, "error setting up syslog target");
            view.remove();
            return;
        }
    };
    let mut rx = Receiver {
        buf: vec![0; shared.opts.max_message_length],
        peers: HashMap::new(),
        backlog: Vec::new(),
        backlog_bytes: 0,
        scratch: Vec::new(),
        full: dropped(reason::PIPELINE_FULL),
        last_full_log: None,
        shared,
        view,
    };
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            permit = tx.reserve(), if !rx.backlog.is_empty() => match permit {
                Ok(p) => {
                    p.send(std::mem::take(&mut rx.backlog));
                    rx.backlog_bytes = 0;
                }
                Err(_) => return,
            },
            r = sock.recv_from(&mut rx.buf) => {
                match r {
                    Ok((n, peer)) => rx.datagram(n, peer.ip()).await,
                    Err(e) => {
                        tracing::debug!(job = %rx.shared.job, error = %e, "failed to read packets");
                        continue;
                    }
                }
                for _ in 1..BURST {
                    match sock.try_recv_from(&mut rx.buf) {
                        Ok((n, peer)) => rx.datagram(n, peer.ip()).await,
                        Err(_) => break,
                    }
                }
            }
        }
    }
    if !rx.backlog.is_empty() {
        let _ = tx.send(std::mem::take(&mut rx.backlog)).await;
    }
    tracing::info!(job = %rx.shared.job, address = %rx.view.local, "syslog server shutting down");
    rx.view.remove();
}

struct Receiver {
    buf: Vec<u8>,
    peers: HashMap<IpAddr, Converter>,
    backlog: Vec<Entry>,
    backlog_bytes: usize,
    scratch: Vec<Entry>,
    full: metrics::Counter,
    last_full_log: Option<Instant>,
    shared: Arc<Shared>,
    view: Arc<View>,
}

impl Receiver {
    async fn datagram(&mut self, n: usize, ip: IpAddr) {
        let ip = ip.to_canonical();
        self.view.add_bytes(n);
        if !self.peers.contains_key(&ip) {
            if self.peers.len() >= PEERS_CAP {
                self.peers.clear();
            }
            let hostname = dns::lookup(ip).await;
            let ips = ip.to_string();
            let conv = Converter::new(Arc::clone(&self.shared), ips.clone(), &ips, &hostname);
            self.peers.insert(ip, conv);
        }
        let Some(conv) = self.peers.get_mut(&ip) else {
            return;
        };
        let mut framer = Framer::new(self.shared.opts.framer);
        framer.push(self.buf.get(..n).unwrap_or(&[]));
        framer.finish();
        drain(&mut framer, conv, now_nanos(), &mut self.scratch);
        for e in self.scratch.drain(..) {
            if self.backlog_bytes + e.line.len() > BACKLOG_BYTES {
                self.full.increment(1);
                if self
                    .last_full_log
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                {
                    self.last_full_log = Some(Instant::now());
                    tracing::warn!(job = %self.shared.job, peer = %conv.peer(), "syslog UDP message dropped: the pipeline is full and UDP cannot be slowed down");
                }
                continue;
            }
            self.backlog_bytes += e.line.len() + 64;
            self.backlog.push(e);
        }
    }
}
