//! Cross-module tests on real vectors produced with ffmpeg (see `testdata/README.md`)
//! plus property tests asserting that no parser panics on arbitrary or mutated input.

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::aac::{parse_audio_specific_config, AacConfig};
use super::audio::{self, parse_audio_tag, AudioCodec};
use super::avc::{parse_avc_decoder_config, parse_sps};
use super::flv::{self, FlvReader, FlvTag, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO};
use super::hevc::{parse_hevc_decoder_config, parse_hevc_sps};
use super::video::{self, parse_video_tag, VideoCodec, VideoPacketKind};
use super::MediaError;

const SMALL_FLV: &[u8] = include_bytes!("../testdata/small_flv.bin");
const SMALL_PACKETS: &str = include_str!("../testdata/small_flv.packets.csv");

const H264_720P: &[u8] = include_bytes!("../testdata/h264_720p.seq");
const H264_1918: &[u8] = include_bytes!("../testdata/h264_1918.seq");
const H264_360: &[u8] = include_bytes!("../testdata/h264_360.seq");
const H264_1080P5994: &[u8] = include_bytes!("../testdata/h264_1080p5994.seq");
const H264_444: &[u8] = include_bytes!("../testdata/h264_444.seq");
const H264_HI10: &[u8] = include_bytes!("../testdata/h264_hi10.seq");
const H264_INTERLACED: &[u8] = include_bytes!("../testdata/h264_interlaced.seq");
const HEVC_720: &[u8] = include_bytes!("../testdata/hevc_720.hvcC");
const HEVC_360: &[u8] = include_bytes!("../testdata/hevc_360.hvcC");
const HEVC_1918_10BIT: &[u8] = include_bytes!("../testdata/hevc_1918_10bit.hvcC");
const HEVC_444: &[u8] = include_bytes!("../testdata/hevc_444.hvcC");
const HEVC_422_10BIT: &[u8] = include_bytes!("../testdata/hevc_422_10bit.hvcC");

// AudioSpecificConfigs written by ffmpeg's native AAC encoder.
const ASC_44K_STEREO: &[u8] = &[0x12, 0x10, 0x56, 0xE5, 0x00];
const ASC_48K_MONO: &[u8] = &[0x11, 0x88, 0x56, 0xE5, 0x00];
const ASC_22K_MONO: &[u8] = &[0x13, 0x88, 0x56, 0xE5, 0x00];
const ASC_48K_5_1: &[u8] = &[0x11, 0xB0, 0x56, 0xE5, 0x00];
const ASC_48K_7_1: &[u8] = &[0x11, 0xB8, 0x56, 0xE5, 0x00];
/// 6.1 layout: channelConfiguration 0 with a program config element (and a
/// "Lavc59.37.100" comment), then the SBR sync extension.
const ASC_48K_6_1_PCE: &[u8] = &[
    0x11, 0x80, 0x04, 0xC8, 0x48, 0x00, 0x20, 0x00, 0xC4, 0x40, 0x0D, 0x4C, 0x61, 0x76, 0x63, 0x35,
    0x39, 0x2E, 0x33, 0x37, 0x2E, 0x31, 0x30, 0x30, 0x56, 0xE5, 0x00,
];
/// 7.1(wide) layout, also via a PCE.
const ASC_48K_7_1_WIDE_PCE: &[u8] = &[
    0x11, 0x80, 0x04, 0xC8, 0x48, 0x00, 0x20, 0x00, 0xC6, 0x40, 0x0D, 0x4C, 0x61, 0x76, 0x63, 0x35,
    0x39, 0x2E, 0x33, 0x37, 0x2E, 0x31, 0x30, 0x30, 0x56, 0xE5, 0x00,
];

// ---------------------------------------------------------------------------------
// FLV reader against ffprobe

#[derive(Debug)]
struct ProbePacket {
    video: bool,
    pts: i64,
    dts: i64,
    size: usize,
    key: bool,
}

fn probe_packets() -> Vec<ProbePacket> {
    SMALL_PACKETS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.trim().split(',').collect();
            ProbePacket {
                video: f[0] == "video",
                pts: f[1].parse().unwrap(),
                dts: f[2].parse().unwrap(),
                size: f[3].parse().unwrap(),
                key: f[4].starts_with('K'),
            }
        })
        .collect()
}

fn read_all_in_pieces(file: &[u8], rng: &mut StdRng, max_piece: usize) -> Vec<FlvTag> {
    let mut r = FlvReader::new();
    let mut tags = Vec::new();
    let mut pos = 0;
    while pos < file.len() {
        let n = rng.gen_range(1..=max_piece).min(file.len() - pos);
        r.push(&file[pos..pos + n]);
        pos += n;
        while let Some(tag) = r.next_tag().unwrap() {
            tags.push(tag);
        }
    }
    assert_eq!(r.next_tag(), Ok(None));
    assert_eq!(r.buffered(), 0);
    tags
}

