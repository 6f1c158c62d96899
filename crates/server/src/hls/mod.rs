//! HLS packaging of live streams: a packager task per stream subscribes to the media bus,
//! remuxes FLV to MPEG-TS segments in memory ([`segmenter`], sans-IO), and publishes them
//! to a sliding-window playlist ([`playlist`], pure) that the HTTP origin serves.
//!
//! The packager is an ordinary bus subscriber: the publisher never waits for it. If it
//! falls behind by more than its budget, the bus drops to the next keyframe and the
//! playlist gets a discontinuity there.
//!
//! A packager outlives its stream by [`HlsOptions::republish_grace`]: a republish of the
//! same name within that time (an encoder reconnect, a transcoder restart) continues the
//! same playlist and numbering behind a discontinuity. After it, the playlist is removed.

pub(crate) mod playlist;
pub(crate) mod segmenter;
#[cfg(test)]
mod tests;

use crate::bus::LiveStream;
use crate::error::ServerError;
use crate::shared::Shared;
use crate::store::SegmentStore;
use parking_lot::{Mutex, RwLock};
use playlist::{Playlist, Variant, Window};
use segmenter::Segmenter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// How often a packager whose stream is not live looks for it (a short interval: the bus
/// does not replay the current GOP, so a late subscription starts at the next keyframe).
const REPUBLISH_POLL: Duration = Duration::from_millis(20);
/// Queue budget floor of a packager: a few GOPs even at 20 Mbit/s. Past it the packager drops
/// to the next keyframe (a discontinuity) rather than let hundreds of lagging packagers hold
/// tens of GiB between them.
const MIN_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// How one stream is packaged. `Default` gives the old origin's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsOptions {
    /// Segment target, ms. Use [`HlsOptions::target_for_segment_duration`] with the entry's
    /// `segmentDuration`.
    pub target_duration_ms: u64,
    /// Segments listed in the live playlist.
    pub playlist_segments: usize,
    /// Segments kept (still servable) at least.
    pub kept_segments: usize,
    /// DVR window, ms: segments are kept while inside it and `?DVR` lists them all.
    pub dvr_window_ms: Option<u64>,
    /// Stream-name group whose master playlist lists this stream (e.g. `<entry>_all`).
    pub group: Option<String>,
    /// How long the playlist survives the end of its stream waiting for a republish; also
    /// how long a packager started before its stream waits for it.
    pub republish_grace: Duration,
    /// Bus queue budget of the packager; 0 picks one that holds several segments.
    pub buffer_bytes: usize,
}

impl Default for HlsOptions {
    fn default() -> Self {
        HlsOptions {
            target_duration_ms: 6000,
            playlist_segments: 10,
            kept_segments: 20,
            dvr_window_ms: None,
            group: None,
            republish_grace: Duration::from_secs(60),
            buffer_bytes: 0,
        }
    }
}

impl HlsOptions {
    /// The old origin's rule: the entry's `segmentDuration` (ms) when within
    /// 1000..=20000, else 6000.
    pub fn target_for_segment_duration(segment_duration_ms: i64) -> u64 {
        if (1000..=20_000).contains(&segment_duration_ms) {
            segment_duration_ms as u64
        } else {
            6000
        }
    }

    fn window(&self) -> Window {
        Window {
            target_duration_ms: self.target_duration_ms,
            playlist_segments: self.playlist_segments.max(1),
            kept_segments: self.kept_segments,
            dvr_window_ms: self.dvr_window_ms,
        }
    }
}

/// A packaged stream, for diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct HlsStreamInfo {
    /// Stream name.
    pub name: String,
    /// Group it belongs to.
    pub group: Option<String>,
    /// Its stream is live now (else: waiting for a republish).
    pub live: bool,
    /// Segments produced since the packager started.
    pub segments_written: u64,
    /// Segments kept now.
    pub segments_kept: usize,
    /// Media sequence number of the oldest kept segment.
    pub first_sequence: Option<u64>,
    /// Duration of the newest segment, ms.
    pub last_segment_ms: Option<u64>,
    /// `EXT-X-TARGETDURATION`, s.
    pub target_duration_s: u64,
    /// Peak and average bit rate over the live window, bits/s.
    pub bandwidth: Option<(u64, u64)>,
    /// RFC 6381 codecs.
    pub codecs: Vec<String>,
    /// Frames that could not be remuxed (malformed, or a codec TS cannot carry).
    pub rejected_frames: u64,
}

/// One packaged stream: its playlist (read by the origin) and its packager's controls.
#[derive(Debug)]
pub(crate) struct HlsStream {
    pub name: String,
    group: Mutex<Option<String>>,
    pub playlist: RwLock<Playlist>,
    live: AtomicBool,
    target_ms: AtomicU64,
    grace: Mutex<Duration>,
    /// start_hls was called again while the packager waits: restart its grace period.
    renewed: AtomicBool,
    segments_written: AtomicU64,
    rejected_frames: AtomicU64,
    cancel: CancellationToken,
}

