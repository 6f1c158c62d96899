//! The recorder's decisions ([`RecorderCore`]) on a real encoder's frames: the H.264 + AAC
//! FLV fixture of the media crate (keyframes at DTS 0, 666 and 1333 ms; PTS 133, 800, 1466).

use super::core::{FileOp, RecorderCore};
use crate::bus::Frame;
use bytes::Bytes;
use media::audio;
use media::flv::{FlvReader, TAG_AUDIO, TAG_VIDEO};
use media::video::{self, VideoPacketKind};
use rtmp_proto::session::MediaKind;

const SMALL_FLV: &[u8] = include_bytes!("../../../media/testdata/small_flv.bin");

/// The fixture's audio and video tags as the media bus carries them.
fn frames() -> Vec<Frame> {
    let mut reader = FlvReader::new();
    reader.push(SMALL_FLV);
    let mut out = Vec::new();
    while let Some(tag) = reader.next_tag().expect("fixture parses") {
        let payload = Bytes::from(tag.data.to_vec());
        let frame = match tag.tag_type {
            TAG_VIDEO => {
                let info = video::parse_video_tag(&payload).expect("video tag");
                if info.kind == VideoPacketKind::EndOfSequence {
                    continue;
                }
                let config = info.kind == VideoPacketKind::SequenceHeader;
                Frame { kind: MediaKind::Video, timestamp: i64::from(tag.timestamp), keyframe: info.keyframe && !config, config, discontinuity: false, payload }
            }
            TAG_AUDIO => {
                let config = audio::parse_audio_tag(&payload).expect("audio tag").is_sequence_header;
                Frame { kind: MediaKind::Audio, timestamp: i64::from(tag.timestamp), keyframe: false, config, discontinuity: false, payload }
            }
            _ => continue,
        };
        out.push(frame);
    }
    out
}

/// Ops as text: `open@<start>`, `append`, `close:<duration>`, `discard`.
fn run(core: &mut RecorderCore, frames: &[Frame]) -> Vec<String> {
    let mut ops = Vec::new();
    for f in frames {
        core.handle_frame(f, &mut ops);
    }
    core.close(&mut ops);
    ops.iter()
        .map(|op| match op {
            FileOp::Open { start_ms, init } => {
                assert!(init.windows(4).any(|w| w == b"moov"), "an init segment holds moov");
                format!("open@{start_ms}")
            }
            FileOp::Append(parts) => {
                assert!(parts.head.windows(4).any(|w| w == b"moof"), "a fragment starts with moof");
                "append".into()
            }
            FileOp::Close { duration_ms, .. } => format!("close:{duration_ms}"),
            FileOp::Discard => "discard".into(),
        })
        .collect()
}

#[test]
fn segments_open_at_a_keyframe_and_cut_at_the_first_keyframe_of_the_next_slot() {
    // 1 s slots from the first keyframe's PTS (133): PTS 800 stays in slot 0, PTS 1466 opens slot 1.
    let mut core = RecorderCore::new(1000, 2000, None, None);
    let ops = run(&mut core, &frames());
    let opens: Vec<&String> = ops.iter().filter(|o| o.starts_with("open@")).collect();
    assert_eq!(opens, ["open@0", "open@1333"], "{ops:?}");
    // A fragment is written before the keyframe at 666 (each fragment starts with a keyframe).
    assert_eq!(ops[..2], ["open@0", "append"], "{ops:?}");
    // The first segment ends where the second begins (its audio may run a frame past it).
    let first: u64 = ops[2].strip_prefix("close:").and_then(|d| d.parse().ok()).expect("closed third");
    assert!((1333..1333 + 50).contains(&first), "{ops:?}");
    assert!(ops.last().is_some_and(|o| o.starts_with("close:")), "{ops:?}");
    assert_eq!(core.rejected, 0);
}

#[test]
fn one_long_slot_keeps_the_whole_stream_in_one_segment() {
    let mut core = RecorderCore::new(60_000, 2000, None, None);
    let ops = run(&mut core, &frames());
    assert_eq!(ops.iter().filter(|o| o.starts_with("open@")).count(), 1, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| o.starts_with("close:")).count(), 1, "{ops:?}");
    let duration: u64 = ops.last().and_then(|o| o.strip_prefix("close:")).and_then(|d| d.parse().ok()).expect("closed");
    // The fixture's video spans DTS 0..1533 plus a frame; audio runs a little longer.
    assert!((1500..=1700).contains(&duration), "duration {duration} ms");
}