/// Media packets as ffprobe sees them: everything except script data, sequence headers
/// and end-of-sequence markers.
fn media_packets(tags: &[FlvTag]) -> Vec<ProbePacket> {
    let mut out = Vec::new();
    for tag in tags {
        match tag.tag_type {
            TAG_VIDEO => {
                let info = parse_video_tag(&tag.data).unwrap();
                assert_eq!(info.codec, VideoCodec::H264);
                assert!(!info.enhanced);
                if info.kind != VideoPacketKind::Frame {
                    continue;
                }
                let body = video::payload(&tag.data).unwrap();
                out.push(ProbePacket {
                    video: true,
                    pts: i64::from(tag.timestamp) + i64::from(info.composition_time),
                    dts: i64::from(tag.timestamp),
                    size: body.len(),
                    key: info.keyframe,
                });
            }
            TAG_AUDIO => {
                let info = parse_audio_tag(&tag.data).unwrap();
                assert_eq!(info.codec, AudioCodec::Aac);
                if info.is_sequence_header {
                    continue;
                }
                out.push(ProbePacket {
                    video: false,
                    pts: i64::from(tag.timestamp),
                    dts: i64::from(tag.timestamp),
                    size: audio::payload(&tag.data).unwrap().len(),
                    key: true,
                });
            }
            TAG_SCRIPT => {}
            other => panic!("unexpected tag type {other}"),
        }
    }
    out
}

#[test]
fn flv_reader_matches_ffprobe_in_random_pieces() {
    let expected = probe_packets();
    assert_eq!(expected.len(), 57);
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let max_piece = [1, 3, 17, 100, 1000, 20_000][seed as usize % 6];
        let tags = read_all_in_pieces(SMALL_FLV, &mut rng, max_piece);
        assert_eq!(
            tags.len(),
            61,
            "script + 2 sequence headers + 57 packets + EOS"
        );
        assert_eq!(tags[0].tag_type, TAG_SCRIPT);
        let got = media_packets(&tags);
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(
                (g.video, g.pts, g.dts, g.size, g.key),
                (e.video, e.pts, e.dts, e.size, e.key),
                "packet {i}"
            );
        }
    }
}

#[test]
fn small_flv_headers_and_configs() {
    let mut r = FlvReader::new();
    r.push(SMALL_FLV);
    let mut tags = Vec::new();
    while let Some(t) = r.next_tag().unwrap() {
        tags.push(t);
    }
    let h = r.header().unwrap();
    assert!(h.has_audio && h.has_video);
    let vseq = tags.iter().find(|t| t.tag_type == TAG_VIDEO).unwrap();
    let info = parse_video_tag(&vseq.data).unwrap();
    assert_eq!(info.kind, VideoPacketKind::SequenceHeader);
    let avc =
        parse_avc_decoder_config(video::sequence_header_payload(&vseq.data).unwrap()).unwrap();
    assert_eq!(
        (avc.width, avc.height, avc.frame_rate),
        (160, 120, Some(15.0))
    );
    assert_eq!(avc.codec_string(), "avc1.4d400a");
    let aseq = tags.iter().find(|t| t.tag_type == TAG_AUDIO).unwrap();
    let ainfo = parse_audio_tag(&aseq.data).unwrap();
    assert!(ainfo.is_sequence_header);
    let asc = audio::aac_sequence_header_payload(&aseq.data).unwrap();
    assert_eq!(
        parse_audio_specific_config(asc).unwrap(),
        AacConfig {
            object_type: 2,
            sample_rate: 22_050,
            channels: 1
        }
    );
    let last = tags.last().unwrap();
    assert_eq!(
        parse_video_tag(&last.data).unwrap().kind,
        VideoPacketKind::EndOfSequence
    );
}

#[test]
fn flv_rewrite_is_byte_identical() {
    // Re-muxing every tag with write_tag reproduces ffmpeg's file exactly (its header
    // flags and previous-tag sizes included).
    let mut r = FlvReader::new();
    r.push(SMALL_FLV);
    let mut out = flv::file_header(true, true).to_vec();
    while let Some(t) = r.next_tag().unwrap() {
        flv::write_tag(&mut out, t.tag_type, t.timestamp, &t.data);
    }
    assert_eq!(out, SMALL_FLV);
}

// ---------------------------------------------------------------------------------
// AVC

struct AvcExpect {
    tag: &'static [u8],
    width: u32,
    height: u32,
    profile: &'static str,
    codec: &'static str,
    fps: Option<f64>,
}

