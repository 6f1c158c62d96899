//! MP4 recording of live streams: a recorder task per stream subscribes to the media bus
//! and writes segment files of fragmented MP4 ([`core`] decides, [`file`] writes).
//!
//! Crash safety comes from the format: each fragment is appended as soon as it is
//! complete, so a process killed at any moment leaves `<stream>-<start>.mp4.part` playable up
//! to its last fragment; [`recover_segment`] (run at the next start) cuts the torn tail, fixes
//! the declared duration and renames it. A finished segment is fsynced and renamed to
//! `<stream>-<start>.mp4` atomically, then reported with [`ServerEvent::RecordingSegment`].
//!
//! A segment closed because its stream ended is held until the republish grace tells
//! whether the stream comes back (an encoder reconnect, a transcoder restart: recording
//! continues, the segment was not the last) or not (it was the last: `last: true`).
//!
//! A write error (a full disk) stops that stream's recording with
//! [`ServerEvent::RecordingError`]; what was written is salvaged and reported like a
//! finished segment. Live streaming is not affected.

mod core;
mod file;
#[cfg(test)]
mod tests;

use crate::bus::{Frame, LiveStream};
use crate::events::ServerEvent;
use crate::error::ServerError;
use crate::shared::Shared;
use crate::timeline::entry_key;
use core::{FileOp, RecorderCore};
use file::SegmentFile;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

pub use file::{recover_segment, segment_duration_ms, RecoveredSegment};

/// How often a recorder whose stream is not live looks for it.
const REPUBLISH_POLL: Duration = Duration::from_millis(50);
/// How long a recording started before its stream exists waits for the stream's first
/// publish. A transcoded (or relayed) rendition appears only once its ffmpeg has produced
/// output, which on a busy host can take longer than the republish grace; the control plane
/// stops the recording if the publish ends first.
const FIRST_ATTACH_WAIT: Duration = Duration::from_secs(120);
/// Queue budget floor of a recorder (it writes to disk, which may stall briefly).
const MIN_BUFFER_BYTES: usize = 16 * 1024 * 1024;
/// A recorder takes its frames in batches on this grid (shared by every recorder, like the
/// connections' read pacing) instead of waking for each frame: nobody waits on a recording,
/// and at real-time rates the wakeups, not the bytes, are the cost.
const BATCH_PACING: Duration = Duration::from_millis(250);

/// How one stream is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOptions {
    /// Directory of the segment files (created if missing).
    pub dir: PathBuf,
    /// Segment length, ms (cut at the first keyframe past each multiple).
    pub segment_duration_ms: u64,
    /// A fragment is written at least this often, ms: the most a crash can lose.
    pub fragment_duration_ms: u64,
    /// How long the recorder waits for its stream (at start, and after it ends).
    pub republish_grace: Duration,
    /// Write `onMetaDataRecording` sync points into a data track of each segment, one per
    /// this interval (and one at each segment start); None: no data track.
    pub sync_point_interval: Option<Duration>,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions { dir: PathBuf::from("recordings"), segment_duration_ms: 900_000, fragment_duration_ms: 2000, republish_grace: Duration::from_secs(30), sync_point_interval: None }
    }
}

/// A recorded stream, for diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingInfo {
    /// Stream name.
    pub name: String,
    /// Directory of its segments.
    pub dir: String,
    /// Its stream is live and being written.
    pub live: bool,
    /// Segments finished.
    pub segments: u64,
    /// Bytes written to disk.
    pub bytes: u64,
    /// Length of the open segment, ms.
    pub current_segment_ms: u64,
    /// Frames that could not be recorded (malformed, or a codec this MP4 writer cannot carry).
    pub rejected_frames: u64,
    /// Why recording stopped, after an error.
    pub error: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Recording {
    name: String,
    dir: PathBuf,
    cancel: CancellationToken,
    live: AtomicBool,
    segments: AtomicU64,
    bytes: AtomicU64,
    current_ms: AtomicU64,
    rejected_frames: AtomicU64,
    error: Mutex<Option<String>>,
}

/// Recordings by stream name.
#[derive(Debug, Default)]
pub(crate) struct RecordingRegistry {
    recordings: Mutex<HashMap<String, Arc<Recording>>>,
}

