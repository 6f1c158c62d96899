//! RTMP/FLV message bodies for demuxed TS media ([`super::demux::DemuxedFrame`]): the exact
//! shapes an RTMP encoder sends, so an SRT stream joins the media bus like any publisher.
//! H.264 uses the legacy AVC tags (codec id 7); HEVC the Enhanced RTMP `hvc1` tags (what
//! OBS and ffmpeg ≥ 6.1 publish); AAC the legacy AAC tags (sound format 10).

use super::VideoStreamKind;
use crate::video::FOURCC_HVC1;

const FRAME_KEY: u8 = 1;
const FRAME_INTER: u8 = 2;

/// Video sequence header carrying decoder configuration `record`.
pub fn video_config(codec: VideoStreamKind, record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 8);
    match codec {
        VideoStreamKind::H264 => out.extend_from_slice(&[FRAME_KEY << 4 | 7, 0, 0, 0, 0]),
        VideoStreamKind::Hevc => {
            out.push(0x80 | FRAME_KEY << 4);
            out.extend_from_slice(&FOURCC_HVC1.to_be_bytes());
        }
    }
    out.extend_from_slice(record);
    out
}

/// One coded video frame (length-prefixed NAL units) with its composition time offset in ms.
pub fn video_frame(codec: VideoStreamKind, keyframe: bool, composition_ms: i32, data: &[u8]) -> Vec<u8> {
    let frame_type = if keyframe { FRAME_KEY } else { FRAME_INTER };
    let cts = composition_ms.clamp(-(1 << 23), (1 << 23) - 1).to_be_bytes();
    let mut out = Vec::with_capacity(data.len() + 8);
    match codec {
        VideoStreamKind::H264 => out.extend_from_slice(&[frame_type << 4 | 7, 1]),
        VideoStreamKind::Hevc => {
            out.push(0x80 | frame_type << 4 | 1);
            out.extend_from_slice(&FOURCC_HVC1.to_be_bytes());
        }
    }
    out.extend_from_slice(&cts[1..4]);
    out.extend_from_slice(data);
    out
}

/// AAC sequence header (AudioSpecificConfig).
pub fn aac_config(asc: &[u8]) -> Vec<u8> {
    let mut out = vec![0xAF, 0];
    out.extend_from_slice(asc);
    out
}

/// One raw AAC frame.
pub fn aac_frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(&[0xAF, 1]);
    out.extend_from_slice(data);
    out
}
