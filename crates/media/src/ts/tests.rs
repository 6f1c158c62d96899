//! Muxer tests: byte-level checks through a small TS demuxer written here, a property
//! test over arbitrary access-unit sizes and timestamps, and real-tool checks (ffprobe,
//! ffmpeg) on segments built from ffmpeg-encoded H.264/HEVC + AAC.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use proptest::prelude::*;

use super::convert::{
    adts_header, avc_parameter_sets, avcc_to_annexb, id3_text_tag, ADTS_MAX_PAYLOAD,
};
use super::psi::crc32_mpeg2;
use super::*;
use crate::aac::{parse_audio_specific_config, AacConfig};
use crate::avc::{parse_avc_decoder_config, AvcConfig};
use crate::flv::{FlvReader, TAG_AUDIO, TAG_VIDEO};
use crate::{audio, video};

const FULL: TsConfig = TsConfig {
    video: Some(VideoStreamKind::H264),
    audio: true,
    timed_metadata: true,
};

// ---------------------------------------------------------------------------------
// A minimal demuxer that asserts well-formedness while it parses.
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Af {
    discontinuity: bool,
    rai: bool,
    pcr: Option<u64>,
}

#[derive(Debug, Clone)]
struct Packet<'a> {
    pid: u16,
    pusi: bool,
    cc: u8,
    af: Option<Af>,
    payload: &'a [u8],
}

fn decode_pcr(b: &[u8]) -> u64 {
    assert_eq!(b[4] & 0x7E, 0x7E, "PCR reserved bits");
    assert_eq!(
        ((u16::from(b[4] & 1)) << 8) | u16::from(b[5]),
        0,
        "PCR extension"
    );
    (u64::from(b[0]) << 25)
        | (u64::from(b[1]) << 17)
        | (u64::from(b[2]) << 9)
        | (u64::from(b[3]) << 1)
        | u64::from(b[4] >> 7)
}

fn decode_timestamp(b: &[u8], prefix: u8) -> u64 {
    assert_eq!(b[0] >> 4, prefix, "timestamp prefix");
    assert_eq!(b[0] & 1, 1, "marker");
    assert_eq!(b[2] & 1, 1, "marker");
    assert_eq!(b[4] & 1, 1, "marker");
    (u64::from(b[0] >> 1 & 0x07) << 30)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] >> 1) << 15)
        | (u64::from(b[3]) << 7)
        | u64::from(b[4] >> 1)
}

/// Split into packets, checking sync bytes, sizes and adaptation field syntax.
fn parse_packets(ts: &[u8]) -> Vec<Packet<'_>> {
    assert_eq!(ts.len() % TS_PACKET_SIZE, 0, "whole packets");
    ts.chunks_exact(TS_PACKET_SIZE)
        .map(|p| {
            assert_eq!(p[0], 0x47, "sync byte");
            assert_eq!(p[1] & 0x80, 0, "transport_error_indicator");
            assert_eq!(p[3] & 0xC0, 0, "not scrambled");
            let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
            let afc = (p[3] >> 4) & 3;
            assert_ne!(afc, 0, "reserved adaptation_field_control");
            let mut pos = 4;
            let mut af = None;
            if afc & 2 != 0 {
                let len = usize::from(p[4]);
                if afc == 2 {
                    assert_eq!(len, 183, "AF-only packet fills the packet");
                } else {
                    assert!(len <= 182, "AF leaves room for payload");
                }
                let mut a = Af::default();
                if len > 0 {
                    let flags = p[5];
                    assert_eq!(flags & !0xD0, 0, "only discontinuity, RAI and PCR flags");
                    a.discontinuity = flags & 0x80 != 0;
                    assert!(
                        !a.discontinuity || flags & 0x10 != 0,
                        "discontinuity with PCR"
                    );
                    a.rai = flags & 0x40 != 0;
                    let mut used = 1;
                    if flags & 0x10 != 0 {
                        assert!(len >= 7);
                        a.pcr = Some(decode_pcr(&p[6..12]));
                        used += 6;
                    }
                    assert!(
                        p[5 + used..5 + len].iter().all(|&b| b == 0xFF),
                        "stuffing bytes are 0xFF"
                    );
                }
                af = Some(a);
                pos = 5 + len;
            }
            let payload: &[u8] = if afc & 1 != 0 { &p[pos..] } else { &[] };
            if afc & 1 != 0 {
                assert!(!payload.is_empty(), "payload flagged but empty");
            }
            Packet {
                pid,
                pusi: p[1] & 0x40 != 0,
                cc: p[3] & 0x0F,
                af,
                payload,
            }
        })
        .collect()
}

