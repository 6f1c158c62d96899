//! The sliding window of finished segments of one rendition, and the text of its media
//! playlist and of master playlists (RFC 8216). Pure: no clock, no I/O.
//!
//! Segments enter through [`Playlist::push`] only once complete, so a playlist never
//! lists a segment that cannot be served whole. The rendered texts are cached as
//! [`Bytes`] at each push, so serving a playlist is a reference-count increment.
//!
//! The bytes go to the segment store ([`crate::store`]); the playlist tells it when a
//! segment leaves the live list (it goes to disk) and drops its handle when the segment
//! leaves the kept window (its file is deleted). Segments the store lost (disk full, disk
//! budget) are no longer listed: the DVR window starts after the newest of them.

use super::segmenter::MediaInfo;
use crate::store::{Stored, StreamStore};
use crate::timeline::iso8601_ms;
use bytes::Bytes;
use std::collections::VecDeque;
use std::fmt::Write as _;

/// A finished MPEG-TS segment, as the segmenter cuts it.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Media sequence number (also the `<index>` of the ID3 sync point id).
    pub seq: u64,
    /// Duration, ms.
    pub duration_ms: u64,
    /// Wall-clock ms (Unix epoch) of its first frame.
    pub start_wall_ms: i64,
    /// A discontinuity (restart, gap, codec change) precedes it.
    pub discontinuity: bool,
    /// Video access units in it (0 for audio-only).
    pub video_frames: u32,
    /// The TS bytes.
    pub data: Bytes,
}

/// A published segment: its description and its bytes in the store. Immutable.
#[derive(Debug)]
pub struct Kept {
    /// Media sequence number.
    pub seq: u64,
    /// Duration, ms.
    pub duration_ms: u64,
    /// Wall-clock ms (Unix epoch) of its first frame.
    pub start_wall_ms: i64,
    /// A discontinuity precedes it.
    pub discontinuity: bool,
    /// Video access units in it.
    pub video_frames: u32,
    /// The TS bytes, in memory or on disk.
    pub data: Stored,
}

/// How many segments a playlist lists and keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Configured segment target, ms (the floor of `EXT-X-TARGETDURATION`).
    pub target_duration_ms: u64,
    /// Segments listed in the live playlist.
    pub playlist_segments: usize,
    /// Segments kept (servable) at least.
    pub kept_segments: usize,
    /// With DVR: segments are kept while inside this window, and the `?DVR` playlist
    /// lists them all.
    pub dvr_window_ms: Option<u64>,
}

/// Bit rates measured over the live window, bits/s, TS overhead included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    /// Highest segment bit rate.
    pub peak: u64,
    /// Bytes over duration of the whole window.
    pub average: u64,
}

/// One `EXT-X-STREAM-INF` entry of a master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// URI (relative to the master playlist).
    pub uri: String,
    /// Measured bit rates.
    pub bandwidth: Bandwidth,
    /// Width and height, video only.
    pub resolution: Option<(u32, u32)>,
    /// Frames per second, when known.
    pub frame_rate: Option<f64>,
    /// RFC 6381 codecs, comma separated.
    pub codecs: String,
    /// The rendition has no video.
    pub audio_only: bool,
}

/// The segments of one rendition and its rendered media playlists.
#[derive(Debug)]
pub struct Playlist {
    window: Window,
    segments: VecDeque<Kept>,
    /// Segments no longer listed but still servable: those before a numbering gap.
    retired: VecDeque<Kept>,
    /// Segments at the front of `segments` already told they left the live list.
    off_edge: usize,
    /// Discontinuity tags that left the front of the kept window.
    removed_discontinuities: u64,
    target_duration_s: u64,
    media: MediaInfo,
    live_text: Bytes,
    dvr_text: Bytes,
    /// Declared last: dropped after the segments, so that its directory goes after their files.
    store: StreamStore,
}

impl Playlist {
    /// An empty playlist. Segment names are their sequence numbers, which come from the
    /// wall-clock timeline, so they do not repeat across restarts (caches keep segments for
    /// a day) and a primary and a backup name the same content alike.
    #[cfg(test)]
    pub fn new(window: Window) -> Self {
        Playlist::with_store(window, StreamStore::memory_only())
    }

    /// An empty playlist whose segments live in `store`.
    pub fn with_store(window: Window, store: StreamStore) -> Self {
        Playlist {
            store,
            off_edge: 0,
            retired: VecDeque::new(),
            target_duration_s: rounded_seconds(window.target_duration_ms).max(1),
            window,
            segments: VecDeque::new(),
            removed_discontinuities: 0,
            media: MediaInfo::default(),
            live_text: Bytes::new(),
            dvr_text: Bytes::new(),
        }
    }

