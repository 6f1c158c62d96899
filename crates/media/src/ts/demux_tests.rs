//! Tests of the TS demuxer: round trips through our own muxer (byte-exact payloads), the
//! 33-bit wrap, PES packets split across TS packets and calls, corruption, and real ffmpeg
//! output.

use super::demux::{DemuxedFrame, TsDemuxer};
use super::{TsConfig, TsMuxer, VideoStreamKind, TS_PACKET_SIZE};
use crate::real_tools::tools_available;
use crate::{aac, avc};
use std::process::Command;

const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1F, 0xAC, 0xD9, 0x40, 0x50];
const PPS: &[u8] = &[0x68, 0xEB, 0xE3, 0xCB];

/// An Annex B access unit: AUD, optional SPS/PPS, one slice of `len` bytes.
fn access_unit(keyframe: bool, len: usize, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let mut annexb = vec![0, 0, 0, 1, 0x09, 0xF0];
    let slice: Vec<u8> = std::iter::once(if keyframe { 0x65 } else { 0x41 })
        .chain((1..len).map(|i| ((i as u8).wrapping_mul(31).wrapping_add(seed)) | 1))
        .collect();
    if keyframe {
        for ps in [SPS, PPS] {
            annexb.extend_from_slice(&[0, 0, 0, 1]);
            annexb.extend_from_slice(ps);
        }
    }
    annexb.extend_from_slice(&[0, 0, 1]);
    annexb.extend_from_slice(&slice);
    let mut avcc = (slice.len() as u32).to_be_bytes().to_vec();
    avcc.extend_from_slice(&slice);
    (annexb, avcc)
}

fn adts(raw: &[u8]) -> Vec<u8> {
    // AAC LC, 48 kHz (index 3), stereo.
    let len = raw.len() + 7;
    let mut out = vec![0xFF, 0xF1, (1 << 6) | (3 << 2), (2 << 6) | ((len >> 11) as u8 & 3), (len >> 3) as u8, ((len as u8 & 7) << 5) | 0x1F, 0xFC];
    out.extend_from_slice(raw);
    out
}

struct Expect {
    video: Vec<(i64, i64, bool, Vec<u8>)>,
    audio: Vec<(i64, Vec<u8>)>,
}

/// A stream of `frames` video frames (25 fps, B-frame-like PTS offset) and two audio frames
/// per video frame, starting at `start` (90 kHz, may be near the wrap).
fn stream(frames: usize, start: u64, big: bool) -> (Vec<u8>, Expect) {
    let mut mux = TsMuxer::new(TsConfig { video: Some(VideoStreamKind::H264), audio: true, timed_metadata: false });
    let mut out = Vec::new();
    let mut expect = Expect { video: Vec::new(), audio: Vec::new() };
    for i in 0..frames {
        let key = i % 10 == 0;
        if key {
            mux.begin_segment(&mut out);
        }
        let dts = start + i as u64 * 3600;
        let pts = dts + 7200;
        let len = if big && key { 30_000 } else { 300 + i * 7 };
        let (annexb, avcc) = access_unit(key, len, i as u8);
        mux.write_video(&mut out, pts, dts, key, &annexb).unwrap();
        expect.video.push(((dts - start) as i64, (pts - start) as i64, key, avcc));
        for a in 0..2u64 {
            let raw: Vec<u8> = (0..50 + i).map(|b| (b as u8) ^ (a as u8)).collect();
            let apts = dts + a * 1920;
            mux.write_audio(&mut out, apts, &adts(&raw)).unwrap();
            expect.audio.push(((apts - start) as i64, raw));
        }
    }
    (out, expect)
}

/// Everything the demuxer produces from `chunks`, with times relative to the first video dts.
fn demux(chunks: &[&[u8]]) -> (TsDemuxer, Vec<DemuxedFrame>) {
    let mut d = TsDemuxer::new();
    let mut frames = Vec::new();
    for c in chunks {
        d.push(c);
        while let Some(f) = d.poll_frame() {
            frames.push(f);
        }
    }
    d.finish();
    while let Some(f) = d.poll_frame() {
        frames.push(f);
    }
    (d, frames)
}

