//! The entry that flows from a reader through the pipeline to the clients.

use gocompat::strconv::{format_go_float, go_quote_into};
use std::collections::HashMap;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::core::ack::Ack;

/// The label the `tenant` stage sets; the client turns it into `X-Scope-OrgID` and strips it.
pub const TENANT_LABEL: &str = "__tenant_id__";

/// A label set, sorted by name. Small and flat: most streams have under ten labels. Shared
/// copy-on-write, so the per-line clone of a target's labels is a reference-count increment and
/// only a stage that changes them pays for a copy.
///
/// Its hash is computed once per set and kept with it, so the maps keyed by label sets (the
/// client's streams of a batch, the docker stage's timestamps per stream) hash eight bytes per
/// lookup, and two sets whose hashes are known and differ compare unequal without comparing
/// their strings.
#[derive(Clone, Default)]
pub struct Labels(Arc<LabelSet>);

#[derive(Default)]
struct LabelSet {
    pairs: Vec<(String, String)>,
    /// The hash of `pairs`; 0 until computed (a computed 0 is stored as 1).
    hash: std::sync::atomic::AtomicU64,
}

impl Clone for LabelSet {
    fn clone(&self) -> Self {
        LabelSet {
            pairs: self.pairs.clone(),
            hash: std::sync::atomic::AtomicU64::new(self.hash.load(Ordering::Relaxed)),
        }
    }
}

use std::sync::atomic::Ordering;

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Labels").field(&self.0.pairs).finish()
    }
}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.content_hash());
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        let (a, b) = (
            self.0.hash.load(Ordering::Relaxed),
            other.0.hash.load(Ordering::Relaxed),
        );
        if a != 0 && b != 0 && a != b {
            return false;
        }
        self.0.pairs == other.0.pairs
    }
}

impl Eq for Labels {}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        self.0.pairs.cmp(&other.0.pairs)
    }
}

impl Labels {
    /// An empty set.
    pub fn new() -> Self {
        Labels(Arc::new(LabelSet::default()))
    }

    /// The pairs, to change (copied first when shared); forgets the kept hash.
    fn pairs_mut(&mut self) -> &mut Vec<(String, String)> {
        let set = Arc::make_mut(&mut self.0);
        *set.hash.get_mut() = 0;
        &mut set.pairs
    }

    /// The hash of the pairs, computed on first use and kept with the set.
    fn content_hash(&self) -> u64 {
        let known = self.0.hash.load(Ordering::Relaxed);
        if known != 0 {
            return known;
        }
        use std::hash::BuildHasher;
        let hash = foldhash::fast::FixedState::default()
            .hash_one(&self.0.pairs)
            .max(1);
        self.0.hash.store(hash, Ordering::Relaxed);
        hash
    }

    /// An id of the shared storage, equal for sets that share it (a cache key).
    pub fn storage_id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// True when both sets share storage (a cheap "unchanged" test).
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .pairs
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0.pairs[i].1.as_str())
    }

    /// Sets `name` to `value`, replacing any previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        match self
            .0
            .pairs
            .binary_search_by(|(k, _)| k.as_str().cmp(&name))
        {
            Ok(i) => {
                let value = value.into();
                if self.0.pairs[i].1 != value {
                    self.pairs_mut()[i].1 = value;
                }
            }
            Err(i) => self.pairs_mut().insert(i, (name, value.into())),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        match self.0.pairs.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => Some(self.pairs_mut().remove(i).1),
            Err(_) => None,
        }
    }

    /// Keeps only the labels for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &str) -> bool) {
        if self.0.pairs.iter().all(|(k, v)| f(k, v)) {
            return;
        }
        self.pairs_mut().retain(|(k, v)| f(k, v));
    }

    /// Iterates in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.pairs.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.pairs.is_empty()
    }

    /// Adds every label of `other` that this set does not have (this set wins on conflicts).
    pub fn merge_missing(&mut self, other: &Labels) {
        for (k, v) in other.iter() {
            if self.get(k).is_none() {
                self.insert(k, v);
            }
        }
    }

    /// Promtail's stream key: `{a="1", b="2"}` with Go-quoted values, `__tenant_id__` excluded.
    pub fn stream_key(&self) -> String {
        let mut s = String::with_capacity(
            2 + self
                .0
                .pairs
                .iter()
                .map(|(k, v)| k.len() + v.len() + 5)
                .sum::<usize>(),
        );
        s.push('{');
        let mut first = true;
        for (k, v) in self.iter() {
            if k == TENANT_LABEL {
                continue;
            }
            if !first {
                s.push_str(", ");
            }
            first = false;
            s.push_str(k);
            s.push('=');
            go_quote_into(&mut s, v);
        }
        s.push('}');
        s
    }

    /// The Prometheus `String()` form, used by dry-run: like [`Labels::stream_key`] but keeping
    /// every label.
    pub fn display_string(&self) -> String {
        let mut s = String::from("{");
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(k);
            s.push('=');
            go_quote_into(&mut s, v);
        }
        s.push('}');
        s
    }
}

