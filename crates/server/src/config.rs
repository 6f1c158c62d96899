//! Server settings with production defaults.

use rtmp_proto::session::SessionConfig;
use std::net::SocketAddr;
use std::time::Duration;

/// Settings of one RTMP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 lets the OS pick.
    pub bind: SocketAddr,
    /// Connections accepted at once; more are closed on accept with a logged reason.
    pub max_connections: usize,
    /// A client that has not completed the handshake after this long is closed.
    pub handshake_timeout: Duration,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// How long a connect / publish / play waits for the application's decision.
    pub decision_timeout: Duration,
    /// A publisher's socket is read at most once per this interval, so that the many small
    /// writes of an encoder are handled in one wakeup. Zero reads as data arrives.
    pub read_pacing: Duration,
    /// Players and sinks are written at most once per this interval, batching frames.
    pub write_pacing: Duration,
    /// Bytes a sink or player may have queued before frames are dropped to the next keyframe.
    pub subscriber_buffer_bytes: usize,
    /// A write to a player or sink that cannot complete for this long closes it.
    pub write_timeout: Duration,
    /// Interval of the RTT ping (bitrate and fps are sampled every second).
    pub ping_interval: Duration,
    /// Protocol settings of each session.
    pub session: SessionConfig,
    /// Address of a separate HTTP origin listener (playlists and segments); `None`: none.
    pub http_bind: Option<SocketAddr>,
    /// The RTMP port also answers HTTP: the first bytes decide (RTMP C0 is 0x03).
    pub http_on_rtmp_port: bool,
    /// Sent as `X-Me` on every HTTP response.
    pub hostname: String,
    /// Origin lock: HTTP requests without this header (name, value) get 403.
    pub limit_origin: Option<(String, String)>,
    /// Application name in playback URLs (`/<app>/<stream>/playlist.m3u8`).
    pub app_name: String,
    /// Optional path prefix before the application name (`/<prefix>/<app>/…`).
    pub app_prefix: Option<String>,
    /// A step larger than this between two audio or two video timestamps of a stream
    /// resyncs it onto the wall clock (a discontinuity downstream), ms.
    pub max_pts_drift_ms: i64,
    /// Where HLS segments live (memory budget, directory, disk budget); default: memory only.
    pub hls_store: crate::store::StoreConfig,
    /// SRT listener (UDP) address; `None`: no SRT ingest.
    pub srt_bind: Option<SocketAddr>,
    /// RTMPS listener address; `None`: no RTMPS. Needs `tls`.
    pub rtmps_bind: Option<SocketAddr>,
    /// Certificate chain and key (PEM files) of the RTMPS listener.
    pub tls: Option<crate::tls::TlsFiles>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:1935".parse().expect("literal address"),
            max_connections: 2000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            decision_timeout: Duration::from_secs(20),
            read_pacing: Duration::from_millis(100),
            write_pacing: Duration::from_millis(40),
            subscriber_buffer_bytes: 8 * 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(5),
            session: SessionConfig::default(),
            http_bind: None,
            http_on_rtmp_port: true,
            hostname: system_hostname(),
            limit_origin: None,
            app_name: "kLive".into(),
            app_prefix: None,
            max_pts_drift_ms: 10_000,
            hls_store: Default::default(),
            srt_bind: None,
            rtmps_bind: None,
            tls: None,
        }
    }
}

/// The machine's host name, or `localhost` when it cannot be read.
fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on
    // success (a truncated name may lack the NUL, which the search below tolerates).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..len]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}
