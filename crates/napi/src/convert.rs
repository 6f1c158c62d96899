//! Core types → JavaScript types. One place for every conversion.

use klive_server_core::{AudioInfo, ConnectionStats, HlsStreamInfo, RecordingInfo, ServerEvent, ServerStats, StreamStats, VideoInfo};
use napi_derive::napi;

/// One query-string parameter.
#[napi(object)]
pub struct QueryParam {
    /// Name.
    pub key: String,
    /// Decoded value.
    pub value: String,
}

/// Video codec details from the sequence header.
#[napi(object)]
pub struct VideoCodecInfo {
    /// H264, HEVC, AV1, VP9 or unknown.
    pub codec: String,
    /// RFC 6381 codec string, e.g. avc1.64001f.
    pub codec_string: Option<String>,
    /// Profile name, e.g. High.
    pub profile: Option<String>,
    /// Level, e.g. 3.1.
    pub level: Option<f64>,
    /// Width in pixels (0 when unknown).
    pub width: u32,
    /// Height in pixels (0 when unknown).
    pub height: u32,
    /// Signalled with enhanced RTMP (FourCC).
    pub enhanced: bool,
}

/// Audio codec details from the sequence header.
#[napi(object)]
pub struct AudioCodecInfo {
    /// AAC, MP3, Opus … or unknown.
    pub codec: String,
    /// RFC 6381 codec string, e.g. mp4a.40.2.
    pub codec_string: Option<String>,
    /// Profile name, e.g. LC.
    pub profile: Option<String>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u32,
}

/// An event from the RTMP core. `connect`, `publish` and `play` wait for `decide(requestId, …)`.
#[napi(discriminant = "type", discriminant_case = "camelCase")]
pub enum IngestEvent {
    /// A client sent connect.
    Connect {
        request_id: i64,
        connection_id: i64,
        remote_address: String,
        app: String,
        tc_url: Option<String>,
        query: Vec<QueryParam>,
        flash_ver: Option<String>,
        page_url: Option<String>,
        swf_url: Option<String>,
        handshake: String,
    },
    /// A client wants to publish.
    Publish {
        request_id: i64,
        connection_id: i64,
        stream_id: u32,
        stream_name: String,
        query: Vec<QueryParam>,
        publish_type: String,
    },
    /// A client wants to play.
    Play { request_id: i64, connection_id: i64, stream_id: u32, stream_name: String, query: Vec<QueryParam> },
    /// onMetaData of a live stream (JSON text).
    Metadata { connection_id: i64, stream_name: String, json: String },
    /// Codec details of a live stream (after a sequence header).
    CodecInfo { connection_id: i64, stream_name: String, video: Option<VideoCodecInfo>, audio: Option<AudioCodecInfo> },
    /// A live stream ended.
    Unpublish { connection_id: i64, stream_name: String, reason: String },
    /// A connection closed.
    Disconnect { connection_id: i64, remote_address: String, reason: String, bytes_in: i64, bytes_out: i64, duration_ms: i64 },
    /// An FLV sink ended.
    SinkClosed { sink_id: i64, stream_name: String, reason: String, bytes_written: i64, dropped_frames: i64 },
    /// An FLV source ended (detached or shutdown).
    SourceClosed { source_id: i64, stream_name: String, reason: String },
    /// A recording segment was finished (fsynced, renamed to `path`). `last`: closed
    /// because the stream ended for good or recording stopped.
    RecordingSegment { stream_name: String, path: String, start_wall_ms: f64, duration_ms: f64, bytes: f64, last: bool },
    /// Recording of a stream stopped on an error (e.g. a full disk); the stream goes on.
    RecordingError { stream_name: String, message: String },
    /// Something notable that closed nothing.
    Warning { connection_id: i64, message: String },
}

fn query(params: Vec<(String, String)>) -> Vec<QueryParam> {
    params.into_iter().map(|(key, value)| QueryParam { key, value }).collect()
}

fn video(v: VideoInfo) -> VideoCodecInfo {
    VideoCodecInfo {
        codec: v.codec,
        codec_string: v.codec_string,
        profile: v.profile,
        level: v.level,
        width: v.width,
        height: v.height,
        enhanced: v.enhanced,
    }
}

fn audio(a: AudioInfo) -> AudioCodecInfo {
    AudioCodecInfo { codec: a.codec, codec_string: a.codec_string, profile: a.profile, sample_rate: a.sample_rate, channels: a.channels }
}

