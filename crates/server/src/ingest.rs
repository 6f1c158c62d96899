//! The publishing side of a live stream, shared by RTMP publishers and FLV sources: it
//! classifies each frame (keyframe, sequence header), reports codecs and metadata once, puts
//! it on the wall-clock timeline ([`crate::timeline`]) and pushes it onto the stream's bus.
//!
//! An encoder's first half second is held back while its clock is anchored; then it goes out
//! in order, and every later frame at once.

use crate::bus::{Frame, LiveStream};
use crate::events::{AudioInfo, ServerEvent, VideoInfo};
use crate::shared::Shared;
use crate::timeline::{wall_now_ms, ClockMode, EntryTimelines, Stamp, StreamClock, Track};
use bytes::Bytes;
use rtmp_proto::amf::AmfValue;
use media::{aac, audio, avc, hevc, video};
use rtmp_proto::session::MediaKind;
use std::sync::Arc;

pub(crate) struct Publisher {
    pub stream: Arc<LiveStream>,
    /// Connection (or source) id reported with the stream's events.
    source_id: u64,
    audio_seen: bool,
    clock: StreamClock,
    /// The entry whose timeline the stream shares.
    entry: String,
    timelines: Arc<EntryTimelines>,
    /// Frames waiting for the clock's anchor, in arrival order, with their source time.
    held: Vec<(i64, Held)>,
    held_bytes: usize,
}

/// A frame held while the stream's clock is anchored.
enum Held {
    Frame(Frame),
    Metadata(Bytes, String),
}

/// Past this much held media the clock is anchored at once (a sender far faster than real
/// time would otherwise fill memory within the window).
const MAX_HELD_BYTES: usize = 8 * 1024 * 1024;

impl Drop for Publisher {
    fn drop(&mut self) {
        if let Some(last) = self.clock.last_out() {
            self.timelines.stream_ended(&self.entry, last);
        }
    }
}

impl Publisher {
    /// `mode`: how the publisher's timestamps reach the wall-clock timeline (encoders are
    /// rebased, transcoder outputs already on it).
    pub fn new(shared: &Shared, stream: Arc<LiveStream>, source_id: u64, mode: ClockMode) -> Self {
        let entry = crate::timeline::entry_key(&stream.name).to_string();
        Publisher {
            stream,
            source_id,
            audio_seen: false,
            clock: StreamClock::new(mode),
            entry,
            timelines: shared.timelines.clone(),
            held: Vec::new(),
            held_bytes: 0,
        }
    }

    /// Put a frame on the timeline and the bus, or hold it while the clock is anchored.
    fn emit(&mut self, shared: &Shared, track: Track, timestamp: u32, coded: bool, frame: Held) {
        let now = wall_now_ms();
        let drift = shared.config.max_pts_drift_ms;
        match self.clock.map(&self.timelines, &self.entry, track, timestamp, coded, now, drift) {
            Stamp::At(ms, discontinuity) => self.push(ms, discontinuity, frame),
            Stamp::Held(src) => {
                self.held_bytes += match &frame {
                    Held::Frame(f) => f.payload.len(),
                    Held::Metadata(p, _) => p.len(),
                };
                self.held.push((src, frame));
                if self.held_bytes > MAX_HELD_BYTES {
                    self.release_held(shared, now);
                } else {
                    self.tick(shared);
                }
            }
        }
    }

    /// Called on the connection's timer too: a sender that went quiet inside the anchoring
    /// window still gets its frames out.
    pub fn tick(&mut self, shared: &Shared) {
        let now = wall_now_ms();
        if !self.held.is_empty() && self.clock.anchor_due(now) {
            self.release_held(shared, now);
        }
    }

    fn release_held(&mut self, shared: &Shared, now: i64) {
        let Some(&(last_src, _)) = self.held.last() else { return };
        self.clock.anchor(&self.timelines, &self.entry, last_src, now, shared.config.max_pts_drift_ms);
        for (src, frame) in std::mem::take(&mut self.held) {
            let track = match &frame {
                Held::Frame(f) if f.kind == MediaKind::Video => Track::Video,
                Held::Frame(f) if f.kind == MediaKind::Audio => Track::Audio,
                _ => Track::Data,
            };
            let ms = self.clock.place(src, track);
            self.push(ms, false, frame);
        }
        self.held_bytes = 0;
    }

    fn push(&self, timestamp: i64, discontinuity: bool, frame: Held) {
        match frame {
            Held::Frame(f) => self.stream.push(Frame { timestamp, discontinuity, ..f }),
            Held::Metadata(payload, json) => self.stream.set_metadata(timestamp, payload, json),
        }
    }

