//! Running the application on a socket: bind (port 0 works, for tests), TCP_NODELAY on every
//! accepted connection, and graceful shutdown that lets in-flight requests finish within a grace
//! period.

use crate::app::app;
use crate::state::{AppState, StartupError};
use axum::serve::ListenerExt;
use omnigate_config::Config;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// A bound, not yet running, gateway.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    grace: Duration,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Building state from the config failed.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// The socket could not be bound or served.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

impl Server {
    /// Builds the state from `config` and binds `config.server.bind`.
    pub async fn bind(config: &Config) -> Result<Self, ServeError> {
        let state = AppState::from_config(config).await?;
        let grace = Duration::from_secs(config.server.shutdown_grace_secs);
        Self::bind_state(state, config.server.bind, grace).await
    }

    /// Binds `addr` for an already built state.
    pub async fn bind_state(
        state: AppState,
        addr: SocketAddr,
        grace: Duration,
    ) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            state,
            grace,
        })
    }

    /// The state it serves (to reload parts of it while it runs).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// for up to the grace period, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let grace = self.grace;
        crate::metrics::spawn_upkeep();
        // Stopped when this function returns; a reload restarts them for its deployments.
        self.state.start_probes();
        let state = self.state.clone();
        let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
        let listener = self.listener.tap_io(|tcp| {
            // Small request/response writes must not wait for Nagle's algorithm.
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "cannot set TCP_NODELAY");
            }
        });
        let serve = axum::serve(listener, app(self.state)).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: finishing in-flight requests"
            );
            let _ = draining_tx.send(());
        });
        let deadline = async move {
            if draining_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = serve.into_future() => result.map_err(ServeError::Io),
            () = deadline => {
                tracing::warn!("grace period over; dropping the remaining connections");
                Ok(())
            }
        };
        state.stop_probes();
        result
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
