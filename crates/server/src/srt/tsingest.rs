//! MPEG-TS from an SRT peer onto the media bus: the demuxer's frames become the FLV message
//! bodies an RTMP encoder would have sent ([`media::ts::flv_tags`]) and go through the same
//! [`Publisher`] (codec reports, wall-clock timeline, bus), so nothing downstream knows the
//! protocol. 90 kHz timestamps become RTMP's 32-bit milliseconds (wrapping like RTMP's).

use crate::ingest::Publisher;
use crate::shared::Shared;
use crate::stats::ConnCounters;
use bytes::Bytes;
use media::ts::demux::{DemuxedFrame, TsDemuxer};
use media::ts::flv_tags;
use rtmp_proto::session::MediaKind;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) struct TsIngest {
    demux: TsDemuxer,
    publisher: Publisher,
    counters: Arc<ConnCounters>,
    /// Configuration waiting for the first frame it applies to (it takes that frame's time).
    video_config: Option<Bytes>,
    audio_config: Option<Bytes>,
}

fn ms(t90k: i64) -> u32 {
    // Truncation to 32 bits is RTMP's own wrap, which the timeline handles.
    t90k.div_euclid(90) as u32
}

impl TsIngest {
    pub fn new(publisher: Publisher, counters: Arc<ConnCounters>) -> Self {
        TsIngest { demux: TsDemuxer::new(), publisher, counters, video_config: None, audio_config: None }
    }

    /// Bytes released by the SRT connection, in order.
    pub fn push(&mut self, data: &[u8]) {
        self.demux.push(data);
    }

    /// Put every complete frame on the bus.
    pub fn flush(&mut self, shared: &Shared) {
        while let Some(frame) = self.demux.poll_frame() {
            match frame {
                DemuxedFrame::VideoConfig { codec, record } => self.video_config = Some(flv_tags::video_config(codec, &record).into()),
                DemuxedFrame::AudioConfig { asc, .. } => self.audio_config = Some(flv_tags::aac_config(&asc).into()),
                DemuxedFrame::Video { codec, dts, pts, keyframe, data } => {
                    let t = ms(dts);
                    if let Some(config) = self.video_config.take() {
                        self.publisher.media(shared, MediaKind::Video, t, config);
                    }
                    let cts = ((pts - dts) / 90) as i32;
                    self.counters.video_frames.fetch_add(1, Ordering::Relaxed);
                    self.publisher.media(shared, MediaKind::Video, t, flv_tags::video_frame(codec, keyframe, cts, &data).into());
                }
                DemuxedFrame::Audio { pts, data } => {
                    let t = ms(pts);
                    if let Some(config) = self.audio_config.take() {
                        self.publisher.media(shared, MediaKind::Audio, t, config);
                    }
                    self.counters.audio_frames.fetch_add(1, Ordering::Relaxed);
                    self.publisher.media(shared, MediaKind::Audio, t, flv_tags::aac_frame(&data).into());
                }
            }
        }
    }

    /// Release frames held while the clock anchors (on the listener's timer).
    pub fn tick(&mut self, shared: &Shared) {
        self.publisher.tick(shared);
    }

    pub fn into_publisher(self) -> Publisher {
        self.publisher
    }
}