#[test]
fn avc_sequence_headers_from_ffmpeg() {
    let cases = [
        AvcExpect {
            tag: H264_720P,
            width: 1280,
            height: 720,
            profile: "High",
            codec: "avc1.64001f",
            fps: Some(30.0),
        },
        AvcExpect {
            tag: H264_1918,
            width: 1918,
            height: 1080,
            profile: "Main",
            codec: "avc1.4d4028",
            fps: Some(25.0),
        },
        AvcExpect {
            tag: H264_360,
            width: 640,
            height: 360,
            profile: "Constrained Baseline",
            codec: "avc1.42c01e",
            fps: Some(24.0),
        },
        AvcExpect {
            tag: H264_1080P5994,
            width: 1920,
            height: 1080,
            profile: "High",
            codec: "avc1.64002a",
            fps: Some(60_000.0 / 1001.0),
        },
        AvcExpect {
            tag: H264_444,
            width: 1280,
            height: 720,
            profile: "High 4:4:4 Predictive",
            codec: "avc1.f4001f",
            fps: Some(30.0),
        },
        AvcExpect {
            tag: H264_HI10,
            width: 1280,
            height: 720,
            profile: "High 10",
            codec: "avc1.6e001f",
            fps: Some(30.0),
        },
        AvcExpect {
            tag: H264_INTERLACED,
            width: 720,
            height: 576,
            profile: "High",
            codec: "avc1.64001e",
            fps: Some(25.0),
        },
    ];
    for c in &cases {
        let info = parse_video_tag(c.tag).unwrap();
        assert_eq!(info.kind, VideoPacketKind::SequenceHeader);
        assert_eq!(info.codec, VideoCodec::H264);
        assert!(info.keyframe);
        let rec = video::sequence_header_payload(c.tag).unwrap();
        assert_eq!(rec.as_ptr(), c.tag[5..].as_ptr());
        let cfg = parse_avc_decoder_config(rec).unwrap();
        assert_eq!((cfg.width, cfg.height), (c.width, c.height), "{}", c.codec);
        assert_eq!(cfg.profile_name(), c.profile);
        assert_eq!(cfg.codec_string(), c.codec);
        assert_eq!(cfg.nal_length_size, 4);
        assert_eq!((cfg.sps.len(), cfg.pps.len()), (1, 1));
        match (cfg.frame_rate, c.fps) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-6, "{} fps {a} vs {b}", c.codec),
            (a, b) => assert_eq!(a, b),
        }
        let sps = parse_sps(&cfg.sps[0]).unwrap();
        assert_eq!(
            (sps.width, sps.height, sps.profile_idc, sps.level_idc),
            (c.width, c.height, cfg.profile_idc, cfg.level_idc)
        );
        // Every prefix cutting into the SPS/PPS lists is rejected cleanly (the optional
        // High-profile extension after them is not needed).
        let core_len = 6 + 2 + cfg.sps[0].len() + 1 + 2 + cfg.pps[0].len();
        assert!(rec.len() >= core_len);
        for n in 0..core_len {
            if let Ok(p) = parse_avc_decoder_config(&rec[..n]) {
                panic!("prefix {n} of {} parsed: {p:?}", c.codec);
            }
        }
    }
}

#[test]
fn avc_sps_with_scaling_matrix_and_poc_type_1() {
    // Hand-built High-profile SPS exercising paths x264 does not emit by default:
    // explicit scaling lists (one list with a zero "next scale" early exit),
    // pic_order_cnt_type 1 with a cycle, 4:2:2 chroma cropping, emulation prevention.
    let mut w = BitWriter::default();
    w.bits(100, 8); // profile_idc High
    w.bits(0, 8);
    w.bits(40, 8); // level 4.0
    w.ue(0); // sps id
    w.ue(2); // chroma_format_idc 4:2:2
    w.ue(0); // bit depth luma - 8
    w.ue(0); // bit depth chroma - 8
    w.bit(false); // qpprime bypass
    w.bit(true); // seq_scaling_matrix_present
    for i in 0..8 {
        let present = i == 0 || i == 6;
        w.bit(present);
        if present {
            let size = if i < 6 { 16 } else { 64 };
            if i == 0 {
                w.se(-8); // next scale 0: remaining coefficients copy the last one
            } else {
                for _ in 0..size {
                    w.se(1);
                }
            }
        }
    }
    w.ue(0); // log2_max_frame_num - 4
    w.ue(1); // pic_order_cnt_type 1
    w.bit(false);
    w.se(-1);
    w.se(2);
    w.ue(3); // cycle of 3
    w.se(1);
    w.se(-1);
    w.se(0);
    w.ue(2); // max_num_ref_frames
    w.bit(false);
    w.ue(119); // width 1920
    w.ue(67); // height 1088
    w.bit(true); // frame_mbs_only
    w.bit(true);
    w.bit(true); // cropping
    w.ue(1); // left: 2 px for 4:2:2
    w.ue(0);
    w.ue(0);
    w.ue(8); // bottom: 8 px (SubHeightC = 1)
    w.bit(false); // no VUI
    w.trailing();
    let mut nal = vec![0x67];
    nal.extend(escape(&w.bytes));
    let s = parse_sps(&nal).unwrap();
    assert_eq!((s.width, s.height, s.frame_rate), (1918, 1080, None));

    // Cropping larger than the picture is rejected.
    let mut w = BitWriter::default();
    w.bits(66, 8);
    w.bits(0, 8);
    w.bits(30, 8);
    w.ue(0);
    w.ue(0);
    w.ue(2);
    w.ue(1);
    w.bit(false);
    w.ue(0); // 16 px wide
    w.ue(0); // 16 px tall
    w.bit(true);
    w.bit(true);
    w.bit(true);
    w.ue(8); // left crop 16 px
    w.ue(0);
    w.ue(0);
    w.ue(0);
    w.bit(false);
    w.trailing();
    let mut nal = vec![0x67];
    nal.extend(escape(&w.bytes));
    assert!(matches!(parse_sps(&nal), Err(MediaError::Invalid(_))));
}

