//! Elementary-stream framing for TS: length-prefixed (AVCC/HVCC) NAL units → Annex B
//! byte stream with access unit delimiters and in-band parameter sets, raw AAC → ADTS,
//! and the ID3v2.4 tag that carries Kaltura's sync point.
//!
//! The AVCC conversion is split in a validating scan and an infallible emit pass so
//! that [`TsMuxer::write_video_avcc`](super::TsMuxer::write_video_avcc) can stream the
//! converted bytes straight into transport packets (one copy, nothing written on error).

use super::packet::ByteSink;
use super::{TsError, VideoStreamKind};
use crate::aac::AacConfig;
use crate::avc::AvcConfig;
use crate::hevc::HevcConfig;

/// Annex B start code used before every NAL unit written here.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// H.264 access unit delimiter: NAL header 0x09, primary_pic_type 7 (any slice type),
/// rbsp stop bit.
const H264_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];
/// HEVC access unit delimiter: NAL header type 35, layer 0, temporal id plus one 1;
/// pic_type 2 (I, P and B slices), rbsp stop bit.
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

/// Length of an ADTS header without CRC.
pub const ADTS_HEADER_LEN: usize = 7;
/// Largest raw AAC frame an ADTS header can describe (13-bit frame_length, which
/// includes the header).
pub const ADTS_MAX_PAYLOAD: usize = 0x1FFF - ADTS_HEADER_LEN;

/// Largest value of a 28-bit ID3v2 syncsafe size.
const ID3_MAX_SIZE: usize = (1 << 28) - 1;
/// ID3v2 tag header and frame header length.
const ID3_HEADER_LEN: usize = 10;

fn aud(kind: VideoStreamKind) -> &'static [u8] {
    match kind {
        VideoStreamKind::H264 => &H264_AUD,
        VideoStreamKind::Hevc => &HEVC_AUD,
    }
}

/// Iterator over the NAL units of a length-prefixed frame; yields an error (then stops)
/// on a truncated prefix or unit.
struct LengthPrefixedNals<'a> {
    data: &'a [u8],
    nal_length_size: usize,
    pos: usize,
}

impl<'a> Iterator for LengthPrefixedNals<'a> {
    type Item = Result<&'a [u8], TsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let Some(prefix) = self.data.get(self.pos..self.pos + self.nal_length_size) else {
            self.pos = self.data.len();
            return Some(Err(TsError::TruncatedNal));
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let start = self.pos + self.nal_length_size;
        let Some(nal) = start
            .checked_add(len)
            .and_then(|end| self.data.get(start..end))
        else {
            self.pos = self.data.len();
            return Some(Err(TsError::TruncatedNal));
        };
        self.pos = start + len;
        Some(Ok(nal))
    }
}

fn nals(frame: &[u8], nal_length_size: u8) -> Result<LengthPrefixedNals<'_>, TsError> {
    if !(1..=4).contains(&nal_length_size) {
        return Err(TsError::InvalidNalLengthSize(nal_length_size));
    }
    Ok(LengthPrefixedNals {
        data: frame,
        nal_length_size: usize::from(nal_length_size),
        pos: 0,
    })
}

/// Outcome of validating a length-prefixed frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnnexBPlan {
    /// Annex B length: AUD, inserted parameter sets and the frame's NAL units.
    pub(crate) len: usize,
    /// The given parameter sets go in front (the frame carries no SPS of its own).
    pub(crate) insert_parameter_sets: bool,
}

/// Validate `frame` and compute the Annex B output length.
pub(crate) fn plan_annexb(
    kind: VideoStreamKind,
    frame: &[u8],
    nal_length_size: u8,
    parameter_sets: Option<&[&[u8]]>,
) -> Result<AnnexBPlan, TsError> {
    let mut len = aud(kind).len();
    let mut has_sps = false;
    for nal in nals(frame, nal_length_size)? {
        let nal = nal?;
        let Some(&first) = nal.first() else { continue };
        let nal_type = kind.nal_type(first);
        if nal_type == kind.aud_nal_type() {
            continue; // replaced by ours, which must come first
        }
        has_sps |= nal_type == sps_nal_type(kind);
        len += START_CODE.len() + nal.len();
    }
    let insert = !has_sps && parameter_sets.is_some();
    if insert {
        len += parameter_sets
            .unwrap_or_default()
            .iter()
            .filter(|ps| !ps.is_empty())
            .map(|ps| START_CODE.len() + ps.len())
            .sum::<usize>();
    }
    Ok(AnnexBPlan {
        len,
        insert_parameter_sets: insert,
    })
}

fn sps_nal_type(kind: VideoStreamKind) -> u8 {
    match kind {
        VideoStreamKind::H264 => 7,
        VideoStreamKind::Hevc => 33,
    }
}