pub(crate) fn to_binding_event(event: ServerEvent) -> IngestEvent {
    match event {
        ServerEvent::Connect { request_id, connection_id, remote_addr, app, tc_url, query: q, flash_ver, page_url, swf_url, handshake } => {
            IngestEvent::Connect {
                request_id: request_id as i64,
                connection_id: connection_id as i64,
                remote_address: remote_addr.to_string(),
                app,
                tc_url,
                query: query(q),
                flash_ver,
                page_url,
                swf_url,
                handshake,
            }
        }
        ServerEvent::Publish { request_id, connection_id, stream_id, stream_name, query: q, publish_type } => IngestEvent::Publish {
            request_id: request_id as i64,
            connection_id: connection_id as i64,
            stream_id,
            stream_name,
            query: query(q),
            publish_type,
        },
        ServerEvent::Play { request_id, connection_id, stream_id, stream_name, query: q } => IngestEvent::Play {
            request_id: request_id as i64,
            connection_id: connection_id as i64,
            stream_id,
            stream_name,
            query: query(q),
        },
        ServerEvent::Metadata { connection_id, stream_name, json } => {
            IngestEvent::Metadata { connection_id: connection_id as i64, stream_name, json }
        }
        ServerEvent::CodecInfo { connection_id, stream_name, video: v, audio: a } => IngestEvent::CodecInfo {
            connection_id: connection_id as i64,
            stream_name,
            video: v.map(video),
            audio: a.map(audio),
        },
        ServerEvent::Unpublish { connection_id, stream_name, reason } => {
            IngestEvent::Unpublish { connection_id: connection_id as i64, stream_name, reason }
        }
        ServerEvent::Disconnect(d) => IngestEvent::Disconnect {
            connection_id: d.connection_id as i64,
            remote_address: d.remote_addr.to_string(),
            reason: d.reason,
            bytes_in: d.bytes_in as i64,
            bytes_out: d.bytes_out as i64,
            duration_ms: d.duration_ms as i64,
        },
        ServerEvent::SinkClosed { sink_id, stream_name, reason, bytes_written, dropped_frames } => IngestEvent::SinkClosed {
            sink_id: sink_id as i64,
            stream_name,
            reason,
            bytes_written: bytes_written as i64,
            dropped_frames: dropped_frames as i64,
        },
        ServerEvent::SourceClosed { source_id, stream_name, reason } => {
            IngestEvent::SourceClosed { source_id: source_id as i64, stream_name, reason }
        }
        ServerEvent::RecordingSegment { stream_name, path, start_wall_ms, duration_ms, bytes, last } => IngestEvent::RecordingSegment {
            stream_name,
            path,
            start_wall_ms: start_wall_ms as f64,
            duration_ms: duration_ms as f64,
            bytes: bytes as f64,
            last,
        },
        ServerEvent::RecordingError { stream_name, message } => IngestEvent::RecordingError { stream_name, message },
        ServerEvent::Warning { connection_id, message } => IngestEvent::Warning { connection_id: connection_id as i64, message },
    }
}

/// Live stats of one connection.
#[napi(object)]
pub struct ConnectionStatsSnapshot {
    pub id: i64,
    pub remote_address: String,
    pub app: String,
    /// Encoder identification (flashVer).
    pub flash_ver: Option<String>,
    /// publisher, player or idle.
    pub role: String,
    pub stream_name: Option<String>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// Receive bitrate over the last sampling interval (bits/s).
    pub bitrate_in_bps: f64,
    /// Send bitrate over the last sampling interval (bits/s).
    pub bitrate_out_bps: f64,
    /// Video frames per second over the last sampling interval.
    pub fps: f64,
    pub video_frames: i64,
    pub audio_frames: i64,
    /// Frames dropped because this player was too slow.
    pub dropped_frames: i64,
    /// Round-trip time from the last ping (SRT: the link's smoothed RTT), when measured.
    pub rtt_ms: Option<f64>,
    pub uptime_ms: i64,
    /// rtmp, rtmps or srt.
    pub protocol: String,
    /// Link statistics of an SRT connection.
    pub srt: Option<SrtLinkSnapshot>,
    /// Video codec of the stream published or played.
    pub video: Option<VideoCodecInfo>,
    /// Audio codec of the stream published or played.
    pub audio: Option<AudioCodecInfo>,
}

