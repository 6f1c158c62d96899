//! FLV frames in, finished MPEG-TS segments out. Sans-IO: the caller feeds the bus's
//! frames ([`Segmenter::handle_frame`]), reports lost frames, a new
//! publish and the end ([`Segmenter::handle_gap`], [`Segmenter::handle_restart`],
//! [`Segmenter::handle_end`]), and drains segments with [`Segmenter::poll_segment`].
//!
//! # Cutting
//! A segment starts at a video keyframe (audio-only streams: at any audio frame) whose
//! presentation time has crossed a multiple of the target duration since the segment's
//! start. Frames carry the wall-clock timeline of [`crate::timeline`], so this grid is
//! the same for every rendition of an entry and for a primary and a backup server fed by
//! one encoder: they cut on the same frames. A segment is never cut between keyframes:
//! with a GOP longer than the target, segments are one GOP long, up to a hard cap: a
//! segment that reaches [`HARD_CAP_TARGETS`] × the target or [`HARD_CAP_BYTES`] without a
//! keyframe (a passthrough publisher that sends none) is cut on any frame, and the next one
//! starts behind a discontinuity, so no publisher grows one segment without bound.
//!
//! # Numbering
//! The first segment (and the first after a restart that left a gap) is numbered by its
//! grid slot, `start / target`; the next ones count on from it. With GOPs no longer than
//! the target that is the slot of every segment, so two servers name the same content
//! with the same media sequence number, and numbers never repeat across restarts.
//!
//! # Timestamps
//! The timeline's milliseconds become 90 kHz DTS (modulo 2^33 in the TS layer); PTS = DTS
//! + composition time. Program date time and sync points are the same milliseconds. A
//! frame flagged as a discontinuity by ingest, or a step over [`MAX_TIMESTAMP_JUMP_MS`],
//! closes the segment and continues behind a discontinuity.
//!
//! # Timed metadata
//! `onMetaDataRecording` data messages (the recording sync points) are written as ID3
//! `TEXT` frames at their presentation time.
//!
//! # Each segment
//! PAT + PMT, an ID3 tag with `{"objectType":"KalturaSyncPoint","timestamp":<wall ms>,
//! "id":"<stream>_<seq>"}`, then the keyframe with the parameter sets of the sequence
//! header in-band (every keyframe gets them), then the media. AAC frames are grouped
//! into PES packets of up to ~60 ms to save TS overhead.
//!
//! No allocation per frame: the segment buffer grows (starting at the previous
//! segment's size), the audio batch buffer is reused.

use super::playlist::Segment;
use crate::bus::Frame;
use crate::timeline::ms_to_90k;
use rtmp_proto::amf::{amf0, AmfValue};
use bytes::Bytes;
use media::aac::{parse_audio_specific_config, AacConfig};
use media::audio;
use media::avc::parse_avc_decoder_config;
use media::hevc::parse_hevc_decoder_config;
use media::video::{self, VideoCodec, VideoPacketKind};
use rtmp_proto::session::MediaKind;
use media::ts::convert::{adts_header, id3_text_tag, ADTS_HEADER_LEN, ADTS_MAX_PAYLOAD};
use media::ts::{TsConfig, TsMuxer, VideoStreamKind, MAX_BOUNDED_PES_PAYLOAD};
use std::collections::VecDeque;

/// A step of the timeline larger than this between two frames (it should never happen
/// after ingest's resync, except across a republish) starts over behind a discontinuity.
pub const MAX_TIMESTAMP_JUMP_MS: i64 = 10_000;
/// A segment is cut without a keyframe once it spans this many target durations...
pub const HARD_CAP_TARGETS: i64 = 3;
/// ...or holds this many bytes.
pub const HARD_CAP_BYTES: usize = 32 * 1024 * 1024;
/// Audio frames are grouped into one PES until the group spans this long.
const AUDIO_GROUP_MS: i64 = 60;
/// Parameter sets written in-band on keyframes, at most.
const MAX_PARAMETER_SETS: usize = 16;

/// What the stream carries, for master playlists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaInfo {
    /// RFC 6381 video codec (`avc1.64001f`, `hvc1.1.6.L93.B0`).
    pub video_codec: Option<String>,
    /// RFC 6381 audio codec (`mp4a.40.2`).
    pub audio_codec: Option<String>,
    /// Coded width, 0 when unknown.
    pub width: u32,
    /// Coded height, 0 when unknown.
    pub height: u32,
    /// Frame rate from the SPS timing info.
    pub frame_rate: Option<f64>,
}