#[test]
fn a_timeline_discontinuity_cuts_at_its_keyframe() {
    let mut frames = frames();
    let k = frames.iter().position(|f| f.keyframe && f.timestamp == 666).expect("keyframe at 666");
    frames[k].discontinuity = true;
    let mut core = RecorderCore::new(60_000, 2000, None, None);
    let ops = run(&mut core, &frames);
    let opens: Vec<&String> = ops.iter().filter(|o| o.starts_with("open@")).collect();
    assert_eq!(opens, ["open@0", "open@666"], "{ops:?}");
}

#[test]
fn nothing_is_recorded_before_the_codec_configuration_and_a_broken_frame_is_counted() {
    let frames = frames();
    // Without the sequence headers there is nothing to open a segment with.
    let mut core = RecorderCore::new(1000, 2000, None, None);
    let ops = run(&mut core, &frames.iter().filter(|f| !f.config).cloned().collect::<Vec<_>>());
    assert!(ops.is_empty(), "{ops:?}");

    // A truncated AVC frame after the configuration: rejected, counted, the rest recorded.
    let mut core = RecorderCore::new(60_000, 2000, None, None);
    let mut with_broken = frames.clone();
    let after_config = with_broken.iter().position(|f| f.kind == MediaKind::Video && f.keyframe).expect("a keyframe");
    with_broken.insert(after_config + 1, Frame { kind: MediaKind::Video, timestamp: 10, payload: Bytes::from_static(&[0x27]), keyframe: false, config: false, discontinuity: false });
    let ops = run(&mut core, &with_broken);
    assert_eq!(core.rejected, 1);
    assert_eq!(ops.first().map(String::as_str), Some("open@0"));
    assert!(ops.last().is_some_and(|o| o.starts_with("close:")));
}

#[test]
fn sync_points_go_into_a_data_track_at_the_segment_start_and_each_new_interval_slot() {
    use super::core::SyncPoints;
    use rtmp_proto::amf::{amf0, AmfValue};
    let sync = SyncPoints { stream: "0_abcd1234_32".into(), interval_ms: 500 };
    // 1 s segments: the first (0..1333) gets slots 0, 1 and 2; the second opens at 1333 (slot 2).
    let mut core = RecorderCore::new(1000, 2000, None, Some(sync));
    let mut ops = Vec::new();
    for f in &frames() {
        core.handle_frame(f, &mut ops);
    }
    core.close(&mut ops);
    // Every AMF0 sample written, per segment: (id, timestamp).
    let mut segments: Vec<Vec<(String, f64)>> = Vec::new();
    let data_samples = |samples: &[Bytes], segments: &mut Vec<Vec<(String, f64)>>| {
        for s in samples.iter().filter(|s| s.starts_with(b"\x02\x00\x13onMetaDataRecording")) {
            let values = amf0::decode_all(s).expect("AMF0");
            let AmfValue::Object(fields) = &values[1] else { panic!("object") };
            let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            assert_eq!(get("objectType"), Some(AmfValue::String("KalturaSyncPoint".into())));
            let (Some(AmfValue::String(id)), Some(AmfValue::Number(ts))) = (get("id"), get("timestamp")) else { panic!("fields") };
            segments.last_mut().expect("open").push((id, ts));
        }
    };
    for op in &ops {
        match op {
            FileOp::Open { init, .. } => {
                assert!(init.windows(4).any(|w| w == b"amf0"), "the init segment declares the data track");
                segments.push(Vec::new());
            }
            FileOp::Append(parts) => data_samples(&parts.samples, &mut segments),
            FileOp::Close { tail, .. } => tail.iter().for_each(|p| data_samples(&p.samples, &mut segments)),
            FileOp::Discard => {}
        }
    }
    let ids = |seg: &[(String, f64)]| seg.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&segments[0]), ["0_abcd1234_32_0", "0_abcd1234_32_1", "0_abcd1234_32_2"], "{segments:?}");
    assert_eq!(segments[0][0].1, 0.0, "the first at the segment's first frame");
    assert!(segments[0][1].1 >= 500.0 && segments[0][1].1 < 600.0, "{segments:?}");
    assert_eq!(ids(&segments[1]), ["0_abcd1234_32_2"], "a new segment starts with its own sync point");
    assert_eq!(segments[1][0].1, 1333.0);
    // Without sync points: no data track at all.
    let mut plain = RecorderCore::new(1000, 2000, None, None);
    let mut ops = Vec::new();
    frames().iter().for_each(|f| plain.handle_frame(f, &mut ops));
    assert!(ops.iter().all(|op| !matches!(op, FileOp::Open { init, .. } if init.windows(4).any(|w| w == b"amf0"))));
}
