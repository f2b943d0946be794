//! The HTTP server's listener, as dskit's server opens it: `http_listen_network` (`tcp`,
//! `tcp4`, `tcp6`, `unix`), `http_listen_conn_limit` (connections beyond it wait to be accepted,
//! as Go's `netutil.LimitListener` makes them), `http_tls_config` (TLS and client certificates,
//! with exporter-toolkit's `client_auth_type` values and messages) and the read, write and idle
//! timeouts.
//!
//! Timeouts are enforced on the connection's IO: a keep-alive connection waiting for its next
//! request is closed after `http_server_idle_timeout` (the read timeout when 0); a new
//! connection's first request must start within the read timeout, as in Go;
//! one whose request stalls for `http_server_read_timeout` (`read_header_timeout` when set),
//! or whose response cannot be written for `http_server_write_timeout`, is closed. Go's timeouts
//! are deadlines over a whole request; ferrotail's are inactivity limits, so a slow but moving
//! transfer is not cut.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::raw::{RawServer, RawServerTls};

/// A connection's byte stream: plain or TLS, TCP or Unix.
pub trait Conn: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn for T {}

/// The timeouts of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Inactivity limit while a request is being read.
    pub read: Option<Duration>,
    /// Inactivity limit while a response is being written.
    pub write: Option<Duration>,
    /// Limit on waiting for the next request.
    pub idle: Option<Duration>,
}

impl Timeouts {
    /// dskit's timeouts (0 = none). Go uses the read timeout for idle connections when the
    /// idle timeout is 0, and the read-header timeout, when set, for reading a request head.
    pub fn from_raw(raw: &RawServer) -> Timeouts {
        let some = |d: Duration| (!d.is_zero()).then_some(d);
        let read = some(raw.http_server_read_header_timeout.0)
            .or_else(|| some(raw.http_server_read_timeout.0));
        Timeouts {
            read,
            write: some(raw.http_server_write_timeout.0),
            idle: some(raw.http_server_idle_timeout.0).or(read),
        }
    }
}

/// The server's TLS settings (`http_tls_config`), or `None` when it has no certificate and key
/// (dskit serves plain HTTP then). Errors read as dskit's.
pub fn tls_config(
    raw: &RawServerTls,
    min_version: &str,
) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    // dskit checks `tls_min_version` whether or not TLS is on.
    let only_tls13 = match min_version {
        "" | "VersionTLS10" | "VersionTLS11" | "VersionTLS12" => false,
        "VersionTLS13" => true,
        other => return Err(format!("unknown tls version: {other}")),
    };
    let has_cert = !raw.cert_file.is_empty() || !raw.cert.is_empty();
    let has_key = !raw.key_file.is_empty() || !raw.key.is_empty();
    if !(has_cert && has_key) {
        return Ok(None);
    }
    build_tls(raw, only_tls13)
        .map(|c| Some(Arc::new(c)))
        .map_err(|e| format!("error generating http tls config: {e}"))
}