/// Link statistics of an SRT connection, cumulative since it opened.
#[napi(object)]
pub struct SrtLinkSnapshot {
    /// Smoothed round-trip time, ms.
    pub rtt_ms: f64,
    /// Data packets received, retransmissions included.
    pub packets_received: i64,
    /// Packets detected lost (most are recovered by retransmission).
    pub packets_lost: i64,
    /// Retransmitted packets received.
    pub packets_retransmitted: i64,
    /// Packets given up on (too late for the receiver latency).
    pub packets_dropped: i64,
    /// Lost packets as a share of those sent, percent.
    pub loss_percent: f64,
    /// Retransmissions as a share of packets received, percent.
    pub retransmit_percent: f64,
}

/// Live stats of one stream.
#[napi(object)]
pub struct StreamStatsSnapshot {
    pub name: String,
    pub app: String,
    /// Publisher's connection id.
    pub publisher: i64,
    pub video: Option<VideoCodecInfo>,
    pub audio: Option<AudioCodecInfo>,
    /// onMetaData as JSON text.
    pub metadata_json: Option<String>,
    /// Players and sinks attached.
    pub subscribers: u32,
    pub frames: i64,
    /// Video frames (sequence headers excluded).
    pub video_frames: i64,
    /// Media bytes received.
    pub bytes: i64,
    pub uptime_ms: i64,
}

/// Everything at once.
#[napi(object)]
pub struct ServerStatsSnapshot {
    pub connections: Vec<ConnectionStatsSnapshot>,
    pub streams: Vec<StreamStatsSnapshot>,
    pub total_connections: i64,
    pub refused_connections: i64,
}

fn connection(c: ConnectionStats) -> ConnectionStatsSnapshot {
    ConnectionStatsSnapshot {
        id: c.id as i64,
        remote_address: c.remote_addr,
        app: c.app,
        flash_ver: c.flash_ver,
        role: c.role,
        stream_name: c.stream_name,
        bytes_in: c.bytes_in as i64,
        bytes_out: c.bytes_out as i64,
        bitrate_in_bps: c.bitrate_in_bps,
        bitrate_out_bps: c.bitrate_out_bps,
        fps: c.fps,
        video_frames: c.video_frames as i64,
        audio_frames: c.audio_frames as i64,
        dropped_frames: c.dropped_frames as i64,
        rtt_ms: c.rtt_ms.map(|v| v as f64),
        uptime_ms: c.uptime_ms as i64,
        protocol: c.protocol,
        srt: c.srt.map(|s| SrtLinkSnapshot {
            rtt_ms: s.rtt_ms,
            packets_received: s.packets_received as i64,
            packets_lost: s.packets_lost as i64,
            packets_retransmitted: s.packets_retransmitted as i64,
            packets_dropped: s.packets_dropped as i64,
            loss_percent: s.loss_percent,
            retransmit_percent: s.retransmit_percent,
        }),
        video: c.video.map(video),
        audio: c.audio.map(audio),
    }
}

fn stream(s: StreamStats) -> StreamStatsSnapshot {
    StreamStatsSnapshot {
        name: s.name,
        app: s.app,
        publisher: s.publisher as i64,
        video: s.video.map(video),
        audio: s.audio.map(audio),
        metadata_json: s.metadata_json,
        subscribers: s.subscribers as u32,
        frames: s.frames as i64,
        video_frames: s.video_frames as i64,
        bytes: s.bytes as i64,
        uptime_ms: s.uptime_ms as i64,
    }
}

pub(crate) fn to_binding_stats(s: ServerStats) -> ServerStatsSnapshot {
    ServerStatsSnapshot {
        connections: s.connections.into_iter().map(connection).collect(),
        streams: s.streams.into_iter().map(stream).collect(),
        total_connections: s.total_connections as i64,
        refused_connections: s.refused_connections as i64,
    }
}

/// One HLS-packaged stream.
#[napi(object)]
pub struct HlsStreamSnapshot {
    pub name: String,
    /// Stream-name group whose master playlist lists it.
    pub group: Option<String>,
    /// Its stream is live now (else waiting for a republish).
    pub live: bool,
    pub segments_written: i64,
    pub segments_kept: u32,
    pub first_sequence: Option<i64>,
    pub last_segment_ms: Option<i64>,
    pub target_duration_s: u32,
    /// Peak bit rate over the live window (bits/s).
    pub peak_bandwidth: Option<i64>,
    /// Average bit rate over the live window (bits/s).
    pub average_bandwidth: Option<i64>,
    /// RFC 6381 codecs.
    pub codecs: Vec<String>,
    /// Frames that could not be remuxed.
    pub rejected_frames: i64,
}

