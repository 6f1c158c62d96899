//! Unit tests of the segmenter and the playlists: frames in, segments and text out, no
//! sockets and no clock.

use super::playlist::{render_master, Bandwidth, Playlist, Segment, Variant, Window};
use super::segmenter::{MediaInfo, Segmenter};
use crate::timeline::{iso8601_ms, TimestampExtender};
use super::{split_entry_flavors, HlsOptions};
use crate::bus::Frame;
use bytes::Bytes;
use rtmp_proto::session::MediaKind;

const AVC_SEQ_360: &[u8] = include_bytes!("../../../media/testdata/h264_360.seq");
const AVC_SEQ_720: &[u8] = include_bytes!("../../../media/testdata/h264_720p.seq");
/// AAC-LC, 44.1 kHz, stereo.
const AAC_SEQ: &[u8] = &[0xAF, 0x00, 0x12, 0x10];
/// 2024-01-01T00:00:00Z: frames carry the wall-clock timeline, and test streams start here.
const T0: i64 = 1_704_067_200_000;
/// The 2 s grid slot of T0: the number of a 2 s segment starting at T0.
const SLOT0: u64 = (T0 / 2000) as u64;
/// Composition time of the test video frames, ms.
const CTS_MS: i64 = 80;

fn config(kind: MediaKind, payload: &[u8]) -> Frame {
    Frame { kind, timestamp: T0, payload: Bytes::copy_from_slice(payload), keyframe: false, config: true, discontinuity: false }
}

fn video(ts: u32, keyframe: bool, cts: u32) -> Frame {
    let nal: &[u8] = if keyframe { &[0x65, 0x88, 0x84] } else { &[0x41, 0x9A, 0x02] };
    let mut p = vec![if keyframe { 0x17 } else { 0x27 }, 1, (cts >> 16) as u8, (cts >> 8) as u8, cts as u8];
    p.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    p.extend_from_slice(nal);
    Frame { kind: MediaKind::Video, timestamp: T0 + i64::from(ts), payload: p.into(), keyframe, config: false, discontinuity: false }
}

fn audio(ts: u32) -> Frame {
    Frame { kind: MediaKind::Audio, timestamp: T0 + i64::from(ts), payload: Bytes::from_static(&[0xAF, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8C, 0x1C]), keyframe: false, config: false, discontinuity: false }
}

/// 25 fps video with a keyframe every `gop` frames and AAC frames every 23 ms, from
/// `from_ms` (inclusive) to `to_ms` (exclusive), in RTMP interleaving order.
fn av_frames(from_ms: u32, to_ms: u32, gop: u32) -> Vec<Frame> {
    let mut frames = Vec::new();
    let (mut v, mut a) = (from_ms / 40, from_ms.div_ceil(23));
    loop {
        let (tv, ta) = (v * 40, a * 23);
        if tv >= to_ms && ta >= to_ms {
            break;
        }
        if tv <= ta && tv < to_ms {
            frames.push(video(tv, v % gop == 0, 80));
            v += 1;
        } else {
            frames.push(audio(ta));
            a += 1;
        }
    }
    frames
}

fn av_segmenter(target: u64) -> Segmenter {
    let mut s = Segmenter::new("0_abcd1234_1", target);
    s.handle_frame(&config(MediaKind::Video, AVC_SEQ_360));
    s.handle_frame(&config(MediaKind::Audio, AAC_SEQ));
    s
}

fn feed(s: &mut Segmenter, frames: &[Frame]) -> Vec<Segment> {
    for f in frames {
        s.handle_frame(f);
    }
    drain(s)
}

fn drain(s: &mut Segmenter) -> Vec<Segment> {
    std::iter::from_fn(|| s.poll_segment()).collect()
}

fn durations(segments: &[Segment]) -> Vec<u64> {
    segments.iter().map(|s| s.duration_ms).collect()
}

/// The text of the ID3 sync point at the start of a segment.
fn sync_point(segment: &Segment) -> String {
    let data = &segment.data[..];
    let at = data.windows(4).position(|w| w == b"{\"ob").expect("sync point in the segment");
    let end = at + data[at..].iter().position(|&b| b == b'}').unwrap() + 1;
    String::from_utf8(data[at..end].to_vec()).unwrap()
}

fn pids(segment: &Segment) -> Vec<u16> {
    segment.data.chunks(188).map(|p| u16::from(p[1] & 0x1F) << 8 | u16::from(p[2])).collect()
}