/// Remembers what a label-changing step made of each input label set (keyed by the input's shared
/// storage, plus a step-specific `K`), so entries of one stream share one output set instead of
/// each paying for a copy. Bounded: cleared when it holds [`LabelMemo::CAPACITY`] sets.
pub struct LabelMemo<K = ()> {
    map: HashMap<(usize, K), (Labels, Labels), foldhash::fast::FixedState>,
}

impl<K: std::hash::Hash + Eq> Default for LabelMemo<K> {
    fn default() -> Self {
        LabelMemo {
            map: HashMap::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq> LabelMemo<K> {
    /// Most distinct input sets remembered before the memo starts over.
    pub const CAPACITY: usize = 4096;

    /// The output for `input` and `key`, computed by `make` on a miss.
    pub fn get_or(
        &mut self,
        input: &Labels,
        key: K,
        make: impl FnOnce(&Labels) -> Labels,
    ) -> Labels {
        let k = (input.storage_id(), key);
        if let Some((_, out)) = self.map.get(&k) {
            return out.clone();
        }
        let out = make(input);
        if self.map.len() >= Self::CAPACITY {
            self.map.clear();
        }
        // The input is kept alive so that its storage id cannot be reused by another set.
        self.map.insert(k, (input.clone(), out.clone()));
        out
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut l = Labels::new();
        for (k, v) in iter {
            l.insert(k, v);
        }
        l
    }
}

/// A value in the extracted map, typed as Promtail's stages store them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON null, or an expression that found nothing.
    Null,
    /// A boolean (json stage).
    Bool(bool),
    /// A number (json stage stores every JSON number as float64).
    Float(f64),
    /// An integer (stages that produce Go ints).
    Int(i64),
    /// A string; objects and arrays from the json stage are stored as their JSON text.
    Str(String),
}

impl Value {
    /// Promtail's `getString`: `None` where Promtail returns an error (null).
    pub fn to_go_string(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Float(f) => Some(format_go_float(*f)),
        }
    }

    /// The string, when this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A label set's values as extracted values, shared by every entry of the stream (the base layer
/// of [`Extracted`]).
#[derive(Debug)]
pub struct LabelValues {
    labels: Labels,
    pairs: Vec<(String, Value)>,
}

impl LabelValues {
    /// The values of `labels`.
    pub fn new(labels: &Labels) -> Arc<Self> {
        Arc::new(LabelValues {
            labels: labels.clone(),
            pairs: labels
                .iter()
                .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
                .collect(),
        })
    }

    fn get(&self, k: &str) -> Option<&Value> {
        self.pairs
            .binary_search_by(|(n, _)| n.as_str().cmp(k))
            .ok()
            .map(|i| &self.pairs[i].1)
    }
}

/// [`LabelValues`] per label set, so the copy of the labels into the extracted map that starts
/// every pipeline run costs a reference count, not a string copy per label.
#[derive(Default)]
pub struct LabelValuesCache {
    map: HashMap<usize, Arc<LabelValues>, foldhash::fast::FixedState>,
}

impl LabelValuesCache {
    /// The shared values of `labels`.
    pub fn get(&mut self, labels: &Labels) -> Arc<LabelValues> {
        if let Some(v) = self.map.get(&labels.storage_id()) {
            return Arc::clone(v);
        }
        if self.map.len() >= LabelMemo::<()>::CAPACITY {
            self.map.clear();
        }
        // The entry keeps the label set alive, so its storage id is not reused while cached.
        let v = LabelValues::new(labels);
        self.map.insert(labels.storage_id(), Arc::clone(&v));
        v
    }
}

/// A key of the extracted map: a name fixed in the code (`output`, `stream`, ...), a name shared
/// with the stage config that sets it, or a name made at run time. The first two cost no
/// allocation per entry.
#[derive(Debug, Clone)]
pub enum Key {
    /// A name fixed in the code.
    Static(&'static str),
    /// A name from a stage's config, shared by every entry it sets.
    Shared(Arc<str>),
    /// A name made for this entry.
    Owned(String),
}

impl Key {
    /// The name.
    pub fn as_str(&self) -> &str {
        match self {
            Key::Static(s) => s,
            Key::Shared(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl std::ops::Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key::Owned(s)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::Owned(s.to_string())
    }
}

impl From<&String> for Key {
    fn from(s: &String) -> Self {
        Key::Owned(s.clone())
    }
}

impl From<std::borrow::Cow<'_, str>> for Key {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        Key::Owned(s.into_owned())
    }
}

impl From<&Arc<str>> for Key {
    fn from(s: &Arc<str>) -> Self {
        Key::Shared(Arc::clone(s))
    }
}

/// The extracted map of one entry: Promtail's `map[string]interface{}`.
///
/// Two layers: the values the stages set (a short vector, searched linearly: entries carry a
/// handful of keys, and a scan beats hashing them), over the copy of the stream's labels made at
/// the start of the pipeline, which is shared by the stream's entries until a stage writes to it.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    own: Vec<(Key, Value)>,
    base: Option<Arc<LabelValues>>,
}

impl Extracted {
    fn own_pos(&self, k: &str) -> Option<usize> {
        self.own.iter().position(|(n, _)| n.as_str() == k)
    }

    fn base_get(&self, k: &str) -> Option<&Value> {
        self.base.as_ref().and_then(|b| b.get(k))
    }

    /// The value of `k`.
    pub fn get(&self, k: &str) -> Option<&Value> {
        match self.own_pos(k) {
            Some(i) => Some(&self.own[i].1),
            None => self.base_get(k),
        }
    }

    /// True when `k` has a value (null included).
    pub fn contains_key(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    /// Sets `k`, returning its previous value. The key is only copied when it is new.
    pub fn insert<K: AsRef<str> + Into<Key>>(&mut self, k: K, v: Value) -> Option<Value> {
        if let Some(i) = self.own_pos(k.as_ref()) {
            return Some(std::mem::replace(&mut self.own[i].1, v));
        }
        let old = self.base_get(k.as_ref()).cloned();
        if self.own.capacity() == 0 {
            self.own.reserve(8);
        }
        self.own.push((k.into(), v));
        old
    }

    /// Sets `k` without returning the previous value: the labels' layer below is not searched
    /// (a value set here hides it either way).
    fn set<K: AsRef<str> + Into<Key>>(&mut self, k: K, v: Value) {
        if let Some(i) = self.own_pos(k.as_ref()) {
            self.own[i].1 = v;
            return;
        }
        if self.own.capacity() == 0 {
            self.own.reserve(8);
        }
        self.own.push((k.into(), v));
    }

    /// Sets `k`, a name fixed in the code: never allocates the key.
    pub fn insert_static(&mut self, k: &'static str, v: Value) {
        self.set(StaticKey(k), v)
    }

    /// Sets `k`, a name shared with a stage's config: never allocates the key.
    pub fn insert_shared(&mut self, k: &Arc<str>, v: Value) {
        self.set(SharedKey(k), v)
    }

    /// Mutable access to the value of `k`.
    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        let i = match self.own_pos(k) {
            Some(i) => i,
            None => {
                let v = self.base_get(k)?.clone();
                self.own.push((Key::Owned(k.to_string()), v));
                self.own.len() - 1
            }
        };
        Some(&mut self.own[i].1)
    }

    /// Removes `k`, returning its value.
    pub fn remove(&mut self, k: &str) -> Option<Value> {
        if self.base_get(k).is_some() {
            self.materialize();
        }
        let i = self.own_pos(k)?;
        Some(self.own.remove(i).1)
    }

    /// Copies the base layer into the own one.
    fn materialize(&mut self) {
        if let Some(b) = self.base.take() {
            for (k, v) in &b.pairs {
                if self.own_pos(k).is_none() {
                    self.own.push((Key::Owned(k.clone()), v.clone()));
                }
            }
        }
    }

    /// Every key and value (stage-set values first, then the labels' not overridden).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        let own = self.own.iter().map(|(k, v)| (k.as_str(), v));
        let base = self
            .base
            .iter()
            .flat_map(|b| b.pairs.iter())
            .filter(|(k, _)| self.own_pos(k).is_none())
            .map(|(k, v)| (k.as_str(), v));
        own.chain(base)
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(k, _)| k)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.own.is_empty() && self.base.as_ref().is_none_or(|b| b.pairs.is_empty())
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.own.clear();
        self.base = None;
    }

