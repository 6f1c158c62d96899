//! The application's handle on a running server, and the RTMP listener. The top of the
//! crate: it wires the shared state ([`crate::shared`]) to the tasks that use it.

use crate::config::ServerConfig;
use crate::conn;
use crate::error::ServerError;
use crate::events::{Decision, DisconnectInfo, ServerEvent};
use crate::hls::HlsRegistry;
use crate::record::RecordingRegistry;
use crate::shared::{ConnHandle, Shared, SinkHandle};
use crate::slots::{Kind, Slot};
use crate::store::SegmentStore;
use crate::tls::TlsReloader;
use crate::sink::{self, SinkTarget};
use crate::stats::{ConnCounters, ServerStats};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A running RTMP server.
pub struct Server {
    shared: Arc<Shared>,
    /// HLS packagers and their playlists, served by the origin.
    hls: Arc<HlsRegistry>,
    /// MP4 recorders.
    recordings: Arc<RecordingRegistry>,
    local_addr: SocketAddr,
    http_local_addr: Option<SocketAddr>,
    srt_local_addr: Option<SocketAddr>,
    rtmps_local_addr: Option<SocketAddr>,
    /// The runtime the server runs on; calls from other threads (Node's) enter it.
    runtime: tokio::runtime::Handle,
}

impl Server {
    /// Bind and start accepting. Must be called inside a tokio runtime. `callback` receives
    /// every [`ServerEvent`]; it must not block (forward it to a queue or another thread).
    pub async fn start(config: ServerConfig, callback: impl Fn(ServerEvent) + Send + Sync + 'static) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(config.bind).await.map_err(|source| ServerError::Bind { addr: config.bind, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.bind, source })?;
        let http_listener = match config.http_bind {
            Some(addr) => Some(crate::origin::bind(addr).await?),
            None => None,
        };
        let http_local_addr = http_listener.as_ref().and_then(|l| l.local_addr().ok());
        let srt_socket = match config.srt_bind {
            Some(addr) => Some(tokio::net::UdpSocket::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?),
            None => None,
        };
        let srt_local_addr = srt_socket.as_ref().and_then(|s| s.local_addr().ok());
        let rtmps = match config.rtmps_bind {
            Some(addr) => {
                let files = config.tls.clone().ok_or(ServerError::TlsMissing)?;
                let reloader = Arc::new(TlsReloader::new(files)?);
                let listener = TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
                Some((listener, reloader))
            }
            None => None,
        };
        let rtmps_local_addr = rtmps.as_ref().and_then(|(l, _)| l.local_addr().ok());
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared::new(config, Arc::new(callback), shutdown));
        let store = SegmentStore::open(&shared.config.hls_store)?;
        let hls = Arc::new(HlsRegistry::new(store));
        let recordings = Arc::new(RecordingRegistry::default());
        tokio::spawn(accept_loop(shared.clone(), hls.clone(), listener, None));
        if let Some((listener, reloader)) = rtmps {
            tokio::spawn(accept_loop(shared.clone(), hls.clone(), listener, Some(reloader)));
        }
        if let Some(socket) = srt_socket {
            shared.tasks.spawn(crate::srt::run(shared.clone(), socket));
        }
        if let Some(http_listener) = http_listener {
            tokio::spawn(crate::origin::accept_loop(shared.clone(), hls.clone(), http_listener));
        }
        Ok(Server { shared, hls, recordings, local_addr, http_local_addr, srt_local_addr, rtmps_local_addr, runtime: tokio::runtime::Handle::current() })
    }

    /// The bound UDP address of the SRT listener, when `srt_bind` is configured.
    pub fn srt_local_addr(&self) -> Option<SocketAddr> {
        self.srt_local_addr
    }

    /// The bound address of the RTMPS listener, when `rtmps_bind` is configured.
    pub fn rtmps_local_addr(&self) -> Option<SocketAddr> {
        self.rtmps_local_addr
    }

    /// The bound address of the HTTP origin, when `http_bind` is configured.
    pub fn http_local_addr(&self) -> Option<SocketAddr> {
        self.http_local_addr
    }

    /// Package `stream_name` as HLS, or update the options of its packager. The stream need
    /// not be live yet; see [`crate::HlsOptions`] for the republish grace period.
    pub fn start_hls(&self, stream_name: &str, opts: crate::HlsOptions) -> Result<(), ServerError> {
        let _runtime = self.runtime.enter();
        crate::hls::start(&self.shared, &self.hls, stream_name, opts)
    }

    /// Stop packaging `stream_name` and drop its playlist. False when it was not packaged.
    pub fn stop_hls(&self, stream_name: &str) -> bool {
        self.hls.stop(stream_name)
    }

    /// Inject recording sync points (`onMetaDataRecording`) into live stream `stream_name`
    /// every `interval`, the first now, until the stream ends (see [`crate::sync`]).
    pub fn start_sync_points(&self, stream_name: &str, interval: Duration) -> Result<(), ServerError> {
        if self.shared.shutdown.is_cancelled() {
            return Err(ServerError::ShuttingDown);
        }
        let stream = self.shared.registry.get(stream_name).ok_or_else(|| ServerError::StreamNotLive(stream_name.to_string()))?;
        let _runtime = self.runtime.enter();
        self.shared.tasks.spawn(crate::sync::run(stream, interval, self.shared.shutdown.child_token()));
        Ok(())
    }

    /// Record `stream_name` to MP4 segments in `opts.dir` (the stream need not be live yet).
    pub fn start_recording(&self, stream_name: &str, opts: crate::RecordOptions) -> Result<(), ServerError> {
        let _runtime = self.runtime.enter();
        crate::record::start(&self.shared, &self.recordings, stream_name, opts)
    }

    /// Stop recording `stream_name`; its open segment is reported as the last. False when
    /// it is not being recorded.
    pub fn stop_recording(&self, stream_name: &str) -> bool {
        self.recordings.stop(stream_name)
    }

    /// Every recorded stream.
    pub fn recordings(&self) -> Vec<crate::RecordingInfo> {
        self.recordings.infos()
    }

    /// The HLS segment store: memory and disk use, budgets, the last disk error.
    pub fn hls_store(&self) -> crate::StoreStats {
        self.hls.store.stats()
    }

    /// Every packaged stream, by name.
    pub fn hls_streams(&self) -> Vec<crate::HlsStreamInfo> {
        self.hls.infos()
    }

    /// The bound address (with the OS-chosen port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Answer request `request_id`. Returns false when no such request is waiting (already
    /// decided, timed out, or its connection closed).
    pub fn decide(&self, request_id: u64, decision: Decision) -> bool {
        self.shared.decide(request_id, decision)
    }

    /// Close connection `id`. Returns false when it does not exist.
    pub fn kill_connection(&self, id: u64) -> bool {
        self.end_connection(id, None)
    }

    /// Refuse what connection `id` publishes after it was accepted (e.g. Kaltura has no
    /// transcoding plan for it): each of its published streams gets `onStatus` error
    /// `NetStream.Publish.BadName` with `description`, then the connection closes. False when
    /// it does not exist.
    pub fn refuse_publisher(&self, id: u64, description: &str) -> bool {
        self.end_connection(id, Some(description))
    }

    fn end_connection(&self, id: u64, refusal: Option<&str>) -> bool {
        match self.shared.connections.lock().get(&id) {
            Some(handle) => {
                if let Some(d) = refusal {
                    *handle.counters.refusal.lock() = Some(d.to_string());
                }
                handle.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Attach an FLV sink to live stream `stream_name`. For a unix socket the listening socket
    /// exists when this returns, so a reader (e.g. `ffmpeg -i unix:PATH`) can connect at once.
    pub fn attach_sink(&self, stream_name: &str, target: SinkTarget) -> Result<u64, ServerError> {
        if self.shared.shutdown.is_cancelled() {
            return Err(ServerError::ShuttingDown);
        }
        let stream = self.shared.registry.get(stream_name).ok_or_else(|| ServerError::StreamNotLive(stream_name.to_string()))?;
        let _runtime = self.runtime.enter();
        let id = self.shared.next_id();
        let opened = sink::open(&target).map_err(|source| ServerError::Sink { path: target.path().display().to_string(), source })?;
        let cancel = self.shared.shutdown.child_token();
        self.shared.sinks.lock().insert(id, SinkHandle { cancel: cancel.clone() });
        let shared = self.shared.clone();
        self.shared.tasks.spawn(sink::run(shared, id, stream, opened, cancel));
        Ok(id)
    }

    /// Stop sink `id`; it flushes what it has and emits `SinkClosed`. False when unknown.
    pub fn detach_sink(&self, id: u64) -> bool {
        match self.shared.sinks.lock().get(&id) {
            Some(handle) => {
                handle.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Accept FLV on a unix socket at `path` and publish it as live stream `stream_name`
    /// (e.g. a transcoder's rendition). The socket exists when this returns; each writer that
    /// connects publishes the stream until it disconnects.
    pub fn attach_flv_source(&self, stream_name: &str, app: &str, path: &std::path::Path) -> Result<u64, ServerError> {
        if self.shared.shutdown.is_cancelled() {
            return Err(ServerError::ShuttingDown);
        }
        let _runtime = self.runtime.enter();
        let sink_error = |source| ServerError::Sink { path: path.display().to_string(), source };
        let listener = crate::local_socket::bind_private(path).map_err(sink_error)?;
        let id = self.shared.next_id();
        let cancel = self.shared.shutdown.child_token();
        self.shared.sources.lock().insert(id, SinkHandle { cancel: cancel.clone() });
        let task = crate::source::run(self.shared.clone(), id, stream_name.to_string(), app.to_string(), listener, path.to_path_buf(), cancel);
        self.shared.tasks.spawn(task);
        Ok(id)
    }

    /// Republish live stream `source` under the name `alias` (a passthrough rendition) until
    /// the source ends or the relay is detached with [`Self::detach_source`].
    pub fn attach_relay(&self, source: &str, alias: &str) -> Result<u64, ServerError> {
        if self.shared.shutdown.is_cancelled() {
            return Err(ServerError::ShuttingDown);
        }
        let stream = self.shared.registry.get(source).ok_or_else(|| ServerError::StreamNotLive(source.to_string()))?;
        let _runtime = self.runtime.enter();
        let id = self.shared.next_id();
        let cancel = self.shared.shutdown.child_token();
        self.shared.sources.lock().insert(id, SinkHandle { cancel: cancel.clone() });
        self.shared.tasks.spawn(crate::relay::run(self.shared.clone(), id, stream, alias.to_string(), cancel));
        Ok(id)
    }

    /// Stop FLV source or relay `id` (its stream is unpublished). False when unknown.
    pub fn detach_source(&self, id: u64) -> bool {
        match self.shared.sources.lock().get(&id) {
            Some(handle) => {
                handle.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Connections and streams right now.
    pub fn stats(&self) -> ServerStats {
        let mut connections: Vec<_> = self.shared.connections.lock().values().map(|h| h.counters.snapshot()).collect();
        for c in &mut connections {
            if let Some(stream) = c.stream_name.as_deref().and_then(|name| self.shared.registry.get(name)) {
                (c.video, c.audio) = stream.codec_info();
            }
        }
        let streams = self.shared.registry.all().iter().map(|s| s.info()).collect();
        ServerStats {
            connections,
            streams,
            total_connections: self.shared.total_connections.load(Ordering::Relaxed),
            refused_connections: self.shared.refused_connections.load(Ordering::Relaxed),
        }
    }

    /// Close every session cleanly (publishers get their streams ended, sinks flushed) and
    /// stop listening. Waits up to `grace` for tasks to finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        let _ = tokio::time::timeout(grace, self.shared.tasks.wait()).await;
        self.hls.store.close();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// Accept RTMP (and, on the RTMP port, HTTP) connections; with `tls`, RTMPS: the TLS
/// handshake first, then the same connection code.
async fn accept_loop(shared: Arc<Shared>, hls: Arc<HlsRegistry>, listener: TcpListener, tls: Option<Arc<TlsReloader>>) {
    let shutdown = shared.shutdown.clone();
    let mut refusals = RefusalLog::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, remote) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        shared.emit(ServerEvent::Warning { connection_id: 0, message: format!("accept failed: {e}") });
                        // Out of file descriptors and the like: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let id = shared.next_id();
                shared.total_connections.fetch_add(1, Ordering::Relaxed);
                let slot = match shared.slots.acquire(Kind::Rtmp, remote.ip(), shared.caps(Kind::Rtmp)) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        shared.refused_connections.fetch_add(1, Ordering::Relaxed);
                        drop(socket);
                        refusals.note(&shared, id, remote, refused.to_string());
                        continue;
                    }
                };
                let _ = socket.set_nodelay(true);
                let counters = Arc::new(ConnCounters::new(id, remote));
                let cancel = shared.shutdown.child_token();
                shared.connections.lock().insert(id, ConnHandle { counters: counters.clone(), cancel: cancel.clone() });
                if let Some(tls) = &tls {
                    let (acceptor, reload_error) = tls.acceptor();
                    if let Some(e) = reload_error {
                        shared.emit(ServerEvent::Warning { connection_id: 0, message: format!("RTMPS certificate not reloaded, the previous one is served: {e}") });
                    }
                    shared.tasks.spawn(tls_conn(shared.clone(), acceptor, socket, counters, cancel, slot));
                } else if shared.config.http_on_rtmp_port {
                    // RTMP or HTTP on one port: the origin peeks at the first bytes.
                    shared.tasks.spawn(crate::origin::sniff(shared.clone(), hls.clone(), socket, counters, cancel, slot));
                } else {
                    shared.tasks.spawn(conn::run(shared.clone(), conn::Socket::Plain(socket), counters, cancel, slot));
                }
            }
            _ = shutdown.cancelled() => break,
        }
    }
}

/// The TLS handshake (bounded by the handshake timeout), then the RTMP connection.
async fn tls_conn(shared: Arc<Shared>, acceptor: tokio_rustls::TlsAcceptor, socket: tokio::net::TcpStream, counters: Arc<ConnCounters>, cancel: CancellationToken, slot: Slot) {
    let limit = shared.config.handshake_timeout;
    let result = tokio::select! {
        r = tokio::time::timeout(limit, acceptor.accept(socket)) => match r {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Err(_) => Err(format!("TLS handshake not completed within {} s", limit.as_secs())),
        },
        _ = cancel.cancelled() => Err("server shutdown".to_string()),
    };
    match result {
        Ok(stream) => conn::run(shared, conn::Socket::Tls(Box::new(stream)), counters, cancel, slot).await,
        Err(reason) => conn::end_before_session(&shared, &counters, reason),
    }
}

/// Connections refused at accept are reported as disconnects, but a flood of them must not
/// become a flood of events (each is a log line upstream): at most a few per second, and the
/// count of the ones left out with the next reported one.
#[derive(Default)]
pub(crate) struct RefusalLog {
    window_start: Option<std::time::Instant>,
    in_window: u32,
    suppressed: u64,
}

/// Refusals reported per second; the rest are counted.
const REFUSALS_PER_SECOND: u32 = 5;

impl RefusalLog {
    pub(crate) fn note(&mut self, shared: &Shared, id: u64, remote: SocketAddr, reason: String) {
        let now = std::time::Instant::now();
        if self.window_start.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            self.window_start = Some(now);
            self.in_window = 0;
        }
        self.in_window += 1;
        if self.in_window > REFUSALS_PER_SECOND {
            self.suppressed += 1;
            return;
        }
        let reason = match std::mem::take(&mut self.suppressed) {
            0 => reason,
            n => format!("{reason} ({n} more refused since the last report)"),
        };
        shared.emit(ServerEvent::Disconnect(DisconnectInfo { connection_id: id, remote_addr: remote, reason, bytes_in: 0, bytes_out: 0, duration_ms: 0 }));
    }
}
