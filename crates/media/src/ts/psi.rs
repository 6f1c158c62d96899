//! Program specific information (ISO/IEC 13818-1 §2.4.4): the PAT and PMT sections,
//! each built once into a complete transport packet whose continuity counter the muxer
//! patches per segment.

use super::packet::SYNC_BYTE;
use super::{
    TsConfig, AUDIO_PID, ID3_PID, PMT_PID, PROGRAM_NUMBER, TRANSPORT_STREAM_ID, TS_PACKET_SIZE,
    VIDEO_PID,
};

/// PMT `stream_type` for ISO/IEC 13818-7 AAC with ADTS transport syntax.
pub(crate) const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
/// PMT `stream_type` for metadata carried in PES packets.
pub(crate) const STREAM_TYPE_METADATA_PES: u8 = 0x15;
/// `metadata_pointer_descriptor` tag.
pub(crate) const TAG_METADATA_POINTER: u8 = 0x25;
/// `metadata_descriptor` tag.
pub(crate) const TAG_METADATA: u8 = 0x26;
/// Registered format identifier of ID3 metadata: "ID3 " (0x49 0x44 0x33 0x20), used as
/// both application format and format identifier (Apple, Timed Metadata for HLS §2.2).
pub(crate) const ID3_FORMAT_IDENTIFIER: [u8; 4] = *b"ID3 ";

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial value 0xFFFFFFFF, not reflected, no
/// final XOR), as appended to PSI sections (Annex A).
pub(crate) fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// `metadata_pointer_descriptor` (§2.6.58) pointing at the ID3 stream of this program,
/// with the values Apple's timed-metadata spec requires.
pub(crate) fn metadata_pointer_descriptor() -> [u8; 17] {
    let mut d = [0u8; 17];
    d[0] = TAG_METADATA_POINTER;
    d[1] = 15;
    d[2..4].copy_from_slice(&[0xFF, 0xFF]); // metadata_application_format: registered
    d[4..8].copy_from_slice(&ID3_FORMAT_IDENTIFIER); // metadata_application_format_identifier
    d[8] = 0xFF; // metadata_format: registered
    d[9..13].copy_from_slice(&ID3_FORMAT_IDENTIFIER); // metadata_format_identifier
    d[13] = 0; // metadata_service_id

    // metadata_locator_record_flag 0, MPEG_carriage_flags 0 (same transport stream),
    // reserved 11111.
    d[14] = 0x1F;
    d[15..17].copy_from_slice(&PROGRAM_NUMBER.to_be_bytes());
    d
}

/// `metadata_descriptor` (§2.6.60) for the ID3 elementary stream.
pub(crate) fn metadata_descriptor() -> [u8; 15] {
    let mut d = [0u8; 15];
    d[0] = TAG_METADATA;
    d[1] = 13;
    d[2..4].copy_from_slice(&[0xFF, 0xFF]); // metadata_application_format
    d[4..8].copy_from_slice(&ID3_FORMAT_IDENTIFIER);
    d[8] = 0xFF; // metadata_format
    d[9..13].copy_from_slice(&ID3_FORMAT_IDENTIFIER);
    d[13] = 0; // metadata_service_id

    // decoder_config_flags 000 (no decoder config), DSM-CC_flag 0, reserved 1111.
    d[14] = 0x0F;
    d
}

/// Wrap a section (table_id up to, not including, the CRC) into one transport packet
/// with `payload_unit_start_indicator`, pointer_field 0, the CRC and 0xFF fill.
/// Continuity counter 0; the muxer patches it.
fn section_packet(pid: u16, section: &[u8]) -> [u8; TS_PACKET_SIZE] {
    let mut p = [0xFFu8; TS_PACKET_SIZE];
    p[0] = SYNC_BYTE;
    p[1] = 0x40 | (pid >> 8) as u8;
    p[2] = pid as u8;
    p[3] = 0x10; // payload only
    p[4] = 0; // pointer_field
    let end = 5 + section.len();
    assert!(
        end + 4 <= TS_PACKET_SIZE,
        "PSI section does not fit one packet"
    );
    p[5..end].copy_from_slice(section);
    p[end..end + 4].copy_from_slice(&crc32_mpeg2(section).to_be_bytes());
    p
}