impl HlsStream {
    fn update(&self, opts: &HlsOptions) {
        *self.group.lock() = opts.group.clone();
        self.target_ms.store(opts.target_duration_ms, Ordering::Relaxed);
        *self.grace.lock() = opts.republish_grace;
        self.playlist.write().set_window(opts.window());
        self.renewed.store(true, Ordering::Relaxed);
    }

    pub fn group(&self) -> Option<String> {
        self.group.lock().clone()
    }

    /// Move finished segments from the segmenter to the playlist.
    fn publish(&self, seg: &mut Segmenter) {
        let mut playlist = None;
        while let Some(s) = seg.poll_segment() {
            let p = playlist.get_or_insert_with(|| self.playlist.write());
            p.push(s, seg.media());
            self.segments_written.fetch_add(1, Ordering::Relaxed);
        }
        self.rejected_frames.store(seg.rejected_frames(), Ordering::Relaxed);
    }

    /// This stream as a master playlist entry.
    pub fn variant(&self, uri: String) -> Option<Variant> {
        self.playlist.read().variant(uri)
    }

    fn info(&self) -> HlsStreamInfo {
        let p = self.playlist.read();
        let media = p.media();
        let info = HlsStreamInfo {
            name: self.name.clone(),
            group: self.group(),
            live: self.live.load(Ordering::Relaxed),
            segments_written: self.segments_written.load(Ordering::Relaxed),
            segments_kept: p.segments().len(),
            first_sequence: p.segments().next().map(|s| s.seq),
            last_segment_ms: p.segments().last().map(|s| s.duration_ms),
            target_duration_s: p.target_duration_s(),
            bandwidth: p.bandwidth().map(|b| (b.peak, b.average)),
            codecs: [media.video_codec.clone(), media.audio_codec.clone()].into_iter().flatten().collect(),
            rejected_frames: self.rejected_frames.load(Ordering::Relaxed),
        };
        info
    }
}

/// Packaged streams by name, and the store of their segments.
#[derive(Debug)]
pub(crate) struct HlsRegistry {
    streams: Mutex<HashMap<String, Arc<HlsStream>>>,
    pub store: SegmentStore,
}

impl HlsRegistry {
    pub fn new(store: SegmentStore) -> Self {
        HlsRegistry { streams: Mutex::new(HashMap::new()), store }
    }

    pub fn get(&self, name: &str) -> Option<Arc<HlsStream>> {
        self.streams.lock().get(name).cloned()
    }

    /// The renditions of a `smil:<name>.smil` master playlist, in no particular order:
    /// the streams whose group is `name`; else, for `<prefix>_all`, every stream named
    /// `<prefix>_…`; else, for `<entryId>_<id1>_<id2>…`, the streams `<entryId>_<idN>`.
    pub fn smil_members(&self, name: &str) -> Vec<Arc<HlsStream>> {
        let streams = self.streams.lock();
        let by_group: Vec<_> = streams.values().filter(|s| s.group.lock().as_deref() == Some(name)).cloned().collect();
        if !by_group.is_empty() {
            return by_group;
        }
        if let Some(prefix) = name.strip_suffix("_all") {
            let prefix = format!("{prefix}_");
            return streams.values().filter(|s| s.name.starts_with(&prefix)).cloned().collect();
        }
        let Some((entry, ids)) = split_entry_flavors(name) else {
            return Vec::new();
        };
        ids.split('_').filter(|id| !id.is_empty()).filter_map(|id| streams.get(&format!("{entry}_{id}")).cloned()).collect()
    }

    pub fn infos(&self) -> Vec<HlsStreamInfo> {
        let streams: Vec<_> = self.streams.lock().values().cloned().collect();
        let mut infos: Vec<_> = streams.iter().map(|s| s.info()).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos
    }

    /// Stop packaging `name` and drop its playlist. False when it is not packaged.
    pub fn stop(&self, name: &str) -> bool {
        let Some(hls) = self.streams.lock().remove(name) else {
            return false;
        };
        hls.cancel.cancel();
        true
    }

    /// Remove `hls` if it is still the registered one.
    fn remove(&self, hls: &Arc<HlsStream>) {
        let mut streams = self.streams.lock();
        if streams.get(&hls.name).is_some_and(|s| Arc::ptr_eq(s, hls)) {
            streams.remove(&hls.name);
        }
    }
}

