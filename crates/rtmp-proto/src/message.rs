//! RTMP message types and the encoding of the messages a server sends.
//!
//! Decoding of incoming messages happens in the session (it needs session state); this module
//! holds the type ids, the user-control events and builders for outgoing payloads.

use crate::amf::{amf0, AmfValue};

/// Set Chunk Size (protocol control).
pub const SET_CHUNK_SIZE: u8 = 1;
/// Abort Message (protocol control).
pub const ABORT: u8 = 2;
/// Acknowledgement (protocol control).
pub const ACKNOWLEDGEMENT: u8 = 3;
/// User Control Message.
pub const USER_CONTROL: u8 = 4;
/// Window Acknowledgement Size (protocol control).
pub const WINDOW_ACK_SIZE: u8 = 5;
/// Set Peer Bandwidth (protocol control).
pub const SET_PEER_BANDWIDTH: u8 = 6;
/// Audio data.
pub const AUDIO: u8 = 8;
/// Video data.
pub const VIDEO: u8 = 9;
/// AMF3 data message.
pub const DATA_AMF3: u8 = 15;
/// AMF3 shared object.
pub const SHARED_OBJECT_AMF3: u8 = 16;
/// AMF3 command.
pub const COMMAND_AMF3: u8 = 17;
/// AMF0 data message.
pub const DATA_AMF0: u8 = 18;
/// AMF0 shared object.
pub const SHARED_OBJECT_AMF0: u8 = 19;
/// AMF0 command.
pub const COMMAND_AMF0: u8 = 20;
/// Aggregate message: a run of FLV tags.
pub const AGGREGATE: u8 = 22;

/// Chunk stream used for protocol control messages.
pub const CSID_CONTROL: u32 = 2;
/// Chunk stream used for command messages.
pub const CSID_COMMAND: u32 = 3;
/// Chunk stream used for audio sent to players.
pub const CSID_AUDIO: u32 = 4;
/// Chunk stream used for video sent to players.
pub const CSID_VIDEO: u32 = 6;
/// Chunk stream used for data messages sent to players.
pub const CSID_DATA: u32 = 5;

/// A User Control Message event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControl {
    /// The stream is ready to be used.
    StreamBegin(u32),
    /// Playback of the stream ended.
    StreamEof(u32),
    /// No more data on the stream.
    StreamDry(u32),
    /// Client's buffer length in ms for a stream.
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        buffer_ms: u32,
    },
    /// The stream is a recorded one.
    StreamIsRecorded(u32),
    /// Ping: the peer must echo the timestamp.
    PingRequest(u32),
    /// Answer to a ping.
    PingResponse(u32),
    /// An event type this implementation does not interpret.
    Other(u16),
}

impl UserControl {
    /// Parse a user control message body; `None` when it is too short.
    pub fn parse(payload: &[u8]) -> Option<UserControl> {
        let kind = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
        let word = |at: usize| -> Option<u32> { Some(u32::from_be_bytes(payload.get(at..at + 4)?.try_into().ok()?)) };
        Some(match kind {
            0 => UserControl::StreamBegin(word(2)?),
            1 => UserControl::StreamEof(word(2)?),
            2 => UserControl::StreamDry(word(2)?),
            3 => UserControl::SetBufferLength { stream_id: word(2)?, buffer_ms: word(6)? },
            4 => UserControl::StreamIsRecorded(word(2)?),
            6 => UserControl::PingRequest(word(2)?),
            7 => UserControl::PingResponse(word(2)?),
            other => UserControl::Other(other),
        })
    }

    /// Encode the body of this user control message.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, a, b): (u16, u32, Option<u32>) = match *self {
            UserControl::StreamBegin(id) => (0, id, None),
            UserControl::StreamEof(id) => (1, id, None),
            UserControl::StreamDry(id) => (2, id, None),
            UserControl::SetBufferLength { stream_id, buffer_ms } => (3, stream_id, Some(buffer_ms)),
            UserControl::StreamIsRecorded(id) => (4, id, None),
            UserControl::PingRequest(t) => (6, t, None),
            UserControl::PingResponse(t) => (7, t, None),
            UserControl::Other(k) => (k, 0, None),
        };
        let mut out = Vec::with_capacity(10);
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&a.to_be_bytes());
        if let Some(b) = b {
            out.extend_from_slice(&b.to_be_bytes());
        }
        out
    }
}

/// Body of an AMF0 command message: name, transaction id, command object, arguments.
pub fn command_body(name: &str, transaction_id: f64, command_object: AmfValue, args: &[AmfValue]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    amf0::encode(&AmfValue::String(name.to_string()), &mut out);
    amf0::encode(&AmfValue::Number(transaction_id), &mut out);
    amf0::encode(&command_object, &mut out);
    for arg in args {
        amf0::encode(arg, &mut out);
    }
    out
}

/// An AMF0 object from `(key, value)` pairs.
pub fn object<const N: usize>(pairs: [(&str, AmfValue); N]) -> AmfValue {
    AmfValue::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The `info` object of an `onStatus` / `_result` / `_error`: level, code, description.
pub fn status_info(level: &str, code: &str, description: &str) -> AmfValue {
    object([
        ("level", AmfValue::String(level.into())),
        ("code", AmfValue::String(code.into())),
        ("description", AmfValue::String(description.into())),
    ])
}

/// Body of a 4-byte big-endian control message (Set Chunk Size, Ack, Window Ack Size).
pub fn u32_body(value: u32) -> [u8; 4] {
    value.to_be_bytes()
}

/// Body of Set Peer Bandwidth (limit type 2 = dynamic).
pub fn peer_bandwidth_body(size: u32, limit_type: u8) -> [u8; 5] {
    let b = size.to_be_bytes();
    [b[0], b[1], b[2], b[3], limit_type]
}
