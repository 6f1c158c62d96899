//! The media bus: one [`LiveStream`] per published name, fanning frames out to subscribers
//! (RTMP players, FLV sinks) through bounded queues.
//!
//! The publisher's task calls [`LiveStream::push`] synchronously: it never waits for a
//! subscriber. A subscriber whose queue is over its byte budget loses frames up to the next
//! video keyframe (counted in `dropped`), so a slow reader costs bounded memory and never
//! slows the publisher. A new subscriber first gets the stream's metadata and sequence headers,
//! then live frames from the next keyframe.

use crate::events::{AudioInfo, VideoInfo};
use bytes::Bytes;
use parking_lot::Mutex;
use rtmp_proto::session::MediaKind;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// One media or data message of a live stream (an FLV tag body with its timestamp).
#[derive(Debug, Clone)]
pub struct Frame {
    /// Audio, video or data.
    pub kind: MediaKind,
    /// Milliseconds on the wall-clock timeline (see [`crate::timeline`]); RTMP and FLV
    /// outputs carry it modulo 2^32.
    pub timestamp: i64,
    /// FLV tag body.
    pub payload: Bytes,
    /// A video keyframe (not a sequence header).
    pub keyframe: bool,
    /// A sequence header (codec configuration); on a data frame, the stream's onMetaData.
    pub config: bool,
    /// The stream's timeline was resynced before this frame (a timestamp jump).
    pub discontinuity: bool,
}

impl Frame {
    /// A data message (AMF0 body) at `timestamp`.
    pub fn data(timestamp: i64, payload: Bytes) -> Self {
        Frame { kind: MediaKind::Data, timestamp, payload, keyframe: false, config: false, discontinuity: false }
    }

    /// The timestamp as RTMP and FLV carry it: the timeline modulo 2^32.
    pub fn rtmp_timestamp(&self) -> u32 {
        self.timestamp as u32
    }

    fn cost(&self) -> usize {
        self.payload.len() + 64
    }
}

#[derive(Debug, Default)]
struct BusState {
    metadata: Option<Frame>,
    video_config: Option<Frame>,
    audio_config: Option<Frame>,
    last_timestamp: i64,
    /// A video frame or sequence header was seen: restarts wait for a video keyframe.
    has_video: bool,
    subscribers: Vec<Arc<Subscriber>>,
    ended: bool,
    video_info: Option<VideoInfo>,
    audio_info: Option<AudioInfo>,
    metadata_json: Option<String>,
}

/// A snapshot of a live stream for stats and the application.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// Stream name.
    pub name: String,
    /// Application the publisher connected to.
    pub app: String,
    /// Publisher's connection id.
    pub publisher: u64,
    /// Video codec, once known.
    pub video: Option<VideoInfo>,
    /// Audio codec, once known.
    pub audio: Option<AudioInfo>,
    /// onMetaData as JSON, once received.
    pub metadata_json: Option<String>,
    /// Subscribers (players and sinks) attached now.
    pub subscribers: usize,
    /// Frames received.
    pub frames: u64,
    /// Video frames received (sequence headers excluded): fps is its rate.
    pub video_frames: u64,
    /// Bytes of media received.
    pub bytes: u64,
    /// Milliseconds since publishing started.
    pub uptime_ms: u64,
}

/// A live, published stream.
#[derive(Debug)]
pub struct LiveStream {
    /// Stream name (without query).
    pub name: String,
    /// Application name.
    pub app: String,
    /// Publisher's connection id.
    pub publisher: u64,
    started: Instant,
    frames: AtomicU64,
    video_frames: AtomicU64,
    bytes: AtomicU64,
    state: Mutex<BusState>,
    ended: Notify,
}

impl LiveStream {
    fn new(name: String, app: String, publisher: u64) -> Self {
        LiveStream {
            name,
            app,
            publisher,
            started: Instant::now(),
            frames: AtomicU64::new(0),
            video_frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            state: Mutex::new(BusState::default()),
            ended: Notify::new(),
        }
    }

