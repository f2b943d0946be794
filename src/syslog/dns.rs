//! Reverse DNS of a peer, as Go's `net.LookupAddr` gives it to Promtail's
//! `__syslog_connection_hostname`: the name with a trailing dot, empty when there is none.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// How long a lookup may hold up a UDP peer's first message.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an answer is reused (a burst of connections from one peer asks once).
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Answers kept.
const CACHE_CAP: usize = 4096;
/// Lookups running at once (each holds a blocking thread).
const CONCURRENT: usize = 4;

type Cache = Mutex<HashMap<IpAddr, (String, Instant)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cached(ip: &IpAddr) -> Option<String> {
    let c = cache().lock().unwrap_or_else(|e| e.into_inner());
    c.get(ip)
        .filter(|(_, at)| at.elapsed() < CACHE_TTL)
        .map(|(n, _)| n.clone())
}

/// One turn per address: a burst of connections from one peer waits for the first one's
/// answer instead of starting a lookup (and a blocking thread) each.
type Turns = Mutex<HashMap<IpAddr, Arc<tokio::sync::Mutex<()>>>>;

fn turns() -> &'static Turns {
    static TURNS: OnceLock<Turns> = OnceLock::new();
    TURNS.get_or_init(Default::default)
}

/// The peer's name (`localhost.`), or `""`; never blocks the runtime.
pub async fn lookup(ip: IpAddr) -> String {
    if let Some(n) = cached(&ip) {
        return n;
    }
    let turn = {
        let mut t = turns().lock().unwrap_or_else(|e| e.into_inner());
        Turn(ip, Arc::clone(t.entry(ip).or_default()))
    };
    lookup_in_turn(ip, &turn.1).await
}

/// A place in an address's turn; the last one out (even a cancelled lookup) forgets the turn.
struct Turn(IpAddr, Arc<tokio::sync::Mutex<()>>);

impl Drop for Turn {
    fn drop(&mut self) {
        let mut t = turns().lock().unwrap_or_else(|e| e.into_inner());
        let ours = t.get(&self.0).is_some_and(|a| Arc::ptr_eq(a, &self.1));
        if ours && Arc::strong_count(&self.1) <= 2 {
            t.remove(&self.0);
        }
    }
}

async fn lookup_in_turn(ip: IpAddr, turn: &tokio::sync::Mutex<()>) -> String {
    static PERMITS: Semaphore = Semaphore::const_new(CONCURRENT);
    let Ok(_turn) = tokio::time::timeout(LOOKUP_TIMEOUT, turn.lock()).await else {
        return String::new();
    };
    if let Some(n) = cached(&ip) {
        return n;
    }
    let Ok(Ok(_permit)) = tokio::time::timeout(LOOKUP_TIMEOUT, PERMITS.acquire()).await else {
        return String::new();
    };
    let task = tokio::task::spawn_blocking(move || reverse(ip));
    let name = match tokio::time::timeout(LOOKUP_TIMEOUT, task).await {
        Ok(Ok(name)) => name,
        _ => return String::new(),
    };
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if c.len() >= CACHE_CAP {
        c.clear();
    }
    c.insert(ip, (name.clone(), Instant::now()));
    name
}

fn reverse(ip: IpAddr) -> String {
    let mut host = [0 as libc::c_char; 1025];
    let rc = match ip {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_in is plain data; zeroed is a valid value.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(v4.octets()),
            };
            // SAFETY: `sa` and `host` outlive the call, whose lengths are theirs.
            unsafe {
                libc::getnameinfo(
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
        IpAddr::V6(v6) => {
            // SAFETY: sockaddr_in6 is plain data; zeroed is a valid value.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_addr = libc::in6_addr {
                s6_addr: v6.octets(),
            };
            // SAFETY: as above.
            unsafe {
                libc::getnameinfo(
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
    };
    if rc != 0 {
        return String::new();
    }
    // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    if name.is_empty() || name.ends_with('.') {
        name
    } else {
        name + "."
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_has_a_name() {
        let n = super::reverse("127.0.0.1".parse().unwrap());
        assert!(n.is_empty() || n.ends_with('.'), "{n}");
    }
}