fn read_pem(inline: &str, file: &str, what: &str) -> Result<Vec<u8>, String> {
    if !inline.is_empty() && !file.is_empty() {
        return Err(format!(
            "at most one of {what} and {what}_file must be configured"
        ));
    }
    if !inline.is_empty() {
        return Ok(inline.as_bytes().to_vec());
    }
    std::fs::read(file).map_err(|e| format!("open {file}: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    None,
    Request,
    RequireAny,
    VerifyIfGiven,
    RequireAndVerify,
}

/// The server's rustls config. TLS 1.2 is the lowest version rustls speaks, so a
/// `tls_min_version` of `VersionTLS10` or `VersionTLS11` serves TLS 1.2 and 1.3.
fn build_tls(raw: &RawServerTls, only_tls13: bool) -> Result<rustls::ServerConfig, String> {
    let cert_pem = read_pem(&raw.cert, &raw.cert_file, "cert")?;
    let key_pem = read_pem(&raw.key, &raw.key_file, "key")?;
    let pair_err = |e: &dyn std::fmt::Display| format!("failed to load X509KeyPair: {e}");
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pair_err(&e))?;
    if certs.is_empty() {
        return Err(pair_err(
            &"tls: failed to find any PEM data in certificate input",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| pair_err(&e))?;
    let auth = match raw.client_auth_type.as_str() {
        "" | "NoClientCert" => ClientAuth::None,
        "RequestClientCert" => ClientAuth::Request,
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        other => return Err(format!("Invalid ClientAuth: {other}")),
    };
    let has_ca = !raw.client_ca_file.is_empty() || !raw.client_ca.is_empty();
    if has_ca && auth == ClientAuth::None {
        return Err("Client CA's have been configured without a Client Auth Policy".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider));
    let versioned = if only_tls13 {
        builder.with_protocol_versions(&[&rustls::version::TLS13])
    } else {
        builder.with_safe_default_protocol_versions()
    };
    let builder = versioned.map_err(|e| e.to_string())?;
    let builder = match auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Request | ClientAuth::RequireAny => {
            builder.with_client_cert_verifier(Arc::new(AnyClientCert {
                mandatory: auth == ClientAuth::RequireAny,
                provider,
            }))
        }
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            let mut roots = rustls::RootCertStore::empty();
            if has_ca {
                let pem = read_pem(&raw.client_ca, &raw.client_ca_file, "client_ca")?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| format!("client CA: {e}"))?;
                    roots.add(cert).map_err(|e| format!("client CA: {e}"))?;
                }
            } else {
                // Go verifies against the system roots when no client CA is given.
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if auth == ClientAuth::VerifyIfGiven {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| format!("client CA: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| pair_err(&e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: a client certificate is asked for (and
/// required with `mandatory`) but not verified against any CA; its signature over the handshake
/// still is.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A bound listening socket.
pub enum Bound {
    /// `tcp`, `tcp4`, `tcp6`.
    Tcp(tokio::net::TcpListener),
    /// `unix`.
    Unix(tokio::net::UnixListener, String),
}

impl Bound {
    /// The address to log.
    pub fn local(&self) -> String {
        match self {
            Bound::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Bound::Unix(_, path) => path.clone(),
        }
    }
}

/// `host:port` as Go joins them (an IPv6 host in brackets); an empty host is every interface.
pub fn listen_addr(host: &str, port: u16) -> String {
    if host.is_empty() {
        format!("0.0.0.0:{port}")
    } else if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Opens the listening socket for `network` (Go's names) at `addr`, with Go's messages.
pub async fn bind(network: &str, host: &str, port: u16) -> Result<Bound, String> {
    let addr = listen_addr(host, port);
    let fail = |e: &dyn std::fmt::Display| format!("listen {network} {addr}: {e}");
    match network {
        "tcp" | "" => tokio::net::TcpListener::bind(&addr)
            .await
            .map(Bound::Tcp)
            .map_err(|e| fail(&e)),
        "tcp4" | "tcp6" => {
            let want_v4 = network == "tcp4";
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(if host.is_empty() {
                if want_v4 {
                    format!("0.0.0.0:{port}")
                } else {
                    format!("[::]:{port}")
                }
            } else {
                addr.clone()
            })
            .await
            .map_err(|e| fail(&e))?
            .filter(|a| a.is_ipv4() == want_v4)
            .collect();
            let Some(a) = addrs.first() else {
                return Err(fail(&"no suitable address found"));
            };
            let socket = if want_v4 {
                tokio::net::TcpSocket::new_v4()
            } else {
                tokio::net::TcpSocket::new_v6()
            }
            .map_err(|e| fail(&e))?;
            socket.set_reuseaddr(true).map_err(|e| fail(&e))?;
            socket.bind(*a).map_err(|e| fail(&e))?;
            socket.listen(1024).map(Bound::Tcp).map_err(|e| fail(&e))
        }
        "unix" => {
            // Go's address for a unix socket is the path; the port is not used.
            let path = host.to_string();
            tokio::net::UnixListener::bind(&path)
                .map(|l| Bound::Unix(l, path.clone()))
                .map_err(|e| format!("listen unix {path}: {e}"))
        }
        other => Err(format!("listen {other} {addr}: unknown network {other}")),
    }
}

/// Opens the server's listener from the `server` block, logging where it listens.
pub async fn start(raw: &RawServer, cancel: CancellationToken) -> Result<Listener, String> {
    let tls = tls_config(&raw.http_tls_config, &raw.tls_min_version)?;
    let bound = bind(
        &raw.http_listen_network,
        &raw.http_listen_address,
        raw.http_listen_port,
    )
    .await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(http = %bound.local(), scheme, "server listening on addresses");
    Ok(Listener::start(
        bound,
        tls,
        raw.http_listen_conn_limit as usize,
        Timeouts::from_raw(raw),
        cancel,
    ))
}

/// An accepted connection, counted against the connection limit until dropped.
pub struct Accepted {
    io: Box<dyn Conn>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// The [`axum::serve::Listener`]: accepts connections (waiting while `conn_limit` are open),
/// completes TLS handshakes off the accept loop and wraps each stream in the timeouts.
pub struct Listener {
    rx: mpsc::Receiver<Accepted>,
    local: String,
}

impl Listener {
    /// Starts accepting on `bound` until `cancel` fires.
    pub fn start(
        bound: Bound,
        tls: Option<Arc<rustls::ServerConfig>>,
        conn_limit: usize,
        timeouts: Timeouts,
        cancel: CancellationToken,
    ) -> Listener {
        let local = bound.local();
        let (tx, rx) = mpsc::channel::<Accepted>(16);
        let limit = (conn_limit > 0).then(|| Arc::new(Semaphore::new(conn_limit)));
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            loop {
                // Go's LimitListener: no accept while the limit is reached.
                let permit = match &limit {
                    Some(s) => tokio::select! {
                        p = Arc::clone(s).acquire_owned() => p.ok(),
                        _ = cancel.cancelled() => return,
                    },
                    None => None,
                };
                let accepted: io::Result<Box<dyn Conn>> = tokio::select! {
                    r = accept(&bound) => r,
                    _ = cancel.cancelled() => return,
                };
                let io = match accepted {
                    Ok(io) => io,
                    Err(e) => {
                        tracing::warn!(error = %e, "http server accept error");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let tx = tx.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let io: Box<dyn Conn> = match acceptor {
                        None => io,
                        Some(a) => {
                            let handshake = a.accept(io);
                            let limit = timeouts.read.unwrap_or(Duration::from_secs(30));
                            match tokio::time::timeout(limit, handshake).await {
                                Ok(Ok(s)) => Box::new(s),
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "http: TLS handshake error");
                                    return;
                                }
                                Err(_) => return,
                            }
                        }
                    };
                    let io = Box::new(TimedIo::new(io, timeouts));
                    let _ = tx
                        .send(Accepted {
                            io,
                            _permit: permit,
                        })
                        .await;
                });
            }
        });
        Listener { rx, local }
    }
}

async fn accept(bound: &Bound) -> io::Result<Box<dyn Conn>> {
    match bound {
        Bound::Tcp(l) => {
            let (s, _) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s))
        }
        Bound::Unix(l, _) => {
            let (s, _) = l.accept().await?;
            Ok(Box::new(s))
        }
    }
}

impl axum::serve::Listener for Listener {
    type Io = ConnIo;
    type Addr = String;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(a) => (ConnIo(a), self.local.clone()),
            // The accept loop stopped (shutdown): never yield another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local.clone())
    }
}

/// An accepted connection as axum sees it.
pub struct ConnIo(Accepted);

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.io).poll_shutdown(cx)
    }
}

