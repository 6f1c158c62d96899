//! Audio message header parsing: legacy FLV `AUDIODATA` and Enhanced RTMP v2
//! (`ExAudioTagHeader`).
//!
//! Legacy layout: `byte0 = SoundFormat << 4 | SoundRate << 2 | SoundSize << 1 | SoundType`;
//! for AAC (format 10) byte 1 is `AACPacketType` (0 sequence header, 1 raw frame).
//!
//! Enhanced layout: SoundFormat 9 (`ExHeader`), the low nibble becomes `AudioPacketType`
//! (0 SequenceStart, 1 CodedFrames, 2 SequenceEnd, 4 MultichannelConfig, 5 Multitrack,
//! 7 ModEx), then a FourCC (`mp4a`, `Opus`, `.mp3`, `ac-3`, `ec-3`, `fLaC`).

use super::{be_u32, fourcc, skip_mod_ex, MediaError};

/// Audio codec announced by an audio message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// AAC (legacy SoundFormat 10 or FourCC `mp4a`).
    Aac,
    /// MP3 (legacy SoundFormat 2 or 14, FourCC `.mp3`).
    Mp3,
    /// Opus (FourCC `Opus`).
    Opus,
    /// AC-3 (FourCC `ac-3`).
    Ac3,
    /// E-AC-3 (FourCC `ec-3`).
    Eac3,
    /// FLAC (FourCC `fLaC`).
    Flac,
    /// Anything else: the legacy SoundFormat for legacy headers, the FourCC
    /// (big-endian) for enhanced headers.
    Other(u32),
}

impl AudioCodec {
    /// Map an Enhanced RTMP audio FourCC.
    pub fn from_fourcc(code: u32) -> Self {
        match code {
            FOURCC_MP4A => AudioCodec::Aac,
            FOURCC_MP3 => AudioCodec::Mp3,
            FOURCC_OPUS => AudioCodec::Opus,
            FOURCC_AC3 => AudioCodec::Ac3,
            FOURCC_EAC3 => AudioCodec::Eac3,
            FOURCC_FLAC => AudioCodec::Flac,
            other => AudioCodec::Other(other),
        }
    }
}

/// FourCC `mp4a`.
pub const FOURCC_MP4A: u32 = fourcc(b"mp4a");
/// FourCC `.mp3`.
pub const FOURCC_MP3: u32 = fourcc(b".mp3");
/// FourCC `Opus`.
pub const FOURCC_OPUS: u32 = fourcc(b"Opus");
/// FourCC `ac-3`.
pub const FOURCC_AC3: u32 = fourcc(b"ac-3");
/// FourCC `ec-3`.
pub const FOURCC_EAC3: u32 = fourcc(b"ec-3");
/// FourCC `fLaC`.
pub const FOURCC_FLAC: u32 = fourcc(b"fLaC");

/// Legacy SoundFormat for AAC.
pub const SOUND_FORMAT_AAC: u8 = 10;
/// SoundFormat value that announces an Enhanced RTMP `ExAudioTagHeader`.
pub const SOUND_FORMAT_EX_HEADER: u8 = 9;

/// Summary of an audio message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTagInfo {
    /// Codec of the (first) track.
    pub codec: AudioCodec,
    /// Legacy AAC sequence header, or enhanced single-track SequenceStart.
    pub is_sequence_header: bool,
    /// from the legacy header (rate index, 16-bit flag, stereo flag)
    ///
    /// In Hz (5512, 11025, 22050, 44100; fixed rates for formats that imply one, e.g.
    /// 16000 for Speex). 0 for enhanced headers, which carry no such field. For AAC the
    /// real rate is in the AudioSpecificConfig, not here.
    pub legacy_sample_rate: u32,
    /// 1 or 2 from the legacy stereo flag; 0 for enhanced headers.
    pub legacy_channels: u8,
}

const PT_SEQUENCE_START: u8 = 0;
const PT_MULTITRACK: u8 = 5;

struct Parsed {
    info: AudioTagInfo,
    /// Start of the single-track body, if any.
    body: Option<usize>,
}

fn parse(data: &[u8]) -> Result<Parsed, MediaError> {
    let b0 = *data.first().ok_or(MediaError::Truncated)?;
    let format = b0 >> 4;
    if format == SOUND_FORMAT_EX_HEADER {
        return parse_enhanced(data, b0);
    }
    let rate_index = usize::from((b0 >> 2) & 0x03);
    let stereo = b0 & 0x01 != 0;
    let (legacy_sample_rate, legacy_channels) = match format {
        4 => (16_000, 1),                    // Nellymoser 16 kHz mono
        5 => (8_000, 1),                     // Nellymoser 8 kHz mono
        11 => (16_000, 1),                   // Speex: always 16 kHz mono
        14 => (8_000, 1 + u8::from(stereo)), // MP3 8 kHz
        _ => (
            [5_512, 11_025, 22_050, 44_100][rate_index],
            1 + u8::from(stereo),
        ),
    };
    let codec = match format {
        SOUND_FORMAT_AAC => AudioCodec::Aac,
        2 | 14 => AudioCodec::Mp3,
        other => AudioCodec::Other(u32::from(other)),
    };
    let mut info = AudioTagInfo {
        codec,
        is_sequence_header: false,
        legacy_sample_rate,
        legacy_channels,
    };
    if codec == AudioCodec::Aac {
        let packet_type = *data.get(1).ok_or(MediaError::Truncated)?;
        info.is_sequence_header = packet_type == 0;
        return Ok(Parsed {
            info,
            body: Some(2),
        });
    }
    Ok(Parsed {
        info,
        body: Some(1),
    })
}