#[test]
fn cuts_at_the_first_keyframe_on_each_target_boundary() {
    let mut s = av_segmenter(2000);
    let segments = feed(&mut s, &av_frames(0, 10_000, 25));
    // Keyframes every second, target 2 s: cuts at 2, 4, 6, 8 s; the last stays open.
    assert_eq!(durations(&segments), vec![2000, 2000, 2000, 2000]);
    // Numbered by grid slot: the same numbers on any server that packages this timeline.
    assert_eq!(segments.iter().map(|s| s.seq).collect::<Vec<_>>(), (SLOT0..SLOT0 + 4).collect::<Vec<_>>());
    assert!(segments.iter().all(|s| !s.discontinuity && s.video_frames == 50));
    s.handle_end();
    let last = drain(&mut s);
    // The last one ends where its last frame does: audio at 9982 ms lasts 23 ms.
    assert_eq!(durations(&last), vec![2005]);
    for (i, seg) in segments.iter().chain(&last).enumerate() {
        assert_eq!(seg.data.len() % 188, 0);
        // Dated by the opening keyframe's presentation time (DTS + its 80 ms composition time).
        assert_eq!(seg.start_wall_ms, T0 + 2000 * i as i64 + CTS_MS);
        // PAT, PMT, then the ID3 tag (after the PCR-only packet on the video PID).
        assert_eq!(&pids(seg)[..2], &[0, 0x1000]);
        assert_eq!(
            sync_point(seg),
            format!("{{\"objectType\":\"KalturaSyncPoint\",\"timestamp\":{},\"id\":\"0_abcd1234_1_{}\"}}", T0 + 2000 * i as i64 + CTS_MS, SLOT0 + i as u64)
        );
    }
    assert_eq!(s.media().video_codec.as_deref(), Some("avc1.42c01e"));
    assert_eq!(s.media().audio_codec.as_deref(), Some("mp4a.40.2"));
    assert_eq!((s.media().width, s.media().height), (640, 360));
}

#[test]
fn segments_are_one_gop_when_the_gop_is_longer_than_the_target() {
    let mut s = av_segmenter(2000);
    // Keyframes every 3 s.
    let segments = feed(&mut s, &av_frames(0, 12_500, 75));
    assert_eq!(durations(&segments), vec![3000, 3000, 3000, 3000]);
}

#[test]
fn a_late_start_cuts_on_the_same_grid() {
    // A packager that joins at 1 s cuts where one that started at 0 does: at 2, 4, …
    let mut s = av_segmenter(2000);
    let segments = feed(&mut s, &av_frames(1000, 7000, 25));
    assert_eq!(durations(&segments), vec![1000, 2000, 2000]);
    assert_eq!(segments[0].start_wall_ms, T0 + 1000 + CTS_MS);
    assert_eq!(segments[0].seq, SLOT0, "numbered by the slot it starts in");
}

#[test]
fn composition_time_offsets_pts() {
    let mut s = av_segmenter(2000);
    let segments = feed(&mut s, &av_frames(0, 2100, 25));
    let seg = &segments[0];
    // First video PES: find the PES start on PID 0x100 and read PTS and DTS.
    let packet = seg.data.chunks(188).find(|p| (u16::from(p[1] & 0x1F) << 8 | u16::from(p[2])) == 0x100 && p[1] & 0x40 != 0 && p[3] & 0x10 != 0).unwrap();
    let af = if packet[3] & 0x20 != 0 { 1 + usize::from(packet[4]) } else { 0 };
    let pes = &packet[4 + af..];
    assert_eq!(&pes[..3], &[0, 0, 1]);
    let ts = |b: &[u8]| (u64::from(b[0] & 0x0E) << 29) | (u64::from(b[1]) << 22) | (u64::from(b[2] & 0xFE) << 14) | (u64::from(b[3]) << 7) | (u64::from(b[4]) >> 1);
    assert_eq!(pes[7] >> 6, 0b11, "PTS and DTS present");
    // The wall clock in 90 kHz modulo 2^33: two servers on one timeline write the same PTS.
    let at = |ms: i64| (ms as u64 * 90) & ((1 << 33) - 1);
    assert_eq!(ts(&pes[9..14]), at(T0 + 80), "PTS = DTS + composition time");
    assert_eq!(ts(&pes[14..19]), at(T0));
}