    /// Promtail's copy of the labels into the map at the start of a pipeline run: every label's
    /// value replaces the key of its name. `cache` shares the copy between a stream's entries.
    pub fn copy_labels(&mut self, labels: &Labels, cache: Option<&mut LabelValuesCache>) {
        if self.own.is_empty() && self.base.is_none() {
            if let Some(cache) = cache {
                self.base = Some(cache.get(labels));
                return;
            }
        }
        if self.base.as_ref().is_some_and(|b| b.labels.ptr_eq(labels))
            && self.own.iter().all(|(k, _)| labels.get(k).is_none())
        {
            return;
        }
        for (k, v) in labels.iter() {
            match self.get(k) {
                Some(Value::Str(s)) if s == v => {}
                _ => {
                    self.insert(k, Value::Str(v.to_string()));
                }
            }
        }
    }
}

/// A `&'static str` key for [`Extracted::insert`] (no allocation).
struct StaticKey(&'static str);

impl AsRef<str> for StaticKey {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl From<StaticKey> for Key {
    fn from(k: StaticKey) -> Self {
        Key::Static(k.0)
    }
}

/// A shared key for [`Extracted::insert`] (a reference count, no allocation).
struct SharedKey<'a>(&'a Arc<str>);

impl AsRef<str> for SharedKey<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl From<SharedKey<'_>> for Key {
    fn from(k: SharedKey<'_>) -> Self {
        Key::Shared(Arc::clone(k.0))
    }
}