fn parse_enhanced(data: &[u8], b0: u8) -> Result<Parsed, MediaError> {
    let (mut pos, packet_type) = skip_mod_ex(data, 1, b0 & 0x0F)?;
    let multitrack = packet_type == PT_MULTITRACK;
    if multitrack {
        // UB[4] multitrack type | UB[4] packet type, then the shared FourCC or (for
        // ManyTracksManyCodecs) the first track's FourCC, at the same position.
        pos += 1;
        if pos >= data.len() {
            return Err(MediaError::Truncated);
        }
    }
    let codec = AudioCodec::from_fourcc(be_u32(data, pos).ok_or(MediaError::Truncated)?);
    pos += 4;
    let info = AudioTagInfo {
        codec,
        is_sequence_header: !multitrack && packet_type == PT_SEQUENCE_START,
        legacy_sample_rate: 0,
        legacy_channels: 0,
    };
    Ok(Parsed {
        info,
        body: (!multitrack).then_some(pos),
    })
}

/// Parse the first bytes of an RTMP/FLV audio message body.
///
/// Legacy sound format 10 = AAC (byte 1: 0 sequence header, 1 raw); Enhanced RTMP audio
/// (SoundFormat 9 = ExHeader + FourCC) is recognised, including ModEx prefixes and
/// multitrack packets (reported with the first track's codec, never as a sequence
/// header). Unknown formats are reported as [`AudioCodec::Other`].
pub fn parse_audio_tag(data: &[u8]) -> Result<AudioTagInfo, MediaError> {
    parse(data).map(|p| p.info)
}

/// The AudioSpecificConfig inside an AAC sequence header (legacy `AF 00 …` or enhanced
/// `mp4a` SequenceStart), or `None` for anything else.
pub fn aac_sequence_header_payload(data: &[u8]) -> Option<&[u8]> {
    let p = parse(data).ok()?;
    if p.info.codec != AudioCodec::Aac || !p.info.is_sequence_header {
        return None;
    }
    data.get(p.body?..)
}

/// The codec configuration inside any audio sequence header (AAC AudioSpecificConfig,
/// Opus ID header, FLAC `fLaC` + STREAMINFO, …), or `None` if `data` is not one.
pub fn sequence_header_payload(data: &[u8]) -> Option<&[u8]> {
    let p = parse(data).ok()?;
    if !p.info.is_sequence_header {
        return None;
    }
    data.get(p.body?..)
}

/// The raw AAC frame of an AAC audio message (legacy or enhanced), `Ok(None)` for sequence
/// headers and other codecs, an error when the header does not parse. Parses the header once.
pub fn aac_frame(data: &[u8]) -> Result<Option<&[u8]>, MediaError> {
    let p = parse(data)?;
    if p.info.codec != AudioCodec::Aac || p.info.is_sequence_header {
        return Ok(None);
    }
    Ok(p.body.and_then(|b| data.get(b..)))
}