// ---------------------------------------------------------------------------------
// HEVC

fn enhanced_video_tag(frame_type: u8, packet_type: u8, fourcc: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80 | (frame_type << 4) | packet_type];
    v.extend_from_slice(fourcc);
    v.extend_from_slice(body);
    v
}

struct HevcExpect {
    rec: &'static [u8],
    width: u32,
    height: u32,
    profile: u8,
    codec: &'static str,
    chroma: u8,
    depth: u8,
    fps: f64,
}

#[test]
fn hevc_records_from_ffmpeg() {
    let cases = [
        HevcExpect {
            rec: HEVC_720,
            width: 1280,
            height: 720,
            profile: 1,
            codec: "hvc1.1.6.L93.90",
            chroma: 1,
            depth: 8,
            fps: 30.0,
        },
        HevcExpect {
            rec: HEVC_360,
            width: 640,
            height: 360,
            profile: 1,
            codec: "hvc1.1.6.L63.90",
            chroma: 1,
            depth: 8,
            fps: 25.0,
        },
        HevcExpect {
            rec: HEVC_1918_10BIT,
            width: 1918,
            height: 1080,
            profile: 2,
            codec: "hvc1.2.4.L120.90",
            chroma: 1,
            depth: 10,
            fps: 30.0,
        },
        HevcExpect {
            rec: HEVC_444,
            width: 1366,
            height: 768,
            profile: 4,
            codec: "hvc1.4.10.L120.9E.8",
            chroma: 3,
            depth: 8,
            fps: 50.0,
        },
        HevcExpect {
            rec: HEVC_422_10BIT,
            width: 1918,
            height: 1080,
            profile: 4,
            codec: "hvc1.4.10.L120.9D.8",
            chroma: 2,
            depth: 10,
            fps: 24_000.0 / 1001.0,
        },
    ];
    for c in &cases {
        // Enhanced RTMP SequenceStart, as OBS sends it.
        let tag = enhanced_video_tag(1, 0, b"hvc1", c.rec);
        let info = parse_video_tag(&tag).unwrap();
        assert_eq!(
            (info.codec, info.kind, info.keyframe, info.enhanced),
            (
                VideoCodec::Hevc,
                VideoPacketKind::SequenceHeader,
                true,
                true
            )
        );
        let payload = video::sequence_header_payload(&tag).unwrap();
        assert_eq!(payload, c.rec);
        let cfg = parse_hevc_decoder_config(payload).unwrap();
        assert_eq!((cfg.width, cfg.height), (c.width, c.height), "{}", c.codec);
        assert_eq!(cfg.general_profile_idc, c.profile);
        assert_eq!(cfg.codec_string(), c.codec);
        assert_eq!(
            (
                cfg.bit_depth_luma,
                cfg.bit_depth_chroma,
                cfg.chroma_format_idc
            ),
            (c.depth, c.depth, c.chroma),
            "{}",
            c.codec
        );
        assert_eq!(cfg.nal_length_size, 4);
        assert_eq!((cfg.vps.len(), cfg.sps.len(), cfg.pps.len()), (1, 1, 1));
        let fps = cfg.frame_rate.expect("x265 writes VUI timing");
        assert!((fps - c.fps).abs() < 1e-6, "{}: {fps}", c.codec);
        let sps = parse_hevc_sps(&cfg.sps[0]).unwrap();
        assert_eq!(
            (sps.general_profile_idc, sps.general_level_idc),
            (c.profile, cfg.general_level_idc)
        );

        // The legacy codec-id-12 form carries the same record after 5 bytes.
        let mut legacy = vec![0x1C, 0, 0, 0, 0];
        legacy.extend_from_slice(c.rec);
        assert_eq!(video::sequence_header_payload(&legacy).unwrap(), c.rec);
        assert_eq!(parse_video_tag(&legacy).unwrap().codec, VideoCodec::Hevc);

        for n in 0..c.rec.len().min(200) {
            assert!(parse_hevc_decoder_config(&c.rec[..n]).is_err());
        }
    }
    assert_eq!(
        parse_hevc_decoder_config(HEVC_720).unwrap().profile_name(),
        "Main"
    );
    assert_eq!(
        parse_hevc_decoder_config(HEVC_1918_10BIT)
            .unwrap()
            .profile_name(),
        "Main 10"
    );
    assert_eq!(
        parse_hevc_decoder_config(HEVC_444).unwrap().profile_name(),
        "Range Extensions"
    );
}

