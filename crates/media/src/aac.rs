//! MPEG-4 Audio `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1), the body of an AAC
//! sequence header: object type, sampling rate and channel count, including the
//! escape object type (31), explicit 24-bit sampling frequency (index 15), channel
//! counts from a program config element, and explicit SBR/PS signalling (both the
//! hierarchical form, object type 5/29 up front, and the backward-compatible sync
//! extension after the core config).

use super::bits::BitReader;
use super::MediaError;

/// Decoded `AudioSpecificConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// Audio object type as a player should see it: 2 for AAC-LC, 5 when SBR is
    /// explicitly signalled (HE-AAC), 29 when PS is signalled as well (HE-AACv2);
    /// otherwise the object type from the config (1 Main, 23 LD, 39 ELD, 42 USAC, …).
    pub object_type: u8,
    /// Output sampling rate in Hz: the SBR extension rate when SBR is signalled,
    /// otherwise the core rate.
    pub sample_rate: u32,
    /// Output channel count (from channelConfiguration or the program config
    /// element; a mono core with Parametric Stereo counts as 2). 0 if unknown.
    pub channels: u8,
}

impl AacConfig {
    /// RFC 6381 codec string, e.g. "mp4a.40.2".
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// Human-readable profile name ("LC", "HE-AAC", "HE-AACv2", …).
    pub fn profile_name(&self) -> &'static str {
        profile_name(self.object_type)
    }
}

/// Name of an MPEG-4 audio object type.
pub fn profile_name(object_type: u8) -> &'static str {
    match object_type {
        1 => "Main",
        2 => "LC",
        3 => "SSR",
        4 => "LTP",
        5 => "HE-AAC",
        6 => "Scalable",
        7 => "TwinVQ",
        8 => "CELP",
        9 => "HVXC",
        17 => "ER AAC LC",
        19 => "ER AAC LTP",
        20 => "ER AAC Scalable",
        21 => "ER TwinVQ",
        22 => "ER BSAC",
        23 => "LD",
        29 => "HE-AACv2",
        32 => "MP1",
        33 => "MP2",
        34 => "MP3",
        36 => "ALS",
        39 => "ELD",
        42 => "xHE-AAC",
        _ => "Unknown",
    }
}

/// Sampling frequencies for indices 0..=12.
pub const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

const AOT_SBR: u32 = 5;
const AOT_PS: u32 = 29;
const AOT_ER_BSAC: u32 = 22;
const SYNC_EXTENSION_SBR: u32 = 0x2B7;
const SYNC_EXTENSION_PS: u32 = 0x548;

fn read_object_type(r: &mut BitReader<'_>) -> Result<u32, MediaError> {
    let aot = r.read_bits(5)?;
    if aot == 31 {
        Ok(32 + r.read_bits(6)?)
    } else {
        Ok(aot)
    }
}

fn read_sample_rate(r: &mut BitReader<'_>) -> Result<u32, MediaError> {
    match r.read_bits(4)? {
        15 => match r.read_bits(24)? {
            0 => Err(MediaError::Invalid("explicit AAC sampling frequency is 0")),
            f => Ok(f),
        },
        i => SAMPLE_RATES
            .get(i as usize)
            .copied()
            .ok_or(MediaError::Invalid("reserved AAC sampling frequency index")),
    }
}

/// Channel count for a channelConfiguration value; 0 = defined elsewhere / reserved.
fn channels_for_config(config: u32) -> u8 {
    match config {
        1..=6 => config as u8,
        7 | 12 | 14 => 8,
        11 => 7,
        13 => 24,
        _ => 0,
    }
}

/// Object types whose config is a `GASpecificConfig`.
fn is_ga(aot: u32) -> bool {
    matches!(aot, 1 | 2 | 3 | 4 | 6 | 7 | 17 | 19 | 20 | 21 | 22 | 23)
}

/// Walk `GASpecificConfig`; returns the channel count from a PCE when one is present.
fn ga_specific_config(
    r: &mut BitReader<'_>,
    channel_config: u32,
    aot: u32,
) -> Result<Option<u8>, MediaError> {
    r.flag()?; // frameLengthFlag
    if r.flag()? {
        r.skip(14)?; // coreCoderDelay
    }
    let extension_flag = r.flag()?;
    let pce_channels = if channel_config == 0 {
        Some(program_config_element(r)?)
    } else {
        None
    };
    if aot == 6 || aot == 20 {
        r.skip(3)?; // layerNr
    }
    if extension_flag {
        if aot == AOT_ER_BSAC {
            r.skip(5 + 11)?; // numOfSubFrame, layer_length
        }
        if matches!(aot, 17 | 19 | 20 | 23) {
            r.skip(3)?; // resilience flags
        }
        r.flag()?; // extensionFlag3
    }
    Ok(pce_channels)
}