pub(crate) fn to_binding_hls(h: HlsStreamInfo) -> HlsStreamSnapshot {
    HlsStreamSnapshot {
        name: h.name,
        group: h.group,
        live: h.live,
        segments_written: h.segments_written as i64,
        segments_kept: h.segments_kept as u32,
        first_sequence: h.first_sequence.map(|v| v as i64),
        last_segment_ms: h.last_segment_ms.map(|v| v as i64),
        target_duration_s: h.target_duration_s as u32,
        peak_bandwidth: h.bandwidth.map(|b| b.0 as i64),
        average_bandwidth: h.bandwidth.map(|b| b.1 as i64),
        codecs: h.codecs,
        rejected_frames: h.rejected_frames as i64,
    }
}

/// The HLS segment store: the live edge in memory, the DVR window on disk.
#[napi(object)]
pub struct HlsStoreSnapshot {
    /// Directory of the on-disk part; null: memory only.
    pub directory: Option<String>,
    /// Finished segments in memory, bytes.
    pub memory_bytes: f64,
    pub memory_segments: f64,
    /// The global memory budget, bytes (0: memory only).
    pub memory_budget_bytes: f64,
    /// Segment files, bytes.
    pub disk_bytes: f64,
    pub disk_segments: f64,
    /// The disk budget, bytes (0: none).
    pub disk_budget_bytes: f64,
    /// Bytes waiting for the disk writer.
    pub spill_queue_bytes: f64,
    /// Segments written to disk since start.
    pub spilled_segments: f64,
    /// Of those, spilled from the live edge because of the memory budget.
    pub early_spills: f64,
    /// Segments dropped before their window ended (disk full or slow, disk budget).
    pub lost_segments: f64,
    /// The last disk error, while no write has succeeded since ("DVR shortened").
    pub error: Option<String>,
}

pub(crate) fn to_binding_store(s: klive_server_core::StoreStats) -> HlsStoreSnapshot {
    HlsStoreSnapshot {
        directory: s.directory,
        memory_bytes: s.memory_bytes as f64,
        memory_segments: s.memory_segments as f64,
        memory_budget_bytes: s.memory_budget_bytes as f64,
        disk_bytes: s.disk_bytes as f64,
        disk_segments: s.disk_segments as f64,
        disk_budget_bytes: s.disk_budget_bytes as f64,
        spill_queue_bytes: s.spill_queue_bytes as f64,
        spilled_segments: s.spilled_segments as f64,
        early_spills: s.early_spills as f64,
        lost_segments: s.lost_segments as f64,
        error: s.error,
    }
}

/// One recorded stream.
#[napi(object)]
pub struct RecordingSnapshot {
    pub name: String,
    /// Directory of its segments.
    pub dir: String,
    /// Its stream is live and being written.
    pub live: bool,
    /// Segments finished.
    pub segments: i64,
    /// Bytes written.
    pub bytes: f64,
    /// Length of the open segment, ms.
    pub current_segment_ms: f64,
    /// Frames that could not be recorded (malformed, or a codec the MP4 writer cannot carry).
    pub rejected_frames: f64,
    /// Why recording stopped, after an error.
    pub error: Option<String>,
}

pub(crate) fn to_binding_recording(r: RecordingInfo) -> RecordingSnapshot {
    RecordingSnapshot {
        name: r.name,
        dir: r.dir,
        live: r.live,
        segments: r.segments as i64,
        bytes: r.bytes as f64,
        current_segment_ms: r.current_segment_ms as f64,
        rejected_frames: r.rejected_frames as f64,
        error: r.error,
    }
}

/// A segment finished by `recoverRecordingSegment`.
#[napi(object)]
pub struct RecoveredSegmentInfo {
    /// The finished `.mp4` file.
    pub path: String,
    /// Timeline (wall-clock) ms of its first frame.
    pub start_wall_ms: f64,
    /// Playable duration, ms.
    pub duration_ms: f64,
    /// Size after truncation.
    pub bytes: f64,
}
