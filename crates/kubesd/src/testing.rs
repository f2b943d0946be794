//! An in-process fake Kubernetes API server, for tests (feature `testing`).
//!
//! It serves list and watch for pods, nodes, services, endpoints
//! (core/v1), endpointslices (discovery.k8s.io/v1) and ingresses
//! (networking.k8s.io/v1), cluster-wide and per namespace, from JSON objects
//! shaped as the API returns them:
//!
//! - lists: `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"N"},"items":[...]}`
//!   (items without kind/apiVersion), paged with `limit` / `continue`;
//! - watches (`watch=1` or `watch=true`): one JSON line per event,
//!   `{"type":"ADDED","object":{...}}`, replaying the events after the
//!   request's `resourceVersion`, then live ones; `BOOKMARK` events on
//!   [`FakeApiServer::bookmark`] when `allowWatchBookmarks=true`;
//! - `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, exists) and
//!   `fieldSelector` (`=`, `==`, `!=` on any dotted path) are honoured;
//! - a watch from a resourceVersion older than the compaction point
//!   ([`FakeApiServer::compact`]) gets `410 Gone` (a status object with
//!   code 410, reason `Expired`), as an `ERROR` watch event or as an HTTP
//!   410 ([`GoneMode`]);
//! - a bearer token (or any exact `Authorization` value,
//!   [`FakeApiServer::set_authorization`]) is required when configured (401
//!   otherwise);
//! - optional TLS with a generated test CA ([`FakeApiServer::ca_pem`]), and
//!   client certificates signed by it required on demand
//!   ([`FakeApiServer::require_client_cert`]).
//!
//! Objects are added, modified and deleted with [`FakeApiServer::apply`] and
//! [`FakeApiServer::delete`] while clients watch. Connections can be dropped
//! ([`FakeApiServer::drop_connections`]) and the server stopped and
//! restarted on the same port ([`FakeApiServer::stop`], [`FakeApiServer::restart`]).

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;

use crate::selector::{parse_field_selector, parse_label_selector};

type Body = BoxBody<Bytes, Infallible>;

/// A resource the fake server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// core/v1 pods
    Pods,
    /// core/v1 nodes (cluster scoped)
    Nodes,
    /// core/v1 services
    Services,
    /// core/v1 endpoints
    Endpoints,
    /// discovery.k8s.io/v1 endpointslices
    EndpointSlices,
    /// networking.k8s.io/v1 ingresses
    Ingresses,
}

const ALL: [Resource; 6] = [
    Resource::Pods,
    Resource::Nodes,
    Resource::Services,
    Resource::Endpoints,
    Resource::EndpointSlices,
    Resource::Ingresses,
];

impl Resource {
    /// `kind`
    pub fn kind(self) -> &'static str {
        match self {
            Resource::Pods => "Pod",
            Resource::Nodes => "Node",
            Resource::Services => "Service",
            Resource::Endpoints => "Endpoints",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::Ingresses => "Ingress",
        }
    }
    fn group(self) -> &'static str {
        match self {
            Resource::EndpointSlices => "discovery.k8s.io",
            Resource::Ingresses => "networking.k8s.io",
            _ => "",
        }
    }
    /// `apiVersion`
    pub fn api_version(self) -> &'static str {
        match self {
            Resource::EndpointSlices => "discovery.k8s.io/v1",
            Resource::Ingresses => "networking.k8s.io/v1",
            _ => "v1",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Nodes => "nodes",
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslices",
            Resource::Ingresses => "ingresses",
        }
    }
    /// From a `kind`.
    pub fn from_kind(kind: &str) -> Option<Resource> {
        ALL.into_iter().find(|r| r.kind() == kind)
    }
}

/// How a watch from an expired resourceVersion is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneMode {
    /// HTTP 200 and a single `ERROR` event with a 410 status (what API servers do).
    Event,
    /// An HTTP 410 response with a status body.
    Http,
}

/// Server options.
#[derive(Debug, Clone, Default)]
pub struct FakeOptions {
    /// Required bearer token (`Authorization: Bearer <token>`), if any.
    pub token: Option<String>,
    /// Serve HTTPS with a generated CA.
    pub tls: bool,
}

/// One request received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// Whether it was a watch.
    pub watch: bool,
    /// Request headers (lower-case names; repeated headers joined with ", ").
    pub headers: BTreeMap<String, String>,
}

struct Event {
    rv: u64,
    res: Resource,
    typ: &'static str,
    obj: Value,
}

