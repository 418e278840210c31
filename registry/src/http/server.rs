//! Running the HTTP server: HTTP/1.1 on hyper with the limits that keep
//! slow or idle clients from holding the server ([`ServerLimits`]), and
//! graceful shutdown.
//!
//! - **Header read timeout**: a connection that has not sent a request's
//!   whole header block within it is closed (hyper's `header_read_timeout`;
//!   it also bounds how long an idle keep-alive connection stays open).
//! - **Body idle timeout**: a request body that sends nothing for this long
//!   fails (tower-http's `RequestBodyTimeoutLayer`, reset after each
//!   frame), so uploads and `POST /login` cannot trickle forever.
//! - **Connection cap**: beyond it, new connections are closed as soon as
//!   they are accepted.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::http::{AppState, router};

/// Default time a client has to send a request's header block.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a request body may send nothing before it fails.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Connection handling limits (`zoo-registry serve` flags).
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub header_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_idle_timeout: DEFAULT_BODY_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves with the default limits until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, state, ServerLimits::default(), shutdown).await
}

/// Serves until `shutdown` resolves, then stops accepting and finishes
/// in-flight requests.
pub async fn run_with(
    listener: TcpListener,
    state: AppState,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = tower::ServiceBuilder::new()
        .layer(RequestBodyTimeoutLayer::new(limits.body_idle_timeout))
        .service(router(state));
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!(
                %peer,
                "closed a new connection: {} are open, the limit (--max-connections)",
                limits.max_connections
            );
            drop(stream);
            continue;
        };
        tracing::trace!(%peer, "accepted a connection");
        let _ = stream.set_nodelay(true);
        // The peer address feeds the per-address limit on bad tokens.
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                // The path only: headers (tokens) are never logged.
                tracing::trace!(%peer, method = %request.method(), path = request.uri().path(), "request");
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