/// Body of a single-track audio message after its header (raw AAC frame, MP3 frame,
/// Opus packet, configuration for sequence headers, …). `None` for multitrack packets
/// and malformed headers.
pub fn payload(data: &[u8]) -> Option<&[u8]> {
    let p = parse(data).ok()?;
    data.get(p.body?..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_frame_is_the_raw_frame_of_aac_only() {
        assert_eq!(aac_frame(&[0xAF, 0x01, 0x21, 0x10]).unwrap(), Some(&[0x21, 0x10][..]));
        assert_eq!(aac_frame(&[0xAF, 0x00, 0x12, 0x10]).unwrap(), None, "a sequence header");
        assert_eq!(aac_frame(&[0x2F, 0xFF, 0xFB]).unwrap(), None, "MP3");
        assert!(aac_frame(&[]).is_err());
    }

    #[test]
    fn legacy_aac() {
        let seq = [0xAF, 0x00, 0x12, 0x10];
        assert_eq!(
            parse_audio_tag(&seq).unwrap(),
            AudioTagInfo {
                codec: AudioCodec::Aac,
                is_sequence_header: true,
                legacy_sample_rate: 44_100,
                legacy_channels: 2
            }
        );
        assert_eq!(aac_sequence_header_payload(&seq), Some(&[0x12, 0x10][..]));
        assert_eq!(sequence_header_payload(&seq), Some(&[0x12, 0x10][..]));
        let raw = [0xAF, 0x01, 0x21, 0x10];
        assert!(!parse_audio_tag(&raw).unwrap().is_sequence_header);
        assert_eq!(aac_sequence_header_payload(&raw), None);
        assert_eq!(payload(&raw), Some(&[0x21, 0x10][..]));
        assert_eq!(parse_audio_tag(&[0xAF]), Err(MediaError::Truncated));
        assert_eq!(parse_audio_tag(&[]), Err(MediaError::Truncated));
        // Mono AAC header bits (0xAE).
        assert_eq!(parse_audio_tag(&[0xAE, 1]).unwrap().legacy_channels, 1);
    }

    #[test]
    fn legacy_other_formats() {
        // MP3, 22 kHz, 16-bit, mono.
        let mp3 = parse_audio_tag(&[0x2A, 0xFF, 0xFB]).unwrap();
        assert_eq!(
            mp3,
            AudioTagInfo {
                codec: AudioCodec::Mp3,
                is_sequence_header: false,
                legacy_sample_rate: 22_050,
                legacy_channels: 1
            }
        );
        // MP3 8 kHz.
        assert_eq!(parse_audio_tag(&[0xE2]).unwrap().legacy_sample_rate, 8_000);
        assert_eq!(parse_audio_tag(&[0xE2]).unwrap().codec, AudioCodec::Mp3);
        // Speex.
        let speex = parse_audio_tag(&[0xB2, 0]).unwrap();
        assert_eq!(
            (speex.codec, speex.legacy_sample_rate, speex.legacy_channels),
            (AudioCodec::Other(11), 16_000, 1)
        );
        // G.711 A-law, 5.5 kHz stereo (odd but representable).
        let g711 = parse_audio_tag(&[0x71]).unwrap();
        assert_eq!(
            (g711.codec, g711.legacy_sample_rate, g711.legacy_channels),
            (AudioCodec::Other(7), 5_512, 2)
        );
        // Non-AAC formats never have a sequence header.
        assert_eq!(sequence_header_payload(&[0x2F, 0x00]), None);
    }

    fn ex(packet_type: u8, cc: &[u8; 4], rest: &[u8]) -> Vec<u8> {
        let mut v = vec![(SOUND_FORMAT_EX_HEADER << 4) | packet_type];
        v.extend_from_slice(cc);
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn enhanced_fourccs() {
        for (cc, codec) in [
            (b"Opus", AudioCodec::Opus),
            (b"mp4a", AudioCodec::Aac),
            (b"ac-3", AudioCodec::Ac3),
            (b"ec-3", AudioCodec::Eac3),
            (b"fLaC", AudioCodec::Flac),
            (b".mp3", AudioCodec::Mp3),
            (b"xyz1", AudioCodec::Other(fourcc(b"xyz1"))),
        ] {
            let seq = ex(0, cc, &[1, 2]);
            assert_eq!(
                parse_audio_tag(&seq).unwrap(),
                AudioTagInfo {
                    codec,
                    is_sequence_header: true,
                    legacy_sample_rate: 0,
                    legacy_channels: 0
                }
            );
            assert_eq!(sequence_header_payload(&seq), Some(&[1, 2][..]));
            let frame = ex(1, cc, &[3]);
            assert!(!parse_audio_tag(&frame).unwrap().is_sequence_header);
            assert_eq!(payload(&frame), Some(&[3][..]));
        }
        assert_eq!(
            aac_sequence_header_payload(&ex(0, b"mp4a", &[0x12, 0x10])),
            Some(&[0x12, 0x10][..])
        );
        assert_eq!(
            aac_sequence_header_payload(&ex(0, b"Opus", &[0x12, 0x10])),
            None
        );
        assert_eq!(
            parse_audio_tag(&[0x90, b'O', b'p']),
            Err(MediaError::Truncated)
        );
        // SequenceEnd and MultichannelConfig are not sequence headers.
        assert!(
            !parse_audio_tag(&ex(2, b"Opus", &[]))
                .unwrap()
                .is_sequence_header
        );
        assert!(
            !parse_audio_tag(&ex(4, b"Opus", &[0, 2]))
                .unwrap()
                .is_sequence_header
        );
    }

    #[test]
    fn enhanced_mod_ex_and_multitrack() {
        let mut tag = vec![0x97, 2, 0, 0, 9, 0x00];
        tag.extend_from_slice(b"mp4a");
        tag.extend_from_slice(&[0x11, 0x90]);
        let info = parse_audio_tag(&tag).unwrap();
        assert_eq!(
            (info.codec, info.is_sequence_header),
            (AudioCodec::Aac, true)
        );
        assert_eq!(aac_sequence_header_payload(&tag), Some(&[0x11, 0x90][..]));
        // Multitrack OneTrack / SequenceStart: recognised, not a single-track header.
        let mut tag = vec![0x95, 0x00];
        tag.extend_from_slice(b"Opus");
        tag.extend_from_slice(&[0, 1, 2]);
        let info = parse_audio_tag(&tag).unwrap();
        assert_eq!(
            (info.codec, info.is_sequence_header),
            (AudioCodec::Opus, false)
        );
        assert_eq!(sequence_header_payload(&tag), None);
        assert_eq!(payload(&tag), None);
        assert_eq!(parse_audio_tag(&[0x95]), Err(MediaError::Truncated));
    }
}
