//! Muxer and recovery tests: box layout read back through a small box walker written
//! here, sample timing, duration patching, recovery at every truncation point, and
//! property tests that recovery never panics. Real-tool checks (ffprobe/ffmpeg) are in
//! `tests/mp4_ffprobe.rs`.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::flv::{FlvReader, TAG_AUDIO, TAG_VIDEO};
use crate::{audio, video};

const H264_360: &[u8] = include_bytes!("../../testdata/h264_360.seq");
const HEVC_360: &[u8] = include_bytes!("../../testdata/hevc_360.hvcC");
const SMALL_FLV: &[u8] = include_bytes!("../../testdata/small_flv.bin");
/// AAC-LC, 48 kHz, stereo.
const ASC_48K: &[u8] = &[0x11, 0x90];
/// AAC-LC, 44.1 kHz, stereo.
const ASC_44K: &[u8] = &[0x12, 0x10];

fn avc_record() -> Bytes {
    Bytes::copy_from_slice(&H264_360[5..])
}

fn av_muxer() -> Mp4Muxer {
    Mp4Muxer::new(&[
        TrackConfig::H264(avc_record()),
        TrackConfig::Aac(Bytes::from_static(ASC_48K)),
    ])
    .unwrap()
}

fn sample(dts_ms: i64, pts_ms: i64, keyframe: bool, data: &[u8]) -> Sample {
    Sample {
        dts_ms,
        pts_ms,
        keyframe,
        data: Bytes::copy_from_slice(data),
    }
}

// ---------------------------------------------------------------------------------
// A box walker that asserts sizes add up while it parses.
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Bx<'a> {
    kind: [u8; 4],
    /// Offset of the box in the buffer it was found in.
    start: usize,
    /// The whole box.
    all: &'a [u8],
    /// The body after the 8-byte header.
    body: &'a [u8],
}

/// Boxes that exactly tile `data` (panics if they do not).
fn boxes(data: &[u8]) -> Vec<Bx<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        assert!(
            size >= 8 && pos + size <= data.len(),
            "bad box size at {pos}"
        );
        out.push(Bx {
            kind: data[pos + 4..pos + 8].try_into().unwrap(),
            start: pos,
            all: &data[pos..pos + size],
            body: &data[pos + 8..pos + size],
        });
        pos += size;
    }
    assert_eq!(pos, data.len(), "boxes do not tile their parent");
    out
}

fn kinds(bs: &[Bx]) -> Vec<String> {
    bs.iter()
        .map(|b| String::from_utf8_lossy(&b.kind).into_owned())
        .collect()
}

/// The only child of `parent` (a container body) of this kind.
fn one<'a>(parent: &'a [u8], kind: &[u8; 4]) -> Bx<'a> {
    let found: Vec<_> = boxes(parent)
        .into_iter()
        .filter(|b| &b.kind == kind)
        .collect();
    assert_eq!(found.len(), 1, "{}", String::from_utf8_lossy(kind));
    found[0]
}

fn be32(b: &[u8], pos: usize) -> u32 {
    u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap())
}

