//! H.264/AVC: `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3) and sequence
//! parameter set parsing (ITU-T H.264 §7.3.2.1.1) for resolution, profile, level and
//! frame rate.

use super::bits::{unescape_rbsp, BitReader};
use super::{be_u16, MediaError};

/// Parsed `AVCDecoderConfigurationRecord` plus facts derived from its first SPS.
#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    /// `AVCProfileIndication` (66 Baseline, 77 Main, 100 High, …).
    pub profile_idc: u8,
    /// `profile_compatibility` byte (constraint_set0..5 flags, MSB first).
    pub constraint_flags: u8,
    /// `AVCLevelIndication` (level × 10, e.g. 31 for 3.1).
    pub level_idc: u8,
    /// Size in bytes of the NAL unit length prefix in coded frames (1, 2, 3 or 4).
    pub nal_length_size: u8,
    /// Display width in pixels (after cropping), from the first SPS.
    pub width: u32,
    /// Display height in pixels (after cropping), from the first SPS.
    pub height: u32,
    /// Sequence parameter set NAL units (with NAL header, still escaped).
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter set NAL units (with NAL header, still escaped).
    pub pps: Vec<Vec<u8>>,
    /// frame rate from VUI timing when present
    pub frame_rate: Option<f64>,
}

impl AvcConfig {
    /// RFC 6381 string, e.g. "avc1.64001f"
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }

    /// Human-readable profile name ("Baseline", "Main", "High", …).
    pub fn profile_name(&self) -> &'static str {
        profile_name(self.profile_idc, self.constraint_flags)
    }
}

/// Profile name for a `profile_idc` and constraint flags byte.
pub fn profile_name(profile_idc: u8, constraint_flags: u8) -> &'static str {
    let set1 = constraint_flags & 0x40 != 0;
    let set3 = constraint_flags & 0x10 != 0;
    match profile_idc {
        66 if set1 => "Constrained Baseline",
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 if set3 => "High 10 Intra",
        110 => "High 10",
        122 if set3 => "High 4:2:2 Intra",
        122 => "High 4:2:2",
        244 if set3 => "High 4:4:4 Intra",
        244 => "High 4:4:4 Predictive",
        44 => "CAVLC 4:4:4 Intra",
        83 => "Scalable Baseline",
        86 => "Scalable High",
        118 => "Multiview High",
        128 => "Stereo High",
        134 => "MFC High",
        135 => "MFC Depth High",
        138 => "Multiview Depth High",
        139 => "Enhanced Multiview Depth High",
        _ => "Unknown",
    }
}

/// Facts from one sequence parameter set.
#[derive(Debug, Clone, PartialEq)]
pub struct SpsInfo {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// `level_idc`.
    pub level_idc: u8,
    /// Display width in pixels (after frame cropping).
    pub width: u32,
    /// Display height in pixels (after frame cropping), full frame for interlaced.
    pub height: u32,
    /// Frames per second from VUI timing info (`time_scale / (2 · num_units_in_tick)`).
    pub frame_rate: Option<f64>,
}

/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;