/// Write the Annex B form of a frame validated by [`plan_annexb`] with the same
/// arguments.
pub(crate) fn emit_annexb(
    kind: VideoStreamKind,
    frame: &[u8],
    nal_length_size: u8,
    parameter_sets: Option<&[&[u8]]>,
    plan: AnnexBPlan,
    sink: &mut impl ByteSink,
) {
    sink.put(aud(kind));
    if plan.insert_parameter_sets {
        for ps in parameter_sets.unwrap_or_default() {
            if !ps.is_empty() {
                sink.put(&START_CODE);
                sink.put(ps);
            }
        }
    }
    let Ok(iter) = nals(frame, nal_length_size) else {
        return;
    };
    for nal in iter.filter_map(Result::ok) {
        let Some(&first) = nal.first() else { continue };
        if kind.nal_type(first) == kind.aud_nal_type() {
            continue;
        }
        sink.put(&START_CODE);
        sink.put(nal);
    }
}

/// Convert one length-prefixed access unit (the body of an AVC/HEVC RTMP video message)
/// to an Annex B access unit appended to `out`; returns the number of bytes appended.
///
/// The output starts with an access unit delimiter (NAL type 9 for H.264, 35 for HEVC;
/// delimiters already in the frame are dropped). When `parameter_sets` is given
/// (keyframes) and the frame carries no SPS of its own, the parameter sets follow the
/// delimiter in the order given (VPS, SPS, PPS for HEVC; SPS, PPS for H.264 — see
/// [`avc_parameter_sets`] and [`hevc_parameter_sets`]). Every NAL unit gets a 4-byte
/// start code; empty NAL units are skipped. On error nothing is appended.
pub fn avcc_to_annexb(
    kind: VideoStreamKind,
    frame: &[u8],
    nal_length_size: u8,
    parameter_sets: Option<&[&[u8]]>,
    out: &mut Vec<u8>,
) -> Result<usize, TsError> {
    let plan = plan_annexb(kind, frame, nal_length_size, parameter_sets)?;
    out.reserve(plan.len);
    emit_annexb(kind, frame, nal_length_size, parameter_sets, plan, out);
    Ok(plan.len)
}

/// SPS then PPS NAL units of an AVC decoder configuration, for [`avcc_to_annexb`].
pub fn avc_parameter_sets(config: &AvcConfig) -> Vec<&[u8]> {
    config
        .sps
        .iter()
        .chain(&config.pps)
        .map(Vec::as_slice)
        .collect()
}

/// VPS, SPS then PPS NAL units of an HEVC decoder configuration, for
/// [`avcc_to_annexb`].
pub fn hevc_parameter_sets(config: &HevcConfig) -> Vec<&[u8]> {
    config
        .vps
        .iter()
        .chain(&config.sps)
        .chain(&config.pps)
        .map(Vec::as_slice)
        .collect()
}

/// MPEG-4 sampling frequency table (ISO/IEC 14496-3 Table 1.18), index → Hz.
const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Index of the table rate closest to `rate`.
fn sampling_frequency_index(rate: u32) -> u8 {
    let mut best = 0;
    for (i, &r) in SAMPLE_RATES.iter().enumerate() {
        if r.abs_diff(rate) < SAMPLE_RATES[best].abs_diff(rate) {
            best = i;
        }
    }
    best as u8
}

/// 7-byte ADTS header (MPEG-4, no CRC, buffer fullness 0x7FF = VBR, one raw data
/// block) for a raw AAC frame of `payload_len` bytes.
///
/// ADTS carries only the core audio object types 1–4 in its 2-bit profile field: for
/// HE-AAC (object type 5) and HE-AACv2 (29), whose [`AacConfig`] reports the SBR output
/// rate, the header describes the AAC-LC core at half that rate (mono core for
/// HE-AACv2), from which decoders detect SBR/PS implicitly, as they do for ADTS in
/// HLS. Other object types are written as AAC-LC. Rates outside the MPEG-4 table map
/// to the nearest table rate. Channel counts 1–6 map to channel_configuration 1–6, 8
/// to 7 (7.1); anything else to 0 (defined in-band, which raw frames from RTMP do not
/// carry). `payload_len` must not exceed [`ADTS_MAX_PAYLOAD`]; longer frames are
/// clamped in the header (and rejected by
/// [`TsMuxer::write_aac_frame`](super::TsMuxer::write_aac_frame)).
pub fn adts_header(config: &AacConfig, payload_len: usize) -> [u8; ADTS_HEADER_LEN] {
    let (object_type, rate, channels) = match config.object_type {
        1..=4 => (config.object_type, config.sample_rate, config.channels),
        5 => (2, config.sample_rate / 2, config.channels),
        29 => (2, config.sample_rate / 2, 1),
        _ => (2, config.sample_rate, config.channels),
    };
    let profile = object_type - 1;
    let sfi = sampling_frequency_index(rate);
    let channel_config = match channels {
        1..=6 => channels,
        8 => 7,
        _ => 0,
    };
    let frame_len = (payload_len.min(ADTS_MAX_PAYLOAD) + ADTS_HEADER_LEN) as u16;
    [
        0xFF,
        0xF1, // syncword low bits, MPEG-4, layer 0, protection_absent
        (profile << 6) | (sfi << 2) | (channel_config >> 2),
        ((channel_config & 0x03) << 6) | (frame_len >> 11) as u8,
        (frame_len >> 3) as u8,
        (((frame_len & 0x07) as u8) << 5) | 0x1F,
        0xFC,
    ]
}

