//! Series that go away, kept apart from the exporter's registry (which cannot delete a series).
//!
//! * **Target series** ([`Scope::Target`]): `promtail_read_bytes_total`, `promtail_file_bytes_total`,
//!   `promtail_read_lines_total` and ferrotail's own per-path and per-container series. Promtail
//!   deletes a tailer's `path` series when the tailer stops; here [`forget`] removes every target
//!   series carrying a label value once no handle to it is held any more (a reader holds its
//!   handles while it runs, and its [`Forget`] guard forgets its path when it is dropped).
//! * **Idle series** ([`Scope::Idle`]): the `metrics` stage's series, removed once they have not
//!   been updated for the metric's `max_idle_duration`, checked on every scrape, as Promtail's
//!   metric vectors prune themselves on collection.
//!
//! [`Recorder`] wraps the exporter's recorder: registrations of a declared family come here,
//! everything else goes to the exporter. `/metrics` appends [`render`] to the exporter's text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

/// How a family's series end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Removed by [`forget`] (the target stopped) once no handle is held.
    Target,
    /// Removed after this long without an update.
    Idle(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

struct Slot {
    kind: Kind,
    cell: Arc<AtomicU64>,
    touched: Instant,
}

#[derive(Default)]
struct Store {
    families: RwLock<HashMap<String, Scope>>,
    help: RwLock<HashMap<String, String>>,
    series: Mutex<HashMap<Key, Slot>>,
    last_sweep: Mutex<Option<Instant>>,
}

static STORE: LazyLock<Store> = LazyLock::new(Store::default);

/// True once a family was declared at run time (a `metrics` stage): until then, registrations
/// of other names skip the families' lock (the recorder sees every registration of the process).
static DECLARED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn series() -> MutexGuard<'static, HashMap<Key, Slot>> {
    STORE.series.lock().unwrap_or_else(|e| e.into_inner())
}

/// Declares that the series named `name` end as `scope` says. Declaring again replaces the scope
/// (a reloaded `metrics` stage with another `max_idle_duration`).
pub fn declare(name: &str, scope: Scope) {
    let mut f = STORE.families.write().unwrap_or_else(|e| e.into_inner());
    f.insert(name.to_string(), scope);
    DECLARED.store(true, Ordering::Release);
}

fn scope_of(name: &str) -> Option<Scope> {
    if super::metrics::TARGET_SERIES.contains(&name) {
        return Some(Scope::Target);
    }
    if !DECLARED.load(Ordering::Acquire) {
        return None;
    }
    STORE
        .families
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .copied()
}

/// Removes the target series with label `label` = `value` that no handle holds (see the module
/// documentation).
pub fn forget(label: &str, value: &str) {
    series().retain(|key, slot| {
        let matches = key.labels().any(|l| l.key() == label && l.value() == value);
        !(matches && Arc::strong_count(&slot.cell) == 1 && is_target(key.name()))
    });
}

fn is_target(name: &str) -> bool {
    scope_of(name) == Some(Scope::Target)
}

/// Removes the series `name` with label `label` = `value`, held or not (a series kept by a store
/// rather than by a handle, such as the acknowledged offset of a file no longer tracked).
pub fn remove(name: &str, label: &str, value: &str) {
    series().retain(|key, _| {
        !(key.name() == name && key.labels().any(|l| l.key() == label && l.value() == value))
    });
}

/// Forgets its label value when dropped: the last field of a holder of target series, so that
/// the holder's handles are dropped first.
#[derive(Debug)]
pub struct Forget {
    label: &'static str,
    value: String,
}

impl Forget {
    /// A guard for `label` = `value`.
    pub fn new(label: &'static str, value: String) -> Self {
        Forget { label, value }
    }
}

impl Drop for Forget {
    fn drop(&mut self) {
        forget(self.label, &self.value);
    }
}

/// Removes idle series idle for longer than their family allows at `now`.
pub fn sweep(now: Instant) {
    if !DECLARED.load(Ordering::Acquire) {
        return;
    }
    let families = STORE
        .families
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    series().retain(|key, slot| match families.get(key.name()) {
        Some(Scope::Idle(max)) => now.saturating_duration_since(slot.touched) < *max,
        _ => true,
    });
    *STORE.last_sweep.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
}

/// The number of series held here named `name` (tests, and the soak checks).
pub fn count(name: &str) -> usize {
    series().keys().filter(|k| k.name() == name).count()
}