    /// Fan a frame out to every subscriber. Never blocks on a subscriber.
    pub fn push(&self, frame: Frame) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        if frame.kind == MediaKind::Video && !frame.config {
            self.video_frames.fetch_add(1, Ordering::Relaxed);
        }
        self.bytes.fetch_add(frame.payload.len() as u64, Ordering::Relaxed);
        let mut state = self.state.lock();
        state.last_timestamp = frame.timestamp;
        if frame.config {
            match frame.kind {
                MediaKind::Video => state.video_config = Some(frame.clone()),
                MediaKind::Audio => state.audio_config = Some(frame.clone()),
                MediaKind::Data => {}
            }
        }
        state.has_video |= frame.kind == MediaKind::Video;
        let has_video = state.has_video;
        for sub in &state.subscribers {
            sub.offer(&frame, has_video);
        }
    }

    /// Store the stream's onMetaData (AMF0 body) for late joiners, and forward it.
    pub fn set_metadata(&self, timestamp: i64, payload: Bytes, json: String) {
        let frame = Frame { config: true, ..Frame::data(timestamp, payload) };
        {
            let mut state = self.state.lock();
            state.metadata = Some(frame.clone());
            state.metadata_json = Some(json);
        }
        self.push(frame);
    }

    /// Record codec details parsed from a sequence header.
    pub fn set_codec_info(&self, video: Option<VideoInfo>, audio: Option<AudioInfo>) {
        let mut state = self.state.lock();
        if video.is_some() {
            state.video_info = video;
        }
        if audio.is_some() {
            state.audio_info = audio;
        }
    }

    /// Current codec details (video, audio).
    pub fn codec_info(&self) -> (Option<VideoInfo>, Option<AudioInfo>) {
        let state = self.state.lock();
        (state.video_info.clone(), state.audio_info.clone())
    }

    /// Attach a subscriber with a queue budget of `buffer_bytes`. It first receives the
    /// metadata and sequence headers, then live frames from the next keyframe. `None` once
    /// the stream has ended.
    pub fn subscribe(&self, id: u64, buffer_bytes: usize) -> Option<Arc<Subscriber>> {
        let mut state = self.state.lock();
        if state.ended {
            return None;
        }
        let sub = Arc::new(Subscriber::new(id, buffer_bytes));
        {
            let mut q = sub.queue.lock();
            let ts = state.last_timestamp;
            for f in [&state.metadata, &state.video_config, &state.audio_config].into_iter().flatten() {
                let mut f = f.clone();
                f.timestamp = ts;
                q.bytes += f.cost();
                q.frames.push_back(f);
            }
            q.waiting_keyframe = state.video_config.is_some();
        }
        state.subscribers.push(sub.clone());
        Some(sub)
    }

    /// Detach a subscriber.
    pub fn unsubscribe(&self, id: u64) {
        let mut state = self.state.lock();
        state.subscribers.retain(|s| s.id != id);
    }

    /// The publisher left: close every subscriber.
    pub fn end(&self) {
        let subs = {
            let mut state = self.state.lock();
            state.ended = true;
            std::mem::take(&mut state.subscribers)
        };
        for sub in subs {
            sub.close();
        }
        self.ended.notify_waiters();
    }

    /// Timeline ms of the latest frame, once there is one.
    pub fn last_timestamp(&self) -> Option<i64> {
        let state = self.state.lock();
        (self.frames.load(Ordering::Relaxed) > 0).then_some(state.last_timestamp)
    }

    /// True once the publisher has left.
    pub fn is_ended(&self) -> bool {
        self.state.lock().ended
    }

    /// Resolves once the stream has ended.
    pub async fn ended(&self) {
        loop {
            let notified = self.ended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state.lock().ended {
                return;
            }
            notified.await;
        }
    }

    /// Snapshot for stats.
    pub fn info(&self) -> StreamInfo {
        let state = self.state.lock();
        StreamInfo {
            name: self.name.clone(),
            app: self.app.clone(),
            publisher: self.publisher,
            video: state.video_info.clone(),
            audio: state.audio_info.clone(),
            metadata_json: state.metadata_json.clone(),
            subscribers: state.subscribers.len(),
            frames: self.frames.load(Ordering::Relaxed),
            video_frames: self.video_frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            uptime_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

#[derive(Debug, Default)]
struct SubQueue {
    frames: VecDeque<Frame>,
    bytes: usize,
    waiting_keyframe: bool,
    closed: bool,
    /// Sequence headers (and metadata) that arrived while frames were being dropped: only
    /// the latest of each kind, delivered ahead of the restart frame.
    stashed_config: [Option<Frame>; 3],
}

fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
        MediaKind::Data => 2,
    }
}

/// The receiving end of a stream for one player or sink.
#[derive(Debug)]
pub struct Subscriber {
    /// Subscriber id (sink id or connection id).
    pub id: u64,
    budget: usize,
    dropped: AtomicU64,
    queue: Mutex<SubQueue>,
    notify: Notify,
}

impl Subscriber {
    fn new(id: u64, budget: usize) -> Self {
        Subscriber { id, budget, dropped: AtomicU64::new(0), queue: Mutex::new(SubQueue::default()), notify: Notify::new() }
    }