/// Walk `program_config_element()` and count its output channels.
fn program_config_element(r: &mut BitReader<'_>) -> Result<u8, MediaError> {
    r.skip(4 + 2 + 4)?; // element_instance_tag, object_type, sampling_frequency_index
    let front = r.read_bits(4)?;
    let side = r.read_bits(4)?;
    let back = r.read_bits(4)?;
    let lfe = r.read_bits(2)?;
    let assoc = r.read_bits(3)?;
    let cc = r.read_bits(4)?;
    if r.flag()? {
        r.skip(4)?; // mono_mixdown_element_number
    }
    if r.flag()? {
        r.skip(4)?; // stereo_mixdown_element_number
    }
    if r.flag()? {
        r.skip(3)?; // matrix_mixdown_idx, pseudo_surround_enable
    }
    let mut channels = 0u32;
    for _ in 0..front + side + back {
        let is_cpe = r.flag()?;
        r.skip(4)?;
        channels += if is_cpe { 2 } else { 1 };
    }
    r.skip(4 * lfe as usize)?;
    channels += lfe;
    r.skip(4 * assoc as usize)?;
    r.skip(5 * cc as usize)?;
    r.byte_align()?;
    let comment_len = r.read_u8()?;
    r.skip(8 * usize::from(comment_len))?;
    // At most 3 × 15 × 2 + 3 = 93.
    Ok(channels as u8)
}

/// Parse an MPEG-4 `AudioSpecificConfig` (the body of an AAC sequence header).
///
/// Fails only on a truncated or invalid core header (object type, sampling frequency,
/// channel configuration). Everything after it, including SBR/PS signalling, is
/// best-effort: a damaged tail leaves the core values in place.
pub fn parse_audio_specific_config(asc: &[u8]) -> Result<AacConfig, MediaError> {
    let mut r = BitReader::new(asc);
    let mut aot = read_object_type(&mut r)?;
    if aot == 0 {
        return Err(MediaError::Invalid("AAC audio object type 0"));
    }
    let core_rate = read_sample_rate(&mut r)?;
    let channel_config = r.read_bits(4)?;

    let mut sbr = false;
    let mut ps = false;
    let mut ext_rate = None;
    if aot == AOT_SBR || aot == AOT_PS {
        // Hierarchical signalling: extension rate, then the core object type.
        sbr = true;
        ps = aot == AOT_PS;
        ext_rate = Some(read_sample_rate(&mut r)?);
        aot = read_object_type(&mut r)?;
        if aot == AOT_ER_BSAC {
            r.skip(4)?; // extensionChannelConfiguration
        }
    }

    let mut channels = channels_for_config(channel_config);
    let mut tail_ok = false;
    if is_ga(aot) {
        if let Ok(pce) = ga_specific_config(&mut r, channel_config, aot) {
            if let Some(n) = pce {
                channels = n;
            }
            tail_ok = !matches!(aot, 17 | 19 | 20 | 21 | 22 | 23) || r.skip(2).is_ok();
            // epConfig
        }
    }

    // Backward-compatible explicit SBR/PS signalling after the core config.
    if !sbr && tail_ok && r.bits_left() >= 16 {
        if let Ok(SYNC_EXTENSION_SBR) = r.read_bits(11) {
            if let Ok(AOT_SBR) = read_object_type(&mut r) {
                if let Ok(true) = r.flag() {
                    if let Ok(rate) = read_sample_rate(&mut r) {
                        sbr = true;
                        ext_rate = Some(rate);
                        if r.bits_left() >= 12 && r.read_bits(11) == Ok(SYNC_EXTENSION_PS) {
                            ps = r.flag().unwrap_or(false);
                        }
                    }
                }
            }
        }
    }

    let object_type = if sbr && ps {
        AOT_PS
    } else if sbr {
        AOT_SBR
    } else {
        aot
    };
    if ps && channels == 1 {
        channels = 2;
    }
    Ok(AacConfig {
        // At most 32 + 63 = 95.
        object_type: object_type as u8,
        sample_rate: if sbr {
            ext_rate.unwrap_or(core_rate)
        } else {
            core_rate
        },
        channels,
    })
}
