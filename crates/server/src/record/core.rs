//! The recorder's decisions, free of I/O: bus frames in, file operations out
//! ([`FileOp`]), which the task in [`super`] carries out in order.
//!
//! A segment opens at a video keyframe (audio-only streams: at an audio frame) and is
//! cut at the first keyframe whose presentation time enters the next slot of
//! `segment_ms` counted from `origin_ms` (the entry's timeline base), so every rendition
//! of an entry cuts its recording on the same frames. A codec configuration change cuts
//! at the next keyframe. A fragment is written before each keyframe and at least every
//! `fragment_ms`, so a crash loses at most that much.
//!
//! With sync points on (the entry records: [`SyncPoints`]) each segment also gets a data
//! track of `onMetaDataRecording` `KalturaSyncPoint` messages, the way Wowza recorded them
//! for Kaltura's convert-segment batch (kaltura/server KAMFMediaInfoParser reads the third
//! stream's AMF0 packets and pairs each packet's pts with the message's `timestamp`): one at
//! the segment's first frame and one at the first frame of every interval slot after that.
//! They are made here from the stream's timeline rather than taken from the bus, because a
//! transcoded rendition's frames come back from ffmpeg without the source's data messages.

use crate::bus::Frame;
use bytes::Bytes;
use media::audio;
use media::video::{self, VideoCodec, VideoPacketKind};
use media::mp4::{DurationPatch, FragmentParts, Mp4Muxer, Sample, TrackConfig};
use rtmp_proto::session::MediaKind;

/// Sync points written into each segment's data track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyncPoints {
    /// The recorded stream: ids are `<stream>_<slot>`.
    pub stream: String,
    /// Interval slot length, ms (the injector's grid, so ids agree with the live ones).
    pub interval_ms: i64,
}

/// What the I/O side must do, in order.
#[derive(Debug)]
pub(crate) enum FileOp {
    /// Create the segment file that starts at timeline ms `start_ms` and write `init`.
    Open { start_ms: i64, init: Vec<u8> },
    /// Append a complete fragment to the open file.
    Append(FragmentParts),
    /// Finish the open file: write `tail`, patch the duration, sync, rename.
    Close { tail: Vec<FragmentParts>, duration_ms: u64, patch: DurationPatch },
    /// Remove the open file: it holds no sample.
    Discard,
}

#[derive(Debug)]
struct OpenSegment {
    muxer: Mp4Muxer,
    start_ms: i64,
    slot: i64,
    video_track: Option<usize>,
    audio_track: Option<usize>,
    data_track: Option<usize>,
    /// Interval slot of the last sync point written.
    sync_slot: Option<i64>,
    last_flush_ms: i64,
    /// The configurations it was opened with.
    video_record: Option<Bytes>,
    audio_config: Option<Bytes>,
    samples: u64,
}

/// The recorder state of one stream.
#[derive(Debug)]
pub(crate) struct RecorderCore {
    segment_ms: i64,
    fragment_ms: i64,
    origin_ms: Option<i64>,
    video: Option<(VideoCodec, Bytes)>,
    audio: Option<Bytes>,
    open: Option<OpenSegment>,
    sync: Option<SyncPoints>,
    /// Frames that could not be recorded (malformed, or a codec MP4 here cannot carry).
    pub rejected: u64,
}

impl RecorderCore {
    pub fn new(segment_ms: u64, fragment_ms: u64, origin_ms: Option<i64>, sync: Option<SyncPoints>) -> Self {
        RecorderCore {
            sync: sync.map(|s| SyncPoints { interval_ms: s.interval_ms.max(1), ..s }),
            segment_ms: segment_ms.max(1000) as i64,
            fragment_ms: fragment_ms.max(100) as i64,
            origin_ms,
            video: None,
            audio: None,
            open: None,
            rejected: 0,
        }
    }

    /// Duration of the open segment so far, ms.
    pub fn open_duration_ms(&self) -> u64 {
        self.open.as_ref().map_or(0, |o| o.muxer.duration_ms())
    }

    pub fn handle_frame(&mut self, frame: &Frame, out: &mut Vec<FileOp>) {
        match (frame.kind, frame.config) {
            (MediaKind::Data, _) => {}
            (MediaKind::Video, true) => {
                let Ok(info) = video::parse_video_tag(&frame.payload) else { return };
                let Some(record) = video::sequence_header_payload(&frame.payload) else { return };
                if matches!(info.codec, VideoCodec::H264 | VideoCodec::Hevc) {
                    self.video = Some((info.codec, Bytes::copy_from_slice(record)));
                } else {
                    self.rejected += 1;
                }
            }
            (MediaKind::Audio, true) => {
                if let Some(asc) = audio::aac_sequence_header_payload(&frame.payload) {
                    self.audio = Some(Bytes::copy_from_slice(asc));
                }
            }
            (MediaKind::Video, false) => self.video_frame(frame, out),
            (MediaKind::Audio, false) => self.audio_frame(frame, out),
        }
    }

    /// Close the open segment (the stream ended, or recording stops).
    pub fn close(&mut self, out: &mut Vec<FileOp>) {
        let Some(mut open) = self.open.take() else { return };
        if open.samples == 0 {
            out.push(FileOp::Discard);
            return;
        }
        let tail = open.muxer.finish_parts();
        out.push(FileOp::Close { tail, duration_ms: open.muxer.duration_ms(), patch: open.muxer.duration_patch() });
    }

    fn slot(&self, ms: i64) -> i64 {
        (ms - self.origin_ms.unwrap_or(0)).div_euclid(self.segment_ms)
    }