struct State {
    rv: u64,
    objects: BTreeMap<(Resource, String, String), Value>,
    history: Vec<Arc<Event>>,
    expired_before: u64,
    gone_mode: GoneMode,
    /// The `Authorization` value required, if any.
    authorization: Option<String>,
    requests: Vec<RequestRecord>,
}

struct Inner {
    state: Mutex<State>,
    events: broadcast::Sender<Arc<Event>>,
    bookmarks: broadcast::Sender<()>,
    kill: watch::Sender<u64>,
    request_seen: Notify,
    /// TLS only: the server configuration new connections get.
    tls: Mutex<Option<Arc<tokio_rustls::rustls::ServerConfig>>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The fake API server. Dropping it stops it.
pub struct FakeApiServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    ca_pem: Option<String>,
    ca: Option<TestCa>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Ok(mut a) = self.accept.lock() {
            if let Some(h) = a.take() {
                h.abort();
            }
        }
        self.inner.kill.send_modify(|g| *g += 1);
    }
}

fn status_json(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code
    })
}

fn full(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (pct_decode(k), pct_decode(v)),
            None => (pct_decode(p), String::new()),
        })
        .collect()
}

/// `(resource, namespace)` of an API path.
fn parse_path(path: &str) -> Option<(Resource, Option<String>)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match segs.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", g, "v1", rest @ ..] => {
            let r = match *rest {
                [.., p] => p,
                _ => return None,
            };
            let ok = matches!(
                (*g, r),
                ("discovery.k8s.io", "endpointslices") | ("networking.k8s.io", "ingresses")
            );
            if !ok {
                return None;
            }
            rest
        }
        _ => return None,
    };
    let (ns, plural) = match rest {
        [p] => (None, *p),
        ["namespaces", ns, p] => (Some((*ns).to_string()), *p),
        _ => return None,
    };
    let res = ALL.into_iter().find(|r| r.plural() == plural)?;
    let core = res.group().is_empty();
    if core != (segs.first() == Some(&"api")) {
        return None;
    }
    if res == Resource::Nodes && ns.is_some() {
        return None;
    }
    Some((res, ns))
}

fn lookup_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, seg| cur.get(seg))
}