#[test]
fn hevc_sps_rarely_used_syntax() {
    // Hand-built SPS covering paths x265 does not emit by default: sub-layers with
    // sub-layer profile/level info, 4:2:2 conformance window, explicit scaling lists,
    // PCM, an inter-predicted short-term RPS, long-term refs, a default display window
    // in the VUI, and VUI timing.
    let mut w = BitWriter::default();
    w.bits(0, 4); // vps id
    w.bits(2, 3); // max_sub_layers_minus1
    w.bit(true); // temporal_id_nesting
                 // profile_tier_level: general
    w.bits(0, 2);
    w.bit(false);
    w.bits(4, 5); // RExt
    w.bits(0x0800_0000, 32);
    w.bits(0x9D08_0000_0000, 48);
    w.bits(123, 8);
    w.bit(true); // sub_layer_profile_present[0]
    w.bit(false); // sub_layer_level_present[0]
    w.bit(false);
    w.bit(true); // sub_layer_level_present[1]
    for _ in 2..8 {
        w.bits(0, 2);
    }
    w.bits(0, 44);
    w.bits(0, 44); // sub-layer 0 profile
    w.bits(90, 8); // sub-layer 1 level
    w.ue(0); // sps id
    w.ue(2); // chroma 4:2:2
    w.ue(1920);
    w.ue(1080);
    w.bit(true); // conformance window
    w.ue(0);
    w.ue(1); // right: 2 px (SubWidthC 2)
    w.ue(0);
    w.ue(4); // bottom: 4 px (SubHeightC 1)
    w.ue(2); // bit depth luma 10
    w.ue(2);
    w.ue(4); // log2_max_poc_lsb_minus4 -> 8 bits
    w.bit(true); // sub_layer_ordering_info_present: 3 sets
    for _ in 0..3 {
        w.ue(4);
        w.ue(2);
        w.ue(0);
    }
    for v in [0, 3, 0, 3, 2, 2] {
        w.ue(v);
    }
    w.bit(true); // scaling_list_enabled
    w.bit(true); // sps_scaling_list_data_present
    for size_id in 0..4 {
        let step = if size_id == 3 { 3 } else { 1 };
        for matrix_id in (0..6).step_by(step) {
            let explicit = matrix_id == 0;
            w.bit(explicit);
            if explicit {
                let coefs = 64.min(1 << (4 + (size_id << 1)));
                if size_id > 1 {
                    w.se(8);
                }
                for _ in 0..coefs {
                    w.se(0);
                }
            } else {
                w.ue(1);
            }
        }
    }
    w.bit(true); // amp
    w.bit(true); // sao
    w.bit(true); // pcm
    w.bits(7, 4);
    w.bits(7, 4);
    w.ue(0);
    w.ue(1);
    w.bit(false);
    w.ue(2); // two short-term RPS
    w.ue(2); // set 0: 2 negative
    w.ue(1); // set 0: 1 positive
    for _ in 0..3 {
        w.ue(0);
        w.bit(true);
    }
    w.bit(true); // set 1: inter_ref_pic_set_prediction
    w.bit(false); // delta_rps_sign
    w.ue(0); // abs_delta_rps_minus1
    for j in 0..4 {
        // NumDeltaPocs[0] + 1 = 4 entries
        let used = j != 2;
        w.bit(used);
        if !used {
            w.bit(true); // use_delta_flag
        }
    }
    w.bit(true); // long_term_ref_pics_present
    w.ue(1);
    w.bits(0x55, 8); // lt_ref_pic_poc_lsb_sps (8 bits)
    w.bit(true);
    w.bit(true); // temporal mvp
    w.bit(true); // strong intra smoothing
    w.bit(true); // VUI
    w.bit(true); // aspect_ratio_info_present
    w.bits(255, 8);
    w.bits(4, 16);
    w.bits(3, 16);
    w.bit(false); // overscan
    w.bit(true); // video_signal_type
    w.bits(5, 3);
    w.bit(false);
    w.bit(true);
    w.bits(0x090E09, 24);
    w.bit(true); // chroma_loc_info
    w.ue(0);
    w.ue(0);
    w.bits(0, 3);
    w.bit(true); // default display window
    for _ in 0..4 {
        w.ue(3);
    }
    w.bit(true); // vui timing
    w.bits(1001, 32);
    w.bits(60_000, 32);
    w.bit(false); // poc_proportional_to_timing
    w.bit(false); // hrd
    w.bit(false); // bitstream_restriction
    w.bit(false); // extensions
    w.trailing();
    let mut nal = vec![0x42, 0x01];
    nal.extend(escape(&w.bytes));
    let s = parse_hevc_sps(&nal).unwrap();
    assert_eq!((s.width, s.height), (1918, 1076));
    assert_eq!(
        (
            s.general_profile_idc,
            s.general_level_idc,
            s.chroma_format_idc
        ),
        (4, 123, 2)
    );
    assert_eq!((s.bit_depth_luma, s.bit_depth_chroma), (10, 10));
    let fps = s.frame_rate.unwrap();
    assert!((fps - 60_000.0 / 1001.0).abs() < 1e-9, "{fps}");

    // Truncating the VUI keeps the size and drops only the frame rate.
    let cut = &nal[..nal.len() - 6];
    let s = parse_hevc_sps(cut).unwrap();
    assert_eq!((s.width, s.height, s.frame_rate), (1918, 1076, None));
}

