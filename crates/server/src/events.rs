//! What the server tells the application, and what the application answers.

use std::net::SocketAddr;

/// Codec details of a stream's video, from its sequence header.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// `H264`, `HEVC`, `AV1`, `VP9` or `unknown`.
    pub codec: String,
    /// RFC 6381 codec string when known (e.g. `avc1.64001f`).
    pub codec_string: Option<String>,
    /// Profile name (e.g. `High`).
    pub profile: Option<String>,
    /// Level (e.g. 3.1).
    pub level: Option<f64>,
    /// Coded width after cropping, 0 when unknown.
    pub width: u32,
    /// Coded height after cropping, 0 when unknown.
    pub height: u32,
    /// True for enhanced-RTMP (FourCC) signalling.
    pub enhanced: bool,
}

/// Codec details of a stream's audio, from its sequence header.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// `AAC`, `MP3`, `Opus`, … or `unknown`.
    pub codec: String,
    /// RFC 6381 codec string when known (e.g. `mp4a.40.2`).
    pub codec_string: Option<String>,
    /// Profile name (e.g. `LC`).
    pub profile: Option<String>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u32,
}

/// Totals of a closed connection.
#[derive(Debug, Clone, PartialEq)]
pub struct DisconnectInfo {
    /// Connection id.
    pub connection_id: u64,
    /// Peer address.
    pub remote_addr: SocketAddr,
    /// Why it closed (e.g. `client closed`, `idle timeout`, `refused: …`).
    pub reason: String,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// How long it lasted.
    pub duration_ms: u64,
}

/// An event for the application. Requests (`Connect`, `Publish`, `Play`) wait for
/// [`crate::Server::decide`] with their `request_id`.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// A client sent `connect`.
    Connect {
        /// Id to decide on.
        request_id: u64,
        /// Connection id.
        connection_id: u64,
        /// Peer address.
        remote_addr: SocketAddr,
        /// Application name without its query.
        app: String,
        /// tcUrl as sent.
        tc_url: Option<String>,
        /// Query parameters from the app and tcUrl.
        query: Vec<(String, String)>,
        /// flashVer (encoder identification).
        flash_ver: Option<String>,
        /// pageUrl.
        page_url: Option<String>,
        /// swfUrl.
        swf_url: Option<String>,
        /// `plain` or `digest`.
        handshake: String,
    },
    /// A client wants to publish.
    Publish {
        /// Id to decide on.
        request_id: u64,
        /// Connection id.
        connection_id: u64,
        /// Message stream id.
        stream_id: u32,
        /// Stream name without its query.
        stream_name: String,
        /// Query parameters of the stream name.
        query: Vec<(String, String)>,
        /// live, record or append.
        publish_type: String,
    },
    /// A client wants to play.
    Play {
        /// Id to decide on.
        request_id: u64,
        /// Connection id.
        connection_id: u64,
        /// Message stream id.
        stream_id: u32,
        /// Stream name without its query.
        stream_name: String,
        /// Query parameters of the stream name.
        query: Vec<(String, String)>,
    },
    /// onMetaData of a live stream, as JSON.
    Metadata {
        /// Connection id of the publisher.
        connection_id: u64,
        /// Stream name.
        stream_name: String,
        /// The metadata object as JSON.
        json: String,
    },
    /// A sequence header arrived (first or changed).
    CodecInfo {
        /// Connection id of the publisher.
        connection_id: u64,
        /// Stream name.
        stream_name: String,
        /// Video codec, when known.
        video: Option<VideoInfo>,
        /// Audio codec, when known.
        audio: Option<AudioInfo>,
    },
    /// A live stream ended.
    Unpublish {
        /// Connection id of the publisher.
        connection_id: u64,
        /// Stream name.
        stream_name: String,
        /// Why.
        reason: String,
    },
    /// A connection closed.
    Disconnect(DisconnectInfo),
    /// An FLV sink ended (detached, stream ended, reader gone, write error).
    SinkClosed {
        /// Sink id.
        sink_id: u64,
        /// Stream name.
        stream_name: String,
        /// Why.
        reason: String,
        /// Bytes written.
        bytes_written: u64,
        /// Frames dropped because the sink was slow.
        dropped_frames: u64,
    },
    /// An FLV source ended (detached or server shutdown).
    SourceClosed {
        /// Source id.
        source_id: u64,
        /// Stream name it fed.
        stream_name: String,
        /// Why.
        reason: String,
    },
    /// A recording segment was finished: fsynced and renamed to its final path.
    RecordingSegment {
        /// Recorded stream.
        stream_name: String,
        /// The finished `.mp4` file.
        path: String,
        /// Timeline (wall-clock) ms of its first frame.
        start_wall_ms: i64,
        /// Its duration, ms.
        duration_ms: u64,
        /// Its size.
        bytes: u64,
        /// Closed because the stream ended for good (or recording was stopped).
        last: bool,
    },
    /// Recording of a stream stopped on an error (e.g. a full disk); what was written is
    /// reported as a segment. The stream itself goes on.
    RecordingError {
        /// Recorded stream.
        stream_name: String,
        /// What failed.
        message: String,
    },
    /// Something notable that did not close anything.
    Warning {
        /// Connection id, 0 when none.
        connection_id: u64,
        /// What happened.
        message: String,
    },
}

/// The application's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Accept or refuse.
    pub accept: bool,
    /// Reason sent to the client on refusal.
    pub description: String,
    /// RTMP status code to use on refusal (defaults per request type).
    pub code: Option<String>,
    /// SRT reject code (2000..2999, libsrt's `SRT_REJX_*`) to use when an SRT peer is
    /// refused; default 2403 (forbidden). Ignored for RTMP.
    pub srt_reject: Option<u32>,
    /// On an accepted SRT publish: the passphrase (the entry's SRT pass) an encrypting
    /// caller must use. Ignored for RTMP.
    pub srt_passphrase: Option<String>,
}

impl Decision {
    /// Accept.
    pub fn accept() -> Self {
        Decision { accept: true, description: String::new(), code: None, srt_reject: None, srt_passphrase: None }
    }
    /// Refuse with a description.
    pub fn reject(description: impl Into<String>) -> Self {
        Decision { accept: false, description: description.into(), code: None, srt_reject: None, srt_passphrase: None }
    }
}
