//! Video message header parsing: legacy FLV `VIDEODATA` and Enhanced RTMP
//! (`ExVideoTagHeader`, veovera enhanced-rtmp v1/v2).
//!
//! Legacy layout: `byte0 = frameType << 4 | codecId`; for AVC (7) and the common HEVC
//! extension (12) this is followed by `AVCPacketType` (0 sequence header, 1 NALU,
//! 2 end of sequence) and a signed 24-bit composition time offset.
//!
//! Enhanced layout: `byte0 = 1 << 7 | frameType << 4 | packetType`, an optional ModEx
//! chain, then a FourCC (`avc1`, `hvc1`, `av01`, `vp09`, …), and for `CodedFrames` of
//! `avc1`/`hvc1` a signed 24-bit composition time offset. Multitrack packets and
//! command frames are recognised and reported with [`VideoPacketKind::Other`].

use super::{be_u24, be_u32, fourcc, sign_extend_24, skip_mod_ex, MediaError};

/// Video codec announced by a video message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 / AVC (legacy codec id 7 or FourCC `avc1`).
    H264,
    /// H.265 / HEVC (legacy codec id 12 or FourCC `hvc1`).
    Hevc,
    /// AV1 (FourCC `av01`).
    Av1,
    /// VP9 (FourCC `vp09`).
    Vp9,
    /// Anything else: the legacy codec id for legacy headers, the FourCC (big-endian)
    /// for enhanced headers, or 0 for enhanced command frames, which carry no FourCC.
    Other(u32),
}

impl VideoCodec {
    /// Map an Enhanced RTMP video FourCC.
    pub fn from_fourcc(code: u32) -> Self {
        match code {
            FOURCC_AVC1 => VideoCodec::H264,
            FOURCC_HVC1 => VideoCodec::Hevc,
            FOURCC_AV01 => VideoCodec::Av1,
            FOURCC_VP09 => VideoCodec::Vp9,
            other => VideoCodec::Other(other),
        }
    }
}

/// FourCC `avc1`.
pub const FOURCC_AVC1: u32 = fourcc(b"avc1");
/// FourCC `hvc1`.
pub const FOURCC_HVC1: u32 = fourcc(b"hvc1");
/// FourCC `av01`.
pub const FOURCC_AV01: u32 = fourcc(b"av01");
/// FourCC `vp09`.
pub const FOURCC_VP09: u32 = fourcc(b"vp09");

/// Legacy FLV codec id for AVC.
pub const LEGACY_CODEC_AVC: u8 = 7;
/// Legacy FLV codec id commonly used for HEVC (non-standard extension).
pub const LEGACY_CODEC_HEVC: u8 = 12;

/// What a video message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoPacketKind {
    /// Decoder configuration (legacy AVC sequence header / enhanced SequenceStart).
    SequenceHeader,
    /// Coded picture data.
    Frame,
    /// End of sequence.
    EndOfSequence,
    /// Enhanced RTMP AMF metadata packet (e.g. HDR colour info).
    Metadata,
    /// Anything else: command frames, multitrack packets, MPEG2TSSequenceStart,
    /// reserved packet types, unknown legacy AVC packet types.
    Other,
}

/// Summary of a video message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTagInfo {
    /// Codec of the (first) track.
    pub codec: VideoCodec,
    /// Frame type is 1 (keyframe / seekable frame). Sequence headers normally carry
    /// frame type 1 as well. Always false for command frames and metadata packets.
    pub keyframe: bool,
    /// Packet kind.
    pub kind: VideoPacketKind,
    /// The header is an Enhanced RTMP `ExVideoTagHeader`.
    pub enhanced: bool,
    /// composition time offset in ms when present (AVC/HEVC legacy, enhanced CodedFrames)
    pub composition_time: i32,
}

const FRAME_TYPE_KEY: u8 = 1;
const FRAME_TYPE_COMMAND: u8 = 5;