/// Set `section_length` (12 bits at bytes 1..3) from the section's size plus CRC.
fn set_section_length(section: &mut [u8]) {
    let len = (section.len() - 3 + 4) as u16;
    section[1] = 0xB0 | (len >> 8) as u8; // syntax indicator, '0', reserved '11'
    section[2] = len as u8;
}

/// The PAT packet: one program, [`PROGRAM_NUMBER`] → [`PMT_PID`].
pub(crate) fn pat_packet() -> [u8; TS_PACKET_SIZE] {
    let tsid = TRANSPORT_STREAM_ID.to_be_bytes();
    let prog = PROGRAM_NUMBER.to_be_bytes();
    let mut s = [
        0x00, // table_id: program_association_section
        0,
        0,
        tsid[0],
        tsid[1],
        0xC1, // reserved '11', version 0, current_next_indicator 1
        0,    // section_number
        0,    // last_section_number
        prog[0],
        prog[1],
        0xE0 | (PMT_PID >> 8) as u8,
        PMT_PID as u8,
    ];
    set_section_length(&mut s);
    section_packet(0, &s)
}

/// The PMT packet for `config` with the given PCR PID (0x1FFF: none).
pub(crate) fn pmt_packet(config: &TsConfig, pcr_pid: u16) -> [u8; TS_PACKET_SIZE] {
    // At most 12 + 17 + 5 + 5 + 5 + 15 = 59 bytes: built once per muxer.
    let mut s = Vec::with_capacity(64);
    let prog = PROGRAM_NUMBER.to_be_bytes();
    s.extend_from_slice(&[
        0x02, // table_id: TS_program_map_section
        0,
        0,
        prog[0],
        prog[1],
        0xC1, // reserved, version 0, current_next_indicator
        0,
        0,
        0xE0 | (pcr_pid >> 8) as u8,
        pcr_pid as u8,
    ]);
    let program_info: &[u8] = if config.timed_metadata {
        &metadata_pointer_descriptor()
    } else {
        &[]
    };
    s.extend_from_slice(&[
        0xF0 | (program_info.len() >> 8) as u8,
        program_info.len() as u8,
    ]);
    s.extend_from_slice(program_info);
    let mut es = |stream_type: u8, pid: u16, info: &[u8]| {
        s.extend_from_slice(&[
            stream_type,
            0xE0 | (pid >> 8) as u8,
            pid as u8,
            0xF0 | (info.len() >> 8) as u8,
            info.len() as u8,
        ]);
        s.extend_from_slice(info);
    };
    if let Some(kind) = config.video {
        es(kind.stream_type(), VIDEO_PID, &[]);
    }
    if config.audio {
        es(STREAM_TYPE_AAC_ADTS, AUDIO_PID, &[]);
    }
    if config.timed_metadata {
        es(STREAM_TYPE_METADATA_PES, ID3_PID, &metadata_descriptor());
    }
    set_section_length(&mut s);
    section_packet(PMT_PID, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        // Catalogue check value of CRC-32/MPEG-2.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
        assert_eq!(crc32_mpeg2(&[]), 0xFFFF_FFFF);
    }

    #[test]
    fn pat_bytes() {
        let p = pat_packet();
        assert_eq!(
            &p[..17],
            &[
                0x47, 0x40, 0x00, 0x10, 0x00, // header, pointer_field
                0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, // table header
                0x00, 0x01, 0xF0, 0x00, // program 1 → PID 0x1000
            ]
        );
        // A section whose CRC is appended has a CRC of 0 over section + CRC.
        assert_eq!(crc32_mpeg2(&p[5..21]), 0);
        assert!(p[21..].iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn descriptors() {
        assert_eq!(
            metadata_pointer_descriptor(),
            [
                0x25, 0x0F, 0xFF, 0xFF, b'I', b'D', b'3', b' ', 0xFF, b'I', b'D', b'3', b' ', 0x00,
                0x1F, 0x00, 0x01
            ]
        );
        assert_eq!(
            metadata_descriptor(),
            [
                0x26, 0x0D, 0xFF, 0xFF, b'I', b'D', b'3', b' ', 0xFF, b'I', b'D', b'3', b' ', 0x00,
                0x0F
            ]
        );
    }
}
