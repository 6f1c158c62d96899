//! Node.js binding of the klive-server RTMP core. Thin by design: it converts options and
//! events and forwards calls; all behaviour lives in `klive-server-core`.
#![deny(clippy::all)]

mod convert;
mod event_queue;

use event_queue::{QueueCounters, QueuedEvent};
use convert::{to_binding_event, to_binding_hls, to_binding_recording, to_binding_stats, to_binding_store};
use klive_server_core::{Decision, Server, SinkTarget};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use convert::*;

/// Every allocation of the core (media frames, segments, recorder fragments) goes to mimalloc
/// rather than glibc malloc. Under glibc, frames allocated on the runtime's workers and freed on
/// the blocking pool's threads (recorder writes) spread over per-thread arenas that fragment and
/// are not returned: RSS kept climbing with recording on (bench/RESULTS.md, segment store).
/// Node's own allocations are not affected: this is the addon's allocator only.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Most simultaneous RTMP connections (default 2000).
    pub max_connections: Option<u32>,
    /// Most simultaneous RTMP connections from one IP address (default 100).
    pub max_connections_per_ip: Option<u32>,
    /// Most simultaneous HTTP origin connections, both ports together (default 4000).
    pub http_max_connections: Option<u32>,
    /// Most simultaneous HTTP origin connections from one IP address (default 200).
    pub http_max_connections_per_ip: Option<u32>,
    /// After the handshake, `connect` must arrive within this many ms (default 10000).
    pub connect_timeout_ms: Option<u32>,
    /// After `connect` is accepted, `publish` or `play` must arrive within this many ms
    /// (default 10000).
    pub publish_timeout_ms: Option<u32>,
    /// An HTTP connection that moves no byte for this many ms while waiting for a request is
    /// closed (default 30000); a response the client does not read for `writeTimeoutMs` too.
    pub http_idle_timeout_ms: Option<u32>,
    /// Who may play live streams over RTMP (default loopback).
    pub rtmp_play: Option<RtmpPlayPolicy>,
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
    /// Address of a separate HTTP origin listener (playlists and segments); unset: none.
    pub http_host: Option<String>,
    /// Port of the separate HTTP origin (0 lets the OS pick); unset: none.
    pub http_port: Option<u32>,
    /// The RTMP port also answers HTTP, sniffing the first byte (default true).
    pub http_on_rtmp_port: Option<bool>,
    /// Sent as `X-Me` on every HTTP response (default: the OS host name).
    pub hostname: Option<String>,
    /// Origin lock: HTTP requests without this header get 403 (with `limitOriginHeaderValue`).
    pub limit_origin_header_name: Option<String>,
    /// Value the origin-lock header must carry.
    pub limit_origin_header_value: Option<String>,
    /// Application name in playback URLs (default kLive).
    pub app_name: Option<String>,
    /// Optional path prefix before the application name.
    pub app_prefix: Option<String>,
    /// A step larger than this (ms) between two audio or video timestamps of a stream resyncs
    /// it onto the wall clock (default 10000).
    pub max_pts_drift_ms: Option<u32>,
    /// Directory of the HLS segment store (created 0700, cleared at start, locked); unset:
    /// every segment stays in memory and the budgets do not apply.
    pub hls_directory: Option<String>,
    /// In-memory HLS segments of all streams together, bytes; past it the oldest go to disk
    /// early (default: a 128th of RAM, 64 MiB..1 GiB).
    pub hls_memory_budget_bytes: Option<f64>,
    /// HLS segment files together, bytes; past it the oldest DVR segments are deleted
    /// (default 0: no budget).
    pub hls_disk_budget_bytes: Option<f64>,
    /// Address of the SRT listener (UDP; default 127.0.0.1 when `srtPort` is set).
    pub srt_host: Option<String>,
    /// Port of the SRT listener (0 lets the OS pick); unset: no SRT.
    pub srt_port: Option<u32>,
    /// Address of the RTMPS listener (default 127.0.0.1 when `rtmpsPort` is set).
    pub rtmps_host: Option<String>,
    /// Port of the RTMPS listener (0 lets the OS pick); unset: no RTMPS. Needs the TLS files.
    pub rtmps_port: Option<u32>,
    /// RTMPS certificate chain, PEM file (reloaded when it changes).
    pub tls_cert_file: Option<String>,
    /// RTMPS private key, PEM file (reloaded when it changes).
    pub tls_key_file: Option<String>,
}