    fn config_changed(&self, open: &OpenSegment) -> bool {
        open.video_record.as_ref() != self.video.as_ref().map(|v| &v.1) || open.audio_config != self.audio
    }

    fn video_frame(&mut self, frame: &Frame, out: &mut Vec<FileOp>) {
        let Some((codec, _)) = &self.video else { return };
        let Ok(info) = video::parse_video_tag(&frame.payload) else {
            self.rejected += 1;
            return;
        };
        if info.kind != VideoPacketKind::Frame || info.codec != *codec {
            return;
        }
        let Some(body) = video::payload(&frame.payload) else { return };
        let keyframe = frame.keyframe || info.keyframe;
        let dts = frame.timestamp;
        let pts = dts + i64::from(info.composition_time);
        let mut cut = false;
        if keyframe {
            self.origin_ms.get_or_insert(pts);
            cut = match &self.open {
                None => true,
                Some(open) => frame.discontinuity || self.config_changed(open) || self.slot(pts) > open.slot,
            };
            if cut {
                self.close(out);
                self.open_segment(dts, pts, out);
            }
        }
        let Some(open) = &mut self.open else { return };
        let Some(track) = open.video_track else { return };
        let sample = Sample { dts_ms: dts - open.start_ms, pts_ms: pts - open.start_ms, keyframe, data: frame.payload.slice_ref(body) };
        match open.muxer.push(track, sample) {
            Ok(()) => open.samples += 1,
            Err(_) => self.rejected += 1,
        }
        Self::sync_point(self.sync.as_ref(), open, dts);
        // The muxer holds the newest sample back: flushing after a keyframe writes what
        // came before it, so each fragment starts with a keyframe.
        if (keyframe && !cut) || dts - open.last_flush_ms >= self.fragment_ms {
            self.flush(out);
        }
    }

    fn audio_frame(&mut self, frame: &Frame, out: &mut Vec<FileOp>) {
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
        let ts = frame.timestamp;
        if self.video.is_none() {
            // Audio only: audio frames open and cut segments.
            self.origin_ms.get_or_insert(ts);
            let cut = match &self.open {
                None => true,
                Some(open) => frame.discontinuity || self.config_changed(open) || self.slot(ts) > open.slot,
            };
            if cut {
                self.close(out);
                self.open_segment(ts, ts, out);
            }
        }
        let Some(open) = &self.open else { return };
        let Some(track) = open.audio_track else { return };
        if ts < open.start_ms {
            return; // before the segment's first keyframe
        }
        let Some(open) = &mut self.open else { return };
        let sample = Sample { dts_ms: ts - open.start_ms, pts_ms: ts - open.start_ms, keyframe: true, data: frame.payload.slice_ref(raw) };
        match open.muxer.push(track, sample) {
            Ok(()) => open.samples += 1,
            Err(_) => self.rejected += 1,
        }
        if self.video.is_none() {
            Self::sync_point(self.sync.as_ref(), open, ts);
        }
        if self.video.is_none() && ts - open.last_flush_ms >= self.fragment_ms {
            self.flush(out);
        }
    }

    /// A sync point at timeline ms `ms` when the segment has none yet or `ms` entered a new
    /// interval slot. Its sample time and its `timestamp` are the same instant.
    fn sync_point(sync: Option<&SyncPoints>, open: &mut OpenSegment, ms: i64) {
        let (Some(sync), Some(track)) = (sync, open.data_track) else { return };
        let slot = ms.div_euclid(sync.interval_ms);
        if open.sync_slot.is_some_and(|last| slot <= last) {
            return;
        }
        open.sync_slot = Some(slot);
        let data = crate::sync::sync_point_message(&sync.stream, slot, ms);
        let _ = open.muxer.push(track, Sample { dts_ms: ms - open.start_ms, pts_ms: ms - open.start_ms, keyframe: true, data });
    }

    fn flush(&mut self, out: &mut Vec<FileOp>) {
        let Some(open) = &mut self.open else { return };
        if let Some(parts) = open.muxer.fragment_parts() {
            out.push(FileOp::Append(parts));
        }
        open.last_flush_ms = open.start_ms + open.muxer.duration_ms() as i64;
        if open.last_flush_ms <= open.start_ms {
            open.last_flush_ms = open.start_ms;
        }
    }

    fn open_segment(&mut self, dts: i64, pts: i64, out: &mut Vec<FileOp>) {
        let mut tracks = Vec::new();
        let video_track = self.video.as_ref().map(|(codec, record)| {
            tracks.push(match codec {
                VideoCodec::Hevc => TrackConfig::Hevc(record.clone()),
                _ => TrackConfig::H264(record.clone()),
            });
            tracks.len() - 1
        });
        let audio_track = self.audio.as_ref().map(|asc| {
            tracks.push(TrackConfig::Aac(asc.clone()));
            tracks.len() - 1
        });
        // Last, so that with video and audio it is stream 2, where Kaltura looks for it.
        let data_track = self.sync.as_ref().map(|_| {
            tracks.push(TrackConfig::Amf0);
            tracks.len() - 1
        });
        let muxer = match Mp4Muxer::new(&tracks) {
            Ok(m) => m,
            Err(_) => {
                self.rejected += 1;
                return;
            }
        };
        out.push(FileOp::Open { start_ms: dts, init: muxer.init_segment() });
        self.open = Some(OpenSegment {
            muxer,
            start_ms: dts,
            slot: self.slot(pts),
            video_track,
            audio_track,
            data_track,
            sync_slot: None,
            last_flush_ms: dts,
            video_record: self.video.as_ref().map(|v| v.1.clone()),
            audio_config: self.audio.clone(),
            samples: 0,
        });
    }
}