fn be64(b: &[u8], pos: usize) -> u64 {
    u64::from_be_bytes(b[pos..pos + 8].try_into().unwrap())
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TrunSample {
    duration: u32,
    size: u32,
    flags: u32,
    cts: i32,
    data: Vec<u8>,
}

#[derive(Debug)]
struct Traf {
    track_id: u32,
    base_decode: u64,
    samples: Vec<TrunSample>,
}

/// Parse one `moof` + `mdat` at the start of `frag`, checking the fixed parts of the
/// layout and resolving every sample's bytes through the trun data_offset.
fn parse_fragment(frag: &[u8]) -> (u32, Vec<Traf>) {
    let top = boxes(frag);
    assert_eq!(kinds(&top), ["moof", "mdat"]);
    let (moof, mdat) = (top[0], top[1]);
    let mfhd = one(moof.body, b"mfhd");
    let sequence = be32(mfhd.body, 4);
    let mut trafs = Vec::new();
    let mut next_data = mdat.start + 8;
    for traf in boxes(moof.body).into_iter().filter(|b| &b.kind == b"traf") {
        assert_eq!(kinds(&boxes(traf.body)), ["tfhd", "tfdt", "trun"]);
        let tfhd = one(traf.body, b"tfhd");
        assert_eq!(be32(tfhd.body, 0), 0x0002_0000, "default-base-is-moof only");
        let tfdt = one(traf.body, b"tfdt");
        assert_eq!(tfdt.body[0], 1, "tfdt version 1");
        let trun = one(traf.body, b"trun");
        let (version, flags) = (trun.body[0], be32(trun.body, 0) & 0xFF_FFFF);
        assert_eq!(version, 1);
        assert_eq!(flags & 0x0701, 0x0701);
        let count = be32(trun.body, 4) as usize;
        let data_offset = be32(trun.body, 8) as usize;
        // Samples follow each other in mdat, traf after traf.
        assert_eq!(moof.start + data_offset, next_data);
        let mut pos = moof.start + data_offset;
        let entry_len = if flags & 0x800 != 0 { 16 } else { 12 };
        assert_eq!(trun.body.len(), 12 + count * entry_len);
        let mut samples = Vec::new();
        for i in 0..count {
            let e = &trun.body[12 + i * entry_len..];
            let size = be32(e, 4);
            samples.push(TrunSample {
                duration: be32(e, 0),
                size,
                flags: be32(e, 8),
                cts: if entry_len == 16 {
                    be32(e, 12) as i32
                } else {
                    0
                },
                data: frag[pos..pos + size as usize].to_vec(),
            });
            pos += size as usize;
        }
        next_data = pos;
        trafs.push(Traf {
            track_id: be32(tfhd.body, 4),
            base_decode: be64(tfdt.body, 4),
            samples,
        });
    }
    assert_eq!(next_data, frag.len(), "mdat holds exactly the samples");
    (sequence, trafs)
}

// ---------------------------------------------------------------------------------
// Init segment.
// ---------------------------------------------------------------------------------

#[test]
fn init_segment_layout() {
    let mux = Mp4Muxer::new(&[
        TrackConfig::H264(avc_record()),
        TrackConfig::Aac(Bytes::from_static(ASC_48K)),
        TrackConfig::Hevc(Bytes::from_static(HEVC_360)),
    ])
    .unwrap();
    let init = mux.init_segment();
    let top = boxes(&init);
    assert_eq!(kinds(&top), ["ftyp", "moov"]);
    assert_eq!(top[0].body, b"isom\0\0\x02\0isomiso6mp41");
    let moov = top[1].body;
    assert_eq!(
        kinds(&boxes(moov)),
        ["mvhd", "trak", "trak", "trak", "mvex"]
    );
    let mvhd = one(moov, b"mvhd");
    assert_eq!(be32(mvhd.body, 12), MOVIE_TIMESCALE);
    assert_eq!(be32(mvhd.body, 96), 4, "next_track_ID");

    let traks: Vec<_> = boxes(moov)
        .into_iter()
        .filter(|b| &b.kind == b"trak")
        .collect();
    let expect = [
        (1, b"vide", VIDEO_TIMESCALE, b"avc1", b"avcC", 640, 360),
        (2, b"soun", 48_000, b"mp4a", b"esds", 0, 0),
        (3, b"vide", VIDEO_TIMESCALE, b"hvc1", b"hvcC", 640, 360),
    ];
    for (trak, (id, handler, timescale, entry, config, width, height)) in traks.iter().zip(expect) {
        assert_eq!(kinds(&boxes(trak.body)), ["tkhd", "mdia"]);
        let tkhd = one(trak.body, b"tkhd");
        assert_eq!(be32(tkhd.body, 12), id);
        assert_eq!(be32(tkhd.body, 76), width << 16);
        assert_eq!(be32(tkhd.body, 80), height << 16);
        let mdia = one(trak.body, b"mdia");
        assert_eq!(kinds(&boxes(mdia.body)), ["mdhd", "hdlr", "minf"]);
        assert_eq!(be32(one(mdia.body, b"mdhd").body, 12), timescale);
        assert_eq!(&one(mdia.body, b"hdlr").body[8..12], handler);
        let minf = one(mdia.body, b"minf");
        let stbl = one(minf.body, b"stbl");
        assert_eq!(
            kinds(&boxes(stbl.body)),
            ["stsd", "stts", "stsc", "stsz", "stco"]
        );
        for empty in [b"stts", b"stsc", b"stco"] {
            assert_eq!(one(stbl.body, empty).body, [0; 8]);
        }
        assert_eq!(one(stbl.body, b"stsz").body, [0; 12]);
        let stsd = one(stbl.body, b"stsd");
        assert_eq!(be32(stsd.body, 4), 1);
        let entries = boxes(&stsd.body[8..]);
        assert_eq!(kinds(&entries), [String::from_utf8_lossy(entry)]);
        // Sample entry fields, then the configuration box.
        let fields = if entry == b"mp4a" { 28 } else { 78 };
        let children = boxes(&entries[0].body[fields..]);
        assert_eq!(kinds(&children), [String::from_utf8_lossy(config)]);
        match entry {
            b"avc1" => {
                assert_eq!(be32(entries[0].body, 24), 640 << 16 | 360);
                assert_eq!(children[0].body, &H264_360[5..]);
            }
            b"hvc1" => assert_eq!(children[0].body, HEVC_360),
            _ => {
                assert_eq!(be32(entries[0].body, 16) >> 16, 2, "channels");
                assert_eq!(be32(entries[0].body, 24), 48_000 << 16);
                let esds = children[0].body;
                // ES_Descriptor ⊃ DecoderConfigDescriptor ⊃ DecoderSpecificInfo = ASC.
                assert_eq!(
                    esds,
                    [
                        0, 0, 0, 0, 0x03, 25, 0, 0, 0, 0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0,
                        0, 0, 0, 0, 0x05, 2, 0x11, 0x90, 0x06, 1, 2
                    ]
                );
            }
        }
    }

    let mvex = one(moov, b"mvex");
    assert_eq!(kinds(&boxes(mvex.body)), ["mehd", "trex", "trex", "trex"]);
    let mehd = one(mvex.body, b"mehd");
    assert_eq!(mehd.all.len(), 20);
    assert_eq!(mehd.body[0], 1, "mehd version 1");
    let mehd_in_file = top[1].start + 8 + mvex.start + 8 + mehd.start + 12;
    assert_eq!(mux.mehd_duration_offset(), mehd_in_file);
    assert_eq!(be64(&init, mehd_in_file), 0);
    assert_eq!(mux.bytes_written(), init.len() as u64);
}

#[test]
fn construction_errors() {
    assert_eq!(Mp4Muxer::new(&[]).unwrap_err(), Mp4Error::NoTracks);
    let bad = Mp4Muxer::new(&[
        TrackConfig::Aac(Bytes::from_static(ASC_48K)),
        TrackConfig::H264(Bytes::from_static(&[1, 2, 3])),
    ]);
    assert!(matches!(bad, Err(Mp4Error::Config { track: 1, .. })));
    let mut mux = av_muxer();
    assert_eq!(
        mux.push(2, sample(0, 0, true, b"x")),
        Err(Mp4Error::UnknownTrack(2))
    );
    assert_eq!(mux.fragment(), None);
    assert_eq!(mux.finish(), None);
}

// ---------------------------------------------------------------------------------
// Fragments.
// ---------------------------------------------------------------------------------

#[test]
fn fragment_layout_and_data_offsets() {
    let mut mux = av_muxer();
    // IPBB-like decode order at 30 fps with composition offsets; audio every 21.33 ms.
    let video = [
        (0, 66, true),
        (33, 166, false),
        (67, 100, false),
        (100, 133, false),
    ];
    for (i, &(dts, pts, key)) in video.iter().enumerate() {
        mux.push(
            0,
            sample(dts, pts, key, &[i as u8; 100].map(|b| b + 1)[..10 + i]),
        )
        .unwrap();
    }
    for i in 0..6i64 {
        mux.push(1, sample(i * 64 / 3, 0, false, &[0xA0 + i as u8; 7]))
            .unwrap();
    }
    assert_eq!(mux.pending_samples(), 10);
    let frag = mux.fragment().unwrap();
    assert_eq!(
        mux.pending_samples(),
        2,
        "the newest sample of each track waits"
    );
    let (sequence, trafs) = parse_fragment(&frag);
    assert_eq!(sequence, 1);
    assert_eq!(trafs.len(), 2);

    let v = &trafs[0];
    assert_eq!((v.track_id, v.base_decode), (1, 0));
    let durations: Vec<_> = v.samples.iter().map(|s| s.duration).collect();
    assert_eq!(durations, [2970, 3060, 2970]);
    let cts: Vec<_> = v.samples.iter().map(|s| s.cts).collect();
    assert_eq!(cts, [66 * 90, 133 * 90, 33 * 90]);
    let flags: Vec<_> = v.samples.iter().map(|s| s.flags).collect();
    assert_eq!(
        flags,
        [
            SAMPLE_FLAGS_SYNC,
            SAMPLE_FLAGS_NON_SYNC,
            SAMPLE_FLAGS_NON_SYNC
        ]
    );
    for (i, s) in v.samples.iter().enumerate() {
        assert_eq!(s.data, vec![i as u8 + 1; 10 + i]);
        assert_eq!(s.size as usize, s.data.len());
    }

    let a = &trafs[1];
    assert_eq!((a.track_id, a.base_decode), (2, 0));
    assert_eq!(a.samples.len(), 5);
    for (i, s) in a.samples.iter().enumerate() {
        assert_eq!((s.duration, s.flags, s.cts), (1024, SAMPLE_FLAGS_SYNC, 0));
        assert_eq!(s.data, [0xA0 + i as u8; 7]);
    }
    assert_eq!(mux.sample_count(0), 3);
    assert_eq!(mux.sample_count(1), 5);
    assert_eq!(mux.duration_ms(), 107); // 5 × 1024 / 48 kHz = 106.67 ms

    // Nothing new is ready: no fragment.
    assert_eq!(mux.fragment(), None);
    let last = mux.finish().unwrap();
    let (sequence, trafs) = parse_fragment(&last);
    assert_eq!(sequence, 2);
    assert_eq!(trafs[0].base_decode, 9000);
    assert_eq!(trafs[0].samples.len(), 1);
    assert_eq!(trafs[0].samples[0].duration, 2970, "previous duration");
    assert_eq!(trafs[1].base_decode, 5 * 1024);
    assert_eq!(trafs[1].samples[0].duration, 1024);
    assert_eq!(mux.pending_samples(), 0);
    assert_eq!(mux.fragment_count(), 2);
    // Video ends last: 9000 + 2970 ticks = 133 ms (audio: 6 × 1024 / 48 kHz = 128 ms).
    assert_eq!(mux.duration_ms(), 133);
    let total = mux.init_segment().len() + frag.len() + last.len();
    assert_eq!(mux.bytes_written(), total as u64);
}

#[test]
fn data_samples_are_instantaneous_each_in_its_own_traf() {
    let mut mux = Mp4Muxer::new(&[TrackConfig::H264(avc_record()), TrackConfig::Amf0]).unwrap();
    let init = mux.init_segment();
    let moov = one(&init, b"moov");
    let traks: Vec<_> = boxes(moov.body).into_iter().filter(|b| &b.kind == b"trak").collect();
    assert_eq!(traks.len(), 2);
    let mdia = one(traks[1].body, b"mdia");
    let hdlr = one(mdia.body, b"hdlr");
    assert_eq!(&hdlr.body[8..12], b"data");
    assert_eq!(be32(one(mdia.body, b"mdhd").body, 12), 1000, "ms timescale");
    let minf = one(mdia.body, b"minf");
    one(minf.body, b"nmhd");
    let stsd = one(one(minf.body, b"stbl").body, b"stsd");
    assert_eq!(&stsd.body[12..16], b"amf0");

    let mut frags = Vec::new();
    for i in 0..90i64 {
        let ms = i * 33;
        mux.push(0, sample(ms, ms, i % 30 == 0, b"\x00\x00\x00\x01\x65")).unwrap();
        if i == 10 || i == 11 || i == 40 {
            mux.push(1, sample(ms + 1, ms + 1, true, b"sync")).unwrap();
        }
        if i % 30 == 0 {
            frags.extend(mux.fragment());
        }
    }
    frags.extend(mux.finish_parts().into_iter().map(FragmentParts::concat));
    let data: Vec<(u64, u32)> = frags
        .iter()
        .flat_map(|f| parse_fragment(f).1)
        .filter(|t| t.track_id == 2)
        .map(|t| {
            assert_eq!(t.samples.len(), 1, "one data sample per traf: a trun would make them contiguous");
            (t.base_decode, t.samples[0].duration)
        })
        .collect();
    assert_eq!(data, [(331, 1), (364, 1), (1321, 1)]);
    assert_eq!(mux.sample_count(1), 3);
    assert_eq!(mux.duration_ms(), 89 * 33 + 33, "the data track extends nothing");
}

#[test]
fn tracks_start_at_their_own_time() {
    let mut mux = av_muxer();
    mux.push(0, sample(40, 40, true, b"v0")).unwrap();
    mux.push(1, sample(12, 12, true, b"a0")).unwrap();
    mux.push(0, sample(80, 80, true, b"v1")).unwrap();
    mux.push(1, sample(33, 33, true, b"a1")).unwrap();
    let (_, trafs) = parse_fragment(&mux.fragment().unwrap());
    assert_eq!(trafs[0].base_decode, 40 * 90);
    assert_eq!(trafs[1].base_decode, 12 * 48);
}

/// Durations of every sample of track `track` over the given fragments.
fn durations(frags: &[Vec<u8>], track: u32) -> Vec<u32> {
    frags
        .iter()
        .flat_map(|f| parse_fragment(f).1)
        .filter(|t| t.track_id == track)
        .flat_map(|t| t.samples.into_iter().map(|s| s.duration))
        .collect()
}

#[test]
fn aac_durations_are_exact_and_gaps_are_kept() {
    for (asc, rate) in [(ASC_48K, 48_000i64), (ASC_44K, 44_100)] {
        let mut mux = Mp4Muxer::new(&[TrackConfig::Aac(Bytes::from_static(asc))]).unwrap();
        let mut frags = Vec::new();
        // 200 frames with millisecond timestamps (rounded down, as in FLV), then a
        // 500 ms hole, then 100 more.
        let ms = |n: i64| n * 1024 * 1000 / rate;
        for n in 0..200 {
            mux.push(0, sample(ms(n), ms(n), true, b"aa")).unwrap();
        }
        frags.extend(mux.fragment());
        for n in 200..300 {
            mux.push(0, sample(500 + ms(n), 500 + ms(n), true, b"aa"))
                .unwrap();
        }
        frags.extend(mux.finish());
        let d = durations(&frags, 1);
        assert_eq!(d.len(), 300);
        assert!(
            d[..199].iter().all(|&d| d == 1024),
            "{rate}: {:?}",
            &d[..199]
        );
        // The hole is kept: the timeline resyncs to the next timestamp.
        let hole = i64::from(d[199]);
        let expected = (500 + ms(200)) * rate / 1000 - 199 * 1024;
        assert_eq!(hole, expected, "{rate}");
        assert!(d[200..].iter().all(|&d| d == 1024));
        let end: u64 = d.iter().map(|&d| u64::from(d)).sum();
        assert_eq!(mux.duration_ms(), ticks_to_ms(end, rate as u32));
    }
}

#[test]
fn aac_timestamp_jitter_within_tolerance_is_ignored() {
    let mut mux = Mp4Muxer::new(&[TrackConfig::Aac(Bytes::from_static(ASC_48K))]).unwrap();
    // Timestamps rounded to the nearest ms (≤ 0.5 ms off) plus ±1 ms of jitter: at
    // most 1.5 ms from the exact 21.333 ms cadence.
    for n in 0..100i64 {
        let t = (n * 64 + 1) / 3 + [0, 1, -1][n as usize % 3];
        mux.push(0, sample(t, t, true, b"a")).unwrap();
    }
    let frags: Vec<_> = mux.finish().into_iter().collect();
    assert!(durations(&frags, 1).iter().all(|&d| d == 1024));
}

#[test]
fn backwards_dts_never_makes_negative_durations() {
    let mut mux = Mp4Muxer::new(&[TrackConfig::H264(avc_record())]).unwrap();
    for t in [0, 33, 20, 20, 66, 100] {
        mux.push(0, sample(t, t, t == 0, b"v")).unwrap();
    }
    let frags: Vec<_> = mux.finish().into_iter().collect();
    assert_eq!(
        durations(&frags, 1),
        [2970, 1, 1, 66 * 90 - 2972, 34 * 90, 34 * 90]
    );
}

#[test]
fn fragment_boundaries_follow_the_callers_keyframes() {
    let (file, boundaries, mux) = multi_fragment_file();
    assert_eq!(boundaries.len(), 5);
    let mut pos = boundaries[0];
    for &end in &boundaries[1..] {
        let (_, trafs) = parse_fragment(&file[pos..end]);
        let first = &trafs[0].samples[0];
        assert_eq!(
            first.flags, SAMPLE_FLAGS_SYNC,
            "fragments open with a keyframe"
        );
        pos = end;
    }
    assert_eq!(mux.fragment_count(), 4);
}

// ---------------------------------------------------------------------------------
// Duration patch and recovery.
// ---------------------------------------------------------------------------------

/// A file of 4 fragments (fragment per video keyframe, 15 fps, keyframe every 10
/// frames, plus 48 kHz audio), with the offset where each fragment ends (index 0: end
/// of the init segment).
fn multi_fragment_file() -> (Vec<u8>, Vec<usize>, Mp4Muxer) {
    let mut mux = av_muxer();
    let mut file = mux.init_segment();
    let mut boundaries = vec![file.len()];
    let mut audio_n = 0i64;
    for frame in 0..40i64 {
        let t = frame * 1000 / 15;
        while audio_n * 64 / 3 <= t {
            let a = audio_n * 64 / 3;
            mux.push(1, sample(a, a, true, &[audio_n as u8; 5]))
                .unwrap();
            audio_n += 1;
        }
        let key = frame % 10 == 0;
        mux.push(0, sample(t, t + 67, key, &[frame as u8; 20]))
            .unwrap();
        if key {
            if let Some(f) = mux.fragment() {
                file.extend(f);
                boundaries.push(file.len());
            }
        }
    }
    file.extend(mux.finish().unwrap());
    boundaries.push(file.len());
    (file, boundaries, mux)
}

#[test]
fn duration_patch_and_recovery_agree_with_the_muxer() {
    let (mut file, boundaries, mux) = multi_fragment_file();
    let r = recover(&file);
    assert_eq!(r.valid_len, file.len());
    assert_eq!(r.init_len, boundaries[0]);
    assert_eq!(r.fragments, 4);
    assert_eq!(r.duration_ms, mux.duration_ms());
    assert_eq!(r.mehd_duration_offset, Some(mux.mehd_duration_offset()));

    let patch = mux.duration_patch();
    assert_eq!(r.duration_patch(), Some(patch));
    assert_eq!(patch.offset, mux.mehd_duration_offset());
    assert_eq!(patch.bytes, mux.duration_ms().to_be_bytes());
    assert!(patch.apply(&mut file));
    assert_eq!(be64(&file, patch.offset), mux.duration_ms());
    // 40 frames at 15 fps: the last one lasts as long as the one before it.
    assert_eq!(mux.duration_ms(), 2667);
    assert!(!patch.apply(&mut file[..patch.offset + 7]));
}

#[test]
fn recovery_at_every_truncation_point_ends_on_a_fragment_boundary() {
    let (file, boundaries, _) = multi_fragment_file();
    let full = recover(&file);
    // Duration after each complete fragment.
    let durations: Vec<u64> = boundaries
        .iter()
        .map(|&end| recover(&file[..end]).duration_ms)
        .collect();
    assert!(durations.windows(2).all(|w| w[0] < w[1]), "{durations:?}");
    assert_eq!(durations[0], 0);
    for cut in 0..=file.len() {
        let r = recover(&file[..cut]);
        let complete = boundaries.iter().rposition(|&b| b <= cut);
        match complete {
            None => assert_eq!(r, Recovery::default(), "cut {cut}"),
            Some(i) => {
                assert_eq!(r.valid_len, boundaries[i], "cut {cut}");
                assert_eq!(r.fragments, i, "cut {cut}");
                assert_eq!(r.duration_ms, durations[i], "cut {cut}");
                assert_eq!(r.mehd_duration_offset, full.mehd_duration_offset);
            }
        }
    }
}

#[test]
fn recovery_reads_what_it_recovered() {
    // Truncate, patch, and the result is a complete file with that duration.
    let (file, boundaries, _) = multi_fragment_file();
    let cut = (boundaries[2] + boundaries[3]) / 2;
    let r = recover(&file[..cut]);
    let mut fixed = file[..r.valid_len].to_vec();
    assert!(r.duration_patch().unwrap().apply(&mut fixed));
    let again = recover(&fixed);
    assert_eq!(again.valid_len, fixed.len());
    assert_eq!(again.duration_ms, r.duration_ms);
    assert_eq!(be64(&fixed, r.mehd_duration_offset.unwrap()), r.duration_ms);
}

/// Rewrite the box at `pos` (32-bit size) with a 64-bit largesize header.
fn to_largesize(file: &[u8], pos: usize) -> Vec<u8> {
    let size = be32(file, pos) as u64;
    let mut out = file[..pos].to_vec();
    out.extend(1u32.to_be_bytes());
    out.extend(&file[pos + 4..pos + 8]);
    out.extend((size + 8).to_be_bytes());
    out.extend(&file[pos + 8..]);
    out
}

#[test]
fn recovery_handles_largesize_and_size_zero_boxes() {
    let (file, boundaries, _) = multi_fragment_file();
    // A 64-bit `free` box between moov and the first moof.
    let mut with_free = file[..boundaries[0]].to_vec();
    with_free.extend(1u32.to_be_bytes());
    with_free.extend(b"free");
    with_free.extend(24u64.to_be_bytes());
    with_free.extend([0xEE; 8]);
    with_free.extend(&file[boundaries[0]..]);
    let r = recover(&with_free);
    assert_eq!((r.valid_len, r.fragments), (with_free.len(), 4));
    // The same free box cut in half ends the usable part at moov.
    let r = recover(&with_free[..boundaries[0] + 20]);
    assert_eq!((r.valid_len, r.fragments), (boundaries[0], 0));

    // A largesize moov: offsets inside move by 8, durations do not change.
    let big_moov = to_largesize(&file, boxes(&file)[0].all.len());
    let r = recover(&big_moov);
    assert_eq!((r.valid_len, r.fragments), (big_moov.len(), 4));
    assert_eq!(r.duration_ms, recover(&file).duration_ms);
    assert_eq!(
        r.mehd_duration_offset.unwrap(),
        recover(&file).mehd_duration_offset.unwrap() + 8
    );

    // The last mdat with size 0 ("to the end of the file") is complete when all the
    // data its trun points at is there, and not when the file is cut inside it.
    let last_mdat = boxes(&file[boundaries[3]..])[1].start + boundaries[3];
    let mut open_ended = file.clone();
    open_ended[last_mdat..last_mdat + 4].copy_from_slice(&[0; 4]);
    let r = recover(&open_ended);
    assert_eq!((r.valid_len, r.fragments), (file.len(), 4));
    let r = recover(&open_ended[..file.len() - 1]);
    assert_eq!((r.valid_len, r.fragments), (boundaries[3], 3));
}

#[test]
fn recovery_ignores_a_zero_filled_tail() {
    // What a crash on a delayed-allocation file system can leave behind.
    let (mut file, boundaries, _) = multi_fragment_file();
    let whole = recover(&file);
    file.truncate(boundaries[3] + 100);
    file.extend([0u8; 4096]);
    let r = recover(&file);
    assert_eq!((r.valid_len, r.fragments), (boundaries[3], 3));
    assert!(r.duration_ms < whole.duration_ms);
}

#[test]
fn recovery_of_foreign_or_broken_input() {
    assert_eq!(recover(b""), Recovery::default());
    assert_eq!(recover(b"\0\0\0\x10ftypisom\0\0\0\0"), Recovery::default());
    // A moof without a moov is not usable.
    let (file, boundaries, _) = multi_fragment_file();
    assert_eq!(recover(&file[boundaries[0]..]).valid_len, 0);
    // A moof whose mdat is too short for its samples ends the usable part.
    let mut short = file[..boundaries[1]].to_vec();
    let mdat = boxes(&file[boundaries[0]..boundaries[1]])[1].start + boundaries[0];
    let size = be32(&short, mdat) - 1;
    short[mdat..mdat + 4].copy_from_slice(&size.to_be_bytes());
    short.pop();
    assert_eq!(recover(&short).valid_len, boundaries[0]);
}

#[test]
fn muxes_a_real_flv() {
    // The crate's test FLV (H.264 160x120@15 + AAC 22.05 kHz mono, 1.5 s): every tag
    // lands in the file, and recovery sees what the muxer wrote.
    let mut reader = FlvReader::new();
    reader.push(SMALL_FLV);
    let mut tracks = Vec::new();
    let mut samples = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        let t = i64::from(tag.timestamp);
        match tag.tag_type {
            TAG_VIDEO => {
                let info = video::parse_video_tag(&tag.data).unwrap();
                let body = tag.data.slice(5..);
                if info.kind == video::VideoPacketKind::SequenceHeader {
                    tracks.push(TrackConfig::H264(body));
                } else {
                    let pts = t + i64::from(info.composition_time);
                    samples.push((0usize, sample(t, pts, info.keyframe, &body)));
                }
            }
            TAG_AUDIO => {
                if let Some(asc) = audio::aac_sequence_header_payload(&tag.data) {
                    tracks.push(TrackConfig::Aac(Bytes::copy_from_slice(asc)));
                } else {
                    samples.push((1, sample(t, t, true, &tag.data[2..])));
                }
            }
            _ => {}
        }
    }
    assert!(matches!(tracks[0], TrackConfig::H264(_)));
    let mut mux = Mp4Muxer::new(&tracks).unwrap();
    assert_eq!(
        mux.track_info(0).map(|i| (i.width, i.height)),
        Some((160, 120))
    );
    assert_eq!(
        mux.track_info(1).map(|i| (i.sample_rate, i.channels)),
        Some((22_050, 1))
    );
    assert_eq!(mux.timescale(1), Some(22_050));
    let mut file = mux.init_segment();
    let counts = [0, 1].map(|track| samples.iter().filter(|s| s.0 == track).count() as u64);
    for (track, s) in samples {
        let key = track == 0 && s.keyframe;
        mux.push(track, s).unwrap();
        if key {
            file.extend(mux.fragment().unwrap_or_default());
        }
    }
    file.extend(mux.finish().unwrap());
    assert_eq!([mux.sample_count(0), mux.sample_count(1)], counts);
    assert!(mux.fragment_count() >= 2);
    let r = recover(&file);
    assert_eq!(r.valid_len, file.len());
    assert_eq!(r.fragments as u64, mux.fragment_count());
    assert_eq!(r.duration_ms, mux.duration_ms());
    // ffprobe: format duration 1.667 s (last AAC frame at 1619 ms, 46.4 ms long).
    assert_eq!(r.duration_ms, 1666);
}