/// How a stream is recorded (`startRecording`).
#[napi(object)]
pub struct RecordOptionsInput {
    /// Directory of the segment files (created if missing).
    pub dir: String,
    /// Segment length in ms (default 900000).
    pub segment_duration_ms: Option<u32>,
    /// A fragment is written at least this often, ms (default 2000): the most a crash loses.
    pub fragment_duration_ms: Option<u32>,
    /// How long the recorder waits for its stream to be (re)published, ms (default 30000).
    pub republish_grace_ms: Option<u32>,
    /// Write `onMetaDataRecording` sync points into a data track of each segment (stream 2
    /// after video and audio), one per this interval in ms and one at each segment start.
    /// Unset: no data track.
    pub sync_point_interval_ms: Option<u32>,
}

/// How one stream is packaged to HLS. Unset fields take the old origin's settings.
#[napi(object)]
#[derive(Default)]
pub struct HlsOptionsInput {
    /// Segment target in ms (default 6000; callers pass entry.segmentDuration when within 1000..20000).
    pub target_duration_ms: Option<u32>,
    /// Segments listed in the live playlist (default 10).
    pub playlist_segments: Option<u32>,
    /// Segments kept at least (default 20).
    pub kept_segments: Option<u32>,
    /// DVR window in ms: segments inside it are kept and `?DVR` lists them.
    pub dvr_window_ms: Option<u32>,
    /// Stream-name group whose master playlist lists this stream (e.g. `<entry>_1_all`).
    pub group: Option<String>,
    /// How long the playlist waits for a (re)publish of its stream, ms (default 60000).
    pub republish_grace_ms: Option<u32>,
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
    /// SRT reject code on refusal of an SRT peer (2000..2999, e.g. 2401 unauthorized); default 2403.
    pub srt_reject: Option<u32>,
    /// On an accepted SRT publish: the passphrase (the entry's SRT pass) for an encrypting caller.
    pub srt_passphrase: Option<String>,
}

