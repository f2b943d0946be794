//! The HTTP server: `/metrics`, `/ready`, `/targets`, `/` (redirect), `/reload` when enabled,
//! all under `http_path_prefix`. Anything else is 404, as Promtail answers. Reads shared state
//! through handles only. `listen` opens the socket (network, TLS, connection limit, timeouts).

pub mod listen;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::mpsc;

use crate::source::Registry;

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    /// Metrics renderer (None when `register_instrumentation` is off).
    pub metrics: Option<PrometheusHandle>,
    /// Targets.
    pub registry: Arc<Registry>,
    /// `health_check_target: false` makes `/ready` always 200.
    pub health_check_target: bool,
    /// Reload requests (answered on the oneshot), when `enable_runtime_reload` is set.
    pub reload: Option<mpsc::Sender<tokio::sync::oneshot::Sender<Result<(), String>>>>,
    /// `external_url` path prefix for the `/` redirect.
    pub external_path: String,
    /// `http_path_prefix`: every route is under it, as dskit's router puts them.
    pub path_prefix: String,
}

/// `http_path_prefix` as a route prefix: `""` or `/a/b` (a leading `/` added, trailing ones
/// removed).
pub fn route_prefix(prefix: &str) -> String {
    let p = prefix.trim_end_matches('/');
    if p.is_empty() || p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// The router.
pub fn router(state: AppState) -> Router {
    let p = route_prefix(&state.path_prefix);
    let mut r = Router::new()
        .route(&format!("{p}/"), get(root))
        .route(&format!("{p}/ready"), get(ready))
        .route(&format!("{p}/targets"), get(targets));
    if state.metrics.is_some() {
        r = r.route(&format!("{p}/metrics"), get(metrics));
    }
    if state.reload.is_some() {
        r = r.route(&format!("{p}/reload"), any(reload));
    }
    r.fallback(not_found).with_state(state)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

async fn root(State(s): State<AppState>) -> Response {
    let base = if s.external_path.trim_end_matches('/').is_empty() {
        route_prefix(&s.path_prefix)
    } else {
        s.external_path.trim_end_matches('/').to_string()
    };
    let location = format!("{base}/targets");
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

async fn ready(State(s): State<AppState>) -> Response {
    if !s.health_check_target || s.registry.ready() {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Ready",
        )
            .into_response();
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        "Not ready: Unable to find any logs to tail. Please verify permissions, volumes, scrape_config, etc.\n",
    )
        .into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    crate::telemetry::metrics::collect_process();
    let body = s
        .metrics
        .as_ref()
        .map(|h| {
            let mut text = h.render();
            crate::telemetry::series::render(&mut text);
            crate::pipeline::stages::metrics::to_go_exposition(&text)
        })
        .unwrap_or_default();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn targets(State(s): State<AppState>) -> Response {
    let mut html = String::from("<!DOCTYPE html>\n<html><head><title>ferrotail targets</title></head><body>\n<h1>Targets</h1>\n");
    let mut by_job: std::collections::BTreeMap<String, Vec<crate::source::TargetView>> =
        Default::default();
    for t in s.registry.snapshot() {
        by_job.entry(t.job.clone()).or_default().push(t);
    }
    for (job, list) in by_job {
        html.push_str(&format!("<h2>{} ({} active)</h2>\n<table border=\"1\">\n<tr><th>Type</th><th>Labels</th><th>Details</th></tr>\n", html_escape(&job), list.len()));
        for t in list {
            let mut details = String::new();
            for (path, st) in &t.files {
                details.push_str(&format!(
                    "{} position={} size={} running={}<br>",
                    html_escape(path),
                    st.read_offset.load(Ordering::Relaxed),
                    st.size.load(Ordering::Relaxed),
                    st.running.load(Ordering::Relaxed)
                ));
            }
            details.push_str(&html_escape(&t.details));
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                t.kind,
                html_escape(&t.labels.display_string()),
                details
            ));
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

async fn reload(State(s): State<AppState>) -> Response {
    let Some(tx) = s.reload else {
        return not_found().await;
    };
    let (otx, orx) = tokio::sync::oneshot::channel();
    if tx.send(otx).await.is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to reload config: shutting down\n",
        )
            .into_response();
    }
    match orx.await {
        Ok(Ok(())) => (StatusCode::OK, "").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to reload config: no answer\n",
        )
            .into_response(),
    }
}
