//! Which proxy a request goes through: Prometheus' `ProxyConfig.Proxy` over Go's
//! `golang.org/x/net/http/httpproxy` (the `NO_PROXY` rules, the environment variables).

use std::net::IpAddr;

use crate::HttpClientConfig;

/// The proxy a request goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's URL, without user information.
    pub uri: http::Uri,
    /// Headers for the proxy's `CONNECT`: `Proxy-Authorization` from the URL's user information
    /// (as Go's transport does) and `proxy_connect_header`.
    pub connect_headers: http::HeaderMap,
}

impl HttpClientConfig<'_> {
    /// The proxy for a request to `url`, or `None` to connect directly:
    /// * `proxy_from_environment`: `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones
    ///   (upper case first, then lower case), except hosts matching `NO_PROXY`, `localhost` and
    ///   loopback addresses;
    /// * `proxy_url` without `no_proxy`: every request;
    /// * `proxy_url` with `no_proxy`: every request except to hosts matching `no_proxy`,
    ///   `localhost` and loopback addresses (Go's rules: `*`, IP, CIDR, `host`, `.domain`,
    ///   `*.domain`, each with an optional `:port`; a domain matches its subdomains).
    pub fn proxy_for(&self, url: &http::Uri) -> Result<Option<Proxy>, String> {
        self.proxy_for_env(url, &|k| std::env::var(k).ok())
    }

    pub(crate) fn proxy_for_env(
        &self,
        url: &http::Uri,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, String> {
        let https = url.scheme_str() == Some("https");
        let chosen = if self.proxy_from_environment {
            let any = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()));
            let proxy = if https {
                any(&["HTTPS_PROXY", "https_proxy"])
            } else {
                if any(&["HTTP_PROXY", "http_proxy"]).is_some() && env("REQUEST_METHOD").is_some() {
                    return Err("refusing to use HTTP_PROXY value in CGI environment; see golang.org/s/cgihttpproxy".into());
                }
                any(&["HTTP_PROXY", "http_proxy"])
            };
            let no_proxy = any(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
            match proxy {
                Some(p) if use_proxy(&no_proxy, url) => Some(p),
                _ => None,
            }
        } else if self.proxy_url.is_empty() {
            None
        } else if self.no_proxy.is_empty() || use_proxy(self.no_proxy, url) {
            Some(self.proxy_url.to_string())
        } else {
            None
        };
        let Some(raw) = chosen else { return Ok(None) };
        let parsed = parse_proxy(&raw)?;
        let mut connect_headers = http::HeaderMap::new();
        if let Some(auth) = parsed.1 {
            connect_headers.insert(http::header::PROXY_AUTHORIZATION, auth);
        }
        for (name, values) in self.proxy_connect_header.into_iter().flatten() {
            let n = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("proxy_connect_header: invalid header name {name:?}: {e}"))?;
            for v in values {
                let v = http::HeaderValue::from_str(v).map_err(|e| {
                    format!("proxy_connect_header: invalid value for {name:?}: {e}")
                })?;
                connect_headers.append(n.clone(), v);
            }
        }
        Ok(Some(Proxy {
            uri: parsed.0,
            connect_headers,
        }))
    }
}

/// Go's `parseProxy`: a URL, `http://` assumed when the scheme is missing; the user information
/// becomes a `Basic` `Proxy-Authorization`.
fn parse_proxy(raw: &str) -> Result<(http::Uri, Option<http::HeaderValue>), String> {
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let bad = |e: &dyn std::fmt::Display| format!("invalid proxy URL {raw:?}: {e}");
    let uri: http::Uri = with_scheme.parse().map_err(|e| bad(&e))?;
    let authority = uri.authority().ok_or_else(|| bad(&"no host"))?;
    let (userinfo, hostport) = match authority.as_str().rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority.as_str()),
    };
    let scheme = uri.scheme_str().unwrap_or("http");
    let clean: http::Uri = format!("{scheme}://{hostport}")
        .parse()
        .map_err(|e| bad(&e))?;
    let auth = match userinfo {
        Some(u) => {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode(percent_decode(u));
            Some(http::HeaderValue::from_str(&format!("Basic {token}")).map_err(|e| bad(&e))?)
        }
        None => None,
    };
    Ok((clean, auth))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// httpproxy's `useProxy`: false when the request's host is `localhost`, a loopback address, or
/// matches a `NO_PROXY` entry.
fn use_proxy(no_proxy: &str, url: &http::Uri) -> bool {
    let Some(host) = url.host() else { return true };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = url
        .port_u16()
        .unwrap_or(if url.scheme_str() == Some("https") {
            443
        } else {
            80
        })
        .to_string();
    if host == "localhost" {
        return false;
    }
    let ip: Option<IpAddr> = host.parse().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    for entry in no_proxy.split(',') {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            continue;
        }
        if entry == "*" {
            return false;
        }
        if let Some((net, bits)) = entry.split_once('/') {
            if let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u8>()) {
                if ip.is_some_and(|ip| cidr_contains(net, bits, ip)) {
                    return false;
                }
                continue;
            }
        }
        let (phost, pport) = split_host_port(&entry);
        if phost.is_empty() {
            continue;
        }
        let port_ok = pport.is_empty() || pport == port;
        if let Ok(pip) = phost.parse::<IpAddr>() {
            if ip == Some(pip) && port_ok {
                return false;
            }
            continue;
        }
        let phost = phost.strip_prefix('*').unwrap_or(phost);
        let (suffix, match_host) = match phost.strip_prefix('.') {
            Some(_) => (phost.to_string(), false),
            None => (format!(".{phost}"), true),
        };
        if (host.ends_with(&suffix) || (match_host && host == suffix[1..])) && port_ok {
            return false;
        }
    }
    true
}