fn split(frames: &[DemuxedFrame]) -> (Vec<(i64, i64, bool, Vec<u8>)>, Vec<(i64, Vec<u8>)>) {
    let base = frames.iter().find_map(|f| match f {
        DemuxedFrame::Video { dts, .. } => Some(*dts),
        _ => None,
    });
    let base = base.unwrap_or(0);
    let video = frames
        .iter()
        .filter_map(|f| match f {
            DemuxedFrame::Video { dts, pts, keyframe, data, .. } => Some((dts - base, pts - base, *keyframe, data.clone())),
            _ => None,
        })
        .collect();
    let audio = frames
        .iter()
        .filter_map(|f| match f {
            DemuxedFrame::Audio { pts, data } => Some((pts - base, data.clone())),
            _ => None,
        })
        .collect();
    (video, audio)
}

#[test]
fn round_trip_gives_rtmp_shaped_frames() {
    let (ts, expect) = stream(30, 900_000, false);
    let (d, frames) = demux(&[&ts]);
    let (video, audio) = split(&frames);
    assert_eq!(video, expect.video);
    assert_eq!(audio, expect.audio);
    // Configuration comes first, once, and parses as a real record.
    let configs: Vec<_> = frames.iter().filter(|f| matches!(f, DemuxedFrame::VideoConfig { .. })).collect();
    assert_eq!(configs.len(), 1);
    assert!(matches!(frames[0], DemuxedFrame::VideoConfig { .. } | DemuxedFrame::AudioConfig { .. }));
    let DemuxedFrame::VideoConfig { record, .. } = configs[0] else { unreachable!() };
    let mut want = vec![1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, SPS.len() as u8];
    want.extend_from_slice(SPS);
    want.extend_from_slice(&[1, 0, PPS.len() as u8]);
    want.extend_from_slice(PPS);
    assert_eq!(record, &want);
    let asc = frames.iter().find_map(|f| match f {
        DemuxedFrame::AudioConfig { asc, sample_rate } => Some((*asc, *sample_rate)),
        _ => None,
    });
    let (asc, rate) = asc.unwrap();
    assert_eq!(rate, 48_000);
    let a = aac::parse_audio_specific_config(&asc).unwrap();
    assert_eq!((a.object_type, a.sample_rate, a.channels), (2, 48_000, 2));
    assert_eq!(d.stats().cc_errors, 0);
    assert_eq!(d.stats().dropped_pes, 0);
}

#[test]
fn pes_across_packets_and_any_chunking() {
    let (ts, expect) = stream(12, 0, true);
    for chunk in [1usize, 7, 187, 188, 189, 1316, 5000] {
        let chunks: Vec<&[u8]> = ts.chunks(chunk).collect();
        let (_, frames) = demux(&chunks);
        let (video, audio) = split(&frames);
        assert_eq!(video, expect.video, "chunk size {chunk}");
        assert_eq!(audio, expect.audio, "chunk size {chunk}");
    }
    assert!(expect.video[0].3.len() > 30_000, "keyframes span many TS packets");
}

#[test]
fn timestamps_wrap_at_33_bits() {
    let start = (1u64 << 33) - 5 * 3600; // wraps after the fifth frame
    let (ts, expect) = stream(20, start, false);
    let (_, frames) = demux(&[&ts]);
    let (video, audio) = split(&frames);
    assert_eq!(video, expect.video);
    assert_eq!(audio, expect.audio);
    let dts: Vec<i64> = video.iter().map(|v| v.0).collect();
    assert!(dts.windows(2).all(|w| w[1] - w[0] == 3600), "continuous through the wrap: {dts:?}");
    // And the absolute values run on past 2^33 rather than jumping back.
    let abs = frames.iter().filter_map(|f| match f {
        DemuxedFrame::Video { dts, .. } => Some(*dts),
        _ => None,
    });
    assert!(abs.last().unwrap() > (1i64 << 33));
}

#[test]
fn lost_packet_drops_only_its_frame() {
    let (ts, expect) = stream(12, 0, true);
    // Drop one packet from the middle of the first keyframe (it spans ~160 packets).
    let lost = 40;
    let mut damaged = ts[..lost * TS_PACKET_SIZE].to_vec();
    damaged.extend_from_slice(&ts[(lost + 1) * TS_PACKET_SIZE..]);
    let (d, frames) = demux(&[&damaged]);
    let (video, audio) = split(&frames);
    assert_eq!(d.stats().cc_errors, 1);
    // The first keyframe is gone; the parameter sets were in it too, so the nine inter
    // frames before the next keyframe cannot be decoded either and are dropped as well.
    assert_eq!(d.stats().dropped_pes, 10);
    assert_eq!(video.first().map(|v| v.2), Some(true));
    let rest: Vec<_> = expect.video[10..].to_vec();
    let rebased: Vec<_> = video.iter().map(|v| (v.0 + 36_000, v.1 + 36_000, v.2, v.3.clone())).collect();
    assert_eq!(rebased, rest);
    assert_eq!(audio.len(), expect.audio.len());
}

