//! Time to the first complete target set for 5,000 pods, CPU time and peak RSS.
//!
//! `cargo run --release --features testing --example kubesd_bench [-- PODS CONTAINERS]`
//!
//! The fake API server runs in a child process (this same binary with
//! `--serve`), so the figures are the discovery's alone.

use kubesd::testing::{fixtures, FakeApiServer, FakeOptions};
use kubesd::{Discovery, Options, Role, SdConfig};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";

/// System allocator that counts live and peak heap bytes.
struct Counting;
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        // SAFETY: forwarded to the system allocator with the caller's layout.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `p` was allocated by `alloc` above with layout `l`.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn mb(b: usize) -> f64 {
    b as f64 / 1e6
}

fn proc_status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
        .unwrap_or_default()
}

/// User + system CPU time of this process (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    // After "comm)": state is field 3 overall, utime 14 and stime 15.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11).and_then(|x| x.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    Duration::from_millis((utime + stime) * 10)
}

async fn serve(pods: usize, containers: usize) {
    let srv = FakeApiServer::start(FakeOptions {
        token: Some(TOKEN.into()),
        tls: false,
    })
    .await
    .expect("server");
    for i in 0..pods {
        srv.apply(fixtures::pod(
            &format!("ns{}", i % 20),
            &format!("pod-{i}"),
            &format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            containers,
        ));
    }
    println!("{}", srv.url());
    std::io::stdout().flush().ok();
    // Serve until the parent closes our stdin.
    tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
    })
    .await
    .ok();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        let pods = args.get(2).and_then(|x| x.parse().ok()).unwrap_or(5000);
        let containers = args.get(3).and_then(|x| x.parse().ok()).unwrap_or(3);
        serve(pods, containers).await;
        return;
    }
    let pods: usize = args.get(1).and_then(|x| x.parse().ok()).unwrap_or(5000);
    let containers: usize = args.get(2).and_then(|x| x.parse().ok()).unwrap_or(3);
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .args(["--serve", &pods.to_string(), &containers.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("url");
    let url = url.trim().to_string();

    let rss_start = proc_status("VmRSS:");
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let mut cfg = SdConfig::new(Role::Pod);
    cfg.api_server = url.clone();
    cfg.http.bearer_token = TOKEN.into();
    let d = Discovery::new(cfg, Options::default())
        .await
        .expect("discovery");
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let h = tokio::spawn(d.run(tx));
    let first = rx.recv().await.expect("first update");
    let elapsed = t0.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let targets: usize = first.iter().map(|g| g.targets.len()).sum();
    println!("pods={pods} containers/pod={containers} url={url}");
    println!(
        "first complete target set: {} groups, {} targets in {:.3} s",
        first.len(),
        targets,
        elapsed.as_secs_f64()
    );
    println!("cpu time (user+sys): {:.3} s", cpu.as_secs_f64());
    let live_with = LIVE.load(std::sync::atomic::Ordering::Relaxed);
    drop(first);
    let live_without = LIVE.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "heap: peak {:.1} MB; live {:.1} MB with the update held, of which the update {:.1} MB; discovery state {:.1} MB",
        mb(PEAK.load(std::sync::atomic::Ordering::Relaxed)),
        mb(live_with),
        mb(live_with.saturating_sub(live_without)),
        mb(live_without)
    );
    println!(
        "VmRSS at start: {rss_start}; VmRSS now: {}; VmHWM (peak): {}",
        proc_status("VmRSS:"),
        proc_status("VmHWM:")
    );
    assert_eq!(targets, pods * containers, "incomplete target set");
    h.abort();
    drop(child.stdin.take());
    let _ = child.wait();
}
