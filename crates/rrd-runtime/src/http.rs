//! The HTTP side of a running rrd: `/healthz`, `/readyz`, `/metrics`
//! (Prometheus), `/status` (JSON, read by `rrd status`) and `POST /apply`
//! (`rrd apply --allow-mass-removal`).

use std::net::SocketAddr;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::reconciler::{Control, ControlHandle};

/// The router, separate from serving so tests can call it directly.
pub fn router(handle: ControlHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/apply", post(apply))
        .with_state(handle)
}

/// Bind `listen` and serve until the task is dropped.
pub async fn serve(listen: SocketAddr, handle: ControlHandle) -> std::io::Result<()> {
    serve_on(tokio::net::TcpListener::bind(listen).await?, handle).await
}

/// Serve on an already bound listener (bind errors surface at start-up).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    handle: ControlHandle,
) -> std::io::Result<()> {
    axum::serve(listener, router(handle)).await
}

async fn healthz(State(h): State<ControlHandle>) -> impl IntoResponse {
    if h.status().healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

async fn readyz(State(h): State<ControlHandle>) -> impl IntoResponse {
    let s = h.status();
    if s.ready() {
        return (StatusCode::OK, "ready\n".to_string());
    }
    let reason = if !s.source.synced {
        "waiting for the first complete read of the datastore".to_string()
    } else if !s.source.connected {
        format!(
            "datastore unreachable: {}",
            s.source.last_error.unwrap_or_default()
        )
    } else if let Some(p) = &s.pending_mass_removal {
        format!("a change removing {} of {} sessions is held; confirm with `rrd apply --allow-mass-removal`", p.removes, p.held_sessions)
    } else if let Some(r) = &s.engine.rejected {
        format!("configuration rejected: {r}")
    } else if let Some(e) = &s.engine.last_error {
        format!("engine: {e}")
    } else if let Some(e) = &s.compute_error {
        e.clone()
    } else {
        "not yet applied".to_string()
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {reason}\n"),
    )
}

async fn metrics(State(h): State<ControlHandle>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&h.status()),
    )
}

async fn status(State(h): State<ControlHandle>) -> impl IntoResponse {
    Json(h.status())
}

#[derive(Deserialize)]
struct ApplyQuery {
    #[serde(default)]
    allow_mass_removal: bool,
}

async fn apply(State(h): State<ControlHandle>, Query(q): Query<ApplyQuery>) -> impl IntoResponse {
    let control = if q.allow_mass_removal {
        Control::AllowMassRemoval
    } else {
        Control::ReconcileNow
    };
    if h.send(control).await {
        (StatusCode::ACCEPTED, "reconcile requested\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "reconciler not running\n")
    }
}