/// Check continuity counters per PID: +1 per payload packet, repeated by AF-only
/// packets. `last` carries state across calls (segments).
fn check_continuity(packets: &[Packet<'_>], last: &mut HashMap<u16, u8>) {
    for (i, p) in packets.iter().enumerate() {
        let has_payload = !p.payload.is_empty();
        if let Some(&prev) = last.get(&p.pid) {
            let want = if has_payload { (prev + 1) & 0x0F } else { prev };
            assert_eq!(
                p.cc, want,
                "continuity counter of PID {:#x} at packet {i}",
                p.pid
            );
        }
        last.insert(p.pid, p.cc);
    }
}

/// Verify the CRC of the single section in a PSI packet and return the section
/// (without CRC).
fn psi_section<'a>(p: &Packet<'a>) -> &'a [u8] {
    assert!(p.pusi);
    assert_eq!(p.payload[0], 0, "pointer_field");
    let s = &p.payload[1..];
    assert_eq!(s[1] & 0xF0, 0xB0, "section_syntax_indicator, reserved");
    let len = (usize::from(s[1] & 0x0F) << 8) | usize::from(s[2]);
    let full = &s[..3 + len];
    assert_eq!(crc32_mpeg2(full), 0, "CRC over section + CRC is 0");
    let crc = u32::from_be_bytes(full[full.len() - 4..].try_into().unwrap());
    assert_eq!(crc, crc32_mpeg2(&full[..full.len() - 4]));
    assert!(s[3 + len..].iter().all(|&b| b == 0xFF), "PSI fill");
    &full[..full.len() - 4]
}

#[derive(Debug)]
struct Pmt {
    pcr_pid: u16,
    program_info: Vec<u8>,
    streams: Vec<(u8, u16, Vec<u8>)>,
}