/// Profiles whose SPS carries chroma format, bit depth and scaling matrices.
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Parse an SPS NAL unit (starting with its one-byte NAL header, emulation-prevention
/// bytes still present).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, MediaError> {
    let header = *nal.first().ok_or(MediaError::Truncated)?;
    if header & 0x80 != 0 {
        return Err(MediaError::Invalid("NAL forbidden_zero_bit set"));
    }
    if header & 0x1F != NAL_SPS {
        return Err(MediaError::Invalid("NAL unit is not an SPS"));
    }
    let rbsp = unescape_rbsp(&nal[1..]);
    let mut r = BitReader::new(&rbsp);

    let profile_idc = r.read_u8()?;
    let _constraint_flags = r.read_u8()?;
    let level_idc = r.read_u8()?;
    r.read_ue_max(31, "seq_parameter_set_id out of range")?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if has_chroma_info(profile_idc) {
        chroma_format_idc = r.read_ue_max(3, "chroma_format_idc out of range")?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.flag()?;
        }
        r.read_ue_max(6, "bit_depth_luma out of range")?;
        r.read_ue_max(6, "bit_depth_chroma out of range")?;
        r.flag()?; // qpprime_y_zero_transform_bypass_flag
        if r.flag()? {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.flag()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }

    r.read_ue_max(12, "log2_max_frame_num_minus4 out of range")?;
    match r.read_ue_max(2, "pic_order_cnt_type out of range")? {
        0 => {
            r.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4 out of range")?;
        }
        1 => {
            r.flag()?; // delta_pic_order_always_zero_flag
            r.read_se()?; // offset_for_non_ref_pic
            r.read_se()?; // offset_for_top_to_bottom_field
            let cycle = r.read_ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle > 255")?;
            for _ in 0..cycle {
                r.read_se()?;
            }
        }
        _ => {}
    }
    r.read_ue()?; // max_num_ref_frames
    r.flag()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.read_ue()?) + 1;
    let height_map_units = u64::from(r.read_ue()?) + 1;
    let frame_mbs_only = r.flag()?;
    if !frame_mbs_only {
        r.flag()?; // mb_adaptive_frame_field_flag
    }
    r.flag()?; // direct_8x8_inference_flag
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0u64, 0u64, 0u64, 0u64);
    if r.flag()? {
        crop_l = r.read_ue()?.into();
        crop_r = r.read_ue()?.into();
        crop_t = r.read_ue()?.into();
        crop_b = r.read_ue()?.into();
    }

    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_width_c, sub_height_c): (u64, u64) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1), // 4:4:4 or monochrome / separate planes
    };
    let crop_unit_x = sub_width_c;
    let crop_unit_y = sub_height_c * field_factor;
    let full_w = width_mbs * 16;
    let full_h = height_map_units * 16 * field_factor;
    let crop_w = (crop_l + crop_r) * crop_unit_x;
    let crop_h = (crop_t + crop_b) * crop_unit_y;
    if crop_w >= full_w || crop_h >= full_h {
        return Err(MediaError::Invalid("SPS cropping exceeds picture size"));
    }
    let width =
        u32::try_from(full_w - crop_w).map_err(|_| MediaError::Invalid("SPS width too large"))?;
    let height =
        u32::try_from(full_h - crop_h).map_err(|_| MediaError::Invalid("SPS height too large"))?;

    // VUI: only the timing info is needed. A damaged VUI does not invalidate the
    // picture size already read.
    let frame_rate = if r.flag().unwrap_or(false) {
        vui_frame_rate(&mut r).ok().flatten()
    } else {
        None
    };

    Ok(SpsInfo {
        profile_idc,
        level_idc,
        width,
        height,
        frame_rate,
    })
}