#[derive(Debug)]
struct VideoTrack {
    kind: VideoStreamKind,
    codec: VideoCodec,
    nal_length_size: u8,
    /// VPS/SPS/PPS in that order.
    parameter_sets: Vec<Vec<u8>>,
    /// The configuration record as received, to recognise a repeat.
    record: Vec<u8>,
}

#[derive(Debug)]
struct AudioTrack {
    config: AacConfig,
    asc: Vec<u8>,
}

#[derive(Debug)]
struct OpenSegment {
    seq: u64,
    start_ms: i64,
    /// Time on the cutting grid: the opening keyframe's presentation time.
    grid_ms: i64,
    start_wall_ms: i64,
    discontinuity: bool,
    buf: Vec<u8>,
    video_frames: u32,
    audio_frames: u32,
    /// Media time just past the last frame written.
    end_ms: i64,
    /// Its number came from the grid (first segment, or after a restart).
    renumbered: bool,
}

#[derive(Debug, Default)]
struct AudioGroup {
    buf: Vec<u8>,
    start_ms: i64,
    frames: u32,
}

/// Turns one live stream into TS segments. See the module docs.
#[derive(Debug)]
pub struct Segmenter {
    stream_name: String,
    target_ms: i64,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    media: MediaInfo,
    muxer: Option<TsMuxer>,
    open: Option<OpenSegment>,
    /// Number of the next segment; `None` until the first (numbered from the grid).
    next_seq: Option<u64>,
    /// The next segment may jump ahead to its grid slot (a restart left a gap).
    renumber: bool,
    last_ms: Option<i64>,
    /// The next segment gets a discontinuity tag.
    pending_discontinuity: bool,
    /// Cut at the next opportunity whatever the grid says (codec change).
    force_cut: bool,
    /// Frames were lost: skip to the next keyframe.
    wait_keyframe: bool,
    video_step_ms: i64,
    audio_step_ms: i64,
    last_video_ms: Option<i64>,
    last_audio_ms: Option<i64>,
    audio_group: AudioGroup,
    capacity_hint: usize,
    ready: VecDeque<Segment>,
    /// Frames that could not be muxed (malformed), for stats.
    rejected: u64,
}

impl Segmenter {
    /// A segmenter for `stream_name` (used in the sync point ids) cutting at
    /// `target_duration_ms`.
    pub fn new(stream_name: &str, target_duration_ms: u64) -> Self {
        Segmenter {
            stream_name: stream_name.to_string(),
            target_ms: target_duration_ms.max(1) as i64,
            video: None,
            audio: None,
            media: MediaInfo::default(),
            muxer: None,
            open: None,
            next_seq: None,
            renumber: false,
            last_ms: None,
            pending_discontinuity: false,
            force_cut: false,
            wait_keyframe: false,
            video_step_ms: 0,
            audio_step_ms: 0,
            last_video_ms: None,
            last_audio_ms: None,
            audio_group: AudioGroup::default(),
            capacity_hint: 64 * 1024,
            ready: VecDeque::new(),
            rejected: 0,
        }
    }

    /// Change the target duration (applies to the next cut).
    pub fn set_target_duration(&mut self, target_duration_ms: u64) {
        self.target_ms = target_duration_ms.max(1) as i64;
    }

    /// Codecs, resolution and frame rate of the stream.
    pub fn media(&self) -> &MediaInfo {
        &self.media
    }

    /// Frames dropped because they could not be parsed or muxed.
    pub fn rejected_frames(&self) -> u64 {
        self.rejected
    }

    /// Sequence number the next segment will get.
    #[cfg(test)]
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    /// Feed one frame of the media bus.
    pub fn handle_frame(&mut self, frame: &Frame) {
        match (frame.kind, frame.config) {
            (MediaKind::Data, true) => {}
            (MediaKind::Data, false) => self.data_frame(frame),
            (MediaKind::Video, true) => self.video_config(&frame.payload),
            (MediaKind::Audio, true) => self.audio_config(&frame.payload),
            (MediaKind::Video, false) => {
                let ms = self.media_time(frame);
                self.video_frame(ms, frame);
            }
            (MediaKind::Audio, false) => {
                let ms = self.media_time(frame);
                self.audio_frame(ms, frame);
            }
        }
    }

    /// Frames were lost before the next frame fed (a slow subscriber dropped to the next
    /// keyframe): close the open segment; the next one starts at a keyframe behind a
    /// discontinuity.
    pub fn handle_gap(&mut self) {
        self.close_at_end();
        self.mark_discontinuity();
        self.wait_keyframe = true;
    }