#[test]
fn ticks_to_ms_rounds_up() {
    assert_eq!(ticks_to_ms(0, 90_000), 0);
    assert_eq!(ticks_to_ms(90, 90_000), 1);
    assert_eq!(ticks_to_ms(91, 90_000), 2);
    assert_eq!(ticks_to_ms(1024, 48_000), 22);
    assert_eq!(ticks_to_ms(5, 0), 0);
    assert_eq!(ticks_to_ms(u64::MAX, 1), u64::MAX);
}

proptest! {
    // No regression files: they would land outside this module's directory.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn recover_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let r = recover(&data);
        prop_assert!(r.valid_len <= data.len());
    }

    #[test]
    fn recover_never_panics_on_damaged_files(
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (mut file, _, _) = multi_fragment_file();
        for (at, value) in flips {
            let i = at.index(file.len());
            file[i] = value;
        }
        let cut = cut.index(file.len() + 1);
        let r = recover(&file[..cut]);
        prop_assert!(r.valid_len <= cut);
        prop_assert!(r.init_len <= r.valid_len);
    }

    #[test]
    fn recover_never_panics_on_box_shaped_garbage(
        parts in proptest::collection::vec(
            (prop::sample::select(vec![0u32, 1, 7, 8, 16, 24, 40, 0xFFFF_FFFF]),
             prop::sample::select(vec![*b"moov", *b"moof", *b"mdat", *b"trak", *b"traf",
                                       *b"trun", *b"tfhd", *b"tfdt", *b"mvex", *b"free"]),
             proptest::collection::vec(any::<u8>(), 0..32)),
            0..12),
    ) {
        let mut data = Vec::new();
        for (size, kind, body) in parts {
            data.extend(size.to_be_bytes());
            data.extend(kind);
            data.extend(body);
        }
        let r = recover(&data);
        prop_assert!(r.valid_len <= data.len());
    }
}