fn value_string(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

struct Filter {
    ns: Option<String>,
    labels: Vec<crate::selector::LabelReq>,
    fields: Vec<crate::selector::FieldReq>,
}

impl Filter {
    fn matches(&self, res_ns: &str, obj: &Value) -> bool {
        if let Some(ns) = &self.ns {
            if ns != res_ns {
                return false;
            }
        }
        let labels: BTreeMap<String, String> = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        if !self.labels.iter().all(|r| r.matches(&labels)) {
            return false;
        }
        self.fields.iter().all(|f| {
            let v = value_string(lookup_path(obj, &f.field));
            (v == f.value) != f.negated
        })
    }
}

fn namespace_of(obj: &Value) -> String {
    value_string(obj.get("metadata").and_then(|m| m.get("namespace")))
}

fn strip_type(mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    obj
}

impl FakeApiServer {
    /// Starts a server on `127.0.0.1:0`.
    pub async fn start(opts: FakeOptions) -> std::io::Result<FakeApiServer> {
        let (tls, ca) = if opts.tls {
            let ca = TestCa::new().map_err(std::io::Error::other)?;
            let cfg = ca.server_config(false).map_err(std::io::Error::other)?;
            (Some(Arc::new(cfg)), Some(ca))
        } else {
            (None, None)
        };
        let ca_pem = ca.as_ref().map(|c| c.ca.pem());
        let (events, _) = broadcast::channel(1 << 16);
        let (bookmarks, _) = broadcast::channel(16);
        let (kill, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                rv: 1000,
                objects: BTreeMap::new(),
                history: Vec::new(),
                expired_before: 0,
                gone_mode: GoneMode::Event,
                authorization: opts.token.map(|t| format!("Bearer {t}")),
                requests: Vec::new(),
            }),
            events,
            bookmarks,
            kill,
            request_seen: Notify::new(),
            tls: Mutex::new(tls),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(accept_loop(listener, inner.clone()));
        Ok(FakeApiServer {
            inner,
            addr,
            ca_pem,
            ca,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// `http://127.0.0.1:<port>` or `https://...`.
    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the server certificate (TLS only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Requires `token` from now on (`None`: no authentication).
    pub fn set_token(&self, token: Option<&str>) {
        self.inner.lock().authorization = token.map(|t| format!("Bearer {t}"));
    }

    /// Requires this exact `Authorization` header value from now on (for
    /// example `Basic dTpw`; `None`: no authentication).
    pub fn set_authorization(&self, value: Option<&str>) {
        self.inner.lock().authorization = value.map(str::to_owned);
    }

    /// TLS only: from now on a connection must present a client certificate
    /// signed by the server's CA. Returns one (certificate PEM, key PEM).
    pub fn require_client_cert(&self) -> std::io::Result<(String, String)> {
        let ca = self
            .ca
            .as_ref()
            .ok_or_else(|| std::io::Error::other("not a TLS server"))?;
        let cfg = ca.server_config(true).map_err(std::io::Error::other)?;
        if let Ok(mut t) = self.inner.tls.lock() {
            *t = Some(Arc::new(cfg));
        }
        self.client_cert()
    }

    /// TLS only: a new client certificate signed by the server's CA
    /// (certificate PEM, key PEM).
    pub fn client_cert(&self) -> std::io::Result<(String, String)> {
        let ca = self
            .ca
            .as_ref()
            .ok_or_else(|| std::io::Error::other("not a TLS server"))?;
        ca.client_cert().map_err(std::io::Error::other)
    }

    /// How expired watches are refused.
    pub fn set_gone_mode(&self, mode: GoneMode) {
        self.inner.lock().gone_mode = mode;
    }

    /// Current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().rv
    }

    /// Adds or replaces an object (its `kind` says which resource); sends
    /// ADDED or MODIFIED to watchers. Returns the new resourceVersion.
    ///
    /// # Panics
    /// On an unknown kind or a missing `metadata.name` (test input errors).
    pub fn apply(&self, mut obj: Value) -> u64 {
        let kind = value_string(obj.get("kind"));
        let res = Resource::from_kind(&kind)
            .unwrap_or_else(|| panic!("fake API server: unknown kind {kind:?}"));
        let name = value_string(obj.get("metadata").and_then(|m| m.get("name")));
        assert!(
            !name.is_empty(),
            "fake API server: object without metadata.name"
        );
        let ns = if res == Resource::Nodes {
            String::new()
        } else {
            namespace_of(&obj)
        };
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(res.api_version().into()));
        }
        let mut st = self.inner.lock();
        st.rv += 1;
        let rv = st.rv;
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            md.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let key = (res, ns, name);
        let typ = if st.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        st.objects.insert(key, obj.clone());
        let ev = Arc::new(Event { rv, res, typ, obj });
        st.history.push(ev.clone());
        let _ = self.inner.events.send(ev);
        rv
    }

    /// Deletes an object; sends DELETED. Returns whether it existed.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let Some(res) = Resource::from_kind(kind) else {
            return false;
        };
        let ns = if res == Resource::Nodes {
            ""
        } else {
            namespace
        };
        let mut st = self.inner.lock();
        let Some(mut obj) = st.objects.remove(&(res, ns.to_string(), name.to_string())) else {
            return false;
        };
        st.rv += 1;
        let rv = st.rv;
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            md.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let ev = Arc::new(Event {
            rv,
            res,
            typ: "DELETED",
            obj,
        });
        st.history.push(ev.clone());
        let _ = self.inner.events.send(ev);
        true
    }

    /// Number of objects of a kind.
    pub fn count(&self, kind: &str) -> usize {
        let Some(res) = Resource::from_kind(kind) else {
            return 0;
        };
        self.inner
            .lock()
            .objects
            .keys()
            .filter(|k| k.0 == res)
            .count()
    }

    /// Forgets the event history: any watch from a resourceVersion up to the
    /// current one is answered `410 Gone` (clients must re-list).
    pub fn compact(&self) {
        let mut st = self.inner.lock();
        st.expired_before = st.rv + 1;
        st.history.clear();
    }

    /// Sends a BOOKMARK (current resourceVersion) to every watch that asked for them.
    pub fn bookmark(&self) {
        let _ = self.inner.bookmarks.send(());
    }

    /// Abruptly closes every open connection (watches included).
    pub fn drop_connections(&self) {
        self.inner.kill.send_modify(|g| *g += 1);
    }

    /// Stops listening and closes every connection. Objects are kept.
    pub fn stop(&self) {
        if let Ok(mut a) = self.accept.lock() {
            if let Some(h) = a.take() {
                h.abort();
            }
        }
        self.drop_connections();
    }

    /// Listens again on the same address after [`FakeApiServer::stop`].
    pub async fn restart(&self) -> std::io::Result<()> {
        let mut last = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(l) => {
                    let h = tokio::spawn(accept_loop(l, self.inner.clone()));
                    if let Ok(mut a) = self.accept.lock() {
                        *a = Some(h);
                    }
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("bind failed")))
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.lock().requests.clone()
    }

    /// Waits until a request matching `pred` has been received (including
    /// earlier ones), or `timeout` passes.
    pub async fn wait_for_request(
        &self,
        timeout: Duration,
        pred: impl Fn(&RequestRecord) -> bool,
    ) -> Option<RequestRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.request_seen.notified();
            if let Some(r) = self.inner.lock().requests.iter().find(|r| pred(r)) {
                return Some(r.clone());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let mut kill = inner.kill.subscribe();
            kill.mark_unchanged();
            let svc_inner = inner.clone();
            let svc = hyper::service::service_fn(move |req| {
                let inner = svc_inner.clone();
                async move { Ok::<_, Infallible>(handle(inner, req).await) }
            });
            let tls = inner.tls.lock().ok().and_then(|t| t.clone());
            let serve = async {
                if let Some(tls) = tls {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                    if let Ok(s) = acceptor.accept(sock).await {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(s), svc)
                            .await;
                    }
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = kill.changed() => {}
            }
        });
    }
}

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let watch = matches!(query.get("watch").map(String::as_str), Some("1" | "true"));
    {
        let mut st = inner.lock();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in req.headers() {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            headers
                .entry(k.as_str().to_string())
                .and_modify(|e| {
                    e.push_str(", ");
                    e.push_str(&v);
                })
                .or_insert(v);
        }
        st.requests.push(RequestRecord {
            method: req.method().to_string(),
            path: path.clone(),
            query: query.clone(),
            watch,
            headers,
        });
        if let Some(want) = &st.authorization {
            let got = req
                .headers()
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if got != Some(want.as_str()) {
                drop(st);
                inner.request_seen.notify_waiters();
                return full(
                    StatusCode::UNAUTHORIZED,
                    &status_json(401, "Unauthorized", "Unauthorized"),
                );
            }
        }
    }
    inner.request_seen.notify_waiters();
    let Some((res, ns)) = parse_path(&path) else {
        return full(
            StatusCode::NOT_FOUND,
            &status_json(
                404,
                "NotFound",
                &format!("the server could not find the requested resource ({path})"),
            ),
        );
    };
    let bad = |m: String| full(StatusCode::BAD_REQUEST, &status_json(400, "BadRequest", &m));
    let labels =
        match parse_label_selector(query.get("labelSelector").map(String::as_str).unwrap_or("")) {
            Ok(l) => l,
            Err(e) => return bad(e.0),
        };
    let fields =
        match parse_field_selector(query.get("fieldSelector").map(String::as_str).unwrap_or("")) {
            Ok(f) => f,
            Err(e) => return bad(e.0),
        };
    let filter = Filter { ns, labels, fields };
    if watch {
        watch_response(inner, res, filter, &query)
    } else {
        list_response(&inner, res, &filter, &query)
    }
}