/// Who may play live streams over RTMP.
#[napi(string_enum = "camelCase")]
pub enum RtmpPlayPolicy {
    /// Clients on a loopback address only.
    Loopback,
    /// Anyone (loopback only while the origin lock is set).
    Open,
    /// Nobody.
    Off,
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

type EventFn = ThreadsafeFunction<QueuedEvent, (), QueuedEvent, Status, false>;

/// A running RTMP server.
#[napi]
pub struct RtmpServer {
    inner: Arc<Server>,
    callback: Arc<Mutex<Option<EventFn>>>,
    queue: Arc<QueueCounters>,
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
    config.max_connections_per_ip = options.max_connections_per_ip.map(|v| v as usize).unwrap_or(config.max_connections_per_ip);
    config.http_max_connections = options.http_max_connections.map(|v| v as usize).unwrap_or(config.http_max_connections);
    config.http_max_connections_per_ip =
        options.http_max_connections_per_ip.map(|v| v as usize).unwrap_or(config.http_max_connections_per_ip);
    config.connect_timeout = ms(options.connect_timeout_ms, config.connect_timeout);
    config.publish_timeout = ms(options.publish_timeout_ms, config.publish_timeout);
    config.http_idle_timeout = ms(options.http_idle_timeout_ms, config.http_idle_timeout);
    if let Some(policy) = options.rtmp_play {
        config.play_policy = match policy {
            RtmpPlayPolicy::Loopback => klive_server_core::PlayPolicy::Loopback,
            RtmpPlayPolicy::Open => klive_server_core::PlayPolicy::Open,
            RtmpPlayPolicy::Off => klive_server_core::PlayPolicy::Off,
        };
    }
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
    if let Some(port) = options.http_port {
        let host = options.http_host.unwrap_or_else(|| "127.0.0.1".into());
        let ip: std::net::IpAddr =
            host.parse().map_err(|_| Error::new(Status::InvalidArg, format!("httpHost '{host}' is not an IP address")))?;
        if port > 65535 {
            return Err(Error::new(Status::InvalidArg, format!("httpPort {port} is out of range")));
        }
        config.http_bind = Some(std::net::SocketAddr::new(ip, port as u16));
    }
    if let Some(v) = options.http_on_rtmp_port {
        config.http_on_rtmp_port = v;
    }
    if let Some(v) = options.hostname {
        config.hostname = v;
    }
    match (options.limit_origin_header_name, options.limit_origin_header_value) {
        (Some(name), Some(value)) if !name.is_empty() => config.limit_origin = Some((name, value)),
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::new(Status::InvalidArg, "limitOriginHeaderName and limitOriginHeaderValue go together"))
        }
        _ => {}
    }
    if let Some(v) = options.app_name {
        config.app_name = v;
    }
    config.app_prefix = options.app_prefix.filter(|p| !p.is_empty());
    if let Some(v) = options.max_pts_drift_ms {
        config.max_pts_drift_ms = i64::from(v.max(1));
    }
    config.hls_store = klive_server_core::StoreConfig {
        directory: options.hls_directory.filter(|d| !d.is_empty()).map(std::path::PathBuf::from),
        memory_budget_bytes: byte_count(options.hls_memory_budget_bytes, "hlsMemoryBudgetBytes")?,
        disk_budget_bytes: byte_count(options.hls_disk_budget_bytes, "hlsDiskBudgetBytes")?,
    };
    let addr = |host: Option<String>, port: u32, name: &str| -> Result<std::net::SocketAddr> {
        let host = host.unwrap_or_else(|| "127.0.0.1".into());
        let ip: std::net::IpAddr = host.parse().map_err(|_| Error::new(Status::InvalidArg, format!("{name}Host '{host}' is not an IP address")))?;
        if port > 65535 {
            return Err(Error::new(Status::InvalidArg, format!("{name}Port {port} is out of range")));
        }
        Ok(std::net::SocketAddr::new(ip, port as u16))
    };
    if let Some(port) = options.srt_port {
        config.srt_bind = Some(addr(options.srt_host, port, "srt")?);
    }
    if let Some(port) = options.rtmps_port {
        config.rtmps_bind = Some(addr(options.rtmps_host, port, "rtmps")?);
    }
    match (options.tls_cert_file, options.tls_key_file) {
        (Some(cert), Some(key)) => config.tls = Some(klive_server_core::TlsFiles { cert: cert.into(), key: key.into() }),
        (None, None) => {}
        _ => return Err(Error::new(Status::InvalidArg, "tlsCertFile and tlsKeyFile go together")),
    }
    if let Some(v) = options.out_chunk_size {
        if !(128..=65536).contains(&v) {
            return Err(Error::new(Status::InvalidArg, format!("outChunkSize {v} must be within 128..65536")));
        }
        config.session.out_chunk_size = v;
    }
    Ok(config)
}

/// A byte count from JavaScript: a non-negative integer (unset: 0).
fn byte_count(value: Option<f64>, name: &str) -> Result<u64> {
    match value {
        None => Ok(0),
        Some(v) if v >= 0.0 && v.fract() == 0.0 && v < 2f64.powi(53) => Ok(v as u64),
        Some(v) => Err(Error::new(Status::InvalidArg, format!("{name} {v} must be a non-negative integer"))),
    }
}

/// Write a self-signed certificate for `names` (host names or IP addresses) and its key as PEM
/// files (the key 0600): RTMPS for `--dev` and tests.
#[napi(catch_unwind)]
pub fn write_self_signed_cert(names: Vec<String>, cert_file: String, key_file: String) -> Result<()> {
    klive_server_core::write_self_signed(&names, std::path::Path::new(&cert_file), std::path::Path::new(&key_file))
        .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
}

/// The playable duration (ms) of a finished recording segment, from its fragments.
#[napi(catch_unwind)]
pub fn recording_segment_duration_ms(path: String) -> Result<f64> {
    klive_server_core::segment_duration_ms(std::path::Path::new(&path))
        .map(|ms| ms as f64)
        .map_err(|e| Error::new(Status::GenericFailure, format!("cannot read {path}: {e}")))
}