    /// The stream was published again under the same name: close the open segment and
    /// continue the numbering on a new timeline behind a discontinuity.
    pub fn handle_restart(&mut self) {
        self.close_at_end();
        self.mark_discontinuity();
        self.renumber = true;
        self.last_ms = None;
    }

    /// The stream ended: close the open segment.
    pub fn handle_end(&mut self) {
        self.close_at_end();
    }

    /// The next finished segment, in order.
    pub fn poll_segment(&mut self) -> Option<Segment> {
        self.ready.pop_front()
    }

    fn mark_discontinuity(&mut self) {
        // Only meaningful between two segments.
        if self.next_seq.is_some() || self.open.is_some() {
            self.pending_discontinuity = true;
        }
    }

    /// The frame's time; a resync or a jump closes the segment behind a discontinuity.
    fn media_time(&mut self, frame: &Frame) -> i64 {
        let ms = frame.timestamp;
        let jumped = self.last_ms.is_some_and(|last| (ms - last).abs() > MAX_TIMESTAMP_JUMP_MS);
        if frame.discontinuity || jumped {
            self.close_at_end();
            self.mark_discontinuity();
            self.renumber = true;
            self.last_video_ms = None;
            self.last_audio_ms = None;
            self.wait_keyframe = self.video.is_some();
        }
        self.last_ms = Some(ms);
        ms
    }

    /// A recording sync point becomes an ID3 `TEXT` frame in the open segment.
    fn data_frame(&mut self, frame: &Frame) {
        const NAME: &[u8] = b"onMetaDataRecording";
        // AMF0 string marker, u16 length, then the name: checked before decoding anything.
        let p = &frame.payload;
        if p.len() < 3 + NAME.len() || p[0] != 0x02 || &p[3..3 + NAME.len()] != NAME {
            return;
        }
        let Ok(values) = amf0::decode_all(p) else { return };
        let Some(json) = values.get(1).map(AmfValue::to_json) else { return };
        if let (Some(muxer), Some(open)) = (&mut self.muxer, &mut self.open) {
            let _ = muxer.write_timed_metadata(&mut open.buf, ms_to_90k(frame.timestamp), &id3_text_tag(&json));
        }
    }

    fn video_config(&mut self, payload: &[u8]) {
        let Ok(info) = video::parse_video_tag(payload) else { return };
        let Some(record) = video::sequence_header_payload(payload) else { return };
        if self.video.as_ref().is_some_and(|v| v.record == record) {
            return; // a repeat (late-joiner replay, periodic resend)
        }
        let parsed = match info.codec {
            VideoCodec::H264 => parse_avc_decoder_config(record).ok().map(|c| {
                let media = (c.codec_string(), c.width, c.height, c.frame_rate);
                (VideoStreamKind::H264, c.nal_length_size, c.sps.into_iter().chain(c.pps).collect::<Vec<_>>(), media)
            }),
            VideoCodec::Hevc => parse_hevc_decoder_config(record).ok().map(|c| {
                let media = (c.codec_string(), c.width, c.height, c.frame_rate);
                (VideoStreamKind::Hevc, c.nal_length_size, c.vps.into_iter().chain(c.sps).chain(c.pps).collect::<Vec<_>>(), media)
            }),
            // AV1, VP9 and the rest have no place in these TS segments.
            _ => None,
        };
        let Some((kind, nal_length_size, parameter_sets, (codec, width, height, frame_rate))) = parsed else {
            self.rejected += 1;
            return;
        };
        let had = self.video.is_some();
        self.video = Some(VideoTrack { kind, codec: info.codec, nal_length_size, parameter_sets, record: record.to_vec() });
        self.media.video_codec = Some(codec);
        (self.media.width, self.media.height, self.media.frame_rate) = (width, height, frame_rate);
        if had || self.open.is_some() {
            self.force_cut = true;
            self.mark_discontinuity();
        }
    }

    fn audio_config(&mut self, payload: &[u8]) {
        let Some(asc) = audio::aac_sequence_header_payload(payload) else { return };
        if self.audio.as_ref().is_some_and(|a| a.asc == asc) {
            return;
        }
        let Ok(config) = parse_audio_specific_config(asc) else {
            self.rejected += 1;
            return;
        };
        let had = self.audio.is_some();
        self.audio = Some(AudioTrack { config, asc: asc.to_vec() });
        self.media.audio_codec = Some(config.codec_string());
        if had || self.open.is_some() {
            self.force_cut = true;
            self.mark_discontinuity();
        }
    }

