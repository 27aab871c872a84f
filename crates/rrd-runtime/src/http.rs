//! The HTTP side of a running rrd, on two listeners:
//!
//! * the scrape listener (`http.listen`, TCP): `/healthz`, `/readyz`,
//!   `/metrics` (Prometheus), `/status` (JSON) — read-only, safe to expose
//!   to a Prometheus server or a kubelet;
//! * the admin listener (`http.admin_socket`, a Unix socket only root can
//!   open): `/status` and `POST /apply` (`rrd status`, `rrd apply
//!   --allow-mass-removal`). Nothing that changes rrd's behaviour is served
//!   on the scrape port.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::{TcpListener, UnixListener};

use crate::reconciler::{Control, ControlHandle};

/// The read-only router of the scrape listener.
pub fn router(handle: ControlHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(handle)
}

/// The router of the admin socket: status and the mutating endpoints.
pub fn admin_router(handle: ControlHandle) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/apply", post(apply))
        .with_state(handle)
}

/// Serve the scrape endpoints on an already bound listener (bind errors
/// surface at start-up).
pub async fn serve_on(listener: TcpListener, handle: ControlHandle) -> std::io::Result<()> {
    axum::serve(listener, router(handle)).await
}

/// Why the admin socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum AdminSocketError {
    #[error("{path}: another rrd answers on this admin socket")]
    InUse { path: String },
    #[error("{path}: {source}")]
    Bind {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Bind the admin socket at `path`, readable and writable by its owner
/// only. A socket file nobody answers on (left by a killed rrd) is
/// replaced; one a running rrd answers on is refused.
pub async fn bind_admin(path: &Path) -> Result<UnixListener, AdminSocketError> {
    let shown = path.display().to_string();
    let bind_err = |source| AdminSocketError::Bind {
        path: shown.clone(),
        source,
    };
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(AdminSocketError::InUse { path: shown });
        }
        std::fs::remove_file(path).map_err(bind_err)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(bind_err)?;
    }
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(listener)
}

/// Serve the admin endpoints on a bound admin socket.
pub async fn serve_admin(listener: UnixListener, handle: ControlHandle) -> std::io::Result<()> {
    axum::serve(listener, admin_router(handle)).await
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
        format!(
            "a change removing {} and resetting {} of {} sessions{} is held; confirm with `rrd apply --allow-mass-removal`",
            p.removes,
            p.resets,
            p.held_sessions,
            if p.earlier_in_window > 0 {
                format!(" ({} more changed earlier within the window)", p.earlier_in_window)
            } else {
                String::new()
            }
        )
    } else if let Some(r) = &s.engine.rejected {
        format!("configuration rejected: {r}")
    } else if let Some(e) = &s.engine.last_error {
        format!("engine: {e}")
    } else if let Some(e) = &s.compute_error {
        e.clone()
    } else if let Some(d) = &s.drift {
        format!(
            "the daemon differs from what rrd applied ({}); repaired at {}",
            d.drift.summary(),
            d.repair_at_unix
        )
    } else {
        "not yet applied".to_string()
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {reason}\n"),
    )
}

/// OpenMetrics for scrapers that ask for it (Prometheus does), the classic
/// text format otherwise.
async fn metrics(State(h): State<ControlHandle>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let text = h.metrics();
    if crate::metrics::wants_openmetrics(accept) {
        (
            [(
                header::CONTENT_TYPE,
                crate::metrics::OPENMETRICS_CONTENT_TYPE,
            )],
            text,
        )
    } else {
        (
            [(header::CONTENT_TYPE, crate::metrics::CLASSIC_CONTENT_TYPE)],
            crate::metrics::classic(&text),
        )
    }
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
