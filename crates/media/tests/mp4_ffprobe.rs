//! Real-tool checks of the fragmented MP4 muxer: ffmpeg encodes, the crate's FLV reader
//! and `mp4` muxer build the file, ffprobe and a full ffmpeg decode judge it, before
//! and after a simulated crash + [`recover`]. Skipped (with a note) when ffmpeg or
//! ffprobe is not on PATH; the HEVC part also needs libx265.

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use media::flv::{FlvReader, TAG_AUDIO, TAG_VIDEO};
use media::{audio, video};
use media::mp4::{recover, Mp4Muxer, Sample, TrackConfig};
use serde_json::Value;

#[path = "../src/real_tools.rs"]
mod real_tools;
use real_tools::tools_available;

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("klive-mp4-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
    fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(tool: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(tool).args(args).output().expect("run tool");
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// ffprobe's streams and format, with decoded frame counts.
fn probe(path: &str) -> Value {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-count_frames",
            "-of",
            "json",
            path,
        ],
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// (pts, dts) in ms of every packet of the first stream of `kind` ("v" or "a").
fn packet_times(path: &str, kind: &str) -> Vec<(i64, i64)> {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            kind,
            "-show_entries",
            "packet=pts_time,dts_time",
            "-of",
            "csv=p=0",
            path,
        ],
    );
    let ms = |s: &str| (s.trim().parse::<f64>().expect("time") * 1000.0).round() as i64;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(pts, dts)| (ms(pts), ms(dts)))
        .collect()
}

/// Everything ffmpeg prints at `-v error` while decoding the whole file.
fn decode_errors(path: &str) -> String {
    let out = run("ffmpeg", &["-v", "error", "-i", path, "-f", "null", "-"]);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stream<'a>(probe: &'a Value, codec_type: &str) -> &'a Value {
    probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["codec_type"] == codec_type)
        .unwrap_or_else(|| panic!("no {codec_type} stream"))
}

