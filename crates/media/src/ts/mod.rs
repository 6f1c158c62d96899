//! MPEG-2 transport stream muxer for HLS segments (ISO/IEC 13818-1), sans-IO.
//!
//! [`TsMuxer`] turns access units into 188-byte TS packets appended to a caller-owned
//! `Vec<u8>`. It never allocates per packet: each `write_*` call reserves room for the
//! whole PES once, and the elementary-stream payload is copied exactly once, straight
//! into the packets (the `*_avcc` / [`TsMuxer::write_aac_frame`] entry points even do
//! the AVCC → Annex B and raw AAC → ADTS framing on the way, so an RTMP message body
//! goes into the segment with a single copy).
//!
//! # Layout
//! One program (number [`PROGRAM_NUMBER`]) with fixed PIDs: PMT [`PMT_PID`], video
//! [`VIDEO_PID`] (stream type 0x1B H.264 or 0x24 HEVC), audio [`AUDIO_PID`] (0x0F, AAC
//! in ADTS) and timed ID3 metadata [`ID3_PID`] (0x15, with the metadata pointer and
//! metadata descriptors of Apple's "Timed Metadata for HTTP Live Streaming").
//!
//! # Caller obligations
//! * Call [`TsMuxer::begin_segment`] at the start of every segment, before its first
//!   access unit (normally a video keyframe): it writes PAT and PMT so each segment
//!   decodes on its own. Continuity counters run on across segments.
//! * Timestamps are 90 kHz values on one clock shared by all streams of the muxer
//!   (e.g. wall-clock based). Any `u64` is accepted; PTS, DTS and PCR are written
//!   modulo 2^33 and differences are taken modulo 2^33, so the 26.5-hour wrap needs no
//!   special handling.
//! * Feed access units in decode order per stream, interleaved by time across streams
//!   (the order RTMP delivers them in). One `write_video*` call is one complete access
//!   unit; `write_audio` takes one or more whole ADTS frames; `write_timed_metadata`
//!   takes one complete ID3v2 tag.
//!
//! # Clock reference (PCR)
//! PCR is carried on the video PID (on the audio PID for audio-only programs; there is
//! none when the program has neither). Its value is the DTS of the access unit it
//! precedes minus [`PCR_OFFSET_90K`] (700 ms, the mux delay ffmpeg uses by default), so
//! that every access unit arrives before its decode time even when the encoder's
//! audio runs somewhat ahead of or behind its video in the interleaving. PCR does not
//! go backwards through such jitter: a candidate below the last written value is
//! replaced by that value. A jump of more than [`PCR_DISCONTINUITY_90K`] (10 s) either
//! way is a timeline discontinuity: the new value is written with the adaptation
//! field's `discontinuity_indicator` set.
//!
//! A PCR is written in the first packet of a PCR-PID PES on every keyframe, on the
//! first PES after `begin_segment` and whenever [`PCR_INTERVAL_90K`] (40 ms) has passed
//! since the last one. If the PCR stream is sparse (e.g. 1 fps slides), a PES on another
//! PID that is [`PCR_IDLE_90K`] (75 ms) or more past the last PCR is preceded by a
//! PCR-only packet (adaptation field, no payload) on the PCR PID, which keeps the gap
//! under 100 ms as long as audio frames arrive at least every 25 ms. A PES written on
//! another PID right after `begin_segment` (e.g. the segment's leading ID3 tag) is
//! likewise preceded by a PCR-only packet, so a segment's first PCR comes before its
//! first PES.

pub mod convert;
pub mod demux;
pub mod flv_tags;
mod muxer;
mod packet;
mod psi;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod demux_tests;

pub use muxer::TsMuxer;

