//! The HTTP API (`whoisit serve`): other systems recognize photos, manage the roster and follow
//! live sightings over REST, with API keys. The only async code in whoisit, because the network
//! is here: recognition runs on the [`pool`]'s threads with the same pipeline as the window,
//! the gallery on tokio's blocking threads.
//!
//! A request's way, top-down: [`routes`] (the router, its limits and the OpenAPI document) ->
//! [`auth`] (the key and its scope) -> a handler in `routes::*` -> the [`pool`] (decode,
//! detect, align, embed) and the [`Roster`](crate::roster::Roster) (match), or the gallery -> [`error`] (the JSON
//! answer when anything fails). The [`console`] is the same server's pages for people, whose
//! sessions reach the same routes.

pub mod auth;
mod bodies;
mod connections;
mod console;
mod error;
mod events;
mod keys;
mod live;
mod metrics;
mod pool;
mod routes;
mod state;
mod video;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::config::Config;
use crate::models::fetch::Progress;
use crate::runtime::capture::Source;

pub use self::auth::{NewKey, create_key};
pub use self::routes::openapi_document;

use self::state::AppState;

/// How `whoisit serve` runs.
pub struct ServeOptions {
    pub config: Config,
    pub listen: SocketAddr,
    pub auth: Auth,
    /// PEM certificate chain and private key, for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Live sources whose sightings `GET /v1/events` streams.
    pub sources: Vec<OwnSource>,
}

/// One of the server's own cameras.
#[derive(Debug, Clone)]
pub struct OwnSource {
    pub source: Source,
    /// Plays again from the start when it ends (the built-in demo). Other files play once,
    /// as the recordings they are; cameras and streams are opened again when they drop.
    pub repeat: bool,
}

/// Whether requests need a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Every request but `/healthz` and the OpenAPI document needs a key with the right scope.
    Keys,
    /// Anyone may do anything: only on a loopback address (`--no-auth`).
    Off,
}

/// Runs the server until Ctrl+C or SIGTERM; `on_listening` is told the address it listens on
/// (the port chosen when `listen` asked for port 0).
pub fn serve(
    options: ServeOptions,
    progress: &dyn Progress,
    on_listening: impl FnOnce(SocketAddr, bool),
) -> Result<()> {
    if options.auth == Auth::Off && !options.listen.ip().is_loopback() {
        return Err(Error::InvalidInput(format!(
            "--no-auth is only accepted on a loopback address (127.0.0.1, ::1), not {}: anyone \
             on the network could read and change the roster. Create a key with `whoisit keys \
             create --name NAME --scope admin` and drop --no-auth",
            options.listen
        )));
    }
    // Bound before the models load, so a port in use is said at once. Connections that
    // arrive meanwhile wait in the backlog.
    let listener = bind(options.listen)?;
    let state = Arc::new(AppState::start(&options, progress)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("serve")
        .build()
        .map_err(|source| Error::Spawn {
            thread: "serve",
            source,
        })?;
    let live = live::start(&options, &state, progress)?;
    let result = runtime.block_on(run(options, listener, state.clone(), on_listening));
    live.stop();
    result
}

/// A listening socket on `address`, ready for tokio.
fn bind(address: SocketAddr) -> Result<std::net::TcpListener> {
    let cannot = |source| Error::Listen {
        address: address.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(address).map_err(cannot)?;
    listener.set_nonblocking(true).map_err(cannot)?;
    Ok(listener)
}

async fn run(
    options: ServeOptions,
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    on_listening: impl FnOnce(SocketAddr, bool),
) -> Result<()> {
    let app = routes::router(state.clone());
    let address = listener.local_addr().map_err(|source| Error::Listen {
        address: options.listen.to_string(),
        source,
    })?;
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    tokio::spawn(purge_hourly(state.clone()));
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let connections = Arc::new(connections::Connections::new(
        options.config.serve.max_connections_per_address,
        options.config.serve.max_connections,
    ));
    let (per_address, total) = connections.caps();
    tracing::info!(per_address, total, "connections capped");
    let capped = |plain| connections::CapConnections {
        connections: connections.clone(),
        plain,
    };
    let served = match &options.tls {
        Some((cert, key)) => {
            let tls = auth::tls_config(cert, key).await?;
            on_listening(address, true);
            // A client that trickles its handshake is cut off like one that trickles headers.
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                .handshake_timeout(state.header_timeout)
                .acceptor(capped(false));
            let mut server = axum_server::from_tcp(listener)
                .acceptor(acceptor)
                .handle(handle);
            limit_header_time(server.http_builder(), state.header_timeout);
            server.serve(service).await
        }
        None => {
            on_listening(address, false);
            let mut server = axum_server::from_tcp(listener)
                .acceptor(capped(true))
                .handle(handle);
            limit_header_time(server.http_builder(), state.header_timeout);
            server.serve(service).await
        }
    };
    served.map_err(Error::ServerStopped)?;
    tracing::info!("server stopped");
    Ok(())
}

/// Closes a connection that has not sent a request's headers within `timeout`: without a
/// timer hyper waits for ever, and clients that trickle their headers (slowloris) hold
/// connections, and file descriptors, until none are left.
fn limit_header_time(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Keeps sightings within `retention_days` while the server runs for weeks.
async fn purge_hourly(state: Arc<AppState>) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        state.purge().await;
    }
}

/// Stops accepting on Ctrl+C or SIGTERM and lets requests in flight finish (for a while).
async fn shutdown_on_signal(handle: axum_server::Handle) {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); stop the server with Ctrl+C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("stopping: finishing the requests in flight");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}