fn num(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Track configs (video first, then audio) and samples `(track, sample)` of an FLV.
fn read_flv(path: &str) -> (Vec<TrackConfig>, Vec<(usize, Sample)>) {
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(path).expect("read FLV"));
    let (mut video_config, mut audio_config) = (None, None);
    let mut samples = Vec::new();
    while let Some(tag) = reader.next_tag().expect("FLV tag") {
        let dts = i64::from(tag.timestamp);
        match tag.tag_type {
            TAG_VIDEO => {
                let info = video::parse_video_tag(&tag.data).expect("video header");
                if let Some(record) = video::sequence_header_payload(&tag.data) {
                    video_config = Some(TrackConfig::H264(Bytes::copy_from_slice(record)));
                } else if info.kind == video::VideoPacketKind::Frame {
                    let body = video::payload(&tag.data).expect("video payload");
                    samples.push((
                        0,
                        Sample {
                            dts_ms: dts,
                            pts_ms: dts + i64::from(info.composition_time),
                            keyframe: info.keyframe,
                            data: Bytes::copy_from_slice(body),
                        },
                    ));
                }
            }
            TAG_AUDIO => {
                if let Some(asc) = audio::aac_sequence_header_payload(&tag.data) {
                    audio_config = Some(TrackConfig::Aac(Bytes::copy_from_slice(asc)));
                } else {
                    let body = audio::payload(&tag.data).expect("audio payload");
                    samples.push((
                        1,
                        Sample {
                            dts_ms: dts,
                            pts_ms: dts,
                            keyframe: true,
                            data: Bytes::copy_from_slice(body),
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    let tracks = vec![
        video_config.expect("AVC header"),
        audio_config.expect("AAC header"),
    ];
    (tracks, samples)
}

/// Mux with a fragment per video keyframe (pushed first, so fragments open with it).
/// Returns the file, with its duration patched, and the end offset of the init segment
/// and of every fragment.
fn mux(tracks: &[TrackConfig], samples: Vec<(usize, Sample)>) -> (Vec<u8>, Vec<usize>, Mp4Muxer) {
    let mut mux = Mp4Muxer::new(tracks).expect("muxer");
    let mut file = mux.init_segment();
    let mut boundaries = vec![file.len()];
    for (track, sample) in samples {
        let key = track == 0 && sample.keyframe;
        mux.push(track, sample).expect("push");
        if key {
            if let Some(fragment) = mux.fragment() {
                file.extend(fragment);
                boundaries.push(file.len());
            }
        }
    }
    file.extend(mux.finish().expect("last fragment"));
    boundaries.push(file.len());
    assert!(mux.duration_patch().apply(&mut file));
    assert_eq!(mux.bytes_written(), file.len() as u64);
    (file, boundaries, mux)
}

/// Simulate a crash in the middle of fragment `n`, recover, and check the repaired
/// file: it ends at the previous fragment and ffprobe sees the recovered duration.
fn check_crash_recovery(
    dir: &TempDir,
    muxer: &Mp4Muxer,
    file: &[u8],
    boundaries: &[usize],
    n: usize,
) {
    let cut = (boundaries[n - 1] + boundaries[n]) / 2;
    let mut crashed = file[..cut].to_vec();
    let mehd = muxer.mehd_duration_offset();
    crashed[mehd..mehd + 8].fill(0); // the crash came before the duration patch
    let r = recover(&crashed);
    assert_eq!(r.valid_len, boundaries[n - 1]);
    assert_eq!(r.fragments, n - 1);
    crashed.truncate(r.valid_len);
    assert!(r.duration_patch().expect("mehd").apply(&mut crashed));
    let path = dir.path("recovered.mp4");
    std::fs::write(&path, &crashed).unwrap();
    let p = probe(&path);
    let duration = num(&p["format"]["duration"]);
    let recovered = r.duration_ms as f64 / 1000.0;
    assert!(
        (duration - recovered).abs() <= 0.1,
        "ffprobe says {duration} s, recovery {recovered} s"
    );
    assert_eq!(decode_errors(&path), "");
}

#[test]
fn h264_aac_flv_to_fragmented_mp4() {
    if !tools_available("libx264", "MP4") {
        return;
    }
    let dir = TempDir::new("h264");
    let flv = dir.path("in.flv");
    #[rustfmt::skip]
    run("ffmpeg", &[
        "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "6",
        "-c:v", "libx264", "-g", "30", "-bf", "2", "-c:a", "aac", "-f", "flv", &flv,
    ]);
    let (tracks, samples) = read_flv(&flv);
    let video_frames = samples.iter().filter(|s| s.0 == 0).count();
    let audio_frames = samples.iter().filter(|s| s.0 == 1).count();
    assert!(
        samples.iter().any(|s| s.1.pts_ms != s.1.dts_ms),
        "B-frames give composition offsets"
    );
    let (file, boundaries, muxer) = mux(&tracks, samples);
    assert_eq!(boundaries.len(), 7, "init + one fragment per 1 s GOP");
    assert_eq!(muxer.sample_count(0), video_frames as u64);
    assert_eq!(muxer.sample_count(1), audio_frames as u64);
    let mp4 = dir.path("out.mp4");
    std::fs::write(&mp4, &file).unwrap();

    let p = probe(&mp4);
    let (v, a) = (stream(&p, "video"), stream(&p, "audio"));
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(num(&a["sample_rate"]), 48_000.0);
    assert_eq!(num(&v["nb_read_frames"]) as usize, video_frames);
    assert_eq!(num(&a["nb_read_frames"]) as usize, audio_frames);
    let duration = num(&p["format"]["duration"]);
    assert!((duration - 6.0).abs() <= 0.1, "duration {duration}");
    assert_eq!(decode_errors(&mp4), "");

    // Composition offsets: the MP4 presents every frame when the FLV does.
    let flv_times = packet_times(&flv, "v");
    let mp4_times = packet_times(&mp4, "v");
    assert_eq!(flv_times.len(), mp4_times.len());
    for (f, m) in flv_times.iter().zip(&mp4_times) {
        assert!(
            (f.0 - m.0).abs() <= 1 && (f.1 - m.1).abs() <= 1,
            "FLV {f:?} MP4 {m:?}"
        );
    }

    check_crash_recovery(&dir, &muxer, &file, &boundaries, 4);
}

/// A data track of AMF0 sync points next to video and audio: ffprobe shows it as the third
/// stream (Kaltura's KAMFMediaInfoParser runs `ffprobe -select_streams 2 -show_packets
/// -show_data`), each packet at the time it was pushed, its bytes intact, and the file's
/// duration is the media's (an instantaneous data sample extends nothing).
#[test]
fn amf0_data_track_next_to_h264_aac() {
    if !tools_available("libx264", "MP4") {
        return;
    }
    let dir = TempDir::new("amf0");
    let flv = dir.path("in.flv");
    #[rustfmt::skip]
    run("ffmpeg", &[
        "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "6",
        "-c:v", "libx264", "-g", "30", "-c:a", "aac", "-f", "flv", &flv,
    ]);
    let (mut tracks, samples) = read_flv(&flv);
    tracks.push(TrackConfig::Amf0);
    let payload = |ms: i64| {
        let mut p = b"\x02\x00\x13onMetaDataRecording\x03\x00\x0aobjectType\x02\x00\x10KalturaSyncPoint".to_vec();
        p.extend_from_slice(b"\x00\x09timestamp\x00");
        p.extend_from_slice(&(1_700_000_000_000.0 + ms as f64).to_be_bytes());
        p.extend_from_slice(b"\x00\x00\x09");
        p
    };
    let data_at = [0i64, 2500, 4000, 4001];
    let mut all = samples;
    for &ms in &data_at {
        let at = all.iter().position(|(_, s)| s.dts_ms > ms).unwrap_or(all.len());
        all.insert(at, (2, Sample { dts_ms: ms, pts_ms: ms, keyframe: true, data: Bytes::from(payload(ms)) }));
    }
    let (file, _, muxer) = mux(&tracks, all);
    assert_eq!(muxer.sample_count(2), data_at.len() as u64);
    let mp4 = dir.path("out.mp4");
    std::fs::write(&mp4, &file).unwrap();

    let p = probe(&mp4);
    let d = stream(&p, "data");
    assert_eq!(d["index"], 2);
    assert_eq!(d["codec_tag_string"], "amf0");
    let duration = num(&p["format"]["duration"]);
    assert!((duration - 6.0).abs() <= 0.1, "duration {duration}");
    assert_eq!(decode_errors(&mp4), "");

    #[rustfmt::skip]
    let out = run("ffprobe", &[
        "-v", "error", "-select_streams", "2", "-show_packets", "-show_data", "-of", "json", &mp4,
    ]);
    let packets: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let packets = packets["packets"].as_array().expect("packets");
    let pts: Vec<i64> = packets.iter().map(|p| p["pts"].as_i64().expect("pts")).collect();
    assert_eq!(pts, data_at, "each sync point at its own time (ms timescale)");
    for (packet, &ms) in packets.iter().zip(&data_at) {
        // ffprobe's hex dump: "00000000: 0200 136f ...  text": the bytes back, in order.
        let hex: String = packet["data"]
            .as_str()
            .expect("data")
            .lines()
            .map(|l| l.get(10..49).unwrap_or("").replace(' ', ""))
            .collect();
        let want: String = payload(ms).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want);
    }
}

/// Access units as (IRAP picture, length-prefixed NAL units).
type AccessUnits = Vec<(bool, Vec<u8>)>;

/// Length-prefixed access units (and whether each is an IRAP picture) and the VPS,
/// SPS and PPS of an Annex B HEVC stream with an access unit delimiter before every
/// access unit.
fn hevc_access_units(es: &[u8]) -> (AccessUnits, [Vec<u8>; 3]) {
    let mut starts = Vec::new(); // (start code position, first NAL byte)
    let mut i = 0;
    while i + 3 <= es.len() {
        if es[i..i + 3] == [0, 0, 1] {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut aus: AccessUnits = Vec::new();
    let mut params: [Vec<u8>; 3] = Default::default();
    for (k, &(_, nal_start)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(es.len(), |s| s.0);
        while end > nal_start && es[end - 1] == 0 {
            end -= 1; // zero_byte of the next 4-byte start code
        }
        let nal = &es[nal_start..end];
        match (nal[0] >> 1) & 0x3F {
            35 => aus.push((false, Vec::new())), // AUD
            t @ 32..=34 => params[usize::from(t - 32)] = nal.to_vec(),
            t => {
                let au = aus.last_mut().expect("stream starts with an AUD");
                au.0 |= (16..=23).contains(&t);
                au.1.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                au.1.extend_from_slice(nal);
            }
        }
    }
    (aus, params)
}

/// HEVCDecoderConfigurationRecord for 8-bit 4:2:0 with 4-byte NAL lengths; profile,
/// tier and level are copied from the SPS.
fn hvcc(params: &[Vec<u8>; 3]) -> Vec<u8> {
    // SPS RBSP: strip emulation prevention bytes from the start.
    let mut rbsp = Vec::new();
    let mut zeros = 0;
    for &b in &params[1][2..] {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    let mut r = vec![1];
    r.extend_from_slice(&rbsp[1..13]); // profile_tier_level: space/tier/idc … level
    r.extend_from_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F, 3]);
    for nal in params {
        r.push(0x80 | ((nal[0] >> 1) & 0x3F));
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        r.extend_from_slice(nal);
    }
    r
}

#[test]
fn hevc_to_fragmented_mp4() {
    if !tools_available("libx265", "MP4") {
        return;
    }
    // ffmpeg 5.1 cannot put HEVC in FLV: take the Annex B stream and do the framing
    // an Enhanced RTMP publisher would have done.
    let dir = TempDir::new("hevc");
    let es_path = dir.path("in.hevc");
    #[rustfmt::skip]
    run("ffmpeg", &[
        "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
        "-c:v", "libx265", "-pix_fmt", "yuv420p", "-x265-params",
        "aud=1:bframes=0:keyint=30:min-keyint=30:scenecut=0:open-gop=0:log-level=error",
        "-f", "hevc", &es_path,
    ]);
    let (aus, params) = hevc_access_units(&std::fs::read(&es_path).unwrap());
    assert_eq!(aus.len(), 60);
    let tracks = [TrackConfig::Hevc(Bytes::from(hvcc(&params)))];
    let samples = aus
        .into_iter()
        .enumerate()
        .map(|(i, (keyframe, data))| {
            let t = i as i64 * 1000 / 30;
            let sample = Sample {
                dts_ms: t,
                pts_ms: t,
                keyframe,
                data: Bytes::from(data),
            };
            (0, sample)
        })
        .collect();
    let (file, boundaries, muxer) = mux(&tracks, samples);
    assert_eq!(
        muxer.track_info(0).map(|i| (i.width, i.height)),
        Some((320, 240))
    );
    assert_eq!(boundaries.len(), 3, "init + one fragment per GOP");
    let mp4 = dir.path("out.mp4");
    std::fs::write(&mp4, &file).unwrap();

    let p = probe(&mp4);
    let v = stream(&p, "video");
    assert_eq!(v["codec_name"], "hevc");
    assert_eq!(v["codec_tag_string"], "hvc1");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(num(&v["nb_read_frames"]), 60.0);
    let duration = num(&p["format"]["duration"]);
    assert!((duration - 2.0).abs() <= 0.1, "duration {duration}");
    assert_eq!(decode_errors(&mp4), "");

    check_crash_recovery(&dir, &muxer, &file, &boundaries, 2);
}