/// Appends the series held here in the exposition format the exporter writes (a `# HELP` line
/// when described, a `# TYPE` line, the samples, a blank line per family), after a sweep.
pub fn render(out: &mut String) {
    sweep(Instant::now());
    let help = STORE.help.read().unwrap_or_else(|e| e.into_inner()).clone();
    let mut by_name: BTreeMap<String, (Kind, Vec<(String, String)>)> = BTreeMap::new();
    for (key, slot) in series().iter() {
        let bits = slot.cell.load(Ordering::Relaxed);
        let value = match slot.kind {
            Kind::Counter => bits.to_string(),
            Kind::Gauge => f64::from_bits(bits).to_string(),
        };
        let labels = key
            .labels()
            .map(|l| format!("{}=\"{}\"", l.key(), escape_label(l.value())))
            .collect::<Vec<_>>()
            .join(",");
        by_name
            .entry(key.name().to_string())
            .or_insert_with(|| (slot.kind, Vec::new()))
            .1
            .push((labels, value));
    }
    for (name, (kind, mut samples)) in by_name {
        samples.sort();
        if let Some(h) = help.get(&name) {
            let _ = writeln!(
                out,
                "# HELP {name} {}",
                h.replace('\\', "\\\\").replace('\n', "\\n")
            );
        }
        let t = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# TYPE {name} {t}");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
        out.push('\n');
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn register(key: &Key, kind: Kind, scope: Scope) -> Arc<AtomicU64> {
    let now = Instant::now();
    let cell = {
        let mut s = series();
        let slot = s.entry(key.clone()).or_insert_with(|| Slot {
            kind,
            cell: Arc::new(AtomicU64::new(if kind == Kind::Gauge {
                0f64.to_bits()
            } else {
                0
            })),
            touched: now,
        });
        // A name registered as both kinds keeps its first one; the other handle still works.
        slot.touched = now;
        Arc::clone(&slot.cell)
    };
    // Idle series are swept on scrapes, and at most every second on registration, so a process
    // nobody scrapes stays bounded too.
    if let Scope::Idle(_) = scope {
        let due = STORE
            .last_sweep
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
        if due {
            sweep(now);
        }
    }
    cell
}

/// The process recorder: declared families here, the rest to `inner`.
pub struct Recorder<R> {
    inner: R,
}

impl<R> Recorder<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Recorder { inner }
    }
}

fn keep_help(key: &KeyName, description: &SharedString) {
    STORE
        .help
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.as_str().to_string(), description.to_string());
}

impl<R: metrics::Recorder> metrics::Recorder for Recorder<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        keep_help(&key, &description);
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        keep_help(&key, &description);
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match scope_of(key.name()) {
            Some(scope) => Counter::from_arc(register(key, Kind::Counter, scope)),
            None => self.inner.register_counter(key, metadata),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        match scope_of(key.name()) {
            Some(scope) => Gauge::from_arc(register(key, Kind::Gauge, scope)),
            None => self.inner.register_gauge(key, metadata),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(key, metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> Recorder<metrics::NoopRecorder> {
        Recorder::new(metrics::NoopRecorder)
    }

    #[test]
    fn a_target_series_goes_when_its_holder_is_dropped() {
        declare("test_series_target", Scope::Target);
        let r = recorder();
        metrics::with_local_recorder(&r, || {
            let held = metrics::counter!("test_series_target", "path" => "/a");
            held.increment(3);
            metrics::counter!("test_series_target", "path" => "/b").increment(1);
            assert_eq!(count("test_series_target"), 2);
            // "/a" is still held: forgetting it keeps it.
            forget("path", "/a");
            assert_eq!(count("test_series_target"), 2);
            let guard = Forget::new("path", "/a".into());
            drop(held);
            drop(guard);
            assert_eq!(count("test_series_target"), 1);
            forget("path", "/b");
            assert_eq!(count("test_series_target"), 0);
        });
    }

    #[test]
    fn idle_series_expire_after_their_duration() {
        declare("test_series_idle", Scope::Idle(Duration::from_secs(300)));
        let r = recorder();
        metrics::with_local_recorder(&r, || {
            metrics::gauge!("test_series_idle", "tenant" => "x").set(1.5);
            metrics::gauge!("test_series_idle", "tenant" => "y").set(2.0);
        });
        let now = Instant::now();
        sweep(now + Duration::from_secs(299));
        assert_eq!(count("test_series_idle"), 2);
        sweep(now + Duration::from_secs(301));
        assert_eq!(count("test_series_idle"), 0);
    }

    #[test]
    fn renders_like_the_exporter() {
        declare("test_series_render", Scope::Target);
        let r = recorder();
        metrics::with_local_recorder(&r, || {
            metrics::describe_gauge!("test_series_render", "Help text.");
            let g = metrics::gauge!("test_series_render", "path" => "/x\"y");
            g.set(2.5);
            let mut out = String::new();
            render(&mut out);
            assert!(
                out.contains("# HELP test_series_render Help text.\n# TYPE test_series_render gauge\ntest_series_render{path=\"/x\\\"y\"} 2.5\n"),
                "{out}"
            );
        });
    }
}