/// Go's `net.SplitHostPort` as httpproxy uses it on a `NO_PROXY` entry: `host:port` or
/// `[v6]:port` split, anything else is all host.
fn split_host_port(entry: &str) -> (&str, &str) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            return (h, p);
        }
        return (rest.trim_end_matches(']'), "");
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (entry, ""),
    }
}

fn cidr_contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::HttpClientSettings;
    use std::collections::BTreeMap;

    fn proxied(no_proxy: &str, url: &str) -> bool {
        let s = HttpClientSettings {
            proxy_url: "http://proxy:3128".into(),
            no_proxy: no_proxy.into(),
            ..Default::default()
        };
        s.config()
            .proxy_for_env(&url.parse().unwrap(), &|_| None)
            .unwrap()
            .is_some()
    }

    #[test]
    fn proxy_url_alone_proxies_everything_even_localhost() {
        assert!(proxied("", "https://k8s.example:6443"));
        assert!(proxied("", "http://127.0.0.1:8080"));
    }

    #[test]
    fn no_proxy_follows_go_httpproxy() {
        assert!(!proxied("k8s.example", "https://k8s.example:6443"));
        assert!(!proxied("example", "https://k8s.example:6443"));
        assert!(!proxied(".example", "https://k8s.example"));
        assert!(proxied(".example", "https://example"));
        assert!(!proxied("*.example", "https://a.example"));
        assert!(!proxied("x, 10.0.0.0/8", "https://10.1.2.3:6443"));
        assert!(proxied("10.0.0.0/8", "https://11.1.2.3:6443"));
        assert!(!proxied("10.1.2.3", "https://10.1.2.3:6443"));
        assert!(!proxied("k8s.example:6443", "https://k8s.example:6443"));
        assert!(proxied("k8s.example:443", "https://k8s.example:6443"));
        assert!(!proxied("k8s.example:443", "https://k8s.example"));
        assert!(!proxied("[::1]:6443,[fd00::1]", "https://[fd00::1]:6443"));
        assert!(!proxied("*", "https://anything"));
        assert!(proxied("other", "https://k8s.example"));
        // With no_proxy set, Go's rules also keep localhost and loopback direct.
        assert!(!proxied("other", "http://localhost:8080"));
        assert!(!proxied("other", "http://127.0.0.1:8080"));
    }

    #[test]
    fn the_environment_is_read_only_with_proxy_from_environment() {
        let env = |k: &str| match k {
            "HTTPS_PROXY" => Some("proxy.corp:3128".to_string()),
            "http_proxy" => Some("http://plain:80".to_string()),
            "NO_PROXY" => Some(".internal".to_string()),
            _ => None,
        };
        let on = HttpClientSettings {
            proxy_from_environment: true,
            ..Default::default()
        };
        let p = on
            .config()
            .proxy_for_env(&"https://k8s.example".parse().unwrap(), &env)
            .unwrap()
            .unwrap();
        assert_eq!(p.uri, "http://proxy.corp:3128/");
        let p = on
            .config()
            .proxy_for_env(&"http://k8s.example".parse().unwrap(), &env)
            .unwrap()
            .unwrap();
        assert_eq!(p.uri, "http://plain:80/");
        assert!(on
            .config()
            .proxy_for_env(&"https://api.internal".parse().unwrap(), &env)
            .unwrap()
            .is_none());
        let off = HttpClientSettings::default();
        assert!(off
            .config()
            .proxy_for_env(&"https://k8s.example".parse().unwrap(), &env)
            .unwrap()
            .is_none());
    }

    #[test]
    fn user_information_and_connect_headers_go_to_the_proxy() {
        let mut h = BTreeMap::new();
        h.insert(
            "X-Tenant".to_string(),
            vec!["a".to_string(), "b".to_string()],
        );
        let s = HttpClientSettings {
            proxy_url: "http://us%40er:p%3Ass@proxy:3128".into(),
            proxy_connect_header: h,
            ..Default::default()
        };
        let p = s
            .config()
            .proxy_for_env(&"https://k".parse().unwrap(), &|_| None)
            .unwrap()
            .unwrap();
        assert_eq!(p.uri, "http://proxy:3128/");
        use base64::Engine as _;
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("us@er:p:ss")
        );
        assert_eq!(
            p.connect_headers[http::header::PROXY_AUTHORIZATION],
            want.as_str()
        );
        let tenants: Vec<_> = p.connect_headers.get_all("x-tenant").iter().collect();
        assert_eq!(tenants, ["a", "b"]);
    }
}