    /// Change how many segments are listed and kept (applies from the next push).
    pub fn set_window(&mut self, window: Window) {
        self.target_duration_s = self.target_duration_s.max(rounded_seconds(window.target_duration_ms));
        self.window = window;
    }

    /// Publish a finished segment and the stream's current codecs; expire what falls out
    /// of the kept window.
    pub fn push(&mut self, segment: Segment, media: &MediaInfo) {
        if &self.media != media {
            self.media = media.clone();
        }
        // RFC 8216 §4.3.3.1: every EXTINF rounded to the nearest integer must not exceed
        // the target duration, and the target duration must not change; so it only grows.
        self.target_duration_s = self.target_duration_s.max(rounded_seconds(segment.duration_ms));
        if self.segments.back().is_some_and(|last| segment.seq != last.seq + 1) {
            // Media sequence numbers are positional (RFC 8216 §6.2.1): a playlist cannot
            // skip one. After a restart that jumped to its grid slot, the old segments stay
            // servable but are no longer listed.
            self.removed_discontinuities += self.segments.iter().map(|s| u64::from(s.discontinuity)).sum::<u64>();
            for s in self.segments.range(self.off_edge..) {
                s.data.leave_live_edge();
            }
            self.off_edge = 0;
            self.retired.extend(self.segments.drain(..));
            while self.retired.len() > self.window.kept_segments {
                self.retired.pop_front();
            }
        }
        let data = self.store.insert(segment.seq, segment.data);
        self.segments.push_back(Kept {
            seq: segment.seq,
            duration_ms: segment.duration_ms,
            start_wall_ms: segment.start_wall_ms,
            discontinuity: segment.discontinuity,
            video_frames: segment.video_frames,
            data,
        });
        self.expire();
        self.drop_lost();
        self.leave_live_edge();
        self.render();
    }

    /// Tell the store which segments the live playlist no longer lists.
    fn leave_live_edge(&mut self) {
        let live_from = self.segments.len().saturating_sub(self.window.playlist_segments.max(1));
        while self.off_edge < live_from {
            self.segments[self.off_edge].data.leave_live_edge();
            self.off_edge += 1;
        }
    }

    /// The store lost a segment (disk full or too slow, disk budget): the window starts
    /// after the newest lost one, so that no listed segment answers 404.
    fn drop_lost(&mut self) {
        self.retired.retain(|s| !s.data.is_lost());
        let Some(last_lost) = self.segments.iter().rposition(|s| s.data.is_lost()) else { return };
        for removed in self.segments.drain(..=last_lost) {
            self.removed_discontinuities += u64::from(removed.discontinuity);
        }
        self.off_edge = self.off_edge.saturating_sub(last_lost + 1);
    }

    fn expire(&mut self) {
        let mut total: u64 = self.segments.iter().map(|s| s.duration_ms).sum();
        while self.segments.len() > self.window.kept_segments.max(self.window.playlist_segments) {
            let front = &self.segments[0];
            if let Some(dvr) = self.window.dvr_window_ms {
                // Keep the oldest while dropping it would leave less than the window.
                if total - front.duration_ms < dvr {
                    break;
                }
            }
            total -= front.duration_ms;
            let removed = self.segments.pop_front().expect("non-empty");
            self.removed_discontinuities += u64::from(removed.discontinuity);
            self.off_edge = self.off_edge.saturating_sub(1);
        }
    }

    fn render(&mut self) {
        let n = self.segments.len();
        let live_from = n.saturating_sub(self.window.playlist_segments.max(1));
        self.live_text = Bytes::from(self.render_from(live_from));
        self.dvr_text = if self.window.dvr_window_ms.is_some() || live_from > 0 {
            Bytes::from(self.render_from(0))
        } else {
            self.live_text.clone()
        };
    }