#[test]
fn garbage_and_error_flags_are_skipped() {
    let (ts, expect) = stream(20, 0, false);
    let mut noisy = Vec::new();
    for (i, p) in ts.chunks(TS_PACKET_SIZE).enumerate() {
        if i == 5 {
            noisy.extend_from_slice(&[0x47, 0x00, 0x13, 0x47, 0x99]); // junk with fake sync bytes
        }
        noisy.extend_from_slice(p);
    }
    let (d, frames) = demux(&[&noisy]);
    let (video, _) = split(&frames);
    assert!(d.stats().resync_bytes >= 5);
    assert_eq!(video, expect.video);

    // transport_error_indicator on a packet of the third video PES drops that frame only.
    let mut flagged = ts.clone();
    let mut video_starts = 0;
    for p in flagged.chunks_mut(TS_PACKET_SIZE) {
        let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
        if pid == super::VIDEO_PID && p[1] & 0x40 != 0 {
            video_starts += 1;
            if video_starts == 3 {
                p[1] |= 0x80;
                break;
            }
        }
    }
    let (_, frames) = demux(&[&flagged]);
    let (video, _) = split(&frames);
    assert_eq!(video.len(), expect.video.len() - 1);

    // Pure noise yields nothing and does not panic.
    let noise: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (_, frames) = demux(&[&noise]);
    assert!(frames.is_empty());
}

#[test]
fn arbitrary_bytes_never_panic() {
    let (ts, _) = stream(10, 0, false);
    let mut seed = 0x1234_5678u32;
    for _ in 0..200 {
        let mut bytes = ts.clone();
        for _ in 0..20 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (seed as usize >> 3) % bytes.len();
            bytes[at] = (seed >> 24) as u8;
        }
        let chunks: Vec<&[u8]> = bytes.chunks(1 + (seed as usize % 700)).collect();
        let _ = demux(&chunks);
    }
}

fn ffmpeg_ts(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg").args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=44100", "-t", "3"]).args(args).args(["-f", "mpegts", "-"]).output().expect("run ffmpeg");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn ffmpeg_h264_aac_transport_stream() {
    if !tools_available("libx264", "TS demux") {
        return;
    }
    let ts = ffmpeg_ts(&["-c:v", "libx264", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p", "-c:a", "aac"]);
    let (d, frames) = demux(&[&ts]);
    let (video, audio) = split(&frames);
    assert_eq!(video.len(), 75);
    assert_eq!(video.iter().filter(|v| v.2).count(), 3);
    assert!(video[0].2);
    assert!(video.iter().any(|v| v.1 != v.0), "B-frames give pts != dts");
    // 3 s of 44.1 kHz AAC in 1024-sample frames (the encoder's priming frame included).
    assert!((129..=132).contains(&audio.len()), "{} audio frames", audio.len());
    let record = frames.iter().find_map(|f| match f {
        DemuxedFrame::VideoConfig { record, .. } => Some(record.clone()),
        _ => None,
    });
    let c = avc::parse_avc_decoder_config(&record.unwrap()).unwrap();
    assert_eq!((c.width, c.height), (320, 240));
    assert_eq!(d.stats().dropped_pes, 0);
}

#[test]
fn ffmpeg_hevc_transport_stream() {
    if !tools_available("libx265", "TS demux HEVC") {
        return;
    }
    let ts = ffmpeg_ts(&["-c:v", "libx265", "-x265-params", "log-level=error:keyint=25", "-pix_fmt", "yuv420p", "-c:a", "aac"]);
    let (_, frames) = demux(&[&ts]);
    let (video, _) = split(&frames);
    assert_eq!(video.len(), 75);
    assert!(video[0].2);
    let record = frames.iter().find_map(|f| match f {
        DemuxedFrame::VideoConfig { record, codec: VideoStreamKind::Hevc } => Some(record.clone()),
        _ => None,
    });
    let c = crate::hevc::parse_hevc_decoder_config(&record.unwrap()).unwrap();
    assert_eq!((c.width, c.height), (320, 240));
}