#[test]
fn a_gap_closes_the_segment_and_the_next_keyframe_starts_a_discontinuity() {
    let mut s = av_segmenter(2000);
    let mut segments = feed(&mut s, &av_frames(0, 3000, 25));
    // The bus dropped frames from 3000 to 5000 ms: we get told after the batch.
    s.handle_gap();
    segments.extend(drain(&mut s));
    // Frames after the gap before a keyframe are skipped; 5 s is a keyframe.
    segments.extend(feed(&mut s, &av_frames(4900, 8000, 25)));
    // The cut-short segment ends with its last audio frame (2990 + 23 ms).
    assert_eq!(durations(&segments), vec![2000, 1013, 1000]);
    assert_eq!(segments.iter().map(|s| (s.seq, s.discontinuity)).collect::<Vec<_>>(), vec![(SLOT0, false), (SLOT0 + 1, false), (SLOT0 + 2, true)]);
    assert_eq!(segments[2].start_wall_ms, T0 + 5000 + CTS_MS);
}

#[test]
fn a_republish_continues_the_numbering_behind_a_discontinuity() {
    let mut s = av_segmenter(2000);
    let mut segments = feed(&mut s, &av_frames(0, 4100, 25));
    s.handle_end();
    segments.extend(drain(&mut s));
    // The encoder comes back 30 s later with the same codecs (ingest put it on the timeline).
    s.handle_restart();
    s.handle_frame(&config(MediaKind::Video, AVC_SEQ_360));
    s.handle_frame(&config(MediaKind::Audio, AAC_SEQ));
    segments.extend(feed(&mut s, &av_frames(30_000, 34_100, 25)));
    // Numbering jumps to the slot of the new start: the numbers keep naming wall-clock slots.
    let expected = vec![(SLOT0, false), (SLOT0 + 1, false), (SLOT0 + 2, false), (SLOT0 + 15, true), (SLOT0 + 16, false)];
    assert_eq!(segments.iter().map(|s| (s.seq, s.discontinuity)).collect::<Vec<_>>(), expected);
    assert_eq!(durations(&segments), vec![2000, 2000, 120, 2000, 2000]);
    assert_eq!(segments[3].start_wall_ms, T0 + 30_000 + CTS_MS);
    assert!(sync_point(&segments[3]).contains(&format!("\"id\":\"0_abcd1234_1_{}\"", SLOT0 + 15)));
}

#[test]
fn a_codec_change_cuts_at_the_next_keyframe_with_a_discontinuity() {
    let mut s = av_segmenter(6000);
    let mut segments = feed(&mut s, &av_frames(0, 1500, 25));
    // The same sequence header again changes nothing.
    s.handle_frame(&config(MediaKind::Video, AVC_SEQ_360));
    segments.extend(feed(&mut s, &av_frames(1500, 2500, 25)));
    assert!(segments.is_empty());
    s.handle_frame(&config(MediaKind::Video, AVC_SEQ_720));
    segments.extend(feed(&mut s, &av_frames(2500, 3500, 25)));
    assert_eq!(durations(&segments), vec![3000]);
    s.handle_end();
    let rest = drain(&mut s);
    assert!(rest[0].discontinuity);
    assert_eq!((s.media().width, s.media().height), (1280, 720));
}

#[test]
fn a_timestamp_jump_starts_a_new_timeline() {
    let mut s = av_segmenter(2000);
    let mut segments = feed(&mut s, &av_frames(0, 2500, 25));
    segments.extend(feed(&mut s, &av_frames(60_000, 62_500, 25)));
    assert_eq!(durations(&segments), vec![2000, 520, 2000]);
    assert!(segments[2].discontinuity);
    assert_eq!(segments[2].start_wall_ms, T0 + 60_000 + CTS_MS);
    assert_eq!(segments[2].seq, SLOT0 + 30);
}

#[test]
fn audio_only_streams_cut_on_audio_frames() {
    let mut s = Segmenter::new("radio", 2000);
    s.handle_frame(&config(MediaKind::Audio, AAC_SEQ));
    let frames: Vec<Frame> = (0..300).map(|i| audio(i * 23)).collect();
    let segments = feed(&mut s, &frames);
    // Audio frames at 23 ms steps: the first at or after 2000 is 2001 (87 × 23).
    assert_eq!(durations(&segments), vec![2001, 2001, 2001]);
    assert!(segments.iter().all(|s| s.video_frames == 0));
    assert_eq!(&pids(&segments[0])[..2], &[0, 0x1000]);
    assert!(s.media().video_codec.is_none());
}