    fn crosses_grid(&self, ms: i64) -> bool {
        self.open.as_ref().is_some_and(|o| ms.div_euclid(self.target_ms) > o.grid_ms.div_euclid(self.target_ms))
    }

    fn video_frame(&mut self, ms: i64, frame: &Frame) {
        let Some(track) = &self.video else { return };
        let Ok(info) = video::parse_video_tag(&frame.payload) else {
            self.rejected += 1;
            return;
        };
        if info.kind != VideoPacketKind::Frame || info.codec != track.codec {
            return;
        }
        let Some(body) = video::payload(&frame.payload) else { return };
        if let Some(last) = self.last_video_ms {
            if ms > last {
                self.video_step_ms = ms - last;
            }
        }
        self.last_video_ms = Some(ms);
        let keyframe = frame.keyframe || info.keyframe;
        if keyframe {
            // Decide on presentation time: renditions of one source share their keyframes' PTS,
            // while their DTS differ by each encoder's B-frame delay, so a DTS decision can put
            // one rendition's cut a GOP later than the others'.
            let pts_ms = ms + i64::from(info.composition_time);
            if self.open.is_none() || self.wait_keyframe || self.force_cut || self.crosses_grid(pts_ms) {
                self.cut_at(ms, pts_ms);
            }
        } else if self.open.is_none() || self.wait_keyframe {
            return;
        } else if self.over_hard_cap(ms) {
            self.cut_without_keyframe(ms);
        }
        let (Some(track), Some(muxer), Some(open)) = (&self.video, &mut self.muxer, &mut self.open) else { return };
        let mut sets: [&[u8]; MAX_PARAMETER_SETS] = [&[]; MAX_PARAMETER_SETS];
        let n = track.parameter_sets.len().min(MAX_PARAMETER_SETS);
        for (slot, ps) in sets.iter_mut().zip(&track.parameter_sets) {
            *slot = ps;
        }
        let dts = ms_to_90k(ms);
        let pts = ms_to_90k(ms + i64::from(info.composition_time));
        let parameter_sets = keyframe.then_some(&sets[..n]);
        match muxer.write_video_avcc(&mut open.buf, pts, dts, keyframe, body, track.nal_length_size, parameter_sets) {
            Ok(()) => {
                open.video_frames += 1;
                open.end_ms = open.end_ms.max(ms + self.video_step_ms.max(1));
            }
            Err(_) => self.rejected += 1,
        }
    }

    fn audio_frame(&mut self, ms: i64, frame: &Frame) {
        if self.audio.is_none() {
            return;
        }
        let raw = match audio::aac_frame(&frame.payload) {
            Ok(Some(raw)) => raw,
            Ok(None) => return,
            Err(_) => {
                self.rejected += 1;
                return;
            }
        };
        if raw.is_empty() || raw.len() > ADTS_MAX_PAYLOAD {
            self.rejected += 1;
            return;
        }
        if let Some(last) = self.last_audio_ms {
            if ms > last {
                self.audio_step_ms = ms - last;
            }
        }
        self.last_audio_ms = Some(ms);
        if self.video.is_some() {
            // Video leads: audio waits for the first keyframe.
            if self.open.is_none() || self.wait_keyframe {
                return;
            }
            if self.over_hard_cap(ms) {
                self.cut_without_keyframe(ms);
            }
        } else if self.open.is_none() || self.wait_keyframe || self.force_cut || self.crosses_grid(ms) {
            self.cut(ms);
        }
        let group_full = self.audio_group.frames > 0
            && (ms - self.audio_group.start_ms >= AUDIO_GROUP_MS
                || self.audio_group.buf.len() + ADTS_HEADER_LEN + raw.len() > MAX_BOUNDED_PES_PAYLOAD);
        if group_full {
            self.flush_audio();
        }
        let Some(track) = &self.audio else { return };
        if self.audio_group.frames == 0 {
            self.audio_group.start_ms = ms;
        }
        self.audio_group.buf.extend_from_slice(&adts_header(&track.config, raw.len()));
        self.audio_group.buf.extend_from_slice(raw);
        self.audio_group.frames += 1;
        if let Some(open) = &mut self.open {
            open.audio_frames += 1;
            open.end_ms = open.end_ms.max(ms + self.audio_step_ms.max(1));
        }
    }