impl PartialEq for Extracted {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl std::ops::Index<&str> for Extracted {
    type Output = Value;

    fn index(&self, k: &str) -> &Value {
        match self.get(k) {
            Some(v) => v,
            None => panic!("no extracted value {k:?}"),
        }
    }
}

impl<K: AsRef<str> + Into<Key>> FromIterator<(K, Value)> for Extracted {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut x = Extracted::default();
        for (k, v) in iter {
            x.insert(k, v);
        }
        x
    }
}

impl gocompat::logql::LabelSet for Labels {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// One log entry in flight.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The stream's labels (a stage may change them).
    pub labels: Labels,
    /// Values extracted by parsing stages.
    pub extracted: Extracted,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: i64,
    /// The log line.
    pub line: String,
    /// Structured metadata pairs, in the order the stages set them.
    pub structured_metadata: Vec<(String, String)>,
    /// Delivery tokens of the lines this entry carries (several after multiline joins).
    pub acks: SmallVec<[Ack; 1]>,
}

impl Entry {
    /// A fresh entry with no extracted values or metadata.
    pub fn new(labels: Labels, timestamp: i64, line: String) -> Self {
        Entry {
            labels,
            extracted: Extracted::default(),
            timestamp,
            line,
            structured_metadata: Vec::new(),
            acks: SmallVec::new(),
        }
    }
}