    /// `has_video`: the stream has a video track, so a subscriber that lost frames resumes at
    /// a video keyframe; without one any audio frame is a clean restart point.
    fn offer(&self, frame: &Frame, has_video: bool) {
        let mut q = self.queue.lock();
        if q.closed {
            return;
        }
        let was_empty = q.frames.is_empty();
        if frame.config {
            // Codec changes count against the budget like any frame. One that does not fit
            // (or arrives while frames are being dropped) is kept aside, replacing an older
            // one of its kind, and goes out ahead of the restart frame.
            if q.waiting_keyframe || q.bytes + frame.cost() > self.budget {
                if !q.waiting_keyframe {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    q.waiting_keyframe = true;
                }
                q.stashed_config[kind_index(frame.kind)] = Some(frame.clone());
                return;
            }
        } else if q.waiting_keyframe {
            let restart_point = if has_video { frame.kind == MediaKind::Video && frame.keyframe } else { frame.kind == MediaKind::Audio };
            if !restart_point {
                return;
            }
            if q.bytes + frame.cost() > self.budget {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            q.waiting_keyframe = false;
            for config in std::mem::take(&mut q.stashed_config).into_iter().flatten() {
                q.bytes += config.cost();
                q.frames.push_back(config);
            }
        } else if q.bytes + frame.cost() > self.budget {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            q.waiting_keyframe = true;
            return;
        }
        q.bytes += frame.cost();
        q.frames.push_back(frame.clone());
        drop(q);
        if was_empty {
            self.notify.notify_one();
        }
    }

    /// Wait for frames and move them all into `out`. Returns false when the subscription is
    /// closed and everything has been taken.
    pub async fn next_batch(&self, out: &mut Vec<Frame>) -> bool {
        self.next_batch_limited(out, usize::MAX).await
    }

    /// [`Self::next_batch`] taking frames only up to about `max_bytes` (at least one): the
    /// rest stays queued, within the budget, where a reader that falls behind loses frames
    /// to the next keyframe instead of the backlog moving into its output buffer.
    pub async fn next_batch_limited(&self, out: &mut Vec<Frame>, max_bytes: usize) -> bool {
        loop {
            {
                let mut q = self.queue.lock();
                if !q.frames.is_empty() {
                    let mut taken = 0;
                    while let Some(frame) = q.frames.front() {
                        if taken > 0 && taken + frame.cost() > max_bytes {
                            break;
                        }
                        taken += frame.cost();
                        if let Some(frame) = q.frames.pop_front() {
                            out.push(frame);
                        }
                    }
                    q.bytes -= taken;
                    return true;
                }
                if q.closed {
                    return false;
                }
            }
            self.notify.notified().await;
        }
    }

    /// End the subscription: [`Self::next_batch`] returns false once drained.
    pub fn close(&self) {
        self.queue.lock().closed = true;
        self.notify.notify_one();
    }

    /// Frames dropped because the reader was slow.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Bytes queued now.
    #[cfg(test)]
    pub fn queued_bytes(&self) -> usize {
        self.queue.lock().bytes
    }
}

/// Live streams by name.
#[derive(Debug, Default)]
pub struct Registry {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
}

impl Registry {
    /// Claim `name` for a publisher; `None` when it is already live.
    pub fn publish(&self, name: &str, app: &str, publisher: u64) -> Option<Arc<LiveStream>> {
        let mut streams = self.streams.lock();
        if streams.contains_key(name) {
            return None;
        }
        let stream = Arc::new(LiveStream::new(name.to_string(), app.to_string(), publisher));
        streams.insert(name.to_string(), stream.clone());
        Some(stream)
    }

    /// The live stream called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LiveStream>> {
        self.streams.lock().get(name).cloned()
    }

    /// Remove `stream` (only if it is still the one registered) and close its subscribers.
    pub fn unpublish(&self, stream: &Arc<LiveStream>) {
        {
            let mut streams = self.streams.lock();
            if streams.get(&stream.name).is_some_and(|s| Arc::ptr_eq(s, stream)) {
                streams.remove(&stream.name);
            }
        }
        stream.end();
    }

    /// Every live stream.
    pub fn all(&self) -> Vec<Arc<LiveStream>> {
        self.streams.lock().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: MediaKind, ts: i64, len: usize, keyframe: bool) -> Frame {
        Frame { kind, timestamp: ts, payload: Bytes::from(vec![0u8; len]), keyframe, config: false, discontinuity: false }
    }

