//! The `syslog` source kind: a TCP (plain or TLS) or UDP syslog receiver with the meaning of
//! Promtail 3.4.6's syslog target (`clients/pkg/promtail/targets/syslog/`).
//!
//! * The job has one target, its listener (`__address__` is `listen_address`); the socket is
//!   bound when the job is built, so a taken port fails start-up as in Promtail.
//! * Framing (octet counting or non-transparent, chosen by a connection's first byte) and parsing
//!   (RFC 5424, or RFC 3164 with `syslog_format: rfc3164`) are `crates/syslog`'s, with
//!   go-syslog's accept/refuse decisions.
//! * Each message is labelled with the job's `labels`, `__syslog_connection_*` and
//!   `__syslog_message_*` (and `__syslog_message_sd_*` with `label_structured_data`), relabelled
//!   with the job's `relabel_configs` (per message, as Promtail does), and its `__` labels removed.
//! * TCP is read only as fast as the pipeline takes entries (awaiting the bounded channel), so a
//!   slow Loki slows the senders down through TCP flow control; UDP cannot be slowed down: a
//!   bounded backlog absorbs bursts, and what does not fit is counted and dropped.
//! * There are no positions: a message is delivered once it is read.
//!
//! Where ferrotail differs from Promtail (see the README): an entry the relabel rules drop is not
//! sent (Promtail sends it with no labels, which Loki refuses); RFC 3164 timestamps with
//! `use_incoming_timestamp` get the current year (Promtail keeps year 0, which Loki refuses);
//! a non-transparent message ended by LF is delivered once the sender pauses (Promtail waits
//! for the next message); open TCP connections are limited (`max_connections`, ferrotail only).

mod config;
mod convert;
mod dns;
pub mod metrics;
mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{Options, Protocol, DEFAULT_MAX_CONNECTIONS};
use convert::Shared;

use crate::config::raw::RawScrapeConfig;
use crate::core::Labels;
use crate::discovery::Static;
use crate::relabel::Relabeler;
use crate::source::{
    Discover, Dropped, ReaderStatus, Registry, Source, SourceCtx, SourceKind, Target, TargetView,
};

/// Checks a job's `syslog` section as Promtail does when it starts (reads the TLS files; binds
/// nothing).
pub fn validate(job: &RawScrapeConfig) -> Result<(), String> {
    match &job.syslog {
        Some(raw) => Options::from_raw(raw).map(|_| ()),
        None => Ok(()),
    }
}

/// The syslog kind of a job and its one discoverer; binds the listening socket.
pub fn job(
    job: &RawScrapeConfig,
    relabel: Relabeler,
) -> Result<(SyslogKind, Vec<Box<dyn Discover>>), String> {
    let raw = job
        .syslog
        .as_ref()
        .ok_or_else(|| format!("job {:?}: no syslog section", job.job_name))?;
    let opts =
        Options::from_raw(raw).map_err(|e| format!("failed to make syslog target manager: {e}"))?;
    metrics::describe();
    let bound = Bound::bind(&opts).map_err(|e| {
        format!("failed to make syslog target manager: error setting up syslog target: {e}")
    })?;
    let local = bound.local_addr();
    tracing::info!(job = %job.job_name, address = %local, protocol = opts.protocol.as_str(), tls = opts.tls.is_some(), "syslog listening on address");
    let mut target = Labels::new();
    target.insert("__address__", opts.listen_address.clone());
    let discoverer = Static::one("syslog", target);
    let kind = SyslogKind {
        opts: Arc::new(opts),
        relabel: Arc::new(relabel),
        bound: Mutex::new(Some(bound)),
    };
    Ok((kind, vec![Box::new(discoverer)]))
}

/// The listening socket, bound when the job is built.
enum Bound {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

impl Bound {
    fn bind(opts: &Options) -> Result<Bound, String> {
        let addrs = resolve(&opts.listen_address)?;
        let mut last = String::from("no address to listen on");
        for addr in addrs {
            let r = match opts.protocol {
                Protocol::Tcp => bind_tcp(addr).map(Bound::Tcp),
                Protocol::Udp => bind_udp(addr).map(Bound::Udp),
            };
            match r {
                Ok(b) => return Ok(b),
                Err(e) => {
                    last = format!("listen {} {addr}: {e}", opts.protocol.as_str());
                }
            }
        }
        Err(last)
    }