    fn render_from(&self, first: usize) -> String {
        let Some(head) = self.segments.get(first) else {
            return String::new();
        };
        let disc_seq = self.removed_discontinuities + self.segments.range(..first).filter(|s| s.discontinuity).count() as u64;
        let mut out = String::with_capacity(128 + (self.segments.len() - first) * 96);
        out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration_s);
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", head.seq);
        let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}");
        for s in self.segments.range(first..) {
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601_ms(s.start_wall_ms));
            let _ = writeln!(out, "#EXTINF:{}.{:03},", s.duration_ms / 1000, s.duration_ms % 1000);
            let _ = writeln!(out, "{}", self.segment_name(s.seq));
        }
        out
    }

    /// The media playlist text (the DVR window with `dvr`); `None` before the first
    /// segment.
    pub fn media_playlist(&self, dvr: bool) -> Option<Bytes> {
        if self.segments.is_empty() {
            return None;
        }
        Some(if dvr { self.dvr_text.clone() } else { self.live_text.clone() })
    }

    /// URI of segment `seq`, relative to the media playlist.
    pub fn segment_name(&self, seq: u64) -> String {
        format!("seg-{seq}.ts")
    }

    /// The kept segment called `name`.
    pub fn segment(&self, name: &str) -> Option<Stored> {
        let seq: u64 = name.strip_prefix("seg-")?.strip_suffix(".ts")?.parse().ok()?;
        let listed = self.segments.front().is_some_and(|s| s.seq <= seq);
        let kept = if listed { &self.segments } else { &self.retired };
        let first = kept.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        let s = kept.get(i).filter(|s| s.seq == seq).or_else(|| kept.iter().find(|s| s.seq == seq))?;
        Some(s.data.clone())
    }

    /// Kept segments.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &Kept> + '_ {
        self.segments.iter()
    }

    /// Codecs, resolution and frame rate as of the last segment.
    pub fn media(&self) -> &MediaInfo {
        &self.media
    }

    /// Current `EXT-X-TARGETDURATION`, seconds.
    pub fn target_duration_s(&self) -> u64 {
        self.target_duration_s
    }

    /// Peak and average bit rate over the live window. Segments shorter than half the
    /// target (a stream's first, one cut short by a gap) do not count toward the peak
    /// unless there is nothing else: a lone keyframe in 200 ms is not a bit rate.
    pub fn bandwidth(&self) -> Option<Bandwidth> {
        let n = self.segments.len();
        let recent = self.segments.range(n.saturating_sub(self.window.playlist_segments.max(1))..);
        let (mut bytes, mut ms, mut peak, mut short_peak) = (0u64, 0u64, 0u64, 0u64);
        for s in recent {
            bytes += s.data.len();
            ms += s.duration_ms;
            let rate = bits_per_second(s.data.len(), s.duration_ms);
            if s.duration_ms * 2 >= self.window.target_duration_ms {
                peak = peak.max(rate);
            } else {
                short_peak = short_peak.max(rate);
            }
        }
        if bytes == 0 {
            return None;
        }
        let average = bits_per_second(bytes, ms);
        let peak = if peak == 0 { short_peak } else { peak };
        Some(Bandwidth { peak: peak.max(average), average })
    }

    /// This rendition as a master playlist entry; `None` before its first segment.
    pub fn variant(&self, uri: String) -> Option<Variant> {
        let bandwidth = self.bandwidth()?;
        let m = &self.media;
        let audio_only = m.video_codec.is_none();
        let frame_rate = if audio_only {
            None
        } else {
            m.frame_rate.or_else(|| {
                let (frames, ms) = self.segments.iter().fold((0u64, 0u64), |(f, d), s| (f + u64::from(s.video_frames), d + s.duration_ms));
                (frames > 0 && ms > 0).then(|| frames as f64 * 1000.0 / ms as f64)
            })
        };
        let codecs: Vec<&str> = [m.video_codec.as_deref(), m.audio_codec.as_deref()].into_iter().flatten().collect();
        Some(Variant {
            uri,
            bandwidth,
            resolution: (!audio_only && m.width > 0 && m.height > 0).then_some((m.width, m.height)),
            frame_rate,
            codecs: codecs.join(","),
            audio_only,
        })
    }
}

fn bits_per_second(bytes: u64, ms: u64) -> u64 {
    if ms == 0 {
        0
    } else {
        (bytes * 8 * 1000).div_ceil(ms)
    }
}

/// Seconds rounded to the nearest integer, halves up.
fn rounded_seconds(ms: u64) -> u64 {
    (ms + 500) / 1000
}

/// A master playlist listing `variants`: video renditions by descending peak bit rate,
/// then audio-only ones (a player starts with the first entry).
pub fn render_master(variants: &mut [Variant]) -> String {
    variants.sort_by(|a, b| a.audio_only.cmp(&b.audio_only).then(b.bandwidth.peak.cmp(&a.bandwidth.peak)).then_with(|| a.uri.cmp(&b.uri)));
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants.iter() {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={}", v.bandwidth.peak, v.bandwidth.average);
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = v.frame_rate {
            let _ = write!(out, ",FRAME-RATE={fps:.3}");
        }
        if !v.codecs.is_empty() {
            let _ = write!(out, ",CODECS=\"{}\"", v.codecs);
        }
        let _ = writeln!(out, "\n{}", v.uri);
    }
    out
}