    #[tokio::test]
    async fn late_joiner_gets_headers_then_starts_at_keyframe() {
        let reg = Registry::default();
        let s = reg.publish("a", "kLive", 1).unwrap();
        assert!(reg.publish("a", "kLive", 2).is_none());
        s.set_metadata(0, Bytes::from_static(b"meta"), "{}".into());
        s.push(Frame { kind: MediaKind::Video, timestamp: 0, payload: Bytes::from_static(b"vcfg"), keyframe: false, config: true, discontinuity: false });
        s.push(frame(MediaKind::Video, 0, 100, true));
        s.push(frame(MediaKind::Video, 33, 100, false));
        let sub = s.subscribe(9, 1 << 20).unwrap();
        s.push(frame(MediaKind::Video, 66, 100, false)); // skipped: not a keyframe
        s.push(frame(MediaKind::Audio, 70, 10, false)); // skipped: before the keyframe
        s.push(frame(MediaKind::Video, 100, 100, true));
        s.push(frame(MediaKind::Audio, 110, 10, false));
        let mut out = Vec::new();
        assert!(sub.next_batch(&mut out).await);
        let kinds: Vec<(MediaKind, i64, bool)> = out.iter().map(|f| (f.kind, f.timestamp, f.config)).collect();
        assert_eq!(
            kinds,
            vec![
                (MediaKind::Data, 33, true),
                (MediaKind::Video, 33, true),
                (MediaKind::Video, 100, false),
                (MediaKind::Audio, 110, false)
            ]
        );
        reg.unpublish(&s);
        out.clear();
        assert!(!sub.next_batch(&mut out).await);
        assert!(reg.get("a").is_none());
    }

    #[tokio::test]
    async fn slow_subscriber_drops_to_next_keyframe_with_bounded_memory() {
        let reg = Registry::default();
        let s = reg.publish("b", "kLive", 1).unwrap();
        let sub = s.subscribe(1, 10_000).unwrap();
        s.push(frame(MediaKind::Video, 0, 4000, true));
        for i in 1..50 {
            s.push(frame(MediaKind::Video, i * 33, 4000, false));
            assert!(sub.queued_bytes() <= 10_000);
        }
        assert!(sub.dropped() > 0);
        let mut out = Vec::new();
        sub.next_batch(&mut out).await;
        let n = out.len();
        // After draining, nothing more arrives until a keyframe.
        s.push(frame(MediaKind::Video, 2000, 100, false));
        s.push(frame(MediaKind::Video, 2033, 100, true));
        s.push(frame(MediaKind::Video, 2066, 100, false));
        out.clear();
        sub.next_batch(&mut out).await;
        assert_eq!(out.iter().map(|f| f.timestamp).collect::<Vec<_>>(), vec![2033, 2066]);
        assert!(n >= 2);
    }

    #[tokio::test]
    async fn slow_subscriber_of_an_audio_only_stream_resumes_at_the_next_audio_frame() {
        let reg = Registry::default();
        let s = reg.publish("d", "kLive", 1).unwrap();
        s.push(Frame { kind: MediaKind::Audio, timestamp: 0, payload: Bytes::from_static(b"acfg"), keyframe: false, config: true, discontinuity: false });
        let sub = s.subscribe(1, 1000).unwrap();
        for i in 0..20 {
            s.push(frame(MediaKind::Audio, i * 23, 300, false));
        }
        assert!(sub.dropped() > 0);
        let mut out = Vec::new();
        sub.next_batch(&mut out).await;
        out.clear();
        s.push(frame(MediaKind::Audio, 1000, 300, false));
        sub.next_batch(&mut out).await;
        assert_eq!(out.iter().map(|f| f.timestamp).collect::<Vec<_>>(), vec![1000]);
    }

    #[tokio::test]
    async fn sequence_headers_count_against_the_budget_and_only_the_latest_is_kept() {
        let reg = Registry::default();
        let s = reg.publish("e", "kLive", 1).unwrap();
        let config = |ts, len| Frame { kind: MediaKind::Video, timestamp: ts, payload: Bytes::from(vec![1u8; len]), keyframe: false, config: true, discontinuity: false };
        s.push(config(0, 100));
        s.push(frame(MediaKind::Video, 0, 100, true));
        let sub = s.subscribe(1, 10_000).unwrap();
        s.push(frame(MediaKind::Video, 1, 100, true));
        // A publisher sending nothing but (changing) sequence headers to a stalled reader.
        for i in 0..1000 {
            s.push(config(i, 1000 + i as usize));
            assert!(sub.queued_bytes() <= 10_000);
        }
        assert!(sub.dropped() > 0);
        let mut out = Vec::new();
        sub.next_batch(&mut out).await;
        out.clear();
        s.push(frame(MediaKind::Video, 2000, 100, true));
        sub.next_batch(&mut out).await;
        // The latest sequence header, then the keyframe.
        assert_eq!(out.iter().map(|f| (f.timestamp, f.config, f.payload.len())).collect::<Vec<_>>(), vec![(999, true, 1999), (2000, false, 100)]);
    }

    #[test]
    fn audio_only_stream_starts_immediately() {
        let reg = Registry::default();
        let s = reg.publish("c", "kLive", 1).unwrap();
        s.push(Frame { kind: MediaKind::Audio, timestamp: 0, payload: Bytes::from_static(b"acfg"), keyframe: false, config: true, discontinuity: false });
        let sub = s.subscribe(1, 1 << 20).unwrap();
        s.push(frame(MediaKind::Audio, 23, 10, false));
        assert_eq!(sub.queue.lock().frames.len(), 2);
    }
}