    fn local_addr(&self) -> String {
        let a = match self {
            Bound::Tcp(l) => l.local_addr(),
            Bound::Udp(s) => s.local_addr(),
        };
        a.map(|a| a.to_string()).unwrap_or_default()
    }
}

/// Go's listen addresses: `host:port`, `:port` (every interface), `""` (every interface, any
/// port); names are resolved, IPv4 first.
fn resolve(address: &str) -> Result<Vec<SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    let (host, port) = match address.rsplit_once(':') {
        Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']'), p),
        None if address.is_empty() => ("", "0"),
        None => return Err(format!("address {address}: missing port in address")),
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("address {address}: unknown port"))?;
    if host.is_empty() {
        return Ok(vec![
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port),
        ]);
    }
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("address {address}: {e}"))?
        .collect();
    addrs.sort_by_key(|a| a.is_ipv6());
    Ok(addrs)
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if addr.is_ipv6() {
        let _ = s.set_only_v6(false);
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    if addr.is_ipv6() {
        let _ = s.set_only_v6(false);
    }
    s.bind(&addr.into())?;
    // Promtail asks for 1 MiB; the kernel may give less.
    let _ = s.set_recv_buffer_size(1 << 20);
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// The syslog kind of one job.
pub struct SyslogKind {
    opts: Arc<Options>,
    relabel: Arc<Relabeler>,
    /// The socket bound at start-up, until the listener takes it.
    bound: Mutex<Option<Bound>>,
}

impl SourceKind for SyslogKind {
    fn name(&self) -> &'static str {
        "syslog"
    }

    /// The listener; its labels are the job's `labels` (relabelling happens per message).
    fn target(&self, discovered: &Labels) -> Result<Target, Dropped> {
        let labels: Labels = self.opts.labels.iter().cloned().collect();
        Ok(Target {
            key: format!(
                "{}://{}",
                self.opts.protocol.as_str(),
                self.opts.listen_address
            ),
            relabelled: labels.clone(),
            labels,
            discovered: discovered.clone(),
        })
    }

    fn start(&self, target: &Target, ctx: &SourceCtx) -> Box<dyn Source> {
        let cancel = ctx.cancel.child_token();
        let bound = self
            .bound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(Ok)
            .unwrap_or_else(|| Bound::bind(&self.opts));
        let shared = Arc::new(Shared {
            job: Arc::clone(&ctx.job),
            opts: Arc::clone(&self.opts),
            relabel: Arc::clone(&self.relabel),
            counters: metrics::Counters::new(),
        });
        let handle = match bound {
            Ok(bound) => {
                let view = View::new(ctx, &self.opts, &bound, target.labels.clone());
                let tx = ctx.tx.clone();
                let c = cancel.clone();
                match bound {
                    Bound::Tcp(l) => tokio::spawn(tcp::run(l, shared, tx, view, c)),
                    Bound::Udp(s) => tokio::spawn(udp::run(s, shared, tx, view, c)),
                }
            }
            Err(e) => {
                tracing::error!(job = %ctx.job, error = %e, "error setting up syslog target");
                tokio::spawn(async {})
            }
        };
        Box::new(SyslogSource { cancel, handle })
    }
}

/// A running listener.
struct SyslogSource {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl Source for SyslogSource {
    fn stop(self: Box<Self>, _forget: bool) -> BoxFuture<'static, ()> {
        self.cancel.cancel();
        Box::pin(async move {
            let _ = self.handle.await;
        })
    }
}

/// The listener on `/targets` and `/ready`: its address, protocol and open connections.
pub(crate) struct View {
    registry: Arc<Registry>,
    key: String,
    job: String,
    labels: Labels,
    local: String,
    what: String,
    status: Arc<ReaderStatus>,
    connections: AtomicUsize,
}

impl View {
    fn new(ctx: &SourceCtx, opts: &Options, bound: &Bound, labels: Labels) -> Arc<View> {
        let local = bound.local_addr();
        let what = format!(
            "{}{}",
            opts.protocol.as_str(),
            if opts.tls.is_some() { "+tls" } else { "" }
        );
        let status = Arc::new(ReaderStatus::default());
        status.running.store(true, Ordering::Relaxed);
        let v = Arc::new(View {
            registry: Arc::clone(&ctx.registry),
            key: format!("{}/syslog:{}://{}", ctx.job, what, local),
            job: ctx.job.to_string(),
            labels,
            local,
            what,
            status,
            connections: AtomicUsize::new(0),
        });
        v.publish();
        v
    }

    /// Bytes received so far (shown as the listener's position).
    fn add_bytes(&self, n: usize) {
        self.status
            .read_offset
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    fn connected(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ::metrics::gauge!(metrics::CONNECTIONS).increment(1.0);
        self.publish();
    }

    fn disconnected(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
        ::metrics::gauge!(metrics::CONNECTIONS).decrement(1.0);
        self.publish();
    }

    fn publish(&self) {
        let details = if self.what.starts_with("udp") {
            format!("syslog listener {} on {}", self.what, self.local)
        } else {
            format!(
                "syslog listener {} on {} connections={}",
                self.what,
                self.local,
                self.connections()
            )
        };
        self.registry.set(
            self.key.clone(),
            TargetView {
                job: self.job.clone(),
                kind: "syslog",
                labels: self.labels.clone(),
                files: vec![(
                    format!("{}://{}", self.what, self.local),
                    Arc::clone(&self.status),
                )],
                details,
            },
        );
    }

    fn remove(&self) {
        self.status.running.store(false, Ordering::Relaxed);
        self.registry.remove(&self.key);
    }
}

/// The peer's IP as Go prints it (IPv4-mapped IPv6 as dotted quad).
fn peer_ip(peer: &SocketAddr) -> IpAddr {
    peer.ip().to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_listen_addresses() {
        assert_eq!(resolve(":1514").unwrap().len(), 2);
        assert_eq!(
            resolve("127.0.0.1:1514").unwrap(),
            vec!["127.0.0.1:1514".parse().unwrap()]
        );
        assert!(resolve("[::1]:1514").unwrap()[0].is_ipv6());
        assert!(resolve("127.0.0.1").is_err());
        assert!(resolve("127.0.0.1:x").is_err());
        assert_eq!(resolve("").unwrap()[0].port(), 0);
    }
}