/// Start recording `name` (live or not yet). Recording an already recorded name is an
/// error, so that two recorders never write one directory.
pub(crate) fn start(shared: &Arc<Shared>, registry: &RecordingRegistry, name: &str, opts: RecordOptions) -> Result<(), ServerError> {
    if shared.shutdown.is_cancelled() {
        return Err(ServerError::ShuttingDown);
    }
    let mut recordings = registry.recordings.lock();
    if recordings.get(name).is_some_and(|r| !r.cancel.is_cancelled() && r.error.lock().is_none()) {
        return Err(ServerError::AlreadyRecording(name.to_string()));
    }
    let rec = Arc::new(Recording {
        name: name.to_string(),
        dir: opts.dir.clone(),
        cancel: shared.shutdown.child_token(),
        live: AtomicBool::new(false),
        segments: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        current_ms: AtomicU64::new(0),
        rejected_frames: AtomicU64::new(0),
        error: Mutex::new(None),
    });
    recordings.insert(name.to_string(), rec.clone());
    drop(recordings);
    shared.tasks.spawn(run(shared.clone(), rec, opts));
    Ok(())
}

impl RecordingRegistry {
    /// Stop recording `name`: the open segment is finished and reported as the last. False
    /// when it is not recorded.
    pub fn stop(&self, name: &str) -> bool {
        match self.recordings.lock().get(name) {
            Some(rec) if !rec.cancel.is_cancelled() => {
                rec.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// Every recording, by name.
    pub fn infos(&self) -> Vec<RecordingInfo> {
        let recordings: Vec<_> = self.recordings.lock().values().cloned().collect();
        let mut infos: Vec<_> = recordings
            .iter()
            .map(|r| RecordingInfo {
                name: r.name.clone(),
                dir: r.dir.display().to_string(),
                live: r.live.load(Ordering::Relaxed),
                segments: r.segments.load(Ordering::Relaxed),
                bytes: r.bytes.load(Ordering::Relaxed),
                current_segment_ms: r.current_ms.load(Ordering::Relaxed),
                rejected_frames: r.rejected_frames.load(Ordering::Relaxed),
                error: r.error.lock().clone(),
            })
            .collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos
    }
}

/// A finished segment not yet reported.
struct Finished {
    path: PathBuf,
    start_ms: i64,
    duration_ms: u64,
    bytes: u64,
}

struct Writer {
    shared: Arc<Shared>,
    rec: Arc<Recording>,
    file: Option<SegmentFile>,
    ops: Vec<FileOp>,
}

impl Writer {
    fn report(&self, f: Finished, last: bool) {
        self.rec.segments.fetch_add(1, Ordering::Relaxed);
        self.shared.emit(ServerEvent::RecordingSegment {
            stream_name: self.rec.name.clone(),
            path: f.path.display().to_string(),
            start_wall_ms: f.start_ms,
            duration_ms: f.duration_ms,
            bytes: f.bytes,
            last,
        });
    }

    /// Carry out the pending file operations. Segments cut while live are reported at
    /// once; the one closed last is returned for the caller to report.
    async fn execute(&mut self) -> Result<Option<Finished>, String> {
        let mut closed = None;
        for op in std::mem::take(&mut self.ops) {
            if let Some(f) = closed.take() {
                self.report(f, false);
            }
            match op {
                FileOp::Open { start_ms, init } => {
                    let (dir, stream) = (self.rec.dir.clone(), self.rec.name.clone());
                    let len = init.len() as u64;
                    let file = file::blocking(move || SegmentFile::create(&dir, &stream, start_ms, &init)).await.map_err(|e| format!("cannot create a segment in {}: {e}", self.rec.dir.display()))?;
                    self.rec.bytes.fetch_add(len, Ordering::Relaxed);
                    self.file = Some(file);
                }
                FileOp::Append(parts) => {
                    let Some(mut f) = self.file.take() else { continue };
                    let len = parts.len() as u64;
                    let (f, result) = file::blocking(move || {
                        let r = f.append(&parts);
                        (f, r)
                    })
                    .await;
                    let path = f.part_path().display().to_string();
                    self.file = Some(f);
                    result.map_err(|e| format!("cannot write {path}: {e}"))?;
                    self.rec.bytes.fetch_add(len, Ordering::Relaxed);
                }
                FileOp::Close { tail, duration_ms, patch } => {
                    let Some(f) = self.file.take() else { continue };
                    let start_ms = f.start_ms();
                    let part = f.part_path().to_path_buf();
                    let tail_len = tail.iter().map(|t| t.len() as u64).sum::<u64>();
                    let (path, bytes) = file::blocking(move || f.finish(&tail, patch)).await.map_err(|e| format!("cannot finish {}: {e}", part.display()))?;
                    self.rec.bytes.fetch_add(tail_len, Ordering::Relaxed);
                    closed = Some(Finished { path, start_ms, duration_ms, bytes });
                }
                FileOp::Discard => {
                    if let Some(f) = self.file.take() {
                        let _ = file::blocking(move || f.discard()).await;
                    }
                }
            }
        }
        Ok(closed)
    }

    /// After an error: stop, salvage what the open file holds, report both.
    async fn fail(&mut self, message: String) {
        *self.rec.error.lock() = Some(message.clone());
        self.shared.emit(ServerEvent::RecordingError { stream_name: self.rec.name.clone(), message });
        if let Some(f) = self.file.take() {
            let part = f.part_path().to_path_buf();
            drop(f);
            if let Ok(Some(s)) = file::blocking(move || recover_segment(&part)).await {
                self.report(Finished { path: s.path, start_ms: s.start_wall_ms, duration_ms: s.duration_ms, bytes: s.bytes }, false);
            }
        }
    }
}

async fn run(shared: Arc<Shared>, rec: Arc<Recording>, opts: RecordOptions) {
    let origin = shared.timelines.get(entry_key(&rec.name)).map(|b| b.wall_ms);
    let sync = opts.sync_point_interval.map(|i| core::SyncPoints { stream: rec.name.clone(), interval_ms: i.as_millis() as i64 });
    let mut core = RecorderCore::new(opts.segment_duration_ms, opts.fragment_duration_ms, origin, sync);
    let mut w = Writer { shared: shared.clone(), rec: rec.clone(), file: None, ops: Vec::new() };
    let budget = shared.config.subscriber_buffer_bytes.max(MIN_BUFFER_BYTES);
    let mut frames: Vec<Frame> = Vec::with_capacity(256);
    let mut previous: Option<Arc<LiveStream>> = None;
    let mut held: Option<Finished> = None;
    let mut deadline = Instant::now() + opts.republish_grace.max(FIRST_ATTACH_WAIT);
    'attach: loop {
        let stream = loop {
            if let Some(s) = shared.registry.get(&rec.name) {
                if !previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, &s)) {
                    break s;
                }
            }
            if Instant::now() >= deadline {
                break 'attach;
            }
            tokio::select! {
                _ = sleep(REPUBLISH_POLL) => {}
                _ = rec.cancel.cancelled() => break 'attach,
            }
        };
        let id = shared.next_id();
        let Some(sub) = stream.subscribe(id, budget) else {
            previous = Some(stream);
            continue;
        };
        if let Some(f) = held.take() {
            w.report(f, false);
        }
        rec.live.store(true, Ordering::Relaxed);
        let ended = loop {
            let more = tokio::select! {
                more = sub.next_batch(&mut frames) => more,
                _ = rec.cancel.cancelled() => break false,
            };
            for frame in frames.drain(..) {
                core.handle_frame(&frame, &mut w.ops);
            }
            match w.execute().await {
                Ok(Some(f)) => w.report(f, false),
                Ok(None) => {}
                Err(e) => {
                    stream.unsubscribe(id);
                    rec.live.store(false, Ordering::Relaxed);
                    w.fail(e).await;
                    return;
                }
            }
            rec.current_ms.store(core.open_duration_ms(), Ordering::Relaxed);
            rec.rejected_frames.store(core.rejected, Ordering::Relaxed);
            if !more {
                break true;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(crate::pacing::paced_deadline(BATCH_PACING)) => {}
                _ = rec.cancel.cancelled() => break false,
            }
        };
        stream.unsubscribe(id);
        rec.live.store(false, Ordering::Relaxed);
        core.close(&mut w.ops);
        match w.execute().await {
            Ok(f) => held = f,
            Err(e) => {
                w.fail(e).await;
                return;
            }
        }
        if !ended {
            break; // stopped
        }
        previous = Some(stream);
        deadline = Instant::now() + opts.republish_grace;
    }
    // Stopped, shut down, or the stream did not come back: what closes now is the last.
    core.close(&mut w.ops);
    match w.execute().await {
        Ok(Some(f)) => {
            if let Some(h) = held.take() {
                w.report(h, false);
            }
            w.report(f, true);
        }
        Ok(None) => {
            if let Some(h) = held.take() {
                w.report(h, true);
            }
        }
        Err(e) => {
            if let Some(h) = held.take() {
                w.report(h, true);
            }
            w.fail(e).await;
        }
    }
    rec.current_ms.store(0, Ordering::Relaxed);
    rec.cancel.cancel();
}