fn list_response(
    inner: &Inner,
    res: Resource,
    filter: &Filter,
    q: &BTreeMap<String, String>,
) -> Response<Body> {
    let st = inner.lock();
    let items: Vec<&Value> = st
        .objects
        .iter()
        .filter(|((r, ns, _), obj)| *r == res && filter.matches(ns, obj))
        .map(|(_, v)| v)
        .collect();
    let offset: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|v| strip_type((*v).clone()))
        .collect();
    let mut meta = json!({"resourceVersion": st.rv.to_string()});
    if offset.saturating_add(page.len()) < items.len() {
        meta["continue"] = Value::String((offset + page.len()).to_string());
    }
    let body = json!({
        "kind": format!("{}List", res.kind()),
        "apiVersion": res.api_version(),
        "metadata": meta,
        "items": page,
    });
    full(StatusCode::OK, &body)
}

fn event_line(typ: &str, obj: &Value) -> Bytes {
    let mut s = json!({"type": typ, "object": obj}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn watch_response(
    inner: Arc<Inner>,
    res: Resource,
    filter: Filter,
    q: &BTreeMap<String, String>,
) -> Response<Body> {
    let from: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = matches!(
        q.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let st = inner.lock();
    if from != 0 && from < st.expired_before {
        let status = status_json(
            410,
            "Expired",
            &format!("too old resource version: {from} ({})", st.expired_before),
        );
        if st.gone_mode == GoneMode::Http {
            return full(StatusCode::GONE, &status);
        }
        let _ = tx.try_send(event_line("ERROR", &status));
        drop(tx);
    } else {
        let mut live = inner.events.subscribe();
        let mut marks = inner.bookmarks.subscribe();
        let start = if from == 0 { st.rv } else { from };
        let backlog: Vec<Arc<Event>> = st
            .history
            .iter()
            .filter(|e| e.rv > start && e.res == res)
            .cloned()
            .collect();
        let inner2 = inner.clone();
        tokio::spawn(async move {
            let mut last = start;
            for e in backlog {
                last = e.rv;
                if filter.matches(&namespace_of(&e.obj), &e.obj)
                    && tx.send(event_line(e.typ, &e.obj)).await.is_err()
                {
                    return;
                }
            }
            loop {
                tokio::select! {
                    ev = live.recv() => match ev {
                        Ok(e) => {
                            if e.rv <= last || e.res != res {
                                continue;
                            }
                            last = e.rv;
                            if filter.matches(&namespace_of(&e.obj), &e.obj) && tx.send(event_line(e.typ, &e.obj)).await.is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    m = marks.recv() => {
                        if m.is_err() { return; }
                        if bookmarks {
                            let rv = inner2.lock().rv;
                            let obj = json!({"kind": res.kind(), "apiVersion": res.api_version(), "metadata": {"resourceVersion": rv.to_string()}});
                            if tx.send(event_line("BOOKMARK", &obj)).await.is_err() {
                                return;
                            }
                        }
                    }
                    _ = tx.closed() => return,
                }
            }
        });
    }
    drop(st);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The test CA, the server certificate it signed, and client certificates
/// on demand.
struct TestCa {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    server_cert: Vec<u8>,
    server_key: Vec<u8>,
}

impl TestCa {
    fn new() -> Result<TestCa, String> {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
        let e = |x: &dyn std::fmt::Display| x.to_string();
        let ca_key = KeyPair::generate().map_err(|x| e(&x))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|x| e(&x))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kubesd test CA");
        let ca = ca_params.self_signed(&ca_key).map_err(|x| e(&x))?;
        let key = KeyPair::generate().map_err(|x| e(&x))?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_string()]).map_err(|x| e(&x))?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(|x| e(&x))?;
        Ok(TestCa {
            ca,
            ca_key,
            server_cert: cert.der().to_vec(),
            server_key: key.serialize_der(),
        })
    }

    fn client_cert(&self) -> Result<(String, String), String> {
        use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};
        let e = |x: &dyn std::fmt::Display| x.to_string();
        let key = KeyPair::generate().map_err(|x| e(&x))?;
        let mut params =
            CertificateParams::new(vec!["kubesd-client".to_string()]).map_err(|x| e(&x))?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "system:serviceaccount:test:kubesd",
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .map_err(|x| e(&x))?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    fn server_config(
        &self,
        client_auth: bool,
    ) -> Result<tokio_rustls::rustls::ServerConfig, String> {
        use tokio_rustls::rustls;
        let e = |x: &dyn std::fmt::Display| x.to_string();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(self.server_key.clone())
            .map_err(|x| e(&x))?;
        let cert = rustls::pki_types::CertificateDer::from(self.server_cert.clone());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|x| e(&x))?;
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca.der().clone()).map_err(|x| e(&x))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|x| e(&x))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        builder
            .with_single_cert(vec![cert], key_der)
            .map_err(|x| e(&x))
    }
}