    /// One audio or video tag body.
    pub fn media(&mut self, shared: &Shared, kind: MediaKind, timestamp: u32, payload: Bytes) {
        let (keyframe, config) = match kind {
            MediaKind::Video => match video::parse_video_tag(&payload) {
                Ok(info) => (info.keyframe && info.kind == video::VideoPacketKind::Frame, info.kind == video::VideoPacketKind::SequenceHeader),
                Err(_) => (false, false),
            },
            MediaKind::Audio => match audio::parse_audio_tag(&payload) {
                Ok(info) => {
                    if !self.audio_seen && !info.is_sequence_header && info.codec != audio::AudioCodec::Aac {
                        // Codecs without a sequence header: report what the tag header says.
                        let audio = AudioInfo {
                            codec: audio_codec_name(info.codec).into(),
                            codec_string: None,
                            profile: None,
                            sample_rate: info.legacy_sample_rate,
                            channels: info.legacy_channels as u32,
                        };
                        self.report_codecs(shared, None, Some(audio));
                    }
                    self.audio_seen = true;
                    (false, info.is_sequence_header)
                }
                Err(_) => (false, false),
            },
            MediaKind::Data => (false, false),
        };
        if config {
            match kind {
                MediaKind::Video => self.report_codecs(shared, Some(video_info(&payload)), None),
                _ => self.report_codecs(shared, None, Some(audio_info(&payload))),
            }
        }
        let track = if kind == MediaKind::Video { Track::Video } else { Track::Audio };
        let frame = Frame { kind, timestamp: 0, payload, keyframe, config, discontinuity: false };
        self.emit(shared, track, timestamp, !config, Held::Frame(frame));
    }

    /// One data message (AMF0 body, `@setDataFrame` already removed); `values` decoded.
    pub fn data(&mut self, shared: &Shared, timestamp: u32, name: &str, values: &[AmfValue], payload: Bytes) {
        if name == "onMetaData" {
            let json = values.get(1).map(AmfValue::to_json).unwrap_or_else(|| "{}".into());
            shared.emit(ServerEvent::Metadata { connection_id: self.source_id, stream_name: self.stream.name.clone(), json: json.clone() });
            self.emit(shared, Track::Data, timestamp, false, Held::Metadata(payload, json));
        } else {
            self.emit(shared, Track::Data, timestamp, false, Held::Frame(Frame::data(0, payload)));
        }
    }

    fn report_codecs(&self, shared: &Shared, video: Option<VideoInfo>, audio: Option<AudioInfo>) {
        let (old_video, old_audio) = self.stream.codec_info();
        if video.is_some() && video == old_video || audio.is_some() && audio == old_audio {
            return;
        }
        self.stream.set_codec_info(video, audio);
        let (video, audio) = self.stream.codec_info();
        shared.emit(ServerEvent::CodecInfo { connection_id: self.source_id, stream_name: self.stream.name.clone(), video, audio });
    }
}

fn video_info(payload: &[u8]) -> VideoInfo {
    let mut info = VideoInfo { codec: "unknown".into(), codec_string: None, profile: None, level: None, width: 0, height: 0, enhanced: false };
    let Ok(tag) = video::parse_video_tag(payload) else { return info };
    info.enhanced = tag.enhanced;
    let record = video::sequence_header_payload(payload).unwrap_or(&[]);
    match tag.codec {
        video::VideoCodec::H264 => {
            info.codec = "H264".into();
            if let Ok(c) = avc::parse_avc_decoder_config(record) {
                info.codec_string = Some(c.codec_string());
                info.profile = Some(c.profile_name().into());
                info.level = Some(c.level_idc as f64 / 10.0);
                info.width = c.width;
                info.height = c.height;
            }
        }
        video::VideoCodec::Hevc => {
            info.codec = "HEVC".into();
            if let Ok(c) = hevc::parse_hevc_decoder_config(record) {
                info.codec_string = Some(c.codec_string());
                info.level = Some(c.general_level_idc as f64 / 30.0);
                info.width = c.width;
                info.height = c.height;
            }
        }
        video::VideoCodec::Av1 => info.codec = "AV1".into(),
        video::VideoCodec::Vp9 => info.codec = "VP9".into(),
        video::VideoCodec::Other(_) => {}
    }
    info
}

fn audio_codec_name(codec: audio::AudioCodec) -> &'static str {
    match codec {
        audio::AudioCodec::Aac => "AAC",
        audio::AudioCodec::Mp3 => "MP3",
        audio::AudioCodec::Opus => "Opus",
        audio::AudioCodec::Ac3 => "AC3",
        audio::AudioCodec::Eac3 => "EAC3",
        audio::AudioCodec::Flac => "FLAC",
        audio::AudioCodec::Other(_) => "unknown",
    }
}

fn audio_info(payload: &[u8]) -> AudioInfo {
    let mut info = AudioInfo { codec: "unknown".into(), codec_string: None, profile: None, sample_rate: 0, channels: 0 };
    let Ok(tag) = audio::parse_audio_tag(payload) else { return info };
    info.codec = audio_codec_name(tag.codec).into();
    info.sample_rate = tag.legacy_sample_rate;
    info.channels = tag.legacy_channels as u32;
    if tag.codec == audio::AudioCodec::Aac {
        if let Some(Ok(c)) = audio::aac_sequence_header_payload(payload).map(aac::parse_audio_specific_config) {
            info.codec_string = Some(c.codec_string());
            info.profile = Some(c.profile_name().into());
            info.sample_rate = c.sample_rate;
            info.channels = c.channels as u32;
        }
    }
    info
}

