//! The running discovery: one kube-rs watcher per (resource, namespace), a
//! single state task that keeps slim copies of the objects, tracks which
//! target-group sources each change affects, and sends coalesced updates.

use crate::config::{Role, SdConfig};
use crate::labels::{self, Lookup};
use crate::objects::{
    self, EndpointSlice, Endpoints, Ingress, KubeKind, Meta, Node, Obj, Pod, Service,
};
use crate::{client, Error, TargetGroup};
use futures_util::StreamExt;
use kube::api::Api;
use kube::runtime::watcher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Where the in-cluster configuration comes from (client-go's
/// `rest.InClusterConfig`): `KUBERNETES_SERVICE_HOST` / `KUBERNETES_SERVICE_PORT`
/// and the service account directory. Overridable for tests.
#[derive(Debug, Clone)]
pub struct InCluster {
    /// `KUBERNETES_SERVICE_HOST`
    pub host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`
    pub port: Option<String>,
    /// Holds `token`, `ca.crt` and `namespace`;
    /// `/var/run/secrets/kubernetes.io/serviceaccount` by default.
    pub service_account_dir: PathBuf,
}

impl InCluster {
    /// From the process environment and the standard directory.
    pub fn from_env() -> InCluster {
        InCluster {
            host: std::env::var("KUBERNETES_SERVICE_HOST").ok(),
            port: std::env::var("KUBERNETES_SERVICE_PORT").ok(),
            service_account_dir: PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount"),
        }
    }
}

impl Default for InCluster {
    fn default() -> Self {
        InCluster::from_env()
    }
}

/// Tuning of a [`Discovery`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How long changes are collected before an update is sent (default 250 ms).
    pub debounce: Duration,
    /// First retry delay after a failed list or watch (default 800 ms, as client-go).
    pub backoff_initial: Duration,
    /// Largest retry delay (default 30 s, as client-go).
    pub backoff_max: Duration,
    /// In-cluster configuration source.
    pub in_cluster: InCluster,
    /// Objects per page of a list (`limit`, then `continue`). A page's body
    /// and its decoded objects are held at once; default 100 (client-go asks
    /// for 500): listing 5,000 pods peaks about 1 MB lower, for a few more
    /// requests at start and on re-lists.
    pub list_page_size: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            debounce: Duration::from_millis(250),
            backoff_initial: Duration::from_millis(800),
            backoff_max: Duration::from_secs(30),
            in_cluster: InCluster::from_env(),
            list_page_size: 100,
        }
    }
}

/// A failed list or watch, as logged; published on [`Discovery::errors`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchError {
    /// The discovery's role.
    pub role: Role,
    /// The resource kind being listed or watched (`Pod`, `Service`, ...).
    pub kind: &'static str,
    /// The resource URL.
    pub url: String,
    /// The error.
    pub message: String,
    /// HTTP status code from the API server, when it answered with one.
    pub code: Option<u16>,
    /// Delay before the next attempt.
    pub retry_in: Duration,
}

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kubernetes_sd role={} failed to list/watch {} at {}: {} (retrying in {:?})",
            self.role, self.kind, self.url, self.message, self.retry_in
        )
    }
}

/// Kubernetes service discovery for one `kubernetes_sd_config`.
pub struct Discovery {
    cfg: SdConfig,
    client: kube::Client,
    url: String,
    namespaces: Vec<Option<String>>,
    opts: Options,
    errors: broadcast::Sender<WatchError>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("role", &self.cfg.role)
            .field("url", &self.url)
            .field("namespaces", &self.namespaces)
            .finish()
    }
}

impl Discovery {
    /// Validates `cfg` and sets up the API client (no request is made yet).
    pub async fn new(cfg: SdConfig, opts: Options) -> Result<Discovery, Error> {
        cfg.validate()?;
        let built = client::build(&cfg, &opts.in_cluster).await?;
        // getNamespaces()
        let mut names = cfg.namespaces.names.clone();
        let namespaces: Vec<Option<String>> = if names.is_empty() && !cfg.namespaces.own_namespace {
            vec![None]
        } else {
            if let Some(own) = built.own_namespace {
                names.push(own);
            }
            let mut seen = HashSet::new();
            names
                .into_iter()
                .filter(|n| seen.insert(n.clone()))
                .map(Some)
                .collect()
        };
        let (errors, _) = broadcast::channel(64);
        Ok(Discovery {
            cfg,
            client: built.client,
            url: built.url,
            namespaces,
            opts,
            errors,
        })
    }

    /// The API server's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The namespaces watched (`None`: all namespaces).
    pub fn namespaces(&self) -> &[Option<String>] {
        &self.namespaces
    }

    /// Subscribes to list/watch failures (also logged with `tracing`).
    pub fn errors(&self) -> broadcast::Receiver<WatchError> {
        self.errors.subscribe()
    }

    fn watch_specs(&self) -> Vec<(KindTag, Option<String>)> {
        let mut specs = Vec::new();
        let per_ns = |specs: &mut Vec<(KindTag, Option<String>)>, k: KindTag| {
            for ns in &self.namespaces {
                specs.push((k, ns.clone()));
            }
        };
        let attach = self.cfg.attach_metadata.node;
        match self.cfg.role {
            Role::Pod => {
                per_ns(&mut specs, KindTag::Pod);
                if attach {
                    specs.push((KindTag::Node, None));
                }
            }
            Role::Node => specs.push((KindTag::Node, None)),
            Role::Service => per_ns(&mut specs, KindTag::Service),
            Role::Ingress => per_ns(&mut specs, KindTag::Ingress),
            Role::Endpoints | Role::EndpointSlice => {
                let primary = if self.cfg.role == Role::Endpoints {
                    KindTag::Endpoints
                } else {
                    KindTag::EndpointSlice
                };
                per_ns(&mut specs, primary);
                per_ns(&mut specs, KindTag::Service);
                per_ns(&mut specs, KindTag::Pod);
                if attach {
                    specs.push((KindTag::Node, None));
                }
            }
        }
        specs
    }

    /// Lists and watches until `tx` is closed (or the future is dropped),
    /// sending target group updates on `tx`.
    pub async fn run(self, tx: mpsc::Sender<Vec<TargetGroup>>) {
        self.run_with(tx, |g| g).await
    }

    /// [`Discovery::run`], with each group turned into the consumer's type by
    /// `convert` as soon as it is built (including the empty group of a
    /// source that went away). For the roles that keep no object copies, the
    /// discovery then holds only the converted groups until they are sent,
    /// so a consumer with a compact form never has two forms of thousands of
    /// groups in memory at once (the first update holds every group).
    pub async fn run_with<T, F>(self, tx: mpsc::Sender<Vec<T>>, convert: F)
    where
        T: Send + 'static,
        F: Fn(TargetGroup) -> T + Send + Sync + 'static,
    {
        let specs = self.watch_specs();
        // Objects decoded but not yet turned into groups: enough to keep the
        // state task busy, few enough not to hold a second copy of a big list.
        let (msg_tx, mut msg_rx) = mpsc::channel::<Msg>(MSG_QUEUE);
        let ctx = Arc::new(WatchCtx {
            client: self.client.clone(),
            url: self.url.clone(),
            role: self.cfg.role,
            opts: self.opts.clone(),
            errors: self.errors.clone(),
            msg_tx,
        });
        let mut tasks = JoinSet::new();
        for (w, (kind, ns)) in specs.iter().enumerate() {
            let role = kind.selector_role();
            let (label, field) = self.cfg.selector_for(role);
            let sel = Selectors {
                label: label.map(str::to_owned),
                field: field.map(str::to_owned),
            };
            let ctx = ctx.clone();
            let ns = ns.clone();
            match kind {
                KindTag::Pod => tasks.spawn(watch_task::<Pod>(ctx, w, ns, sel)),
                KindTag::Node => tasks.spawn(watch_task::<Node>(ctx, w, ns, sel)),
                KindTag::Service => tasks.spawn(watch_task::<Service>(ctx, w, ns, sel)),
                KindTag::Endpoints => tasks.spawn(watch_task::<Endpoints>(ctx, w, ns, sel)),
                KindTag::EndpointSlice => tasks.spawn(watch_task::<EndpointSlice>(ctx, w, ns, sel)),
                KindTag::Ingress => tasks.spawn(watch_task::<Ingress>(ctx, w, ns, sel)),
            };
        }
        drop(ctx);

        let mut state = State::new(
            self.cfg.role,
            self.cfg.attach_metadata.node,
            specs.len(),
            Box::new(convert),
        );
        let mut deadline: Option<Instant> = None;
        let mut initial_sent = false;
        loop {
            let wait = deadline.filter(|_| initial_sent);
            tokio::select! {
                biased;
                _ = tx.closed() => break,
                m = msg_rx.recv() => {
                    let Some(m) = m else { break };
                    state.apply(m);
                    // Drain what is already queued before deciding anything.
                    for _ in 0..4096 {
                        match msg_rx.try_recv() {
                            Ok(m) => state.apply(m),
                            Err(_) => break,
                        }
                    }
                    if !initial_sent {
                        if state.all_synced() {
                            initial_sent = true;
                            deadline = None;
                            let groups = state.flush();
                            tracing::debug!(role = %self.cfg.role, groups = groups.len(), "kubernetes SD initial target set");
                            if tx.send(groups).await.is_err() {
                                break;
                            }
                        }
                    } else if deadline.is_none() && state.has_work() {
                        deadline = Some(Instant::now() + self.opts.debounce);
                    }
                }
                _ = async { if let Some(d) = wait { tokio::time::sleep_until(d).await } }, if wait.is_some() => {
                    deadline = None;
                    let groups = state.flush();
                    if !groups.is_empty() && tx.send(groups).await.is_err() {
                        break;
                    }
                }
            }
        }
        tasks.abort_all();
    }
}

/// Capacity of the queue from the watchers to the state task.
const MSG_QUEUE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KindTag {
    Pod,
    Node,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
}

impl KindTag {
    fn selector_role(self) -> Role {
        match self {
            KindTag::Pod => Role::Pod,
            KindTag::Node => Role::Node,
            KindTag::Service => Role::Service,
            KindTag::Endpoints => Role::Endpoints,
            KindTag::EndpointSlice => Role::EndpointSlice,
            KindTag::Ingress => Role::Ingress,
        }
    }
}

enum Payload {
    Pod(Pod),
    Node(Node),
    Service(Service),
    Endpoints(Endpoints),
    EndpointSlice(EndpointSlice),
    Ingress(Ingress),
}

enum Msg {
    Init(usize),
    Apply { w: usize, payload: Box<Payload> },
    Delete { kind: KindTag, key: String },
    InitDone(usize),
}

struct Selectors {
    label: Option<String>,
    field: Option<String>,
}

struct WatchCtx {
    client: kube::Client,
    url: String,
    role: Role,
    opts: Options,
    errors: broadcast::Sender<WatchError>,
    msg_tx: mpsc::Sender<Msg>,
}

/// A kind the discovery watches.
trait Watched: KubeKind {
    const TAG: KindTag;
    fn api(client: kube::Client, ns: Option<&str>) -> Api<Obj<Self>>;
    fn payload(self) -> Payload;
}

macro_rules! watched_ns {
    ($t:ident, $tag:expr) => {
        impl Watched for $t {
            const TAG: KindTag = $tag;
            fn api(client: kube::Client, ns: Option<&str>) -> Api<Obj<Self>> {
                match ns {
                    Some(ns) => Api::namespaced(client, ns),
                    None => Api::all(client),
                }
            }
            fn payload(self) -> Payload {
                Payload::$t(self)
            }
        }
    };
}

watched_ns!(Pod, KindTag::Pod);
watched_ns!(Service, KindTag::Service);
watched_ns!(Endpoints, KindTag::Endpoints);
watched_ns!(EndpointSlice, KindTag::EndpointSlice);
watched_ns!(Ingress, KindTag::Ingress);

impl Watched for Node {
    const TAG: KindTag = KindTag::Node;
    fn api(client: kube::Client, _ns: Option<&str>) -> Api<Obj<Self>> {
        Api::all(client)
    }
    fn payload(self) -> Payload {
        Payload::Node(self)
    }
}

fn store_key(kind: KindTag, namespace: &str, name: &str) -> String {
    if kind == KindTag::Node {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

fn status_code(e: &watcher::Error) -> Option<u16> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    }
}

async fn watch_task<T: Watched>(ctx: Arc<WatchCtx>, w: usize, ns: Option<String>, sel: Selectors) {
    let api = T::api(ctx.client.clone(), ns.as_deref());
    let url = format!(
        "{}{}",
        ctx.url,
        objects::api_path(T::GROUP, T::VERSION, T::PLURAL, ns.as_deref())
    );
    let mut wc = watcher::Config::default().page_size(ctx.opts.list_page_size.max(1));
    if let Some(l) = &sel.label {
        wc = wc.labels(l);
    }
    if let Some(f) = &sel.field {
        wc = wc.fields(f);
    }
    let mut backoff = ctx.opts.backoff_initial;
    loop {
        let mut stream = watcher(api.clone(), wc.clone()).boxed();
        while let Some(item) = stream.next().await {
            let ev = match item {
                Ok(ev) => {
                    // `Init` is emitted before the list request: only a
                    // delivered object or a completed list proves success.
                    if !matches!(ev, watcher::Event::Init) {
                        backoff = ctx.opts.backoff_initial;
                    }
                    ev
                }
                Err(e) => {
                    let code = status_code(&e);
                    if code == Some(410) {
                        tracing::debug!(role = %ctx.role, url = %url, error = %e, "resource version expired, re-listing");
                        if matches!(e, watcher::Error::WatchStartFailed(_)) {
                            // kube-rs would retry the watch with the same stale
                            // version: start over with a list.
                            break;
                        }
                        continue;
                    }
                    let we = WatchError {
                        role: ctx.role,
                        kind: T::KIND,
                        url: url.clone(),
                        message: e.to_string(),
                        code,
                        retry_in: backoff,
                    };
                    tracing::warn!(role = %ctx.role, url = %url, kind = T::KIND, error = %e, retry_in = ?backoff, "kubernetes SD list/watch failed");
                    let _ = ctx.errors.send(we);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ctx.opts.backoff_max);
                    continue;
                }
            };
            let msg = match ev {
                watcher::Event::Init => Msg::Init(w),
                watcher::Event::InitDone => Msg::InitDone(w),
                watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                    let name = o.name().to_string();
                    let namespace = o.namespace().to_string();
                    match o.parsed {
                        Ok(t) => Msg::Apply {
                            w,
                            payload: Box::new(t.payload()),
                        },
                        Err(err) => {
                            tracing::warn!(
                                role = %ctx.role, url = %url, kind = T::KIND,
                                namespace = %namespace, name = %name, error = %err,
                                "failed to decode object, skipping it"
                            );
                            continue;
                        }
                    }
                }
                watcher::Event::Delete(o) => Msg::Delete {
                    kind: T::TAG,
                    key: store_key(T::TAG, o.namespace(), o.name()),
                },
            };
            if ctx.msg_tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}

/// The objects of one kind, by store key, with the watcher that produced each.
type Store<T> = HashMap<String, (usize, T)>;

/// All state of a running discovery; owned by the `run` task. `T` is the
/// consumer's form of a group (see [`Discovery::run_with`]).
struct State<T> {
    role: Role,
    attach_node: bool,
    pods: Store<Pod>,
    nodes: Store<Node>,
    services: Store<Service>,
    endpoints: Store<Endpoints>,
    slices: Store<EndpointSlice>,
    ingresses: Store<Ingress>,
    /// Per watcher: listed at least once.
    synced: Vec<bool>,
    /// Per watcher, during a (re-)list: keys seen so far.
    listing: Vec<Option<HashSet<String>>>,
    /// Dependency id (`pod:ns/name`, `svc:ns/name`, `node:name`) to the sources using it.
    deps: HashMap<String, HashSet<String>>,
    /// Source to the dependency ids it registered.
    source_deps: HashMap<String, Vec<String>>,
    /// Sources to rebuild at the next flush.
    dirty: HashSet<String>,
    /// Hash of the last group sent per source.
    sent: HashMap<String, u64>,
    /// Roles whose groups depend on their own object only (pod without
    /// attach_metadata, node, service, ingress) keep no copy of the objects:
    /// the group is built on receipt and kept here until the next flush.
    self_contained: bool,
    /// Self-contained roles: the latest built group per source (converted,
    /// with its hash), until flushed. A source whose group is back to what
    /// was last sent has no entry.
    pending: HashMap<String, Pending<T>>,
    /// Self-contained roles: object key to the watcher that delivered it.
    owners: HashMap<String, usize>,
    /// The consumer's conversion of a group.
    convert: Box<dyn Fn(TargetGroup) -> T + Send + Sync>,
}

fn dep_id(kind: KindTag, key: &str) -> Option<String> {
    match kind {
        KindTag::Pod => Some(format!("pod:{key}")),
        KindTag::Service => Some(format!("svc:{key}")),
        KindTag::Node => Some(format!("node:{key}")),
        _ => None,
    }
}

fn hash_group(g: &TargetGroup) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    g.hash(&mut h);
    h.finish()
}

fn meta_key(kind: KindTag, m: &Meta) -> String {
    store_key(kind, &m.namespace, &m.name)
}

impl<T> State<T> {
    fn new(
        role: Role,
        attach_node: bool,
        watchers: usize,
        convert: Box<dyn Fn(TargetGroup) -> T + Send + Sync>,
    ) -> State<T> {
        State {
            role,
            attach_node,
            pods: HashMap::new(),
            nodes: HashMap::new(),
            services: HashMap::new(),
            endpoints: HashMap::new(),
            slices: HashMap::new(),
            ingresses: HashMap::new(),
            synced: vec![false; watchers],
            listing: vec![None; watchers],
            deps: HashMap::new(),
            source_deps: HashMap::new(),
            dirty: HashSet::new(),
            sent: HashMap::new(),
            self_contained: matches!(role, Role::Node | Role::Service | Role::Ingress)
                || (role == Role::Pod && !attach_node),
            pending: HashMap::new(),
            owners: HashMap::new(),
            convert,
        }
    }

    fn has_work(&self) -> bool {
        !self.dirty.is_empty() || !self.pending.is_empty()
    }

    fn all_synced(&self) -> bool {
        self.synced.iter().all(|s| *s)
    }

    /// The kind whose objects are this role's sources.
    fn primary(&self) -> KindTag {
        match self.role {
            Role::Pod => KindTag::Pod,
            Role::Node => KindTag::Node,
            Role::Service => KindTag::Service,
            Role::Endpoints => KindTag::Endpoints,
            Role::EndpointSlice => KindTag::EndpointSlice,
            Role::Ingress => KindTag::Ingress,
        }
    }

    fn source_of(kind: KindTag, key: &str) -> String {
        let prefix = match kind {
            KindTag::Pod => "pod",
            KindTag::Node => "node",
            KindTag::Service => "svc",
            KindTag::Endpoints => "endpoints",
            KindTag::EndpointSlice => "endpointslice",
            KindTag::Ingress => "ingress",
        };
        format!("{prefix}/{key}")
    }

    fn apply(&mut self, m: Msg) {
        match m {
            Msg::Init(w) => {
                if let Some(l) = self.listing.get_mut(w) {
                    *l = Some(HashSet::new());
                }
            }
            Msg::Apply { w, payload } => {
                let (kind, key) = self.upsert(w, *payload);
                if let Some(Some(seen)) = self.listing.get_mut(w) {
                    seen.insert(key);
                }
                let _ = kind;
            }
            Msg::Delete { kind, key } => self.remove(kind, &key),
            Msg::InitDone(w) => {
                let seen = self
                    .listing
                    .get_mut(w)
                    .and_then(Option::take)
                    .unwrap_or_default();
                let stale = self.stale_keys(w, &seen);
                for (kind, key) in stale {
                    self.remove(kind, &key);
                }
                if let Some(s) = self.synced.get_mut(w) {
                    *s = true;
                }
            }
        }
    }

    /// Keys held for watcher `w` that its latest list did not return.
    fn stale_keys(&self, w: usize, seen: &HashSet<String>) -> Vec<(KindTag, String)> {
        fn collect<T>(
            out: &mut Vec<(KindTag, String)>,
            kind: KindTag,
            s: &Store<T>,
            w: usize,
            seen: &HashSet<String>,
        ) {
            out.extend(
                s.iter()
                    .filter(|(k, (ow, _))| *ow == w && !seen.contains(*k))
                    .map(|(k, _)| (kind, k.clone())),
            );
        }
        let mut out = Vec::new();
        let primary = self.primary();
        out.extend(
            self.owners
                .iter()
                .filter(|(k, ow)| **ow == w && !seen.contains(*k))
                .map(|(k, _)| (primary, k.clone())),
        );
        collect(&mut out, KindTag::Pod, &self.pods, w, seen);
        collect(&mut out, KindTag::Node, &self.nodes, w, seen);
        collect(&mut out, KindTag::Service, &self.services, w, seen);
        collect(&mut out, KindTag::Endpoints, &self.endpoints, w, seen);
        collect(&mut out, KindTag::EndpointSlice, &self.slices, w, seen);
        collect(&mut out, KindTag::Ingress, &self.ingresses, w, seen);
        out
    }

    /// Stores an object; marks what it affects when it changed.
    fn upsert(&mut self, w: usize, p: Payload) -> (KindTag, String) {
        if self.self_contained {
            let no_node = |_: &str| None;
            let (kind, key, built) = match &p {
                Payload::Pod(o) => (
                    KindTag::Pod,
                    meta_key(KindTag::Pod, &o.metadata),
                    Built::Group(labels::build_pod(o, &no_node, false)),
                ),
                Payload::Node(o) => (
                    KindTag::Node,
                    meta_key(KindTag::Node, &o.metadata),
                    match labels::build_node(o) {
                        Some(g) => Built::Group(g),
                        None => {
                            tracing::warn!(role = %self.role, node = %o.metadata.name, "No node address found");
                            Built::Skip
                        }
                    },
                ),
                Payload::Service(o) => (
                    KindTag::Service,
                    meta_key(KindTag::Service, &o.metadata),
                    Built::Group(labels::build_service(o)),
                ),
                Payload::Ingress(o) => (
                    KindTag::Ingress,
                    meta_key(KindTag::Ingress, &o.metadata),
                    Built::Group(labels::build_ingress(o)),
                ),
                Payload::Endpoints(o) => (
                    KindTag::Endpoints,
                    meta_key(KindTag::Endpoints, &o.metadata),
                    Built::Skip,
                ),
                Payload::EndpointSlice(o) => (
                    KindTag::EndpointSlice,
                    meta_key(KindTag::EndpointSlice, &o.metadata),
                    Built::Skip,
                ),
            };
            if kind == self.primary() {
                self.owners.insert(key.clone(), w);
                let source = Self::source_of(kind, &key);
                match built {
                    Built::Group(g) => {
                        let h = hash_group(&g);
                        if self.sent.get(&source) == Some(&h) {
                            // Back to (or still) what the consumer has.
                            self.pending.remove(&source);
                        } else {
                            self.pending
                                .insert(source, Pending::Group(h, (self.convert)(g)));
                        }
                    }
                    Built::Gone => {
                        self.pending.insert(source, Pending::Gone);
                    }
                    Built::Skip => {
                        self.pending.insert(source, Pending::Skip);
                    }
                }
            }
            return (kind, key);
        }
        macro_rules! put {
            ($store:ident, $kind:expr, $obj:expr) => {{
                let key = meta_key($kind, &$obj.metadata);
                let unchanged = matches!(self.$store.get(&key), Some((_, old)) if *old == $obj);
                if unchanged {
                    if let Some(e) = self.$store.get_mut(&key) {
                        e.0 = w;
                    }
                } else {
                    let deps = self.deps_of_payload_ref($kind, &key, &$obj);
                    self.$store.insert(key.clone(), (w, $obj));
                    self.changed($kind, &key, deps);
                }
                ($kind, key)
            }};
        }
        match p {
            Payload::Pod(o) => put!(pods, KindTag::Pod, o),
            Payload::Node(o) => put!(nodes, KindTag::Node, o),
            Payload::Service(o) => put!(services, KindTag::Service, o),
            Payload::Endpoints(o) => put!(endpoints, KindTag::Endpoints, o),
            Payload::EndpointSlice(o) => put!(slices, KindTag::EndpointSlice, o),
            Payload::Ingress(o) => put!(ingresses, KindTag::Ingress, o),
        }
    }

    fn remove(&mut self, kind: KindTag, key: &str) {
        if self.self_contained {
            if kind == self.primary() && self.owners.remove(key).is_some() {
                self.pending
                    .insert(Self::source_of(kind, key), Pending::Gone);
            }
            return;
        }
        let existed = match kind {
            KindTag::Pod => self.pods.remove(key).is_some(),
            KindTag::Node => self.nodes.remove(key).is_some(),
            KindTag::Service => self.services.remove(key).is_some(),
            KindTag::Endpoints => self.endpoints.remove(key).is_some(),
            KindTag::EndpointSlice => self.slices.remove(key).is_some(),
            KindTag::Ingress => self.ingresses.remove(key).is_some(),
        };
        if existed {
            self.changed(kind, key, Some(Vec::new()));
        }
    }

    /// The dependency ids of a primary object (`None` for non-primary kinds).
    fn deps_of_payload_ref<O: std::any::Any>(
        &self,
        kind: KindTag,
        key: &str,
        obj: &O,
    ) -> Option<Vec<String>> {
        if kind != self.primary() {
            return None;
        }
        let any = obj as &dyn std::any::Any;
        let mut deps = Vec::new();
        let attach = self.attach_node;
        let ns = key.split_once('/').map(|(n, _)| n).unwrap_or("");
        if let Some(p) = any.downcast_ref::<Pod>() {
            if attach {
                deps.push(format!("node:{}", p.spec.node_name));
            }
        } else if let Some(e) = any.downcast_ref::<Endpoints>() {
            deps.push(format!("svc:{key}"));
            for ss in &e.subsets {
                for a in ss.addresses.iter().chain(ss.not_ready_addresses.iter()) {
                    if let Some(r) = &a.target_ref {
                        if r.kind == "Pod" {
                            deps.push(format!("pod:{}/{}", r.namespace, r.name));
                        }
                    }
                    if attach {
                        match (&a.node_name, &a.target_ref) {
                            (Some(n), _) => deps.push(format!("node:{n}")),
                            (None, Some(r)) if r.kind == "Node" => {
                                deps.push(format!("node:{}", r.name))
                            }
                            _ => {}
                        }
                    }
                }
            }
        } else if let Some(s) = any.downcast_ref::<EndpointSlice>() {
            if let Some(svc) = s.metadata.labels.get(labels::SERVICE_NAME_LABEL) {
                deps.push(format!("svc:{ns}/{svc}"));
            }
            for ep in &s.endpoints {
                if let Some(r) = &ep.target_ref {
                    if r.kind == "Pod" {
                        deps.push(format!("pod:{}/{}", r.namespace, r.name));
                    }
                }
                if attach {
                    match (&ep.target_ref, &ep.node_name) {
                        (Some(r), _) if r.kind == "Node" => deps.push(format!("node:{}", r.name)),
                        (_, Some(n)) => deps.push(format!("node:{n}")),
                        _ => {}
                    }
                }
            }
        }
        deps.sort();
        deps.dedup();
        Some(deps)
    }

    /// Records that object `kind/key` changed (or went away when
    /// `new_deps == Some(vec![])` after removal): marks its own source (if it
    /// is a primary object) and every source depending on it.
    fn changed(&mut self, kind: KindTag, key: &str, new_deps: Option<Vec<String>>) {
        if kind == self.primary() {
            let source = Self::source_of(kind, key);
            if let Some(old) = self.source_deps.remove(&source) {
                for d in old {
                    if let Some(set) = self.deps.get_mut(&d) {
                        set.remove(&source);
                        if set.is_empty() {
                            self.deps.remove(&d);
                        }
                    }
                }
            }
            if let Some(deps) = new_deps {
                if !deps.is_empty() {
                    for d in &deps {
                        self.deps
                            .entry(d.clone())
                            .or_default()
                            .insert(source.clone());
                    }
                    self.source_deps.insert(source.clone(), deps);
                }
            }
            self.dirty.insert(source);
        }
        if let Some(id) = dep_id(kind, key) {
            if let Some(srcs) = self.deps.get(&id) {
                self.dirty.extend(srcs.iter().cloned());
            }
        }
    }

    /// Builds the group of every dirty source; returns those that changed
    /// since last sent (groups for sources that went away are empty), in
    /// source order, converted.
    fn flush(&mut self) -> Vec<T> {
        let mut out: Vec<(String, T)> = Vec::new();
        if self.self_contained {
            out.reserve(self.pending.len());
            for (src, p) in self.pending.drain() {
                match p {
                    Pending::Group(h, t) => {
                        if self.sent.get(&src) == Some(&h) {
                            continue;
                        }
                        self.sent.insert(src.clone(), h);
                        out.push((src, t));
                    }
                    Pending::Gone => {
                        if self.sent.remove(&src).is_some() {
                            let t = (self.convert)(TargetGroup::empty(src.clone()));
                            out.push((src, t));
                        }
                    }
                    Pending::Skip => {}
                }
            }
        } else {
            let dirty: Vec<String> = self.dirty.drain().collect();
            for src in dirty {
                match self.build(&src) {
                    Built::Group(g) => {
                        let h = hash_group(&g);
                        if self.sent.get(&src) == Some(&h) {
                            continue;
                        }
                        self.sent.insert(src.clone(), h);
                        out.push((src, (self.convert)(g)));
                    }
                    Built::Gone => {
                        if self.sent.remove(&src).is_some() {
                            let t = (self.convert)(TargetGroup::empty(src.clone()));
                            out.push((src, t));
                        }
                    }
                    Built::Skip => {}
                }
            }
        }
        // The first flush drains thousands of entries: give their room back.
        if self.pending.capacity() > 1024 {
            self.pending.shrink_to_fit();
        }
        if self.dirty.capacity() > 1024 {
            self.dirty.shrink_to_fit();
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, t)| t).collect()
    }

    fn build(&self, source: &str) -> Built {
        let Some((prefix, key)) = source.split_once('/') else {
            return Built::Skip;
        };
        let node = |name: &str| self.nodes.get(name).map(|(_, n)| n.clone());
        let pod = |ns: &str, name: &str| {
            self.pods
                .get(&format!("{ns}/{name}"))
                .map(|(_, p)| p.clone())
        };
        let service = |ns: &str, name: &str| {
            self.services
                .get(&format!("{ns}/{name}"))
                .map(|(_, s)| s.clone())
        };
        let lookup = Lookup {
            pod: &pod,
            service: &service,
            node: &node,
            attach_node: self.attach_node,
        };
        let g = match prefix {
            "pod" => self
                .pods
                .get(key)
                .map(|(_, p)| labels::build_pod(p, &node, self.attach_node)),
            "node" => match self.nodes.get(key) {
                Some((_, n)) => match labels::build_node(n) {
                    Some(g) => Some(g),
                    None => {
                        tracing::warn!(role = %self.role, node = %key, "No node address found");
                        return Built::Skip;
                    }
                },
                None => None,
            },
            "svc" => self
                .services
                .get(key)
                .map(|(_, s)| labels::build_service(s)),
            "endpoints" => self
                .endpoints
                .get(key)
                .map(|(_, e)| labels::build_endpoints(e, &lookup)),
            "endpointslice" => self
                .slices
                .get(key)
                .map(|(_, e)| labels::build_endpointslice(e, &lookup)),
            "ingress" => self
                .ingresses
                .get(key)
                .map(|(_, i)| labels::build_ingress(i)),
            _ => return Built::Skip,
        };
        match g {
            Some(g) => Built::Group(g),
            None => Built::Gone,
        }
    }
}

enum Built {
    Group(TargetGroup),
    Gone,
    Skip,
}

/// A self-contained role's change waiting for the next flush.
enum Pending<T> {
    /// The new group's hash and converted form.
    Group(u64, T),
    /// The source went away.
    Gone,
    /// The object yields no group (a node without address): nothing to send.
    Skip,
}