/// Builders of API objects for tests and benchmarks.
pub mod fixtures {
    use serde_json::{json, Value};

    /// A running pod with `containers` containers, each with one TCP port
    /// (8080, 8081, ...) and a container status.
    pub fn pod(namespace: &str, name: &str, ip: &str, containers: usize) -> Value {
        let cs: Vec<Value> = (0..containers)
            .map(|i| {
                json!({
                    "name": format!("c{i}"),
                    "image": format!("registry.example/app{i}:1.0"),
                    "ports": [{"name": "http", "containerPort": 8080 + i, "protocol": "TCP"}]
                })
            })
            .collect();
        let st: Vec<Value> = (0..containers)
            .map(|i| json!({"name": format!("c{i}"), "containerID": format!("containerd://{name}-{i}"), "ready": true, "restartCount": 0, "image": format!("registry.example/app{i}:1.0"), "imageID": ""}))
            .collect();
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": format!("uid-{namespace}-{name}"),
                "labels": {"app": "bench", "app.kubernetes.io/name": name},
                "annotations": {"prometheus.io/scrape": "true"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "bench-rs", "uid": "rs-uid", "controller": true}]
            },
            "spec": {"nodeName": "node-1", "containers": cs, "restartPolicy": "Always"},
            "status": {
                "phase": "Running",
                "podIP": ip,
                "hostIP": "10.0.0.1",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": st
            }
        })
    }
}