#[test]
fn enhanced_av1_and_vp9_sequence_starts() {
    // av1C for main profile, level 4.0 (seq_level_idx 8), 8-bit 4:2:0; vpcC v1 for
    // profile 0, level 3.1, 8-bit.
    let av1c = [0x81, 0x08, 0x0C, 0x00];
    let tag = enhanced_video_tag(1, 0, b"av01", &av1c);
    let info = parse_video_tag(&tag).unwrap();
    assert_eq!(
        (info.codec, info.kind),
        (VideoCodec::Av1, VideoPacketKind::SequenceHeader)
    );
    assert_eq!(video::sequence_header_payload(&tag), Some(&av1c[..]));
    let vpcc = [
        0x01, 0, 0, 0, 0x00, 0x1F, 0x80, 0x02, 0x02, 0x02, 0x00, 0x00,
    ];
    let tag = enhanced_video_tag(1, 0, b"vp09", &vpcc);
    let info = parse_video_tag(&tag).unwrap();
    assert_eq!(
        (info.codec, info.kind),
        (VideoCodec::Vp9, VideoPacketKind::SequenceHeader)
    );
    assert_eq!(video::sequence_header_payload(&tag), Some(&vpcc[..]));
}

// ---------------------------------------------------------------------------------
// AAC

#[test]
fn aac_configs_from_ffmpeg() {
    let cases: [(&[u8], u8, u32, u8); 7] = [
        (ASC_44K_STEREO, 2, 44_100, 2),
        (ASC_48K_MONO, 2, 48_000, 1),
        (ASC_22K_MONO, 2, 22_050, 1),
        (ASC_48K_5_1, 2, 48_000, 6),
        (ASC_48K_7_1, 2, 48_000, 8),
        (ASC_48K_6_1_PCE, 2, 48_000, 7),
        (ASC_48K_7_1_WIDE_PCE, 2, 48_000, 8),
    ];
    for (asc, aot, rate, ch) in cases {
        let c = parse_audio_specific_config(asc).unwrap();
        assert_eq!(
            c,
            AacConfig {
                object_type: aot,
                sample_rate: rate,
                channels: ch
            },
            "{asc:02x?}"
        );
        assert_eq!(c.codec_string(), "mp4a.40.2");
        assert_eq!(c.profile_name(), "LC");
    }
    // Real sequence-header tags (legacy FLV header bytes written by ffmpeg).
    let tag = [0xAF, 0x00, 0x12, 0x10, 0x56, 0xE5, 0x00];
    let info = parse_audio_tag(&tag).unwrap();
    assert_eq!((info.legacy_sample_rate, info.legacy_channels), (44_100, 2));
    assert_eq!(
        audio::aac_sequence_header_payload(&tag),
        Some(ASC_44K_STEREO)
    );
}

