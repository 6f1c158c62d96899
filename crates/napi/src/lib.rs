//! Node.js binding of the klive-server RTMP core. Thin by design: it converts options and
//! events and forwards calls; all behaviour lives in `klive-server-core`.
#![deny(clippy::all)]

mod convert;

use convert::{to_binding_event, to_binding_stats};
use klive_server_core::{Decision, Server, SinkTarget};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use convert::*;

/// The runtime every server of this process runs on. Worker threads default to 2: at
/// real-time rates each wakeup costs more than the bytes it moves, and more workers mostly
/// add cross-thread wakeups. `KLIVE_RTMP_THREADS` overrides it.
#[napi_derive::module_init]
fn init_runtime() {
    let threads = std::env::var("KLIVE_RTMP_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or(2);
    if let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("klive-rtmp")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}

/// Version of the native core.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Options of the RTMP server. Every field is optional; defaults suit production.
#[napi(object)]
#[derive(Default)]
pub struct RtmpServerOptions {
    /// Address to bind (default 127.0.0.1).
    pub host: Option<String>,
    /// Port (default 1935; 0 lets the OS pick).
    pub port: Option<u32>,
    /// Most simultaneous connections (default 2000).
    pub max_connections: Option<u32>,
    /// Handshake must complete within this many ms (default 10000).
    pub handshake_timeout_ms: Option<u32>,
    /// A connection silent this long is closed (default 30000).
    pub idle_timeout_ms: Option<u32>,
    /// Time a connect/publish/play waits for `decide` (default 20000).
    pub decision_timeout_ms: Option<u32>,
    /// Publisher read batching interval in ms (default 100; 0 = read as data arrives).
    pub read_pacing_ms: Option<u32>,
    /// Player/sink write batching interval in ms (default 40).
    pub write_pacing_ms: Option<u32>,
    /// A player or sink that does not read for this many ms is closed (default 10000).
    pub write_timeout_ms: Option<u32>,
    /// Queue budget of each player or sink in bytes (default 8 MiB).
    pub subscriber_buffer_bytes: Option<u32>,
    /// RTT ping interval in ms (default 5000); bitrate and fps are sampled every second.
    pub ping_interval_ms: Option<u32>,
    /// Largest RTMP message accepted in bytes (default 16 MiB).
    pub max_message_size: Option<u32>,
    /// Most chunk streams per connection (default 64).
    pub max_chunk_streams: Option<u32>,
    /// Outgoing chunk size (default 4096).
    pub out_chunk_size: Option<u32>,
}

/// The answer to a connect, publish or play request.
#[napi(object)]
pub struct DecisionInput {
    /// Accept (true) or refuse (false).
    pub accept: bool,
    /// Description sent to the client on refusal.
    pub description: Option<String>,
    /// RTMP status code on refusal (default per request type, e.g. NetConnection.Connect.Rejected).
    pub code: Option<String>,
}

/// Kind of FLV sink.
#[napi(string_enum = "camelCase")]
pub enum SinkKind {
    /// A file, created or truncated.
    File,
    /// A unix socket the server listens on; one reader connects (e.g. `ffmpeg -i unix:PATH`).
    UnixSocket,
}

/// Where an FLV sink writes.
#[napi(object)]
pub struct SinkTargetInput {
    /// File or unix socket.
    pub kind: SinkKind,
    /// Path of the file or socket.
    pub path: String,
}

type EventFn = ThreadsafeFunction<IngestEvent, (), IngestEvent, Status, false>;

/// A running RTMP server.
#[napi]
pub struct RtmpServer {
    inner: Arc<Server>,
    callback: Arc<Mutex<Option<EventFn>>>,
}

fn config_from(options: RtmpServerOptions) -> Result<klive_server_core::ServerConfig> {
    let mut config = klive_server_core::ServerConfig::default();
    let host = options.host.unwrap_or_else(|| "127.0.0.1".into());
    let port = options.port.unwrap_or(1935);
    if port > 65535 {
        return Err(Error::new(Status::InvalidArg, format!("port {port} is out of range")));
    }
    let ip: std::net::IpAddr =
        host.parse().map_err(|_| Error::new(Status::InvalidArg, format!("host '{host}' is not an IP address")))?;
    config.bind = std::net::SocketAddr::new(ip, port as u16);
    let ms = |v: Option<u32>, d: Duration| v.map(|v| Duration::from_millis(v as u64)).unwrap_or(d);
    config.max_connections = options.max_connections.map(|v| v as usize).unwrap_or(config.max_connections);
    config.handshake_timeout = ms(options.handshake_timeout_ms, config.handshake_timeout);
    config.idle_timeout = ms(options.idle_timeout_ms, config.idle_timeout);
    config.decision_timeout = ms(options.decision_timeout_ms, config.decision_timeout);
    config.read_pacing = ms(options.read_pacing_ms, config.read_pacing);
    config.write_pacing = ms(options.write_pacing_ms, config.write_pacing);
    config.ping_interval = ms(options.ping_interval_ms, config.ping_interval);
    config.write_timeout = ms(options.write_timeout_ms, config.write_timeout);
    config.subscriber_buffer_bytes = options.subscriber_buffer_bytes.map(|v| v as usize).unwrap_or(config.subscriber_buffer_bytes);
    if let Some(v) = options.max_message_size {
        config.session.chunk_limits.max_message_size = v;
    }
    if let Some(v) = options.max_chunk_streams {
        config.session.chunk_limits.max_chunk_streams = v as usize;
    }
    if let Some(v) = options.out_chunk_size {
        if !(128..=65536).contains(&v) {
            return Err(Error::new(Status::InvalidArg, format!("outChunkSize {v} must be within 128..65536")));
        }
        config.session.out_chunk_size = v;
    }
    Ok(config)
}

/// Start an RTMP server. `onEvent` receives every connection, publish, play, codec,
/// metadata, unpublish, disconnect and sink event; requests wait for `server.decide`.
#[napi(ts_args_type = "options: RtmpServerOptions, onEvent: (event: IngestEvent) => void")]
pub async fn start_rtmp_server(options: RtmpServerOptions, on_event: EventFn) -> Result<RtmpServer> {
    let config = config_from(options)?;
    let callback = Arc::new(Mutex::new(Some(on_event)));
    let cb = callback.clone();
    let server = Server::start(config, move |event| {
        if let Ok(guard) = cb.lock() {
            if let Some(f) = guard.as_ref() {
                f.call(to_binding_event(event), ThreadsafeFunctionCallMode::NonBlocking);
            }
        }
    })
    .await
    .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
    Ok(RtmpServer { inner: Arc::new(server), callback })
}

#[napi]
impl RtmpServer {
    /// The bound port.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.inner.local_addr().port() as u32
    }

    /// The bound address as `host:port`.
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.inner.local_addr().to_string()
    }

    /// Answer a request. False when it is no longer waiting (timed out, connection gone).
    #[napi(catch_unwind)]
    pub fn decide(&self, request_id: i64, decision: DecisionInput) -> bool {
        let decision = Decision {
            accept: decision.accept,
            description: decision.description.unwrap_or_else(|| if decision.accept { String::new() } else { "refused".into() }),
            code: decision.code,
        };
        self.inner.decide(request_id as u64, decision)
    }

    /// Attach an FLV sink to a live stream; returns the sink id.
    #[napi(catch_unwind)]
    pub fn attach_sink(&self, stream_name: String, target: SinkTargetInput) -> Result<i64> {
        let target = match target.kind {
            SinkKind::File => SinkTarget::File(target.path.into()),
            SinkKind::UnixSocket => SinkTarget::UnixSocket(target.path.into()),
        };
        self.inner.attach_sink(&stream_name, target).map(|id| id as i64).map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
    }

    /// Detach a sink (it flushes and emits `sinkClosed`). False when unknown.
    #[napi(catch_unwind)]
    pub fn detach_sink(&self, sink_id: i64) -> bool {
        self.inner.detach_sink(sink_id as u64)
    }

    /// Accept FLV on a unix socket and publish it as live stream `streamName` (a transcoder's
    /// rendition: `ffmpeg … -f flv unix:PATH`). Each writer that connects publishes the stream
    /// until it disconnects; the next writer publishes it again. Returns the source id.
    #[napi(catch_unwind)]
    pub fn attach_flv_source(&self, stream_name: String, app: String, socket_path: String) -> Result<i64> {
        self.inner
            .attach_flv_source(&stream_name, &app, std::path::Path::new(&socket_path))
            .map(|id| id as i64)
            .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
    }

    /// Stop an FLV source; its stream is unpublished. False when unknown.
    #[napi(catch_unwind)]
    pub fn detach_source(&self, source_id: i64) -> bool {
        self.inner.detach_source(source_id as u64)
    }

    /// Close a connection by id. False when unknown.
    #[napi(catch_unwind)]
    pub fn kill_connection(&self, connection_id: i64) -> bool {
        self.inner.kill_connection(connection_id as u64)
    }

    /// Live statistics of every connection and stream.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> ServerStatsSnapshot {
        to_binding_stats(self.inner.stats())
    }

    /// Close every session cleanly and stop listening. Events stop after this resolves.
    #[napi]
    pub async fn shutdown(&self, grace_ms: Option<u32>) -> Result<()> {
        let grace = Duration::from_millis(grace_ms.unwrap_or(5000) as u64);
        self.inner.shutdown(grace).await;
        // Give queued events a moment to be delivered, then release the callback so that
        // Node can exit.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Ok(mut guard) = self.callback.lock() {
            guard.take();
        }
        Ok(())
    }
}