/// Kaltura entry ids look like `0_abcd1234`: a digit, `_`, eight lowercase alphanumerics.
fn split_entry_flavors(name: &str) -> Option<(&str, &str)> {
    let b = name.as_bytes();
    let shaped = b.len() > 11
        && b[0].is_ascii_digit()
        && b[1] == b'_'
        && b[2..10].iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b[10] == b'_';
    shaped.then(|| (&name[..10], &name[11..]))
}

/// Start packaging `name`, or update the options of its running packager. The stream need
/// not be live yet: the packager waits up to `republish_grace` for it.
pub(crate) fn start(shared: &Arc<Shared>, registry: &Arc<HlsRegistry>, name: &str, opts: HlsOptions) -> Result<(), ServerError> {
    if shared.shutdown.is_cancelled() {
        return Err(ServerError::ShuttingDown);
    }
    let mut streams = registry.streams.lock();
    if let Some(existing) = streams.get(name) {
        if !existing.cancel.is_cancelled() {
            existing.update(&opts);
            return Ok(());
        }
    }
    let hls = Arc::new(HlsStream {
        name: name.to_string(),
        group: Mutex::new(opts.group.clone()),
        playlist: RwLock::new(Playlist::with_store(opts.window(), registry.store.stream())),
        live: AtomicBool::new(false),
        target_ms: AtomicU64::new(opts.target_duration_ms),
        grace: Mutex::new(opts.republish_grace),
        renewed: AtomicBool::new(false),
        segments_written: AtomicU64::new(0),
        rejected_frames: AtomicU64::new(0),
        cancel: shared.shutdown.child_token(),
    });
    streams.insert(name.to_string(), hls.clone());
    drop(streams);
    let budget = if opts.buffer_bytes > 0 { opts.buffer_bytes } else { shared.config.subscriber_buffer_bytes.max(MIN_BUFFER_BYTES) };
    shared.tasks.spawn(run(shared.clone(), registry.clone(), hls, budget));
    Ok(())
}

/// The packager task: (re)attach to the stream whenever it is live under `hls.name`,
/// segment it, and give up once it has been gone for the grace period.
async fn run(shared: Arc<Shared>, registry: Arc<HlsRegistry>, hls: Arc<HlsStream>, budget: usize) {
    let mut seg = Segmenter::new(&hls.name, hls.target_ms.load(Ordering::Relaxed));
    let mut frames = Vec::with_capacity(256);
    let mut previous: Option<Arc<LiveStream>> = None;
    let grace = || *hls.grace.lock();
    let mut deadline = Instant::now() + grace();
    let pacing = shared.config.write_pacing;
    'attach: loop {
        let stream = loop {
            if let Some(s) = shared.registry.get(&hls.name) {
                if !previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, &s)) {
                    break s;
                }
            }
            if Instant::now() >= deadline {
                // Decide under the registry lock so that a concurrent start_hls either
                // renews this packager or finds it gone and starts a new one.
                let mut streams = registry.streams.lock();
                if hls.renewed.swap(false, Ordering::Relaxed) {
                    deadline = Instant::now() + grace();
                    continue;
                }
                if streams.get(&hls.name).is_some_and(|s| Arc::ptr_eq(s, &hls)) {
                    streams.remove(&hls.name);
                }
                return;
            }
            tokio::select! {
                _ = sleep(REPUBLISH_POLL) => {}
                _ = hls.cancel.cancelled() => break 'attach,
            }
        };
        let id = shared.next_id();
        let Some(sub) = stream.subscribe(id, budget) else {
            previous = Some(stream);
            continue;
        };
        if previous.is_some() {
            seg.handle_restart();
        }
        hls.live.store(true, Ordering::Relaxed);
        let mut dropped = 0;
        let cancelled = loop {
            let more = tokio::select! {
                more = sub.next_batch(&mut frames) => more,
                _ = hls.cancel.cancelled() => break true,
            };
            seg.set_target_duration(hls.target_ms.load(Ordering::Relaxed));
            for frame in frames.drain(..) {
                seg.handle_frame(&frame);
            }
            let d = sub.dropped();
            if d != dropped {
                dropped = d;
                seg.handle_gap();
            }
            hls.publish(&mut seg);
            if !more {
                break false;
            }
            if !pacing.is_zero() {
                tokio::select! {
                    _ = sleep_until(crate::pacing::paced_deadline(pacing)) => {}
                    _ = hls.cancel.cancelled() => break true,
                }
            }
        };
        stream.unsubscribe(id);
        seg.handle_end();
        hls.publish(&mut seg);
        hls.live.store(false, Ordering::Relaxed);
        if cancelled {
            break;
        }
        previous = Some(stream);
        hls.renewed.store(false, Ordering::Relaxed);
        deadline = Instant::now() + grace();
    }
    registry.remove(&hls);
}
