//! H.265/HEVC: `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3) and sequence
//! parameter set parsing (ITU-T H.265 §7.3.2.2) for resolution, bit depth and frame
//! rate, plus the RFC 6381 / ISO 14496-15 Annex E codec string.

use std::fmt::Write as _;

use super::bits::{unescape_rbsp, BitReader};
use super::{be_u16, be_u32, MediaError};

/// Parsed `HEVCDecoderConfigurationRecord` plus facts derived from its first SPS.
#[derive(Debug, Clone, PartialEq)]
pub struct HevcConfig {
    /// `general_profile_idc` (1 Main, 2 Main 10, 3 Main Still Picture, 4 RExt, …).
    pub general_profile_idc: u8,
    /// `general_level_idc` (level × 30, e.g. 93 for 3.1).
    pub general_level_idc: u8,
    /// Display width in pixels (conformance window applied); 0 if the record has no SPS.
    pub width: u32,
    /// Display height in pixels (conformance window applied); 0 if the record has no SPS.
    pub height: u32,
    /// Size in bytes of the NAL unit length prefix in coded frames (1, 2 or 4).
    pub nal_length_size: u8,
    /// `general_profile_space` (0 in practice).
    pub general_profile_space: u8,
    /// `general_tier_flag`: false = Main tier, true = High tier.
    pub general_tier_flag: bool,
    /// `general_profile_compatibility_flags` (bit 31 = flag 0).
    pub general_profile_compatibility_flags: u32,
    /// The 48 bits of general constraint indicator flags (progressive, interlaced, …).
    pub general_constraint_indicator_flags: u64,
    /// `chroma_format_idc` (0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4).
    pub chroma_format_idc: u8,
    /// Luma bit depth (8, 10, 12, …).
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// Frames per second from the SPS VUI timing info, else from `avgFrameRate`.
    pub frame_rate: Option<f64>,
    /// Video parameter set NAL units (with NAL header, still escaped).
    pub vps: Vec<Vec<u8>>,
    /// Sequence parameter set NAL units.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter set NAL units.
    pub pps: Vec<Vec<u8>>,
}

impl HevcConfig {
    /// RFC 6381 / ISO 14496-15 Annex E codec string, e.g. "hvc1.1.6.L93.B0".
    pub fn codec_string(&self) -> String {
        let mut s = String::from("hvc1.");
        if let Some(c) =
            [None, Some('A'), Some('B'), Some('C')][usize::from(self.general_profile_space & 3)]
        {
            s.push(c);
        }
        let _ = write!(
            s,
            "{}.{:X}.{}{}",
            self.general_profile_idc,
            self.general_profile_compatibility_flags.reverse_bits(),
            if self.general_tier_flag { 'H' } else { 'L' },
            self.general_level_idc
        );
        let bytes = self.general_constraint_indicator_flags.to_be_bytes();
        let constraint = &bytes[2..8];
        let used = constraint
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        for b in &constraint[..used] {
            let _ = write!(s, ".{:X}", b);
        }
        s
    }

    /// Human-readable profile name ("Main", "Main 10", …).
    pub fn profile_name(&self) -> &'static str {
        profile_name(self.general_profile_idc)
    }
}

/// Profile name for a `general_profile_idc`.
pub fn profile_name(profile_idc: u8) -> &'static str {
    match profile_idc {
        1 => "Main",
        2 => "Main 10",
        3 => "Main Still Picture",
        4 => "Range Extensions",
        5 => "High Throughput",
        6 => "Multiview Main",
        7 => "Scalable Main",
        8 => "3D Main",
        9 => "Screen Content Coding",
        10 => "Scalable Range Extensions",
        11 => "High Throughput Screen Content Coding",
        _ => "Unknown",
    }
}

/// NAL unit type of a video parameter set.
pub const NAL_VPS: u8 = 32;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 33;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 34;

/// Facts from one HEVC sequence parameter set.
#[derive(Debug, Clone, PartialEq)]
pub struct HevcSpsInfo {
    /// `general_profile_idc` from the SPS profile_tier_level.
    pub general_profile_idc: u8,
    /// `general_level_idc` from the SPS profile_tier_level.
    pub general_level_idc: u8,
    /// Display width (conformance window applied).
    pub width: u32,
    /// Display height (conformance window applied).
    pub height: u32,
    /// `chroma_format_idc`.
    pub chroma_format_idc: u8,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// Frames per second from VUI timing (`time_scale / num_units_in_tick`).
    pub frame_rate: Option<f64>,
}