#[test]
fn nothing_is_written_before_the_first_keyframe() {
    let mut s = av_segmenter(2000);
    let mut frames = vec![video(0, false, 0), audio(10)];
    frames.extend(av_frames(1000, 3100, 25));
    let segments = feed(&mut s, &frames);
    assert_eq!(durations(&segments), vec![1000]);
    assert_eq!(segments[0].start_wall_ms, T0 + 1000 + CTS_MS, "dated by the first keyframe shown");
}

#[test]
fn timestamps_wrap_at_32_bits() {
    let mut e = TimestampExtender::default();
    assert_eq!(e.extend(u32::MAX - 10), (i64::from(u32::MAX - 10), 0));
    assert_eq!(e.extend(5), (i64::from(u32::MAX) + 6, 16));
    assert_eq!(e.extend(2), (i64::from(u32::MAX) + 3, -3));
}

#[test]
fn iso8601() {
    assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601_ms(T0 + 5_025), "2024-01-01T00:00:05.025Z");
    assert_eq!(iso8601_ms(951_782_400_000 + 86_399_999), "2000-02-29T23:59:59.999Z");
    assert_eq!(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
}

fn segment(seq: u64, duration_ms: u64, discontinuity: bool, bytes: usize) -> Segment {
    Segment { seq, duration_ms, start_wall_ms: T0 + seq as i64 * 2000, discontinuity, video_frames: 50, data: Bytes::from(vec![0x47; bytes]) }
}

fn window(playlist_segments: usize, kept_segments: usize, dvr_window_ms: Option<u64>) -> Window {
    Window { target_duration_ms: 2000, playlist_segments, kept_segments, dvr_window_ms }
}

