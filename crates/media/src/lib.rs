//! Sans-IO media containers and codec parsing for klive-server.
//!
//! Nothing here touches a socket, a file or the clock. The parsers read *untrusted* bytes
//! straight off the wire, so they never panic, never index out of bounds, keep every
//! loop bounded by the input length or a small constant, and never allocate more than
//! the size of the input they were given.
//!
//! * [`flv`]: FLV file header, tag writer and a streaming tag reader.
//! * [`video`] / [`audio`]: the first bytes of a video/audio message body (legacy FLV
//!   and Enhanced RTMP v1/v2 headers).
//! * [`avc`], [`hevc`], [`aac`]: decoder configuration records, from which resolution,
//!   frame rate, sample rate, channel count and RFC 6381 codec strings are derived.
//! * [`ts`]: the MPEG-TS muxer behind the HLS packager.
//! * [`mp4`]: the fragmented MP4 muxer behind the recorder, and crash recovery.
#![warn(missing_docs)]

pub mod aac;
pub mod audio;
pub mod avc;
mod bits;
pub mod flv;
pub mod hevc;
pub mod mp4;
pub mod ts;
pub mod video;

#[cfg(test)]
mod real_tools;
#[cfg(test)]
mod tests;

/// Error returned by the media parsers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The input ended before a complete structure could be read.
    #[error("media data truncated")]
    Truncated,
    /// The input is malformed; the message names the offending field.
    #[error("invalid media data: {0}")]
    Invalid(&'static str),
    /// The input is well formed but uses a feature this module does not handle.
    #[error("unsupported media feature: {0}")]
    Unsupported(&'static str),
}

/// Big-endian FourCC value from four ASCII bytes.
pub(crate) const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*code)
}

/// Read a big-endian `u16` at `pos`, if present.
pub(crate) fn be_u16(data: &[u8], pos: usize) -> Option<u16> {
    let b = data.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Read a big-endian 24-bit unsigned value at `pos`, if present.
pub(crate) fn be_u24(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(3)?)?;
    Some(u32::from_be_bytes([0, b[0], b[1], b[2]]))
}

/// Read a big-endian `u32` at `pos`, if present.
pub(crate) fn be_u32(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Sign-extend a 24-bit two's complement value.
pub(crate) fn sign_extend_24(v: u32) -> i32 {
    ((v << 8) as i32) >> 8
}

/// Packet type value announcing a ModEx prefix, identical for Enhanced RTMP audio and
/// video.
pub(crate) const PACKET_TYPE_MOD_EX: u8 = 7;

/// Walk the Enhanced RTMP v2 ModEx chain. `pos` is the index just after the first
/// header byte and `packet_type` its low nibble. Returns the position after the chain
/// and the packet type that follows it. Each iteration consumes at least two bytes, so
/// the loop is bounded by the input length.
pub(crate) fn skip_mod_ex(
    data: &[u8],
    mut pos: usize,
    mut packet_type: u8,
) -> Result<(usize, u8), MediaError> {
    while packet_type == PACKET_TYPE_MOD_EX {
        let mut size = usize::from(*data.get(pos).ok_or(MediaError::Truncated)?) + 1;
        pos += 1;
        if size == 256 {
            size = usize::from(be_u16(data, pos).ok_or(MediaError::Truncated)?) + 1;
            pos += 2;
        }
        pos = pos.checked_add(size).ok_or(MediaError::Truncated)?;
        // High nibble: ModEx type (only TimestampOffsetNano is defined; ignored here).
        let next = *data.get(pos).ok_or(MediaError::Truncated)?;
        pos += 1;
        packet_type = next & 0x0F;
    }
    Ok((pos, packet_type))
}