/// Finish a `<stream>-<start>.mp4.part` segment left by a crash or a failed write: cut after its
/// last complete fragment, declare that duration, fsync, rename to `<stream>-<start>.mp4`. Null (and
/// the file removed) when not one fragment is complete.
#[napi(catch_unwind)]
pub fn recover_recording_segment(part_path: String) -> Result<Option<RecoveredSegmentInfo>> {
    klive_server_core::recover_segment(std::path::Path::new(&part_path))
        .map(|r| {
            r.map(|r| RecoveredSegmentInfo {
                path: r.path.display().to_string(),
                start_wall_ms: r.start_wall_ms as f64,
                duration_ms: r.duration_ms as f64,
                bytes: r.bytes as f64,
            })
        })
        .map_err(|e| Error::new(Status::GenericFailure, format!("cannot recover {part_path}: {e}")))
}

/// An exclusive lock on a file, held until `release()` or until the process exits (however it
/// exits: the kernel drops it). Used for the state directory (one daemon per directory) and to
/// tell live runtime directories from stale ones.
#[napi]
pub struct FileLock {
    inner: Mutex<Option<klive_server_core::FileLock>>,
}

#[napi]
impl FileLock {
    /// Release the lock. Idempotent.
    #[napi]
    pub fn release(&self) {
        if let Ok(mut guard) = self.inner.lock() {
            guard.take();
        }
    }
}

/// Lock `path` (created 0600 when missing); null when another holder (in this process or
/// another) has it.
#[napi(catch_unwind)]
pub fn try_lock_file(path: String) -> Result<Option<FileLock>> {
    klive_server_core::FileLock::try_acquire(std::path::Path::new(&path))
        .map(|held| held.map(|lock| FileLock { inner: Mutex::new(Some(lock)) }))
        .map_err(|e| Error::new(Status::GenericFailure, format!("cannot lock {path}: {e}")))
}

/// Start an RTMP server. `onEvent` receives every connection, publish, play, codec,
/// metadata, unpublish, disconnect and sink event; requests wait for `server.decide`.
#[napi(ts_args_type = "options: RtmpServerOptions, onEvent: (event: IngestEvent) => void")]
// The callback's Rust type names the crate-private queue entry; JavaScript sees `IngestEvent`.
#[allow(private_interfaces)]
pub async fn start_rtmp_server(options: RtmpServerOptions, on_event: EventFn) -> Result<RtmpServer> {
    let config = config_from(options)?;
    let callback = Arc::new(Mutex::new(Some(on_event)));
    let cb = callback.clone();
    let queue = Arc::new(QueueCounters::default());
    let q = queue.clone();
    let server = Server::start(config, move |event| {
        // Nothing waits on a warning: under a flood it is what gives way.
        let droppable = matches!(event, klive_server_core::ServerEvent::Warning { .. });
        let Some(queued) = q.admit(to_binding_event(event), droppable) else { return };
        if let Ok(guard) = cb.lock() {
            if let Some(f) = guard.as_ref() {
                f.call(queued, ThreadsafeFunctionCallMode::NonBlocking);
            }
        }
    })
    .await
    .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
    Ok(RtmpServer { inner: Arc::new(server), callback, queue })
}