#[test]
fn media_playlist_text() {
    let mut p = Playlist::new(window(3, 5, None));
    let media = MediaInfo::default();
    assert!(p.media_playlist(false).is_none(), "nothing to list before the first segment");
    for seg in [segment(0, 2000, false, 188), segment(1, 2002, false, 188), segment(2, 1500, true, 188), segment(3, 2000, false, 188)] {
        p.push(seg, &media);
    }
    let live = p.media_playlist(false).unwrap();
    assert_eq!(
        std::str::from_utf8(&live).unwrap(),
        "#EXTM3U\n\
         #EXT-X-VERSION:3\n\
         #EXT-X-TARGETDURATION:2\n\
         #EXT-X-MEDIA-SEQUENCE:1\n\
         #EXT-X-DISCONTINUITY-SEQUENCE:0\n\
         #EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:02.000Z\n\
         #EXTINF:2.002,\n\
         seg-1.ts\n\
         #EXT-X-DISCONTINUITY\n\
         #EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:04.000Z\n\
         #EXTINF:1.500,\n\
         seg-2.ts\n\
         #EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:06.000Z\n\
         #EXTINF:2.000,\n\
         seg-3.ts\n"
    );
    // The DVR playlist lists everything kept.
    let dvr = p.media_playlist(true).unwrap();
    assert!(std::str::from_utf8(&dvr).unwrap().contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    // A long segment raises the target duration for good (rounded to the nearest second).
    p.push(segment(4, 3600, false, 188), &media);
    p.push(segment(5, 2000, false, 188), &media);
    let text = p.media_playlist(false).unwrap();
    let text = std::str::from_utf8(&text).unwrap();
    assert!(text.contains("#EXT-X-TARGETDURATION:4\n"), "{text}");
    // Segment 2 (with the discontinuity) left the live window: the sequence counts it.
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
}

#[test]
fn expired_segments_are_dropped_and_no_longer_served() {
    let mut p = Playlist::new(window(3, 5, None));
    for i in 0..8 {
        p.push(segment(i, 2000, i == 1, 100), &MediaInfo::default());
    }
    assert_eq!(p.segments().map(|s| s.seq).collect::<Vec<_>>(), vec![3, 4, 5, 6, 7]);
    assert!(p.segment("seg-2.ts").is_none());
    assert_eq!(p.segment("seg-3.ts").unwrap().len(), 100);
    assert!(p.segment("seg-8.ts").is_none());
    assert!(p.segment("seg-x.ts").is_none());
    let dvr = p.media_playlist(true).unwrap();
    // The discontinuity of segment 1 was removed with it.
    assert!(std::str::from_utf8(&dvr).unwrap().contains("#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
}

#[test]
fn the_dvr_window_keeps_what_is_inside_it() {
    let mut p = Playlist::new(window(3, 5, Some(30_000)));
    for i in 0..40 {
        p.push(segment(i, 2000, false, 100), &MediaInfo::default());
    }
    // 30 s of 2 s segments: the newest 15 are kept.
    assert_eq!(p.segments().len(), 15);
    assert_eq!(p.segments().next().unwrap().seq, 25);
    let live = p.media_playlist(false).unwrap();
    assert_eq!(std::str::from_utf8(&live).unwrap().matches("#EXTINF").count(), 3);
    let dvr = p.media_playlist(true).unwrap();
    let dvr = std::str::from_utf8(&dvr).unwrap();
    assert_eq!(dvr.matches("#EXTINF").count(), 15);
    assert!(dvr.contains("#EXT-X-MEDIA-SEQUENCE:25\n"));
    // A window shorter than the kept count keeps the kept count.
    let mut p = Playlist::new(window(3, 5, Some(1000)));
    for i in 0..10 {
        p.push(segment(i, 2000, false, 100), &MediaInfo::default());
    }
    assert_eq!(p.segments().len(), 5);
}

#[test]
fn bandwidth_is_measured_over_the_live_window() {
    let mut p = Playlist::new(window(3, 5, None));
    // A short first segment with a big keyframe does not set the peak.
    p.push(segment(0, 200, false, 100_000), &MediaInfo::default());
    assert_eq!(p.bandwidth(), Some(Bandwidth { peak: 4_000_000, average: 4_000_000 }));
    p.push(segment(1, 2000, false, 250_000), &MediaInfo::default());
    p.push(segment(2, 2000, false, 500_000), &MediaInfo::default());
    assert_eq!(p.bandwidth(), Some(Bandwidth { peak: 2_000_000, average: (850_000 * 8 * 1000u64).div_ceil(4200) }));
}

#[test]
fn master_playlist_text() {
    let media = MediaInfo {
        video_codec: Some("avc1.64001f".into()),
        audio_codec: Some("mp4a.40.2".into()),
        width: 1280,
        height: 720,
        frame_rate: Some(30.0),
    };
    let mut hd = Playlist::new(window(3, 5, None));
    hd.push(segment(0, 2000, false, 500_000), &media);
    let sd_media = MediaInfo { width: 640, height: 360, frame_rate: None, ..media.clone() };
    let mut sd = Playlist::new(window(3, 5, None));
    sd.push(segment(0, 2000, false, 125_000), &sd_media);
    let radio_media = MediaInfo { audio_codec: Some("mp4a.40.5".into()), ..MediaInfo::default() };
    let mut radio = Playlist::new(window(3, 5, None));
    radio.push(Segment { video_frames: 0, ..segment(0, 2000, false, 16_000) }, &radio_media);
    let mut variants: Vec<Variant> =
        [(&radio, "../e_0/playlist.m3u8?DVR"), (&sd, "../e_2/playlist.m3u8?DVR"), (&hd, "../e_1/playlist.m3u8?DVR")].into_iter().filter_map(|(p, uri)| p.variant(uri.into())).collect();
    assert_eq!(
        render_master(&mut variants),
        "#EXTM3U\n\
         #EXT-X-VERSION:3\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720,FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
         ../e_1/playlist.m3u8?DVR\n\
         #EXT-X-STREAM-INF:BANDWIDTH=500000,AVERAGE-BANDWIDTH=500000,RESOLUTION=640x360,FRAME-RATE=25.000,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
         ../e_2/playlist.m3u8?DVR\n\
         #EXT-X-STREAM-INF:BANDWIDTH=64000,AVERAGE-BANDWIDTH=64000,CODECS=\"mp4a.40.5\"\n\
         ../e_0/playlist.m3u8?DVR\n"
    );
}

#[test]
fn segmenter_output_feeds_the_playlist() {
    let mut s = av_segmenter(2000);
    let mut p = Playlist::new(window(10, 20, None));
    for seg in feed(&mut s, &av_frames(0, 9000, 25)) {
        p.push(seg, s.media());
    }
    let text = p.media_playlist(false).unwrap();
    let text = std::str::from_utf8(&text).unwrap();
    assert_eq!(text.matches("#EXTINF:2.000,").count(), 4);
    assert!(text.contains(&format!("#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:06.080Z\n#EXTINF:2.000,\nseg-{}.ts\n", SLOT0 + 3)));
    let v = p.variant("x".into()).unwrap();
    assert_eq!(v.codecs, "avc1.42c01e,mp4a.40.2");
    assert_eq!(v.resolution, Some((640, 360)));
    assert_eq!(s.next_seq(), Some(SLOT0 + 4));
}

#[test]
fn options_and_names() {
    assert_eq!(HlsOptions::target_for_segment_duration(4000), 4000);
    assert_eq!(HlsOptions::target_for_segment_duration(999), 6000);
    assert_eq!(HlsOptions::target_for_segment_duration(20_001), 6000);
    assert_eq!(HlsOptions::target_for_segment_duration(20_000), 20_000);
    assert_eq!(split_entry_flavors("0_abcd1234_32_33"), Some(("0_abcd1234", "32_33")));
    assert_eq!(split_entry_flavors("0_abcd1234"), None);
    assert_eq!(split_entry_flavors("mygroup_1_2"), None);
}

#[test]
fn hevc_over_enhanced_rtmp_is_packaged() {
    const HVCC_360: &[u8] = include_bytes!("../../../media/testdata/hevc_360.hvcC");
    let enhanced = |frame_type: u8, packet_type: u8, body: &[u8]| {
        let mut tag = vec![0x80 | frame_type << 4 | packet_type];
        tag.extend_from_slice(b"hvc1");
        tag.extend_from_slice(body);
        Bytes::from(tag)
    };
    let mut s = Segmenter::new("hevc", 2000);
    s.handle_frame(&Frame { kind: MediaKind::Video, timestamp: T0, payload: enhanced(1, 0, HVCC_360), keyframe: false, config: true, discontinuity: false });
    for i in 0..125u32 {
        let key = i % 25 == 0;
        // CodedFrames with a zero composition time: an IDR_W_RADL or a TRAIL_R slice.
        let nal: &[u8] = if key { &[0x26, 0x01, 0xAF] } else { &[0x02, 0x01, 0xD0] };
        let mut body = vec![0, 0, 0];
        body.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        body.extend_from_slice(nal);
        let frame = Frame { kind: MediaKind::Video, timestamp: T0 + i64::from(i * 40), payload: enhanced(if key { 1 } else { 2 }, 1, &body), keyframe: key, config: false, discontinuity: false };
        s.handle_frame(&frame);
    }
    let segments = drain(&mut s);
    assert_eq!(durations(&segments), vec![2000, 2000]);
    assert!(s.media().video_codec.as_deref().unwrap().starts_with("hvc1.1."));
    assert_eq!((s.media().width, s.media().height), (640, 360));
    // The keyframe carries VPS, SPS and PPS in-band after the access unit delimiter.
    let data = &segments[1].data[..];
    let aud = data.windows(7).position(|w| w == [0, 0, 0, 1, 0x46, 0x01, 0x50]).expect("an HEVC AUD");
    assert_eq!(&data[aud + 7..aud + 12], &[0, 0, 0, 1, 0x40], "a VPS follows");
    assert_eq!(s.rejected_frames(), 0);
}

#[test]
fn a_stream_without_keyframes_is_cut_at_the_hard_cap_behind_discontinuities() {
    // One keyframe, then none for 20 s: segments are cut at 3 × the 2 s target anyway.
    let mut s = av_segmenter(2000);
    let mut segments = feed(&mut s, &av_frames(0, 20_000, 100_000));
    s.handle_end();
    segments.extend(drain(&mut s));
    let d = durations(&segments);
    assert!(segments.len() >= 3, "{d:?}");
    for (i, seg) in segments.iter().enumerate() {
        assert!(seg.duration_ms <= 6000 + 40, "segment {i} is {} ms", seg.duration_ms);
        assert_eq!(seg.discontinuity, i > 0, "segment {i}");
        assert!(seg.video_frames > 0 && seg.data.len() % 188 == 0);
    }
    assert_eq!(d.iter().sum::<u64>() / 1000, 20, "{d:?}");
}