#[test]
fn aac_he_aac_signalling() {
    // Hierarchical HE-AAC: AOT 5, core 24 kHz stereo, extension 48 kHz, core AOT 2.
    let c = parse_audio_specific_config(&[0x2B, 0x11, 0x88, 0x00]).unwrap();
    assert_eq!(
        c,
        AacConfig {
            object_type: 5,
            sample_rate: 48_000,
            channels: 2
        }
    );
    assert_eq!(
        (c.codec_string().as_str(), c.profile_name()),
        ("mp4a.40.5", "HE-AAC")
    );

    // Hierarchical HE-AACv2: AOT 29, core 24 kHz mono, extension 48 kHz: PS -> stereo.
    let c = parse_audio_specific_config(&[0xEB, 0x09, 0x88, 0x00]).unwrap();
    assert_eq!(
        c,
        AacConfig {
            object_type: 29,
            sample_rate: 48_000,
            channels: 2
        }
    );
    assert_eq!(
        (c.codec_string().as_str(), c.profile_name()),
        ("mp4a.40.29", "HE-AACv2")
    );

    // Backward-compatible: LC 22.05 kHz stereo + sync extension 0x2B7, SBR present,
    // extension 44.1 kHz.
    let mut w = BitWriter::default();
    w.bits(2, 5);
    w.bits(7, 4);
    w.bits(2, 4);
    w.bits(0, 3); // GASpecificConfig
    w.bits(0x2B7, 11);
    w.bits(5, 5);
    w.bit(true);
    w.bits(4, 4);
    w.trailing_zero();
    let c = parse_audio_specific_config(&w.bytes).unwrap();
    assert_eq!(
        c,
        AacConfig {
            object_type: 5,
            sample_rate: 44_100,
            channels: 2
        }
    );

    // ... and with PS signalled as well (0x548), mono core.
    let mut w = BitWriter::default();
    w.bits(2, 5);
    w.bits(7, 4);
    w.bits(1, 4);
    w.bits(0, 3);
    w.bits(0x2B7, 11);
    w.bits(5, 5);
    w.bit(true);
    w.bits(4, 4);
    w.bits(0x548, 11);
    w.bit(true);
    w.trailing_zero();
    let c = parse_audio_specific_config(&w.bytes).unwrap();
    assert_eq!(
        c,
        AacConfig {
            object_type: 29,
            sample_rate: 44_100,
            channels: 2
        }
    );

    // Sync extension with sbrPresentFlag = 0 (what ffmpeg writes): still LC.
    assert_eq!(
        parse_audio_specific_config(ASC_48K_MONO)
            .unwrap()
            .object_type,
        2
    );
}

#[test]
fn aac_escape_object_type_and_explicit_frequency() {
    // AOT 42 (USAC) via the escape, 48 kHz stereo.
    let mut w = BitWriter::default();
    w.bits(31, 5);
    w.bits(42 - 32, 6);
    w.bits(3, 4);
    w.bits(2, 4);
    w.trailing_zero();
    let c = parse_audio_specific_config(&w.bytes).unwrap();
    assert_eq!(
        c,
        AacConfig {
            object_type: 42,
            sample_rate: 48_000,
            channels: 2
        }
    );
    assert_eq!(
        (c.codec_string().as_str(), c.profile_name()),
        ("mp4a.40.42", "xHE-AAC")
    );

    // Explicit 24-bit frequency (index 15): 37.8 kHz LC mono.
    let mut w = BitWriter::default();
    w.bits(2, 5);
    w.bits(15, 4);
    w.bits(37_800, 24);
    w.bits(1, 4);
    w.bits(0, 3);
    w.trailing_zero();
    let c = parse_audio_specific_config(&w.bytes).unwrap();
    assert_eq!(
        c,
        AacConfig {
            object_type: 2,
            sample_rate: 37_800,
            channels: 1
        }
    );

    // Explicit frequency 0 and reserved index 13 are invalid; AOT 0 is invalid.
    let mut w = BitWriter::default();
    w.bits(2, 5);
    w.bits(15, 4);
    w.bits(0, 24);
    w.bits(1, 4);
    w.trailing_zero();
    assert!(matches!(
        parse_audio_specific_config(&w.bytes),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        parse_audio_specific_config(&[0x16, 0x90]),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        parse_audio_specific_config(&[0x01, 0x10]),
        Err(MediaError::Invalid(_))
    ));
    assert_eq!(
        parse_audio_specific_config(&[0x12]),
        Err(MediaError::Truncated)
    );
    assert_eq!(parse_audio_specific_config(&[]), Err(MediaError::Truncated));

    // Other object types keep their own names.
    assert_eq!(
        parse_audio_specific_config(&[0x0A, 0x10])
            .unwrap()
            .profile_name(),
        "Main"
    );
    let mut w = BitWriter::default();
    w.bits(31, 5);
    w.bits(39 - 32, 6);
    w.bits(3, 4);
    w.bits(1, 4);
    w.trailing_zero();
    assert_eq!(
        parse_audio_specific_config(&w.bytes)
            .unwrap()
            .profile_name(),
        "ELD"
    );
}

// ---------------------------------------------------------------------------------
// Property tests: no parser panics, whatever the input.

fn all_parsers(data: &[u8]) {
    let _ = parse_video_tag(data);
    let _ = video::sequence_header_payload(data);
    let _ = video::payload(data);
    let _ = parse_audio_tag(data);
    let _ = audio::aac_sequence_header_payload(data);
    let _ = audio::sequence_header_payload(data);
    let _ = audio::payload(data);
    let _ = parse_avc_decoder_config(data);
    let _ = parse_sps(data);
    let _ = parse_hevc_decoder_config(data);
    let _ = parse_hevc_sps(data);
    let _ = parse_audio_specific_config(data);
    let mut r = FlvReader::new();
    r.push(data);
    while let Ok(Some(_)) = r.next_tag() {}
    let mut r = FlvReader::without_file_header();
    r.push(data);
    while let Ok(Some(_)) = r.next_tag() {}
}

