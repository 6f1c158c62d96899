//! Live counters kept by each connection, and the snapshots handed to the application.

use crate::bus::StreamInfo;
use crate::events::{AudioInfo, VideoInfo};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counters a connection task updates; read by [`crate::Server::stats`].
#[derive(Debug)]
pub(crate) struct ConnCounters {
    pub id: u64,
    pub remote_addr: SocketAddr,
    pub started: Instant,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub video_frames: AtomicU64,
    pub audio_frames: AtomicU64,
    pub dropped_frames: AtomicU64,
    pub rtt_ms: AtomicU64,
    /// Rates computed by the connection at each sampling tick.
    pub rates: Mutex<Rates>,
    pub details: Mutex<ConnDetails>,
    /// Set with a kill that refuses what the connection publishes: its streams get an
    /// `onStatus` error with this description before the connection closes.
    pub refusal: Mutex<Option<String>>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Rates {
    pub bitrate_in_bps: f64,
    pub bitrate_out_bps: f64,
    pub fps: f64,
    last_sample: Option<(Instant, u64, u64, u64)>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ConnDetails {
    pub app: String,
    pub flash_ver: Option<String>,
    /// `publisher`, `player` or `idle`.
    pub role: &'static str,
    pub stream_name: Option<String>,
    /// `rtmp`, `rtmps` or `srt`.
    pub protocol: &'static str,
    /// Link statistics of an SRT connection.
    pub srt: Option<SrtLinkStats>,
}

/// Link statistics of an SRT connection (libsrt's names in parentheses), cumulative since
/// the connection opened.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SrtLinkStats {
    /// Smoothed round-trip time, ms (msRTT).
    pub rtt_ms: f64,
    /// Data packets received, retransmissions included (pktRecvTotal).
    pub packets_received: u64,
    /// Packets lost on the way: recovered by retransmission or given up (pktRcvLossTotal
    /// where the library counts it, else retransmitted + dropped).
    pub packets_lost: u64,
    /// Retransmitted packets received (pktRcvRetransTotal).
    pub packets_retransmitted: u64,
    /// Packets given up on: too late for the receiver latency (pktRcvDropTotal).
    pub packets_dropped: u64,
    /// Lost packets as a share of those sent, percent.
    pub loss_percent: f64,
    /// Retransmissions as a share of packets received, percent.
    pub retransmit_percent: f64,
}

impl SrtLinkStats {
    pub(crate) fn from_socket(s: &srt_protocol::statistics::SocketStatistics, rtt_ms: Option<f64>) -> Self {
        let received = s.rx_data;
        let unique = s.rx_unique_data;
        // srt-protocol 0.4 leaves rx_loss_data at 0: every lost packet was either retransmitted
        // to us or dropped as too late.
        let lost = s.rx_loss_data.max(s.rx_retransmit_data + s.rx_dropped_data);
        let percent = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 };
        SrtLinkStats {
            rtt_ms: rtt_ms.unwrap_or_else(|| s.rx_average_rtt.max(s.tx_average_rtt).as_secs_f64() * 1000.0),
            packets_received: received,
            packets_lost: lost,
            packets_retransmitted: s.rx_retransmit_data,
            packets_dropped: s.rx_dropped_data,
            loss_percent: percent(lost, unique + s.rx_dropped_data),
            retransmit_percent: percent(s.rx_retransmit_data, received),
        }
    }
}

impl ConnCounters {
    pub fn new(id: u64, remote_addr: SocketAddr) -> Self {
        ConnCounters {
            id,
            remote_addr,
            started: Instant::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            video_frames: AtomicU64::new(0),
            audio_frames: AtomicU64::new(0),
            dropped_frames: AtomicU64::new(0),
            rtt_ms: AtomicU64::new(0),
            rates: Mutex::new(Rates::default()),
            details: Mutex::new(ConnDetails { role: "idle", protocol: "rtmp", ..Default::default() }),
            refusal: Mutex::new(None),
        }
    }