pub use gocompat::time::now_nanos;

/// Entry vectors kept for reuse. Chunks of entries flow from a reader through the pipeline to
/// the clients, a few hundred entries (tens of KB) each; without the pool every hop allocates a
/// fresh vector and the allocator faults its pages in again.
/// Vectors kept: enough for the hops of a busy job to find one (vectors in flight are not here).
static CHUNKS: crate::core::pool::Pool<Vec<Entry>> = crate::core::pool::Pool::new(8);
/// Largest capacity kept (entries), so one huge block does not pin its vector for good.
const CHUNK_MAX_CAPACITY: usize = 8192;

/// An empty chunk with room for `n` entries, from the pool when it has one.
pub fn chunk(n: usize) -> Vec<Entry> {
    let mut v = CHUNKS.take().unwrap_or_default();
    v.reserve(n);
    v
}

/// Gives a chunk's vector back to the pool (dropping any entries still in it).
pub fn recycle(mut v: Vec<Entry>) {
    if v.capacity() != 0 && v.capacity() <= CHUNK_MAX_CAPACITY {
        v.clear();
        CHUNKS.give(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_key_matches_promtail() {
        let l: Labels = [
            ("msg", "say \"hi\" \\ é 😀"),
            ("a", "esc\n\ttab"),
            ("__tenant_id__", "t"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            l.stream_key(),
            r#"{a="esc\n\ttab", msg="say \"hi\" \\ é 😀"}"#
        );
    }

    /// Static and shared keys behave as owned ones: a second insert replaces, a label of the same
    /// name in the base layer is overridden, and iteration sees each key once.
    #[test]
    fn static_and_shared_keys_are_keys_like_any() {
        let labels: Labels = [("stream", "from-label"), ("job", "j")]
            .into_iter()
            .collect();
        let mut cache = LabelValuesCache::default();
        let mut x = Extracted::default();
        x.copy_labels(&labels, Some(&mut cache));
        let shared: Arc<str> = Arc::from("level");
        assert_eq!(x.get("stream"), Some(&Value::Str("from-label".into())));
        x.insert_static("stream", Value::Str("stdout".into()));
        x.insert_shared(&shared, Value::Str("info".into()));
        assert_eq!(x.get("level"), Some(&Value::Str("info".into())));
        assert_eq!(
            x.insert("level", Value::Str("warn".into())),
            Some(Value::Str("info".into()))
        );
        assert_eq!(x.get("stream"), Some(&Value::Str("stdout".into())));
        assert_eq!(x.get("level"), Some(&Value::Str("warn".into())));
        let mut keys: Vec<&str> = x.keys().collect();
        keys.sort_unstable();
        assert_eq!(keys, ["job", "level", "stream"]);
        assert_eq!(x.remove("stream"), Some(Value::Str("stdout".into())));
        assert_eq!(x.get("stream"), None);
    }

    #[test]
    fn go_float_format() {
        assert_eq!(format_go_float(1e21), "1000000000000000000000");
        assert_eq!(format_go_float(1e-7), "0.0000001");
        assert_eq!(format_go_float(1.50), "1.5");
        assert_eq!(format_go_float(-0.0), "-0");
        assert_eq!(
            format_go_float(1700000000123456789.0),
            "1700000000123456800"
        );
    }
}