/// Size of one transport stream packet.
pub const TS_PACKET_SIZE: usize = 188;
/// PID of the program map table.
pub const PMT_PID: u16 = 0x1000;
/// PID of the video elementary stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the AAC (ADTS) elementary stream.
pub const AUDIO_PID: u16 = 0x101;
/// PID of the timed ID3 metadata stream.
pub const ID3_PID: u16 = 0x102;
/// Program number announced in the PAT and PMT.
pub const PROGRAM_NUMBER: u16 = 1;
/// transport_stream_id written in the PAT.
pub const TRANSPORT_STREAM_ID: u16 = 1;
/// PCR = DTS − this many 90 kHz ticks (700 ms).
pub const PCR_OFFSET_90K: u64 = 63_000;
/// A PES on the PCR PID carries a PCR once this much time (40 ms) has passed since the
/// last PCR.
pub const PCR_INTERVAL_90K: u64 = 3_600;
/// A PES on another PID this far (75 ms) past the last PCR is preceded by a PCR-only
/// packet on the PCR PID.
pub const PCR_IDLE_90K: u64 = 6_750;
/// A PCR more than this (10 s) away from the previous one, either way, is written with
/// `discontinuity_indicator` set instead of being held back.
pub const PCR_DISCONTINUITY_90K: u64 = 900_000;
/// Largest elementary-stream payload of a bounded PES packet (audio, ID3) with a PTS:
/// 65535 − 3 (flags and header length) − 5 (PTS).
pub const MAX_BOUNDED_PES_PAYLOAD: usize = 65_535 - 3 - 5;

/// Video codec of the program's video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoStreamKind {
    /// H.264 / AVC, stream type 0x1B.
    H264,
    /// H.265 / HEVC, stream type 0x24.
    Hevc,
}

impl VideoStreamKind {
    /// PMT `stream_type` of this codec.
    pub const fn stream_type(self) -> u8 {
        match self {
            VideoStreamKind::H264 => 0x1B,
            VideoStreamKind::Hevc => 0x24,
        }
    }

    /// NAL unit type of an access unit delimiter (9 for H.264, 35 for HEVC).
    pub const fn aud_nal_type(self) -> u8 {
        match self {
            VideoStreamKind::H264 => 9,
            VideoStreamKind::Hevc => 35,
        }
    }

    /// NAL unit type of a NAL unit whose first header byte is `first_byte`.
    pub const fn nal_type(self, first_byte: u8) -> u8 {
        match self {
            VideoStreamKind::H264 => first_byte & 0x1F,
            VideoStreamKind::Hevc => (first_byte >> 1) & 0x3F,
        }
    }

    /// The NAL type is a parameter set (H.264 SPS/PPS, HEVC VPS/SPS/PPS).
    pub const fn is_parameter_set(self, nal_type: u8) -> bool {
        match self {
            VideoStreamKind::H264 => matches!(nal_type, 7 | 8),
            VideoStreamKind::Hevc => matches!(nal_type, 32..=34),
        }
    }
}

/// Which elementary streams the program carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TsConfig {
    /// Video stream and its codec, if any.
    pub video: Option<VideoStreamKind>,
    /// An AAC (ADTS) audio stream is present.
    pub audio: bool,
    /// A timed ID3 metadata stream is present.
    pub timed_metadata: bool,
}

/// Errors of the TS muxer and its conversion helpers. A failed call writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// The muxer was configured without the stream written to.
    #[error("the muxer has no {0} stream")]
    StreamNotConfigured(&'static str),
    /// A bounded PES packet (audio, ID3) cannot hold this much data.
    #[error("{len}-byte payload exceeds the {max}-byte limit of a bounded PES packet")]
    PesTooLarge {
        /// Payload length given.
        len: usize,
        /// Largest payload allowed.
        max: usize,
    },
    /// An AAC frame too long for the 13-bit ADTS frame_length field.
    #[error("{0}-byte AAC frame does not fit an ADTS header")]
    AdtsFrameTooLarge(usize),
    /// The NAL unit length prefix size is not 1, 2, 3 or 4.
    #[error("invalid NAL unit length size {0}")]
    InvalidNalLengthSize(u8),
    /// A length prefix points past the end of the frame, or the frame ends inside a
    /// length prefix.
    #[error("length-prefixed NAL unit runs past the end of the frame")]
    TruncatedNal,
}

/// Reduce a timestamp to the 33 bits carried in PTS, DTS and PCR base fields.
pub const fn ts33(t: u64) -> u64 {
    t & ((1 << 33) - 1)
}