/// ID3v2 syncsafe integer: 28 bits, 7 per byte.
fn syncsafe(n: usize) -> [u8; 4] {
    let n = n.min(ID3_MAX_SIZE);
    [
        (n >> 21) as u8 & 0x7F,
        (n >> 14) as u8 & 0x7F,
        (n >> 7) as u8 & 0x7F,
        n as u8 & 0x7F,
    ]
}

/// An ID3v2.4 tag with one `TEXT` text information frame (encoding 3 = UTF-8, no
/// terminator) holding `text`.
///
/// This is how the Kaltura Media Server (Wowza module) put the `KalturaSyncPoint` JSON
/// at the start of every HLS chunk, and the frame Kaltura's players read it from. Tag
/// and frame sizes are syncsafe integers; no flags, no padding. Text longer than an
/// ID3 tag can hold (256 MiB) is cut at a character boundary.
pub fn id3_text_tag(text: &str) -> Vec<u8> {
    let max_text = ID3_MAX_SIZE - ID3_HEADER_LEN - 1;
    let mut end = text.len().min(max_text);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text.as_bytes()[..end];
    let frame_body = 1 + text.len();
    let tag_body = ID3_HEADER_LEN + frame_body;
    let mut tag = Vec::with_capacity(ID3_HEADER_LEN + tag_body);
    tag.extend_from_slice(b"ID3");
    tag.extend_from_slice(&[4, 0, 0]); // version 2.4.0, no flags
    tag.extend_from_slice(&syncsafe(tag_body));
    tag.extend_from_slice(b"TEXT");
    tag.extend_from_slice(&syncsafe(frame_body));
    tag.extend_from_slice(&[0, 0, 3]); // frame flags, text encoding UTF-8
    tag.extend_from_slice(text);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aac::parse_audio_specific_config;

    fn avcc(nals: &[&[u8]], size: u8) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&(n.len() as u32).to_be_bytes()[4 - usize::from(size)..]);
            v.extend_from_slice(n);
        }
        v
    }

    const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x1E];
    const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];
    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00];
    const SEI: &[u8] = &[0x06, 0x05, 0x01, 0x80];

    #[test]
    fn h264_keyframe_gets_aud_and_parameter_sets() {
        for size in 1..=4 {
            let frame = avcc(&[SEI, IDR], size);
            let mut out = vec![0xAA];
            let n = avcc_to_annexb(
                VideoStreamKind::H264,
                &frame,
                size,
                Some(&[SPS, PPS]),
                &mut out,
            )
            .unwrap();
            let mut want = vec![0xAA, 0, 0, 0, 1, 0x09, 0xF0];
            for nal in [SPS, PPS, SEI, IDR] {
                want.extend_from_slice(&[0, 0, 0, 1]);
                want.extend_from_slice(nal);
            }
            assert_eq!(out, want);
            assert_eq!(n, want.len() - 1);
        }
    }

    #[test]
    fn frame_with_own_sps_and_aud_keeps_its_parameter_sets() {
        let frame = avcc(&[&[0x09, 0x10], SPS, PPS, IDR, &[]], 4);
        let mut out = Vec::new();
        avcc_to_annexb(
            VideoStreamKind::H264,
            &frame,
            4,
            Some(&[&[0x67, 9, 9], PPS]),
            &mut out,
        )
        .unwrap();
        let mut want = vec![0, 0, 0, 1, 0x09, 0xF0];
        for nal in [SPS, PPS, IDR] {
            want.extend_from_slice(&[0, 0, 0, 1]);
            want.extend_from_slice(nal);
        }
        assert_eq!(out, want);
    }

    #[test]
    fn hevc_aud_and_vps() {
        let vps: &[u8] = &[0x40, 0x01, 0x0C];
        let sps: &[u8] = &[0x42, 0x01, 0x01];
        let pps: &[u8] = &[0x44, 0x01, 0xC1];
        let idr: &[u8] = &[0x26, 0x01, 0xAF];
        let aud: &[u8] = &[0x46, 0x01, 0x10];
        let frame = avcc(&[aud, idr], 4);
        let mut out = Vec::new();
        avcc_to_annexb(
            VideoStreamKind::Hevc,
            &frame,
            4,
            Some(&[vps, sps, pps]),
            &mut out,
        )
        .unwrap();
        let mut want = vec![0, 0, 0, 1, 0x46, 0x01, 0x50];
        for nal in [vps, sps, pps, idr] {
            want.extend_from_slice(&[0, 0, 0, 1]);
            want.extend_from_slice(nal);
        }
        assert_eq!(out, want);
        // Non-keyframe: no parameter sets.
        out.clear();
        avcc_to_annexb(VideoStreamKind::Hevc, &frame, 4, None, &mut out).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 0, 1, 0x26, 0x01, 0xAF]
        );
    }

    #[test]
    fn malformed_frames_append_nothing() {
        let mut out = vec![1, 2, 3];
        let k = VideoStreamKind::H264;
        assert_eq!(
            avcc_to_annexb(k, &[0, 0, 0, 5, 1, 2], 4, None, &mut out),
            Err(TsError::TruncatedNal)
        );
        assert_eq!(
            avcc_to_annexb(k, &[0, 0, 0, 2, 0x65, 1, 0, 0], 4, None, &mut out),
            Err(TsError::TruncatedNal)
        );
        assert_eq!(
            avcc_to_annexb(k, &[1, 0x65], 0, None, &mut out),
            Err(TsError::InvalidNalLengthSize(0))
        );
        assert_eq!(
            avcc_to_annexb(k, &[1, 0x65], 5, None, &mut out),
            Err(TsError::InvalidNalLengthSize(5))
        );
        assert_eq!(out, [1, 2, 3]);
        // An empty frame is just the delimiter.
        assert_eq!(avcc_to_annexb(k, &[], 4, None, &mut out), Ok(6));
    }

    #[test]
    fn adts_for_lc_and_he_aac() {
        // ffmpeg's AAC-LC 44.1 kHz stereo config.
        let lc = parse_audio_specific_config(&[0x12, 0x10]).unwrap();
        let h = adts_header(&lc, 371);
        // Profile 1 (LC), index 4, channels 2, frame length 378.
        assert_eq!(h, [0xFF, 0xF1, 0x50, 0x80, 0x2F, 0x5F, 0xFC]);
        let frame_len =
            (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        assert_eq!(frame_len, 378);

        let he = AacConfig {
            object_type: 5,
            sample_rate: 48_000,
            channels: 2,
        };
        let h = adts_header(&he, 10);
        assert_eq!(h[2] >> 6, 1, "AAC-LC profile");
        assert_eq!((h[2] >> 2) & 0x0F, 6, "24 kHz core");
        let he2 = AacConfig {
            object_type: 29,
            sample_rate: 44_100,
            channels: 2,
        };
        let h = adts_header(&he2, 10);
        assert_eq!((h[2] >> 2) & 0x0F, 7, "22.05 kHz core");
        assert_eq!(((h[2] & 1) << 2) | (h[3] >> 6), 1, "mono core");
        let odd = AacConfig {
            object_type: 2,
            sample_rate: 47_000,
            channels: 8,
        };
        let h = adts_header(&odd, ADTS_MAX_PAYLOAD + 100);
        assert_eq!((h[2] >> 2) & 0x0F, 3, "nearest rate 48 kHz");
        assert_eq!(((h[2] & 1) << 2) | (h[3] >> 6), 7);
        assert_eq!(h[3] & 3, 3);
        assert_eq!(h[4], 0xFF);
        assert_eq!(h[5] >> 5, 7);
    }

    #[test]
    fn id3_tag_layout() {
        let tag = id3_text_tag("hi");
        assert_eq!(
            tag,
            [
                b'I', b'D', b'3', 4, 0, 0, 0, 0, 0, 13, b'T', b'E', b'X', b'T', 0, 0, 0, 3, 0, 0,
                3, b'h', b'i'
            ]
        );
        // Sizes ≥ 128 are syncsafe.
        let text = "x".repeat(200);
        let tag = id3_text_tag(&text);
        assert_eq!(&tag[6..10], &[0, 0, 1, 0x53]); // 211 = 1·128 + 83
        assert_eq!(&tag[14..18], &[0, 0, 1, 0x49]); // 201
        assert_eq!(tag.len(), 10 + 211);
        assert_eq!(syncsafe(0x0FFF_FFFF), [0x7F; 4]);
        assert_eq!(syncsafe(1 << 21), [1, 0, 0, 0]);
    }
}