fn parse_pmt(section: &[u8]) -> Pmt {
    assert_eq!(section[0], 2, "table_id");
    assert_eq!(&section[3..5], &PROGRAM_NUMBER.to_be_bytes());
    assert_eq!(section[5], 0xC1);
    let pcr_pid = (u16::from(section[8] & 0x1F) << 8) | u16::from(section[9]);
    let pil = (usize::from(section[10] & 0x0F) << 8) | usize::from(section[11]);
    let program_info = section[12..12 + pil].to_vec();
    let mut pos = 12 + pil;
    let mut streams = Vec::new();
    while pos < section.len() {
        let st = section[pos];
        let pid = (u16::from(section[pos + 1] & 0x1F) << 8) | u16::from(section[pos + 2]);
        let il = (usize::from(section[pos + 3] & 0x0F) << 8) | usize::from(section[pos + 4]);
        streams.push((st, pid, section[pos + 5..pos + 5 + il].to_vec()));
        pos += 5 + il;
    }
    assert_eq!(pos, section.len());
    Pmt {
        pcr_pid,
        program_info,
        streams,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pes {
    pid: u16,
    stream_id: u8,
    length_field: u16,
    pts: u64,
    dts: Option<u64>,
    payload: Vec<u8>,
    rai: bool,
    pcr: Option<u64>,
}

/// Reassemble the PES packets of all elementary-stream PIDs, in start order.
fn collect_pes(packets: &[Packet<'_>]) -> Vec<Pes> {
    let mut raw: Vec<(u16, Af, Vec<u8>)> = Vec::new();
    let mut open: HashMap<u16, usize> = HashMap::new();
    for p in packets {
        if p.pid == 0 || p.pid == PMT_PID || p.payload.is_empty() {
            continue;
        }
        if p.pusi {
            open.insert(p.pid, raw.len());
            raw.push((p.pid, p.af.unwrap_or_default(), Vec::new()));
        } else {
            assert!(p.af.is_none_or(|a| !a.rai && a.pcr.is_none()));
        }
        let i = *open.get(&p.pid).expect("continuation before PES start");
        raw[i].2.extend_from_slice(p.payload);
    }
    raw.into_iter()
        .map(|(pid, af, b)| {
            assert_eq!(&b[..3], &[0, 0, 1], "PES start code");
            let length_field = u16::from_be_bytes([b[4], b[5]]);
            if length_field != 0 {
                assert_eq!(usize::from(length_field), b.len() - 6, "PES_packet_length");
            }
            assert_eq!(b[6], 0x84, "marker bits + data_alignment_indicator");
            let hdl = usize::from(b[8]);
            let (pts, dts) = match b[7] {
                0x80 => {
                    assert_eq!(hdl, 5);
                    (decode_timestamp(&b[9..14], 2), None)
                }
                0xC0 => {
                    assert_eq!(hdl, 10);
                    (
                        decode_timestamp(&b[9..14], 3),
                        Some(decode_timestamp(&b[14..19], 1)),
                    )
                }
                f => panic!("unexpected PES flags {f:#x}"),
            };
            Pes {
                pid,
                stream_id: b[3],
                length_field,
                pts,
                dts,
                payload: b[9 + hdl..].to_vec(),
                rai: af.rai,
                pcr: af.pcr,
            }
        })
        .collect()
}

/// Every PCR in stream order, from PES and AF-only packets.
fn pcrs(packets: &[Packet<'_>]) -> Vec<(u16, u64)> {
    packets
        .iter()
        .filter_map(|p| p.af.and_then(|a| a.pcr).map(|pcr| (p.pid, pcr)))
        .collect()
}

fn fill(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

// ---------------------------------------------------------------------------------
// Byte-level tests.
// ---------------------------------------------------------------------------------

#[test]
fn segment_starts_with_pat_and_pmt() {
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    mux.begin_segment(&mut out);
    assert_eq!(out.len(), 2 * TS_PACKET_SIZE);
    let packets = parse_packets(&out);
    assert_eq!((packets[0].pid, packets[1].pid), (0, PMT_PID));

    let pat = psi_section(&packets[0]);
    assert_eq!(
        pat,
        &[0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00]
    );

    let pmt = parse_pmt(psi_section(&packets[1]));
    assert_eq!(pmt.pcr_pid, VIDEO_PID);
    let id3 = b"\xFF\xFFID3 \xFFID3 ";
    let mut pointer = vec![0x25, 15];
    pointer.extend_from_slice(id3);
    pointer.extend_from_slice(&[0x00, 0x1F, 0x00, 0x01]);
    assert_eq!(pmt.program_info, pointer);
    let mut metadata = vec![0x26, 13];
    metadata.extend_from_slice(id3);
    metadata.extend_from_slice(&[0x00, 0x0F]);
    assert_eq!(
        pmt.streams,
        vec![
            (0x1B, VIDEO_PID, vec![]),
            (0x0F, AUDIO_PID, vec![]),
            (0x15, ID3_PID, metadata),
        ]
    );
}

#[test]
fn pmt_variants() {
    let cases = [
        (
            TsConfig {
                video: Some(VideoStreamKind::Hevc),
                audio: false,
                timed_metadata: false,
            },
            VIDEO_PID,
            vec![(0x24, VIDEO_PID)],
        ),
        (
            TsConfig {
                video: None,
                audio: true,
                timed_metadata: true,
            },
            AUDIO_PID,
            vec![(0x0F, AUDIO_PID), (0x15, ID3_PID)],
        ),
        (
            TsConfig {
                video: None,
                audio: false,
                timed_metadata: true,
            },
            0x1FFF,
            vec![(0x15, ID3_PID)],
        ),
    ];
    for (config, pcr_pid, streams) in cases {
        let mut mux = TsMuxer::new(config);
        assert_eq!(mux.pcr_pid(), (pcr_pid != 0x1FFF).then_some(pcr_pid));
        let mut out = Vec::new();
        mux.begin_segment(&mut out);
        let packets = parse_packets(&out);
        let pmt = parse_pmt(psi_section(&packets[1]));
        assert_eq!(pmt.pcr_pid, pcr_pid);
        assert_eq!(pmt.program_info.is_empty(), !config.timed_metadata);
        let got: Vec<_> = pmt.streams.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(got, streams);
    }
}

#[test]
fn keyframe_has_rai_and_pcr_and_payload_roundtrips() {
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    mux.begin_segment(&mut out);
    let au = fill(5000, 7);
    let dts = 900_000;
    mux.write_video(&mut out, dts + 3_600, dts, true, &au)
        .unwrap();
    let packets = parse_packets(&out);
    let first = &packets[2];
    assert!(first.pusi);
    assert_eq!(
        first.af,
        Some(Af {
            discontinuity: false,
            rai: true,
            pcr: Some(dts - PCR_OFFSET_90K)
        })
    );
    let pes = collect_pes(&packets);
    assert_eq!(pes.len(), 1);
    assert_eq!(pes[0].stream_id, 0xE0);
    assert_eq!(pes[0].pts, dts + 3_600);
    assert_eq!(pes[0].dts, Some(dts));
    assert_eq!(pes[0].payload, au);
    assert_eq!(usize::from(pes[0].length_field), 13 + au.len());
    // 5019 PES bytes with an 8-byte PCR field: 176 + 27 · 184 = 5144 ≥ 5019 > 4960.
    assert_eq!(packets.len(), 2 + 28);
}

#[test]
fn huge_video_pes_is_unbounded() {
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    let au = fill(70_000, 1);
    mux.write_video(&mut out, 0, 0, false, &au).unwrap();
    let pes = collect_pes(&parse_packets(&out));
    assert_eq!(pes[0].length_field, 0);
    assert_eq!(pes[0].payload, au);
    assert_eq!(pes[0].dts, None, "DTS equal to PTS is omitted");
}

#[test]
fn every_payload_size_is_stuffed_exactly() {
    // Sizes around every packet boundary, with and without a PCR/RAI adaptation field.
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    let mut want = Vec::new();
    let mut t = 1_000_000u64;
    for len in 0..=600usize {
        let data = fill(len, len as u8);
        match len % 3 {
            0 => mux
                .write_video(&mut out, t, t, len % 2 == 0, &data)
                .unwrap(),
            1 => mux.write_audio(&mut out, t, &data).unwrap(),
            _ => mux.write_timed_metadata(&mut out, t, &data).unwrap(),
        }
        want.push(data);
        t += 1_000;
    }
    let packets = parse_packets(&out);
    check_continuity(&packets, &mut HashMap::new());
    let got: Vec<_> = collect_pes(&packets)
        .into_iter()
        .map(|p| p.payload)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn continuity_counters_run_across_segments() {
    let mut mux = TsMuxer::new(FULL);
    let mut last = HashMap::new();
    let mut t = 0u64;
    for segment in 0..40 {
        let mut out = Vec::new();
        mux.begin_segment(&mut out);
        mux.write_timed_metadata(&mut out, t, &id3_text_tag("x"))
            .unwrap();
        for i in 0..5 {
            mux.write_video(&mut out, t, t, i == 0, &fill(300 + 50 * i, 3))
                .unwrap();
            mux.write_audio(&mut out, t, &fill(200, 4)).unwrap();
            t += 3_600;
        }
        let packets = parse_packets(&out);
        // PAT and PMT counters follow the segment number.
        assert_eq!(packets[0].cc, (segment & 0x0F) as u8);
        assert_eq!(packets[1].cc, (segment & 0x0F) as u8);
        check_continuity(&packets, &mut last);
    }
}

#[test]
fn pts_dts_and_pcr_large_values_and_wrap() {
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    let above_32 = (1u64 << 32) + 123_456;
    mux.write_video(&mut out, above_32 + 7_200, above_32, true, &[1, 2, 3])
        .unwrap();
    // 2^33 + 5 is written as 5; a wall-clock-sized value as its residue.
    mux.write_audio(&mut out, (1 << 33) + 5, &[9]).unwrap();
    let wall = 1_700_000_000_000u64 * 90;
    mux.write_video(&mut out, wall, wall, true, &[4]).unwrap();
    let packets = parse_packets(&out);
    // The jumps between these timelines (hours) are flagged as discontinuities.
    let flagged: Vec<_> = packets
        .iter()
        .filter_map(|p| p.af.filter(|a| a.pcr.is_some()))
        .map(|a| a.discontinuity)
        .collect();
    assert_eq!(flagged, [false, true, true]);
    let pes = collect_pes(&packets);
    assert_eq!(pes[0].pts, above_32 + 7_200);
    assert_eq!(pes[0].dts, Some(above_32));
    assert_eq!(pes[0].pcr, Some(above_32 - PCR_OFFSET_90K));
    assert_eq!(pes[1].pts, 5);
    assert_eq!(pes[2].pts, wall % (1 << 33));
    assert_eq!(pes[2].pcr, Some((wall - PCR_OFFSET_90K) % (1 << 33)));

    // A DTS below the PCR offset wraps the PCR below zero, modulo 2^33.
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    mux.write_video(&mut out, 0, 0, true, &[1]).unwrap();
    let pes = collect_pes(&parse_packets(&out));
    assert_eq!(pes[0].pcr, Some((1 << 33) - PCR_OFFSET_90K));

    // Across the wrap the PCR keeps being written and is seen as moving forward.
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    let start = (1u64 << 33) - 90_000;
    for i in 0..60u64 {
        let t = start + i * 3_600; // crosses 2^33 after 25 frames
        mux.write_video(&mut out, t, t, i % 25 == 0, &[0xAB; 100])
            .unwrap();
    }
    let pes = collect_pes(&parse_packets(&out));
    assert_eq!(pes[30].pts, (start + 30 * 3_600) % (1 << 33));
    assert!(
        pes.iter().all(|p| p.pcr.is_some()),
        "40 ms frames all carry a PCR"
    );
    assert_eq!(
        pes[59].pcr,
        Some((start + 59 * 3_600 - PCR_OFFSET_90K) % (1 << 33))
    );
}

#[test]
fn pcr_schedule() {
    // 30 fps video + 46.4 ms audio: PCR on keyframes and every ≥ 40 ms; gaps < 100 ms.
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    mux.begin_segment(&mut out);
    let mut audio_t = 0u64;
    for i in 0..90u64 {
        let t = i * 3_003;
        while audio_t <= t {
            mux.write_audio(&mut out, audio_t, &[0; 50]).unwrap();
            audio_t += 4_180;
        }
        mux.write_video(&mut out, t, t, i % 30 == 0, &[0; 500])
            .unwrap();
    }
    let packets = parse_packets(&out);
    let p = pcrs(&packets);
    for w in p.windows(2) {
        let gap = ts33(w[1].1.wrapping_sub(w[0].1));
        assert!(gap < 9_000, "PCR gap {gap}");
    }
    for pes in collect_pes(&packets).iter().filter(|p| p.rai) {
        assert!(pes.pcr.is_some());
    }

    // Sparse video (1 fps) with 23 ms audio: PCR-only packets fill the gaps.
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    mux.begin_segment(&mut out);
    let mut audio_t = 0u64;
    for i in 0..5u64 {
        let t = i * 90_000;
        mux.write_video(&mut out, t, t, true, &[0; 1000]).unwrap();
        while audio_t < t + 90_000 {
            mux.write_audio(&mut out, audio_t, &[0; 50]).unwrap();
            audio_t += 2_090;
        }
    }
    let packets = parse_packets(&out);
    let p = pcrs(&packets);
    assert!(p.iter().all(|&(pid, _)| pid == VIDEO_PID));
    assert!(p.len() > 5 * 10);
    for w in p.windows(2) {
        let gap = ts33(w[1].1.wrapping_sub(w[0].1));
        assert!(gap < 9_000, "PCR gap {gap}");
    }
    check_continuity(&packets, &mut HashMap::new());

    // Audio-only: PCR on the audio PID, the first audio PES of a segment is a random
    // access point.
    let mut mux = TsMuxer::new(TsConfig {
        video: None,
        audio: true,
        timed_metadata: false,
    });
    let mut out = Vec::new();
    mux.begin_segment(&mut out);
    for i in 0..20u64 {
        mux.write_audio(&mut out, i * 1_920, &[0; 30]).unwrap();
    }
    let packets = parse_packets(&out);
    let pes = collect_pes(&packets);
    assert!(pes[0].rai && pes[0].pcr.is_some());
    assert!(pes[1..].iter().all(|p| !p.rai));
    let with_pcr = pes.iter().filter(|p| p.pcr.is_some()).count();
    assert_eq!(with_pcr, 10, "every other 21.3 ms frame");
}

#[test]
fn leading_id3_gets_a_pcr_first_and_pcr_never_goes_back() {
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    mux.begin_segment(&mut out);
    let t = 50_000_000u64;
    mux.write_timed_metadata(&mut out, t, &id3_text_tag("{}"))
        .unwrap();
    // Keyframe with B-frame delay: DTS before the ID3 PTS.
    mux.write_video(&mut out, t, t - 6_000, true, &[1; 10])
        .unwrap();
    let packets = parse_packets(&out);
    // PAT, PMT, PCR-only packet on the video PID, then the ID3 PES.
    assert_eq!(packets[2].pid, VIDEO_PID);
    assert!(packets[2].payload.is_empty());
    assert_eq!(
        packets[2].cc, 15,
        "repeats the (not yet used) counter before 0"
    );
    assert_eq!(packets[2].af.unwrap().pcr, Some(t - PCR_OFFSET_90K));
    assert_eq!(packets[3].pid, ID3_PID);
    let pes = collect_pes(&packets);
    assert_eq!(
        pes[1].pcr,
        Some(t - PCR_OFFSET_90K),
        "clamped, not backwards"
    );
    check_continuity(&packets, &mut HashMap::new());
}

#[test]
fn id3_pes_layout() {
    let mut mux = TsMuxer::new(FULL);
    let mut out = Vec::new();
    let tag = id3_text_tag(r#"{"objectType":"KalturaSyncPoint","timestamp":1,"id":"x_1"}"#);
    mux.write_timed_metadata(&mut out, 12_345, &tag).unwrap();
    let pes = collect_pes(&parse_packets(&out));
    let id3 = pes.iter().find(|p| p.pid == ID3_PID).unwrap();
    assert_eq!(id3.stream_id, 0xBD);
    assert_eq!(id3.pts, 12_345);
    assert_eq!(id3.dts, None);
    assert_eq!(usize::from(id3.length_field), 8 + tag.len());
    assert_eq!(id3.payload, tag);
}

#[test]
fn errors_write_nothing() {
    let mut mux = TsMuxer::new(TsConfig {
        video: Some(VideoStreamKind::H264),
        audio: false,
        timed_metadata: false,
    });
    let mut out = Vec::new();
    assert_eq!(
        mux.write_audio(&mut out, 0, &[1]),
        Err(TsError::StreamNotConfigured("audio"))
    );
    assert_eq!(
        mux.write_timed_metadata(&mut out, 0, &[1]),
        Err(TsError::StreamNotConfigured("timed metadata"))
    );
    assert_eq!(
        mux.write_video_avcc(&mut out, 0, 0, true, &[0, 0, 0, 9, 1], 4, None),
        Err(TsError::TruncatedNal)
    );
    assert!(out.is_empty());

    let mut mux = TsMuxer::new(FULL);
    let big = vec![0u8; MAX_BOUNDED_PES_PAYLOAD + 1];
    assert_eq!(
        mux.write_audio(&mut out, 0, &big),
        Err(TsError::PesTooLarge {
            len: big.len(),
            max: MAX_BOUNDED_PES_PAYLOAD
        })
    );
    assert!(mux.write_timed_metadata(&mut out, 0, &big).is_err());
    let aac = AacConfig {
        object_type: 2,
        sample_rate: 48_000,
        channels: 2,
    };
    assert_eq!(
        mux.write_aac_frame(&mut out, 0, &aac, &big[..ADTS_MAX_PAYLOAD + 1]),
        Err(TsError::AdtsFrameTooLarge(ADTS_MAX_PAYLOAD + 1))
    );
    assert!(out.is_empty());
    // The largest bounded payload fits.
    mux.write_audio(&mut out, 0, &big[1..]).unwrap();
    let pes = collect_pes(&parse_packets(&out));
    assert_eq!(pes[0].length_field, 0xFFFF);
}

#[test]
fn single_copy_paths_match_the_two_step_paths() {
    let sps: &[u8] = &[0x67, 0x64, 0x00, 0x1F, 0xAC];
    let pps: &[u8] = &[0x68, 0xEB, 0xE3, 0xCB];
    let ps = [sps, pps];
    let mut frame = Vec::new();
    for nal in [&[0x06u8, 5, 1, 0x80][..], &fill(3000, 9)] {
        frame.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        frame.extend_from_slice(nal);
    }
    frame[12] = 0x65; // second NAL: IDR slice header byte
    let aac = AacConfig {
        object_type: 2,
        sample_rate: 44_100,
        channels: 2,
    };
    let raw = fill(400, 2);

    let mut a = TsMuxer::new(FULL);
    let mut b = TsMuxer::new(FULL);
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    for (i, key) in [true, false, false, true].into_iter().enumerate() {
        let t = 10_000 + i as u64 * 3_600;
        let ps = key.then_some(&ps[..]);
        a.write_video_avcc(&mut out_a, t + 7_200, t, key, &frame, 4, ps)
            .unwrap();
        let mut annexb = Vec::new();
        avcc_to_annexb(VideoStreamKind::H264, &frame, 4, ps, &mut annexb).unwrap();
        b.write_video(&mut out_b, t + 7_200, t, key, &annexb)
            .unwrap();

        a.write_aac_frame(&mut out_a, t, &aac, &raw).unwrap();
        let mut adts = adts_header(&aac, raw.len()).to_vec();
        adts.extend_from_slice(&raw);
        b.write_audio(&mut out_b, t, &adts).unwrap();
    }
    assert_eq!(out_a, out_b);
}

// ---------------------------------------------------------------------------------
// Property test.
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Segment,
    Video {
        len: usize,
        key: bool,
        dt: u64,
        cts: u64,
    },
    Audio {
        len: usize,
        dt: u64,
    },
    Id3 {
        len: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Segment),
        4 => (0usize..4000, any::<bool>(), 0u64..20_000, 0u64..20_000)
            .prop_map(|(len, key, dt, cts)| Op::Video { len, key, dt, cts }),
        4 => (0usize..1500, 0u64..10_000).prop_map(|(len, dt)| Op::Audio { len, dt }),
        1 => (0usize..400).prop_map(|len| Op::Id3 { len }),
    ]
}

fn config() -> impl Strategy<Value = TsConfig> {
    (
        prop_oneof![
            Just(None),
            Just(Some(VideoStreamKind::H264)),
            Just(Some(VideoStreamKind::Hevc))
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(video, audio, timed_metadata)| TsConfig {
            video,
            audio,
            timed_metadata,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_streams_produce_well_formed_packets(
        config in config(),
        start in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut mux = TsMuxer::new(config);
        let mut out = Vec::new();
        let mut t = start;
        // Expected (pid, pts, dts, payload) in write order.
        let mut want = Vec::new();
        let mut keyframes = 0;
        for (i, op) in ops.iter().enumerate() {
            let seed = i as u8;
            match *op {
                Op::Segment => mux.begin_segment(&mut out),
                Op::Video { len, key, dt, cts } => {
                    t = t.wrapping_add(dt);
                    let data = fill(len, seed);
                    let r = mux.write_video(&mut out, t.wrapping_add(cts), t, key, &data);
                    prop_assert_eq!(r.is_ok(), config.video.is_some());
                    if r.is_ok() {
                        keyframes += usize::from(key);
                        let dts = (cts % (1 << 33) != 0).then_some(ts33(t));
                        want.push((VIDEO_PID, ts33(t.wrapping_add(cts)), dts, data));
                    }
                }
                Op::Audio { len, dt } => {
                    t = t.wrapping_add(dt);
                    let data = fill(len, seed);
                    let r = mux.write_audio(&mut out, t, &data);
                    prop_assert_eq!(r.is_ok(), config.audio);
                    if r.is_ok() {
                        want.push((AUDIO_PID, ts33(t), None, data));
                    }
                }
                Op::Id3 { len } => {
                    let data = fill(len, seed);
                    let r = mux.write_timed_metadata(&mut out, t, &data);
                    prop_assert_eq!(r.is_ok(), config.timed_metadata);
                    if r.is_ok() {
                        want.push((ID3_PID, ts33(t), None, data));
                    }
                }
            }
        }
        let packets = parse_packets(&out);
        check_continuity(&packets, &mut HashMap::new());
        let pes = collect_pes(&packets);
        let got: Vec<_> = pes
            .iter()
            .map(|p| (p.pid, p.pts, p.dts, p.payload.clone()))
            .collect();
        prop_assert_eq!(got, want);

        // Keyframes carry RAI and PCR; PCRs only on the PCR PID and never backwards.
        let rai: Vec<_> = pes.iter().filter(|p| p.pid == VIDEO_PID && p.rai).collect();
        prop_assert_eq!(rai.len(), keyframes);
        prop_assert!(rai.iter().all(|p| p.pcr.is_some()));
        let all_pcrs = pcrs(&packets);
        prop_assert!(all_pcrs.iter().all(|&(pid, _)| Some(pid) == mux.pcr_pid()));
        for w in all_pcrs.windows(2) {
            let d = ts33(w[1].1.wrapping_sub(w[0].1));
            prop_assert!(d < 1 << 32, "PCR went backwards");
        }
        // After every PMT, the first packet that is not PSI carries a PCR.
        if mux.pcr_pid().is_some() {
            for (i, p) in packets.iter().enumerate() {
                if p.pid == PMT_PID {
                    if let Some(next) = packets[i + 1..].iter().find(|q| q.pid != 0 && q.pid != PMT_PID) {
                        prop_assert!(next.af.and_then(|a| a.pcr).is_some());
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Real-tool checks.
// ---------------------------------------------------------------------------------

use crate::real_tools::tools_available;

fn run_ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A temporary file removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, data: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("klive-ts-{}-{name}", std::process::id()));
        std::fs::write(&path, data).expect("write temp file");
        Self(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Objects of one top-level array ("packets" or "streams") of ffprobe's pretty JSON,
/// as flat key → raw value maps (nested objects such as "tags" are skipped).
fn ffprobe_objects(json: &str, array: &str) -> Vec<HashMap<String, String>> {
    let mut objects = Vec::new();
    let mut depth = 0usize;
    let mut in_array = false;
    for line in json.lines().map(str::trim) {
        if line.starts_with('}') || line.starts_with(']') {
            depth -= 1;
            if depth == 1 {
                in_array = false;
            }
            continue;
        }
        if depth == 1 && line.starts_with(&format!("\"{array}\"")) {
            in_array = true;
        }
        if in_array && depth == 3 {
            if let Some((k, v)) = line.split_once(": ") {
                let v = v.trim_end_matches(',').trim_matches('"');
                objects.last_mut().map(|o: &mut HashMap<String, String>| {
                    o.insert(k.trim_matches('"').to_string(), v.to_string())
                });
            }
        }
        if line.ends_with('{') || line.ends_with('[') {
            depth += 1;
            if in_array && depth == 3 && line == "{" {
                objects.push(HashMap::new());
            }
        }
    }
    objects
}

struct Probe {
    /// codec_name per stream index.
    codecs: Vec<String>,
    /// (codec_name, pts, keyframe) per packet.
    packets: Vec<(String, i64, bool)>,
}

/// Run ffprobe (streams + packets as JSON) and a full ffmpeg decode, which must print
/// nothing at `-v error`.
fn probe_and_decode(name: &str, ts: &[u8]) -> Probe {
    let file = TempFile::new(name, ts);
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_packets",
            "-of",
            "json",
        ])
        .arg(file.path())
        .output()
        .expect("run ffprobe");
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    let streams = ffprobe_objects(&json, "streams");
    let mut codecs = vec![String::new(); streams.len()];
    for s in &streams {
        codecs[s["index"].parse::<usize>().unwrap()] = s["codec_name"].clone();
    }
    let packets = ffprobe_objects(&json, "packets")
        .iter()
        .map(|p| {
            let idx: usize = p["stream_index"].parse().unwrap();
            (
                codecs[idx].clone(),
                p["pts"].parse().unwrap(),
                p["flags"].starts_with('K'),
            )
        })
        .collect();

    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i", file.path(), "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(decode.status.success());
    assert!(
        decode.stderr.is_empty(),
        "ffmpeg decode errors: {}",
        String::from_utf8_lossy(&decode.stderr)
    );
    Probe { codecs, packets }
}

enum Tag {
    Video {
        dts_ms: i64,
        cts_ms: i64,
        key: bool,
        avcc: Vec<u8>,
    },
    Audio {
        ms: i64,
        raw: Vec<u8>,
    },
}

struct FlvSource {
    avc: AvcConfig,
    aac: AacConfig,
    tags: Vec<Tag>,
}

fn read_flv(flv: &[u8]) -> FlvSource {
    let mut reader = FlvReader::new();
    reader.push(flv);
    let (mut avc, mut aac, mut tags) = (None, None, Vec::new());
    while let Some(tag) = reader.next_tag().unwrap() {
        let ms = i64::from(tag.timestamp);
        match tag.tag_type {
            TAG_VIDEO => {
                let info = video::parse_video_tag(&tag.data).unwrap();
                if let Some(rec) = video::sequence_header_payload(&tag.data) {
                    avc = Some(parse_avc_decoder_config(rec).unwrap());
                } else if info.kind == video::VideoPacketKind::Frame {
                    tags.push(Tag::Video {
                        dts_ms: ms,
                        cts_ms: i64::from(info.composition_time),
                        key: info.keyframe,
                        avcc: video::payload(&tag.data).unwrap().to_vec(),
                    });
                }
            }
            TAG_AUDIO => {
                if let Some(asc) = audio::aac_sequence_header_payload(&tag.data) {
                    aac = Some(parse_audio_specific_config(asc).unwrap());
                } else {
                    tags.push(Tag::Audio {
                        ms,
                        raw: audio::payload(&tag.data).unwrap().to_vec(),
                    });
                }
            }
            _ => {}
        }
    }
    FlvSource {
        avc: avc.expect("AVC sequence header"),
        aac: aac.expect("AAC sequence header"),
        tags,
    }
}

/// Wall-clock-like 90 kHz base (2023-11-14 in ms × 90), far above 2^33.
const BASE_90K: u64 = 1_700_000_000_000 * 90;

fn ms_to_90k(ms: i64) -> u64 {
    BASE_90K.wrapping_add_signed(ms * 90)
}

#[test]
fn ffprobe_reads_h264_aac_id3_segment() {
    if !tools_available("libx264", "TS") {
        return;
    }
    let flv = run_ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-f",
        "flv",
        "-",
    ]);
    let src = read_flv(&flv);
    let ps = avc_parameter_sets(&src.avc);
    let nls = src.avc.nal_length_size;

    let mut mux = TsMuxer::new(FULL);
    let mut seg = Vec::new();
    mux.begin_segment(&mut seg);
    let sync_point = format!(
        r#"{{"objectType":"KalturaSyncPoint","timestamp":{},"id":"0_abcdefgh_1_1"}}"#,
        1_700_000_000_000u64
    );
    mux.write_timed_metadata(&mut seg, BASE_90K, &id3_text_tag(&sync_point))
        .unwrap();
    let (mut annexb, mut adts) = (Vec::new(), Vec::new());
    let (mut n_video, mut n_key, mut n_audio) = (0, 0, 0);
    let mut first_video_pts = None;
    for tag in &src.tags {
        match tag {
            Tag::Video {
                dts_ms,
                cts_ms,
                key,
                avcc,
            } => {
                annexb.clear();
                let ps = key.then_some(&ps[..]);
                avcc_to_annexb(VideoStreamKind::H264, avcc, nls, ps, &mut annexb).unwrap();
                let pts = ms_to_90k(dts_ms + cts_ms);
                first_video_pts.get_or_insert(pts);
                mux.write_video(&mut seg, pts, ms_to_90k(*dts_ms), *key, &annexb)
                    .unwrap();
                n_video += 1;
                n_key += usize::from(*key);
            }
            Tag::Audio { ms, raw } => {
                adts.clear();
                adts.extend_from_slice(&adts_header(&src.aac, raw.len()));
                adts.extend_from_slice(raw);
                mux.write_audio(&mut seg, ms_to_90k(*ms), &adts).unwrap();
                n_audio += 1;
            }
        }
    }
    assert!(n_video >= 100 && n_audio >= 150 && n_key >= 4);
    check_continuity(&parse_packets(&seg), &mut HashMap::new());

    let probe = probe_and_decode("h264.ts", &seg);
    let mut codecs = probe.codecs.clone();
    codecs.sort();
    assert_eq!(codecs, ["aac", "h264", "timed_id3"]);
    let count = |codec: &str| probe.packets.iter().filter(|p| p.0 == codec).count();
    assert_eq!(count("h264"), n_video);
    assert_eq!(count("aac"), n_audio);
    assert_eq!(count("timed_id3"), 1);
    let keys = probe
        .packets
        .iter()
        .filter(|p| p.0 == "h264" && p.2)
        .count();
    assert_eq!(keys, n_key);
    let first_video = probe.packets.iter().find(|p| p.0 == "h264").unwrap();
    assert_eq!(first_video.1 as u64, ts33(first_video_pts.unwrap()));
    let id3 = probe.packets.iter().find(|p| p.0 == "timed_id3").unwrap();
    assert_eq!(id3.1 as u64, ts33(BASE_90K));

    // Audio only, through the single-copy raw AAC path.
    let mut mux = TsMuxer::new(TsConfig {
        video: None,
        audio: true,
        timed_metadata: true,
    });
    let mut seg = Vec::new();
    mux.begin_segment(&mut seg);
    mux.write_timed_metadata(&mut seg, BASE_90K, &id3_text_tag(&sync_point))
        .unwrap();
    for tag in &src.tags {
        if let Tag::Audio { ms, raw } = tag {
            mux.write_aac_frame(&mut seg, ms_to_90k(*ms), &src.aac, raw)
                .unwrap();
        }
    }
    let probe = probe_and_decode("aac.ts", &seg);
    let mut codecs = probe.codecs.clone();
    codecs.sort();
    assert_eq!(codecs, ["aac", "timed_id3"]);
    assert_eq!(
        probe.packets.iter().filter(|p| p.0 == "aac").count(),
        n_audio
    );
}

/// Split an Annex B byte stream into NAL units (without start codes).
fn annexb_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&n| n - 3);
        while end > s && data[end - 1] == 0 {
            end -= 1; // zero byte of a 4-byte start code / trailing zeros
        }
        nals.push(&data[s..end]);
    }
    nals
}

#[test]
fn ffprobe_reads_hevc_segment() {
    if !tools_available("libx265", "TS") {
        return;
    }
    let es = run_ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-t",
        "2",
        "-c:v",
        "libx265",
        "-pix_fmt",
        "yuv420p",
        "-x265-params",
        "aud=1:bframes=0:keyint=25:min-keyint=25:scenecut=0:open-gop=0:log-level=error",
        "-f",
        "hevc",
        "-",
    ]);
    let kind = VideoStreamKind::Hevc;
    // Group NAL units into access units at each delimiter; keep the parameter sets
    // apart so the muxer has to put them back in front of every keyframe.
    let mut parameter_sets: Vec<&[u8]> = Vec::new();
    let mut aus: Vec<(bool, Vec<u8>)> = Vec::new();
    for nal in annexb_nals(&es) {
        let t = kind.nal_type(nal[0]);
        if t == kind.aud_nal_type() {
            aus.push((false, Vec::new()));
        } else if kind.is_parameter_set(t) {
            if parameter_sets.iter().all(|p| kind.nal_type(p[0]) != t) {
                parameter_sets.push(nal);
            }
        } else {
            let au = aus.last_mut().expect("stream starts with an AUD");
            au.0 |= (16..=21).contains(&t);
            au.1.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            au.1.extend_from_slice(nal);
        }
    }
    parameter_sets.sort_by_key(|p| kind.nal_type(p[0])); // VPS, SPS, PPS
    assert_eq!(parameter_sets.len(), 3);
    assert_eq!(aus.len(), 50);

    let mut mux = TsMuxer::new(TsConfig {
        video: Some(kind),
        audio: false,
        timed_metadata: true,
    });
    let mut seg = Vec::new();
    mux.begin_segment(&mut seg);
    mux.write_timed_metadata(&mut seg, BASE_90K, &id3_text_tag("{}"))
        .unwrap();
    for (i, (key, avcc)) in aus.iter().enumerate() {
        let t = BASE_90K + i as u64 * 3_600;
        let ps = key.then_some(&parameter_sets[..]);
        mux.write_video_avcc(&mut seg, t, t, *key, avcc, 4, ps)
            .unwrap();
    }
    let probe = probe_and_decode("hevc.ts", &seg);
    let mut codecs = probe.codecs.clone();
    codecs.sort();
    assert_eq!(codecs, ["hevc", "timed_id3"]);
    let video: Vec<_> = probe.packets.iter().filter(|p| p.0 == "hevc").collect();
    assert_eq!(video.len(), aus.len());
    assert_eq!(video.iter().filter(|p| p.2).count(), 2);
    assert_eq!(video[0].1 as u64, ts33(BASE_90K));
}