fn fixtures() -> Vec<&'static [u8]> {
    vec![
        H264_720P,
        H264_1918,
        H264_360,
        H264_1080P5994,
        H264_444,
        H264_HI10,
        H264_INTERLACED,
        HEVC_720,
        HEVC_360,
        HEVC_1918_10BIT,
        HEVC_444,
        HEVC_422_10BIT,
        ASC_44K_STEREO,
        ASC_48K_6_1_PCE,
    ]
}

proptest! {
    // No regression files: they would land outside this module's directory.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        all_parsers(&data);
    }

    #[test]
    fn arbitrary_bytes_behind_valid_prefixes_never_panic(
        prefix in 0usize..8,
        data in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // Put plausible headers in front so the parsers get past their first checks.
        let heads: [&[u8]; 8] = [
            &[0x17, 0x00, 0, 0, 0, 0x01],          // legacy AVC seq header + avcC version
            &[0x67],                                // H.264 SPS NAL header
            &[0x42, 0x01],                          // HEVC SPS NAL header
            &[0x90, b'h', b'v', b'c', b'1', 0x01], // enhanced SequenceStart + hvcC version
            &[0x97],                                // enhanced video ModEx
            &[0x95],                                // enhanced audio multitrack
            b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00",
            &[0x67, 0x64, 0x00, 0x1F],              // High-profile SPS
        ];
        let mut input = heads[prefix].to_vec();
        input.extend_from_slice(&data);
        all_parsers(&input);
        // Also run the record parsers on the bytes after a video tag header.
        if let Some(p) = video::sequence_header_payload(&input) {
            let _ = parse_avc_decoder_config(p);
            let _ = parse_hevc_decoder_config(p);
        }
    }

    #[test]
    fn mutated_real_vectors_never_panic(
        which in 0usize..14,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut v = fixtures()[which].to_vec();
        for (pos, val) in flips {
            let i = pos % v.len();
            v[i] = val;
        }
        let cut = cut % (v.len() + 1);
        let v = &v[..cut];
        all_parsers(v);
        let record = if which < 7 { v.get(5..).unwrap_or(&[]) } else { v };
        let _ = parse_avc_decoder_config(record);
        let _ = parse_hevc_decoder_config(record);
        let _ = parse_audio_specific_config(v);
    }

    #[test]
    fn mutated_sps_nals_never_panic(
        which in 0usize..12,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let (mut nal, hevc) = if which < 7 {
            (parse_avc_decoder_config(&fixtures()[which][5..]).unwrap().sps[0].clone(), false)
        } else {
            (parse_hevc_decoder_config(fixtures()[which]).unwrap().sps[0].clone(), true)
        };
        for (pos, val) in flips {
            // Keep the NAL header so the SPS body itself is exercised.
            let keep = if hevc { 2 } else { 1 };
            let i = keep + pos % (nal.len() - keep);
            nal[i] = val;
        }
        let _ = parse_sps(&nal);
        let _ = parse_hevc_sps(&nal);
    }

    #[test]
    fn mutated_flv_never_panics(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        piece in 1usize..5000,
    ) {
        let mut file = SMALL_FLV.to_vec();
        for (pos, val) in flips {
            let i = pos % file.len();
            file[i] = val;
        }
        let mut r = FlvReader::new();
        for chunk in file.chunks(piece) {
            r.push(chunk);
            while let Ok(Some(t)) = r.next_tag() {
                all_parsers(&t.data);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Test helpers

/// MSB-first bit writer with exp-Golomb support, for hand-built vectors.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    nbits: usize,
}

impl BitWriter {
    fn bit(&mut self, b: bool) {
        if self.nbits.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if b {
            let last = self.bytes.last_mut().unwrap();
            *last |= 0x80 >> (self.nbits % 8);
        }
        self.nbits += 1;
    }

    fn bits(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.bits(0, len - 1);
        self.bits(x, len);
    }

    fn se(&mut self, v: i32) {
        let k = if v > 0 {
            2 * v as u32 - 1
        } else {
            (-2 * v) as u32
        };
        self.ue(k);
    }

    /// rbsp_trailing_bits: a one, then zeros to the byte boundary.
    fn trailing(&mut self) {
        self.bit(true);
        while !self.nbits.is_multiple_of(8) {
            self.bit(false);
        }
    }

    fn trailing_zero(&mut self) {
        while !self.nbits.is_multiple_of(8) {
            self.bit(false);
        }
    }
}

/// Insert emulation-prevention bytes.
fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}