const PT_SEQUENCE_START: u8 = 0;
const PT_CODED_FRAMES: u8 = 1;
const PT_SEQUENCE_END: u8 = 2;
const PT_CODED_FRAMES_X: u8 = 3;
const PT_METADATA: u8 = 4;
const PT_MULTITRACK: u8 = 6;

/// Header summary plus the offset at which the packet body starts.
struct Parsed {
    info: VideoTagInfo,
    /// Start of the body (configuration record, coded data, …); `None` when the body
    /// is not a single-track payload (multitrack, command frame).
    body: Option<usize>,
}

fn parse(data: &[u8]) -> Result<Parsed, MediaError> {
    let b0 = *data.first().ok_or(MediaError::Truncated)?;
    if b0 & 0x80 != 0 {
        parse_enhanced(data, b0)
    } else {
        parse_legacy(data, b0)
    }
}

fn parse_legacy(data: &[u8], b0: u8) -> Result<Parsed, MediaError> {
    let frame_type = b0 >> 4;
    let codec_id = b0 & 0x0F;
    let codec = match codec_id {
        LEGACY_CODEC_AVC => VideoCodec::H264,
        LEGACY_CODEC_HEVC => VideoCodec::Hevc,
        other => VideoCodec::Other(u32::from(other)),
    };
    let mut info = VideoTagInfo {
        codec,
        keyframe: frame_type == FRAME_TYPE_KEY,
        kind: VideoPacketKind::Frame,
        enhanced: false,
        composition_time: 0,
    };
    if frame_type == FRAME_TYPE_COMMAND {
        // Video info / command frame: one command byte, no picture.
        info.kind = VideoPacketKind::Other;
        return Ok(Parsed { info, body: None });
    }
    if !matches!(codec, VideoCodec::H264 | VideoCodec::Hevc) {
        return Ok(Parsed {
            info,
            body: Some(1),
        });
    }
    if data.len() < 5 {
        return Err(MediaError::Truncated);
    }
    info.kind = match data[1] {
        0 => VideoPacketKind::SequenceHeader,
        1 => VideoPacketKind::Frame,
        2 => VideoPacketKind::EndOfSequence,
        _ => VideoPacketKind::Other,
    };
    info.composition_time = sign_extend_24(be_u24(data, 2).ok_or(MediaError::Truncated)?);
    Ok(Parsed {
        info,
        body: Some(5),
    })
}

fn parse_enhanced(data: &[u8], b0: u8) -> Result<Parsed, MediaError> {
    let frame_type = (b0 >> 4) & 0x07;
    let (mut pos, packet_type) = skip_mod_ex(data, 1, b0 & 0x0F)?;
    let mut info = VideoTagInfo {
        codec: VideoCodec::Other(0),
        keyframe: frame_type == FRAME_TYPE_KEY && packet_type != PT_METADATA,
        kind: VideoPacketKind::Other,
        enhanced: true,
        composition_time: 0,
    };
    if frame_type == FRAME_TYPE_COMMAND && packet_type != PT_METADATA {
        // Followed by a VideoCommand byte; no FourCC, no payload.
        return Ok(Parsed { info, body: None });
    }
    if packet_type == PT_MULTITRACK {
        // UB[4] multitrack type, UB[4] packet type, then either the shared FourCC or,
        // for ManyTracksManyCodecs, the first track's FourCC: the same position.
        pos += 1;
        if pos >= data.len() {
            return Err(MediaError::Truncated);
        }
        info.codec = VideoCodec::from_fourcc(be_u32(data, pos).ok_or(MediaError::Truncated)?);
        return Ok(Parsed { info, body: None });
    }
    info.codec = VideoCodec::from_fourcc(be_u32(data, pos).ok_or(MediaError::Truncated)?);
    pos += 4;
    info.kind = match packet_type {
        PT_SEQUENCE_START => VideoPacketKind::SequenceHeader,
        PT_CODED_FRAMES | PT_CODED_FRAMES_X => VideoPacketKind::Frame,
        PT_SEQUENCE_END => VideoPacketKind::EndOfSequence,
        PT_METADATA => VideoPacketKind::Metadata,
        _ => VideoPacketKind::Other,
    };
    if packet_type == PT_CODED_FRAMES && matches!(info.codec, VideoCodec::H264 | VideoCodec::Hevc) {
        info.composition_time = sign_extend_24(be_u24(data, pos).ok_or(MediaError::Truncated)?);
        pos += 3;
    }
    Ok(Parsed {
        info,
        body: Some(pos),
    })
}