/// A stream with inactivity limits: reading while waiting for a request (`idle`), reading a
/// request (`read`) and writing (`write`).
struct TimedIo {
    inner: Box<dyn Conn>,
    timeouts: Timeouts,
    /// True until the first byte of the next request arrives (set again after a response).
    awaiting_request: bool,
    read_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    write_timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl TimedIo {
    fn new(inner: Box<dyn Conn>, timeouts: Timeouts) -> TimedIo {
        TimedIo {
            inner,
            timeouts,
            // Go gives a new connection's first request the read (header) timeout.
            awaiting_request: false,
            read_timer: None,
            write_timer: None,
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("http server {what} timeout"),
    )
}

impl AsyncRead for TimedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                self.read_timer = None;
                if buf.filled().len() > before {
                    self.awaiting_request = false;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = if self.awaiting_request {
                    self.timeouts.idle
                } else {
                    self.timeouts.read
                };
                let Some(limit) = limit else {
                    return Poll::Pending;
                };
                let timer = self
                    .read_timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(timed_out(if self.awaiting_request {
                        "idle"
                    } else {
                        "read"
                    }))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.write_timer = None;
                // A response is going out: the next read waits for a new request. The idle timer
                // is armed now, with this task's waker (one task drives the connection): the
                // read side may already be parked on the socket and not poll again by itself.
                self.awaiting_request = true;
                self.read_timer = self.timeouts.idle.map(|limit| {
                    let mut t = Box::pin(tokio::time::sleep(limit));
                    let _ = t.as_mut().poll(cx);
                    t
                });
                Poll::Ready(r)
            }
            Poll::Pending => self.poll_write_timer(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                self.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.poll_write_timer(cx).map_ok(|_| ()),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl TimedIo {
    fn poll_write_timer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(limit) = self.timeouts.write else {
            return Poll::Pending;
        };
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(timed_out("write"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(yaml: &str) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        let node = gocompat::yaml::parse(yaml).unwrap();
        let raw: RawServerTls = gocompat::yaml::from_node(&node, gocompat::yaml::Mode::Config)
            .map_err(|e| e.to_string())?
            .value;
        tls_config(&raw, "")
    }

    #[test]
    fn tls_settings_as_dskit() {
        assert!(tls("client_auth_type: RequireAndVerifyClientCert")
            .unwrap()
            .is_none());
        assert!(
            tls("cert_file: /nonexistent.crt\nkey_file: /nonexistent.key")
                .unwrap_err()
                .starts_with("error generating http tls config: open /nonexistent.crt: ")
        );
        assert_eq!(
            tls("cert: x\ncert_file: y\nkey: z").unwrap_err(),
            "error generating http tls config: at most one of cert and cert_file must be configured"
        );
    }

    /// Inactivity limits on the connection: a write the peer never reads fails after the write
    /// timeout; a read waiting for the first request fails after the read timeout, one waiting
    /// for the next request after the idle timeout.
    #[tokio::test]
    async fn stalled_io_times_out() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let t = Timeouts {
            read: Some(Duration::from_millis(200)),
            write: Some(Duration::from_millis(300)),
            idle: Some(Duration::from_millis(500)),
        };
        // Write: the peer's buffer (64 bytes) fills and is never read.
        let (a, _peer) = tokio::io::duplex(64);
        let mut io = TimedIo::new(Box::new(a), t);
        let start = tokio::time::Instant::now();
        let e = io.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{took:?}"
        );
        // Read of a first request: the read timeout.
        let (a, _peer) = tokio::io::duplex(64);
        let mut io = TimedIo::new(Box::new(a), t);
        let start = tokio::time::Instant::now();
        let mut buf = [0u8; 8];
        let e = io.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(3),
            "{took:?}"
        );
        // After a response: the idle timeout.
        let (a, mut peer) = tokio::io::duplex(64);
        let mut io = TimedIo::new(Box::new(a), t);
        peer.write_all(b"GET").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 3);
        io.write_all(b"200").await.unwrap();
        let start = tokio::time::Instant::now();
        let e = io.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }

    #[test]
    fn timeouts_follow_go() {
        let raw = RawServer::default();
        let t = Timeouts::from_raw(&raw);
        assert_eq!(t.read, Some(Duration::from_secs(30)));
        assert_eq!(t.write, Some(Duration::from_secs(30)));
        assert_eq!(t.idle, Some(Duration::from_secs(120)));
        let raw = RawServer {
            http_server_idle_timeout: gocompat::units::GoDuration(Duration::ZERO),
            http_server_read_timeout: gocompat::units::GoDuration(Duration::from_secs(5)),
            ..RawServer::default()
        };
        assert_eq!(Timeouts::from_raw(&raw).idle, Some(Duration::from_secs(5)));
    }
}