/// Parse an HEVC SPS NAL unit (starting with its two-byte NAL header,
/// emulation-prevention bytes still present).
pub fn parse_hevc_sps(nal: &[u8]) -> Result<HevcSpsInfo, MediaError> {
    if nal.len() < 2 {
        return Err(MediaError::Truncated);
    }
    if nal[0] & 0x80 != 0 {
        return Err(MediaError::Invalid("NAL forbidden_zero_bit set"));
    }
    if (nal[0] >> 1) & 0x3F != NAL_SPS {
        return Err(MediaError::Invalid("NAL unit is not an SPS"));
    }
    let rbsp = unescape_rbsp(&nal[2..]);
    let mut r = BitReader::new(&rbsp);

    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.read_bits(3)?;
    if max_sub_layers_minus1 > 6 {
        return Err(MediaError::Invalid("sps_max_sub_layers_minus1 > 6"));
    }
    r.flag()?; // sps_temporal_id_nesting_flag

    // profile_tier_level(1, sps_max_sub_layers_minus1)
    r.skip(3)?; // general_profile_space, general_tier_flag
    let general_profile_idc = r.read_bits(5)? as u8;
    r.skip(32 + 48)?; // compatibility flags, constraint flags
    let general_level_idc = r.read_u8()?;
    let mut sub_profile = [false; 7];
    let mut sub_level = [false; 7];
    for i in 0..max_sub_layers_minus1 as usize {
        sub_profile[i] = r.flag()?;
        sub_level[i] = r.flag()?;
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1 as usize))?; // reserved_zero_2bits
    }
    for i in 0..max_sub_layers_minus1 as usize {
        if sub_profile[i] {
            r.skip(88)?;
        }
        if sub_level[i] {
            r.skip(8)?;
        }
    }

    r.read_ue_max(15, "sps_seq_parameter_set_id out of range")?;
    let chroma_format_idc = r.read_ue_max(3, "chroma_format_idc out of range")?;
    let mut separate_colour_plane = false;
    if chroma_format_idc == 3 {
        separate_colour_plane = r.flag()?;
    }
    let pic_width = u64::from(r.read_ue()?);
    let pic_height = u64::from(r.read_ue()?);
    let (mut win_l, mut win_r, mut win_t, mut win_b) = (0u64, 0u64, 0u64, 0u64);
    if r.flag()? {
        win_l = r.read_ue()?.into();
        win_r = r.read_ue()?.into();
        win_t = r.read_ue()?.into();
        win_b = r.read_ue()?.into();
    }
    let bit_depth_luma = r.read_ue_max(8, "bit_depth_luma out of range")? as u8 + 8;
    let bit_depth_chroma = r.read_ue_max(8, "bit_depth_chroma out of range")? as u8 + 8;

    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_width_c, sub_height_c): (u64, u64) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_w = (win_l + win_r) * sub_width_c;
    let crop_h = (win_t + win_b) * sub_height_c;
    if pic_width == 0 || pic_height == 0 {
        return Err(MediaError::Invalid("SPS picture size is zero"));
    }
    if crop_w >= pic_width || crop_h >= pic_height {
        return Err(MediaError::Invalid(
            "SPS conformance window exceeds picture size",
        ));
    }
    let width = u32::try_from(pic_width - crop_w)
        .map_err(|_| MediaError::Invalid("SPS width too large"))?;
    let height = u32::try_from(pic_height - crop_h)
        .map_err(|_| MediaError::Invalid("SPS height too large"))?;

    // The rest is only needed for the frame rate; a failure there keeps the size.
    let frame_rate = sps_tail_frame_rate(&mut r, max_sub_layers_minus1)
        .ok()
        .flatten();

    Ok(HevcSpsInfo {
        general_profile_idc,
        general_level_idc,
        width,
        height,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma,
        bit_depth_chroma,
        frame_rate,
    })
}