    /// Update bitrate and fps from the counters since the previous sample.
    pub fn sample(&self, now: Instant) {
        let bytes_in = self.bytes_in.load(Ordering::Relaxed);
        let bytes_out = self.bytes_out.load(Ordering::Relaxed);
        let frames = self.video_frames.load(Ordering::Relaxed);
        let mut rates = self.rates.lock();
        if let Some((at, bi, bo, fr)) = rates.last_sample {
            let secs = now.duration_since(at).as_secs_f64();
            if secs > 0.0 {
                rates.bitrate_in_bps = (bytes_in - bi) as f64 * 8.0 / secs;
                rates.bitrate_out_bps = (bytes_out - bo) as f64 * 8.0 / secs;
                rates.fps = (frames - fr) as f64 / secs;
            }
        }
        rates.last_sample = Some((now, bytes_in, bytes_out, frames));
    }

    pub fn snapshot(&self) -> ConnectionStats {
        let rates = self.rates.lock().clone();
        let details = self.details.lock().clone();
        let details_rtt = details.srt.as_ref().map(|s| s.rtt_ms.round() as u64);
        ConnectionStats {
            id: self.id,
            remote_addr: self.remote_addr.to_string(),
            app: details.app,
            flash_ver: details.flash_ver,
            role: details.role.to_string(),
            stream_name: details.stream_name,
            protocol: details.protocol.to_string(),
            srt: details.srt,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            bitrate_in_bps: rates.bitrate_in_bps,
            bitrate_out_bps: rates.bitrate_out_bps,
            fps: rates.fps,
            video_frames: self.video_frames.load(Ordering::Relaxed),
            audio_frames: self.audio_frames.load(Ordering::Relaxed),
            dropped_frames: self.dropped_frames.load(Ordering::Relaxed),
            rtt_ms: match self.rtt_ms.load(Ordering::Relaxed) {
                0 => None,
                v => Some(v - 1),
            }
            .or_else(|| details_rtt),
            uptime_ms: self.started.elapsed().as_millis() as u64,
            video: None,
            audio: None,
        }
    }
}

/// Stats of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionStats {
    /// Connection id.
    pub id: u64,
    /// Peer address.
    pub remote_addr: String,
    /// Application.
    pub app: String,
    /// Encoder identification (flashVer).
    pub flash_ver: Option<String>,
    /// `publisher`, `player` or `idle`.
    pub role: String,
    /// Stream published or played.
    pub stream_name: Option<String>,
    /// `rtmp`, `rtmps` or `srt`.
    pub protocol: String,
    /// SRT link statistics (SRT connections only).
    pub srt: Option<SrtLinkStats>,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Receive bitrate over the last sampling interval.
    pub bitrate_in_bps: f64,
    /// Send bitrate over the last sampling interval.
    pub bitrate_out_bps: f64,
    /// Video frames per second over the last sampling interval.
    pub fps: f64,
    /// Video frames received (publisher) or sent (player).
    pub video_frames: u64,
    /// Audio frames received or sent.
    pub audio_frames: u64,
    /// Frames dropped because this player was slow.
    pub dropped_frames: u64,
    /// Last measured round-trip time.
    pub rtt_ms: Option<u64>,
    /// Time since the connection was accepted.
    pub uptime_ms: u64,
    /// Video codec of the stream published or played.
    pub video: Option<VideoInfo>,
    /// Audio codec of the stream published or played.
    pub audio: Option<AudioInfo>,
}

/// Stats of one live stream.
pub type StreamStats = StreamInfo;

/// Everything at once.
#[derive(Debug, Clone)]
pub struct ServerStats {
    /// Open connections.
    pub connections: Vec<ConnectionStats>,
    /// Live streams.
    pub streams: Vec<StreamStats>,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Connections refused at accept (limit) since start.
    pub refused_connections: u64,
}
