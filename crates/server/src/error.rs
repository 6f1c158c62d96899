//! Errors the application can get from the server handle.

use std::net::SocketAddr;

/// Errors the application can get from the server handle.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// No live stream has that name.
    #[error("stream '{0}' is not live")]
    StreamNotLive(String),
    /// Creating a sink failed.
    #[error("cannot open sink {path}: {source}")]
    Sink {
        /// Sink path.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The HLS segment store's directory cannot be used.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The RTMPS certificate or key cannot be used.
    #[error("RTMPS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// RTMPS was asked for without a certificate and key.
    #[error("RTMPS needs a certificate and a key (tls)")]
    TlsMissing,
    /// The stream is already being recorded.
    #[error("stream '{0}' is already being recorded")]
    AlreadyRecording(String),
}