/// Continue an SPS after the bit depths up to the VUI timing info.
fn sps_tail_frame_rate(
    r: &mut BitReader<'_>,
    max_sub_layers_minus1: u32,
) -> Result<Option<f64>, MediaError> {
    let log2_max_poc_lsb = r.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4 out of range")? + 4;
    let ordering_all = r.flag()?;
    let first = if ordering_all {
        0
    } else {
        max_sub_layers_minus1
    };
    for _ in first..=max_sub_layers_minus1 {
        r.read_ue()?; // sps_max_dec_pic_buffering_minus1
        r.read_ue()?; // sps_max_num_reorder_pics
        r.read_ue()?; // sps_max_latency_increase_plus1
    }
    for _ in 0..6 {
        // log2_min_luma_coding_block_size_minus3 … max_transform_hierarchy_depth_intra
        r.read_ue()?;
    }
    if r.flag()? && r.flag()? {
        // scaling_list_enabled_flag && sps_scaling_list_data_present_flag
        skip_scaling_list_data(r)?;
    }
    r.flag()?; // amp_enabled_flag
    r.flag()?; // sample_adaptive_offset_enabled_flag
    if r.flag()? {
        // pcm_enabled_flag
        r.skip(8)?; // pcm sample bit depths
        r.read_ue()?;
        r.read_ue()?;
        r.flag()?;
    }
    let num_st_rps = r.read_ue_max(64, "num_short_term_ref_pic_sets > 64")? as usize;
    let mut num_delta_pocs = [0u32; 64];
    for idx in 0..num_st_rps {
        num_delta_pocs[idx] = st_ref_pic_set(r, idx, &num_delta_pocs)?;
    }
    if r.flag()? {
        // long_term_ref_pics_present_flag
        let n = r.read_ue_max(32, "num_long_term_ref_pics_sps > 32")?;
        for _ in 0..n {
            r.skip(log2_max_poc_lsb as usize + 1)?;
        }
    }
    r.flag()?; // sps_temporal_mvp_enabled_flag
    r.flag()?; // strong_intra_smoothing_enabled_flag
    if !r.flag()? {
        return Ok(None); // no VUI
    }
    // vui_parameters()
    if r.flag()? && r.read_u8()? == 255 {
        r.skip(32)?; // sar_width, sar_height
    }
    if r.flag()? {
        r.flag()?; // overscan_appropriate_flag
    }
    if r.flag()? {
        r.skip(4)?; // video_format, video_full_range_flag
        if r.flag()? {
            r.skip(24)?;
        }
    }
    if r.flag()? {
        r.read_ue()?;
        r.read_ue()?;
    }
    r.skip(3)?; // neutral_chroma_indication, field_seq, frame_field_info_present
    if r.flag()? {
        // default_display_window_flag
        for _ in 0..4 {
            r.read_ue()?;
        }
    }
    if !r.flag()? {
        return Ok(None);
    }
    let num_units_in_tick = r.read_bits(32)?;
    let time_scale = r.read_bits(32)?;
    if num_units_in_tick == 0 || time_scale == 0 {
        return Ok(None);
    }
    Ok(Some(f64::from(time_scale) / f64::from(num_units_in_tick)))
}

/// Skip `scaling_list_data()`.
fn skip_scaling_list_data(r: &mut BitReader<'_>) -> Result<(), MediaError> {
    for size_id in 0..4usize {
        let step = if size_id == 3 { 3 } else { 1 };
        for _matrix_id in (0..6).step_by(step) {
            if !r.flag()? {
                r.read_ue()?; // scaling_list_pred_matrix_id_delta
            } else {
                let coef_num = 64.min(1usize << (4 + (size_id << 1)));
                if size_id > 1 {
                    r.read_se()?; // scaling_list_dc_coef_minus8
                }
                for _ in 0..coef_num {
                    r.read_se()?;
                }
            }
        }
    }
    Ok(())
}

/// Parse `st_ref_pic_set(idx)` in an SPS and return NumDeltaPocs for it.
fn st_ref_pic_set(
    r: &mut BitReader<'_>,
    idx: usize,
    num_delta_pocs: &[u32; 64],
) -> Result<u32, MediaError> {
    let inter = idx != 0 && r.flag()?;
    if inter {
        // In the SPS, delta_idx_minus1 is absent and the reference set is idx - 1.
        r.flag()?; // delta_rps_sign
        r.read_ue()?; // abs_delta_rps_minus1
        let ref_count = num_delta_pocs[idx - 1];
        let mut count = 0u32;
        for _ in 0..=ref_count {
            let used = r.flag()?;
            let use_delta = used || r.flag()?;
            if use_delta {
                count += 1;
            }
        }
        if count > 32 {
            return Err(MediaError::Invalid("too many delta POCs in st_ref_pic_set"));
        }
        Ok(count)
    } else {
        let neg = r.read_ue_max(16, "num_negative_pics > 16")?;
        let pos = r.read_ue_max(16, "num_positive_pics > 16")?;
        for _ in 0..neg + pos {
            r.read_ue()?; // delta_poc_sX_minus1
            r.flag()?; // used_by_curr_pic_sX_flag
        }
        Ok(neg + pos)
    }
}