    fn flush_audio(&mut self) {
        if self.audio_group.frames == 0 {
            return;
        }
        if let (Some(muxer), Some(open)) = (&mut self.muxer, &mut self.open) {
            if muxer.write_audio(&mut open.buf, ms_to_90k(self.audio_group.start_ms), &self.audio_group.buf).is_err() {
                self.rejected += u64::from(self.audio_group.frames);
            }
        }
        self.audio_group.buf.clear();
        self.audio_group.frames = 0;
    }

    /// The open segment has reached the hard cap (see the module docs).
    fn over_hard_cap(&self, ms: i64) -> bool {
        self.open.as_ref().is_some_and(|o| {
            ms - o.start_ms >= HARD_CAP_TARGETS * self.target_ms || o.buf.len() + self.audio_group.buf.len() >= HARD_CAP_BYTES
        })
    }

    /// Cut at a frame that is not a keyframe: the next segment cannot be decoded from its
    /// start, so it is marked as a discontinuity.
    fn cut_without_keyframe(&mut self, ms: i64) {
        self.close(ms);
        self.pending_discontinuity = true;
        self.open_segment(ms, ms);
    }

    /// Close the open segment at `ms` and open the next one there.
    fn cut(&mut self, ms: i64) {
        self.cut_at(ms, ms);
    }

    /// Close the open segment at `ms` (decode time) and open the next; `grid_ms` places it on
    /// the cutting grid.
    fn cut_at(&mut self, ms: i64, grid_ms: i64) {
        self.close(ms);
        self.open_segment(ms, grid_ms);
    }

    fn close_at_end(&mut self) {
        if let Some(end) = self.open.as_ref().map(|o| o.end_ms) {
            self.close(end);
        }
    }

    fn close(&mut self, end_ms: i64) {
        self.flush_audio();
        let Some(open) = self.open.take() else { return };
        if open.video_frames == 0 && open.audio_frames == 0 {
            // Nothing but headers: drop it, carrying its discontinuity; the next segment is
            // numbered as this one would have been.
            self.pending_discontinuity |= open.discontinuity;
            self.renumber |= open.renumbered;
            return;
        }
        self.capacity_hint = open.buf.len() + open.buf.len() / 8;
        self.ready.push_back(Segment {
            seq: open.seq,
            duration_ms: (end_ms - open.start_ms).max(0) as u64,
            start_wall_ms: open.start_wall_ms,
            discontinuity: open.discontinuity,
            video_frames: open.video_frames,
            data: Bytes::from(open.buf),
        });
        self.next_seq = Some(open.seq + 1);
    }

    fn open_segment(&mut self, ms: i64, grid_ms: i64) {
        let layout = TsConfig { video: self.video.as_ref().map(|v| v.kind), audio: self.audio.is_some(), timed_metadata: true };
        let mut discontinuity = std::mem::take(&mut self.pending_discontinuity);
        match &self.muxer {
            Some(m) if m.config() == layout => {}
            previous => {
                discontinuity |= previous.is_some();
                self.muxer = Some(TsMuxer::new(layout));
            }
        }
        let muxer = self.muxer.as_mut().expect("set above");
        let slot = grid_ms.div_euclid(self.target_ms).max(0) as u64;
        let renumbered = self.next_seq.is_none() || self.renumber;
        let seq = match self.next_seq {
            Some(next) if !(self.renumber && slot > next) => next,
            _ => slot,
        };
        self.renumber = false;
        // EXT-X-PROGRAM-DATE-TIME dates the first frame shown: the opening keyframe's
        // presentation time, the same in every rendition whatever its B-frame delay.
        let start_wall_ms = grid_ms;
        let mut buf = Vec::with_capacity(self.capacity_hint);
        muxer.begin_segment(&mut buf);
        let sync_point = format!(
            "{{\"objectType\":\"KalturaSyncPoint\",\"timestamp\":{start_wall_ms},\"id\":\"{}_{seq}\"}}",
            json_escape(&self.stream_name)
        );
        let _ = muxer.write_timed_metadata(&mut buf, ms_to_90k(ms), &id3_text_tag(&sync_point));
        self.open = Some(OpenSegment {
            seq,
            start_ms: ms,
            grid_ms,
            start_wall_ms,
            discontinuity,
            buf,
            video_frames: 0,
            audio_frames: 0,
            end_ms: ms,
            renumbered,
        });
        self.force_cut = false;
        self.wait_keyframe = false;
    }
}

/// Escape a string for a JSON string literal (stream names are tame, but not trusted).
fn json_escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}