#[napi]
impl RtmpServer {
    /// The bound port.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.inner.local_addr().port() as u32
    }

    /// Warnings dropped because JavaScript fell behind the event queue (see the README).
    #[napi(getter)]
    pub fn dropped_events(&self) -> f64 {
        self.queue.dropped() as f64
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
            srt_reject: decision.srt_reject,
            srt_passphrase: decision.srt_passphrase,
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

    /// Republish live stream `source` under the name `alias` (a passthrough rendition) until
    /// the source ends or the relay is detached with `detachSource`. Returns the relay id.
    #[napi(catch_unwind)]
    pub fn attach_relay(&self, source: String, alias: String) -> Result<i64> {
        self.inner.attach_relay(&source, &alias).map(|id| id as i64).map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
    }

    /// Stop an FLV source or relay; its stream is unpublished. False when unknown.
    #[napi(catch_unwind)]
    pub fn detach_source(&self, source_id: i64) -> bool {
        self.inner.detach_source(source_id as u64)
    }

    /// Package live stream `streamName` to HLS (served by the origin). It may be called before
    /// the stream is live: the packager waits for it for the republish grace.
    #[napi(catch_unwind)]
    pub fn start_hls(&self, stream_name: String, options: Option<HlsOptionsInput>) -> Result<()> {
        let o = options.unwrap_or_default();
        let mut opts = klive_server_core::HlsOptions::default();
        if let Some(v) = o.target_duration_ms {
            opts.target_duration_ms = v as u64;
        }
        if let Some(v) = o.playlist_segments {
            opts.playlist_segments = v as usize;
        }
        if let Some(v) = o.kept_segments {
            opts.kept_segments = v as usize;
        }
        opts.dvr_window_ms = o.dvr_window_ms.map(|v| v as u64);
        opts.group = o.group;
        if let Some(v) = o.republish_grace_ms {
            opts.republish_grace = Duration::from_millis(v as u64);
        }
        self.inner.start_hls(&stream_name, opts).map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
    }

    /// Stop packaging `streamName`; its playlist disappears. False when it was not packaged.
    #[napi(catch_unwind)]
    pub fn stop_hls(&self, stream_name: String) -> bool {
        self.inner.stop_hls(&stream_name)
    }

    /// Every HLS-packaged stream.
    #[napi(catch_unwind)]
    pub fn hls_streams(&self) -> Vec<HlsStreamSnapshot> {
        self.inner.hls_streams().into_iter().map(to_binding_hls).collect()
    }

    /// The HLS segment store: memory and disk use, budgets, the last disk error.
    #[napi(catch_unwind)]
    pub fn hls_store(&self) -> HlsStoreSnapshot {
        to_binding_store(self.inner.hls_store())
    }

    /// Record `streamName` to MP4 segments (it may be called before the stream is live).
    /// Each finished segment is reported by a `recordingSegment` event.
    #[napi(catch_unwind)]
    pub fn start_recording(&self, stream_name: String, options: RecordOptionsInput) -> Result<()> {
        let mut opts = klive_server_core::RecordOptions { dir: options.dir.into(), ..Default::default() };
        if let Some(v) = options.segment_duration_ms {
            opts.segment_duration_ms = u64::from(v);
        }
        if let Some(v) = options.fragment_duration_ms {
            opts.fragment_duration_ms = u64::from(v);
        }
        if let Some(v) = options.republish_grace_ms {
            opts.republish_grace = Duration::from_millis(u64::from(v));
        }
        opts.sync_point_interval = options.sync_point_interval_ms.map(|v| Duration::from_millis(u64::from(v.max(1000))));
        self.inner.start_recording(&stream_name, opts).map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
    }

    /// Stop recording `streamName`: its open segment is finished and reported as the last.
    #[napi(catch_unwind)]
    pub fn stop_recording(&self, stream_name: String) -> bool {
        self.inner.stop_recording(&stream_name)
    }

    /// Every recorded stream.
    #[napi(catch_unwind)]
    pub fn recordings(&self) -> Vec<RecordingSnapshot> {
        self.inner.recordings().into_iter().map(to_binding_recording).collect()
    }

    /// Inject recording sync points (`onMetaDataRecording`) into live stream `streamName`
    /// every `intervalMs`, the first now, until the stream ends.
    #[napi(catch_unwind)]
    pub fn start_sync_points(&self, stream_name: String, interval_ms: u32) -> Result<()> {
        self.inner
            .start_sync_points(&stream_name, Duration::from_millis(u64::from(interval_ms.max(1000))))
            .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
    }

    /// The SRT listener's UDP port, when SRT is on.
    #[napi(getter)]
    pub fn srt_port(&self) -> Option<u32> {
        self.inner.srt_local_addr().map(|a| a.port() as u32)
    }

    /// The RTMPS listener's port, when RTMPS is on.
    #[napi(getter)]
    pub fn rtmps_port(&self) -> Option<u32> {
        self.inner.rtmps_local_addr().map(|a| a.port() as u32)
    }

    /// The separate HTTP origin's port, when one is configured.
    #[napi(getter)]
    pub fn http_port(&self) -> Option<u32> {
        self.inner.http_local_addr().map(|a| a.port() as u32)
    }

    /// Close a connection by id. With `refusal`, each stream it publishes first gets
    /// `onStatus` error `NetStream.Publish.BadName` with that description (a publish refused
    /// after it was accepted). False when unknown.
    #[napi(catch_unwind)]
    pub fn kill_connection(&self, connection_id: i64, refusal: Option<String>) -> bool {
        match refusal {
            Some(description) => self.inner.refuse_publisher(connection_id as u64, &description),
            None => self.inner.kill_connection(connection_id as u64),
        }
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