/// Parse an `HEVCDecoderConfigurationRecord` (the body of an HEVC sequence header).
/// Width, height, bit depth and frame rate come from the first SPS in the record; a
/// record without any SPS yields width/height 0 and the record's own chroma/bit-depth
/// fields.
pub fn parse_hevc_decoder_config(record: &[u8]) -> Result<HevcConfig, MediaError> {
    if record.len() < 23 {
        return Err(MediaError::Truncated);
    }
    if record[0] != 1 {
        return Err(MediaError::Invalid("HEVC configurationVersion is not 1"));
    }
    let b1 = record[1];
    let compat = be_u32(record, 2).ok_or(MediaError::Truncated)?;
    let constraint = record[6..12]
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let avg_frame_rate = be_u16(record, 19).ok_or(MediaError::Truncated)?;
    let mut cfg = HevcConfig {
        general_profile_idc: b1 & 0x1F,
        general_level_idc: record[12],
        width: 0,
        height: 0,
        nal_length_size: (record[21] & 0x03) + 1,
        general_profile_space: b1 >> 6,
        general_tier_flag: b1 & 0x20 != 0,
        general_profile_compatibility_flags: compat,
        general_constraint_indicator_flags: constraint,
        chroma_format_idc: record[16] & 0x03,
        bit_depth_luma: (record[17] & 0x07) + 8,
        bit_depth_chroma: (record[18] & 0x07) + 8,
        frame_rate: (avg_frame_rate != 0).then(|| f64::from(avg_frame_rate) / 256.0),
        vps: Vec::new(),
        sps: Vec::new(),
        pps: Vec::new(),
    };
    let num_arrays = record[22];
    let mut pos = 23usize;
    for _ in 0..num_arrays {
        let nal_type = *record.get(pos).ok_or(MediaError::Truncated)? & 0x3F;
        let num_nalus = be_u16(record, pos + 1).ok_or(MediaError::Truncated)?;
        pos += 3;
        for _ in 0..num_nalus {
            let len = usize::from(be_u16(record, pos).ok_or(MediaError::Truncated)?);
            pos += 2;
            let nal = record.get(pos..pos + len).ok_or(MediaError::Truncated)?;
            pos += len;
            match nal_type {
                NAL_VPS => cfg.vps.push(nal.to_vec()),
                NAL_SPS => cfg.sps.push(nal.to_vec()),
                NAL_PPS => cfg.pps.push(nal.to_vec()),
                _ => {} // SEI and others are not retained
            }
        }
    }
    if let Some(sps) = cfg.sps.first() {
        let info = parse_hevc_sps(sps)?;
        cfg.width = info.width;
        cfg.height = info.height;
        cfg.chroma_format_idc = info.chroma_format_idc;
        cfg.bit_depth_luma = info.bit_depth_luma;
        cfg.bit_depth_chroma = info.bit_depth_chroma;
        if info.frame_rate.is_some() {
            cfg.frame_rate = info.frame_rate;
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(
        space: u8,
        profile: u8,
        compat: u32,
        tier: bool,
        level: u8,
        constraint: u64,
    ) -> HevcConfig {
        HevcConfig {
            general_profile_idc: profile,
            general_level_idc: level,
            width: 0,
            height: 0,
            nal_length_size: 4,
            general_profile_space: space,
            general_tier_flag: tier,
            general_profile_compatibility_flags: compat,
            general_constraint_indicator_flags: constraint,
            chroma_format_idc: 1,
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            frame_rate: None,
            vps: vec![],
            sps: vec![],
            pps: vec![],
        }
    }

    #[test]
    fn codec_strings_match_annex_e_examples() {
        // The two ISO/IEC 14496-15 Annex E examples (with the hvc1 sample entry).
        assert_eq!(
            cfg(0, 1, 0x6000_0000, false, 93, 0xB000_0000_0000).codec_string(),
            "hvc1.1.6.L93.B0"
        );
        assert_eq!(
            cfg(1, 4, 0x8200_0000, true, 120, 0xB023_0000_0000).codec_string(),
            "hvc1.A4.41.H120.B0.23"
        );
        // Main 10, High tier, no constraint flags: nothing after the level.
        assert_eq!(
            cfg(0, 2, 0x2000_0000, true, 120, 0).codec_string(),
            "hvc1.2.4.H120"
        );
        assert_eq!(
            cfg(0, 4, 0x1000_0000, false, 120, 0x9000_0000_0800).codec_string(),
            "hvc1.4.8.L120.90.0.0.0.8"
        );
        assert_eq!(cfg(0, 1, 0x6000_0000, false, 93, 0).profile_name(), "Main");
    }

    #[test]
    fn record_errors() {
        assert_eq!(
            parse_hevc_decoder_config(&[1; 22]),
            Err(MediaError::Truncated)
        );
        let mut rec = [0u8; 23];
        assert!(matches!(
            parse_hevc_decoder_config(&rec),
            Err(MediaError::Invalid(_))
        ));
        rec[0] = 1;
        rec[21] = 0x0F;
        let c = parse_hevc_decoder_config(&rec).unwrap();
        assert_eq!((c.width, c.height, c.nal_length_size), (0, 0, 4));
        // One array claiming 0xFFFF NAL units with no data.
        let mut rec = rec.to_vec();
        rec[22] = 1;
        rec.extend_from_slice(&[0xA1, 0xFF, 0xFF]);
        assert_eq!(parse_hevc_decoder_config(&rec), Err(MediaError::Truncated));
        assert_eq!(parse_hevc_sps(&[0x42]), Err(MediaError::Truncated));
        assert!(matches!(
            parse_hevc_sps(&[0x40, 0x01, 0x0c]),
            Err(MediaError::Invalid(_))
        ));
    }
}
