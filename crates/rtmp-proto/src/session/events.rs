//! What a [`super::ServerSession`] reports to its driver.

use crate::amf::AmfValue;
use bytes::Bytes;

/// Kind of a media message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Audio (RTMP type 8).
    Audio,
    /// Video (RTMP type 9).
    Video,
    /// AMF0 data (RTMP type 18), e.g. onMetaData, onTextData, onCuePoint.
    Data,
}

/// A client asked to connect; answer with `accept` / `reject`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    /// Id to pass to `accept` / `reject`.
    pub request_id: u32,
    /// Application name as sent (may carry a `?query`).
    pub app: String,
    /// tcUrl, the URL the client connected to.
    pub tc_url: Option<String>,
    /// flashVer (encoder identification, e.g. `FMLE/3.0 (compatible; FMSc/1.0)`).
    pub flash_ver: Option<String>,
    /// swfUrl.
    pub swf_url: Option<String>,
    /// pageUrl.
    pub page_url: Option<String>,
    /// objectEncoding (0 = AMF0, 3 = AMF3).
    pub object_encoding: f64,
    /// The whole command object.
    pub command_object: AmfValue,
}

/// An event raised by the session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// `connect` received.
    ConnectRequested(ConnectRequest),
    /// `publish` received on a message stream.
    PublishRequested {
        /// Id to pass to `accept` / `reject`.
        request_id: u32,
        /// Message stream id.
        stream_id: u32,
        /// Stream name as sent (may carry a `?query`).
        stream_name: String,
        /// live, record or append.
        publish_type: String,
    },
    /// `play` received on a message stream.
    PlayRequested {
        /// Id to pass to `accept` / `reject`.
        request_id: u32,
        /// Message stream id.
        stream_id: u32,
        /// Stream name as sent.
        stream_name: String,
    },
    /// Audio or video on a publishing stream. The payload is the FLV tag body.
    Media {
        /// Message stream id.
        stream_id: u32,
        /// Audio or video.
        kind: MediaKind,
        /// RTMP timestamp (ms, 32-bit).
        timestamp: u32,
        /// Tag body, shared with the receive buffer (no copy).
        payload: Bytes,
    },
    /// A data message on a publishing stream, `@setDataFrame` removed.
    Data {
        /// Message stream id.
        stream_id: u32,
        /// RTMP timestamp.
        timestamp: u32,
        /// Handler name: onMetaData, onTextData, onCuePoint …
        name: String,
        /// Decoded values, the name first.
        values: Vec<AmfValue>,
        /// AMF0 body to forward downstream.
        payload: Bytes,
    },
    /// The publisher stopped (FCUnpublish, closeStream or deleteStream).
    PublishStopped {
        /// Message stream id.
        stream_id: u32,
    },
    /// A player stopped (closeStream or deleteStream).
    PlayStopped {
        /// Message stream id.
        stream_id: u32,
    },
    /// Answer to our PingRequest.
    PingResponse {
        /// The timestamp we sent.
        timestamp: u32,
    },
    /// A command the session does not know; it answered `_error` when a reply was expected.
    UnknownCommand {
        /// Command name.
        name: String,
    },
    /// Something was dropped but the session goes on.
    Warning {
        /// What happened.
        message: String,
    },
}