/// Skip one `scaling_list()` of `size` (16 or 64) coefficients.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), MediaError> {
    let mut last: i32 = 8;
    let mut next: i32 = 8;
    for _ in 0..size {
        if next != 0 {
            let delta = r.read_se()?;
            if !(-128..=127).contains(&delta) {
                return Err(MediaError::Invalid("delta_scale out of range"));
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Read `vui_parameters()` up to and including the timing info.
fn vui_frame_rate(r: &mut BitReader<'_>) -> Result<Option<f64>, MediaError> {
    if r.flag()? {
        // aspect_ratio_info_present_flag
        if r.read_u8()? == 255 {
            r.skip(32)?; // sar_width, sar_height
        }
    }
    if r.flag()? {
        r.flag()?; // overscan_appropriate_flag
    }
    if r.flag()? {
        // video_signal_type_present_flag
        r.skip(4)?; // video_format, video_full_range_flag
        if r.flag()? {
            r.skip(24)?; // colour_primaries, transfer_characteristics, matrix_coefficients
        }
    }
    if r.flag()? {
        r.read_ue()?; // chroma_sample_loc_type_top_field
        r.read_ue()?; // chroma_sample_loc_type_bottom_field
    }
    if !r.flag()? {
        return Ok(None);
    }
    let num_units_in_tick = r.read_bits(32)?;
    let time_scale = r.read_bits(32)?;
    if num_units_in_tick == 0 || time_scale == 0 {
        return Ok(None);
    }
    Ok(Some(
        f64::from(time_scale) / (2.0 * f64::from(num_units_in_tick)),
    ))
}

/// Parse an `AVCDecoderConfigurationRecord` (the body of an AVC sequence header). The
/// resolution and frame rate come from the first SPS, which must parse.
pub fn parse_avc_decoder_config(record: &[u8]) -> Result<AvcConfig, MediaError> {
    if record.len() < 6 {
        return Err(MediaError::Truncated);
    }
    if record[0] != 1 {
        return Err(MediaError::Invalid("AVC configurationVersion is not 1"));
    }
    let profile_idc = record[1];
    let constraint_flags = record[2];
    let level_idc = record[3];
    let nal_length_size = (record[4] & 0x03) + 1;
    let num_sps = usize::from(record[5] & 0x1F);
    let mut pos = 6;
    let sps = read_nal_list(record, &mut pos, num_sps)?;
    let num_pps = usize::from(*record.get(pos).ok_or(MediaError::Truncated)?);
    pos += 1;
    let pps = read_nal_list(record, &mut pos, num_pps)?;
    // Any trailing bytes (High-profile chroma/bit-depth extension, SPS-ext) are ignored.

    let first = sps
        .first()
        .ok_or(MediaError::Invalid("AVC record has no SPS"))?;
    let info = parse_sps(first)?;
    Ok(AvcConfig {
        profile_idc,
        constraint_flags,
        level_idc,
        nal_length_size,
        width: info.width,
        height: info.height,
        sps,
        pps,
        frame_rate: info.frame_rate,
    })
}

/// Read `count` (u16 length, bytes) entries. Memory is bounded by the input size since
/// every entry is copied from `data`.
fn read_nal_list(data: &[u8], pos: &mut usize, count: usize) -> Result<Vec<Vec<u8>>, MediaError> {
    let mut out = Vec::with_capacity(count.min(data.len() / 2));
    for _ in 0..count {
        let len = usize::from(be_u16(data, *pos).ok_or(MediaError::Truncated)?);
        *pos += 2;
        let nal = data.get(*pos..*pos + len).ok_or(MediaError::Truncated)?;
        *pos += len;
        out.push(nal.to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 720p30 High profile SPS as produced by x264 (from the 720p test vector).
    const SPS_720P: [u8; 26] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
    ];

    #[test]
    fn sps_720p() {
        let s = parse_sps(&SPS_720P).unwrap();
        assert_eq!(
            (s.profile_idc, s.level_idc, s.width, s.height),
            (100, 31, 1280, 720)
        );
        assert_eq!(s.frame_rate, Some(30.0));
    }

    #[test]
    fn sps_rejects_non_sps_nal() {
        let mut nal = SPS_720P;
        nal[0] = 0x68;
        assert!(matches!(parse_sps(&nal), Err(MediaError::Invalid(_))));
        nal[0] = 0xE7;
        assert!(matches!(parse_sps(&nal), Err(MediaError::Invalid(_))));
        assert_eq!(parse_sps(&[]), Err(MediaError::Truncated));
        assert_eq!(parse_sps(&SPS_720P[..8]), Err(MediaError::Truncated));
    }

    #[test]
    fn profile_names() {
        assert_eq!(profile_name(66, 0xC0), "Constrained Baseline");
        assert_eq!(profile_name(66, 0x80), "Baseline");
        assert_eq!(profile_name(77, 0x40), "Main");
        assert_eq!(profile_name(100, 0), "High");
        assert_eq!(profile_name(110, 0x10), "High 10 Intra");
        assert_eq!(profile_name(1, 0), "Unknown");
    }

    #[test]
    fn record_errors() {
        assert_eq!(
            parse_avc_decoder_config(&[1, 0x64, 0, 0x1f, 0xff]),
            Err(MediaError::Truncated)
        );
        assert!(matches!(
            parse_avc_decoder_config(&[2, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
            Err(MediaError::Invalid(_))
        ));
        // No SPS.
        assert!(matches!(
            parse_avc_decoder_config(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
            Err(MediaError::Invalid(_))
        ));
        // SPS length runs past the end.
        assert_eq!(
            parse_avc_decoder_config(&[1, 0x64, 0, 0x1f, 0xff, 0xe1, 0x00, 0x40, 0x67]),
            Err(MediaError::Truncated)
        );
        // 31 declared SPS entries in a tiny record: no large allocation, just Truncated.
        assert_eq!(
            parse_avc_decoder_config(&[1, 0x64, 0, 0x1f, 0xff, 0xff, 0, 0]),
            Err(MediaError::Truncated)
        );
    }
}