/// Parse the first bytes of an RTMP/FLV video message body.
///
/// Unknown codecs and packet types are reported (as [`VideoCodec::Other`] /
/// [`VideoPacketKind::Other`]) rather than rejected; errors are returned only when the
/// header itself is cut short.
pub fn parse_video_tag(data: &[u8]) -> Result<VideoTagInfo, MediaError> {
    parse(data).map(|p| p.info)
}

/// Byte offset and length of the codec configuration record inside a sequence-header tag
/// (legacy AVC: after 5 bytes; enhanced: after 5 bytes header (1 + FourCC)).
///
/// Returns the record (`AVCDecoderConfigurationRecord`, `HEVCDecoderConfigurationRecord`,
/// `AV1CodecConfigurationRecord`, `VPCodecConfigurationRecord`, …) as a sub-slice of
/// `data`, or `None` if `data` is not a single-track sequence header. Enhanced headers
/// with a ModEx prefix are handled (the record then starts after the prefix).
pub fn sequence_header_payload(data: &[u8]) -> Option<&[u8]> {
    let p = parse(data).ok()?;
    if p.info.kind != VideoPacketKind::SequenceHeader {
        return None;
    }
    data.get(p.body?..)
}

/// Body of a single-track video message after its header: the configuration record for
/// sequence headers, length-prefixed NAL units (AVC/HEVC) or OBUs/frames (AV1/VP9) for
/// frames. `None` for command frames, multitrack packets and malformed headers.
pub fn payload(data: &[u8]) -> Option<&[u8]> {
    let p = parse(data).ok()?;
    data.get(p.body?..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        codec: VideoCodec,
        keyframe: bool,
        kind: VideoPacketKind,
        enhanced: bool,
        cts: i32,
    ) -> VideoTagInfo {
        VideoTagInfo {
            codec,
            keyframe,
            kind,
            enhanced,
            composition_time: cts,
        }
    }

    #[test]
    fn legacy_avc() {
        let seq = [0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F];
        assert_eq!(
            parse_video_tag(&seq).unwrap(),
            info(
                VideoCodec::H264,
                true,
                VideoPacketKind::SequenceHeader,
                false,
                0
            )
        );
        assert_eq!(sequence_header_payload(&seq), Some(&seq[5..]));
        let inter = [0x27, 1, 0xFF, 0xFF, 0xBD, 0, 0, 0, 1, 0x41];
        assert_eq!(
            parse_video_tag(&inter).unwrap(),
            info(VideoCodec::H264, false, VideoPacketKind::Frame, false, -67)
        );
        assert_eq!(sequence_header_payload(&inter), None);
        assert_eq!(payload(&inter), Some(&inter[5..]));
        let key = [0x17, 1, 0x00, 0x00, 0x85];
        assert_eq!(parse_video_tag(&key).unwrap().composition_time, 133);
        let eos = [0x17, 2, 0, 0, 0];
        assert_eq!(
            parse_video_tag(&eos).unwrap().kind,
            VideoPacketKind::EndOfSequence
        );
        assert_eq!(parse_video_tag(&[0x17, 1, 0]), Err(MediaError::Truncated));
        assert_eq!(parse_video_tag(&[]), Err(MediaError::Truncated));
        assert_eq!(
            parse_video_tag(&[0x17, 9, 0, 0, 0]).unwrap().kind,
            VideoPacketKind::Other
        );
    }

    #[test]
    fn legacy_hevc_and_others() {
        let seq = [0x1C, 0, 0, 0, 0, 1];
        assert_eq!(
            parse_video_tag(&seq).unwrap(),
            info(
                VideoCodec::Hevc,
                true,
                VideoPacketKind::SequenceHeader,
                false,
                0
            )
        );
        assert_eq!(sequence_header_payload(&seq), Some(&[1u8][..]));
        // Sorenson H.263 inter frame, VP6 keyframe: one header byte.
        assert_eq!(
            parse_video_tag(&[0x22, 0xAB]).unwrap(),
            info(
                VideoCodec::Other(2),
                false,
                VideoPacketKind::Frame,
                false,
                0
            )
        );
        assert_eq!(
            parse_video_tag(&[0x14]).unwrap(),
            info(VideoCodec::Other(4), true, VideoPacketKind::Frame, false, 0)
        );
        // Legacy command frame (frame type 5).
        assert_eq!(
            parse_video_tag(&[0x57, 0x00]).unwrap(),
            info(VideoCodec::H264, false, VideoPacketKind::Other, false, 0)
        );
        assert_eq!(sequence_header_payload(&[0x57, 0, 0, 0, 0]), None);
    }

    fn ex(frame_type: u8, packet_type: u8, fourcc: &[u8; 4], rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0x80 | (frame_type << 4) | packet_type];
        v.extend_from_slice(fourcc);
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn enhanced_sequence_start_for_each_fourcc() {
        for (cc, codec) in [
            (b"hvc1", VideoCodec::Hevc),
            (b"av01", VideoCodec::Av1),
            (b"vp09", VideoCodec::Vp9),
            (b"avc1", VideoCodec::H264),
            (b"vvc1", VideoCodec::Other(fourcc(b"vvc1"))),
        ] {
            let tag = ex(1, 0, cc, &[0xAA, 0xBB]);
            assert_eq!(
                parse_video_tag(&tag).unwrap(),
                info(codec, true, VideoPacketKind::SequenceHeader, true, 0)
            );
            assert_eq!(sequence_header_payload(&tag), Some(&[0xAA, 0xBB][..]));
        }
    }

    #[test]
    fn enhanced_coded_frames() {
        // hvc1 CodedFrames carries an SI24 composition time.
        let tag = ex(2, 1, b"hvc1", &[0xFF, 0xFF, 0xFE, 0, 0, 0, 3]);
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            info(VideoCodec::Hevc, false, VideoPacketKind::Frame, true, -2)
        );
        assert_eq!(payload(&tag), Some(&[0, 0, 0, 3][..]));
        let tag = ex(1, 1, b"avc1", &[0, 0, 0x21]);
        assert_eq!(parse_video_tag(&tag).unwrap().composition_time, 33);
        // hvc1 CodedFrames without room for the CTS.
        assert_eq!(
            parse_video_tag(&ex(1, 1, b"hvc1", &[0])),
            Err(MediaError::Truncated)
        );
        // CodedFramesX: no CTS.
        let tag = ex(1, 3, b"hvc1", &[9, 9, 9]);
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            info(VideoCodec::Hevc, true, VideoPacketKind::Frame, true, 0)
        );
        assert_eq!(payload(&tag), Some(&[9, 9, 9][..]));
        // AV1 / VP9 CodedFrames: no CTS either.
        let tag = ex(1, 1, b"av01", &[0x12, 0x00]);
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            info(VideoCodec::Av1, true, VideoPacketKind::Frame, true, 0)
        );
        assert_eq!(payload(&tag), Some(&[0x12, 0x00][..]));
        let tag = ex(3, 1, b"vp09", &[1]);
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            info(VideoCodec::Vp9, false, VideoPacketKind::Frame, true, 0)
        );
    }

    #[test]
    fn enhanced_other_packet_types() {
        assert_eq!(
            parse_video_tag(&ex(1, 2, b"av01", &[])).unwrap().kind,
            VideoPacketKind::EndOfSequence
        );
        let meta = parse_video_tag(&ex(1, 4, b"hvc1", &[2, 0, 9])).unwrap();
        assert_eq!(
            (meta.kind, meta.keyframe),
            (VideoPacketKind::Metadata, false)
        );
        assert_eq!(
            parse_video_tag(&ex(1, 5, b"av01", &[])).unwrap().kind,
            VideoPacketKind::Other
        );
        assert_eq!(
            parse_video_tag(&ex(1, 12, b"av01", &[])).unwrap().kind,
            VideoPacketKind::Other
        );
        assert_eq!(sequence_header_payload(&ex(1, 5, b"av01", &[1])), None);
        // Truncated FourCC.
        assert_eq!(
            parse_video_tag(&[0x90, b'h', b'v']),
            Err(MediaError::Truncated)
        );
    }

    #[test]
    fn enhanced_command_frame() {
        // Frame type 5, packet type CodedFrames: a VideoCommand byte follows, no FourCC.
        let tag = [0x80 | (5 << 4) | 1, 0x00];
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            info(VideoCodec::Other(0), false, VideoPacketKind::Other, true, 0)
        );
        assert_eq!(payload(&tag), None);
        // Frame type 5 with Metadata is still a metadata packet.
        let tag = ex(5, 4, b"hvc1", &[]);
        assert_eq!(
            parse_video_tag(&tag).unwrap().kind,
            VideoPacketKind::Metadata
        );
    }

    #[test]
    fn enhanced_mod_ex_prefix() {
        // ModEx: size-1 = 2 (3 bytes of nanosecond offset), then modExType 0 | packet type 1.
        let mut tag = vec![0x80 | (1 << 4) | 7, 2, 0x01, 0x02, 0x03, 0x01];
        tag.extend_from_slice(b"hvc1");
        tag.extend_from_slice(&[0, 0, 0x10, 0xCC]);
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            info(VideoCodec::Hevc, true, VideoPacketKind::Frame, true, 16)
        );
        assert_eq!(payload(&tag), Some(&[0xCC][..]));
        // Two chained ModEx blocks, the second using the 16-bit size escape, then a
        // SequenceStart.
        let mut tag = vec![0x80 | (1 << 4) | 7, 0, 0xEE, 0x07, 0xFF, 0x01, 0x00];
        tag.extend(std::iter::repeat_n(0x55, 257));
        tag.push(0x00);
        tag.extend_from_slice(b"av01");
        tag.extend_from_slice(&[0x81, 0x04]);
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            info(
                VideoCodec::Av1,
                true,
                VideoPacketKind::SequenceHeader,
                true,
                0
            )
        );
        assert_eq!(sequence_header_payload(&tag), Some(&[0x81, 0x04][..]));
        // ModEx whose declared size runs past the end.
        assert_eq!(
            parse_video_tag(&[0x97, 10, 1, 2]),
            Err(MediaError::Truncated)
        );
        assert_eq!(
            parse_video_tag(&[0x97, 0xFF, 0xFF]),
            Err(MediaError::Truncated)
        );
    }

    #[test]
    fn enhanced_multitrack() {
        // OneTrack (0) / CodedFramesX (3), shared FourCC, track id 0.
        let mut tag = vec![0x80 | (1 << 4) | 6, 0x03];
        tag.extend_from_slice(b"hvc1");
        tag.extend_from_slice(&[0, 1, 2, 3]);
        assert_eq!(
            parse_video_tag(&tag).unwrap(),
            info(VideoCodec::Hevc, true, VideoPacketKind::Other, true, 0)
        );
        assert_eq!(sequence_header_payload(&tag), None);
        assert_eq!(payload(&tag), None);
        // ManyTracksManyCodecs (2) / SequenceStart: first track's FourCC.
        let mut tag = vec![0x80 | (1 << 4) | 6, 0x20];
        tag.extend_from_slice(b"av01");
        tag.extend_from_slice(&[0, 0, 0, 1, 0xAA]);
        assert_eq!(parse_video_tag(&tag).unwrap().codec, VideoCodec::Av1);
        assert_eq!(sequence_header_payload(&tag), None);
        assert_eq!(parse_video_tag(&[0x96]), Err(MediaError::Truncated));
        assert_eq!(
            parse_video_tag(&[0x96, 0x00, b'a']),
            Err(MediaError::Truncated)
        );
    }
}
